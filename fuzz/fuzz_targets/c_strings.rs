//! The C ABI's string-taking functions with any bytes (NUL-terminated, possibly invalid UTF-8):
//! a result code, never a panic or a crash; out-parameters written only on success.
//! Declared here as a C program sees them (include/iop.h), so the harness calls the exported
//! symbols, not Rust paths.
#![no_main]

use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;

use iop as _; // links libiop's exported symbols
use libfuzzer_sys::fuzz_target;

const OK: c_int = 0;

unsafe extern "C" {
    fn iop_token_from_json(
        json: *const c_char,
        out: *mut *mut c_void,
        err: *mut *mut c_void,
    ) -> c_int;
    fn iop_token_to_json(t: *const c_void) -> *mut c_char;
    fn iop_token_free(t: *mut c_void);
    fn iop_string_free(s: *mut c_char);
    fn iop_error_message(e: *const c_void) -> *const c_char;
    fn iop_error_free(e: *mut c_void);
    fn iop_sign(
        app_secret: *const c_char,
        api_path: *const c_char,
        keys: *const *const c_char,
        values: *const *const c_char,
        count: usize,
        method: c_int,
        out: *mut c_char,
        out_len: usize,
    ) -> c_int;
    fn iop_client_new(
        base_url: *const c_char,
        app_key: *const c_char,
        app_secret: *const c_char,
        out: *mut *mut c_void,
        err: *mut *mut c_void,
    ) -> c_int;
    fn iop_client_free(c: *mut c_void);
}

fn c(bytes: &[u8]) -> CString {
    CString::new(
        bytes
            .iter()
            .copied()
            .filter(|&b| b != 0)
            .collect::<Vec<u8>>(),
    )
    .expect("no NUL")
}

fuzz_target!(|input: (&[u8], &[u8], &[u8], u8)| {
    let (a, b, d, method) = input;
    let (a, b, d) = (c(a), c(b), c(d));
    // SAFETY: every pointer is a live NUL-terminated string or a valid out-parameter, as the
    // header requires; what the library returns is freed with its own functions, once.
    unsafe {
        let mut token: *mut c_void = ptr::null_mut();
        let mut err: *mut c_void = ptr::null_mut();
        if iop_token_from_json(a.as_ptr(), &mut token, &mut err) == OK {
            assert!(!token.is_null() && err.is_null());
            iop_string_free(iop_token_to_json(token));
            iop_token_free(token);
        } else {
            assert!(token.is_null());
            if !err.is_null() {
                assert!(!iop_error_message(err).is_null());
                iop_error_free(err);
            }
        }

        let keys: [*const c_char; 2] = [a.as_ptr(), b.as_ptr()];
        let values: [*const c_char; 2] = [b.as_ptr(), d.as_ptr()];
        let mut out = [0 as c_char; 65];
        let method = c_int::from(method % 3);
        let _ = iop_sign(
            d.as_ptr(),
            a.as_ptr(),
            keys.as_ptr(),
            values.as_ptr(),
            2,
            method,
            out.as_mut_ptr(),
            out.len(),
        );

        let mut client: *mut c_void = ptr::null_mut();
        let mut err: *mut c_void = ptr::null_mut();
        if iop_client_new(a.as_ptr(), b.as_ptr(), d.as_ptr(), &mut client, &mut err) == OK {
            assert!(err.is_null());
            iop_client_free(client);
        } else {
            assert!(client.is_null());
            assert!(!err.is_null() && !iop_error_message(err).is_null());
            iop_error_free(err);
        }
    }
});
