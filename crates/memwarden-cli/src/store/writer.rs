//! The writer thread: records a run in batches so sampling never waits on disk.
//!
//! Sending never blocks: records go through a channel capped at [`CHANNEL_CAPACITY`] records,
//! and a full channel (a disk slower than the sampler) drops the record and counts it. The
//! channel is a list that allocates as records wait and frees as they are written, not a
//! preallocated ring: a ring of 16 Ki records is 2.6 MiB that sampling touches page by page
//! until all of it is resident, whatever the tree (see BENCHMARKS.md). A failed batch
//! (locked database, full disk) is counted, reported once, and writing goes on with the next
//! batch, so a transient failure loses only what it must.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, SendError, Sender};
use rusqlite::{params, Transaction};

use super::fold::Folder;
use super::Store;
use crate::record::{Record, RunEnd};

/// How long records may wait before they are committed.
const BATCH_WINDOW: Duration = Duration::from_millis(250);
/// Records buffered between the sampler and the writer, at most.
const CHANNEL_CAPACITY: usize = 16 * 1024;
/// The writer connection's page cache, KiB (SQLite's default is 2,000 KiB). The writer appends
/// and folds recent rows; older pages are in the operating system's cache anyway, and every
/// KiB here is memwarden's own resident memory once the database outgrows it.
const WRITER_CACHE_KIB: i64 = 512;

#[derive(Debug, Default)]
struct Health {
    /// The first failure, until the sampler has reported it.
    unreported: Mutex<Option<String>>,
    /// The first failure, kept for the end of the run.
    first: Mutex<Option<String>>,
    lost: AtomicU64,
}

impl Health {
    fn fail(&self, what: &str, records: u64) {
        self.lost.fetch_add(records, Ordering::Relaxed);
        let mut first = self.first.lock().expect("poisoned");
        // Only the first reason is kept: a full channel drops records at sampling speed.
        if first.is_none() {
            *first = Some(what.to_string());
            *self.unreported.lock().expect("poisoned") = Some(what.to_string());
        }
    }
}

/// The sampler's side of the writer thread; a disabled one records nothing.
pub struct Recorder {
    tx: Option<Sender<Record>>,
    thread: Option<JoinHandle<()>>,
    health: Arc<Health>,
    run_id: Option<i64>,
}

/// What the store could not keep, told at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    /// The first failure.
    pub reason: String,
    /// Records that were not written.
    pub records: u64,
}

impl Recorder {
    /// Starts the writer thread for run `run_id` of `store`.
    pub fn start(store: Store, run_id: i64) -> Recorder {
        let (tx, rx) = unbounded();
        let health = Arc::new(Health::default());
        let thread_health = Arc::clone(&health);
        let thread = std::thread::Builder::new()
            .name("memwarden-store".into())
            .spawn(move || write_loop(store, run_id, &rx, &thread_health))
            .expect("spawning the store writer thread");
        Recorder {
            tx: Some(tx),
            thread: Some(thread),
            health,
            run_id: Some(run_id),
        }
    }

    /// A recorder that records nothing (the store could not be opened).
    pub fn disabled() -> Recorder {
        Recorder {
            tx: None,
            thread: None,
            health: Arc::new(Health::default()),
            run_id: None,
        }
    }

    /// The id of the run being recorded, if any.
    pub fn run_id(&self) -> Option<i64> {
        self.run_id
    }

    /// Queues a record without waiting.
    pub fn send(&self, record: Record) {
        let Some(tx) = &self.tx else { return };
        // One thread sends, so the length read here is at most what it is when sending.
        if tx.len() >= CHANNEL_CAPACITY {
            self.health.fail(
                "the disk is slower than sampling; some samples were dropped",
                1,
            );
        } else if let Err(SendError(_)) = tx.send(record) {
            self.health.fail("the writer thread stopped", 1)
        }
    }

    /// A failure not yet reported to the user, at most once per run.
    pub fn take_failure(&self) -> Option<String> {
        self.health.unreported.lock().expect("poisoned").take()
    }

    /// Records the end of the run; nothing is recorded after it.
    pub fn end(&mut self, end: RunEnd) {
        if let Some(tx) = self.tx.take() {
            // The end record must not be dropped: it is sent whatever the channel holds.
            if tx.send(Record::End(end)).is_err() {
                self.health
                    .fail("the end of the run could not be recorded", 1);
            }
        }
    }

    /// Waits for everything to be written, and says what was lost.
    pub fn wait(&mut self) -> Option<Loss> {
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                self.health.fail("the writer thread panicked", 0);
            }
        }
        let reason = self.health.first.lock().expect("poisoned").clone()?;
        Some(Loss {
            reason,
            records: self.health.lost.load(Ordering::Relaxed),
        })
    }
}

fn write_loop(mut store: Store, run_id: i64, rx: &Receiver<Record>, health: &Health) {
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
                    health.fail(&describe(&e), batch.len() as u64);
                } else if let Some(t) = latest {
                    if let Err(e) = folder.maybe_fold(&store.conn, run_id, t) {
                        health.fail(&format!("folding old samples: {}", describe(&e)), 0);
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
