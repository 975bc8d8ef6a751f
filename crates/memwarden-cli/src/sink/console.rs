//! The terminal, live: a line on stderr for everything memwarden does or finds while the run
//! goes on (a warning crossed, a leak called, an action taken, a stop), and, when stderr is a
//! terminal, a status line under them that says where the run stands — elapsed time, the
//! tree's memory and processes, the floor's trend, the verdict and the time to the limit.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use memwarden::detect::VerdictKind;
use memwarden::units::{format_bytes, format_rate, format_seconds};

use super::Sink;
use crate::record::{Record, RunVerdict};
use crate::report::model::Metric;

/// How often the status line is redrawn at most (indicatif also limits its draw rate).
const REDRAW_EVERY_S: f64 = 0.2;

/// Live lines on stderr, and the status line on a terminal.
pub struct Console {
    quiet: bool,
    metric: Metric,
    bar: Option<ProgressBar>,
    verdict: Option<RunVerdict>,
    last_draw: f64,
}

impl Console {
    /// A console for a run judged by `metric`. Nothing is printed with `quiet`; the status
    /// line is drawn only when stderr is a terminal.
    pub fn new(metric: Metric, quiet: bool) -> Console {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5));
            let style = ProgressStyle::with_template("{spinner} {wide_msg}")
                .expect("a valid template")
                .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ");
            bar.set_style(style);
            bar
        });
        Console {
            quiet,
            metric,
            bar,
            verdict: None,
            last_draw: f64::NEG_INFINITY,
        }
    }

    fn line(&self, text: &str) {
        // Lines name processes by their command lines: shown, never obeyed.
        let line = format!("memwarden: {}", crate::report::term::printable(text));
        match &self.bar {
            // Printed above the status line, which is drawn again under it.
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn status(&mut self, s: &memwarden::sample::Sample) {
        let Some(bar) = &self.bar else { return };
        if s.t - self.last_draw < REDRAW_EVERY_S {
            return;
        }
        self.last_draw = s.t;
        bar.set_message(status_text(s, self.metric, self.verdict.as_ref()));
        bar.tick();
    }
}

/// The status line's text: "1m 23s · anon 412.3 MiB · 31 processes · floor +29.5 MiB/s ·
/// leak · limit in 21s".
pub fn status_text(
    s: &memwarden::sample::Sample,
    metric: Metric,
    verdict: Option<&RunVerdict>,
) -> String {
    let mut parts = vec![
        format_seconds(s.t),
        format!("{} {}", metric.name(), format_bytes(metric.of(s))),
        crate::report::text::processes(u64::from(s.tree.processes)),
    ];
    if let Some(v) = verdict {
        if v.growth_measured() {
            parts.push(format!("floor {:+}", Signed(v.growth_bytes_per_s)));
        }
        parts.push(v.kind.to_string());
        if let Some(t) = v.time_to_limit_s {
            let limit = v.limit_bytes.map(|b| format!(" {}", format_bytes(b)));
            parts.push(format!(
                "limit{} in {}",
                limit.unwrap_or_default(),
                format_seconds(t)
            ));
        }
    }
    parts.join(" · ")
}

/// A rate with its sign: `+29.5 MiB/s`, `-1.0 KiB/min`.
struct Signed(f64);

impl std::fmt::Display for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0.0 { "-" } else { "+" };
        write!(f, "{sign}{}", format_rate(self.0.abs()))
    }
}

impl Sink for Console {
    fn accept(&mut self, record: &Record) {
        match record {
            Record::Line(text) if !self.quiet => self.line(text),
            Record::Sample(s) => self.status(s),
            Record::Verdict(v) => {
                if self.verdict.as_ref().map(|o| o.kind) != Some(v.kind) {
                    self.last_draw = f64::NEG_INFINITY;
                }
                self.verdict = Some(v.clone());
            }
            Record::End(_) => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Whether a verdict change is worth a line: a leak called, or one taken back.
pub fn worth_a_line(before: VerdictKind, after: VerdictKind) -> bool {
    before != after && (before == VerdictKind::Leak || after == VerdictKind::Leak)
}

#[cfg(test)]
mod tests {
    use super::*;
    use memwarden::sample::{Sample, TreeTotals};

    #[test]
    fn the_status_says_where_the_run_stands() {
        let s = Sample {
            t: 83.0,
            tree: TreeTotals {
                anon_bytes: 412 << 20,
                processes: 31,
                ..TreeTotals::default()
            },
            ..Sample::default()
        };
        assert_eq!(
            status_text(&s, Metric::Anon, None),
            "1m 23s · anon 412.0 MiB · 31 processes"
        );
        let v = RunVerdict {
            kind: VerdictKind::Leak,
            memory_kind: VerdictKind::Leak,
            growth_bytes_per_s: 29.5 * 1048576.0,
            time_to_limit_s: Some(21.0),
            limit_bytes: Some(1 << 30),
            ..RunVerdict::default()
        };
        assert_eq!(
            status_text(&s, Metric::Anon, Some(&v)),
            "1m 23s · anon 412.0 MiB · 31 processes · floor +29.5 MiB/s · leak · \
             limit 1.0 GiB in 21.0s"
        );
    }

    #[test]
    fn only_calls_and_revisions_of_leaks_are_lines() {
        assert!(worth_a_line(VerdictKind::Inconclusive, VerdictKind::Leak));
        assert!(worth_a_line(VerdictKind::Leak, VerdictKind::Plateau));
        assert!(!worth_a_line(
            VerdictKind::Inconclusive,
            VerdictKind::Stable
        ));
    }
}
