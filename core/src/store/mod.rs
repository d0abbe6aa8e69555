//! Where token sets live between calls: [`TokenStore`], with [`MemoryStore`], [`FileStore`] and
//! [`ExternalStore`] (any plain load/save/keys backend made into a full store), and the Redis
//! and PostgreSQL stores behind their features. A store string names one the same way from
//! every language: [`parse`] decides what it names, [`open`] opens it.
//!
//! A store keeps one [`TokenSet`] per seller key, with a version that changes on every save so
//! that writers can compare-and-swap, and a per-key lock that [`crate::TokenManager`] holds
//! while it refreshes, so that one refresh per seller happens at a time.

use std::collections::HashSet;
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
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
pub trait KeyLock: Send {
    /// A number the store that issued this lock knows it by (0 for none), for stores whose
    /// [`TokenStore::save_and_unlock`] releases the lock with the save. Stores that hand out
    /// plain locks keep the default.
    fn serial(&self) -> u64 {
        0
    }
}

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

    /// The token sets of `keys`, in the same order, each with its own result: one round trip
    /// for all of them where the store can (the Redis and PostgreSQL stores). The default loads
    /// them one by one.
    fn load_many(&self, keys: &[String]) -> Vec<Result<Option<StoredToken>>> {
        keys.iter().map(|key| self.load(key)).collect()
    }

    /// Takes the lock of `key` only if nobody holds it now: `None` when another holder has it.
    /// The default waits for it like [`Self::lock`] (it never answers `None`).
    fn try_lock(&self, key: &str) -> Result<Option<Box<dyn KeyLock + '_>>> {
        self.lock(key).map(Some)
    }

    /// Saves like [`Self::save`], then releases `lock` (the caller's lock of `key`), whatever
    /// the save's outcome: in one round trip where the store can (the Redis and PostgreSQL
    /// stores). The default saves, then drops the lock.
    fn save_and_unlock<'a>(
        &'a self,
        key: &str,
        token: &TokenSet,
        expected_version: Option<u64>,
        lock: Box<dyn KeyLock + 'a>,
    ) -> Result<u64> {
        let saved = self.save(key, token, expected_version);
        drop(lock);
        saved
    }

    /// Proves that this store can save `key` now, before [`crate::TokenManager`] asks the
    /// gateway to refresh it: a refresh rotates the refresh token, so an answer that cannot be
    /// saved costs the seller its authorization. The manager calls it holding `lock` (this
    /// store's lock of `key`, taken just before), with `stored` as it loaded it under that lock
    /// (the token set exactly as it is saved, app binding included), and refreshes only when
    /// it succeeds.
    ///
    /// Returns the version the refreshed token set is then saved over: `stored.version` when
    /// the check changed nothing, or the version a check that wrote left behind. An error (a
    /// store error naming the key: a read-only file, a database user or Redis ACL without
    /// write, a replica, a full disk where the store can tell) means the key cannot be saved
    /// now; the manager fails the call with it and sends nothing to the gateway.
    ///
    /// The default saves `stored.token` again over `stored.version` (compare-and-swap): the
    /// same token set, so readers see no change of tokens, only a new version, which it
    /// returns. It works for any store, custom ones included. [`MemoryStore`] always can;
    /// [`FileStore`] opens the key's file for writing; the Redis and PostgreSQL stores prove it
    /// when they take the lock (writes that change nothing, refused where a save would be:
    /// ACL, read-only user, replica) and only check here that `lock` is one they proved.
    fn check_save(&self, key: &str, stored: &StoredToken, lock: &dyn KeyLock) -> Result<u64> {
        let _ = lock;
        self.save(key, &stored.token, Some(stored.version))
    }

    /// Removes the token set of `key` (a seller who left); `false` when there was none. The
    /// default refuses: a store without removal keeps what it has.
    fn remove(&self, key: &str) -> Result<bool> {
        Err(store_error(key, "this store cannot remove keys"))
    }

    /// Records `marker` as seen for `ttl` (cut to [`MAX_MARKER_TTL`]), in one atomic step:
    /// `true` when it was not recorded yet or its record has expired (the caller is the first
    /// and acts), `false` while an earlier record lives (someone already acted). The manager
    /// marks the push messages it acts on with it ([`crate::TokenManager::handle_push`]), so
    /// that a message delivered (or replayed) again is acted on once.
    ///
    /// A marker is 1 to [`MAX_MARKER_BYTES`] bytes of text without control characters;
    /// anything else is [`Error::Store`]. Records are seen by everyone who shares the store:
    /// [`MemoryStore`] in its process, [`FileStore`] in every process using the directory (a
    /// file per marker, created with `O_EXCL`), the Redis store (`SET NX PX`) and the
    /// PostgreSQL store (a `<table>_seen` table) on every host. [`ExternalStore`] asks its
    /// backend ([`StoreBackend::mark_seen`]) and, when the backend keeps no markers, keeps them
    /// in this process's memory.
    ///
    /// The default keeps markers in this process's memory, in one table shared by every store
    /// of the process: managers in other processes or on other hosts do not see them, so each
    /// host may act once on the same message. Implement this method on a store shared between
    /// hosts.
    fn mark_seen(&self, marker: &str, ttl: std::time::Duration) -> Result<bool> {
        seen::PROCESS_MARKERS.mark(marker, ttl)
    }
}

/// A [`Error::Store`] about `key` (empty: about the store as a whole).
pub(crate) fn store_error(key: &str, message: impl Into<String>) -> Error {
    Error::Store {
        key: key.to_owned(),
        message: message.into(),
        source: None,
    }
}

pub(crate) fn io_error(key: &str, what: &str, err: std::io::Error) -> Error {
    Error::Store {
        key: key.to_owned(),
        message: format!("{what}: {err}"),
        source: Some(Box::new(err)),
    }
}

pub(crate) fn conflict(key: &str, expected: Option<u64>, found: Option<u64>) -> Error {
    let show = |v: Option<u64>| v.map_or_else(|| "absent".to_owned(), |v| format!("version {v}"));
    store_error(
        key,
        format!(
            "version conflict: expected {}, found {}",
            show(expected),
            show(found)
        ),
    )
}

/// [`TokenStore::load_many`] for a store that answers some keys at once (`known`: a key it
/// refuses, or whose record it read under a lock this thread holds) and the rest in one batch
/// (`batch`: given the keys left, in order, one result for each, or one error for them all).
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn load_in_one_batch(
    keys: &[String],
    known: impl Fn(&str) -> Option<Result<Option<StoredToken>>>,
    batch: impl FnOnce(&[&str]) -> Result<Vec<Result<Option<StoredToken>>>>,
) -> Vec<Result<Option<StoredToken>>> {
    let mut results: Vec<Option<Result<Option<StoredToken>>>> =
        keys.iter().map(|key| known(key)).collect();
    let wanted: Vec<usize> = (0..keys.len()).filter(|&i| results[i].is_none()).collect();
    if !wanted.is_empty() {
        let asked: Vec<&str> = wanted.iter().map(|&i| keys[i].as_str()).collect();
        match batch(&asked) {
            Ok(answers) if answers.len() == wanted.len() => {
                for (&i, answer) in wanted.iter().zip(answers) {
                    results[i] = Some(answer);
                }
            }
            Ok(_) => {
                for &i in &wanted {
                    results[i] = Some(Err(store_error(
                        &keys[i],
                        "the store answered a batch load with the wrong number of records",
                    )));
                }
            }
            Err(error) => {
                for &i in &wanted {
                    results[i] = Some(Err(error.for_key(&keys[i])));
                }
            }
        }
    }
    results
        .into_iter()
        .zip(keys)
        .map(|(result, key)| result.unwrap_or_else(|| Err(store_error(key, "not loaded"))))
        .collect()
}

/// The version a save writes after `current`: one more, or for a new key a random start, so
/// that a key removed and stored again does not reuse the versions it had.
pub(crate) fn next_version(current: Option<u64>) -> u64 {
    match current {
        Some(v) => v.wrapping_add(1).max(1),
        None => fastrand::u64(1..1 << 48),
    }
}

/// Locks a mutex, taking the data over if another thread panicked while holding it (every
/// critical section here leaves the data consistent).
pub(crate) fn lock_ignoring_poison<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Per-key locks inside one process: what [`MemoryStore`] and [`ExternalStore`] hand out from
/// [`TokenStore::lock`], for any store whose keys need no lock across processes.
///
/// ```
/// use iop_core::store::KeyLocks;
/// let locks = KeyLocks::new();
/// let held = locks.lock("seller-1");
/// let other = locks.lock("seller-2"); // other keys do not wait
/// drop(held); // released on drop
/// # drop(other);
/// ```
#[derive(Default)]
pub struct KeyLocks {
    locked: Mutex<HashSet<String>>,
    unlocked: Condvar,
}

impl std::fmt::Debug for KeyLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLocks")
            .field("held", &lock_ignoring_poison(&self.locked).len())
            .finish()
    }
}

impl KeyLocks {
    /// No key locked.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the lock of `key`, blocking until it is free. Not reentrant: a thread that holds
    /// a key's lock and asks for it again waits forever.
    pub fn lock(&self, key: &str) -> Box<dyn KeyLock + '_> {
        let mut locked = lock_ignoring_poison(&self.locked);
        while locked.contains(key) {
            locked = self
                .unlocked
                .wait(locked)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        locked.insert(key.to_owned());
        Box::new(HeldKey {
            locks: self,
            key: key.to_owned(),
        })
    }

    /// Takes the lock of `key` if it is free; `None` when it is held.
    pub fn try_lock(&self, key: &str) -> Option<Box<dyn KeyLock + '_>> {
        let mut locked = lock_ignoring_poison(&self.locked);
        if !locked.insert(key.to_owned()) {
            return None;
        }
        Some(Box::new(HeldKey {
            locks: self,
            key: key.to_owned(),
        }))
    }
}

/// One held key of [`KeyLocks`].
struct HeldKey<'a> {
    locks: &'a KeyLocks,
    key: String,
}

impl KeyLock for HeldKey<'_> {}

impl Drop for HeldKey<'_> {
    fn drop(&mut self) {
        lock_ignoring_poison(&self.locks.locked).remove(&self.key);
        self.locks.unlocked.notify_all();
    }
}

pub mod external;
mod file;
mod memory;
mod open;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "postgres")]
mod postgres_tls;
#[cfg(any(feature = "redis", feature = "postgres"))]
mod record;
#[cfg(feature = "redis")]
pub mod redis;
mod seen;
#[cfg(any(feature = "redis", feature = "postgres"))]
mod tls;

pub use external::{ExternalStore, StoreBackend, UNSAVEABLE_VERSION};
pub use file::{FileStore, MAX_FILE_KEY_BYTES, MAX_TOKEN_FILE_BYTES};
pub use memory::MemoryStore;
pub use open::{StoreLocation, open, parse};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore};
#[cfg(feature = "redis")]
pub use redis::{RedisOptions, RedisStore};
pub use seen::{MAX_MARKER_BYTES, MAX_MARKER_TTL};
#[cfg(any(feature = "redis", feature = "postgres"))]
pub use tls::CA_FILE_ENV;
