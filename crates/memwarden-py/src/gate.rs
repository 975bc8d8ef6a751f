//! `MemoryGate`: the library's admission gate, with waits that keep their place in line and
//! can be cancelled — by Ctrl-C in a blocking `acquire`, by task cancellation in asyncio.
//!
//! A wait that cannot be had at once becomes a task on one small runtime thread
//! ([`runtime`]), driving the library's cancel-safe `acquire_async`: blocking and asyncio
//! callers then share the gate's single first-come-first-served line, and dropping the task
//! gives up its place.

use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use memwarden::guard::{GateError, MemoryGate, Permit};
use memwarden::units::{format_bytes, Threshold};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

use crate::{convert, errors};

/// How often a blocking acquire looks for Ctrl-C (a pending signal) while it waits.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// The runtime thread that waits for admissions, started on first use. A forked child (as
/// `multiprocessing` makes them) has the parent's runtime but not its thread: it gets its own.
fn runtime() -> PyResult<Handle> {
    static RUNTIME: Mutex<Option<(u32, Runtime)>> = Mutex::new(None);
    let mut rt = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    let pid = std::process::id();
    if rt.as_ref().is_some_and(|(owner, _)| *owner != pid) {
        // The parent's runtime cannot be shut down here (its thread is not in this process).
        if let Some((_, stale)) = rt.take() {
            std::mem::forget(stale);
        }
    }
    if rt.is_none() {
        let built = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("memwarden-gate")
            .enable_time()
            .build()
            .map_err(|e| PyRuntimeError::new_err(format!("starting the gate's thread: {e}")))?;
        *rt = Some((pid, built));
    }
    Ok(rt
        .as_ref()
        .map(|(_, r)| r.handle().clone())
        .expect("set above"))
}

/// Waits for `bytes` on the runtime, giving up after `timeout`.
async fn admission(
    gate: MemoryGate,
    bytes: u64,
    timeout: Option<Duration>,
) -> Result<Permit, GateError> {
    match timeout {
        None => gate.acquire_async(bytes).await,
        Some(t) => tokio::time::timeout(t, gate.acquire_async(bytes))
            .await
            .unwrap_or(Err(GateError::TimedOut)),
    }
}

/// The native gate; `memwarden.MemoryGate` wraps it with `admit()` for `with` and `async with`.
#[pyclass(frozen, module = "memwarden._native", name = "MemoryGate")]
pub struct PyGate {
    gate: MemoryGate,
}

#[pymethods]
impl PyGate {
    #[new]
    #[pyo3(signature = (budget, *, system_floor=None))]
    fn new(budget: &Bound<'_, PyAny>, system_floor: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let budget = convert::threshold(budget, "budget")?;
        if budget == Threshold::Bytes(0) {
            return Err(PyValueError::new_err(
                "budget: a gate of 0 bytes admits nothing",
            ));
        }
        let mut b = MemoryGate::builder(budget);
        if let Some(floor) = system_floor.filter(|f| !f.is_none()) {
            b = b.system_floor(convert::threshold(floor, "system_floor")?);
        }
        Ok(PyGate {
            gate: b.build().map_err(errors::setup)?,
        })
    }

    /// Waits (without the GIL) until `size` fits, then grants it.
    #[pyo3(signature = (size, timeout=None))]
    fn acquire(
        &self,
        py: Python<'_>,
        size: &Bound<'_, PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyPermit> {
        let bytes = convert::size(size, "size")?;
        let timeout = convert::optional_duration(timeout, "timeout")?;
        match self.gate.try_acquire(bytes) {
            Ok(p) => return Ok(PyPermit::new(p)),
            Err(GateError::Busy) => {}
            Err(e) => return Err(errors::gate(e)),
        }
        let (tx, mut rx) = mpsc::sync_channel(1);
        let gate = self.gate.clone();
        let task = runtime()?.spawn(async move {
            let _ = tx.send(admission(gate, bytes, timeout).await);
        });
        loop {
            // The receiver is not Sync: it is moved into the GIL-free wait and back.
            let (received, back) = py.detach(move || (rx.recv_timeout(SIGNAL_CHECK), rx));
            rx = back;
            match received {
                Ok(result) => return result.map(PyPermit::new).map_err(errors::gate),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(interrupt) = py.check_signals() {
                        // Leaves the line; a permit already sent is dropped with `rx`.
                        task.abort();
                        return Err(interrupt);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(PyRuntimeError::new_err("the gate's waiting task ended"));
                }
            }
        }
    }

    /// Grants `size` if it fits now and nobody waits, else returns None.
    fn try_acquire(&self, size: &Bound<'_, PyAny>) -> PyResult<Option<PyPermit>> {
        match self.gate.try_acquire(convert::size(size, "size")?) {
            Ok(p) => Ok(Some(PyPermit::new(p))),
            Err(GateError::Busy) => Ok(None),
            Err(e) => Err(errors::gate(e)),
        }
    }

    /// Starts waiting for `size` on the gate's thread; `done(result)` is then called (with the
    /// GIL) with a Permit or an exception. Cancel the returned request to leave the line.
    #[pyo3(signature = (size, done, timeout=None))]
    fn acquire_later(
        &self,
        size: &Bound<'_, PyAny>,
        done: Py<PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyRequest> {
        let bytes = convert::size(size, "size")?;
        let timeout = convert::optional_duration(timeout, "timeout")?;
        let gate = self.gate.clone();
        let task = runtime()?.spawn(async move {
            let result = admission(gate, bytes, timeout).await;
            // A permit nobody can be told of (the interpreter is gone) is given back here.
            Python::try_attach(|py| {
                let arg = match result {
                    Ok(p) => Bound::new(py, PyPermit::new(p)).map(Bound::into_any),
                    Err(e) => Ok(errors::gate(e).into_value(py).into_bound(py).into_any()),
                };
                let call = arg.and_then(|a| done.bind(py).call1((a,)));
                if let Err(e) = call {
                    e.write_unraisable(py, Some(done.bind(py)));
                }
            });
        });
        Ok(PyRequest {
            task: Mutex::new(Some(task)),
        })
    }

    /// How many workers of `per_task` each fit in the budget (and above the system floor),
    /// between 1 and the number of CPUs.
    fn suggested_workers(&self, per_task: &Bound<'_, PyAny>) -> PyResult<usize> {
        Ok(self
            .gate
            .suggested_workers(convert::size(per_task, "per_task")?))
    }

    /// Refuses every waiting and later request with GateStopped, for good.
    fn emergency_stop(&self) {
        self.gate.emergency_stop();
    }

    /// Whether emergency_stop() was called.
    #[getter]
    fn stopped(&self) -> bool {
        self.gate.is_stopped()
    }

    /// The budget, bytes.
    #[getter]
    fn budget(&self) -> u64 {
        self.gate.budget()
    }

    /// Bytes granted and not yet given back.
    #[getter]
    fn in_use(&self) -> u64 {
        self.gate.in_use()
    }

    /// Requests waiting in line now.
    #[getter]
    fn waiting(&self) -> usize {
        self.gate.waiting()
    }

    fn __repr__(&self) -> String {
        format!(
            "MemoryGate(budget={}, in_use={}, waiting={}{})",
            format_bytes(self.gate.budget()),
            format_bytes(self.gate.in_use()),
            self.gate.waiting(),
            if self.gate.is_stopped() {
                ", stopped"
            } else {
                ""
            }
        )
    }
}

/// A grant of memory from a gate; given back by `release()`, by leaving its `with` block, or
/// when garbage-collected.
#[pyclass(frozen, module = "memwarden._native", name = "Permit")]
pub struct PyPermit {
    size: u64,
    permit: Mutex<Option<Permit>>,
}

impl PyPermit {
    fn new(p: Permit) -> Self {
        PyPermit {
            size: p.bytes(),
            permit: Mutex::new(Some(p)),
        }
    }

    fn held(&self) -> MutexGuard<'_, Option<Permit>> {
        self.permit.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl PyPermit {
    /// The bytes this permit holds.
    #[getter]
    fn size(&self) -> u64 {
        self.size
    }

    /// Whether it was given back.
    #[getter]
    fn released(&self) -> bool {
        self.held().is_none()
    }

    /// Gives the bytes back to the gate (once; later calls do nothing).
    fn release(&self) {
        let taken = self.held().take();
        drop(taken);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.release();
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "Permit(size={}{})",
            format_bytes(self.size),
            if self.released() { ", released" } else { "" }
        )
    }
}

/// A wait started by `acquire_later`.
#[pyclass(frozen, module = "memwarden._native", name = "Request")]
pub struct PyRequest {
    task: Mutex<Option<JoinHandle<()>>>,
}

#[pymethods]
impl PyRequest {
    /// Leaves the line. A grant made just before may still reach `done`, which must then give
    /// it back.
    fn cancel(&self) {
        if let Some(t) = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            t.abort();
        }
    }
}
