//! Stopping a whole tree: TERM to every process, a grace period, then KILL, re-scanning the
//! tree on every pass so processes forked meanwhile are caught too. Nothing is left behind.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use memwarden::sample::tree::ProcessTree;

use super::placement::Placement;

/// What stopping the tree took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StopOutcome {
    /// Processes sent TERM.
    pub termed: usize,
    /// Processes still there after the grace period, sent KILL.
    pub killed: usize,
    /// Processes that could not be stopped (not ours to signal, or stuck in the kernel).
    pub survivors: usize,
}

/// How long KILL may take to empty the tree before memwarden gives up and says so.
const KILL_PATIENCE: Duration = Duration::from_secs(5);
/// Time between re-scans while waiting for the tree to empty.
const POLL: Duration = Duration::from_millis(10);

/// Stops every process of `tree`: TERM, up to `grace` for them to exit, then KILL
/// (at once with v2 `cgroup.kill` when the tree has a group of its own).
/// `now` gives the run's clock for the tree's bookkeeping.
pub fn stop_tree(
    tree: &mut ProcessTree,
    placement: Option<&Placement>,
    grace: Duration,
    now: impl Fn() -> f64,
) -> StopOutcome {
    let mut outcome = StopOutcome::default();
    let mut signalled = HashSet::new();
    let deadline = Instant::now() + grace;
    loop {
        if tree.refresh(now()).is_err() || tree.is_empty() {
            return outcome;
        }
        for (pid, _) in tree.members() {
            if signalled.insert(pid) {
                signal(pid, libc::SIGTERM);
                outcome.termed += 1;
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
    let mut killed = HashSet::new();
    let kill_deadline = Instant::now() + KILL_PATIENCE;
    loop {
        if let Some(p) = placement {
            p.kill_all();
        }
        // Stop first, then kill: a stopped process cannot fork while its siblings are killed.
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

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2); the tree was re-read just before, and a held statm handle proves each
    // member is still the process that was first seen (a reused PID reads as gone).
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}
