//! The host view's groups: each one judged as a run is (the same [`Judges`]), its recent
//! memory kept for a sparkline, and the ranking — leaks first, soonest to exhaust their memory
//! first, then by how fast the floor grows.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};

use memwarden::detect::{DetectorConfig, VerdictKind};
use memwarden::sample::host::HostGroup;
use memwarden::sample::Sample;

use crate::judge::{describe, Judges};
use crate::record::{Event, EventKind, RunVerdict};
use crate::report::model::Metric;

/// Readings of a group's memory kept for its sparkline and chart.
pub const HISTORY: usize = 120;
/// Seconds between two refreshes of a group's verdict (its figures), besides on every change.
const VERDICT_EVERY: f64 = 10.0;
/// Most floor buckets per detector in `top`, where hundreds of groups are judged at once, each
/// by four detectors (memory, threads, descriptors, processes): a detector keeps its floor and
/// a copy of it to judge, so its memory grows with its buckets — 1.8 KiB at 32 buckets after
/// ten minutes of 1 s samples, against 5.6 KiB at the default 128. 500 groups cost 3.6 MiB.
/// The floor's resolution is 1/16..1/32 of the time watched: 16 points or more once warm-up
/// is over, twice the fewest the detector judges.
const HOST_MAX_BUCKETS: usize = 32;
/// Width of a floor bucket at the start, seconds, in `top`: the detector looks again whenever
/// a bucket closes, so at 1 s samples and the default 1 s buckets every group's four detectors
/// would each look every second. At 2 s (which, on the detector's labeled corpus, changed no
/// verdict) they look half as often, and each bucket's floor is the lower of two readings.
const HOST_BUCKET_S: f64 = 2.0;

/// One group as the view shows it.
pub struct Row {
    /// The sampler's id of the group.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// The latest sample of it.
    pub last: Sample,
    /// Its memory (the metric judged) now.
    pub bytes: u64,
    /// The highest it was.
    pub peak_bytes: u64,
    /// Its cgroup limit, when it has one.
    pub limit_bytes: Option<u64>,
    /// Where its latest verdict stands.
    pub verdict: Standing,
    /// Its recent memory, KiB, oldest first.
    pub history: VecDeque<u32>,
    /// Whether it has no process now (gone, not yet forgotten).
    pub gone: bool,
    /// Samples taken of it.
    pub samples: u64,
    judges: Judges,
    verdict_at: f64,
}

/// What changed in a group at one sample, for the sinks.
pub struct Update<'a> {
    /// The group.
    pub row: &'a Row,
    /// Whether it is new this sample.
    pub new: bool,
    /// Verdict changes, as events.
    pub events: Vec<Event>,
    /// Its verdict, when refreshed.
    pub verdict: Option<RunVerdict>,
}

/// What the view ranks and shows of a group's verdict between refreshes. The whole verdict,
/// with its reasons, is ten times the size: it is worded on demand ([`Row::full_verdict`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    /// The verdict's kind.
    pub kind: VerdictKind,
    /// What leaks, when not memory alone (`threads`, `memory, fds`...); empty otherwise.
    pub resource: String,
    /// The floor's growth when measured, else 0, bytes per second.
    pub growth_bytes_per_s: f64,
    /// Seconds until the group's memory is exhausted, at the floor's rate, while it rises.
    pub time_to_limit_s: Option<f64>,
    /// Whether the floor rises steadily now (a leak not called yet, or a cache filling).
    pub rising: bool,
}

impl Default for Standing {
    fn default() -> Self {
        Standing::of(&RunVerdict::default())
    }
}

impl Standing {
    /// The standing of verdict `v`.
    pub fn of(v: &RunVerdict) -> Standing {
        let leaks_more = v.leaks() && v.resource != "memory";
        Standing {
            kind: v.kind,
            resource: if leaks_more {
                v.resource.clone()
            } else {
                String::new()
            },
            growth_bytes_per_s: if v.growth_measured() {
                v.growth_bytes_per_s
            } else {
                0.0
            },
            time_to_limit_s: v.time_to_limit_s,
            rising: v.rising,
        }
    }

    /// Whether a leak is called.
    pub fn leaks(&self) -> bool {
        self.kind == VerdictKind::Leak
    }
}

impl Row {
    /// The group's live verdict now, reasons worded: what the view and the sinks show while
    /// the session goes on.
    pub fn full_verdict(&self) -> RunVerdict {
        self.judges.verdict(self.limit_bytes)
    }

    /// The group's final verdict: its whole recorded floor judged, as a run's is at its end.
    pub fn final_verdict(&self) -> RunVerdict {
        self.judges.final_verdict(self.limit_bytes)
    }
}

/// Every group, judged.
pub struct Board {
    /// Whether verdicts are worded as the session goes (a live view or a sink reads them);
    /// otherwise only on a change of kind and at the end.
    live: bool,
    metric: Metric,
    detector: DetectorConfig,
    rows: HashMap<u64, Row>,
}

impl Board {
    /// An empty board judging `metric` with `detector` (its floor bounded for many groups);
    /// `live` when something reads the verdicts as the session goes.
    pub fn new(metric: Metric, detector: DetectorConfig, live: bool) -> Board {
        Board {
            live,
            metric,
            detector: DetectorConfig {
                max_buckets: detector.max_buckets.min(HOST_MAX_BUCKETS),
                bucket_s: detector.bucket_s.max(HOST_BUCKET_S),
                ..detector
            },
            rows: HashMap::new(),
        }
    }

    /// The memory figure judged.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Folds a group's latest sample in; says what changed.
    pub fn update(&mut self, g: &HostGroup) -> Update<'_> {
        let new = !self.rows.contains_key(&g.id);
        let metric = self.metric;
        let row = self.rows.entry(g.id).or_insert_with(|| Row {
            id: g.id,
            name: g.name.clone(),
            last: g.sample,
            bytes: 0,
            peak_bytes: 0,
            limit_bytes: g.limit_bytes,
            verdict: Standing::default(),
            history: VecDeque::with_capacity(HISTORY),
            gone: false,
            samples: 0,
            judges: Judges::new(metric, self.detector.clone()),
            // Worded at once, then staggered so hundreds of groups do not all word their
            // verdicts in the same sample.
            verdict_at: g.sample.t - VERDICT_EVERY - (g.id % 5) as f64,
        });
        let s = &g.sample;
        row.name.clone_from(&g.name);
        row.last = *s;
        row.limit_bytes = g.limit_bytes;
        row.gone = s.tree.processes == 0;
        row.samples += 1;
        row.bytes = if row.gone { 0 } else { metric.of(s) };
        row.peak_bytes = row.peak_bytes.max(row.bytes);
        if row.history.len() == HISTORY {
            row.history.pop_front();
        }
        row.history
            .push_back(u32::try_from(row.bytes >> 10).unwrap_or(u32::MAX));
        let changes = row.judges.push(s);
        let events: Vec<Event> = changes
            .iter()
            .map(|c| Event::new(s.t, EventKind::Verdict, describe(c)))
            .collect();
        let due = self.live && s.t - row.verdict_at >= VERDICT_EVERY;
        let refresh = !changes.is_empty() || due;
        let verdict = refresh.then(|| {
            row.verdict_at = s.t;
            let v = row.full_verdict();
            row.verdict = Standing::of(&v);
            v
        });
        Update {
            row,
            new,
            events,
            verdict,
        }
    }

    /// Ranks every group by its final verdict (for the report at the end).
    pub fn conclude(&mut self) {
        for row in self.rows.values_mut() {
            row.verdict = Standing::of(&row.final_verdict());
        }
    }

    /// The floor the detector judges for group `id`: `(t, bytes)` per bucket, oldest first.
    pub fn floor(&self, id: u64) -> Vec<(f64, f64)> {
        self.rows
            .get(&id)
            .map(|r| r.judges.floor().collect())
            .unwrap_or_default()
    }

    /// Drops a forgotten group; returns it.
    pub fn forget(&mut self, id: u64) -> Option<Row> {
        self.rows.remove(&id)
    }

    /// Every group, in no order.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.rows.values()
    }

    /// Groups known.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The groups in the order `by`, first the one to look at.
    pub fn sorted(&self, by: SortBy) -> Vec<&Row> {
        let mut rows: Vec<&Row> = self.rows.values().collect();
        rows.sort_by(|a, b| by.compare(a, b).then_with(|| a.name.cmp(&b.name)));
        rows
    }
}

/// How the groups are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// Leaks first, soonest to exhaustion first; then by the floor's growth.
    #[default]
    Rank,
    /// Largest memory first.
    Memory,
    /// Fastest floor growth first.
    Growth,
    /// Most processes first.
    Processes,
    /// By name.
    Name,
}

impl SortBy {
    /// Every order, as the view cycles through them.
    pub const ALL: [SortBy; 5] = [
        SortBy::Rank,
        SortBy::Memory,
        SortBy::Growth,
        SortBy::Processes,
        SortBy::Name,
    ];

    /// The order's name on screen.
    pub fn name(self) -> &'static str {
        match self {
            SortBy::Rank => "rank",
            SortBy::Memory => "memory",
            SortBy::Growth => "growth",
            SortBy::Processes => "processes",
            SortBy::Name => "name",
        }
    }

    /// The next order.
    pub fn next(self) -> SortBy {
        let i = SortBy::ALL.iter().position(|s| *s == self).unwrap_or(0);
        SortBy::ALL[(i + 1) % SortBy::ALL.len()]
    }

    fn compare(self, a: &Row, b: &Row) -> Ordering {
        match self {
            SortBy::Rank => rank(a, b),
            SortBy::Memory => b.bytes.cmp(&a.bytes),
            SortBy::Growth => growth(b).total_cmp(&growth(a)),
            SortBy::Processes => b.last.tree.processes.cmp(&a.last.tree.processes),
            SortBy::Name => Ordering::Equal,
        }
    }
}

/// The floor's growth when measured, else 0 (an inconclusive verdict has no trend).
pub fn growth(row: &Row) -> f64 {
    row.verdict.growth_bytes_per_s
}

/// Leaks first, by time to exhaustion (a leak without a projection after those with one);
/// then every group by the floor's growth, fastest first; live groups before gone ones.
fn rank(a: &Row, b: &Row) -> Ordering {
    let leak = |r: &Row| r.verdict.leaks();
    let ttl = |r: &Row| r.verdict.time_to_limit_s.unwrap_or(f64::INFINITY);
    a.gone
        .cmp(&b.gone)
        .then_with(|| leak(b).cmp(&leak(a)))
        .then_with(|| {
            if leak(a) && leak(b) {
                ttl(a).total_cmp(&ttl(b))
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| growth(b).total_cmp(&growth(a)))
        .then_with(|| b.bytes.cmp(&a.bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, kind: VerdictKind, ttl: Option<f64>, growth: f64) -> Row {
        Row {
            id: 0,
            name: name.into(),
            last: Sample::default(),
            bytes: 1,
            peak_bytes: 1,
            limit_bytes: None,
            verdict: Standing::of(&RunVerdict {
                kind,
                memory_kind: kind,
                time_to_limit_s: ttl,
                growth_bytes_per_s: growth,
                ..RunVerdict::default()
            }),
            history: VecDeque::new(),
            gone: false,
            samples: 0,
            judges: Judges::new(Metric::Anon, DetectorConfig::default()),
            verdict_at: 0.0,
        }
    }

    #[test]
    fn leaks_rank_first_soonest_exhaustion_first_then_growth() {
        let mut board = Board::new(Metric::Anon, DetectorConfig::default(), true);
        let rows = [
            row("growing", VerdictKind::Plateau, None, 5e6),
            row("slow leak", VerdictKind::Leak, Some(86_400.0), 1e3),
            row("stable", VerdictKind::Stable, None, 0.0),
            row("fast leak", VerdictKind::Leak, Some(600.0), 1e5),
            row("leak, no limit", VerdictKind::Leak, None, 1e7),
            row("young", VerdictKind::Inconclusive, None, 9e9),
        ];
        for (i, mut r) in rows.into_iter().enumerate() {
            r.id = i as u64;
            board.rows.insert(r.id, r);
        }
        let order: Vec<&str> = board
            .sorted(SortBy::Rank)
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(
            order,
            [
                "fast leak",
                "slow leak",
                "leak, no limit",
                "growing",
                "stable",
                "young"
            ]
        );
        assert_eq!(SortBy::Name.next(), SortBy::Rank);
    }
}
