//! The table of `memwarden ls`: one line per run, fitted to the width, the label last (cut to
//! what the line has left). A run still going shows its figures so far.

use memwarden::units::{format_bytes, format_seconds};

use super::ending::signal_name;
use super::model::RunReport;
use super::table::Table;
use super::term::{printable, Layout};
use crate::store::{RunRow, Store};

/// One run to list: its row, and for a run without an end its report so far.
pub struct Listed {
    /// The stored row.
    pub row: RunRow,
    /// The figures so far of a run that has no end (`None` for an ended run).
    pub so_far: Option<RunReport>,
}

/// The text of `ls` for `runs` of `store`: the table, fitted to stdout; a run without an end
/// is replayed for its figures so far (an unreadable one shows none).
pub fn listing(store: &Store, runs: Vec<RunRow>) -> String {
    let listed: Vec<Listed> = runs
        .into_iter()
        .map(|row| {
            let so_far = row
                .end
                .is_none()
                .then(|| super::load(store, &row).ok())
                .flatten();
            Listed { row, so_far }
        })
        .collect();
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    runs_table(&listed, Layout::for_stdout(true), &now[..4])
}

/// The `ls` table.
pub fn runs_table(runs: &[Listed], layout: Layout, this_year: &str) -> String {
    let mut table = Table::new(&[
        "id", "started", "duration", "peak", "verdict", "exit", "label",
    ]);
    for Listed { row, so_far } in runs {
        let (duration, peak, verdict, exit) = match (&row.end, so_far) {
            (Some(e), _) => (
                format_seconds(e.duration_s),
                format_bytes(e.peak_bytes),
                e.verdict.as_ref().map(|v| v.kind.to_string()),
                match (e.exit, e.stopped_by) {
                    (_, Some(by)) => format!("{} {by}", e.status),
                    (Some(x), None) if x.signal.is_some() => {
                        format!("{} {}", e.status, signal_name(x.signal.unwrap_or(0)))
                    }
                    _ => e.status.to_string(),
                },
            ),
            (None, Some(r)) => (
                format!("{}+", format_seconds(r.duration_s)),
                format_bytes(r.memory.peak_bytes),
                r.verdict.as_ref().map(|v| v.kind.to_string()),
                r.state.describe().to_string(),
            ),
            (None, None) => ("-".into(), "-".into(), None, row.state.describe().into()),
        };
        table.row(vec![
            row.id.to_string(),
            started(&row.meta.started_at, this_year),
            duration,
            peak,
            verdict.unwrap_or_else(|| "-".into()),
            exit,
            printable(&row.meta.label).into_owned(),
        ]);
    }
    table.render(layout.width)
}

/// `2024-05-01T10:00:00Z` as `05-01 10:00` in `this_year` (`2024`), else as `2023-05-01`.
pub fn started(rfc3339: &str, this_year: &str) -> String {
    let (date, time) = rfc3339.split_once('T').unwrap_or((rfc3339, ""));
    match date.split_once('-') {
        Some((year, month_day)) if year == this_year => {
            format!("{month_day} {}", time.get(..5).unwrap_or(time))
        }
        _ => date.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_are_short_this_year() {
        assert_eq!(started("2024-05-01T10:00:59Z", "2024"), "05-01 10:00");
        assert_eq!(started("2023-12-31T23:59:00Z", "2024"), "2023-12-31");
    }
}
