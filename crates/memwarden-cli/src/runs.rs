//! The commands on the store's runs: `ls` lists them, `rm` and `prune` remove them.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use crate::cli::{ListFormat, LsArgs, PruneArgs, RmArgs};
use crate::record::RunState;
use crate::report::term::{printable, shorten};
use crate::store::{self, RunFilter, RunRow, Store};

/// `memwarden ls`: the runs, oldest first; no database yet is no runs, not an error.
pub fn ls(db: Option<&Path>, args: &LsArgs) -> Result<String> {
    let path = store::path_or_default(db)?;
    let filter = RunFilter {
        label: args.label.clone(),
        since_unix_ms: args.since,
        ..RunFilter::default()
    };
    let store = Store::open_if_exists(&path)?;
    let runs = match &store {
        Some(store) => store.runs_matching(&filter)?,
        None => Vec::new(),
    };
    let text = match args.format {
        ListFormat::Json => {
            let rows: Vec<serde_json::Value> = runs.iter().map(RunRow::to_json).collect();
            format!("{}\n", serde_json::to_string_pretty(&rows)?)
        }
        ListFormat::Text => match store.as_ref().filter(|_| !runs.is_empty()) {
            Some(store) => crate::report::ls::listing(store, runs),
            None => empty(&filter, &path),
        },
    };
    Ok(text)
}

/// What `ls` says when no run is listed.
fn empty(filter: &RunFilter, path: &Path) -> String {
    if *filter != RunFilter::default() {
        "no runs match\n".to_string()
    } else {
        format!(
            "no runs recorded yet in {} (`memwarden run -- CMD` records one)\n",
            path.display()
        )
    }
}

/// `memwarden rm`: removes the runs named, each as `report` finds it.
pub fn rm(db: Option<&Path>, args: &RmArgs) -> Result<String> {
    let path = store::path_or_default(db)?;
    let Some(mut store) = Store::open_writable(&path)? else {
        anyhow::bail!("no runs recorded yet: {} does not exist", path.display());
    };
    let mut runs: Vec<RunRow> = Vec::new();
    for spec in &args.runs {
        let run = store.resolve(Some(spec))?;
        if !runs.iter().any(|r| r.id == run.id) {
            runs.push(run);
        }
    }
    remove(&mut store, runs, args.dry_run, "")
}

/// `memwarden prune`: removes the runs started before a time (runs in progress are kept).
pub fn prune(db: Option<&Path>, args: &PruneArgs) -> Result<String> {
    let path = store::path_or_default(db)?;
    let Some(mut store) = Store::open_writable(&path)? else {
        return Ok(format!("no runs recorded yet in {}\n", path.display()));
    };
    let filter = RunFilter {
        label: args.label.clone(),
        before_unix_ms: Some(args.older_than),
        ..RunFilter::default()
    };
    let (kept, runs): (Vec<RunRow>, Vec<RunRow>) = store
        .runs_matching(&filter)?
        .into_iter()
        .partition(|r| r.state == RunState::Running);
    let kept = match kept.len() {
        0 => String::new(),
        n => format!("kept {n} still running\n"),
    };
    if runs.is_empty() {
        return Ok(format!("no runs to remove\n{kept}"));
    }
    remove(&mut store, runs, args.dry_run, &kept)
}

/// Removes `runs` (or says what would be removed), one line each, then a total.
fn remove(store: &mut Store, runs: Vec<RunRow>, dry_run: bool, tail: &str) -> Result<String> {
    if !dry_run {
        store.remove_runs(&runs)?;
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    let mut out = String::new();
    for r in &runs {
        let _ = writeln!(
            out,
            "{verb} run {}: {} (started {}, {})",
            r.id,
            shorten(&printable(&r.meta.label), 48),
            r.meta.started_at,
            r.state.describe()
        );
    }
    let _ = writeln!(
        out,
        "{verb} {} run{}{}",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        if dry_run {
            " (dry run: nothing removed)"
        } else {
            ""
        }
    );
    out.push_str(tail);
    Ok(out)
}
