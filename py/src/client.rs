//! `iop.Client`: one app on one gateway; pooled connections, GIL released while on the network.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use iop_core::{
    AccessToken, AppSecret, AuthCode, Clock, FilePart, Gateway, HttpMethod, RefreshToken, Request,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyTuple};

use crate::convert::{int_arg, json_to_py, param_pairs, text_arg};
use crate::errors::to_pyerr;
use crate::token::Token;

/// The AliExpress gateway, `iop.ALIEXPRESS`.
pub(crate) const ALIEXPRESS: &str = iop_core::gateway::ALIEXPRESS;

/// A client for one app on one gateway. Safe to share between threads; the GIL is released
/// during every network call.
#[pyclass(frozen, module = "iop", name = "Client")]
pub(crate) struct Client {
    pub(crate) inner: Arc<iop_core::Client>,
    app_key: String,
    base_url: String,
    /// The base URL as given (with a vendor `/rest` or `/sync` suffix), for `explain`.
    given_url: String,
    /// Whether `close()` was called.
    closed: AtomicBool,
}

/// Settings of a new client, checked.
pub(crate) struct ClientSettings {
    pub(crate) app_key: String,
    pub(crate) app_secret: AppSecret,
    pub(crate) base_url: String,
    pub(crate) timeout: Timeouts,
    pub(crate) partner_id: Option<String>,
    pub(crate) clock: Option<Arc<dyn Clock>>,
    pub(crate) network: Network,
}

/// Connect and read timeouts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) read: Duration,
}

impl Timeouts {
    /// A read timeout alone: connecting may take as long, up to 10 s.
    pub(crate) fn read(read: Duration) -> Self {
        Self {
            connect: read.min(Duration::from_secs(10)),
            read,
        }
    }
}

/// The proxy, CA and retry settings of a client (`proxy=`, `ca_file=`, `trust_env=`,
/// `retries=`).
#[derive(Default)]
pub(crate) struct Network {
    pub(crate) proxy: Option<String>,
    pub(crate) ca_file: Option<std::path::PathBuf>,
    pub(crate) trust_env: bool,
    /// Attempts after the first; `None`: the default policy.
    pub(crate) retries: Option<u32>,
}

impl Network {
    /// The settings from the keyword arguments of `Client(...)`.
    pub(crate) fn from_args(
        proxy: Option<&Bound<'_, PyAny>>,
        ca_file: Option<&Bound<'_, PyAny>>,
        trust_env: Option<&Bound<'_, PyAny>>,
        retries: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let proxy = match proxy {
            Some(p) if !p.is_none() => Some(text_arg("proxy", p, true)?),
            _ => None,
        };
        let ca_file = match ca_file {
            Some(f) if !f.is_none() => Some(path_arg("ca_file", f)?),
            _ => None,
        };
        let trust_env = match trust_env {
            Some(t) if !t.is_none() => {
                if !t.is_instance_of::<pyo3::types::PyBool>() {
                    return Err(PyTypeError::new_err(format!(
                        "trust_env must be a bool, got {}",
                        t.get_type().name()?
                    )));
                }
                t.extract::<bool>()?
            }
            _ => false,
        };
        let retries = match retries {
            Some(r) if !r.is_none() => Some(
                u32::try_from(int_arg(
                    "retries",
                    r,
                    0,
                    MAX_RETRIES,
                    &format!("retries must be from 0 to {MAX_RETRIES}"),
                )?)
                .unwrap_or(0),
            ),
            _ => None,
        };
        Ok(Self {
            proxy,
            ca_file,
            trust_env,
            retries,
        })
    }
}

/// The most retries `retries=` accepts.
const MAX_RETRIES: i64 = 100;

/// A file path argument: `str` or `os.PathLike`.
fn path_arg(name: &str, value: &Bound<'_, PyAny>) -> PyResult<std::path::PathBuf> {
    let text = if value.is_instance_of::<pyo3::types::PyString>() {
        value.extract::<String>()?
    } else if value.hasattr("__fspath__")? {
        value
            .call_method0("__fspath__")?
            .extract::<String>()
            .map_err(|_| {
                PyTypeError::new_err(format!("{name} must be a str path or os.PathLike of str"))
            })?
    } else {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a str or os.PathLike, got {}",
            value.get_type().name()?
        )));
    };
    if text.trim().is_empty() {
        return Err(PyValueError::new_err(format!("{name} must not be empty")));
    }
    Ok(std::path::PathBuf::from(text))
}

/// `timeout=`: seconds (the read timeout) or a `(connect, read)` pair of seconds.
pub(crate) fn timeouts_arg(timeout: &Bound<'_, PyAny>) -> PyResult<Timeouts> {
    if let Ok(pair) = timeout.cast::<PyTuple>() {
        if pair.len() != 2 {
            return Err(PyValueError::new_err(
                "timeout must be seconds or a (connect, read) pair of seconds",
            ));
        }
        return Ok(Timeouts {
            connect: timeout_arg(&pair.get_item(0)?)?,
            read: timeout_arg(&pair.get_item(1)?)?,
        });
    }
    timeout_arg(timeout).map(Timeouts::read)
}

/// The longest timeout accepted: about 31 years.
const MAX_TIMEOUT_SECS: f64 = 1e9;

/// Timeout seconds as a duration: finite, positive and at most [`MAX_TIMEOUT_SECS`].
pub(crate) fn timeout_arg(timeout: &Bound<'_, PyAny>) -> PyResult<Duration> {
    if timeout.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err("timeout must be a number of seconds"));
    }
    let seconds: f64 = timeout.extract().map_err(|e: PyErr| {
        // An int too large for a float is a value out of range, not a wrong type.
        if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(timeout.py()) {
            PyValueError::new_err(format!(
                "timeout must be at most {MAX_TIMEOUT_SECS:.0} seconds"
            ))
        } else {
            PyTypeError::new_err("timeout must be a number of seconds")
        }
    })?;
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(PyValueError::new_err(
            "timeout must be a positive number of seconds",
        ));
    }
    // The client adds the timeout to `Instant::now()`, which panics past the clock's range.
    if seconds > MAX_TIMEOUT_SECS {
        return Err(PyValueError::new_err(format!(
            "timeout must be at most {MAX_TIMEOUT_SECS:.0} seconds"
        )));
    }
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| PyValueError::new_err("timeout is out of range"))
}

impl Client {
    /// Builds a client from checked settings.
    pub(crate) fn build(py: Python<'_>, settings: ClientSettings) -> PyResult<Self> {
        let gateway = Gateway::new(&settings.base_url).map_err(|e| to_pyerr(py, e))?;
        let base_url = gateway.base_url().to_owned();
        let network = settings.network;
        let http = iop_core::HttpConfig {
            connect_timeout: settings.timeout.connect,
            read_timeout: settings.timeout.read,
            proxy: network.proxy,
            extra_root_certificates: network.ca_file,
            trust_env: network.trust_env,
            ..iop_core::HttpConfig::default()
        };
        let mut builder =
            iop_core::Client::builder(settings.app_key.clone(), settings.app_secret, gateway)
                .http_config(http);
        if let Some(retries) = network.retries {
            builder = builder.retry(iop_core::RetryPolicy {
                max_attempts: retries.saturating_add(1),
                ..iop_core::RetryPolicy::default()
            });
        }
        if let Some(partner_id) = settings.partner_id {
            builder = builder.partner_id(partner_id);
        }
        if let Some(clock) = settings.clock {
            builder = builder.clock(clock);
        }
        let inner = builder.build().map_err(|e| to_pyerr(py, e))?;
        Ok(Self {
            inner: Arc::new(inner),
            app_key: settings.app_key,
            base_url,
            given_url: settings.base_url,
            closed: AtomicBool::new(false),
        })
    }

    /// The file parts of a `files=` argument (a mapping; `None`: none), read now.
    pub(crate) fn with_files(
        mut request: Request,
        files: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Request> {
        let Some(files) = files.filter(|f| !f.is_none()) else {
            return Ok(request);
        };
        let files = files
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err("files must be a dict or None"))?;
        // A snapshot of the items: reading a file object runs Python code that could resize the
        // dict, which pyo3's live dict iterator answers with a panic.
        for item in files.items().iter() {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            let name = text_arg("file parameter name", &k, true)?;
            request = request.file(file_part(&name, &v)?);
        }
        Ok(request)
    }

    /// Builds the core request of a call.
    pub(crate) fn request(
        api: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
        http_method: &Bound<'_, PyAny>,
    ) -> PyResult<Request> {
        let py = api.py();
        let api = text_arg("api", api, true)?;
        let method = text_arg("http_method", http_method, true)?;
        let method: HttpMethod = method.parse().map_err(|_| {
            PyValueError::new_err(format!(
                "http_method must be 'POST' or 'GET', got {method:?}"
            ))
        })?;
        let mut request = Request::new(&api)
            .map_err(|e| to_pyerr(py, e))?
            .http_method(method);
        for (key, value) in param_pairs(params)? {
            request.set_param(key, value);
        }
        Ok(request)
    }

    /// Sends a request with the GIL released; `raw` keeps gateway error envelopes as values.
    pub(crate) fn send<'py>(
        &self,
        py: Python<'py>,
        request: Request,
        access_token: Option<AccessToken>,
        raw: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let inner = Arc::clone(&self.inner);
        let result = py.detach(move || {
            if raw {
                inner.call_raw(&request, access_token.as_ref())
            } else {
                inner.call(&request, access_token.as_ref())
            }
        });
        match result {
            Ok(value) => json_to_py(py, &value),
            Err(e) => Err(to_pyerr(py, e)),
        }
    }
}

/// An optional access token argument: `str` or None.
fn access_token_arg(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<AccessToken>> {
    match value {
        Some(v) if !v.is_none() => Ok(Some(AccessToken::new(text_arg("access_token", v, true)?))),
        _ => Ok(None),
    }
}

/// One file part from what the vendor SDKs accept: bytes, a `(file_name, bytes[, content_type])`
/// tuple, or a file object with `read()`.
pub(crate) fn file_part(name: &str, value: &Bound<'_, PyAny>) -> PyResult<FilePart> {
    let mut file_name = name.to_owned();
    let mut content_type = "application/octet-stream".to_owned();
    let mut body = value.clone();
    if let Ok(tuple) = value.cast::<PyTuple>() {
        if tuple.len() < 2 || tuple.len() > 3 {
            return Err(PyValueError::new_err(format!(
                "file {name:?}: a tuple must be (file_name, data) or (file_name, data, content_type)"
            )));
        }
        file_name = text_arg("file name", &tuple.get_item(0)?, true)?;
        body = tuple.get_item(1)?;
        if tuple.len() == 3 {
            content_type = text_arg("content type", &tuple.get_item(2)?, true)?;
        }
    } else if value.hasattr("read")?
        && let Ok(n) = value.getattr("name")
        && let Ok(n) = n.extract::<String>()
        && let Some(base) = std::path::Path::new(&n).file_name()
    {
        file_name = base.to_string_lossy().into_owned();
    }
    if body.hasattr("read")? && !body.is_instance_of::<PyBytes>() {
        body = body.call_method0("read")?;
    }
    let data: Vec<u8> = if let Ok(b) = body.cast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else if let Ok(b) = body.cast::<PyByteArray>() {
        b.to_vec()
    } else if let Ok(s) = body.cast::<pyo3::types::PyString>() {
        s.to_cow()?.as_bytes().to_vec()
    } else {
        return Err(PyTypeError::new_err(format!(
            "file {name:?}: expected bytes, a file object or a (file_name, data) tuple, got {}",
            body.get_type().name()?
        )));
    };
    Ok(FilePart {
        name: name.to_owned(),
        file_name,
        content_type,
        data,
    })
}

#[pymethods]
impl Client {
    /// A client for `app_key`/`app_secret` on `base_url` (default AliExpress; the vendor style
    /// `…/rest` or `…/sync` is accepted). `timeout` is the read timeout in seconds, or a
    /// `(connect, read)` pair; `proxy` an `http://[user:password@]host:port` (or `https://`)
    /// CONNECT proxy; `ca_file` a PEM file trusted beside the bundled roots; `trust_env` reads
    /// `HTTPS_PROXY`, `NO_PROXY` and `SSL_CERT_FILE` too; `retries` the attempts after the first
    /// for failures safe to repeat (default 2).
    #[new]
    #[pyo3(signature = (app_key, app_secret, *, base_url=None, timeout=None, partner_id=None, proxy=None, ca_file=None, trust_env=None, retries=None), text_signature = "(app_key, app_secret, *, base_url=None, timeout=None, partner_id=None, proxy=None, ca_file=None, trust_env=False, retries=None)")]
    #[allow(clippy::too_many_arguments)] // the keyword arguments of Client(...)
    fn py_new(
        py: Python<'_>,
        app_key: &Bound<'_, PyAny>,
        app_secret: &Bound<'_, PyAny>,
        base_url: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
        partner_id: Option<&Bound<'_, PyAny>>,
        proxy: Option<&Bound<'_, PyAny>>,
        ca_file: Option<&Bound<'_, PyAny>>,
        trust_env: Option<&Bound<'_, PyAny>>,
        retries: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let base_url = match base_url {
            Some(b) if !b.is_none() => text_arg("base_url", b, true)?,
            _ => ALIEXPRESS.to_owned(),
        };
        let timeout = match timeout {
            Some(t) if !t.is_none() => timeouts_arg(t)?,
            _ => Timeouts::read(Duration::from_secs(30)),
        };
        let partner_id = match partner_id {
            Some(p) if !p.is_none() => Some(text_arg("partner_id", p, true)?),
            _ => None,
        };
        let network = Network::from_args(proxy, ca_file, trust_env, retries)?;
        Self::build(
            py,
            ClientSettings {
                app_key: text_arg("app_key", app_key, true)?,
                app_secret: AppSecret::new(text_arg("app_secret", app_secret, true)?),
                base_url,
                timeout,
                partner_id,
                clock: None,
                network,
            },
        )
    }

    /// `/auth/token/create`: exchanges an authorization code for a token set.
    #[pyo3(signature = (code, *, uuid=None))]
    fn create_token(
        &self,
        py: Python<'_>,
        code: &Bound<'_, PyAny>,
        uuid: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Token> {
        let code = AuthCode::new(text_arg("code", code, true)?);
        let uuid = match uuid {
            Some(u) if !u.is_none() => Some(text_arg("uuid", u, true)?),
            _ => None,
        };
        let inner = Arc::clone(&self.inner);
        py.detach(move || inner.create_token(&code, uuid.as_deref()))
            .map(Token::new)
            .map_err(|e| to_pyerr(py, e))
    }

    /// `/auth/token/refresh`: a new token set. Store its refresh token: the old one may be dead.
    fn refresh_token(&self, py: Python<'_>, refresh_token: &Bound<'_, PyAny>) -> PyResult<Token> {
        let refresh = RefreshToken::new(text_arg("refresh_token", refresh_token, true)?);
        let inner = Arc::clone(&self.inner);
        py.detach(move || inner.refresh_token(&refresh))
            .map(Token::new)
            .map_err(|e| to_pyerr(py, e))
    }

    /// Calls any API (GOP path or TOP dotted name) and returns the body as a dict; gateway
    /// error envelopes raise `GatewayError` and its subclasses. `files` (field name → bytes, a
    /// `(file_name, data[, content_type])` tuple or a file object) makes it a multipart upload.
    #[pyo3(signature = (api, params=None, *, access_token=None, http_method=None, files=None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        api: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        access_token: Option<&Bound<'py, PyAny>>,
        http_method: Option<&Bound<'py, PyAny>>,
        files: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.call_with(py, api, params, access_token, http_method, files, false)
    }

    /// As `call`, but a gateway error envelope is returned as the body instead of raised (what
    /// the vendor SDKs' `execute` does). Transport failures still raise.
    #[pyo3(signature = (api, params=None, *, access_token=None, http_method=None, files=None))]
    fn call_raw<'py>(
        &self,
        py: Python<'py>,
        api: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        access_token: Option<&Bound<'py, PyAny>>,
        http_method: Option<&Bound<'py, PyAny>>,
        files: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.call_with(py, api, params, access_token, http_method, files, true)
    }

    /// Closes the client's pooled connections; later calls (also through token managers made
    /// from it) raise `ValueError`. Calling it twice is fine. `with iop.Client(...) as client:`
    /// closes it at the end of the block.
    fn close(&self, py: Python<'_>) {
        self.closed.store(true, Ordering::Relaxed);
        let inner = Arc::clone(&self.inner);
        py.detach(move || inner.close());
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    /// The vendor-compatible call behind `IopClient.execute`: returns the body even for error
    /// envelopes. `files` maps field names to bytes, file objects or tuples.
    #[pyo3(signature = (api, params, access_token, http_method, simplify, files))]
    #[allow(clippy::too_many_arguments)]
    fn _call_raw<'py>(
        &self,
        py: Python<'py>,
        api: &Bound<'py, PyAny>,
        params: &Bound<'py, PyAny>,
        access_token: Option<&Bound<'py, PyAny>>,
        http_method: &Bound<'py, PyAny>,
        simplify: bool,
        files: &Bound<'py, pyo3::types::PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = Self::request(api, Some(params), http_method)?.simplify(simplify);
        let request = Self::with_files(request, Some(files.as_any()))?;
        let token = access_token_arg(access_token)?;
        self.send(py, request, token, true)
    }

    /// How a call would be signed, for diagnosing `IncompleteSignature`: a dict with `url`,
    /// `style` ("GOP"/"TOP", or None), `http_method`, `string_to_sign` (every secret replaced by
    /// `<redacted:KEY>`), `signed_keys` and `warnings` (classic mistakes, most likely first).
    /// `timestamp_ms` defaults to the client's clock. Nothing is sent.
    #[pyo3(signature = (api, params=None, *, access_token=None, timestamp_ms=None))]
    fn explain<'py>(
        &self,
        py: Python<'py>,
        api: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        access_token: Option<&Bound<'py, PyAny>>,
        timestamp_ms: Option<i64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let api = text_arg("api", api, false)?;
        let pairs = param_pairs(params)?;
        let token = access_token_arg(access_token)?;
        let timestamp_ms = match timestamp_ms {
            Some(ms) => ms,
            None => iop_core::time::epoch_ms(self.inner.clock().now()),
        };
        let explained = iop_core::explain(
            &self.given_url,
            &api,
            &pairs,
            self.inner.credentials(),
            token.as_ref(),
            timestamp_ms,
        );
        let dict = PyDict::new(py);
        dict.set_item("url", &explained.url)?;
        dict.set_item("style", explained.style.map(iop_core::Style::as_str))?;
        dict.set_item("http_method", explained.http_method.as_str())?;
        dict.set_item("string_to_sign", &explained.string_to_sign_redacted)?;
        dict.set_item("signed_keys", &explained.signed_keys)?;
        let warnings: Vec<String> = explained.warnings.iter().map(|w| w.to_string()).collect();
        dict.set_item("warnings", warnings)?;
        Ok(dict)
    }

    /// The app key.
    #[getter]
    fn app_key(&self) -> &str {
        &self.app_key
    }

    /// The gateway base URL, without `/rest` or `/sync`.
    #[getter]
    fn base_url(&self) -> &str {
        &self.base_url
    }

    fn __repr__(&self) -> String {
        let proxy = self
            .inner
            .http_config()
            .proxy
            .as_deref()
            .map_or_else(String::new, |p| {
                format!(", proxy={:?}", iop_core::redact::url(p))
            });
        format!(
            "Client(app_key={:?}, base_url={:?}{proxy})",
            self.app_key, self.base_url
        )
    }
}

impl Client {
    /// `call` and `call_raw`.
    #[allow(clippy::too_many_arguments)]
    fn call_with<'py>(
        &self,
        py: Python<'py>,
        api: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        access_token: Option<&Bound<'py, PyAny>>,
        http_method: Option<&Bound<'py, PyAny>>,
        files: Option<&Bound<'py, PyAny>>,
        raw: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let post = pyo3::types::PyString::new(py, "POST").into_any();
        let method = http_method.filter(|m| !m.is_none()).unwrap_or(&post);
        let request = Self::with_files(Self::request(api, params, method)?, files)?;
        let token = access_token_arg(access_token)?;
        self.send(py, request, token, raw)
    }
}
