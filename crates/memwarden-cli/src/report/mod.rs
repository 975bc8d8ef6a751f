//! Reports of a run: the model (JSON), text; more formats plug in here, one file each.

pub mod model;
pub mod text;

use anyhow::Result;

use crate::record::kind;
use crate::store::{RunRow, Store};
use model::{top_processes, Metric, RunReport, RunStats};

/// Rebuilds a recorded run's report from the store, with the same accumulator a live run uses.
pub fn load(store: &Store, row: &RunRow) -> Result<RunReport> {
    let mut stats = RunStats::new(Metric::from_name(&row.meta.metric));
    let events = store.events(row.id)?;
    // As live: samples after the command's exit (its leftovers being stopped) count for peaks only.
    let exited_at = events
        .iter()
        .find(|e| e.kind == kind::EXIT && row.meta.kind == "run")
        .map_or(f64::INFINITY, |e| e.at_s);
    store.for_each_sample(row.id, |s| {
        if s.t > exited_at {
            stats.command_ended();
        }
        stats.push(s)
    })?;
    let processes = store.processes(row.id)?;
    let table = top_processes(processes.len() as u64, &processes);
    Ok(stats.report(Some(row.id), &row.meta, row.end.as_ref(), table, events))
}

/// The JSON report, pretty-printed, with a final newline.
pub fn json(report: &RunReport) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a report always serializes");
    s.push('\n');
    s
}
