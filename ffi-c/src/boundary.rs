//! The panic boundary every exported function runs inside: a panic becomes
//! `IOP_RESULT_PANIC` (or an accessor's fallback value), never an unwind into C.
//!
//! Knows no handle type: the error object written to `err` is whatever opaque type `err`
//! points to, built from the [`Failure`] (for the crate, `iop_error`).

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::ffi::{BoxCastable, free, into_raw, write_opt};
use crate::result::{Failure, iop_result};

/// Runs `body` inside the panic boundary and reports its failure: the result is returned and,
/// when `err` is not NULL, a new error object is written to it. On success `err` is untouched.
pub(crate) fn boundary<E>(
    err: *mut *mut E,
    body: impl FnOnce() -> Result<(), Failure>,
) -> iop_result
where
    E: BoxCastable,
    E::Rust: From<Failure>,
{
    match catch(body) {
        Ok(()) => iop_result::IOP_RESULT_OK,
        Err(failure) => {
            let result = failure.result;
            // Building the error object may itself panic only on a bug; keep it inside too.
            if let Ok(detail) = catch_unwind(AssertUnwindSafe(|| E::Rust::from(failure))) {
                let raw = into_raw::<E>(detail);
                if !write_opt(err, raw) {
                    free(raw);
                }
            }
            result
        }
    }
}

/// Runs `body` inside the panic boundary for functions that have no `err` parameter: only the
/// result is returned.
pub(crate) fn boundary_result(body: impl FnOnce() -> Result<(), Failure>) -> iop_result {
    match catch(body) {
        Ok(()) => iop_result::IOP_RESULT_OK,
        Err(failure) => failure.result,
    }
}

/// Runs `body` inside the panic boundary for functions without a result (accessors, `_free`):
/// a panic gives `fallback`.
pub(crate) fn guard<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// `body`'s outcome, a panic turned into [`Failure::panic`].
fn catch(body: impl FnOnce() -> Result<(), Failure>) -> Result<(), Failure> {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| Err(Failure::panic()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{iop_error, iop_error_free, iop_error_result};

    #[test]
    fn boundary_catches_panics_and_fills_err() {
        let mut err: *mut iop_error = std::ptr::null_mut();
        let r = boundary(&mut err, || panic!("boom"));
        assert_eq!(r, iop_result::IOP_RESULT_PANIC);
        assert!(!err.is_null());
        assert_eq!(iop_error_result(err), iop_result::IOP_RESULT_PANIC);
        iop_error_free(err);
        let r = boundary::<iop_error>(std::ptr::null_mut(), || Ok(()));
        assert_eq!(r, iop_result::IOP_RESULT_OK);
        // NULL `err`: the error object is built and freed again (valgrind sees no leak).
        let r = boundary::<iop_error>(std::ptr::null_mut(), || Err(Failure::null("x")));
        assert_eq!(r, iop_result::IOP_RESULT_NULL_ARGUMENT);
    }

    #[test]
    fn boundary_result_and_guard_catch_panics() {
        assert_eq!(
            boundary_result(|| panic!("boom")),
            iop_result::IOP_RESULT_PANIC
        );
        assert_eq!(boundary_result(|| Ok(())), iop_result::IOP_RESULT_OK);
        assert_eq!(guard(7, || panic!("boom")), 7);
        assert_eq!(guard(7, || 8), 8);
    }
}
