//! The plain data of the host-wide sampler: what processes are grouped by, how often the
//! dearer files are read, and the groups it hands out.

use std::path::PathBuf;
use std::time::Duration;

use crate::sample::types::Sample;

/// Bytes of a command line kept per process (for its name in tables and reports).
pub const COMMAND_MAX: usize = 256;
/// Seconds between two reads of one process's `status` at the default cadence.
const SLOW_PERIOD_S: f64 = 30.0;
/// Seconds between two counts of its descriptors (descriptors leak slowly).
const FDS_PERIOD_S: f64 = 60.0;
/// Seconds between two listings of `/proc` at most: a listing costs about a microsecond per
/// process (the kernel fills a directory entry for each), half the cost of reading them all.
const LISTING_PERIOD_S: f64 = 2.0;
/// Seconds between two reads of a group's cgroup limit.
const LIMITS_PERIOD_S: f64 = 60.0;
/// Seconds a group without processes is kept before it is forgotten (by command or cgroup).
const FORGET_AFTER_S: f64 = 300.0;

/// What processes are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// Each process on its own (PID and start time).
    Process,
    /// The shape of the command line (see [`command_shape`](crate::sample::group::command_shape)).
    Command,
    /// The systemd unit, container or pod of the process's cgroup (see
    /// [`cgroup_unit`](crate::sample::group::cgroup_unit)).
    Cgroup,
}

impl GroupBy {
    /// `process`, `command` or `cgroup`.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Process => "process",
            GroupBy::Command => "command",
            GroupBy::Cgroup => "cgroup",
        }
    }
}

/// How often the dearer files are read, and how long gone groups are kept.
#[derive(Debug, Clone, Copy)]
pub struct HostCadence {
    /// Samples between two reads of one process's `status`.
    pub slow_every: u32,
    /// Samples between two counts of one process's descriptors.
    pub fds_every: u32,
    /// Samples between two listings of `/proc` (new processes are found then; those that
    /// exit are found at every sample).
    pub list_every: u32,
    /// Samples between two reads of a group's cgroup limit.
    pub limits_every: u32,
    /// Seconds a group with no process left is kept before it is forgotten.
    pub forget_after_s: f64,
    /// How many `statm` files may be held open; beyond it they are opened per sample.
    pub max_held: usize,
}

impl HostCadence {
    /// The default cadence for a sampling interval: `/proc` listed every two seconds, each
    /// process's `status` every thirty and its descriptors every sixty, limits every minute, gone
    /// groups kept five minutes, as many held files as the soft descriptor limit leaves room
    /// for.
    pub fn for_interval(interval: Duration) -> Self {
        let every = |period: f64| (period / interval.as_secs_f64().max(1e-3)).ceil().max(1.0);
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX);
        HostCadence {
            slow_every: every(SLOW_PERIOD_S) as u32,
            fds_every: every(FDS_PERIOD_S) as u32,
            list_every: every(LISTING_PERIOD_S) as u32,
            limits_every: every(LIMITS_PERIOD_S) as u32,
            forget_after_s: FORGET_AFTER_S,
            // Keep a reserve for the store, the metrics endpoint and the terminal.
            max_held: soft.saturating_sub(256).min(1 << 20) as usize,
        }
    }
}

/// A group of processes at the latest sample.
#[derive(Debug, Clone, PartialEq)]
pub struct HostGroup {
    /// Unique for the sampler's life (a forgotten group that comes back gets a new one).
    pub id: u64,
    /// What it is: `python3 -c … N`, `nginx.service`, `docker:4f3a2b1c0d9e`, `1234 sshd: …`.
    pub name: String,
    /// Its processes summed, its cgroup's charge (by cgroup), and the machine.
    pub sample: Sample,
    /// The tightest cgroup limit over it (by cgroup: its own; otherwise that of the cgroup
    /// of its first process), bytes.
    pub limit_bytes: Option<u64>,
    /// Its cgroup directory, when known.
    pub cgroup_dir: Option<PathBuf>,
    /// When its last process went, if it has none now.
    pub empty_since: Option<f64>,
}

/// Processes that could not be read: another user's, on a `/proc` mounted with `hidepid`, or
/// without the privileges to read their descriptors. Counted at the latest sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Unreadable {
    /// Processes whose memory could not be read (not in any group).
    pub processes: u32,
    /// Processes in a group whose open descriptors could not be counted.
    pub fds: u32,
}
