//! Running the detector and the baselines over the corpus, and scoring their calls.

use memwarden::detect::{Detector, DetectorConfig, VerdictKind};

use crate::baselines::{LeastSquares, WindowRise};
use crate::synth::Labeled;

/// A tuned baseline's sweep: its name, the settings tried, and their calls.
pub struct Sweep {
    pub name: String,
    pub rules: Vec<Rule>,
    pub calls: Vec<Vec<Option<f64>>>,
}

/// A baseline rule with its knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// "RSS grew > `rise` bytes within `window_s`" (S4's: 30 MB within 60 s).
    Rise { window_s: f64, rise: f64 },
    /// Least-squares slope over all samples ≥ `min_rate` at t > `t_crit`, judged from
    /// `min_span_s` on.
    LeastSquares {
        min_rate: f64,
        t_crit: f64,
        min_span_s: f64,
    },
}

impl Rule {
    /// S4's rule as written.
    pub fn s4() -> Rule {
        Rule::Rise {
            window_s: 60.0,
            rise: 30e6,
        }
    }

    /// Least squares as specified: p < 0.001, the detector's minimum rate, from the start.
    pub fn least_squares(min_rate: f64) -> Rule {
        Rule::LeastSquares {
            min_rate,
            t_crit: 3.090_232,
            min_span_s: 0.0,
        }
    }

    /// Its knobs in words.
    pub fn describe(&self) -> String {
        match *self {
            Rule::Rise { window_s, rise } => {
                format!("> {:.0} MB in {}", rise / 1e6, seconds(window_s))
            }
            Rule::LeastSquares {
                min_rate,
                t_crit,
                min_span_s,
            } => format!(
                "≥ {}, t > {t_crit:.1}, after {}",
                memwarden::units::format_rate(min_rate),
                seconds(min_span_s)
            ),
        }
    }

    fn start(&self) -> Running {
        match *self {
            Rule::Rise { window_s, rise } => Running::Rise(WindowRise::new(window_s, rise)),
            Rule::LeastSquares {
                min_rate,
                t_crit,
                min_span_s,
            } => Running::Ls(LeastSquares::tuned(min_rate, t_crit, min_span_s)),
        }
    }
}

enum Running {
    Rise(WindowRise),
    Ls(LeastSquares),
}

impl Running {
    fn push(&mut self, t: f64, v: f64) -> bool {
        match self {
            Running::Rise(r) => r.push(t, v),
            Running::Ls(r) => r.push(t, v),
        }
    }
}

/// One method's first leak call on each trace of the corpus (in corpus order).
#[derive(Debug, Clone)]
pub struct Method {
    /// Name for tables.
    pub name: String,
    /// First time it called leak on each trace, if ever.
    pub calls: Vec<Option<f64>>,
}

/// The detector's two verdicts on one trace, read at its end.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The final verdict.
    pub final_kind: VerdictKind,
    pub final_reason: String,
    /// The live verdict at the end.
    pub live_kind: VerdictKind,
    pub live_reason: String,
    /// When the live verdict took its leak call back, if it did.
    pub revised_at: Option<f64>,
}

/// Runs the detector with `config` over every trace: the live verdict's first leak calls (the
/// method scored against the baselines) and both verdicts at the end.
pub fn run_detector(corpus: &[Labeled], config: &DetectorConfig) -> (Method, Vec<Judged>) {
    let mut calls = Vec::with_capacity(corpus.len());
    let mut judged = Vec::with_capacity(corpus.len());
    for trace in corpus {
        let mut d = Detector::new(config.clone());
        for &(t, v) in &trace.points {
            d.push(t, v);
        }
        let live = d.verdict();
        let done = d.final_verdict(None);
        calls.push(live.detected_at_s);
        judged.push(Judged {
            final_kind: done.kind,
            final_reason: done.reason,
            live_kind: live.kind,
            live_reason: live.reason,
            revised_at: live.revised_at_s,
        });
    }
    let method = Method {
        name: "memwarden live verdict".to_string(),
        calls,
    };
    (method, judged)
}

/// The final verdict's outcome on one trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalOutcome {
    /// A leak called leak.
    Hit,
    /// A leak not called.
    Miss,
    /// A non-leak called leak.
    Wrong,
    /// A non-leak not called.
    Right,
    /// Either answer is right (a fill whose flat tail is too short to see).
    Either,
}

pub fn final_outcome(trace: &Labeled, kind: VerdictKind) -> FinalOutcome {
    let called = kind == VerdictKind::Leak;
    match (trace.final_leak, called) {
        (None, _) => FinalOutcome::Either,
        (Some(true), true) => FinalOutcome::Hit,
        (Some(true), false) => FinalOutcome::Miss,
        (Some(false), true) => FinalOutcome::Wrong,
        (Some(false), false) => FinalOutcome::Right,
    }
}

/// Counts of the final verdict's outcomes over a subset of the corpus.
#[derive(Debug, Clone, Copy, Default)]
pub struct FinalStats {
    pub traces: usize,
    pub hits: usize,
    pub misses: usize,
    pub wrong: usize,
    pub either: usize,
}

impl FinalStats {
    /// Share of the scored traces (not `either`) answered right.
    pub fn accuracy(&self) -> f64 {
        let scored = self.traces - self.either;
        (scored - self.misses - self.wrong) as f64 / scored.max(1) as f64
    }

    /// Share of the leaks called.
    pub fn recall(&self) -> f64 {
        self.hits as f64 / (self.hits + self.misses).max(1) as f64
    }
}

/// The final verdict's outcomes over the traces `keep` selects.
pub fn final_stats(
    corpus: &[Labeled],
    judged: &[Judged],
    keep: impl Fn(&Labeled) -> bool,
) -> FinalStats {
    let mut s = FinalStats::default();
    for (t, j) in corpus.iter().zip(judged) {
        if !keep(t) {
            continue;
        }
        s.traces += 1;
        match final_outcome(t, j.final_kind) {
            FinalOutcome::Hit => s.hits += 1,
            FinalOutcome::Miss => s.misses += 1,
            FinalOutcome::Wrong => s.wrong += 1,
            FinalOutcome::Right => {}
            FinalOutcome::Either => s.either += 1,
        }
    }
    s
}

/// Runs each rule over every trace (all rules in one pass over each trace).
pub fn run_rules(corpus: &[Labeled], rules: &[Rule]) -> Vec<Vec<Option<f64>>> {
    let mut calls = vec![Vec::with_capacity(corpus.len()); rules.len()];
    for trace in corpus {
        let mut running: Vec<Running> = rules.iter().map(Rule::start).collect();
        let mut at: Vec<Option<f64>> = vec![None; rules.len()];
        for &(t, v) in &trace.points {
            for (r, a) in running.iter_mut().zip(at.iter_mut()) {
                if a.is_none() && r.push(t, v) {
                    *a = Some(t);
                }
            }
        }
        for (c, a) in calls.iter_mut().zip(at) {
            c.push(a);
        }
    }
    calls
}

/// Outcome of one method on one trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Leak called at or after the leak started.
    Hit,
    /// Leak trace never called.
    Miss,
    /// Leak called before the leak started (it reacted to something else).
    Premature,
    /// Non-leak called leak.
    FalseAlarm,
    /// Non-leak not called.
    Quiet,
}

pub fn outcome(trace: &Labeled, call: Option<f64>) -> Outcome {
    match (trace.leak, call) {
        (true, Some(at)) if at >= trace.leak_start => Outcome::Hit,
        (true, Some(_)) => Outcome::Premature,
        (true, None) => Outcome::Miss,
        (false, Some(_)) => Outcome::FalseAlarm,
        (false, None) => Outcome::Quiet,
    }
}

/// Counts and latencies of one method over a subset of the corpus.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub traces: usize,
    pub hits: usize,
    pub misses: usize,
    /// Non-leaks called leak.
    pub false_alarms: usize,
    /// Leaks called before they began.
    pub premature: usize,
    /// Latency (call minus leak start) on each hit, sorted.
    pub latency: Vec<f64>,
}

impl Stats {
    /// False alarms of both kinds.
    pub fn wrong_calls(&self) -> usize {
        self.false_alarms + self.premature
    }

    /// Share of traces answered right.
    pub fn accuracy(&self) -> f64 {
        let wrong = self.misses + self.wrong_calls();
        (self.traces - wrong) as f64 / self.traces.max(1) as f64
    }

    pub fn median(&self) -> Option<f64> {
        quantile(&self.latency, 0.5)
    }

    pub fn p90(&self) -> Option<f64> {
        quantile(&self.latency, 0.9)
    }
}

/// Stats of `calls` over the traces `keep` selects.
pub fn stats(corpus: &[Labeled], calls: &[Option<f64>], keep: impl Fn(&Labeled) -> bool) -> Stats {
    let mut s = Stats::default();
    for (trace, &call) in corpus.iter().zip(calls) {
        if !keep(trace) {
            continue;
        }
        s.traces += 1;
        match outcome(trace, call) {
            Outcome::Hit => {
                s.hits += 1;
                s.latency.push(call.unwrap() - trace.leak_start);
            }
            Outcome::Miss => s.misses += 1,
            Outcome::Premature => s.premature += 1,
            Outcome::FalseAlarm => s.false_alarms += 1,
            Outcome::Quiet => {}
        }
    }
    s.latency.sort_by(f64::total_cmp);
    s
}

/// Two methods on the leaks both caught (in time), over the traces `keep` selects.
#[derive(Debug, Clone, Default)]
pub struct Paired {
    /// Latencies of the first and of the second method, each sorted.
    pub ours: Vec<f64>,
    pub theirs: Vec<f64>,
    /// Leaks on which the first called later / earlier than the second.
    pub later: usize,
    pub earlier: usize,
    /// Leaks only the first / only the second caught.
    pub only_ours: usize,
    pub only_theirs: usize,
}

pub fn paired(
    corpus: &[Labeled],
    ours: &[Option<f64>],
    theirs: &[Option<f64>],
    keep: impl Fn(&Labeled) -> bool,
) -> Paired {
    let mut p = Paired::default();
    for ((trace, &a), &b) in corpus.iter().zip(ours).zip(theirs) {
        if !keep(trace) {
            continue;
        }
        match (outcome(trace, a), outcome(trace, b)) {
            (Outcome::Hit, Outcome::Hit) => {
                let (a, b) = (a.unwrap(), b.unwrap());
                p.ours.push(a - trace.leak_start);
                p.theirs.push(b - trace.leak_start);
                if a > b {
                    p.later += 1;
                } else if a < b {
                    p.earlier += 1;
                }
            }
            (Outcome::Hit, _) => p.only_ours += 1,
            (_, Outcome::Hit) => p.only_theirs += 1,
            _ => {}
        }
    }
    p.ours.sort_by(f64::total_cmp);
    p.theirs.sort_by(f64::total_cmp);
    p
}

/// The candidates a baseline is tuned over: S4's rule with larger rises and longer windows.
pub fn rise_candidates() -> Vec<Rule> {
    let mut out = Vec::new();
    for window_s in [10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0] {
        for mb in [
            30.0, 50.0, 100.0, 200.0, 300.0, 500.0, 700.0, 1000.0, 1500.0, 2000.0,
        ] {
            out.push(Rule::Rise {
                window_s,
                rise: mb * 1e6,
            });
        }
    }
    out
}

/// Least squares with a larger minimum rate (× 1 to × 256 the detector's), a stricter t and a
/// minimum span from the first sample.
pub fn least_squares_candidates(min_rate: f64) -> Vec<Rule> {
    let mut out = Vec::new();
    for factor in [1.0, 4.0, 16.0, 64.0, 256.0] {
        for t_crit in [3.09, 10.0, 30.0, 100.0, 300.0] {
            for min_span_s in [0.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0] {
                out.push(Rule::LeastSquares {
                    min_rate: min_rate * factor,
                    t_crit,
                    min_span_s,
                });
            }
        }
    }
    out
}

/// The candidate that catches most leaks with at most `budget` wrong calls (then the lowest
/// median latency); `None` when none stays within the budget.
pub fn tune(corpus: &[Labeled], calls: &[Vec<Option<f64>>], budget: usize) -> Option<usize> {
    let mut best: Option<(usize, usize, f64)> = None;
    for (i, c) in calls.iter().enumerate() {
        let s = stats(corpus, c, |_| true);
        if s.wrong_calls() > budget {
            continue;
        }
        let median = s.median().unwrap_or(f64::INFINITY);
        let better = match best {
            None => true,
            Some((_, hits, m)) => s.hits > hits || (s.hits == hits && median < m),
        };
        if better {
            best = Some((i, s.hits, median));
        }
    }
    best.map(|b| b.0)
}

/// The candidates no other beats on both wrong calls and leaks caught, fewest wrong calls
/// first: `(index, stats)`.
pub fn frontier(corpus: &[Labeled], calls: &[Vec<Option<f64>>]) -> Vec<(usize, Stats)> {
    let all: Vec<Stats> = calls.iter().map(|c| stats(corpus, c, |_| true)).collect();
    let mut out: Vec<(usize, Stats)> = Vec::new();
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by(|&a, &b| {
        (all[a].wrong_calls(), std::cmp::Reverse(all[a].hits))
            .cmp(&(all[b].wrong_calls(), std::cmp::Reverse(all[b].hits)))
            .then(
                all[a]
                    .median()
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&all[b].median().unwrap_or(f64::INFINITY)),
            )
    });
    let mut best_hits = None;
    for i in order {
        if best_hits.is_none_or(|h| all[i].hits > h) {
            best_hits = Some(all[i].hits);
            out.push((i, all[i].clone()));
        }
    }
    out
}

pub fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[i])
}

pub fn seconds(s: f64) -> String {
    memwarden::units::format_seconds(s)
}
