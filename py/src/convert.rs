//! Conversions between Python values and what the core takes: parameter pairs, parameter
//! values, durations, instants and JSON.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple,
};

/// `json.dumps`, imported once.
static JSON_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
/// `datetime.datetime.fromtimestamp`, imported once.
static FROM_TIMESTAMP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
/// `datetime.timezone.utc`, imported once.
static UTC: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

unsafe extern "C" {
    /// CPython's UTF-8 view of a `str` (cached inside the object). Part of the stable ABI since
    /// 3.10 and exported by every CPython 3 before that; pyo3 hides it from abi3-py39 builds.
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut pyo3::ffi::PyObject,
        size: *mut pyo3::ffi::Py_ssize_t,
    ) -> *const std::ffi::c_char;
}

/// Borrows the UTF-8 text of a `str` without copying (the signing fast path).
fn str_of<'a>(s: &'a Bound<'_, PyString>) -> PyResult<&'a str> {
    let mut size: pyo3::ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live `str` (checked by the cast that produced it) and we hold the GIL (a
    // `Bound` proves it). CPython caches the UTF-8 form in the object, so the buffer lives as
    // long as `s`, which outlives `'a`. A null pointer means an exception was set (surrogates).
    let ptr = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if ptr.is_null() {
        return Err(PyErr::fetch(s.py()));
    }
    let len = usize::try_from(size).map_err(|_| PyValueError::new_err("invalid string size"))?;
    // SAFETY: CPython returned a buffer of `len` bytes that stays valid while `s` lives.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The `(key, value)` objects of `params` (a dict or other mapping, or a list or tuple of pairs),
/// held so that [`borrowed_pairs`] can borrow their text.
pub(crate) fn held_items<'py>(
    params: &Bound<'py, PyAny>,
) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    if let Ok(dict) = params.cast::<PyDict>() {
        return Ok(dict.iter().collect());
    }
    if params.is_instance_of::<PyList>() || params.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for item in params.try_iter()? {
            let item = item?;
            let pair = item.cast::<PyTuple>().map_err(|_| {
                PyTypeError::new_err("params as a list must hold (key, value) tuples")
            })?;
            if pair.len() != 2 {
                return Err(PyValueError::new_err(
                    "params as a list must hold (key, value) tuples of two items",
                ));
            }
            items.push((pair.get_item(0)?, pair.get_item(1)?));
        }
        return Ok(items);
    }
    // Any other mapping (as the stubs promise): its items, as for a dict.
    if let Ok(mapping) = params.cast::<PyMapping>() {
        let mut items = Vec::new();
        for item in mapping.items()?.iter() {
            let pair = item.cast::<PyTuple>()?;
            if pair.len() != 2 {
                return Err(PyValueError::new_err(
                    "params mapping: items() must give (key, value) pairs",
                ));
            }
            items.push((pair.get_item(0)?, pair.get_item(1)?));
        }
        return Ok(items);
    }
    let what = if params.is_none() {
        "None".to_owned()
    } else {
        params.get_type().name()?.to_string()
    };
    Err(PyTypeError::new_err(format!(
        "params must be a dict or a list of (key, value) tuples, got {what}"
    )))
}

/// The pairs of [`held_items`], `str` keys and values borrowed, other values converted with
/// [`param_value`] (absent ones left out).
pub(crate) fn borrowed_pairs<'a>(
    items: &'a [(Bound<'_, PyAny>, Bound<'_, PyAny>)],
) -> PyResult<Vec<(Cow<'a, str>, Cow<'a, str>)>> {
    let mut pairs = Vec::with_capacity(items.len());
    for (k, v) in items {
        let key = match k.cast::<PyString>() {
            Ok(s) => str_of(s)?,
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "parameter names must be str, got {}",
                    k.get_type().name()?
                )));
            }
        };
        let value = match v.cast::<PyString>() {
            Ok(s) => Cow::Borrowed(str_of(s)?),
            Err(_) => match param_value(key, v)? {
                Some(text) => Cow::Owned(text),
                None => continue,
            },
        };
        pairs.push((Cow::Borrowed(key), value));
    }
    Ok(pairs)
}

/// The wire text of one parameter value, or `None` when the value is absent (`None`).
///
/// `str` as is; `bool` as `true`/`false`; `int` and `float` in decimal; `dict`, `list` and
/// `tuple` as compact JSON. Bytes and other types are refused with a `TypeError` naming the key.
pub(crate) fn param_value(key: &str, value: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if let Ok(s) = value.cast::<PyString>() {
        return s.to_cow().map(|c| Some(c.into_owned()));
    }
    if value.is_none() {
        return Ok(None);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Some(if b.is_true() { "true" } else { "false" }.to_owned()));
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Some(i.to_string()));
        }
        return Ok(Some(value.str()?.to_cow()?.into_owned()));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        if !f.value().is_finite() {
            return Err(PyValueError::new_err(format!(
                "parameter {key:?}: a float value must be finite"
            )));
        }
        return Ok(Some(value.str()?.to_cow()?.into_owned()));
    }
    if value.is_instance_of::<PyDict>()
        || value.is_instance_of::<PyList>()
        || value.is_instance_of::<PyTuple>()
    {
        return to_json_text(value).map(Some).map_err(|e| {
            PyValueError::new_err(format!("parameter {key:?}: not JSON-serializable: {e}"))
        });
    }
    if value.is_instance_of::<PyBytes>() || value.is_instance_of::<PyByteArray>() {
        return Err(PyTypeError::new_err(format!(
            "parameter {key:?}: bytes are not a parameter value; decode them to str first"
        )));
    }
    Err(PyTypeError::new_err(format!(
        "parameter {key:?}: expected str, bool, int, float, dict, list or None, got {}",
        value.get_type().name()?
    )))
}

/// Compact JSON text of a Python value, through `json.dumps` (non-ASCII kept as is; NaN and
/// infinities refused, as at the top level: `NaN`/`Infinity` are not JSON).
pub(crate) fn to_json_text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = value.py();
    let dumps = JSON_DUMPS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("json")?.getattr("dumps")?.unbind())
    })?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("separators", (",", ":"))?;
    kwargs.set_item("ensure_ascii", false)?;
    kwargs.set_item("allow_nan", false)?;
    let text = dumps.bind(py).call((value,), Some(&kwargs))?;
    Ok(text.cast::<PyString>()?.to_cow()?.into_owned())
}

/// A dict key of a JSON-like value: a `str`, else a `TypeError`.
fn param_key(key: &Bound<'_, PyAny>) -> PyResult<String> {
    match key.cast::<PyString>() {
        Ok(s) => Ok(s.to_cow()?.into_owned()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "dict keys must be str, got {}",
            key.get_type().name()?
        ))),
    }
}

/// The pairs of `params`: a dict, a list or tuple of `(key, value)` pairs, or `None` (no pairs).
/// Values convert with [`param_value`]; absent values (`None`) are left out.
pub(crate) fn param_pairs(params: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(params) = params.filter(|p| !p.is_none()) else {
        return Ok(Vec::new());
    };
    let items = held_items(params)?;
    Ok(borrowed_pairs(&items)?
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// A required text argument, borrowed: `str` only, with a clear `TypeError` for `None`, bytes
/// and the rest, and a `ValueError` when empty (or whitespace only) and `non_empty` is set.
pub(crate) fn text_ref<'a>(
    name: &str,
    value: &'a Bound<'_, PyAny>,
    non_empty: bool,
) -> PyResult<&'a str> {
    let text = match value.cast::<PyString>() {
        Ok(s) => str_of(s)?,
        Err(_) => {
            let what = if value.is_none() {
                "None".to_owned()
            } else {
                value.get_type().name()?.to_string()
            };
            return Err(PyTypeError::new_err(format!(
                "{name} must be str, got {what}"
            )));
        }
    };
    if non_empty && text.trim().is_empty() {
        return Err(PyValueError::new_err(format!("{name} must not be empty")));
    }
    Ok(text)
}

/// [`text_ref`], owned.
pub(crate) fn text_arg(name: &str, value: &Bound<'_, PyAny>, non_empty: bool) -> PyResult<String> {
    text_ref(name, value, non_empty).map(str::to_owned)
}

/// A count or size argument: an `int` (or an object with `__index__`) from `min` to `max`.
/// Anything outside, however large, is a `ValueError` saying `out_of_range` (never an
/// `OverflowError` from the conversion); `bool` and non-integers are a `TypeError`.
pub(crate) fn int_arg(
    name: &str,
    value: &Bound<'_, PyAny>,
    min: i64,
    max: i64,
    out_of_range: &str,
) -> PyResult<i64> {
    let not_an_int = || -> PyResult<PyErr> {
        Ok(PyTypeError::new_err(format!(
            "{name} must be an int, got {}",
            value.get_type().name()?
        )))
    };
    if value.is_instance_of::<PyBool>() || value.is_instance_of::<PyFloat>() {
        return Err(not_an_int()?);
    }
    match value.extract::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(_) => Err(PyValueError::new_err(out_of_range.to_owned())),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => {
            Err(PyValueError::new_err(out_of_range.to_owned()))
        }
        Err(_) => Err(not_an_int()?),
    }
}

/// A duration given as a `datetime.timedelta` or a number of seconds; never negative.
pub(crate) fn duration_arg(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let seconds: f64 = if value.hasattr("total_seconds")? {
        value.call_method0("total_seconds")?.extract()?
    } else if (value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>())
        && !value.is_instance_of::<PyBool>()
    {
        // An int too large for a float is out of range, not an OverflowError.
        value.extract().map_err(|e: PyErr| {
            if e.is_instance_of::<PyOverflowError>(value.py()) {
                PyValueError::new_err(format!("{name} is out of range"))
            } else {
                e
            }
        })?
    } else {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a datetime.timedelta or a number of seconds"
        )));
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(PyValueError::new_err(format!(
            "{name} must be a finite, non-negative duration"
        )));
    }
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| PyValueError::new_err(format!("{name} is out of range")))
}

/// An instant given as an aware `datetime.datetime`; naive datetimes are refused.
pub(crate) fn instant_arg(name: &str, value: &Bound<'_, PyAny>) -> PyResult<SystemTime> {
    if !value.hasattr("utcoffset")? || !value.hasattr("timestamp")? {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a datetime.datetime"
        )));
    }
    if value.call_method0("utcoffset")?.is_none() {
        return Err(PyValueError::new_err(format!(
            "{name} must be an aware datetime (e.g. datetime.now(timezone.utc))"
        )));
    }
    let seconds: f64 = value.call_method0("timestamp")?.extract()?;
    system_time_from_secs(seconds)
        .ok_or_else(|| PyValueError::new_err(format!("{name} is out of range")))
}

/// Epoch seconds to an instant (before 1970 included).
fn system_time_from_secs(seconds: f64) -> Option<SystemTime> {
    let magnitude = Duration::try_from_secs_f64(seconds.abs()).ok()?;
    if seconds >= 0.0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

/// An aware UTC `datetime` for epoch milliseconds.
pub(crate) fn datetime_from_ms(py: Python<'_>, ms: i64) -> PyResult<Bound<'_, PyAny>> {
    let from_ts = FROM_TIMESTAMP.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py
            .import("datetime")?
            .getattr("datetime")?
            .getattr("fromtimestamp")?
            .unbind())
    })?;
    let utc = UTC.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py
            .import("datetime")?
            .getattr("timezone")?
            .getattr("utc")?
            .unbind())
    })?;
    // Whole seconds and microseconds separately keep the value exact.
    let secs = ms.div_euclid(1000);
    let micros = ms.rem_euclid(1000) * 1000;
    let dt = from_ts.bind(py).call1((secs, utc.bind(py)))?;
    if micros == 0 {
        return Ok(dt);
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("microsecond", micros)?;
    dt.call_method("replace", (), Some(&kwargs))
}

/// A JSON value as plain Python objects (dict, list, str, int, float, bool, None).
pub(crate) fn json_to_py<'py>(
    py: Python<'py>,
    value: &serde_json::Value,
) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// How deeply [`py_to_json`] follows nested dicts and lists (serde_json's own parsing limit):
/// deeper values, and self-containing ones, are refused instead of overflowing the stack.
const MAX_JSON_DEPTH: usize = 128;

/// A Python value (dict, list, tuple, str, int, float, bool, None) as JSON.
pub(crate) fn py_to_json(value: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    py_to_json_at(value, 0)
}

/// [`py_to_json`] at nesting `depth`.
fn py_to_json_at(value: &Bound<'_, PyAny>, depth: usize) -> PyResult<serde_json::Value> {
    use serde_json::Value;
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = value.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(PyValueError::new_err("integer out of the 64-bit range"));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err("a float value must be finite"));
    }
    let nested = value.is_instance_of::<PyDict>()
        || value.is_instance_of::<PyList>()
        || value.is_instance_of::<PyTuple>();
    if nested && depth >= MAX_JSON_DEPTH {
        return Err(PyValueError::new_err(format!(
            "value nested more than {MAX_JSON_DEPTH} levels deep (or containing itself)"
        )));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        // A snapshot of the items: converting a value may run Python code (a list subclass's
        // `__iter__`) that resizes this dict, which pyo3's live dict iterator answers with a panic.
        for item in dict.items().iter() {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            let key = param_key(&k)?;
            map.insert(key, py_to_json_at(&v, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for item in value.try_iter()? {
            items.push(py_to_json_at(&item?, depth + 1)?);
        }
        return Ok(Value::Array(items));
    }
    Err(PyTypeError::new_err(format!(
        "expected a JSON-like value (dict, list, str, int, float, bool, None), got {}",
        value.get_type().name()?
    )))
}

/// `datetime.timedelta` of a duration.
pub(crate) fn timedelta_from(py: Python<'_>, duration: Duration) -> PyResult<Bound<'_, PyAny>> {
    let kwargs = PyDict::new(py);
    kwargs.set_item("seconds", duration.as_secs())?;
    kwargs.set_item("microseconds", duration.subsec_micros())?;
    py.import("datetime")?
        .getattr("timedelta")?
        .call((), Some(&kwargs))
}
