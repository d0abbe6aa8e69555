//! The one parser of store strings ([`parse`]) and [`open`]: Rust, C
//! (`iop_manager_new`/`iop_manager_open`), Python (`iop.open_store`) and the CLI (`--store`) all
//! go through it, so a string means the same thing everywhere.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::redact;
use crate::store::{FileStore, MemoryStore, TokenStore, store_error};

/// What a store string names, as [`parse`] decided it (nothing is opened yet).
///
/// `Debug` shows server URLs as [`redact::url`] does: never a password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreLocation {
    /// `memory:`: a [`MemoryStore`].
    Memory,
    /// A directory for a [`FileStore`].
    Directory(PathBuf),
    /// `redis://…` or `rediss://…`: the URL as given (options and all).
    Redis(String),
    /// `postgres://…` or `postgresql://…`: the URL as given (options and all).
    Postgres(String),
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::Directory(path) => f.debug_tuple("Directory").field(path).finish(),
            Self::Redis(url) => f.debug_tuple("Redis").field(&redact::url(url)).finish(),
            Self::Postgres(url) => f.debug_tuple("Postgres").field(&redact::url(url)).finish(),
        }
    }
}

impl StoreLocation {
    /// Opens the store: creates the directory of a [`FileStore`], connects to a server.
    ///
    /// Errors: as [`open`].
    pub fn open(&self) -> Result<Arc<dyn TokenStore>> {
        match self {
            Self::Memory => Ok(Arc::new(MemoryStore::new())),
            Self::Directory(path) => Ok(Arc::new(FileStore::open(path)?)),
            Self::Redis(url) => open_redis(url),
            Self::Postgres(url) => open_postgres(url),
        }
    }
}

/// The forms a store string may take, for messages.
const ACCEPTED: &str = "memory:, a directory (an absolute path, or a relative one starting \
                        with ./ or ../), file:PATH, redis://…, rediss://…, postgres://… or \
                        postgresql://…";

/// Decides what the store string `text` names. Accepted, and nothing else:
///
/// | string | store |
/// |---|---|
/// | `memory:` | [`MemoryStore`] (this process only) |
/// | `/absolute/path`, `./relative`, `../relative`, `.`, `..` | [`FileStore`] in that directory |
/// | `file:PATH`, `file:///absolute/path` | [`FileStore`] in `PATH` (relative or absolute) |
/// | `redis://…`, `rediss://…` | `RedisStore` (feature `redis`) |
/// | `postgres://…`, `postgresql://…` | `PostgresStore` (feature `postgres`) |
///
/// Surrounding whitespace is ignored and schemes are matched in any case. `~` is not expanded
/// (shells do that before the string gets here). Anything else is an [`Error::Store`] (empty
/// key) that says which accepted form was probably meant and never shows a password: a bare
/// name such as `tokens` (a directory here? write `./tokens`; so that a mistyped scheme never
/// becomes a directory), `memory`, a libpq `key=value` connection string, `redis:/host` or
/// `postgres:…` without `//`, an unknown scheme. Store options travel as URL parameters
/// (`ca_file=`, `durability=relaxed`, `sslmode=`, `insecure_plaintext=true`), read by the
/// stores themselves.
///
/// ```
/// use iop_core::store::{parse, StoreLocation};
/// assert_eq!(parse("memory:").unwrap(), StoreLocation::Memory);
/// assert_eq!(parse("./tokens").unwrap(), StoreLocation::Directory("./tokens".into()));
/// assert!(matches!(parse("redis://:pw@10.0.0.5/0").unwrap(), StoreLocation::Redis(_)));
/// // Refused, with a hint and without the password:
/// let error = parse("host=db user=iop password=hunter2").unwrap_err().to_string();
/// assert!(error.contains("postgres://") && !error.contains("hunter2"));
/// assert!(parse("tokens").unwrap_err().to_string().contains("./tokens"));
/// ```
pub fn parse(text: &str) -> Result<StoreLocation> {
    let text = text.trim();
    if text.is_empty() {
        return Err(refused(format!("empty store string: give {ACCEPTED}")));
    }
    if text.eq_ignore_ascii_case("memory:") {
        return Ok(StoreLocation::Memory);
    }
    if let Some((scheme, rest)) = text.split_once("://")
        && is_scheme(scheme)
    {
        return match scheme.to_ascii_lowercase().as_str() {
            "redis" | "rediss" => Ok(StoreLocation::Redis(text.to_owned())),
            "postgres" | "postgresql" => Ok(StoreLocation::Postgres(text.to_owned())),
            "file" if rest.starts_with('/') => Ok(StoreLocation::Directory(rest.into())),
            "file" => Err(refused(
                "a file:// URL names an absolute path (file:///var/lib/iop); write file:PATH \
                 for a relative one",
            )),
            "memory" => Err(refused("write memory: (without //) for a store in memory")),
            other => Err(refused(format!(
                "unknown store scheme {other}:// (use {ACCEPTED})"
            ))),
        };
    }
    if let Some(path) = strip_prefix_ignore_case(text, "file:") {
        if path.is_empty() {
            return Err(refused("file: names no directory (file:PATH)"));
        }
        return Ok(StoreLocation::Directory(path.into()));
    }
    if text.starts_with('/')
        || text == "."
        || text == ".."
        || text.starts_with("./")
        || text.starts_with("../")
    {
        return Ok(StoreLocation::Directory(text.into()));
    }
    Err(refused(hint(text)))
}

/// Opens the store named by `text`: [`parse`], then [`StoreLocation::open`].
///
/// Errors ([`Error::Store`] with an empty key): a string [`parse`] refuses, a scheme whose
/// feature is not built in, or a store that cannot be opened (a directory that cannot be
/// created or is not private; a server that does not answer within the connect timeout: the
/// message names host and port). Passwords never appear in the message.
pub fn open(text: &str) -> Result<Arc<dyn TokenStore>> {
    parse(text)?.open()
}

/// Why `text` (refused) is not a store string, and what was probably meant. Quotes `text`
/// only when it cannot hold a password.
fn hint(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    // A libpq connection string: `host=… user=… password=…`.
    if text.contains('=')
        && (text.contains(char::is_whitespace)
            || LIBPQ_KEYS
                .iter()
                .any(|key| lower.starts_with(&format!("{key}="))))
    {
        return "a libpq key=value connection string is not a store string: write it as a URL, \
                postgres://USER:PASSWORD@HOST:PORT/DBNAME (percent-encode / ? # @ : in the \
                password)"
            .to_owned();
    }
    // A known scheme without its `//`: `redis:/host`, `postgres:db`.
    if let Some((scheme, _)) = text.split_once(':') {
        let scheme = scheme.to_ascii_lowercase();
        if matches!(
            scheme.as_str(),
            "redis" | "rediss" | "postgres" | "postgresql"
        ) {
            return format!("{scheme}: must be followed by //: write {scheme}://HOST…");
        }
        if scheme == "memory" {
            return "write memory: for a store in memory".to_owned();
        }
    }
    if lower.trim_end_matches(':') == "memory" {
        return "write memory: (with its colon) for a store in memory".to_owned();
    }
    if text.starts_with('~') {
        return "~ is expanded only by shells: write the absolute path of the directory".to_owned();
    }
    if text.contains(['@', ':', '?', '#', '=']) {
        return format!("not a store string: give {ACCEPTED}");
    }
    format!(
        "a relative directory starts with ./ or ../ (for a directory here, write ./{text}); \
         otherwise give {ACCEPTED}"
    )
}

/// The keys a libpq connection string usually starts with.
const LIBPQ_KEYS: &[&str] = &[
    "host", "hostaddr", "port", "user", "password", "dbname", "sslmode", "service",
];

/// A refused store string: a store error about the store as a whole.
fn refused(message: impl Into<String>) -> Error {
    store_error("", format!("invalid store string: {}", message.into()))
}

/// Whether `text` is a URL scheme (a letter, then letters, digits, `+`, `-`, `.`).
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
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

#[cfg(test)]
mod tests {
    use super::{StoreLocation, open, parse};

    #[test]
    fn accepted_forms() {
        for (given, expected) in [
            ("memory:", StoreLocation::Memory),
            (" MEMORY: ", StoreLocation::Memory),
            (
                "/var/lib/iop",
                StoreLocation::Directory("/var/lib/iop".into()),
            ),
            ("./tokens", StoreLocation::Directory("./tokens".into())),
            ("../tokens", StoreLocation::Directory("../tokens".into())),
            (".", StoreLocation::Directory(".".into())),
            ("..", StoreLocation::Directory("..".into())),
            ("file:tokens", StoreLocation::Directory("tokens".into())),
            ("FILE:/x/y", StoreLocation::Directory("/x/y".into())),
            ("file:///x/y", StoreLocation::Directory("/x/y".into())),
            ("redis://h/0", StoreLocation::Redis("redis://h/0".into())),
            ("REDISS://h/0", StoreLocation::Redis("REDISS://h/0".into())),
            (
                "postgres://h/db",
                StoreLocation::Postgres("postgres://h/db".into()),
            ),
            (
                "postgresql://u:p/w@h/db",
                StoreLocation::Postgres("postgresql://u:p/w@h/db".into()),
            ),
        ] {
            assert_eq!(parse(given).unwrap(), expected, "{given}");
        }
    }

    #[test]
    fn refused_forms_say_what_was_meant_and_never_show_a_password() {
        for (given, hint) in [
            ("", "empty"),
            ("  ", "empty"),
            ("tokens", "./tokens"),
            ("var/lib/iop", "./var/lib/iop"),
            ("memory", "memory:"),
            ("memory://", "memory:"),
            ("memory:x", "memory:"),
            ("~/tokens", "shells"),
            (
                "host=db.internal user=iop password=hunter2 dbname=app",
                "postgres://",
            ),
            ("password=hunter2", "postgres://"),
            ("redis:/:hunter2@host", "redis://"),
            ("redis::hunter2@host", "redis://"),
            ("postgres:u:hunter2@db", "postgres://"),
            ("PostgreSQL:/u:hunter2@db", "postgresql://"),
            ("mysql://u:hunter2@db/x", "mysql://"),
            ("http://u:hunter2@x", "http://"),
            ("file://host/x", "file:///"),
            ("file:", "file:PATH"),
            ("u:hunter2@db:5432/app", "not a store string"),
        ] {
            let error = parse(given).unwrap_err().to_string();
            assert!(error.contains(hint), "{given}: {error}");
            assert!(!error.contains("hunter2"), "{given}: {error}");
            assert!(error.contains("store"), "{given}: {error}");
            let Err(error) = open(given) else {
                panic!("{given} opened")
            };
            assert!(!format!("{error:?}").contains("hunter2"), "{given}");
        }
    }

    #[test]
    fn debug_hides_passwords() {
        let shown = format!("{:?}", parse("redis://:hunter2@h/0").unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
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
        assert!(dir.path().join("t2").is_dir());
    }
}
