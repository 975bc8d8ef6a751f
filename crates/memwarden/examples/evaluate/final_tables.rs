//! The final verdict's tables of bench/results/detector-eval.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::{in_target, of_length, opt, pct, rate_label, Eval, LENGTHS};
use crate::scoring::seconds;
use crate::synth::RATES;

impl Eval<'_> {
    /// Accuracy and wrong calls over the corpus, and recall by run length, rate and noise.
    pub fn final_summary(&self, md: &mut String) {
        let all = self.finals(|_| true);
        let _ = writeln!(
            md,
            "## Final verdict\n\n\
             Once a run or a trace has ended, the detector judges its whole floor: a floor that \
             rose significantly and was still rising steadily at the end is a leak, whatever \
             the run's length.\n\n\
             Over the {} traces: accuracy {:.1}% (of the {} with one right answer); wrong \
             calls (a trace that does not leak called leak): {}; leaks called: {}, missed: {} \
             (and {} traces where either answer is right).\n",
            all.traces,
            100.0 * all.accuracy(),
            all.traces - all.either,
            all.wrong,
            all.hits,
            all.misses,
            all.either,
        );
        let _ = writeln!(
            md,
            "### Recall by run length\n\n\
             The target's leaks: a rise over the run of at least four times the noise's \
             standard deviation (or of what a start-up still settling adds over the run's \
             second half, when larger: a ramp with a 12 s time constant still rises 10 MiB/min \
             a minute in), at the minimum rate or faster, and, under a sawtooth, at least {} \
             teeth in the judged run. All leaks: every synthetic leak, the slowest (4 MiB/h, \
             below the minimum rate) included.\n\n\
             | run | the target's leaks | called | recall | all leaks | called | recall | wrong calls |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|",
            self.config.min_points
        );
        for len in LENGTHS {
            let t = self.finals(|t| of_length(t, len) && in_target(t, self.config));
            let a = self.finals(|t| of_length(t, len) && t.final_leak == Some(true));
            let w = self.finals(|t| of_length(t, len));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.0}% | {} | {} | {:.0}% | {} |",
                seconds(len),
                t.hits + t.misses,
                t.hits,
                100.0 * t.recall(),
                a.hits + a.misses,
                a.hits,
                100.0 * a.recall(),
                w.wrong,
            );
        }
        let _ = writeln!(
            md,
            "\n### Recall by rate and by noise (all run lengths)\n\n\
             | leak rate | leaks | called | the target's leaks | called |\n|---|---:|---:|---:|---:|"
        );
        for &rate in &RATES {
            let a = self.finals(|t| t.final_leak == Some(true) && t.rate == rate);
            let t = self.finals(|t| t.rate == rate && in_target(t, self.config));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                rate_label(rate),
                a.hits + a.misses,
                pct(a.hits, a.hits + a.misses),
                t.hits + t.misses,
                pct(t.hits, t.hits + t.misses),
            );
        }
        let _ = writeln!(
            md,
            "\n| noise | leaks | called | the target's leaks | called | wrong calls |\n|---|---:|---:|---:|---:|---:|"
        );
        for (noise, label) in [
            (16.0 * 1024.0, "16 KiB"),
            (1024.0 * 1024.0, "1 MiB"),
            (4.0 * 1024.0 * 1024.0, "4 MiB, wandering"),
        ] {
            let a = self.finals(|t| t.final_leak == Some(true) && t.noise == noise);
            let t = self.finals(|t| t.noise == noise && in_target(t, self.config));
            let w = self.finals(|t| t.noise == noise);
            let _ = writeln!(
                md,
                "| {label} | {} | {} | {} | {} | {} |",
                a.hits + a.misses,
                pct(a.hits, a.hits + a.misses),
                t.hits + t.misses,
                pct(t.hits, t.hits + t.misses),
                w.wrong,
            );
        }
        let _ = writeln!(md);
        self.final_misses(md);
    }

    /// The target's leaks the final verdict missed, and its wrong calls, one line each.
    fn final_misses(&self, md: &mut String) {
        use crate::scoring::{final_outcome, FinalOutcome};
        let lines: Vec<String> = self
            .corpus
            .iter()
            .zip(&self.judged)
            .filter(|(t, j)| {
                let o = final_outcome(t, j.final_kind);
                o == FinalOutcome::Wrong || (o == FinalOutcome::Miss && in_target(t, self.config))
            })
            .map(|(t, j)| {
                format!(
                    "- {} `{}`: {} — {}",
                    if t.leak { "missed" } else { "wrong call on" },
                    t.name,
                    j.final_kind,
                    j.final_reason
                )
            })
            .collect();
        if !lines.is_empty() {
            let _ = writeln!(
                md,
                "The target's leaks missed, and the wrong calls:\n\n{}\n",
                lines.join("\n")
            );
        }
    }

    /// The final verdict's kinds per shape and per the parameter that makes a shape hard.
    pub fn final_shapes(&self, md: &mut String) {
        let mut groups: BTreeMap<(bool, &str, &str), Vec<usize>> = BTreeMap::new();
        for (i, t) in self.corpus.iter().enumerate() {
            if t.group == "real" || t.group == "scenario" {
                continue;
            }
            let leak = t.group != "fill at a steady rate, then flat" && t.leak;
            groups.entry((!leak, &t.group, "")).or_default().push(i);
            if !t.detail.is_empty() {
                groups
                    .entry((!leak, &t.group, &t.detail))
                    .or_default()
                    .push(i);
            }
        }
        let _ = writeln!(
            md,
            "### By shape\n\n\
             The final verdict's kinds, and the live verdict's calls (ever), per shape. Fills \
             still filling at the end of their trace are leaks to both; the column says how \
             many of a shape's traces are leaks by that rule.\n\n\
             | shape | traces | leaks | final: called leak | final kinds | live: called leak (ever) |\n\
             |---|---:|---:|---:|---|---:|"
        );
        for ((_, group, detail), list) in &groups {
            let name = if detail.is_empty() {
                format!("**{group}**")
            } else {
                format!("… {detail}")
            };
            let leaks = list.iter().filter(|&&i| self.corpus[i].leak).count();
            let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
            for &i in list {
                *kinds.entry(self.judged[i].final_kind.as_str()).or_default() += 1;
            }
            let called = kinds.get("leak").copied().unwrap_or(0);
            let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let live = list
                .iter()
                .filter(|&&i| self.live.calls[i].is_some())
                .count();
            let _ = writeln!(
                md,
                "| {name} | {} | {leaks} | {} | {} | {} |",
                list.len(),
                pct(called, list.len()),
                kinds.join(", "),
                pct(live, list.len()),
            );
        }
        let _ = writeln!(md);
    }

    /// The scenarios at their defaults and at 60 s, at 200 ms and at 1 s.
    pub fn scenario_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### The scenarios\n\n\
             Recorded under `memwarden run` (`scenarios/record.sh`): at their defaults (12–15 s) \
             at 200 ms and at the CLI's default 1 s, and for 60 s at 200 ms; the 200 ms ones \
             also thinned to one sample a second. Leaky variants must be called `leak` by the \
             final verdict, fixed ones not. The live verdict at the end of the default run \
             (200 ms) is shown beside it: too short to call a leak, it reports the rise.\n\n\
             | variant | label | defaults, 200 ms | thinned to 1 s | recorded at 1 s | 60 s, 200 ms | 60 s thinned | live at the end (defaults, 200 ms) | the final verdict's reason (defaults, 200 ms) |\n\
             |---|---|---|---|---|---|---|---|---|"
        );
        let find = |name: &str| {
            self.corpus
                .iter()
                .position(|t| t.group == "scenario" && t.name == name)
        };
        let kind = |i: Option<usize>| {
            i.map_or("–".to_string(), |i| self.judged[i].final_kind.to_string())
        };
        let mut variants: Vec<&str> = self
            .corpus
            .iter()
            .filter(|t| t.group == "scenario")
            .filter(|t| {
                !t.name.contains("-60s") && !t.name.contains("-1s") && !t.name.contains("thinned")
            })
            .map(|t| t.name.trim_end_matches(".csv"))
            .collect();
        variants.dedup();
        for v in variants {
            let Some(i) = find(&format!("{v}.csv")) else {
                continue;
            };
            let _ = writeln!(
                md,
                "| {v} | {} | {} | {} | {} | {} | {} | {} | {} |",
                if self.corpus[i].leak { "leak" } else { "not" },
                kind(Some(i)),
                kind(find(&format!("{v}.csv (thinned to 1 s)"))),
                kind(find(&format!("{v}-1s.csv"))),
                kind(find(&format!("{v}-60s.csv"))),
                kind(find(&format!("{v}-60s.csv (thinned to 1 s)"))),
                self.judged[i].live_kind,
                self.judged[i].final_reason.replace('|', "/"),
            );
        }
        let _ = writeln!(md);
    }

    /// Every real trace: its label, both verdicts, the baselines' calls, the reason.
    pub fn real_table(&self, md: &mut String) {
        let _ = write!(
            md,
            "### Real programs\n\n\
             `bench/corpus/real`, whole and cut to the first minute and two. A cut Redis still \
             filling is a leak by the labels' rule; whole, it is a plateau.\n\n\
             | trace | label | final | live: called at, revised at | "
        );
        for b in &self.baselines {
            let _ = write!(md, "{} | ", b.name);
        }
        let _ = write!(md, "the final verdict's reason |\n|---|---|---|---|");
        for _ in &self.baselines {
            let _ = write!(md, "---|");
        }
        let _ = writeln!(md, "---|");
        for (i, t) in self.corpus.iter().enumerate() {
            if t.group != "real" {
                continue;
            }
            let j = &self.judged[i];
            let live = match (self.live.calls[i], j.revised_at) {
                (Some(c), Some(r)) => format!("{}, {}", seconds(c), seconds(r)),
                (Some(c), None) => seconds(c),
                _ => format!("– ({} at the end)", j.live_kind),
            };
            let _ = write!(
                md,
                "| {} | {} | {} | {live} | ",
                t.name,
                if t.leak { "leak" } else { "not" },
                j.final_kind,
            );
            for b in &self.baselines {
                let _ = write!(md, "{} | ", opt(b.calls[i]));
            }
            let _ = writeln!(md, "{} |", j.final_reason.replace('|', "/"));
        }
        let _ = writeln!(md);
    }
}
