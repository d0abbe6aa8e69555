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

/// Two writers that loaded the same version save the very same record at the same next version:
/// one wins, the other is refused as stale (it must not take the first's write for its own, as
/// a retry of its own write may). Then the same race between threads, many times.
pub(crate) fn contract_same_record_twice_one_wins(open: Open, ns: &str) {
    let (a, b) = (
        open(ns, Duration::from_secs(30)),
        open(ns, Duration::from_secs(30)),
    );
    let same = token("same");
    a.save("k", &same, None).unwrap();
    assert!(
        b.save("k", &same, None).is_err(),
        "a second insert went through"
    );
    for round in 0..20 {
        let version = a.load("k").unwrap().unwrap().version;
        let next = token(&format!("r{round}"));
        // The same random draws for both: the same next version (stores pick it at random).
        fastrand::seed(round);
        let won = a.save("k", &next, Some(version)).unwrap();
        fastrand::seed(round);
        let error = b.save("k", &next, Some(version)).unwrap_err();
        assert_store_error(&error, "k", "version conflict");
        assert_eq!(a.load("k").unwrap().unwrap().version, won);
    }
    // Eight threads, one record per round: exactly one success per round.
    let stores: Vec<_> = (0..4).map(|_| open(ns, Duration::from_secs(30))).collect();
    for round in 0..20 {
        let version = stores[0].load("k").unwrap().unwrap().version;
        let next = token(&format!("t{round}"));
        let barrier = Barrier::new(8);
        let wins: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (store, next, barrier) = (&stores[i % 4], &next, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        usize::from(store.save("k", next, Some(version)).is_ok())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1, "round {round}");
    }
}

/// A lock holder reads its own writes, and whatever another store or thread wrote before the
/// holder's load once the holder wrote or removed the key itself.
pub(crate) fn contract_holder_reads_own_writes(open: Open, ns: &str) {
    let store = open(ns, Duration::from_secs(30));
    let other = open(ns, Duration::from_secs(30));
    let v1 = store.save("k", &token("k1"), None).unwrap();
    // Saved under the lock without loading first: the next load sees the save.
    let lock = store.lock("k").unwrap();
    let v2 = store.save("k", &token("k2"), Some(v1)).unwrap();
    let seen = store.load("k").unwrap().unwrap();
    assert_eq!(
        (access(&seen.token), seen.version),
        ("at-k2".to_owned(), v2)
    );
    drop(lock);
    // Another thread of the holder's process loads from the server.
    let lock = store.lock("k").unwrap();
    let v3 = other.save("k", &token("k3"), Some(v2)).unwrap();
    let seen = std::thread::scope(|scope| {
        scope
            .spawn(|| store.load("k").unwrap().unwrap().version)
            .join()
            .unwrap()
    });
    assert_eq!(seen, v3);
    drop(lock);
    // Removed under the lock: gone.
    let lock = store.lock("k").unwrap();
    assert!(store.remove("k").unwrap());
    assert!(store.load("k").unwrap().is_none());
    drop(lock);
    // Keys that would be SQL or Lua syntax, or are not ASCII, are just keys.
    for key in [
        "it's",
        "back\\slash\\'",
        "x'); DROP TABLE t; --",
        "ü-\u{1F600}",
    ] {
        let version = store.save(key, &token("odd"), None).unwrap();
        let lock = store.lock(key).unwrap();
        let stored = store.load(key).unwrap().unwrap();
        assert_eq!(
            (access(&stored.token), stored.version),
            ("at-odd".to_owned(), version)
        );
        drop(lock);
    }
    // A lock on an absent key, then a first save.
    let lock = store.lock("new").unwrap();
    assert!(store.load("new").unwrap().is_none());
    store.save("new", &token("n"), None).unwrap();
    assert_eq!(access(&store.load("new").unwrap().unwrap().token), "at-n");
    drop(lock);
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

/// The server is down at start: opening fails within the connect timeout with an error naming
/// host and port and never the password, both for a closed port and for a route to nowhere
/// (TEST-NET-1). `open_with_timeout` opens `scheme://user:password@host:port/path` with the
/// connect timeout given.
pub(crate) fn server_down_at_start(
    scheme: &str,
    default_port: u16,
    path: &str,
    open_with_timeout: &dyn Fn(&str, Duration) -> iop_core::Result<()>,
) {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let url = format!("{scheme}://iop:hunter2secret@127.0.0.1:{port}/{path}");
    let error = open_with_timeout(&url, Duration::from_secs(1)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    let text = format!("{error} {error:?}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("hunter2secret"), "{text}");
    let started = Instant::now();
    let url = format!("{scheme}://iop:pw@192.0.2.1:{default_port}/{path}");
    let error = open_with_timeout(&url, Duration::from_millis(500)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "{error}");
    assert!(
        error
            .to_string()
            .contains(&format!("192.0.2.1:{default_port}")),
        "{error}"
    );
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

/// The invariant after every test: the store holds exactly `sellers`, and for every one of them
/// the stored refresh token is the one the emulator considers current (asked directly, without
/// spending it).
pub(crate) fn assert_tokens_current(emu: &Emulator, open: Open, ns: &str, sellers: &[String]) {
    let store = open(ns, Duration::from_secs(30));
    let mut expected: Vec<String> = sellers.to_vec();
    expected.sort();
    assert_eq!(store.keys().unwrap(), expected);
    let stale: Vec<&String> = sellers
        .iter()
        .filter(|seller| !stored_refresh_token_is_current(emu, &*store, seller))
        .collect();
    assert!(
        stale.is_empty(),
        "stored refresh tokens the emulator does not consider current: {stale:?}"
    );
}

/// Whether the refresh token stored for `seller` is the emulator's current one.
pub(crate) fn stored_refresh_token_is_current(
    emu: &Emulator,
    store: &dyn TokenStore,
    seller: &str,
) -> bool {
    let stored = store.load(seller).unwrap().unwrap().token;
    let refresh = stored.refresh_token.as_ref().unwrap().secret();
    emu.is_current_refresh_token(seller, refresh)
}

/// A store that can read a seller's record but not write it (`unwritable`, next to `writable`
/// over the same records): the due seller's `access_token` and `refresh_due` fail with a store
/// error naming it, the gateway sees no refresh, and the stored refresh token is still the
/// current one. `run` runs each manager call (the FileStore test runs it in a thread without
/// the capability that lets root write anything).
pub(crate) fn an_unwritable_store_refreshes_nothing(
    writable: Arc<dyn TokenStore>,
    unwritable: &dyn Fn() -> Arc<dyn TokenStore>,
    make_unwritable: &dyn Fn(),
    run: &dyn Fn(Box<dyn FnOnce() + Send>),
) {
    let emu = emulator();
    let client = client(&emu);
    let seller = "seller-ro".to_owned();
    let owner = TokenManager::new(client.clone(), writable.clone());
    onboard(&emu, &client, &owner, std::slice::from_ref(&seller));
    emu.advance(28 * DAY);
    make_unwritable();
    let before = refreshes(&emu);
    let store = unwritable();
    let (store2, client2, seller2) = (store.clone(), client.clone(), seller.clone());
    run(Box::new(move || {
        let manager = TokenManager::new(client2.clone(), store2.clone());
        // Readable: the token set is there.
        assert!(manager.get(&seller2).unwrap().is_some());
        let error = manager.access_token(&seller2).unwrap_err();
        assert!(
            matches!(&error, Error::Store { key, .. } if *key == seller2),
            "{error:?}"
        );
        let report = manager.refresh_due(RefreshDueOptions::new(40 * DAY));
        assert!(report.refreshed.is_empty(), "{report:?}");
        assert_eq!(report.failed.len(), 1, "{report:?}");
        assert_eq!(report.failed[0].0, seller2, "{report:?}");
    }));
    assert_eq!(refreshes(&emu), before, "no refresh reached the gateway");
    assert!(stored_refresh_token_is_current(&emu, &*writable, &seller));
}

// ---- child processes ----------------------------------------------------------------------
//
// A child is this very test binary run again on one `#[ignore]`d test (`child_*`), with what it
// needs in its environment: the namespace, the lease, and the emulator (URL, app key and secret,
// its virtual time). It talks to the parent through lines on stdout starting with `@@` (libtest
// may print "test name ... " before them) and, for a start signal, a line on stdin.

const CHILD_NS: &str = "IOP_TEST_STORE_CHILD_NS";
const CHILD_LEASE_MS: &str = "IOP_TEST_STORE_CHILD_LEASE_MS";
const CHILD_MODE: &str = "IOP_TEST_STORE_CHILD_MODE";
const CHILD_EMU_URL: &str = "IOP_TEST_STORE_CHILD_EMU_URL";
const CHILD_EMU_KEY: &str = "IOP_TEST_STORE_CHILD_EMU_KEY";
const CHILD_EMU_SECRET: &str = "IOP_TEST_STORE_CHILD_EMU_SECRET";
const CHILD_EMU_NOW_MS: &str = "IOP_TEST_STORE_CHILD_EMU_NOW_MS";

/// The names of the child tests (each test binary defines them through `server_store_tests!`).
pub(crate) const CHILD_REFRESH: &str = "child_refresh_until_killed";
pub(crate) const CHILD_HOST: &str = "child_host";

/// A running child process and its `@@` lines.
pub(crate) struct ChildProcess {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl ChildProcess {
    pub(crate) fn spawn(
        child_test: &str,
        mode: &str,
        ns: &str,
        lease: Duration,
        emu: &Emulator,
    ) -> Self {
        let now_ms = emu
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
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
            .env(CHILD_MODE, mode)
            .env(CHILD_EMU_URL, emu.url())
            .env(CHILD_EMU_KEY, emu.app_key())
            .env(CHILD_EMU_SECRET, emu.app_secret())
            .env(CHILD_EMU_NOW_MS, now_ms.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    /// The next `@@` line (without the marker); panics (killing the child) at the end of output.
    pub(crate) fn next_line(&mut self) -> String {
        loop {
            match self.lines.next() {
                Some(Ok(line)) => {
                    if let Some(at) = line.find("@@") {
                        return line[at + 2..].trim().to_owned();
                    }
                }
                other => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!("the child ended its output early: {other:?}");
                }
            }
        }
    }

    pub(crate) fn expect_line(&mut self, expected: &str) {
        let line = self.next_line();
        assert_eq!(line, expected);
    }

    pub(crate) fn start(&mut self) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }

    /// SIGKILL, and reaped.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// The remaining `@@` lines, and asserts a successful exit.
    pub(crate) fn finish(mut self) -> Vec<String> {
        let mut rest = Vec::new();
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            if let Some(at) = line.find("@@") {
                rest.push(line[at + 2..].trim().to_owned());
            }
        }
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "child failed: {status} (its stderr is above)"
        );
        rest
    }
}

/// What a child gets from its environment: store, client (on the parent's emulator, at its
/// virtual time) and mode; `None` when this is not run as a child.
struct ChildSetup {
    store: Arc<dyn TokenStore>,
    client: Arc<Client>,
    mode: String,
}

fn child_setup(open: Open) -> Option<ChildSetup> {
    let var = |name| std::env::var(name).ok();
    let ns = var(CHILD_NS)?;
    let lease = Duration::from_millis(var(CHILD_LEASE_MS)?.parse().unwrap());
    let now_ms: u64 = var(CHILD_EMU_NOW_MS)?.parse().unwrap();
    let clock =
        iop_emulator::VirtualClock::new(std::time::UNIX_EPOCH + Duration::from_millis(now_ms));
    let client = Client::builder(
        var(CHILD_EMU_KEY)?,
        AppSecret::new(var(CHILD_EMU_SECRET)?),
        Gateway::new(&var(CHILD_EMU_URL)?).unwrap(),
    )
    .clock(Arc::new(clock))
    .retry(RetryPolicy::none())
    .timeouts(Duration::from_secs(5), Duration::from_secs(60))
    .build()
    .unwrap();
    Some(ChildSetup {
        store: open(&ns, lease),
        client: Arc::new(client),
        mode: var(CHILD_MODE).unwrap_or_default(),
    })
}

fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n@@{line}").unwrap();
    out.flush().unwrap();
}

/// Child: asks for the access token of `seller-0000` (a refresh the parent holds at the
/// emulator), saying `refreshing` first; the parent kills it meanwhile.
pub(crate) fn child_refresh_until_killed(open: Open) {
    let Some(setup) = child_setup(open) else {
        return;
    };
    let manager = TokenManager::new(setup.client, setup.store);
    say("refreshing");
    let outcome = manager.access_token("seller-0000");
    // Only reached if the parent did not kill us: that fails the parent's test.
    say(&format!("returned {:?}", outcome.map(|_| ())));
}

/// Child: one "host" (own store connections, client and manager) with 8 threads. Says `ready`,
/// waits for `go` on stdin, then in mode `access` every thread asks for the access token of
/// every seller (`seller-0000`…, count in the mode: `access 50`), and says
/// `seen SELLER FINGERPRINT` per seller (each thread must have seen the same token); in mode
/// `due` runs `refresh_due` (concurrency 8) and says `due REFRESHED FAILED REAUTHORIZE`.
/// Reauthorization callbacks are said as `reauthorize KEY`.
pub(crate) fn child_host(open: Open) {
    let Some(setup) = child_setup(open) else {
        return;
    };
    let calls = Arc::new(Mutex::new(Vec::new()));
    let manager = counting_manager(setup.client, setup.store, &calls);
    say("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    assert_eq!(go.trim(), "go");
    let mut mode = setup.mode.split_whitespace();
    match mode.next() {
        Some("access") => {
            let count: usize = mode.next().unwrap().parse().unwrap();
            let sellers = sellers(count);
            let seen: Mutex<HashMap<String, HashSet<String>>> = Mutex::new(HashMap::new());
            let barrier = Barrier::new(8);
            std::thread::scope(|scope| {
                for t in 0..8u64 {
                    let (barrier, sellers, seen, manager) = (&barrier, &sellers, &seen, &manager);
                    scope.spawn(move || {
                        barrier.wait();
                        let mut order: Vec<&String> = sellers.iter().collect();
                        fastrand::Rng::with_seed(t + u64::from(std::process::id()))
                            .shuffle(&mut order);
                        for seller in order {
                            let token = manager.access_token(seller).unwrap();
                            seen.lock()
                                .unwrap()
                                .entry(seller.clone())
                                .or_default()
                                .insert(fingerprint(token.secret()));
                        }
                    });
                }
            });
            for (seller, tokens) in seen.into_inner().unwrap() {
                assert_eq!(tokens.len(), 1, "{seller}: the threads saw {tokens:?}");
                say(&format!("seen {seller} {}", tokens.iter().next().unwrap()));
            }
        }
        Some("due") => {
            let report = manager.refresh_due(RefreshDueOptions::new(3 * DAY).concurrency(8));
            for (key, _, message) in &report.failed {
                say(&format!("failure {key}: {message}"));
            }
            say(&format!(
                "due {} {} {}",
                report.refreshed.len(),
                report.failed.len(),
                report.reauthorization_required.len()
            ));
        }
        other => panic!("unknown child mode {other:?}"),
    }
    for call in calls.lock().unwrap().iter() {
        say(&format!("reauthorize {call}"));
    }
}

/// A short stand-in for a token in what processes tell each other (not the token itself).
pub(crate) fn fingerprint(secret: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    secret.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Onboards `count` sellers, moves the clock into their refresh window and clears the stats.
fn due_sellers(emu: &Emulator, open: Open, ns: &str, lease: Duration, count: usize) -> Vec<String> {
    let sellers = sellers(count);
    let first = TokenManager::new(client(emu), open(ns, lease));
    onboard(emu, first.client(), &first, &sellers);
    emu.advance(28 * DAY);
    emu.reset_stats();
    sellers
}

/// Four host processes × eight threads ask at once for the tokens of 50 sellers near expiry:
/// exactly 50 refreshes at the emulator; every thread of every process sees the newest token.
pub(crate) fn many_hosts_one_refresh_per_seller(open: Open, ns: &str) {
    let emu = emulator();
    let sellers = due_sellers(&emu, open, ns, Duration::from_secs(30), 50);
    // Slow refreshes, so that the hosts really collide.
    emu.inject(Fault::Delay(Duration::from_millis(20)), Some(REFRESH), 50);
    let mut hosts: Vec<_> = (0..4)
        .map(|_| ChildProcess::spawn(CHILD_HOST, "access 50", ns, Duration::from_secs(30), &emu))
        .collect();
    for host in &mut hosts {
        host.expect_line("ready");
    }
    for host in &mut hosts {
        host.start();
    }
    let outputs: Vec<Vec<String>> = hosts.into_iter().map(ChildProcess::finish).collect();
    assert_eq!(
        refreshes(&emu),
        50,
        "one refresh per seller across the processes"
    );
    let check = open(ns, Duration::from_secs(30));
    for (i, lines) in outputs.iter().enumerate() {
        assert!(
            !lines.iter().any(|l| l.starts_with("reauthorize")),
            "host {i}: {lines:?}"
        );
        let seen: HashMap<&str, &str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("seen "))
            .filter_map(|l| l.split_once(' '))
            .collect();
        assert_eq!(seen.len(), sellers.len(), "host {i}: {lines:?}");
        for seller in &sellers {
            let stored = check.load(seller).unwrap().unwrap().token;
            assert_eq!(
                seen[seller.as_str()],
                fingerprint(&access(&stored)),
                "host {i} did not end with the newest token of {seller}"
            );
        }
    }
    assert_tokens_current(&emu, open, ns, &sellers);
}

/// Four host processes run `refresh_due` over the same 100 sellers at once: one refresh each.
pub(crate) fn many_hosts_refresh_due(open: Open, ns: &str) {
    let emu = emulator();
    let sellers = due_sellers(&emu, open, ns, Duration::from_secs(30), 100);
    let mut hosts: Vec<_> = (0..4)
        .map(|_| ChildProcess::spawn(CHILD_HOST, "due", ns, Duration::from_secs(30), &emu))
        .collect();
    for host in &mut hosts {
        host.expect_line("ready");
    }
    for host in &mut hosts {
        host.start();
    }
    let mut refreshed = 0;
    for lines in hosts.into_iter().map(ChildProcess::finish) {
        let due = lines.iter().find_map(|l| l.strip_prefix("due ")).unwrap();
        let counts: Vec<usize> = due.split(' ').map(|n| n.parse().unwrap()).collect();
        assert_eq!(counts[1..], [0, 0], "{lines:?}");
        refreshed += counts[0];
    }
    assert_eq!(refreshes(&emu), 100);
    assert_eq!(refreshed, 100, "each seller refreshed by exactly one host");
    assert_tokens_current(&emu, open, ns, &sellers);
}

/// A refresh slower than the lease: the lease is renewed while held, so a second worker waits
/// and uses the first one's token; one refresh.
pub(crate) fn slow_refresh_outlives_the_lease(open: Open, ns: &str) {
    let emu = emulator();
    let lease = Duration::from_millis(600);
    let sellers = due_sellers(&emu, open, ns, lease, 1);
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

/// Waits until the emulator holds `n` requests.
fn wait_held(emu: &Emulator, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while emu.held().values().sum::<usize>() < n {
        assert!(Instant::now() < deadline, "not held: {:?}", emu.held());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts a child refreshing `seller-0000`, held at the emulator by `hold` (before or after the
/// gateway processed it), and SIGKILLs it there. Returns how long the seller's lock stayed
/// taken after the kill (measured by a probe that waited for it meanwhile).
fn kill_a_refreshing_holder(
    emu: &Emulator,
    open: Open,
    ns: &str,
    lease: Duration,
    hold: Fault,
) -> Duration {
    emu.inject(hold, Some(REFRESH), 1);
    let mut child = ChildProcess::spawn(CHILD_REFRESH, "", ns, lease, emu);
    child.expect_line("refreshing");
    wait_held(emu, 1);
    // The lock is really held: another worker cannot take it now.
    let probe = open(ns, lease);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        let probe = &probe;
        scope.spawn(move || {
            let _lock = probe.lock("seller-0000").unwrap();
            let _ = tx.send(());
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "the lock of a live holder was taken"
        );
        child.kill(); // SIGKILL
        let killed = Instant::now();
        rx.recv_timeout(lease + Duration::from_secs(10)).unwrap();
        killed.elapsed()
    })
}

/// A holder killed (SIGKILL) while it holds the seller's lock and its refresh has not reached
/// the gateway (held before processing): the lock is freed (with the session, or when the lease
/// ends), the stored refresh token is still good, and another worker refreshes with it, with no
/// reauthorization reported. Returns how long the lock stayed taken after the kill.
pub(crate) fn killed_holder_frees_the_lock(open: Open, ns: &str, lease: Duration) -> Duration {
    let emu = emulator();
    let sellers = due_sellers(&emu, open, ns, lease, 1);
    let freed_after = kill_a_refreshing_holder(&emu, open, ns, lease, Fault::HoldBefore);
    // The gateway never processed the dead holder's refresh.
    let store = open(ns, lease);
    assert!(stored_refresh_token_is_current(&emu, &*store, &sellers[0]));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let manager = counting_manager(client(&emu), store, &calls);
    let started = Instant::now();
    manager.access_token(&sellers[0]).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The dead holder's request (counted, never processed) and the new worker's.
    assert_eq!(refreshes(&emu), 2);
    assert!(
        calls.lock().unwrap().is_empty(),
        "{:?}",
        calls.lock().unwrap()
    );
    assert_tokens_current(&emu, open, ns, &sellers);
    freed_after
}

/// A holder killed after the gateway rotated its refresh token but before it saved the answer
/// (the one window no store can close): the stored refresh token is spent. The next worker
/// reports that seller as needing reauthorization exactly once, with the reason; it does not
/// send the dead token again and again, and does not hide the seller in later runs. The other
/// sellers refresh normally; after the seller authorizes again, every stored token is current.
pub(crate) fn killed_after_rotation_needs_reauthorization_once(
    open: Open,
    ns: &str,
    lease: Duration,
) {
    let emu = emulator();
    let sellers = due_sellers(&emu, open, ns, lease, 3);
    kill_a_refreshing_holder(&emu, open, ns, lease, Fault::HoldAfter);
    let store = open(ns, lease);
    // The gateway rotated: what the store holds is spent, and the new token set died with the
    // process.
    assert!(!stored_refresh_token_is_current(&emu, &*store, &sellers[0]));
    emu.clear_faults();
    emu.reset_stats();

    let calls = Arc::new(Mutex::new(Vec::new()));
    let manager = counting_manager(client(&emu), store, &calls);
    let report = manager.refresh_due(RefreshDueOptions::new(3 * DAY).concurrency(4));
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.refreshed, sellers[1..]);
    assert_eq!(
        report
            .reauthorization_required
            .iter()
            .map(|(key, _)| key.as_str())
            .collect::<Vec<_>>(),
        [sellers[0].as_str()]
    );
    // One refresh per seller: the spent token was sent once, and refused.
    assert_eq!(refreshes(&emu), 3);
    {
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert!(calls[0].starts_with("seller-0000: "), "{calls:?}");
        assert!(calls[0].contains("IllegalRefreshToken"), "{calls:?}");
    }
    // Later runs and calls: still reported, never hidden, no new callback, no new refresh.
    let again = manager.refresh_due(RefreshDueOptions::new(3 * DAY).concurrency(4));
    assert_eq!(again.reauthorization_required.len(), 1, "{again:?}");
    assert!(again.failed.is_empty(), "{:?}", again.failed);
    match manager.access_token(&sellers[0]) {
        Err(Error::ReauthorizationRequired { key, reason, .. }) => {
            assert_eq!(key, sellers[0]);
            assert!(reason.contains("rejected"), "{reason}");
        }
        other => panic!("expected ReauthorizationRequired, got {other:?}"),
    }
    assert_eq!(refreshes(&emu), 3, "the spent refresh token was sent again");
    assert_eq!(calls.lock().unwrap().len(), 1);
    // The seller authorizes again: then every stored token is current.
    onboard(&emu, manager.client(), &manager, &sellers[..1]);
    assert_tokens_current(&emu, open, ns, &sellers);
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

/// The tests every server store runs alike, defined once: the contract, many hosts (as
/// processes), killed holders, a slow refresh, an outage, and the child processes they start.
///
/// - `open`: an [`Open`] for the store;
/// - `kill_lease`: the lease of the killed-holder tests;
/// - `kill_freed_within`: the longest a killed holder's lock may outlive it;
/// - `restart_env`: the variable naming the server's restart command;
/// - `server`: a word every message about the server contains.
macro_rules! server_store_tests {
    (
        open: $open:expr,
        kill_lease: $lease:expr,
        kill_freed_within: $within:expr,
        restart_env: $restart:expr,
        server: $server:expr $(,)?
    ) => {
        #[test]
        fn contract_versions_keys_remove() {
            let _server = crate::stores::shared_server();
            let store = $open(&crate::stores::namespace("cas"), $lease);
            crate::stores::contract_versions_keys_remove(&*store);
        }

        #[test]
        fn contract_keys_scale_past_one_batch() {
            let _server = crate::stores::shared_server();
            let store = $open(&crate::stores::namespace("many"), $lease);
            crate::stores::contract_many_keys(&*store, 5_000);
        }

        #[test]
        fn contract_concurrent_cas() {
            let _server = crate::stores::shared_server();
            crate::stores::contract_concurrent_cas($open, &crate::stores::namespace("ccas"));
        }

        #[test]
        fn contract_same_record_twice_one_wins() {
            let _server = crate::stores::shared_server();
            crate::stores::contract_same_record_twice_one_wins(
                $open,
                &crate::stores::namespace("same"),
            );
        }

        #[test]
        fn contract_holder_reads_own_writes() {
            let _server = crate::stores::shared_server();
            crate::stores::contract_holder_reads_own_writes(
                $open,
                &crate::stores::namespace("own"),
            );
        }

        #[test]
        fn contract_locks() {
            let _server = crate::stores::shared_server();
            crate::stores::contract_locks($open, &crate::stores::namespace("locks"));
        }

        #[test]
        fn many_hosts_share_one_refresh_per_seller() {
            let _server = crate::stores::shared_server();
            crate::stores::many_hosts_one_refresh_per_seller(
                $open,
                &crate::stores::namespace("hosts"),
            );
        }

        #[test]
        fn many_hosts_run_refresh_due_at_once() {
            let _server = crate::stores::shared_server();
            crate::stores::many_hosts_refresh_due($open, &crate::stores::namespace("due"));
        }

        #[test]
        fn a_refresh_slower_than_the_lease_is_not_repeated() {
            let _server = crate::stores::shared_server();
            crate::stores::slow_refresh_outlives_the_lease(
                $open,
                &crate::stores::namespace("slow"),
            );
        }

        #[test]
        fn a_holder_killed_before_the_gateway_saw_its_refresh_frees_the_lock() {
            let _server = crate::stores::shared_server();
            let after = crate::stores::killed_holder_frees_the_lock(
                $open,
                &crate::stores::namespace("kill"),
                $lease,
            );
            assert!(
                after < $within,
                "the lock outlived its killed holder by {after:?}"
            );
        }

        #[test]
        fn a_holder_killed_after_the_gateway_rotated_needs_reauthorization_once() {
            let _server = crate::stores::shared_server();
            crate::stores::killed_after_rotation_needs_reauthorization_once(
                $open,
                &crate::stores::namespace("rotated"),
                $lease,
            );
        }

        #[test]
        fn outage_during_refresh_due_loses_nothing() {
            let _server = crate::stores::exclusive_server();
            crate::stores::outage_during_refresh_due(
                $open,
                &crate::stores::namespace("outage"),
                &crate::stores::required_env($restart),
                $server,
            );
        }

        #[test]
        #[ignore = "child process of the killed-holder tests"]
        fn child_refresh_until_killed() {
            crate::stores::child_refresh_until_killed($open);
        }

        #[test]
        #[ignore = "child process: one host of the many_hosts tests"]
        fn child_host() {
            crate::stores::child_host($open);
        }
    };
}
