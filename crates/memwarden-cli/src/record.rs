//! The plain data of a recorded run, shared by the supervisor (which makes it), the store
//! (which keeps it) and the reports (which show it).

use serde::{Deserialize, Serialize};

/// What is known of a run when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// `run` or `watch`.
    pub kind: String,
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
    /// The options the run was started with, as given.
    pub options: serde_json::Value,
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
    /// Why memwarden stopped the run, if it did (`limit`, `timeout`, `interrupt`...).
    pub stopped_by: Option<String>,
    /// memwarden's own exit status.
    pub status: u8,
    /// Peak of the run's memory metric, bytes (for `ls`).
    pub peak_bytes: u64,
    /// The final verdict, as JSON, once one exists.
    pub verdict: Option<serde_json::Value>,
    /// Samples taken (the store may keep fewer rows once old samples are folded).
    pub samples: u64,
}

/// Something that happened during a run, at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the run started.
    pub at_s: f64,
    /// What kind of thing (see [`kind`]).
    pub kind: String,
    /// What happened, in words.
    pub detail: String,
}

impl Event {
    /// An event of `kind` at `at_s`.
    pub fn new(at_s: f64, kind: &str, detail: impl Into<String>) -> Self {
        Event {
            at_s,
            kind: kind.to_string(),
            detail: detail.into(),
        }
    }
}

/// The kinds of events memwarden records.
pub mod kind {
    /// The command started (or watching began).
    pub const START: &str = "start";
    /// The command exited.
    pub const EXIT: &str = "exit";
    /// A signal sent to memwarden was forwarded to the command.
    pub const SIGNAL: &str = "signal";
    /// Processes outlived the command.
    pub const LEFTOVERS: &str = "leftovers";
    /// memwarden stopped (part of) the tree.
    pub const STOP: &str = "stop";
    /// The store could not record part of the run.
    pub const STORE_ERROR: &str = "store-error";
    /// A resource's leak verdict changed.
    pub const VERDICT: &str = "verdict";
    /// A CI gate (`--fail-on-leak`, `--max-growth`) failed.
    pub const GATE: &str = "gate";
    /// What guards the run (limits, floor, timeout) and how, as set up at the start.
    pub const GUARD: &str = "guard";
    /// The tree reached the `--warn` threshold.
    pub const WARN: &str = "warn";
    /// The tree fell back below the warning's re-arm level.
    pub const REARM: &str = "rearm";
    /// memwarden acted on a crossing: logged, sent a signal, started a hook (or could not).
    pub const ACTION: &str = "action";
    /// A hook ended (its status), or was killed at its timeout.
    pub const HOOK: &str = "hook";
    /// The tree reached `--limit`, or the kernel acted at it.
    pub const LIMIT: &str = "limit";
    /// The kernel's OOM killer killed processes in the run's cgroup.
    pub const OOM_KILL: &str = "oom-kill";
    /// The machine's available memory or pressure passed `--system-floor` / `--pressure`.
    pub const SYSTEM_FLOOR: &str = "system-floor";
    /// `--timeout` passed.
    pub const TIMEOUT: &str = "timeout";
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
