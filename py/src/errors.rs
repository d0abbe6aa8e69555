//! Core errors as the Python exceptions of `iop._errors` (defined in Python, raised from here).

use iop_core::{Error, ErrorClass, GatewayError};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::type_object::PyTypeInfo;
use pyo3::types::PyDict;

/// The exception classes of `iop._errors`, as types (imported on first use).
mod exc {
    pyo3::import_exception!(iop._errors, IopError);
    pyo3::import_exception!(iop._errors, GatewayError);
    pyo3::import_exception!(iop._errors, SignatureRejected);
    pyo3::import_exception!(iop._errors, ReauthorizationRequired);
    pyo3::import_exception!(iop._errors, AccessTokenInvalid);
    pyo3::import_exception!(iop._errors, RateLimited);
    pyo3::import_exception!(iop._errors, TransportError);
    pyo3::import_exception!(iop._errors, Timeout);
    pyo3::import_exception!(iop._errors, ResponseError);
    pyo3::import_exception!(iop._errors, StoreError);
    pyo3::import_exception!(iop._errors, AuthorizationError);
    pyo3::import_exception!(iop._errors, UnknownSeller);
}

/// Instantiates exception type `T` as `T(text, **kwargs)`, as a `PyErr`.
fn raise<T: PyTypeInfo>(py: Python<'_>, text: &str, kwargs: &Bound<'_, PyDict>) -> PyErr {
    match T::type_object(py).call((text,), Some(kwargs)) {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => e,
    }
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

/// The Python exception for a core error. Messages come from the core's `Display`, which never
/// contains a secret.
pub(crate) fn to_pyerr(py: Python<'_>, err: Error) -> PyErr {
    to_pyerr_ref(py, &err)
}

/// [`to_pyerr`] for a borrowed error.
pub(crate) fn to_pyerr_ref(py: Python<'_>, err: &Error) -> PyErr {
    let text = err.to_string();
    let kwargs = PyDict::new(py);
    type Raise = fn(Python<'_>, &str, &Bound<'_, PyDict>) -> PyErr;
    let filled = (|| -> PyResult<Raise> {
        Ok(match err {
            Error::Gateway(g) => {
                gateway_kwargs(&kwargs, g)?;
                match g.class() {
                    ErrorClass::Signature => raise::<exc::SignatureRejected>,
                    ErrorClass::Reauthorize => raise::<exc::ReauthorizationRequired>,
                    ErrorClass::Refresh => raise::<exc::AccessTokenInvalid>,
                    ErrorClass::RateLimited => {
                        kwargs.set_item("retry_after", g.retry_after().map(|d| d.as_secs_f64()))?;
                        raise::<exc::RateLimited>
                    }
                    _ => raise::<exc::GatewayError>,
                }
            }
            Error::Decode { status, snippet } => {
                kwargs.set_item("status", *status)?;
                kwargs.set_item("snippet", snippet)?;
                raise::<exc::ResponseError>
            }
            Error::Transport { sent, .. } => {
                kwargs.set_item("sent", *sent)?;
                raise::<exc::TransportError>
            }
            Error::Timeout { after, .. } => {
                kwargs.set_item("after", after.as_secs_f64())?;
                raise::<exc::Timeout>
            }
            Error::InvalidRequest(_) => return Err(PyValueError::new_err(text.clone())),
            Error::Store { key, .. } => {
                kwargs.set_item("key", key)?;
                raise::<exc::StoreError>
            }
            Error::UnknownSeller { key } => {
                kwargs.set_item("key", key)?;
                raise::<exc::UnknownSeller>
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
                raise::<exc::ReauthorizationRequired>
            }
            Error::Authorization(e) => {
                use iop_core::onboarding::CallbackError;
                let reason = match e {
                    CallbackError::StateMissing => "state_missing",
                    CallbackError::StateMismatch => "state_mismatch",
                    CallbackError::Denied { error, description } => {
                        kwargs.set_item("error", error)?;
                        kwargs.set_item("error_description", description.as_deref())?;
                        "denied"
                    }
                    CallbackError::CodeMissing => "code_missing",
                    _ => "malformed",
                };
                kwargs.set_item("reason", reason)?;
                raise::<exc::AuthorizationError>
            }
            _ => raise::<exc::IopError>,
        })
    })();
    match filled {
        Ok(raise) => raise(py, &text, &kwargs),
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
