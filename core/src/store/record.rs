//! What the network stores (Redis, PostgreSQL) share: the record they keep per key, the
//! versions they write, the keys they accept, and error helpers that never quote a password.

use crate::error::{Error, Result};
use crate::store::store_error;
use crate::token::TokenSet;

/// A [`Error::Store`] about `key` with its cause. The cause's text goes into the message too:
/// callers pass only driver errors, which carry no password.
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
pub(crate) const MAX_KEY_BYTES: usize = 1024;

/// Refuses keys the network stores do not keep: empty, or longer than [`MAX_KEY_BYTES`].
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
#[derive(serde::Serialize)]
struct RecordOut<'a> {
    key: &'a str,
    token: &'a TokenSet,
}

#[derive(serde::Deserialize)]
struct RecordIn {
    key: String,
    token: TokenSet,
}

/// The JSON record of `token` under `key`.
pub(crate) fn encode_record(key: &str, token: &TokenSet) -> Result<String> {
    serde_json::to_string(&RecordOut { key, token })
        .map_err(|e| store_error(key, format!("cannot serialize the token set: {e}")))
}

/// The token set of a stored record; a record that does not parse, or belongs to another key,
/// is an error naming the key (never quoting the content: it may hold secrets).
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
