//! The writer thread: opens the store, records the run's start, then records the run in
//! batches, so sampling never waits on disk.
//!
//! [`Recorder::start`] returns at once: opening the database and recording the start happen on
//! the thread, so a locked database, a slow or full disk or a corrupt file cannot delay the
//! first sample, a limit or a timeout. The run's id is known once the store has answered
//! ([`Recorder::run_id`]); until then, and for good when the store cannot be opened, it is
//! `None`, and the failure is handed to the sampler to say ([`Recorder::take_failure`]).
//!
//! Sending never blocks: records go through a channel capped at [`CHANNEL_CAPACITY`] records,
//! and a full channel (a disk slower than the sampler) drops the record and counts it. The
//! channel is a list that allocates as records wait and frees as they are written, not a
//! preallocated ring: a ring of 16 Ki records is 2.6 MiB that sampling touches page by page
//! until all of it is resident, whatever the tree (see BENCHMARKS.md). A failed batch
//! (locked database, full disk) is counted, reported once, and writing goes on with the next
//! batch, so a transient failure loses only what it must.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, SendError, Sender};
use rusqlite::{params, Transaction};

use super::fold::Folder;
use super::open::BUSY_TIMEOUT;
use super::{AbandonedRun, Store};
use crate::record::{Record, RunEnd, RunMeta};

/// How long records may wait before they are committed.
const BATCH_WINDOW: Duration = Duration::from_millis(250);
/// Records buffered between the sampler and the writer, at most.
const CHANNEL_CAPACITY: usize = 16 * 1024;
/// The writer connection's page cache, KiB (SQLite's default is 2,000 KiB). The writer appends
/// and folds recent rows; older pages are in the operating system's cache anyway, and every
/// KiB here is memwarden's own resident memory once the database outgrows it.
const WRITER_CACHE_KIB: i64 = 512;
/// How long the end of a run waits for the store to finish writing: the lock timeout of the
/// last batch and of the end's own, and a margin. A store that takes longer (a hung network
/// file system) is left behind, and the run said to be incomplete.
const FINISH_WAIT: Duration = Duration::from_secs(2 * BUSY_TIMEOUT.as_secs() + 2);

#[derive(Debug, Default)]
struct Shared {
    /// The run's id once its start is recorded; 0 until then (SQLite's ids start at 1).
    run_id: AtomicI64,
    /// The first failure, in words for the user, until the sampler has said it.
    unreported: Mutex<Option<String>>,
    /// The first failure, kept for the end of the run.
    first: Mutex<Option<String>>,
    lost: AtomicU64,
    /// Runs whose memwarden died, found once the store is open.
    abandoned: Mutex<Option<Vec<AbandonedRun>>>,
}

impl Shared {
    /// Notes a failure that lost `records`; `message` is what the user is told.
    fn fail(&self, message: String, records: u64) {
        self.lost.fetch_add(records, Ordering::Relaxed);
        let mut first = self.first.lock().expect("poisoned");
        // Only the first failure is said: a full channel drops records at sampling speed.
        if first.is_none() {
            *first = Some(message.clone());
            *self.unreported.lock().expect("poisoned") = Some(message);
        }
    }

    fn run_id(&self) -> Option<i64> {
        Some(self.run_id.load(Ordering::Acquire)).filter(|&id| id > 0)
    }
}

/// The runs whose memwarden died before their end, found by the writer once the store is open.
#[derive(Clone)]
pub struct AbandonedRuns(Arc<Shared>);

impl AbandonedRuns {
    /// The runs, once the store has been opened (`None` before, and after the first call):
    /// their cgroups are for this run to reclaim.
    pub fn take(&self) -> Option<Vec<AbandonedRun>> {
        self.0.abandoned.lock().expect("poisoned").take()
    }
}

/// The sampler's side of the writer thread.
pub struct Recorder {
    tx: Option<Sender<Record>>,
    /// Disconnected when the writer thread has finished.
    done: Receiver<()>,
    shared: Arc<Shared>,
}

impl Recorder {
    /// Starts the writer thread, which opens the store at `db` and records the start of the
    /// run `meta` (in `cgroup`, when it has one). Returns at once.
    pub fn start(db: PathBuf, meta: RunMeta, cgroup: Option<PathBuf>) -> Recorder {
        let (tx, rx) = unbounded();
        let (done_tx, done) = bounded::<()>(0);
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("memwarden-store".into())
            .spawn(move || {
                let _done = done_tx;
                let shared = thread_shared;
                let opened = Store::create(&db).and_then(|mut store| {
                    let id = store.begin_run(&meta, cgroup.as_deref()).with_context(|| {
                        format!("cannot record the run's start in {}", db.display())
                    })?;
                    Ok((store, id))
                });
                match opened {
                    Ok((store, id)) => {
                        shared.run_id.store(id, Ordering::Release);
                        let abandoned = store.abandoned_runs().unwrap_or_default();
                        *shared.abandoned.lock().expect("poisoned") = Some(abandoned);
                        write_loop(store, id, &rx, &shared);
                    }
                    Err(e) => {
                        shared.fail(format!("this run will not be recorded: {e:#}"), 0);
                        // No store, no dead runs to look for: nobody waits for them.
                        *shared.abandoned.lock().expect("poisoned") = Some(Vec::new());
                    }
                }
            });
        if let Err(e) = spawned {
            shared.fail(
                format!("this run will not be recorded: cannot start the store's thread: {e}"),
                0,
            );
        }
        Recorder {
            tx: Some(tx),
            done,
            shared,
        }
    }

    /// Where the runs whose memwarden died arrive once the store is open: a handle the run
    /// path keeps while the recorder itself goes to the loop's sinks.
    pub fn abandoned(&self) -> AbandonedRuns {
        AbandonedRuns(Arc::clone(&self.shared))
    }

    /// Queues a record without waiting.
    pub fn send(&self, record: Record) {
        let Some(tx) = &self.tx else { return };
        // One thread sends, so the length read here is at most what it is when sending.
        if tx.len() >= CHANNEL_CAPACITY {
            self.shared.fail(
                "cannot record part of this run: the store is slower than sampling; some \
                 samples were dropped"
                    .into(),
                1,
            );
        } else if let Err(SendError(_)) = tx.send(record) {
            self.shared.fail(
                "cannot record this run: the store's thread stopped".into(),
                1,
            )
        }
    }

    /// A failure not yet said to the user, in words, at most once per run.
    pub fn take_failure(&self) -> Option<String> {
        self.shared.unreported.lock().expect("poisoned").take()
    }

    /// The run's id, once the store has recorded its start.
    pub fn run_id(&self) -> Option<i64> {
        self.shared.run_id()
    }

    /// Records the end of the run; nothing is recorded after it.
    pub fn end(&mut self, end: RunEnd) {
        if let Some(tx) = self.tx.take() {
            // The end record must not be dropped: it is sent whatever the channel holds. A
            // writer that could not open the store has gone: nothing is lost that was not.
            let _ = tx.send(Record::End(end));
        }
    }

    /// Waits (a bounded time) for everything to be written; what was not, in one line for
    /// the user when it has not been said yet.
    pub fn wait(&mut self) -> Option<String> {
        // No record comes after this: a writer still waiting for one would wait for ever.
        self.tx = None;
        if let Err(RecvTimeoutError::Timeout) = self.done.recv_timeout(FINISH_WAIT) {
            self.shared.fail(
                format!(
                    "the store did not finish writing within {}s; this run's record is \
                     incomplete",
                    FINISH_WAIT.as_secs()
                ),
                1,
            );
        }
        let unsaid = self.take_failure();
        let first = self.shared.first.lock().expect("poisoned").clone();
        let lost = self.shared.lost.load(Ordering::Relaxed);
        match (self.shared.run_id(), first) {
            // A recorded run that lost records: how many, and the first reason.
            (Some(_), Some(reason)) if lost > 0 => Some(format!(
                "{lost} records of this run were not stored ({reason})"
            )),
            // A run not recorded at all has been said so (or is now): its records need no count.
            _ => unsaid,
        }
    }
}

fn write_loop(mut store: Store, run_id: i64, rx: &Receiver<Record>, shared: &Shared) {
    // Best effort: a default-sized cache only costs memory.
    let _ = store
        .conn
        .pragma_update(None, "cache_size", -WRITER_CACHE_KIB);
    let mut batch: Vec<Record> = Vec::with_capacity(1024);
    let mut folder = Folder::default();
    let mut deadline = Instant::now() + BATCH_WINDOW;
    loop {
        let ended = match rx.recv_deadline(deadline) {
            Ok(record) => {
                batch.push(record);
                // Take whatever else is already waiting; the end, if sent, is the last record
                // (the sender is dropped right after it).
                batch.extend(rx.try_iter());
                matches!(batch.last(), Some(Record::End(_)))
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        if ended || Instant::now() >= deadline {
            if !batch.is_empty() {
                let latest = batch.iter().rev().find_map(|r| match r {
                    Record::Sample(s) => Some(s.t),
                    _ => None,
                });
                if let Err(e) = write_batch(&mut store, run_id, &batch) {
                    shared.fail(
                        format!("cannot record part of this run: {}", describe(&e)),
                        batch.len() as u64,
                    );
                } else if let Some(t) = latest {
                    if let Err(e) = folder.maybe_fold(&store.conn, run_id, t) {
                        shared.fail(
                            format!(
                                "cannot record part of this run: folding old samples: {}",
                                describe(&e)
                            ),
                            0,
                        );
                    }
                }
                batch.clear();
            }
            deadline = Instant::now() + BATCH_WINDOW;
        }
        if ended {
            return;
        }
    }
}

fn describe(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => format!("the disk is full ({e})"),
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
            format!("the database is locked by another program ({e})")
        }
        _ => e.to_string(),
    }
}

/// Writes `batch` for run `run_id`, then folds the run's old samples: for a writer of several
/// runs at once (`top --record`), each run with its own folder.
pub(crate) fn write_folded(
    store: &mut Store,
    folder: &mut Folder,
    run_id: i64,
    batch: &[Record],
) -> rusqlite::Result<()> {
    write_batch(store, run_id, batch)?;
    let latest = batch.iter().rev().find_map(|r| match r {
        Record::Sample(s) => Some(s.t),
        _ => None,
    });
    match latest {
        Some(t) => folder.maybe_fold(&store.conn, run_id, t),
        None => Ok(()),
    }
}

/// Writes `batch` in one transaction (visible to the crate for the store benchmark).
pub(crate) fn write_batch(
    store: &mut Store,
    run_id: i64,
    batch: &[Record],
) -> rusqlite::Result<()> {
    let tx = store.conn.transaction()?;
    for record in batch {
        write_one(&tx, run_id, record)?;
    }
    tx.commit()
}

fn write_one(tx: &Transaction<'_>, run_id: i64, record: &Record) -> rusqlite::Result<()> {
    let opt = |v: Option<u64>| v.map(|v| v as i64);
    match record {
        Record::Sample(s) => {
            tx.prepare_cached(
                "INSERT INTO samples (run_id, t, rss, anon, swap, pss, threads, fds, processes,
                                      cgroup, mem_available, psi_some, psi_full)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                run_id,
                s.t,
                s.tree.rss_bytes as i64,
                s.tree.anon_bytes as i64,
                s.tree.swap_bytes as i64,
                opt(s.tree.pss_bytes),
                s.tree.threads as i64,
                s.tree.fds as i64,
                s.tree.processes,
                opt(s.cgroup_bytes),
                s.machine.mem_available_bytes as i64,
                s.machine.psi_some_avg10,
                s.machine.psi_full_avg10,
            ])?;
        }
        Record::Processes(t, top) => {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO process_samples (run_id, t, pid, rss, anon, swap, threads, fds)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for p in top {
                stmt.execute(params![
                    run_id,
                    t,
                    p.pid,
                    p.rss_bytes as i64,
                    p.anon_bytes as i64,
                    p.swap_bytes as i64,
                    p.threads,
                    p.fds
                ])?;
            }
        }
        Record::Process(p) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO processes (run_id, pid, start_ticks, ppid, command,
                    first_seen_s, last_seen_s, first_anon, last_anon, peak_anon, peak_at_s,
                    peak_rss, peak_threads, peak_fds, exited)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?
            .execute(params![
                run_id,
                p.pid,
                p.start_ticks as i64,
                p.ppid,
                p.command,
                p.first_seen_s,
                p.last_seen_s,
                p.first_anon_bytes as i64,
                p.last_anon_bytes as i64,
                p.peak_anon_bytes as i64,
                p.peak_at_s,
                p.peak_rss_bytes as i64,
                p.peak_threads,
                p.peak_fds,
                p.exited
            ])?;
        }
        Record::Event(e) => {
            tx.prepare_cached(
                "INSERT INTO events (run_id, at_s, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![run_id, e.at_s, e.kind.as_str(), e.detail])?;
        }
        // The latest live verdict is kept with the run, so a run in progress (or one whose
        // memwarden died) shows its verdict so far.
        Record::Verdict(v) => {
            tx.prepare_cached("UPDATE runs SET verdict = ?2 WHERE id = ?1")?
                .execute(params![run_id, json(v)])?;
        }
        Record::Line(_) => {}
        Record::End(end) => {
            tx.prepare_cached(
                "UPDATE runs SET ended_unix_ms = ?2, duration_s = ?3, exit_code = ?4,
                    exit_signal = ?5, stopped_by = ?6, status = ?7, peak_bytes = ?8, verdict = ?9,
                    samples = ?10
                 WHERE id = ?1",
            )?
            .execute(params![
                run_id,
                end.ended_unix_ms,
                end.duration_s,
                end.exit.and_then(|x| x.code),
                end.exit.and_then(|x| x.signal),
                end.stopped_by.map(|s| s.as_str()),
                end.status,
                end.peak_bytes as i64,
                end.verdict.as_ref().map(json),
                end.samples as i64,
            ])?;
        }
    }
    Ok(())
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("records always serialize")
}

#[cfg(test)]
mod tests {
    use super::super::catalog::tests::{dead_owner, meta, set_owner};
    use super::*;
    use crate::record::RunEnd;

    #[test]
    fn the_recorder_opens_the_store_on_its_thread_and_finds_dead_runs() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("runs.db");
        let dead = {
            let mut store = Store::create(&db).unwrap();
            let id = store.begin_run(&meta("dead"), None).unwrap();
            set_owner(&store, id, dead_owner());
            id
        };
        let mut recorder = Recorder::start(db.clone(), meta("new"), None);
        let abandoned = recorder.abandoned();
        let deadline = Instant::now() + Duration::from_secs(20);
        let found = loop {
            if let Some(runs) = abandoned.take() {
                break runs;
            }
            assert!(Instant::now() < deadline, "the store never opened");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), [dead]);
        assert!(abandoned.take().is_none(), "given once");
        assert_eq!(recorder.run_id(), Some(dead + 1));
        recorder.end(RunEnd {
            ended_unix_ms: 1,
            duration_s: 1.0,
            exit: None,
            stopped_by: None,
            status: 0,
            peak_bytes: 0,
            verdict: None,
            samples: 0,
        });
        assert_eq!(recorder.wait(), None, "nothing lost");
        let store = Store::open_existing(&db).unwrap();
        let rows = store
            .runs_matching(&super::super::RunFilter::default())
            .unwrap();
        assert!(rows[1].end.is_some(), "the end is recorded");
    }
}
