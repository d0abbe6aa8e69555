//! [`ExternalStore`]: any plain backend that can load, save and list token sets (a Python
//! object, C callbacks, a key-value service) made into a full [`TokenStore`], with versions,
//! compare-and-swap saves and per-key locks.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use iop_core::store::{ExternalStore, StoreBackend};
//! use iop_core::{TokenSet, TokenStore};
//!
//! /// The user's own storage: nothing but load, save and keys.
//! #[derive(Default)]
//! struct MyBackend(Mutex<HashMap<String, String>>);
//!
//! impl StoreBackend for MyBackend {
//!     fn load(&self, key: &str) -> iop_core::Result<Option<TokenSet>> {
//!         let json = self.0.lock().unwrap().get(key).cloned();
//!         Ok(json.map(|json| serde_json::from_str(&json).unwrap()))
//!     }
//!     fn save(&self, key: &str, token: &TokenSet) -> iop_core::Result<()> {
//!         self.0.lock().unwrap().insert(key.to_owned(), token.to_json());
//!         Ok(())
//!     }
//!     fn keys(&self) -> iop_core::Result<Vec<String>> {
//!         Ok(self.0.lock().unwrap().keys().cloned().collect())
//!     }
//! }
//!
//! let store = ExternalStore::new(MyBackend::default());
//! let v1 = store.save("seller", &TokenSet::default(), None).unwrap();
//! assert!(store.save("seller", &TokenSet::default(), None).is_err()); // not absent any more
//! let v2 = store.save("seller", &TokenSet::default(), Some(v1)).unwrap();
//! assert_eq!(store.load("seller").unwrap().unwrap().version, v2);
//! ```
//!
//! # What the adapter guarantees, and what it cannot
//! - **No lock held around the backend.** The adapter never calls the backend while holding a
//!   lock that another call needs: a backend whose `save` calls back into the store or into a
//!   [`crate::TokenManager`] over it (`get`, `access_token` of another key, …) works. The
//!   exceptions would wait for themselves, so they are refused with [`crate::Error::Store`]
//!   instead of hanging: a write of a key from inside the backend's own write of that same key,
//!   and taking a key's lock (what a manager does before it writes or refreshes the key) from
//!   inside any backend call for that key on the same thread. A binding that keeps a gate of
//!   its own in front of the store asks [`ExternalStore::in_backend_call`] first.
//! - **Versions live in this process.** The backend keeps no versions, so the adapter numbers
//!   what it has seen: a version changes on every save through this adapter, and when a load
//!   finds different content than this adapter last saw or loaded (another writer changed it).
//!   Compare-and-swap is exact between the users of one `ExternalStore` value; against other
//!   processes writing the same backend it is only as good as that content check, so share one
//!   `ExternalStore` between all the managers of a process, and give each process its own keys
//!   or a lock of its own.
//! - **Locks are per process** ([`KeyLocks`]).
//! - **Push markers are per process** ([`TokenStore::mark_seen`]) unless the backend keeps them
//!   ([`StoreBackend::mark_seen`]): without it, each process (each host) acts once on a
//!   replayed push message.
//! - **A load that races a write** (possible only for writers that do not hold the key's lock)
//!   returns version [`UNSAVEABLE_VERSION`], which every save refuses as a conflict: load again.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;

use super::{
    KeyLock, KeyLocks, StoredToken, TokenStore, conflict, lock_ignoring_poison, next_version,
    store_error,
};
use crate::error::Result;
use crate::token::TokenSet;

/// The version a load returns when a write of the same key ran meanwhile: no save accepts it.
pub const UNSAVEABLE_VERSION: u64 = 0;

thread_local! {
    /// The backend calls this thread is inside, innermost last: (store address, key; `None`
    /// for a listing of the keys).
    static BACKEND_CALLS: RefCell<Vec<(usize, Option<String>)>> = const { RefCell::new(Vec::new()) };
}

/// Marks this thread as inside a backend call of one store, until dropped (also on a panic).
struct InBackendCall;

impl InBackendCall {
    fn enter(store: usize, key: Option<&str>) -> Self {
        BACKEND_CALLS.with(|calls| calls.borrow_mut().push((store, key.map(str::to_owned))));
        Self
    }
}

impl Drop for InBackendCall {
    fn drop(&mut self) {
        BACKEND_CALLS.with(|calls| {
            calls.borrow_mut().pop();
        });
    }
}

/// A plain storage of token sets by key: all an [`ExternalStore`] needs.
///
/// Methods are called with no lock of the adapter held, from any thread; they may call back
/// into the store or a manager over it. Errors should be [`crate::Error::Store`] naming the key
/// (and never a token).
pub trait StoreBackend: Send + Sync {
    /// The token set of `key`, or `None`.
    fn load(&self, key: &str) -> Result<Option<TokenSet>>;

    /// Stores `token` for `key`, replacing what is there. Returns once it is stored.
    fn save(&self, key: &str, token: &TokenSet) -> Result<()>;

    /// Every stored key (any order; duplicates are dropped).
    fn keys(&self) -> Result<Vec<String>>;

    /// Removes the token set of `key`; `false` when there was none. The default refuses.
    fn remove(&self, key: &str) -> Result<bool> {
        Err(store_error(key, "this store cannot remove keys"))
    }

    /// Optional: [`TokenStore::mark_seen`] done by the backend, so that every process and host
    /// sharing it agrees on which push messages were handled. Record `marker` for `ttl` in one
    /// atomic step (an insert that fails when an unexpired record exists) and answer
    /// `Some(Ok(true))` when this call recorded it, `Some(Ok(false))` when an unexpired record
    /// was there.
    ///
    /// `None` (the default): the backend keeps no markers, and the adapter keeps them in this
    /// process's memory; each process (each host) then acts once on a replayed message.
    fn mark_seen(&self, marker: &str, ttl: std::time::Duration) -> Option<Result<bool>> {
        let _ = (marker, ttl);
        None
    }
}

/// Adapts a [`StoreBackend`] into a [`TokenStore`]: versions, compare-and-swap, per-key locks.
/// See the [module documentation](self) for the guarantees.
pub struct ExternalStore<B> {
    backend: B,
    slots: Mutex<HashMap<String, Slot>>,
    /// Signalled whenever a write ends.
    written: Condvar,
    locks: KeyLocks,
    hasher: std::collections::hash_map::RandomState,
}

impl<B> std::fmt::Debug for ExternalStore<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalStore")
            .field("keys_seen", &lock_ignoring_poison(&self.slots).len())
            .finish_non_exhaustive()
    }
}

/// What the adapter knows of one key.
#[derive(Default)]
struct Slot {
    /// `None`: nothing known (never loaded, or a write failed). `Some(None)`: absent.
    /// `Some(Some(seen))`: present at `seen.version`.
    known: Option<Option<Seen>>,
    /// The thread writing this key through the backend right now.
    writer: Option<ThreadId>,
    /// Bumped when a write ends (so never 0 once a write ended).
    generation: u64,
}

#[derive(Clone, Copy)]
struct Seen {
    version: u64,
    /// A hash of the content at `version`; `None` when unknown.
    fingerprint: Option<u64>,
}

/// Ends a write of a key: clears the writer and wakes waiters, also when the backend panicked.
struct WriteGuard<'a, B> {
    store: &'a ExternalStore<B>,
    key: &'a str,
    /// What is known once the write ended (`None`: unknown).
    known: Option<Option<Seen>>,
}

impl<B> Drop for WriteGuard<'_, B> {
    fn drop(&mut self) {
        let mut slots = lock_ignoring_poison(&self.store.slots);
        let slot = slots.entry(self.key.to_owned()).or_default();
        slot.writer = None;
        slot.generation = slot.generation.wrapping_add(1).max(1);
        slot.known = self.known.take();
        drop(slots);
        self.store.written.notify_all();
    }
}

impl<B: StoreBackend> ExternalStore<B> {
    /// A store over `backend`. Share one such store (in an `Arc`) between every manager of the
    /// process that uses this backend.
    pub fn new(backend: B) -> Self {
        Self {
            backend,
            slots: Mutex::new(HashMap::new()),
            written: Condvar::new(),
            locks: KeyLocks::new(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Whether this thread is inside a call of this store's backend (`load`, `save`, `keys`,
    /// `remove`) for `key`, or for any key when `key` is `None`. While it is, the key may be
    /// locked for that very call: a binding that must not wait for itself (a manager call for
    /// the key from the backend's own code, or one that waits for other threads needing any
    /// key) asks this first and refuses.
    pub fn in_backend_call(&self, key: Option<&str>) -> bool {
        let me = self.address();
        BACKEND_CALLS.with(|calls| {
            calls.borrow().iter().any(|(store, called)| {
                *store == me && key.is_none_or(|key| called.as_deref() == Some(key))
            })
        })
    }

    fn address(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Runs `call` marked as a backend call for `key` (see [`Self::in_backend_call`]).
    fn backend_call<T>(&self, key: Option<&str>, call: impl FnOnce(&B) -> T) -> T {
        let _inside = InBackendCall::enter(self.address(), key);
        call(&self.backend)
    }

    /// A hash of the content of `token` as a backend that keeps it faithfully gives it back
    /// (written and read again once, so that a round trip through JSON hashes the same).
    fn fingerprint(&self, token: &TokenSet) -> u64 {
        let again: TokenSet = serde_json::from_value(token.to_value()).unwrap_or_default();
        self.hasher.hash_one(again.to_json())
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        lock_ignoring_poison(&self.slots)
    }

    /// Waits until no other thread writes `key`; an error when this thread does (a backend
    /// writing a key from inside its own write of it).
    fn wait_for_writer<'a>(
        &'a self,
        key: &str,
        mut slots: MutexGuard<'a, HashMap<String, Slot>>,
    ) -> Result<MutexGuard<'a, HashMap<String, Slot>>> {
        let me = std::thread::current().id();
        loop {
            match slots.get(key).and_then(|slot| slot.writer) {
                None => return Ok(slots),
                Some(writer) if writer == me => {
                    return Err(store_error(
                        key,
                        "the store's backend wrote this key again from inside its own write of \
                         it; that would wait for itself",
                    ));
                }
                Some(_) => {
                    slots = self
                        .written
                        .wait(slots)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            }
        }
    }

    /// Runs the backend write `run` of `key`, first checking that the key is at
    /// `expected_version` (`None`: no check). `run` gets the new version and says what is
    /// stored once it succeeded.
    fn write(
        &self,
        key: &str,
        expected_version: Option<Option<u64>>,
        run: impl FnOnce(u64) -> Result<Option<Seen>>,
    ) -> Result<u64> {
        let mut slots = self.wait_for_writer(key, self.slots())?;
        loop {
            if slots.get(key).is_some_and(|slot| slot.known.is_some()) {
                break;
            }
            // Nothing known: learn what the backend holds first.
            drop(slots);
            let loaded = self.load(key);
            slots = self.wait_for_writer(key, self.slots())?;
            match loaded {
                Ok(_) => {}
                // An unconditional write (remove) replaces whatever is there, readable or not:
                // a corrupt value must stay removable.
                Err(_) if expected_version.is_none() => {
                    let slot = slots.entry(key.to_owned()).or_default();
                    slot.known.get_or_insert(None);
                }
                Err(error) => return Err(error),
            }
        }
        let slot = slots.entry(key.to_owned()).or_default();
        let current = slot.known.flatten().map(|seen| seen.version);
        if let Some(expected) = expected_version
            && current != expected
        {
            return Err(conflict(key, expected, current));
        }
        let version = next_version(current);
        slot.writer = Some(std::thread::current().id());
        drop(slots);
        let mut guard = WriteGuard {
            store: self,
            key,
            known: None,
        };
        let outcome = run(version);
        if let Ok(seen) = &outcome {
            guard.known = Some(*seen);
        }
        drop(guard);
        outcome.map(|_| version)
    }
}

impl<B: StoreBackend> TokenStore for ExternalStore<B> {
    fn load(&self, key: &str) -> Result<Option<StoredToken>> {
        // A slot that does not exist yet counts as generation 0, which every write leaves.
        let (generation, writing) = self
            .slots()
            .get(key)
            .map_or((0, false), |slot| (slot.generation, slot.writer.is_some()));
        let token = self.backend_call(Some(key), |backend| backend.load(key))?;
        let fingerprint = token.as_ref().map(|token| self.fingerprint(token));
        let mut slots = self.slots();
        let slot = slots.entry(key.to_owned()).or_default();
        let quiet = !writing && slot.writer.is_none() && slot.generation == generation;
        let Some(token) = token else {
            if quiet {
                slot.known = Some(None);
            }
            return Ok(None);
        };
        let version = match (quiet, slot.known.flatten()) {
            // Content as last seen: same version.
            (_, Some(seen)) if seen.fingerprint == fingerprint && slot.writer.is_none() => {
                seen.version
            }
            // Changed by someone else (or first seen): a new version.
            (true, seen) => {
                let version = next_version(seen.map(|seen| seen.version));
                slot.known = Some(Some(Seen {
                    version,
                    fingerprint,
                }));
                version
            }
            // A write ran meanwhile: which content this is cannot be told.
            (false, _) => UNSAVEABLE_VERSION,
        };
        Ok(Some(StoredToken { token, version }))
    }

    fn save(&self, key: &str, token: &TokenSet, expected_version: Option<u64>) -> Result<u64> {
        let fingerprint = Some(self.fingerprint(token));
        self.write(key, Some(expected_version), |version| {
            self.backend_call(Some(key), |backend| backend.save(key, token))?;
            Ok(Some(Seen {
                version,
                fingerprint,
            }))
        })
    }

    fn keys(&self) -> Result<Vec<String>> {
        let mut keys = self.backend_call(None, |backend| backend.keys())?;
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    fn lock(&self, key: &str) -> Result<Box<dyn KeyLock + '_>> {
        // The call this thread is inside may hold this very lock: waiting would never end.
        if self.in_backend_call(Some(key)) {
            return Err(store_error(
                key,
                "the store's backend called back into a token manager for this key from inside                  its own load, save or remove of it (only reading the key works there); that                  would wait for itself",
            ));
        }
        Ok(self.locks.lock(key))
    }

    /// The backend's markers when it keeps them ([`StoreBackend::mark_seen`]), else this
    /// process's memory.
    fn mark_seen(&self, marker: &str, ttl: std::time::Duration) -> Result<bool> {
        super::seen::check_marker(marker)?;
        let ttl = super::seen::bounded_ttl(ttl);
        match self.backend_call(None, |backend| backend.mark_seen(marker, ttl)) {
            Some(answer) => answer,
            None => super::seen::PROCESS_MARKERS.mark(marker, ttl),
        }
    }

    fn remove(&self, key: &str) -> Result<bool> {
        let mut removed = false;
        self.write(key, None, |_| {
            removed = self.backend_call(Some(key), |backend| backend.remove(key))?;
            Ok(None)
        })?;
        Ok(removed)
    }
}
