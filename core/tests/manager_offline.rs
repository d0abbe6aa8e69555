//! TokenManager without a gateway: a closure transport that counts calls and a fixed clock.
//! Tokens that cannot be refreshed are reported ahead of time with the time left; missing and
//! corrupted tokens are typed errors naming the key.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iop_core::{
    AccessToken, AppSecret, Client, Clock, Error, ErrorClass, FileStore, Gateway, MemoryStore,
    RefreshDueOptions, RefreshToken, RetryPolicy, TokenManager, TokenSet, TokenStore,
};

const DAY: Duration = Duration::from_secs(86_400);
const NOW_MS: i64 = 1_750_000_000_000;

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(NOW_MS as u64)
    }
}

/// A client whose transport answers every refresh with a fresh 30-day token set, counting calls.
fn client(calls: Arc<AtomicUsize>) -> Arc<Client> {
    let transport = move |_request: http::Request<Vec<u8>>| {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        let body = serde_json::json!({
            "access_token": format!("new-access-{n}"),
            "refresh_token": format!("new-refresh-{n}"),
            "expires_in": 2_592_000,
            "refresh_expires_in": 5_184_000,
            "code": "0",
            "request_id": format!("req-{n}"),
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

/// A token set received now whose access token lives `access_left` from now.
fn token(access_left: Duration, refresh_expires_in: Option<i64>, refresh: bool) -> TokenSet {
    TokenSet {
        access_token: Some(AccessToken::new("old-access")),
        refresh_token: refresh.then(|| RefreshToken::new("old-refresh")),
        expires_in: Some(access_left.as_secs() as i64),
        refresh_expires_in,
        received_at_ms: Some(NOW_MS),
        ..TokenSet::default()
    }
}

type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn manager(calls: &Arc<AtomicUsize>, store: Arc<dyn TokenStore>) -> (TokenManager, Seen) {
    let seen: Seen = Arc::default();
    let hook = seen.clone();
    let manager = TokenManager::new(client(calls.clone()), store).on_reauthorization_required(
        move |key, error| {
            hook.lock()
                .unwrap()
                .push((key.to_owned(), error.to_string()))
        },
    );
    (manager, seen)
}

#[test]
fn refreshes_through_the_transport_and_saves_the_new_refresh_token() {
    let calls = Arc::new(AtomicUsize::new(0));
    let store = Arc::new(MemoryStore::new());
    let (manager, seen) = manager(&calls, store.clone());
    manager
        .put("s", &token(DAY, Some(5_184_000), true))
        .unwrap();
    assert_eq!(manager.access_token("s").unwrap().secret(), "new-access-1");
    let saved = manager.get("s").unwrap().unwrap();
    assert_eq!(saved.refresh_token.unwrap().secret(), "new-refresh-1");
    assert_eq!(manager.access_token("s").unwrap().secret(), "new-access-1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(seen.lock().unwrap().is_empty());
    // A wider margin makes it due again.
    let wide = TokenManager::new(client(calls.clone()), store).with_margin(40 * DAY);
    assert_eq!(wide.access_token("s").unwrap().secret(), "new-access-2");
}

#[test]
fn unrefreshable_tokens_are_reported_ahead_of_time_with_time_left() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (manager, seen) = manager(&calls, Arc::new(MemoryStore::new()));
    // Lazada style: refresh_expires_in 0, two days to live.
    manager.put("zero", &token(2 * DAY, Some(0), true)).unwrap();
    // No refresh token at all, one day to live.
    manager.put("none", &token(DAY, None, false)).unwrap();
    // Far from expiry: nothing to report yet.
    manager
        .put("later", &token(20 * DAY, Some(0), true))
        .unwrap();

    // Still usable: the access token comes back, the callback fires once.
    for _ in 0..3 {
        assert_eq!(manager.access_token("zero").unwrap().secret(), "old-access");
    }
    assert_eq!(
        manager.access_token("later").unwrap().secret(),
        "old-access"
    );
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "zero");
        assert!(
            seen[0].1.contains("refresh_expires_in is 0"),
            "{}",
            seen[0].1
        );
    }

    let report = manager.refresh_due(RefreshDueOptions::new(3 * DAY));
    assert_eq!(report.skipped, vec!["later".to_owned()]);
    assert_eq!(
        report.reauthorization_required,
        vec![
            ("none".to_owned(), Some(DAY)),
            ("zero".to_owned(), Some(2 * DAY))
        ]
    );
    assert!(report.refreshed.is_empty() && report.failed.is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing was sent");
    assert_eq!(seen.lock().unwrap().len(), 2, "once per key");
}

#[test]
fn dead_unrefreshable_token_is_a_typed_error() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (manager, seen) = manager(&calls, Arc::new(MemoryStore::new()));
    let mut dead = token(DAY, Some(0), true);
    dead.received_at_ms = Some(NOW_MS - 2 * 86_400_000);
    manager.put("dead", &dead).unwrap();
    let err = manager.access_token("dead").unwrap_err();
    assert!(
        matches!(&err, Error::ReauthorizationRequired { key, gateway: None, .. } if key == "dead"),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Reauthorize);
    let report = manager.refresh_due(RefreshDueOptions::default());
    assert_eq!(
        report.reauthorization_required,
        vec![("dead".to_owned(), None)]
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn missing_and_corrupted_tokens_name_the_key() {
    let calls = Arc::new(AtomicUsize::new(0));
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::open(dir.path()).unwrap());
    let (manager, _) = manager(&calls, store.clone());
    // A seller nothing is stored for is a typed error of its own, not a store failure.
    let err = manager.access_token("nobody").unwrap_err();
    assert!(
        matches!(&err, Error::UnknownSeller { key } if key == "nobody"),
        "{err:?}"
    );
    assert_eq!(err.class(), iop_core::ErrorClass::Client);
    assert!(
        err.to_string().contains("unknown seller \"nobody\""),
        "{err}"
    );

    manager.put("broken", &token(DAY, Some(100), true)).unwrap();
    std::fs::write(store.path_of("broken").unwrap(), b"{\"version\": 1, \"tok").unwrap();
    let err = manager.access_token("broken").unwrap_err();
    assert!(
        matches!(&err, Error::Store { key, .. } if key == "broken"),
        "{err:?}"
    );
    assert!(err.to_string().contains("broken"), "{err}");
    let report = manager.refresh_due(RefreshDueOptions::default());
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "broken");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // put cannot compare against garbage; remove clears the way.
    assert!(
        manager
            .put("broken", &token(20 * DAY, Some(100), true))
            .is_err()
    );
    assert!(manager.remove("broken").unwrap());
    manager
        .put("broken", &token(20 * DAY, Some(100), true))
        .unwrap();
    assert_eq!(
        manager.access_token("broken").unwrap().secret(),
        "old-access"
    );
}

#[test]
fn refresh_due_with_one_worker_or_many_gives_the_same_report() {
    for concurrency in [1, 3, 64] {
        let calls = Arc::new(AtomicUsize::new(0));
        let (manager, _) = manager(&calls, Arc::new(MemoryStore::new()));
        for i in 0..20 {
            let left = if i % 2 == 0 { DAY } else { 10 * DAY };
            manager
                .put(&format!("k{i:02}"), &token(left, Some(5_184_000), true))
                .unwrap();
        }
        let report = manager.refresh_due(RefreshDueOptions::new(3 * DAY).concurrency(concurrency));
        assert_eq!(
            report.refreshed,
            (0..20)
                .step_by(2)
                .map(|i| format!("k{i:02}"))
                .collect::<Vec<_>>()
        );
        assert_eq!(report.skipped.len(), 10);
        assert_eq!(calls.load(Ordering::SeqCst), 10);
    }
}
