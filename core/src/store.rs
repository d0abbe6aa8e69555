//! Where token sets live between calls: [`TokenStore`], with [`MemoryStore`] and [`FileStore`].

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::token::TokenSet;

/// A token set with the version the store holds it at (for compare-and-swap saves).
#[derive(Debug, Clone)]
pub struct StoredToken {
    /// The token set.
    pub token: TokenSet,
    /// The store's version of this key; changes on every save.
    pub version: u64,
}

/// A held per-key lock; released on drop.
pub trait KeyLock: Send {}

/// Storage of token sets keyed per seller. Implementations must be `Send + Sync`.
pub trait TokenStore: Send + Sync {
    /// The token set of `key`, or `None`.
    fn load(&self, key: &str) -> Result<Option<StoredToken>>;

    /// Saves `token` for `key` if the stored version is still `expected_version` (`None`: the key
    /// must be absent). Returns the new version, or [`crate::Error::Store`] on a conflict.
    fn save(&self, key: &str, token: &TokenSet, expected_version: Option<u64>) -> Result<u64>;

    /// Every stored key.
    fn keys(&self) -> Result<Vec<String>>;

    /// Takes the exclusive lock of `key` (across processes for stores that can), blocking until
    /// it is free.
    fn lock(&self, key: &str) -> Result<Box<dyn KeyLock + '_>>;
}

/// Token sets in memory, for tests and single-process apps.
#[derive(Debug, Default)]
pub struct MemoryStore {
    _private: (),
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TokenStore for MemoryStore {
    fn load(&self, key: &str) -> Result<Option<StoredToken>> {
        todo!("{key}")
    }
    fn save(&self, key: &str, token: &TokenSet, expected_version: Option<u64>) -> Result<u64> {
        todo!("{key}{token:?}{expected_version:?}")
    }
    fn keys(&self) -> Result<Vec<String>> {
        todo!()
    }
    fn lock(&self, key: &str) -> Result<Box<dyn KeyLock + '_>> {
        todo!("{key}")
    }
}

/// A directory with one JSON file per seller key (mode 0600), written to a temporary file,
/// fsynced and renamed; an OS file lock per key guards refreshes across processes.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Opens (and creates, mode 0700) the directory.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        todo!("{:?}", dir.as_ref())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl TokenStore for FileStore {
    fn load(&self, key: &str) -> Result<Option<StoredToken>> {
        todo!("{key}")
    }
    fn save(&self, key: &str, token: &TokenSet, expected_version: Option<u64>) -> Result<u64> {
        todo!("{key}{token:?}{expected_version:?}")
    }
    fn keys(&self) -> Result<Vec<String>> {
        todo!()
    }
    fn lock(&self, key: &str) -> Result<Box<dyn KeyLock + '_>> {
        todo!("{key}")
    }
}
