//! The two rules the detector must beat (S4's "grew > 30 MB within 60 s" and a least-squares
//! slope), streaming like it, with the knobs the evaluation turns to make them as cautious as
//! the detector.

use std::collections::VecDeque;

/// S4's rule, "RSS grew > 30 MB within 60 s", with the rise and the window as knobs: fires
/// when the current value exceeds the smallest value of the last window by more than the rise.
pub struct WindowRise {
    window_s: f64,
    rise: f64,
    /// Candidates for the window minimum: increasing values, oldest first.
    mins: VecDeque<(f64, f64)>,
}

impl WindowRise {
    /// Fires when the value exceeds the smallest of the last `window_s` seconds by more than
    /// `rise`.
    pub fn new(window_s: f64, rise: f64) -> Self {
        WindowRise {
            window_s,
            rise,
            mins: VecDeque::new(),
        }
    }

    /// Adds a sample; true when the rule fires.
    pub fn push(&mut self, t: f64, v: f64) -> bool {
        while self
            .mins
            .front()
            .is_some_and(|&(ft, _)| ft < t - self.window_s)
        {
            self.mins.pop_front();
        }
        while self.mins.back().is_some_and(|&(_, bv)| bv >= v) {
            self.mins.pop_back();
        }
        self.mins.push_back((t, v));
        let min = self.mins.front().map_or(v, |m| m.1);
        v - min > self.rise
    }
}

/// Least-squares slope over all samples, with a t-test: fires when the slope is positive at
/// one-sided p < 0.001 (t > 3.09; the samples are many, so t is taken as normal) and at least
/// the minimum rate. Tuned: a larger critical t, a larger minimum rate, and no call before
/// `min_span_s` from the first sample.
pub struct LeastSquares {
    min_rate: f64,
    t_crit: f64,
    min_span_s: f64,
    first_t: Option<f64>,
    n: f64,
    mean_t: f64,
    mean_v: f64,
    // Co-moments (Welford), numerically stable over long runs.
    stt: f64,
    stv: f64,
    svv: f64,
}

impl LeastSquares {
    /// The rule with a minimum rate, a critical t and a minimum span from the first sample.
    pub fn tuned(min_rate: f64, t_crit: f64, min_span_s: f64) -> Self {
        LeastSquares {
            min_rate,
            t_crit,
            min_span_s,
            first_t: None,
            n: 0.0,
            mean_t: 0.0,
            mean_v: 0.0,
            stt: 0.0,
            stv: 0.0,
            svv: 0.0,
        }
    }

    /// Adds a sample; true when the rule fires.
    pub fn push(&mut self, t: f64, v: f64) -> bool {
        self.n += 1.0;
        let dt = t - self.mean_t;
        let dv = v - self.mean_v;
        self.mean_t += dt / self.n;
        self.mean_v += dv / self.n;
        self.stt += dt * (t - self.mean_t);
        self.stv += dt * (v - self.mean_v);
        self.svv += dv * (v - self.mean_v);
        let first = *self.first_t.get_or_insert(t);
        if self.n < 3.0 || self.stt <= 0.0 || t - first < self.min_span_s {
            return false;
        }
        let slope = self.stv / self.stt;
        let resid = (self.svv - slope * self.stv).max(0.0) / (self.n - 2.0);
        let se = (resid / self.stt).sqrt();
        let t_stat = if se > 0.0 {
            slope / se
        } else {
            f64::INFINITY * slope.signum()
        };
        slope >= self.min_rate && t_stat > self.t_crit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s4_fires_on_30mb_in_a_minute() {
        let mut r = WindowRise::new(60.0, 30e6);
        assert!(!(0..60).any(|i| r.push(i as f64, 1e8 + i as f64 * 0.4e6)));
        let mut r = WindowRise::new(60.0, 30e6);
        assert!((0..60).any(|i| r.push(i as f64, 1e8 + i as f64 * 0.6e6)));
    }

    #[test]
    fn least_squares_fires_on_a_line() {
        let mut r = LeastSquares::tuned(1.0, 3.09, 0.0);
        assert!((0..100).any(|i| r.push(i as f64, 5.0 * i as f64 + (i % 3) as f64)));
    }
}
