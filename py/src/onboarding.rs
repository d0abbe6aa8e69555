//! Onboarding and push helpers: conversion only, the rules are `iop_core::onboarding` and
//! `iop_core::push`.

use iop_core::AppSecret;
use iop_core::gateway::Gateway;
use iop_core::onboarding::{self, AuthorizationRequest, Platform};
use iop_core::push;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::convert::text_ref;
use crate::errors::to_pyerr;

/// `iop.authorization_url`: the URL of the platform's authorization page.
#[pyfunction]
#[pyo3(signature = (app_key, redirect_uri, *, state, platform=None, country=None, uuid=None, base_url=None))]
#[allow(clippy::too_many_arguments)] // the Python signature, keyword for keyword
pub(crate) fn authorization_url(
    py: Python<'_>,
    app_key: &Bound<'_, PyAny>,
    redirect_uri: &Bound<'_, PyAny>,
    state: &Bound<'_, PyAny>,
    platform: Option<&Bound<'_, PyAny>>,
    country: Option<&Bound<'_, PyAny>>,
    uuid: Option<&Bound<'_, PyAny>>,
    base_url: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let platform_name = match platform {
        Some(p) if !p.is_none() => text_ref("platform", p, true)?,
        _ => "aliexpress",
    };
    let platform = Platform::parse(platform_name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "platform must be 'aliexpress' or 'lazada', got {platform_name:?}"
        ))
    })?;
    let optional = |name: &str, v: Option<&Bound<'_, PyAny>>| -> PyResult<Option<String>> {
        match v {
            Some(v) if !v.is_none() => Ok(Some(text_ref(name, v, true)?.to_owned())),
            _ => Ok(None),
        }
    };
    let mut request = AuthorizationRequest::new(
        platform,
        text_ref("app_key", app_key, true)?,
        text_ref("redirect_uri", redirect_uri, true)?,
        text_ref("state", state, true)?,
    );
    request.country = optional("country", country)?;
    request.uuid = optional("uuid", uuid)?;
    let url = match optional("base_url", base_url)? {
        Some(base) => {
            let gateway = Gateway::new(&base).map_err(|e| to_pyerr(py, e))?;
            onboarding::authorization_url_on(&gateway, &request)
        }
        None => onboarding::authorization_url(&request),
    };
    url.map_err(|e| to_pyerr(py, e))
}

/// `iop.new_state`: 192 random bits as 48 hex digits.
#[pyfunction]
pub(crate) fn new_state(py: Python<'_>) -> PyResult<String> {
    onboarding::new_state().map_err(|e| to_pyerr(py, e))
}

fn body_bytes<'a>(body: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    body.cast::<PyBytes>().map(|b| b.as_bytes()).map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(
            "body must be bytes: the raw request body as received (never re-serialised JSON)",
        )
    })
}

/// `iop.push.verify`.
#[pyfunction]
pub(crate) fn push_verify(
    app_key: &Bound<'_, PyAny>,
    app_secret: &Bound<'_, PyAny>,
    body: &Bound<'_, PyAny>,
    authorization: Option<&Bound<'_, PyAny>>,
) -> PyResult<bool> {
    let app_key = text_ref("app_key", app_key, false)?;
    let secret = AppSecret::new(text_ref("app_secret", app_secret, false)?);
    let body = body_bytes(body)?;
    let header = match authorization {
        Some(h) if !h.is_none() => match h.extract::<String>() {
            Ok(text) => Some(text),
            // A header that is not text (bytes, a number) is simply not a valid signature.
            Err(_) => return Ok(false),
        },
        _ => None,
    };
    Ok(push::verify(app_key, &secret, body, header.as_deref()))
}

/// The signature a push of `body` carries (for tests of a receiver).
#[pyfunction]
pub(crate) fn push_signature(
    app_key: &Bound<'_, PyAny>,
    app_secret: &Bound<'_, PyAny>,
    body: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let app_key = text_ref("app_key", app_key, false)?;
    let secret = AppSecret::new(text_ref("app_secret", app_secret, false)?);
    Ok(push::signature(app_key, &secret, body_bytes(body)?))
}

/// `iop.push.parse` (the native half): the message's fields as a dict; `ValueError` naming what
/// is wrong, never repeating the body.
#[pyfunction]
pub(crate) fn push_parse<'py>(
    py: Python<'py>,
    body: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let message =
        push::parse(body_bytes(body)?).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let out = PyDict::new(py);
    out.set_item("seller_id", message.seller_id.as_deref())?;
    out.set_item("message_type", message.message_type.code())?;
    out.set_item("type_name", message.message_type.as_str())?;
    out.set_item("timestamp", message.timestamp_ms)?;
    out.set_item("site", message.site.as_deref())?;
    out.set_item("dedup_key", message.dedup_key())?;
    out.set_item("seller_status", message.seller_status())?;
    let data = crate::convert::json_to_py(py, &message.data)?;
    out.set_item("data", data)?;
    Ok(out)
}
