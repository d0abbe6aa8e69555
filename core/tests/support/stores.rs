//! Tests shared by the stores that live on a server (Redis, PostgreSQL): the store contract,
//! many workers on one store, a killed lock holder, a refresh slower than a lease, an outage.
//!
//! Each test works in its own namespace (key prefix or table), so tests run in parallel on one
//! server. A "host" is a store of its own (own connections) with its own client and manager.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use iop_core::{
    AppSecret, AuthCode, Client, Error, Gateway, RefreshDueOptions, RetryPolicy, TokenManager,
    TokenSet, TokenStore,
};
use iop_emulator::{Config, Emulator, Fault};

pub(crate) const DAY: Duration = Duration::from_secs(86_400);
pub(crate) const REFRESH: &str = "/auth/token/refresh";

/// Tests share the server (read), the outage test has it alone (write).
static SERVER: RwLock<()> = RwLock::new(());

/// Held by every test that uses the server, while it does.
pub(crate) fn shared_server() -> RwLockReadGuard<'static, ()> {
    SERVER
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Held by a test that stops the server.
pub(crate) fn exclusive_server() -> RwLockWriteGuard<'static, ()> {
    SERVER
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Opens a new store (own connections) on namespace `ns`, with a lease of `lease` where the
/// store has leases.
pub(crate) type Open = fn(ns: &str, lease: Duration) -> Arc<dyn TokenStore>;

/// An environment variable the test script sets; the test fails (not skips) without it.
pub(crate) fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests under scripts/with-servers (nothing is skipped)")
    })
}

/// A namespace no other test (or earlier run) uses.
pub(crate) fn namespace(test: &str) -> String {
    format!("t{}_{}_{}", std::process::id(), test, fastrand::u32(..))
}

pub(crate) fn emulator() -> Emulator {
    Emulator::start(Config {
        threads: 16,
        ..Config::default()
    })
    .unwrap()
}

pub(crate) fn client(emu: &Emulator) -> Arc<Client> {
    Arc::new(
        Client::builder(
            emu.app_key(),
            AppSecret::new(emu.app_secret()),
            Gateway::new(&emu.url()).unwrap(),
        )
        .clock(emu.clock())
        .retry(RetryPolicy::none())
        .timeouts(Duration::from_secs(5), Duration::from_secs(30))
        .build()
        .unwrap(),
    )
}

pub(crate) fn refreshes(emu: &Emulator) -> u64 {
    emu.stats().get(REFRESH).copied().unwrap_or(0)
}

pub(crate) fn token(seed: &str) -> TokenSet {
    let json = format!(
        r#"{{"access_token":"at-{seed}","refresh_token":"rt-{seed}","expires_in":3600,
            "refresh_expires_in":7200,"account":"{seed}@example.com"}}"#
    );
    TokenSet::from_json(json.as_bytes(), std::time::SystemTime::now()).unwrap()
}

pub(crate) fn access(token: &TokenSet) -> String {
    token.access_token.as_ref().unwrap().secret().to_owned()
}

fn assert_store_error(error: &Error, key: &str, words: &str) {
    match error {
        Error::Store {
            key: k, message, ..
        } => {
            assert_eq!(k, key, "{error}");
            assert!(message.contains(words), "{words:?} not in {message:?}");
        }
        other => panic!("expected a Store error, got {other:?}"),
    }
}

/// Compare-and-swap, conflicts, keys, remove.
pub(crate) fn contract_versions_keys_remove(store: &dyn TokenStore) {
    assert!(store.load("a").unwrap().is_none());
    assert!(store.keys().unwrap().is_empty());
    let v1 = store.save("a", &token("a1"), None).unwrap();
    assert_eq!(access(&store.load("a").unwrap().unwrap().token), "at-a1");
    // The key must be absent for an expected version of None.
    let error = store.save("a", &token("x"), None).unwrap_err();
    assert_store_error(&error, "a", "version conflict");
    let error = store.save("a", &token("x"), Some(v1 + 7)).unwrap_err();
    assert_store_error(&error, "a", "version conflict");
    let v2 = store.save("a", &token("a2"), Some(v1)).unwrap();
    assert_ne!(v1, v2);
    // A late writer holding the old version is refused, and changes nothing.
    let error = store.save("a", &token("late"), Some(v1)).unwrap_err();
    assert_store_error(&error, "a", &format!("found version {v2}"));
    let stored = store.load("a").unwrap().unwrap();
    assert_eq!(
        (access(&stored.token), stored.version),
        ("at-a2".into(), v2)
    );
    // The whole token set goes through.
    assert_eq!(
        stored.token.refresh_token.as_ref().unwrap().secret(),
        "rt-a2"
    );
    assert_eq!(stored.token.account.as_deref(), Some("a2@example.com"));

    store.save("b/ü", &token("b"), None).unwrap();
    store.save("c", &token("c"), None).unwrap();
    assert_eq!(store.keys().unwrap(), ["a", "b/ü", "c"]);
    assert!(store.remove("b/ü").unwrap());
    assert!(!store.remove("b/ü").unwrap());
    assert!(store.load("b/ü").unwrap().is_none());
    assert_eq!(store.keys().unwrap(), ["a", "c"]);
    // Removed then stored again: a new version line, and the old version is stale.
    let c1 = store.load("c").unwrap().unwrap().version;
    assert!(store.remove("c").unwrap());
    let error = store.save("c", &token("c2"), Some(c1)).unwrap_err();
    assert_store_error(&error, "c", "found absent");
    store.save("c", &token("c3"), None).unwrap();

    assert!(store.load("").is_err());
    assert!(store.save("", &token("e"), None).is_err());
}

/// Many keys: keys() lists them all (the set or index is walked in batches).
pub(crate) fn contract_many_keys(store: &dyn TokenStore, count: usize) {
    let token = &token("many");
    std::thread::scope(|scope| {
        for part in 0..8 {
            scope.spawn(move || {
                for i in (part..count).step_by(8) {
                    store.save(&format!("k{i:06}"), token, None).unwrap();
                }
            });
        }
    });
    let keys = store.keys().unwrap();
    assert_eq!(keys.len(), count);
    assert_eq!(keys.first().unwrap(), "k000000");
    assert_eq!(keys.last().unwrap(), &format!("k{:06}", count - 1));
}

/// Concurrent compare-and-swap from many threads and stores: each increment is applied exactly
/// once.
pub(crate) fn contract_concurrent_cas(open: Open, ns: &str) {
    let stores: Vec<_> = (0..4).map(|_| open(ns, Duration::from_secs(30))).collect();
    stores[0].save("counter", &token("0"), None).unwrap();
    let wins = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for store in &stores {
            for _ in 0..4 {
                let wins = &wins;
                scope.spawn(move || {
                    for _ in 0..10 {
                        loop {
                            let stored = store.load("counter").unwrap().unwrap();
                            let n: usize = access(&stored.token)[3..].parse().unwrap();
                            let mut next = token(&(n + 1).to_string());
                            // Each attempt's record differs, as real refreshed token sets do.
                            next.account = Some(format!("attempt-{}", fastrand::u64(..)));
                            match store.save("counter", &next, Some(stored.version)) {
                                Ok(_) => {
                                    *wins.lock().unwrap() += 1;
                                    break;
                                }
                                Err(e) => assert!(e.to_string().contains("conflict"), "{e}"),
                            }
                        }
                    }
                });
            }
        }
    });
    let stored = stores[0].load("counter").unwrap().unwrap();
    assert_eq!(access(&stored.token), "at-160");
    assert_eq!(*wins.lock().unwrap(), 160);
}

/// One holder at a time per key, across stores; other keys are not blocked.
pub(crate) fn contract_locks(open: Open, ns: &str) {
    let a = open(ns, Duration::from_secs(30));
    let b = open(ns, Duration::from_secs(30));
    let held = a.lock("k").unwrap();
    // Another key is free.
    let started = Instant::now();
    drop(b.lock("other").unwrap());
    assert!(started.elapsed() < Duration::from_secs(2));
    let inside = Arc::new(Mutex::new(0usize));
    let max_inside = Arc::new(Mutex::new(0usize));
    let got = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let started = Instant::now();
            let _lock = b.lock("k").unwrap();
            started.elapsed()
        });
        std::thread::sleep(Duration::from_millis(400));
        drop(held);
        waiter.join().unwrap()
    });
    assert!(
        got >= Duration::from_millis(350),
        "got the lock after {got:?}"
    );
    // Mutual exclusion under contention: 4 stores × 4 threads × 5 turns.
    let stores: Vec<_> = (0..4).map(|_| open(ns, Duration::from_secs(30))).collect();
    std::thread::scope(|scope| {
        for store in &stores {
            for _ in 0..4 {
                let (inside, max_inside) = (inside.clone(), max_inside.clone());
                scope.spawn(move || {
                    for _ in 0..5 {
                        let _lock = store.lock("busy").unwrap();
                        let now = {
                            let mut n = inside.lock().unwrap();
                            *n += 1;
                            *n
                        };
                        let mut max = max_inside.lock().unwrap();
                        *max = (*max).max(now);
                        drop(max);
                        std::thread::sleep(Duration::from_millis(2));
                        *inside.lock().unwrap() -= 1;
                    }
                });
            }
        }
    });
    assert_eq!(*max_inside.lock().unwrap(), 1);
}

/// A value that is not ours or is corrupt: loading names the key; saving and (for a foreign
/// value) removing refuse; the value stays as it was (`raw` reads it untouched).
pub(crate) fn contract_refuses_foreign_value(
    store: &dyn TokenStore,
    key: &str,
    raw: &dyn Fn() -> String,
    removable: bool,
) {
    let before = raw();
    let error = store.load(key).unwrap_err();
    assert_store_error(&error, key, "left as it is");
    assert!(!error.to_string().contains("at-"), "{error}");
    for expected in [None, Some(1), Some(u64::from(u32::MAX))] {
        assert!(
            store.save(key, &token("new"), expected).is_err(),
            "saved over a foreign value with {expected:?}"
        );
    }
    if !removable {
        assert!(store.remove(key).is_err());
    }
    assert_eq!(raw(), before, "the foreign value was changed");
}

/// Onboards `sellers` at the emulator through `manager`.
pub(crate) fn onboard(emu: &Emulator, client: &Client, manager: &TokenManager, sellers: &[String]) {
    for seller in sellers {
        let code = AuthCode::new(emu.authorize(seller));
        let token = client.create_token(&code, None).unwrap();
        manager.put(seller, &token).unwrap();
    }
}

pub(crate) fn sellers(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("seller-{i:04}")).collect()
}

/// Counts reauthorization callbacks.
pub(crate) fn counting_manager(
    client: Arc<Client>,
    store: Arc<dyn TokenStore>,
    calls: &Arc<Mutex<Vec<String>>>,
) -> TokenManager {
    let calls = calls.clone();
    TokenManager::new(client, store).on_reauthorization_required(move |key, why| {
        calls.lock().unwrap().push(format!("{key}: {why}"));
    })
}

/// The invariant after a test: every stored refresh token is the one the emulator considers
/// current. Checked by moving every seller into the refresh window and refreshing them all:
/// each must refresh, none may need reauthorization.
pub(crate) fn assert_tokens_current(emu: &Emulator, open: Open, ns: &str, sellers: &[String]) {
    let store = open(ns, Duration::from_secs(30));
    assert_eq!(store.keys().unwrap().len(), sellers.len());
    emu.advance(28 * DAY);
    let manager = TokenManager::new(client(emu), store);
    let report = manager.refresh_due(RefreshDueOptions::new(3 * DAY).concurrency(8));
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(
        report.reauthorization_required.is_empty(),
        "{:?}",
        report.reauthorization_required
    );
    assert_eq!(report.refreshed.len(), sellers.len());
}

/// Four hosts × eight threads ask at once for the tokens of 50 sellers near expiry: exactly 50
/// refreshes; every thread of every host sees the newest token.
pub(crate) fn many_hosts_one_refresh_per_seller(open: Open, ns: &str) {
    let emu = emulator();
    let sellers = sellers(50);
    let first = TokenManager::new(client(&emu), open(ns, Duration::from_secs(30)));
    onboard(&emu, first.client(), &first, &sellers);
    emu.advance(28 * DAY);
    emu.reset_stats();
    emu.inject(Fault::Delay(Duration::from_millis(20)), Some(REFRESH), 50);

    let calls = Arc::new(Mutex::new(Vec::new()));
    let managers: Vec<_> = (0..4)
        .map(|_| {
            Arc::new(counting_manager(
                client(&emu),
                open(ns, Duration::from_secs(30)),
                &calls,
            ))
        })
        .collect();
    let barrier = Arc::new(Barrier::new(32));
    let seen: Mutex<HashMap<String, HashSet<String>>> = Mutex::new(HashMap::new());
    std::thread::scope(|scope| {
        for manager in &managers {
            for t in 0..8 {
                let (barrier, sellers, seen) = (barrier.clone(), &sellers, &seen);
                scope.spawn(move || {
                    barrier.wait();
                    let mut order: Vec<&String> = sellers.iter().collect();
                    fastrand::Rng::with_seed(t).shuffle(&mut order);
                    for seller in order {
                        let token = manager.access_token(seller).unwrap();
                        seen.lock()
                            .unwrap()
                            .entry(seller.clone())
                            .or_default()
                            .insert(token.secret().to_owned());
                    }
                });
            }
        }
    });
    assert_eq!(refreshes(&emu), 50);
    let check = open(ns, Duration::from_secs(30));
    for (seller, tokens) in seen.into_inner().unwrap() {
        assert_eq!(tokens.len(), 1, "{seller} got {tokens:?}");
        let stored = check.load(&seller).unwrap().unwrap().token;
        assert!(tokens.contains(&access(&stored)));
    }
    assert!(calls.lock().unwrap().is_empty());
    assert_tokens_current(&emu, open, ns, &sellers);
}

/// Several hosts run `refresh_due` over the same sellers at once: one refresh each.
pub(crate) fn many_hosts_refresh_due(open: Open, ns: &str) {
    let emu = emulator();
    let sellers = sellers(100);
    let first = TokenManager::new(client(&emu), open(ns, Duration::from_secs(30)));
    onboard(&emu, first.client(), &first, &sellers);
    emu.advance(28 * DAY);
    emu.reset_stats();
    let managers: Vec<_> = (0..4)
        .map(|_| TokenManager::new(client(&emu), open(ns, Duration::from_secs(30))))
        .collect();
    let reports: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = managers
            .iter()
            .map(|m| scope.spawn(|| m.refresh_due(RefreshDueOptions::new(3 * DAY).concurrency(8))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(refreshes(&emu), 100);
    let refreshed: usize = reports.iter().map(|r| r.refreshed.len()).sum();
    assert_eq!(refreshed, 100);
    for report in &reports {
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert!(report.reauthorization_required.is_empty());
    }
    assert_tokens_current(&emu, open, ns, &sellers);
}

/// A refresh slower than the lease: the lease is renewed while held, so a second worker waits
/// and uses the first one's token; one refresh.
pub(crate) fn slow_refresh_outlives_the_lease(open: Open, ns: &str) {
    let emu = emulator();
    let sellers = sellers(1);
    let lease = Duration::from_millis(600);
    let first = TokenManager::new(client(&emu), open(ns, lease));
    onboard(&emu, first.client(), &first, &sellers);
    emu.advance(28 * DAY);
    emu.reset_stats();
    emu.inject(Fault::Delay(lease * 4), Some(REFRESH), 1);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let a = counting_manager(client(&emu), open(ns, lease), &calls);
    let b = counting_manager(client(&emu), open(ns, lease), &calls);
    let (ta, tb) = std::thread::scope(|scope| {
        let ta = scope.spawn(|| a.access_token(&sellers[0]).unwrap().secret().to_owned());
        std::thread::sleep(Duration::from_millis(200));
        let tb = scope.spawn(|| b.access_token(&sellers[0]).unwrap().secret().to_owned());
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_eq!(ta, tb);
    assert_eq!(refreshes(&emu), 1);
    assert!(calls.lock().unwrap().is_empty());
    assert_tokens_current(&emu, open, ns, &sellers);
}

/// Environment of the child process that holds a lock until killed.
pub(crate) const CHILD_NS: &str = "IOP_TEST_STORE_CHILD_NS";
pub(crate) const CHILD_LEASE_MS: &str = "IOP_TEST_STORE_CHILD_LEASE_MS";

/// The body of the child test: takes the lock of `seller-0000`, says `locked`, waits to be
/// killed.
pub(crate) fn child_hold_lock(open: Open) {
    use std::io::Write;
    let (Ok(ns), Ok(lease)) = (std::env::var(CHILD_NS), std::env::var(CHILD_LEASE_MS)) else {
        return;
    };
    let store = open(&ns, Duration::from_millis(lease.parse().unwrap()));
    let _lock = store.lock("seller-0000").unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "locked").unwrap();
    out.flush().unwrap();
    drop(out);
    std::thread::sleep(Duration::from_secs(120));
}

fn spawn_holder(child_test: &str, ns: &str, lease: Duration) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            child_test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_NS, ns)
        .env(CHILD_LEASE_MS, lease.as_millis().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            // libtest may print "test name ... " on the same line first.
            Some(Ok(line)) if line.trim_end().ends_with("locked") => break,
            Some(Ok(_)) => {}
            other => {
                let _ = child.kill();
                panic!("the child did not take the lock: {other:?}");
            }
        }
    }
    child
}

/// A holder killed (SIGKILL) while it holds the seller's lock, before its refresh: the lock is
/// freed (with the session, or when the lease ends) and another worker refreshes, with no
/// reauthorization reported. Returns how long the lock stayed taken after the kill.
pub(crate) fn killed_holder_frees_the_lock(
    open: Open,
    ns: &str,
    child_test: &str,
    lease: Duration,
) -> Duration {
    let emu = emulator();
    let sellers = sellers(1);
    let first = TokenManager::new(client(&emu), open(ns, lease));
    onboard(&emu, first.client(), &first, &sellers);
    emu.advance(28 * DAY);
    emu.reset_stats();

    let mut child = spawn_holder(child_test, ns, lease);
    // The lock is really held: another worker cannot take it now.
    let probe = open(ns, lease);
    let (blocked, freed_after) = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        let probe = &probe;
        scope.spawn(move || {
            let _lock = probe.lock("seller-0000").unwrap();
            let _ = tx.send(());
        });
        let blocked = rx.recv_timeout(Duration::from_millis(300)).is_err();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let killed = Instant::now();
        rx.recv_timeout(lease + Duration::from_secs(10)).unwrap();
        (blocked, killed.elapsed())
    });
    assert!(blocked, "the lock of a live holder was taken");
    let calls = Arc::new(Mutex::new(Vec::new()));
    let manager = counting_manager(client(&emu), open(ns, lease), &calls);
    manager.access_token(&sellers[0]).unwrap();
    assert_eq!(refreshes(&emu), 1);
    assert!(
        calls.lock().unwrap().is_empty(),
        "{:?}",
        calls.lock().unwrap()
    );
    assert_tokens_current(&emu, open, ns, &sellers);
    freed_after
}

/// The server stops during a `refresh_due` over 500 sellers and comes back: typed store errors
/// while it is down, success after, and no token lost or corrupted.
pub(crate) fn outage_during_refresh_due(open: Open, ns: &str, restart: &str, server: &str) {
    let emu = emulator();
    let sellers = sellers(500);
    let lease = Duration::from_secs(3);
    let manager = TokenManager::new(client(&emu), open(ns, lease));
    onboard(&emu, manager.client(), &manager, &sellers);
    emu.advance(28 * DAY);
    emu.reset_stats();
    // Slow refreshes, so that the outage falls in the middle of the run.
    emu.inject(Fault::Delay(Duration::from_millis(15)), Some(REFRESH), 500);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let manager = counting_manager(client(&emu), open(ns, lease), &calls);
    let probe = open(ns, lease);
    let report = std::thread::scope(|scope| {
        let run =
            scope.spawn(|| manager.refresh_due(RefreshDueOptions::new(3 * DAY).concurrency(8)));
        std::thread::sleep(Duration::from_millis(300));
        let status = Command::new(restart).arg("stop").status().unwrap();
        assert!(status.success());
        // While it is down: a typed error naming the server, at once (not a hang).
        let started = Instant::now();
        let error = probe.load(&sellers[0]).unwrap_err();
        assert_store_error(&error, &sellers[0], server);
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(1500));
        let status = Command::new(restart).arg("start").status().unwrap();
        assert!(status.success());
        run.join().unwrap()
    });
    // Workers caught loading or locking during the outage report a store error; those with a
    // refreshed token set in hand keep trying to save it until the server is back.
    for (key, class, message) in &report.failed {
        assert_eq!(*class, iop_core::ErrorClass::Unknown, "{key}: {message}");
        assert!(message.contains(server), "{key}: {message}");
    }
    assert!(report.reauthorization_required.is_empty());
    assert!(
        calls.lock().unwrap().is_empty(),
        "{:?}",
        calls.lock().unwrap()
    );
    // After the outage: the rest is refreshed, nothing needs reauthorization.
    let again = manager.refresh_due(RefreshDueOptions::new(3 * DAY).concurrency(8));
    assert!(again.failed.is_empty(), "{:?}", again.failed);
    assert!(
        again.reauthorization_required.is_empty(),
        "{:?}\nfirst run failures: {:?}",
        again.reauthorization_required,
        report.failed
    );
    assert_eq!(again.refreshed.len(), report.failed.len());
    assert_eq!(refreshes(&emu), 500, "one refresh per seller");
    assert_tokens_current(&emu, open, ns, &sellers);
}
