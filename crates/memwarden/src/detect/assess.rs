//! One look at the floor: judge the windows that end now (all of it after warm-up, its last
//! half, quarter, …, and the shortest window that can be judged) and say what they show.
//!
//! The live and the final verdict look the same way and differ in one rule only: the live
//! verdict calls a leak once a window at least `min_span_s` long has risen steadily all
//! through (a cache that fills rises the same way until it is full), and reports a shorter
//! steady rise as *rising*; the final verdict, once the run is over, calls any window still
//! rising steadily at its end a leak, whatever its length.

use super::config::DetectorConfig;
use super::judge::{self, Judgement, Scratch, Shape, Teeth};

/// Most windows judged at each look; their significance is split between them (Bonferroni).
const MAX_WINDOWS: usize = 8;

/// The final verdict tests at this many times `significance`: it is one decision per run,
/// where the live verdict looks again at every bucket and must be strict at each look.
const FINAL_SIGNIFICANCE_FACTOR: f64 = 3.0;

/// Which verdict a look is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// During the run: a steady rise is a leak only once it has lasted `min_span_s`.
    Live,
    /// Once the run is over: a floor still rising steadily at the end is a leak.
    Final,
}

/// What one look found.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Finding {
    /// Too little floor after warm-up to judge: seconds observed, floor points.
    TooShort { observed: f64, points: usize },
    /// The floor's points have no two distinct times or values to judge.
    Degenerate,
    /// A leak, shown by this window.
    Leak(Judgement),
    /// Rising steadily to the end in this window, not yet long enough to call (live only).
    Rising(Judgement),
    /// No window rises steadily: the whole window's shape says what the floor does.
    Whole(Judgement),
}

/// Judges the floor `points` (time order, warm-up already left out) as of `now`.
pub(crate) fn assess(
    points: &[(f64, f64)],
    observed: f64,
    now: f64,
    cfg: &DetectorConfig,
    mode: Mode,
    scratch: &mut Scratch,
) -> Finding {
    let shortest = match mode {
        Mode::Live => cfg.first_look_s,
        Mode::Final => 0.0,
    };
    if observed < shortest || points.len() < cfg.min_points.max(3) {
        return Finding::TooShort {
            observed: observed.max(0.0),
            points: points.len(),
        };
    }
    if let Some(j) = judge::flat(points, cfg, cfg.significance) {
        return Finding::Whole(j);
    }
    let mut points = points;
    let mut teeth = judge::saw(points, cfg, scratch);
    if let (Mode::Final, Teeth::Lone(i)) = (mode, teeth) {
        // A lone big drop in the last two points is the run's teardown (a program freeing
        // what it holds as it exits), not its floor.
        if i + 2 >= points.len() {
            points = &points[..i];
            teeth = judge::saw(points, cfg, scratch);
        }
    }
    // Every window is grouped as the whole one is: a window shorter than a few teeth would
    // take one tooth's ramp for a leak. (Without regular teeth, a shorter window finds its
    // own: teeth may show only lately.) After a lone tooth, only a window that starts after
    // it and has lasted longer than it is judged: until then the ramp may be another tooth's.
    let group = match teeth {
        Teeth::Group(k) => k,
        _ => 1,
    };
    let teeth_of = |i: usize| (i == 0 || group > 1).then_some(teeth);
    let (starts, tested) = windows(points, now, observed, cfg, mode, shortest, group);
    let starts = &starts[..tested];
    let alpha = match mode {
        Mode::Live => cfg.significance,
        Mode::Final => FINAL_SIGNIFICANCE_FACTOR * cfg.significance,
    } / tested as f64;
    let first = points.first().map_or(now, |p| p.0);
    let mut whole = None;
    let mut rising = None;
    // A rise dying out at the end of the whole window is not a leak in any shorter one: a
    // short window of its tail looks like a line.
    let mut decelerating = false;
    for (i, &start) in starts.iter().enumerate() {
        if let (Teeth::Lone(d), true) = (teeth, i > 0) {
            let drop_at = points[d].0;
            if start < drop_at || now - start < drop_at - first {
                continue;
            }
        }
        let from = points.partition_point(|p| p.0 < start);
        let Some(j) = judge::judge(&points[from..], cfg, alpha, i == 0, teeth_of(i), scratch)
        else {
            continue;
        };
        if i == 0 {
            decelerating = j.decelerating;
            whole = Some(j);
        }
        if j.shape == Shape::Leak && (i == 0 || !decelerating) {
            let callable = match mode {
                Mode::Final => true,
                Mode::Live => j.throughout && j.span() >= cfg.min_span_s,
            };
            if callable {
                return Finding::Leak(j);
            }
            rising.get_or_insert(j);
        }
    }
    match (rising, whole) {
        (Some(j), _) => Finding::Rising(j),
        (None, Some(j)) => Finding::Whole(j),
        (None, None) => Finding::Degenerate,
    }
}

/// Start times of the windows judged, longest first: all of `points`, then its last half,
/// quarter, … while a window holds `min_points` (groups of `group` points) and spans
/// `shortest`; then, when clearly apart from the windows already taken, the last
/// `min_span_s` (live: a leak that began late in a long run is called once it has lasted that
/// long) and the shortest window of `min_points` points (a rise that began late fills it
/// before any halved window).
fn windows(
    points: &[(f64, f64)],
    now: f64,
    observed: f64,
    cfg: &DetectorConfig,
    mode: Mode,
    shortest: f64,
    group: usize,
) -> ([f64; MAX_WINDOWS], usize) {
    let first = points.first().map_or(now, |p| p.0);
    let mut starts = [first; MAX_WINDOWS];
    let mut n = 1;
    // Floor points a window starting then would judge (after merging the teeth).
    let holds = |start: f64| (points.len() - points.partition_point(|p| p.0 < start)) / group;
    for j in 1..MAX_WINDOWS - 2 {
        let start = now - observed / f64::from(1u32 << j);
        if start <= first || now - start < shortest || holds(start) < cfg.min_points {
            break;
        }
        starts[n] = start;
        n += 1;
    }
    let kth = points
        .get(points.len().saturating_sub(group * cfg.min_points.max(1)))
        .map_or(now, |p| p.0);
    let span_window = match mode {
        Mode::Live if now - cfg.min_span_s > first => now - cfg.min_span_s,
        _ => f64::NEG_INFINITY,
    };
    for start in [span_window, kth.min(now - shortest)] {
        // A window no more than a quarter shorter or longer than one already taken adds a
        // test (and splits the significance) for nothing.
        let distinct = starts[..n]
            .iter()
            .all(|&s| (start - s).abs() > 0.25 * (now - start.max(s)));
        if start.is_finite() && distinct && holds(start) >= cfg.min_points {
            starts[n] = start;
            n += 1;
        }
    }
    starts[..n].sort_by(f64::total_cmp);
    (starts, n)
}
