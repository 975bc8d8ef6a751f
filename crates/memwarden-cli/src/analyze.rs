//! `memwarden analyze`: judge recorded traces (CSV, psrecord, mprof) with the same detector a
//! live run uses, one report per file.

use std::fmt::Write;
use std::path::Path;

use anyhow::Result;
use memwarden::detect::{Detector, DetectorConfig, Quantity};
use memwarden::trace::{self, Series};
use memwarden::units::format_seconds;
use serde::Serialize;

use crate::judge::series_verdict;
use crate::record::RunVerdict;
use crate::report::model::SCHEMA;
use crate::report::term::printable;

/// The report of one trace: the JSON report's fields a trace can fill.
#[derive(Debug, Serialize)]
pub struct TraceReport {
    /// Always the report schema.
    pub schema: u32,
    /// Always null: a trace is not a recorded run.
    pub run_id: Option<i64>,
    /// The file name.
    pub label: String,
    /// Always empty: the command is not known.
    pub command: Vec<String>,
    /// `analyze`.
    pub kind: &'static str,
    /// The trace's format: `csv`, `psrecord`, `psrecord-csv`, `mprof`.
    pub format: &'static str,
    /// Seconds from the first to the last sample.
    pub duration_s: f64,
    /// Samples judged.
    pub samples: u64,
    /// Median time between samples, seconds.
    pub interval_s: f64,
    /// Rows skipped because their value was 0 (the process had exited).
    pub zero_rows: usize,
    /// The series' figures.
    pub memory: TraceMemory,
    /// The verdict.
    pub verdict: RunVerdict,
    /// Whether the values are bytes (else a count), for printing.
    #[serde(skip)]
    pub bytes: bool,
}

/// Start, end and peak of the judged column.
#[derive(Debug, Serialize)]
pub struct TraceMemory {
    /// The column judged.
    pub metric: String,
    /// The first value.
    pub start_bytes: f64,
    /// The last value.
    pub end_bytes: f64,
    /// The highest value.
    pub peak_bytes: f64,
    /// When it was highest, seconds from the first sample.
    pub peak_at_s: f64,
}

/// Judges one parsed series with `config`.
pub fn judge(label: &str, series: &Series, mut config: DetectorConfig) -> TraceReport {
    if !series.bytes {
        config.quantity = Quantity::Count("units");
    }
    let mut detector = Detector::new(config);
    let t0 = series.points.first().map_or(0.0, |p| p.0);
    let mut peak = (f64::MIN, 0.0);
    for &(t, v) in &series.points {
        detector.push(t - t0, v);
        if v > peak.0 {
            peak = (v, t - t0);
        }
    }
    let first = series.points.first().copied().unwrap_or_default();
    let last = series.points.last().copied().unwrap_or_default();
    TraceReport {
        schema: SCHEMA,
        run_id: None,
        label: label.to_string(),
        command: Vec::new(),
        kind: "analyze",
        format: series.format.as_str(),
        duration_s: last.0 - first.0,
        samples: series.points.len() as u64,
        interval_s: median_interval(&series.points),
        zero_rows: series.zero_rows,
        memory: TraceMemory {
            metric: series.column.clone(),
            start_bytes: first.1,
            end_bytes: last.1,
            peak_bytes: peak.0.max(0.0),
            peak_at_s: peak.1,
        },
        verdict: series_verdict(&detector.verdict(), &series.column),
        bytes: series.bytes,
    }
}

fn median_interval(points: &[(f64, f64)]) -> f64 {
    let mut gaps: Vec<f64> = points.windows(2).map(|w| w[1].0 - w[0].0).collect();
    if gaps.is_empty() {
        return 0.0;
    }
    let mid = gaps.len() / 2;
    *gaps.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1
}

/// Reads and judges each file; errors name the file (and the line, for malformed input).
pub fn run(
    files: &[std::path::PathBuf],
    column: Option<&str>,
    config: &DetectorConfig,
) -> Vec<Result<TraceReport>> {
    files
        .iter()
        .map(|path| {
            let series = trace::read(path, column)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Ok(judge(&label_of(path), &series, config.clone()))
        })
        .collect()
}

fn label_of(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The text report of one trace.
pub fn text(r: &TraceReport) -> String {
    let mut out = String::new();
    let quantity = |v: f64| {
        if r.bytes {
            memwarden::units::format_bytes(v.max(0.0) as u64)
        } else {
            format!("{v:.0}")
        }
    };
    let _ = writeln!(
        out,
        "{}  ({}, column {}, {} samples over {})",
        printable(&r.label),
        r.format,
        printable(&r.memory.metric),
        r.samples,
        format_seconds(r.duration_s)
    );
    let _ = writeln!(
        out,
        "  verdict  {}: {}",
        r.verdict.kind,
        printable(&r.verdict.reason)
    );
    if let Some(at) = r.verdict.detected_at_s {
        let _ = writeln!(
            out,
            "  detected {} after the first sample",
            format_seconds(at)
        );
    }
    let _ = writeln!(
        out,
        "  values   start {} → end {} · peak {} at {}",
        quantity(r.memory.start_bytes),
        quantity(r.memory.end_bytes),
        quantity(r.memory.peak_bytes),
        format_seconds(r.memory.peak_at_s)
    );
    out
}
