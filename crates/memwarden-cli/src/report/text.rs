//! Text for people: the end-of-run summary, the text report (figures, a sparkline of the
//! run, the largest processes, events), the comparison table, and the `ls` table. Colors only
//! when asked ([`Text::color`]: a terminal, and no `NO_COLOR`).

use std::fmt::Write;

use memwarden::units::{format_bytes, format_rate, format_seconds};

use super::compare::Comparison;
use super::model::RunReport;
use super::sparkline::sparkline;
use super::timeline::{Series, Timeline};
use super::verdict::{self, NOT_JUDGED};
use super::{RenderComparison, RenderRun, Run};
use crate::record::{EventKind, RunKind, RunState, RunVerdict};
use crate::store::RunRow;
use memwarden::detect::VerdictKind;

/// Width of the report's sparklines, in characters.
pub const SPARK_WIDTH: usize = 60;

/// The text format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Text {
    /// Whether to color the output with ANSI escapes.
    pub color: bool,
}

impl Text {
    /// Colors for a terminal that wants them: `stdout_is_terminal`, and `NO_COLOR` unset or
    /// empty (<https://no-color.org>).
    pub fn for_terminal(stdout_is_terminal: bool) -> Text {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Text {
            color: stdout_is_terminal && !no_color,
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color && !s.is_empty() {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn verdict(&self, v: Option<&RunVerdict>) -> String {
        match v {
            None => self.paint("2", NOT_JUDGED),
            Some(v) => {
                let code = match v.kind {
                    VerdictKind::Leak => "1;31",
                    VerdictKind::Plateau => "33",
                    VerdictKind::Stable => "32",
                    VerdictKind::Inconclusive => "1",
                };
                let line = verdict::line(v);
                let rest = line.strip_prefix(v.kind.as_str()).unwrap_or_default();
                format!("{}{rest}", self.paint(code, v.kind.as_str()))
            }
        }
    }
}

impl RenderRun for Text {
    fn render(&self, run: &Run<'_>, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
        out.write_all(full(&run.report, Some(&run.timeline), *self).as_bytes())?;
        Ok(())
    }
}

impl RenderComparison for Text {
    fn render(&self, c: &Comparison, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
        let mut s = String::new();
        let _ = writeln!(s, "before  {} · {}", c.before.name(), c.before.started_at);
        let _ = writeln!(s, "after   {} · {}", c.after.name(), c.after.started_at);
        let _ = writeln!(s);
        let mut table = Table::new(&["", "before", "after", "change"]);
        for r in &c.rows {
            table.row(r.cells().to_vec());
        }
        s.push_str(&table.render());
        if let Some(note) = c.growth_not_compared() {
            let _ = writeln!(s, "\n{note}");
        }
        out.write_all(s.as_bytes())?;
        Ok(())
    }
}

/// How the run ended, in words: "exited with status 7", "killed by signal 9 (SIGKILL)".
pub fn ending(report: &RunReport) -> String {
    match report.state {
        RunState::Running => return "is still running".into(),
        RunState::MemwardenDied => return "has no end: memwarden died while recording it".into(),
        RunState::Unknown => return "has no recorded end".into(),
        RunState::Ended => {}
    }
    let by = report
        .stopped_by
        .map(|s| format!(", stopped by memwarden ({s})"))
        .unwrap_or_default();
    match report.exit {
        Some(x) => match (x.code, x.signal) {
            (_, Some(sig)) => format!("was killed by signal {sig} ({}){by}", signal_name(sig)),
            (Some(code), None) => format!("exited with status {code}{by}"),
            (None, None) => format!("ended{by}"),
        },
        None if report.kind != RunKind::Run => format!("was watched{by}"),
        None => format!("could not be started{by}"),
    }
}

/// The signal's name, `SIGTERM`, or `signal N` when unknown.
pub fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}

/// How the run ended and how long it lasted: "exited with status 7 after 12.0s".
pub fn ended_after(report: &RunReport) -> String {
    let when = if report.kind != RunKind::Run {
        "for"
    } else {
        "after"
    };
    if report.state != RunState::Ended {
        return format!(
            "{} ({} recorded)",
            ending(report),
            format_seconds(report.duration_s)
        );
    }
    format!(
        "{} {when} {}",
        ending(report),
        format_seconds(report.duration_s)
    )
}

/// The run's title: "run 3: label", or the label of a run not stored.
pub fn title(report: &RunReport) -> String {
    match report.run_id {
        Some(id) => format!("run {id}: {}", report.label),
        None => report.label.clone(),
    }
}

fn label_line(report: &RunReport) -> String {
    format!("`{}` {}", report.label, ended_after(report))
}

/// The short summary printed on stderr when a run ends.
pub fn summary(report: &RunReport, stored: Option<&str>) -> String {
    let mut out = String::new();
    let m = &report.memory;
    let _ = writeln!(out, "memwarden: {}", label_line(report));
    let _ = writeln!(
        out,
        "  memory   peak {} {} at {} · start {} → end {} · rss peak {}",
        format_bytes(m.peak_bytes),
        m.metric,
        format_seconds(m.peak_at_s),
        format_bytes(m.start_bytes),
        format_bytes(m.end_bytes),
        format_bytes(m.peak_rss_bytes),
    );
    let _ = writeln!(
        out,
        "  tree     {} seen, {} alive at most · {} · {} samples, interval {}",
        processes(report.processes.seen),
        report.processes.max_alive,
        report.mode,
        report.samples,
        format_seconds(report.interval_s),
    );
    if let Some(line) = verdict_line(report) {
        let _ = writeln!(out, "  verdict  {line}");
    }
    for gate in report.events.iter().filter(|e| e.kind == EventKind::Gate) {
        let _ = writeln!(out, "  gate     {} → exit {}", gate.detail, report.status);
    }
    match (stored, report.run_id) {
        (Some(path), Some(id)) => {
            let lost = report
                .events
                .iter()
                .any(|e| e.kind == EventKind::StoreError);
            let incomplete = if lost {
                ", incomplete (see the store error above)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  stored   run {id} in {path}{incomplete} · see it with `memwarden report {id}`"
            );
        }
        _ => {
            let _ = writeln!(out, "  stored   not recorded (see the store error above)");
        }
    }
    out
}

fn verdict_line(report: &RunReport) -> Option<String> {
    report.verdict.as_ref().map(verdict::line)
}

/// The full text report of `memwarden report`, with a sparkline of the run's memory when a
/// timeline is given.
pub fn full(report: &RunReport, timeline: Option<&Timeline>, style: Text) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", style.paint("1", &title(report)));
    let _ = writeln!(out, "  command  {}", report.command.join(" "));
    let _ = writeln!(
        out,
        "  started  {} on {} · {} · {}",
        report.started_at,
        report.host,
        report.mode,
        ending(report)
    );
    let _ = writeln!(
        out,
        "  {:<9}{} · {} samples, interval {}",
        // A run without an end lasted at least what was recorded of it.
        if report.state == RunState::Ended {
            "lasted"
        } else {
            "recorded"
        },
        format_seconds(report.duration_s),
        report.samples,
        format_seconds(report.interval_s)
    );
    let m = &report.memory;
    let _ = writeln!(
        out,
        "  memory   {} peak {} at {} · start {} → end {} · rss peak {}{}",
        m.metric,
        format_bytes(m.peak_bytes),
        format_seconds(m.peak_at_s),
        format_bytes(m.start_bytes),
        format_bytes(m.end_bytes),
        format_bytes(m.peak_rss_bytes),
        m.peak_cgroup_bytes
            .map(|c| format!(" · cgroup peak {}", format_bytes(c)))
            .unwrap_or_default(),
    );
    if let Some(tl) = timeline.filter(|t| !t.is_empty()) {
        let line = sparkline(tl, Series::Metric, SPARK_WIDTH);
        let _ = writeln!(
            out,
            "           {} 0–{} over {}",
            style.paint("36", &line),
            format_bytes(m.peak_bytes),
            format_seconds(report.duration_s.max(tl.range().1)),
        );
    }
    let r = &report.resources;
    let _ = writeln!(
        out,
        "  tree     {} seen, {} alive at most · threads {}→{} (peak {}) · fds {}→{} (peak {})",
        processes(report.processes.seen),
        report.processes.max_alive,
        r.threads.start,
        r.threads.end,
        r.threads.peak,
        r.fds.start,
        r.fds.end,
        r.fds.peak,
    );
    let _ = writeln!(
        out,
        "  machine  {} total, {} available at least{}",
        format_bytes(report.machine.mem_total_bytes),
        format_bytes(report.machine.min_available_bytes),
        report
            .machine
            .max_psi_some_avg10
            .map(|p| format!(" · memory pressure up to {p:.1}%"))
            .unwrap_or_default(),
    );
    let _ = writeln!(out, "  verdict  {}", style.verdict(report.verdict.as_ref()));
    if !report.processes.top.is_empty() {
        let _ = writeln!(out, "\n{}", style.paint("1", "largest processes"));
        let mut table = Table::new(&["pid", "peak anon", "peak rss", "growth", "seen", "command"]);
        for p in &report.processes.top {
            table.row(vec![
                p.pid.to_string(),
                format_bytes(p.peak_bytes),
                format_bytes(p.peak_rss_bytes),
                format_rate(p.growth_bytes_per_s),
                format!(
                    "{}–{}{}",
                    format_seconds(p.seen_s[0]),
                    format_seconds(p.seen_s[1]),
                    if p.exited { "" } else { "+" }
                ),
                shorten(&p.command, 60),
            ]);
        }
        out.push_str(&table.render());
    }
    if !report.events.is_empty() {
        let _ = writeln!(out, "\n{}", style.paint("1", "events"));
        for e in &report.events {
            let _ = writeln!(
                out,
                "  {:>8}  {:<11} {}",
                format_seconds(e.at_s),
                e.kind,
                e.detail
            );
        }
    }
    out
}

/// The table of `memwarden ls`.
pub fn runs_table(rows: &[RunRow]) -> String {
    let mut table = Table::new(&[
        "id", "label", "started", "duration", "peak", "verdict", "exit",
    ]);
    for r in rows {
        let end = r.end.as_ref();
        let verdict = end
            .and_then(|e| e.verdict.as_ref())
            .map_or_else(|| "-".into(), |v| v.kind.to_string());
        let exit = match end {
            None => r.state.describe().to_string(),
            Some(e) => match (e.exit, e.stopped_by) {
                (_, Some(by)) => format!("{} ({by})", e.status),
                (Some(x), None) if x.signal.is_some() => {
                    format!("{} ({})", e.status, signal_name(x.signal.unwrap_or(0)))
                }
                _ => e.status.to_string(),
            },
        };
        table.row(vec![
            r.id.to_string(),
            shorten(&r.meta.label, 40),
            r.meta
                .started_at
                .replace('T', " ")
                .trim_end_matches('Z')
                .to_string(),
            end.map_or("-".into(), |e| format_seconds(e.duration_s)),
            end.map_or("-".into(), |e| format_bytes(e.peak_bytes)),
            verdict,
            exit,
        ]);
    }
    table.render()
}

/// "1 process", "3 processes".
pub fn processes(n: u64) -> String {
    if n == 1 {
        "1 process".to_string()
    } else {
        format!("{n} processes")
    }
}

/// Cuts `s` to `max` characters, marking the cut with `…`.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A left-aligned text table with a header row; the last column is not padded.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row.
    pub fn render(&self) -> String {
        let columns = self.rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::from("  ");
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == columns {
                    line.push_str(cell);
                } else {
                    let pad = widths[c] - cell.chars().count();
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}
