//! The runs table: recording a run's start, listing and finding runs, telling a run in
//! progress from one whose memwarden died, removing runs.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use memwarden::sample::procfs::{ProcFs, ReadError};
use rusqlite::params;

use super::Store;
use crate::record::{ExitInfo, RunEnd, RunKind, RunMeta, RunState, StoppedBy};

/// A recorded run as `ls` and `report` read it.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// The run's id.
    pub id: i64,
    /// What was known at the start.
    pub meta: RunMeta,
    /// What was known at the end (`None` while running, or if memwarden was killed).
    pub end: Option<RunEnd>,
    /// The memwarden that recorded it (`None` for runs recorded before this was kept).
    pub owner: Option<Owner>,
    /// The run's cgroup directory, when it had one.
    pub cgroup: Option<PathBuf>,
    /// Ended, in progress, or left without an end by a memwarden that died.
    pub state: RunState,
}

/// The memwarden process recording a run: its PID and its start time, which tells a reused
/// PID apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// Its PID.
    pub pid: u32,
    /// Its start time, clock ticks since boot (field 22 of /proc/PID/stat).
    pub start_ticks: u64,
}

impl Owner {
    /// This process.
    pub fn current() -> Option<Owner> {
        let pid = std::process::id();
        let stat = ProcFs::default().stat(pid, &mut Vec::new()).ok()?;
        Some(Owner {
            pid,
            start_ticks: stat.start_ticks,
        })
    }

    /// Whether it is still alive (the same process: its PID with its start time, not a
    /// zombie); `None` when /proc does not say.
    pub fn is_alive(&self) -> Option<bool> {
        match ProcFs::default().stat(self.pid, &mut Vec::new()) {
            Ok(stat) => Some(stat.start_ticks == self.start_ticks && stat.state != 'Z'),
            Err(ReadError::Gone(_)) => Some(false),
            Err(_) => None,
        }
    }
}

/// A run whose memwarden died before recording its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbandonedRun {
    /// The run's id.
    pub id: i64,
    /// Its label.
    pub label: String,
    /// The memwarden that died.
    pub owner: Owner,
    /// Its cgroup directory, which may still hold the tree's survivors.
    pub cgroup: Option<PathBuf>,
}

/// Which runs `ls` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs whose label contains this text (ASCII letters compared without case).
    pub label: Option<String>,
    /// Only runs started at or after this time, milliseconds since the Unix epoch.
    pub since_unix_ms: Option<i64>,
    /// Only runs started before this time, milliseconds since the Unix epoch.
    pub before_unix_ms: Option<i64>,
}

/// Runs a name such as `nightly` picks out, listed when it names more than one label.
const LISTED_AT_MOST: usize = 10;

impl Store {
    /// Records the start of a run by this process, in `cgroup` if it has one; returns its id.
    pub fn begin_run(&mut self, meta: &RunMeta, cgroup: Option<&Path>) -> Result<i64> {
        let owner = Owner::current();
        self.conn.execute(
            "INSERT INTO runs (kind, label, command, host, started_at, started_unix_ms, interval_s,
                               mode, metric, mem_total_bytes, options, pid, pid_start_ticks,
                               cgroup)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                meta.kind.as_str(),
                meta.label,
                serde_json::to_string(&meta.command)?,
                meta.host,
                meta.started_at,
                meta.started_unix_ms,
                meta.interval_s,
                meta.mode,
                meta.metric,
                meta.mem_total_bytes as i64,
                serde_json::to_string(&meta.options)?,
                owner.map(|o| o.pid),
                owner.map(|o| o.start_ticks as i64),
                cgroup.map(|c| c.to_string_lossy().into_owned()),
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The runs `filter` lets through, oldest first.
    pub fn runs_matching(&self, filter: &RunFilter) -> Result<Vec<RunRow>> {
        // instr(lower(..)) rather than LIKE: no wildcard in the label needs escaping.
        self.query_runs(
            "WHERE (?1 IS NULL OR instr(lower(label), lower(?1)) > 0)
               AND (?2 IS NULL OR started_unix_ms >= ?2)
               AND (?3 IS NULL OR started_unix_ms < ?3)
             ORDER BY id",
            params![filter.label, filter.since_unix_ms, filter.before_unix_ms],
        )
    }

    /// Finds a run: by id; by label (the latest run with it); by part of a label, as
    /// `ls --label` matches, when the runs it matches share one label (the latest of them);
    /// or the last run when `spec` is `None` or `last`. A part matching several labels is an
    /// error listing the runs it matches.
    pub fn resolve(&self, spec: Option<&str>) -> Result<RunRow> {
        let where_ = |what: &str| format!("{what} in {}", self.path.display());
        let s = match spec {
            None | Some("last") => {
                return self
                    .query_runs("ORDER BY id DESC LIMIT 1", [])?
                    .pop()
                    .ok_or_else(|| anyhow!("{}", where_("no runs recorded yet")));
            }
            Some(s) => s,
        };
        if let Ok(id) = s.parse::<i64>() {
            if let Some(row) = self.query_runs("WHERE id = ?1", [id])?.pop() {
                return Ok(row);
            }
        }
        if let Some(row) = self
            .query_runs("WHERE label = ?1 ORDER BY id DESC LIMIT 1", [s])?
            .pop()
        {
            return Ok(row);
        }
        let matching = self.runs_matching(&RunFilter {
            label: Some(s.to_string()),
            ..RunFilter::default()
        })?;
        let Some(latest) = matching.last() else {
            bail!(
                "no run with id or label '{s}' in {} (see `memwarden ls`)",
                self.path.display()
            );
        };
        if matching.iter().all(|r| r.meta.label == latest.meta.label) {
            return Ok(latest.clone());
        }
        let labels = {
            let mut l: Vec<&str> = matching.iter().map(|r| r.meta.label.as_str()).collect();
            l.sort_unstable();
            l.dedup();
            l.len()
        };
        let mut listed: Vec<String> = matching
            .iter()
            .rev()
            .take(LISTED_AT_MOST)
            .map(|r| {
                let label = crate::record::printable(&r.meta.label);
                format!("  {:>5}  {}  {label}", r.id, r.meta.started_at)
            })
            .collect();
        listed.reverse();
        let more = matching.len().saturating_sub(LISTED_AT_MOST);
        if more > 0 {
            listed.insert(0, format!("  ({more} earlier not shown)"));
        }
        bail!(
            "'{s}' matches {} runs of {labels} different labels; give a run's id or its whole \
             label:\n{}",
            matching.len(),
            listed.join("\n")
        )
    }

    /// Runs without an end whose memwarden is gone: killed, or the machine restarted. Their
    /// cgroups may still hold what their trees left.
    pub fn abandoned_runs(&self) -> Result<Vec<AbandonedRun>> {
        let rows = self.query_runs(
            "WHERE ended_unix_ms IS NULL AND pid IS NOT NULL ORDER BY id",
            [],
        )?;
        Ok(rows
            .into_iter()
            .filter(|r| r.state == RunState::MemwardenDied)
            .filter_map(|r| {
                Some(AbandonedRun {
                    id: r.id,
                    label: r.meta.label,
                    owner: r.owner?,
                    cgroup: r.cgroup,
                })
            })
            .collect())
    }

    /// Removes runs and everything recorded with them, in one transaction. A run still being
    /// recorded is refused (its memwarden would go on writing into a run that is gone).
    pub fn remove_runs(&mut self, runs: &[RunRow]) -> Result<()> {
        if let Some(r) = runs.iter().find(|r| r.state == RunState::Running) {
            bail!(
                "run {} ({}) is still being recorded by memwarden (pid {}); remove it once it \
                 has ended",
                r.id,
                crate::record::printable(&r.meta.label),
                r.owner.map_or(0, |o| o.pid)
            );
        }
        let tx = self.conn.transaction()?;
        {
            // The samples, processes and events go with their run (ON DELETE CASCADE).
            let mut stmt = tx.prepare("DELETE FROM runs WHERE id = ?1")?;
            for r in runs {
                stmt.execute([r.id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn query_runs(&self, tail: &str, params: impl rusqlite::Params) -> Result<Vec<RunRow>> {
        let mut stmt = self.conn.prepare(&format!("{RUN_COLUMNS} {tail}"))?;
        let rows = stmt.query_map(params, |r| run_row(r, &self.host))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

const RUN_COLUMNS: &str = "SELECT id, kind, label, command, host, started_at, started_unix_ms,
    interval_s, mode, metric, mem_total_bytes, options, ended_unix_ms, duration_s, exit_code,
    exit_signal, stopped_by, status, peak_bytes, verdict, samples, pid, pid_start_ticks, cgroup
    FROM runs";

/// One row of [`RUN_COLUMNS`]; `this_host` tells whose runs can be checked for a live owner.
fn run_row(r: &rusqlite::Row<'_>, this_host: &str) -> rusqlite::Result<RunRow> {
    // JSON columns are read leniently: a record this version cannot read is shown without it.
    fn json<T: serde::de::DeserializeOwned>(
        r: &rusqlite::Row<'_>,
        i: usize,
    ) -> rusqlite::Result<Option<T>> {
        let text: Option<String> = r.get(i)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }
    let kind: String = r.get(1)?;
    let meta = RunMeta {
        kind: RunKind::from_name(&kind).unwrap_or(RunKind::Run),
        label: r.get(2)?,
        command: json(r, 3)?.unwrap_or_default(),
        host: r.get(4)?,
        started_at: r.get(5)?,
        started_unix_ms: r.get(6)?,
        interval_s: r.get(7)?,
        mode: r.get(8)?,
        metric: r.get(9)?,
        mem_total_bytes: r.get::<_, i64>(10)? as u64,
        options: json(r, 11)?.unwrap_or_default(),
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
                stopped_by: r
                    .get::<_, Option<String>>(16)?
                    .as_deref()
                    .and_then(StoppedBy::from_name),
                status: r.get::<_, Option<i64>>(17)?.unwrap_or(0) as u8,
                peak_bytes: r.get::<_, Option<i64>>(18)?.unwrap_or(0) as u64,
                verdict: json(r, 19)?,
                samples: r.get::<_, Option<i64>>(20)?.unwrap_or(0) as u64,
            })
        }
    };
    let owner = match (r.get::<_, Option<u32>>(21)?, r.get::<_, Option<i64>>(22)?) {
        (Some(pid), Some(ticks)) => Some(Owner {
            pid,
            start_ticks: ticks as u64,
        }),
        _ => None,
    };
    let state = match (&end, owner) {
        (Some(_), _) => RunState::Ended,
        (None, Some(o)) if meta.host == this_host => match o.is_alive() {
            Some(true) => RunState::Running,
            Some(false) => RunState::MemwardenDied,
            None => RunState::Unknown,
        },
        (None, _) => RunState::Unknown,
    };
    Ok(RunRow {
        id: r.get(0)?,
        meta,
        end,
        owner,
        cgroup: r.get::<_, Option<String>>(23)?.map(PathBuf::from),
        state,
    })
}

impl RunRow {
    /// The row as `ls --format json` prints it.
    pub fn to_json(&self) -> serde_json::Value {
        let end = self.end.as_ref();
        serde_json::json!({
            "id": self.id,
            "label": self.meta.label,
            "kind": self.meta.kind.as_str(),
            "command": self.meta.command,
            "started_at": self.meta.started_at,
            "state": self.state.as_str(),
            "duration_s": end.map(|e| e.duration_s),
            "peak_bytes": end.map(|e| e.peak_bytes),
            "metric": self.meta.metric,
            "verdict": end.and_then(|e| e.verdict.as_ref()).map(|v| v.kind.as_str()),
            "exit": end.and_then(|e| e.exit),
            "stopped_by": end.and_then(|e| e.stopped_by),
            "status": end.map(|e| e.status),
            "mode": self.meta.mode,
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The start of a run named `label` on this host.
    pub(in crate::store) fn meta(label: &str) -> RunMeta {
        RunMeta {
            kind: RunKind::Run,
            label: label.into(),
            command: vec!["sleep".into()],
            host: nix::unistd::gethostname()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            started_at: "2026-01-01T00:00:00Z".into(),
            started_unix_ms: 0,
            interval_s: 1.0,
            mode: "cgroup-v1".into(),
            metric: "anon".into(),
            mem_total_bytes: 1 << 30,
            options: Default::default(),
        }
    }

    /// The owner of a process that has really run and been reaped.
    pub(in crate::store) fn dead_owner() -> Owner {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let stat = ProcFs::default().stat(child.id(), &mut Vec::new()).unwrap();
        let owner = Owner {
            pid: child.id(),
            start_ticks: stat.start_ticks,
        };
        child.kill().unwrap();
        child.wait().unwrap();
        owner
    }

    /// Says run `id` was recorded by `owner`.
    pub(in crate::store) fn set_owner(store: &Store, id: i64, owner: Owner) {
        store
            .conn
            .execute(
                "UPDATE runs SET pid = ?1, pid_start_ticks = ?2 WHERE id = ?3",
                params![owner.pid, owner.start_ticks as i64, id],
            )
            .unwrap();
    }

    #[test]
    fn runs_without_an_end_are_running_or_abandoned_by_their_owner() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join("runs.db")).unwrap();
        let alive = store.begin_run(&meta("alive"), None).unwrap();
        let cgroup = Path::new("/sys/fs/cgroup/memory/memwarden-4242");
        let dead = store.begin_run(&meta("dead"), Some(cgroup)).unwrap();
        let owner = dead_owner();
        set_owner(&store, dead, owner);
        // A live PID with another start time is another process: its memwarden is gone too.
        let reused = store.begin_run(&meta("reused"), None).unwrap();
        store
            .conn
            .execute(
                "UPDATE runs SET pid_start_ticks = pid_start_ticks + 1 WHERE id = ?1",
                [reused],
            )
            .unwrap();

        let states: Vec<(String, RunState)> = store
            .runs_matching(&RunFilter::default())
            .unwrap()
            .into_iter()
            .map(|r| (r.meta.label, r.state))
            .collect();
        assert_eq!(
            states,
            [
                ("alive".to_string(), RunState::Running),
                ("dead".to_string(), RunState::MemwardenDied),
                ("reused".to_string(), RunState::MemwardenDied),
            ]
        );
        let abandoned = store.abandoned_runs().unwrap();
        assert_eq!(abandoned.len(), 2);
        assert_eq!(
            abandoned[0],
            AbandonedRun {
                id: dead,
                label: "dead".into(),
                owner,
                cgroup: Some(cgroup.to_path_buf()),
            }
        );
        assert_eq!(
            (abandoned[1].id, abandoned[1].cgroup.as_ref()),
            (reused, None)
        );
        assert_ne!(alive, dead);
    }
}
