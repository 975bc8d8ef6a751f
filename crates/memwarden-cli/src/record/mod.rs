//! The plain data of a recorded run, shared by the supervisor (which makes it), the store
//! (which keeps it) and the reports (which show it): what the store writes is what reports read.

mod event;
mod options;
mod printable;
mod verdict;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use event::{Event, EventKind};
pub use options::{DetectorKnobs, RecordedOptions};
pub use printable::printable;
pub use verdict::{ResourceVerdict, RunVerdict};

/// What kind of session recorded a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// `memwarden run`: a command memwarden started.
    Run,
    /// `memwarden watch`: processes that already ran.
    Watch,
    /// `memwarden top --record`: one group of the machine's processes.
    Top,
}

impl RunKind {
    /// `run`, `watch` or `top`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Run => "run",
            RunKind::Watch => "watch",
            RunKind::Top => "top",
        }
    }

    /// The kind named `name` (`None` for an unknown name).
    pub fn from_name(name: &str) -> Option<RunKind> {
        match name {
            "run" => Some(RunKind::Run),
            "watch" => Some(RunKind::Watch),
            "top" => Some(RunKind::Top),
            _ => None,
        }
    }
}

/// Why memwarden ended a run before the tree ended by itself (the report's `stopped_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoppedBy {
    /// The tree reached `--limit` (polled), or the kernel killed in it at its limit.
    Limit,
    /// The machine's available memory fell below `--system-floor`, or pressure passed `--pressure`.
    SystemFloor,
    /// `--timeout` passed.
    Timeout,
    /// A leak policy: `--on-leak stop`, or `--act-before` with `stop`.
    Leak,
    /// The user interrupted memwarden (INT, TERM, HUP, QUIT), and the tree was stopped for it.
    Interrupt,
}

impl StoppedBy {
    /// The name in reports: `limit`, `system-floor`, `timeout`, `leak`, `interrupt`.
    pub fn as_str(self) -> &'static str {
        match self {
            StoppedBy::Limit => "limit",
            StoppedBy::SystemFloor => "system-floor",
            StoppedBy::Timeout => "timeout",
            StoppedBy::Leak => "leak",
            StoppedBy::Interrupt => "interrupt",
        }
    }

    /// The reason named `name`.
    pub fn from_name(name: &str) -> Option<StoppedBy> {
        [
            StoppedBy::Limit,
            StoppedBy::SystemFloor,
            StoppedBy::Timeout,
            StoppedBy::Leak,
            StoppedBy::Interrupt,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

impl fmt::Display for StoppedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a recorded run stands, as `ls` and `report` tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// Its end is recorded.
    Ended,
    /// No end yet, and the memwarden recording it is alive: in progress.
    Running,
    /// No end, and the memwarden recording it is gone (killed, or the machine restarted).
    MemwardenDied,
    /// No end, and who recorded it cannot be told (another host, or an older memwarden that
    /// did not record its PID).
    Unknown,
}

impl RunState {
    /// `ended`, `running`, `memwarden-died`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Ended => "ended",
            RunState::Running => "running",
            RunState::MemwardenDied => "memwarden-died",
            RunState::Unknown => "unknown",
        }
    }

    /// The state in a few words, for tables and report titles.
    pub fn describe(self) -> &'static str {
        match self {
            RunState::Ended => "ended",
            RunState::Running => "running",
            RunState::MemwardenDied => "memwarden died",
            RunState::Unknown => "no end recorded",
        }
    }
}

/// What is known of a run when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// `run` or `watch`.
    pub kind: RunKind,
    /// The run's name.
    pub label: String,
    /// The command and its arguments (for `watch`, the watched processes' command lines).
    pub command: Vec<String>,
    /// Host name.
    pub host: String,
    /// Start time, RFC 3339 UTC.
    pub started_at: String,
    /// Start time, milliseconds since the Unix epoch.
    pub started_unix_ms: i64,
    /// Sampling interval, seconds.
    pub interval_s: f64,
    /// How the tree is followed: `cgroup-v2`, `cgroup-v1` or `process-tree`.
    pub mode: String,
    /// Which memory figure the report and verdict use (`anon`, `rss`, `pss`).
    pub metric: String,
    /// The machine's total memory, bytes.
    pub mem_total_bytes: u64,
    /// The options the run was started with.
    pub options: RecordedOptions,
}

/// How the supervised command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// Its exit code when it exited by itself.
    pub code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
}

/// What is known of a run when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEnd {
    /// End time, milliseconds since the Unix epoch.
    pub ended_unix_ms: i64,
    /// Seconds from start to end.
    pub duration_s: f64,
    /// The command's end (`None` for `watch`, or when it could not be started).
    pub exit: Option<ExitInfo>,
    /// Why memwarden stopped the run, if it did.
    pub stopped_by: Option<StoppedBy>,
    /// memwarden's own exit status.
    pub status: u8,
    /// Peak of the run's memory metric, bytes (for `ls`).
    pub peak_bytes: u64,
    /// The final verdict, once one exists.
    pub verdict: Option<RunVerdict>,
    /// Samples taken (the store may keep fewer rows once old samples are folded).
    pub samples: u64,
}

/// One thing a session hands to its sinks (the store, the status line, the metrics): every
/// sample, the largest processes now and then, each process's life, every event, the live
/// verdict when it changes, and the end.
#[derive(Debug, Clone)]
pub enum Record {
    /// A sample of the tree and the machine.
    Sample(memwarden::sample::Sample),
    /// The largest processes at time `t`.
    Processes(f64, Vec<memwarden::sample::ProcessSample>),
    /// A process's life so far (inserted or updated).
    Process(memwarden::sample::ProcessSummary),
    /// An event.
    Event(Event),
    /// The live verdict, when it changed (and now and then, with its figures).
    Verdict(RunVerdict),
    /// A line for the user, live (what memwarden did or found; the event records it too).
    Line(String),
    /// The end of the run; nothing follows it.
    End(RunEnd),
}
