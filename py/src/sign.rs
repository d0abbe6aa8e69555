//! `iop.sign` and `iop.string_to_sign`.
//!
//! The common call, a `dict` whose keys and values are all `str`, is converted without building
//! anything on the heap: the dict's entries are walked in place (borrowed references, no
//! reference counting) and the UTF-8 text of every `str` is borrowed from CPython into a pair
//! array on the stack. Anything else (a list of pairs, a mapping, non-`str` values, `None`
//! values, very many pairs) takes the general conversion of [`crate::convert`].

use iop_core::{AppSecret, SignMethod};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule, PyString};

use crate::convert::{borrowed_pairs, held_items, text_ref};

unsafe extern "C" {
    /// CPython's UTF-8 view of a `str` (cached inside the object). Part of the stable ABI since
    /// 3.10 and exported by every CPython 3 before that; pyo3 hides it from abi3-py39 builds.
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut ffi::PyObject,
        size: *mut ffi::Py_ssize_t,
    ) -> *const std::ffi::c_char;
}

/// Up to this many dict entries are converted into a pair array on the stack.
const STACK_PAIRS: usize = 32;

/// The sign prefix of an API name: the path for GOP, nothing for TOP or `None`.
fn sign_prefix<'a>(api: Option<&'a Bound<'_, PyAny>>) -> PyResult<&'a str> {
    match api {
        Some(a) if !a.is_none() => {
            let api = text_ref("api", a, true)?;
            Ok(iop_core::api::sign_prefix_of(api))
        }
        _ => Ok(""),
    }
}

/// The UTF-8 text of `obj` when it is a `str` (or a subclass), borrowed from the object;
/// `Ok(None)` for any other type; the Python error for a `str` that has no UTF-8 form (lone
/// surrogates), as the general conversion raises it.
///
/// # Safety
/// `obj` is a live object that stays alive and unchanged for `'a`, and the GIL is held.
unsafe fn str_in_place<'a>(py: Python<'_>, obj: *mut ffi::PyObject) -> PyResult<Option<&'a str>> {
    // SAFETY: `obj` is a live object (caller's contract); the check reads its type's flags.
    if unsafe { ffi::PyUnicode_Check(obj) } == 0 {
        return Ok(None);
    }
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `obj` is a live `str` and the GIL is held. This runs no Python code.
    let ptr = unsafe { PyUnicode_AsUTF8AndSize(obj, &mut size) };
    if ptr.is_null() {
        return Err(PyErr::fetch(py));
    }
    let len = usize::try_from(size).map_err(|_| PyValueError::new_err("invalid string size"))?;
    // SAFETY: CPython returned a buffer of `len` bytes cached in the object, valid while the
    // object lives unchanged (`'a`, by the caller's contract).
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    // SAFETY: the buffer is CPython's UTF-8 encoding of the string, valid UTF-8 by construction
    // (a string that cannot be encoded makes the call above fail instead).
    Ok(Some(unsafe { std::str::from_utf8_unchecked(bytes) }))
}

/// The entries of `dict` into `out` when every key and value is a `str` and there are at most
/// [`STACK_PAIRS`]: their number. `Ok(None)`: the dict needs the general conversion.
///
/// The text stays borrowed from the dict's own objects: no Python code may run while the pairs
/// are in use (nothing could then change the dict), which holds until the signature is made.
fn dict_in_place<'a>(
    dict: &'a Bound<'_, PyDict>,
    out: &mut [(&'a str, &'a str); STACK_PAIRS],
) -> PyResult<Option<usize>> {
    if dict.len() > STACK_PAIRS {
        return Ok(None);
    }
    let py = dict.py();
    let mut pos: ffi::Py_ssize_t = 0;
    let mut key: *mut ffi::PyObject = std::ptr::null_mut();
    let mut value: *mut ffi::PyObject = std::ptr::null_mut();
    let mut n = 0;
    // SAFETY: `dict` is a live dict and the GIL is held; `PyDict_Next` hands out borrowed
    // references to the entries, which the dict keeps alive while it is not changed. Nothing in
    // this loop runs Python code, and the caller runs none while the pairs are used.
    while unsafe { ffi::PyDict_Next(dict.as_ptr(), &mut pos, &mut key, &mut value) } != 0 {
        let Some(slot) = out.get_mut(n) else {
            return Ok(None);
        };
        // SAFETY: `key` and `value` are entries of `dict`, alive and unchanged for `'a` (above).
        let (Some(k), Some(v)) = (unsafe { str_in_place(py, key)? }, unsafe {
            str_in_place(py, value)?
        }) else {
            return Ok(None);
        };
        *slot = (k, v);
        n += 1;
    }
    Ok(Some(n))
}

/// Runs `f` with the pairs of `params` (borrowed in place for an all-`str` dict, converted
/// otherwise). `f` must not run Python code.
fn with_pairs<T>(params: &Bound<'_, PyAny>, f: impl FnOnce(&[(&str, &str)]) -> T) -> PyResult<T> {
    if let Ok(dict) = params.cast::<PyDict>() {
        let mut stack = [("", ""); STACK_PAIRS];
        if let Some(n) = dict_in_place(dict, &mut stack)? {
            return Ok(f(&stack[..n]));
        }
    }
    let items = held_items(params)?;
    let pairs = borrowed_pairs(&items)?;
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (&**k, &**v)).collect();
    Ok(f(&pairs))
}

/// `iop.sign`'s text signature and docstring, in the form CPython reads `__text_signature__`
/// from (as pyo3 writes it for its functions).
const SIGN_DOC: &std::ffi::CStr = c"sign(app_secret, params, *, api=None, method=None)
--

The signature of `params` (a dict or a list of pairs) as uppercase hex: HMAC-SHA256 over
`api` (for a path API; `None` or a dotted name: no prefix) and the sorted pairs, or the legacy
TOP MD5 with `method=\"md5\"`. Values convert as in every call: bool → true/false, numbers in
decimal, dict/list → JSON, None → left out.";

/// The signature of `params` under `api` and `method` (see [`SIGN_DOC`]).
fn sign(
    app_secret: &Bound<'_, PyAny>,
    params: &Bound<'_, PyAny>,
    api: Option<&Bound<'_, PyAny>>,
    method: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let method = match method {
        Some(m) if !m.is_none() => {
            let name = text_ref("method", m, true)?;
            SignMethod::parse(name).ok_or_else(|| {
                PyValueError::new_err(format!("method must be 'sha256' or 'md5', got {name:?}"))
            })?
        }
        _ => SignMethod::Sha256,
    };
    let secret = AppSecret::new(text_ref("app_secret", app_secret, true)?);
    let prefix = sign_prefix(api)?;
    with_pairs(params, |pairs| {
        iop_core::sign(method, &secret, prefix, pairs)
    })
}

// `iop.sign` is called per request by code that signs on its own, so it skips pyo3's argument
// handling: for an abi3 build that supports Python 3.9, pyo3 registers functions with
// `METH_VARARGS | METH_KEYWORDS` (the vectorcall form entered the limited API in 3.10), and
// CPython then builds an argument tuple and a keyword dict for every call, which cost as much as
// the signing. `METH_FASTCALL | METH_KEYWORDS` has had the same value and calling convention
// in every CPython since 3.7 and is part of the stable ABI since 3.10, so the function below is
// registered with it directly.

/// `METH_FASTCALL` (CPython's `methodobject.h`; pyo3 hides it from abi3-py39 builds).
const METH_FASTCALL: std::ffi::c_int = 0x0080;

/// The C signature of a `METH_FASTCALL | METH_KEYWORDS` function.
type FastWithKeywords = unsafe extern "C" fn(
    *mut ffi::PyObject,
    *const *mut ffi::PyObject,
    ffi::Py_ssize_t,
    *mut ffi::PyObject,
) -> *mut ffi::PyObject;

/// The method definition of `iop.sign`, never written after it is built.
struct MethodDef(ffi::PyMethodDef);

// SAFETY: the definition is immutable and holds only pointers to static data and a function.
unsafe impl Sync for MethodDef {}

static SIGN_DEF: MethodDef = MethodDef(ffi::PyMethodDef {
    ml_name: c"sign".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        // SAFETY: the same size (function pointers); CPython calls it by the fastcall signature
        // because of the flags below.
        PyCFunction: unsafe {
            std::mem::transmute::<FastWithKeywords, ffi::PyCFunction>(sign_fastcall)
        },
    },
    ml_flags: METH_FASTCALL | ffi::METH_KEYWORDS,
    ml_doc: SIGN_DOC.as_ptr(),
});

/// The parameters of `iop.sign`, in order; the first two may be given by position.
const SIGN_PARAMS: [&str; 4] = ["app_secret", "params", "api", "method"];

/// The arguments of a fastcall, by parameter, with the `TypeError`s Python gives for a wrong
/// call (as pyo3 words them).
///
/// # Safety
/// `args`, `nargs` and `kwnames` are what CPython passed to a `METH_FASTCALL | METH_KEYWORDS`
/// function, and the GIL is held.
unsafe fn sign_arguments<'py>(
    py: Python<'py>,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<[Option<Bound<'py, PyAny>>; 4]> {
    let mut slots: [Option<Bound<'py, PyAny>>; 4] = [None, None, None, None];
    let positional = usize::try_from(nargs).unwrap_or(0);
    if positional > 2 {
        return Err(PyTypeError::new_err(format!(
            "sign() takes 2 positional arguments but {positional} were given"
        )));
    }
    let keywords = if kwnames.is_null() {
        0
    } else {
        // SAFETY: a non-null `kwnames` is a tuple of `str` (CPython's contract).
        usize::try_from(unsafe { ffi::PyTuple_Size(kwnames) }).unwrap_or(0)
    };
    for i in 0..positional + keywords {
        // SAFETY: `args` holds `nargs` positional values followed by one value per keyword name;
        // they are borrowed for the call, and `from_borrowed_ptr` takes a new reference.
        let value = unsafe { Bound::from_borrowed_ptr(py, *args.add(i)) };
        let slot = if i < positional {
            i
        } else {
            let j = ffi::Py_ssize_t::try_from(i - positional)
                .map_err(|_| PyTypeError::new_err("sign(): too many arguments"))?;
            // SAFETY: `j` is below the size of the tuple `kwnames`; the item is borrowed.
            let name = unsafe { ffi::PyTuple_GetItem(kwnames, j) };
            if name.is_null() {
                return Err(PyErr::fetch(py));
            }
            // SAFETY: `name` is an item of `kwnames`, alive during the call.
            let name = unsafe { str_in_place(py, name)? }.unwrap_or("");
            let Some(slot) = SIGN_PARAMS.iter().position(|p| *p == name) else {
                return Err(PyTypeError::new_err(format!(
                    "sign() got an unexpected keyword argument '{name}'"
                )));
            };
            if slots[slot].is_some() {
                return Err(PyTypeError::new_err(format!(
                    "sign() got multiple values for argument '{name}'"
                )));
            }
            slot
        };
        slots[slot] = Some(value);
    }
    let missing: Vec<String> = SIGN_PARAMS[..2]
        .iter()
        .zip(&slots)
        .filter(|(_, slot)| slot.is_none())
        .map(|(name, _)| format!("'{name}'"))
        .collect();
    match missing.as_slice() {
        [] => Ok(slots),
        [one] => Err(PyTypeError::new_err(format!(
            "sign() missing 1 required positional argument: {one}"
        ))),
        _ => Err(PyTypeError::new_err(format!(
            "sign() missing {} required positional arguments: {}",
            missing.len(),
            missing.join(" and ")
        ))),
    }
}

/// `iop.sign` as CPython calls it (`METH_FASTCALL | METH_KEYWORDS`).
unsafe extern "C" fn sign_fastcall(
    _module: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls module functions with the GIL held.
    let py = unsafe { Python::assume_attached() };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the arguments are CPython's, for this calling convention.
        let [app_secret, params, api, method] =
            unsafe { sign_arguments(py, args, nargs, kwnames) }?;
        let (Some(app_secret), Some(params)) = (app_secret, params) else {
            return Err(PyTypeError::new_err("sign() missing a required argument"));
        };
        let signature = sign(&app_secret, &params, api.as_ref(), method.as_ref())?;
        Ok(PyString::new(py, &signature))
    }));
    let error = match result {
        Ok(Ok(signature)) => return signature.into_ptr(),
        Ok(Err(error)) => error,
        Err(_) => PanicException::new_err("iop.sign panicked (a bug in iop; please report it)"),
    };
    error.restore(py);
    std::ptr::null_mut()
}

/// Adds `sign` to the module `m`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let module_name = m.name()?;
    // SAFETY: the definition is static and never written (CPython only reads it); `m` and its
    // name are live objects; the GIL is held.
    let function = unsafe {
        ffi::PyCFunction_NewEx(
            std::ptr::from_ref(&SIGN_DEF.0).cast_mut(),
            m.as_ptr(),
            module_name.as_ptr(),
        )
    };
    // SAFETY: a new reference, or null with an exception set.
    let function = unsafe { Bound::from_owned_ptr_or_err(py, function) }?;
    m.add("sign", function)
}

/// The string that is signed: the path prefix of `api` (if a path API) and every key and value
/// sorted by key bytes, no separators, values raw.
#[pyfunction]
#[pyo3(signature = (params, *, api=None))]
pub(crate) fn string_to_sign(
    params: &Bound<'_, PyAny>,
    api: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let prefix = sign_prefix(api)?;
    with_pairs(params, |pairs| iop_core::string_to_sign(prefix, pairs))
}
