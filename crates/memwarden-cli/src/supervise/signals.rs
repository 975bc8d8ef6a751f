//! Signals: INT, TERM, HUP and QUIT sent to memwarden are forwarded to the command (in `run`)
//! or end the watch; SIGCHLD reaps every child memwarden has, including orphans of the tree
//! it adopted as a subreaper, and reports the command's own end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use crate::record::ExitInfo;

/// What wakes the supervisor before its next sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A registered child ended.
    Exited(u32, ExitInfo),
    /// memwarden received this signal (already forwarded to the command in `run`).
    Signal(i32),
}

/// Children whose end someone waits for. Spawning happens with this locked, and reaping
/// too, so a child is always registered before it can be reaped.
#[derive(Debug, Default, Clone)]
pub struct Children(Arc<Mutex<HashMap<u32, Sender<Wake>>>>);

impl Children {
    /// Locks the registry; spawn while holding it, then [`register`](ChildrenGuard::register).
    pub fn lock(&self) -> ChildrenGuard<'_> {
        ChildrenGuard(self.0.lock().expect("poisoned"))
    }
}

/// The locked registry of children.
pub struct ChildrenGuard<'a>(MutexGuard<'a, HashMap<u32, Sender<Wake>>>);

impl ChildrenGuard<'_> {
    /// Reports `pid`'s end on `tx`.
    pub fn register(&mut self, pid: u32, tx: Sender<Wake>) {
        self.0.insert(pid, tx);
    }
}

/// The signal thread; stops when dropped.
pub struct SignalThread {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl Drop for SignalThread {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the signal thread. Forwarded signals go to the process in `forward_to` (0: none)
/// and are reported on `wake`; children's ends go to whoever registered them.
pub fn start(
    children: Children,
    forward_to: Arc<AtomicI32>,
    wake: Sender<Wake>,
) -> std::io::Result<SignalThread> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD])?;
    let handle = signals.handle();
    let thread = std::thread::Builder::new()
        .name("memwarden-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig == SIGCHLD {
                    reap(&children, &forward_to);
                    continue;
                }
                let pid = forward_to.load(Ordering::SeqCst);
                if pid > 0 {
                    // SAFETY: kill(2) with a PID we spawned and have not reaped yet.
                    unsafe { libc::kill(pid, sig) };
                }
                let _ = wake.send(Wake::Signal(sig));
            }
        })?;
    Ok(SignalThread {
        handle,
        thread: Some(thread),
    })
}

/// Reaps every child that has ended, reporting registered ones.
fn reap(children: &Children, forward_to: &AtomicI32) {
    let mut registry = children.lock();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => ended(
                &mut registry,
                forward_to,
                pid,
                ExitInfo {
                    code: Some(code),
                    signal: None,
                },
            ),
            Ok(WaitStatus::Signaled(pid, sig, _)) => ended(
                &mut registry,
                forward_to,
                pid,
                ExitInfo {
                    code: None,
                    signal: Some(sig as i32),
                },
            ),
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

fn ended(registry: &mut ChildrenGuard<'_>, forward_to: &AtomicI32, pid: Pid, info: ExitInfo) {
    let raw = pid.as_raw();
    // Never signal a PID after it was reaped: it may already belong to someone else.
    let _ = forward_to.compare_exchange(raw, 0, Ordering::SeqCst, Ordering::SeqCst);
    if let Some(tx) = registry.0.remove(&(raw as u32)) {
        let _ = tx.send(Wake::Exited(raw as u32, info));
    }
}
