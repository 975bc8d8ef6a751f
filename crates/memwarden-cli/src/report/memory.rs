//! A run's memory as two charts, each figure drawn with what applies to it: what a leak grows
//! (the run's metric, the floor the detector judged, its trend and projection), and what the
//! limits watch (the cgroup's charge, or resident memory summed over the tree) with the warn
//! and limit lines. A summed resident line far above a kernel limit on the cgroup's charge
//! would read as "the limit failed"; drawn apart, neither misleads. When the limits watch the
//! metric itself (`--metric rss` without a cgroup) one chart shows both.

use super::chart::{Chart, Line, Unit};
use super::timeline::Series;
use super::{Run, Threshold};

/// Size of the chart of what a leak grows.
pub const LEAK_SIZE: (f64, f64) = (1000.0, 320.0);
/// Size of the chart of what the limits watch.
pub const LIMITS_SIZE: (f64, f64) = (1000.0, 220.0);

/// The memory charts of a run, as the page and the SVG file draw them.
pub struct MemoryCharts {
    /// The run's metric (`anon`).
    pub metric: String,
    /// What the limits compare, in words: "the cgroup's charge".
    pub guarded_name: &'static str,
    /// The CSS class of that series.
    pub guarded_class: &'static str,
    /// Whether the limits compare the cgroup's charge (a kernel limit) or a polled sum.
    pub kernel: bool,
    /// The run's warn and limit levels.
    pub thresholds: Vec<Threshold>,
    /// Whether one chart shows both (the limits watch the metric itself).
    pub one_chart: bool,
    metric_line: [Line; 1],
    guarded_line: [Line; 1],
    note: String,
    title: String,
    guarded_title: String,
}

impl MemoryCharts {
    /// The charts of `run`.
    pub fn of(run: &Run<'_>) -> MemoryCharts {
        let metric = run.report.memory.metric.clone();
        let kernel = run.timeline.max(Series::Cgroup).is_some();
        let (guarded, guarded_class, guarded_name) = if kernel {
            (Series::Cgroup, "s-cgroup", "the cgroup's charge")
        } else {
            (
                Series::Rss,
                "s-rss",
                "resident memory, summed over the tree",
            )
        };
        MemoryCharts {
            one_chart: !kernel && metric == "rss",
            metric_line: [Line {
                series: Series::Metric,
                class: "s-metric",
                area: true,
            }],
            guarded_line: [Line {
                series: guarded,
                class: guarded_class,
                area: false,
            }],
            note: format!(" on {guarded_name}"),
            title: format!("The tree's memory ({metric}) over time"),
            guarded_title: format!("{guarded_name} over time"),
            metric,
            guarded_name,
            guarded_class,
            kernel,
            thresholds: run.thresholds(),
        }
    }

    /// The chart of what a leak grows (with the thresholds when it is the only one).
    pub fn leak<'a>(&'a self, run: &'a Run<'_>) -> Chart<'a> {
        Chart {
            title: &self.title,
            timeline: &run.timeline,
            lines: &self.metric_line,
            unit: Unit::Bytes,
            size: LEAK_SIZE,
            end_s: run.report.duration_s,
            overlays: Some(&run.overlays),
            thresholds: if self.one_chart {
                &self.thresholds
            } else {
                &[]
            },
            threshold_note: &self.note,
            events: &run.report.events,
            label_events: true,
        }
    }

    /// Where the time axis of every chart of the run ends: the first chart's end, which
    /// stretches past the run to show its projection; the others follow, so a moment is at
    /// the same place on each.
    pub fn time_end(&self, run: &Run<'_>) -> f64 {
        self.leak(run).frame().t.1
    }

    /// The chart of what the limits watch, unless the first chart shows it.
    pub fn limits<'a>(&'a self, run: &'a Run<'_>) -> Option<Chart<'a>> {
        (!self.one_chart).then(|| Chart {
            title: &self.guarded_title,
            timeline: &run.timeline,
            lines: &self.guarded_line,
            unit: Unit::Bytes,
            size: LIMITS_SIZE,
            end_s: self.time_end(run),
            overlays: None,
            thresholds: &self.thresholds,
            threshold_note: "",
            events: &run.report.events,
            label_events: false,
        })
    }

    /// What the limits chart shows, in a sentence.
    pub fn limits_note(&self) -> &'static str {
        if self.thresholds.is_empty() {
            "No --limit or --warn was given; a cgroup limit or the machine's memory still \
             bounds it."
        } else if self.kernel {
            "--limit is a kernel limit on this figure (the cgroup's charge: the tree's \
             memory and page cache); --warn compares it too."
        } else {
            "--limit and --warn compare this figure, polled at every sample."
        }
    }
}
