//! Lazada pushes from C: `iop_push_verify` checks a push's signature over the raw body;
//! `iop_manager_handle_push` acts on it for the token lifecycle, with its window
//! (`iop_manager_set_push_window_ms`) and the store's markers of handled messages
//! (`iop_manager_set_store_mark_seen`).

use std::ffi::c_char;
use std::time::Duration;

use iop_core::push;
use iop_core::{AppSecret, PushOutcome};

use crate::boundary::{boundary, boundary_result};
use crate::error::iop_error;
use crate::ffi::{bool_out, opt_str, try_bytes, try_out, try_ref, try_str};
use crate::manager::iop_manager;
use crate::result::{Failure, iop_result};
use crate::store::iop_store_mark_seen_fn;

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
/// A header that is not UTF-8 is not a valid signature: `IOP_RESULT_OK` with `false`. Whatever
/// it returns, a non-NULL `out_valid` is written: `false` on every result but `IOP_RESULT_OK`
/// (the rule of every `bool` out-parameter), so a caller that ignores the result fails closed.
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
        // First: every failure below leaves `false` there.
        let out = bool_out(out_valid);
        if out.is_null() {
            return Err(Failure::null("out_valid"));
        }
        let app_key = try_str(app_key, "app_key")?;
        let secret = AppSecret::new(try_str(app_secret, "app_secret")?);
        let body = try_bytes(body, body_len, "body")?;
        let header = opt_str(authorization, "authorization").ok().flatten();
        let valid = header.is_some_and(|h| push::verify(app_key, &secret, body, Some(h)));
        out.write(valid);
        Ok(())
    })
}

/// What `iop_manager_handle_push` did with a push message. The numbers are part of the ABI.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum iop_push_outcome {
    /// Nothing for the token lifecycle: another message type, or a seller the store does not
    /// hold.
    IOP_PUSH_IGNORED = 0,
    /// Type 8 for a due token (past half of its life, or within the margin): refreshed now.
    IOP_PUSH_REFRESHED = 1,
    /// Type 8 for a token that is not due: nothing was sent to the gateway.
    IOP_PUSH_NOT_DUE = 2,
    /// Type 8 for a due token that cannot be refreshed, or type 13 `close`: the seller must
    /// authorize again (the reauthorization callback fired, once per stored token).
    IOP_PUSH_REAUTHORIZATION_REQUIRED = 3,
    /// The same message (same dedup key) was handled already within the window, by this
    /// manager or another sharing the store: nothing was done.
    IOP_PUSH_DUPLICATE = 4,
    /// Refused: the message's timestamp is missing or further from now than the push window
    /// (an old message replayed): nothing was done.
    IOP_PUSH_STALE = 5,
}

impl From<PushOutcome> for iop_push_outcome {
    fn from(outcome: PushOutcome) -> Self {
        match outcome {
            PushOutcome::Refreshed => Self::IOP_PUSH_REFRESHED,
            PushOutcome::NotDue => Self::IOP_PUSH_NOT_DUE,
            PushOutcome::ReauthorizationRequired => Self::IOP_PUSH_REAUTHORIZATION_REQUIRED,
            PushOutcome::Duplicate => Self::IOP_PUSH_DUPLICATE,
            PushOutcome::Stale => Self::IOP_PUSH_STALE,
            // `PushOutcome` may grow: anything new is nothing the caller must act on yet.
            _ => Self::IOP_PUSH_IGNORED,
        }
    }
}

/// Acts on a Lazada push for the token lifecycle and writes what it did to `*out` (written only
/// on success). Verify the push first with `iop_push_verify`, over the same bytes.
///
/// - `body`, `body_len`: the raw request body (`body` may be NULL only when `body_len` is 0).
/// - Type 8 (the seller's authorization expires within 48 hours) refreshes the seller (its key
///   is the message's `seller_id`) when its token is due: past half of its life, or within the
///   manager's margin (`IOP_PUSH_REFRESHED`; else `IOP_PUSH_NOT_DUE`, nothing sent); a due
///   token that cannot be refreshed reports the seller (`IOP_PUSH_REAUTHORIZATION_REQUIRED`,
///   and the reauthorization callback). Type 13 `close` reports the seller.
/// - A message whose timestamp is missing or further from now than the push window
///   (`iop_manager_set_push_window_ms`, default 15 minutes) is refused: `IOP_PUSH_STALE`.
/// - A message is recorded in the store before it is acted on, for twice the window: a repeat
///   is `IOP_PUSH_DUPLICATE` and does nothing, on every manager sharing the store (every host
///   for Redis and PostgreSQL; for a callback store, this process only unless
///   `iop_manager_set_store_mark_seen` gave it a `mark_seen` callback).
///
/// `err` as for `iop_client_create_token`. Thread safety: `m` may be shared.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_ARGUMENT` (the body
/// is not a push message); `IOP_RESULT_STORE` (the store failed, the marker included); the
/// gateway, decode, transport and timeout results of a failed refresh; `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_manager_handle_push(
    m: *const iop_manager,
    body: *const u8,
    body_len: usize,
    out: *mut iop_push_outcome,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let handle = try_ref(m, "m")?;
        let body = try_bytes(body, body_len, "body")?;
        let out = try_out(out, "out")?;
        let message = push::parse(body)
            .map_err(|e| Failure::new(iop_result::IOP_RESULT_INVALID_ARGUMENT, e.to_string()))?;
        let outcome = handle.manager.handle_push(&message)?;
        out.write(outcome.into());
        Ok(())
    })
}

/// Sets how far from now a push message's timestamp may be for `iop_manager_handle_push` to act
/// on it (default 15 minutes): `window_ms` from 1000 (1 second) to 43200000 (12 hours). Messages
/// are remembered for twice the window. May be called at any time, also while other threads use
/// `m`.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_ARGUMENT` (out of
/// range); `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_manager_set_push_window_ms(
    m: *const iop_manager,
    window_ms: i64,
) -> iop_result {
    boundary_result(|| {
        let handle = try_ref(m, "m")?;
        let window = u64::try_from(window_ms)
            .map(Duration::from_millis)
            .ok()
            .filter(|w| *w >= Duration::from_secs(1) && *w <= push::MAX_WINDOW)
            .ok_or_else(|| {
                Failure::new(
                    iop_result::IOP_RESULT_INVALID_ARGUMENT,
                    "window_ms must be from 1000 (1 second) to 43200000 (12 hours)",
                )
            })?;
        handle.manager.set_push_window(window);
        Ok(())
    })
}

/// Gives the callback store of `m` (made by `iop_manager_new_with_store`) a `mark_seen`
/// callback (NULL removes it), called with the store's `user` to record each push message the
/// manager acts on, so that every host sharing your storage acts on a message once. Without it
/// the markers are kept in this process's memory: each process (each host) then acts once on a
/// replayed message. Set it right after creating the manager; it may be replaced at any time.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_ARGUMENT` (`m` was
/// not made by `iop_manager_new_with_store`); `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_manager_set_store_mark_seen(
    m: *const iop_manager,
    mark_seen: iop_store_mark_seen_fn,
) -> iop_result {
    boundary_result(|| {
        let handle = try_ref(m, "m")?;
        let store = handle.callback_store.as_ref().ok_or_else(|| {
            Failure::new(
                iop_result::IOP_RESULT_INVALID_ARGUMENT,
                "this manager's store is not a callback store (iop_manager_new_with_store)",
            )
        })?;
        *store
            .backend()
            .mark_seen
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = mark_seen;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_own_c_number() {
        for (number, outcome) in PushOutcome::ALL.into_iter().enumerate() {
            assert_eq!(
                iop_push_outcome::from(outcome) as usize,
                number,
                "{outcome}"
            );
        }
    }
}
