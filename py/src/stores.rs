//! `iop.RedisStore`, `iop.PostgresStore` and `iop.open_store(url)`: token stores shared by many
//! processes and hosts.

use std::sync::Arc;

use iop_core::TokenStore;
use iop_core::store::{PostgresOptions, PostgresStore as CorePostgresStore};
use iop_core::store::{RedisOptions, RedisStore as CoreRedisStore};
use pyo3::prelude::*;

use crate::convert::text_arg;
use crate::errors::to_pyerr;

/// Token sets in Redis, shared by every process and host on the same server and prefix: a
/// renewed lease per seller, compare-and-swap saves on the server.
#[pyclass(frozen, module = "iop", name = "RedisStore")]
pub(crate) struct RedisStore {
    inner: Arc<CoreRedisStore>,
}

#[pymethods]
impl RedisStore {
    /// Connects to `url` (`redis://…` or `rediss://…`); fails with `StoreError` naming host and
    /// port when the server does not answer.
    #[new]
    #[pyo3(signature = (url, *, prefix = "iop:"))]
    fn py_new(py: Python<'_>, url: &Bound<'_, PyAny>, prefix: &str) -> PyResult<Self> {
        let url = text_arg("url", url, true)?;
        let options = RedisOptions {
            prefix: prefix.to_owned(),
            ..RedisOptions::default()
        };
        let inner = py
            .detach(move || CoreRedisStore::open_with(&url, options))
            .map_err(|e| to_pyerr(py, e))?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The server, as `redis://host:port/db` (no password).
    #[getter]
    fn endpoint(&self) -> &str {
        self.inner.endpoint()
    }

    /// The key prefix.
    #[getter]
    fn prefix(&self) -> &str {
        &self.inner.options().prefix
    }

    fn __repr__(&self) -> String {
        format!(
            "RedisStore({:?}, prefix={:?})",
            self.inner.endpoint(),
            self.inner.options().prefix
        )
    }
}

/// Token sets in one PostgreSQL table, shared by every process and host on the same database:
/// a per-seller advisory lock that dies with its session, compare-and-swap saves.
#[pyclass(frozen, module = "iop", name = "PostgresStore")]
pub(crate) struct PostgresStore {
    inner: Arc<CorePostgresStore>,
}

#[pymethods]
impl PostgresStore {
    /// Connects to `dsn` (`postgres://…` or `host=… dbname=…`) and creates the table on first
    /// use; fails with `StoreError` naming host and port when the server does not answer.
    #[new]
    #[pyo3(signature = (dsn, *, table = "iop_tokens"))]
    fn py_new(py: Python<'_>, dsn: &Bound<'_, PyAny>, table: &str) -> PyResult<Self> {
        let dsn = text_arg("dsn", dsn, true)?;
        let options = PostgresOptions {
            table: table.to_owned(),
            ..PostgresOptions::default()
        };
        let inner = py
            .detach(move || CorePostgresStore::open_with(&dsn, options))
            .map_err(|e| to_pyerr(py, e))?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The server, as `postgres://host:port/db` (no password).
    #[getter]
    fn endpoint(&self) -> &str {
        self.inner.endpoint()
    }

    /// The table.
    #[getter]
    fn table(&self) -> &str {
        &self.inner.options().table
    }

    fn __repr__(&self) -> String {
        format!(
            "PostgresStore({:?}, table={:?})",
            self.inner.endpoint(),
            self.inner.options().table
        )
    }
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

/// The store named by `url`: `memory:` → `MemoryStore`, a directory → `FileStore`,
/// `redis://`/`rediss://` → `RedisStore`, `postgres://`/`postgresql://` → `PostgresStore`.
#[pyfunction]
pub(crate) fn open_store<'py>(
    py: Python<'py>,
    url: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let text = text_arg("url", url, true)?;
    let lower = text.trim().to_ascii_lowercase();
    let module = py.import("iop._native")?;
    if lower.starts_with("redis://") || lower.starts_with("rediss://") {
        return module.getattr("RedisStore")?.call1((text,));
    }
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return module.getattr("PostgresStore")?.call1((text,));
    }
    if lower == "memory:" || lower == "memory://" {
        return module.getattr("MemoryStore")?.call0();
    }
    if lower.contains("://") && !lower.starts_with("file://") {
        // The same refusal as the Rust side, as a StoreError.
        return match iop_core::store::open(&text) {
            Err(e) => Err(to_pyerr(py, e)),
            Ok(_) => module.getattr("FileStore")?.call1((text,)),
        };
    }
    let path = text
        .trim()
        .strip_prefix("file://")
        .or_else(|| text.trim().strip_prefix("file:"))
        .unwrap_or(text.trim())
        .to_owned();
    module.getattr("FileStore")?.call1((path,))
}
