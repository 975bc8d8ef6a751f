//! Robust trend statistics over a handful of floor points: Theil–Sen slope with Sen's
//! confidence interval, and the Mann–Kendall test for a monotonic trend.
//!
//! Both are rank-based, so one wild point (a GC pause, a page-in burst) cannot drag them;
//! both cost O(n²) in the number of points, which the floor keeps small (≤ a few hundred).

/// z of the two-sided 95 % normal interval, used for the slope's confidence interval.
const Z_95: f64 = 1.959_963_984_540_054;
/// Largest lag-1 autocorrelation credited, so a smooth trend's residuals cannot erase it.
const MAX_RHO: f64 = 0.8;

/// Trend of a series: Theil–Sen slope and the Mann–Kendall test, from one pass over the pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Trend {
    /// Median of the pairwise slopes (units per second).
    pub slope: f64,
    /// Mann–Kendall S: concordant minus discordant pairs.
    pub s: i64,
    /// Variance of S under "no trend", corrected for ties and for serial correlation.
    pub var: f64,
    /// The same, corrected for ties only.
    pub plain_var: f64,
    /// Probability of an S at least this large when there is no trend (one-sided), with the
    /// variance corrected for serial correlation: the strict test a leak must pass.
    pub p_increasing: f64,
    /// The same without the serial correction: whether the series rose at all. (A shape that
    /// is not a line, a step or a filled cache, leaves correlated residuals around the slope;
    /// the correction would wrongly discount it.)
    pub p_plain: f64,
}

/// Theil–Sen slope and Mann–Kendall test of `points` (time, value) in time order.
///
/// Pairs with equal times carry no slope and are skipped by Theil–Sen (not by Mann–Kendall,
/// which only needs the order). `None` for fewer than three points or no two distinct times.
/// `slopes` is left holding every pairwise slope (reordered), for [`sen_interval`]; `values`
/// is a work buffer. Both are reused so a long run does not allocate per look.
pub(crate) fn trend(
    points: &[(f64, f64)],
    slopes: &mut Vec<f64>,
    values: &mut Vec<f64>,
) -> Option<Trend> {
    if points.len() < 3 {
        return None;
    }
    slopes.clear();
    let mut s: i64 = 0;
    for (i, &(ti, vi)) in points.iter().enumerate() {
        for &(tj, vj) in &points[i + 1..] {
            let dv = vj - vi;
            s += sign(dv);
            let dt = tj - ti;
            if dt != 0.0 {
                slopes.push(dv / dt);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    let slope = median_in_place(slopes);
    let plain_var = mann_kendall_var(points, values);
    let mut trend = Trend {
        slope,
        s,
        var: plain_var,
        plain_var,
        p_increasing: 1.0,
        p_plain: p_value(s, plain_var),
    };
    trend.allow_for_serial_correlation(points, |t| slope * t);
    Some(trend)
}

impl Trend {
    /// Widens the variance of S for the serial correlation of the points' residuals around
    /// `fit` (a line, or a line per half when the rise bends), and sets `p_increasing` from it.
    pub(crate) fn allow_for_serial_correlation(
        &mut self,
        points: &[(f64, f64)],
        fit: impl Fn(f64) -> f64,
    ) {
        self.var = self.plain_var * serial_inflation(points, fit);
        self.p_increasing = p_value(self.s, self.var);
    }
}

/// One-sided p-value of Mann–Kendall's S with variance `var`.
fn p_value(s: i64, var: f64) -> f64 {
    if var <= 0.0 {
        // Every value tied: no evidence of any trend.
        1.0
    } else {
        // Continuity correction: S moves in steps of 2.
        normal_sf((s - s.signum()) as f64 / var.sqrt())
    }
}

/// How much serial correlation inflates Var(S): (1 + ρ₁)/(1 − ρ₁), ρ₁ the lag-1
/// autocorrelation of the residuals around `fit` (an effective-sample-size correction).
///
/// Memory that wanders with load stays high or low for a while; neighbours then agree more
/// than independent points would, and the plain test takes a wander for a trend.
fn serial_inflation(points: &[(f64, f64)], fit: impl Fn(f64) -> f64) -> f64 {
    let n = points.len() as f64;
    let mean = points.iter().map(|&(t, v)| v - fit(t)).sum::<f64>() / n;
    let resid = |&(t, v): &(f64, f64)| v - fit(t) - mean;
    let var: f64 = points.iter().map(|p| resid(p).powi(2)).sum();
    if !var.is_finite() || var <= 0.0 {
        return 1.0;
    }
    let cov: f64 = points.windows(2).map(|w| resid(&w[0]) * resid(&w[1])).sum();
    let rho = (cov / var).clamp(0.0, MAX_RHO);
    (1.0 + rho) / (1.0 - rho)
}

/// Sen's rank-based 95 % interval for the slope of `trend`, from the `slopes` [`trend`] left.
///
/// The interval's ends are the slopes ranked (N ∓ C)/2 with C = z·sqrt(Var S) (Sen 1968).
pub(crate) fn sen_interval(trend: &Trend, slopes: &mut [f64]) -> (f64, f64) {
    let n = slopes.len();
    if n == 0 {
        return (trend.slope, trend.slope);
    }
    let c = Z_95 * trend.var.sqrt();
    let lower_rank = (((n as f64 - c) / 2.0).floor().max(0.0) as usize).min(n - 1);
    let upper_rank = (((n as f64 + c) / 2.0).ceil() as usize).min(n - 1);
    let lo = *slopes.select_nth_unstable_by(lower_rank, f64::total_cmp).1;
    let hi = *slopes.select_nth_unstable_by(upper_rank, f64::total_cmp).1;
    (lo.min(trend.slope), hi.max(trend.slope))
}

/// Theil–Sen slope alone (no test, no interval); `None` without two distinct times.
pub(crate) fn theil_sen_slope(points: &[(f64, f64)], slopes: &mut Vec<f64>) -> Option<f64> {
    slopes.clear();
    for (i, &(ti, vi)) in points.iter().enumerate() {
        for &(tj, vj) in &points[i + 1..] {
            let dt = tj - ti;
            if dt != 0.0 {
                slopes.push((vj - vi) / dt);
            }
        }
    }
    (!slopes.is_empty()).then(|| median_in_place(slopes))
}

/// Median of the values of `points` (by value), or `None` when empty.
pub(crate) fn median_value(points: &[(f64, f64)], scratch: &mut Vec<f64>) -> Option<f64> {
    scratch.clear();
    scratch.extend(points.iter().map(|p| p.1));
    if scratch.is_empty() {
        None
    } else {
        Some(median_in_place(scratch))
    }
}

/// Probability that a standard normal variable exceeds `z`.
pub(crate) fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

fn sign(d: f64) -> i64 {
    if d > 0.0 {
        1
    } else if d < 0.0 {
        -1
    } else {
        0
    }
}

/// Var(S) = [n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18, the sum over groups of tied values.
fn mann_kendall_var(points: &[(f64, f64)], values: &mut Vec<f64>) -> f64 {
    let n = points.len() as f64;
    values.clear();
    values.extend(points.iter().map(|p| p.1));
    values.sort_unstable_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut run = 1.0;
    for w in values.windows(2) {
        if w[0] == w[1] {
            run += 1.0;
        } else {
            ties += run * (run - 1.0) * (2.0 * run + 5.0);
            run = 1.0;
        }
    }
    ties += run * (run - 1.0) * (2.0 * run + 5.0);
    ((n * (n - 1.0) * (2.0 * n + 5.0) - ties) / 18.0).max(0.0)
}

/// Median of a non-empty slice, reordering it.
pub(crate) fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    let mid = n / 2;
    let upper = *v.select_nth_unstable_by(mid, f64::total_cmp).1;
    if n % 2 == 1 {
        upper
    } else {
        // After the selection every element left of `mid` is ≤ the upper middle.
        let lower = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// Complementary error function, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
///
/// The form `poly(t)·exp(−x²)` keeps a good relative accuracy in the tail, which is where
/// small p-values live; that is all the significance test needs.
fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    poly * (-x * x).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: usize, slope: f64) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| (i as f64, 10.0 + slope * i as f64))
            .collect()
    }

    fn trend_of(points: &[(f64, f64)]) -> Option<(Trend, (f64, f64))> {
        let (mut slopes, mut values) = (Vec::new(), Vec::new());
        let t = trend(points, &mut slopes, &mut values)?;
        Some((t, sen_interval(&t, &mut slopes)))
    }

    #[test]
    fn theil_sen_recovers_a_line_exactly() {
        let (t, ci) = trend_of(&line(20, 3.0)).unwrap();
        assert_eq!(t.slope, 3.0);
        assert_eq!(ci, (3.0, 3.0));
        assert_eq!(theil_sen_slope(&line(20, 3.0), &mut Vec::new()), Some(3.0));
    }

    #[test]
    fn theil_sen_ignores_a_few_outliers() {
        let mut pts = line(30, 2.0);
        pts[5].1 += 1000.0;
        pts[17].1 -= 5000.0;
        pts[29].1 += 1e9;
        let (t, (lo, hi)) = trend_of(&pts).unwrap();
        assert!((t.slope - 2.0).abs() < 1e-9, "{t:?}");
        assert!(lo <= 2.0 && hi >= 2.0);
    }

    #[test]
    fn theil_sen_interval_widens_with_noise() {
        // A slope of 1 plus deterministic pseudo-random noise in [-5, 5).
        let mut x: u64 = 12345;
        let pts: Vec<_> = (0..40)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                (i as f64, i as f64 + (u - 0.5) * 10.0)
            })
            .collect();
        let (t, (lo, hi)) = trend_of(&pts).unwrap();
        assert!(lo < t.slope && t.slope < hi, "{t:?} {lo} {hi}");
        assert!(lo < 1.0 && hi > 1.0, "{lo} {hi}");
    }

    #[test]
    fn a_trend_needs_three_points_and_two_distinct_times() {
        assert!(trend_of(&[]).is_none());
        assert!(trend_of(&[(1.0, 2.0), (2.0, 3.0)]).is_none());
        assert!(trend_of(&[(1.0, 2.0), (1.0, 5.0), (1.0, 7.0)]).is_none());
        assert_eq!(theil_sen_slope(&[(1.0, 2.0)], &mut Vec::new()), None);
    }

    #[test]
    fn mann_kendall_of_a_rising_line_is_significant() {
        let (t, _) = trend_of(&line(10, 1.0)).unwrap();
        assert_eq!(t.s, 45);
        assert!((t.var - 125.0).abs() < 1e-9);
        assert!(t.p_increasing < 0.001, "{t:?}");
    }

    #[test]
    fn mann_kendall_of_flat_or_falling_data_is_not() {
        let flat: Vec<_> = (0..20).map(|i| (i as f64, 7.0)).collect();
        let (t, _) = trend_of(&flat).unwrap();
        assert_eq!((t.s, t.var, t.p_increasing), (0, 0.0, 1.0));
        let (falling, _) = trend_of(&line(20, -1.0)).unwrap();
        assert!(falling.p_increasing > 0.999);
    }

    #[test]
    fn ties_reduce_the_variance() {
        let pts: Vec<_> = (0..12).map(|i| (i as f64, (i / 3) as f64)).collect();
        let (t, _) = trend_of(&pts).unwrap();
        let untied = 12.0 * 11.0 * 29.0 / 18.0;
        // Four groups of three ties: each removes 3·2·11 = 66.
        assert!((t.var - (untied - 4.0 * 66.0 / 18.0)).abs() < 1e-9);
    }

    #[test]
    fn normal_tail_matches_known_values() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_sf(3.090_232) - 0.001).abs() < 1e-6);
        assert!((normal_sf(-1.644_854) - 0.95).abs() < 1e-6);
        assert!(normal_sf(40.0) >= 0.0);
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        let mut s = Vec::new();
        assert_eq!(
            median_value(&[(0.0, 3.0), (1.0, 1.0), (2.0, 2.0)], &mut s),
            Some(2.0)
        );
        assert_eq!(
            median_value(&[(0.0, 4.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0)], &mut s),
            Some(2.5)
        );
        assert_eq!(median_value(&[], &mut s), None);
    }
}
