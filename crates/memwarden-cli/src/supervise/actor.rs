//! Carrying out actions: what `--on-warn` and `--on-leak` asked for when their trigger fires —
//! a line on stderr, a signal to the tree's root or to every process (only to processes that
//! handle it, when its default action would end them), a hook, or a stop. Each action taken,
//! or not taken and why, comes back in words for an event and a line on stderr.

use std::ffi::OsString;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use nix::sys::signal::Signal;

use super::action::Action;
use super::hook::{HookEnv, Hooks};
use super::policy::LeakTrigger;
use super::signals::{Children, Wake};
use super::source::{Delivery, Source};
use crate::record::ExitInfo;
use crate::report::text::processes;

/// Who `signal:` actions and hooks' `MEMWARDEN_PID` refer to: the tree's roots.
#[derive(Debug, Clone)]
pub enum Roots {
    /// `run`: the command, while it lives (0 once reaped: a reaped PID may be someone else's).
    Command(Arc<AtomicI32>),
    /// `watch`: the watched processes, signalled only while they are still in the tree.
    Watched(Vec<u32>),
}

/// What fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `--warn` was crossed.
    Warn,
    /// A leak trigger (`--on-leak`, `--act-before`).
    Leak(LeakTrigger),
}

impl Trigger {
    /// `MEMWARDEN_REASON`: `warn`, `leak` or `act-before`.
    fn reason(self) -> &'static str {
        match self {
            Trigger::Warn => "warn",
            Trigger::Leak(LeakTrigger::Called) => "leak",
            Trigger::Leak(LeakTrigger::RunningOut) => "act-before",
        }
    }
}

/// What the actions of one trigger did.
#[derive(Debug, Default, PartialEq)]
pub struct Acted {
    /// Each action taken (or not, and why), in words.
    pub done: Vec<String>,
    /// The actions asked for the tree to be stopped.
    pub stop: bool,
}

/// Carries out the actions of a session's triggers.
#[derive(Debug)]
pub struct Actor {
    on_warn: Vec<Action>,
    on_leak: Vec<Action>,
    hooks: Hooks,
    roots: Roots,
    root_pids: Vec<u32>,
    label: String,
    limit_bytes: Option<u64>,
    warn_bytes: Option<u64>,
}

/// What an actor needs to know of its session.
pub struct ActorSetup {
    /// `--on-warn`'s actions.
    pub on_warn: Vec<Action>,
    /// `--on-leak`'s actions.
    pub on_leak: Vec<Action>,
    /// The registry hooks are reaped through.
    pub children: Children,
    /// Where hooks' ends are reported.
    pub wake: Sender<Wake>,
    /// `--hook-timeout`.
    pub hook_timeout: std::time::Duration,
    /// The tree's roots.
    pub roots: Roots,
    /// Their PIDs when the session began.
    pub root_pids: Vec<u32>,
    /// The run's label.
    pub label: String,
    /// `--limit`, bytes.
    pub limit_bytes: Option<u64>,
    /// `--warn`, bytes.
    pub warn_bytes: Option<u64>,
}

impl Actor {
    /// An actor for one session.
    pub fn new(setup: ActorSetup) -> Self {
        Actor {
            on_warn: setup.on_warn,
            on_leak: setup.on_leak,
            hooks: Hooks::new(setup.children, setup.wake, setup.hook_timeout),
            roots: setup.roots,
            root_pids: setup.root_pids,
            label: setup.label,
            limit_bytes: setup.limit_bytes,
            warn_bytes: setup.warn_bytes,
        }
    }

    /// Runs the actions of `trigger`. `bytes` is the tree's memory now, `detail` why it fired.
    pub fn act(
        &mut self,
        src: &mut impl Source,
        trigger: Trigger,
        bytes: u64,
        detail: &str,
        run_id: Option<i64>,
    ) -> Acted {
        let actions = match trigger {
            Trigger::Warn => self.on_warn.clone(),
            Trigger::Leak(_) => self.on_leak.clone(),
        };
        let mut acted = Acted::default();
        for (i, action) in actions.into_iter().enumerate() {
            // Hooks of the two triggers never share a slot.
            let key = i + if trigger == Trigger::Warn { 0 } else { 1 << 16 };
            let done = match action {
                // The trigger is always said on stderr and recorded: that is the log.
                Action::Log => continue,
                Action::Stop => {
                    acted.stop = true;
                    continue;
                }
                Action::Signal(sig) => {
                    let roots = self.roots_alive(src);
                    signal_roots(src, &roots, sig)
                }
                Action::SignalTree(sig) => {
                    let members = src.members();
                    signal_tree(src, &members, sig)
                }
                Action::Exec(argv) => {
                    let env = HookEnv {
                        run_id,
                        label: self.label.clone(),
                        pid: self.root_pids.first().copied().unwrap_or(0),
                        pids: self.root_pids.clone(),
                        tree_bytes: bytes,
                        limit_bytes: self.limit_bytes,
                        warn_bytes: self.warn_bytes,
                        reason: trigger.reason(),
                        detail: detail.to_string(),
                    };
                    self.start_hook(src, key, &argv, &env)
                }
            };
            acted.done.push(done);
        }
        acted
    }

    fn start_hook(
        &mut self,
        src: &mut impl Source,
        key: usize,
        argv: &[OsString],
        env: &HookEnv,
    ) -> String {
        let name = Action::Exec(argv.to_vec()).to_string();
        if self.hooks.is_running(key) {
            return format!("{name} is still running from the last time: not started again");
        }
        match self.hooks.start(key, argv, env) {
            Ok(pid) => {
                // A hook is memwarden's helper, not part of the tree it watches.
                src.exclude(pid);
                format!("started {name} as pid {pid}")
            }
            Err(e) => format!("could not start {name}: {e}"),
        }
    }

    /// The roots that may be signalled now.
    fn roots_alive(&self, src: &impl Source) -> Vec<u32> {
        match &self.roots {
            Roots::Command(pid) => {
                let pid = pid.load(Ordering::SeqCst);
                if pid > 0 {
                    vec![pid as u32]
                } else {
                    Vec::new()
                }
            }
            Roots::Watched(pids) => pids.iter().copied().filter(|&p| src.is_member(p)).collect(),
        }
    }

    /// A child of memwarden ended: the event detail, if it was a hook.
    pub fn child_exited(&mut self, pid: u32, info: ExitInfo) -> Option<String> {
        self.hooks.ended(pid, info)
    }

    /// Kills hooks past their timeout; the details of what was done.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        self.hooks.expire(now)
    }

    /// When the next hook's time is up.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.hooks.next_deadline()
    }

    /// At the end: waits for running hooks up to their timeouts; the details of their ends.
    pub fn finish(&mut self, wake: &Receiver<Wake>) -> Vec<String> {
        self.hooks.finish(wake)
    }
}

fn name(sig: Signal) -> &'static str {
    sig.as_str().trim_start_matches("SIG")
}

/// Why a signal was not delivered, after "did not send USR1 to pid 12: ".
fn refusal(d: Delivery, sig: Signal) -> &'static str {
    match (d, sig) {
        (Delivery::NotCaught, Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP) => {
            "it has no handler for it, and it would end the process"
        }
        (Delivery::NotCaught, _) => {
            "it has no handler for it, and its default action would end the process"
        }
        (Delivery::Protected, _) => "memwarden never signals itself, its ancestors or pid 1",
        (Delivery::Gone, _) => "it has exited",
        (Delivery::NotPermitted, _) => "not permitted (another user's process)",
        (Delivery::Sent, _) => "",
    }
}

fn signal_roots(src: &mut impl Source, roots: &[u32], sig: Signal) -> String {
    let sig_name = name(sig);
    if roots.is_empty() {
        return format!("did not send {sig_name}: the tree's root has exited");
    }
    let mut sent = Vec::new();
    let mut skipped = Vec::new();
    for &pid in roots {
        match src.signal(pid, sig, true) {
            Delivery::Sent => sent.push(pid.to_string()),
            d => skipped.push(format!("pid {pid}: {}", refusal(d, sig))),
        }
    }
    let mut out = Vec::new();
    match sent.as_slice() {
        [] => {}
        [one] if roots.len() == 1 => {
            out.push(format!("sent {sig_name} to pid {one}, the tree's root"))
        }
        many => out.push(format!("sent {sig_name} to pid {}", many.join(", "))),
    }
    if !skipped.is_empty() {
        out.push(format!("did not send {sig_name} to {}", skipped.join("; ")));
    }
    out.join("; ")
}

fn signal_tree(src: &mut impl Source, members: &[u32], sig: Signal) -> String {
    let sig_name = name(sig);
    let mut sent = 0;
    let mut skipped: Vec<(u32, Delivery)> = Vec::new();
    for &pid in members {
        match src.signal(pid, sig, true) {
            Delivery::Sent => sent += 1,
            Delivery::Gone => {}
            d => skipped.push((pid, d)),
        }
    }
    let mut s = format!("sent {sig_name} to {} of the tree", processes(sent as u64));
    if let Some(&(_, why)) = skipped.first() {
        let pids: Vec<String> = skipped.iter().take(8).map(|(p, _)| p.to_string()).collect();
        let more = if skipped.len() > 8 { ", …" } else { "" };
        s.push_str(&format!(
            "; skipped {} (pid {}{more}): {}",
            processes(skipped.len() as u64),
            pids.join(", "),
            refusal(why, sig)
        ));
    }
    s
}
