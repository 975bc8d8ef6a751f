//! The report of one run (the JSON report), and the accumulator that builds it from a stream
//! of samples — live during a run, or replayed from the store for `report`.

use memwarden::sample::{ProcessSummary, Sample};
use serde::{Deserialize, Serialize};

use super::exited::Exited;
use super::groups::{group_members, Member, ProcessGroup};
use crate::record::{Event, ExitInfo, RunEnd, RunKind, RunMeta, RunState, RunVerdict, StoppedBy};

/// The schema number of [`RunReport`]; fields are only ever added.
pub const SCHEMA: u32 = 1;

/// How many processes the report's `top` table lists.
pub const TOP_PROCESSES: usize = 10;

/// A run's report, as JSON consumers read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// The run's id in the store (`null` when it could not be recorded, or for `analyze`).
    pub run_id: Option<i64>,
    /// The run's name.
    pub label: String,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// `run` or `watch`.
    pub kind: RunKind,
    /// Start time, RFC 3339 UTC.
    pub started_at: String,
    /// Seconds from start to end (for a run without an end, to its last sample).
    pub duration_s: f64,
    /// `ended`, `running`, `memwarden-died` (no end, its memwarden is gone) or `unknown`.
    pub state: RunState,
    /// Samples taken.
    pub samples: u64,
    /// Sampling interval, seconds.
    pub interval_s: f64,
    /// How the command ended (`null` for `watch`).
    pub exit: Option<ExitInfo>,
    /// Why memwarden stopped the run, if it did.
    pub stopped_by: Option<StoppedBy>,
    /// memwarden's own exit status.
    pub status: u8,
    /// How the tree was followed: `cgroup-v2`, `cgroup-v1` or `process-tree`.
    pub mode: String,
    /// Host name.
    pub host: String,
    /// The tree's memory.
    pub memory: MemoryReport,
    /// The leak verdict, once the detector has judged the run.
    pub verdict: Option<RunVerdict>,
    /// Threads, descriptors and processes of the tree.
    pub resources: ResourcesReport,
    /// The processes of the tree.
    pub processes: ProcessesReport,
    /// The machine while the run lasted.
    pub machine: MachineReport,
    /// What happened, in time order.
    pub events: Vec<Event>,
    /// Call-site attribution (`run --heap` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap: Option<crate::heap::HeapReport>,
}

/// The tree's memory over the run, in the run's metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// `anon` (RssAnon + swap, summed), `rss` or `pss`.
    pub metric: String,
    /// At the first sample with a live process.
    pub start_bytes: u64,
    /// At the last sample with a live process before the command exited.
    pub end_bytes: u64,
    /// The highest.
    pub peak_bytes: u64,
    /// Seconds since start when the peak was seen.
    pub peak_at_s: f64,
    /// The highest resident memory summed over the tree.
    pub peak_rss_bytes: u64,
    /// The highest charge of the tree's cgroup, when it had one.
    pub peak_cgroup_bytes: Option<u64>,
}

/// Start, end and peak of one count (threads, descriptors, processes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CountReport {
    /// At the first sample with a live process.
    pub start: u64,
    /// At the last sample with a live process.
    pub end: u64,
    /// The highest.
    pub peak: u64,
}

/// Threads, descriptors and processes of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResourcesReport {
    /// Threads summed over the tree.
    pub threads: CountReport,
    /// Open descriptors summed over the tree.
    pub fds: CountReport,
    /// Live processes.
    pub processes: CountReport,
}

/// The processes of the tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessesReport {
    /// Distinct processes seen (PID + start time).
    pub seen: u64,
    /// The most alive at once.
    pub max_alive: u64,
    /// The largest by peak anonymous memory.
    pub top: Vec<TopProcess>,
    /// The processes grouped by command line, largest first (the sum of their peaks).
    #[serde(default)]
    pub groups: Vec<ProcessGroup>,
}

/// One row of the process table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopProcess {
    /// PID.
    pub pid: u32,
    /// Command line.
    pub command: String,
    /// Peak anonymous memory, bytes.
    pub peak_bytes: u64,
    /// Peak resident memory, bytes.
    pub peak_rss_bytes: u64,
    /// Average growth between first and last sight, bytes per second.
    pub growth_bytes_per_s: f64,
    /// Seconds since start when first and last seen.
    pub seen_s: [f64; 2],
    /// Whether it exited during the run.
    pub exited: bool,
}

/// The machine while the run lasted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MachineReport {
    /// Total memory, bytes.
    pub mem_total_bytes: u64,
    /// The lowest available memory seen, bytes.
    pub min_available_bytes: u64,
    /// The highest PSI memory `some avg10` seen, where the kernel has PSI.
    pub max_psi_some_avg10: Option<f64>,
}

impl RunReport {
    /// The report of a command that could not be started (for `--json`).
    pub fn not_started(meta: &RunMeta, metric: Metric) -> RunReport {
        RunStats::new(metric).report(None, meta, None, top_processes(0, []), Vec::new())
    }
}

/// The memory figure a run is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Anonymous memory (RssAnon + swap) summed over the tree: what a leak grows.
    Anon,
    /// Resident memory summed over the tree (shared pages counted once per process).
    Rss,
    /// Proportional set size summed over the tree (read less often).
    Pss,
}

impl Metric {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Anon => "anon",
            Metric::Rss => "rss",
            Metric::Pss => "pss",
        }
    }

    /// Parses a stored name; unknown names read as `anon`.
    pub fn from_name(name: &str) -> Metric {
        match name {
            "rss" => Metric::Rss,
            "pss" => Metric::Pss,
            _ => Metric::Anon,
        }
    }

    /// This metric's value in a sample.
    pub fn of(self, s: &Sample) -> u64 {
        match self {
            Metric::Anon => s.tree.anon_bytes,
            Metric::Rss => s.tree.rss_bytes,
            Metric::Pss => s.tree.pss_bytes.unwrap_or(s.tree.rss_bytes),
        }
    }
}

/// Folds samples into the figures of a [`RunReport`], in constant memory.
#[derive(Debug, Clone)]
pub struct RunStats {
    metric: Metric,
    samples: u64,
    last_t: f64,
    first: Option<Sample>,
    last: Option<Sample>,
    peak: (u64, f64),
    peak_rss: u64,
    peak_cgroup: Option<u64>,
    peak_threads: u64,
    peak_fds: u64,
    max_alive: u64,
    min_available: u64,
    max_psi: Option<f64>,
    command_ended: bool,
}

impl RunStats {
    /// An empty accumulator for `metric`.
    pub fn new(metric: Metric) -> Self {
        RunStats {
            metric,
            samples: 0,
            last_t: 0.0,
            first: None,
            last: None,
            peak: (0, 0.0),
            peak_rss: 0,
            peak_cgroup: None,
            peak_threads: 0,
            peak_fds: 0,
            max_alive: 0,
            min_available: u64::MAX,
            max_psi: None,
            command_ended: false,
        }
    }

    /// Adds one sample. Samples of an empty tree count as samples but not as memory figures
    /// (an exited command's last sample would otherwise make every run "end" at zero).
    pub fn push(&mut self, s: &Sample) {
        self.samples += 1;
        self.last_t = self.last_t.max(s.t);
        self.min_available = self.min_available.min(s.machine.mem_available_bytes);
        if let Some(p) = s.machine.psi_some_avg10 {
            self.max_psi = Some(self.max_psi.map_or(p, |m: f64| m.max(p)));
        }
        if let Some(c) = s.cgroup_bytes {
            self.peak_cgroup = Some(self.peak_cgroup.unwrap_or(0).max(c));
        }
        if s.tree.processes == 0 {
            return;
        }
        let value = self.metric.of(s);
        if self.first.is_none() {
            self.first = Some(*s);
        }
        if !self.command_ended {
            self.last = Some(*s);
        }
        if value > self.peak.0 {
            self.peak = (value, s.t);
        }
        self.peak_rss = self.peak_rss.max(s.tree.rss_bytes);
        self.peak_threads = self.peak_threads.max(s.tree.threads);
        self.peak_fds = self.peak_fds.max(s.tree.fds);
        self.max_alive = self.max_alive.max(u64::from(s.tree.processes));
    }

    /// From now on, samples count toward peaks but not toward the run's end figures: the
    /// command has exited and what follows is its leftovers being stopped.
    pub fn command_ended(&mut self) {
        self.command_ended = true;
    }

    /// Samples pushed so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Peak of the metric so far, bytes.
    pub fn peak_bytes(&self) -> u64 {
        self.peak.0
    }

    /// Peak of the tree's resident memory so far, bytes.
    pub fn peak_rss(&self) -> u64 {
        self.peak_rss
    }

    /// Peak of the cgroup's charge so far, bytes, when the run has a cgroup.
    pub fn peak_cgroup(&self) -> Option<u64> {
        self.peak_cgroup
    }

    /// The report: these figures with the run's metadata, end, processes and events. A run
    /// without an end lasts until its last sample.
    pub fn report(
        &self,
        run_id: Option<i64>,
        meta: &RunMeta,
        end: Option<&RunEnd>,
        processes: ProcessesReport,
        events: Vec<Event>,
    ) -> RunReport {
        let value = |s: &Option<Sample>| s.as_ref().map_or(0, |s| self.metric.of(s));
        let count = |f: fn(&Sample) -> u64, peak: u64| CountReport {
            start: self.first.as_ref().map_or(0, f),
            end: self.last.as_ref().map_or(0, f),
            peak,
        };
        RunReport {
            schema: SCHEMA,
            run_id,
            label: meta.label.clone(),
            command: meta.command.clone(),
            kind: meta.kind,
            started_at: meta.started_at.clone(),
            duration_s: end.map_or(self.last_t, |e| e.duration_s),
            // A live session has ended by the time it reports; a stored run says its own.
            state: RunState::Ended,
            // A stored run knows how many samples it took even after old rows were folded.
            samples: end.map_or(self.samples, |e| e.samples.max(self.samples)),
            interval_s: meta.interval_s,
            exit: end.and_then(|e| e.exit),
            stopped_by: end.and_then(|e| e.stopped_by),
            status: end.map_or(0, |e| e.status),
            mode: meta.mode.clone(),
            host: meta.host.clone(),
            memory: MemoryReport {
                metric: self.metric.name().to_string(),
                start_bytes: value(&self.first),
                end_bytes: value(&self.last),
                peak_bytes: self.peak.0,
                peak_at_s: self.peak.1,
                peak_rss_bytes: self.peak_rss,
                peak_cgroup_bytes: self.peak_cgroup,
            },
            verdict: end.and_then(|e| e.verdict.clone()),
            resources: ResourcesReport {
                threads: count(|s| s.tree.threads, self.peak_threads),
                fds: count(|s| s.tree.fds, self.peak_fds),
                processes: count(|s| u64::from(s.tree.processes), self.max_alive),
            },
            processes: ProcessesReport {
                max_alive: self.max_alive,
                ..processes
            },
            machine: MachineReport {
                mem_total_bytes: meta.mem_total_bytes,
                min_available_bytes: if self.samples == 0 {
                    0
                } else {
                    self.min_available
                },
                max_psi_some_avg10: self.max_psi,
            },
            events,
            heap: None,
        }
    }
}

/// The `top` table from process summaries: the largest by peak anonymous memory, and the
/// largest groups of processes by command.
pub fn top_processes<'a>(
    seen: u64,
    all: impl IntoIterator<Item = &'a ProcessSummary>,
) -> ProcessesReport {
    processes_report(seen, all, &Exited::default())
}

/// The `top` table of a live session: the summaries of the processes still known (`live`)
/// and what was kept of those that exited.
pub fn processes_report<'a>(
    seen: u64,
    live: impl IntoIterator<Item = &'a ProcessSummary>,
    exited: &Exited,
) -> ProcessesReport {
    let live: Vec<&ProcessSummary> = live.into_iter().collect();
    let members = live.iter().map(|p| (p.command.as_str(), Member::from(*p)));
    let mut groups = group_members(members.chain(exited.members()));
    groups.truncate(TOP_PROCESSES);
    let mut rows: Vec<&ProcessSummary> = live.into_iter().chain(exited.largest()).collect();
    rows.sort_by(|a, b| by_peak(a, b));
    rows.truncate(TOP_PROCESSES);
    ProcessesReport {
        seen,
        max_alive: 0,
        groups,
        top: rows
            .into_iter()
            .map(|p| TopProcess {
                pid: p.pid,
                command: p.command.clone(),
                peak_bytes: p.peak_anon_bytes,
                peak_rss_bytes: p.peak_rss_bytes,
                growth_bytes_per_s: p.growth_bytes_per_s(),
                seen_s: [p.first_seen_s, p.last_seen_s],
                exited: p.exited,
            })
            .collect(),
    }
}

/// The order of the `top` rows: highest peak first, then lowest PID.
pub fn by_peak(a: &ProcessSummary, b: &ProcessSummary) -> std::cmp::Ordering {
    b.peak_anon_bytes
        .cmp(&a.peak_anon_bytes)
        .then(a.pid.cmp(&b.pid))
}
