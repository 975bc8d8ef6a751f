//! CSV: every sample of the run, one row each, streamed (a week at 1 s is 604,800 rows).
//!
//! The first column is the time and the second the anonymous memory, so the file reads back
//! as a trace (`t_seconds,bytes[,...]`). Empty cells are values the sample did not have (PSS
//! before it was first read, a cgroup charge without a cgroup, pressure without PSI). A row
//! with `processes` 0 is a sample of an empty tree (after the command exited).

use std::io::{BufWriter, Write};

use anyhow::Result;
use memwarden::sample::Sample;

use super::{RenderRun, Run};

/// The columns, in order (documented in the README).
pub const COLUMNS: [&str; 12] = [
    "t_seconds",
    "anon_bytes",
    "rss_bytes",
    "swap_bytes",
    "pss_bytes",
    "cgroup_bytes",
    "threads",
    "fds",
    "processes",
    "mem_available_bytes",
    "psi_some_avg10",
    "psi_full_avg10",
];

/// The CSV format.
pub struct Csv;

impl RenderRun for Csv {
    fn render(&self, run: &Run<'_>, out: &mut dyn Write) -> Result<()> {
        let mut out = BufWriter::with_capacity(64 * 1024, out);
        writeln!(out, "{}", COLUMNS.join(","))?;
        let mut failed = None;
        run.samples.for_each(&mut |s| {
            if failed.is_none() {
                if let Err(e) = row(&mut out, s) {
                    failed = Some(e);
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        out.flush()?;
        Ok(())
    }
}

fn row(out: &mut impl Write, s: &Sample) -> std::io::Result<()> {
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let optf = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    writeln!(
        out,
        "{:.3},{},{},{},{},{},{},{},{},{},{},{}",
        s.t,
        s.tree.anon_bytes,
        s.tree.rss_bytes,
        s.tree.swap_bytes,
        opt(s.tree.pss_bytes),
        opt(s.cgroup_bytes),
        s.tree.threads,
        s.tree.fds,
        s.tree.processes,
        s.machine.mem_available_bytes,
        optf(s.machine.psi_some_avg10),
        optf(s.machine.psi_full_avg10),
    )
}
