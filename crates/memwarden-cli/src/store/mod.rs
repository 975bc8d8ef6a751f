//! The run database: SQLite in WAL mode, private to its user, schema-versioned.
//! Writing during a run goes through [`writer::Recorder`] so sampling never waits on disk;
//! reading for `ls` and `report` is here.

mod fold;
pub mod heap;
mod schema;
pub mod writer;

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use memwarden::sample::{MachineSample, ProcessSummary, Sample, TreeTotals};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::record::{Event, ExitInfo, RunEnd, RunMeta};

/// A recorded run as `ls` and `report` read it.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// The run's id.
    pub id: i64,
    /// What was known at the start.
    pub meta: RunMeta,
    /// What was known at the end (`None` while running, or if memwarden was killed).
    pub end: Option<RunEnd>,
}

/// Which runs `ls` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs whose label contains this text (ASCII letters compared without case).
    pub label: Option<String>,
    /// Only runs started at or after this time, milliseconds since the Unix epoch.
    pub since_unix_ms: Option<i64>,
}

/// An open run database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// The store's path: `db` (`--db` or `MEMWARDEN_DB`) when given, else [`default_path`].
pub fn path_or_default(db: Option<&Path>) -> Result<PathBuf> {
    db.map_or_else(default_path, |p| Ok(p.to_path_buf()))
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
    /// Opens the database for writing, creating it (directory 0700, file 0600) if needed.
    pub fn create(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create the directory {}", dir.display()))?;
        }
        // Create the file ourselves so it is private from the first byte; SQLite gives the
        // -wal and -shm files the same permissions.
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Self::open_with(path)
    }

    /// Opens an existing database (for `ls` and `report`); a missing file is a clear error.
    pub fn open_existing(path: &Path) -> Result<Store> {
        if !path.exists() {
            bail!(
                "no runs recorded yet: {} does not exist (record one with `memwarden run -- CMD`)",
                path.display()
            );
        }
        Self::open_with(path)
    }

    fn open_with(path: &Path) -> Result<Store> {
        let not_ours = |e: &dyn std::fmt::Display| {
            anyhow!(
                "{} is not a usable memwarden database: {e} (move it away or choose another with --db)",
                path.display()
            )
        };
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| not_ours(&e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL lets `ls` read while runs write; NORMAL sync is safe with WAL (a crash may lose
        // the last batch, never corrupt the file).
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .map_err(|e| not_ours(&e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn).map_err(|e| not_ours(&e))?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the start of a run and returns its id.
    pub fn begin_run(&mut self, meta: &RunMeta) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO runs (kind, label, command, host, started_at, started_unix_ms, interval_s,
                               mode, metric, mem_total_bytes, options)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                meta.kind,
                meta.label,
                serde_json::to_string(&meta.command)?,
                meta.host,
                meta.started_at,
                meta.started_unix_ms,
                meta.interval_s,
                meta.mode,
                meta.metric,
                meta.mem_total_bytes as i64,
                meta.options.to_string(),
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The runs `filter` lets through, oldest first.
    pub fn runs_matching(&self, filter: &RunFilter) -> Result<Vec<RunRow>> {
        // instr(lower(..)) rather than LIKE: no wildcard in the label needs escaping.
        let mut stmt = self.conn.prepare(&format!(
            "{RUN_COLUMNS}
             WHERE (?1 IS NULL OR instr(lower(label), lower(?1)) > 0)
               AND (?2 IS NULL OR started_unix_ms >= ?2)
             ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![filter.label, filter.since_unix_ms], run_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Finds a run by id, by label (the latest with it), or the last run when `spec` is `None`.
    pub fn resolve(&self, spec: Option<&str>) -> Result<RunRow> {
        let found = match spec {
            None | Some("last") => self
                .conn
                .query_row(
                    &format!("{RUN_COLUMNS} ORDER BY id DESC LIMIT 1"),
                    [],
                    run_row,
                )
                .optional()?,
            Some(s) => {
                let by_id = match s.parse::<i64>() {
                    Ok(id) => self
                        .conn
                        .query_row(&format!("{RUN_COLUMNS} WHERE id = ?1"), [id], run_row)
                        .optional()?,
                    Err(_) => None,
                };
                match by_id {
                    Some(r) => Some(r),
                    None => self
                        .conn
                        .query_row(
                            &format!("{RUN_COLUMNS} WHERE label = ?1 ORDER BY id DESC LIMIT 1"),
                            [s],
                            run_row,
                        )
                        .optional()?,
                }
            }
        };
        found.ok_or_else(|| match spec {
            None | Some("last") => anyhow!("no runs recorded yet in {}", self.path.display()),
            Some(s) => anyhow!(
                "no run with id or label '{s}' in {} (see `memwarden ls`)",
                self.path.display()
            ),
        })
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
                kind: r.get(1)?,
                detail: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

const RUN_COLUMNS: &str = "SELECT id, kind, label, command, host, started_at, started_unix_ms,
    interval_s, mode, metric, mem_total_bytes, options, ended_unix_ms, duration_s, exit_code,
    exit_signal, stopped_by, status, peak_bytes, verdict, samples FROM runs";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    let json = |i: usize| -> rusqlite::Result<serde_json::Value> {
        let text: Option<String> = r.get(i)?;
        Ok(text
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null))
    };
    let command = match json(3)? {
        serde_json::Value::Array(a) => a
            .into_iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => Vec::new(),
    };
    let meta = RunMeta {
        kind: r.get(1)?,
        label: r.get(2)?,
        command,
        host: r.get(4)?,
        started_at: r.get(5)?,
        started_unix_ms: r.get(6)?,
        interval_s: r.get(7)?,
        mode: r.get(8)?,
        metric: r.get(9)?,
        mem_total_bytes: r.get::<_, i64>(10)? as u64,
        options: json(11)?,
    };
    let ended: Option<i64> = r.get(12)?;
    let end = match ended {
        None => None,
        Some(ended_unix_ms) => {
            let (code, signal): (Option<i32>, Option<i32>) = (r.get(14)?, r.get(15)?);
            Some(RunEnd {
                ended_unix_ms,
                duration_s: r.get::<_, Option<f64>>(13)?.unwrap_or(0.0),
                exit: (code.is_some() || signal.is_some()).then_some(ExitInfo { code, signal }),
                stopped_by: r.get(16)?,
                status: r.get::<_, Option<i64>>(17)?.unwrap_or(0) as u8,
                peak_bytes: r.get::<_, Option<i64>>(18)?.unwrap_or(0) as u64,
                verdict: Some(json(19)?).filter(|v| !v.is_null()),
                samples: r.get::<_, Option<i64>>(20)?.unwrap_or(0) as u64,
            })
        }
    };
    Ok(RunRow {
        id: r.get(0)?,
        meta,
        end,
    })
}

impl RunRow {
    /// The row as `ls --format json` prints it.
    pub fn to_json(&self) -> serde_json::Value {
        let end = self.end.as_ref();
        serde_json::json!({
            "id": self.id,
            "label": self.meta.label,
            "kind": self.meta.kind,
            "command": self.meta.command,
            "started_at": self.meta.started_at,
            "duration_s": end.map(|e| e.duration_s),
            "peak_bytes": end.map(|e| e.peak_bytes),
            "metric": self.meta.metric,
            "verdict": end.and_then(|e| e.verdict.as_ref()).and_then(|v| v.get("kind").cloned()),
            "exit": end.and_then(|e| e.exit),
            "stopped_by": end.and_then(|e| e.stopped_by.clone()),
            "status": end.map(|e| e.status),
            "mode": self.meta.mode,
        })
    }
}
