//! The end-of-run summary on stderr: how the run ended, then the verdict (the finding first,
//! the detector's reason after it), then the figures, then where the run is stored. A few
//! short lines fitted to the terminal: everything else is in `memwarden report`.

use std::fmt::Write;
use std::path::Path;

use memwarden::units::format_bytes;

use super::ending::{ending_with_status, processes};
use super::model::RunReport;
use super::term::{printable, shorten, Layout};
use super::text::{field, figures_field, metric_peak, sampling, verdict_fields};
use crate::record::EventKind;

/// Where a run was stored: its database, and whether `memwarden report` finds it there
/// without `--db` (it is the default database, or the one `MEMWARDEN_DB` names).
#[derive(Debug, Clone)]
pub struct Stored<'a> {
    /// The database file.
    pub path: &'a str,
    /// `--db` is not needed to read it again.
    pub found_by_default: bool,
}

impl<'a> Stored<'a> {
    /// `path`, found by default when it is the database `memwarden report` opens unasked.
    pub fn at(path: &'a str) -> Stored<'a> {
        let default = crate::store::path_or_default(None).ok();
        let env = std::env::var_os("MEMWARDEN_DB").filter(|v| !v.is_empty());
        let found_by_default = default.as_deref() == Some(Path::new(path))
            || env.as_deref() == Some(std::ffi::OsStr::new(path));
        Stored {
            path,
            found_by_default,
        }
    }
}

/// The summary printed on stderr when a run ends.
pub fn summary(report: &RunReport, stored: Option<&Stored<'_>>, layout: Layout) -> String {
    let mut out = String::new();
    let end = ending_with_status(report);
    let label = printable(&report.label);
    let one_line = format!("memwarden: `{label}` {end}");
    if one_line.chars().count() <= layout.width {
        let _ = writeln!(out, "{one_line}");
    } else {
        // The label on its line, the end whole below it.
        let label = shorten(&label, layout.width.saturating_sub("memwarden: ``".len()));
        let _ = writeln!(out, "memwarden: `{label}`");
        field(&mut out, "", &end, layout);
    }
    verdict_fields(&mut out, report, layout, false, Some(2));
    let m = &report.memory;
    figures_field(
        &mut out,
        "memory",
        &[
            metric_peak(report),
            format!(
                "{} → {}",
                format_bytes(m.start_bytes),
                format_bytes(m.end_bytes)
            ),
            format!("rss {}", format_bytes(m.peak_rss_bytes)),
        ],
        layout,
    );
    figures_field(
        &mut out,
        "tree",
        &[
            format!(
                "{} ({} at once)",
                processes(report.processes.seen),
                report.processes.max_alive
            ),
            report.mode.clone(),
            sampling(report),
        ],
        layout,
    );
    for gate in report.events.iter().filter(|e| e.kind == EventKind::Gate) {
        field(&mut out, "gate", &printable(&gate.detail), layout);
    }
    if let Some(heap) = &report.heap {
        out.push_str(&crate::heap::render::text(heap, layout.width));
    }
    let stored_line = match (stored, report.run_id) {
        (Some(s), Some(id)) => {
            let lost = report
                .events
                .iter()
                .any(|e| e.kind == EventKind::StoreError);
            let incomplete = if lost {
                ", incomplete (see the store error above)"
            } else {
                ""
            };
            let db = if s.found_by_default {
                String::new()
            } else {
                format!(" --db {}", shlex::try_quote(s.path).unwrap_or_default())
            };
            format!("run {id}{incomplete}; the whole report: memwarden{db} report {id}")
        }
        _ => "not recorded (see the store error above)".to_string(),
    };
    field(&mut out, "stored", &stored_line, layout);
    out
}
