//! `Detector`, `Verdict` and `analyze()`: the library's streaming leak detector and trace
//! readers, judging Python data and recorded files as the command line does.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use memwarden::detect::{Detector, DetectorConfig, Quantity, Verdict};
use memwarden::trace;
use memwarden::units::format_seconds;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt};

use crate::{convert, errors};

/// The detector's conclusion about one series.
#[pyclass(frozen, module = "memwarden._native", name = "Verdict")]
#[derive(Debug, Clone)]
pub struct PyVerdict {
    /// `"leak"`, `"stable"`, `"plateau"` or `"inconclusive"`.
    #[pyo3(get)]
    kind: &'static str,
    /// Trend of the floor, units (bytes) per second.
    #[pyo3(get)]
    growth_per_s: f64,
    /// 95 % confidence interval of the trend, `(low, high)`.
    #[pyo3(get)]
    growth_ci_per_s: (f64, f64),
    /// Seconds into the series when a leak was called, else None.
    #[pyo3(get)]
    detected_at_s: Option<f64>,
    /// Whether the floor is rising steadily now (before a leak can be called, too).
    #[pyo3(get)]
    rising: bool,
    /// Seconds into the series when a leak call was taken back (the floor levelled off).
    #[pyo3(get)]
    revised_at_s: Option<f64>,
    /// Seconds until a leak reaches the limit given, else None.
    #[pyo3(get)]
    time_to_limit_s: Option<f64>,
    /// Why, in plain words.
    #[pyo3(get)]
    reason: String,
}

impl From<Verdict> for PyVerdict {
    fn from(v: Verdict) -> Self {
        PyVerdict {
            kind: v.kind.as_str(),
            growth_per_s: v.growth_per_s,
            growth_ci_per_s: v.growth_ci_per_s,
            detected_at_s: v.detected_at_s,
            rising: v.rising,
            revised_at_s: v.revised_at_s,
            time_to_limit_s: v.time_to_limit_s,
            reason: v.reason,
        }
    }
}

#[pymethods]
impl PyVerdict {
    /// Whether the verdict is a leak.
    #[getter]
    fn is_leak(&self) -> bool {
        self.kind == "leak"
    }

    /// The fields as a dict, named as in the JSON report's `verdict`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("kind", self.kind)?;
        d.set_item("growth_bytes_per_s", self.growth_per_s)?;
        d.set_item("growth_ci_bytes_per_s", self.growth_ci_per_s)?;
        d.set_item("detected_at_s", self.detected_at_s)?;
        d.set_item("rising", self.rising)?;
        d.set_item("revised_at_s", self.revised_at_s)?;
        d.set_item("time_to_limit_s", self.time_to_limit_s)?;
        d.set_item("reason", &self.reason)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!("Verdict(kind={:?}, reason={:?})", self.kind, self.reason)
    }
}

/// The noun of a count detector, kept for the life of the process: the library takes a
/// `&'static str`, and each distinct noun is stored once however many detectors use it.
fn static_noun(noun: &str) -> &'static str {
    static NOUNS: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut nouns = NOUNS.lock().unwrap_or_else(PoisonError::into_inner);
    let set = nouns.get_or_insert_with(HashSet::new);
    if let Some(n) = set.get(noun) {
        return n;
    }
    let leaked: &'static str = Box::leak(noun.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// Builds a detector configuration from `unit` and keyword overrides named as the library's
/// `DetectorConfig` fields.
fn config(unit: &str, knobs: Option<&Bound<'_, PyDict>>) -> PyResult<DetectorConfig> {
    let mut c = match unit {
        "bytes" => DetectorConfig::default(),
        noun if !noun.trim().is_empty() => DetectorConfig::for_count(static_noun(noun)),
        _ => {
            return Err(PyValueError::new_err(
                "unit: expected \"bytes\" or a plural noun like \"threads\"",
            ))
        }
    };
    let Some(knobs) = knobs else { return Ok(c) };
    for (key, value) in knobs.iter() {
        let key: String = key.extract()?;
        let number = || -> PyResult<f64> {
            if !(value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>()) {
                return Err(PyTypeError::new_err(format!("{key}: expected a number")));
            }
            let v: f64 = value.extract()?;
            if !v.is_finite() || v < 0.0 {
                return Err(PyValueError::new_err(format!(
                    "{key}: expected a number >= 0, got {v}"
                )));
            }
            Ok(v)
        };
        match key.as_str() {
            "warmup_s" => c.warmup_s = number()?,
            "warmup_fraction" => c.warmup_fraction = number()?,
            "min_span_s" => c.min_span_s = number()?,
            "first_look_s" => c.first_look_s = number()?,
            "min_points" => c.min_points = number()? as usize,
            "min_rate_per_s" => c.min_rate_per_s = number()?,
            "min_relative_rate_per_h" => c.min_relative_rate_per_h = number()?,
            "significance" => c.significance = number()?,
            "min_half_ratio" => c.min_half_ratio = number()?,
            "min_rise_s" => c.min_rise_s = number()?,
            "bucket_s" => c.bucket_s = number()?,
            "max_buckets" => c.max_buckets = (number()? as usize).max(4),
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "Detector() got an unexpected keyword argument '{key}'"
                )))
            }
        }
    }
    Ok(c)
}

/// The streaming leak detector over one `(t_seconds, value)` series.
#[pyclass(module = "memwarden._native", name = "Detector")]
pub struct PyDetector {
    detector: Detector,
}

#[pymethods]
impl PyDetector {
    #[new]
    #[pyo3(signature = (unit="bytes", **knobs))]
    fn new(unit: &str, knobs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Ok(PyDetector {
            detector: Detector::new(config(unit, knobs)?),
        })
    }

    /// Adds a sample: `value` observed at `t` seconds. Samples out of time order or not finite
    /// are dropped and counted in `rejected`.
    fn push(&mut self, t: f64, value: f64) {
        self.detector.push(t, value);
    }

    /// Adds `(t, value)` pairs from any iterable, in order.
    fn extend(&mut self, points: &Bound<'_, PyAny>) -> PyResult<()> {
        for item in points.try_iter()? {
            let (t, v): (f64, f64) = item?.extract()?;
            self.detector.push(t, v);
        }
        Ok(())
    }

    /// The live verdict: what a watchdog acts on while the series goes on. With `limit` (a
    /// size, or a number in the series' units), `time_to_limit_s` is filled in while the floor
    /// rises.
    #[pyo3(signature = (limit=None))]
    fn verdict(&self, limit: Option<&Bound<'_, PyAny>>) -> PyResult<PyVerdict> {
        let limit = limit_value(limit)?;
        Ok(self.detector.verdict_with_limit(limit).into())
    }

    /// The final verdict, once the series has ended: the whole recorded floor judged (a floor
    /// that rose significantly and was still rising at the end is a leak, however short the
    /// series). What `memwarden analyze` and the end of a run report.
    #[pyo3(signature = (limit=None))]
    fn final_verdict(&self, limit: Option<&Bound<'_, PyAny>>) -> PyResult<PyVerdict> {
        let limit = limit_value(limit)?;
        Ok(self.detector.final_verdict(limit).into())
    }

    /// The current verdict's kind alone (cheaper than `verdict()`).
    #[getter]
    fn kind(&self) -> &'static str {
        self.detector.kind().as_str()
    }

    /// Samples accepted.
    #[getter]
    fn samples(&self) -> u64 {
        self.detector.samples()
    }

    /// Samples dropped (not finite, or earlier than the previous one).
    #[getter]
    fn rejected(&self) -> u64 {
        self.detector.rejected()
    }

    /// The floor the verdict is about: `(t, minimum)` per time bucket, oldest first.
    fn floor(&self) -> Vec<(f64, f64)> {
        self.detector.floor().collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "Detector(samples={}, kind={:?})",
            self.detector.samples(),
            self.detector.kind().as_str()
        )
    }
}

/// A limit as a number of the series' units, or a size string.
fn limit_value(limit: Option<&Bound<'_, PyAny>>) -> PyResult<Option<f64>> {
    match limit {
        None => Ok(None),
        Some(l) if l.is_none() => Ok(None),
        Some(l) if l.is_instance_of::<PyFloat>() => l.extract().map(Some),
        Some(l) => convert::size(l, "limit").map(|b| Some(b as f64)),
    }
}

/// A recorded trace judged by `analyze()`.
#[pyclass(frozen, module = "memwarden._native", name = "Analysis")]
pub struct PyAnalysis {
    /// The file judged.
    #[pyo3(get)]
    path: PathBuf,
    /// Its format: `csv`, `psrecord`, `psrecord-csv` or `mprof`.
    #[pyo3(get)]
    format: &'static str,
    /// The column judged.
    #[pyo3(get)]
    column: String,
    /// Whether the values are bytes (else a count).
    #[pyo3(get)]
    in_bytes: bool,
    /// Samples judged.
    #[pyo3(get)]
    samples: usize,
    /// Rows skipped because their value was 0 (the process had exited).
    #[pyo3(get)]
    zero_rows: u64,
    /// Seconds from the first to the last sample.
    #[pyo3(get)]
    duration_s: f64,
    /// The first, last and highest values.
    #[pyo3(get)]
    start: f64,
    #[pyo3(get)]
    end: f64,
    #[pyo3(get)]
    peak: f64,
    /// When the value was highest, seconds from the first sample.
    #[pyo3(get)]
    peak_at_s: f64,
    /// The points, `(seconds from the first sample, value)`.
    #[pyo3(get)]
    points: Vec<(f64, f64)>,
    /// The final verdict over the whole trace (as `memwarden analyze` gives it).
    #[pyo3(get)]
    verdict: PyVerdict,
}

#[pymethods]
impl PyAnalysis {
    fn __repr__(&self) -> String {
        format!(
            "Analysis(path={:?}, format={:?}, column={:?}, samples={} over {}, verdict={:?})",
            self.path,
            self.format,
            self.column,
            self.samples,
            format_seconds(self.duration_s),
            self.verdict.kind
        )
    }
}

/// analyze(path, /, column=None, *, limit=None, **knobs) -> Analysis
/// --
///
/// Judges a recorded trace (CSV `t_seconds,bytes,...`, a psrecord log or an mprof .dat file)
/// with the detector, as `memwarden analyze FILE` does.
#[pyfunction]
#[pyo3(signature = (path, column=None, *, limit=None, **knobs))]
pub fn analyze(
    py: Python<'_>,
    path: PathBuf,
    column: Option<&str>,
    limit: Option<&Bound<'_, PyAny>>,
    knobs: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyAnalysis> {
    let series = py
        .detach(|| trace::read(&path, column))
        .map_err(errors::trace)?;
    let mut config = config("bytes", knobs)?;
    if !series.bytes {
        config.quantity = Quantity::Count("units");
    }
    let limit = limit_value(limit)?;
    let t0 = series.points.first().map_or(0.0, |p| p.0);
    let points: Vec<(f64, f64)> = series.points.iter().map(|&(t, v)| (t - t0, v)).collect();
    let verdict = py.detach(|| {
        let mut d = Detector::new(config);
        for &(t, v) in &points {
            d.push(t, v);
        }
        d.final_verdict(limit)
    });
    let peak = points.iter().copied().fold(
        (f64::MIN, 0.0),
        |best, (t, v)| if v > best.0 { (v, t) } else { best },
    );
    let first = points.first().copied().unwrap_or_default();
    let last = points.last().copied().unwrap_or_default();
    Ok(PyAnalysis {
        path,
        format: series.format.as_str(),
        column: series.column,
        in_bytes: series.bytes,
        samples: points.len(),
        zero_rows: series.zero_rows,
        duration_s: last.0 - first.0,
        start: first.1,
        end: last.1,
        peak: peak.0.max(0.0),
        peak_at_s: peak.1,
        points,
        verdict: verdict.into(),
    })
}
