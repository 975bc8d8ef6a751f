//! The library's errors as Python exceptions of the right built-in kinds.
//!
//! The exception classes live in `memwarden/errors.py` (so they can subclass two built-ins,
//! e.g. `TimeoutError` and `MemwardenError`); they are imported when first raised.

use memwarden::guard::{GateError, SetupError};
use memwarden::trace::TraceError;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

pyo3::import_exception!(memwarden.errors, AdmissionTimeout);
pyo3::import_exception!(memwarden.errors, GateStopped);
pyo3::import_exception!(memwarden.errors, RequestTooLarge);
pyo3::import_exception!(memwarden.errors, TraceFormatError);

/// A refused admission: `TimeoutError`, `ValueError` or `RuntimeError` subclasses.
pub fn gate(e: GateError) -> PyErr {
    let msg = e.to_string();
    match e {
        GateError::TimedOut => AdmissionTimeout::new_err(msg),
        GateError::TooLarge { .. } => RequestTooLarge::new_err(msg),
        GateError::Stopped => GateStopped::new_err(msg),
        // Busy is answered with None by try_acquire and never raised; other kinds may come.
        _ => PyRuntimeError::new_err(msg),
    }
}

/// A watchdog or gate that could not be set up: `OSError` for files, else `ValueError`.
pub fn setup(e: SetupError) -> PyErr {
    let msg = e.to_string();
    match e {
        SetupError::Io { source, .. } => PyOSError::new_err((source.raw_os_error(), msg)),
        SetupError::Spawn(_) => PyRuntimeError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// A trace that could not be read: `FileNotFoundError`/`OSError`, else a `ValueError`
/// subclass naming the line.
pub fn trace(e: TraceError) -> PyErr {
    let msg = e.to_string();
    match e {
        TraceError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err((source.raw_os_error(), msg))
        }
        TraceError::Io { source, .. } => PyOSError::new_err((source.raw_os_error(), msg)),
        _ => TraceFormatError::new_err(msg),
    }
}
