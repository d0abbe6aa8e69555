//! The contract every [`TokenStore`] keeps, as functions over a maker of empty stores, and a
//! macro that turns them into one `#[test]` each:
//!
//! ```ignore
//! mod common;
//! common::store_contract_tests!(memory, || std::sync::Arc::new(iop_core::MemoryStore::new()));
//! ```
//!
//! Each function gets a fresh, empty store from the maker (call it as often as needed: stores
//! that share a backend, such as two handles on one directory or server, may return stores that
//! see each other's data — `two_handles` expects that when the maker says so).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use iop_core::{AccessToken, Error, RefreshToken, StoredToken, TokenSet, TokenStore};

/// Makes an empty store (each call a new one, unless the store is shared by design).
pub type Maker<'a> = &'a (dyn Fn() -> Arc<dyn TokenStore> + Sync);

/// A token set whose `user_nick` carries `n`, so tests can tell saves apart.
pub fn token(n: u64) -> TokenSet {
    TokenSet {
        access_token: Some(AccessToken::new(format!("access-{n}"))),
        refresh_token: Some(RefreshToken::new(format!("refresh-{n}"))),
        expires_in: Some(2_592_000),
        refresh_expires_in: Some(5_184_000),
        received_at_ms: Some(1_750_000_000_000),
        seller_id: Some("2001".to_owned()),
        user_nick: Some(n.to_string()),
        ..TokenSet::default()
    }
}

/// The `n` of [`token`].
pub fn nick(stored: &StoredToken) -> u64 {
    stored
        .token
        .user_nick
        .as_deref()
        .and_then(|n| n.parse().ok())
        .expect("a token of this suite")
}

fn assert_conflict(result: iop_core::Result<u64>, key: &str) {
    match result {
        Err(Error::Store { key: k, .. }) => assert_eq!(k, key),
        other => panic!("expected a version conflict on {key:?}, got {other:?}"),
    }
}

/// Saves compare versions: absent expected but present, a wrong or old version, all refused
/// and nothing written; a right one accepted with a new version.
pub fn compare_and_swap(make: Maker<'_>) {
    let store = make();
    assert!(store.load("a").unwrap().is_none());
    assert_conflict(store.save("a", &token(0), Some(1)), "a");
    assert!(store.load("a").unwrap().is_none(), "a refused save wrote");
    let v1 = store.save("a", &token(1), None).unwrap();
    assert_conflict(store.save("a", &token(2), None), "a");
    assert_conflict(store.save("a", &token(2), Some(v1.wrapping_add(7))), "a");
    let loaded = store.load("a").unwrap().unwrap();
    assert_eq!((loaded.version, nick(&loaded)), (v1, 1));
    let v2 = store.save("a", &token(2), Some(v1)).unwrap();
    assert_ne!(v1, v2);
    let loaded = store.load("a").unwrap().unwrap();
    assert_eq!((loaded.version, nick(&loaded)), (v2, 2));
    assert_conflict(store.save("a", &token(3), Some(v1)), "a");
    // Loading does not change the version.
    assert_eq!(store.load("a").unwrap().unwrap().version, v2);
}

/// Every field comes back: secrets, times, ids and fields the model does not name.
pub fn round_trip(make: Maker<'_>) {
    let store = make();
    let mut t = token(1);
    t.expire_time = Some(1_752_592_000_000);
    t.extra.insert(
        "brand_new_field".to_owned(),
        serde_json::json!({"x": [1, 2], "ü": null}),
    );
    store.save("k", &t, None).unwrap();
    let back = store.load("k").unwrap().unwrap().token;
    assert_eq!(back.to_value(), t.to_value());
    assert_eq!(back.access_token.unwrap().secret(), "access-1");
    assert_eq!(back.refresh_token.unwrap().secret(), "refresh-1");
}

/// `keys` lists every stored key, and only those; odd keys are kept exactly.
pub fn keys_list_what_is_stored(make: Maker<'_>) {
    let store = make();
    assert!(store.keys().unwrap().is_empty());
    let names = ["a", "b:ü/../x", "seller 42", "z"];
    for (n, key) in names.iter().enumerate() {
        store.save(key, &token(n as u64), None).unwrap();
    }
    let mut keys = store.keys().unwrap();
    keys.sort();
    assert_eq!(keys, names.map(str::to_owned).to_vec());
    for (n, key) in names.iter().enumerate() {
        assert_eq!(nick(&store.load(key).unwrap().unwrap()), n as u64);
    }
}

/// `remove` forgets a key (`false` the second time); stored again, it does not reuse the
/// version it had.
pub fn remove_forgets_a_key(make: Maker<'_>) {
    let store = make();
    let v1 = store.save("k", &token(1), None).unwrap();
    store.save("other", &token(9), None).unwrap();
    assert!(store.remove("k").unwrap());
    assert!(!store.remove("k").unwrap());
    assert!(store.load("k").unwrap().is_none());
    assert_eq!(store.keys().unwrap(), vec!["other".to_owned()]);
    assert_conflict(store.save("k", &token(2), Some(v1)), "k");
    let v2 = store.save("k", &token(2), None).unwrap();
    assert_ne!(v1, v2);
    assert_eq!(nick(&store.load("other").unwrap().unwrap()), 9);
}

/// A key's lock excludes other holders (threads here); other keys do not wait for it.
pub fn lock_excludes(make: Maker<'_>) {
    let store = make();
    let inside = AtomicBool::new(false);
    let barrier = Barrier::new(8);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                barrier.wait();
                for _ in 0..20 {
                    let _lock = store.lock("k").unwrap();
                    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                    std::thread::sleep(Duration::from_micros(200));
                    inside.store(false, Ordering::SeqCst);
                }
            });
        }
    });
    let _k = store.lock("k").unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _other = store.lock("other").unwrap();
            sender.send(()).unwrap();
        });
        receiver
            .recv_timeout(Duration::from_secs(5))
            .expect("another key waited for k");
    });
}

/// Under the key's lock, load-then-save never conflicts and never loses an update.
pub fn locked_updates_are_never_lost(make: Maker<'_>) {
    locked_counter(make, false);
}

/// 8 threads × 10 increments of one counter under its lock, saved with `save` (the lock dropped
/// after it) or with `save_and_unlock`: every save succeeds and the counter ends at 80.
fn locked_counter(make: Maker<'_>, save_and_unlock: bool) {
    let store = make();
    store.save("counter", &token(0), None).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..10 {
                    let lock = store.lock("counter").unwrap();
                    let stored = store.load("counter").unwrap().unwrap();
                    let next = token(nick(&stored) + 1);
                    if save_and_unlock {
                        store
                            .save_and_unlock("counter", &next, Some(stored.version), lock)
                            .unwrap();
                    } else {
                        store.save("counter", &next, Some(stored.version)).unwrap();
                        drop(lock);
                    }
                }
            });
        }
    });
    assert_eq!(nick(&store.load("counter").unwrap().unwrap()), 80);
}

/// Without locks, concurrent compare-and-swap writers lose nothing: each save that returned a
/// version is counted exactly once.
pub fn concurrent_compare_and_swap_loses_nothing(make: Maker<'_>) {
    let store = make();
    store.save("counter", &token(0), None).unwrap();
    let succeeded = AtomicUsize::new(0);
    let versions = std::sync::Mutex::new(HashSet::new());
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let mut done = 0;
                while done < 10 {
                    let stored = store.load("counter").unwrap().unwrap();
                    if let Ok(version) =
                        store.save("counter", &token(nick(&stored) + 1), Some(stored.version))
                    {
                        assert!(versions.lock().unwrap().insert(version), "version reused");
                        done += 1;
                        succeeded.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert_eq!(succeeded.load(Ordering::SeqCst), 80);
    assert_eq!(nick(&store.load("counter").unwrap().unwrap()), 80);
}

/// `load_many` answers what `load` answers, key by key and in the order asked (a key asked
/// twice twice, a missing key `None`).
pub fn load_many_matches_load(make: Maker<'_>) {
    let store = make();
    store.save("a", &token(1), None).unwrap();
    store.save("b", &token(2), None).unwrap();
    let asked: Vec<String> = ["b", "missing", "a", "b"].map(String::from).to_vec();
    let many = store.load_many(&asked);
    assert_eq!(many.len(), asked.len());
    for (key, loaded) in asked.iter().zip(many) {
        let loaded = loaded.unwrap();
        let one = store.load(key).unwrap();
        assert_eq!(
            loaded.as_ref().map(|s| (nick(s), s.version)),
            one.as_ref().map(|s| (nick(s), s.version)),
            "{key}"
        );
    }
    assert!(store.load_many(&[]).is_empty());
}

/// `try_lock` takes a free key's lock (which then excludes `lock`); when `nonblocking`, it
/// answers `None` at once for a key someone else holds, and takes it once that is released.
pub fn try_lock_takes_free_locks(make: Maker<'_>, nonblocking: bool) {
    let store = make();
    let held = store.try_lock("k").unwrap().expect("a free lock is taken");
    let (sender, receiver) = std::sync::mpsc::channel();
    let (tried, tried_receiver) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            if nonblocking {
                assert!(
                    store.try_lock("k").unwrap().is_none(),
                    "try_lock took a held lock"
                );
            }
            tried.send(()).unwrap();
            let _lock = store.lock("k").unwrap();
            sender.send(()).unwrap();
        });
        // The lock stays held until the other thread has tried it (a new connection to a busy
        // server can take longer than any fixed pause).
        tried_receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("try_lock did not answer");
        assert!(
            receiver.recv_timeout(Duration::from_millis(300)).is_err(),
            "lock went past a lock taken by try_lock"
        );
        drop(held);
        receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("the lock was not released");
    });
    assert!(store.try_lock("k").unwrap().is_some());
}

/// `save_and_unlock` saves like `save` and releases the lock whatever the save's outcome: a
/// stale version is refused (nothing written) and the lock is free afterwards all the same.
pub fn save_and_unlock_saves_and_releases(make: Maker<'_>) {
    let store = make();
    let first = store.save("k", &token(1), None).unwrap();
    let lock = store.lock("k").unwrap();
    let second = store
        .save_and_unlock("k", &token(2), Some(first), lock)
        .unwrap();
    assert_ne!(second, first);
    let stored = store.load("k").unwrap().unwrap();
    assert_eq!((nick(&stored), stored.version), (2, second));
    let free_within = |store: &dyn TokenStore| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _lock = store.lock("k").unwrap();
                sender.send(()).unwrap();
            });
            receiver
                .recv_timeout(Duration::from_secs(10))
                .expect("save_and_unlock kept the lock");
        });
    };
    free_within(&*store);
    let lock = store.lock("k").unwrap();
    assert_conflict(
        store.save_and_unlock("k", &token(3), Some(first), lock),
        "k",
    );
    let stored = store.load("k").unwrap().unwrap();
    assert_eq!((nick(&stored), stored.version), (2, second));
    free_within(&*store);
    // A new key under its lock.
    let lock = store.lock("new").unwrap();
    let version = store.save_and_unlock("new", &token(4), None, lock).unwrap();
    assert_eq!(store.load("new").unwrap().unwrap().version, version);
}

/// Under the key's lock, load-then-`save_and_unlock` from many threads never conflicts and
/// never loses an update.
pub fn save_and_unlock_loses_no_update(make: Maker<'_>) {
    locked_counter(make, true);
}

/// Push markers ([`TokenStore::mark_seen`]): new once, whoever asks at once, until they
/// expire; a bad marker is an error.
pub fn mark_seen_is_new_once(make: Maker<'_>) {
    let store = make();
    // Unique per run: a store without markers of its own shares the process's table.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("push:{}:{nanos}", std::process::id());
    let marker = |name: &str| format!("{prefix}:{name}");
    let short = Duration::from_millis(400);
    assert!(store.mark_seen(&marker("a"), short).unwrap());
    assert!(!store.mark_seen(&marker("a"), short).unwrap());
    assert!(
        !store
            .mark_seen(&marker("a"), Duration::from_secs(60))
            .unwrap()
    );
    assert!(
        store
            .mark_seen(&marker("b"), Duration::from_secs(60))
            .unwrap()
    );
    // Many threads at once: exactly one is first.
    let firsts = AtomicUsize::new(0);
    let start = Barrier::new(8);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                start.wait();
                if store
                    .mark_seen(&marker("race"), Duration::from_secs(60))
                    .unwrap()
                {
                    firsts.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(firsts.load(Ordering::SeqCst), 1);
    // Expired: new again, once.
    std::thread::sleep(short + Duration::from_millis(300));
    assert!(
        store
            .mark_seen(&marker("a"), Duration::from_secs(60))
            .unwrap()
    );
    assert!(
        !store
            .mark_seen(&marker("a"), Duration::from_secs(60))
            .unwrap()
    );
    assert!(
        !store
            .mark_seen(&marker("b"), Duration::from_secs(60))
            .unwrap()
    );
    for bad in [String::new(), "a\nb".to_owned(), "x".repeat(257)] {
        assert!(store.mark_seen(&bad, short).is_err(), "{bad:?}");
    }
    // Markers are not token keys.
    assert!(!store.keys().unwrap().iter().any(|k| k.starts_with("push:")));
}

/// Runs every contract function as its own test, in a module named `$name`, against the
/// stores `$make` returns.
#[macro_export]
macro_rules! store_contract_tests {
    ($name:ident, $make:expr) => {
        $crate::store_contract_tests!($name, $make, nonblocking_try_lock: false, guard: ());
    };
    ($name:ident, $make:expr, nonblocking_try_lock: $nonblocking:expr) => {
        $crate::store_contract_tests!($name, $make, nonblocking_try_lock: $nonblocking, guard: ());
    };
    // `$guard` is held through each test.
    ($name:ident, $make:expr, nonblocking_try_lock: $nonblocking:expr, guard: $guard:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn make() -> std::sync::Arc<dyn iop_core::TokenStore> {
                ($make)()
            }

            #[test]
            #[allow(clippy::let_unit_value)]
            fn compare_and_swap() {
                let _guard = $guard;
                $crate::common::store_contract::compare_and_swap(&make);
            }
            #[test]
            #[allow(clippy::let_unit_value)]
            fn round_trip() {
                let _guard = $guard;
                $crate::common::store_contract::round_trip(&make);
            }
            #[test]
            #[allow(clippy::let_unit_value)]
            fn keys_list_what_is_stored() {
                let _guard = $guard;
                $crate::common::store_contract::keys_list_what_is_stored(&make);
            }
            #[test]
            #[allow(clippy::let_unit_value)]
            fn remove_forgets_a_key() {
                let _guard = $guard;
                $crate::common::store_contract::remove_forgets_a_key(&make);
            }
            #[test]
            #[allow(clippy::let_unit_value)]
            fn lock_excludes() {
                let _guard = $guard;
                $crate::common::store_contract::lock_excludes(&make);
            }
            #[test]
            #[allow(clippy::let_unit_value)]
            fn locked_updates_are_never_lost() {
                let _guard = $guard;
                $crate::common::store_contract::locked_updates_are_never_lost(&make);
            }
            #[test]
            #[allow(clippy::let_unit_value)]
            fn concurrent_compare_and_swap_loses_nothing() {
                let _guard = $guard;
                $crate::common::store_contract::concurrent_compare_and_swap_loses_nothing(&make);
            }
            #[test]
            #[allow(clippy::let_unit_value)]
            fn load_many_matches_load() {
                let _guard = $guard;
                $crate::common::store_contract::load_many_matches_load(&make);
            }
            #[test]
            #[allow(clippy::let_unit_value)]
            fn try_lock_takes_free_locks() {
                let _guard = $guard;
                $crate::common::store_contract::try_lock_takes_free_locks(&make, $nonblocking);
            }
            #[test]
            #[allow(clippy::let_unit_value)]
            fn save_and_unlock_saves_and_releases() {
                let _guard = $guard;
                $crate::common::store_contract::save_and_unlock_saves_and_releases(&make);
            }
            #[test]
            #[allow(clippy::let_unit_value)]
            fn save_and_unlock_loses_no_update() {
                let _guard = $guard;
                $crate::common::store_contract::save_and_unlock_loses_no_update(&make);
            }
            #[test]
            #[allow(clippy::let_unit_value)]
            fn mark_seen_is_new_once() {
                let _guard = $guard;
                $crate::common::store_contract::mark_seen_is_new_once(&make);
            }
        }
    };
}
