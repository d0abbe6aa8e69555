//! The engine of `iop.aio`: a bounded pool of worker threads that run the blocking core calls,
//! and one completion queue per event loop that hands their outcomes back to the loop.
//!
//! Why worker threads rather than native async I/O: the core has one HTTP stack, blocking, with
//! its retry, timeout and single-flight rules; a second (async) stack would duplicate all of
//! them. A blocked worker costs a thread, so their number is fixed (default
//! [`DEFAULT_WORKERS`], `iop.aio.configure(max_workers=…)`), never one per call: calls beyond it
//! wait in a queue.
//!
//! A worker never takes the GIL for a client or token-manager call: it runs the core call, queues
//! the outcome (a Rust value) on the caller's loop queue and, when the queue was empty, writes one
//! byte to a socket pair whose other end the loop watches (`loop.add_reader`). The loop then
//! drains the queue on its own thread: it builds the Python objects and settles the futures,
//! [`MAX_BATCH`] at a time so that a burst of completions never holds the loop for long. A
//! future that is already done (its task was cancelled) is skipped: the work itself always runs
//! to its end, so a cancelled refresh is still saved.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use iop_core::{AccessToken, AuthCode, RefreshToken, Request, TokenSet};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::client::{Client, file_part};
use crate::convert::{int_arg, json_to_py, text_arg};
use crate::errors::to_pyerr;
use crate::manager::TokenManager;
use crate::token::Token;

/// Worker threads when `configure` was not called.
const DEFAULT_WORKERS: usize = 32;

/// The most worker threads `configure` accepts.
const MAX_WORKERS: i64 = 1024;

/// Futures settled per wake-up of the loop; the rest wait for its next iteration.
const MAX_BATCH: usize = 64;

/// The lowest Python logging level enabled on the `iop` loggers, as `iop.aio` last saw it
/// (0 until then: everything goes to Python).
static LOG_THRESHOLD: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// Whether this thread is a worker of the pool.
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Whether a log record of `level` is dropped without asking Python: only on a worker, and only
/// below the level `iop.aio` read from `logging` when the call was queued. Without it every debug
/// record of every worker would take the GIL to learn it is disabled, and those GIL hand-offs
/// are what stalls the event loop (a level change applies to calls queued after it).
pub(crate) fn worker_skips(level: log::Level) -> bool {
    let python_level = match level {
        log::Level::Error => 40,
        log::Level::Warn => 30,
        log::Level::Info => 20,
        log::Level::Debug => 10,
        log::Level::Trace => 5,
    };
    ON_WORKER.with(Cell::get) && python_level < LOG_THRESHOLD.load(Ordering::Relaxed)
}

/// Sets the lowest enabled level of the `iop` loggers, for [`worker_skips`].
#[pyfunction]
fn _aio_log_level(level: u32) {
    LOG_THRESHOLD.store(level, Ordering::Relaxed);
}

use crate::locked;

/// What a job produced, turned into a Python object on the loop thread.
enum Outcome {
    /// A JSON body (`call`, `call_raw`).
    Json(serde_json::Value),
    /// A token set (`create_token`, `refresh_token`).
    Token(TokenSet),
    /// A token set or nothing (`get`).
    MaybeToken(Option<TokenSet>),
    /// An access token (`access_token`).
    Secret(AccessToken),
    /// A bool (`remove`).
    Bool(bool),
    /// None (`put`).
    Unit,
    /// A Python object made by a Python function.
    Object(Py<PyAny>),
    /// A core error, raised as the sync API raises it.
    Failed(iop_core::Error),
    /// A Python exception.
    Raised(PyErr),
    /// The job panicked (a bug): a RuntimeError rather than a future that never ends.
    Panicked,
}

impl Outcome {
    /// The Python value, or the exception to set.
    fn into_py(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        match self {
            Self::Json(value) => json_to_py(py, &value),
            Self::Token(token) => Ok(Bound::new(py, Token::new(token))?.into_any()),
            Self::MaybeToken(Some(token)) => Ok(Bound::new(py, Token::new(token))?.into_any()),
            Self::MaybeToken(None) | Self::Unit => Ok(py.None().into_bound(py)),
            Self::Secret(token) => Ok(PyString::new(py, token.secret()).into_any()),
            Self::Bool(b) => Ok(pyo3::types::PyBool::new(py, b).to_owned().into_any()),
            Self::Object(object) => Ok(object.into_bound(py)),
            Self::Failed(error) => Err(to_pyerr(py, error)),
            Self::Raised(error) => Err(error),
            Self::Panicked => Err(PyRuntimeError::new_err(
                "iop.aio: the worker running this call panicked (a bug in iop)",
            )),
        }
    }
}

/// Outcomes waiting for their loop.
struct Ready {
    items: VecDeque<(Py<PyAny>, Outcome)>,
    /// Whether a byte was written since the loop last emptied the queue.
    signalled: bool,
}

/// One event loop's completion queue and its wake-up socket pair.
struct Queue {
    ready: Mutex<Ready>,
    reader: UnixStream,
    writer: UnixStream,
}

impl Queue {
    /// Queues an outcome and wakes the loop if it was not woken already. Needs no GIL.
    fn push(&self, future: Py<PyAny>, outcome: Outcome) {
        let wake = {
            let mut ready = locked(&self.ready);
            ready.items.push_back((future, outcome));
            !std::mem::replace(&mut ready.signalled, true)
        };
        if wake {
            self.wake();
        }
    }

    /// Writes the wake-up byte. A full socket buffer means unread bytes, so the loop is awake.
    fn wake(&self) {
        let _ = (&self.writer).write(&[1]);
    }
}

/// The completion queue of one event loop (`iop.aio` makes one per loop and registers
/// `drain` with `loop.add_reader(fileno(), drain)`).
#[pyclass(frozen, module = "iop._native", name = "_Completions")]
pub(crate) struct Completions {
    queue: Arc<Queue>,
}

#[pymethods]
impl Completions {
    /// A new queue with its socket pair (non-blocking, closed with the queue).
    #[new]
    fn py_new() -> PyResult<Self> {
        let (reader, writer) = UnixStream::pair()
            .map_err(|e| PyRuntimeError::new_err(format!("iop.aio: no socket pair: {e}")))?;
        for end in [&reader, &writer] {
            end.set_nonblocking(true).map_err(|e| {
                PyRuntimeError::new_err(format!("iop.aio: socket pair not non-blocking: {e}"))
            })?;
        }
        Ok(Self {
            queue: Arc::new(Queue {
                ready: Mutex::new(Ready {
                    items: VecDeque::new(),
                    signalled: false,
                }),
                reader,
                writer,
            }),
        })
    }

    /// The descriptor the loop watches.
    fn fileno(&self) -> i32 {
        self.queue.reader.as_raw_fd()
    }

    /// Settles up to [`MAX_BATCH`] waiting futures (on the loop thread); wakes the loop again
    /// when more are waiting.
    fn drain(&self, py: Python<'_>) {
        let mut sink = [0u8; 256];
        while let Ok(n) = (&self.queue.reader).read(&mut sink) {
            if n == 0 {
                break;
            }
        }
        let (batch, more) = {
            let mut ready = locked(&self.queue.ready);
            let n = ready.items.len().min(MAX_BATCH);
            let batch: Vec<(Py<PyAny>, Outcome)> = ready.items.drain(..n).collect();
            let more = !ready.items.is_empty();
            if !more {
                ready.signalled = false;
            }
            (batch, more)
        };
        if more {
            self.queue.wake();
        }
        for (future, outcome) in batch {
            settle(py, future.bind(py), outcome);
        }
    }

    /// Outcomes not yet handed to their futures.
    fn pending(&self) -> usize {
        locked(&self.queue.ready).items.len()
    }

    fn __repr__(&self) -> String {
        format!("_Completions(pending={})", self.pending())
    }
}

/// Sets a future's result or exception, unless it is done already (cancelled).
fn settle(py: Python<'_>, future: &Bound<'_, PyAny>, outcome: Outcome) {
    match future
        .call_method0(intern!(py, "done"))
        .and_then(|d| d.is_truthy())
    {
        Ok(false) => {}
        // Cancelled (or not a future): the outcome is dropped, the work was done.
        _ => return,
    }
    let set = match outcome.into_py(py) {
        Ok(value) => future.call_method1(intern!(py, "set_result"), (value,)),
        Err(error) => future.call_method1(intern!(py, "set_exception"), (error.into_value(py),)),
    };
    if let Err(e) = set {
        e.write_unraisable(py, Some(future));
    }
}

/// Work for a worker thread.
type Work = Box<dyn FnOnce() -> Outcome + Send>;

/// A job: the work, and where its outcome goes.
struct Job {
    work: Work,
    queue: Arc<Queue>,
    future: Py<PyAny>,
}

/// What the workers receive.
enum Message {
    Run(Job),
    /// One worker ends (the pool shrinks).
    Stop,
}

/// The worker threads and their shared job channel.
struct Pool {
    sender: mpsc::Sender<Message>,
    receiver: Arc<Mutex<mpsc::Receiver<Message>>>,
    workers: usize,
    /// The process that started the threads: a forked child starts its own.
    pid: u32,
}

/// The pool, started on first use (importing `iop.aio` starts no thread).
static POOL: Mutex<Option<Pool>> = Mutex::new(None);

/// The configured number of workers.
static WANTED: AtomicUsize = AtomicUsize::new(DEFAULT_WORKERS);

/// A worker: runs jobs until told to stop or the pool is gone.
fn work(receiver: Arc<Mutex<mpsc::Receiver<Message>>>) {
    ON_WORKER.with(|w| w.set(true));
    loop {
        let message = locked(&receiver).recv();
        match message {
            Ok(Message::Run(job)) => {
                let Job {
                    work,
                    queue,
                    future,
                } = job;
                let outcome = catch_unwind(AssertUnwindSafe(work)).unwrap_or(Outcome::Panicked);
                queue.push(future, outcome);
            }
            Ok(Message::Stop) | Err(_) => return,
        }
    }
}

impl Pool {
    /// An empty pool for this process.
    fn new() -> Self {
        let (sender, receiver) = mpsc::channel();
        Self {
            sender,
            receiver: Arc::new(Mutex::new(receiver)),
            workers: 0,
            pid: std::process::id(),
        }
    }

    /// Starts or stops workers until there are `wanted`. Fails only when none can run.
    fn resize(&mut self, wanted: usize) -> PyResult<()> {
        while self.workers < wanted {
            let receiver = Arc::clone(&self.receiver);
            let started = std::thread::Builder::new()
                .name("iop-aio".to_owned())
                .spawn(move || work(receiver));
            match started {
                Ok(_) => self.workers += 1,
                Err(e) if self.workers == 0 => {
                    return Err(PyRuntimeError::new_err(format!(
                        "iop.aio: cannot start a worker thread: {e}"
                    )));
                }
                // Fewer workers than configured still work; the next call tries again.
                Err(_) => break,
            }
        }
        while self.workers > wanted {
            if self.sender.send(Message::Stop).is_err() {
                break;
            }
            self.workers -= 1;
        }
        Ok(())
    }
}

/// Queues `work`; its outcome settles `future` on the loop of `completions`.
fn submit(
    completions: &Bound<'_, Completions>,
    future: &Bound<'_, PyAny>,
    work: impl FnOnce() -> Outcome + Send + 'static,
) -> PyResult<()> {
    let job = Job {
        work: Box::new(work),
        queue: Arc::clone(&completions.get().queue),
        future: future.clone().unbind(),
    };
    let mut pool = locked(&POOL);
    if pool.as_ref().is_none_or(|p| p.pid != std::process::id()) {
        *pool = Some(Pool::new());
    }
    let Some(pool) = pool.as_mut() else {
        return Err(PyRuntimeError::new_err("iop.aio: no worker pool"));
    };
    pool.resize(WANTED.load(Ordering::Relaxed))?;
    pool.sender
        .send(Message::Run(job))
        .map_err(|_| PyRuntimeError::new_err("iop.aio: the worker pool is gone"))
}

/// Sets the number of worker threads (1 to 1024; started on first use, resized now if running)
/// and returns it; with None, only returns it.
#[pyfunction]
#[pyo3(signature = (max_workers=None))]
fn _aio_configure(max_workers: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    if let Some(n) = max_workers.filter(|n| !n.is_none()) {
        let n = int_arg(
            "max_workers",
            n,
            1,
            MAX_WORKERS,
            &format!("max_workers must be at least 1 and at most {MAX_WORKERS}"),
        )?;
        let n = usize::try_from(n).unwrap_or(1);
        WANTED.store(n, Ordering::Relaxed);
        let mut pool = locked(&POOL);
        if let Some(pool) = pool.as_mut().filter(|p| p.pid == std::process::id()) {
            pool.resize(n)?;
        }
    }
    Ok(WANTED.load(Ordering::Relaxed))
}

/// Worker threads running now (0 before first use).
#[pyfunction]
fn _aio_workers() -> usize {
    locked(&POOL)
        .as_ref()
        .filter(|p| p.pid == std::process::id())
        .map_or(0, |p| p.workers)
}

/// `Client.create_token` on a worker.
#[pyfunction]
#[pyo3(signature = (completions, future, client, code, uuid=None))]
fn _aio_create_token(
    completions: &Bound<'_, Completions>,
    future: &Bound<'_, PyAny>,
    client: &Bound<'_, Client>,
    code: &Bound<'_, PyAny>,
    uuid: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let code = AuthCode::new(text_arg("code", code, true)?);
    let uuid = match uuid {
        Some(u) if !u.is_none() => Some(text_arg("uuid", u, true)?),
        _ => None,
    };
    let inner = Arc::clone(&client.get().inner);
    submit(completions, future, move || {
        match inner.create_token(&code, uuid.as_deref()) {
            Ok(token) => Outcome::Token(token),
            Err(e) => Outcome::Failed(e),
        }
    })
}

/// `Client.refresh_token` on a worker.
#[pyfunction]
fn _aio_refresh_token(
    completions: &Bound<'_, Completions>,
    future: &Bound<'_, PyAny>,
    client: &Bound<'_, Client>,
    refresh_token: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let refresh = RefreshToken::new(text_arg("refresh_token", refresh_token, true)?);
    let inner = Arc::clone(&client.get().inner);
    submit(completions, future, move || {
        match inner.refresh_token(&refresh) {
            Ok(token) => Outcome::Token(token),
            Err(e) => Outcome::Failed(e),
        }
    })
}

/// `Client.call` (or, with `raw`, the call that keeps gateway error envelopes as values) on a
/// worker. The request is built here, on the caller's thread: later changes to `params` do
/// not reach it. `files` (a dict: field name → bytes, a `(file_name, data[, content_type])`
/// tuple or a file object) makes it a multipart upload; the field names are checked here, and
/// the parts are converted on the worker (a file object is read there, not on the event loop).
#[pyfunction]
#[pyo3(signature = (completions, future, client, api, params=None, access_token=None, http_method=None, raw=false, files=None))]
#[allow(clippy::too_many_arguments)]
fn _aio_call(
    completions: &Bound<'_, Completions>,
    future: &Bound<'_, PyAny>,
    client: &Bound<'_, Client>,
    api: &Bound<'_, PyAny>,
    params: Option<&Bound<'_, PyAny>>,
    access_token: Option<&Bound<'_, PyAny>>,
    http_method: Option<&Bound<'_, PyAny>>,
    raw: bool,
    files: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let py = api.py();
    let post = PyString::new(py, "POST").into_any();
    let method = match http_method {
        Some(m) if !m.is_none() => m,
        _ => &post,
    };
    let params = params.filter(|p| !p.is_none());
    let request = Client::request(api, params, method)?;
    let token = match access_token {
        Some(t) if !t.is_none() => Some(AccessToken::new(text_arg("access_token", t, true)?)),
        _ => None,
    };
    let files = file_snapshot(files)?;
    let inner = Arc::clone(&client.get().inner);
    submit(completions, future, move || {
        let request = match with_files(request, files) {
            Ok(request) => request,
            Err(raised) => return Outcome::Raised(raised),
        };
        let result = if raw {
            inner.call_raw(&request, token.as_ref())
        } else {
            inner.call(&request, token.as_ref())
        };
        match result {
            Ok(value) => Outcome::Json(value),
            Err(e) => Outcome::Failed(e),
        }
    })
}

/// The items of a `files` dict (field name checked, value kept), in their order: the dict may
/// change after the call that took it.
fn file_snapshot(files: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, Py<PyAny>)>> {
    let Some(files) = files.filter(|f| !f.is_none()) else {
        return Ok(Vec::new());
    };
    let files = files
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("files must be a dict or None"))?;
    let mut parts = Vec::with_capacity(files.len());
    for item in files.items().iter() {
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
        parts.push((
            text_arg("file parameter name", &name, true)?,
            value.unbind(),
        ));
    }
    Ok(parts)
}

/// `TokenManager.call` (or, with `raw`, `call_raw`) on a worker: the request is built here
/// (later changes to `params` do not reach it), the file parts are read on the worker.
#[pyfunction]
#[pyo3(signature = (completions, future, manager, key, api, params=None, files=None, method=None, raw=false))]
#[allow(clippy::too_many_arguments)]
fn _aio_manager_call(
    completions: &Bound<'_, Completions>,
    future: &Bound<'_, PyAny>,
    manager: &Bound<'_, TokenManager>,
    key: &Bound<'_, PyAny>,
    api: &Bound<'_, PyAny>,
    params: Option<&Bound<'_, PyAny>>,
    files: Option<&Bound<'_, PyAny>>,
    method: Option<&Bound<'_, PyAny>>,
    raw: bool,
) -> PyResult<()> {
    let key = crate::manager::key_arg(key)?;
    let request = crate::manager::call_request(api, params, None, method)?;
    let files = file_snapshot(files)?;
    let inner = Arc::clone(&manager.get().inner);
    submit(completions, future, move || {
        let request = match with_files(request, files) {
            Ok(request) => request,
            Err(raised) => return Outcome::Raised(raised),
        };
        let result = if raw {
            inner.call_raw(&key, &request)
        } else {
            inner.call(&key, &request)
        };
        match result {
            Ok(value) => Outcome::Json(value),
            Err(e) => Outcome::Failed(e),
        }
    })
}

/// Adds the file parts to `request`, converting (and reading) them under the GIL; no GIL is
/// taken when there are none.
fn with_files(request: Request, files: Vec<(String, Py<PyAny>)>) -> PyResult<Request> {
    if files.is_empty() {
        return Ok(request);
    }
    Python::attach(move |py| {
        let mut request = request;
        for (name, value) in files {
            request = request.file(file_part(&name, value.bind(py))?);
        }
        Ok(request)
    })
}

/// A `TokenManager` method (`put`, `get`, `remove`, `access_token`) on a worker.
#[pyfunction]
#[pyo3(signature = (completions, future, manager, op, key, token=None))]
fn _aio_manager(
    completions: &Bound<'_, Completions>,
    future: &Bound<'_, PyAny>,
    manager: &Bound<'_, TokenManager>,
    op: &str,
    key: &Bound<'_, PyAny>,
    token: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let key = text_arg("key", key, true)?;
    let inner = Arc::clone(&manager.get().inner);
    match op {
        "access_token" => submit(completions, future, move || {
            match inner.access_token(&key) {
                Ok(t) => Outcome::Secret(t),
                Err(e) => Outcome::Failed(e),
            }
        }),
        "get" => submit(completions, future, move || match inner.get(&key) {
            Ok(t) => Outcome::MaybeToken(t),
            Err(e) => Outcome::Failed(e),
        }),
        "remove" => submit(completions, future, move || match inner.remove(&key) {
            Ok(b) => Outcome::Bool(b),
            Err(e) => Outcome::Failed(e),
        }),
        "put" => {
            let token = token
                .and_then(|t| t.cast::<Token>().ok())
                .ok_or_else(|| PyTypeError::new_err("token must be an iop.Token"))?
                .get()
                .inner
                .clone();
            submit(completions, future, move || match inner.put(&key, &token) {
                Ok(()) => Outcome::Unit,
                Err(e) => Outcome::Failed(e),
            })
        }
        _ => Err(PyValueError::new_err(format!(
            "unknown token manager operation {op:?}"
        ))),
    }
}

/// `function(*args)` on a worker (for calls that run Python code anyway, such as
/// `refresh_due` with its progress callback). The worker holds the GIL only while Python runs.
#[pyfunction]
fn _aio_run(
    completions: &Bound<'_, Completions>,
    future: &Bound<'_, PyAny>,
    function: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
) -> PyResult<()> {
    if !function.is_callable() {
        return Err(PyTypeError::new_err("function must be callable"));
    }
    let function = function.clone().unbind();
    let args = args.clone().unbind();
    submit(completions, future, move || {
        Python::attach(move |py| {
            let outcome = match function.bind(py).call1(args.bind(py)) {
                Ok(value) => Outcome::Object(value.unbind()),
                Err(e) => Outcome::Raised(e),
            };
            drop(function);
            drop(args);
            outcome
        })
    })
}

/// Adds the engine to the module `iop._native`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Completions>()?;
    m.add_function(wrap_pyfunction!(_aio_configure, m)?)?;
    m.add_function(wrap_pyfunction!(_aio_workers, m)?)?;
    m.add_function(wrap_pyfunction!(_aio_log_level, m)?)?;
    m.add_function(wrap_pyfunction!(_aio_create_token, m)?)?;
    m.add_function(wrap_pyfunction!(_aio_refresh_token, m)?)?;
    m.add_function(wrap_pyfunction!(_aio_call, m)?)?;
    m.add_function(wrap_pyfunction!(_aio_manager, m)?)?;
    m.add_function(wrap_pyfunction!(_aio_manager_call, m)?)?;
    m.add_function(wrap_pyfunction!(_aio_run, m)?)?;
    Ok(())
}
