//! ExternalStore beyond the common contract: a backend that calls back into the manager from its
//! save does not deadlock, a backend writing the key it is writing is refused instead of hanging,
//! changes made behind the adapter change the version, and failed or racing writes never let a
//! stale version through.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::store_contract::{nick, token};
use iop_core::store::{ExternalStore, StoreBackend, UNSAVEABLE_VERSION};
use iop_core::{
    AccessToken, AppSecret, Client, Clock, Error, Gateway, RefreshDueOptions, RefreshToken,
    RetryPolicy, TokenManager, TokenSet, TokenStore,
};

const NOW_MS: i64 = 1_750_000_000_000;

/// Runs `f` on a thread; fails the test if it takes more than 10 seconds (a deadlock).
fn without_deadlock<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(f());
    });
    receiver
        .recv_timeout(Duration::from_secs(10))
        .expect("deadlock: the call did not return")
}

/// Runs inside a backend save.
type SaveHook = Box<dyn Fn(&str) -> iop_core::Result<()> + Send + Sync>;

/// A map backend with hooks: `on_save` runs inside every save, before the write.
#[derive(Default)]
struct HookedBackend {
    data: Mutex<HashMap<String, TokenSet>>,
    on_save: OnceLock<SaveHook>,
    saves: AtomicUsize,
}

impl StoreBackend for HookedBackend {
    fn load(&self, key: &str) -> iop_core::Result<Option<TokenSet>> {
        Ok(self.data.lock().unwrap().get(key).cloned())
    }
    fn save(&self, key: &str, token: &TokenSet) -> iop_core::Result<()> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        if let Some(hook) = self.on_save.get() {
            hook(key)?;
        }
        self.data
            .lock()
            .unwrap()
            .insert(key.to_owned(), token.clone());
        Ok(())
    }
    fn keys(&self) -> iop_core::Result<Vec<String>> {
        Ok(self.data.lock().unwrap().keys().cloned().collect())
    }
}

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(NOW_MS as u64)
    }
}

fn client() -> Arc<Client> {
    let transport = |_request: http::Request<Vec<u8>>| {
        let body = serde_json::json!({
            "access_token": "new-access", "refresh_token": "new-refresh",
            "expires_in": 2_592_000, "refresh_expires_in": 5_184_000, "code": "0",
        });
        Ok(http::Response::builder()
            .status(200)
            .body(body.to_string().into_bytes())
            .unwrap())
    };
    Arc::new(
        Client::builder(
            "app",
            AppSecret::new("secret"),
            Gateway::new("http://127.0.0.1:9").unwrap(),
        )
        .transport(Arc::new(transport))
        .clock(Arc::new(FixedClock))
        .retry(RetryPolicy::none())
        .build()
        .unwrap(),
    )
}

/// A 30-day token set with one day left.
fn due() -> TokenSet {
    TokenSet {
        access_token: Some(AccessToken::new("old-access")),
        refresh_token: Some(RefreshToken::new("old-refresh")),
        expires_in: Some(30 * 86_400),
        refresh_expires_in: Some(60 * 86_400),
        received_at_ms: Some(NOW_MS - 29 * 86_400_000),
        ..TokenSet::default()
    }
}

#[test]
fn a_backend_whose_save_calls_back_into_the_manager_does_not_deadlock() {
    let store = Arc::new(ExternalStore::new(HookedBackend::default()));
    let manager = Arc::new(TokenManager::new(client(), store.clone()));
    // Seed an unrelated key before the hook is armed.
    manager.put("other", &due()).unwrap();
    let weak: Weak<TokenManager> = Arc::downgrade(&manager);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let hook = move |key: &str| {
        let manager = weak.upgrade().expect("manager alive");
        // Read the key being saved, and refresh another key, from inside the save.
        let current = manager.get(key)?;
        log.lock()
            .unwrap()
            .push((key.to_owned(), current.is_some()));
        if key != "other" {
            manager.access_token("other")?;
        }
        Ok(())
    };
    assert!(store.backend().on_save.set(Box::new(hook)).is_ok());
    let m = manager.clone();
    without_deadlock(move || m.put("seller", &due())).unwrap();
    let m = manager.clone();
    let access = without_deadlock(move || m.access_token("seller")).unwrap();
    assert_eq!(access.secret(), "new-access");
    // Every other operation still works afterwards.
    let m = manager.clone();
    let report = without_deadlock(move || m.refresh_due(RefreshDueOptions::default()));
    assert!(report.failed.is_empty(), "{report:?}");
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains(&("seller".to_owned(), false)), "{seen:?}");
    assert!(seen.contains(&("seller".to_owned(), true)), "{seen:?}");
    assert!(seen.iter().any(|(key, _)| key == "other"), "{seen:?}");
}

#[test]
fn a_backend_writing_the_key_it_is_writing_gets_an_error_not_a_hang() {
    let store = Arc::new(ExternalStore::new(HookedBackend::default()));
    let weak = Arc::downgrade(&store);
    let hook = move |key: &str| {
        let store = weak.upgrade().unwrap();
        match store.save(key, &token(99), None) {
            Err(Error::Store { message, .. }) if message.contains("wait for itself") => Ok(()),
            other => panic!("expected the reentrant save to be refused, got {other:?}"),
        }
    };
    assert!(store.backend().on_save.set(Box::new(hook)).is_ok());
    let s = store.clone();
    let version = without_deadlock(move || s.save("k", &token(1), None)).unwrap();
    let stored = store.load("k").unwrap().unwrap();
    assert_eq!((stored.version, nick(&stored)), (version, 1));
}

#[test]
fn a_change_behind_the_adapter_changes_the_version() {
    let store = ExternalStore::new(HookedBackend::default());
    let v1 = store.save("k", &token(1), None).unwrap();
    assert_eq!(store.load("k").unwrap().unwrap().version, v1);
    // Another writer (another process, say) changes the backend directly.
    store
        .backend()
        .data
        .lock()
        .unwrap()
        .insert("k".to_owned(), token(2));
    let stored = store.load("k").unwrap().unwrap();
    assert_eq!(nick(&stored), 2);
    assert_ne!(stored.version, v1);
    assert!(store.save("k", &token(3), Some(v1)).is_err());
    store.save("k", &token(3), Some(stored.version)).unwrap();
    // Removed behind its back: absent, and a save expecting absence works.
    store.backend().data.lock().unwrap().clear();
    assert!(store.load("k").unwrap().is_none());
    store.save("k", &token(4), None).unwrap();
}

#[test]
fn a_failed_backend_write_is_an_error_and_its_version_cannot_be_reused() {
    let store = ExternalStore::new(HookedBackend::default());
    let v1 = store.save("k", &token(1), None).unwrap();
    let fail = AtomicUsize::new(1);
    let hook = move |key: &str| {
        if fail.fetch_sub(1, Ordering::SeqCst) == 1 {
            Err(Error::Store {
                key: key.to_owned(),
                message: "backend is down".to_owned(),
                source: None,
            })
        } else {
            Ok(())
        }
    };
    assert!(store.backend().on_save.set(Box::new(hook)).is_ok());
    let err = store.save("k", &token(2), Some(v1)).unwrap_err();
    assert!(err.to_string().contains("backend is down"), "{err}");
    // What the backend holds is read again; the version before the failure is refused.
    let stored = store.load("k").unwrap().unwrap();
    assert_eq!(nick(&stored), 1);
    assert_ne!(stored.version, v1);
    assert!(store.save("k", &token(3), Some(v1)).is_err());
    store.save("k", &token(3), Some(stored.version)).unwrap();
    // A backend without remove says so.
    assert!(matches!(store.remove("k"), Err(Error::Store { .. })));
}

#[test]
fn a_load_racing_a_write_gets_a_version_no_save_accepts() {
    let store = Arc::new(ExternalStore::new(HookedBackend::default()));
    store.save("k", &token(1), None).unwrap();
    let inside = Arc::new(Barrier::new(2));
    let resume = Arc::new(Barrier::new(2));
    let (i, r) = (inside.clone(), resume.clone());
    let hook = move |_: &str| {
        i.wait();
        r.wait();
        Ok(())
    };
    assert!(store.backend().on_save.set(Box::new(hook)).is_ok());
    let s = store.clone();
    let version = s.load("k").unwrap().unwrap().version;
    let writer = std::thread::spawn(move || s.save("k", &token(2), Some(version)));
    inside.wait();
    // The write is in the backend now: this load cannot tell old from new.
    let racing = store.load("k").unwrap().unwrap();
    assert_eq!(racing.version, UNSAVEABLE_VERSION);
    resume.wait();
    let new_version = writer.join().unwrap().unwrap();
    assert!(
        store
            .save("k", &token(3), Some(UNSAVEABLE_VERSION))
            .is_err()
    );
    let stored = store.load("k").unwrap().unwrap();
    assert_eq!((stored.version, nick(&stored)), (new_version, 2));
}

/// A backend holding one unreadable value (as a corrupt row or file would be).
#[derive(Default)]
struct CorruptBackend {
    removed: AtomicUsize,
}

impl StoreBackend for CorruptBackend {
    fn load(&self, key: &str) -> iop_core::Result<Option<TokenSet>> {
        if self.removed.load(Ordering::SeqCst) > 0 {
            return Ok(None);
        }
        Err(Error::Store {
            key: key.to_owned(),
            message: "the stored value is not a token set".to_owned(),
            source: None,
        })
    }
    fn save(&self, _key: &str, _token: &TokenSet) -> iop_core::Result<()> {
        Ok(())
    }
    fn keys(&self) -> iop_core::Result<Vec<String>> {
        Ok(vec!["k".to_owned()])
    }
    fn remove(&self, _key: &str) -> iop_core::Result<bool> {
        self.removed.fetch_add(1, Ordering::SeqCst);
        Ok(true)
    }
}

#[test]
fn a_corrupt_value_can_be_removed() {
    let store = ExternalStore::new(CorruptBackend::default());
    assert!(matches!(store.load("k"), Err(Error::Store { .. })));
    // A conditional write still refuses to go over what it cannot read …
    assert!(store.save("k", &token(1), None).is_err());
    // … but removing it, the way to clear it, works.
    assert!(store.remove("k").unwrap());
    assert_eq!(store.backend().removed.load(Ordering::SeqCst), 1);
    assert!(store.load("k").unwrap().is_none());
    store.save("k", &token(2), None).unwrap();
}

#[test]
fn a_backend_locking_the_key_it_is_inside_gets_an_error_not_a_hang() {
    // A second manager over the same store has a gate of its own: only the store can see that
    // this thread, inside the backend's save of the key, already holds the key's lock.
    let store = Arc::new(ExternalStore::new(HookedBackend::default()));
    let first = Arc::new(TokenManager::new(client(), store.clone()));
    let second = TokenManager::new(client(), store.clone());
    assert!(!store.in_backend_call(None));
    let weak = Arc::downgrade(&store);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let hook = move |key: &str| {
        if key != "seller" {
            return Ok(());
        }
        let store = weak.upgrade().unwrap();
        let inside = (
            store.in_backend_call(Some(key)),
            store.in_backend_call(None),
            store.in_backend_call(Some("another key")),
        );
        let put = second.put(key, &due());
        let other_key = second.put("another key", &due());
        log.lock().unwrap().push((inside, put, other_key));
        Ok(())
    };
    assert!(store.backend().on_save.set(Box::new(hook)).is_ok());
    let m = first.clone();
    without_deadlock(move || m.put("seller", &due())).unwrap();
    let mut seen = seen.lock().unwrap();
    let (inside, put, other_key) = seen.remove(0);
    assert!(seen.is_empty());
    assert_eq!(inside, (true, true, false));
    match put {
        Err(Error::Store { key, message, .. }) => {
            assert_eq!(key, "seller");
            assert!(message.contains("called back"), "{message}");
        }
        other => panic!("expected the reentrant lock to be refused, got {other:?}"),
    }
    assert!(other_key.is_ok(), "{other_key:?}");
    assert!(!store.in_backend_call(None));
    assert!(first.get("seller").unwrap().is_some());
}

/// A backend that keeps push markers itself (as a shared database would), counting the calls.
#[derive(Default)]
struct MarkingBackend {
    markers: Mutex<HashMap<String, std::time::Instant>>,
    asked: AtomicUsize,
}

impl StoreBackend for MarkingBackend {
    fn load(&self, _key: &str) -> iop_core::Result<Option<TokenSet>> {
        Ok(None)
    }
    fn save(&self, _key: &str, _token: &TokenSet) -> iop_core::Result<()> {
        Ok(())
    }
    fn keys(&self) -> iop_core::Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn mark_seen(&self, marker: &str, ttl: Duration) -> Option<iop_core::Result<bool>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let now = std::time::Instant::now();
        let mut markers = self.markers.lock().unwrap();
        let live = markers.get(marker).is_some_and(|until| *until > now);
        if !live {
            markers.insert(marker.to_owned(), now + ttl);
        }
        Some(Ok(!live))
    }
}

/// Forwards to a shared backend: two adapters over one storage, as two hosts have.
struct Shared(Arc<MarkingBackend>);

impl StoreBackend for Shared {
    fn load(&self, key: &str) -> iop_core::Result<Option<TokenSet>> {
        self.0.load(key)
    }
    fn save(&self, key: &str, token: &TokenSet) -> iop_core::Result<()> {
        self.0.save(key, token)
    }
    fn keys(&self) -> iop_core::Result<Vec<String>> {
        self.0.keys()
    }
    fn mark_seen(&self, marker: &str, ttl: Duration) -> Option<iop_core::Result<bool>> {
        self.0.mark_seen(marker, ttl)
    }
}

#[test]
fn push_markers_go_to_a_backend_that_keeps_them() {
    let backend = Arc::new(MarkingBackend::default());
    let a = ExternalStore::new(Shared(Arc::clone(&backend)));
    let b = ExternalStore::new(Shared(Arc::clone(&backend)));
    assert!(a.mark_seen("push:m", Duration::from_secs(60)).unwrap());
    assert!(!b.mark_seen("push:m", Duration::from_secs(60)).unwrap());
    assert_eq!(backend.asked.load(Ordering::SeqCst), 2);
    // A bad marker never reaches the backend.
    assert!(a.mark_seen("", Duration::from_secs(60)).is_err());
    assert_eq!(backend.asked.load(Ordering::SeqCst), 2);
    // A backend without markers: the adapter keeps them in this process.
    let plain = ExternalStore::new(HookedBackend::default());
    let marker = format!("push:{:016x}", fastrand::u64(..));
    assert!(plain.mark_seen(&marker, Duration::from_secs(60)).unwrap());
    assert!(!plain.mark_seen(&marker, Duration::from_secs(60)).unwrap());
}
