//! `Watchdog`: the library's watchdog thread with Python callbacks.
//!
//! The thread samples without the GIL (it is plain Rust reading `/proc`); it takes the GIL only
//! to call a callback, and not at all once the interpreter is shutting down. A callback that
//! raises is reported through `sys.unraisablehook`, as a thread's exception would be, and
//! watching goes on.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use memwarden::detect::{Detector, DetectorConfig};
use memwarden::guard::{LeakNotice, Reading, Watchdog, Watched};
use memwarden::sample::tree::{Descendants, Membership};
use memwarden::units::{format_bytes, Threshold};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::{convert, errors};

/// One measurement of the watched memory.
#[pyclass(frozen, module = "memwarden._native", name = "Reading")]
#[derive(Debug, Clone, Copy)]
pub struct PyReading {
    /// The watched anonymous memory, bytes.
    #[pyo3(get)]
    bytes: u64,
    /// Seconds since the watchdog started.
    #[pyo3(get)]
    elapsed: f64,
}

impl From<&Reading> for PyReading {
    fn from(r: &Reading) -> Self {
        PyReading {
            bytes: r.bytes,
            elapsed: r.elapsed.as_secs_f64(),
        }
    }
}

#[pymethods]
impl PyReading {
    fn __repr__(&self) -> String {
        format!(
            "Reading(bytes={} ({}), elapsed={:.3})",
            self.bytes,
            format_bytes(self.bytes),
            self.elapsed
        )
    }
}

/// A leak called by the detector on the watched memory.
#[pyclass(frozen, module = "memwarden._native", name = "Leak")]
#[derive(Debug, Clone)]
pub struct PyLeak {
    /// How fast the floor of the watched memory grows, bytes per second.
    #[pyo3(get)]
    growth_bytes_per_s: f64,
    /// Why it is judged a leak, in plain words.
    #[pyo3(get)]
    reason: String,
}

impl From<LeakNotice> for PyLeak {
    fn from(notice: LeakNotice) -> Self {
        PyLeak {
            growth_bytes_per_s: notice.growth_bytes_per_s,
            reason: notice.reason,
        }
    }
}

#[pymethods]
impl PyLeak {
    fn __repr__(&self) -> String {
        format!(
            "Leak(growth_bytes_per_s={:.0}, reason={:?})",
            self.growth_bytes_per_s, self.reason
        )
    }
}

/// What a watchdog is started with; kept so that `start()` after `stop()` starts afresh.
struct Settings {
    warn: Option<Threshold>,
    limit: Option<Threshold>,
    interval: Duration,
    rearm_below: f64,
    trim: bool,
    tree: Option<Vec<u32>>,
    on_warn: Option<Py<PyAny>>,
    on_limit: Option<Py<PyAny>>,
    on_leak: Option<Py<PyAny>>,
    leak_after: Option<Duration>,
}

/// The native watchdog; `memwarden.Watchdog` wraps it with context managers.
#[pyclass(module = "memwarden._native", name = "Watchdog")]
pub struct PyWatchdog {
    settings: Settings,
    running: Mutex<Option<Watchdog>>,
}

impl PyWatchdog {
    fn running(&self) -> MutexGuard<'_, Option<Watchdog>> {
        // Holds a handle only: nothing can be left half-changed by a panic.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Calls `f(arg)` with the GIL, unless the interpreter is shutting down; an exception goes to
/// `sys.unraisablehook`.
fn call_back<T>(f: &Py<PyAny>, arg: T)
where
    T: for<'py> IntoPyObject<'py>,
{
    Python::try_attach(|py| {
        let f = f.bind(py);
        if let Err(e) = f.call1((arg,)) {
            e.write_unraisable(py, Some(f));
        }
    });
}

#[pymethods]
impl PyWatchdog {
    #[new]
    #[pyo3(signature = (*, warn=None, limit=None, interval=None, on_warn=None, on_limit=None,
                        on_leak=None, leak_after=None, tree=None, rearm_below=0.9,
                        trim=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        warn: Option<&Bound<'_, PyAny>>,
        limit: Option<&Bound<'_, PyAny>>,
        interval: Option<&Bound<'_, PyAny>>,
        on_warn: Option<Py<PyAny>>,
        on_limit: Option<Py<PyAny>>,
        on_leak: Option<Py<PyAny>>,
        leak_after: Option<&Bound<'_, PyAny>>,
        tree: Option<Vec<u32>>,
        rearm_below: f64,
        trim: bool,
    ) -> PyResult<Self> {
        let threshold = |o: Option<&Bound<'_, PyAny>>, what| match o {
            Some(o) if !o.is_none() => convert::threshold(o, what).map(Some),
            _ => Ok(None),
        };
        let interval =
            convert::optional_duration(interval, "interval")?.unwrap_or(Duration::from_millis(100));
        Ok(PyWatchdog {
            settings: Settings {
                warn: threshold(warn, "warn")?,
                limit: threshold(limit, "limit")?,
                interval,
                rearm_below,
                trim,
                tree,
                on_warn,
                on_limit,
                on_leak,
                leak_after: convert::optional_duration(leak_after, "leak_after")?,
            },
            running: Mutex::new(None),
        })
    }

    /// Starts the watching thread; a RuntimeError if it already runs.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let mut running = self.running();
        if running.is_some() {
            return Err(PyRuntimeError::new_err("the watchdog is already running"));
        }
        let s = &self.settings;
        let mut b = Watchdog::builder()
            .interval(s.interval)
            .rearm_below(s.rearm_below)
            .trim_after_callbacks(s.trim);
        if let Some(roots) = &s.tree {
            b = b.watch(Watched::Tree(Membership::Descendants(Descendants {
                roots: roots.clone(),
                ..Default::default()
            })));
        }
        if let Some(t) = s.warn {
            b = b.warn(t);
        }
        if let Some(t) = s.limit {
            b = b.critical(t);
        }
        if let Some(f) = &s.on_warn {
            let f = f.clone_ref(py);
            b = b.on_warn(move |r| call_back(&f, PyReading::from(r)));
        }
        if let Some(f) = &s.on_limit {
            let f = f.clone_ref(py);
            b = b.on_critical(move |r| call_back(&f, PyReading::from(r)));
        }
        if let Some(after) = s.leak_after {
            b = b.leak_judge(Detector::new(DetectorConfig {
                min_span_s: after.as_secs_f64(),
                ..DetectorConfig::default()
            }));
        }
        if let Some(f) = &s.on_leak {
            let f = f.clone_ref(py);
            b = b.on_leak(move |notice, _| call_back(&f, PyLeak::from(notice.clone())));
        }
        *running = Some(b.spawn().map_err(errors::setup)?);
        Ok(())
    }

    /// Stops the thread and waits for it (a callback in progress finishes first); no-op when
    /// not running. Safe to call from a callback.
    fn stop(&self, py: Python<'_>) {
        let taken = self.running().take();
        // Without the GIL: the thread may be waiting for it to run a callback.
        py.detach(move || drop(taken));
    }

    /// Whether the thread runs.
    #[getter(running)]
    fn is_running(&self) -> bool {
        self.running().is_some()
    }

    /// The most recent reading, or None before the first.
    #[getter]
    fn latest(&self) -> Option<PyReading> {
        self.running()
            .as_ref()?
            .latest()
            .as_ref()
            .map(PyReading::from)
    }

    /// The highest reading so far.
    #[getter]
    fn peak(&self) -> Option<PyReading> {
        self.running()
            .as_ref()?
            .peak()
            .as_ref()
            .map(PyReading::from)
    }

    /// The leak called so far, if any.
    #[getter]
    fn leak(&self) -> Option<PyLeak> {
        self.running().as_ref()?.leak().map(PyLeak::from)
    }

    /// The warning threshold in bytes, once resolved by `start()`.
    #[getter]
    fn warn_bytes(&self) -> Option<u64> {
        self.running().as_ref()?.warn_bytes()
    }

    /// The limit in bytes, once resolved by `start()`.
    #[getter]
    fn limit_bytes(&self) -> Option<u64> {
        self.running().as_ref()?.critical_bytes()
    }

    /// Seconds between readings.
    #[getter]
    fn interval(&self) -> f64 {
        self.settings.interval.as_secs_f64()
    }
}

impl Drop for PyWatchdog {
    fn drop(&mut self) {
        // Dropped by the garbage collector, with the GIL held: the thread may be waiting for
        // the GIL to run a callback, so it is told to stop but joined without the GIL.
        if let Some(w) = self.running().take() {
            // Without an interpreter to attach to, the closure (and `w`) is dropped unrun: the
            // thread's callbacks cannot attach either, so joining it cannot wait on the GIL.
            let _ = Python::try_attach(|py| py.detach(|| drop(w)));
        }
    }
}
