//! `memwarden analyze`: judge recorded traces (CSV, psrecord, mprof) with the same detector a
//! live run uses, one report per file.

use std::fmt::Write;
use std::io::BufRead;
use std::path::Path;

use anyhow::Result;
use memwarden::detect::{Detector, DetectorConfig, Quantity};
use memwarden::trace::{Trace, TraceError};
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
    pub zero_rows: u64,
    /// What was skipped and why (a last line cut short).
    pub notes: Vec<String>,
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

/// Judges the points of `trace` with `config` as they are read: memory stays bounded however
/// long the trace (the detector keeps a bounded floor, the intervals a bounded sample).
pub fn judge<R: BufRead>(
    label: &str,
    trace: &mut Trace<R>,
    mut config: DetectorConfig,
) -> Result<TraceReport, TraceError> {
    if !trace.bytes() {
        config.quantity = Quantity::Count("units");
    }
    let mut detector = Detector::new(config);
    let mut first: Option<(f64, f64)> = None;
    let mut last = (0.0, 0.0);
    let mut peak = (f64::MIN, 0.0);
    let mut samples = 0u64;
    let mut gaps = GapSample::new();
    for point in trace.by_ref() {
        let (t, v) = point?;
        let t0 = first.get_or_insert((t, v)).0;
        if samples > 0 {
            gaps.push(t - last.0);
        }
        detector.push(t - t0, v);
        if v > peak.0 {
            peak = (v, t - t0);
        }
        last = (t, v);
        samples += 1;
    }
    let Some(first) = first else {
        return Err(TraceError::NoSamples);
    };
    let column = trace.column().to_string();
    Ok(TraceReport {
        schema: SCHEMA,
        run_id: None,
        label: label.to_string(),
        command: Vec::new(),
        kind: "analyze",
        format: trace.format().as_str(),
        duration_s: last.0 - first.0,
        samples,
        interval_s: gaps.median(),
        zero_rows: trace.zero_rows(),
        notes: trace.notes().to_vec(),
        memory: TraceMemory {
            metric: column.clone(),
            start_bytes: first.1,
            end_bytes: last.1,
            peak_bytes: peak.0.max(0.0),
            peak_at_s: peak.1,
        },
        verdict: series_verdict(&detector.final_verdict(None), &column),
        bytes: trace.bytes(),
    })
}

/// The intervals between samples, for their median: every one up to [`GapSample::CAP`], then
/// a uniform random sample of that many (reservoir sampling, from a fixed seed so a trace
/// always gives the same figure). A trace of any length costs at most `CAP` numbers.
#[derive(Debug)]
struct GapSample {
    kept: Vec<f64>,
    seen: u64,
    /// xorshift64 state.
    rng: u64,
}

impl GapSample {
    const CAP: usize = 1 << 16;

    fn new() -> Self {
        GapSample {
            kept: Vec::new(),
            seen: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn push(&mut self, gap: f64) {
        self.seen += 1;
        if self.kept.len() < Self::CAP {
            self.kept.push(gap);
            return;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        // Uniform in 0..seen by a multiply, not a division (this runs for every sample).
        let slot = ((u128::from(self.rng) * u128::from(self.seen)) >> 64) as u64;
        if let Some(kept) = self.kept.get_mut(slot as usize) {
            *kept = gap;
        }
    }

    fn median(&mut self) -> f64 {
        if self.kept.is_empty() {
            return 0.0;
        }
        let mid = self.kept.len() / 2;
        *self
            .kept
            .select_nth_unstable_by(mid, |a, b| a.total_cmp(b))
            .1
    }
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
            let named = |e: TraceError| anyhow::anyhow!("{}: {e}", path.display());
            let mut trace = Trace::open(path, column).map_err(named)?;
            judge(&label_of(path), &mut trace, config.clone()).map_err(named)
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
    for note in &r.notes {
        let _ = writeln!(out, "  note     {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::GapSample;

    #[test]
    fn the_median_interval_is_exact_while_the_sample_holds_every_gap() {
        let mut g = GapSample::new();
        for gap in [3.0, 1.0, 2.0, 1.0, 5.0] {
            g.push(gap);
        }
        assert_eq!(g.median(), 2.0);
    }

    #[test]
    fn a_long_trace_keeps_a_bounded_sample_that_periodic_gaps_cannot_fool() {
        let mut g = GapSample::new();
        // Gaps of 10 s one time in four, in a period a strided sample would alias with.
        let n = 10 * GapSample::CAP as u64;
        for i in 0..n {
            g.push(if i % 4 == 3 { 10.0 } else { 1.0 });
        }
        assert_eq!(g.kept.len(), GapSample::CAP);
        let share = g.kept.iter().filter(|&&x| x == 10.0).count() as f64 / g.kept.len() as f64;
        assert!((share - 0.25).abs() < 0.01, "{share}");
        assert_eq!(g.median(), 1.0);
        // Mostly 10 s: the median follows.
        let mut g = GapSample::new();
        for i in 0..n {
            g.push(if i % 4 == 3 { 1.0 } else { 10.0 });
        }
        assert_eq!(g.median(), 10.0);
    }
}
