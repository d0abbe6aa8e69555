//! `iop_store_callbacks`: a token store written in C (load/save/keys/remove callbacks with a
//! user pointer), made into a full store by core's `ExternalStore` (versions, compare-and-swap,
//! per-key locks). This module only converts strings and results.

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use iop_core::store::{ExternalStore, StoreBackend};
use iop_core::{Error, TokenSet, TokenStore};
use zeroize::Zeroize;

use crate::boundary::boundary_result;
use crate::ffi::{BoxCastable, lend_mut, try_c_bytes, try_ref, try_str, wipe_c_string};
use crate::result::{Failure, iop_result};

/// Where a load callback puts the token set it found: pass it to `iop_store_value_set`.
/// Lent by the library for the duration of one load callback only.
pub struct iop_store_value {
    _private: [u8; 0],
}

impl BoxCastable for iop_store_value {
    type Rust = ValueSink;
}

/// Where a keys callback puts the stored keys: pass it to `iop_store_keys_add`, once per key.
/// Lent by the library for the duration of one keys callback only.
pub struct iop_store_keys {
    _private: [u8; 0],
}

impl BoxCastable for iop_store_keys {
    type Rust = KeysSink;
}

/// What a load callback handed over: the copied JSON (zeroed when dropped), if any.
#[derive(Default)]
pub(crate) struct ValueSink {
    json: Mutex<Option<Vec<u8>>>,
}

impl Drop for ValueSink {
    fn drop(&mut self) {
        if let Some(json) = self
            .json
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            json.zeroize();
        }
    }
}

/// What a keys callback handed over, and the first key that could not be taken.
#[derive(Default)]
pub(crate) struct KeysSink {
    keys: Mutex<(Vec<String>, Option<String>)>,
}

/// Loads the token set of `key`. The callback either calls `iop_store_value_set(value, json)`
/// once (the token set is stored: `json` is the text `save` was given) or does not call it
/// (nothing is stored for `key`). Returns 0 on success, anything else on failure.
pub type iop_store_load_fn = Option<
    extern "C" fn(user: *mut c_void, key: *const c_char, value: *mut iop_store_value) -> c_int,
>;

/// Stores `token_json` (a JSON object, NUL-terminated; it holds secrets) for `key`, replacing
/// what is there; returns 0 once it is stored, anything else on failure. Both strings are
/// borrowed for the duration of the call only: copy what you keep. The library zeroes its copy
/// of `token_json` after the call.
pub type iop_store_save_fn = Option<
    extern "C" fn(user: *mut c_void, key: *const c_char, token_json: *const c_char) -> c_int,
>;

/// Lists every stored key by calling `iop_store_keys_add(keys, key)` once per key (any order;
/// duplicates are dropped). Returns 0 on success, anything else on failure.
pub type iop_store_keys_fn =
    Option<extern "C" fn(user: *mut c_void, keys: *mut iop_store_keys) -> c_int>;

/// Removes the token set of `key`, writing to `*removed` whether one was stored (it starts as
/// `false`). Returns 0 on success, anything else on failure.
pub type iop_store_remove_fn =
    Option<extern "C" fn(user: *mut c_void, key: *const c_char, removed: *mut bool) -> c_int>;

/// Records `marker` (a handled push message) for `ttl_ms` milliseconds, in one atomic step that
/// fails when an unexpired record of it exists (an insert with a unique key and an expiry), and
/// writes to `*first` whether this call recorded it (`true`) or found a live record (`false`;
/// it starts as `false`). `marker` (printable text, at most 256 bytes) is borrowed for the
/// call only. Returns 0 on success, anything else on failure. Optional: set it with
/// `iop_manager_set_store_mark_seen` so that every host sharing your storage agrees on which
/// push messages were handled.
pub type iop_store_mark_seen_fn = Option<
    extern "C" fn(user: *mut c_void, marker: *const c_char, ttl_ms: i64, first: *mut bool) -> c_int,
>;

/// A token store implemented by the caller, for `iop_manager_new_with_store`. The library adds
/// the versions, compare-and-swap saves and per-key locks; the callbacks only load, save, list
/// and (optionally) remove JSON text by key.
///
/// Threads: the callbacks are called from any thread that uses the manager (several at once,
/// for different keys and for the same key), so they and `user` must be thread-safe. No lock of
/// the library is held during a callback: a callback may call into the library (also into the
/// manager over this store), except to write a key from inside its own save or remove of that
/// same key, which is refused with `IOP_RESULT_STORE`.
///
/// Failures: a callback returning non-zero makes the operation fail with `IOP_RESULT_STORE`,
/// whose message names the key and the callback. A stored value that is not a JSON object is
/// also `IOP_RESULT_STORE` naming the key (never quoting the value), and is not overwritten:
/// remove it first.
///
/// Versions live in this process: share one manager between the threads of a process rather
/// than building several managers over the same storage.
#[repr(C)]
pub struct iop_store_callbacks {
    /// Passed as the first argument to every callback; owned by the caller until a manager is
    /// created successfully, then by the manager (see `free_user`).
    pub user: *mut c_void,
    /// Required.
    pub load: iop_store_load_fn,
    /// Required.
    pub save: iop_store_save_fn,
    /// Required.
    pub keys: iop_store_keys_fn,
    /// NULL: the store cannot remove keys (`iop_manager_remove` fails with `IOP_RESULT_STORE`).
    pub remove: iop_store_remove_fn,
    /// Called once with `user` when the manager is freed (NULL: not called). Not called when
    /// `iop_manager_new_with_store` fails: `user` stays the caller's then.
    pub free_user: Option<extern "C" fn(user: *mut c_void)>,
}

impl BoxCastable for iop_store_callbacks {
    type Rust = iop_store_callbacks;
}

/// The token store `iop_manager_new_with_store` builds over `callbacks` (core's
/// `ExternalStore` over them), for Rust callers and tests; `None` when `load`, `save` or `keys`
/// is NULL (then `free_user` is not called).
pub fn callback_store(callbacks: &iop_store_callbacks) -> Option<Arc<dyn TokenStore>> {
    CallbackBackend::new(callbacks)
        .ok()
        .map(|backend| Arc::new(ExternalStore::new(backend)) as Arc<dyn TokenStore>)
}

/// Hands the token set found by a load callback to the library, which copies `token_json`
/// (NUL-terminated): free or wipe your copy when you like. Called again, the later value wins.
/// Only valid on the `value` a load callback received, during that callback.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_store_value_set(
    value: *mut iop_store_value,
    token_json: *const c_char,
) -> iop_result {
    boundary_result(|| {
        let sink = try_ref(value.cast_const(), "value")?;
        let bytes = try_c_bytes(token_json, "token_json")?.to_vec();
        let mut slot = sink
            .json
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(mut old) = slot.replace(bytes) {
            old.zeroize();
        }
        Ok(())
    })
}

/// Adds one stored key (NUL-terminated UTF-8, copied) to the list a keys callback builds. Only
/// valid on the `keys` a keys callback received, during that callback. A key that is not valid
/// UTF-8 makes the whole listing fail with `IOP_RESULT_STORE`, even if the callback returns 0.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
/// `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_store_keys_add(keys: *mut iop_store_keys, key: *const c_char) -> iop_result {
    boundary_result(|| {
        let sink = try_ref(keys.cast_const(), "keys")?;
        let key = try_str(key, "key");
        let mut list = sink
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match key {
            Ok(key) => {
                list.0.push(key.to_owned());
                Ok(())
            }
            Err(failure) => {
                list.1.get_or_insert_with(|| failure.message.clone());
                Err(failure)
            }
        }
    })
}

/// The caller's callbacks, checked (the required ones are present).
pub(crate) struct CallbackBackend {
    user: *mut c_void,
    load: extern "C" fn(*mut c_void, *const c_char, *mut iop_store_value) -> c_int,
    save: extern "C" fn(*mut c_void, *const c_char, *const c_char) -> c_int,
    keys: extern "C" fn(*mut c_void, *mut iop_store_keys) -> c_int,
    remove: iop_store_remove_fn,
    free_user: Option<extern "C" fn(*mut c_void)>,
    /// Set by `iop_manager_set_store_mark_seen`.
    pub(crate) mark_seen: RwLock<iop_store_mark_seen_fn>,
}

// SAFETY: `user` is never dereferenced here, only passed to the caller's callbacks, which the
// header requires to be thread-safe together with `user`.
unsafe impl Send for CallbackBackend {}
// SAFETY: as above.
unsafe impl Sync for CallbackBackend {}

impl CallbackBackend {
    /// Checks `callbacks`: `load`, `save` and `keys` are required.
    pub(crate) fn new(callbacks: &iop_store_callbacks) -> Result<Self, Failure> {
        let (Some(load), Some(save), Some(keys)) = (callbacks.load, callbacks.save, callbacks.keys)
        else {
            let missing = [
                ("load", callbacks.load.is_none()),
                ("save", callbacks.save.is_none()),
                ("keys", callbacks.keys.is_none()),
            ]
            .iter()
            .filter(|(_, absent)| *absent)
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ");
            return Err(Failure::null(&format!("store callback {missing}")));
        };
        Ok(Self {
            user: callbacks.user,
            load,
            save,
            keys,
            remove: callbacks.remove,
            free_user: callbacks.free_user,
            mark_seen: RwLock::new(None),
        })
    }
}

impl Drop for CallbackBackend {
    fn drop(&mut self) {
        if let Some(free_user) = self.free_user {
            free_user(self.user);
        }
    }
}

fn store_error(key: &str, message: String) -> Error {
    Error::Store {
        key: key.to_owned(),
        message,
        source: None,
    }
}

/// `key` as a C string (keys come from C strings, so a NUL inside is a caller's mistake).
fn c_key(key: &str) -> iop_core::Result<CString> {
    CString::new(key).map_err(|_| {
        store_error(
            key,
            "the key contains a NUL byte, which a C store cannot receive".to_owned(),
        )
    })
}

fn failed(key: &str, callback: &str, code: c_int) -> Error {
    store_error(
        key,
        format!("the store's {callback} callback failed (returned {code})"),
    )
}

impl StoreBackend for CallbackBackend {
    fn load(&self, key: &str) -> iop_core::Result<Option<TokenSet>> {
        let c = c_key(key)?;
        let sink = ValueSink::default();
        let code = (self.load)(self.user, c.as_ptr(), lend_mut::<iop_store_value>(&sink));
        if code != 0 {
            return Err(failed(key, "load", code));
        }
        let json = sink
            .json
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(mut json) = json else {
            return Ok(None);
        };
        let parsed = serde_json::from_slice::<TokenSet>(&json);
        json.zeroize();
        match parsed {
            Ok(token) => Ok(Some(token)),
            // Only the position and category: serde's text could quote a stored secret.
            Err(e) => Err(store_error(
                key,
                format!(
                    "the stored value is not a token set ({:?} error at line {} column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            )),
        }
    }

    fn save(&self, key: &str, token: &TokenSet) -> iop_core::Result<()> {
        let c = c_key(key)?;
        let json = CString::new(token.to_json())
            .map_err(|_| store_error(key, "the token set holds a NUL byte".to_owned()))?;
        let code = (self.save)(self.user, c.as_ptr(), json.as_ptr());
        wipe_c_string(Some(json));
        if code != 0 {
            return Err(store_error(
                key,
                format!(
                    "the token set could not be saved: the store's save callback failed \
                     (returned {code})"
                ),
            ));
        }
        Ok(())
    }

    fn keys(&self) -> iop_core::Result<Vec<String>> {
        let sink = KeysSink::default();
        let code = (self.keys)(self.user, lend_mut::<iop_store_keys>(&sink));
        if code != 0 {
            return Err(failed("", "keys", code));
        }
        let (keys, bad) = sink
            .keys
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match bad {
            Some(message) => Err(store_error(
                "",
                format!("the store's keys callback listed a bad key: {message}"),
            )),
            None => Ok(keys),
        }
    }

    /// The `mark_seen` callback when one is set; else the adapter keeps markers in memory.
    fn mark_seen(&self, marker: &str, ttl: Duration) -> Option<iop_core::Result<bool>> {
        let mark_seen = (*self
            .mark_seen
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner))?;
        let answer = (|| {
            let c = CString::new(marker)
                .map_err(|_| store_error("", "a push marker holds a NUL byte".to_owned()))?;
            let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            let mut first = false;
            let code = mark_seen(self.user, c.as_ptr(), ttl_ms, &raw mut first);
            if code != 0 {
                return Err(failed("", "mark_seen", code));
            }
            Ok(first)
        })();
        Some(answer)
    }

    fn remove(&self, key: &str) -> iop_core::Result<bool> {
        let Some(remove) = self.remove else {
            return Err(store_error(
                key,
                "this store cannot remove keys (no remove callback)".to_owned(),
            ));
        };
        let c = c_key(key)?;
        let mut removed = false;
        let code = remove(self.user, c.as_ptr(), &raw mut removed);
        if code != 0 {
            return Err(failed(key, "remove", code));
        }
        Ok(removed)
    }
}
