//! Stopping a whole tree: TERM to every process, a grace period, then KILL, re-scanning the
//! tree on every pass so processes forked meanwhile are caught too. Nothing is left behind
//! but what memwarden may not signal, and that is named.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use memwarden::sample::tree::ProcessTree;

use super::placement::Placement;
use super::protect::Protected;

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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StopOutcome {
    /// Processes sent TERM.
    pub termed: usize,
    /// Processes still there after the grace period, sent KILL.
    pub killed: usize,
    /// Processes that could not be stopped (not ours to signal, or stuck in the kernel).
    pub survivors: Vec<u32>,
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
        if !self.survivors.is_empty() {
            let pids: Vec<String> = self.survivors.iter().map(u32::to_string).collect();
            s.push_str(&format!(", could not stop pid {}", pids.join(", ")));
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
/// (at once with v2 `cgroup.kill` when the tree has a group of its own). Processes
/// `protected` forbids are never signalled, and stay as survivors.
/// `now` gives the run's clock for the tree's bookkeeping.
pub fn stop_tree(
    tree: &mut ProcessTree,
    placement: Option<&Placement>,
    plan: &StopPlan,
    protected: &Protected,
    now: impl Fn() -> f64,
) -> StopOutcome {
    let mut outcome = StopOutcome::default();
    let mut signalled = HashSet::new();
    let deadline = Instant::now() + plan.grace;
    let for_memory = plan.kill_above.is_some();
    let poll = if for_memory { FAST_POLL } else { POLL };
    let signal = |pid: u32, sig: i32| protected.allows(pid) && send(pid, sig);
    let members: Vec<u32> = tree.members().map(|(pid, _)| pid).collect();
    // Stopped for memory, the tree is frozen first: a stopped process allocates nothing
    // more, however fast it was going, while TERM is delivered to each in turn.
    if for_memory {
        for &pid in &members {
            signal(pid, libc::SIGSTOP);
        }
    }
    for &pid in &members {
        signalled.insert(pid);
        if signal(pid, libc::SIGTERM) {
            outcome.termed += 1;
        }
    }
    if for_memory {
        // TERM is delivered as each resumes: its handler (or the default action) runs first.
        for &pid in &members {
            signal(pid, libc::SIGCONT);
        }
    }
    loop {
        let totals = match tree.refresh(now()) {
            Ok(t) if !tree.is_empty() => t,
            _ => return outcome,
        };
        for (pid, _) in tree.members() {
            if signalled.insert(pid) && signal(pid, libc::SIGTERM) {
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
    // Members KILL could not reach: memwarden may not signal them, or the kernel refused.
    let mut unreachable = HashSet::new();
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
            if signal(pid, libc::SIGKILL) {
                killed.insert(pid);
            } else if !protected.allows(pid) || refused(pid) {
                // Gone meanwhile is not unreachable: only what may not be signalled is.
                unreachable.insert(pid);
            }
        }
        std::thread::sleep(POLL);
        if tree.refresh(now()).is_err() || tree.is_empty() {
            break;
        }
        // What memwarden may not signal, or the kernel will not let it, cannot be waited out.
        let waiting = tree.members().any(|(pid, _)| !unreachable.contains(&pid));
        if !waiting || Instant::now() >= kill_deadline {
            outcome.survivors = tree.members().map(|(pid, _)| pid).collect();
            outcome.survivors.sort_unstable();
            break;
        }
    }
    outcome.killed = killed.len();
    outcome
}

/// Sends `sig` to `pid`; false when it could not be sent (gone, or not permitted).
/// Whether the kernel refuses memwarden a signal to `pid` (another user's process).
fn refused(pid: u32) -> bool {
    // SAFETY: signal 0 only checks permission and existence.
    unsafe { libc::kill(pid as libc::pid_t, 0) == -1 && *libc::__errno_location() == libc::EPERM }
}

fn send(pid: u32, sig: i32) -> bool {
    // SAFETY: kill(2) on a member of a tree just re-read (or the command, not yet reaped); a
    // held statm handle proves each member is still the process first seen (a reused PID
    // reads as gone).
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}
