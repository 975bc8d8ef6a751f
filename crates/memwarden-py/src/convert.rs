//! Sizes and durations as Python users write them: `"512MiB"` or an int of bytes, `"250ms"` or
//! a float of seconds (or a `datetime.timedelta`). A bad value is a `ValueError` naming the
//! parameter and the accepted forms; a value of the wrong type is a `TypeError`.

use std::time::Duration;

use memwarden::units::{self, Threshold, DURATION_FORMS, SIZE_FORMS, THRESHOLD_FORMS};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

/// A size: an int of bytes (>= 0) or a string like `"512MiB"`.
pub fn size(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    if let Some(n) = whole_number(obj, what, SIZE_FORMS)? {
        return Ok(n);
    }
    let text = text(obj, what, SIZE_FORMS)?;
    units::parse_size(&text).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

/// A size or a percentage (`"75%"`) of a reference the caller resolves.
pub fn threshold(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Threshold> {
    if let Some(n) = whole_number(obj, what, THRESHOLD_FORMS)? {
        return Ok(Threshold::Bytes(n));
    }
    let text = text(obj, what, THRESHOLD_FORMS)?;
    units::parse_threshold(&text).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

/// A duration: seconds as an int or float (>= 0), a string like `"250ms"`, or a `timedelta`.
pub fn duration(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Duration> {
    if obj.is_instance_of::<PyBool>() {
        return Err(wrong_type(obj, what, DURATION_FORMS));
    }
    let seconds = if obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>() {
        obj.extract::<f64>()?
    } else if obj.hasattr("total_seconds")? && !obj.is_instance_of::<PyString>() {
        obj.call_method0("total_seconds")?.extract::<f64>()?
    } else {
        let text = text(obj, what, DURATION_FORMS)?;
        return units::parse_duration(&text)
            .map_err(|e| PyValueError::new_err(format!("{what}: {e}")));
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        PyValueError::new_err(format!(
            "{what}: {seconds} s is not {DURATION_FORMS} (at least 0)"
        ))
    })
}

/// An optional duration (`None` stays `None`).
pub fn optional_duration(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Duration>> {
    match obj {
        Some(o) if !o.is_none() => duration(o, what).map(Some),
        _ => Ok(None),
    }
}

/// `Some(bytes)` for an int, `None` for anything else; bools and negatives are refused.
fn whole_number(obj: &Bound<'_, PyAny>, what: &str, forms: &str) -> PyResult<Option<u64>> {
    if obj.is_instance_of::<PyBool>() {
        return Err(wrong_type(obj, what, forms));
    }
    if !obj.is_instance_of::<PyInt>() {
        return Ok(None);
    }
    obj.extract::<u64>().map(Some).map_err(|_| {
        PyValueError::new_err(format!(
            "{what}: {obj} is not {forms} (bytes are at least 0)"
        ))
    })
}

fn text(obj: &Bound<'_, PyAny>, what: &str, forms: &str) -> PyResult<String> {
    if !obj.is_instance_of::<PyString>() {
        return Err(wrong_type(obj, what, forms));
    }
    obj.extract()
}

fn wrong_type(obj: &Bound<'_, PyAny>, what: &str, forms: &str) -> PyErr {
    let name = obj
        .get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |n| n.to_string());
    PyTypeError::new_err(format!("{what}: expected {forms}, got a {name}"))
}

/// parse_size(value, /) -> int
/// --
///
/// Bytes from a size: `"512MiB"`, `"4G"` (binary), `"1.5GB"` (decimal) or an int.
///
/// >>> parse_size("512MiB")
/// 536870912
#[pyfunction(name = "parse_size")]
pub fn parse_size(value: &Bound<'_, PyAny>) -> PyResult<u64> {
    size(value, "size")
}

/// parse_duration(value, /) -> float
/// --
///
/// Seconds from a duration: `"250ms"`, `"2s"`, `"1h30m"`, a number of seconds or a timedelta.
///
/// >>> parse_duration("250ms")
/// 0.25
#[pyfunction(name = "parse_duration")]
pub fn parse_duration(value: &Bound<'_, PyAny>) -> PyResult<f64> {
    duration(value, "duration").map(|d| d.as_secs_f64())
}

/// format_bytes(n, /) -> str
/// --
///
/// A byte count for people, with binary units.
///
/// >>> format_bytes(3 << 20)
/// '3.0 MiB'
#[pyfunction(name = "format_bytes")]
pub fn format_bytes(n: f64) -> String {
    units::format_bytes_f(n)
}
