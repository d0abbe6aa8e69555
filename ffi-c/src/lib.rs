//! C ABI of iop: `libiop.so` / `libiop.a` and the generated header `include/iop.h`.
//!
//! A thin boundary over `iop-core`, in the style of rustls-ffi: opaque handles mapped to Rust
//! values in one module ([`handle`]), every exported function inside a panic boundary, one
//! result enum with fixed numbers ([`result::iop_result`]) and one mapping of core errors to it,
//! out-parameters last and written only on success.

// The exported names are C's (`iop_client`, `IOP_RESULT_OK`), not Rust's.
#![allow(non_camel_case_types)]

pub mod client;
pub mod error;
pub mod handle;
pub mod manager;
pub mod result;
pub mod sign;
pub mod token;

use std::ffi::c_char;

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
    result::guard((), || handle::free_c_string(s));
}
