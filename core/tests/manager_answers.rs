//! TokenManager against odd refresh answers, apps sharing one store, and a reauthorization
//! callback replaced on a live manager. A closure transport answers with what each test says; a
//! settable clock stands in for time.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iop_core::manager::{APP_BINDING_FIELD, MAX_TOKEN_LIFE};
use iop_core::{
    AccessToken, AppSecret, Client, Clock, Error, ErrorClass, FileStore, Gateway, MemoryStore,
    RefreshDueOptions, RefreshToken, RetryPolicy, TokenManager, TokenSet, TokenStore,
};
use serde_json::{Value, json};

const DAY: Duration = Duration::from_secs(86_400);
const NOW_MS: i64 = 1_750_000_000_000;

/// A clock the test moves.
struct TestClock(AtomicI64);
impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0.load(Ordering::SeqCst) as u64)
    }
}
impl TestClock {
    fn new() -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(NOW_MS)))
    }
    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

/// A client of `app_key` on `base` whose refresh answers are `answer(n)` for the n-th call.
fn client(
    app_key: &str,
    base: &str,
    clock: Arc<TestClock>,
    calls: Arc<AtomicUsize>,
    answer: impl Fn(usize) -> Value + Send + Sync + 'static,
) -> Arc<Client> {
    let transport = move |_request: http::Request<Vec<u8>>| {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(http::Response::builder()
            .status(200)
            .body(answer(n).to_string().into_bytes())
            .unwrap())
    };
    Arc::new(
        Client::builder(
            app_key,
            AppSecret::new("secret"),
            Gateway::new(base).unwrap(),
        )
        .transport(Arc::new(transport))
        .clock(clock)
        .retry(RetryPolicy::none())
        .build()
        .unwrap(),
    )
}

/// A good answer: a new 30-day token set.
fn fresh(n: usize) -> Value {
    json!({
        "access_token": format!("new-access-{n}"),
        "refresh_token": format!("new-refresh-{n}"),
        "expires_in": 2_592_000,
        "refresh_expires_in": 5_184_000,
        "code": "0",
        "request_id": format!("req-{n}"),
    })
}

/// A 30-day token set whose access token has `left` to live and whose refresh token (60-day
/// life unless `refresh_expires_in` says otherwise) was issued with it.
fn stored(left: Duration, refresh_expires_in: i64) -> TokenSet {
    TokenSet {
        access_token: Some(AccessToken::new("old-access")),
        refresh_token: Some(RefreshToken::new("old-refresh")),
        expires_in: Some(30 * 86_400),
        refresh_expires_in: Some(refresh_expires_in),
        received_at_ms: Some(NOW_MS - (30 * DAY - left).as_millis() as i64),
        ..TokenSet::default()
    }
}

fn calls() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

#[test]
fn an_answer_without_refresh_token_keeps_the_old_one_and_its_expiry() {
    let clock = TestClock::new();
    let count = calls();
    let answer = |_| json!({"access_token": "new-access", "expires_in": 2_592_000, "code": "0"});
    let manager = TokenManager::new(
        client(
            "app",
            "http://127.0.0.1:9",
            clock.clone(),
            count.clone(),
            answer,
        ),
        Arc::new(MemoryStore::new()),
    );
    let old = stored(DAY, 60 * 86_400);
    let old_refresh_expiry = old.refresh_expires_at_ms().unwrap();
    manager.put("s", &old).unwrap();
    assert_eq!(manager.access_token("s").unwrap().secret(), "new-access");
    let saved = manager.get("s").unwrap().unwrap();
    assert_eq!(
        saved.refresh_token.as_ref().unwrap().secret(),
        "old-refresh"
    );
    assert_eq!(saved.refresh_expires_at_ms(), Some(old_refresh_expiry));
    // Past that expiry the token cannot be refreshed: the early warning can fire.
    let after = UNIX_EPOCH + Duration::from_millis(old_refresh_expiry as u64 + 1);
    assert!(!saved.can_refresh(after));
    assert!(saved.can_refresh(after - Duration::from_secs(2)));

    // A refresh token whose expiry is unknown keeps an unknown expiry.
    let manager = TokenManager::new(
        client("app", "http://127.0.0.1:9", clock, count, answer),
        Arc::new(MemoryStore::new()),
    );
    let mut unknown = stored(DAY, 0);
    unknown.refresh_expires_in = None;
    manager.put("u", &unknown).unwrap();
    manager.access_token("u").unwrap();
    let saved = manager.get("u").unwrap().unwrap();
    assert_eq!(
        saved.refresh_token.as_ref().unwrap().secret(),
        "old-refresh"
    );
    assert_eq!(saved.refresh_expires_at_ms(), None);
}

#[test]
fn a_code_0_answer_without_access_token_is_a_failed_refresh() {
    let clock = TestClock::new();
    let count = calls();
    let store = Arc::new(MemoryStore::new());
    let manager = TokenManager::new(
        client(
            "app",
            "http://127.0.0.1:9",
            clock.clone(),
            count.clone(),
            |n| json!({"code": "0", "request_id": format!("req-{n}")}),
        ),
        store.clone(),
    );
    manager.put("s", &stored(DAY, 60 * 86_400)).unwrap();
    let version = store.load("s").unwrap().unwrap().version;
    // The stored access token still lives: it is returned, and nothing is overwritten.
    assert_eq!(manager.access_token("s").unwrap().secret(), "old-access");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    let kept = store.load("s").unwrap().unwrap();
    assert_eq!(kept.version, version);
    assert_eq!(kept.token.access_token.unwrap().secret(), "old-access");
    assert_eq!(kept.token.refresh_token.unwrap().secret(), "old-refresh");
    let report = manager.refresh_due(RefreshDueOptions::default());
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].2.contains("no access_token"), "{report:?}");
    // Once the access token is dead, the failure is the caller's error.
    clock.advance(2 * DAY);
    let err = manager.access_token("s").unwrap_err();
    assert!(matches!(&err, Error::Decode { status: 200, .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Unknown);
    assert_eq!(store.load("s").unwrap().unwrap().version, version);
}

#[test]
fn a_token_living_less_than_the_margin_is_refreshed_at_half_life_not_on_every_call() {
    let clock = TestClock::new();
    let count = calls();
    let manager = TokenManager::new(
        client(
            "app",
            "http://127.0.0.1:9",
            clock.clone(),
            count.clone(),
            |n| json!({"access_token": format!("a{n}"), "refresh_token": format!("r{n}"), "expires_in": 3600, "code": "0"}),
        ),
        Arc::new(MemoryStore::new()),
    );
    manager
        .put("s", &stored(Duration::ZERO, 60 * 86_400))
        .unwrap();
    for _ in 0..5 {
        assert_eq!(manager.access_token("s").unwrap().secret(), "a1");
    }
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // Just before half of its hour: still not due; at half-life: refreshed once.
    clock.advance(Duration::from_secs(1799));
    assert_eq!(manager.access_token("s").unwrap().secret(), "a1");
    clock.advance(Duration::from_secs(1));
    assert_eq!(manager.access_token("s").unwrap().secret(), "a2");
    assert_eq!(manager.access_token("s").unwrap().secret(), "a2");
    assert_eq!(count.load(Ordering::SeqCst), 2);
    // refresh_due's window is taken literally: the caller asked for everything expiring
    // within 3 days, and this token does.
    let report = manager.refresh_due(RefreshDueOptions::default());
    assert_eq!(report.refreshed, vec!["s".to_owned()]);
    assert_eq!(manager.access_token("s").unwrap().secret(), "a3");
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[test]
fn a_negative_zero_or_absurd_life_is_a_failed_refresh() {
    let too_long = MAX_TOKEN_LIFE.as_secs() as i64 + 1;
    let answers = [
        json!({"access_token": "x", "expires_in": -5, "code": "0"}),
        json!({"access_token": "x", "expires_in": 0, "code": "0"}),
        json!({"access_token": "x", "expires_in": too_long, "code": "0"}),
        json!({"access_token": "x", "expires_in": "-1", "code": "0"}),
        json!({"access_token": "x", "expires_in": 60, "refresh_expires_in": -1, "code": "0"}),
        json!({"access_token": "x", "expires_in": 60, "refresh_expires_in": too_long, "code": "0"}),
        json!({"access_token": "x", "expire_time": NOW_MS - 1000, "code": "0"}),
        json!({"access_token": "x", "expire_time": i64::MAX, "code": "0"}),
        json!({"access_token": "x", "refresh_token": "y", "code": "0"}),
    ];
    for answer in answers {
        let clock = TestClock::new();
        let count = calls();
        let store = Arc::new(MemoryStore::new());
        let shown = answer.to_string();
        let manager = TokenManager::new(
            client(
                "app",
                "http://127.0.0.1:9",
                clock,
                count.clone(),
                move |_| answer.clone(),
            ),
            store.clone(),
        );
        manager.put("s", &stored(DAY, 60 * 86_400)).unwrap();
        assert_eq!(
            manager.access_token("s").unwrap().secret(),
            "old-access",
            "{shown}"
        );
        let kept = manager.get("s").unwrap().unwrap();
        assert_eq!(kept.access_token.unwrap().secret(), "old-access", "{shown}");
        let report = manager.refresh_due(RefreshDueOptions::default());
        assert_eq!(report.failed.len(), 1, "{shown}: {report:?}");
        assert_eq!(count.load(Ordering::SeqCst), 2, "{shown}");
    }
    // The longest life allowed is accepted.
    let count = calls();
    let longest = MAX_TOKEN_LIFE.as_secs() as i64;
    let manager = TokenManager::new(
        client(
            "app",
            "http://127.0.0.1:9",
            TestClock::new(),
            count,
            move |_| json!({"access_token": "long", "expires_in": longest, "code": "0"}),
        ),
        Arc::new(MemoryStore::new()),
    );
    manager.put("s", &stored(DAY, 60 * 86_400)).unwrap();
    assert_eq!(manager.access_token("s").unwrap().secret(), "long");
}

#[test]
fn another_apps_manager_refuses_its_tokens_and_never_refreshes_them() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let (calls_a, calls_b) = (calls(), calls());
    let manager_a = TokenManager::new(
        client(
            "app-a",
            "http://127.0.0.1:9",
            clock.clone(),
            calls_a.clone(),
            fresh,
        ),
        Arc::new(FileStore::open(dir.path()).unwrap()),
    );
    let store_b = Arc::new(FileStore::open(dir.path()).unwrap());
    let manager_b = TokenManager::new(
        client(
            "app-b",
            "http://127.0.0.1:9",
            clock.clone(),
            calls_b.clone(),
            fresh,
        ),
        store_b.clone(),
    );
    manager_a.put("seller", &stored(DAY, 60 * 86_400)).unwrap();
    let raw = std::fs::read(store_b.path_of("seller").unwrap()).unwrap();

    let check = |result: Result<(), Error>| {
        let err = result.unwrap_err();
        let Error::Store { key, message, .. } = &err else {
            panic!("expected a store error, got {err:?}");
        };
        assert_eq!(key, "seller");
        assert!(
            message.contains("\"app-a\"") && message.contains("\"app-b\""),
            "{message}"
        );
        // It names what differs, and only that: the app key, not the gateway.
        assert!(
            message.contains("app key \"app-a\" (not \"app-b\")"),
            "{message}"
        );
        assert!(!message.contains("gateway host") && !message.contains("gateway port"));
        let text = err.to_string();
        assert!(
            !text.contains("old-access")
                && !text.contains("old-refresh")
                && !text.contains("secret")
        );
    };
    check(manager_b.access_token("seller").map(|_| ()));
    check(manager_b.get("seller").map(|_| ()));
    check(manager_b.put("seller", &stored(20 * DAY, 60 * 86_400)));
    let report = manager_b.refresh_due(RefreshDueOptions::default());
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].2.contains("app-a"), "{report:?}");
    assert_eq!(
        calls_b.load(Ordering::SeqCst),
        0,
        "B never refreshed A's token"
    );
    assert_eq!(
        std::fs::read(store_b.path_of("seller").unwrap()).unwrap(),
        raw
    );

    // The same app key on another gateway is another app, too.
    let elsewhere = TokenManager::new(
        client(
            "app-a",
            "http://127.0.0.2:9",
            clock.clone(),
            calls_b.clone(),
            fresh,
        ),
        Arc::new(FileStore::open(dir.path()).unwrap()),
    );
    // The error names the part that differs: the host, not the app key.
    match elsewhere.access_token("seller") {
        Err(Error::Store { message, .. }) => {
            assert!(
                message.contains("gateway host 127.0.0.1 (not 127.0.0.2)"),
                "{message}"
            );
            assert!(
                !message.contains("app key \"app-a\" (not") && !message.contains("gateway port"),
                "{message}"
            );
        }
        other => panic!("expected a store error, got {other:?}"),
    }
    // The same host on another port (two emulators, a gateway behind another port).
    let other_port = TokenManager::new(
        client(
            "app-a",
            "http://127.0.0.1:10",
            clock.clone(),
            calls_b.clone(),
            fresh,
        ),
        Arc::new(FileStore::open(dir.path()).unwrap()),
    );
    match other_port.get("seller") {
        Err(Error::Store { message, .. }) => {
            assert!(message.contains("gateway port 9 (not 10)"), "{message}");
            assert!(
                !message.contains("gateway host") && !message.contains("(not \"app-a\")"),
                "{message}"
            );
        }
        other => panic!("expected a store error, got {other:?}"),
    }

    // A's own manager goes on as before; the token it hands out carries no binding field.
    assert_eq!(
        manager_a.access_token("seller").unwrap().secret(),
        "new-access-1"
    );
    let token = manager_a.get("seller").unwrap().unwrap();
    assert!(!token.extra.contains_key(APP_BINDING_FIELD));
    assert_eq!(calls_a.load(Ordering::SeqCst), 1);
}

#[test]
fn a_record_without_binding_is_accepted_and_bound_on_its_next_save() {
    let clock = TestClock::new();
    let count = calls();
    let store = Arc::new(MemoryStore::new());
    // Written before records were bound (or by other code).
    store.save("s", &stored(DAY, 60 * 86_400), None).unwrap();
    let manager = TokenManager::new(
        client("app-b", "http://127.0.0.1:9", clock, count, fresh),
        store.clone(),
    );
    assert_eq!(manager.access_token("s").unwrap().secret(), "new-access-1");
    let raw = store.load("s").unwrap().unwrap().token;
    assert_eq!(
        raw.extra.get(APP_BINDING_FIELD),
        Some(&json!({"app_key": "app-b", "gateway": "http://127.0.0.1:9"}))
    );
    // A malformed binding is refused rather than guessed.
    let mut odd = stored(20 * DAY, 60 * 86_400);
    odd.extra
        .insert(APP_BINDING_FIELD.to_owned(), json!("app-b"));
    store.save("odd", &odd, None).unwrap();
    assert!(matches!(manager.get("odd"), Err(Error::Store { key, .. }) if key == "odd"));
    // remove clears any record, another app's included.
    assert!(manager.remove("odd").unwrap());
}

#[test]
fn the_callback_can_be_replaced_while_sixteen_threads_call_access_token() {
    let clock = TestClock::new();
    let manager = Arc::new(TokenManager::new(
        client("app", "http://127.0.0.1:9", clock, calls(), fresh),
        Arc::new(MemoryStore::new()),
    ));
    // Keys that cannot be refreshed (refresh_expires_in 0) and expire within the margin: each is
    // reported once, to whichever callback is set at that moment.
    let keys: Vec<String> = (0..64).map(|i| format!("k{i:02}")).collect();
    for key in &keys {
        manager.put(key, &stored(DAY, 0)).unwrap();
    }
    let first = Arc::new(AtomicUsize::new(0));
    let second = Arc::new(AtomicUsize::new(0));
    let counter = first.clone();
    manager.set_on_reauthorization_required(move |_, _| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let barrier = Arc::new(Barrier::new(17));
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let (manager, keys, barrier) = (manager.clone(), keys.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for round in 0..4 {
                    for i in 0..keys.len() {
                        let key = &keys[(i + t * 4 + round) % keys.len()];
                        assert_eq!(manager.access_token(key).unwrap().secret(), "old-access");
                    }
                }
            })
        })
        .collect();
    barrier.wait();
    for i in 0..200 {
        let counter = if i % 2 == 0 { &first } else { &second }.clone();
        manager.set_on_reauthorization_required(move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        std::thread::yield_now();
    }
    for thread in threads {
        thread.join().unwrap();
    }
    // Reported once per key, to whichever callback was set at the time.
    assert_eq!(
        first.load(Ordering::SeqCst) + second.load(Ordering::SeqCst),
        keys.len()
    );
    // A new version of a key arms the report again, for the callback set now.
    let third = Arc::new(AtomicUsize::new(0));
    let counter = third.clone();
    manager.set_on_reauthorization_required(move |key, _| {
        assert_eq!(key, "k00");
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let (before_first, before_second) =
        (first.load(Ordering::SeqCst), second.load(Ordering::SeqCst));
    manager.put("k00", &stored(DAY, 0)).unwrap();
    manager.access_token("k00").unwrap();
    manager.access_token("k00").unwrap();
    assert_eq!(third.load(Ordering::SeqCst), 1);
    assert_eq!(
        (first.load(Ordering::SeqCst), second.load(Ordering::SeqCst)),
        (before_first, before_second)
    );
    // Cleared: nothing is called.
    manager.clear_on_reauthorization_required();
    manager.put("k00", &stored(DAY, 0)).unwrap();
    manager.access_token("k00").unwrap();
    assert_eq!(third.load(Ordering::SeqCst), 1);
}
