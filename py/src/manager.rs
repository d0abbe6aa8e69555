//! `iop.TokenManager` and its stores: `iop.MemoryStore`, `iop.FileStore`, and any Python object
//! with `load(key)` / `save(key, token_dict)` (and `keys()` for `refresh_due`).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use iop_core::store::{ExternalStore, StoreBackend};
use iop_core::{Error, RefreshDueOptions, TokenSet, TokenStore};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::client::Client;
use crate::convert::{duration_arg, int_arg, json_to_py, py_to_json, text_arg, timedelta_from};
use crate::errors::{to_pyerr, to_pyexception};
use crate::token::{DEFAULT_MARGIN, Token};

use crate::locked;

/// Token sets in memory, for tests and single-process apps.
#[pyclass(frozen, module = "iop", name = "MemoryStore")]
pub(crate) struct MemoryStore {
    inner: Arc<iop_core::MemoryStore>,
}

#[pymethods]
impl MemoryStore {
    /// An empty store.
    #[new]
    fn py_new() -> Self {
        Self {
            inner: Arc::new(iop_core::MemoryStore::new()),
        }
    }

    fn __repr__(&self) -> &'static str {
        "MemoryStore()"
    }
}

/// A directory with one file per seller (mode 0600, atomic writes, an OS lock per seller, so
/// several processes can share it).
#[pyclass(frozen, module = "iop", name = "FileStore")]
pub(crate) struct FileStore {
    inner: Arc<iop_core::FileStore>,
    directory: String,
}

#[pymethods]
impl FileStore {
    /// Opens `directory` (a str or path), creating it (mode 0700) if needed.
    #[new]
    fn py_new(py: Python<'_>, directory: &Bound<'_, PyAny>) -> PyResult<Self> {
        let path = py
            .import("os")?
            .getattr("fspath")?
            .call1((directory,))
            .map_err(|_| PyTypeError::new_err("directory must be a str or an os.PathLike"))?;
        let directory = text_arg("directory", &path, true)?;
        let dir = directory.clone();
        let inner = py
            .detach(move || iop_core::FileStore::open(&dir))
            .map_err(|e| to_pyerr(py, e))?;
        Ok(Self {
            inner: Arc::new(inner),
            directory,
        })
    }

    /// The directory.
    #[getter]
    fn directory(&self) -> &str {
        &self.directory
    }

    fn __repr__(&self) -> String {
        format!("FileStore({:?})", self.directory)
    }
}

/// A Python object with `load(key)` / `save(key, token_dict)` (and optionally `keys()`,
/// `remove(key)`): the backend of a core [`ExternalStore`], which keeps its versions,
/// compare-and-swap saves, per-key locks and re-entry rules. Only the conversions live here.
struct PyBackend {
    object: Py<PyAny>,
}

/// A custom store: the core adapter over the Python object.
type PyStore = ExternalStore<PyBackend>;

/// A store error naming the key.
fn store_error(key: &str, message: impl Into<String>) -> Error {
    Error::Store {
        key: key.to_owned(),
        message: message.into(),
        source: None,
    }
}

/// A store error naming the key and the Python exception the store's `what` raised (type and
/// text: the store's own words).
fn failure(py: Python<'_>, key: &str, what: &str, err: &PyErr) -> Error {
    let kind = err
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".to_owned());
    store_error(
        key,
        format!("custom store {what} failed: {kind}: {}", err.value(py)),
    )
}

impl StoreBackend for PyBackend {
    fn load(&self, key: &str) -> iop_core::Result<Option<TokenSet>> {
        let value = Python::attach(|py| -> Result<Option<serde_json::Value>, Error> {
            let value = self
                .object
                .bind(py)
                .call_method1("load", (key,))
                .map_err(|e| failure(py, key, "load", &e))?;
            if value.is_none() {
                return Ok(None);
            }
            if !value.is_instance_of::<PyDict>() {
                return Err(store_error(
                    key,
                    "custom store load must return a dict or None",
                ));
            }
            py_to_json(&value)
                .map(Some)
                .map_err(|e| failure(py, key, "load", &e))
        })?;
        // The shape only, never serde's text: it can quote a value, and a value can be a token.
        value
            .map(serde_json::from_value::<TokenSet>)
            .transpose()
            .map_err(|_| {
                store_error(
                    key,
                    "custom store load returned a dict that is not a token set",
                )
            })
    }

    fn save(&self, key: &str, token: &TokenSet) -> iop_core::Result<()> {
        let value = token.to_value();
        Python::attach(|py| {
            let dict = json_to_py(py, &value).map_err(|e| failure(py, key, "save", &e))?;
            self.object
                .bind(py)
                .call_method1("save", (key, dict))
                .map_err(|e| failure(py, key, "save", &e))?;
            Ok(())
        })
    }

    fn keys(&self) -> iop_core::Result<Vec<String>> {
        Python::attach(|py| {
            let object = self.object.bind(py);
            if !object.hasattr("keys").unwrap_or(false) {
                return Err(store_error(
                    "",
                    "this custom store has no keys() method (refresh_due needs one)",
                ));
            }
            object
                .call_method0("keys")
                .and_then(|keys| {
                    keys.try_iter()?
                        .map(|k| k.and_then(|k| k.extract::<String>()))
                        .collect::<PyResult<Vec<String>>>()
                })
                .map_err(|e| failure(py, "", "keys", &e))
        })
    }

    /// The object's optional `mark_seen(marker, ttl_seconds) -> bool`; without one, the core
    /// adapter keeps the markers in this process.
    fn mark_seen(&self, marker: &str, ttl: Duration) -> Option<iop_core::Result<bool>> {
        Python::attach(|py| {
            let object = self.object.bind(py);
            if !object.hasattr("mark_seen").unwrap_or(false) {
                return None;
            }
            let answer = object
                .call_method1("mark_seen", (marker, ttl.as_secs_f64()))
                .and_then(|answer| answer.extract::<bool>())
                .map_err(|e| failure(py, "", "mark_seen", &e));
            Some(answer)
        })
    }

    fn remove(&self, key: &str) -> iop_core::Result<bool> {
        Python::attach(|py| {
            let object = self.object.bind(py);
            if !object.hasattr("remove").unwrap_or(false) {
                return Err(store_error(
                    key,
                    "this custom store has no remove(key) method",
                ));
            }
            // Whether something is there, read as the store gives it (an unreadable value
            // counts: removing it is how it is cleared).
            let existed = !object
                .call_method1("load", (key,))
                .map_err(|e| failure(py, key, "load", &e))?
                .is_none();
            let answer = object
                .call_method1("remove", (key,))
                .map_err(|e| failure(py, key, "remove", &e))?;
            // `remove` may answer whether something was there; None (or anything else) means it
            // did not say, and what `load` found stands.
            Ok(answer.extract::<bool>().unwrap_or(existed))
        })
    }
}

/// A manager's custom store, if its store is a Python object.
type CustomStore = Option<Arc<PyStore>>;

/// The [`PyStore`] of each custom store object in use, by object address. An entry that still
/// upgrades is the right one: its backend holds the object, so the address cannot have been
/// reused.
static PY_STORES: Mutex<Vec<(usize, Weak<PyStore>)>> = Mutex::new(Vec::new());

/// The one [`PyStore`] of a custom store object, so that several managers over the same object
/// share its per-key locks and versions (one refresh per seller, not one per manager).
fn py_store_for(store: &Bound<'_, PyAny>) -> Arc<PyStore> {
    let address = store.as_ptr() as usize;
    let mut stores = locked(&PY_STORES);
    stores.retain(|(_, weak)| weak.strong_count() > 0);
    if let Some(shared) = stores
        .iter()
        .find(|(a, _)| *a == address)
        .and_then(|(_, weak)| weak.upgrade())
    {
        return shared;
    }
    let shared = Arc::new(ExternalStore::new(PyBackend {
        object: store.clone().unbind(),
    }));
    stores.push((address, Arc::downgrade(&shared)));
    shared
}

/// The store behind a Python store argument, and for a custom store its [`PyStore`] (whose
/// re-entry rule the manager asks first, see [`TokenManager::refuse_reentry`]).
fn store_of(store: Option<&Bound<'_, PyAny>>) -> PyResult<(Arc<dyn TokenStore>, CustomStore)> {
    let Some(store) = store.filter(|s| !s.is_none()) else {
        return Ok((Arc::new(iop_core::MemoryStore::new()), None));
    };
    // A store named as everywhere in iop: `memory:`, a directory, a Redis or PostgreSQL URL.
    if store.is_instance_of::<pyo3::types::PyString>() || store.hasattr("__fspath__")? {
        let py = store.py();
        let name = py
            .import("os")?
            .getattr("fspath")?
            .call1((store,))?
            .extract::<String>()
            .map_err(|_| PyTypeError::new_err("a store path must be str, not bytes"))?;
        if name.trim().is_empty() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "store must not be empty (None is the memory store)",
            ));
        }
        let opened = py
            .detach(move || iop_core::store::open(&name))
            .map_err(|e| to_pyerr(py, e))?;
        return Ok((opened, None));
    }
    if let Ok(m) = store.cast::<MemoryStore>() {
        return Ok((m.get().inner.clone(), None));
    }
    if let Ok(f) = store.cast::<FileStore>() {
        return Ok((f.get().inner.clone(), None));
    }
    if let Some(shared) = crate::stores::store_of(store) {
        return Ok((shared, None));
    }
    if store.hasattr("load")? && store.hasattr("save")? {
        let shared = py_store_for(store);
        return Ok((shared.clone(), Some(shared)));
    }
    Err(PyTypeError::new_err(format!(
        "store must be None, a store URL or directory (str), iop.MemoryStore, iop.FileStore, iop.RedisStore, iop.PostgresStore or an object with load(key) and save(key, token_dict), got {}",
        store.get_type().name()?
    )))
}

/// What `TokenManager.refresh_due` did.
#[pyclass(frozen, module = "iop", name = "RefreshReport")]
pub(crate) struct RefreshReport {
    inner: iop_core::RefreshReport,
}

#[pymethods]
impl RefreshReport {
    /// Keys refreshed.
    #[getter]
    fn refreshed(&self) -> Vec<String> {
        self.inner.refreshed.clone()
    }

    /// Keys not due.
    #[getter]
    fn skipped(&self) -> Vec<String> {
        self.inner.skipped.clone()
    }

    /// Keys that failed: `iop.RefreshFailure(key, error_class, message)` named tuples, the class
    /// one of "signature", "refresh", "rate_limited", "retryable", "client", "unknown".
    #[getter]
    fn failed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let entry = py.import("iop._report")?.getattr("RefreshFailure")?;
        let list = PyList::empty(py);
        for (key, class, message) in &self.inner.failed {
            list.append(entry.call1((key.as_str(), class.as_str(), message.as_str()))?)?;
        }
        Ok(list)
    }

    /// Keys whose seller must authorize again: `iop.ReauthorizationNotice(key, time_left)`
    /// named tuples, the time left a timedelta, or None when the access token is already dead.
    #[getter]
    fn reauthorization_required<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let entry = py.import("iop._report")?.getattr("ReauthorizationNotice")?;
        let list = PyList::empty(py);
        for (key, left) in &self.inner.reauthorization_required {
            let left = match left {
                Some(d) => timedelta_from(py, *d)?,
                None => py.None().into_bound(py),
            };
            list.append(entry.call1((key.as_str(), left))?)?;
        }
        Ok(list)
    }

    fn __repr__(&self) -> String {
        format!(
            "RefreshReport(refreshed={}, skipped={}, failed={}, reauthorization_required={})",
            self.inner.refreshed.len(),
            self.inner.skipped.len(),
            self.inner.failed.len(),
            self.inner.reauthorization_required.len()
        )
    }
}

/// The most worker threads `refresh_due` may start.
const MAX_CONCURRENCY: i64 = 1024;

/// The default number of `refresh_due` workers.
const DEFAULT_CONCURRENCY: i64 = 8;

/// Keeps sellers' tokens valid: refreshes inside the margin, one refresh per seller at a time,
/// and reports sellers who must authorize again.
#[pyclass(frozen, module = "iop", name = "TokenManager")]
pub(crate) struct TokenManager {
    pub(crate) inner: Arc<iop_core::TokenManager>,
    /// The custom store, if the store is a Python object.
    custom_store: CustomStore,
}

impl TokenManager {
    /// Refuses a call for `key` (any key when `None`) made from inside the custom store's own
    /// load, save or remove for that key: the manager holds the key's lock for that call, so
    /// waiting for it would wait for this very thread (the core store refuses its own lock in
    /// that case, but this manager's gate in front of it would wait first).
    fn refuse_reentry(&self, py: Python<'_>, key: Option<&str>) -> PyResult<()> {
        match &self.custom_store {
            Some(store) if store.in_backend_call(key) => Err(to_pyerr(
                py,
                store_error(
                    key.unwrap_or_default(),
                    "the custom store called back into a token manager for this key while the \
                     key was locked for it (inside its own load, save or remove); only get() \
                     may be called there",
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// The seller key argument.
pub(crate) fn key_arg(key: &Bound<'_, PyAny>) -> PyResult<String> {
    text_arg("key", key, true)
}

/// The `push_window` argument: from 1 second to `iop_core::push::MAX_WINDOW` (12 hours).
fn push_window_arg(value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let window = duration_arg("push_window", value)?;
    if window < Duration::from_secs(1) || window > iop_core::push::MAX_WINDOW {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "push_window must be from 1 second to 12 hours",
        ));
    }
    Ok(window)
}

/// The request of `TokenManager.call`: `api`, `params`, `files` and the HTTP `method`.
pub(crate) fn call_request(
    api: &Bound<'_, PyAny>,
    params: Option<&Bound<'_, PyAny>>,
    files: Option<&Bound<'_, PyAny>>,
    method: Option<&Bound<'_, PyAny>>,
) -> PyResult<iop_core::Request> {
    let post = pyo3::types::PyString::new(api.py(), "POST").into_any();
    let method = method.filter(|m| !m.is_none()).unwrap_or(&post);
    let request = Client::request(api, params.filter(|p| !p.is_none()), method)?;
    Client::with_files(request, files)
}

impl TokenManager {
    /// `call` and `call_raw`.
    #[allow(clippy::too_many_arguments)]
    fn call_with<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        api: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        files: Option<&Bound<'py, PyAny>>,
        method: Option<&Bound<'py, PyAny>>,
        raw: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = key_arg(key)?;
        self.refuse_reentry(py, Some(&key))?;
        let request = call_request(api, params, files, method)?;
        let inner = Arc::clone(&self.inner);
        let answer = py.detach(move || {
            if raw {
                inner.call_raw(&key, &request)
            } else {
                inner.call(&key, &request)
            }
        });
        match answer {
            Ok(value) => json_to_py(py, &value),
            Err(e) => Err(to_pyerr(py, e)),
        }
    }
}

#[pymethods]
impl TokenManager {
    /// A manager over `client` and `store` (None: in memory), refreshing tokens that expire
    /// within `margin` (a timedelta or seconds; default 3 days). `handle_push` acts on push
    /// messages whose timestamp is within `push_window` of now (a timedelta or seconds, from 1
    /// second to 12 hours; default 15 minutes).
    #[new]
    #[pyo3(signature = (client, store=None, *, margin=None, push_window=None))]
    fn py_new(
        client: &Bound<'_, PyAny>,
        store: Option<&Bound<'_, PyAny>>,
        margin: Option<&Bound<'_, PyAny>>,
        push_window: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let client = client
            .cast::<Client>()
            .map_err(|_| PyTypeError::new_err("client must be an iop.Client"))?;
        let margin: Duration = match margin {
            Some(m) if !m.is_none() => duration_arg("margin", m)?,
            _ => DEFAULT_MARGIN,
        };
        let push_window = match push_window {
            Some(w) if !w.is_none() => push_window_arg(w)?,
            _ => iop_core::push::DEFAULT_WINDOW,
        };
        let (store, custom_store) = store_of(store)?;
        let inner = iop_core::TokenManager::new(Arc::clone(&client.get().inner), store)
            .with_margin(margin)
            .with_push_window(push_window);
        Ok(Self {
            inner: Arc::new(inner),
            custom_store,
        })
    }

    /// Stores `token` for `key`, replacing what is there.
    fn put(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        token: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let key = key_arg(key)?;
        self.refuse_reentry(py, Some(&key))?;
        let token = token
            .cast::<Token>()
            .map_err(|_| PyTypeError::new_err("token must be an iop.Token"))?
            .get()
            .inner
            .clone();
        let inner = Arc::clone(&self.inner);
        py.detach(move || inner.put(&key, &token))
            .map_err(|e| to_pyerr(py, e))
    }

    /// Forgets `key` (a seller who left, or a corrupted entry to replace with `put`); returns
    /// whether something was stored. A custom store needs a `remove(key)` method for this.
    fn remove(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = key_arg(key)?;
        self.refuse_reentry(py, Some(&key))?;
        let inner = Arc::clone(&self.inner);
        py.detach(move || inner.remove(&key))
            .map_err(|e| to_pyerr(py, e))
    }

    /// The stored token of `key`, or None.
    fn get(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<Token>> {
        let key = key_arg(key)?;
        let inner = Arc::clone(&self.inner);
        py.detach(move || inner.get(&key))
            .map(|t| t.map(Token::new))
            .map_err(|e| to_pyerr(py, e))
    }

    /// A valid access token for `key`, refreshing first when it expires within the margin.
    /// Raises `ReauthorizationRequired` when the seller must authorize again.
    fn access_token(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<String> {
        let key = key_arg(key)?;
        self.refuse_reentry(py, Some(&key))?;
        let inner = Arc::clone(&self.inner);
        py.detach(move || inner.access_token(&key).map(|t| t.secret().to_owned()))
            .map_err(|e| to_pyerr(py, e))
    }

    /// Calls any API for the seller `key` and returns the body as a dict: a valid access token
    /// (refreshed first when due), the call, and when the gateway refuses that access token as
    /// invalid or expired, one refresh (shared by every caller refused the same token) and one
    /// retry. `method` is the HTTP method ("POST" or "GET"); `files` as for `Client.call`.
    /// Raises `UnknownSeller` when nothing is stored for `key`, `ReauthorizationRequired` when
    /// the refresh token is dead (after the reauthorization callback ran).
    #[pyo3(signature = (key, api, params=None, *, files=None, method=None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        api: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        files: Option<&Bound<'py, PyAny>>,
        method: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.call_with(py, key, api, params, files, method, false)
    }

    /// As `call`, but a gateway error envelope is returned as the body instead of raised (a
    /// refused access token is still refreshed and the call retried first).
    #[pyo3(signature = (key, api, params=None, *, files=None, method=None))]
    fn call_raw<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        api: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        files: Option<&Bound<'py, PyAny>>,
        method: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.call_with(py, key, api, params, files, method, true)
    }

    /// Refreshes every stored token expiring within `within` (default 3 days), `concurrency`
    /// (1 to 1024) at a time; `progress(done, total)` is called after each seller.
    // `concurrency` is read as any object so that a huge int is a ValueError; the signature shows
    // its real default.
    #[pyo3(
        signature = (within=None, *, concurrency=None, progress=None),
        text_signature = "(self, /, within=None, *, concurrency=8, progress=None)"
    )]
    fn refresh_due(
        &self,
        py: Python<'_>,
        within: Option<&Bound<'_, PyAny>>,
        concurrency: Option<&Bound<'_, PyAny>>,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<RefreshReport> {
        // Its workers would wait for the key this thread's store call holds.
        self.refuse_reentry(py, None)?;
        let within = match within {
            Some(w) if !w.is_none() => duration_arg("within", w)?,
            _ => DEFAULT_MARGIN,
        };
        // Bounded: the core starts min(concurrency, sellers) threads and panics if the OS
        // refuses one. Any int outside (negative, 10**30) is a ValueError.
        let concurrency = match concurrency {
            Some(c) => int_arg(
                "concurrency",
                c,
                1,
                MAX_CONCURRENCY,
                &format!("concurrency must be at least 1 and at most {MAX_CONCURRENCY}"),
            )?,
            None => DEFAULT_CONCURRENCY,
        };
        let concurrency = usize::try_from(concurrency).unwrap_or(1);
        let mut options = RefreshDueOptions::new(within).concurrency(concurrency);
        if let Some(progress) = progress.filter(|p| !p.is_none()) {
            if !progress.is_callable() {
                return Err(PyTypeError::new_err("progress must be callable"));
            }
            let progress = progress.unbind();
            options = options.progress(move |done, total| {
                Python::attach(|py| {
                    if let Err(e) = progress.bind(py).call1((done, total)) {
                        e.write_unraisable(py, Some(progress.bind(py)));
                    }
                });
            });
        }
        let inner = Arc::clone(&self.inner);
        let report = py.detach(move || inner.refresh_due(options));
        Ok(RefreshReport { inner: report })
    }

    /// Registers `callback(key, error)`, called once each time a seller is found to need
    /// authorizing again (`error` is an `iop.ReauthorizationRequired`). Returns the callback,
    /// so it can be used as a decorator. Exceptions it raises are reported as unraisable.
    fn on_reauthorization_required<'py>(
        &self,
        callback: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !callback.is_callable() {
            return Err(PyTypeError::new_err("callback must be callable"));
        }
        let cb = callback.clone().unbind();
        // Set on the live manager: a later call replaces it, also while other threads use it.
        self.inner
            .set_on_reauthorization_required(move |key: &str, err: &Error| {
                Python::attach(|py| {
                    let exc = to_pyexception(py, err);
                    if let Err(e) = cb.bind(py).call1((key, exc)) {
                        e.write_unraisable(py, Some(cb.bind(py)));
                    }
                });
            });
        Ok(callback)
    }

    /// Finishes a seller's authorization: checks `callback_url_or_query` (the redirect's full
    /// URL or query string) against `expected_state` first, in constant time, then exchanges its
    /// code and stores the token set under `key` (default: the token's seller_id). Raises
    /// `AuthorizationError` (nothing exchanged) for a missing or different state, the
    /// platform's error, or no code.
    #[pyo3(signature = (callback_url_or_query, *, expected_state, key=None))]
    fn complete_authorization(
        &self,
        py: Python<'_>,
        callback_url_or_query: &Bound<'_, PyAny>,
        expected_state: &Bound<'_, PyAny>,
        key: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Token> {
        let callback = text_arg("callback_url_or_query", callback_url_or_query, true)?;
        let expected = text_arg("expected_state", expected_state, true)?;
        let key = match key {
            Some(k) if !k.is_none() => Some(key_arg(k)?),
            _ => None,
        };
        self.refuse_reentry(py, key.as_deref())?;
        let inner = Arc::clone(&self.inner);
        py.detach(move || inner.complete_authorization(&callback, &expected, key.as_deref()))
            .map(|(_, token)| Token::new(token))
            .map_err(|e| to_pyerr(py, e))
    }

    /// The push window: how far from now a push message's timestamp may be for `handle_push`
    /// to act on it.
    #[getter]
    fn push_window<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        timedelta_from(py, self.inner.push_window())
    }

    /// Acts on a verified Lazada push (`iop.push.parse`) and says what it did, as an
    /// `iop.push.Outcome` (a `str` enum): type 8 refreshes a seller whose token is due (past
    /// half of its life, or within the margin: `"refreshed"`; else `"not_due"`) or reports one
    /// that cannot be refreshed (`"reauthorization_required"`), type 13 `close` reports the
    /// seller; a message whose timestamp is missing or further from now than `push_window` is
    /// refused (`"stale"`), one handled already (its `dedup_key`, here or by any manager
    /// sharing the store) does nothing (`"duplicate"`); anything else is `"ignored"`.
    fn handle_push<'py>(
        &self,
        py: Python<'py>,
        message: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let seller_id: Option<String> = message.getattr("seller_id")?.extract()?;
        let code: i64 = message.getattr("message_type")?.extract()?;
        let data = crate::convert::py_to_json(&message.getattr("data")?)?;
        let message = iop_core::push::Message {
            seller_id,
            message_type: iop_core::push::MessageType::from_code(code),
            data,
            timestamp_ms: message.getattr("timestamp")?.extract()?,
            site: message.getattr("site")?.extract()?,
        };
        if let Some(key) = message.seller_id.as_deref() {
            self.refuse_reentry(py, Some(key))?;
        }
        let inner = Arc::clone(&self.inner);
        let outcome = py
            .detach(move || inner.handle_push(&message))
            .map_err(|e| to_pyerr(py, e))?;
        py.import("iop.push")?
            .getattr("Outcome")?
            .call1((outcome.as_str(),))
    }

    fn __repr__(&self) -> String {
        format!(
            "TokenManager(margin_seconds={})",
            self.inner.margin().as_secs()
        )
    }
}
