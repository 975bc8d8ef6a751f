//! The run database: SQLite in WAL mode, private to its user, schema-versioned, and never
//! another program's file. Writing during a run goes through [`writer::Recorder`], whose
//! thread also opens the database, so sampling never waits on disk; reading for `ls` and
//! `report` opens it read-only ([`Store::open_if_exists`]).

mod catalog;
mod fold;
pub mod heap;
mod open;
mod schema;
pub mod writer;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use memwarden::sample::{MachineSample, ProcessSummary, Sample, TreeTotals};
use rusqlite::Connection;

pub use catalog::{AbandonedRun, RunFilter, RunRow};
pub use fold::Folder;

use crate::record::{Event, EventKind};

/// An open run database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// This machine's name: only runs recorded here can be checked for a live memwarden.
    host: String,
}

/// The store's path: `db` (`--db` or `MEMWARDEN_DB`) when given and not empty, else
/// [`default_path`] (`MEMWARDEN_DB=` set but empty is as good as unset).
pub fn path_or_default(db: Option<&Path>) -> Result<PathBuf> {
    match db.filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => Ok(p.to_path_buf()),
        None => default_path(),
    }
}

/// Where runs are stored unless `--db` or `MEMWARDEN_DB` says otherwise:
/// `$XDG_DATA_HOME/memwarden/memwarden.db`, else `~/.local/share/memwarden/memwarden.db`.
fn default_path() -> Result<PathBuf> {
    let non_empty = |v: &str| {
        std::env::var_os(v)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    let base = non_empty("XDG_DATA_HOME")
        .or_else(|| non_empty("HOME").map(|h| h.join(".local/share")))
        .ok_or_else(|| {
            anyhow!("neither XDG_DATA_HOME nor HOME is set; give the database with --db PATH")
        })?;
    Ok(base.join("memwarden").join("memwarden.db"))
}

impl Store {
    fn new(conn: Connection, path: &Path) -> Store {
        Store {
            conn,
            path: path.to_path_buf(),
            host: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }

    /// Calls `f` with each stored sample of run `id`, in time order.
    pub fn for_each_sample(&self, id: i64, mut f: impl FnMut(&Sample)) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT t, rss, anon, swap, pss, threads, fds, processes, cgroup, mem_available,
                    psi_some, psi_full
             FROM samples WHERE run_id = ?1 ORDER BY t",
        )?;
        let mut rows = stmt.query([id])?;
        let mem_total: i64 = self.conn.query_row(
            "SELECT mem_total_bytes FROM runs WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?;
        while let Some(r) = rows.next()? {
            let sample = Sample {
                t: r.get(0)?,
                tree: TreeTotals {
                    rss_bytes: r.get::<_, i64>(1)? as u64,
                    anon_bytes: r.get::<_, i64>(2)? as u64,
                    swap_bytes: r.get::<_, i64>(3)? as u64,
                    pss_bytes: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                    threads: r.get::<_, i64>(5)? as u64,
                    fds: r.get::<_, i64>(6)? as u64,
                    processes: r.get::<_, i64>(7)? as u32,
                },
                cgroup_bytes: r.get::<_, Option<i64>>(8)?.map(|v| v as u64),
                machine: MachineSample {
                    mem_total_bytes: mem_total as u64,
                    mem_available_bytes: r.get::<_, i64>(9)? as u64,
                    psi_some_avg10: r.get(10)?,
                    psi_full_avg10: r.get(11)?,
                },
            };
            f(&sample);
        }
        Ok(())
    }

    /// The time of the first and the last sample of run `id`, if it has any.
    pub fn sample_span(&self, id: i64) -> Result<Option<(f64, f64)>> {
        let (first, last): (Option<f64>, Option<f64>) = self.conn.query_row(
            "SELECT min(t), max(t) FROM samples WHERE run_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(first.zip(last))
    }

    /// The processes recorded for run `id`.
    pub fn processes(&self, id: i64) -> Result<Vec<ProcessSummary>> {
        let mut stmt = self.conn.prepare(
            "SELECT pid, ppid, start_ticks, command, first_seen_s, last_seen_s, first_anon,
                    last_anon, peak_anon, peak_at_s, peak_rss, peak_threads, peak_fds, exited
             FROM processes WHERE run_id = ?1",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok(ProcessSummary {
                pid: r.get(0)?,
                ppid: r.get(1)?,
                start_ticks: r.get::<_, i64>(2)? as u64,
                command: r.get(3)?,
                first_seen_s: r.get(4)?,
                last_seen_s: r.get(5)?,
                first_anon_bytes: r.get::<_, i64>(6)? as u64,
                last_anon_bytes: r.get::<_, i64>(7)? as u64,
                peak_anon_bytes: r.get::<_, i64>(8)? as u64,
                peak_at_s: r.get(9)?,
                peak_rss_bytes: r.get::<_, i64>(10)? as u64,
                peak_threads: r.get(11)?,
                peak_fds: r.get(12)?,
                exited: r.get(13)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The events of run `id`, in time order.
    pub fn events(&self, id: i64) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare(
            "SELECT at_s, kind, detail FROM events WHERE run_id = ?1 ORDER BY at_s, rowid",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok(Event {
                at_s: r.get(0)?,
                kind: EventKind::from_name(&r.get::<_, String>(1)?),
                detail: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
