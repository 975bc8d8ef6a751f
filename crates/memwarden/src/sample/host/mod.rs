//! Every process on the machine, grouped by process, by command or by cgroup: what the
//! host-wide view (`memwarden top`) judges, one group at a time.
//!
//! Cost model, for a machine of thousands of processes sampled every second: each sample
//! re-reads every process's `statm` through a held descriptor with one `pread`; `/proc` is
//! listed (one `getdents` pass) every [`HostCadence::list_every`] samples (two seconds by
//! default; skipped when nothing was forked since the last listing), which finds the new
//! processes — those that exit are found by reading them; `stat`, `cmdline` and (when needed)
//! `cgroup` are read once per new process; `status` (swap, threads, a new name after an exec)
//! every [`HostCadence::slow_every`] samples per process (thirty seconds by default) and the
//! descriptors counted every [`HostCadence::fds_every`] (sixty), staggered so each sample pays
//! for a share of the machine; PSS is never read (`smaps_rollup` costs ten times a `statm`). A
//! group's cgroup usage is one `pread` of a held file per sample, its limit is read again
//! every minute (once per cgroup, however many groups share it). Measured beside procps `top`
//! and the held-`statm` floor in `bench/results/top.md`.
//!
//! Memory: about 0.5 KiB per live process (its held descriptor, its command line cut to
//! [`COMMAND_MAX`] bytes, its summary) and 0.3 KiB per group, plus the group's name. A group
//! whose processes have all gone is kept for [`HostCadence::forget_after_s`] (it may come back:
//! a helper started again), then forgotten and reported by [`HostSampler::take_forgotten`];
//! grouped by process it is forgotten at once (a process never comes back).
//!
//! Processes of other users that cannot be read are counted ([`Unreadable`]), never errors.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

mod types;

pub use types::{GroupBy, HostCadence, HostGroup, Unreadable, COMMAND_MAX};

use crate::sample::cgroup::{parse_proc_cgroup, MemoryHierarchy};
use crate::sample::group::{cgroup_unit, command_shape};
use crate::sample::listing::ProcLister;
use crate::sample::machine::MachineReader;
use crate::sample::procfs::{self, ProcFs, ReadError, Stat};
use crate::sample::types::{MachineSample, ProcessSample, ProcessSummary, Sample, TreeTotals};
use crate::sample::SampleError;

#[derive(Debug)]
struct Tracked {
    statm: Option<File>,
    slot: usize,
    /// The command name as last seen, to notice an exec.
    comm: String,
    reads: u32,
    /// Running before the first sample: long past its exec, so its second reading need not
    /// read `status` again.
    preexisting: bool,
    mark: u32,
    fds_denied: bool,
    now: ProcessSample,
    summary: ProcessSummary,
}

#[derive(Debug)]
struct Slot {
    key: String,
    members: u32,
    usage: Option<File>,
    group: HostGroup,
}

/// A listed PID that is not tracked: a kernel thread, or a process that cannot be read.
#[derive(Debug, Clone, Copy)]
struct Other {
    mark: u32,
    unreadable: bool,
}

/// Cgroup limits, each cgroup's read at most once per period of [`HostCadence::limits_every`]
/// samples: groups share cgroups (a user's session, a service's helpers), and each read walks
/// the cgroup's ancestors.
#[derive(Debug, Default)]
struct Limits {
    period: u64,
    read: HashMap<PathBuf, Option<u64>>,
}

impl Limits {
    /// The limit over cgroup `dir` at sample `index` of a cadence reading limits `every`
    /// samples.
    fn of(
        &mut self,
        hierarchy: &MemoryHierarchy,
        dir: &Path,
        index: u64,
        every: u32,
    ) -> Option<u64> {
        let period = index / u64::from(every.max(1));
        if self.period != period {
            self.read.clear();
            self.period = period;
        }
        *self
            .read
            .entry(dir.to_path_buf())
            .or_insert_with(|| hierarchy.limit_of(dir))
    }
}

/// Samples every process of the machine and sums them into groups.
#[derive(Debug)]
pub struct HostSampler {
    fs: ProcFs,
    by: GroupBy,
    cadence: HostCadence,
    hierarchy: MemoryHierarchy,
    limits: Limits,
    machine: MachineReader,
    lister: ProcLister,
    start: Instant,
    procs: HashMap<u32, Tracked>,
    others: HashMap<u32, Other>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    index: HashMap<String, usize>,
    next_id: u64,
    forgotten: Vec<u64>,
    pass: u32,
    sample_index: u64,
    held: usize,
    page_size: u64,
    unreadable: Unreadable,
    buf: Vec<u8>,
    statm_buf: [u8; 256],
    listed: Vec<u32>,
}

impl HostSampler {
    /// A sampler of this machine's `/proc` and cgroups, grouping `by`; time starts now.
    pub fn new(by: GroupBy, cadence: HostCadence) -> Result<Self, SampleError> {
        let machine = MachineReader::open().map_err(SampleError::Machine)?;
        Ok(Self::with_roots(
            ProcFs::default(),
            MemoryHierarchy::discover(),
            machine,
            by,
            cadence,
        ))
    }

    /// A sampler of another proc root and cgroup hierarchy (fixture trees in tests).
    pub fn with_roots(
        fs: ProcFs,
        hierarchy: MemoryHierarchy,
        machine: MachineReader,
        by: GroupBy,
        cadence: HostCadence,
    ) -> Self {
        HostSampler {
            lister: ProcLister::new(fs.root()),
            fs,
            by,
            cadence,
            hierarchy,
            limits: Limits::default(),
            machine,
            start: Instant::now(),
            procs: HashMap::new(),
            others: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            next_id: 1,
            forgotten: Vec::new(),
            pass: 0,
            sample_index: 0,
            held: 0,
            page_size: rustix::param::page_size() as u64,
            unreadable: Unreadable::default(),
            buf: Vec::with_capacity(4096),
            statm_buf: [0; 256],
            listed: Vec::new(),
        }
    }

    /// What processes are grouped by.
    pub fn by(&self) -> GroupBy {
        self.by
    }

    /// When sampling started (time 0 of every sample).
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Reads every process and the machine now; returns the machine's figures. The groups
    /// are then in [`groups`](Self::groups).
    pub fn sample(&mut self) -> Result<MachineSample, SampleError> {
        let t = self.start.elapsed().as_secs_f64();
        self.pass = self.pass.wrapping_add(1);
        let machine = self.machine.read().map_err(SampleError::Machine)?;
        self.update_membership(t)?;
        self.read_members(t, machine);
        self.settle_groups(t);
        self.sample_index += 1;
        Ok(machine)
    }

    /// The groups at the latest sample, those without processes (not yet forgotten) included.
    pub fn groups(&self) -> impl Iterator<Item = &HostGroup> {
        self.slots.iter().flatten().map(|s| &s.group)
    }

    /// The group `id`, if it is still known.
    pub fn group(&self, id: u64) -> Option<&HostGroup> {
        self.groups().find(|g| g.id == id)
    }

    /// The live processes of group `id`: their lives so far and their latest readings.
    pub fn members(&self, id: u64) -> impl Iterator<Item = (&ProcessSummary, &ProcessSample)> {
        let slot = self
            .slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.group.id == id));
        self.procs
            .values()
            .filter(move |p| Some(p.slot) == slot)
            .map(|p| (&p.summary, &p.now))
    }

    /// The groups forgotten since the last call (gone for longer than the cadence keeps them).
    pub fn take_forgotten(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.forgotten)
    }

    /// Processes that could not be read, at the latest sample.
    pub fn unreadable(&self) -> Unreadable {
        self.unreadable
    }

    /// Processes read at the latest sample.
    pub fn processes(&self) -> usize {
        self.procs.len()
    }

    fn update_membership(&mut self, t: f64) -> Result<(), SampleError> {
        // Between listings, and without a fork anywhere since the last one, there is nothing
        // new to find; the processes that left are found by reading them.
        let due = self
            .sample_index
            .is_multiple_of(u64::from(self.cadence.list_every.max(1)));
        if !due || !self.lister.forked_since_last() {
            for o in self.others.values_mut() {
                o.mark = self.pass;
            }
            return Ok(());
        }
        let mut listed = std::mem::take(&mut self.listed);
        listed.clear();
        self.lister.list(&mut listed)?;
        let pass = self.pass;
        for &pid in &listed {
            if let Some(p) = self.procs.get_mut(&pid) {
                p.mark = pass;
            } else if let Some(o) = self.others.get_mut(&pid) {
                o.mark = pass;
            } else {
                match self.fs.stat(pid, &mut self.buf) {
                    Ok(stat) if stat.is_kernel_thread() || stat.is_zombie() => {
                        self.others.insert(
                            pid,
                            Other {
                                mark: pass,
                                unreadable: false,
                            },
                        );
                    }
                    Ok(stat) => self.track(pid, stat, t),
                    Err(ReadError::Gone(_)) => {}
                    Err(_) => {
                        self.others.insert(
                            pid,
                            Other {
                                mark: pass,
                                unreadable: true,
                            },
                        );
                    }
                }
            }
        }
        self.listed = listed;
        self.others.retain(|_, o| o.mark == pass);
        let gone: Vec<u32> = self
            .procs
            .iter()
            .filter(|(_, p)| p.mark != pass)
            .map(|(&pid, _)| pid)
            .collect();
        for pid in gone {
            self.retire(pid);
        }
        Ok(())
    }

    fn track(&mut self, pid: u32, stat: Stat, t: f64) {
        let statm = match self.fs.open_statm(pid) {
            Ok(f) if self.held < self.cadence.max_held => Some(f),
            Ok(_) => None,
            Err(ReadError::Gone(_)) => return,
            Err(_) => {
                self.others.insert(
                    pid,
                    Other {
                        mark: self.pass,
                        unreadable: true,
                    },
                );
                return;
            }
        };
        self.held += usize::from(statm.is_some());
        let (key, name, command, dir) = self.identify(pid, &stat);
        let slot = self.slot_for(pid, key, name, dir, t);
        let summary = ProcessSummary::first_seen(pid, &stat, command, t);
        self.procs.insert(
            pid,
            Tracked {
                statm,
                slot,
                comm: stat.comm,
                reads: 0,
                preexisting: self.sample_index == 0,
                mark: self.pass,
                fds_denied: false,
                now: ProcessSample {
                    pid,
                    threads: stat.threads,
                    ..ProcessSample::default()
                },
                summary,
            },
        );
    }

    /// The group key, its name, the process's command (cut to [`COMMAND_MAX`]) and, when the
    /// group is by cgroup, the cgroup directory of the group.
    fn identify(&mut self, pid: u32, stat: &Stat) -> (String, String, String, Option<PathBuf>) {
        let raw = match self.fs.read(pid, "cmdline", &mut self.buf) {
            Ok(()) => std::mem::take(&mut self.buf),
            Err(_) => Vec::new(),
        };
        let shape = if raw.is_empty() {
            format!("[{}]", stat.comm)
        } else {
            command_shape(&raw)
        };
        let command = if raw.is_empty() {
            shape.clone()
        } else {
            let trimmed = raw.strip_suffix(b"\0").unwrap_or(&raw);
            let cut = &trimmed[..trimmed.len().min(COMMAND_MAX)];
            String::from_utf8_lossy(cut).replace('\0', " ")
        };
        self.buf = raw;
        match self.by {
            GroupBy::Process => (
                format!("{pid}@{}", stat.start_ticks),
                format!("{pid} {shape}"),
                command,
                None,
            ),
            GroupBy::Command => (shape.clone(), shape, command, None),
            GroupBy::Cgroup => {
                let path = self.cgroup_path(pid).unwrap_or_else(|| "/".to_string());
                let (unit, len) = cgroup_unit(&path);
                let dir = self.hierarchy.dir_of(&path[..len]);
                (unit.clone(), unit, command, dir)
            }
        }
    }

    fn cgroup_path(&mut self, pid: u32) -> Option<String> {
        self.fs.read(pid, "cgroup", &mut self.buf).ok()?;
        let text = String::from_utf8_lossy(&self.buf);
        let (v2, v1) = parse_proc_cgroup(&text);
        self.hierarchy
            .path_of(v2.as_deref(), v1.as_deref())
            .map(str::to_string)
    }

    /// The slot of the group `key`, made (with its cgroup, limit and usage file) if new;
    /// `pid` is the process that joins it.
    fn slot_for(
        &mut self,
        pid: u32,
        key: String,
        name: String,
        dir: Option<PathBuf>,
        t: f64,
    ) -> usize {
        if let Some(&i) = self.index.get(&key) {
            let slot = self.slots[i].as_mut().expect("indexed slots are live");
            slot.group.name = name;
            return i;
        }
        // By process or command, the group's cgroup is that of the process that made it.
        let dir = dir.or_else(|| {
            let path = self.cgroup_path(pid)?;
            self.hierarchy.dir_of(&path)
        });
        let usage = match self.by {
            GroupBy::Cgroup => dir
                .as_deref()
                .and_then(|d| self.hierarchy.usage_file(d))
                .and_then(|f| File::open(f).ok()),
            _ => None,
        };
        let (index, every) = (self.sample_index, self.cadence.limits_every);
        let limit_bytes = dir
            .as_deref()
            .and_then(|d| self.limits.of(&self.hierarchy, d, index, every));
        let group = HostGroup {
            id: self.next_id,
            name,
            sample: Sample {
                t,
                ..Sample::default()
            },
            limit_bytes,
            cgroup_dir: dir,
            empty_since: None,
        };
        self.next_id += 1;
        let slot = Slot {
            key: key.clone(),
            members: 0,
            usage,
            group,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.index.insert(key, i);
        i
    }

    fn retire(&mut self, pid: u32) {
        if let Some(p) = self.procs.remove(&pid) {
            self.held -= usize::from(p.statm.is_some());
        }
    }

    /// Reads every process, sums the groups. Processes whose `statm` reads as gone leave.
    fn read_members(&mut self, t: f64, machine: MachineSample) {
        for slot in self.slots.iter_mut().flatten() {
            slot.members = 0;
            slot.group.sample = Sample {
                t,
                tree: TreeTotals::default(),
                cgroup_bytes: None,
                machine,
            };
        }
        let slow_every = u64::from(self.cadence.slow_every.max(1));
        let fds_every = u64::from(self.cadence.fds_every.max(1));
        let index = self.sample_index;
        let mut gone = Vec::new();
        let mut renamed = Vec::new();
        let mut fds_denied = 0;
        for (&pid, p) in self.procs.iter_mut() {
            let Some(statm) =
                self.fs
                    .live_statm(pid, p.statm.as_ref(), &mut self.statm_buf, &mut self.buf)
            else {
                gone.push(pid);
                continue;
            };
            // The first two readings of a new process read status too: one first seen
            // between its fork and its exec has usually executed by the second.
            let first = p.reads == 0;
            let young = first || (p.reads == 1 && !p.preexisting);
            p.reads = p.reads.saturating_add(1);
            let now = &mut p.now;
            // Stagger the slower reads by PID so each sample pays for a share of the machine.
            let slow = young || (u64::from(pid) + index).is_multiple_of(slow_every);
            if slow && self.fs.refresh_status(pid, now, &mut p.comm, &mut self.buf) {
                renamed.push(pid);
            }
            // Descriptors at the first reading and at the slow ones (not the second: an exec
            // keeps them).
            if first || (!young && (u64::from(pid) + index).is_multiple_of(fds_every)) {
                match self.fs.fd_count(pid) {
                    Ok(n) => {
                        now.fds = Some(n);
                        p.fds_denied = false;
                    }
                    Err(ReadError::Denied(_)) => p.fds_denied = true,
                    Err(_) => {}
                }
            }
            now.rss_bytes = statm.resident * self.page_size;
            now.anon_bytes = statm.anon_bytes(self.page_size) + now.swap_bytes;
            fds_denied += u32::from(p.fds_denied);

            p.summary.observe(now, t, p.reads == 1);
            if let Some(slot) = self.slots[p.slot].as_mut() {
                slot.members += 1;
                slot.group.sample.tree.add(now);
            }
        }
        for pid in gone {
            self.retire(pid);
        }
        for pid in renamed {
            self.regroup(pid, t);
        }
        self.unreadable = Unreadable {
            processes: self.others.values().filter(|o| o.unreadable).count() as u32,
            fds: fds_denied,
        };
    }

    /// A process executed another program: its command is read again, and it moves to the
    /// group of its new command (by process, only the group's name changes).
    fn regroup(&mut self, pid: u32, t: f64) {
        let Ok(stat) = self.fs.stat(pid, &mut self.buf) else {
            return;
        };
        let (key, name, command, dir) = self.identify(pid, &stat);
        let Some(old) = self.procs.get(&pid).map(|p| p.slot) else {
            return;
        };
        let new = self.slot_for(pid, key, name, dir, t);
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        p.summary.command = command;
        if new != old {
            p.slot = new;
            let now = p.now;
            for (i, sign) in [(old, -1i64), (new, 1)] {
                let Some(slot) = self.slots[i].as_mut() else {
                    continue;
                };
                slot.members = slot.members.saturating_add_signed(sign as i32);
                let totals = &mut slot.group.sample.tree;
                let add = |v: &mut u64, x: u64| *v = v.saturating_add_signed(sign * x as i64);
                add(&mut totals.rss_bytes, now.rss_bytes);
                add(&mut totals.anon_bytes, now.anon_bytes);
                add(&mut totals.swap_bytes, now.swap_bytes);
                add(&mut totals.threads, u64::from(now.threads));
                add(&mut totals.fds, u64::from(now.fds.unwrap_or(0)));
                totals.processes = slot.members;
            }
        }
    }

    /// Reads the groups' cgroup charges and (now and then) limits, marks the groups that
    /// have no process left, and forgets those gone for long enough.
    fn settle_groups(&mut self, t: f64) {
        let limits_every = u64::from(self.cadence.limits_every.max(1));
        let forget_after = match self.by {
            GroupBy::Process => 0.0,
            _ => self.cadence.forget_after_s,
        };
        for (i, entry) in self.slots.iter_mut().enumerate() {
            let Some(slot) = entry else { continue };
            let group = &mut slot.group;
            if slot.members > 0 {
                group.empty_since = None;
            } else {
                let since = *group.empty_since.get_or_insert(t);
                if t - since >= forget_after {
                    self.forgotten.push(group.id);
                    self.index.remove(&slot.key);
                    self.free.push(i);
                    *entry = None;
                    continue;
                }
            }
            if let Some(f) = &slot.usage {
                group.sample.cgroup_bytes = procfs::read_held(f, &mut self.statm_buf)
                    .ok()
                    .and_then(|n| {
                        std::str::from_utf8(&self.statm_buf[..n])
                            .ok()?
                            .trim()
                            .parse()
                            .ok()
                    });
            }
            if (i as u64 + self.sample_index).is_multiple_of(limits_every) {
                if let Some(dir) = &group.cgroup_dir {
                    group.limit_bytes = self.limits.of(
                        &self.hierarchy,
                        dir,
                        self.sample_index,
                        self.cadence.limits_every,
                    );
                }
            }
        }
    }
}
