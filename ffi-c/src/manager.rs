//! `iop_manager`: valid access tokens on demand, refreshed once per seller across threads and
//! processes.

use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use iop_core::manager::{DEFAULT_CONCURRENCY, DEFAULT_MARGIN};
use iop_core::store::ExternalStore;
use iop_core::{MemoryStore, RefreshDueOptions, TokenManager, TokenStore};

use crate::boundary::{boundary, boundary_result, guard};
use crate::client::iop_client;
use crate::error::ErrorHandle;
use crate::error::iop_error;
use crate::ffi::{
    BoxCastable, bool_out, free, into_raw, lend, opt_str, to_c_string, try_out, try_pairs, try_ref,
    try_str,
};
use crate::result::{Failure, iop_result};
use crate::store::{CallbackBackend, iop_store_callbacks};
use crate::token::TokenHandle;
use crate::token::iop_token;

/// A token manager: keeps every seller's access token valid over a client and a token store
/// (in memory, a directory of files shared safely between processes, Redis or PostgreSQL
/// shared between hosts, or your own store).
///
/// Create with `iop_manager_new` or `iop_manager_open` (memory, a directory, a Redis or
/// PostgreSQL URL) or `iop_manager_new_with_store` (your own store, as callbacks); free with
/// `iop_manager_free`. May be used by several threads at once: concurrent callers asking for
/// one seller share a single refresh.
pub struct iop_manager {
    _private: [u8; 0],
}

impl BoxCastable for iop_manager {
    type Rust = ManagerHandle;
}

/// What an `iop_manager` holds.
pub(crate) struct ManagerHandle {
    pub(crate) manager: TokenManager,
    /// The caller's callback store, for a manager made by `iop_manager_new_with_store`.
    pub(crate) callback_store: Option<Arc<ExternalStore<CallbackBackend>>>,
}

/// Called when the manager finds that a seller must authorize the app again: with the
/// `user_data` given at registration, the seller `key` and the error that said so. Both
/// pointers are borrowed for the duration of the call only; do not free them. Called at most
/// once per stored token, from whichever thread found out (a thread calling
/// `iop_manager_access_token` or a worker of `iop_manager_refresh_due`), so it must be
/// thread-safe; it must not call back into the same manager.
pub type iop_reauthorization_callback =
    Option<extern "C" fn(user_data: *mut c_void, key: *const c_char, error: *const iop_error)>;

/// The caller's `user_data`, handed back untouched; the header makes the caller responsible
/// for its thread safety.
struct UserData(*mut c_void);

// SAFETY: the pointer is never dereferenced here, only passed back to the caller's callback,
// whose documentation requires it to be usable from any thread.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

impl UserData {
    fn get(&self) -> *mut c_void {
        self.0
    }
}

/// What `iop_manager_refresh_due` did: how many sellers fell in each outcome.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct iop_refresh_report {
    /// Tokens refreshed and saved.
    pub refreshed: usize,
    /// Tokens not due yet.
    pub skipped: usize,
    /// Tokens whose refresh failed (transport, gateway, store errors); retry later.
    pub failed: usize,
    /// Sellers who must authorize the app again (refresh token dead or expiring).
    pub reauthorization_required: usize,
}

/// Creates a token manager over the client `c` and the token store named by `store`, and
/// writes it to `*out` (free with `iop_manager_free`).
///
/// - `c`: the client used for refreshes; the manager keeps its own reference, so `c` may be
///   freed before the manager. Later `iop_client_set_*` calls do not affect the manager.
/// - `store`: where the token sets are kept, named as everywhere in iop:
///   - NULL or `"memory:"`: in this process's memory only;
///   - a directory: an absolute path (`"/var/lib/app/tokens"`), a relative one starting with
///     `"./"` or `"../"`, or `"file:PATH"`: one file per seller (created if missing, mode
///     0700; files mode 0600, written atomically; safe to share between the processes of one
///     machine). A bare name such as `"tokens"` is refused (write `"./tokens"`), and so is
///     anything else that is none of these forms (a libpq `"host=… dbname=…"` string,
///     `"redis:/host"`), with a message that shows no password;
///   - `"redis://[user:password@]host[:port][/db]"`, or `"rediss://…"` for TLS (the server
///     checked against the web PKI roots, the system's, and a CA file: the URL's `ca_file=`, or
///     the environment variable `IOP_STORE_CA_FILE`): a Redis (or Valkey) server shared by
///     every process and host using it, one refresh per seller at a time across all of them (a
///     lease renewed while held). A server whose persistence may lose an acknowledged save
///     (without `appendonly yes` and `appendfsync always`, or `WAITAOF`) is refused unless the
///     URL has `durability=relaxed`;
///   - `"postgres://user:password@host[:port]/db"` or `"postgresql://…"`: a PostgreSQL table
///     (`iop_tokens`, created on first use), likewise shared, the per-seller lock dying with
///     its holder's session. TLS by `sslmode=` (`prefer` by default; `verify-full`,
///     `verify-ca`, `require`, `disable`) with the same roots and `ca_file=`; plain TCP to a
///     host that is not this machine needs `insecure_plaintext=true`.
///
///   A server store is connected to here: a server that does not answer fails within the
///   connect timeout (5 s), naming host and port, and a refused password fails too. The text
///   is copied; free it when you like.
/// - `margin_ms`: refresh an access token when it expires within this many milliseconds; any
///   negative value means the default, 3 days.
///
/// The manager may be used by several threads at once.
///
/// On failure, when `err` is not NULL, `*err` receives an error (free with `iop_error_free`)
/// whose message says what failed, e.g. which host and port did not answer. The message never
/// holds a password from `store`.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
/// `IOP_RESULT_STORE` (a store string of none of the forms above; the directory cannot be
/// created or opened; a URL that is malformed; a server that cannot be reached or refuses the
/// credentials);
/// `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_manager_new(
    c: *const iop_client,
    store: *const c_char,
    margin_ms: i64,
    out: *mut *mut iop_manager,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || new_manager(c, store, margin_ms, out))
}

/// The same as `iop_manager_new` (kept for code written when `iop_manager_new` had no `err`).
///
/// Returns as `iop_manager_new`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_manager_open(
    c: *const iop_client,
    store: *const c_char,
    margin_ms: i64,
    out: *mut *mut iop_manager,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || new_manager(c, store, margin_ms, out))
}

/// The body of `iop_manager_new` and `iop_manager_open`.
fn new_manager(
    c: *const iop_client,
    store: *const c_char,
    margin_ms: i64,
    out: *mut *mut iop_manager,
) -> Result<(), Failure> {
    let client = try_ref(c, "c")?;
    let store = opt_str(store, "store")?;
    let out = try_out(out, "out")?;
    let store: Arc<dyn TokenStore> = match store {
        Some(name) => iop_core::store::open(name)?,
        None => Arc::new(MemoryStore::new()),
    };
    let margin = u64::try_from(margin_ms).map_or(DEFAULT_MARGIN, Duration::from_millis);
    let manager = TokenManager::new(Arc::clone(&client.client), store).with_margin(margin);
    out.write(into_raw::<iop_manager>(ManagerHandle {
        manager,
        callback_store: None,
    }));
    Ok(())
}

/// Creates a token manager over the client `c` and a token store implemented by the caller's
/// callbacks (see `iop_store_callbacks`), and writes it to `*out` (free with
/// `iop_manager_free`).
///
/// - `c`, `margin_ms`: as for `iop_manager_new`.
/// - `store`: copied; the struct itself need not outlive the call. On success the manager owns
///   `store->user` and calls `store->free_user` (if not NULL) once when it is freed; on failure
///   nothing is called and `user` stays yours.
///
/// The manager may be used by several threads at once; the callbacks are then called from
/// those threads. `err` as for `iop_manager_new`.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT` (`c`, `store`, `out`, or one of the
/// `load`, `save`, `keys` callbacks NULL: the message names it); `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_manager_new_with_store(
    c: *const iop_client,
    store: *const iop_store_callbacks,
    margin_ms: i64,
    out: *mut *mut iop_manager,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let client = try_ref(c, "c")?;
        let out = try_out(out, "out")?;
        let callbacks = try_ref(store, "store")?;
        let backend = CallbackBackend::new(callbacks)?;
        let callback_store = Arc::new(ExternalStore::new(backend));
        let store: Arc<dyn TokenStore> = callback_store.clone();
        let margin = u64::try_from(margin_ms).map_or(DEFAULT_MARGIN, Duration::from_millis);
        let manager = TokenManager::new(Arc::clone(&client.client), store).with_margin(margin);
        out.write(into_raw::<iop_manager>(ManagerHandle {
            manager,
            callback_store: Some(callback_store),
        }));
        Ok(())
    })
}

/// Stores the token set `t` for the seller key `key` (any string, e.g. the seller id),
/// replacing what is there. `t` is copied: free it when you like.
///
/// `err` as for `iop_client_create_token`: for `IOP_RESULT_STORE` its message says what failed
/// (the directory, the server, a record of another app naming the part that differs).
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
/// `IOP_RESULT_STORE`; `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_manager_put(
    m: *mut iop_manager,
    key: *const c_char,
    t: *const iop_token,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let handle = try_ref(m.cast_const(), "m")?;
        let key = try_str(key, "key")?;
        let token = try_ref(t, "t")?;
        handle.manager.put(key, &token.token)?;
        Ok(())
    })
}

/// Forgets the stored token set of the seller `key`: a seller who left, or a corrupted entry
/// to replace with `iop_manager_put`. When `removed` is not NULL, `*removed` receives `true`
/// if something was stored and `false` if nothing was, or if the call failed (the rule of every
/// `bool` out-parameter: written on every return, `false` unless `IOP_RESULT_OK`).
///
/// `err` as for `iop_client_create_token`.
///
/// Returns `IOP_RESULT_OK` (also when nothing was stored); `IOP_RESULT_NULL_ARGUMENT`;
/// `IOP_RESULT_INVALID_UTF8`; `IOP_RESULT_STORE` (the store failed); `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_manager_remove(
    m: *mut iop_manager,
    key: *const c_char,
    removed: *mut bool,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        // First: every failure below leaves `false` there.
        let removed = bool_out(removed);
        let handle = try_ref(m.cast_const(), "m")?;
        let key = try_str(key, "key")?;
        let was_stored = handle.manager.remove(key)?;
        removed.write(was_stored);
        Ok(())
    })
}

/// Writes a valid access token for the seller `key` to `*out` (a secret; free with
/// `iop_string_free`, which also zeroes it), refreshing first when it expires within the
/// margin. Concurrent callers for one key share one refresh; the new refresh token is saved
/// before this returns.
///
/// `err` as for `iop_client_create_token`.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
/// `IOP_RESULT_UNKNOWN_SELLER` (no token set is stored for `key`);
/// `IOP_RESULT_REAUTHORIZATION_REQUIRED` (the refresh token is dead or expired: the seller must
/// authorize the app again); `IOP_RESULT_STORE` (the store failed); the gateway, decode,
/// transport and timeout results of a failed refresh; `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_manager_access_token(
    m: *mut iop_manager,
    key: *const c_char,
    out: *mut *mut c_char,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let handle = try_ref(m.cast_const(), "m")?;
        let key = try_str(key, "key")?;
        let out = try_out(out, "out")?;
        let token = handle.manager.access_token(key)?;
        out.write(to_c_string(token.secret().to_owned(), "the access token")?);
        Ok(())
    })
}

/// Calls any API for the seller `key` and writes the JSON text of the answer's body to
/// `*out_json` (free with `iop_string_free`): a valid access token of the seller (refreshed
/// first when due, as `iop_manager_access_token`), the call, and when the gateway refuses that
/// access token as invalid or expired, one refresh and one retry. That refresh is shared by
/// every thread refused the same token (one per seller at a time); a dead refresh token
/// reaches the reauthorization callback and gives `IOP_RESULT_REAUTHORIZATION_REQUIRED`.
///
/// `api`, `keys`, `values`, `count` as for `iop_client_call`. Gateway error envelopes are
/// failures, as for `iop_client_call` (`iop_manager_call_raw` returns them as JSON).
/// `err` as for `iop_client_create_token`. Thread safety: `m` may be shared.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
/// `IOP_RESULT_INVALID_ARGUMENT` (malformed API name, a business parameter named like a system
/// one); `IOP_RESULT_UNKNOWN_SELLER` (nothing stored for `key`: nothing was sent);
/// `IOP_RESULT_REAUTHORIZATION_REQUIRED`; `IOP_RESULT_ACCESS_TOKEN_INVALID` (refused again after
/// the refresh); every other gateway result; `IOP_RESULT_STORE`; `IOP_RESULT_DECODE`;
/// `IOP_RESULT_TRANSPORT`; `IOP_RESULT_TIMEOUT`; `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the call's arguments, as iop_client_call takes them
pub extern "C" fn iop_manager_call(
    m: *mut iop_manager,
    key: *const c_char,
    api: *const c_char,
    keys: *const *const c_char,
    values: *const *const c_char,
    count: usize,
    out_json: *mut *mut c_char,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        manager_call(m, key, api, keys, values, count, out_json, false)
    })
}

/// `iop_manager_call`, returning a gateway error envelope as its JSON text instead of a
/// failure (what the vendor SDKs' `execute` does). A refusal of the access token is still
/// handled (one refresh, one retry) first.
///
/// Returns as `iop_manager_call`, without the gateway results.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the call's arguments, as iop_client_call takes them
pub extern "C" fn iop_manager_call_raw(
    m: *mut iop_manager,
    key: *const c_char,
    api: *const c_char,
    keys: *const *const c_char,
    values: *const *const c_char,
    count: usize,
    out_json: *mut *mut c_char,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        manager_call(m, key, api, keys, values, count, out_json, true)
    })
}

/// The body of `iop_manager_call` and `iop_manager_call_raw`.
#[allow(clippy::too_many_arguments)]
fn manager_call(
    m: *mut iop_manager,
    key: *const c_char,
    api: *const c_char,
    keys: *const *const c_char,
    values: *const *const c_char,
    count: usize,
    out_json: *mut *mut c_char,
    raw: bool,
) -> Result<(), Failure> {
    let handle = try_ref(m.cast_const(), "m")?;
    let key = try_str(key, "key")?;
    let api = try_str(api, "api")?;
    let pairs = try_pairs(keys, values, count)?;
    let out_json = try_out(out_json, "out_json")?;
    let mut request = iop_core::Request::new(api)?;
    for (name, value) in pairs {
        request.set_param(name, value);
    }
    let body = if raw {
        handle.manager.call_raw(key, &request)?
    } else {
        handle.manager.call(key, &request)?
    };
    out_json.write(to_c_string(body.to_string(), "the answer")?);
    Ok(())
}

/// Writes the stored token set of `key` to `*out` (free with `iop_token_free`), or NULL when
/// none is stored. Does not refresh.
///
/// `err` as for `iop_client_create_token`.
///
/// Returns `IOP_RESULT_OK` (also when nothing is stored); `IOP_RESULT_NULL_ARGUMENT`;
/// `IOP_RESULT_INVALID_UTF8`; `IOP_RESULT_STORE`; `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_manager_get(
    m: *mut iop_manager,
    key: *const c_char,
    out: *mut *mut iop_token,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let handle = try_ref(m.cast_const(), "m")?;
        let key = try_str(key, "key")?;
        let out = try_out(out, "out")?;
        let token = handle.manager.get(key)?;
        out.write(token.map_or(std::ptr::null_mut(), |t| {
            into_raw::<iop_token>(TokenHandle::new(t))
        }));
        Ok(())
    })
}

/// Refreshes every stored token whose access token expires within `within_ms` milliseconds,
/// at most `concurrency` at a time (0: the default, 8), and writes the counts to `*out`.
/// Failures of single sellers are counted, not returned.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_ARGUMENT`
/// (negative `within_ms`); `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_manager_refresh_due(
    m: *mut iop_manager,
    within_ms: i64,
    concurrency: usize,
    out: *mut iop_refresh_report,
) -> iop_result {
    boundary_result(|| {
        let handle = try_ref(m.cast_const(), "m")?;
        let out = try_out(out, "out")?;
        let within = u64::try_from(within_ms)
            .map(Duration::from_millis)
            .map_err(|_| {
                Failure::new(
                    iop_result::IOP_RESULT_INVALID_ARGUMENT,
                    "within_ms must not be negative",
                )
            })?;
        let report = handle.manager.refresh_due(RefreshDueOptions {
            within,
            concurrency: if concurrency == 0 {
                DEFAULT_CONCURRENCY
            } else {
                concurrency
            },
            progress: None,
        });
        out.write(iop_refresh_report {
            refreshed: report.refreshed.len(),
            skipped: report.skipped.len(),
            failed: report.failed.len(),
            reauthorization_required: report.reauthorization_required.len(),
        });
        Ok(())
    })
}

/// Registers `callback` (replacing any earlier one; NULL removes it), called with `user_data`
/// each time a seller is found to need authorizing again. See `iop_reauthorization_callback`.
///
/// May be called at any time, also while other threads use `m`: calls that start after this
/// one returns use the new callback. A report already being delivered finishes with the
/// callback (and `user_data`) it started with, so keep an old `user_data` valid until the calls
/// on `m` that were running when you replaced it have returned.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT` (`m` NULL); `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_manager_on_reauthorization_required(
    m: *mut iop_manager,
    callback: iop_reauthorization_callback,
    user_data: *mut c_void,
) -> iop_result {
    boundary_result(|| {
        let handle = try_ref(m.cast_const(), "m")?;
        match callback {
            Some(callback) => {
                let user_data = UserData(user_data);
                handle
                    .manager
                    .set_on_reauthorization_required(move |key, error| {
                        let key = CString::new(key.replace('\0', " ")).unwrap_or_default();
                        let error = ErrorHandle::new(Failure::from(error));
                        callback(user_data.get(), key.as_ptr(), lend::<iop_error>(&error));
                    });
            }
            None => handle.manager.clear_on_reauthorization_required(),
        }
        Ok(())
    })
}

/// Frees a manager. NULL is a no-op. No other thread may be using it.
#[unsafe(no_mangle)]
pub extern "C" fn iop_manager_free(m: *mut iop_manager) {
    guard((), || free(m));
}
