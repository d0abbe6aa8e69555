//! The native side of `iop.testing.Emulator`: an iop-emulator gateway in this process.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use iop_core::time::epoch_ms;

use iop_core::AppSecret;
use iop_emulator::{Config, Fault};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::client::{Client, ClientSettings, Timeouts, timeouts_arg};
use crate::convert::{datetime_from_ms, duration_arg, instant_arg, int_arg, py_to_json, text_arg};
use crate::token::Token;

/// A running emulator; `close()` (or garbage collection) stops it.
#[pyclass(frozen, module = "iop._native", name = "_Emulator")]
pub(crate) struct Emulator {
    inner: Mutex<Option<iop_emulator::Emulator>>,
    base_url: String,
    app_key: String,
    app_secret: String,
}

impl Emulator {
    /// The running emulator, or a `RuntimeError` once closed.
    fn running(&self) -> PyResult<MutexGuard<'_, Option<iop_emulator::Emulator>>> {
        let guard = crate::locked(&self.inner);
        if guard.is_none() {
            return Err(PyRuntimeError::new_err("the emulator is closed"));
        }
        Ok(guard)
    }

    /// Runs `f` on the running emulator with the GIL released (its threads may log to Python).
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&iop_emulator::Emulator) -> T + Send,
    ) -> PyResult<T> {
        py.detach(|| {
            let guard = self.running()?;
            match guard.as_ref() {
                Some(emulator) => Ok(f(emulator)),
                None => Err(PyRuntimeError::new_err("the emulator is closed")),
            }
        })
    }
}

#[pymethods]
impl Emulator {
    /// Starts an emulator on 127.0.0.1 (a free port).
    #[new]
    #[pyo3(signature = (app_key, app_secret, *, access_ttl, refresh_ttl, rotate_refresh_tokens, threads, start_time=None))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        py: Python<'_>,
        app_key: &Bound<'_, PyAny>,
        app_secret: &Bound<'_, PyAny>,
        access_ttl: &Bound<'_, PyAny>,
        refresh_ttl: &Bound<'_, PyAny>,
        rotate_refresh_tokens: bool,
        threads: &Bound<'_, PyAny>,
        start_time: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let threads = int_arg(
            "threads",
            threads,
            1,
            1024,
            "threads must be at least 1 and at most 1024",
        )?;
        let threads = usize::try_from(threads).unwrap_or(1);
        let config = Config {
            app_key: text_arg("app_key", app_key, true)?,
            app_secret: text_arg("app_secret", app_secret, true)?,
            access_ttl: duration_arg("access_ttl", access_ttl)?,
            refresh_ttl: duration_arg("refresh_ttl", refresh_ttl)?,
            rotate_refresh_tokens,
            threads,
            start_time: match start_time {
                Some(s) if !s.is_none() => Some(instant_arg("start_time", s)?),
                _ => None,
            },
            ..Config::default()
        };
        let app_key = config.app_key.clone();
        let app_secret = config.app_secret.clone();
        let emulator = py
            .detach(move || iop_emulator::Emulator::start(config))
            .map_err(|e| {
                // A setting it refuses (a lifetime too long for its clock) is a bad argument.
                if e.kind() == std::io::ErrorKind::InvalidInput {
                    PyValueError::new_err(e.to_string())
                } else {
                    PyOSError::new_err(format!("the emulator could not start: {e}"))
                }
            })?;
        Ok(Self {
            base_url: emulator.url(),
            inner: Mutex::new(Some(emulator)),
            app_key,
            app_secret,
        })
    }

    /// `http://127.0.0.1:PORT`.
    #[getter]
    fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The app key it accepts.
    #[getter]
    fn app_key(&self) -> &str {
        &self.app_key
    }

    /// The app secret it checks signatures with.
    #[getter]
    fn app_secret(&self) -> &str {
        &self.app_secret
    }

    /// A fresh single-use authorization code for `seller_id`.
    fn authorize(&self, py: Python<'_>, seller_id: &Bound<'_, PyAny>) -> PyResult<String> {
        let seller = text_arg("seller_id", seller_id, true)?;
        self.with(py, move |e| e.authorize(&seller))
    }

    /// A token set issued directly for `seller_id` (no request counted).
    fn issue_token(&self, py: Python<'_>, seller_id: &Bound<'_, PyAny>) -> PyResult<Token> {
        let seller = text_arg("seller_id", seller_id, true)?;
        let value = self.with(py, move |e| e.issue_token(&seller))?;
        let now = self.with(py, |e| e.now())?;
        iop_core::TokenSet::from_value(value, now)
            .map(Token::new)
            .map_err(|e| crate::errors::to_pyerr(py, e))
    }

    /// Moves the virtual clock forward.
    fn advance(&self, py: Python<'_>, by: &Bound<'_, PyAny>) -> PyResult<()> {
        let by = duration_arg("seconds", by)?;
        self.with(py, move |e| e.advance(by))
    }

    /// The virtual now, an aware UTC datetime.
    fn now<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let now = self.with(py, |e| e.now())?;
        datetime_from_ms(py, epoch_ms(now))
    }

    /// Requests received per API name.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.with(py, |e| e.stats())?;
        let dict = PyDict::new(py);
        for (api, count) in stats {
            dict.set_item(api, count)?;
        }
        Ok(dict)
    }

    /// Sets every counter back to zero.
    fn reset_stats(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |e| e.reset_stats())
    }

    /// The next `times` requests (for `api`, or any) get the fault `kind`: "delay" (`ms`),
    /// "reset", "http500", "html502", "truncated", "rate_limit" (`ban` seconds).
    // `times` is read as any object so that a huge int is a ValueError; the signature shows its
    // real default.
    #[pyo3(
        signature = (kind, times=None, api=None, ms=None, ban=None),
        text_signature = "(self, /, kind, times=1, api=None, ms=None, ban=None)"
    )]
    fn inject(
        &self,
        py: Python<'_>,
        kind: &Bound<'_, PyAny>,
        times: Option<&Bound<'_, PyAny>>,
        api: Option<&Bound<'_, PyAny>>,
        ms: Option<&Bound<'_, PyAny>>,
        ban: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        // Any int outside the range (negative, 10**20) is a ValueError, not an OverflowError.
        let times = match times {
            Some(t) => int_arg(
                "times",
                t,
                0,
                i64::from(u32::MAX),
                "times must be between 0 and 2**32 - 1",
            )?,
            None => 1,
        };
        let times = u32::try_from(times).unwrap_or(u32::MAX);
        let ms = match ms {
            Some(m) if !m.is_none() => Some(int_arg(
                "ms",
                m,
                0,
                i64::MAX,
                "ms must not be negative and at most 2**63 - 1",
            )?),
            _ => None,
        };
        let ms = ms.map(|m| u64::try_from(m).unwrap_or(0));
        let kind = text_arg("kind", kind, true)?;
        let fault = match kind.as_str() {
            "delay" => Fault::Delay(Duration::from_millis(ms.unwrap_or(1000))),
            "reset" => Fault::ConnectionReset,
            "http500" => Fault::Http500,
            "html502" => Fault::Html502,
            "truncated" => Fault::TruncatedJson,
            "rate_limit" => Fault::RateLimit {
                ban: match ban {
                    Some(b) if !b.is_none() => duration_arg("ban", b)?,
                    _ => Duration::from_secs(1),
                },
            },
            other => {
                return Err(PyValueError::new_err(format!(
                    "kind must be one of delay, reset, http500, html502, truncated, rate_limit; got {other:?}"
                )));
            }
        };
        let api = match api {
            Some(a) if !a.is_none() => Some(text_arg("api", a, true)?),
            _ => None,
        };
        self.with(py, move |e| e.inject(fault, api.as_deref(), times))
    }

    /// Removes every pending fault and ends every ban.
    fn clear_faults(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |e| e.clear_faults())
    }

    /// Invalidates every refresh token of `seller_id`.
    fn revoke_refresh_tokens(&self, py: Python<'_>, seller_id: &Bound<'_, PyAny>) -> PyResult<()> {
        let seller = text_arg("seller_id", seller_id, true)?;
        self.with(py, move |e| e.revoke_refresh_tokens(&seller))
    }

    /// Sends a signed Lazada push to a loopback `url` (first attempt before returning; retried
    /// every 30 virtual minutes as the clock advances, 12 attempts at most). Returns the log
    /// entry.
    #[pyo3(signature = (url, seller_id, message_type, data=None))]
    fn push<'py>(
        &self,
        py: Python<'py>,
        url: &Bound<'py, PyAny>,
        seller_id: &Bound<'py, PyAny>,
        message_type: &Bound<'py, PyAny>,
        data: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let url = text_arg("url", url, true)?;
        let seller = text_arg("seller_id", seller_id, false)?;
        let message_type = int_arg(
            "message_type",
            message_type,
            0,
            i64::from(i32::MAX),
            "message_type must be from 0 to 2**31-1",
        )?;
        let data = match data {
            Some(d) if !d.is_none() => py_to_json(d)?,
            _ => serde_json::Value::Object(serde_json::Map::new()),
        };
        let entry = self
            .with(py, move |e| e.push(&url, &seller, message_type, data))?
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        delivery_dict(py, &entry)
    }

    /// Every push so far, oldest first: dicts with `id`, `url`, `seller_id`, `message_type`,
    /// `body` (the exact bytes signed, as text), `delivered`, `attempts` (list of `status` or
    /// `error`).
    fn push_log<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let log = self.with(py, |e| e.push_log())?;
        log.iter().map(|entry| delivery_dict(py, entry)).collect()
    }

    /// Registers what `api` answers (`body`, a dict) in the gateway's envelope, for calls of
    /// `seller` only and with the given `params` values when set.
    #[pyo3(signature = (api, body, seller=None, params=None))]
    fn answer(
        &self,
        py: Python<'_>,
        api: &Bound<'_, PyAny>,
        body: &Bound<'_, PyAny>,
        seller: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let api = text_arg("api", api, true)?;
        if !body.is_instance_of::<PyDict>() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "body must be a dict (the JSON object answered), got {}",
                body.get_type().name()?
            )));
        }
        let mut answer = iop_emulator::CannedAnswer::new(api, py_to_json(body)?);
        if let Some(seller) = seller.filter(|s| !s.is_none()) {
            answer = answer.seller(text_arg("seller", seller, true)?);
        }
        for (name, value) in crate::convert::param_pairs(params)? {
            answer = answer.param(name, value);
        }
        self.with(py, move |e| e.answer(answer))?
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Registers every answer of a JSON text (a list of {"api", "body", "seller", "params"}),
    /// or of the shipped set for `"common"`; answers how many.
    fn load_answers(&self, py: Python<'_>, json: &Bound<'_, PyAny>) -> PyResult<usize> {
        let mut json = text_arg("json", json, true)?;
        if json.trim() == "common" {
            json = iop_emulator::COMMON_ANSWERS.to_owned();
        }
        self.with(py, move |e| e.load_answers(&json))?
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Forgets every registered answer.
    fn clear_answers(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |e| e.clear_answers())
    }

    /// Every registered answer, as dicts.
    fn answers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let answers = self.with(py, |e| e.answers())?;
        let value =
            serde_json::to_value(answers).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        crate::convert::json_to_py(py, &value)
    }

    /// Makes `api` (or `"*"`) answer MissingParameter without a token (`required=False` undoes
    /// it). By default a call without a token is an app-level call and is answered.
    #[pyo3(signature = (api, required=true))]
    fn require_token(
        &self,
        py: Python<'_>,
        api: &Bound<'_, PyAny>,
        required: bool,
    ) -> PyResult<()> {
        let api = text_arg("api", api, true)?;
        self.with(py, move |e| e.require_token(&api, required))
    }

    /// Whether `refresh_token` is a current refresh token of `seller_id` (issued, unexpired,
    /// not rotated away or revoked).
    fn is_current_refresh_token(
        &self,
        py: Python<'_>,
        seller_id: &Bound<'_, PyAny>,
        refresh_token: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let seller = text_arg("seller_id", seller_id, false)?;
        let token = text_arg("refresh_token", refresh_token, false)?;
        self.with(py, move |e| e.is_current_refresh_token(&seller, &token))
    }

    /// An `iop.Client` for this emulator that stamps requests with the virtual clock.
    #[pyo3(signature = (timeout=None))]
    fn client(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Client> {
        let clock = self.with(py, |e| e.clock())?;
        let timeout = match timeout {
            Some(t) if !t.is_none() => timeouts_arg(t)?,
            _ => Timeouts::read(Duration::from_secs(30)),
        };
        Client::build(
            py,
            ClientSettings {
                app_key: self.app_key.clone(),
                app_secret: AppSecret::new(self.app_secret.clone()),
                base_url: self.base_url.clone(),
                timeout,
                partner_id: None,
                clock: Some(clock),
                network: Default::default(),
            },
        )
    }

    /// Stops the server; later calls raise `RuntimeError`. Calling it twice is fine.
    fn close(&self, py: Python<'_>) {
        py.detach(|| {
            let taken = self
                .inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(emulator) = taken {
                emulator.shutdown();
            }
        });
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Dropped by the garbage collector with the GIL held: stop the server on a thread of its
        // own, so its workers (which may be logging to Python) can finish.
        let taken = self
            .inner
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(emulator) = taken {
            let _ = std::thread::Builder::new()
                .name("iop-emulator-stop".into())
                .spawn(move || emulator.shutdown());
        }
    }
}

/// A push log entry as a dict.
fn delivery_dict<'py>(
    py: Python<'py>,
    entry: &iop_emulator::PushDelivery,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("id", entry.id)?;
    out.set_item("url", &entry.url)?;
    out.set_item("seller_id", &entry.seller_id)?;
    out.set_item("message_type", entry.message_type)?;
    out.set_item("body", &entry.body)?;
    out.set_item("delivered", entry.delivered)?;
    let attempts = pyo3::types::PyList::empty(py);
    for attempt in &entry.attempts {
        let a = PyDict::new(py);
        a.set_item("status", attempt.status)?;
        a.set_item("error", attempt.error.as_deref())?;
        attempts.append(a)?;
    }
    out.set_item("attempts", attempts)?;
    Ok(out)
}
