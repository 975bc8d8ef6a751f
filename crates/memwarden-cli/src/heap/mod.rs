//! `run --heap`: which call sites hold the memory that grows.
//!
//! [`HeapSession::prepare`] writes the sampling interposer this binary carries (crate
//! `memwarden-heap`) to a private directory, listens on a Unix socket beside it, and gives the
//! environment that preloads it into the command (`LD_PRELOAD` passes on to the whole tree);
//! a background thread reads every process's stream ([`receiver`]) into per-site live bytes
//! ([`profile`]), judged over time by the library's leak detector; [`HeapSession::finish`]
//! ranks and symbolizes the sites into a [`HeapReport`] (JSON `heap`), which [`render`] prints
//! as text or HTML and [`pprof`] exports.

pub mod compare;
mod interposer;
mod limits;
mod pprof;
mod profile;
mod protocol;
mod receiver;
pub mod render;
mod report;
mod symbols;
mod wiring;

use std::ffi::OsString;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use memwarden::detect::DetectorConfig;

pub use report::HeapReport;
pub use wiring::{conclude, options, start};

/// What `run --heap` was asked for.
#[derive(Debug, Clone)]
pub struct HeapOptions {
    /// Mean bytes between samples, per thread.
    pub sample_bytes: u64,
    /// How often each site's live bytes are recorded (the run's sampling interval).
    pub interval: Duration,
    /// The detector settings the tree is judged with, used for every site.
    pub detector: DetectorConfig,
    /// `--heap-export pprof FILE`.
    pub pprof: Option<PathBuf>,
}

/// A `--heap` run in progress: the interposer written out, the socket listening, the
/// receiver running.
pub struct HeapSession {
    /// Holds the interposer and the socket; removed when the session ends.
    _dir: tempfile::TempDir,
    env: Vec<(OsString, OsString)>,
    notes: Vec<String>,
    socket: PathBuf,
    stop: Arc<AtomicBool>,
    receiver: Option<JoinHandle<HeapReport>>,
}

/// The note of a run in which no process reported a sample.
const NO_SAMPLES: &str = "no process of the tree reported a sample: it allocated less than \
                          one sample interval, or none of it loaded the interposer";

impl HeapSession {
    /// Writes the interposer out, starts listening, and checks `program` (the command about
    /// to run) for what keeps attribution from working; each such note is also printed on
    /// stderr now.
    pub fn prepare(opts: &HeapOptions, program: &Path) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("memwarden-heap-")
            .tempdir()
            .context("cannot create a private directory for the heap interposer")?;
        let library = interposer::write_to(dir.path())?;
        let socket = dir.path().join("s");
        let listener = UnixListener::bind(&socket)
            .with_context(|| format!("cannot listen on {}", socket.display()))?;
        listener.set_nonblocking(true)?;
        let mut preload = library.into_os_string();
        if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
            preload.push(":");
            preload.push(old);
        }
        let env = vec![
            ("LD_PRELOAD".into(), preload),
            (
                "MEMWARDEN_HEAP_SOCKET".into(),
                socket.clone().into_os_string(),
            ),
            (
                "MEMWARDEN_HEAP_SAMPLE".into(),
                opts.sample_bytes.to_string().into(),
            ),
        ];
        let notes = limits::check(program);
        for n in &notes {
            eprintln!("memwarden: heap: {n}");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let tick = opts
            .interval
            .clamp(Duration::from_millis(100), Duration::from_secs(1));
        let start = Instant::now();
        let flag = Arc::clone(&stop);
        let (config, sample_bytes) = (opts.detector.clone(), opts.sample_bytes);
        let (pprof, mut report_notes) = (opts.pprof.clone(), notes.clone());
        // The symbolizer is not `Send`: the profile lives and is reported on this thread.
        let receiver = std::thread::Builder::new()
            .name("heap-receiver".into())
            .spawn(move || {
                let mut profile = profile::Profile::new(config, sample_bytes);
                receiver::receive(listener, &mut profile, start, tick, flag);
                if profile.processes == 0 {
                    report_notes.push(NO_SAMPLES.to_string());
                }
                if let Some(path) = &pprof {
                    if let Err(e) = pprof::write(&mut profile, path) {
                        eprintln!("memwarden: heap: cannot write the pprof profile: {e:#}");
                    }
                }
                HeapReport::from_profile(&mut profile, report_notes)
            })
            .context("cannot start the heap receiver")?;
        Ok(HeapSession {
            _dir: dir,
            socket,
            env,
            notes,
            stop,
            receiver: Some(receiver),
        })
    }

    /// Variables to add to the command's environment.
    pub fn env(&self) -> &[(OsString, OsString)] {
        &self.env
    }

    /// Once the tree has ended: reads what is left, ranks and names the sites, writes
    /// `--heap-export` if asked. A failed export is said on stderr, never an error of the run.
    pub fn finish(mut self) -> HeapReport {
        self.stop();
        match self.receiver.take().map(|r| r.join()) {
            Some(Ok(report)) => report,
            _ => {
                let mut notes = std::mem::take(&mut self.notes);
                notes.push("the heap receiver failed; no call sites".to_string());
                HeapReport {
                    notes,
                    ..HeapReport::default()
                }
            }
        }
    }
}

impl HeapSession {
    /// Tells the receiver to drain and end, waking it from its wait with a connection of
    /// our own (it closes at once: an empty stream).
    fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = std::os::unix::net::UnixStream::connect(&self.socket);
    }
}

impl Drop for HeapSession {
    fn drop(&mut self) {
        self.stop();
        if let Some(r) = self.receiver.take() {
            let _ = r.join();
        }
    }
}
