//! Reports of recorded runs. Every output format is one file behind one small trait:
//! [`RenderRun`] for `report` (text, JSON, CSV, HTML), [`RenderComparison`] for `compare`
//! (Markdown, text, JSON). The model ([`model::RunReport`], the JSON report), the words
//! for a verdict and an ending, the drawing timeline and the chart are shared by the formats
//! that need them.

pub mod axis;
pub mod chart;
pub mod compare;
pub mod csv;
pub mod ending;
pub mod exited;
pub mod export;
pub mod groups;
pub mod html;
pub mod json;
pub mod ls;
pub mod markdown;
pub mod marks;
pub mod memory;
pub mod model;
pub mod sparkline;
pub mod summary;
pub mod svg;
pub mod table;
pub mod term;
pub mod text;
pub mod timeline;
pub mod verdict;

use std::io::Write;

use anyhow::Result;
use memwarden::detect::{Detector, VerdictKind};
use memwarden::sample::Sample;

use crate::judge::Judges;
use crate::record::{EventKind, RecordedOptions, RunKind};
use crate::store::{RunRow, Store};
use compare::Comparison;
use model::{top_processes, Metric, RunReport, RunStats};
use timeline::Timeline;

pub use json::json;

/// Pixel columns of the charts: a timeline keeps this many slices of the run.
pub const COLUMNS: usize = 1000;

/// An output format of `report`: writes one run.
pub trait RenderRun {
    /// Writes `run` to `out`.
    fn render(&self, run: &Run<'_>, out: &mut dyn Write) -> Result<()>;
}

/// An output format of `compare`: writes a before/after comparison.
pub trait RenderComparison {
    /// Writes `comparison` to `out`.
    fn render(&self, comparison: &Comparison, out: &mut dyn Write) -> Result<()>;
}

/// Every sample of a run, in time order, read again on demand (a week at 1 s is 604,800 of
/// them: formats that need them all stream them, the others use the [`Timeline`]).
pub trait Samples {
    /// Calls `f` with each sample in time order.
    fn for_each(&self, f: &mut dyn FnMut(&Sample)) -> Result<()>;
}

impl Samples for Vec<Sample> {
    fn for_each(&self, f: &mut dyn FnMut(&Sample)) -> Result<()> {
        self.iter().for_each(f);
        Ok(())
    }
}

/// The samples of a stored run.
struct Stored<'a> {
    store: &'a Store,
    id: i64,
}

impl Samples for Stored<'_> {
    fn for_each(&self, f: &mut dyn FnMut(&Sample)) -> Result<()> {
        self.store.for_each_sample(self.id, f)
    }
}

/// A run as the formats see it.
pub struct Run<'a> {
    /// The report (the JSON's figures).
    pub report: RunReport,
    /// The options the run was started with, as recorded.
    pub options: RecordedOptions,
    /// The samples folded for drawing.
    pub timeline: Timeline,
    /// What the detector adds to the chart, when it has judged the run.
    pub overlays: Overlays,
    /// Every sample, for formats that list them.
    pub samples: Box<dyn Samples + 'a>,
}

/// Lines the detector adds to the memory chart; each is drawn only when given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overlays {
    /// The floor the detector judged: `(seconds since start, bytes)` points.
    pub floor: Vec<(f64, f64)>,
    /// The fitted trend, drawn over the run.
    pub trend: Option<Trend>,
    /// The verdict's projection to its limit, drawn after the run.
    pub projection: Option<Projection>,
}

/// A straight trend `bytes = intercept + slope × t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Bytes at t = 0.
    pub intercept_bytes: f64,
    /// Bytes per second.
    pub slope_bytes_per_s: f64,
    /// Where the fit starts, seconds since start (the line is drawn from here).
    pub from_s: f64,
}

impl Trend {
    /// Bytes at `t`.
    pub fn at(&self, t: f64) -> f64 {
        self.intercept_bytes + self.slope_bytes_per_s * t
    }
}

/// The verdict's time to its limit as a line: from the last judged reading, at the verdict's
/// rate, to the limit, reached `time_to_limit_s` later — the same figure the words give.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    /// The last judged reading: seconds since start.
    pub from_s: f64,
    /// The limit, bytes.
    pub limit_bytes: f64,
    /// The verdict's rate, bytes per second.
    pub slope_bytes_per_s: f64,
    /// Seconds from `from_s` until the limit.
    pub time_to_limit_s: f64,
    /// Whether the run goes on (the limit is ahead) or has ended (it would have been).
    pub running: bool,
}

impl Projection {
    /// When the limit is reached, seconds since start.
    pub fn hits_at(&self) -> f64 {
        self.from_s + self.time_to_limit_s
    }

    /// Bytes at `t` (from `from_s` on).
    pub fn at(&self, t: f64) -> f64 {
        self.limit_bytes - self.slope_bytes_per_s * (self.hits_at() - t)
    }
}

/// A horizontal line a run was held to: a warning level or a limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// `warn` or `limit`.
    pub kind: &'static str,
    /// Bytes.
    pub bytes: f64,
}

impl Run<'_> {
    /// The run's warn and limit levels, from its recorded options.
    pub fn thresholds(&self) -> Vec<Threshold> {
        thresholds(&self.options)
    }

    /// memwarden's options as the user wrote them, `memwarden run --limit 1GiB` (empty when
    /// not recorded).
    pub fn options_line(&self) -> String {
        match self.options.command_line() {
            given if given.is_empty() => given,
            given => format!("memwarden {given}"),
        }
    }
}

/// The warn and limit levels of a run's options, lowest first.
pub fn thresholds(options: &RecordedOptions) -> Vec<Threshold> {
    [("warn", options.warn_bytes), ("limit", options.limit_bytes)]
        .into_iter()
        .filter_map(|(kind, bytes)| {
            let bytes = bytes.filter(|b| *b > 0)? as f64;
            Some(Threshold { kind, bytes })
        })
        .collect()
}

/// Rebuilds a recorded run's report from the store, with the same accumulator a live run uses.
pub fn load(store: &Store, row: &RunRow) -> Result<RunReport> {
    replay(store, row, |_, _| {})
}

/// A recorded run with its timeline of `columns` slices, in one pass over its samples.
pub fn open<'a>(store: &'a Store, row: &RunRow, columns: usize) -> Result<Run<'a>> {
    let metric = Metric::from_name(&row.meta.metric);
    let (t0, t1) = store.sample_span(row.id)?.unwrap_or((0.0, 0.0));
    let mut timeline = Timeline::new(metric, t0, t1, columns);
    let mut floor = Detector::new(row.meta.options.detector.config());
    let mut last_judged = 0.0;
    let report = replay(store, row, |s, judged| {
        if judged {
            floor.push(s.t, metric.of(s) as f64);
            last_judged = s.t;
        }
        timeline.push(s);
    })?;
    let overlays = overlays(&floor, &report, &row.meta.options, last_judged);
    Ok(Run {
        report,
        options: row.meta.options.clone(),
        timeline,
        overlays,
        samples: Box::new(Stored { store, id: row.id }),
    })
}

/// One pass over a run's stored samples: the report, rebuilt as a live run builds it, while
/// `each` sees every sample and whether it was judged. As live, samples after the command's
/// exit (its leftovers being stopped) count for peaks only and are not judged. A run without
/// an end gets its verdict so far, judged here from its samples.
fn replay(store: &Store, row: &RunRow, mut each: impl FnMut(&Sample, bool)) -> Result<RunReport> {
    let metric = Metric::from_name(&row.meta.metric);
    let events = store.events(row.id)?;
    let exited_at = events
        .iter()
        .find(|e| e.kind == EventKind::Exit && row.meta.kind == RunKind::Run)
        .map_or(f64::INFINITY, |e| e.at_s);
    let mut stats = RunStats::new(metric);
    let mut so_far = row
        .end
        .is_none()
        .then(|| Judges::new(metric, row.meta.options.detector.config()));
    store.for_each_sample(row.id, |s| {
        let ended = s.t > exited_at;
        if ended {
            stats.command_ended();
        }
        stats.push(s);
        let judged = !ended && s.tree.processes > 0;
        if let Some(judges) = so_far.as_mut().filter(|_| judged) {
            judges.push(s);
        }
        each(s, judged);
    })?;
    let processes = store.processes(row.id)?;
    let table = top_processes(processes.len() as u64, &processes);
    let mut report = stats.report(Some(row.id), &row.meta, row.end.as_ref(), table, events);
    report.state = row.state;
    if let Some(judges) = so_far {
        report.verdict = Some(judges.verdict(row.meta.options.limit_bytes));
    }
    report.heap = crate::heap::HeapReport::load(store, row.id)?;
    Ok(report)
}

/// The floor the detector judged (replayed over the stored samples: folding keeps every
/// bucket's lowest row, so the floor survives it), the trend of the recorded verdict laid
/// through the floor's points, and the verdict's projection to its limit from the last judged
/// reading (`last_judged_s`; to `--limit` for a record that did not keep its limit). A run
/// stopped at its limit has reached it: nothing is projected.
fn overlays(
    detector: &Detector,
    report: &RunReport,
    options: &RecordedOptions,
    last_judged_s: f64,
) -> Overlays {
    let floor: Vec<(f64, f64)> = detector.floor().collect();
    let Some(v) = report.verdict.as_ref() else {
        return Overlays {
            floor,
            ..Overlays::default()
        };
    };
    let trend = (v.memory_kind != VerdictKind::Inconclusive && floor.len() >= 2).then(|| {
        let slope = v.growth_bytes_per_s;
        // The intercept that puts the line through the middle of the floor (Theil–Sen's).
        let mut offsets: Vec<f64> = floor.iter().map(|(t, b)| b - slope * t).collect();
        offsets.sort_by(f64::total_cmp);
        Trend {
            intercept_bytes: offsets[offsets.len() / 2],
            slope_bytes_per_s: slope,
            from_s: floor[0].0,
        }
    });
    let context = verdict::Context::of(report);
    let projection = match (v.time_to_limit_s, v.limit_bytes.or(options.limit_bytes)) {
        (Some(t), Some(limit)) if v.growth_bytes_per_s > 0.0 && !context.reached_limit => {
            Some(Projection {
                from_s: last_judged_s,
                limit_bytes: limit as f64,
                slope_bytes_per_s: v.growth_bytes_per_s,
                time_to_limit_s: t,
                running: context.running,
            })
        }
        _ => None,
    };
    Overlays {
        floor,
        trend,
        projection,
    }
}
