//! Text for people: the text report of `memwarden report` (the end and the verdict first,
//! then the figures, a sparkline, the processes by command, the events) and the comparison
//! table, fitted to the width of where they go. Colors only when [`Layout::color`] says so.

use std::fmt::Write;

use memwarden::detect::VerdictKind;
use memwarden::units::{format_bytes, format_rate, format_seconds};

use super::compare::Comparison;
use super::ending::{ending_with_status, title};
use super::groups::ProcessGroup;
use super::model::RunReport;
use super::sparkline::sparkline;
use super::table::Table;
use super::term::{command_line, printable, wrap, Layout};
use super::timeline::{Series, Timeline};
use super::verdict::{self, count_rate, Context, NOT_JUDGED};
use super::{RenderComparison, RenderRun, Run};
use crate::record::RunVerdict;

pub use super::ending::{processes, signal_name};
pub use super::term::shorten;

/// Widest sparkline of the report, in characters.
pub const SPARK_WIDTH: usize = 60;

/// Where the values of a `  key      value` line start.
pub const VALUE_COLUMN: usize = 11;

/// The text format, laid out for where it goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Text {
    /// Width and colors.
    pub layout: Layout,
}

impl RenderRun for Text {
    fn render(&self, run: &Run<'_>, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
        let text = full(
            &run.report,
            Some(&run.timeline),
            &run.options_line(),
            self.layout,
        );
        out.write_all(text.as_bytes())?;
        Ok(())
    }
}

impl RenderComparison for Text {
    fn render(&self, c: &Comparison, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
        let mut s = String::new();
        for (key, side) in [("before", &c.before), ("after", &c.after)] {
            let when = format!(" · {}", side.started_at);
            let room = self.layout.width.saturating_sub(8 + when.chars().count());
            let name = shorten(&printable(&side.name()), room.max(16));
            let _ = writeln!(s, "{key:<6}  {name}{when}");
        }
        let _ = writeln!(s);
        let mut table = Table::new(&["", "before", "after", "change"]);
        for r in &c.rows {
            table.row(r.cells().to_vec());
        }
        s.push_str(&table.render(self.layout.width));
        if let Some(note) = c.growth_not_compared() {
            let _ = writeln!(s, "\n{}", wrap(&printable(&note), 0, 0, self.layout.width));
        }
        out.write_all(s.as_bytes())?;
        Ok(())
    }
}

/// `  key      value`, the value wrapped under itself to the layout's width.
pub fn field(out: &mut String, key: &str, value: &str, layout: Layout) {
    let _ = writeln!(
        out,
        "  {key:<8} {}",
        wrap(value, VALUE_COLUMN, VALUE_COLUMN, layout.width)
    );
}

/// Figures joined with ` · `, broken between figures (not inside one) to fit the width.
pub fn figures_field(out: &mut String, key: &str, items: &[String], layout: Layout) {
    let mut line = format!("  {key:<8} ");
    let mut column = VALUE_COLUMN;
    for (i, item) in items.iter().enumerate() {
        let len = item.chars().count();
        if i > 0 {
            if column + 3 + len > layout.width {
                line.push('\n');
                line.push_str(&" ".repeat(VALUE_COLUMN));
                column = VALUE_COLUMN;
            } else {
                line.push_str(" · ");
                column += 3;
            }
        }
        line.push_str(item);
        column += len;
    }
    out.push_str(&line);
    out.push('\n');
}

/// The verdict's lines: the finding (its first word colored), why (the detector's reason),
/// and with `statistics` the figures behind it. `why_lines` bounds the reason (`None`: all).
pub fn verdict_fields(
    out: &mut String,
    report: &RunReport,
    layout: Layout,
    statistics: bool,
    why_lines: Option<usize>,
) {
    let Some(v) = report.verdict.as_ref() else {
        field(out, "verdict", NOT_JUDGED, layout);
        return;
    };
    let finding = verdict::finding(v, Context::of(report));
    let text = wrap(&finding.text(), VALUE_COLUMN, VALUE_COLUMN, layout.width);
    let colored = match text.strip_prefix(finding.head.as_str()) {
        Some(rest) => format!("{}{rest}", layout.paint(kind_color(v), &finding.head)),
        None => text,
    };
    let _ = writeln!(out, "  {:<8} {colored}", "verdict");
    if !v.reason.is_empty() {
        let why = printable(&v.reason);
        let why = match why_lines {
            Some(lines) => clauses_fit(&why, lines * (layout.width - VALUE_COLUMN)),
            None => why.into_owned(),
        };
        field(out, "why", &why, layout);
    }
    let figures = verdict::statistics(v);
    if statistics && !figures.is_empty() {
        field(out, "figures", &figures, layout);
    }
}

fn kind_color(v: &RunVerdict) -> &'static str {
    match v.kind {
        VerdictKind::Leak => "1;31",
        VerdictKind::Plateau => "33",
        VerdictKind::Stable => "32",
        VerdictKind::Inconclusive => "1",
    }
}

/// The clauses of `text` (separated by `; `) that fit in `room` characters; the first one
/// cut when even it does not.
fn clauses_fit(text: &str, room: usize) -> String {
    let mut out = String::new();
    for clause in text.split("; ") {
        let next = if out.is_empty() {
            clause.to_string()
        } else {
            format!("{out}; {clause}")
        };
        if next.chars().count() > room {
            break;
        }
        out = next;
    }
    if out.is_empty() {
        shorten(text, room)
    } else {
        out
    }
}

/// The full text report of `memwarden report`; a sparkline of the run's memory when a
/// timeline is given; `options` as the user wrote them (empty when unknown).
pub fn full(
    report: &RunReport,
    timeline: Option<&Timeline>,
    options: &str,
    layout: Layout,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        layout.paint("1", &shorten(&title(report), layout.width))
    );
    field(
        &mut out,
        "command",
        &printable(&report.command.join(" ")),
        layout,
    );
    field(&mut out, "end", &ending_with_status(report), layout);
    figures_field(
        &mut out,
        "started",
        &[
            format!(
                "{} on {}",
                report.started_at.replace('T', " ").replace('Z', " UTC"),
                printable(&report.host)
            ),
            report.mode.clone(),
            sampling(report),
        ],
        layout,
    );
    if !options.is_empty() {
        field(&mut out, "options", &printable(options), layout);
    }
    verdict_fields(&mut out, report, layout, true, None);
    let m = &report.memory;
    let mut memory = vec![
        metric_peak(report),
        format!(
            "start {} → end {}",
            format_bytes(m.start_bytes),
            format_bytes(m.end_bytes)
        ),
        format!("rss peak {}", format_bytes(m.peak_rss_bytes)),
    ];
    if let Some(c) = m.peak_cgroup_bytes {
        memory.push(format!("cgroup peak {}", format_bytes(c)));
    }
    figures_field(&mut out, "memory", &memory, layout);
    if let Some(tl) = timeline.filter(|t| !t.is_empty()) {
        let scale = format!(
            " 0–{} over {}",
            format_bytes(m.peak_bytes),
            format_seconds(report.duration_s.max(tl.range().1))
        );
        let room = layout
            .width
            .saturating_sub(VALUE_COLUMN + scale.chars().count());
        let line = sparkline(tl, Series::Metric, room.clamp(10, SPARK_WIDTH));
        let _ = writeln!(
            out,
            "{}{}{scale}",
            " ".repeat(VALUE_COLUMN),
            layout.paint("36", &line)
        );
    }
    let r = &report.resources;
    figures_field(
        &mut out,
        "tree",
        &[
            format!(
                "{} seen, {} at once at most",
                processes(report.processes.seen),
                report.processes.max_alive
            ),
            format!(
                "threads {} → {} (peak {})",
                r.threads.start, r.threads.end, r.threads.peak
            ),
            format!("fds {} → {} (peak {})", r.fds.start, r.fds.end, r.fds.peak),
        ],
        layout,
    );
    let mut machine = vec![format!(
        "{} total, {} available at least",
        format_bytes(report.machine.mem_total_bytes),
        format_bytes(report.machine.min_available_bytes)
    )];
    if let Some(p) = report.machine.max_psi_some_avg10 {
        machine.push(format!("memory pressure up to {p:.1}%"));
    }
    figures_field(&mut out, "machine", &machine, layout);
    if !report.processes.groups.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            layout.paint("1", "largest processes, by command")
        );
        out.push_str(&groups_table(&report.processes.groups).render(layout.width));
    }
    if let Some(heap) = &report.heap {
        let _ = write!(out, "\n{}", crate::heap::render::text(heap, layout.width));
    }
    if !report.events.is_empty() {
        let _ = writeln!(out, "\n{}", layout.paint("1", "events"));
        let kind_width = report
            .events
            .iter()
            .map(|e| e.kind.as_str().chars().count())
            .max()
            .unwrap_or(0);
        let indent = 2 + 8 + 2 + kind_width + 2;
        for e in &report.events {
            let detail = short_cgroup_paths(&printable(&e.detail));
            let _ = writeln!(
                out,
                "  {:>8}  {:<kind_width$}  {}",
                format_seconds(e.at_s),
                printable(e.kind.as_str()),
                wrap(&detail, indent, indent, layout.width)
            );
        }
    }
    out
}

/// "366 samples every 200ms".
pub fn sampling(report: &RunReport) -> String {
    format!(
        "{} samples every {}",
        report.samples,
        format_seconds(report.interval_s)
    )
}

/// "anon peak 1.0 GiB at 36.6s".
pub fn metric_peak(report: &RunReport) -> String {
    let m = &report.memory;
    format!(
        "{} peak {} at {}",
        m.metric,
        format_bytes(m.peak_bytes),
        format_seconds(m.peak_at_s)
    )
}

/// The process groups as a table: how many, each one's peak, their peaks together, how they
/// grow (processes piling up, or one process's memory), the command.
pub fn groups_table(groups: &[ProcessGroup]) -> Table {
    let mut table = Table::new(&["count", "peak each", "together", "grows", "command"]);
    for g in groups {
        table.row(vec![
            format!("{} ×", g.count),
            format_bytes(g.peak_bytes_each),
            format_bytes(g.peak_bytes_together),
            grows(g),
            command_line(&g.command),
        ]);
    }
    table
}

/// How a group grows: processes piling up ("+2.0 a second"), or a lone process's memory.
pub fn grows(g: &ProcessGroup) -> String {
    match (g.growth_bytes_per_s, g.started_per_s) {
        (Some(rate), _) if rate != 0.0 => {
            let sign = if rate > 0.0 { "+" } else { "" };
            format!("{sign}{}", format_rate(rate))
        }
        (None, Some(per_s)) if g.piles_up() => count_rate(per_s),
        _ => String::new(),
    }
}

/// Cgroup directories cut to their last part: an event line names the run's cgroup, not the
/// hierarchy above it (`/sys/fs/cgroup/memory/a/b/memwarden-7` → `…/memwarden-7`).
pub fn short_cgroup_paths(detail: &str) -> String {
    detail
        .split(' ')
        .map(|word| match word.strip_prefix("/sys/fs/cgroup/") {
            Some(rest) => match rest.trim_end_matches('/').rsplit_once('/') {
                Some((_, last)) => format!("…/{last}"),
                None => word.to_string(),
            },
            None => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_paths_are_cut_to_the_runs_own() {
        assert_eq!(
            short_cgroup_paths(
                "started `x` as pid 7 in /sys/fs/cgroup/memory/process_api/8b1f/memwarden-6"
            ),
            "started `x` as pid 7 in …/memwarden-6"
        );
        assert_eq!(short_cgroup_paths("on /tmp/a/b"), "on /tmp/a/b");
    }

    #[test]
    fn the_why_keeps_whole_clauses() {
        let why = "floor rose 783.8 MiB over 26.2s (29.9 MiB/s), p<0.001; recent slope 0.9x \
                   the early one; also rising: threads";
        assert_eq!(
            clauses_fit(why, 69),
            "floor rose 783.8 MiB over 26.2s (29.9 MiB/s), p<0.001"
        );
        assert_eq!(clauses_fit(why, 10), "floor ros…");
    }
}
