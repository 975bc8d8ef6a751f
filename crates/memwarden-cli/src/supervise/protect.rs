//! What memwarden must never signal, and whether a signal meant to ask for a cleanup would
//! kill instead.
//!
//! memwarden never signals itself, its ancestors (stopping the shell that started it would stop
//! memwarden too, and leave it stopped and orphaned) or PID 1 (in a PID namespace, PID 1 is the
//! namespace's init: killing it kills every process in it). Kernel threads and zombies are not
//! programs that can be asked or stopped. `watch` refuses such roots before it starts when it
//! is to act on them, and every signal memwarden sends goes through [`Protected::allows`].

use std::collections::HashSet;

use memwarden::sample::procfs::{ProcFs, Stat};
use nix::sys::signal::Signal;

/// The processes memwarden never signals: itself, its ancestors, PID 1.
#[derive(Debug, Clone, Default)]
pub struct Protected {
    pids: HashSet<u32>,
}

impl Protected {
    /// memwarden, its ancestors (read from `/proc` now) and PID 1.
    pub fn discover() -> Self {
        let fs = ProcFs::default();
        let mut buf = Vec::new();
        let mut pids = HashSet::from([1]);
        let mut pid = std::process::id();
        // The chain ends at PID 1, or at 0 where the parent is outside this PID namespace.
        while pid > 1 && pids.insert(pid) {
            match fs.stat(pid, &mut buf) {
                Ok(stat) => pid = stat.ppid,
                Err(_) => break,
            }
        }
        Protected { pids }
    }

    /// Whether memwarden may signal `pid`.
    pub fn allows(&self, pid: u32) -> bool {
        pid > 1 && !self.pids.contains(&pid)
    }

    /// Why memwarden may never act on `pid` (`stat` as read now), if it may not.
    pub fn refusal(&self, pid: u32, stat: &Stat) -> Option<String> {
        let me = std::process::id();
        if pid == me {
            Some(format!("pid {pid} is memwarden itself"))
        } else if pid == 1 {
            Some(
                "pid 1 is init (of this PID namespace): stopping it would stop every process in it"
                    .to_string(),
            )
        } else if self.pids.contains(&pid) {
            Some(format!(
                "pid {pid} ({}) is an ancestor of memwarden: stopping its tree would stop \
                 memwarden with it",
                stat.comm
            ))
        } else if stat.is_kernel_thread() {
            Some(format!(
                "pid {pid} ([{}]) is a kernel thread, not a program",
                stat.comm
            ))
        } else if stat.is_zombie() {
            Some(format!(
                "pid {pid} ({}) has exited (a zombie waiting for its parent)",
                stat.comm
            ))
        } else {
            None
        }
    }
}

/// Whether `sig`'s default action ends or stops a process that has no handler for it. Only
/// CHLD, CONT, URG and WINCH are ignored by default.
pub fn harmful_by_default(sig: Signal) -> bool {
    !matches!(
        sig,
        Signal::SIGCHLD | Signal::SIGCONT | Signal::SIGURG | Signal::SIGWINCH
    )
}

/// Whether `pid` has a handler for `sig` (`None` when its status cannot be read).
pub fn catches(pid: u32, sig: Signal) -> Option<bool> {
    let mask = ProcFs::default()
        .caught_signals(pid, &mut Vec::new())
        .ok()?;
    Some(mask & (1u64 << (sig as i32 - 1)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memwarden_its_ancestors_and_init_are_never_signalled() {
        let p = Protected::discover();
        assert!(!p.allows(std::process::id()));
        assert!(!p.allows(1));
        assert!(!p.allows(0));
        let parent = nix::unistd::getppid().as_raw() as u32;
        assert!(!p.allows(parent), "the test runner is an ancestor");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        assert!(p.allows(child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_process_without_a_handler_is_not_asked_with_a_deadly_signal() {
        // `sleep` installs no handler for USR1: its default action would kill it.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // Wait until the child has exec'd (the test process's own handlers are gone then).
        while std::fs::read_to_string(format!("/proc/{}/comm", child.id()))
            .map_or(true, |c| c.trim() != "sleep")
        {
            assert!(std::time::Instant::now() < deadline, "sleep never started");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(catches(child.id(), Signal::SIGUSR1), Some(false));
        assert!(harmful_by_default(Signal::SIGUSR1));
        assert!(!harmful_by_default(Signal::SIGWINCH));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(catches(u32::MAX >> 1, Signal::SIGUSR1), None);
    }
}
