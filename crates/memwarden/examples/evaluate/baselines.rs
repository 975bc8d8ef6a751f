//! The two rules the detector must beat (DESIGN §5), streaming like it.

use std::collections::VecDeque;

/// S4's rule: "RSS grew > 30 MB within 60 s" — the current value exceeds the smallest value
/// of the last 60 s by more than 30 MB.
pub struct WindowRise {
    window_s: f64,
    rise: f64,
    /// Candidates for the window minimum: increasing values, oldest first.
    mins: VecDeque<(f64, f64)>,
}

impl WindowRise {
    /// S4's figures: 30 MB (decimal, as written) within 60 s.
    pub fn s4() -> Self {
        WindowRise {
            window_s: 60.0,
            rise: 30e6,
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
/// the minimum rate.
pub struct LeastSquares {
    min_rate: f64,
    n: f64,
    mean_t: f64,
    mean_v: f64,
    // Co-moments (Welford), numerically stable over long runs.
    stt: f64,
    stv: f64,
    svv: f64,
}

impl LeastSquares {
    /// One-sided 0.1 % critical value of the normal distribution.
    const T_CRIT: f64 = 3.090_232;

    /// The rule with the given minimum rate (units/s).
    pub fn new(min_rate: f64) -> Self {
        LeastSquares {
            min_rate,
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
        if self.n < 3.0 || self.stt <= 0.0 {
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
        slope >= self.min_rate && t_stat > Self::T_CRIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s4_fires_on_30mb_in_a_minute() {
        let mut r = WindowRise::s4();
        assert!(!(0..60).any(|i| r.push(i as f64, 1e8 + i as f64 * 0.4e6)));
        let mut r = WindowRise::s4();
        assert!((0..60).any(|i| r.push(i as f64, 1e8 + i as f64 * 0.6e6)));
    }

    #[test]
    fn least_squares_fires_on_a_line() {
        let mut r = LeastSquares::new(1.0);
        assert!((0..100).any(|i| r.push(i as f64, 5.0 * i as f64 + (i % 3) as f64)));
    }
}
