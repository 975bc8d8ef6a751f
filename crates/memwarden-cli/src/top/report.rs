//! The ranked report `top` prints at the end without a terminal, or with `--format`: every
//! group in rank order with the same verdict object as a run's report (JSON) — the final
//! verdict, the group's whole recorded floor judged, as a run's report carries — or the first
//! rows as a table (text).

use memwarden::sample::host::{HostSampler, Unreadable};
use memwarden::units::{format_bytes, format_seconds};
use serde::Serialize;

use super::board::{Board, SortBy, Standing};
use crate::record::RunVerdict;
use crate::report::text::{processes, shorten};

/// Processes listed per group in the JSON report.
const TOP_PER_GROUP: usize = 5;

/// The whole report.
#[derive(Debug, Serialize)]
pub struct TopReport {
    /// The report's format version.
    pub schema: u32,
    /// `process`, `command` or `cgroup`.
    pub by: &'static str,
    /// The machine's name.
    pub host: String,
    /// When sampling started, RFC 3339 UTC.
    pub started_at: String,
    /// Seconds sampled.
    pub duration_s: f64,
    /// Samples of the machine taken.
    pub samples: u64,
    /// Seconds between samples.
    pub interval_s: f64,
    /// The memory figure judged (`anon`, `rss`).
    pub metric: &'static str,
    /// The machine's memory at the end.
    pub machine: MachineFigures,
    /// Processes read at the end.
    pub processes: usize,
    /// Processes that could not be read.
    pub unreadable: UnreadableFigures,
    /// Every group, first the one to look at.
    pub groups: Vec<GroupReport>,
}

/// The machine's memory.
#[derive(Debug, Serialize)]
pub struct MachineFigures {
    /// `MemTotal`.
    pub mem_total_bytes: u64,
    /// `MemAvailable`.
    pub mem_available_bytes: u64,
}

/// Processes memwarden could not read, and what that leaves out.
#[derive(Debug, Serialize)]
pub struct UnreadableFigures {
    /// Processes whose memory could not be read (in no group).
    pub processes: u32,
    /// Processes whose open descriptors could not be counted.
    pub fds: u32,
}

/// One group.
#[derive(Debug, Serialize)]
pub struct GroupReport {
    /// 1 for the first.
    pub rank: usize,
    /// The group's name.
    pub name: String,
    /// Live processes now (0 for a group that has gone).
    pub processes: u32,
    /// Its memory.
    pub memory: GroupMemory,
    /// Its cgroup's limit, when it has one.
    pub limit_bytes: Option<u64>,
    /// The verdict, as a run's report carries it.
    pub verdict: RunVerdict,
    /// Its largest processes now.
    pub top: Vec<GroupProcess>,
}

/// A group's memory.
#[derive(Debug, Serialize)]
pub struct GroupMemory {
    /// The figure (`anon`, `rss`).
    pub metric: &'static str,
    /// Now.
    pub now_bytes: u64,
    /// The highest seen.
    pub peak_bytes: u64,
    /// Resident, summed.
    pub rss_bytes: u64,
    /// What the kernel charges its cgroup (`--by cgroup`).
    pub cgroup_bytes: Option<u64>,
}

/// One process of a group.
#[derive(Debug, Serialize)]
pub struct GroupProcess {
    /// PID.
    pub pid: u32,
    /// Its command line (cut).
    pub command: String,
    /// Anonymous memory now.
    pub anon_bytes: u64,
    /// Average growth since first seen.
    pub growth_bytes_per_s: f64,
}

/// What the report says of the session besides the groups.
pub struct Session {
    /// The machine's name.
    pub host: String,
    /// Start, RFC 3339.
    pub started_at: String,
    /// Seconds sampled.
    pub duration_s: f64,
    /// Samples taken.
    pub samples: u64,
    /// Interval, seconds.
    pub interval_s: f64,
}

/// The report of `board`, with each group's largest processes from `sampler`.
pub fn build(board: &Board, sampler: &HostSampler, session: Session) -> TopReport {
    let groups = board
        .sorted(SortBy::Rank)
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut top: Vec<GroupProcess> = sampler
                .members(row.id)
                .map(|(p, now)| GroupProcess {
                    pid: p.pid,
                    command: p.command.clone(),
                    anon_bytes: now.anon_bytes,
                    growth_bytes_per_s: p.growth_bytes_per_s(),
                })
                .collect();
            top.sort_by_key(|p| std::cmp::Reverse(p.anon_bytes));
            top.truncate(TOP_PER_GROUP);
            GroupReport {
                rank: i + 1,
                name: row.name.clone(),
                processes: row.last.tree.processes,
                memory: GroupMemory {
                    metric: board.metric().name(),
                    now_bytes: row.bytes,
                    peak_bytes: row.peak_bytes,
                    rss_bytes: row.last.tree.rss_bytes,
                    cgroup_bytes: row.last.cgroup_bytes,
                },
                limit_bytes: row.limit_bytes,
                verdict: row.final_verdict(),
                top,
            }
        })
        .collect();
    let machine = board
        .rows()
        .next()
        .map(|r| r.last.machine)
        .unwrap_or_default();
    let Unreadable { processes: p, fds } = sampler.unreadable();
    TopReport {
        schema: 1,
        by: sampler.by().as_str(),
        host: session.host,
        started_at: session.started_at,
        duration_s: session.duration_s,
        samples: session.samples,
        interval_s: session.interval_s,
        metric: board.metric().name(),
        machine: MachineFigures {
            mem_total_bytes: machine.mem_total_bytes,
            mem_available_bytes: machine.mem_available_bytes,
        },
        processes: sampler.processes(),
        unreadable: UnreadableFigures { processes: p, fds },
        groups,
    }
}

/// The unreadable processes in words, if any.
pub fn unreadable_note(u: &UnreadableFigures) -> Option<String> {
    let mut parts = Vec::new();
    if u.processes > 0 {
        parts.push(format!(
            "{} could not be read (other users'; run as root to see them): not counted",
            processes(u.processes.into())
        ));
    }
    if u.fds > 0 {
        parts.push(format!(
            "the open descriptors of {} could not be counted",
            processes(u.fds.into())
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A verdict's kind as the table shows it: `leak (threads)` when more than memory leaks,
/// `rising` for a floor rising steadily that no leak is called on yet.
pub fn verdict_cell(v: &Standing) -> String {
    if !v.resource.is_empty() {
        format!("leak ({})", v.resource)
    } else if v.rising && !v.leaks() {
        "rising".to_string()
    } else {
        v.kind.to_string()
    }
}

/// The time to exhaustion as the table shows it.
pub fn exhaustion_cell(v: &Standing) -> String {
    v.time_to_limit_s.map_or_else(|| "-".into(), format_seconds)
}

/// The floor's growth as the table shows it.
pub fn growth_cell(rate: f64) -> String {
    if rate == 0.0 {
        return "-".into();
    }
    let sign = if rate < 0.0 { "-" } else { "+" };
    format!("{sign}{}", memwarden::units::format_rate(rate.abs()))
}

/// The text report: a header, the first `rows` groups as a table, and notes.
pub fn text(report: &TopReport, rows: usize) -> String {
    let mut out = format!(
        "memwarden top: {} groups by {} on {}, {} sampled ({} samples), {} judged\n",
        report.groups.len(),
        report.by,
        report.host,
        format_seconds(report.duration_s),
        report.samples,
        report.metric,
    );
    out.push_str(&format!(
        "{:>4}  {:<40}  {:>10}  {:>14}  {:<16}  {:>10}  {:>5}\n",
        "RANK", "GROUP", "MEMORY", "FLOOR GROWTH", "VERDICT", "EXHAUSTED", "PROCS"
    ));
    for g in report.groups.iter().take(rows) {
        let standing = Standing::of(&g.verdict);
        out.push_str(&format!(
            "{:>4}  {:<40}  {:>10}  {:>14}  {:<16}  {:>10}  {:>5}\n",
            g.rank,
            shorten(&g.name, 40),
            format_bytes(g.memory.now_bytes),
            growth_cell(standing.growth_bytes_per_s),
            verdict_cell(&standing),
            exhaustion_cell(&standing),
            g.processes,
        ));
    }
    if report.groups.len() > rows {
        out.push_str(&format!(
            "… and {} more (--rows N, or --format json for every group)\n",
            report.groups.len() - rows
        ));
    }
    for g in report.groups.iter().filter(|g| g.verdict.leaks()) {
        out.push_str(&format!("{}: {}\n", shorten(&g.name, 60), g.verdict.reason));
    }
    if let Some(note) = unreadable_note(&report.unreadable) {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}
