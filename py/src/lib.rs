//! Python bindings of the iop SDK: the private module `iop._native`, re-exported by the
//! pure-Python package `iop` (see `py/python/iop`).
//!
//! The layer is thin: argument conversion, GIL release around network calls, exception mapping
//! (the exception classes live in `iop._errors`) and logging into Python's `logging`.

mod aio;
mod client;
mod convert;
mod emulator;
mod errors;
mod logging;
mod manager;
mod onboarding;
mod stores;
mod token;

use iop_core::{AppSecret, SignMethod};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::{borrowed_pairs, held_items, text_ref};

/// Locks a mutex whatever a panicking holder left (the data behind the package's mutexes stays
/// consistent): the one helper of this crate for that.
pub(crate) fn locked<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The sign prefix of an API name: the path for GOP, nothing for TOP or `None`.
fn sign_prefix<'a>(api: Option<&'a Bound<'_, PyAny>>) -> PyResult<&'a str> {
    match api {
        Some(a) if !a.is_none() => {
            let api = text_ref("api", a, true)?;
            Ok(iop_core::api::sign_prefix_of(api))
        }
        _ => Ok(""),
    }
}

/// The signature of `params` (a dict or a list of pairs) as uppercase hex: HMAC-SHA256 over
/// `api` (for a path API; `None` or a dotted name: no prefix) and the sorted pairs, or the legacy
/// TOP MD5 with `method="md5"`. Values convert as in every call: bool → true/false, numbers in
/// decimal, dict/list → JSON, None → left out.
#[pyfunction]
#[pyo3(signature = (app_secret, params, *, api=None, method=None))]
fn sign(
    app_secret: &Bound<'_, PyAny>,
    params: &Bound<'_, PyAny>,
    api: Option<&Bound<'_, PyAny>>,
    method: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let method = match method {
        Some(m) if !m.is_none() => {
            let name = text_ref("method", m, true)?;
            SignMethod::parse(name).ok_or_else(|| {
                PyValueError::new_err(format!("method must be 'sha256' or 'md5', got {name:?}"))
            })?
        }
        _ => SignMethod::Sha256,
    };
    let secret = AppSecret::new(text_ref("app_secret", app_secret, true)?);
    let prefix = sign_prefix(api)?;
    let items = held_items(params)?;
    let pairs = borrowed_pairs(&items)?;
    Ok(iop_core::sign(method, &secret, prefix, &pairs))
}

/// The string that is signed: the path prefix of `api` (if a path API) and every key and value
/// sorted by key bytes, no separators, values raw.
#[pyfunction]
#[pyo3(signature = (params, *, api=None))]
fn string_to_sign(params: &Bound<'_, PyAny>, api: Option<&Bound<'_, PyAny>>) -> PyResult<String> {
    let prefix = sign_prefix(api)?;
    let items = held_items(params)?;
    let pairs = borrowed_pairs(&items)?;
    Ok(iop_core::string_to_sign(prefix, &pairs))
}

/// The module `iop._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    logging::install(m.py())?;
    m.add("__version__", iop_core::VERSION)?;
    m.add("ALIEXPRESS", client::ALIEXPRESS)?;
    m.add("LAZADA_AUTH", iop_core::gateway::LAZADA_AUTH)?;
    for country in iop_core::gateway::LazadaCountry::ALL {
        let name = format!("LAZADA_{}", country.code().to_ascii_uppercase());
        m.add(name.as_str(), country.base_url())?;
    }
    m.add_function(wrap_pyfunction!(sign, m)?)?;
    m.add_function(wrap_pyfunction!(string_to_sign, m)?)?;
    m.add_function(wrap_pyfunction!(onboarding::authorization_url, m)?)?;
    m.add_function(wrap_pyfunction!(onboarding::new_state, m)?)?;
    m.add_function(wrap_pyfunction!(onboarding::push_verify, m)?)?;
    m.add_function(wrap_pyfunction!(onboarding::push_signature, m)?)?;
    m.add_function(wrap_pyfunction!(onboarding::push_parse, m)?)?;
    m.add_class::<client::Client>()?;
    m.add_class::<token::Token>()?;
    m.add_class::<manager::TokenManager>()?;
    m.add_class::<manager::MemoryStore>()?;
    m.add_class::<manager::FileStore>()?;
    m.add_class::<stores::RedisStore>()?;
    m.add_class::<stores::PostgresStore>()?;
    m.add_function(wrap_pyfunction!(stores::open_store, m)?)?;
    m.add_class::<manager::RefreshReport>()?;
    m.add_class::<emulator::Emulator>()?;
    aio::register(m)?;
    Ok(())
}
