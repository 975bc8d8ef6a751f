//! The Markdown of bench/results/detector-eval.md: the header, the targets, and the live
//! verdict's tables (the final verdict's are in `final_tables`).

use std::fmt::Write as _;

use memwarden::detect::DetectorConfig;

use crate::scoring::{
    final_stats, paired, quantile, seconds, stats, FinalStats, Judged, Method, Stats, Sweep,
};
use crate::synth::{Labeled, FILLS, RATES};

/// Leaks of this rate and faster are the "fast" ones of the latency target.
pub const LEAKS_FROM_FAST: f64 = 16.0 * 1024.0 * 1024.0 / 60.0;

/// One setting of the live verdict's knobs, scored over the corpus.
pub struct CurvePoint {
    pub label: String,
    /// All leaks, and the fast ones.
    pub all: Stats,
    pub fast: Stats,
    /// Wrong calls on fills of four minutes and longer.
    pub long_fills: usize,
    /// Leak calls later revised, on traces that do not leak.
    pub revised: usize,
    /// The final verdict: over the corpus, on the target's leaks of 1 and 2 minutes, and on
    /// all the target's leaks.
    pub final_all: FinalStats,
    pub final_short: [FinalStats; 2],
    pub final_target: FinalStats,
}

/// Everything the report is made of.
pub struct Eval<'a> {
    pub corpus: &'a [Labeled],
    pub synthetic: usize,
    pub config: &'a DetectorConfig,
    /// The live verdict's first leak calls.
    pub live: Method,
    /// Both verdicts at the end of each trace.
    pub judged: Vec<Judged>,
    /// S4's rule and least squares as specified, then each tuned to the live verdict's
    /// wrong calls (when some setting got there).
    pub baselines: Vec<Method>,
    pub sweeps: Vec<Sweep>,
    /// The live verdict with other knobs, the default's row included.
    pub curve: Vec<CurvePoint>,
}

pub fn opt(v: Option<f64>) -> String {
    v.map_or("–".to_string(), seconds)
}

pub fn pct(n: usize, of: usize) -> String {
    format!("{:.0}%", 100.0 * n as f64 / of.max(1) as f64)
}

/// A leak rate as the tables name it.
pub fn rate_label(r: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if r.is_nan() {
        "real".to_string()
    } else if (r - 158e6 / 60.0).abs() < 1.0 {
        "151 MiB/min (158 MB/min, S4's)".to_string()
    } else if r * 60.0 >= 10.0 * MIB {
        format!("{:.0} MiB/min", r * 60.0 / MIB)
    } else if r * 60.0 >= MIB {
        format!("{:.1} MiB/min", r * 60.0 / MIB)
    } else {
        format!("{:.0} MiB/h", r * 3600.0 / MIB)
    }
}

/// Whether a leak is one the final verdict must call: it raised the floor by at least four
/// times the noise's standard deviation (or, when larger, what a start-up still settling adds
/// over the run's second half), at no less than the minimum rate, and a sawtooth over it has
/// at least `min_points` teeth in the judged run (its floor is seen only at their bottoms).
pub fn in_target(t: &Labeled, config: &DetectorConfig) -> bool {
    t.final_leak == Some(true)
        && t.rise >= 4.0 * t.noise.max(t.settling)
        && t.rate >= config.min_rate_per_s
        && (t.period == 0.0 || 0.8 * t.duration / t.period >= config.min_points as f64)
}

/// Synthetic traces of one run length.
pub fn of_length(t: &Labeled, seconds: f64) -> bool {
    t.group != "real" && t.group != "scenario" && (t.duration - seconds).abs() < 1.0
}

/// The run lengths of the synthetic corpus.
pub const LENGTHS: [f64; 6] = [60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0];

/// Whether a leak is called by the end (any time) — for the latency of fast leaks.
fn fast(t: &Labeled) -> bool {
    t.rate >= LEAKS_FROM_FAST
}

impl Eval<'_> {
    /// Title, date, machine, command, corpus and configuration.
    pub fn header(&self, seed: u64, knobs: &[(String, f64)], dirs: &[String]) -> String {
        let c = self.config;
        let samples: usize = self.corpus.iter().map(|t| t.points.len()).sum();
        let mut set: Vec<String> = knobs
            .iter()
            .map(|(k, v)| format!(" --set {k}={v}"))
            .collect();
        set.extend(dirs.iter().map(|d| format!(" {d}")));
        let count = |g: &str| self.corpus.iter().filter(|t| t.group == g).count();
        let fills: Vec<String> = FILLS.iter().map(|&f| seconds(f)).collect();
        let mut md = String::new();
        let _ = writeln!(
            md,
            "# Leak detector evaluation\n\n\
             Date: {} (UTC). Machine: {} CPUs, {}. Command: `bench/evaluate.sh{}` \
             (`cargo run --release -p memwarden --example evaluate -- --out \
             bench/results/detector-eval.md{}`).\n\n\
             Corpus: {} traces, {samples} samples:\n\n\
             - {} synthetic, from seed {seed:#x}: leaks (a line, a line after a flat stretch, a \
             staircase, a GC sawtooth over a rising floor) at {}; and what is not a leak: a \
             sawtooth over a flat floor (periods 3 s to 1 min), a slowing fill (time constant \
             5 s to 40 s), a fill at a steady rate lasting {} (half of them under a sawtooth), \
             one step, noise. Three noise levels (16 KiB, 1 MiB, 4 MiB wandering with a 10 s \
             memory), a start-up ramp (time constant 2 s to 12 s) on half, runs of 1 min at 1 s, \
             2 min at 200 ms (CI's), 5 min at 100 ms, 10 min at 1 s, 20 min at 100 ms and 1 h \
             at 1 s.\n\
             - {} real: the programs of `bench/corpus/real` (see its README), whole and cut to \
             their first minute and two.\n\
             - {} of the scenarios (`scenarios/traces`, recorded under `memwarden run` at \
             200 ms, and at their defaults at 1 s, the CLI's default interval), as recorded \
             and, those at 200 ms, thinned to one sample a second.\n\n\
             Labels. A fill still filling when its trace ends is a leak (nothing in the trace \
             tells it will stop); one that stopped is not, and the final verdict must see its \
             flat tail: a tail shorter than a quarter of the trace leaves either answer right, \
             as does a slowing fill that has not levelled (three time constants) a quarter of \
             the trace before its end, and a sawtooth whose period is longer than two fifths \
             of the trace (one tooth's ramp across the judged run). The live verdict is wrong \
             on a trace that does not leak whenever it called a leak, even if it revised the \
             call later.\n\n\
             Detector: `DetectorConfig::default()` (min rate {}, {}%/h, p<{}, warm-up {} s or \
             {}% of the run; the live verdict calls a steady rise after {}).\n",
            utc_date(),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model(),
            set.concat(),
            set.concat(),
            self.corpus.len(),
            self.synthetic,
            RATES
                .iter()
                .map(|&r| rate_label(r))
                .collect::<Vec<_>>()
                .join(", "),
            fills.join(", "),
            count("real"),
            count("scenario"),
            memwarden::units::format_rate(c.min_rate_per_s),
            c.min_relative_rate_per_h * 100.0,
            c.significance,
            c.warmup_s,
            c.warmup_fraction * 100.0,
            seconds(c.min_span_s),
        );
        md
    }

    /// The targets against the figures.
    /// `throughput`: the slowest of the long streams and the corpus's, samples per second.
    pub fn targets(&self, md: &mut String, throughput: Option<(f64, f64)>) {
        let f = final_stats(self.corpus, &self.judged, |_| true);
        let mut lengths = Vec::new();
        let mut all_met = true;
        for len in LENGTHS {
            let s = final_stats(self.corpus, &self.judged, |t| {
                of_length(t, len) && in_target(t, self.config)
            });
            all_met &= s.recall() >= 0.95;
            lengths.push(format!("{} {:.0}%", seconds(len), 100.0 * s.recall()));
        }
        let (leaky_ok, fixed_ok, scen) = self.scenario_counts();
        let live = stats(self.corpus, &self.live.calls, |_| true);
        let live_fast = stats(self.corpus, &self.live.calls, fast);
        let tuned_p90: Vec<(String, Option<f64>)> = self
            .baselines
            .iter()
            .skip(2)
            .map(|b| {
                let s = stats(self.corpus, &b.calls, fast);
                (b.name.clone(), s.p90())
            })
            .collect();
        let p90_ok = tuned_p90
            .iter()
            .all(|(_, p)| live_fast.p90().unwrap_or(f64::INFINITY) <= p.unwrap_or(f64::INFINITY));
        let met = |ok: bool| if ok { "met" } else { "**not met**" };
        let _ = writeln!(
            md,
            "## Targets\n\n\
             | target | measured | |\n|---|---|---|\n\
             | final: recall ≥ 95 % of the leaks whose rise is ≥ 4× the noise, at every run \
             length from 60 s | {} | {} |\n\
             | final: at most 1 wrong call over the corpus | {} wrong of {} traces that do not \
             leak | {} |\n\
             | final: the five leaky scenarios `leak` at their defaults, the five fixed ones \
             not (at 200 ms and at 1 s) | leaky {leaky_ok} of {scen}, fixed {fixed_ok} of \
             {scen} | {} |\n\
             | live: wrong calls (a non-leak ever called, revised or not) at most 1 | {} | {} \
             |\n\
             | live: median latency ≤ 90 s for leaks of 16 MiB/min and faster | {} | {} |\n\
             | live: p90 latency (same leaks) no later than the tuned baselines' | {} against \
             {} | {} |\n\
             | ≥ 1 M samples/s through the detector | {} | {} |\n",
            lengths.join(", "),
            met(all_met),
            f.wrong,
            self.corpus
                .iter()
                .filter(|t| t.final_leak == Some(false))
                .count(),
            met(f.wrong <= 1),
            met(leaky_ok == scen && fixed_ok == scen),
            live.wrong_calls(),
            met(live.wrong_calls() <= 1),
            opt(live_fast.median()),
            met(live_fast.median().is_some_and(|m| m <= 90.0)),
            opt(live_fast.p90()),
            tuned_p90
                .iter()
                .map(|(n, p)| format!("{} ({n})", opt(*p)))
                .collect::<Vec<_>>()
                .join(", "),
            met(p90_ok),
            throughput.map_or(
                "not measured (--quick)".to_string(),
                |(stream, corpus)| format!(
                    "{:.1} million/s streaming a long trace (the slowest of the intervals \
                 under Throughput); {:.1} million/s over the corpus, a fresh detector per \
                 trace",
                    stream / 1e6,
                    corpus / 1e6
                )
            ),
            throughput.map_or("–", |(stream, _)| met(stream >= 1e6)),
        );
    }

    /// Leaky and fixed scenario traces at their defaults (200 ms and thinned) judged right.
    fn scenario_counts(&self) -> (usize, usize, usize) {
        let default = |t: &&Labeled| t.group == "scenario" && !t.name.contains("-60s");
        let right = |leaky: bool| {
            self.corpus
                .iter()
                .zip(&self.judged)
                .filter(|(t, _)| default(t) && t.leak == leaky)
                .filter(|(_, j)| (j.final_kind == memwarden::detect::VerdictKind::Leak) == leaky)
                .count()
        };
        let n = self.corpus.iter().filter(|t| default(t) && t.leak).count();
        (right(true), right(false), n)
    }

    /// The live verdict against the baselines, as specified and tuned.
    pub fn live_summary(&self, md: &mut String) {
        let leaks = self.corpus.iter().filter(|t| t.leak).count();
        let _ = writeln!(
            md,
            "## Live verdict\n\n\
             During a run the detector reports a steady rise as *rising* (with its rate and the \
             time left before a limit) and calls it a leak once it has lasted `min_span_s` \
             ({}); a call whose floor then levels off is revised to `plateau`. Its latency is \
             the first call's time minus the leak's start; a call on a trace that does not \
             leak, or before its leak began, is wrong, revised or not.\n\n\
             Against S4's rule (RSS grew > 30 MB within 60 s) and a least-squares slope over \
             all samples (positive at p<0.001 and at least the detector's minimum rate), as \
             specified and tuned: each with the setting, among those swept below, that catches \
             the most leaks with no more wrong calls than the live verdict (tuned on this very \
             corpus, which favours them). Fast leaks: {} and faster.\n\n\
             {} traces leak, {} do not.\n\n\
             | method | accuracy | wrong calls (premature) | leaks caught | latency median | p90 | fast leaks caught | fast median | fast p90 |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|",
            seconds(self.config.min_span_s),
            rate_label(LEAKS_FROM_FAST),
            leaks,
            self.corpus.len() - leaks
        );
        for m in std::iter::once(&self.live).chain(&self.baselines) {
            let s = stats(self.corpus, &m.calls, |_| true);
            let f = stats(self.corpus, &m.calls, fast);
            let _ = writeln!(
                md,
                "| {} | {:.1}% | {} ({}) | {} | {} | {} | {} | {} | {} |",
                m.name,
                100.0 * s.accuracy(),
                s.wrong_calls(),
                s.premature,
                s.hits,
                opt(s.median()),
                opt(s.p90()),
                f.hits,
                opt(f.median()),
                opt(f.p90()),
            );
        }
        let _ = writeln!(md);
        let _ = writeln!(
            md,
            "On the leaks both caught (latency median / p90, the live verdict's first):\n\n\
             | against | both caught | fast: both caught | all: median | all: p90 | fast: median | fast: p90 |\n\
             |---|---:|---:|---:|---:|---:|---:|"
        );
        for b in &self.baselines {
            let all = paired(self.corpus, &self.live.calls, &b.calls, |_| true);
            let f = paired(self.corpus, &self.live.calls, &b.calls, fast);
            let q = |v: &[f64], p| opt(quantile(v, p));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} / {} | {} / {} | {} / {} | {} / {} |",
                b.name,
                all.ours.len(),
                f.ours.len(),
                q(&all.ours, 0.5),
                q(&all.theirs, 0.5),
                q(&all.ours, 0.9),
                q(&all.theirs, 0.9),
                q(&f.ours, 0.5),
                q(&f.theirs, 0.5),
                q(&f.ours, 0.9),
                q(&f.theirs, 0.9),
            );
        }
        let _ = writeln!(md);
    }

    /// Latency against wrong calls over the live verdict's knobs.
    pub fn curve(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Latency against wrong calls\n\n\
             The live verdict over its knobs (the rest as the default). A steady fill cannot be \
             told from a leak until it stops, so the span a rise must last before a call \
             decides both columns: every wrong call below the default is a fill of four \
             minutes or more (Redis's real one, and the synthetic ones of 4 and 6 minutes), \
             called and later revised to `plateau`.\n\n\
             | live verdict | wrong calls | of them fills ≥ 4 min | revised later | leaks caught | median | p90 | fast: caught | fast: median | fast: p90 |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for p in &self.curve {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                p.label,
                p.all.wrong_calls(),
                p.long_fills,
                p.revised,
                p.all.hits,
                opt(p.all.median()),
                opt(p.all.p90()),
                p.fast.hits,
                opt(p.fast.median()),
                opt(p.fast.p90()),
            );
        }
        let _ = writeln!(md);
        self.curve_conclusion(md);
    }

    /// The final verdict with other knobs (the span changes nothing in it).
    pub fn final_knobs(&self, md: &mut String) {
        if self.curve.is_empty() {
            return;
        }
        let _ = writeln!(
            md,
            "### The final verdict with other knobs\n\n\
             The rest as the default; `min_span_s` only matters to the live verdict.\n\n\
             | detector | wrong calls | the target's leaks called: 1 min | 2 min | all lengths | all leaks called |\n\
             |---|---:|---:|---:|---:|---:|"
        );
        for p in self
            .curve
            .iter()
            .filter(|p| !p.label.starts_with("min_span_s") || p.label.contains("(the default)"))
        {
            let [a, b] = &p.final_short;
            let _ = writeln!(
                md,
                "| {} | {} | {}/{} | {}/{} | {}/{} | {}/{} |",
                p.label
                    .replace("min_span_s 360 (the default)", "the default"),
                p.final_all.wrong,
                a.hits,
                a.hits + a.misses,
                b.hits,
                b.hits + b.misses,
                p.final_target.hits,
                p.final_target.hits + p.final_target.misses,
                p.final_all.hits,
                p.final_all.hits + p.final_all.misses,
            );
        }
        let _ = writeln!(md);
    }

    /// What the curve says of the latency target, in words computed from it.
    fn curve_conclusion(&self, md: &mut String) {
        let spans: Vec<&CurvePoint> = self
            .curve
            .iter()
            .filter(|p| p.label.starts_with("min_span_s") && !p.label.contains(','))
            .collect();
        let within = |p: &&&CurvePoint| p.all.wrong_calls() <= 1;
        let best = spans.iter().find(within);
        let fast_enough = spans
            .iter()
            .find(|p| p.fast.median().is_some_and(|m| m <= 90.0));
        let (Some(best), Some(fast_enough)) = (best, fast_enough) else {
            return;
        };
        let _ = writeln!(
            md,
            "**What the curve says.** The target asks for a median latency of 90 s on leaks of \
             16 MiB/min and faster with at most one wrong call. The fastest setting within one \
             wrong call is `{}`: median {} on those leaks. Getting the median under 90 s takes \
             `{}` ({}), at {} wrong calls ({} of them fills of four minutes or more, {} later \
             revised). The two cannot be had together on a corpus whose non-leaks include \
             steady fills of 4 and 6 minutes (Redis's real one among them): until such a fill \
             stops it is a leak in every respect, so a call sooner than the longest fill is a \
             wrong call on it. The default is the fastest setting within one wrong call; \
             meanwhile the live verdict reports the rise with its rate and the time left \
             before the limit (what `--act-before` acts on), and the final verdict calls a \
             floor still rising when the run ends, however short the run. Its p90 on those \
             leaks, {}, is earlier than the tuned baselines' (table above).\n",
            best.label,
            opt(best.fast.median()),
            fast_enough.label,
            opt(fast_enough.fast.median()),
            fast_enough.all.wrong_calls(),
            fast_enough.long_fills,
            fast_enough.revised,
            opt(best.fast.p90()),
        );
    }

    /// Per leak rate: how many each method caught and how soon.
    pub fn live_rates(&self, md: &mut String) {
        let methods: Vec<&Method> = std::iter::once(&self.live).chain(&self.baselines).collect();
        let _ = write!(
            md,
            "### By leak rate: leaks caught, median latency on the leaks each caught\n\n| rate | leaks |"
        );
        for m in &methods {
            let _ = write!(md, " {} |", m.name);
        }
        let _ = write!(md, "\n|---|---:|");
        for _ in &methods {
            let _ = write!(md, "---:|");
        }
        let _ = writeln!(md);
        for &rate in &RATES {
            let keep = |t: &Labeled| t.leak && t.rate == rate;
            let n = self.corpus.iter().filter(|t| keep(t)).count();
            let _ = write!(md, "| {} | {n} |", rate_label(rate));
            for m in &methods {
                let s = stats(self.corpus, &m.calls, keep);
                let _ = write!(md, " {}, {} |", s.hits, opt(s.median()));
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(
            md,
            "\n4 MiB/h is below the detector's minimum rate: a leak that slow is missed by \
             design. The fills still filling when their trace ends count as leaks at their own \
             rate and are not in these rows.\n"
        );
    }

    /// Whether the live verdict at the end agrees with the final one, where it decided.
    pub fn agreement(&self, md: &mut String) {
        use memwarden::detect::VerdictKind::{Inconclusive, Leak};
        let decided: Vec<&Judged> = self
            .judged
            .iter()
            .filter(|j| j.live_kind != Inconclusive)
            .collect();
        let agree = decided
            .iter()
            .filter(|j| j.live_kind == j.final_kind)
            .count();
        let leak_agree = decided
            .iter()
            .filter(|j| j.live_kind == Leak)
            .filter(|j| j.final_kind == Leak)
            .count();
        let leak_live = decided.iter().filter(|j| j.live_kind == Leak).count();
        let mut differ: Vec<String> = decided
            .iter()
            .filter(|j| j.live_kind != j.final_kind)
            .map(|j| format!("{} → {}", j.live_kind, j.final_kind))
            .collect();
        differ.sort();
        let mut counts: Vec<(String, usize)> = Vec::new();
        for d in differ {
            match counts.last_mut() {
                Some((k, n)) if *k == d => *n += 1,
                _ => counts.push((d, 1)),
            }
        }
        let revised = self
            .judged
            .iter()
            .filter(|j| j.revised_at.is_some())
            .count();
        let _ = writeln!(
            md,
            "### Live and final\n\n\
             Where the live verdict had decided by the end of the trace (anything but \
             `inconclusive`: {} traces), the final verdict agreed on {} ({}); on the {} the \
             live verdict called leaking at the end, {} ({}). Where they differ (live → final): \
             {}. Calls revised by the end: {revised}.\n",
            decided.len(),
            agree,
            pct(agree, decided.len()),
            leak_live,
            leak_agree,
            pct(leak_agree, leak_live),
            if counts.is_empty() {
                "nowhere".to_string()
            } else {
                counts
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
    }

    /// Each baseline's sweep: the settings no other beats on wrong calls and leaks caught.
    pub fn sweep_tables(&self, md: &mut String) {
        let budget = stats(self.corpus, &self.live.calls, |_| true).wrong_calls();
        for Sweep { name, rules, calls } in &self.sweeps {
            let _ = writeln!(
                md,
                "### Tuning {name}: {} settings tried; those no other beats on both wrong calls \
                 and leaks caught (✓: no more wrong calls than the live verdict)\n\n\
                 | setting | wrong calls | leaks caught | latency median | latency p90 |\n\
                 |---|---:|---:|---:|---:|",
                rules.len()
            );
            for (i, s) in crate::scoring::frontier(self.corpus, calls) {
                let mark = if s.wrong_calls() <= budget {
                    " ✓"
                } else {
                    ""
                };
                let _ = writeln!(
                    md,
                    "| {}{mark} | {} | {} | {} | {} |",
                    rules[i].describe(),
                    s.wrong_calls(),
                    s.hits,
                    opt(s.median()),
                    opt(s.p90())
                );
            }
            let _ = writeln!(md);
        }
    }

    /// The final verdict's figures over the traces `keep` selects.
    pub fn finals(&self, keep: impl Fn(&Labeled) -> bool) -> FinalStats {
        final_stats(self.corpus, &self.judged, keep)
    }
}

/// The detector's criterion benchmarks as last run (`cargo bench -p memwarden --bench
/// hot_paths -- detector`, which `bench/evaluate.sh` runs first): name, mean and its 95 %
/// interval, in nanoseconds.
pub fn criterion_figures(target: &std::path::Path) -> Vec<(String, f64, f64, f64)> {
    let Ok(dirs) = std::fs::read_dir(target.join("criterion")) else {
        return Vec::new();
    };
    let mut out: Vec<(String, f64, f64, f64)> = dirs
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            if !name.starts_with("detector") {
                return None;
            }
            let json = std::fs::read_to_string(e.path().join("new/estimates.json")).ok()?;
            // {"mean":{"confidence_interval":{…,"lower_bound":L,"upper_bound":U},"point_estimate":M,…
            let mean = &json[json.find("\"mean\"")?..];
            let number = |key: &str| -> Option<f64> {
                let at = mean.find(key)? + key.len();
                let rest = &mean[at..];
                let end = rest.find([',', '}'])?;
                rest[..end].trim().parse().ok()
            };
            Some((
                name,
                number("\"point_estimate\":")?,
                number("\"lower_bound\":")?,
                number("\"upper_bound\":")?,
            ))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn nanos(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else {
        format!("{ns:.1} ns")
    }
}

/// Throughput of the detector.
pub fn speed(
    md: &mut String,
    speeds: &[(f64, usize, f64)],
    corpus_rate: f64,
    secs: f64,
    criterion: &[(String, f64, f64, f64)],
) {
    let _ = writeln!(
        md,
        "## Throughput\n\nOne detector, a noisy rising sawtooth, release build, best of three. \
         The detector looks again whenever a floor bucket closes, so sparse samples cost more \
         each.\n\n| sample interval | samples (span) | push() per second |\n|---|---:|---:|"
    );
    for (interval, n, rate) in speeds {
        let _ = writeln!(
            md,
            "| {} | {n} ({}) | {:.1} million |",
            seconds(*interval),
            seconds(*interval * *n as f64),
            rate / 1e6
        );
    }
    let _ = writeln!(
        md,
        "\nOver the corpus above (a fresh detector per trace, both verdicts read at the end): \
         {:.1} million push() per second; the detector's pass over the corpus took {secs:.2} \
         s.\n",
        corpus_rate / 1e6
    );
    if !criterion.is_empty() {
        let _ = writeln!(
            md,
            "Criterion (`cargo bench -p memwarden --bench hot_paths -- detector`, run by \
             `bench/evaluate.sh` just before; mean and its 95 % interval):\n\n\
             | benchmark | mean | interval |\n|---|---:|---:|"
        );
        for (name, mean, lo, hi) in criterion {
            let _ = writeln!(
                md,
                "| `{name}` | {} | {} – {} |",
                nanos(*mean),
                nanos(*lo),
                nanos(*hi)
            );
        }
        let _ = writeln!(md);
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// Today's date in UTC, `YYYY-MM-DD`, counted from the system clock year by year.
fn utc_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut days = secs / 86_400;
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let mut year = 1970;
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut month = 0;
    while days >= lengths[month] {
        days -= lengths[month];
        month += 1;
    }
    format!("{year:04}-{:02}-{:02}", month + 1, days + 1)
}
