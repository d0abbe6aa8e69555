//! One way to name a token store everywhere: [`open`] takes `memory:`, a directory path,
//! `redis://…`/`rediss://…` (feature `redis`) or `postgres://…`/`postgresql://…` (feature
//! `postgres`).
//!
//! Also the pieces the network stores share: the record they keep per key, versions, and
//! error helpers that never quote a password.

use std::sync::Arc;

#[cfg(any(feature = "redis", feature = "postgres"))]
use crate::error::Error;
use crate::error::Result;
use crate::store::{FileStore, MemoryStore, TokenStore, store_error};
#[cfg(any(feature = "redis", feature = "postgres"))]
use crate::token::TokenSet;

/// Opens the store named by `url`:
///
/// - `memory:` → [`MemoryStore`] (this process only);
/// - `redis://[user:password@]host[:port][/db]`, `rediss://…` (TLS) →
///   [`crate::store::redis::RedisStore`] (feature `redis`);
/// - `postgres://…`, `postgresql://…` → [`crate::store::postgres::PostgresStore`] (feature
///   `postgres`);
/// - anything else without `://` → a directory for [`FileStore`] (`file:` may prefix it).
///
/// Errors ([`Error::Store`] with an empty key): an unknown scheme, a scheme whose feature is not
/// built in, or a store that cannot be opened (a server that does not answer within the connect
/// timeout: the message names host and port). Passwords never appear in the message.
pub fn open(url: &str) -> Result<Arc<dyn TokenStore>> {
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(store_error("", "empty store URL"));
    }
    if trimmed == "memory:" || trimmed == "memory://" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    let scheme = trimmed
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("redis" | "rediss") => open_redis(trimmed),
        Some("postgres" | "postgresql") => open_postgres(trimmed),
        Some("file") => Ok(Arc::new(FileStore::open(&trimmed["file://".len()..])?)),
        Some(other) => Err(store_error(
            "",
            format!(
                "unknown store URL scheme {other:?} (use memory:, a directory, redis://, \
                 rediss://, postgres:// or postgresql://)"
            ),
        )),
        None => {
            let path = trimmed.strip_prefix("file:").unwrap_or(trimmed);
            Ok(Arc::new(FileStore::open(path)?))
        }
    }
}

#[cfg(feature = "redis")]
fn open_redis(url: &str) -> Result<Arc<dyn TokenStore>> {
    Ok(Arc::new(crate::store::redis::RedisStore::open(url)?))
}

#[cfg(not(feature = "redis"))]
fn open_redis(_url: &str) -> Result<Arc<dyn TokenStore>> {
    Err(store_error(
        "",
        "this build has no Redis store (cargo feature `redis` of iop-core)",
    ))
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str) -> Result<Arc<dyn TokenStore>> {
    Ok(Arc::new(crate::store::postgres::PostgresStore::open(url)?))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(_url: &str) -> Result<Arc<dyn TokenStore>> {
    Err(store_error(
        "",
        "this build has no PostgreSQL store (cargo feature `postgres` of iop-core)",
    ))
}

/// A [`Error::Store`] about `key` with its cause. The cause's text goes into the message too:
/// callers pass only driver errors, which carry no password.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn store_error_from(
    key: &str,
    message: impl std::fmt::Display,
    source: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::Store {
        key: key.to_owned(),
        message: format!("{message}: {source}"),
        source: Some(Box::new(source)),
    }
}

/// The version a save writes after `current`: a random step up (so that no two writers from
/// one version ever write the same version, and a retried save can tell its own write), or for
/// a new key a random start. Versions stay below 2^53: exact in Lua's doubles and in a signed
/// 64-bit column.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn next_version(current: Option<u64>) -> u64 {
    const LIMIT: u64 = 1 << 53;
    match current.and_then(|v| v.checked_add(fastrand::u64(1..=1 << 20))) {
        Some(next) if next < LIMIT => next,
        _ => loop {
            let start = fastrand::u64(1..1 << 48);
            if Some(start) != current {
                break start;
            }
        },
    }
}

/// The longest key the network stores accept, in bytes.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) const MAX_KEY_BYTES: usize = 1024;

/// Refuses keys the network stores do not keep: empty, or longer than [`MAX_KEY_BYTES`].
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(store_error(key, "empty key"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(store_error(
            key,
            format!("key longer than {MAX_KEY_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// The record a network store keeps per key: `{"key": "k", "token": {…}}` (the key inside, so
/// that a record copied under another key is noticed).
#[cfg(any(feature = "redis", feature = "postgres"))]
#[derive(serde::Serialize)]
struct RecordOut<'a> {
    key: &'a str,
    token: &'a TokenSet,
}

#[cfg(any(feature = "redis", feature = "postgres"))]
#[derive(serde::Deserialize)]
struct RecordIn {
    key: String,
    token: TokenSet,
}

/// The JSON record of `token` under `key`.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn encode_record(key: &str, token: &TokenSet) -> Result<String> {
    serde_json::to_string(&RecordOut { key, token })
        .map_err(|e| store_error(key, format!("cannot serialize the token set: {e}")))
}

/// The token set of a stored record; a record that does not parse, or belongs to another key,
/// is an error naming the key (never quoting the content: it may hold secrets).
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn decode_record(key: &str, where_: &str, data: &[u8]) -> Result<TokenSet> {
    match serde_json::from_slice::<RecordIn>(data) {
        Ok(record) if record.key == key => Ok(record.token),
        Ok(_) => Err(store_error(
            key,
            format!("the record at {where_} belongs to another key; it is left as it is"),
        )),
        Err(e) => Err(store_error(
            key,
            format!(
                "the record at {where_} is corrupted or not an iop token record ({:?} error at \
                 line {} column {}); it is left as it is",
                e.classify(),
                e.line(),
                e.column()
            ),
        )),
    }
}

/// `scheme://host:port/path` of a URL, without user, password, query or fragment: what
/// messages and `Debug` show of a server.
#[cfg(feature = "redis")]
pub(crate) fn redacted_endpoint(url: &url::Url, default_port: u16) -> String {
    let host = url.host_str().unwrap_or("localhost");
    let port = url.port().unwrap_or(default_port);
    let path = url.path().trim_end_matches('/');
    format!("{}://{host}:{port}{path}", url.scheme())
}

#[cfg(test)]
mod tests {
    use super::open;

    #[test]
    fn unknown_schemes_and_empty_urls_are_refused() {
        for url in ["", "  ", "mysql://u:hunter2@db/x", "http://x"] {
            let error = open(url).err().unwrap().to_string();
            assert!(!error.contains("hunter2"), "{error}");
            assert!(error.contains("store URL"), "{error}");
        }
    }

    #[test]
    fn memory_and_directories_open() {
        let store = open("memory:").unwrap();
        assert!(store.keys().unwrap().is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let store = open(path.to_str().unwrap()).unwrap();
        assert!(store.keys().unwrap().is_empty());
        assert!(path.is_dir());
        let store = open(&format!("file:{}", dir.path().join("t2").display())).unwrap();
        assert!(store.keys().unwrap().is_empty());
    }
}
