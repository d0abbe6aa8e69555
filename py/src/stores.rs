//! `iop.RedisStore`, `iop.PostgresStore` and `iop.open_store(url)`: token stores shared by many
//! processes and hosts.

use std::sync::Arc;

use iop_core::TokenStore;
use iop_core::store::{PostgresOptions, PostgresStore as CorePostgresStore};
use iop_core::store::{RedisOptions, RedisStore as CoreRedisStore, StoreLocation};
use pyo3::prelude::*;

use crate::convert::text_arg;
use crate::errors::to_pyerr;

/// A Python class over a core store shared between processes: the constructor opens it with
/// the GIL released (a `StoreError` naming host and port when the server does not answer),
/// `endpoint` shows the server without its password, and one option (`prefix`, `table`) is a
/// keyword argument and a property. Both store classes are this one shape.
macro_rules! server_store {
    (
        $(#[$class_doc:meta])*
        class $class:ident = $py_name:literal over $core:ident with $options:ident;
        $(#[$new_doc:meta])*
        new($arg:ident, *, $field:ident = $default:tt);
        $(#[$endpoint_doc:meta])*
        endpoint;
        $(#[$field_doc:meta])*
        option;
    ) => {
        $(#[$class_doc])*
        #[pyclass(frozen, module = "iop", name = $py_name)]
        pub(crate) struct $class {
            inner: Arc<$core>,
        }

        #[pymethods]
        impl $class {
            $(#[$new_doc])*
            #[new]
            #[pyo3(signature = ($arg, *, $field = $default))]
            fn py_new(py: Python<'_>, $arg: &Bound<'_, PyAny>, $field: &str) -> PyResult<Self> {
                let target = text_arg(stringify!($arg), $arg, true)?;
                let options = $options {
                    $field: $field.to_owned(),
                    ..$options::default()
                };
                let inner = py
                    .detach(move || $core::open_with(&target, options))
                    .map_err(|e| to_pyerr(py, e))?;
                Ok(Self {
                    inner: Arc::new(inner),
                })
            }

            $(#[$endpoint_doc])*
            #[getter]
            fn endpoint(&self) -> &str {
                self.inner.endpoint()
            }

            $(#[$field_doc])*
            #[getter]
            fn $field(&self) -> &str {
                &self.inner.options().$field
            }

            fn __repr__(&self) -> String {
                format!(
                    concat!($py_name, "({:?}, ", stringify!($field), "={:?})"),
                    self.inner.endpoint(),
                    self.inner.options().$field
                )
            }
        }
    };
}

server_store! {
    /// Token sets in Redis, shared by every process and host on the same server and prefix: a
    /// renewed lease per seller, compare-and-swap saves on the server.
    class RedisStore = "RedisStore" over CoreRedisStore with RedisOptions;
    /// Connects to `url` (`redis://…` or `rediss://…`, with `ca_file=` and `durability=relaxed`
    /// as URL parameters); fails with `StoreError` naming host and port when the server does not
    /// answer, and refuses a server whose persistence may lose an acknowledged save.
    new(url, *, prefix = "iop:");
    /// The server, as `redis://host:port/db` (no password).
    endpoint;
    /// The key prefix.
    option;
}

server_store! {
    /// Token sets in one PostgreSQL table, shared by every process and host on the same
    /// database: a per-seller advisory lock that dies with its session, compare-and-swap saves.
    class PostgresStore = "PostgresStore" over CorePostgresStore with PostgresOptions;
    /// Connects to `dsn` (`postgres://…` or `host=… dbname=…`, with `sslmode=`, `ca_file=` and
    /// `insecure_plaintext=true`) and creates the table on first use; fails with `StoreError`
    /// naming host and port when the server does not answer.
    new(dsn, *, table = "iop_tokens");
    /// The server, as `postgres://host:port/db` (no password).
    endpoint;
    /// The table.
    option;
}

/// The store behind one of these classes, if `store` is one.
pub(crate) fn store_of(store: &Bound<'_, PyAny>) -> Option<Arc<dyn TokenStore>> {
    if let Ok(s) = store.cast::<RedisStore>() {
        return Some(s.get().inner.clone());
    }
    if let Ok(s) = store.cast::<PostgresStore>() {
        return Some(s.get().inner.clone());
    }
    None
}

/// The store named by `url`, decided by the core's one parser (`iop_core::store::parse`):
/// `memory:` → `MemoryStore`, a directory (`/abs`, `./rel`, `../rel`, `file:PATH`) →
/// `FileStore`, `redis://`/`rediss://` → `RedisStore`, `postgres://`/`postgresql://` →
/// `PostgresStore`. Anything else raises `StoreError` (never showing a password).
#[pyfunction]
pub(crate) fn open_store<'py>(
    py: Python<'py>,
    url: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let text = text_arg("url", url, true)?;
    let location = iop_core::store::parse(&text).map_err(|e| to_pyerr(py, e))?;
    let module = py.import("iop._native")?;
    match location {
        StoreLocation::Memory => module.getattr("MemoryStore")?.call0(),
        StoreLocation::Directory(path) => module
            .getattr("FileStore")?
            .call1((path.to_string_lossy().into_owned(),)),
        StoreLocation::Redis(url) => module.getattr("RedisStore")?.call1((url,)),
        StoreLocation::Postgres(url) => module.getattr("PostgresStore")?.call1((url,)),
        // A kind of store this binding does not know yet.
        other => Err(to_pyerr(
            py,
            iop_core::Error::Store {
                key: String::new(),
                message: format!("iop.open_store cannot open {other:?} yet"),
                source: None,
            },
        )),
    }
}
