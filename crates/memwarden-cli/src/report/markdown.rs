//! Markdown: a run's report, and the comparison as a table, that paste into a pull request or
//! a CI job's summary (`$GITHUB_STEP_SUMMARY`).

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;
use memwarden::units::{format_bytes, format_seconds};

use super::compare::{Comparison, Side};
use super::ending::{ending_with_status, processes, title};
use super::model::RunReport;
use super::term::{command_line, printable};
use super::text::{grows, sampling};
use super::verdict::{self, Context, NOT_JUDGED};
use super::{RenderComparison, RenderRun, Run};

/// The Markdown format.
pub struct Markdown;

impl RenderComparison for Markdown {
    fn render(&self, c: &Comparison, out: &mut dyn Write) -> Result<()> {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "**before**: {} · **after**: {}\n",
            side(&c.before),
            side(&c.after)
        );
        let _ = writeln!(s, "| | before | after | change |");
        let _ = writeln!(s, "|---|---:|---:|---:|");
        for r in &c.rows {
            let _ = writeln!(s, "| {} |", r.cells().map(|c| cell(&c)).join(" | "));
        }
        if let Some(note) = c.growth_not_compared() {
            let _ = writeln!(s, "\n{}.", cell(&note));
        }
        out.write_all(s.as_bytes())?;
        Ok(())
    }
}

impl RenderRun for Markdown {
    fn render(&self, run: &Run<'_>, out: &mut dyn Write) -> Result<()> {
        out.write_all(report(&run.report, &run.options_line()).as_bytes())?;
        Ok(())
    }
}

/// A run's report: the verdict first, then a table of its figures and its processes.
pub fn report(r: &RunReport, options: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### memwarden · {}\n", cell(&title(r)));
    match r.verdict.as_ref() {
        Some(v) => {
            let f = verdict::finding(v, Context::of(r));
            let _ = writeln!(s, "**{}**{}\n", cell(&f.head), cell(&f.rest));
        }
        None => {
            let _ = writeln!(s, "**{NOT_JUDGED}**\n");
        }
    }
    let _ = writeln!(s, "| | |\n|---|---|");
    let mut row = |k: &str, v: &str| {
        let _ = writeln!(s, "| {k} | {} |", cell(v));
    };
    row("end", &ending_with_status(r));
    row("command", &code(&r.command.join(" ")));
    if !options.is_empty() {
        row("options", &code(options));
    }
    if let Some(v) = r.verdict.as_ref() {
        if !v.reason.is_empty() {
            row("why", &v.reason);
        }
        let figures = verdict::statistics(v);
        if !figures.is_empty() {
            row("figures", &figures);
        }
    }
    let m = &r.memory;
    row(
        &format!("memory ({})", m.metric),
        &format!(
            "peak {} at {} · start {} → end {}",
            format_bytes(m.peak_bytes),
            format_seconds(m.peak_at_s),
            format_bytes(m.start_bytes),
            format_bytes(m.end_bytes)
        ),
    );
    row(
        "resident, summed",
        &format!("peak {}", format_bytes(m.peak_rss_bytes)),
    );
    if let Some(c) = m.peak_cgroup_bytes {
        row("cgroup charge", &format!("peak {}", format_bytes(c)));
    }
    let res = &r.resources;
    row(
        "processes",
        &format!(
            "{} seen, {} at once at most",
            processes(r.processes.seen),
            r.processes.max_alive
        ),
    );
    row(
        "threads · fds",
        &format!(
            "{} → {} (peak {}) · {} → {} (peak {})",
            res.threads.start,
            res.threads.end,
            res.threads.peak,
            res.fds.start,
            res.fds.end,
            res.fds.peak
        ),
    );
    row(
        "run",
        &format!(
            "{} · {} on {} · {} · {}",
            r.run_id
                .map_or("not recorded".into(), |id| format!("run {id}")),
            r.started_at,
            printable(&r.host),
            r.mode,
            sampling(r)
        ),
    );
    if !r.processes.groups.is_empty() {
        let _ = writeln!(
            s,
            "\n| count | command | peak each | together | grows |\n|---:|---|---:|---:|---:|"
        );
        for g in &r.processes.groups {
            let _ = writeln!(
                s,
                "| {} × | {} | {} | {} | {} |",
                g.count,
                cell(&code(&command_line(&g.command))),
                format_bytes(g.peak_bytes_each),
                format_bytes(g.peak_bytes_together),
                cell(&grows(g))
            );
        }
    }
    s
}

fn side(s: &Side) -> String {
    let id = s.run_id.map(|id| format!("run {id} ")).unwrap_or_default();
    format!("{id}{} ({})", cell(&code(&s.label)), s.started_at)
}

/// `text` as inline code (a backtick in it becomes a quote).
fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'"))
}

/// Text that cannot break a table row nor act on a terminal: pipes escaped, line breaks and
/// control characters shown escaped.
fn cell(s: &str) -> String {
    printable(s).replace('|', "\\|")
}
