//! Plain data produced by the sampler, apart from the code that reads it.

/// The machine's memory at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MachineSample {
    /// `MemTotal`, bytes.
    pub mem_total_bytes: u64,
    /// `MemAvailable`, bytes.
    pub mem_available_bytes: u64,
    /// PSI memory `some avg10` (percent), where the kernel has PSI.
    pub psi_some_avg10: Option<f64>,
    /// PSI memory `full avg10` (percent), where the kernel has PSI.
    pub psi_full_avg10: Option<f64>,
}

/// Sums over every live process of the tree at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TreeTotals {
    /// Resident memory summed over processes (counts shared pages once per process).
    pub rss_bytes: u64,
    /// Anonymous memory: RssAnon + swap, summed. What a leak grows.
    pub anon_bytes: u64,
    /// Swapped-out memory, summed.
    pub swap_bytes: u64,
    /// Proportional set size summed, once at least one process has been read (read less often).
    pub pss_bytes: Option<u64>,
    /// Threads summed.
    pub threads: u64,
    /// Open descriptors summed over processes whose descriptors could be counted.
    pub fds: u64,
    /// Live processes.
    pub processes: u32,
}

/// One reading of a process tree and the machine.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sample {
    /// Seconds since sampling started.
    pub t: f64,
    /// The tree's totals.
    pub tree: TreeTotals,
    /// What the kernel charges the tree's cgroup, when it has one.
    pub cgroup_bytes: Option<u64>,
    /// The machine.
    pub machine: MachineSample,
}

/// One process at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessSample {
    /// PID.
    pub pid: u32,
    /// Resident bytes.
    pub rss_bytes: u64,
    /// Anonymous bytes (RssAnon + swap).
    pub anon_bytes: u64,
    /// Swapped-out bytes (as of the last slow read).
    pub swap_bytes: u64,
    /// PSS bytes (as of the last PSS read), if read yet.
    pub pss_bytes: Option<u64>,
    /// Threads (as of the last slow read).
    pub threads: u32,
    /// Open descriptors (as of the last slow read), if readable.
    pub fds: Option<u32>,
}

/// One process over its whole life in the tree: what the report's process table needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSummary {
    /// PID.
    pub pid: u32,
    /// Parent PID when first seen.
    pub ppid: u32,
    /// Start time in clock ticks since boot (with `pid`, identifies the process).
    pub start_ticks: u64,
    /// Command line (or `[comm]` when it has none).
    pub command: String,
    /// Seconds since sampling started when first seen.
    pub first_seen_s: f64,
    /// Seconds since sampling started when last seen alive.
    pub last_seen_s: f64,
    /// Anonymous bytes when first seen.
    pub first_anon_bytes: u64,
    /// Anonymous bytes when last seen.
    pub last_anon_bytes: u64,
    /// Highest anonymous bytes.
    pub peak_anon_bytes: u64,
    /// Seconds since start when the anonymous peak was seen.
    pub peak_at_s: f64,
    /// Highest resident bytes.
    pub peak_rss_bytes: u64,
    /// Highest thread count.
    pub peak_threads: u32,
    /// Highest descriptor count.
    pub peak_fds: u32,
    /// Whether the process has left the tree (exited).
    pub exited: bool,
}

impl TreeTotals {
    /// Adds one process's reading (PSS apart: it is summed only where read).
    pub(crate) fn add(&mut self, now: &ProcessSample) {
        self.rss_bytes += now.rss_bytes;
        self.anon_bytes += now.anon_bytes;
        self.swap_bytes += now.swap_bytes;
        self.threads += u64::from(now.threads);
        self.fds += u64::from(now.fds.unwrap_or(0));
        self.processes += 1;
    }
}

impl ProcessSummary {
    /// A process first seen at `t`, as its `stat` describes it, running `command`.
    pub(crate) fn first_seen(
        pid: u32,
        stat: &super::procfs::Stat,
        command: String,
        t: f64,
    ) -> Self {
        ProcessSummary {
            pid,
            ppid: stat.ppid,
            start_ticks: stat.start_ticks,
            command,
            first_seen_s: t,
            last_seen_s: t,
            first_anon_bytes: 0,
            last_anon_bytes: 0,
            peak_anon_bytes: 0,
            peak_at_s: t,
            peak_rss_bytes: 0,
            peak_threads: stat.threads,
            peak_fds: 0,
            exited: false,
        }
    }

    /// Folds in a reading at `t` (`first`: the process's first).
    pub(crate) fn observe(&mut self, now: &ProcessSample, t: f64, first: bool) {
        if first {
            self.first_anon_bytes = now.anon_bytes;
        }
        self.last_seen_s = t;
        self.last_anon_bytes = now.anon_bytes;
        if now.anon_bytes > self.peak_anon_bytes {
            self.peak_anon_bytes = now.anon_bytes;
            self.peak_at_s = t;
        }
        self.peak_rss_bytes = self.peak_rss_bytes.max(now.rss_bytes);
        self.peak_threads = self.peak_threads.max(now.threads);
        self.peak_fds = self.peak_fds.max(now.fds.unwrap_or(0));
    }

    /// Average growth of anonymous memory between first and last sight, bytes per second.
    pub fn growth_bytes_per_s(&self) -> f64 {
        let dt = self.last_seen_s - self.first_seen_s;
        if dt <= 0.0 {
            0.0
        } else {
            (self.last_anon_bytes as f64 - self.first_anon_bytes as f64) / dt
        }
    }
}
