//! Measurements of this process for the pytest plugin: open descriptors, threads and
//! anonymous memory, read from `/proc/self` without allocating Python objects that outlive
//! the call (a leak check counts the interpreter's allocated blocks around it).

use memwarden::sample::procfs::{self, ProcFs};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

fn os_error(what: &str, e: impl std::fmt::Display) -> PyErr {
    PyOSError::new_err(format!("reading /proc/self/{what}: {e}"))
}

/// anon_bytes() -> int
/// --
///
/// This process's anonymous memory now: resident minus file-backed and shared pages, plus swap.
#[pyfunction]
pub fn anon_bytes() -> PyResult<u64> {
    Ok(counts()?.2)
}

/// resource_counts() -> tuple[int, int, int]
/// --
///
/// `(open descriptors, threads, anonymous bytes)` of this process now.
#[pyfunction]
pub fn resource_counts() -> PyResult<(u32, u32, u64)> {
    counts()
}

fn counts() -> PyResult<(u32, u32, u64)> {
    let fs = ProcFs::default();
    let pid = std::process::id();
    let mut buf = Vec::with_capacity(2048);
    let status = fs
        .status(pid, &mut buf)
        .map_err(|e| os_error("status", e))?;
    let statm = fs.open_statm(pid).map_err(|e| os_error("statm", e))?;
    let mut small = [0u8; 256];
    let n = procfs::read_held(&statm, &mut small).map_err(|e| os_error("statm", e))?;
    let m = procfs::parse_statm(&small[..n]).ok_or_else(|| os_error("statm", "malformed"))?;
    drop(statm);
    // Listing fd/ holds one descriptor of its own while it counts.
    let fds = fs
        .fd_count(pid)
        .map_err(|e| os_error("fd", e))?
        .saturating_sub(1);
    let page = rustix::param::page_size() as u64;
    Ok((fds, status.threads, m.anon_bytes(page) + status.swap_bytes))
}

/// trim() -> bool
/// --
///
/// Returns freed heap memory to the OS (glibc `malloc_trim(0)`); True if some was released.
#[pyfunction]
pub fn trim(py: Python<'_>) -> bool {
    py.detach(memwarden::guard::trim)
}
