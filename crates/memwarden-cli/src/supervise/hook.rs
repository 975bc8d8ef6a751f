//! Hooks: the programs of `exec:` actions. Each runs beside the sampling loop (never blocking
//! it), in a process group of its own, with `MEMWARDEN_*` variables saying why it runs; it is
//! killed, with whatever it started, when it outlives the hook timeout; its end is an event.
//!
//! A hook is memwarden's child, so the signal thread reaps it: it is spawned with the
//! [`Children`] registry locked and registered before the lock is let go, and its end comes
//! back as a [`Wake::Exited`] on the supervisor's channel.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use memwarden::units::format_seconds;

use super::signals::{Children, Wake};
use crate::record::ExitInfo;
use crate::report::text::{shorten, signal_name};

/// How long a hook may take to die once killed before memwarden stops waiting for it.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// What a hook is told, through its environment.
#[derive(Debug, Clone, Default)]
pub struct HookEnv {
    /// `MEMWARDEN_RUN_ID`: the run's id in the store (empty when unrecorded).
    pub run_id: Option<i64>,
    /// `MEMWARDEN_LABEL`: the run's name.
    pub label: String,
    /// `MEMWARDEN_PID`: the tree's root (the command, or the first watched process).
    pub pid: u32,
    /// `MEMWARDEN_PIDS`: every root, space-separated (the watched processes in `watch`).
    pub pids: Vec<u32>,
    /// `MEMWARDEN_TREE_BYTES`: the tree's memory when the hook was started.
    pub tree_bytes: u64,
    /// `MEMWARDEN_LIMIT_BYTES`: `--limit` in bytes (empty without one).
    pub limit_bytes: Option<u64>,
    /// `MEMWARDEN_WARN_BYTES`: `--warn` in bytes (empty without one).
    pub warn_bytes: Option<u64>,
    /// `MEMWARDEN_REASON`: one word, what fired (`warn`, `leak`, `act-before`).
    pub reason: &'static str,
    /// `MEMWARDEN_DETAIL`: the same in words.
    pub detail: String,
}

impl HookEnv {
    fn vars(&self) -> Vec<(&'static str, String)> {
        let opt = |v: Option<u64>| v.map(|b| b.to_string()).unwrap_or_default();
        let pids: Vec<String> = self.pids.iter().map(u32::to_string).collect();
        vec![
            (
                "MEMWARDEN_RUN_ID",
                self.run_id.map(|i| i.to_string()).unwrap_or_default(),
            ),
            ("MEMWARDEN_LABEL", self.label.clone()),
            ("MEMWARDEN_PID", self.pid.to_string()),
            ("MEMWARDEN_PIDS", pids.join(" ")),
            ("MEMWARDEN_TREE_BYTES", self.tree_bytes.to_string()),
            ("MEMWARDEN_LIMIT_BYTES", opt(self.limit_bytes)),
            ("MEMWARDEN_WARN_BYTES", opt(self.warn_bytes)),
            ("MEMWARDEN_REASON", self.reason.to_string()),
            ("MEMWARDEN_DETAIL", self.detail.clone()),
        ]
    }
}

#[derive(Debug)]
struct Running {
    pid: u32,
    key: usize,
    name: String,
    started: Instant,
    deadline: Instant,
    killed: bool,
}

/// The hooks of a session: started, running, ended.
#[derive(Debug)]
pub struct Hooks {
    children: Children,
    wake: Sender<Wake>,
    timeout: Duration,
    running: Vec<Running>,
}

impl Hooks {
    /// Hooks reaped through `children`, their ends reported on `wake`, each killed after `timeout`.
    pub fn new(children: Children, wake: Sender<Wake>, timeout: Duration) -> Self {
        Hooks {
            children,
            wake,
            timeout,
            running: Vec::new(),
        }
    }

    /// Whether the hook of action `key` is still running (it is not started twice at once).
    pub fn is_running(&self, key: usize) -> bool {
        self.running.iter().any(|r| r.key == key)
    }

    /// Starts `argv` as the hook of action `key`; returns its PID.
    pub fn start(&mut self, key: usize, argv: &[OsString], env: &HookEnv) -> Result<u32, String> {
        let (program, args) = argv.split_first().ok_or("no program")?;
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(env.vars())
            .stdin(Stdio::null())
            // The command's stdout may be a pipe someone reads: hooks talk on stderr.
            .stdout(std::io::stderr())
            // A group of its own, so a timeout kills whatever the hook started too.
            .process_group(0);
        // SAFETY: runs in the forked child before exec; prctl is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                // A hook must not outlive memwarden.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                Ok(())
            });
        }
        let mut registry = self.children.lock();
        let child = command
            .spawn()
            .map_err(|e| format!("{}: {e}", program.to_string_lossy()))?;
        let pid = child.id();
        registry.register(pid, self.wake.clone());
        drop(registry);
        let started = Instant::now();
        self.running.push(Running {
            pid,
            key,
            name: shorten(&program.to_string_lossy(), 60),
            started,
            deadline: started + self.timeout,
            killed: false,
        });
        Ok(pid)
    }

    /// A child ended: if it was a hook, the event detail that says how.
    pub fn ended(&mut self, pid: u32, info: ExitInfo) -> Option<String> {
        let i = self.running.iter().position(|r| r.pid == pid)?;
        let r = self.running.swap_remove(i);
        let took = format_seconds(r.started.elapsed().as_secs_f64());
        Some(match (r.killed, info.code, info.signal) {
            (true, ..) => format!(
                "hook {} (pid {pid}) outlived its timeout of {} and was killed",
                r.name,
                format_seconds(self.timeout.as_secs_f64())
            ),
            (false, Some(code), _) => {
                format!(
                    "hook {} (pid {pid}) exited with status {code} after {took}",
                    r.name
                )
            }
            (false, _, Some(sig)) => format!(
                "hook {} (pid {pid}) was killed by {} after {took}",
                r.name,
                signal_name(sig)
            ),
            (false, None, None) => format!("hook {} (pid {pid}) ended after {took}", r.name),
        })
    }

    /// Kills the hooks whose time is up (with their process groups). A hook still not reaped
    /// a while after its KILL is stuck in the kernel: it is given up on, and the returned
    /// details say so.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let mut given_up = Vec::new();
        self.running.retain_mut(|r| {
            if now < r.deadline {
                return true;
            }
            if r.killed {
                given_up.push(format!(
                    "hook {} (pid {}) could not be stopped",
                    r.name, r.pid
                ));
                return false;
            }
            // SAFETY: kill(2) on the hook's own group; the hook is registered and not yet
            // reaped (its end removes it from `running`), so the group is still its own.
            unsafe { libc::kill(-(r.pid as libc::pid_t), libc::SIGKILL) };
            r.killed = true;
            r.deadline = now + KILL_WAIT;
            true
        });
        given_up
    }

    /// When the next hook's time is up.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.running.iter().map(|r| r.deadline).min()
    }

    /// At the end of a session: waits for running hooks until their timeouts, killing them then;
    /// returns the details of their ends. Other wakes on `wake` are dropped (the session is over).
    pub fn finish(&mut self, wake: &Receiver<Wake>) -> Vec<String> {
        let mut details = Vec::new();
        while let Some(deadline) = self.next_deadline() {
            match wake.recv_deadline(deadline) {
                Ok(Wake::Exited(pid, info)) => details.extend(self.ended(pid, info)),
                Ok(Wake::Signal(_)) => {}
                Err(RecvTimeoutError::Timeout) => details.extend(self.expire(Instant::now())),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        details
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervise::signals;
    use std::sync::atomic::AtomicI32;
    use std::sync::Arc;

    #[test]
    fn the_environment_names_every_variable() {
        let env = HookEnv {
            run_id: Some(7),
            pids: vec![1, 2],
            limit_bytes: Some(10),
            reason: "warn",
            ..Default::default()
        };
        let vars = env.vars();
        let get = |k: &str| vars.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(get("MEMWARDEN_RUN_ID"), "7");
        assert_eq!(get("MEMWARDEN_PIDS"), "1 2");
        assert_eq!(get("MEMWARDEN_LIMIT_BYTES"), "10");
        assert_eq!(get("MEMWARDEN_WARN_BYTES"), "");
        assert_eq!(get("MEMWARDEN_REASON"), "warn");
    }

    #[test]
    fn hooks_are_reaped_timed_and_killed_with_their_children() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let children = Children::default();
        let _signals =
            signals::start(children.clone(), Arc::new(AtomicI32::new(0)), tx.clone()).unwrap();
        let mut hooks = Hooks::new(children, tx, Duration::from_millis(300));
        let argv = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let env = HookEnv::default();
        hooks
            .start(0, &argv(&["sh", "-c", "exit 3"]), &env)
            .unwrap();
        // A hook that would run for a minute, with a child of its own.
        let dir = tempfile::tempdir().unwrap();
        let child_pid = dir.path().join("child");
        let script = format!("sleep 60 & echo $! > {}; wait", child_pid.display());
        hooks.start(1, &argv(&["sh", "-c", &script]), &env).unwrap();
        assert!(hooks.is_running(1) && !hooks.is_running(2));
        let details = hooks.finish(&rx);
        assert_eq!(details.len(), 2, "{details:?}");
        assert!(
            details.iter().any(|d| d.contains("exited with status 3")),
            "{details:?}"
        );
        assert!(
            details.iter().any(|d| d.contains("was killed")),
            "{details:?}"
        );
        let grandchild: i32 = std::fs::read_to_string(&child_pid)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The hook's own child was in its group: killed too.
        let dead = || {
            let stat =
                std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
            stat.rsplit_once(") ")
                .is_none_or(|(_, r)| r.starts_with('Z') || r.starts_with('X'))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dead() {
            assert!(Instant::now() < deadline, "the hook's child lives on");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!hooks.is_running(1));
    }
}
