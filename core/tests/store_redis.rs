//! RedisStore against a real redis-server: run under `scripts/with-servers`, which sets
//! `IOP_TEST_REDIS_URL` and `IOP_TEST_REDIS_RESTART`. Without them these tests fail.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
#[path = "support/stores.rs"]
mod stores;
mod common;

use std::sync::Arc;
use std::time::Duration;

use iop_core::TokenStore;
use iop_core::store::{RedisOptions, RedisStore};
use stores::*;

fn url() -> String {
    required_env("IOP_TEST_REDIS_URL")
}

fn options(ns: &str, lease: Duration) -> RedisOptions {
    RedisOptions {
        prefix: format!("{ns}:"),
        lease,
        ..RedisOptions::default()
    }
}

fn open(ns: &str, lease: Duration) -> Arc<dyn TokenStore> {
    Arc::new(RedisStore::open_with(&url(), options(ns, lease)).unwrap())
}

fn raw() -> redis::Connection {
    redis::Client::open(url())
        .unwrap()
        .get_connection()
        .unwrap()
}

#[test]
fn prefixes_separate_apps() {
    let _server = shared_server();
    let a = open(&namespace("pa"), Duration::from_secs(30));
    let b = open(&namespace("pb"), Duration::from_secs(30));
    a.save("k", &token("a"), None).unwrap();
    assert!(b.load("k").unwrap().is_none());
    assert!(b.keys().unwrap().is_empty());
    b.save("k", &token("b"), None).unwrap();
    assert_eq!(access(&a.load("k").unwrap().unwrap().token), "at-a");
}

#[test]
fn foreign_and_corrupt_values_are_refused_and_kept() {
    let _server = shared_server();
    let ns = namespace("foreign");
    let store = open(&ns, Duration::from_secs(30));
    let mut con = raw();
    let dump = |key: &str| {
        let key = key.to_owned();
        move || {
            let mut con = raw();
            let kind: String = redis::cmd("TYPE").arg(&key).query(&mut con).unwrap();
            let body: String = if kind == "string" {
                redis::cmd("GET").arg(&key).query(&mut con).unwrap()
            } else {
                let all: Vec<String> = redis::cmd("HGETALL").arg(&key).query(&mut con).unwrap();
                all.join("|")
            };
            format!("{kind}:{body}")
        }
    };
    // A string (someone else's value under our prefix).
    let _: () = redis::cmd("SET")
        .arg(format!("{ns}:token:s"))
        .arg("hello")
        .query(&mut con)
        .unwrap();
    contract_refuses_foreign_value(&*store, "s", &dump(&format!("{ns}:token:s")), false);
    // A hash without our format marker.
    let _: () = redis::cmd("HSET")
        .arg(format!("{ns}:token:h"))
        .arg("v")
        .arg("1")
        .arg("data")
        .arg("{}")
        .query(&mut con)
        .unwrap();
    contract_refuses_foreign_value(&*store, "h", &dump(&format!("{ns}:token:h")), false);
    // Ours, but the record is corrupt (truncated JSON, holding a secret that must not leak).
    store.save("c", &token("c"), None).unwrap();
    let _: () = redis::cmd("HSET")
        .arg(format!("{ns}:token:c"))
        .arg("data")
        .arg(r#"{"key":"c","token":{"access_token":"at-secret"#)
        .query(&mut con)
        .unwrap();
    contract_refuses_foreign_value(&*store, "c", &dump(&format!("{ns}:token:c")), true);
    // Ours, but the record of another key copied here.
    store.save("d", &token("d"), None).unwrap();
    let data: String = redis::cmd("HGET")
        .arg(format!("{ns}:token:d"))
        .arg("data")
        .query(&mut con)
        .unwrap();
    store.save("e", &token("e"), None).unwrap();
    let _: () = redis::cmd("HSET")
        .arg(format!("{ns}:token:e"))
        .arg("data")
        .arg(&data)
        .query(&mut con)
        .unwrap();
    contract_refuses_foreign_value(&*store, "e", &dump(&format!("{ns}:token:e")), true);
    // The corrupt one can be removed (to be replaced), the foreign ones cannot.
    assert!(store.remove("c").unwrap());
    store.save("c", &token("c2"), None).unwrap();
}

#[test]
fn a_released_lease_is_gone_and_an_expired_one_is_not_deleted_by_its_old_owner() {
    let _server = shared_server();
    let ns = namespace("lease");
    let store = open(&ns, Duration::from_millis(300));
    let mut con = raw();
    let lock_key = format!("{ns}:lock:k");
    let lock = store.lock("k").unwrap();
    let owner: Option<String> = redis::cmd("GET").arg(&lock_key).query(&mut con).unwrap();
    assert!(owner.is_some());
    // Renewed while held: still there after several lease lifetimes.
    std::thread::sleep(Duration::from_millis(1000));
    let still: Option<String> = redis::cmd("GET").arg(&lock_key).query(&mut con).unwrap();
    assert_eq!(still, owner);
    // Someone else's lease now sits there (ours was lost): our release must not delete it.
    let _: () = redis::cmd("SET")
        .arg(&lock_key)
        .arg("someone-else")
        .query(&mut con)
        .unwrap();
    drop(lock);
    let other: Option<String> = redis::cmd("GET").arg(&lock_key).query(&mut con).unwrap();
    assert_eq!(other.as_deref(), Some("someone-else"));
    let _: () = redis::cmd("DEL").arg(&lock_key).query(&mut con).unwrap();
    drop(store.lock("k").unwrap());
    // The release is sent on drop, not waited for: the server has it at once.
    assert!(eventually(|| {
        let gone: Option<String> = redis::cmd("GET").arg(&lock_key).query(&mut con).unwrap();
        gone.is_none()
    }));
}

#[test]
fn server_down_at_start_names_host_and_port_within_the_connect_timeout() {
    let _server = shared_server();
    server_down_at_start("redis", 6379, "0", &|url, connect_timeout| {
        let options = RedisOptions {
            connect_timeout,
            ..RedisOptions::default()
        };
        RedisStore::open_with(url, options).map(drop)
    });
}

#[test]
fn wrong_password_is_a_clear_error_without_the_password() {
    let _server = shared_server();
    let url = url().replacen("redis://", "redis://:not-the-password-xyz@", 1);
    let error = RedisStore::open(&url).unwrap_err().to_string();
    assert!(!error.contains("not-the-password-xyz"), "{error}");
    assert!(
        error.to_lowercase().contains("auth") || error.contains("password"),
        "{error}"
    );
}

#[test]
fn debug_hides_the_password() {
    let _server = shared_server();
    let store = RedisStore::open(&url()).unwrap();
    let text = format!("{store:?}");
    assert!(text.contains("redis://127.0.0.1:"), "{text}");
}

// The contract every store keeps, each test in a namespace of its own (fresh and empty).
store_contract_tests!(
    contract,
    || open(&namespace("contract"), std::time::Duration::from_secs(30)),
    nonblocking_try_lock: true,
    guard: shared_server()
);

server_store_tests! {
    open: open,
    kill_lease: Duration::from_millis(1500),
    // The lease ends at most one lease after the last renewal.
    kill_freed_within: Duration::from_millis(1500) + Duration::from_secs(3),
    restart_env: "IOP_TEST_REDIS_RESTART",
    server: "redis",
}

#[test]
fn rediss_uses_tls_and_checks_the_certificate() {
    let _server = shared_server();
    let url = required_env("IOP_TEST_REDISS_URL");
    let ca = std::fs::read(required_env("IOP_TEST_REDIS_CA")).unwrap();
    let ns = namespace("tls");
    let store = RedisStore::open_with(
        &url,
        RedisOptions {
            root_certificate_pem: Some(ca),
            ..options(&ns, Duration::from_secs(30))
        },
    )
    .unwrap();
    store.save("k", &token("tls"), None).unwrap();
    drop(store.lock("k").unwrap());
    // The same data as over plain TCP.
    assert_eq!(
        access(
            &open(&ns, Duration::from_secs(30))
                .load("k")
                .unwrap()
                .unwrap()
                .token
        ),
        "at-tls"
    );
    // Without the private CA the server's certificate is not trusted.
    let error = RedisStore::open(&url).unwrap_err().to_string();
    assert!(error.contains("127.0.0.1:"), "{error}");
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    // Plain TCP to the TLS port fails too (no silent downgrade).
    let plain = url.replacen("rediss://", "redis://", 1);
    let options = RedisOptions {
        read_timeout: Duration::from_secs(2),
        ..RedisOptions::default()
    };
    assert!(RedisStore::open_with(&plain, options).is_err());
}

/// Scripts the server ran so far (EVAL and EVALSHA: every command of the store is one); this
/// test must hold the server alone.
fn scripts_run(con: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(con).unwrap();
    info.lines()
        .filter(|line| line.starts_with("cmdstat_evalsha:") || line.starts_with("cmdstat_eval:"))
        .map(|line| {
            let calls = line.split_once("calls=").unwrap().1;
            calls.split(',').next().unwrap().parse::<u64>().unwrap()
        })
        .sum()
}

#[test]
fn a_locked_refresh_costs_three_scripts() {
    let _server = exclusive_server();
    let ns = namespace("trips");
    let store = open(&ns, Duration::from_secs(30));
    let cycle = |key: &str, seed: &str| {
        let lock = store.lock(key).unwrap();
        let stored = store.load(key).unwrap().unwrap();
        store.save(key, &token(seed), Some(stored.version)).unwrap();
        drop(lock);
    };
    store.save("warm", &token("w0"), None).unwrap();
    store.save("k", &token("k0"), None).unwrap();
    cycle("warm", "w1");
    let mut con = raw();
    let before = scripts_run(&mut con);
    cycle("k", "k1");
    // Lease (with the load under it), save, release (sent without waiting for the answer).
    eventually(|| scripts_run(&mut con) - before >= 3);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(scripts_run(&mut con) - before, 3);
    assert_eq!(access(&store.load("k").unwrap().unwrap().token), "at-k1");
}

/// Whether `check` holds within 2 s.
fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while !check() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn one_keeper_thread_renews_every_held_lease() {
    let _server = exclusive_server();
    let ns = namespace("keeper");
    let store = open(&ns, Duration::from_millis(300));
    drop(store.lock("first").unwrap());
    let before = threads();
    // Lease releases are sent without waiting: a held connection answers them later.
    let released = store.lock("second").unwrap();
    drop(released);
    drop(store.lock("second").unwrap());
    let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    let locks: Vec<_> = keys.iter().map(|k| store.lock(k).unwrap()).collect();
    assert!(threads() <= before + 1, "{before} -> {}", threads());
    // All renewed: still held after several lease lifetimes.
    std::thread::sleep(Duration::from_millis(1000));
    let mut con = raw();
    for key in &keys {
        let owner: Option<String> = redis::cmd("GET")
            .arg(format!("{ns}:lock:{key}"))
            .query(&mut con)
            .unwrap();
        assert!(owner.is_some(), "the lease of {key} expired while held");
    }
    drop(locks);
    for key in &keys {
        let gone = eventually(|| {
            let owner: Option<String> = redis::cmd("GET")
                .arg(format!("{ns}:lock:{key}"))
                .query(&mut con)
                .unwrap();
            owner.is_none()
        });
        assert!(gone, "the lease of {key} outlived its lock");
    }
}

#[test]
fn rediss_takes_its_ca_from_the_url_and_refuses_insecure() {
    let _server = shared_server();
    let url = required_env("IOP_TEST_REDISS_URL");
    let ca = required_env("IOP_TEST_REDIS_CA");
    let encoded: String = url::form_urlencoded::byte_serialize(ca.as_bytes()).collect();
    let ns = namespace("tlsurl");
    // ca_file= in the URL, through the one store-string parser (what C, Python and the CLI
    // use), and beside it the options' prefix.
    let with_ca = format!("{url}?ca_file={encoded}");
    let store = RedisStore::open_with(&with_ca, options(&ns, Duration::from_secs(30))).unwrap();
    store.save("k", &token("ca"), None).unwrap();
    let any = iop_core::store::open(&with_ca).unwrap();
    any.keys().unwrap();
    // A CA file that cannot be read is an error, not a fallback to other roots.
    let error = RedisStore::open(&format!("{url}?ca_file=/nonexistent/ca.pem"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("/nonexistent/ca.pem"), "{error}");
    // Certificate checks cannot be turned off.
    let error = RedisStore::open(&format!("{url}#insecure"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("ca_file="), "{error}");
    // ca_file= on plain TCP is a mistake worth saying.
    let error = RedisStore::open(&format!("{}?ca_file={encoded}", self::url()))
        .unwrap_err()
        .to_string();
    assert!(error.contains("rediss://"), "{error}");
}

#[test]
fn an_acl_user_who_may_not_write_the_tokens_never_refreshes() {
    let _server = shared_server();
    let ns = namespace("acl");
    let user = format!("{ns}_reader");
    let writable = open(&ns, Duration::from_secs(30));
    // The user may read and take leases (SET, PEXPIRE, DEL), but not write token records.
    let reader_url = self::url().replacen("redis://", &format!("redis://{user}:pw-{user}@"), 1);
    let (setup_user, setup_ns) = (user.clone(), ns.clone());
    an_unwritable_store_refreshes_nothing(
        writable,
        &move || {
            Arc::new(
                RedisStore::open_with(&reader_url, options(&ns, Duration::from_secs(30))).unwrap(),
            )
        },
        &move || {
            let _: () = redis::cmd("ACL")
                .arg("SETUSER")
                .arg(&setup_user)
                .arg("on")
                .arg(format!(">pw-{setup_user}"))
                .arg("resetkeys")
                .arg(format!("~{setup_ns}:*"))
                .arg("+@all")
                .arg("-@write")
                .arg("+set")
                .arg("+pexpire")
                .arg("+del")
                .query(&mut raw())
                .unwrap();
        },
        &|f| f(),
    );
    let _: () = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query(&mut raw())
        .unwrap();
}

/// A redis-server of this test's own, on a free port, stopped when dropped.
struct OwnRedis {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl OwnRedis {
    /// Started with `args` on top of the defaults (default persistence: snapshots only).
    fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (scripts/with-servers installs it)");
        let server = Self {
            child,
            port,
            _dir: dir,
        };
        assert!(eventually(|| server.connection().is_some()));
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn connection(&self) -> Option<redis::Connection> {
        let mut con = redis::Client::open(self.url())
            .ok()?
            .get_connection()
            .ok()?;
        redis::cmd("PING").query::<String>(&mut con).ok()?;
        Some(con)
    }

    fn config_set(&self, name: &str, value: &str) {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query(&mut self.connection().unwrap())
            .unwrap();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_server_that_may_lose_a_save_is_refused_unless_the_url_accepts_it() {
    let server = OwnRedis::start(&[]);
    let url = server.url();
    // Default persistence (snapshots, appendonly no): refused, saying what to set.
    let error = RedisStore::open(&url).unwrap_err().to_string();
    assert!(error.contains("appendonly"), "{error}");
    assert!(error.contains("durability=relaxed"), "{error}");
    assert!(iop_core::store::open(&url).is_err());
    // The opt-in, in the URL (so from C, Python and the CLI alike).
    let relaxed = format!("{url}?durability=relaxed");
    let store = iop_core::store::open(&relaxed).unwrap();
    store.save("k", &token("relaxed"), None).unwrap();
    assert_eq!(
        access(&store.load("k").unwrap().unwrap().token),
        "at-relaxed"
    );
    let error = RedisStore::open(&format!("{url}?durability=sometimes"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("durability"), "{error}");
    // An append-only file synced once a second, on a server without WAITAOF (before 7.2):
    // still refused. (With WAITAOF the store waits for each save's write to reach the disk.)
    server.config_set("appendonly", "yes");
    let version: String = redis::cmd("INFO")
        .arg("server")
        .query(&mut server.connection().unwrap())
        .unwrap();
    let has_waitaof = version
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .and_then(|v| {
            let mut parts = v.trim().split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            Some((parts.next()?, parts.next()?))
        })
        .is_some_and(|version| version >= (7, 2));
    server.config_set("appendfsync", "everysec");
    let opened = RedisStore::open(&url);
    assert_eq!(opened.is_ok(), has_waitaof, "{:?}", opened.err());
    // Every write on disk before it is acknowledged: accepted.
    server.config_set("appendfsync", "always");
    let store = RedisStore::open(&url).unwrap();
    assert_eq!(
        access(&store.load("k").unwrap().unwrap().token),
        "at-relaxed"
    );
    // A user who may not read the settings: unknown, so refused unless accepted.
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("noconfig")
        .arg("on")
        .arg(">pw-noconfig")
        .arg("~*")
        .arg("+@all")
        .arg("-config")
        .query(&mut server.connection().unwrap())
        .unwrap();
    let user_url = url.replacen("redis://", "redis://noconfig:pw-noconfig@", 1);
    if !has_waitaof {
        let error = RedisStore::open(&user_url).unwrap_err().to_string();
        assert!(error.contains("cannot be read"), "{error}");
        assert!(!error.contains("pw-noconfig"), "{error}");
    }
    RedisStore::open(&format!("{user_url}?durability=relaxed")).unwrap();
}

#[path = "support/push_replay.rs"]
mod push_replay;

#[test]
fn a_replayed_push_refreshes_once_across_two_hosts() {
    let _server = shared_server();
    let ns = namespace("push");
    let lease = Duration::from_secs(30);
    push_replay::replayed_type_8_refreshes_at_most_once(&[open(&ns, lease), open(&ns, lease)]);
}
