//! `top --record`: every group as a run of kind `top` in the store, so `report` and `compare`
//! work on a group. One writer thread serves every group (a run's own [`Recorder`] is a
//! thread and a connection each: too much for hundreds of groups); it opens the store, begins
//! a group's run when the group appears, writes batches per run and folds each run's old
//! samples as a run's writer does. Sending never blocks: a full channel drops the record and
//! the loss is said once.
//!
//! [`Recorder`]: crate::store::writer::Recorder

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};

use crate::record::{Record, RunMeta};
use crate::store::writer::write_folded;
use crate::store::{Folder, Store};

/// How long records may wait before they are committed.
const BATCH_WINDOW: Duration = Duration::from_millis(500);
/// Records waiting for the writer, at most (about a minute of 500 groups at 1 s).
const CHANNEL_CAPACITY: usize = 32 * 1024;

// Records travel unboxed, as they do to a run's own writer: one move per record.
#[allow(clippy::large_enum_variant)]
enum Message {
    Begin(u64, Box<RunMeta>),
    Record(u64, Record),
}

/// The sampling loop's side of the groups' writer.
pub struct GroupRecorder {
    tx: Option<Sender<Message>>,
    thread: Option<JoinHandle<()>>,
    failure: Arc<Mutex<Failure>>,
}

#[derive(Default)]
struct Failure {
    first: Option<String>,
    said: bool,
    lost: u64,
}

impl Failure {
    fn note(&mut self, message: String, lost: u64) {
        self.lost += lost;
        self.first.get_or_insert(message);
    }
}

impl GroupRecorder {
    /// Starts the writer thread on the store at `db`; returns at once.
    pub fn start(db: PathBuf) -> GroupRecorder {
        let (tx, rx) = unbounded();
        let failure = Arc::new(Mutex::new(Failure::default()));
        let shared = Arc::clone(&failure);
        let thread = std::thread::Builder::new()
            .name("memwarden-store".into())
            .spawn(move || match Store::create(&db) {
                Ok(store) => write_loop(store, &rx, &shared),
                Err(e) => shared
                    .lock()
                    .expect("poisoned")
                    .note(format!("the groups will not be recorded: {e:#}"), 0),
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                failure.lock().expect("poisoned").note(
                    format!("the groups will not be recorded: cannot start a thread: {e}"),
                    0,
                );
                None
            }
        };
        GroupRecorder {
            tx: Some(tx),
            thread,
            failure,
        }
    }

    /// Begins the run of group `id`.
    pub fn begin(&self, id: u64, meta: RunMeta) {
        self.send_message(Message::Begin(id, Box::new(meta)));
    }

    /// Queues a record of group `id` (its end, [`Record::End`], closes its run).
    pub fn send(&self, id: u64, record: Record) {
        self.send_message(Message::Record(id, record));
    }

    fn send_message(&self, message: Message) {
        let Some(tx) = &self.tx else { return };
        let ending = matches!(
            message,
            Message::Begin(..) | Message::Record(_, Record::End(_))
        );
        // Beginnings and ends are never dropped: a run without them would read as abandoned.
        if tx.len() >= CHANNEL_CAPACITY && !ending {
            self.failure.lock().expect("poisoned").note(
                "part of the groups' records were dropped: the store is slower than sampling"
                    .into(),
                1,
            );
        } else if tx.send(message).is_err() {
            self.failure
                .lock()
                .expect("poisoned")
                .note("the store's thread stopped".into(), 1);
        }
    }

    /// A failure not yet said, at most once.
    pub fn take_failure(&self) -> Option<String> {
        let mut f = self.failure.lock().expect("poisoned");
        if f.said {
            return None;
        }
        let first = f.first.clone()?;
        f.said = true;
        Some(first)
    }

    /// Waits for everything to be written; what could not be, in words.
    pub fn finish(mut self) -> Option<String> {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let f = self.failure.lock().expect("poisoned");
        match (&f.first, f.lost) {
            (Some(first), lost) if lost > 0 => Some(format!(
                "{lost} records of the groups were not stored ({first})"
            )),
            (Some(first), _) if !f.said => Some(first.clone()),
            _ => None,
        }
    }
}

fn write_loop(mut store: Store, rx: &Receiver<Message>, failure: &Mutex<Failure>) {
    let mut runs: HashMap<u64, (i64, Folder)> = HashMap::new();
    let mut batches: HashMap<u64, Vec<Record>> = HashMap::new();
    let mut deadline = Instant::now() + BATCH_WINDOW;
    loop {
        let closed = match rx.recv_deadline(deadline) {
            Ok(first) => {
                for message in std::iter::once(first).chain(rx.try_iter()) {
                    match message {
                        Message::Begin(id, meta) => {
                            match store
                                .begin_run(&meta, None)
                                .context("cannot record a group")
                            {
                                Ok(run) => {
                                    runs.insert(id, (run, Folder::default()));
                                }
                                Err(e) => {
                                    failure.lock().expect("poisoned").note(format!("{e:#}"), 1)
                                }
                            }
                        }
                        Message::Record(id, record) => batches.entry(id).or_default().push(record),
                    }
                }
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        if closed || Instant::now() >= deadline {
            for (id, batch) in batches.drain() {
                let Some((run, folder)) = runs.get_mut(&id) else {
                    continue;
                };
                if let Err(e) = write_folded(&mut store, folder, *run, &batch) {
                    failure.lock().expect("poisoned").note(
                        format!("cannot record part of the groups: {e}"),
                        batch.len() as u64,
                    );
                }
                if matches!(batch.last(), Some(Record::End(_))) {
                    runs.remove(&id);
                }
            }
            deadline = Instant::now() + BATCH_WINDOW;
        }
        if closed {
            return;
        }
    }
}
