//! Where the tree is walked: which processes belong to the watched tree, and what each one uses.
//!
//! Cost model (BENCHMARKS.md): every sample re-reads each member's `statm` through a held
//! descriptor with one `pread`; `status` (swap, threads) and the descriptors' count (see
//! [`ProcFs::fd_count`](super::procfs::ProcFs::fd_count)) are read once per "slow period"
//! (about a second), staggered across processes so no sample pays for all; `smaps_rollup`
//! (PSS, ~10x dearer) ten times less often; `stat` and `cmdline` once per new process.
//! Membership comes from the cgroup's `cgroup.procs` when the tree has a cgroup,
//! otherwise from one `getdents` pass over `/proc` that reads `stat` only for PIDs not seen before.

use std::collections::{HashMap, HashSet};
use std::fs::File;

use super::cgroup::Cgroup;
use super::listing::ProcLister;
use super::procfs::{ProcFs, Stat};
use super::types::{ProcessSample, ProcessSummary, TreeTotals};
use super::SampleError;

/// How the tree's members are found.
#[derive(Debug)]
pub enum Membership {
    /// Every process in this cgroup (sees double-forked daemons).
    Cgroup(Cgroup),
    /// The roots and their descendants by parent links.
    Descendants(Descendants),
}

/// Membership by parent links, for trees without a cgroup of their own.
#[derive(Debug, Clone, Default)]
pub struct Descendants {
    /// The processes the tree grows from.
    pub roots: Vec<u32>,
    /// A process group whose members belong too (the command's own group).
    pub process_group: Option<u32>,
    /// A subreaper: orphans re-parented to it belong too (memwarden itself in `run`).
    pub adopted_by: Option<u32>,
}

/// How often the dearer per-process files are read.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    /// Samples between reads of `status` and counts of descriptors for one process.
    pub slow_every: u32,
    /// Samples between reads of `smaps_rollup` for one process.
    pub pss_every: u32,
    /// How many `statm` files may be held open; beyond it they are opened per sample.
    pub max_held: usize,
}

impl Cadence {
    /// Reads `status`/`fd` about once a second and PSS about every ten, for a sampling interval,
    /// holding as many files as the soft descriptor limit leaves room for.
    pub fn for_interval(interval: std::time::Duration) -> Self {
        let per_second = (1.0 / interval.as_secs_f64().max(1e-3)).ceil().max(1.0) as u32;
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX);
        Cadence {
            slow_every: per_second,
            pss_every: per_second.saturating_mul(10),
            // Keep a reserve for the store, the cgroup, hooks and the child's pipes.
            max_held: soft.saturating_sub(256).min(1 << 20) as usize,
        }
    }
}

#[derive(Debug)]
struct Tracked {
    statm: Option<File>,
    /// The command name as last seen, to notice an exec.
    comm: String,
    /// Samples in which it was read.
    reads: u32,
    mark: u32,
    now: ProcessSample,
    summary: ProcessSummary,
}

/// The watched process tree: its members and their latest readings.
#[derive(Debug)]
pub struct ProcessTree {
    fs: ProcFs,
    membership: Membership,
    cadence: Cadence,
    procs: HashMap<u32, Tracked>,
    /// PIDs known to be outside the tree (parent-link mode), with the pass that last listed them.
    others: HashMap<u32, u32>,
    excluded: HashSet<u32>,
    pass: u32,
    sample_index: u64,
    held: usize,
    seen: u64,
    exited: Vec<ProcessSummary>,
    page_size: u64,
    lister: ProcLister,
    buf: Vec<u8>,
    statm_buf: [u8; 256],
    listed: Vec<u32>,
    fresh: Vec<(u32, Stat)>,
}

impl ProcessTree {
    /// A tree found by `membership`, reading from `fs`.
    pub fn new(fs: ProcFs, membership: Membership, cadence: Cadence) -> Self {
        ProcessTree {
            lister: ProcLister::new(fs.root()),
            fs,
            membership,
            cadence,
            procs: HashMap::new(),
            others: HashMap::new(),
            excluded: HashSet::new(),
            pass: 0,
            sample_index: 0,
            held: 0,
            seen: 0,
            exited: Vec::new(),
            page_size: rustix::param::page_size() as u64,
            buf: Vec::with_capacity(4096),
            statm_buf: [0; 256],
            listed: Vec::new(),
            fresh: Vec::new(),
        }
    }

    /// Changes how often the dearer files are read, for a new sampling interval (a supervisor
    /// that samples faster near a limit keeps their cost per second the same).
    pub fn set_cadence(&mut self, cadence: Cadence) {
        self.cadence = cadence;
    }

    /// Never counts `pid` as a member (memwarden's own helpers, such as hooks).
    pub fn exclude(&mut self, pid: u32) {
        self.excluded.insert(pid);
        if let Some(t) = self.procs.remove(&pid) {
            self.release(t);
        }
    }

    /// The cgroup the tree is read from, if membership is by cgroup.
    pub fn cgroup_mut(&mut self) -> Option<&mut Cgroup> {
        match &mut self.membership {
            Membership::Cgroup(cg) => Some(cg),
            Membership::Descendants(_) => None,
        }
    }

    /// Finds the members, reads each one, and returns the tree's totals at time `t` (seconds).
    pub fn refresh(&mut self, t: f64) -> Result<TreeTotals, SampleError> {
        self.pass = self.pass.wrapping_add(1);
        self.update_membership(t)?;
        let totals = self.read_members(t);
        self.sample_index += 1;
        Ok(totals)
    }

    /// Live members now.
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    /// Whether the tree has no live member.
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// Distinct processes (PID + start time) seen in the tree so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Live members with their start times, to signal them without hitting a reused PID.
    pub fn members(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.procs
            .iter()
            .map(|(&pid, t)| (pid, t.summary.start_ticks))
    }

    /// The life so far of every live member.
    pub fn summaries(&self) -> impl Iterator<Item = &ProcessSummary> {
        self.procs.values().map(|t| &t.summary)
    }

    /// Takes the summaries of processes that left the tree since the last call.
    pub fn drain_exited(&mut self) -> std::vec::Drain<'_, ProcessSummary> {
        self.exited.drain(..)
    }

    /// The `n` members using the most anonymous memory now, largest first.
    pub fn top(&self, n: usize, out: &mut Vec<ProcessSample>) {
        out.clear();
        out.extend(self.procs.values().map(|t| t.now));
        let n = n.min(out.len());
        if n == 0 {
            return;
        }
        out.select_nth_unstable_by(n - 1, |a, b| b.anon_bytes.cmp(&a.anon_bytes));
        out.truncate(n);
        out.sort_unstable_by_key(|p| std::cmp::Reverse(p.anon_bytes));
    }

    fn update_membership(&mut self, t: f64) -> Result<(), SampleError> {
        self.listed.clear();
        match &mut self.membership {
            Membership::Cgroup(cg) => cg
                .read_pids(&mut self.listed)
                .map_err(|e| SampleError::Listing(cg.dir().join("cgroup.procs"), e))?,
            Membership::Descendants(_) => {
                // Without a fork anywhere since the last listing there is nothing new to find;
                // members that left are found by reading them.
                if !self.lister.forked_since_last() {
                    return Ok(());
                }
                self.lister.list(&mut self.listed)?
            }
        }
        let pass = self.pass;
        let mut listed = std::mem::take(&mut self.listed);
        self.fresh.clear();
        for &pid in &listed {
            if let Some(t) = self.procs.get_mut(&pid) {
                t.mark = pass;
            } else if let Some(mark) = self.others.get_mut(&pid) {
                *mark = pass;
            } else if !self.excluded.contains(&pid) {
                // A process gone between listing and reading is simply not there.
                if let Ok(stat) = self.fs.stat(pid, &mut self.buf) {
                    self.fresh.push((pid, stat));
                }
            }
        }
        listed.clear();
        self.listed = listed;
        self.admit_fresh(t);
        self.others.retain(|_, mark| *mark == pass);
        let gone: Vec<u32> = self
            .procs
            .iter()
            .filter(|(_, t)| t.mark != pass)
            .map(|(&pid, _)| pid)
            .collect();
        for pid in gone {
            self.retire(pid);
        }
        Ok(())
    }

    /// Decides which newly listed processes are members: all of them in a cgroup, otherwise
    /// those linked to a member, repeated until nothing changes (a child may be listed
    /// before its parent).
    fn admit_fresh(&mut self, t: f64) {
        let mut fresh = std::mem::take(&mut self.fresh);
        loop {
            let before = fresh.len();
            let mut i = 0;
            while i < fresh.len() {
                if self.belongs(fresh[i].0, &fresh[i].1) {
                    let (pid, stat) = fresh.swap_remove(i);
                    self.track(pid, stat, t);
                } else {
                    i += 1;
                }
            }
            if fresh.len() == before || fresh.is_empty() {
                break;
            }
        }
        for (pid, _) in fresh.drain(..) {
            self.others.insert(pid, self.pass);
        }
        self.fresh = fresh;
    }

    fn belongs(&self, pid: u32, stat: &Stat) -> bool {
        match &self.membership {
            Membership::Cgroup(_) => true,
            Membership::Descendants(d) => {
                d.roots.contains(&pid)
                    || self.procs.contains_key(&stat.ppid)
                    || d.process_group == Some(stat.pgrp)
                    || d.adopted_by == Some(stat.ppid)
            }
        }
    }

    fn track(&mut self, pid: u32, stat: Stat, t: f64) {
        let statm = if self.held < self.cadence.max_held {
            self.fs.open_statm(pid).ok()
        } else {
            None
        };
        self.held += usize::from(statm.is_some());
        let command = match self.fs.cmdline(pid, &mut self.buf) {
            Ok(c) if !c.is_empty() => c,
            _ => format!("[{}]", stat.comm),
        };
        let summary = ProcessSummary::first_seen(pid, &stat, command, t);
        self.seen += 1;
        self.procs.insert(
            pid,
            Tracked {
                statm,
                comm: stat.comm,
                reads: 0,
                mark: self.pass,
                now: ProcessSample {
                    pid,
                    threads: stat.threads,
                    ..ProcessSample::default()
                },
                summary,
            },
        );
    }

    fn retire(&mut self, pid: u32) {
        if let Some(mut t) = self.procs.remove(&pid) {
            t.summary.exited = true;
            self.release(t);
        }
    }

    fn release(&mut self, t: Tracked) {
        self.held -= usize::from(t.statm.is_some());
        if t.summary.exited {
            self.exited.push(t.summary);
        }
    }

    /// Reads every member and sums the tree. Members whose `statm` reads as gone are retired.
    fn read_members(&mut self, t: f64) -> TreeTotals {
        let mut totals = TreeTotals::default();
        let mut pss_total: Option<u64> = None;
        let slow_every = u64::from(self.cadence.slow_every.max(1));
        let pss_every = u64::from(self.cadence.pss_every.max(1));
        let index = self.sample_index;
        let mut gone = Vec::new();
        for (&pid, tr) in self.procs.iter_mut() {
            let Some(statm) =
                self.fs
                    .live_statm(pid, tr.statm.as_ref(), &mut self.statm_buf, &mut self.buf)
            else {
                gone.push(pid);
                continue;
            };
            let first = tr.reads == 0;
            // The second reading too: a process first seen between its fork and its exec has
            // usually executed by then, and its command is read again below.
            let young = tr.reads < 2;
            tr.reads = tr.reads.saturating_add(1);
            let now = &mut tr.now;
            // Stagger the slower reads by PID so each sample pays for a share of the tree.
            let phase = u64::from(pid) + index;
            if young || phase.is_multiple_of(slow_every) {
                // A new name means the process executed another program since it was first
                // seen (perhaps between its fork and its exec): read its command again.
                if self
                    .fs
                    .refresh_status(pid, now, &mut tr.comm, &mut self.buf)
                {
                    if let Ok(c) = self.fs.cmdline(pid, &mut self.buf) {
                        if !c.is_empty() {
                            tr.summary.command = c;
                        }
                    }
                }
                now.fds = self.fs.fd_count(pid).ok();
            }
            if first || phase.is_multiple_of(pss_every) {
                if let Ok(pss) = self.fs.pss(pid, &mut self.buf) {
                    now.pss_bytes = Some(pss);
                }
            }
            now.rss_bytes = statm.resident * self.page_size;
            now.anon_bytes = statm.anon_bytes(self.page_size) + now.swap_bytes;

            tr.summary.observe(now, t, first);
            // Counts members as it goes; the count is set from the members left, below.
            totals.add(now);
            if let Some(p) = now.pss_bytes {
                *pss_total.get_or_insert(0) += p;
            }
        }
        for pid in gone {
            self.retire(pid);
        }
        totals.pss_bytes = pss_total;
        totals.processes = self.procs.len() as u32;
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cadence_scales_with_interval() {
        let c = Cadence::for_interval(std::time::Duration::from_millis(10));
        assert_eq!((c.slow_every, c.pss_every), (100, 1000));
        let c = Cadence::for_interval(std::time::Duration::from_secs(2));
        assert_eq!((c.slow_every, c.pss_every), (1, 10));
    }
}
