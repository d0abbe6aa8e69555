//! The pointer casting layer: every raw pointer that crosses the boundary goes through this
//! module, and nothing else in the crate casts one. It knows no handle type: each opaque type
//! of the header declares, next to its own functions, which Rust value its pointers address
//! (by implementing [`BoxCastable`]), in the manner of rustls-ffi's castable traits. It also
//! holds the checked conversions of C arguments (strings, key/value arrays, out-parameters)
//! and of the strings handed back to C.

use std::ffi::{CStr, CString, c_char};

use crate::result::{Failure, iop_result};

/// An opaque C type whose pointers really address a `Box` of [`Self::Rust`].
///
/// The C type is a zero-sized struct that C only ever sees behind a pointer; implementing this
/// trait is the one statement of what such a pointer means, and the functions below are the
/// only casts made from it.
pub(crate) trait BoxCastable {
    /// The Rust value behind the pointer.
    type Rust;
}

/// Moves `value` to the heap and returns the pointer C will hold.
pub(crate) fn into_raw<H: BoxCastable>(value: H::Rust) -> *mut H {
    Box::into_raw(Box::new(value)).cast()
}

/// Lends a Rust value to C as a handle pointer, valid while `value` is borrowed (for callbacks).
pub(crate) fn lend<H: BoxCastable>(value: &H::Rust) -> *const H {
    std::ptr::from_ref(value).cast()
}

/// Lends a Rust value to C as a non-const handle pointer, valid while `value` is borrowed, for
/// callbacks whose C type takes one. Functions given it only borrow it shared ([`try_ref`]):
/// the value changes through interior mutability only.
pub(crate) fn lend_mut<H: BoxCastable>(value: &H::Rust) -> *mut H {
    std::ptr::from_ref(value).cast_mut().cast()
}

/// Frees a handle made by [`into_raw`]; NULL is a no-op.
pub(crate) fn free<H: BoxCastable>(ptr: *mut H) {
    if !ptr.is_null() {
        // SAFETY: the caller passes a pointer made by `into_raw::<H>` and not freed before, as
        // the header's `_free` documentation requires.
        drop(unsafe { Box::from_raw(ptr.cast::<H::Rust>()) });
    }
}

/// Borrows the value behind a handle; NULL gives `IOP_RESULT_NULL_ARGUMENT`.
pub(crate) fn try_ref<'a, H: BoxCastable>(
    ptr: *const H,
    what: &str,
) -> Result<&'a H::Rust, Failure> {
    // SAFETY: a non-NULL handle pointer was made by `into_raw::<H>` and is still alive (the
    // caller's contract, stated in the header).
    unsafe { ptr.cast::<H::Rust>().as_ref() }.ok_or_else(|| Failure::null(what))
}

/// Borrows the value behind a handle mutably; NULL gives `IOP_RESULT_NULL_ARGUMENT`.
pub(crate) fn try_mut<'a, H: BoxCastable>(
    ptr: *mut H,
    what: &str,
) -> Result<&'a mut H::Rust, Failure> {
    // SAFETY: as for `try_ref`; the header requires exclusive use for functions taking a
    // non-const handle that mutate it.
    unsafe { ptr.cast::<H::Rust>().as_mut() }.ok_or_else(|| Failure::null(what))
}

/// Borrows the value behind a handle for a function that returns no result (accessors): `None`
/// for NULL.
pub(crate) fn opt_ref<'a, H: BoxCastable>(ptr: *const H) -> Option<&'a H::Rust> {
    // SAFETY: as for `try_ref`.
    unsafe { ptr.cast::<H::Rust>().as_ref() }
}

/// An out-parameter, checked for NULL before any work is done and written only on success.
pub(crate) struct Out<T> {
    ptr: *mut T,
}

impl<T> Out<T> {
    /// Writes the value.
    pub(crate) fn write(self, value: T) {
        // SAFETY: `ptr` is not NULL (checked by `try_out`) and points to writable memory for a
        // `T` (the caller's contract); the old value is a C pointer or plain data, not dropped.
        unsafe { self.ptr.write(value) }
    }
}

/// Checks an out-parameter; NULL gives `IOP_RESULT_NULL_ARGUMENT`.
pub(crate) fn try_out<T>(ptr: *mut T, what: &str) -> Result<Out<T>, Failure> {
    if ptr.is_null() {
        Err(Failure::null(what))
    } else {
        Ok(Out { ptr })
    }
}

/// A boolean out-parameter (`bool *`), which follows the header's rule for them: when not
/// NULL it is written on every return, `false` unless the function returns `IOP_RESULT_OK`
/// (so a caller that ignores the result never reads a stale `true`). Taking it writes `false`
/// at once: take it before anything else can fail.
pub(crate) struct BoolOut {
    ptr: *mut bool,
}

impl BoolOut {
    /// Writes the answer (nothing when the pointer is NULL).
    pub(crate) fn write(self, value: bool) {
        write_opt(self.ptr, value);
    }

    /// Whether the pointer is NULL.
    pub(crate) fn is_null(&self) -> bool {
        self.ptr.is_null()
    }
}

/// Takes a boolean out-parameter: writes `false` to it now (when not NULL). See [`BoolOut`].
pub(crate) fn bool_out(ptr: *mut bool) -> BoolOut {
    write_opt(ptr, false);
    BoolOut { ptr }
}

/// Writes to an optional out-parameter (`err`): nothing when it is NULL.
pub(crate) fn write_opt<T>(ptr: *mut T, value: T) -> bool {
    if ptr.is_null() {
        false
    } else {
        // SAFETY: not NULL, and writable for a `T` by the caller's contract.
        unsafe { ptr.write(value) };
        true
    }
}

/// A NUL-terminated UTF-8 argument; NULL gives `IOP_RESULT_NULL_ARGUMENT`, invalid UTF-8
/// `IOP_RESULT_INVALID_UTF8`.
pub(crate) fn try_str<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: not NULL; the caller passes a NUL-terminated string that outlives the call.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map_err(|_| {
        Failure::new(
            iop_result::IOP_RESULT_INVALID_UTF8,
            format!("{what} is not valid UTF-8"),
        )
    })
}

/// The bytes of a NUL-terminated string (any bytes, not checked as UTF-8), without the NUL;
/// NULL gives `IOP_RESULT_NULL_ARGUMENT`.
pub(crate) fn try_c_bytes<'a>(ptr: *const c_char, what: &str) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: not NULL; the caller passes a NUL-terminated string that outlives the call.
    Ok(unsafe { CStr::from_ptr(ptr) }.to_bytes())
}

/// Like [`try_str`], with NULL meaning "absent".
pub(crate) fn opt_str<'a>(ptr: *const c_char, what: &str) -> Result<Option<&'a str>, Failure> {
    if ptr.is_null() {
        Ok(None)
    } else {
        try_str(ptr, what).map(Some)
    }
}

/// `len` bytes at `ptr` (any bytes, not NUL-terminated); NULL is accepted only with `len == 0`.
pub(crate) fn try_bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    if len == 0 {
        Ok(&[])
    } else if ptr.is_null() {
        Err(Failure::null(what))
    } else {
        // SAFETY: not NULL; the caller passes `len` readable bytes that outlive the call.
        Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
    }
}

/// `count` key/value pairs from two parallel arrays of strings. `count == 0` accepts NULL
/// arrays; otherwise a NULL array or a NULL element gives `IOP_RESULT_NULL_ARGUMENT`.
pub(crate) fn try_pairs<'a>(
    keys: *const *const c_char,
    values: *const *const c_char,
    count: usize,
) -> Result<Vec<(&'a str, &'a str)>, Failure> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if keys.is_null() {
        return Err(Failure::null("keys"));
    }
    if values.is_null() {
        return Err(Failure::null("values"));
    }
    if count > isize::MAX as usize / size_of::<*const c_char>() {
        return Err(Failure::new(
            iop_result::IOP_RESULT_INVALID_ARGUMENT,
            "count is larger than any array",
        ));
    }
    // SAFETY: both arrays are non-NULL and hold `count` elements (the caller's contract).
    let (keys, values) = unsafe {
        (
            std::slice::from_raw_parts(keys, count),
            std::slice::from_raw_parts(values, count),
        )
    };
    let mut pairs = Vec::with_capacity(count);
    for (i, (&k, &v)) in keys.iter().zip(values).enumerate() {
        let key = try_str(k, &format!("keys[{i}]"))?;
        let value = try_str(v, &format!("values[{i}]"))?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// A string to hand to C, freed by `iop_string_free`. A NUL byte inside gives
/// `IOP_RESULT_DECODE` (C cannot hold it).
pub(crate) fn to_c_string(value: String, what: &str) -> Result<*mut c_char, Failure> {
    CString::new(value).map(CString::into_raw).map_err(|_| {
        Failure::new(
            iop_result::IOP_RESULT_DECODE,
            format!("{what} contains a NUL byte, which a C string cannot hold"),
        )
    })
}

/// Frees a string made by [`to_c_string`], zeroing its bytes first (it may hold a token).
pub(crate) fn free_c_string(ptr: *mut c_char) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: made by `CString::into_raw` in `to_c_string` and not freed before (the caller's
    // contract for `iop_string_free`).
    let owned = unsafe { CString::from_raw(ptr) };
    let mut bytes = owned.into_bytes_with_nul();
    zeroize::Zeroize::zeroize(&mut bytes);
}

/// The pointer C borrows from an optional string held by a handle; NULL when absent.
pub(crate) fn borrow_c_str(value: Option<&CString>) -> *const c_char {
    value.map_or(std::ptr::null(), |s| s.as_ptr())
}

/// Copies `text` and a terminating NUL into the caller's buffer `out` of `out_len` bytes.
pub(crate) fn copy_to_buffer(text: &str, out: *mut c_char, out_len: usize) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::null("out"));
    }
    if out_len < text.len() + 1 {
        return Err(Failure::new(
            iop_result::IOP_RESULT_BUFFER_TOO_SMALL,
            format!("out needs {} bytes, out_len is {out_len}", text.len() + 1),
        ));
    }
    // SAFETY: `out` is not NULL and writable for `out_len` bytes (the caller's contract), which
    // we checked is enough for the text and its NUL; the regions cannot overlap (ours is a Rust
    // allocation).
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), out, text.len());
        out.add(text.len()).write(0);
    }
    Ok(())
}

/// A `CString` for a field held inside a handle; a field with a NUL byte is treated as absent.
pub(crate) fn held_c_string(value: Option<&str>) -> Option<CString> {
    value.and_then(|v| CString::new(v).ok())
}

/// Zeroes and drops a held secret string.
pub(crate) fn wipe_c_string(value: Option<CString>) {
    if let Some(s) = value {
        let mut bytes = s.into_bytes_with_nul();
        zeroize::Zeroize::zeroize(&mut bytes);
    }
}
