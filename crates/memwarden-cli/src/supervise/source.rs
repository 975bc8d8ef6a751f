//! The seam between the sampling loop and the processes it watches: a [`Source`] is sampled,
//! stopped and signalled. [`TreeSource`] is the real one (`/proc`, the run's cgroup and its
//! kernel limit); the loop's tests drive a scripted one, so every rule of the loop is tested
//! without spawning anything.

use std::time::{Duration, Instant};

use memwarden::sample::tree::Cadence;
use memwarden::sample::{ProcessSample, ProcessSummary, Sample, SampleError, Sampler};
use nix::sys::signal::Signal;

use super::limit::KernelLimit;
use super::placement::Placement;
use super::protect::{self, Protected};
use super::stop::{self, StopOutcome, StopPlan};

/// What became of a signal memwarden meant to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Sent.
    Sent,
    /// Not sent: the process has no handler for it, and its default action would end it.
    NotCaught,
    /// Not sent: memwarden never signals this process (itself, an ancestor, PID 1).
    Protected,
    /// The process was gone.
    Gone,
    /// The kernel refused (another user's process).
    NotPermitted,
}

/// A process tree the loop samples and acts on.
pub trait Source {
    /// Seconds since sampling started.
    fn now(&self) -> f64;
    /// Reads the tree and the machine now.
    fn sample(&mut self) -> Result<Sample, SampleError>;
    /// Whether `pid` is a live member of the tree.
    fn is_member(&self, pid: u32) -> bool;
    /// The live members.
    fn members(&self) -> Vec<u32>;
    /// The life so far of every live member (borrowed: a tree of thousands is not copied).
    fn summaries(&self) -> Box<dyn Iterator<Item = &ProcessSummary> + '_>;
    /// Distinct processes seen so far.
    fn seen(&self) -> u64;
    /// The summaries of members that exited since the last call.
    fn drain_exited(&mut self) -> Vec<ProcessSummary>;
    /// The `n` largest members now, largest first, into `out`.
    fn top(&self, n: usize, out: &mut Vec<ProcessSample>);
    /// Samples now come every `interval`: read the dearer files at the same rate per second.
    fn set_interval(&mut self, interval: Duration);
    /// Never counts `pid` as a member (memwarden's own helpers).
    fn exclude(&mut self, pid: u32);
    /// Processes the kernel's OOM killer killed in the tree's cgroup since the last call.
    fn new_oom_kills(&mut self) -> u64;
    /// The kernel limit's peak charge and the limit, when the tree has a kernel limit.
    fn kernel_peak(&self) -> Option<(u64, u64)>;
    /// Stops every process of the tree as `plan` says.
    fn stop(&mut self, plan: &StopPlan) -> StopOutcome;
    /// Sends `sig` to `pid`; with `ask`, only when `pid` handles it or it is harmless.
    fn signal(&mut self, pid: u32, sig: Signal, ask: bool) -> Delivery;
}

/// The real tree: `/proc`, and the run's cgroup and kernel limit when it has them.
#[derive(Debug)]
pub struct TreeSource {
    sampler: Sampler,
    placement: Option<Placement>,
    kernel: Option<KernelLimit>,
    protected: Protected,
}

impl TreeSource {
    /// A source over `sampler`, in `placement` (owned: the group is removed when this is
    /// dropped), held by `kernel` when it has a kernel limit.
    pub fn new(
        sampler: Sampler,
        placement: Option<Placement>,
        kernel: Option<KernelLimit>,
    ) -> Self {
        let mut sampler = sampler;
        // memwarden is never a member of what it watches, even when it watches an ancestor.
        sampler.tree_mut().exclude(std::process::id());
        TreeSource {
            sampler,
            placement,
            kernel,
            protected: Protected::discover(),
        }
    }
}

impl Source for TreeSource {
    fn now(&self) -> f64 {
        self.sampler.start().elapsed().as_secs_f64()
    }

    fn sample(&mut self) -> Result<Sample, SampleError> {
        self.sampler.sample()
    }

    fn is_member(&self, pid: u32) -> bool {
        self.sampler.tree().members().any(|(p, _)| p == pid)
    }

    fn members(&self) -> Vec<u32> {
        self.sampler.tree().members().map(|(p, _)| p).collect()
    }

    fn summaries(&self) -> Box<dyn Iterator<Item = &ProcessSummary> + '_> {
        Box::new(self.sampler.tree().summaries())
    }

    fn seen(&self) -> u64 {
        self.sampler.tree().seen()
    }

    fn drain_exited(&mut self) -> Vec<ProcessSummary> {
        self.sampler.tree_mut().drain_exited().collect()
    }

    fn top(&self, n: usize, out: &mut Vec<ProcessSample>) {
        self.sampler.tree().top(n, out);
    }

    fn set_interval(&mut self, interval: Duration) {
        self.sampler
            .tree_mut()
            .set_cadence(Cadence::for_interval(interval));
    }

    fn exclude(&mut self, pid: u32) {
        self.sampler.tree_mut().exclude(pid);
    }

    fn new_oom_kills(&mut self) -> u64 {
        self.kernel.as_mut().map_or(0, KernelLimit::new_oom_kills)
    }

    fn kernel_peak(&self) -> Option<(u64, u64)> {
        let k = self.kernel.as_ref()?;
        Some((k.kernel_peak()?, k.bytes()))
    }

    fn stop(&mut self, plan: &StopPlan) -> StopOutcome {
        let start = self.now();
        let clock = Instant::now();
        stop::stop_tree(
            self.sampler.tree_mut(),
            self.placement.as_ref(),
            plan,
            &self.protected,
            || start + clock.elapsed().as_secs_f64(),
        )
    }

    fn signal(&mut self, pid: u32, sig: Signal, ask: bool) -> Delivery {
        if !self.protected.allows(pid) {
            return Delivery::Protected;
        }
        if ask && protect::harmful_by_default(sig) {
            match protect::catches(pid, sig) {
                Some(true) => {}
                Some(false) => return Delivery::NotCaught,
                None => return Delivery::Gone,
            }
        }
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig) {
            Ok(()) => Delivery::Sent,
            Err(nix::errno::Errno::EPERM) => Delivery::NotPermitted,
            Err(_) => Delivery::Gone,
        }
    }
}
