//! memwarden for Python: the native half of the `memwarden` package (`memwarden._native`).
//!
//! Each class here is a thin handle on the library's own type: [`watchdog`] on
//! `memwarden::guard::Watchdog`, [`gate`] on `memwarden::guard::MemoryGate`, [`detect`] on
//! `memwarden::detect::Detector` and `memwarden::trace`. The Python package (`python/memwarden`)
//! adds what is Python's own: context managers, `async with`, callbacks that take no argument.
//! [`convert`] reads sizes and durations the way Python users write them; [`probe`] measures
//! this process for the pytest plugin.

mod convert;
mod detect;
mod errors;
mod gate;
mod probe;
mod watchdog;

use pyo3::prelude::*;

/// The native module: every class and function the `memwarden` package re-exports.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<watchdog::PyWatchdog>()?;
    m.add_class::<watchdog::PyReading>()?;
    m.add_class::<watchdog::PyLeak>()?;
    m.add_class::<gate::PyGate>()?;
    m.add_class::<gate::PyPermit>()?;
    m.add_class::<gate::PyRequest>()?;
    m.add_class::<detect::PyDetector>()?;
    m.add_class::<detect::PyVerdict>()?;
    m.add_class::<detect::PyAnalysis>()?;
    m.add_function(wrap_pyfunction!(detect::analyze, m)?)?;
    m.add_function(wrap_pyfunction!(convert::parse_size, m)?)?;
    m.add_function(wrap_pyfunction!(convert::parse_duration, m)?)?;
    m.add_function(wrap_pyfunction!(convert::format_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(probe::resource_counts, m)?)?;
    m.add_function(wrap_pyfunction!(probe::anon_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(probe::trim, m)?)?;
    Ok(())
}
