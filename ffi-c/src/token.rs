//! `iop_token`: a seller's token set and its accessors.

use std::ffi::{CString, c_char};
use std::time::SystemTime;

use iop_core::TokenSet;

use crate::boundary::{boundary, guard};
use crate::error::iop_error;
use crate::ffi::{
    BoxCastable, borrow_c_str, free, held_c_string, into_raw, opt_ref, to_c_string, try_out,
    try_str, wipe_c_string,
};
use crate::result::{Failure, iop_result};

/// A seller's token set (access token, refresh token, expiries, seller ids) as the gateway sent
/// it.
///
/// Returned by `iop_client_create_token`, `iop_client_refresh_token` and `iop_token_from_json`;
/// free with `iop_token_free`. Immutable: a `const iop_token *` may be read by several threads
/// at once. Strings returned by its accessors belong to the token and live until
/// `iop_token_free`; a field holding a NUL byte (which a C string cannot carry) reads as NULL.
pub struct iop_token {
    _private: [u8; 0],
}

impl BoxCastable for iop_token {
    type Rust = TokenHandle;
}

/// What an `iop_token` holds: the token set and C copies of its text fields, lent by the
/// accessors. The two secrets are zeroed when the token is freed.
pub(crate) struct TokenHandle {
    pub(crate) token: TokenSet,
    access_token: Option<CString>,
    refresh_token: Option<CString>,
    user_id: Option<CString>,
    seller_id: Option<CString>,
    account: Option<CString>,
    account_platform: Option<CString>,
    user_nick: Option<CString>,
    havana_id: Option<CString>,
    locale: Option<CString>,
    sp: Option<CString>,
    country: Option<CString>,
    request_id: Option<CString>,
}

impl TokenHandle {
    pub(crate) fn new(token: TokenSet) -> Self {
        Self {
            access_token: held_c_string(token.access_token.as_ref().map(|t| t.secret())),
            refresh_token: held_c_string(token.refresh_token.as_ref().map(|t| t.secret())),
            user_id: held_c_string(token.user_id.as_deref()),
            seller_id: held_c_string(token.seller_id.as_deref()),
            account: held_c_string(token.account.as_deref()),
            account_platform: held_c_string(token.account_platform.as_deref()),
            user_nick: held_c_string(token.user_nick.as_deref()),
            havana_id: held_c_string(token.havana_id.as_deref()),
            locale: held_c_string(token.locale.as_deref()),
            sp: held_c_string(token.sp.as_deref()),
            country: held_c_string(token.country.as_deref()),
            request_id: held_c_string(token.request_id.as_deref()),
            token,
        }
    }
}

impl Drop for TokenHandle {
    fn drop(&mut self) {
        wipe_c_string(self.access_token.take());
        wipe_c_string(self.refresh_token.take());
    }
}

/// Lends a field of a token; NULL for a NULL token or an absent field.
fn field(
    t: *const iop_token,
    pick: impl FnOnce(&TokenHandle) -> Option<&CString>,
) -> *const c_char {
    guard(std::ptr::null(), || {
        opt_ref(t).map_or(std::ptr::null(), |t| borrow_c_str(pick(t)))
    })
}

/// The access token (a secret: do not log it), NULL if the gateway sent none or `t` is NULL.
///
/// Borrowed: valid until `iop_token_free(t)`; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_access_token(t: *const iop_token) -> *const c_char {
    field(t, |t| t.access_token.as_ref())
}

/// The refresh token (a secret: store it, do not log it), NULL if absent or `t` is NULL.
///
/// Borrowed: valid until `iop_token_free(t)`; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_refresh_token(t: *const iop_token) -> *const c_char {
    field(t, |t| t.refresh_token.as_ref())
}

/// `user_id`, NULL if absent or `t` is NULL. Borrowed until `iop_token_free(t)`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_user_id(t: *const iop_token) -> *const c_char {
    field(t, |t| t.user_id.as_ref())
}

/// `seller_id`, NULL if absent or `t` is NULL. Borrowed until `iop_token_free(t)`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_seller_id(t: *const iop_token) -> *const c_char {
    field(t, |t| t.seller_id.as_ref())
}

/// `account` (the seller's login), NULL if absent or `t` is NULL. Borrowed until
/// `iop_token_free(t)`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_account(t: *const iop_token) -> *const c_char {
    field(t, |t| t.account.as_ref())
}

/// `account_platform` (`seller_center`, `buyerApp`), NULL if absent or `t` is NULL. Borrowed
/// until `iop_token_free(t)`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_account_platform(t: *const iop_token) -> *const c_char {
    field(t, |t| t.account_platform.as_ref())
}

/// `user_nick`, NULL if absent or `t` is NULL. Borrowed until `iop_token_free(t)`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_user_nick(t: *const iop_token) -> *const c_char {
    field(t, |t| t.user_nick.as_ref())
}

/// `havana_id`, NULL if absent or `t` is NULL. Borrowed until `iop_token_free(t)`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_havana_id(t: *const iop_token) -> *const c_char {
    field(t, |t| t.havana_id.as_ref())
}

/// `locale`, NULL if absent or `t` is NULL. Borrowed until `iop_token_free(t)`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_locale(t: *const iop_token) -> *const c_char {
    field(t, |t| t.locale.as_ref())
}

/// `sp` (`ae` on AliExpress), NULL if absent or `t` is NULL. Borrowed until
/// `iop_token_free(t)`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_sp(t: *const iop_token) -> *const c_char {
    field(t, |t| t.sp.as_ref())
}

/// `country` (Lazada), NULL if absent or `t` is NULL. Borrowed until `iop_token_free(t)`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_country(t: *const iop_token) -> *const c_char {
    field(t, |t| t.country.as_ref())
}

/// `request_id` of the answer that carried the token, NULL if absent or `t` is NULL. Borrowed
/// until `iop_token_free(t)`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_request_id(t: *const iop_token) -> *const c_char {
    field(t, |t| t.request_id.as_ref())
}

/// When the access token expires, in Unix epoch milliseconds (`expire_time`, else receive time
/// + `expires_in`); -1 when unknown or `t` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_expires_at_ms(t: *const iop_token) -> i64 {
    guard(-1, || {
        opt_ref(t)
            .and_then(|t| t.token.expires_at_ms())
            .unwrap_or(-1)
    })
}

/// When the refresh token expires, in Unix epoch milliseconds; -1 when unknown, when the token
/// cannot be refreshed (`refresh_expires_in` 0), or `t` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_refresh_expires_at_ms(t: *const iop_token) -> i64 {
    guard(-1, || {
        opt_ref(t)
            .and_then(|t| t.token.refresh_expires_at_ms())
            .unwrap_or(-1)
    })
}

/// The whole token set as JSON text with the gateway's field names (secrets included: keep it
/// where you keep secrets), suitable for `iop_token_from_json`. NULL when `t` is NULL.
///
/// Allocated: free with `iop_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_to_json(t: *const iop_token) -> *mut c_char {
    guard(std::ptr::null_mut(), || {
        opt_ref(t)
            .and_then(|t| to_c_string(t.token.to_json(), "the token").ok())
            .unwrap_or(std::ptr::null_mut())
    })
}

/// Reads a token set from JSON text, as written by `iop_token_to_json` or as the gateway sent
/// it, and writes a new token to `*out` (free with `iop_token_free`). Use it to load a stored
/// token and hand it to `iop_manager_put`.
///
/// `err` as for `iop_client_create_token`.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
/// `IOP_RESULT_DECODE` (not a JSON object); a gateway result when the JSON is a gateway error
/// envelope; `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_from_json(
    json: *const c_char,
    out: *mut *mut iop_token,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let json = try_str(json, "json")?;
        let out = try_out(out, "out")?;
        let token = TokenSet::from_json(json.as_bytes(), SystemTime::now())
            .map_err(|e| from_json_failure(&e))?;
        out.write(into_raw::<iop_token>(TokenHandle::new(token)));
        Ok(())
    })
}

/// The failure of `iop_token_from_json`, with a fixed message: the text was the caller's own
/// input (perhaps a bare refresh token pasted where JSON belongs), and the message must never
/// repeat it. A gateway error envelope keeps its code and request id in the error's accessors.
fn from_json_failure(error: &iop_core::Error) -> Failure {
    let mut failure = Failure::from(error);
    failure.message = match error {
        iop_core::Error::Gateway(_) => {
            "json is a gateway error answer, not a token set (see iop_error_code)".to_owned()
        }
        _ => "json is not a JSON object holding a token set (its text is not repeated: it may \
              hold a secret)"
            .to_owned(),
    };
    failure
}

/// Frees a token and the strings borrowed from it, zeroing its secrets. NULL is a no-op. Free
/// each token once.
#[unsafe(no_mangle)]
pub extern "C" fn iop_token_free(t: *mut iop_token) {
    guard((), || free(t));
}
