//! PostgresStore against a real PostgreSQL: run under `scripts/with-servers`, which sets
//! `IOP_TEST_POSTGRES_URL` and `IOP_TEST_POSTGRES_RESTART`. Without them these tests fail.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
#[path = "support/stores.rs"]
mod stores;
mod common;

use std::sync::Arc;
use std::time::Duration;

use iop_core::TokenStore;
use iop_core::store::{PostgresOptions, PostgresStore};
use stores::*;

fn url() -> String {
    required_env("IOP_TEST_POSTGRES_URL")
}

/// Namespaces are tables here (the lease does not apply: locks die with the session).
fn open(ns: &str, _lease: Duration) -> Arc<dyn TokenStore> {
    Arc::new(PostgresStore::open_with_table(&url(), &ns.to_lowercase()).unwrap())
}

fn raw() -> postgres::Client {
    postgres::Client::connect(&url(), postgres::NoTls).unwrap()
}

#[test]
fn tables_separate_apps_and_record_their_schema_version() {
    let _server = shared_server();
    let (ta, tb) = (namespace("ta"), namespace("tb"));
    let a = open(&ta, Duration::ZERO);
    let b = open(&tb, Duration::ZERO);
    a.save("k", &token("a"), None).unwrap();
    assert!(b.load("k").unwrap().is_none());
    assert!(b.keys().unwrap().is_empty());
    let mut con = raw();
    let row = con
        .query_one(
            &format!("SELECT value FROM \"{ta}_meta\" WHERE name = 'schema_version'"),
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "1");
    // Another schema version is refused, not used.
    con.execute(
        &format!("UPDATE \"{ta}_meta\" SET value = '99' WHERE name = 'schema_version'"),
        &[],
    )
    .unwrap();
    let error = PostgresStore::open_with_table(&url(), &ta).unwrap_err();
    assert!(error.to_string().contains("schema version"), "{error}");
    // A table of the same name that is not ours is refused too.
    let other = namespace("other");
    con.batch_execute(&format!("CREATE TABLE \"{other}\" (id int)"))
        .unwrap();
    assert!(PostgresStore::open_with_table(&url(), &other).is_err());
    // Bad names never reach SQL.
    assert!(PostgresStore::open_with_table(&url(), "x\"; DROP TABLE y; --").is_err());
}

#[test]
fn foreign_and_corrupt_values_are_refused_and_kept() {
    let _server = shared_server();
    let ns = namespace("foreign");
    let store = open(&ns, Duration::ZERO);
    let dump = |key: &str| {
        let (key, ns) = (key.to_owned(), ns.clone());
        move || {
            let row = raw()
                .query_one(
                    &format!("SELECT version, data FROM \"{ns}\" WHERE key = $1"),
                    &[&key],
                )
                .unwrap();
            format!("{}:{}", row.get::<_, i64>(0), row.get::<_, String>(1))
        }
    };
    let mut con = raw();
    // Corrupt (truncated JSON holding a secret that must not leak).
    store.save("c", &token("c"), None).unwrap();
    con.execute(
        &format!("UPDATE \"{ns}\" SET data = $1 WHERE key = 'c'"),
        &[&r#"{"key":"c","token":{"access_token":"at-secret"#],
    )
    .unwrap();
    contract_refuses_foreign_value(&*store, "c", &dump("c"), true);
    // Not ours: valid JSON of another shape.
    con.execute(
        &format!("INSERT INTO \"{ns}\" (key, version, data) VALUES ('f', 5, '[1,2]')"),
        &[],
    )
    .unwrap();
    contract_refuses_foreign_value(&*store, "f", &dump("f"), true);
    // The record of another key copied here.
    store.save("d", &token("d"), None).unwrap();
    store.save("e", &token("e"), None).unwrap();
    con.execute(
        &format!(
            "UPDATE \"{ns}\" SET data = (SELECT data FROM \"{ns}\" WHERE key = 'd') WHERE key = 'e'"
        ),
        &[],
    )
    .unwrap();
    contract_refuses_foreign_value(&*store, "e", &dump("e"), true);
    assert!(store.remove("c").unwrap());
    store.save("c", &token("c2"), None).unwrap();
}

#[test]
fn server_down_at_start_names_host_and_port_within_the_connect_timeout() {
    let _server = shared_server();
    server_down_at_start("postgres", 5432, "iop", &|url, connect_timeout| {
        let options = PostgresOptions {
            connect_timeout,
            ..PostgresOptions::default()
        };
        PostgresStore::open_with(url, options).map(drop)
    });
}

#[test]
fn wrong_password_is_a_clear_error_without_the_password() {
    let _server = shared_server();
    let good = url();
    let (head, tail) = good.split_once('@').unwrap();
    let (user_part, _) = head.rsplit_once(':').unwrap();
    let bad = format!("{user_part}:not-the-password-xyz@{tail}");
    let error = PostgresStore::open(&bad).unwrap_err().to_string();
    assert!(!error.contains("not-the-password-xyz"), "{error}");
    assert!(error.contains("password authentication failed"), "{error}");
    let store = PostgresStore::open(&good).unwrap();
    let text = format!("{store:?}");
    assert!(text.contains("postgres://127.0.0.1:"), "{text}");
    assert!(
        !text.contains(&head[head.rfind(':').unwrap() + 1..]),
        "{text}"
    );
}

#[test]
fn the_holder_s_first_load_is_what_taking_the_lock_read() {
    let _server = shared_server();
    let ns = namespace("read");
    let store = open(&ns, Duration::ZERO);
    let v1 = store.save("k", &token("k1"), None).unwrap();
    let lock = store.lock("k").unwrap();
    // Changed behind the store's back after the lock was taken: the first load under the lock
    // was answered in the lock's round trip, the next one asks the server.
    raw()
        .execute(
            &format!("UPDATE \"{ns}\" SET version = version + 1 WHERE key = 'k'"),
            &[],
        )
        .unwrap();
    assert_eq!(store.load("k").unwrap().unwrap().version, v1);
    assert_eq!(store.load("k").unwrap().unwrap().version, v1 + 1);
    drop(lock);
    // Not when someone else held the lock: then the holder waited, and reads afterwards.
    let other = open(&ns, Duration::ZERO);
    let held = other.lock("k").unwrap();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let _lock = store.lock("k").unwrap();
            store.load("k").unwrap().unwrap().version
        });
        std::thread::sleep(Duration::from_millis(200));
        let v = other.load("k").unwrap().unwrap().version;
        let v3 = other.save("k", &token("k3"), Some(v)).unwrap();
        drop(held);
        assert_eq!(waiter.join().unwrap(), v3);
    });
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
    kill_lease: Duration::from_secs(60),
    // No lease to wait for: the session ends with the process.
    kill_freed_within: Duration::from_secs(3),
    restart_env: "IOP_TEST_POSTGRES_RESTART",
    server: "postgres",
}
