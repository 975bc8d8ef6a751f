//! Streaming leak detection: `(t, value)` points in, a [`Verdict`] out.
//!
//! The detector judges the *floor* of the series (the minimum of each time bucket), not its
//! peaks, so a garbage-collected runtime's sawtooth is not a leak while a floor that keeps
//! rising is. It ignores warm-up, tells a plateau or a one-time step from a leak, and calls a
//! staircase a leak (DESIGN §5). Work per sample is O(1) amortized and memory is bounded by
//! [`DetectorConfig::max_buckets`] however long the run.
//!
//! ```
//! use memwarden::detect::{Detector, DetectorConfig, VerdictKind};
//! let mut d = Detector::new(DetectorConfig::default());
//! for i in 0..600 {
//!     // 1 MiB/s on top of 100 MiB, sampled every second.
//!     d.push(i as f64, (100 << 20) as f64 + i as f64 * (1 << 20) as f64);
//! }
//! let v = d.verdict_with_limit(Some((2u64 << 30) as f64));
//! assert_eq!(v.kind, VerdictKind::Leak);
//! // A steady rise is called after `min_span_s` (150 s) past warm-up…
//! assert!(v.detected_at_s.unwrap() < 210.0);
//! assert!(v.time_to_limit_s.unwrap() > 1000.0);
//!
//! // …unless the floor grows fast against its own level (`fast_growth`): 1 MiB/s on 10 MiB.
//! let mut d = Detector::new(DetectorConfig::default());
//! for i in 0..60 {
//!     d.push(i as f64, (10 << 20) as f64 + i as f64 * (1 << 20) as f64);
//! }
//! assert!(d.verdict().detected_at_s.unwrap() < 60.0);
//! ```
//!
//! Modules: `floor` keeps the bucket minima, `stats` has Theil–Sen and Mann–Kendall,
//! `judge` decides the shape of one window of the floor, and this module ties them into a
//! [`Detector`] that re-judges whenever a bucket closes.

mod config;
mod floor;
mod judge;
mod stats;
mod verdict;

pub use config::DetectorConfig;
pub use verdict::{Quantity, Verdict, VerdictKind};

use crate::units::format_seconds;
use floor::FloorBuckets;
use judge::{Judgement, Scratch, Shape};
use verdict::format_p;

/// Most halved windows judged at each look (the whole run after warm-up, its last half,
/// quarter…; then the shortest window that can be judged);
/// their significance is split between them (Bonferroni).
const MAX_WINDOWS: usize = 8;
/// Consecutive looks that must see a leak before it is called, so one unlucky bucket cannot
/// make the call (which is never taken back).
const CONFIRMATIONS: u32 = 2;
/// A leak called by the fast path must hold over this share of the window judged (and at
/// least `CONFIRMATIONS` looks): a fill that has just stopped needs a few looks to show in the
/// last quarter of the window. On the corpus, without it 1.5 times growth made 4 more wrong
/// calls (start-up followed by a cache filling fast), with 0.1 none.
const FAST_HOLD: f64 = 0.1;

thread_local! {
    /// Room to judge a window in (its slopes and pairs): one per thread, not one per detector.
    /// A detector judges only while it is pushed, so the room is free between looks; kept in
    /// each detector it was three quarters of a detector's memory (7.4 KiB with it, 1.8 KiB
    /// without, at 32 floor buckets after ten minutes of 1 s samples), and `memwarden top`
    /// judges thousands of series at once.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// The streaming leak detector for one series (memory in bytes, or a count).
///
/// Feed it with [`push`](Detector::push); it re-judges on its own whenever a floor bucket
/// closes, so [`Verdict::detected_at_s`] is known however rarely the verdict is read.
#[derive(Debug, Clone)]
pub struct Detector {
    config: DetectorConfig,
    floor: FloorBuckets,
    first_t: Option<f64>,
    last_t: f64,
    last_value: f64,
    samples: u64,
    rejected: u64,
    /// Consecutive looks that saw a leak, and the time of the first of them.
    streak: u32,
    streak_since: f64,
    /// When leak was first called, and why.
    called: Option<(f64, String)>,
    /// The latest look.
    current: Look,
    points: Vec<(f64, f64)>,
}

/// The outcome of one look at the floor.
#[derive(Debug, Clone)]
struct Look {
    kind: VerdictKind,
    /// Seconds a leak look must hold (over consecutive looks) before leak is called.
    hold_s: f64,
    growth: f64,
    ci: (f64, f64),
    reason: String,
}

impl Look {
    fn inconclusive(reason: String) -> Self {
        Look {
            kind: VerdictKind::Inconclusive,
            hold_s: 0.0,
            growth: 0.0,
            ci: (0.0, 0.0),
            reason,
        }
    }
}

impl Detector {
    /// A detector with the given thresholds and no samples.
    pub fn new(config: DetectorConfig) -> Self {
        let floor = FloorBuckets::new(config.bucket_s, config.max_buckets);
        Detector {
            floor,
            first_t: None,
            last_t: f64::NEG_INFINITY,
            last_value: 0.0,
            samples: 0,
            rejected: 0,
            streak: 0,
            streak_since: 0.0,
            called: None,
            current: Look::inconclusive("no samples yet".to_string()),
            points: Vec::with_capacity(config.max_buckets),
            config,
        }
    }

    /// Adds a sample: `value` (bytes, or a count) observed at `t_seconds`.
    ///
    /// Samples with a non-finite time or value, or a time earlier than the previous sample's,
    /// are dropped and counted in [`rejected`](Detector::rejected): a series is judged in time
    /// order. Equal times are fine (the bucket keeps the smaller value).
    #[inline]
    pub fn push(&mut self, t_seconds: f64, value: f64) {
        if !(t_seconds.is_finite() && value.is_finite()) || t_seconds < self.last_t {
            self.rejected += 1;
            return;
        }
        self.first_t.get_or_insert(t_seconds);
        self.last_t = t_seconds;
        self.last_value = value;
        self.samples += 1;
        if self.floor.push(t_seconds, value) {
            self.look();
        }
    }

    /// The current verdict, as of the last closed floor bucket (O(1): the detector re-judges
    /// whenever a bucket closes).
    pub fn verdict(&self) -> Verdict {
        let Look {
            kind: looked,
            growth,
            ci,
            reason,
            ..
        } = &self.current;
        let reason = match &self.called {
            Some((_, why)) if *looked != VerdictKind::Leak => {
                format!("{why}; since then: {reason}")
            }
            None if *looked == VerdictKind::Leak => {
                format!("{reason}; to be confirmed by the next looks")
            }
            _ => reason.clone(),
        };
        Verdict {
            kind: self.kind(),
            growth_per_s: *growth,
            growth_ci_per_s: *ci,
            detected_at_s: self.called.as_ref().map(|c| c.0),
            time_to_limit_s: None,
            reason,
        }
    }

    /// The current verdict's kind alone: [`verdict`](Detector::verdict)`().kind` without
    /// building its reason. A leak once called stays called; a leak seen but not yet
    /// confirmed is still inconclusive.
    pub fn kind(&self) -> VerdictKind {
        match (&self.called, self.current.kind) {
            (Some(_), _) => VerdictKind::Leak,
            (None, VerdictKind::Leak) => VerdictKind::Inconclusive,
            (None, kind) => kind,
        }
    }

    /// The current verdict with `time_to_limit_s` filled in for a leak: seconds until the
    /// latest value, growing at the floor's rate, reaches `limit` (same units as the values;
    /// 0 when already there).
    pub fn verdict_with_limit(&self, limit: Option<f64>) -> Verdict {
        let mut v = self.verdict();
        if let (VerdictKind::Leak, Some(limit)) = (v.kind, limit) {
            if limit.is_finite() && v.growth_per_s > 0.0 {
                v.time_to_limit_s = Some(((limit - self.last_value) / v.growth_per_s).max(0.0));
            }
        }
        v
    }

    /// Samples accepted so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Samples dropped so far (non-finite, or earlier than the previous one).
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Floor buckets held now; never more than [`DetectorConfig::max_buckets`].
    pub fn buckets(&self) -> usize {
        self.floor.all().len()
    }

    /// The floor so far as `(time of the minimum, minimum)` per bucket, oldest first; the last
    /// bucket is still open. For charts: the line a leak verdict is about.
    pub fn floor(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.floor.all().iter().map(|b| (b.t, b.value))
    }

    /// The thresholds this detector judges with.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Re-judges the closed buckets and records whether a leak is (now) called.
    fn look(&mut self) {
        self.current = self.judge();
        if self.current.kind == VerdictKind::Leak {
            if self.streak == 0 {
                self.streak_since = self.last_t;
            }
            self.streak += 1;
            let held = self.last_t - self.streak_since >= self.current.hold_s;
            if self.streak >= CONFIRMATIONS && held && self.called.is_none() {
                self.called = Some((self.last_t, self.current.reason.clone()));
            }
        } else {
            self.streak = 0;
        }
    }

    fn judge(&mut self) -> Look {
        let cfg = &self.config;
        let Some(t0) = self.first_t else {
            return Look::inconclusive("no samples yet".to_string());
        };
        let now = self.last_t;
        let warm_end = t0 + cfg.warmup_s.max(cfg.warmup_fraction * (now - t0));
        self.points.clear();
        self.points.extend(
            self.floor
                .closed()
                .iter()
                .filter(|b| b.t >= warm_end)
                .map(|b| (b.t, b.value)),
        );
        let observed = now - warm_end;
        // Before `min_span_s` of observation, only the fast path can call a leak: the whole
        // window after warm-up rising steadily, its floor up `fast_growth` times its level at
        // the window's start. A filling cache cannot be told from a leak until it stops, so
        // only growth beyond what a cache adds is called that early.
        let fast_phase = observed < cfg.min_span_s;
        let shortest = cfg.fast_span_s.min(cfg.min_span_s);
        if observed < shortest || self.points.len() < cfg.min_points {
            return Look::inconclusive(format!(
                "{} observed after warm-up ({} floor points); judging needs {} and {} points",
                format_seconds(observed.max(0.0)),
                self.points.len(),
                format_seconds(shortest),
                cfg.min_points
            ));
        }
        // Windows: all after warm-up, then its last half, last quarter, … while they span
        // `min_span_s` with `min_points`. The short ones catch a leak that starts after a long
        // stable stretch, which the whole run would dilute.
        let mut starts = [warm_end; MAX_WINDOWS + 1];
        let mut tested = 1;
        if !fast_phase {
            for (j, start) in starts.iter_mut().enumerate().take(MAX_WINDOWS).skip(1) {
                *start = now - observed / f64::from(1u32 << j);
                let n = self.points.len() - self.points.partition_point(|p| p.0 < *start);
                if now - *start < cfg.min_span_s || n < cfg.min_points {
                    break;
                }
                tested += 1;
            }
            // And the shortest window that can be judged: `min_span_s`, or `min_points` floor
            // points when buckets are wider (a long run). A leak that starts late in a long
            // run fills it before any of the halved windows.
            let k = self.points.len().saturating_sub(cfg.min_points.max(1));
            let kth = self.points.get(k).map_or(f64::NEG_INFINITY, |p| p.0);
            let shortest_start = (now - cfg.min_span_s).min(kth);
            let last = starts[tested - 1];
            if shortest_start > last + 0.25 * (now - last) {
                starts[tested] = shortest_start;
                tested += 1;
            }
        }
        let alpha = cfg.significance / tested as f64;
        let mut whole = None;
        for (j, &start) in starts[..tested].iter().enumerate() {
            let from = self.points.partition_point(|p| p.0 < start);
            let judged = SCRATCH.with(|scratch| {
                judge::judge(
                    &self.points[from..],
                    cfg,
                    alpha,
                    j == 0,
                    &mut scratch.borrow_mut(),
                )
            });
            let Some(jd) = judged else {
                continue;
            };
            if jd.shape == Shape::Leak && !fast_phase {
                return leak_look(&jd, cfg, j > 0);
            }
            if j == 0 {
                whole = Some(jd);
            }
        }
        if let Some(jd) = whole.filter(|jd| fast_phase && jd.shape == Shape::Leak) {
            let growth = jd.growth();
            if growth >= cfg.fast_growth {
                let mut look = leak_look(&jd, cfg, false);
                look.hold_s = FAST_HOLD * observed;
                return look;
            }
            let q = cfg.quantity;
            return Look::inconclusive(format!(
                "floor rising {} over {} ({}), up {:.0}%: a steady rise is called after {}, \
                 or as soon as it is up {:.0}%",
                q.rate(jd.slope),
                format_seconds(jd.span()),
                format_p(jd.p),
                100.0 * growth,
                format_seconds(cfg.min_span_s),
                100.0 * cfg.fast_growth
            ));
        }
        match whole {
            Some(jd) => other_look(&jd, cfg),
            None => Look::inconclusive("the floor has too few distinct points".to_string()),
        }
    }
}

/// A significance level printed with as many digits as it needs: `0.001`, `0.00033`.
struct Sig(f64);

impl std::fmt::Display for Sig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = (-self.0.log10()).ceil().max(1.0) as usize + 1;
        let s = format!("{:.*}", digits, self.0);
        f.write_str(s.trim_end_matches('0').trim_end_matches('.'))
    }
}

fn leak_look(j: &Judgement, cfg: &DetectorConfig, part: bool) -> Look {
    let q = cfg.quantity;
    let within = if part {
        " (the recent part of the run)"
    } else {
        ""
    };
    let ratio = j
        .ratio()
        .map(|r| format!("; recent slope {r:.1}x the early one"))
        .unwrap_or_default();
    Look {
        kind: VerdictKind::Leak,
        hold_s: 0.0,
        growth: j.slope,
        ci: j.interval,
        reason: format!(
            "floor rose {} over {}{within} ({}), {}{ratio}",
            q.amount(j.slope * j.span()),
            format_seconds(j.span()),
            q.rate(j.slope),
            format_p(j.p),
        ),
    }
}

fn other_look(j: &Judgement, cfg: &DetectorConfig) -> Look {
    let q = cfg.quantity;
    let (kind, reason) = match j.shape {
        Shape::Plateau => (
            VerdictKind::Plateau,
            format!(
                "floor rose {} to {} then levelled off: latest slope {}, below the {} a leak \
                 needs",
                q.amount(j.rise),
                q.amount(j.level),
                q.rate(j.latest),
                q.rate(j.threshold * judge::HALF_SHARE),
            ),
        ),
        Shape::Rising => (
            VerdictKind::Inconclusive,
            format!(
                "floor rising {} over {} ({}) but not steadily yet: early half {}, recent half {}",
                q.rate(j.slope),
                format_seconds(j.span()),
                format_p(j.p),
                q.rate(j.early),
                q.rate(j.recent),
            ),
        ),
        Shape::Unresolved if j.group == judge::UNRESOLVED_SAW => (
            VerdictKind::Inconclusive,
            "one big drop so far (a garbage collection?): the floor under the saw is known only \
             after the next"
                .to_string(),
        ),
        Shape::Unresolved => (
            VerdictKind::Inconclusive,
            format!(
                "slow sawtooth: {} floor points after merging its teeth, judging needs {}",
                j.points, cfg.min_points
            ),
        ),
        Shape::Stable | Shape::Leak => (
            VerdictKind::Stable,
            format!(
                "{} trend {} over {} ({}); a leak needs at least {} at p<{}, in both \
                 halves of the run",
                if j.group > 1 {
                    "floor under the sawtooth:"
                } else {
                    "floor"
                },
                q.rate(j.slope),
                format_seconds(j.span()),
                format_p(j.p),
                q.rate(j.threshold),
                Sig(j.alpha),
            ),
        ),
    };
    Look {
        kind,
        hold_s: 0.0,
        growth: j.slope,
        ci: j.interval,
        reason,
    }
}
