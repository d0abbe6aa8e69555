//! `iop.Token`: a seller's token set, attributes named as the wire fields.

use std::time::{Duration, SystemTime};

use iop_core::TokenSet;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyMapping, PyType};

use crate::convert::{datetime_from_ms, duration_arg, instant_arg, json_to_py, py_to_json};
use crate::errors::to_pyerr;

/// Default refresh margin of `Token.needs_refresh` and the token manager: 3 days.
pub(crate) const DEFAULT_MARGIN: Duration = Duration::from_secs(3 * 24 * 3600);

/// A seller's token set as the gateway sent it. The repr shows no secret.
#[pyclass(frozen, module = "iop", name = "Token")]
pub(crate) struct Token {
    pub(crate) inner: TokenSet,
}

impl Token {
    /// Wraps a core token set.
    pub(crate) fn new(inner: TokenSet) -> Self {
        Self { inner }
    }
}

/// A value as a Python string literal (or `None`) for the repr; ids and names only, never secrets.
fn quoted(value: Option<&str>) -> String {
    match value {
        Some(v) => {
            let escaped = v.replace('\\', "\\\\").replace('\'', "\\'");
            format!("'{escaped}'")
        }
        None => "None".to_owned(),
    }
}

#[pymethods]
impl Token {
    /// Builds a token from a dict of wire fields (as `to_dict` returns, or as the gateway sent
    /// it). Without `expire_time` and `_iop_received_at_ms`, `expires_in` counts from now.
    #[classmethod]
    fn from_dict(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let value = if data.is_instance_of::<PyDict>() {
            py_to_json(data)?
        } else if let Ok(mapping) = data.cast::<PyMapping>() {
            // Any mapping, as the stubs promise, read as a dict.
            let dict = PyDict::new(py);
            dict.update(mapping)?;
            py_to_json(dict.as_any())?
        } else {
            return Err(PyTypeError::new_err(format!(
                "Token.from_dict takes a dict, got {}",
                data.get_type().name()?
            )));
        };
        TokenSet::from_value(value, SystemTime::now())
            .map(Self::new)
            .map_err(|e| match e {
                // The dict is the caller's own data (perhaps holding a secret under an odd
                // key): never repeat it, as a decode error's snippet would.
                iop_core::Error::Decode { .. } => PyValueError::new_err(
                    "data is not a token set (a malformed error_response; its content is not \
                     repeated: it may hold a secret)",
                ),
                other => to_pyerr(py, other),
            })
    }

    /// Every field as a dict (secrets included: the caller asked for them), wire names, plus
    /// `_iop_received_at_ms`. `Token.from_dict(t.to_dict())` gives the same token.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(&self.inner)
            .map_err(|e| PyTypeError::new_err(format!("token set not serializable: {e}")))?;
        json_to_py(py, &value)
    }

    /// True when the access token is absent, its expiry unknown, or it expires within `margin`
    /// (a timedelta or seconds; default 3 days) of `now` (an aware datetime; default: now).
    #[pyo3(signature = (margin=None, now=None))]
    fn needs_refresh(
        &self,
        margin: Option<&Bound<'_, PyAny>>,
        now: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let margin = match margin {
            Some(m) if !m.is_none() => duration_arg("margin", m)?,
            _ => DEFAULT_MARGIN,
        };
        let now = match now {
            Some(n) if !n.is_none() => instant_arg("now", n)?,
            _ => SystemTime::now(),
        };
        Ok(self.inner.needs_refresh(now, margin))
    }

    /// True when the token can be refreshed at `now` (default: now).
    #[pyo3(signature = (now=None))]
    fn can_refresh(&self, now: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        let now = match now {
            Some(n) if !n.is_none() => instant_arg("now", n)?,
            _ => SystemTime::now(),
        };
        Ok(self.inner.can_refresh(now))
    }

    /// Absolute access-token expiry, an aware UTC datetime, or None.
    #[getter]
    fn expires_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner
            .expires_at_ms()
            .map(|ms| datetime_from_ms(py, ms))
            .transpose()
    }

    /// Absolute refresh-token expiry, an aware UTC datetime, or None.
    #[getter]
    fn refresh_expires_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner
            .refresh_expires_at_ms()
            .map(|ms| datetime_from_ms(py, ms))
            .transpose()
    }

    /// `access_token` (a secret: never logged or shown in the repr).
    #[getter]
    fn access_token(&self) -> Option<&str> {
        self.inner.access_token.as_ref().map(|t| t.secret())
    }

    /// `refresh_token` (a secret).
    #[getter]
    fn refresh_token(&self) -> Option<&str> {
        self.inner.refresh_token.as_ref().map(|t| t.secret())
    }

    /// `expires_in`: seconds of access-token life left when the response was sent.
    #[getter]
    fn expires_in(&self) -> Option<i64> {
        self.inner.expires_in
    }

    /// `refresh_expires_in`: seconds of refresh-token life left; 0: not refreshable.
    #[getter]
    fn refresh_expires_in(&self) -> Option<i64> {
        self.inner.refresh_expires_in
    }

    /// `expire_time`: absolute access-token expiry in epoch ms (AliExpress).
    #[getter]
    fn expire_time(&self) -> Option<i64> {
        self.inner.expire_time
    }

    /// `refresh_token_valid_time`: absolute refresh-token expiry in epoch ms (AliExpress).
    #[getter]
    fn refresh_token_valid_time(&self) -> Option<i64> {
        self.inner.refresh_token_valid_time
    }

    /// `user_id`.
    #[getter]
    fn user_id(&self) -> Option<&str> {
        self.inner.user_id.as_deref()
    }

    /// `seller_id`.
    #[getter]
    fn seller_id(&self) -> Option<&str> {
        self.inner.seller_id.as_deref()
    }

    /// `havana_id`.
    #[getter]
    fn havana_id(&self) -> Option<&str> {
        self.inner.havana_id.as_deref()
    }

    /// `account_id`.
    #[getter]
    fn account_id(&self) -> Option<&str> {
        self.inner.account_id.as_deref()
    }

    /// `user_nick`.
    #[getter]
    fn user_nick(&self) -> Option<&str> {
        self.inner.user_nick.as_deref()
    }

    /// `account`.
    #[getter]
    fn account(&self) -> Option<&str> {
        self.inner.account.as_deref()
    }

    /// `account_platform`.
    #[getter]
    fn account_platform(&self) -> Option<&str> {
        self.inner.account_platform.as_deref()
    }

    /// `locale`.
    #[getter]
    fn locale(&self) -> Option<&str> {
        self.inner.locale.as_deref()
    }

    /// `sp`.
    #[getter]
    fn sp(&self) -> Option<&str> {
        self.inner.sp.as_deref()
    }

    /// `country` (Lazada).
    #[getter]
    fn country(&self) -> Option<&str> {
        self.inner.country.as_deref()
    }

    /// `request_id` of the response that carried the token set.
    #[getter]
    fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// `code` of the envelope (`"0"`).
    #[getter]
    fn code(&self) -> Option<&str> {
        self.inner.code.as_deref()
    }

    /// Lazada's seller list: dicts with country, seller_id, user_id, short_code.
    #[getter]
    fn country_user_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(&self.inner.country_user_info)
            .map_err(|e| PyTypeError::new_err(e.to_string()))?;
        json_to_py(py, &value)
    }

    fn __repr__(&self) -> String {
        let t = &self.inner;
        let expires = t
            .expires_at_ms()
            .map(|ms| ms.to_string())
            .unwrap_or_else(|| "None".to_owned());
        let refresh_expires = t
            .refresh_expires_at_ms()
            .map(|ms| ms.to_string())
            .unwrap_or_else(|| "None".to_owned());
        format!(
            "Token(seller_id={}, user_id={}, account={}, access_token={}, refresh_token={}, expires_at_ms={}, refresh_expires_at_ms={})",
            quoted(t.seller_id.as_deref()),
            quoted(t.user_id.as_deref()),
            quoted(t.account.as_deref()),
            if t.access_token.is_some() {
                "'[redacted]'"
            } else {
                "None"
            },
            if t.refresh_token.is_some() {
                "'[redacted]'"
            } else {
                "None"
            },
            expires,
            refresh_expires,
        )
    }
}
