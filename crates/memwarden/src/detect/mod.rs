//! Leak detection: `(t, value)` points in, a [`Verdict`] out, live or once the run is over.
//!
//! The detector judges the *floor* of the series (the minimum of each time bucket), not its
//! peaks, so a garbage-collected runtime's sawtooth is not a leak while a floor that keeps
//! rising is. It ignores warm-up, tells a plateau or a one-time step from a leak, and calls a
//! staircase, and growth that speeds up, a leak. Work per sample is O(1) amortized and memory
//! is bounded by [`DetectorConfig::max_buckets`] however long the run.
//!
//! Two verdicts come from the same floor and the same judgement:
//! - the **live** verdict ([`Detector::verdict`], [`Detector::kind`]) during a run. A cache
//!   that fills at a steady rate cannot be told from a leak until it stops, so a steady rise
//!   is reported as *rising* (its rate, interval and time to a limit) and called a leak only
//!   once it has lasted [`DetectorConfig::min_span_s`]; a call whose floor then levels off is
//!   revised to `plateau` ([`Verdict::revised_at_s`]).
//! - the **final** verdict ([`Detector::final_verdict`]) once the run or trace has ended. It
//!   judges the whole recorded floor: a floor that rose significantly and was still rising at
//!   the end is a leak, whatever the run's length; `plateau` needs its levelled tail to be
//!   seen. It agrees with the live verdict whenever that one has called a leak.
//!
//! ```
//! use memwarden::detect::{Detector, DetectorConfig, VerdictKind};
//! let mib = (1u64 << 20) as f64;
//! let mut d = Detector::new(DetectorConfig::default());
//! for i in 0..=120 {
//!     // A two-minute run leaking 1 MiB/s on top of 100 MiB, sampled every second.
//!     d.push(i as f64, 100.0 * mib + i as f64 * mib);
//! }
//! // Live: rising, too soon to tell from a cache that fills; 2 GiB is reached in 30 minutes.
//! let live = d.verdict_with_limit(Some(2048.0 * mib));
//! assert_eq!(live.kind, VerdictKind::Inconclusive);
//! assert!(live.rising);
//! assert!((live.time_to_limit_s.unwrap() - 1828.0).abs() < 30.0);
//! // Final: the floor was still rising when the run ended.
//! let done = d.final_verdict(None);
//! assert_eq!(done.kind, VerdictKind::Leak);
//! assert!(done.reason.starts_with("floor rose"), "{}", done.reason);
//!
//! // A cache that fills for two minutes from 3m 20s, then stays full: not a leak, live or final.
//! let mut d = Detector::new(DetectorConfig::default());
//! for i in 0..=600 {
//!     d.push(i as f64, 100.0 * mib + ((i.clamp(200, 320) - 200) as f64) * mib);
//! }
//! assert_eq!(d.kind(), VerdictKind::Plateau);
//! assert_eq!(d.final_verdict(None).kind, VerdictKind::Plateau);
//! ```
//!
//! Modules: `floor` keeps the bucket minima, `stats` has Theil–Sen and Mann–Kendall, `judge`
//! decides the shape of one window of the floor, `assess` picks the windows of one look,
//! `reason` words the findings, and this module ties them into a [`Detector`] that looks again
//! whenever a bucket closes.

mod assess;
mod config;
mod floor;
mod judge;
mod reason;
mod stats;
mod verdict;

pub use config::DetectorConfig;
pub use verdict::{Quantity, Verdict, VerdictKind};

use assess::{Finding, Mode};
use floor::FloorBuckets;
use judge::{Judgement, Scratch, Shape};

/// Consecutive looks that must agree before a leak is called, or a call revised, so one
/// unlucky bucket cannot make either.
const CONFIRMATIONS: u32 = 2;
/// The final verdict never leaves out more than this share of a run as warm-up, so a run of
/// a few seconds is still judged.
const FINAL_WARMUP_SHARE: f64 = 0.25;
/// The still-open floor bucket counts in the final verdict once it has covered this share of
/// its width (its minimum over fewer samples would be biased high).
const OPEN_BUCKET_SHARE: f64 = 0.75;

thread_local! {
    /// Room to judge a window in (its slopes and pairs): one per thread, not one per detector.
    /// A detector judges only while it is pushed (or asked for its final verdict), so the room
    /// is free between looks; kept in each detector it was three quarters of a detector's
    /// memory (7.4 KiB with it, 1.8 KiB without, at 32 floor buckets after ten minutes of 1 s
    /// samples), and `memwarden top` judges thousands of series at once.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// The streaming leak detector for one series (memory in bytes, or a count).
///
/// Feed it with [`push`](Detector::push); it looks again on its own whenever a floor bucket
/// closes, so [`Verdict::detected_at_s`] is known however rarely the verdict is read.
#[derive(Debug, Clone)]
pub struct Detector {
    config: DetectorConfig,
    floor: FloorBuckets,
    first_t: Option<f64>,
    last_t: f64,
    last_value: f64,
    /// Time between the last two samples: whether the open bucket can still get more.
    last_gap: f64,
    samples: u64,
    rejected: u64,
    /// Consecutive looks that found a leak to call.
    streak: u32,
    /// Consecutive looks, while a call stands, that found the floor levelled off or flat.
    calm: u32,
    call: Call,
    /// What the latest look found.
    current: Finding,
    points: Vec<(f64, f64)>,
}

/// The live verdict's leak call: when it was first made, on what, and whether it stands.
#[derive(Debug, Clone, Copy, Default)]
struct Call {
    /// When leak was first called.
    first_at: Option<f64>,
    /// The window that made the (latest) call.
    on: Option<Judgement>,
    /// Whether the call stands now.
    standing: bool,
    /// When the call was last taken back.
    revised_at: Option<f64>,
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
            last_gap: 0.0,
            samples: 0,
            rejected: 0,
            streak: 0,
            calm: 0,
            call: Call::default(),
            current: Finding::TooShort {
                observed: 0.0,
                points: 0,
            },
            points: Vec::with_capacity(config.max_buckets + 1),
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
        if self.first_t.is_none() {
            self.first_t = Some(t_seconds);
        } else {
            self.last_gap = t_seconds - self.last_t;
        }
        self.last_t = t_seconds;
        self.last_value = value;
        self.samples += 1;
        if self.floor.push(t_seconds, value) {
            self.look();
        }
    }

    /// The live verdict, as of the last closed floor bucket (the detector looks whenever a
    /// bucket closes; this only words what it found).
    pub fn verdict(&self) -> Verdict {
        self.verdict_with_limit(None)
    }

    /// The live verdict with `time_to_limit_s` filled in while the floor rises: seconds until
    /// the latest value, growing at the floor's rate, reaches `limit` (same units as the
    /// values; 0 when already there).
    pub fn verdict_with_limit(&self, limit: Option<f64>) -> Verdict {
        let kind = self.kind();
        let rising = self.rising();
        let j = match (self.current, self.call.on) {
            (Finding::Leak(j) | Finding::Rising(j), _) => Some(j),
            (_, Some(on)) if self.call.standing => Some(on),
            (Finding::Whole(j), _) => Some(j),
            _ => None,
        };
        let ttl = self.time_to_limit(rising, j, limit);
        let reason = reason::live(&self.config, &self.current, &self.call_view(), ttl, limit);
        self.make(kind, rising, j, ttl, reason)
    }

    /// The live verdict's kind alone: [`verdict`](Detector::verdict)`().kind` without
    /// building its reason. A rise not yet called (or a call not yet confirmed) is
    /// inconclusive, with [`rising`](Detector::rising) set.
    pub fn kind(&self) -> VerdictKind {
        if self.call.standing {
            VerdictKind::Leak
        } else {
            kind_of(&self.current, Mode::Live, &self.config)
        }
    }

    /// Whether the live verdict sees the floor rising steadily now (a leak, or a rise not
    /// called yet): [`verdict`](Detector::verdict)`().rising`, cheaply.
    pub fn rising(&self) -> bool {
        self.call.standing || matches!(self.current, Finding::Leak(_) | Finding::Rising(_))
    }

    /// The final verdict: the whole recorded floor judged once the run or trace has ended
    /// (the still-open bucket included), with `time_to_limit_s` for a leak given `limit`.
    ///
    /// A floor that rose significantly and was still rising steadily at the end is a leak,
    /// however short the run; growth that speeds up is one too; a plateau needs its levelled
    /// tail in the run, and a step needs flat floor before and after it. A leak the live
    /// verdict has called and not revised stays a leak. Costs one look at no more than
    /// [`DetectorConfig::max_buckets`] points (about 15 µs at 128) and a few allocations.
    pub fn final_verdict(&self, limit: Option<f64>) -> Verdict {
        let mut points = Vec::with_capacity(self.config.max_buckets + 1);
        let finding = match self.first_t {
            None => Finding::TooShort {
                observed: 0.0,
                points: 0,
            },
            Some(t0) => {
                let now = self.last_t;
                let run = now - t0;
                let warmup = self.warmup(run).min(FINAL_WARMUP_SHARE * run);
                let open = self
                    .floor
                    .open_covered(now, self.last_gap, OPEN_BUCKET_SHARE);
                points.extend(self.floor.points(open).filter(|p| p.0 >= t0 + warmup));
                let observed = run - warmup;
                SCRATCH.with(|scratch| {
                    assess::assess(
                        &points,
                        observed,
                        now,
                        &self.config,
                        Mode::Final,
                        &mut scratch.borrow_mut(),
                    )
                })
            }
        };
        let (kind, j) = match finding {
            Finding::Leak(j) => (VerdictKind::Leak, Some(j)),
            // The live verdict's standing call is kept: calls are taken back by the live
            // verdict only, when it sees the floor level off.
            _ if self.call.standing => (VerdictKind::Leak, self.call.on),
            Finding::Whole(j) | Finding::Rising(j) => {
                (kind_of(&finding, Mode::Final, &self.config), Some(j))
            }
            _ => (VerdictKind::Inconclusive, None),
        };
        let rising = kind == VerdictKind::Leak;
        let ttl = self.time_to_limit(rising, j, limit);
        let reason = reason::final_(&self.config, &finding, &self.call_view());
        let mut v = self.make(kind, rising, j, ttl, reason);
        if kind == VerdictKind::Leak {
            v.detected_at_s = v.detected_at_s.or(Some(self.last_t));
            v.revised_at_s = None;
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

    /// Seconds of a run `run` seconds long that the live verdict leaves out as warm-up.
    fn warmup(&self, run: f64) -> f64 {
        let c = &self.config;
        c.warmup_s.max(c.warmup_fraction * run)
    }

    /// Looks at the closed buckets again and records whether a leak is (now) called, or a
    /// call revised.
    fn look(&mut self) {
        let Some(t0) = self.first_t else { return };
        let now = self.last_t;
        let warm_end = t0 + self.warmup(now - t0);
        self.points.clear();
        self.points
            .extend(self.floor.points(false).filter(|p| p.0 >= warm_end));
        self.current = SCRATCH.with(|scratch| {
            assess::assess(
                &self.points,
                now - warm_end,
                now,
                &self.config,
                Mode::Live,
                &mut scratch.borrow_mut(),
            )
        });
        match self.current {
            Finding::Leak(j) => {
                self.calm = 0;
                self.streak += 1;
                if self.streak >= CONFIRMATIONS && !self.call.standing {
                    self.call.first_at.get_or_insert(now);
                    self.call.on = Some(j);
                    self.call.standing = true;
                    self.call.revised_at = None;
                }
            }
            Finding::Whole(j) if self.call.standing && levelled(&j, &self.config) => {
                self.streak = 0;
                self.calm += 1;
                if self.calm >= CONFIRMATIONS {
                    self.call.standing = false;
                    self.call.revised_at = Some(now);
                }
            }
            _ => (self.streak, self.calm) = (0, 0),
        }
    }

    fn call_view(&self) -> reason::CallView {
        reason::CallView {
            first_at: self.call.first_at,
            on: self.call.on,
            standing: self.call.standing,
            revised_at: self.call.revised_at,
            confirming: matches!(self.current, Finding::Leak(_)) && !self.call.standing,
        }
    }

    fn time_to_limit(&self, rising: bool, j: Option<Judgement>, limit: Option<f64>) -> Option<f64> {
        let (limit, j) = (limit?, j?);
        (rising && limit.is_finite() && j.slope > 0.0)
            .then(|| ((limit - self.last_value) / j.slope).max(0.0))
    }

    fn make(
        &self,
        kind: VerdictKind,
        rising: bool,
        j: Option<Judgement>,
        time_to_limit_s: Option<f64>,
        reason: String,
    ) -> Verdict {
        Verdict {
            kind,
            growth_per_s: j.map_or(0.0, |j| j.slope),
            growth_ci_per_s: j.map_or((0.0, 0.0), |j| j.interval),
            rising,
            detected_at_s: self.call.first_at,
            revised_at_s: (!self.call.standing)
                .then_some(self.call.revised_at)
                .flatten(),
            time_to_limit_s,
            reason,
        }
    }
}

/// The kind a look's finding stands for, before any call is confirmed. A floor perhaps rising,
/// not significantly, is stable once the run is over, or once the live verdict has watched it
/// as long as a leak call would take.
fn kind_of(finding: &Finding, mode: Mode, cfg: &DetectorConfig) -> VerdictKind {
    match finding {
        Finding::Whole(j) => match j.shape {
            Shape::Plateau => VerdictKind::Plateau,
            Shape::Stable => VerdictKind::Stable,
            Shape::Unsure if mode == Mode::Final || j.span() >= cfg.min_span_s => {
                VerdictKind::Stable
            }
            _ => VerdictKind::Inconclusive,
        },
        _ => VerdictKind::Inconclusive,
    }
}

/// Whether a window shows a floor that is no longer rising: levelled off, or flat.
fn levelled(j: &Judgement, cfg: &DetectorConfig) -> bool {
    j.shape == Shape::Plateau
        || j.shape == Shape::Stable
        || (j.shape == Shape::Unsure && j.span() >= cfg.min_span_s)
}
