//! `iop_error`: the detail of a failure, and its accessors.

use std::ffi::{CString, c_char};

use crate::boundary::guard;
use crate::ffi::{BoxCastable, borrow_c_str, free, opt_ref};
use crate::result::{Failure, iop_result};

/// The detail of a failure: its result, the gateway's code, message and request id, and how
/// long to wait before retrying.
///
/// Written to the `err` out-parameter of functions that talk to the gateway, only when they
/// fail and only when `err` is not NULL; free with `iop_error_free`. Immutable: may be read by
/// several threads at once. Strings returned by its accessors live until `iop_error_free`.
pub struct iop_error {
    _private: [u8; 0],
}

impl BoxCastable for iop_error {
    type Rust = ErrorHandle;
}

/// What an `iop_error` holds; strings are kept as C strings so accessors can lend them.
#[derive(Debug)]
pub(crate) struct ErrorHandle {
    result: iop_result,
    message: CString,
    code: Option<CString>,
    sub_code: Option<CString>,
    error_type: Option<CString>,
    request_id: Option<CString>,
    status: Option<u16>,
    retry_after_ms: Option<i64>,
}

/// A C string from text that may contain NUL bytes (they become spaces).
fn lossless_enough(text: &str) -> CString {
    CString::new(text.replace('\0', " ")).unwrap_or_default()
}

impl From<Failure> for ErrorHandle {
    fn from(failure: Failure) -> Self {
        Self::new(failure)
    }
}

impl ErrorHandle {
    /// The detail of `failure`, with its strings made C strings.
    pub(crate) fn new(failure: Failure) -> Self {
        let gateway = failure.gateway.as_ref();
        Self {
            result: failure.result,
            message: lossless_enough(&failure.message),
            code: gateway.map(|g| lossless_enough(&g.code)),
            sub_code: gateway
                .and_then(|g| g.sub_code.as_deref())
                .map(lossless_enough),
            error_type: gateway
                .and_then(|g| g.error_type.as_deref())
                .map(lossless_enough),
            request_id: gateway
                .and_then(|g| g.request_id.as_deref())
                .map(lossless_enough),
            status: failure.status,
            retry_after_ms: failure.retry_after_ms,
        }
    }
}

/// The result of the failed call this error describes (never `IOP_RESULT_OK`).
///
/// NULL gives `IOP_RESULT_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_error_result(e: *const iop_error) -> iop_result {
    guard(iop_result::IOP_RESULT_PANIC, || {
        opt_ref(e).map_or(iop_result::IOP_RESULT_NULL_ARGUMENT, |e| e.result)
    })
}

/// The gateway's error code, e.g. `"IllegalRefreshToken"`, `"ApiCallLimit"`; NULL when the
/// gateway did not answer with an error (transport, timeout, argument errors) or `e` is NULL.
///
/// Borrowed: valid until `iop_error_free(e)`; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn iop_error_code(e: *const iop_error) -> *const c_char {
    guard(std::ptr::null(), || {
        opt_ref(e).map_or(std::ptr::null(), |e| borrow_c_str(e.code.as_ref()))
    })
}

/// The gateway's `sub_code` (TOP-style errors), NULL if none or `e` is NULL.
///
/// Borrowed: valid until `iop_error_free(e)`; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn iop_error_sub_code(e: *const iop_error) -> *const c_char {
    guard(std::ptr::null(), || {
        opt_ref(e).map_or(std::ptr::null(), |e| borrow_c_str(e.sub_code.as_ref()))
    })
}

/// The gateway's error `type`: `"ISV"`, `"ISP"` or `"SYSTEM"`; NULL if none or `e` is NULL.
///
/// Borrowed: valid until `iop_error_free(e)`; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn iop_error_type(e: *const iop_error) -> *const c_char {
    guard(std::ptr::null(), || {
        opt_ref(e).map_or(std::ptr::null(), |e| borrow_c_str(e.error_type.as_ref()))
    })
}

/// A message in English saying what failed; never contains a secret. Never NULL unless `e` is
/// NULL.
///
/// Borrowed: valid until `iop_error_free(e)`; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn iop_error_message(e: *const iop_error) -> *const c_char {
    guard(std::ptr::null(), || {
        opt_ref(e).map_or(std::ptr::null(), |e| e.message.as_ptr())
    })
}

/// The gateway's `request_id` (quote it to the platform's support), NULL if none or `e` is
/// NULL.
///
/// Borrowed: valid until `iop_error_free(e)`; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn iop_error_request_id(e: *const iop_error) -> *const c_char {
    guard(std::ptr::null(), || {
        opt_ref(e).map_or(std::ptr::null(), |e| borrow_c_str(e.request_id.as_ref()))
    })
}

/// For `IOP_RESULT_RATE_LIMITED`: milliseconds to wait before retrying, as the gateway's ban
/// message said. -1 when unknown, for other errors, or when `e` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn iop_error_retry_after_ms(e: *const iop_error) -> i64 {
    guard(-1, || {
        opt_ref(e).and_then(|e| e.retry_after_ms).unwrap_or(-1)
    })
}

/// The HTTP status of the answer the error came from; 0 when there was no answer (transport,
/// timeout, argument errors) or `e` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn iop_error_http_status(e: *const iop_error) -> u16 {
    guard(0, || opt_ref(e).and_then(|e| e.status).unwrap_or(0))
}

/// Frees an error and the strings borrowed from it. NULL is a no-op. Free each error once.
#[unsafe(no_mangle)]
pub extern "C" fn iop_error_free(e: *mut iop_error) {
    guard((), || free(e));
}
