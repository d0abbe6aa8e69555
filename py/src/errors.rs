//! Core errors as the Python exceptions of `iop._errors` (defined in Python, raised from here).

use iop_core::{Error, ErrorClass, GatewayError};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};

/// The module `iop._errors`, imported once.
static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// Instantiates `iop._errors.<class>(text, **kwargs)` as a `PyErr`.
fn raise(py: Python<'_>, class: &str, text: &str, kwargs: &Bound<'_, PyDict>) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let module = ERRORS.get_or_try_init(py, || -> PyResult<Py<PyModule>> {
            Ok(py.import("iop._errors")?.unbind())
        })?;
        let instance = module
            .bind(py)
            .getattr(class)?
            .call((text,), Some(kwargs))?;
        Ok(PyErr::from_value(instance))
    })();
    made.unwrap_or_else(|e| e)
}

/// Fills the gateway fields of an exception's keyword arguments.
fn gateway_kwargs(kwargs: &Bound<'_, PyDict>, g: &GatewayError) -> PyResult<()> {
    kwargs.set_item("code", &g.code)?;
    kwargs.set_item("type", g.error_type.as_deref())?;
    kwargs.set_item("message", g.message.as_deref())?;
    kwargs.set_item("sub_code", g.sub_code.as_deref())?;
    kwargs.set_item("sub_msg", g.sub_msg.as_deref())?;
    kwargs.set_item("request_id", g.request_id.as_deref())?;
    kwargs.set_item("status", g.status)?;
    Ok(())
}

/// The exception class name for a gateway error, by its class (PROTOCOL.md §6).
fn gateway_class_name(g: &GatewayError) -> &'static str {
    match g.class() {
        ErrorClass::Signature => "SignatureRejected",
        ErrorClass::Reauthorize => "ReauthorizationRequired",
        ErrorClass::Refresh => "AccessTokenInvalid",
        ErrorClass::RateLimited => "RateLimited",
        _ => "GatewayError",
    }
}

/// The Python exception for a core error. Messages come from the core's `Display`, which never
/// contains a secret.
pub(crate) fn to_pyerr(py: Python<'_>, err: Error) -> PyErr {
    to_pyerr_ref(py, &err)
}

/// [`to_pyerr`] for a borrowed error.
pub(crate) fn to_pyerr_ref(py: Python<'_>, err: &Error) -> PyErr {
    let text = err.to_string();
    let kwargs = PyDict::new(py);
    let filled = (|| -> PyResult<&'static str> {
        Ok(match err {
            Error::Gateway(g) => {
                gateway_kwargs(&kwargs, g)?;
                let class = gateway_class_name(g);
                if class == "RateLimited" {
                    kwargs.set_item("retry_after", g.retry_after().map(|d| d.as_secs_f64()))?;
                }
                class
            }
            Error::Decode { status, snippet } => {
                kwargs.set_item("status", *status)?;
                kwargs.set_item("snippet", snippet)?;
                "ResponseError"
            }
            Error::Transport { sent, .. } => {
                kwargs.set_item("sent", *sent)?;
                "TransportError"
            }
            Error::Timeout { after, .. } => {
                kwargs.set_item("after", after.as_secs_f64())?;
                "Timeout"
            }
            Error::InvalidRequest(_) => return Err(PyValueError::new_err(text.clone())),
            Error::Store { key, .. } => {
                kwargs.set_item("key", key)?;
                "StoreError"
            }
            Error::ReauthorizationRequired {
                key,
                reason,
                gateway,
            } => {
                if let Some(g) = gateway {
                    gateway_kwargs(&kwargs, g)?;
                }
                kwargs.set_item("key", key)?;
                kwargs.set_item("reason", reason)?;
                "ReauthorizationRequired"
            }
            _ => "IopError",
        })
    })();
    match filled {
        Ok(class) => raise(py, class, &text, &kwargs),
        Err(e) => e,
    }
}

/// The exception object (not raised) for a core error, e.g. to hand to a callback.
pub(crate) fn to_pyexception<'py>(py: Python<'py>, err: &Error) -> Bound<'py, PyAny> {
    to_pyerr_ref(py, err)
        .into_value(py)
        .into_bound(py)
        .into_any()
}
