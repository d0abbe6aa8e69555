//! `iop.TokenManager` and its stores: `iop.MemoryStore`, `iop.FileStore`, and any Python object
//! with `load(key)` / `save(key, token_dict)` (and `keys()` for `refresh_due`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::thread::ThreadId;
use std::time::Duration;

use iop_core::store::KeyLock;
use iop_core::{Error, RefreshDueOptions, StoredToken, TokenSet, TokenStore};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

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

/// One key's in-process lock: the thread holding it, if any.
#[derive(Default)]
struct Slot {
    holder: Mutex<Option<ThreadId>>,
    freed: Condvar,
}

/// A held [`Slot`]; frees it on drop.
struct SlotLock {
    slot: Arc<Slot>,
}

impl KeyLock for SlotLock {}

impl Drop for SlotLock {
    fn drop(&mut self) {
        *locked(&self.slot.holder) = None;
        self.slot.freed.notify_one();
    }
}

thread_local! {
    /// The custom-store calls (load, save, remove) this thread is inside, as (store address,
    /// key). The manager holds the key's lock during most of them: a manager call for the same
    /// key from inside would wait for this very thread, so it is refused instead.
    static IN_STORE_CALL: RefCell<Vec<(usize, String)>> = const { RefCell::new(Vec::new()) };
}

/// Marks this thread as inside a call of a custom store's Python code for a key, until dropped.
struct InStoreCall;

impl InStoreCall {
    fn enter(store: &PyStore, key: &str) -> Self {
        let store = std::ptr::from_ref(store) as usize;
        IN_STORE_CALL.with(|calls| calls.borrow_mut().push((store, key.to_owned())));
        Self
    }
}

impl Drop for InStoreCall {
    fn drop(&mut self) {
        IN_STORE_CALL.with(|calls| {
            calls.borrow_mut().pop();
        });
    }
}

/// Whether this thread is inside a call of the custom store at `store` for `key` (any key when
/// `None`).
fn inside_store_call(store: usize, key: Option<&str>) -> bool {
    IN_STORE_CALL.with(|calls| {
        calls
            .borrow()
            .iter()
            .any(|(s, k)| *s == store && key.is_none_or(|key| key == k))
    })
}

/// A Python object used as a token store. Versions and locks are kept in this process only
/// (shared by every manager over the same object, see [`py_store_for`]): sharing such a store
/// between processes needs the user's own locking.
///
/// No mutex of this type is held while the object's Python methods run: they may call back
/// into a manager over the same store (`manager.get` inside `save`), and other threads must
/// not wait on user code either. The per-key lock is the one exception, by design: it is what
/// makes one refresh per seller, and a same-thread attempt to take it again is an error rather
/// than a hang.
struct PyStore {
    object: Py<PyAny>,
    versions: Mutex<HashMap<String, u64>>,
    locks: Mutex<HashMap<String, Arc<Slot>>>,
}

impl PyStore {
    /// A store error naming the key and the Python exception (type and text).
    fn failure(py: Python<'_>, key: &str, what: &str, err: &PyErr) -> Error {
        let kind = err
            .get_type(py)
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "Exception".to_owned());
        Error::Store {
            key: key.to_owned(),
            message: format!("custom store {what} failed: {kind}: {}", err.value(py)),
            source: None,
        }
    }
}

impl TokenStore for PyStore {
    fn load(&self, key: &str) -> iop_core::Result<Option<StoredToken>> {
        let loaded = Python::attach(|py| -> Result<Option<serde_json::Value>, Error> {
            let _inside = InStoreCall::enter(self, key);
            let value = self
                .object
                .bind(py)
                .call_method1("load", (key,))
                .map_err(|e| Self::failure(py, key, "load", &e))?;
            if value.is_none() {
                return Ok(None);
            }
            if !value.is_instance_of::<PyDict>() {
                return Err(Error::Store {
                    key: key.to_owned(),
                    message: "custom store load must return a dict or None".to_owned(),
                    source: None,
                });
            }
            py_to_json(&value)
                .map(Some)
                .map_err(|e| Self::failure(py, key, "load", &e))
        })?;
        let Some(value) = loaded else {
            return Ok(None);
        };
        let token: TokenSet = serde_json::from_value(value).map_err(|e| Error::Store {
            key: key.to_owned(),
            message: format!("custom store returned a dict that is not a token set: {e}"),
            source: None,
        })?;
        let version = *locked(&self.versions).entry(key.to_owned()).or_insert(1);
        Ok(Some(StoredToken { token, version }))
    }

    fn save(
        &self,
        key: &str,
        token: &TokenSet,
        expected_version: Option<u64>,
    ) -> iop_core::Result<u64> {
        let value = serde_json::to_value(token).map_err(|e| Error::Store {
            key: key.to_owned(),
            message: format!("token set not serializable: {e}"),
            source: None,
        })?;
        // Compare and reserve the next version in one step, then call Python with no lock
        // held: a second save expecting the old version now conflicts, as it must.
        let (current, next) = {
            let mut versions = locked(&self.versions);
            let current = versions.get(key).copied();
            if current.is_some() && current != expected_version {
                return Err(Error::Store {
                    key: key.to_owned(),
                    message: "version conflict".to_owned(),
                    source: None,
                });
            }
            let next = current.unwrap_or(0) + 1;
            versions.insert(key.to_owned(), next);
            (current, next)
        };
        let saved = Python::attach(|py| -> Result<(), Error> {
            let _inside = InStoreCall::enter(self, key);
            let dict = json_to_py(py, &value).map_err(|e| Self::failure(py, key, "save", &e))?;
            self.object
                .bind(py)
                .call_method1("save", (key, dict))
                .map_err(|e| Self::failure(py, key, "save", &e))?;
            Ok(())
        });
        if let Err(error) = saved {
            // Give the reservation back unless another save has moved past it meanwhile.
            let mut versions = locked(&self.versions);
            if versions.get(key) == Some(&next) {
                match current {
                    Some(v) => versions.insert(key.to_owned(), v),
                    None => versions.remove(key),
                };
            }
            return Err(error);
        }
        Ok(next)
    }

    fn remove(&self, key: &str) -> iop_core::Result<bool> {
        let existed = self.load(key)?.is_some();
        let answer = Python::attach(|py| -> Result<Option<bool>, Error> {
            let object = self.object.bind(py);
            if !object.hasattr("remove").unwrap_or(false) {
                return Err(Error::Store {
                    key: key.to_owned(),
                    message: "this custom store has no remove(key) method".to_owned(),
                    source: None,
                });
            }
            let _inside = InStoreCall::enter(self, key);
            let answer = object
                .call_method1("remove", (key,))
                .map_err(|e| Self::failure(py, key, "remove", &e))?;
            Ok(answer.extract::<bool>().ok())
        })?;
        locked(&self.versions).remove(key);
        // `remove` may answer whether something was there; None (or anything else) means it
        // did not say, and what `load` found stands.
        Ok(answer.unwrap_or(existed))
    }

    fn keys(&self) -> iop_core::Result<Vec<String>> {
        Python::attach(|py| -> Result<Vec<String>, Error> {
            let object = self.object.bind(py);
            let has_keys = object.hasattr("keys").unwrap_or(false);
            if !has_keys {
                return Err(Error::Store {
                    key: String::new(),
                    message: "this custom store has no keys() method (refresh_due needs one)"
                        .to_owned(),
                    source: None,
                });
            }
            let listed = object
                .call_method0("keys")
                .and_then(|keys| {
                    keys.try_iter()?
                        .map(|k| k.and_then(|k| k.extract::<String>()))
                        .collect::<PyResult<Vec<String>>>()
                })
                .map_err(|e| Self::failure(py, "", "keys", &e))?;
            Ok(listed)
        })
    }

    fn lock(&self, key: &str) -> iop_core::Result<Box<dyn KeyLock + '_>> {
        let me = std::thread::current().id();
        let slot = Arc::clone(locked(&self.locks).entry(key.to_owned()).or_default());
        let mut holder = locked(&slot.holder);
        while let Some(thread) = *holder {
            if thread == me {
                // The store's own code, called with this key locked, asked a manager to lock it
                // again (a `put` or refresh of the same key inside `save`): waiting would be
                // waiting on ourselves.
                return Err(Error::Store {
                    key: key.to_owned(),
                    message: "the custom store called back into a token manager for this key \
                              while the key was locked for it (inside its own load or save)"
                        .to_owned(),
                    source: None,
                });
            }
            holder = slot
                .freed
                .wait(holder)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *holder = Some(me);
        drop(holder);
        Ok(Box::new(SlotLock { slot }))
    }
}

/// The [`PyStore`] of each custom store object in use, by object address. An entry that still
/// upgrades is the right one: its `PyStore` holds the object, so the address cannot have been
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
    let shared = Arc::new(PyStore {
        object: store.clone().unbind(),
        versions: Mutex::new(HashMap::new()),
        locks: Mutex::new(HashMap::new()),
    });
    stores.push((address, Arc::downgrade(&shared)));
    shared
}

/// The store behind a Python store argument, and for a custom store its [`PyStore`]'s address
/// (see [`inside_store_call`]).
fn store_of(store: Option<&Bound<'_, PyAny>>) -> PyResult<(Arc<dyn TokenStore>, Option<usize>)> {
    let Some(store) = store.filter(|s| !s.is_none()) else {
        return Ok((Arc::new(iop_core::MemoryStore::new()), None));
    };
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
        let address = Arc::as_ptr(&shared) as usize;
        return Ok((shared, Some(address)));
    }
    Err(PyTypeError::new_err(format!(
        "store must be None, iop.MemoryStore, iop.FileStore, iop.RedisStore, iop.PostgresStore or an object with load(key) and save(key, token_dict), got {}",
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

    /// Keys that failed: (key, error class, message), the class one of "signature", "refresh",
    /// "rate_limited", "retryable", "client", "unknown".
    #[getter]
    fn failed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (key, class, message) in &self.inner.failed {
            list.append(PyTuple::new(
                py,
                [key.as_str(), class.as_str(), message.as_str()],
            )?)?;
        }
        Ok(list)
    }

    /// Keys whose seller must authorize again: (key, time left as a timedelta, or None when the
    /// access token is already dead).
    #[getter]
    fn reauthorization_required<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (key, left) in &self.inner.reauthorization_required {
            let left = match left {
                Some(d) => timedelta_from(py, *d)?,
                None => py.None().into_bound(py),
            };
            list.append((key.as_str(), left))?;
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
    /// The address of the custom store's [`PyStore`], if the store is a Python object.
    custom_store: Option<usize>,
}

impl TokenManager {
    /// Refuses a call for `key` (any key when `None`) made from inside the custom store's own
    /// load, save or remove for that key: the manager holds the key's lock for that call, so
    /// waiting for it would wait for this very thread.
    fn refuse_reentry(&self, py: Python<'_>, key: Option<&str>) -> PyResult<()> {
        match self.custom_store {
            Some(store) if inside_store_call(store, key) => Err(to_pyerr(
                py,
                Error::Store {
                    key: key.unwrap_or_default().to_owned(),
                    message: "the custom store called back into a token manager for this key \
                              while the key was locked for it (inside its own load, save or \
                              remove); only get() may be called there"
                        .to_owned(),
                    source: None,
                },
            )),
            _ => Ok(()),
        }
    }
}

/// The seller key argument.
fn key_arg(key: &Bound<'_, PyAny>) -> PyResult<String> {
    text_arg("key", key, true)
}

#[pymethods]
impl TokenManager {
    /// A manager over `client` and `store` (None: in memory), refreshing tokens that expire
    /// within `margin` (a timedelta or seconds; default 3 days).
    #[new]
    #[pyo3(signature = (client, store=None, *, margin=None))]
    fn py_new(
        client: &Bound<'_, PyAny>,
        store: Option<&Bound<'_, PyAny>>,
        margin: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let client = client
            .cast::<Client>()
            .map_err(|_| PyTypeError::new_err("client must be an iop.Client"))?;
        let margin: Duration = match margin {
            Some(m) if !m.is_none() => duration_arg("margin", m)?,
            _ => DEFAULT_MARGIN,
        };
        let (store, custom_store) = store_of(store)?;
        let inner =
            iop_core::TokenManager::new(Arc::clone(&client.get().inner), store).with_margin(margin);
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

    /// Acts on a verified Lazada push (`iop.push.parse`): type 8 refreshes that seller now (or
    /// reports it through the reauthorization callback when it cannot be refreshed), type 13
    /// `close` reports it. Returns `"refreshed"`, `"reauthorization_required"` or `"ignored"`.
    fn handle_push(&self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<&'static str> {
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
        py.detach(move || inner.handle_push(&message))
            .map(iop_core::PushOutcome::as_str)
            .map_err(|e| to_pyerr(py, e))
    }

    fn __repr__(&self) -> String {
        format!(
            "TokenManager(margin_seconds={})",
            self.inner.margin().as_secs()
        )
    }
}
