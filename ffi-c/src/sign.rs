//! `iop_sign`: the signature of a parameter set, with no client and no network.

use std::ffi::{c_char, c_int};

use iop_core::{AppSecret, SignMethod};

use crate::boundary::boundary_result;
use crate::ffi::{copy_to_buffer, opt_str, try_pairs, try_str};
use crate::result::{Failure, iop_result};

/// How a request is signed (docs/src/concepts/protocol.md#signing).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum iop_sign_method {
    /// HMAC-SHA256: 64 uppercase hex characters. Valid for every API.
    IOP_SIGN_METHOD_SHA256 = 0,
    /// Legacy TOP scheme, MD5(secret + pairs + secret): 32 uppercase hex characters.
    IOP_SIGN_METHOD_MD5 = 1,
}

/// Size of the buffer `iop_sign` needs: 64 hex characters and a NUL.
pub const IOP_SIGN_BUFFER_LEN: usize = 65;

/// Computes the signature of `count` key/value pairs, exactly as given (sorted by key bytes,
/// nothing dropped), and writes it as uppercase hex with a terminating NUL to `out`.
///
/// - `app_secret`: the HMAC key (not NULL).
/// - `api_path`: the prefix, i.e. the API path of a GOP call (`"/auth/token/refresh"`); NULL or
///   `""` for a TOP call (no prefix).
/// - `keys`, `values`: two arrays of `count` strings each. With `count == 0` both may be NULL.
/// - `method`: an `iop_sign_method` value (taken as `int` so that any number is checked).
/// - `out`, `out_len`: the caller's buffer; at least `IOP_SIGN_BUFFER_LEN` (65) bytes.
///
/// `out` is written only on success. Thread safety: none needed (no shared state).
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT` (NULL `app_secret` or `out`, NULL array
/// with `count > 0`, NULL element); `IOP_RESULT_INVALID_UTF8`; `IOP_RESULT_INVALID_ARGUMENT`
/// (unknown `method`); `IOP_RESULT_BUFFER_TOO_SMALL` (`out_len < 65`); `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_sign(
    app_secret: *const c_char,
    api_path: *const c_char,
    keys: *const *const c_char,
    values: *const *const c_char,
    count: usize,
    method: c_int,
    out: *mut c_char,
    out_len: usize,
) -> iop_result {
    boundary_result(|| {
        let secret = AppSecret::new(try_str(app_secret, "app_secret")?);
        let prefix = opt_str(api_path, "api_path")?.unwrap_or("");
        let pairs = try_pairs(keys, values, count)?;
        let method = match method {
            m if m == iop_sign_method::IOP_SIGN_METHOD_SHA256 as c_int => SignMethod::Sha256,
            m if m == iop_sign_method::IOP_SIGN_METHOD_MD5 as c_int => SignMethod::Md5,
            other => {
                return Err(Failure::new(
                    iop_result::IOP_RESULT_INVALID_ARGUMENT,
                    format!("{other} is not an iop_sign_method"),
                ));
            }
        };
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        if out_len < IOP_SIGN_BUFFER_LEN {
            return Err(Failure::new(
                iop_result::IOP_RESULT_BUFFER_TOO_SMALL,
                format!("out_len is {out_len}, iop_sign needs {IOP_SIGN_BUFFER_LEN}"),
            ));
        }
        let signature = iop_core::sign(method, &secret, prefix, &pairs);
        copy_to_buffer(&signature, out, out_len)
    })
}
