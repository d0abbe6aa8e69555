//! The C ABI's string-taking functions with any bytes (NUL-terminated, possibly invalid UTF-8):
//! a result code, never a panic or a crash; out-parameters written only on success.
//! The functions are iop-ffi's own (the `iop` crate that builds libiop), called through its Rust
//! paths: the same exported symbols a C program calls, with their signatures checked by the
//! compiler instead of re-declared here.
#![no_main]

use std::ffi::{CString, c_char, c_int};
use std::ptr;

use iop::client::{iop_client, iop_client_free, iop_client_new};
use iop::error::{iop_error, iop_error_free, iop_error_message};
use iop::iop_result::IOP_RESULT_OK as OK;
use iop::iop_string_free;
use iop::sign::iop_sign;
use iop::token::{iop_token, iop_token_free, iop_token_from_json, iop_token_to_json};
use libfuzzer_sys::fuzz_target;

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

// Every pointer passed is a live NUL-terminated string or a valid out-parameter, as the header
// requires; what the library returns is freed with its own functions, once.
fuzz_target!(|input: (&[u8], &[u8], &[u8], u8)| {
    let (a, b, d, method) = input;
    let (a, b, d) = (c(a), c(b), c(d));

    let mut token: *mut iop_token = ptr::null_mut();
    let mut err: *mut iop_error = ptr::null_mut();
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
    // 0 and 1 are the two methods; 2 is an unknown one, which must be refused.
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

    let mut client: *mut iop_client = ptr::null_mut();
    let mut err: *mut iop_error = ptr::null_mut();
    if iop_client_new(a.as_ptr(), b.as_ptr(), d.as_ptr(), &mut client, &mut err) == OK {
        assert!(err.is_null());
        iop_client_free(client);
    } else {
        assert!(client.is_null());
        assert!(!err.is_null() && !iop_error_message(err).is_null());
        iop_error_free(err);
    }
});
