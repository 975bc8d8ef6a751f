//! Stopping a whole tree: TERM to every process, a grace period, then KILL, re-scanning the
//! tree on every pass so processes forked meanwhile are caught too. Nothing is left behind.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use memwarden::sample::tree::ProcessTree;

use super::placement::Placement;

/// How to stop a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopPlan {
    /// Time between TERM and KILL.
    pub grace: Duration,
    /// End the grace at once if the tree's resident memory passes this: a tree stopped for
    /// memory that ignores TERM and goes on allocating is not given the grace to do so.
    pub kill_above: Option<u64>,
}

impl StopPlan {
    /// TERM, `grace`, KILL.
    pub fn grace(grace: Duration) -> Self {
        StopPlan {
            grace,
            kill_above: None,
        }
    }
}

/// What stopping the tree took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StopOutcome {
    /// Processes sent TERM.
    pub termed: usize,
    /// Processes still there after the grace period, sent KILL.
    pub killed: usize,
    /// Processes that could not be stopped (not ours to signal, or stuck in the kernel).
    pub survivors: usize,
    /// The grace was cut short: the tree kept growing past the plan's `kill_above`.
    pub grew: bool,
}

impl StopOutcome {
    /// The outcome in words, after "stopped the tree: ".
    pub fn describe(&self) -> String {
        let mut s = format!("{} sent TERM, {} needed KILL", self.termed, self.killed);
        if self.grew {
            s.push_str(" (the grace was cut short: the tree kept growing)");
        }
        if self.survivors > 0 {
            s.push_str(&format!(", {} could not be stopped", self.survivors));
        }
        s
    }
}

/// How long KILL may take to empty the tree before memwarden gives up and says so.
const KILL_PATIENCE: Duration = Duration::from_secs(5);
/// Time between re-scans while waiting for the tree to empty.
const POLL: Duration = Duration::from_millis(10);
/// Time between re-scans while a growing tree may have to be killed early.
const FAST_POLL: Duration = Duration::from_millis(5);

/// Stops every process of `tree`: TERM, up to `plan.grace` for them to exit, then KILL
/// (at once with v2 `cgroup.kill` when the tree has a group of its own).
/// `now` gives the run's clock for the tree's bookkeeping.
pub fn stop_tree(
    tree: &mut ProcessTree,
    placement: Option<&Placement>,
    plan: &StopPlan,
    now: impl Fn() -> f64,
) -> StopOutcome {
    let mut outcome = StopOutcome::default();
    let mut signalled = HashSet::new();
    let deadline = Instant::now() + plan.grace;
    let poll = if plan.kill_above.is_some() {
        FAST_POLL
    } else {
        POLL
    };
    // The members already known are sent TERM before anything else: a tree stopped at its
    // limit must not keep allocating while it is re-scanned.
    for (pid, _) in tree.members() {
        signalled.insert(pid);
        signal(pid, libc::SIGTERM);
        outcome.termed += 1;
    }
    loop {
        let totals = match tree.refresh(now()) {
            Ok(t) if !tree.is_empty() => t,
            _ => return outcome,
        };
        for (pid, _) in tree.members() {
            if signalled.insert(pid) {
                signal(pid, libc::SIGTERM);
                outcome.termed += 1;
            }
        }
        if plan.kill_above.is_some_and(|cap| totals.rss_bytes > cap) {
            outcome.grew = true;
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(poll.min(deadline.saturating_duration_since(Instant::now())));
    }
    let mut killed = HashSet::new();
    let kill_deadline = Instant::now() + KILL_PATIENCE;
    loop {
        if let Some(p) = placement {
            p.kill_all();
        }
        // Stop first, then kill: a stopped process cannot fork while its siblings are killed,
        // so each pass leaves only what was born during it, and a fork storm cannot outrun
        // the passes.
        let members: Vec<u32> = tree.members().map(|(pid, _)| pid).collect();
        for &pid in &members {
            signal(pid, libc::SIGSTOP);
        }
        for &pid in &members {
            signal(pid, libc::SIGKILL);
            killed.insert(pid);
        }
        std::thread::sleep(POLL);
        if tree.refresh(now()).is_err() || tree.is_empty() {
            break;
        }
        if Instant::now() >= kill_deadline {
            outcome.survivors = tree.len();
            break;
        }
    }
    outcome.killed = killed.len();
    outcome
}

/// Sends `sig` to `pid`; a process already gone is no error.
pub(super) fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a member of a tree just re-read (or the command, not yet reaped); a
    // held statm handle proves each member is still the process first seen (a reused PID
    // reads as gone).
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}
