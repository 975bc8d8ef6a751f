//! Judging one window of floor points: is the floor rising, steadily, and fast enough?
//!
//! Steps, in order:
//! 1. Sawtooth: if the floor points themselves still saw (two or more big drops: the bucket
//!    is shorter than a GC cycle), take the minimum of groups of consecutive points, each
//!    longer than the typical cycle, so only the bottoms of the teeth are left. A single big
//!    drop leaves the window undecided: one tooth's floor cannot be told from its ramp.
//! 2. Trend: Theil–Sen slope, Mann–Kendall significance (its variance widened for serially
//!    correlated points, so memory that wanders with load is not taken for a trend).
//! 3. Consistency: the early and the recent half must each rise at least `min_half_ratio` of
//!    the whole window's slope, and neither more than 1/`min_half_ratio` times the other; and
//!    the last quarter must still rise at `min_half_ratio` of it. One step up lies in one half
//!    only, so it is never a leak; growth that is dying out (a cache filling) or only just
//!    began fails the ratio; a fill that just stopped fails the last quarter; a line or a
//!    staircase passes.
//! 4. Otherwise: `plateau` if the floor rose by more than the rate threshold allows over the
//!    window and the last quarter is flat; `rising` (inconclusive) if it still rises; `stable`.

use super::config::DetectorConfig;
use super::stats;

/// A drop between neighbouring floor points larger than this share of the window's range is
/// taken for the bottom of a saw tooth (a GC); smaller ones are noise.
const DROP_FRACTION: f64 = 0.25;
/// A single drop makes the window undecidable only if this many times the typical step: a
/// long tooth (its ramp climbs in small steps), not a noisy dip.
const LONE_TOOTH: f64 = 8.0;
/// Groups span this many typical tooth periods, so each holds at least one tooth bottom.
const GROUP_PERIODS: f64 = 1.25;
/// Each half's slope must reach this share of the rate threshold (halves are noisier).
pub(crate) const HALF_SHARE: f64 = 0.5;
/// Group size meaning "one big drop only": a sawtooth whose floor cannot be judged yet.
pub(crate) const UNRESOLVED_SAW: usize = usize::MAX;
/// With too few points to test at `significance`, bottoms that are not rising even at this
/// level are taken as stable rather than left undecided.
const LENIENT_P: f64 = 0.1;
/// Most points judged in one window.
const MAX_POINTS: usize = 64;
/// Fewest points in each half to take its slope.
const MIN_HALF_POINTS: usize = 3;

/// The shape of the floor in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Rising significantly, fast enough, in both halves.
    Leak,
    /// Rose significantly and by more than the threshold allows, then flattened.
    Plateau,
    /// Rising, but only lately (or not yet consistently): wait for more data.
    Rising,
    /// No rise beyond the threshold.
    Stable,
    /// Too few points to say (after grouping a slow sawtooth).
    Unresolved,
}

/// The figures of one window's judgement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Judgement {
    /// What the floor does.
    pub shape: Shape,
    /// Time of the first and last point judged.
    pub start: f64,
    /// Time of the last point judged.
    pub end: f64,
    /// Floor points judged (after grouping).
    pub points: usize,
    /// Floor buckets per judged point (1 unless a sawtooth was smoothed).
    pub group: usize,
    /// Theil–Sen slope of the whole window, units per second.
    pub slope: f64,
    /// Its 95 % interval (only when asked for, or for a leak; else `(slope, slope)`).
    pub interval: (f64, f64),
    /// One-sided Mann–Kendall p-value for "rising".
    pub p: f64,
    /// Slope of the early half.
    pub early: f64,
    /// Slope of the recent half.
    pub recent: f64,
    /// Slope of the last quarter: is the floor still rising now?
    pub latest: f64,
    /// Median floor of the recent half: the level the relative threshold is taken of.
    pub level: f64,
    /// Median of the recent half minus median of the early half.
    pub rise: f64,
    /// The floor at the start of the window on the fitted line (Theil–Sen slope through the
    /// median intercept).
    pub start_level: f64,
    /// Slowest rate called a leak at this level.
    pub threshold: f64,
    /// Significance the window was judged at (the configured one, split between windows).
    pub alpha: f64,
}

impl Judgement {
    /// How much the floor rose over the window on the fitted line, as a multiple of its level
    /// at the window's start (0 when that level is not positive).
    pub fn growth(&self) -> f64 {
        if self.start_level > 0.0 {
            self.slope * self.span() / self.start_level
        } else {
            0.0
        }
    }

    /// Seconds between the first and the last judged point.
    pub fn span(&self) -> f64 {
        self.end - self.start
    }

    /// Recent slope over early slope, for the reason (`None` when the early half did not rise).
    pub fn ratio(&self) -> Option<f64> {
        (self.early > 0.0).then(|| self.recent / self.early)
    }
}

/// Reusable buffers, so judging allocates nothing once warm.
#[derive(Debug, Default, Clone)]
pub(crate) struct Scratch {
    grouped: Vec<(f64, f64)>,
    slopes: Vec<f64>,
    numbers: Vec<f64>,
}

/// Judges `points` (floor minima in time order) at significance `alpha`; the slope's interval
/// is computed when `interval` is set or the window leaks (it costs two more selections).
///
/// `None` when there are fewer than three points or no two distinct times.
pub(crate) fn judge(
    points: &[(f64, f64)],
    config: &DetectorConfig,
    alpha: f64,
    interval: bool,
    scratch: &mut Scratch,
) -> Option<Judgement> {
    // Teeth smaller than a quarter of what the slowest leak adds over the window cannot fake
    // one; only bigger drops count as teeth.
    let span = points.last().map_or(0.0, |p| p.0) - points.first().map_or(0.0, |p| p.0);
    let material = 0.25 * config.threshold_at(points.last().map_or(0.0, |p| p.1)) * span;
    let group = group_size(points, material, &mut scratch.numbers);
    let unresolved_saw = group == UNRESOLVED_SAW;
    // Merge neighbours further if needed to judge at most MAX_POINTS points: the cost is
    // quadratic, and a window that long has resolution to spare (its shorter sub-windows, at
    // full resolution, are judged too).
    let k = if unresolved_saw { 1 } else { group };
    let k = k.max(points.len().div_ceil(MAX_POINTS));
    // Rare deep dips (a worker restarting, a cache flushed) look like teeth a window long;
    // keep three groups at least, so a flat floor between them is still judged (too few to
    // call a leak, enough to tell it is not rising).
    let k = k.min(points.len() / 3).max(1);
    group_minima(points, k, &mut scratch.grouped);
    let pts = &scratch.grouped;
    let n = pts.len();
    if n < 3 {
        return None;
    }
    let trend = stats::trend(pts, &mut scratch.slopes, &mut scratch.numbers)?;
    let (slope, p_increasing) = (trend.slope, trend.p_increasing);
    let (start, end) = (pts[0].0, pts[n - 1].0);
    let mid = start + (end - start) / 2.0;
    let split = pts.partition_point(|p| p.0 < mid);
    let (early_pts, recent_pts) = pts.split_at(split);
    let half_slope = |half: &[(f64, f64)], buf: &mut Vec<f64>| {
        if half.len() >= MIN_HALF_POINTS {
            stats::theil_sen_slope(half, buf)
        } else {
            None
        }
    };
    let early = half_slope(early_pts, &mut scratch.numbers);
    let recent = half_slope(recent_pts, &mut scratch.numbers);
    let last_quarter = &pts[pts.partition_point(|p| p.0 < start + 0.75 * (end - start))..];
    let latest = half_slope(last_quarter, &mut scratch.numbers).or(recent);
    let level = stats::median_value(recent_pts, &mut scratch.numbers).unwrap_or(pts[n - 1].1);
    let early_level = stats::median_value(early_pts, &mut scratch.numbers).unwrap_or(pts[0].1);
    let rise = level - early_level;
    let threshold = config.threshold_at(level);
    scratch.numbers.clear();
    scratch
        .numbers
        .extend(pts.iter().map(|&(t, v)| v - slope * (t - start)));
    let start_level = stats::median_in_place(&mut scratch.numbers);

    let mut j = Judgement {
        shape: Shape::Unresolved,
        start,
        end,
        points: n,
        group,
        slope,
        interval: (slope, slope),
        p: p_increasing,
        early: early.unwrap_or(0.0),
        recent: recent.unwrap_or(0.0),
        latest: latest.unwrap_or(0.0),
        level,
        rise,
        start_level,
        threshold,
        alpha,
    };
    if interval {
        j.interval = stats::sen_interval(&trend, &mut scratch.slopes);
    }
    let significant = p_increasing < alpha;
    let r = config.min_half_ratio;
    // Both halves rise about as fast as the whole: a line or a staircase, not one step, not
    // growth that only started lately, not growth that is dying out. Without a slope for each
    // half (too few points) the window can be stable, not more.
    let steady = match (early, recent) {
        (Some(early), Some(recent)) => {
            early.min(recent) >= (HALF_SHARE * threshold).max(r * slope)
                && recent >= r * early
                && early >= r * recent
                && latest.is_some_and(|l| l >= r * slope)
        }
        _ => false,
    };
    // Flat now: the last quarter rises slower than a leak could.
    let flat_now = latest.is_some_and(|l| l < HALF_SHARE * threshold);
    let rose = trend.p_plain < alpha;
    let grew = rose && rise >= threshold * j.span();
    // Not rising as fast as a leak would, or no sign of rising even at a lenient level.
    let not_rising = slope < threshold || trend.p_plain > LENIENT_P;
    j.shape = if unresolved_saw && !not_rising {
        // One tooth so far, and the floor seems to rise: it may be the tooth's own ramp.
        Shape::Unresolved
    } else if unresolved_saw {
        // One drop in a floor that does not rise (a blip, a cache flushed once): nothing
        // to wait for.
        Shape::Stable
    } else if n >= config.min_points && significant && slope >= threshold && steady {
        if !interval {
            j.interval = stats::sen_interval(&trend, &mut scratch.slopes);
        }
        Shape::Leak
    } else if grew && flat_now {
        Shape::Plateau
    } else if grew || (rose && slope >= threshold) {
        Shape::Rising
    } else if not_rising {
        Shape::Stable
    } else if n >= config.min_points && j.span() >= config.min_span_s {
        // Rising a little, not significantly, over a window long enough to have shown it.
        Shape::Stable
    } else if n >= config.min_points {
        // Perhaps rising, over a window shorter than a leak call needs: not stable yet.
        Shape::Rising
    } else {
        // Too few points (the bottoms of a slow sawtooth).
        Shape::Unresolved
    };
    Some(j)
}

/// How many consecutive floor points to merge so each group holds a tooth bottom: 1 unless
/// the points saw with at least two big drops; [`UNRESOLVED_SAW`] after exactly one.
///
/// A drop is big against the range of the recent half: that is the steady state, while the
/// early part may hold a start-up peak whose one big fall would dwarf the teeth.
fn group_size(points: &[(f64, f64)], material: f64, diffs: &mut Vec<f64>) -> usize {
    if points.len() < 3 {
        return 1;
    }
    let (lo, hi) = points[points.len() / 2..]
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    let range = hi - lo;
    if range.is_nan() || range <= 0.0 {
        return 1;
    }
    // The typical step between neighbours: noise, or the climb of a ramp.
    diffs.clear();
    diffs.extend(points.windows(2).map(|w| (w[1].1 - w[0].1).abs()));
    let mid = diffs.len() / 2;
    let typical = *diffs.select_nth_unstable_by(mid, f64::total_cmp).1;
    let big = (DROP_FRACTION * range).max(material);
    let mut first = None;
    let mut last = 0;
    let mut drops = 0usize;
    let mut deepest = 0.0f64;
    for (i, w) in points.windows(2).enumerate() {
        let drop = w[0].1 - w[1].1;
        if drop > big {
            first.get_or_insert(i + 1);
            last = i + 1;
            drops += 1;
            deepest = deepest.max(drop);
        }
    }
    match first {
        Some(first) if drops >= 2 => {
            let period = (last - first) as f64 / (drops - 1) as f64;
            ((GROUP_PERIODS * period).ceil() as usize).max(1)
        }
        // One tooth seen, clearly not noise: its floor cannot be told from its ramp yet.
        Some(_) if deepest > LONE_TOOTH * typical => UNRESOLVED_SAW,
        _ => 1,
    }
}

/// Minima of consecutive groups of `k` points, aligned to the newest point (an incomplete
/// group at the old end is dropped: fewer points would bias its minimum high).
fn group_minima(points: &[(f64, f64)], k: usize, out: &mut Vec<(f64, f64)>) {
    out.clear();
    if k <= 1 {
        out.extend_from_slice(points);
        return;
    }
    let skip = points.len() % k;
    for chunk in points[skip..].chunks_exact(k) {
        let min = chunk
            .iter()
            .copied()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("chunks are non-empty");
        out.push(min);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DetectorConfig {
        DetectorConfig {
            min_rate_per_s: 1.0,
            min_relative_rate_per_h: 0.0,
            ..DetectorConfig::default()
        }
    }

    fn judge_default(points: &[(f64, f64)]) -> Judgement {
        judge(points, &config(), 0.001, true, &mut Scratch::default()).unwrap()
    }

    #[test]
    fn a_line_is_a_leak() {
        let pts: Vec<_> = (0..40)
            .map(|i| (i as f64, 100.0 + 5.0 * i as f64))
            .collect();
        let j = judge_default(&pts);
        assert_eq!(j.shape, Shape::Leak);
        assert_eq!(j.slope, 5.0);
        assert_eq!(j.group, 1);
    }

    #[test]
    fn a_line_below_the_threshold_is_stable() {
        let pts: Vec<_> = (0..40)
            .map(|i| (i as f64, 100.0 + 0.2 * i as f64))
            .collect();
        assert_eq!(judge_default(&pts).shape, Shape::Stable);
    }

    #[test]
    fn one_step_is_a_plateau_not_a_leak() {
        for at in [5, 12, 20, 28, 35] {
            let pts: Vec<_> = (0..40)
                .map(|i| {
                    (
                        i as f64,
                        if i < at { 100.0 } else { 900.0 } + (i % 3) as f64,
                    )
                })
                .collect();
            let j = judge_default(&pts);
            assert_ne!(j.shape, Shape::Leak, "step at {at}: {j:?}");
        }
    }

    #[test]
    fn a_staircase_is_a_leak() {
        let pts: Vec<_> = (0..60)
            .map(|i| (i as f64, 100.0 + 50.0 * (i / 6) as f64))
            .collect();
        assert_eq!(judge_default(&pts).shape, Shape::Leak);
    }

    #[test]
    fn growth_that_stops_is_a_plateau() {
        let pts: Vec<_> = (0..60)
            .map(|i| (i as f64, 100.0 + 20.0 * (i.min(20)) as f64))
            .collect();
        assert_eq!(judge_default(&pts).shape, Shape::Plateau);
    }

    #[test]
    fn a_flat_sawtooth_is_grouped_away() {
        // Teeth of 7 points rising by 30 each, dropping back to the same floor.
        let pts: Vec<_> = (0..70)
            .map(|i| (i as f64, 1000.0 + 30.0 * (i % 7) as f64))
            .collect();
        let j = judge_default(&pts);
        assert!(j.group >= 7, "{j:?}");
        assert_eq!(j.shape, Shape::Stable, "{j:?}");
    }

    #[test]
    fn a_rising_sawtooth_is_a_leak() {
        let pts: Vec<_> = (0..140)
            .map(|i| (i as f64, 1000.0 + 30.0 * (i % 7) as f64 + 4.0 * i as f64))
            .collect();
        let j = judge_default(&pts);
        assert_eq!(j.shape, Shape::Leak, "{j:?}");
        assert!((j.slope - 4.0).abs() < 0.5, "{j:?}");
    }

    #[test]
    fn group_minima_align_to_the_newest_point() {
        let pts: Vec<_> = (0..7).map(|i| (i as f64, i as f64)).collect();
        let mut out = Vec::new();
        group_minima(&pts, 3, &mut out);
        assert_eq!(out, vec![(1.0, 1.0), (4.0, 4.0)]);
    }
}
