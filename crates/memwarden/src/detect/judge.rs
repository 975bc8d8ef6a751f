//! Judging one window of floor points: is the floor rising, to the end of the window, steadily,
//! and fast enough?
//!
//! Steps, in order:
//! 1. Sawtooth: if the floor points themselves still saw (two or more big drops: the bucket
//!    is shorter than a GC cycle), take the minimum of groups of consecutive points, each
//!    longer than the typical cycle, so only the bottoms of the teeth are left. A single big
//!    drop leaves the window undecided: one tooth's floor cannot be told from its ramp.
//! 2. Trend: Theil–Sen slope, Mann–Kendall significance (its variance widened for serially
//!    correlated points, so memory that wanders with load, or one step, is not taken for a
//!    trend).
//! 3. To the end: the recent half and the last quarter must each rise at least
//!    `min_half_ratio` of the whole window's slope, and the recent half at least that share of
//!    the early half. One step up leaves the recent half flat, a fill that stopped leaves the
//!    last quarter flat, and growth that is dying out (a cache filling) fails the ratio; a
//!    line, a staircase and growth that speeds up pass. Whether the early half rose too (the
//!    rise spans the whole window) is recorded apart: the live verdict needs it, to know how
//!    long the rise has lasted.
//! 4. Otherwise: `plateau` if the floor rose by more than the rate threshold allows over the
//!    window and the last quarter is flat; `slowing` if it still rises, ever slower; `rising`
//!    (uneven) if it rose some other way; `stable`.
//!
//! Each judgement also says whether the last quarter rose clearly less than the quarter
//! before it (`decelerating`): the tail of a rise dying out, whose shorter windows would
//! each look like a line.

use super::config::DetectorConfig;
use super::stats;

/// A drop between neighbouring floor points larger than this share of the window's range is
/// taken for the bottom of a saw tooth (a GC); smaller ones are noise.
const DROP_FRACTION: f64 = 0.25;
/// A single drop makes the window undecidable only if this many times the typical step: a
/// long tooth (its ramp climbs in small steps), not a noisy dip.
const LONE_TOOTH: f64 = 8.0;
/// Big drops are teeth only if they come about regularly: with at least `REGULAR_DROPS` of
/// them, the spacing's coefficient of variation must stay under `REGULAR_CV`. A GC's teeth
/// keep their period even when buckets alias it; dips of noise come at random (a CV near 1).
const REGULAR_DROPS: usize = 4;
const REGULAR_CV: f64 = 0.6;
/// Groups span this many typical tooth periods, so each holds at least one tooth bottom.
const GROUP_PERIODS: f64 = 1.25;
/// Each part's slope must reach this share of the rate threshold (parts are noisier).
pub(crate) const HALF_SHARE: f64 = 0.5;
/// Group size meaning "one big drop only": a sawtooth whose floor cannot be judged yet.
pub(crate) const UNRESOLVED_SAW: usize = usize::MAX;
/// With too few points to test at `significance`, bottoms that are not rising even at this
/// level are taken as stable rather than left undecided.
const LENIENT_P: f64 = 0.1;
/// Teeth a window needs to be judged on every point when merging them leaves too few.
const REPEATED_TEETH: usize = 5;
/// Most points judged in one window.
const MAX_POINTS: usize = 48;
/// Fewest points in each part to take its slope.
const MIN_PART_POINTS: usize = 3;

/// The shape of the floor in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Rising significantly, fast enough, and still rising at the end of the window.
    Leak,
    /// Rising significantly, but ever slower: a fill levelling off, not flat yet.
    Slowing,
    /// Rose significantly and by more than the threshold allows, then flattened.
    Plateau,
    /// Rose some other way: one recent step, or a rise not significant yet.
    Rising,
    /// No rise beyond the threshold.
    Stable,
    /// Perhaps rising a little, not significantly: stable if the window is long enough to
    /// have shown a leak.
    Unsure,
    /// Too few points to say (after grouping a slow sawtooth), or one saw tooth so far.
    Unresolved,
}

/// The figures of one window's judgement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Judgement {
    /// What the floor does.
    pub shape: Shape,
    /// For a leak: whether the early half rose too, so the rise spans the whole window.
    pub throughout: bool,
    /// Time of the first point judged.
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
    /// Whether the last quarter rose clearly slower than the quarter before it: the tail of a
    /// rise that is dying out (a cache filling up, a start-up ramp), whose shorter windows
    /// look like lines.
    pub decelerating: bool,
    /// Median of the recent half minus median of the early half.
    pub rise: f64,
    /// The last point's floor (the level a plateau levelled off at).
    pub last: f64,
    /// Slowest rate called a leak at this level.
    pub threshold: f64,
    /// Significance the window was judged at (the configured one, split between windows).
    pub alpha: f64,
}

impl Judgement {
    /// Seconds between the first and the last judged point.
    pub fn span(&self) -> f64 {
        self.end - self.start
    }
}

/// Reusable buffers, so judging allocates nothing once warm.
#[derive(Debug, Default, Clone)]
pub(crate) struct Scratch {
    grouped: Vec<(f64, f64)>,
    slopes: Vec<f64>,
    numbers: Vec<f64>,
}

/// Judges `points` (floor minima in time order) at significance `alpha`, with the sawtooth
/// `teeth` when the caller knows them (else they are found); the slope's interval is computed
/// when `interval` is set or the window leaks (it costs two more selections).
///
/// `None` when there are fewer than three points or no two distinct times.
pub(crate) fn judge(
    points: &[(f64, f64)],
    config: &DetectorConfig,
    alpha: f64,
    interval: bool,
    teeth: Option<Teeth>,
    scratch: &mut Scratch,
) -> Option<Judgement> {
    let teeth = teeth.unwrap_or_else(|| saw(points, config, scratch));
    let group = match teeth {
        Teeth::Group(k) => k,
        _ => 1,
    };
    let lone = matches!(teeth, Teeth::Lone(_));
    // Short teeth that would leave too few groups to judge, though the window holds enough of
    // them to show the pattern repeat (a 2 s GC cycle sampled every second), are judged on
    // every point: over whole teeth, the ramps cancel out of Theil–Sen and Mann–Kendall.
    let group = if points.len() / group.max(1) < config.min_points
        && points.len() / group.max(1) >= REPEATED_TEETH
        && points.len() >= config.min_points
        && matches!(teeth, Teeth::Group(_))
    {
        1
    } else {
        group
    };
    // Merge neighbours further if needed to judge at most MAX_POINTS points: the cost is
    // quadratic, and a window that long has resolution to spare (its shorter sub-windows, at
    // full resolution, are judged too).
    let k = group.max(points.len().div_ceil(MAX_POINTS));
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
    let mut trend = stats::trend(pts, &mut scratch.slopes, &mut scratch.numbers)?;
    let slope = trend.slope;
    let (start, end) = (pts[0].0, pts[n - 1].0);
    let mid = start + (end - start) / 2.0;
    let split = pts.partition_point(|p| p.0 < mid);
    let (early_pts, recent_pts) = pts.split_at(split);
    let part_slope = |part: &[(f64, f64)], buf: &mut Vec<f64>| {
        if part.len() >= MIN_PART_POINTS {
            stats::theil_sen_slope(part, buf)
        } else {
            None
        }
    };
    let early = part_slope(early_pts, &mut scratch.numbers);
    let recent = part_slope(recent_pts, &mut scratch.numbers);
    let last_quarter = &pts[pts.partition_point(|p| p.0 < start + 0.75 * (end - start))..];
    let latest = part_slope(last_quarter, &mut scratch.numbers).or(recent);
    // Levels of the last three quarters, for whether the rise is dying out: by levels, not
    // slopes, so a staircase whose last step fell in the third quarter is not taken for it.
    let quarter = |i: f64| start + i * (end - start) / 4.0;
    let mut level_of = |from: f64, to: f64| {
        let part = &pts[pts.partition_point(|p| p.0 < from)..pts.partition_point(|p| p.0 < to)];
        stats::median_value(part, &mut scratch.numbers)
    };
    let levels = [
        level_of(quarter(1.0), quarter(2.0)),
        level_of(quarter(2.0), quarter(3.0)),
        level_of(quarter(3.0), f64::INFINITY),
    ];
    let level = stats::median_value(recent_pts, &mut scratch.numbers).unwrap_or(pts[n - 1].1);
    let early_level = stats::median_value(early_pts, &mut scratch.numbers).unwrap_or(pts[0].1);
    let rise = level - early_level;
    let threshold = config.threshold_at(level);
    // A rise that bends (speeding up, or a start-up before a leak) leaves residuals around one
    // line that agree with their neighbours as wandering memory would; around a line per half
    // they do not. A step inside a half, or memory that wanders, still leaves them correlated.
    if let (Some(e), Some(r)) = (early, recent) {
        let a = intercept(early_pts, e, &mut scratch.numbers);
        let b = intercept(recent_pts, r, &mut scratch.numbers);
        trend.allow_for_serial_correlation(pts, |t| if t < mid { a + e * t } else { b + r * t });
    }
    let p_increasing = trend.p_increasing;

    let mut j = Judgement {
        shape: Shape::Unresolved,
        throughout: false,
        start,
        end,
        points: n,
        group: if lone { UNRESOLVED_SAW } else { group },
        slope,
        interval: (slope, slope),
        p: p_increasing,
        early: early.unwrap_or(0.0),
        recent: recent.unwrap_or(0.0),
        latest: latest.unwrap_or(0.0),
        decelerating: false,
        rise,
        last: pts[n - 1].1,
        threshold,
        alpha,
    };
    if interval {
        j.interval = stats::sen_interval(&trend, &mut scratch.slopes);
    }
    let significant = p_increasing < alpha;
    let r = config.min_half_ratio;
    let part_floor = (HALF_SHARE * threshold).max(r * slope);
    // Still rising at the end, as fast as the window: not one step in the early half, not a
    // fill that stopped, not growth dying out. The last quarter may show it by its slope, or,
    // while it rises at all, by its level over the quarter before (steadier when a sawtooth
    // or noise makes a quarter's slope unsure; a step just before it leaves it flat).
    // Without a slope for each half (too few points) the window can be stable, not more.
    let quarter_rise = match levels {
        [_, Some(q3), Some(q4)] => q4 - q3,
        _ => f64::NEG_INFINITY,
    };
    let (to_the_end, throughout) = match (early, recent, latest) {
        (Some(early), Some(recent), Some(latest)) => (
            recent >= part_floor
                && (latest >= part_floor
                    || (latest >= HALF_SHARE * threshold
                        && quarter_rise >= part_floor * (end - start) / 4.0))
                && recent >= r * early,
            early >= part_floor && early >= r * recent,
        ),
        _ => (false, false),
    };
    j.decelerating = match levels {
        [Some(q2), Some(q3), Some(q4)] => {
            let (before, last) = (q3 - q2, q4 - q3);
            before > HALF_SHARE * threshold * (end - start) / 4.0 && last < r * before
        }
        _ => false,
    };
    // Flat now: the last quarter rises slower than a leak could.
    let flat_now = latest.is_some_and(|l| l < HALF_SHARE * threshold);
    let rose = trend.p_plain < alpha;
    // Rose by enough to matter, by the fitted line and by the halves' levels.
    let min_rise = threshold * config.min_rise_s;
    let material = slope * j.span() >= min_rise;
    let grew = rose && rise >= threshold * j.span() && rise >= min_rise;
    // Not rising as fast as a leak would, by too little to matter, or with no sign of rising
    // even at a lenient level. (Three points cannot reach the lenient level: they say nothing.)
    let not_rising = slope < threshold || !material || (n > 3 && trend.p_plain > LENIENT_P);
    let fast = rose && slope >= threshold && material;
    let slowing = recent
        .zip(early)
        .is_some_and(|(recent, early)| recent < r * early);
    j.shape = if lone && !not_rising {
        // One tooth so far, and the floor seems to rise: it may be the tooth's own ramp.
        Shape::Unresolved
    } else if lone {
        // One drop in a floor that does not rise (a blip, a cache flushed once): nothing
        // to wait for.
        Shape::Stable
    } else if n >= config.min_points && significant && slope >= threshold && material && to_the_end
    {
        if !interval {
            j.interval = stats::sen_interval(&trend, &mut scratch.slopes);
        }
        j.throughout = throughout;
        Shape::Leak
    } else if grew && flat_now {
        Shape::Plateau
    } else if (grew || fast) && slowing {
        Shape::Slowing
    } else if grew || fast {
        Shape::Rising
    } else if not_rising {
        Shape::Stable
    } else if n >= config.min_points {
        // Perhaps rising a little, not significantly: stable once the window is long enough
        // to have shown a rise (the caller knows how long that is).
        Shape::Unsure
    } else {
        // Too few points (the bottoms of a slow sawtooth).
        Shape::Unresolved
    };
    Some(j)
}

/// The judgement of a floor that has not moved (every value equal), as [`judge`] would make
/// it, with nothing to compute: stable in every window. Most of `top`'s hundreds of groups
/// are such floors, and nearly every count (threads, descriptors, processes) most of the
/// time. `None` when the values differ, or there are too few points to judge.
pub(crate) fn flat(
    points: &[(f64, f64)],
    config: &DetectorConfig,
    alpha: f64,
) -> Option<Judgement> {
    let n = points.len();
    let v = points.first()?.1;
    if n < 4 || points.iter().any(|p| p.1 != v) {
        return None;
    }
    // The points `judge` would keep: groups of k, the oldest remainder left out, each group's
    // first point (all are its minimum).
    let k = n.div_ceil(MAX_POINTS).min(n / 3).max(1);
    let (start, end) = (points[n % k].0, points[n - k].0);
    if end <= start {
        return None;
    }
    Some(Judgement {
        shape: Shape::Stable,
        throughout: false,
        start,
        end,
        points: n / k,
        group: 1,
        slope: 0.0,
        interval: (0.0, 0.0),
        p: 1.0,
        early: 0.0,
        recent: 0.0,
        latest: 0.0,
        decelerating: false,
        rise: 0.0,
        last: v,
        threshold: config.threshold_at(v),
        alpha,
    })
}

/// The intercept of a line of `slope` through `points`: the median of `v − slope·t`.
fn intercept(points: &[(f64, f64)], slope: f64, buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    buf.extend(points.iter().map(|&(t, v)| v - slope * t));
    stats::median_in_place(buf)
}

/// What the big drops of a window of floor points say of a sawtooth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Teeth {
    /// No big drop: the points are the floor.
    None,
    /// Two or more: merge this many consecutive points so each group holds a tooth bottom.
    Group(usize),
    /// Exactly one, clearly not noise, at this index (the first point after it): one tooth's
    /// floor cannot be told from its ramp.
    Lone(usize),
}

/// The teeth of `points`: their big drops, each larger than `material` and than
/// `DROP_FRACTION` of the range of the recent half (the steady state: the early part may hold
/// a start-up peak whose one big fall would dwarf the teeth).
fn teeth(points: &[(f64, f64)], material: f64, diffs: &mut Vec<f64>) -> Teeth {
    if points.len() < 3 {
        return Teeth::None;
    }
    let (lo, hi) = points[points.len() / 2..]
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    let range = hi - lo;
    if range.is_nan() || range <= 0.0 {
        return Teeth::None;
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
    // Spacing between drops, summed and squared, for its regularity.
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for (i, w) in points.windows(2).enumerate() {
        let drop = w[0].1 - w[1].1;
        if drop > big {
            if first.is_some() {
                let gap = (i + 1 - last) as f64;
                sum += gap;
                sum_sq += gap * gap;
            }
            first.get_or_insert(i + 1);
            last = i + 1;
            drops += 1;
            deepest = deepest.max(drop);
        }
    }
    if drops >= REGULAR_DROPS {
        let gaps = (drops - 1) as f64;
        let mean = sum / gaps;
        let cv = ((sum_sq / gaps - mean * mean).max(0.0)).sqrt() / mean;
        if cv > REGULAR_CV {
            return Teeth::None;
        }
    }
    match first {
        Some(first) if drops >= 2 => {
            let period = (last - first) as f64 / (drops - 1) as f64;
            Teeth::Group(((GROUP_PERIODS * period).ceil() as usize).max(1))
        }
        Some(first) if deepest > LONE_TOOTH * typical => Teeth::Lone(first),
        _ => Teeth::None,
    }
}

/// How much the slowest leak would add over `points`, a quarter of it: teeth smaller than
/// that cannot fake a leak, so only bigger drops count as teeth.
fn material(points: &[(f64, f64)], config: &DetectorConfig) -> f64 {
    let span = points.last().map_or(0.0, |p| p.0) - points.first().map_or(0.0, |p| p.0);
    0.25 * config.threshold_at(points.last().map_or(0.0, |p| p.1)) * span
}

/// The teeth of `points`, with the smallest group size whose minima show no teeth left.
///
/// The drops' spacing overestimates the period when buckets alias the teeth (a bucket now and
/// then misses a tooth's bottom, and only those stand out): a pair may already hold a bottom
/// each.
pub(crate) fn saw(points: &[(f64, f64)], config: &DetectorConfig, scratch: &mut Scratch) -> Teeth {
    let material = material(points, config);
    match teeth(points, material, &mut scratch.numbers) {
        Teeth::Group(to) => {
            for k in 2..to {
                group_minima(points, k, &mut scratch.grouped);
                if teeth(&scratch.grouped, material, &mut scratch.numbers) == Teeth::None {
                    return Teeth::Group(k);
                }
            }
            Teeth::Group(to)
        }
        other => other,
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
            min_rise_s: 0.0,
            ..DetectorConfig::default()
        }
    }

    fn judge_default(points: &[(f64, f64)]) -> Judgement {
        judge(
            points,
            &config(),
            0.001,
            true,
            None,
            &mut Scratch::default(),
        )
        .unwrap()
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
    fn a_flat_floor_is_judged_as_judge_would() {
        let cfg = config();
        for n in [4, 10, 48, 100] {
            let pts: Vec<_> = (0..n).map(|i| (i as f64 * 2.0, 7.0)).collect();
            let fast = flat(&pts, &cfg, 0.001).expect("a flat floor");
            let full = judge(&pts, &cfg, 0.001, true, None, &mut Scratch::default()).unwrap();
            assert_eq!(fast.shape, full.shape, "{n} points");
            assert_eq!(
                (fast.slope, fast.interval, fast.p, fast.rise, fast.last),
                (full.slope, full.interval, full.p, full.rise, full.last),
                "{n} points"
            );
            assert_eq!((fast.points, fast.group), (full.points, full.group));
            assert_eq!((fast.start, fast.end), (full.start, full.end), "{n} points");
        }
        let mut moved: Vec<_> = (0..10).map(|i| (i as f64, 7.0)).collect();
        moved[9].1 = 8.0;
        assert!(flat(&moved, &cfg, 0.001).is_none());
    }

    #[test]
    fn a_rise_too_small_to_matter_is_stable() {
        // 5 a second for 39 s is fast enough, but adds 195: less than 200 s of the slowest leak.
        let pts: Vec<_> = (0..40)
            .map(|i| (i as f64, 100.0 + 5.0 * i as f64))
            .collect();
        let cfg = DetectorConfig {
            min_rise_s: 200.0,
            ..config()
        };
        let j = judge(&pts, &cfg, 0.001, true, None, &mut Scratch::default()).unwrap();
        assert_eq!(j.shape, Shape::Stable);
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
