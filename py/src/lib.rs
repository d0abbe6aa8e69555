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
mod sign;
mod stores;
mod token;

use pyo3::prelude::*;

/// Locks a mutex whatever a panicking holder left (the data behind the package's mutexes stays
/// consistent): the one helper of this crate for that.
pub(crate) fn locked<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A secret as iop shows it to people, the same in every language: `…` and its last 4
/// characters, or `…` alone for fewer than 12 characters.
#[pyfunction]
fn mask(secret: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(iop_core::secret::mask(&convert::text_arg(
        "secret", secret, false,
    )?))
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
    sign::register(m)?;
    m.add_function(wrap_pyfunction!(sign::string_to_sign, m)?)?;
    m.add_function(wrap_pyfunction!(mask, m)?)?;
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
