//! `iop_push_verify`: checks a Lazada push's signature over the raw body.

use std::ffi::c_char;

use iop_core::AppSecret;
use iop_core::push;

use crate::boundary::boundary_result;
use crate::ffi::{opt_str, try_bytes, try_out, try_str};
use crate::result::iop_result;

/// Checks the `Authorization` header of a Lazada push against the body as received, and writes
/// the answer to `*out_valid`: `true` when the header is this app's signature of exactly these
/// bytes (lowercase hex of HMAC-SHA256, key = app secret, message = app key + body; either hex
/// case accepted; compared in constant time), `false` otherwise, including a missing (NULL),
/// short or non-hex header.
///
/// - `app_key`, `app_secret`: the app's credentials (not NULL).
/// - `body`, `body_len`: the raw request body, exactly as received: never a re-serialised
///   JSON (its bytes differ and it never verifies). `body` may be NULL only when `body_len` is 0.
/// - `authorization`: the header's value, NUL-terminated; NULL when the request had none.
///
/// Answer HTTP 200 within 500 ms (Lazada retries otherwise) and do the work later.
/// Thread safety: none needed (no shared state).
///
/// Returns `IOP_RESULT_OK` (then `*out_valid` says whether the push is genuine);
/// `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8` (app key or secret); `IOP_RESULT_PANIC`.
/// A header that is not UTF-8 is not a valid signature: `IOP_RESULT_OK` with `false`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_push_verify(
    app_key: *const c_char,
    app_secret: *const c_char,
    body: *const u8,
    body_len: usize,
    authorization: *const c_char,
    out_valid: *mut bool,
) -> iop_result {
    boundary_result(|| {
        let app_key = try_str(app_key, "app_key")?;
        let secret = AppSecret::new(try_str(app_secret, "app_secret")?);
        let out = try_out(out_valid, "out_valid")?;
        let body = try_bytes(body, body_len, "body")?;
        let header = opt_str(authorization, "authorization").ok().flatten();
        let valid = header.is_some_and(|h| push::verify(app_key, &secret, body, Some(h)));
        out.write(valid);
        Ok(())
    })
}
