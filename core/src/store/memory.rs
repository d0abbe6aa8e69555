//! [`MemoryStore`]: token sets in this process's memory.

use std::collections::HashMap;
use std::sync::Mutex;

use super::seen::SeenMarkers;
use super::{
    KeyLock, KeyLocks, StoredToken, TokenStore, conflict, lock_ignoring_poison, next_version,
};
use crate::error::Result;
use crate::token::TokenSet;

/// Token sets in memory, for tests and single-process apps.
#[derive(Default)]
pub struct MemoryStore {
    tokens: Mutex<HashMap<String, StoredToken>>,
    locks: KeyLocks,
    /// Push markers ([`TokenStore::mark_seen`]), with this store's lifetime.
    seen: SeenMarkers,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("keys", &lock_ignoring_poison(&self.tokens).len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TokenStore for MemoryStore {
    fn load(&self, key: &str) -> Result<Option<StoredToken>> {
        Ok(lock_ignoring_poison(&self.tokens).get(key).cloned())
    }

    fn save(&self, key: &str, token: &TokenSet, expected_version: Option<u64>) -> Result<u64> {
        let mut tokens = lock_ignoring_poison(&self.tokens);
        let current = tokens.get(key).map(|stored| stored.version);
        if current != expected_version {
            return Err(conflict(key, expected_version, current));
        }
        let version = next_version(current);
        tokens.insert(
            key.to_owned(),
            StoredToken {
                token: token.clone(),
                version,
            },
        );
        Ok(version)
    }

    fn keys(&self) -> Result<Vec<String>> {
        let mut keys: Vec<String> = lock_ignoring_poison(&self.tokens).keys().cloned().collect();
        keys.sort();
        Ok(keys)
    }

    fn lock(&self, key: &str) -> Result<Box<dyn KeyLock + '_>> {
        Ok(self.locks.lock(key))
    }

    fn try_lock(&self, key: &str) -> Result<Option<Box<dyn KeyLock + '_>>> {
        Ok(self.locks.try_lock(key))
    }

    /// Memory can always be written: the version stays.
    fn check_save(&self, _key: &str, stored: &StoredToken, _lock: &dyn KeyLock) -> Result<u64> {
        Ok(stored.version)
    }

    fn remove(&self, key: &str) -> Result<bool> {
        Ok(lock_ignoring_poison(&self.tokens).remove(key).is_some())
    }

    /// Markers in this store's memory, expiring after `ttl`.
    fn mark_seen(&self, marker: &str, ttl: std::time::Duration) -> Result<bool> {
        self.seen.mark(marker, ttl)
    }
}
