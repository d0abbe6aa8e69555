//! C ABI of iop: `libiop.so` / `libiop.a` and the generated header `include/iop.h`.
//!
//! A thin boundary over `iop-core`, in the style of rustls-ffi: pointer casts in one module
//! (`ffi`) that knows no handle type (each opaque type says what its pointers address, next to
//! its functions), every exported function inside the panic boundary (`boundary`), one result
//! enum with fixed numbers ([`result::iop_result`]) and one mapping of core errors to it,
//! out-parameters last and written only on success.
//!
//! The modules form layers, each importing only those above it: `result`; `ffi`; `boundary`;
//! `error`; `token`; `client`; `store`; `manager` and `sign`; `onboarding` and `push`.

// The exported names are C's (`iop_client`, `IOP_RESULT_OK`), not Rust's.
#![allow(non_camel_case_types)]

mod boundary;
pub mod client;
pub mod error;
mod ffi;
pub mod manager;
pub mod onboarding;
pub mod push;
pub mod result;
pub mod sign;
pub mod store;
pub mod token;

use std::ffi::{c_char, c_int};

pub use result::iop_result;

// The header promises that these may be shared between threads.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<client::ClientHandle>();
    shareable::<token::TokenHandle>();
    shareable::<error::ErrorHandle>();
    shareable::<manager::ManagerHandle>();
};

/// The library version, e.g. `"0.1.0"`, as static text. Never free it.
#[unsafe(no_mangle)]
pub extern "C" fn iop_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

/// Frees a string this library allocated (`iop_client_call`'s JSON, `iop_token_to_json`,
/// `iop_manager_access_token`), zeroing its bytes first since it may hold a secret. NULL is a
/// no-op. Never pass a borrowed string (from an accessor) or one you allocated.
#[unsafe(no_mangle)]
pub extern "C" fn iop_string_free(s: *mut c_char) {
    boundary::guard((), || ffi::free_c_string(s));
}

/// The name of a result value as static text, e.g. `"IOP_RESULT_OK"`; for a number that is not
/// a result value, `"IOP_RESULT_UNKNOWN"`. Never returns NULL; never free the text.
///
/// `r` is an `int` so that any number can be passed safely; pass an `iop_result`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_result_name(r: c_int) -> *const c_char {
    boundary::guard(c"IOP_RESULT_UNKNOWN".as_ptr(), || {
        result::ALL
            .iter()
            .find(|v| **v as c_int == r)
            .map_or(c"IOP_RESULT_UNKNOWN", |v| v.name())
            .as_ptr()
    })
}

/// A secret as iop shows it to people, the same in every language: `…` and its last 4
/// characters (`…k3Fz`), or `…` alone for fewer than 12 characters. Tokens of one platform
/// share their first characters, so the end is what tells an old token from its replacement.
///
/// Allocated: free with `iop_string_free`. NULL when `secret` is NULL or not UTF-8.
#[unsafe(no_mangle)]
pub extern "C" fn iop_mask(secret: *const c_char) -> *mut c_char {
    boundary::guard(std::ptr::null_mut(), || {
        ffi::try_str(secret, "secret")
            .and_then(|secret| ffi::to_c_string(iop_core::secret::mask(secret), "the mask"))
            .unwrap_or(std::ptr::null_mut())
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::{CStr, c_int};

    use super::iop_result_name;

    #[test]
    fn unknown_numbers_have_a_name() {
        for r in [-1, 21, 1000, c_int::MAX, c_int::MIN] {
            let name = unsafe { CStr::from_ptr(iop_result_name(r)) };
            assert_eq!(name, c"IOP_RESULT_UNKNOWN");
        }
        let name = unsafe { CStr::from_ptr(iop_result_name(8)) };
        assert_eq!(name, c"IOP_RESULT_RATE_LIMITED");
    }
}
