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

/// `url()` with its query replaced by `query`.
fn url_with(query: &str) -> String {
    let base = url();
    let base = base.split_once('?').map_or(base.as_str(), |(base, _)| base);
    format!("{base}?{query}")
}

/// `ca_file=` of the test CA, percent-encoded.
fn ca_param() -> String {
    let ca = required_env("IOP_TEST_POSTGRES_CA");
    let encoded: String = url::form_urlencoded::byte_serialize(ca.as_bytes()).collect();
    format!("ca_file={encoded}")
}

fn options(table: &str) -> PostgresOptions {
    PostgresOptions {
        table: table.to_lowercase(),
        ..PostgresOptions::default()
    }
}

/// Whether every session the server has for `application_name` is over TLS (and one is).
fn sessions_use_tls(application_name: &str) -> bool {
    let rows = raw()
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
            &[&application_name],
        )
        .unwrap();
    !rows.is_empty() && rows.iter().all(|row| row.get::<_, bool>(0))
}

/// Opens a store on `dsn` in table `ns`, holds a lock (a session of its own) and says whether
/// the server sees its sessions over TLS.
fn opens_over_tls(dsn: &str, ns: &str, app: &str, options_: PostgresOptions) -> bool {
    let store = PostgresStore::open_with(
        &format!("{dsn}&application_name={app}"),
        PostgresOptions {
            table: ns.to_lowercase(),
            ..options_
        },
    )
    .unwrap();
    store.save("k", &token("tls"), None).ok();
    let _lock = store.lock("k").unwrap();
    assert_eq!(access(&store.load("k").unwrap().unwrap().token), "at-tls");
    sessions_use_tls(app)
}

#[test]
fn tls_verify_full_with_a_private_ca_and_what_each_sslmode_does() {
    let _server = shared_server();
    let ns = namespace("tls").to_lowercase();
    let ca = ca_param();
    // verify-full with the test CA: TLS, as the server sees it.
    assert!(opens_over_tls(
        &url_with(&format!("sslmode=verify-full&{ca}")),
        &ns,
        &format!("{ns}_full"),
        PostgresOptions::default()
    ));
    // prefer (the default) uses TLS when the server offers it, checked the same way.
    assert!(opens_over_tls(
        &url_with(&ca),
        &ns,
        &format!("{ns}_prefer"),
        PostgresOptions::default()
    ));
    // require checks the certificate too.
    assert!(opens_over_tls(
        &url_with(&format!("sslmode=require&{ca}")),
        &ns,
        &format!("{ns}_require"),
        PostgresOptions::default()
    ));
    // Without the CA the certificate is refused, by every mode that uses TLS (prefer does not
    // fall back to plain TCP after a failed check).
    for query in [
        "sslmode=verify-full",
        "sslmode=verify-ca",
        "sslmode=prefer",
        "",
    ] {
        let error = PostgresStore::open_with(&url_with(query), options(&ns))
            .unwrap_err()
            .to_string();
        assert!(
            error.to_lowercase().contains("certificate"),
            "{query}: {error}"
        );
        assert!(error.contains("127.0.0.1:"), "{error}");
    }
    // The certificate names 127.0.0.1 only: under the name localhost, verify-full refuses it
    // and verify-ca (the chain alone) takes it.
    let by_name = |query: &str| url_with(query).replacen("@127.0.0.1:", "@localhost:", 1);
    let error =
        PostgresStore::open_with(&by_name(&format!("sslmode=verify-full&{ca}")), options(&ns))
            .unwrap_err()
            .to_string();
    assert!(
        error.to_lowercase().contains("not valid for name"),
        "{error}"
    );
    assert!(opens_over_tls(
        &by_name(&format!("sslmode=verify-ca&{ca}")),
        &ns,
        &format!("{ns}_ca"),
        PostgresOptions::default()
    ));
    // A CA file that cannot be read is an error, not a fallback.
    let error = PostgresStore::open_with(
        &url_with("sslmode=verify-full&ca_file=/nonexistent/ca.pem"),
        options(&ns),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("/nonexistent/ca.pem"), "{error}");
    // The same through the one store-string parser.
    let store = iop_core::store::open(&url_with(&format!("sslmode=verify-full&{ca}"))).unwrap();
    store.keys().unwrap();
    // Plain TCP on loopback, when asked for: no TLS.
    let store = PostgresStore::open_with(
        &url_with(&format!("sslmode=disable&application_name={ns}_plain")),
        options(&ns),
    )
    .unwrap();
    let _lock = store.lock("k").unwrap();
    assert!(!sessions_use_tls(&format!("{ns}_plain")));
}

#[test]
fn plain_tcp_to_a_remote_host_needs_the_opt_in_and_never_sends_a_password_in_clear() {
    let _server = shared_server();
    let ns = namespace("remote").to_lowercase();
    let ca = ca_param();
    // The loopback server, treated as a host elsewhere.
    let remote = || PostgresOptions {
        treat_as_remote: true,
        ..options(&ns)
    };
    // sslmode=disable alone: refused before anything is sent.
    let error = PostgresStore::open_with(&url_with("sslmode=disable"), remote())
        .unwrap_err()
        .to_string();
    assert!(error.contains("insecure_plaintext=true"), "{error}");
    // prefer requires TLS there: with the CA it works over TLS, without it the certificate
    // is refused rather than the connection made in clear.
    assert!(opens_over_tls(
        &url_with(&ca),
        &ns,
        &format!("{ns}_r1"),
        remote()
    ));
    let error = PostgresStore::open_with(&url_with("sslmode=prefer"), remote())
        .unwrap_err()
        .to_string();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    // The opt-in: plain TCP, with a password the server checks by SCRAM (never sent).
    let plain = PostgresStore::open_with(
        &url_with(&format!(
            "sslmode=disable&insecure_plaintext=true&application_name={ns}_r2"
        )),
        remote(),
    )
    .unwrap();
    let _lock = plain.lock("k").unwrap();
    assert!(!sessions_use_tls(&format!("{ns}_r2")));
    // A server that asks for the password in clear over plain TCP: refused, even opted in.
    let cleartext = required_env("IOP_TEST_POSTGRES_CLEARTEXT_URL");
    let base = cleartext.split_once('?').unwrap().0;
    let error = PostgresStore::open_with(
        &format!("{base}?sslmode=disable&insecure_plaintext=true"),
        remote(),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("password in clear"), "{error}");
    let password = base.split_once('@').unwrap().0.rsplit_once(':').unwrap().1;
    assert!(!error.contains(password), "{error}");
    // The same user over TLS (the password travels encrypted), or with prefer and the opt-in
    // (the server offers TLS, so it is used): fine.
    let ns2 = namespace("remote2").to_lowercase();
    PostgresStore::open_with(
        &format!("{base}?sslmode=verify-full&{ca}"),
        PostgresOptions {
            treat_as_remote: true,
            ..options(&ns2)
        },
    )
    .unwrap();
    PostgresStore::open_with(
        &format!("{base}?insecure_plaintext=true&{ca}"),
        PostgresOptions {
            treat_as_remote: true,
            ..options(&ns2)
        },
    )
    .unwrap();
    // On loopback (no network in between) plain TCP is fine for it too.
    PostgresStore::open_with(&cleartext, options(&ns2)).unwrap();
}

#[test]
fn a_select_only_user_opens_the_store_and_never_refreshes() {
    let _server = shared_server();
    let ns = namespace("ro").to_lowercase();
    let writable = open(&ns, Duration::ZERO);
    let ro_url = required_env("IOP_TEST_POSTGRES_RO_URL");
    let table = ns.clone();
    an_unwritable_store_refreshes_nothing(
        writable,
        &move || Arc::new(PostgresStore::open_with_table(&ro_url, &table).unwrap()),
        &|| {
            raw()
                .batch_execute(&format!(
                    "GRANT SELECT ON \"{ns}\", \"{ns}_meta\" TO iop_ro"
                ))
                .unwrap();
        },
        &|f| f(),
    );
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
