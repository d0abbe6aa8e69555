//! TokenManager against the emulator with its virtual clock: refresh near expiry, one refresh
//! for many threads and for two processes, rotation with a stale reader, dead refresh tokens,
//! transient failures, and refresh_due.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iop_core::{
    AppSecret, AuthCode, Client, Clock, Error, ErrorClass, FileStore, Gateway, MemoryStore,
    RefreshDueOptions, RetryPolicy, StoredToken, TokenManager, TokenSet, TokenStore,
};
use iop_emulator::{Config, Emulator, Fault};

const DAY: Duration = Duration::from_secs(86_400);
const REFRESH: &str = "/auth/token/refresh";

fn emulator() -> Emulator {
    Emulator::start(Config::default()).unwrap()
}

fn client_with_clock(emu: &Emulator, clock: Arc<dyn Clock>) -> Arc<Client> {
    Arc::new(
        Client::builder(
            emu.app_key(),
            AppSecret::new(emu.app_secret()),
            Gateway::new(&emu.url()).unwrap(),
        )
        .clock(clock)
        .retry(RetryPolicy::none())
        .build()
        .unwrap(),
    )
}

fn client(emu: &Emulator) -> Arc<Client> {
    client_with_clock(emu, emu.clock())
}

/// Authorizes `seller` at the emulator and stores its first token set under `seller`.
fn onboard(emu: &Emulator, client: &Client, manager: &TokenManager, seller: &str) -> TokenSet {
    let code = AuthCode::new(emu.authorize(seller));
    let token = client.create_token(&code, None).unwrap();
    manager.put(seller, &token).unwrap();
    token
}

fn refreshes(emu: &Emulator) -> u64 {
    emu.stats().get(REFRESH).copied().unwrap_or(0)
}

fn secret_of(token: &TokenSet) -> String {
    token.access_token.as_ref().unwrap().secret().to_owned()
}

fn refresh_secret_of(token: &TokenSet) -> String {
    token.refresh_token.as_ref().unwrap().secret().to_owned()
}

/// Counts callback invocations and keeps their keys.
#[derive(Default)]
struct Calls(Mutex<Vec<(String, String)>>);

impl Calls {
    fn hook(self: &Arc<Self>) -> impl Fn(&str, &Error) + Send + Sync + 'static {
        let calls = self.clone();
        move |key, error| {
            calls
                .0
                .lock()
                .unwrap()
                .push((key.to_owned(), error.to_string()));
        }
    }
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

#[test]
fn token_near_expiry_is_refreshed_once_and_saved() {
    let emu = emulator();
    let client = client(&emu);
    let store = Arc::new(MemoryStore::new());
    let manager = TokenManager::new(client.clone(), store.clone());
    let first = onboard(&emu, &client, &manager, "seller-1");

    // Far from expiry: the stored token, no call.
    assert_eq!(
        manager.access_token("seller-1").unwrap().secret(),
        secret_of(&first)
    );
    assert_eq!(refreshes(&emu), 0);

    // 28 of 30 days later: inside the 3-day margin.
    emu.advance(28 * DAY);
    let access = manager.access_token("seller-1").unwrap();
    assert_eq!(refreshes(&emu), 1);
    assert_ne!(access.secret(), secret_of(&first));
    let saved = store.load("seller-1").unwrap().unwrap().token;
    assert_eq!(secret_of(&saved), access.secret());
    assert_ne!(refresh_secret_of(&saved), refresh_secret_of(&first));
    assert!(saved.expires_at().unwrap() > emu.now() + 29 * DAY);

    // The refreshed token is used from now on.
    for _ in 0..5 {
        assert_eq!(
            manager.access_token("seller-1").unwrap().secret(),
            access.secret()
        );
    }
    assert_eq!(refreshes(&emu), 1);
    // And it works at the gateway.
    let request = iop_core::Request::new("/seller/info").unwrap();
    client.call(&request, Some(&access)).unwrap();
}

#[test]
fn thirty_two_threads_share_one_refresh() {
    let emu = emulator();
    let client = client(&emu);
    let manager = Arc::new(TokenManager::new(
        client.clone(),
        Arc::new(MemoryStore::new()),
    ));
    onboard(&emu, &client, &manager, "seller-1");
    onboard(&emu, &client, &manager, "seller-2");
    emu.advance(28 * DAY);
    // Slow refreshes widen the window in which the others wait.
    emu.inject(Fault::Delay(Duration::from_millis(200)), Some(REFRESH), 1);

    let barrier = Arc::new(Barrier::new(32));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let (manager, barrier) = (manager.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                manager
                    .access_token("seller-1")
                    .unwrap()
                    .secret()
                    .to_owned()
            })
        })
        .collect();
    let tokens: HashSet<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(tokens.len(), 1, "every thread got the same token");
    assert_eq!(refreshes(&emu), 1);
    // Another seller is refreshed on its own.
    manager.access_token("seller-2").unwrap();
    assert_eq!(refreshes(&emu), 2);
}

struct FixedClock(SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

const CHILD_URL: &str = "IOP_TEST_MANAGER_CHILD_URL";
const CHILD_DIR: &str = "IOP_TEST_MANAGER_CHILD_DIR";
const CHILD_NOW_MS: &str = "IOP_TEST_MANAGER_CHILD_NOW_MS";

/// Run by `two_processes_share_one_refresh` in child processes: four threads ask for the
/// token of `seller-p` from a FileStore, and each prints `token <access token>`.
#[test]
#[ignore = "child process of two_processes_share_one_refresh"]
fn child_access_token() {
    use std::io::Write;
    let (Ok(url), Ok(dir), Ok(now_ms)) = (
        std::env::var(CHILD_URL),
        std::env::var(CHILD_DIR),
        std::env::var(CHILD_NOW_MS),
    ) else {
        return;
    };
    let now = UNIX_EPOCH + Duration::from_millis(now_ms.parse().unwrap());
    let client = Arc::new(
        Client::builder(
            "test-app-key",
            AppSecret::new("test-app-secret"),
            Gateway::new(&url).unwrap(),
        )
        .clock(Arc::new(FixedClock(now)))
        .retry(RetryPolicy::none())
        .build()
        .unwrap(),
    );
    let manager = Arc::new(TokenManager::new(
        client,
        Arc::new(FileStore::open(dir).unwrap()),
    ));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let manager = manager.clone();
            std::thread::spawn(move || {
                manager
                    .access_token("seller-p")
                    .unwrap()
                    .secret()
                    .to_owned()
            })
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for t in threads {
        writeln!(out, "token {}", t.join().unwrap()).unwrap();
    }
    out.flush().unwrap();
}

#[test]
fn two_processes_share_one_refresh() {
    let emu = emulator();
    let client = client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::open(dir.path()).unwrap());
    let manager = TokenManager::new(client.clone(), store.clone());
    let first = onboard(&emu, &client, &manager, "seller-p");
    emu.advance(28 * DAY);
    emu.inject(Fault::Delay(Duration::from_millis(300)), Some(REFRESH), 1);
    let now_ms = emu.now().duration_since(UNIX_EPOCH).unwrap().as_millis();

    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_access_token", "--ignored", "--nocapture"])
                .env(CHILD_URL, emu.url())
                .env(CHILD_DIR, dir.path())
                .env(CHILD_NOW_MS, now_ms.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut tokens = Vec::new();
    for mut child in children {
        let stdout = child.stdout.take().unwrap();
        for line in BufReader::new(stdout).lines() {
            if let Some(token) = line.unwrap().strip_prefix("token ") {
                tokens.push(token.to_owned());
            }
        }
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(tokens.len(), 8);
    let saved = store.load("seller-p").unwrap().unwrap().token;
    assert_ne!(secret_of(&saved), secret_of(&first));
    assert!(tokens.iter().all(|t| *t == secret_of(&saved)), "{tokens:?}");
    assert_eq!(refreshes(&emu), 1);
}

/// A store that answers the first `stale_loads` loads from an old snapshot, like a replica that
/// lags behind (or a process that read before another one rotated the refresh token).
struct StaleStore {
    inner: Arc<MemoryStore>,
    snapshot: StoredToken,
    stale_loads: AtomicUsize,
    /// Check saves as the default does (a compare-and-swap of the loaded version).
    check_own_version: bool,
}

impl TokenStore for StaleStore {
    fn load(&self, key: &str) -> iop_core::Result<Option<StoredToken>> {
        let stale = self
            .stale_loads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if stale {
            Ok(Some(self.snapshot.clone()))
        } else {
            self.inner.load(key)
        }
    }
    fn save(&self, key: &str, token: &TokenSet, expected: Option<u64>) -> iop_core::Result<u64> {
        self.inner.save(key, token, expected)
    }
    fn keys(&self) -> iop_core::Result<Vec<String>> {
        self.inner.keys()
    }
    fn lock(&self, key: &str) -> iop_core::Result<Box<dyn iop_core::store::KeyLock + '_>> {
        self.inner.lock(key)
    }
    /// The memory store's check (which compares no version): the stale copy reaches the
    /// gateway, as from a store whose check cannot see it.
    fn check_save(
        &self,
        key: &str,
        stored: &StoredToken,
        lock: &dyn iop_core::store::KeyLock,
    ) -> iop_core::Result<u64> {
        if self.check_own_version {
            return self.save(key, &stored.token, Some(stored.version));
        }
        self.inner.check_save(key, stored, lock)
    }
}

#[test]
fn rotation_and_a_stale_copy_do_not_end_in_false_reauthorization() {
    let emu = emulator();
    let client = client(&emu);
    let inner = Arc::new(MemoryStore::new());
    let other_process = TokenManager::new(client.clone(), inner.clone());
    onboard(&emu, &client, &other_process, "seller-r");
    let snapshot = inner.load("seller-r").unwrap().unwrap();
    emu.advance(28 * DAY);

    // The other process refreshes: the refresh token in the snapshot is now dead.
    let rotated = other_process.access_token("seller-r").unwrap();
    assert_eq!(refreshes(&emu), 1);

    let calls = Arc::new(Calls::default());
    let stale = Arc::new(StaleStore {
        inner: inner.clone(),
        snapshot,
        // Before and after taking the lock: the manager sends the dead refresh token.
        stale_loads: AtomicUsize::new(2),
        check_own_version: false,
    });
    let manager =
        TokenManager::new(client.clone(), stale).on_reauthorization_required(calls.hook());
    let access = manager.access_token("seller-r").unwrap();
    assert_eq!(access.secret(), rotated.secret());
    assert_eq!(calls.count(), 0);
    assert_eq!(refreshes(&emu), 2, "one rejected refresh, then the re-read");
}

#[test]
fn the_default_save_check_sees_a_stale_copy_before_the_gateway_does() {
    let emu = emulator();
    let client = client(&emu);
    let inner = Arc::new(MemoryStore::new());
    let other_process = TokenManager::new(client.clone(), inner.clone());
    onboard(&emu, &client, &other_process, "seller-c");
    let snapshot = inner.load("seller-c").unwrap().unwrap();
    emu.advance(28 * DAY);
    let rotated = other_process.access_token("seller-c").unwrap();
    assert_eq!(refreshes(&emu), 1);

    // The compare-and-swap of the check finds the newer version: the manager starts again
    // from it, finds it fresh, and never sends the dead refresh token.
    let calls = Arc::new(Calls::default());
    let stale = Arc::new(StaleStore {
        inner: inner.clone(),
        snapshot,
        stale_loads: AtomicUsize::new(2),
        check_own_version: true,
    });
    let manager =
        TokenManager::new(client.clone(), stale).on_reauthorization_required(calls.hook());
    let access = manager.access_token("seller-c").unwrap();
    assert_eq!(access.secret(), rotated.secret());
    assert_eq!(calls.count(), 0);
    assert_eq!(refreshes(&emu), 1, "no refresh with the stale copy");
}

#[test]
fn rotation_by_another_manager_on_the_same_file_store_is_picked_up() {
    let emu = emulator();
    let client = client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let calls = Arc::new(Calls::default());
    let a = TokenManager::new(
        client.clone(),
        Arc::new(FileStore::open(dir.path()).unwrap()),
    )
    .on_reauthorization_required(calls.hook());
    let b = TokenManager::new(
        client.clone(),
        Arc::new(FileStore::open(dir.path()).unwrap()),
    )
    .on_reauthorization_required(calls.hook());
    onboard(&emu, &client, &a, "seller-f");
    // Three refresh rounds, alternating managers: each sees the other's rotation.
    for round in 0..3u32 {
        emu.advance(28 * DAY);
        let (first, second) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let x = first.access_token("seller-f").unwrap();
        let y = second.access_token("seller-f").unwrap();
        assert_eq!(x.secret(), y.secret());
        assert_eq!(refreshes(&emu), u64::from(round) + 1);
    }
    assert_eq!(calls.count(), 0);
}

#[test]
fn illegal_refresh_token_fires_the_callback_once_and_is_not_retried() {
    let emu = emulator();
    let client = client(&emu);
    let calls = Arc::new(Calls::default());
    let manager = TokenManager::new(client.clone(), Arc::new(MemoryStore::new()))
        .on_reauthorization_required(calls.hook());
    onboard(&emu, &client, &manager, "seller-x");
    emu.revoke_refresh_tokens("seller-x");
    emu.advance(28 * DAY);

    for _ in 0..3 {
        let err = manager.access_token("seller-x").unwrap_err();
        match &err {
            Error::ReauthorizationRequired { key, gateway, .. } => {
                assert_eq!(key, "seller-x");
                assert_eq!(gateway.as_ref().unwrap().code, "IllegalRefreshToken");
            }
            other => panic!("expected ReauthorizationRequired, got {other:?}"),
        }
        assert_eq!(err.class(), ErrorClass::Reauthorize);
    }
    assert_eq!(refreshes(&emu), 1, "a rejected refresh token is sent once");
    assert_eq!(calls.count(), 1);
    assert_eq!(calls.0.lock().unwrap()[0].0, "seller-x");

    // The seller authorizes again: the new token works and the callback is armed again.
    let again = onboard(&emu, &client, &manager, "seller-x");
    assert_eq!(
        manager.access_token("seller-x").unwrap().secret(),
        secret_of(&again)
    );
}

#[test]
fn transient_refresh_failure_keeps_a_live_access_token_and_reports_dead_ones() {
    let emu = emulator();
    let client = client(&emu);
    let manager = TokenManager::new(client.clone(), Arc::new(MemoryStore::new()));
    let first = onboard(&emu, &client, &manager, "seller-t");
    emu.advance(28 * DAY);
    emu.inject(Fault::Http500, Some(REFRESH), 1);
    // Still two days to live: the old token, the failure logged.
    assert_eq!(
        manager.access_token("seller-t").unwrap().secret(),
        secret_of(&first)
    );
    assert_eq!(refreshes(&emu), 1);
    // Next call: the refresh goes through.
    assert_ne!(
        manager.access_token("seller-t").unwrap().secret(),
        secret_of(&first)
    );
    assert_eq!(refreshes(&emu), 2);

    // Past expiry, a failed refresh is the error itself.
    emu.advance(31 * DAY);
    emu.inject(Fault::Http500, Some(REFRESH), 1);
    let err = manager.access_token("seller-t").unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable, "{err:?}");
}

#[test]
fn refresh_due_refreshes_what_is_due_and_reports_the_rest() {
    let emu = emulator();
    let client = client(&emu);
    let calls = Arc::new(Calls::default());
    let manager = TokenManager::new(client.clone(), Arc::new(MemoryStore::new()))
        .on_reauthorization_required(calls.hook());
    for i in 0..12 {
        onboard(&emu, &client, &manager, &format!("old-{i:02}"));
    }
    emu.advance(28 * DAY);
    for i in 0..5 {
        onboard(&emu, &client, &manager, &format!("new-{i:02}"));
    }
    emu.revoke_refresh_tokens("old-11");
    emu.reset_stats();
    // Two refreshes fail with HTTP 500 (no retries configured). Keys are taken in a random
    // order: one of the two may be old-11's, whose refresh token the gateway would refuse.
    emu.inject(Fault::Http500, Some(REFRESH), 2);

    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = progress.clone();
    let report = manager.refresh_due(
        RefreshDueOptions::new(3 * DAY)
            .concurrency(4)
            .progress(move |done, total| seen.lock().unwrap().push((done, total))),
    );
    assert_eq!(report.total(), 17);
    assert_eq!(
        report.skipped,
        (0..5).map(|i| format!("new-{i:02}")).collect::<Vec<_>>()
    );
    assert_eq!(report.failed.len(), 2, "{:?}", report.failed);
    assert_eq!(
        report.failed_by_class().get(&ErrorClass::Retryable),
        Some(&2)
    );
    assert_eq!(refreshes(&emu), 12);
    let check_left = |report: &iop_core::RefreshReport| {
        assert_eq!(report.reauthorization_required.len(), 1);
        let (key, left) = &report.reauthorization_required[0];
        assert_eq!(key, "old-11");
        let left = left.unwrap();
        assert!(left > DAY && left <= 2 * DAY, "{left:?}");
    };
    let old_11_failed = report.failed.iter().any(|(key, ..)| key == "old-11");
    if old_11_failed {
        assert!(report.reauthorization_required.is_empty());
        assert_eq!(report.refreshed.len(), 10);
        assert_eq!(calls.count(), 0);
    } else {
        check_left(&report);
        assert_eq!(report.refreshed.len(), 9);
        assert_eq!(calls.count(), 1);
    }

    let mut progress = progress.lock().unwrap().clone();
    progress.sort();
    assert_eq!(progress, (1..=17).map(|d| (d, 17)).collect::<Vec<_>>());

    // A second pass retries the failed two only (old-11's refused refresh token is not sent
    // again once the gateway has refused it).
    emu.reset_stats();
    let report = manager.refresh_due(RefreshDueOptions::new(3 * DAY));
    check_left(&report);
    assert_eq!(report.refreshed.len(), if old_11_failed { 1 } else { 2 });
    assert_eq!(report.skipped.len(), if old_11_failed { 15 } else { 14 });
    assert_eq!(refreshes(&emu), 2);
    assert_eq!(calls.count(), 1, "the callback fires once per event");
}

#[test]
fn refresh_due_puts_aside_a_seller_whose_lock_someone_else_holds() {
    let emu = emulator();
    let client = client(&emu);
    let store = Arc::new(MemoryStore::new());
    let manager = TokenManager::new(client.clone(), store.clone());
    for i in 0..6 {
        onboard(&emu, &client, &manager, &format!("s-{i}"));
    }
    emu.advance(28 * DAY);
    emu.reset_stats();
    // Another worker holds s-3's lock: one refresh_due worker must not wait for it while
    // the other five are due.
    let held = store.lock("s-3").unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            manager.refresh_due(
                RefreshDueOptions::new(3 * DAY)
                    .concurrency(1)
                    .progress(move |done, _| sender.send(done).unwrap()),
            )
        });
        for expected in 1..=5 {
            let done = receiver
                .recv_timeout(Duration::from_secs(10))
                .expect("refresh_due waited for a held lock instead of going on");
            assert_eq!(done, expected);
        }
        assert!(
            receiver.recv_timeout(Duration::from_millis(200)).is_err(),
            "s-3 was handled while its lock was held"
        );
        drop(held);
        let report = run.join().unwrap();
        assert_eq!(report.refreshed.len(), 6, "{report:?}");
        assert!(report.failed.is_empty(), "{report:?}");
    });
    assert_eq!(refreshes(&emu), 6);
}

#[test]
fn refresh_due_puts_aside_a_seller_this_process_is_refreshing() {
    let emu = emulator();
    let client = client(&emu);
    let manager = TokenManager::new(client.clone(), Arc::new(MemoryStore::new()));
    for i in 0..4 {
        onboard(&emu, &client, &manager, &format!("s-{i}"));
    }
    emu.advance(28 * DAY);
    emu.reset_stats();
    // Another thread's refresh of s-2 is held at the gateway (before it is processed), with
    // s-2's locks held by that thread meanwhile.
    emu.inject(Fault::HoldBefore, Some(REFRESH), 1);
    std::thread::scope(|scope| {
        let caller = scope.spawn(|| manager.access_token("s-2"));
        let started = std::time::Instant::now();
        while emu.held().values().sum::<usize>() == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the refresh was not held"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let (sender, receiver) = std::sync::mpsc::channel();
        let run = scope.spawn(|| {
            manager.refresh_due(
                RefreshDueOptions::new(3 * DAY)
                    .concurrency(1)
                    .progress(move |done, _| sender.send(done).unwrap()),
            )
        });
        for expected in 1..=3 {
            let done = receiver
                .recv_timeout(Duration::from_secs(10))
                .expect("refresh_due waited for a seller this process is refreshing");
            assert_eq!(done, expected);
        }
        assert_eq!(emu.release(None), 1);
        caller.join().unwrap().unwrap();
        let report = run.join().unwrap();
        // s-2 was refreshed by its caller; refresh_due finds it fresh at the end.
        assert_eq!(report.refreshed.len(), 3, "{report:?}");
        assert_eq!(report.skipped, vec!["s-2".to_owned()]);
    });
    assert_eq!(refreshes(&emu), 4);
}

/// A store whose `load_many` leaves out the keys it has no record of (a wrong answer: one per
/// key is the rule).
struct ShortLoadMany(MemoryStore);

impl TokenStore for ShortLoadMany {
    fn load(&self, key: &str) -> iop_core::Result<Option<StoredToken>> {
        self.0.load(key)
    }
    fn save(&self, key: &str, token: &TokenSet, expected: Option<u64>) -> iop_core::Result<u64> {
        self.0.save(key, token, expected)
    }
    fn keys(&self) -> iop_core::Result<Vec<String>> {
        let mut keys = self.0.keys()?;
        keys.push("gone".to_owned());
        Ok(keys)
    }
    fn lock(&self, key: &str) -> iop_core::Result<Box<dyn iop_core::store::KeyLock + '_>> {
        self.0.lock(key)
    }
    fn load_many(&self, keys: &[String]) -> Vec<iop_core::Result<Option<StoredToken>>> {
        keys.iter()
            .map(|key| self.0.load(key))
            .filter(|loaded| !matches!(loaded, Ok(None)))
            .collect()
    }
}

#[test]
fn refresh_due_survives_a_load_many_of_the_wrong_length() {
    let emu = emulator();
    let client = client(&emu);
    let manager = TokenManager::new(client.clone(), Arc::new(ShortLoadMany(MemoryStore::new())));
    for i in 0..4 {
        onboard(&emu, &client, &manager, &format!("old-{i}"));
    }
    emu.advance(28 * DAY);
    for i in 0..4 {
        onboard(&emu, &client, &manager, &format!("new-{i}"));
    }
    emu.reset_stats();
    // Were the short answer taken in order, the records after "gone" would land on the wrong
    // sellers: a due one taken for fresh, a fresh one for due.
    let report = manager.refresh_due(RefreshDueOptions::new(3 * DAY).concurrency(1));
    let names = |prefix: &str| (0..4).map(|i| format!("{prefix}-{i}")).collect::<Vec<_>>();
    assert_eq!(report.refreshed, names("old"), "{report:?}");
    assert_eq!(report.skipped, names("new"), "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].0, "gone");
    assert_eq!(refreshes(&emu), 4);
}
