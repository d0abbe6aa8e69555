//! [`PostgresStore`]: token sets in one PostgreSQL table, shared by every process and host that
//! uses the same database and table (feature `postgres`).
//!
//! - The table (default `iop_tokens`) is created on first use, with a `<table>_meta` table that
//!   records the schema version (1): `key text PRIMARY KEY, version bigint, data text` (the JSON
//!   record), `updated_at timestamptz`. `keys()` reads the primary key index. `<table>_seen`
//!   holds the markers of handled push messages ([`TokenStore::mark_seen`]).
//! - A save is one compare-and-swap statement (`UPDATE … WHERE key = $1 AND version = $expected`,
//!   or `INSERT … ON CONFLICT DO NOTHING` for a new key): a stale version is refused, whatever
//!   happened to the lock.
//! - A seller's lock is a session advisory lock (`pg_advisory_lock` on a hash of table and key),
//!   held on a connection of its own while locked: when the holder dies, its session ends and the
//!   server frees the lock. No lease, no TTL.
//! - Taking a free lock reads the seller's row in the same round trip (`pg_try_advisory_lock`,
//!   then a `SELECT` with a snapshot taken after it): the holder's next [`TokenStore::load`] of
//!   that key (on the thread that took the lock, while it holds it) is answered from that read,
//!   unless a save or remove of the key went through this store in between.
//!
//! - [`TokenStore::load_many`] is one `SELECT … WHERE key = ANY($1)`; a save under the lock
//!   ([`TokenStore::save_and_unlock`]) runs on the lock's own session as one round trip:
//!   `BEGIN; UPDATE …; COMMIT; SELECT pg_advisory_unlock(…)`, so the lock is released only once
//!   the new row is committed.
//!
//! **TLS** by rustls: `sslmode=verify-full` (or `require`) checks the certificate against the web
//! PKI roots, the system's and a CA file (`ca_file=` in the connection string, else the
//! `IOP_STORE_CA_FILE` environment variable) and the host name; `verify-ca` skips the host name;
//! `prefer` (the default, as in libpq) uses TLS when the server offers it (checked the same
//! way); `disable` never does. Plain TCP to a host that is not a loopback address or a Unix
//! socket needs `insecure_plaintext=true` besides (without it `disable` is refused and `prefer`
//! requires TLS), and even then a server that asks for the password in clear is refused.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use postgres::Statement;
use postgres::error::SqlState;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::postgres_tls::{self, ConnectError, Connector};
use crate::store::record::{
    check_key, decode_record, encode_record, next_version, store_error_from,
};
use crate::store::tls;
use crate::store::{
    KeyLock, StoredToken, TokenStore, conflict, load_in_one_batch, lock_ignoring_poison,
    store_error,
};
use crate::token::TokenSet;

mod seen;

/// The schema version this code writes and reads.
const SCHEMA_VERSION: &str = "1";

/// Connections kept idle for reuse, at most.
const MAX_IDLE: usize = 64;

/// The longest table name accepted.
const MAX_TABLE_NAME: usize = 48;

/// Options of a [`PostgresStore`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// The table (default `iop_tokens`): lowercase ASCII letters, digits and `_`, not starting
    /// with a digit, at most 48 characters. `<table>_meta` is used too.
    pub table: String,
    /// TCP connect timeout (default 5 s).
    pub connect_timeout: Duration,
    /// Longest a statement may run (`statement_timeout`) and a sent packet may stay
    /// unacknowledged (`tcp_user_timeout`) (default 10 s).
    pub read_timeout: Duration,
    /// How long [`TokenStore::lock`] waits for a lock held by someone else (default 5 minutes).
    pub lock_wait: Duration,
    /// How long a save keeps trying while the server cannot be reached (default 10 s): a
    /// refreshed token set whose refresh token the gateway has rotated exists nowhere else.
    pub save_retry: Duration,
    /// A CA file (PEM) trusted for TLS beside the web PKI and system roots. The connection
    /// string's `ca_file=` takes precedence; `None` (default): the
    /// [`crate::store::CA_FILE_ENV`] environment variable when it is set.
    pub ca_file: Option<std::path::PathBuf>,
    /// Tests only: treat every host as remote (the rules for plain TCP to a host that is not
    /// this machine, tried against a server on loopback).
    #[doc(hidden)]
    pub treat_as_remote: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            table: "iop_tokens".to_owned(),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            lock_wait: Duration::from_secs(300),
            save_retry: Duration::from_secs(10),
            ca_file: None,
            treat_as_remote: false,
        }
    }
}

/// Token sets in a PostgreSQL table, shared across processes and hosts; see the module docs.
///
/// `Debug` shows the server as `postgres://host:port/db`, never its password.
pub struct PostgresStore {
    config: postgres::Config,
    /// TLS and the rules for plain TCP.
    connector: Connector,
    endpoint: String,
    options: PostgresOptions,
    idle: Mutex<Vec<Conn>>,
    sql: Sql,
    /// Per key: the row read when its lock was taken, for the holder's next load.
    prefetched: Mutex<HashMap<String, Prefetched>>,
    /// Numbers the locks taken (to tell whose read a prefetched row is).
    lock_serial: AtomicU64,
    /// The sessions holding this store's locks, by lock serial number.
    held: Mutex<HashMap<u64, Held>>,
}

/// What one attempt at a lock did.
enum Took {
    /// Taken at once, with the row read after it (`None`: no row).
    Read(Option<(i64, String)>),
    /// Taken after waiting.
    Waited,
    /// Someone else holds it (not waited for).
    Busy,
}

/// The session of a held lock.
struct Held {
    conn: Conn,
    id: i64,
    /// Taking it proved that the row can be written (the read under it was `FOR UPDATE`).
    proven: bool,
}

/// What taking a lock read of the seller's row: (version, data), or `None` for no row.
struct Prefetched {
    thread: ThreadId,
    serial: u64,
    row: Option<(i64, String)>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("server", &self.endpoint)
            .field("table", &self.options.table)
            .finish_non_exhaustive()
    }
}

/// The statements, with the table name in them.
struct Sql {
    load: String,
    load_many: String,
    insert: String,
    update: String,
    keys: String,
    remove: String,
    check_save: String,
}

/// A connection with its prepared statements.
struct Conn {
    client: postgres::Client,
    prepared: HashMap<String, Statement>,
}

impl Conn {
    fn statement(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.prepared.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// Why [`PostgresStore::try_run`] failed.
enum Failure {
    Connect(postgres::Error),
    /// The server asks for the password in clear on plain TCP to a remote host.
    CleartextPassword,
    Command(postgres::Error),
}

impl Failure {
    /// Whether the server could not be reached (worth trying again later).
    fn is_unreachable(&self) -> bool {
        match self {
            Self::Connect(_) => true,
            Self::CleartextPassword => false,
            Self::Command(e) => is_connection_error(e),
        }
    }
}

fn is_connection_error(e: &postgres::Error) -> bool {
    e.is_closed()
        || e.as_db_error().is_none() && e.code().is_none()
        || matches!(
            e.code(),
            Some(
                &SqlState::ADMIN_SHUTDOWN
                    | &SqlState::CANNOT_CONNECT_NOW
                    | &SqlState::CRASH_SHUTDOWN
            )
        )
}

fn valid_table_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TABLE_NAME
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl PostgresStore {
    /// Connects to the database of `dsn` (`postgres://user:password@host:port/db` or
    /// `host=… user=… dbname=…`) with default [`PostgresOptions`], and creates the table on
    /// first use.
    ///
    /// Fails within the connect timeout, naming host and port, when the server does not answer;
    /// a wrong password or a missing permission is a clear error.
    pub fn open(dsn: &str) -> Result<Self> {
        Self::open_with(dsn, PostgresOptions::default())
    }

    /// [`Self::open`] with a table name.
    pub fn open_with_table(dsn: &str, table: &str) -> Result<Self> {
        Self::open_with(
            dsn,
            PostgresOptions {
                table: table.to_owned(),
                ..PostgresOptions::default()
            },
        )
    }

    /// [`Self::open`] with options. The connection string's `sslmode`, `ca_file` and
    /// `insecure_plaintext` are read by iop (see the module documentation), the rest by the
    /// driver.
    pub fn open_with(dsn: &str, options: PostgresOptions) -> Result<Self> {
        let invalid =
            |e: crate::Error| store_error("", format!("invalid PostgreSQL connection string: {e}"));
        let connection = postgres_tls::connection_options(dsn).map_err(invalid)?;
        let mut config = postgres::Config::from_str(&connection.driver_dsn)
            .map_err(|e| store_error_from("", "invalid PostgreSQL connection string", e))?;
        config.connect_timeout(options.connect_timeout);
        config.tcp_user_timeout(options.read_timeout);
        config.keepalives(true);
        if config.get_application_name().is_none() {
            config.application_name("iop");
        }
        let endpoint = endpoint_of(&config);
        let remote = options.treat_as_remote || !postgres_tls::is_local(&config);
        let ca_file = tls::ca_file(
            connection
                .ca_file
                .as_deref()
                .or(options.ca_file.as_deref().and_then(|path| path.to_str())),
        );
        let connector = Connector::new(
            &connection,
            &mut config,
            remote,
            ca_file.as_deref(),
            &endpoint,
        )?;
        if !valid_table_name(&options.table) {
            return Err(store_error(
                "",
                format!(
                    "invalid table name {:?} (lowercase letters, digits and _, not starting with \
                     a digit, at most {MAX_TABLE_NAME} characters)",
                    options.table
                ),
            ));
        }
        let t = &options.table;
        let sql = Sql {
            load: format!(r#"SELECT version, data FROM "{t}" WHERE key = $1"#),
            load_many: format!(r#"SELECT key, version, data FROM "{t}" WHERE key = ANY($1)"#),
            insert: format!(
                r#"INSERT INTO "{t}" (key, version, data) VALUES ($1, $2, $3)
                   ON CONFLICT (key) DO NOTHING"#
            ),
            update: format!(
                r#"UPDATE "{t}" SET version = $2, data = $3, updated_at = now()
                   WHERE key = $1 AND version = $4"#
            ),
            keys: format!(r#"SELECT key FROM "{t}" ORDER BY key"#),
            remove: format!(r#"DELETE FROM "{t}" WHERE key = $1"#),
            check_save: format!(r#"SELECT 1 FROM "{t}" WHERE key = $1 FOR UPDATE"#),
        };
        let store = Self {
            config,
            connector,
            endpoint,
            options,
            idle: Mutex::new(Vec::new()),
            sql,
            prefetched: Mutex::new(HashMap::new()),
            // 0 is "no serial" (`KeyLock::serial`'s default).
            lock_serial: AtomicU64::new(1),
            held: Mutex::new(HashMap::new()),
        };
        store.create_schema()?;
        store.create_seen_table()?;
        Ok(store)
    }

    /// The server, as `postgres://host:port/db` (no password).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The options.
    pub fn options(&self) -> &PostgresOptions {
        &self.options
    }

    /// Creates the tables if needed (serialized across processes by a transaction-level advisory
    /// lock) and checks the recorded schema version.
    fn create_schema(&self) -> Result<()> {
        let t = &self.options.table;
        let setup = format!(
            r#"BEGIN;
               SELECT pg_advisory_xact_lock({lock});
               CREATE TABLE IF NOT EXISTS "{t}" (
                   key text PRIMARY KEY,
                   version bigint NOT NULL,
                   data text NOT NULL,
                   updated_at timestamptz NOT NULL DEFAULT now());
               CREATE TABLE IF NOT EXISTS "{t}_meta" (name text PRIMARY KEY, value text NOT NULL);
               INSERT INTO "{t}_meta" (name, value) VALUES ('schema_version', '{SCHEMA_VERSION}')
                   ON CONFLICT (name) DO NOTHING;
               COMMIT;"#,
            lock = lock_id(t, "")
        );
        let read_version =
            |conn: &mut Conn| -> std::result::Result<Option<String>, postgres::Error> {
                let row = conn.client.query_opt(
                    &format!(r#"SELECT value FROM "{t}_meta" WHERE name = 'schema_version'"#),
                    &[],
                )?;
                // The columns we use must be there (a table of the same name made by someone else).
                conn.client.batch_execute(&format!(
                    r#"SELECT key, version, data, updated_at FROM "{t}" LIMIT 0"#
                ))?;
                Ok(row.map(|row| row.get::<_, String>(0)))
            };
        // Tables already made are only read: a user that may only read them (a monitoring
        // user, `iop tokens list`) opens the store too.
        let version: Option<String> = self.run("", "cannot create the token table", |conn| {
            match read_version(conn) {
                Ok(Some(version)) => return Ok(Some(version)),
                Ok(None) => {}
                Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {}
                Err(e) => return Err(e),
            }
            conn.client.batch_execute(&setup)?;
            read_version(conn)
        })?;
        match version.as_deref() {
            Some(SCHEMA_VERSION) => Ok(()),
            other => Err(store_error(
                "",
                format!(
                    "table {t} has schema version {other:?}; this version of iop reads \
                     {SCHEMA_VERSION}"
                ),
            )),
        }
    }

    fn connect(&self) -> std::result::Result<Conn, Failure> {
        let mut client = self
            .connector
            .connect(&self.config, self.options.connect_timeout)
            .map_err(|e| match e {
                ConnectError::Driver(e) => Failure::Connect(e),
                ConnectError::CleartextPassword => Failure::CleartextPassword,
            })?;
        client
            .batch_execute(&format!(
                "SET statement_timeout = {}",
                self.options.read_timeout.as_millis()
            ))
            .map_err(Failure::Connect)?;
        Ok(Conn {
            client,
            prepared: HashMap::new(),
        })
    }

    fn take(&self) -> Option<Conn> {
        let mut idle = lock_ignoring_poison(&self.idle);
        while let Some(conn) = idle.pop() {
            if !conn.client.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    fn give_back(&self, conn: Conn) {
        let mut idle = lock_ignoring_poison(&self.idle);
        if idle.len() < MAX_IDLE && !conn.client.is_closed() {
            idle.push(conn);
        }
    }

    fn run<T>(
        &self,
        key: &str,
        what: &str,
        f: impl FnMut(&mut Conn) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        self.try_run(f)
            .map_err(|failure| self.error(key, what, failure))
    }

    /// Runs `f` on an idle connection (or a new one). A connection that fails is dropped; when a
    /// reused one turns out dead (server restarted), `f` runs once more on a new connection.
    fn try_run<T>(
        &self,
        mut f: impl FnMut(&mut Conn) -> std::result::Result<T, postgres::Error>,
    ) -> std::result::Result<T, Failure> {
        if let Some(mut conn) = self.take() {
            match f(&mut conn) {
                Ok(value) => {
                    self.give_back(conn);
                    return Ok(value);
                }
                Err(e) if is_connection_error(&e) => {
                    log::debug!(
                        "postgres {}: dropping a dead connection ({e})",
                        self.endpoint
                    );
                }
                // The session may be left in a failed transaction: not reused.
                Err(e) => return Err(Failure::Command(e)),
            }
        }
        let mut conn = self.connect()?;
        let value = f(&mut conn).map_err(Failure::Command)?;
        self.give_back(conn);
        Ok(value)
    }

    /// Forgets what a lock read of `key` (a write of `key` went through this store).
    fn forget_prefetched(&self, key: &str) {
        lock_ignoring_poison(&self.prefetched).remove(key);
    }

    /// The row read under this thread's lock of `key`, once (`Some(None)`: there was none).
    fn take_prefetched(&self, key: &str) -> Option<Option<(i64, String)>> {
        let mut prefetched = lock_ignoring_poison(&self.prefetched);
        match prefetched.get(key) {
            Some(entry) if entry.thread == std::thread::current().id() => {
                prefetched.remove(key).map(|entry| entry.row)
            }
            _ => None,
        }
    }

    /// Tries the lock of `key` without waiting and, when taken, reads its row after it, in one
    /// round trip. `Ok(None)`: someone else holds the lock.
    fn try_lock_and_read(
        &self,
        conn: &mut Conn,
        id: i64,
        key: &str,
    ) -> std::result::Result<Option<Option<(i64, String)>>, postgres::Error> {
        // Two statements, so that the read's snapshot is taken after the lock. The key goes in
        // as an escape string literal (every backslash and quote doubled: nothing of it is SQL,
        // whatever `standard_conforming_strings` says); a key with a NUL byte, which no text
        // holds, takes the waiting path.
        if key.contains('\0') {
            return Ok(None);
        }
        let literal = key.replace('\\', "\\\\").replace('\'', "''");
        // `FOR UPDATE` proves that this session may write the row ([`TokenStore::check_save`]):
        // it is refused without UPDATE privilege, in a read-only transaction, on a replica.
        let sql = format!(
            r#"SELECT pg_try_advisory_lock({id}); SELECT version, data FROM "{t}" WHERE key = E'{literal}' FOR UPDATE"#,
            t = self.options.table,
        );
        let rows: Vec<postgres::SimpleQueryRow> = conn
            .client
            .simple_query(&sql)?
            .into_iter()
            .filter_map(|message| match message {
                postgres::SimpleQueryMessage::Row(row) => Some(row),
                _ => None,
            })
            .collect();
        let mut rows = rows.into_iter();
        let taken = rows.next().and_then(|row| row.get(0).map(|v| v == "t"));
        if taken != Some(true) {
            return Ok(None);
        }
        Ok(Some(rows.next().and_then(|row| {
            let version = row.get(0)?.parse::<i64>().ok()?;
            Some((version, row.get(1)?.to_owned()))
        })))
    }

    fn error(&self, key: &str, what: &str, failure: Failure) -> Error {
        let (what, e) = match failure {
            Failure::CleartextPassword => {
                return store_error(
                    key,
                    format!(
                        "postgres {}: the server asks for the password in clear on a connection \
                         that is not encrypted; refused (use TLS: sslmode=verify-full, or \
                         scram-sha-256 in pg_hba.conf)",
                        self.endpoint
                    ),
                );
            }
            Failure::Connect(e) => (
                format!(
                    "postgres {}: cannot connect (within {:?})",
                    self.endpoint, self.options.connect_timeout
                ),
                e,
            ),
            Failure::Command(e) => (format!("postgres {}: {what}", self.endpoint), e),
        };
        // The driver's own text of a server error is just "db error": say what the server said;
        // of other errors it is the kind only ("error performing TLS handshake"): add the causes
        // (a certificate refused, a connection refused). None of them holds a password.
        let what = match e.as_db_error() {
            Some(db) => format!("{what}: {} ({})", db.message(), db.code().code()),
            None => {
                let mut what = what;
                let mut cause = std::error::Error::source(&e);
                let mut first = true;
                while let Some(c) = cause {
                    if first {
                        what = format!("{what}: {e}");
                        first = false;
                    }
                    what = format!("{what}: {c}");
                    cause = c.source();
                }
                if !first {
                    return Error::Store {
                        key: key.to_owned(),
                        message: what,
                        source: Some(Box::new(e)),
                    };
                }
                what
            }
        };
        store_error_from(key, what, e)
    }
}

impl PostgresStore {
    /// The error of a server that refuses to let this session write the row of `key`.
    fn cannot_save(&self, key: &str, e: postgres::Error) -> Error {
        self.error(
            key,
            "cannot write the token row (a refresh, which rotates the refresh token, is not \
             attempted)",
            Failure::Command(e),
        )
    }
}

/// `postgres://host:port/db` of a config: what messages show of the server.
fn endpoint_of(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or_default();
    // Through the one URL redaction: a host the driver took from a password holding an
    // unencoded `@` is hidden with it.
    crate::redact::url(&format!("postgres://{host}:{port}/{db}"))
}

/// The advisory lock id of `key` in `table`: the first 8 bytes of a SHA-256 (a collision only
/// makes two sellers share a lock).
fn lock_id(table: &str, key: &str) -> i64 {
    let digest = Sha256::new()
        .chain_update(b"iop-lock\0")
        .chain_update(table.as_bytes())
        .chain_update(b"\0")
        .chain_update(key.as_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

fn version_of(key: &str, version: i64) -> Result<u64> {
    u64::try_from(version)
        .map_err(|_| store_error(key, "the stored version is negative; it is left as it is"))
}

fn to_db_version(key: &str, version: u64) -> Result<i64> {
    i64::try_from(version).map_err(|_| store_error(key, "version out of range"))
}

/// `text` as an escape string literal (`E'…'`, every backslash and quote doubled: nothing of it
/// is SQL, whatever `standard_conforming_strings` says). `text` must hold no NUL.
fn escape_literal(text: &str) -> String {
    format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// The advisory lock of one seller of a [`PostgresStore`], held by its own connection (session);
/// unlocked on drop, or freed by the server when the session ends.
struct PostgresKeyLock<'a> {
    store: &'a PostgresStore,
    key: String,
    /// Its session is in the store's `held` table under this number.
    serial: u64,
}

impl KeyLock for PostgresKeyLock<'_> {
    fn serial(&self) -> u64 {
        self.serial
    }
}

impl Drop for PostgresKeyLock<'_> {
    fn drop(&mut self) {
        {
            let mut prefetched = lock_ignoring_poison(&self.store.prefetched);
            if prefetched
                .get(&self.key)
                .is_some_and(|entry| entry.serial == self.serial)
            {
                prefetched.remove(&self.key);
            }
        }
        // Gone: released with a save (`save_and_unlock`).
        let Some(Held { mut conn, id, .. }) =
            lock_ignoring_poison(&self.store.held).remove(&self.serial)
        else {
            return;
        };
        match conn
            .client
            .query_one("SELECT pg_advisory_unlock($1)", &[&id])
        {
            Ok(row) if row.get::<_, bool>(0) => self.store.give_back(conn),
            // Not held any more (the session was replaced?) or the server is gone: closing the
            // session frees whatever it holds.
            Ok(_) | Err(_) => drop(conn),
        }
    }
}

impl TokenStore for PostgresStore {
    fn load(&self, key: &str) -> Result<Option<StoredToken>> {
        check_key(key)?;
        let row = match self.take_prefetched(key) {
            Some(row) => row,
            None => self
                .run(key, "cannot load", |conn| {
                    let statement = conn.statement(&self.sql.load)?;
                    conn.client.query_opt(&statement, &[&key])
                })?
                .map(|row| (row.get::<_, i64>(0), row.get::<_, String>(1))),
        };
        self.decode_row(key, row)
    }

    /// One query for all of `keys` (the prefetched row of a key this thread holds the lock of
    /// is used as [`Self::load`] would).
    fn load_many(&self, keys: &[String]) -> Vec<Result<Option<StoredToken>>> {
        let known = |key: &str| match check_key(key) {
            Err(error) => Some(Err(error)),
            Ok(()) => self
                .take_prefetched(key)
                .map(|row| self.decode_row(key, row)),
        };
        load_in_one_batch(keys, known, |asked| {
            let rows = self.run("", "cannot load", |conn| {
                let statement = conn.statement(&self.sql.load_many)?;
                conn.client.query(&statement, &[&asked])
            })?;
            let found: HashMap<String, (i64, String)> = rows
                .into_iter()
                .map(|row| (row.get(0), (row.get(1), row.get(2))))
                .collect();
            Ok(asked
                .iter()
                .map(|key| self.decode_row(key, found.get(*key).cloned()))
                .collect())
        })
    }

    fn save(&self, key: &str, token: &TokenSet, expected_version: Option<u64>) -> Result<u64> {
        check_key(key)?;
        let record = encode_record(key, token)?;
        self.forget_prefetched(key);
        let version = next_version(expected_version);
        self.save_record(key, &record, version, expected_version, 0)
    }

    /// Saves and unlocks on the lock's own session in one round trip (`BEGIN; UPDATE …;
    /// COMMIT; SELECT pg_advisory_unlock(…)`): the lock is released only after the new row is
    /// committed. A new key (`expected_version` `None`), or a lock not of this store, takes
    /// the plain way.
    fn save_and_unlock<'a>(
        &'a self,
        key: &str,
        token: &TokenSet,
        expected_version: Option<u64>,
        lock: Box<dyn KeyLock + 'a>,
    ) -> Result<u64> {
        let plain = |lock: Box<dyn KeyLock + 'a>| {
            let saved = self.save(key, token, expected_version);
            drop(lock);
            saved
        };
        let Some(expected_version) = expected_version else {
            return plain(lock);
        };
        check_key(key)?;
        let record = encode_record(key, token)?;
        if key.contains('\0') || record.contains('\0') {
            return plain(lock);
        }
        let id = lock_id(&self.options.table, key);
        let session = {
            let mut held = lock_ignoring_poison(&self.held);
            match held.get(&lock.serial()) {
                Some(session) if session.id == id => held.remove(&lock.serial()),
                _ => None,
            }
        };
        let Some(Held { mut conn, .. }) = session else {
            return plain(lock);
        };
        // The session is out of the table: the lock's drop leaves it to this call (unless it
        // is put back below).
        self.forget_prefetched(key);
        let version = next_version(Some(expected_version));
        let new = to_db_version(key, version)?;
        let expected = to_db_version(key, expected_version)?;
        let sql = format!(
            r#"BEGIN; UPDATE "{t}" SET version = {new}, data = {data}, updated_at = now() WHERE key = {k} AND version = {expected}; COMMIT; SELECT pg_advisory_unlock({id})"#,
            t = self.options.table,
            data = escape_literal(&record),
            k = escape_literal(key),
        );
        match conn.client.simple_query(&sql) {
            Ok(messages) => {
                // BEGIN, UPDATE, COMMIT, SELECT: the second count is the UPDATE's.
                let written = messages
                    .iter()
                    .filter_map(|message| match message {
                        postgres::SimpleQueryMessage::CommandComplete(rows) => Some(*rows),
                        _ => None,
                    })
                    .nth(1);
                let unlocked = messages.iter().any(|message| {
                    matches!(message, postgres::SimpleQueryMessage::Row(row) if row.get(0) == Some("t"))
                });
                if unlocked {
                    self.give_back(conn);
                }
                drop(lock);
                if written == Some(1) {
                    return Ok(version);
                }
                let found = self.run(key, "cannot save", |conn| {
                    let statement = conn.statement(&self.sql.load)?;
                    conn.client.query_opt(&statement, &[&key])
                })?;
                Err(conflict(
                    key,
                    Some(expected_version),
                    found.and_then(|row| u64::try_from(row.get::<_, i64>(0)).ok()),
                ))
            }
            // The UPDATE may have committed before the failure (the connection lost, the
            // unlock refused): the plain save, as a repeated attempt, recognizes its own write,
            // or makes it, or says why it cannot, with the lock held until then. A session that
            // still answers is rolled back and holds the lock again (the lock's drop unlocks it
            // after the save); a dead one has lost the lock with it.
            Err(e) => {
                // The error's code only: a server message may quote the statement, and this
                // one holds the token record.
                let code = e.code().map_or("no SQLSTATE", |code| code.code());
                log::debug!(
                    "postgres {}: save and unlock failed ({code}); saving again",
                    self.endpoint
                );
                if !conn.client.is_closed() && conn.client.batch_execute("ROLLBACK").is_ok() {
                    lock_ignoring_poison(&self.held).insert(
                        lock.serial(),
                        Held {
                            conn,
                            id,
                            proven: false,
                        },
                    );
                } else {
                    drop(conn);
                }
                let saved = self.save_record(key, &record, version, Some(expected_version), 1);
                drop(lock);
                saved
            }
        }
    }

    fn keys(&self) -> Result<Vec<String>> {
        let rows = self.run("", "cannot list the keys", |conn| {
            let statement = conn.statement(&self.sql.keys)?;
            conn.client.query(&statement, &[])
        })?;
        Ok(rows.into_iter().map(|row| row.get(0)).collect())
    }

    fn lock(&self, key: &str) -> Result<Box<dyn KeyLock + '_>> {
        self.acquire(key, true)?
            .ok_or_else(|| store_error(key, "the lock was not taken"))
    }

    /// Taking the lock proved it when it read the row (`SELECT … FOR UPDATE`, refused without
    /// UPDATE privilege, in a read-only transaction, on a replica); otherwise (a lock taken
    /// after waiting, or not of this store) the same `SELECT … FOR UPDATE` now, on the lock's
    /// session when there is one.
    fn check_save(&self, key: &str, stored: &StoredToken, lock: &dyn KeyLock) -> Result<u64> {
        check_key(key)?;
        let id = lock_id(&self.options.table, key);
        let session = {
            let mut held = lock_ignoring_poison(&self.held);
            match held.get(&lock.serial()) {
                Some(session) if session.id == id && session.proven => return Ok(stored.version),
                Some(session) if session.id == id => held.remove(&lock.serial()),
                _ => None,
            }
        };
        let check = |conn: &mut Conn| {
            let statement = conn.statement(&self.sql.check_save)?;
            conn.client.query_opt(&statement, &[&key])
        };
        let found = match session {
            Some(mut session) => {
                let found = check(&mut session.conn);
                if found.is_ok() {
                    session.proven = true;
                    lock_ignoring_poison(&self.held).insert(lock.serial(), session);
                }
                // A session that failed is dropped, and its lock with it: the caller's lock
                // is lost, and the caller fails.
                found.map_err(|e| self.cannot_save(key, e))?
            }
            None => self.try_run(check).map_err(|failure| match failure {
                Failure::Command(e) if !is_connection_error(&e) => self.cannot_save(key, e),
                failure => self.error(key, "cannot check the save", failure),
            })?,
        };
        match found {
            Some(_) => Ok(stored.version),
            None => Err(conflict(key, Some(stored.version), None)),
        }
    }

    /// One `pg_try_advisory_lock`, reading the row in the same round trip when taken.
    fn try_lock(&self, key: &str) -> Result<Option<Box<dyn KeyLock + '_>>> {
        self.acquire(key, false)
    }

    /// One `INSERT … ON CONFLICT` into `<table>_seen` (see the `seen` module).
    fn mark_seen(&self, marker: &str, ttl: Duration) -> Result<bool> {
        self.mark_seen_in_table(marker, ttl)
    }

    fn remove(&self, key: &str) -> Result<bool> {
        check_key(key)?;
        self.forget_prefetched(key);
        let removed = self.run(key, "cannot remove", |conn| {
            let statement = conn.statement(&self.sql.remove)?;
            conn.client.execute(&statement, &[&key])
        })?;
        Ok(removed > 0)
    }
}

impl PostgresStore {
    /// Takes the lock of `key`: waiting up to `lock_wait`, or with `wait` false one attempt
    /// (`None`: someone else holds it).
    fn acquire(&self, key: &str, wait: bool) -> Result<Option<Box<dyn KeyLock + '_>>> {
        check_key(key)?;
        let id = lock_id(&self.options.table, key);
        // Wait on the server (woken as soon as the holder unlocks or its session ends), up to
        // `lock_wait`, on a connection that then holds the lock.
        let wait_sql = format!(
            "SET statement_timeout = {}; SELECT pg_advisory_lock({id}); SET statement_timeout = {}",
            self.options.lock_wait.as_millis(),
            self.options.read_timeout.as_millis()
        );
        // First without waiting, reading the row in the same round trip; when someone else
        // holds it, waiting (when asked to).
        let take = |conn: &mut Conn| match self.try_lock_and_read(conn, id, key)? {
            Some(read) => Ok(Took::Read(read)),
            None if wait => conn.client.batch_execute(&wait_sql).map(|()| Took::Waited),
            None => Ok(Took::Busy),
        };
        let mut conn = match self.take() {
            Some(conn) => conn,
            None => self
                .connect()
                .map_err(|failure| self.error(key, "cannot lock", failure))?,
        };
        let took = match take(&mut conn) {
            Ok(took) => took,
            Err(e) => {
                // Whatever happened, this session must not stay around holding or waiting.
                drop(conn);
                if e.code() == Some(&SqlState::QUERY_CANCELED) {
                    return Err(store_error(
                        key,
                        format!(
                            "timed out after {:?} waiting for the lock (another worker holds it)",
                            self.options.lock_wait
                        ),
                    ));
                }
                if matches!(
                    e.code(),
                    Some(&SqlState::INSUFFICIENT_PRIVILEGE | &SqlState::READ_ONLY_SQL_TRANSACTION)
                ) {
                    return Err(self.cannot_save(key, e));
                }
                if !is_connection_error(&e) {
                    return Err(self.error(key, "cannot lock", Failure::Command(e)));
                }
                // A dead pooled connection: try once on a new one.
                conn = self
                    .connect()
                    .map_err(|failure| self.error(key, "cannot lock", failure))?;
                match take(&mut conn) {
                    Ok(took) => took,
                    Err(e) => return Err(self.error(key, "cannot lock", Failure::Command(e))),
                }
            }
        };
        let serial = self.lock_serial.fetch_add(1, Ordering::Relaxed);
        let proven = matches!(took, Took::Read(_));
        match took {
            Took::Busy => {
                self.give_back(conn);
                return Ok(None);
            }
            Took::Waited => {}
            Took::Read(row) => {
                lock_ignoring_poison(&self.prefetched).insert(
                    key.to_owned(),
                    Prefetched {
                        thread: std::thread::current().id(),
                        serial,
                        row,
                    },
                );
            }
        }
        lock_ignoring_poison(&self.held).insert(serial, Held { conn, id, proven });
        Ok(Some(Box::new(PostgresKeyLock {
            store: self,
            key: key.to_owned(),
            serial,
        })))
    }

    /// The token set of a row of `key` (`(version, data)`), or `None` for no row.
    fn decode_row(&self, key: &str, row: Option<(i64, String)>) -> Result<Option<StoredToken>> {
        let Some((version, data)) = row else {
            return Ok(None);
        };
        let version = version_of(key, version)?;
        let where_ = format!("{} row {key:?}", self.options.table);
        let token = decode_record(key, &where_, data.as_bytes())?;
        Ok(Some(StoredToken { token, version }))
    }

    /// The compare-and-swap of `record` at `version` over `expected_version`, retried while
    /// the server cannot be reached; `earlier` attempts were made already (a repeated attempt
    /// may find its own write).
    fn save_record(
        &self,
        key: &str,
        record: &str,
        version: u64,
        expected_version: Option<u64>,
        earlier: u32,
    ) -> Result<u64> {
        let new = to_db_version(key, version)?;
        let expected = expected_version
            .map(|v| to_db_version(key, v))
            .transpose()?;
        let started = Instant::now();
        // Attempts so far: only a repeated one may find its own earlier write (below).
        let mut attempts = earlier;
        // A refreshed token set must not be lost to a short outage: while the server cannot be
        // reached, keep trying (a repeated save recognizes its own write below).
        let outcome = loop {
            let attempt = self.try_run(|conn| {
                attempts += 1;
                let repeated = attempts > 1;
                let written = match expected {
                    None => {
                        let statement = conn.statement(&self.sql.insert)?;
                        conn.client.execute(&statement, &[&key, &new, &record])?
                    }
                    Some(expected) => {
                        let statement = conn.statement(&self.sql.update)?;
                        conn.client
                            .execute(&statement, &[&key, &new, &record, &expected])?
                    }
                };
                if written == 1 {
                    return Ok(None);
                }
                let statement = conn.statement(&self.sql.load)?;
                let row = conn.client.query_opt(&statement, &[&key])?;
                let found = row.map(|row| (row.get::<_, i64>(0), row.get::<_, String>(1)));
                // A first attempt that wrote nothing lost, whatever is stored: another writer
                // that loaded the same version computes the same next one, and may even save
                // the same record; that is not this call's write.
                if repeated
                    && let Some((version, data)) = &found
                    && *version == new
                    && *data == record
                {
                    return Ok(None);
                }
                Ok(Some(found.map(|(version, _)| version)))
            });
            match attempt {
                Ok(outcome) => break outcome,
                Err(failure)
                    if failure.is_unreachable() && started.elapsed() < self.options.save_retry =>
                {
                    log::warn!(
                        "postgres {}: cannot save the token of {key} yet; retrying",
                        self.endpoint
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(failure) => return Err(self.error(key, "cannot save", failure)),
            }
        };
        match outcome {
            // Written (or, on a repeated attempt, found written by the first).
            None => Ok(version),
            Some(found) => Err(conflict(
                key,
                expected_version,
                found.and_then(|v| u64::try_from(v).ok()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{lock_id, valid_table_name};

    #[test]
    fn table_names_are_plain_identifiers() {
        for good in ["iop_tokens", "t", "_x1", &"a".repeat(48)] {
            assert!(valid_table_name(good), "{good}");
        }
        for bad in ["", "1t", "T", "a-b", "a b", "a\"; drop", &"a".repeat(49)] {
            assert!(!valid_table_name(bad), "{bad}");
        }
    }

    #[test]
    fn lock_ids_differ_per_table_and_key() {
        assert_ne!(lock_id("t", "a"), lock_id("t", "b"));
        assert_ne!(lock_id("t", "a"), lock_id("u", "a"));
        assert_ne!(lock_id("ta", ""), lock_id("t", "a"));
        assert_eq!(lock_id("t", "a"), lock_id("t", "a"));
    }
}
