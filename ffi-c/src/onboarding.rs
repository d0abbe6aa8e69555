//! Seller onboarding from C: the authorization URL, a random state, and the callback exchange.

use std::ffi::c_char;

use iop_core::Gateway;
use iop_core::onboarding::{self, AuthorizationRequest, Platform};

use crate::boundary::{boundary, boundary_result};
use crate::error::iop_error;
use crate::ffi::{copy_to_buffer, into_raw, opt_str, to_c_string, try_out, try_ref, try_str};
use crate::manager::iop_manager;
use crate::result::{Failure, iop_result};
use crate::token::{TokenHandle, iop_token};

/// Size of the buffer `iop_new_state` needs: 48 hex digits and a NUL.
pub const IOP_STATE_BUFFER_LEN: usize = 49;

/// Writes the URL of the platform's authorization page to `*out` (free with
/// `iop_string_free`): `…/oauth/authorize?response_type=code&force_auth=true&redirect_uri=…&client_id=…&state=…`.
///
/// - `platform`: `"aliexpress"` or `"lazada"`; NULL means `"aliexpress"`.
/// - `app_key`, `redirect_uri` (absolute http(s), registered in the app console), `state` (from
///   `iop_new_state`, kept with the seller's session): not NULL.
/// - `country`: Lazada only (`sg`, `my`, `th`, `vn`, `ph`, `id`, `cb`); NULL for none.
/// - `uuid`: AliExpress only; NULL for none.
/// - `base_url`: the host serving the page (the emulator's URL in tests); NULL for the
///   platform's own (`api-sg.aliexpress.com`, `auth.lazada.com`).
///
/// `err` as for `iop_client_new`: the message says which argument is refused and why.
///
/// Thread safety: none needed. Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`;
/// `IOP_RESULT_INVALID_UTF8`; `IOP_RESULT_INVALID_ARGUMENT` (unknown platform, empty app key or
/// state, a redirect URI that is not absolute http(s), a country for AliExpress or a uuid for
/// Lazada); `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // each argument is one field of the URL
pub extern "C" fn iop_authorization_url(
    platform: *const c_char,
    app_key: *const c_char,
    redirect_uri: *const c_char,
    state: *const c_char,
    country: *const c_char,
    uuid: *const c_char,
    base_url: *const c_char,
    out: *mut *mut c_char,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let platform = match opt_str(platform, "platform")? {
            None => Platform::AliExpress,
            Some(name) => Platform::parse(name).ok_or_else(|| {
                Failure::new(
                    iop_result::IOP_RESULT_INVALID_ARGUMENT,
                    "platform must be \"aliexpress\" or \"lazada\"",
                )
            })?,
        };
        let mut request = AuthorizationRequest::new(
            platform,
            try_str(app_key, "app_key")?,
            try_str(redirect_uri, "redirect_uri")?,
            try_str(state, "state")?,
        );
        request.country = opt_str(country, "country")?.map(str::to_owned);
        request.uuid = opt_str(uuid, "uuid")?.map(str::to_owned);
        let out = try_out(out, "out")?;
        let url = match opt_str(base_url, "base_url")? {
            Some(base) => onboarding::authorization_url_on(&Gateway::new(base)?, &request)?,
            None => onboarding::authorization_url(&request)?,
        };
        out.write(to_c_string(url, "the URL")?);
        Ok(())
    })
}

/// Writes a fresh `state` to `out`: 192 bits from the operating system's random source as 48
/// lowercase hex digits and a NUL (`out_len` at least `IOP_STATE_BUFFER_LEN`, 49).
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_BUFFER_TOO_SMALL`;
/// `IOP_RESULT_INVALID_ARGUMENT` (the OS gave no random bytes); `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_new_state(out: *mut c_char, out_len: usize) -> iop_result {
    boundary_result(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        if out_len < IOP_STATE_BUFFER_LEN {
            return Err(Failure::new(
                iop_result::IOP_RESULT_BUFFER_TOO_SMALL,
                format!("out_len is {out_len}, iop_new_state needs {IOP_STATE_BUFFER_LEN}"),
            ));
        }
        let state = onboarding::new_state()?;
        copy_to_buffer(&state, out, out_len)
    })
}

/// Finishes a seller's authorization: checks `callback` (the redirect's full URL or its query
/// string) against `expected_state` first, in constant time, then exchanges its code with
/// `/auth/token/create` and stores the token set under `key` (NULL: the token's seller_id), and
/// writes the token set to `*out` (free with `iop_token_free`).
///
/// `err` as for `iop_client_create_token`. Thread safety: `m` may be shared.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
/// `IOP_RESULT_AUTHORIZATION` (state missing or different, the platform's error, no code:
/// nothing was sent); the gateway, decode, transport and timeout results of the exchange;
/// `IOP_RESULT_STORE`; `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_manager_complete_authorization(
    m: *const iop_manager,
    callback: *const c_char,
    expected_state: *const c_char,
    key: *const c_char,
    out: *mut *mut iop_token,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let handle = try_ref(m, "m")?;
        let callback = try_str(callback, "callback")?;
        let expected = try_str(expected_state, "expected_state")?;
        let key = opt_str(key, "key")?;
        let out = try_out(out, "out")?;
        let (_, token) = handle
            .manager
            .complete_authorization(callback, expected, key)?;
        out.write(into_raw::<iop_token>(TokenHandle::new(token)));
        Ok(())
    })
}
