//! The guard: carries out the policy for one session. It puts the kernel limit on the run's
//! cgroup (or says why the limit is polled), turns each sample into a policy reading, acts on
//! the decisions (events, log lines, signals, hooks), stops the tree when told, and says why
//! the session was stopped.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use memwarden::sample::cgroup::CgroupVersion;
use memwarden::sample::tree::Cadence;
use memwarden::sample::Sample;
use memwarden::units::format_bytes;
use nix::sys::signal::Signal;

use super::action::Action;
use super::hook::{HookEnv, Hooks};
use super::limit::KernelLimit;
use super::placement::Placement;
use super::policy::{
    Decision, LimitMode, Policy, Reading, Rules, StopOrder, StopReason, MIN_POLL, REARM_FRACTION,
};
use super::session::Session;
use super::signals::{Children, Wake};
use super::stop::{self, StopPlan};
use crate::options::SessionOptions;
use crate::record::{kind, ExitInfo};
use crate::report::text::processes;

/// Who `signal:` actions and hooks' `MEMWARDEN_PID` refer to: the tree's roots.
#[derive(Debug, Clone)]
pub enum Roots {
    /// `run`: the command, while it lives (0 once reaped: a reaped PID may be someone else's).
    Command(Arc<AtomicI32>),
    /// `watch`: the watched processes, signalled only while they are still in the tree.
    Watched(Vec<u32>),
}

/// What the guard needs to set itself up.
pub struct GuardSetup<'a> {
    /// The session's options.
    pub opts: &'a SessionOptions,
    /// What a percentage of `--limit` and `--warn` is a share of.
    pub reference: u64,
    /// The machine's RAM (what `--system-floor` percentages are a share of).
    pub mem_total: u64,
    /// The run's own cgroup, if it has one.
    pub placement: Option<&'a Placement>,
    /// Why the run has no cgroup of its own, if it has none.
    pub no_cgroup: Option<String>,
    /// The registry hooks are reaped through, and where their ends are reported.
    pub children: Children,
    /// Where hooks' ends are reported.
    pub wake: Sender<Wake>,
}

/// The guard of one session.
#[derive(Debug)]
pub struct Guard {
    policy: Policy,
    on_warn: Vec<Action>,
    hooks: Hooks,
    kernel: Option<KernelLimit>,
    roots: Roots,
    root_pids: Vec<u32>,
    label: String,
    grace: Duration,
    timeout: Option<Duration>,
    timeout_at: Option<Instant>,
    stopped_by: Option<StopReason>,
    notes: Vec<String>,
    /// The interval to the next sample, and the one the sampler's cadence is set for.
    interval: Duration,
    quiet: bool,
}

impl Guard {
    /// Resolves the thresholds and puts the kernel limit in place (before the command starts,
    /// so none of its allocations escapes it). Weaker modes are said in one line on stderr.
    pub fn new(setup: GuardSetup<'_>) -> Guard {
        let g = &setup.opts.guard;
        let quiet = setup.opts.quiet;
        let say = |line: &str| {
            if !quiet {
                eprintln!("memwarden: {line}");
            }
        };
        let mut notes = Vec::new();
        let limit = g.limit.map(|t| t.resolve(setup.reference));
        let warn = g.warn.map(|t| t.resolve(setup.reference));
        let mut kernel = None;
        let mut mode = LimitMode::Polled;
        if let Some(bytes) = limit {
            let attempt = setup.placement.map(|p| {
                KernelLimit::apply(p.dir(), p.version(), bytes)
                    .map_err(|e| format!("cannot set a kernel limit: {e}"))
            });
            match attempt {
                Some(Ok(k)) => {
                    let weaker = match setup.placement.map(Placement::version) {
                        Some(CgroupVersion::V1) => {
                            "; cgroup v1: no throttling below it, stops by signals (no cgroup.kill)"
                        }
                        _ => "",
                    };
                    say(&format!(
                        "--limit {} is a kernel limit{weaker}",
                        format_bytes(k.bytes())
                    ));
                    notes.push(k.describe());
                    kernel = Some(k);
                    mode = LimitMode::Kernel;
                }
                failed => {
                    let why = match failed {
                        Some(Err(e)) => e,
                        _ => setup
                            .no_cgroup
                            .clone()
                            .unwrap_or_else(|| "no cgroup of the run's own".into()),
                    };
                    let line = format!(
                        "polling --limit {} ({why}): the tree's resident memory is read every \
                         {} at the closest, so a fast allocator may pass the limit by a few MiB",
                        format_bytes(bytes),
                        memwarden::units::format_seconds(MIN_POLL.as_secs_f64())
                    );
                    say(&line);
                    notes.push(line);
                }
            }
        }
        let limit_bytes = kernel.as_ref().map(KernelLimit::bytes).or(limit);
        if let (Some(w), Some(l)) = (warn, limit_bytes) {
            if w >= l {
                let line = format!(
                    "--warn {} is not below --limit {}: the warning will come with the stop",
                    format_bytes(w),
                    format_bytes(l)
                );
                say(&line);
                notes.push(line);
            }
        }
        if let Some(w) = warn {
            let actions: Vec<String> = g.on_warn.iter().map(Action::to_string).collect();
            notes.push(format!(
                "warn at {} (re-armed below {:.0} %): {}",
                format_bytes(w),
                REARM_FRACTION * 100.0,
                actions.join(", ")
            ));
        }
        let floor = g.system_floor.map(|t| t.resolve(setup.mem_total));
        if let Some(f) = floor {
            notes.push(format!(
                "system floor: stop the tree when available memory falls below {} of {}",
                format_bytes(f),
                format_bytes(setup.mem_total)
            ));
        }
        if let Some(p) = g.pressure {
            notes.push(format!(
                "pressure: stop the tree when PSI memory full avg10 reaches {p}%"
            ));
        }
        if let Some(t) = g.timeout {
            notes.push(format!(
                "timeout: stop the tree after {}",
                memwarden::units::format_seconds(t.as_secs_f64())
            ));
        }
        let rules = Rules {
            limit: limit_bytes.map(|b| (b, mode)),
            warn,
            floor,
            pressure: g.pressure,
            timeout_s: g.timeout.map(|t| t.as_secs_f64()),
        };
        Guard {
            policy: Policy::new(rules),
            on_warn: g.on_warn.clone(),
            hooks: Hooks::new(setup.children, setup.wake, g.hook_timeout),
            kernel,
            roots: Roots::Watched(Vec::new()),
            root_pids: Vec::new(),
            label: String::new(),
            grace: setup.opts.grace,
            timeout: g.timeout,
            timeout_at: None,
            stopped_by: None,
            notes,
            interval: setup.opts.interval,
            quiet,
        }
    }

    /// The tree's `--limit` in bytes, when one is set.
    pub fn limit_bytes(&self) -> Option<u64> {
        self.policy.rules().limit.map(|(bytes, _)| bytes)
    }

    /// Adds the resolved thresholds to a run's recorded options (`limit_bytes`, `warn_bytes`,
    /// `system_floor_bytes`), so reports can draw them whatever form they were given in.
    pub fn annotate(&self, options: &mut serde_json::Value) {
        let rules = self.policy.rules();
        if let Some(map) = options.as_object_mut() {
            for (key, value) in [
                ("limit_bytes", rules.limit.map(|(b, _)| b)),
                ("warn_bytes", rules.warn),
                ("system_floor_bytes", rules.floor),
            ] {
                if let Some(v) = value {
                    map.insert(key.into(), v.into());
                }
            }
        }
    }

    /// Starts guarding: the tree's roots are known and the session exists. Records the setup.
    pub fn begin(&mut self, session: &mut Session, roots: Roots, root_pids: Vec<u32>, label: &str) {
        self.roots = roots;
        self.root_pids = root_pids;
        self.label = label.to_string();
        let elapsed = Duration::from_secs_f64(session.now());
        self.timeout_at = self
            .timeout
            .map(|t| Instant::now() + t.saturating_sub(elapsed));
        for note in std::mem::take(&mut self.notes) {
            session.event(kind::GUARD, note);
        }
    }

    /// Why the session was stopped, if the guard stopped it.
    pub fn stopped_by(&self) -> Option<StopReason> {
        self.stopped_by
    }

    /// The report's `stopped_by`: the guard's reason, else `interrupt` when a signal ended it.
    pub fn stopped_by_name(&self, interrupted: bool) -> Option<String> {
        match self.stopped_by {
            Some(reason) => Some(reason.name().to_string()),
            None => interrupted.then(|| "interrupt".to_string()),
        }
    }

    /// The time until the next sample: the base interval, shorter near a limit (as the last
    /// [`after_sample`](Guard::after_sample) found it).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The next moment the guard must act without a sample: the timeout, a hook's timeout.
    pub fn deadline(&self) -> Option<Instant> {
        let timeout = self.timeout_at.filter(|_| self.stopped_by.is_none());
        [timeout, self.hooks.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Acts on one sample; returns the order to stop the tree, if the policy gives one.
    pub fn after_sample(
        &mut self,
        session: &mut Session,
        sample: &Sample,
        base: Duration,
    ) -> Option<StopOrder> {
        let reading = Reading {
            t: sample.t,
            tree_rss: sample.tree.rss_bytes,
            tree_charged: sample.cgroup_bytes.unwrap_or(sample.tree.rss_bytes),
            mem_total: sample.machine.mem_total_bytes,
            mem_available: sample.machine.mem_available_bytes,
            psi_full_avg10: sample.machine.psi_full_avg10,
            new_oom_kills: self.kernel.as_mut().map_or(0, KernelLimit::new_oom_kills),
        };
        let measure = if sample.cgroup_bytes.is_some() {
            "cgroup charge"
        } else {
            "resident, summed"
        };
        let order = self.decide(session, &reading, measure);
        // Sampling faster near a limit must not read the dearer files faster too.
        let interval = self.policy.interval(base);
        if interval != self.interval {
            self.interval = interval;
            session
                .sampler_mut()
                .tree_mut()
                .set_cadence(Cadence::for_interval(interval));
        }
        order
    }

    /// Acts on time passing: kills hooks past their timeout; returns the timeout's stop order.
    pub fn on_time(&mut self, session: &mut Session) -> Option<StopOrder> {
        for detail in self.hooks.expire(Instant::now()) {
            session.event(kind::HOOK, detail);
        }
        self.policy.timed_out(session.now())
    }

    /// A child of memwarden ended: records it if it was a hook.
    pub fn child_exited(&mut self, session: &mut Session, pid: u32, info: ExitInfo) {
        if let Some(detail) = self.hooks.ended(pid, info) {
            session.event(kind::HOOK, detail);
        }
    }

    /// After the command ended: the kernel may have killed it at the limit. Returns the order
    /// (the rest of the tree is then stopped as leftovers).
    pub fn after_exit(&mut self, session: &mut Session) -> Option<StopOrder> {
        let new_oom_kills = self.kernel.as_mut().map_or(0, KernelLimit::new_oom_kills);
        if new_oom_kills == 0 {
            return None;
        }
        // Only the OOM count is new: the rest of the reading must not trigger anything.
        let reading = Reading {
            t: session.now(),
            new_oom_kills,
            ..Reading::default()
        };
        self.decide(session, &reading, "cgroup charge")
    }

    fn decide(
        &mut self,
        session: &mut Session,
        reading: &Reading,
        measure: &str,
    ) -> Option<StopOrder> {
        let mut stop = None;
        for decision in self.policy.observe(reading) {
            match decision {
                Decision::OomKill { count } => session.event(
                    kind::OOM_KILL,
                    format!(
                        "the kernel's OOM killer killed {} in the run's cgroup",
                        processes(count)
                    ),
                ),
                Decision::Warn { bytes, threshold } => {
                    let detail = format!(
                        "the tree's memory reached {} ({measure}; --warn {})",
                        format_bytes(bytes),
                        format_bytes(threshold)
                    );
                    session.event(kind::WARN, detail.clone());
                    self.act_on_warn(session, bytes, &detail);
                }
                Decision::Rearm { bytes } => session.event(
                    kind::REARM,
                    format!(
                        "the tree's memory fell to {}, below {:.0} % of --warn: armed again",
                        format_bytes(bytes),
                        REARM_FRACTION * 100.0
                    ),
                ),
                Decision::Stop(order) => stop = Some(order),
            }
        }
        stop
    }

    fn act_on_warn(&mut self, session: &mut Session, bytes: u64, detail: &str) {
        for (key, action) in self.on_warn.clone().into_iter().enumerate() {
            match action {
                Action::Log => eprintln!("memwarden: warning: {detail}"),
                Action::Signal(sig) => {
                    let targets = self.roots_alive(session);
                    let what = match targets.as_slice() {
                        [] => format!("could not send {sig}: the tree's root has exited"),
                        [pid] => format!("sent {sig} to pid {pid}, the tree's root"),
                        many => format!("sent {sig} to the {} watched processes", many.len()),
                    };
                    send(&targets, sig);
                    session.event(kind::ACTION, what);
                }
                Action::SignalTree(sig) => {
                    let members: Vec<u32> = session
                        .sampler_mut()
                        .tree()
                        .members()
                        .map(|(p, _)| p)
                        .collect();
                    send(&members, sig);
                    session.event(
                        kind::ACTION,
                        format!(
                            "sent {sig} to {} of the tree",
                            processes(members.len() as u64)
                        ),
                    );
                }
                Action::Exec(argv) => self.start_hook(session, key, &argv, bytes, detail),
            }
        }
    }

    fn start_hook(
        &mut self,
        session: &mut Session,
        key: usize,
        argv: &[std::ffi::OsString],
        bytes: u64,
        detail: &str,
    ) {
        let name = Action::Exec(argv.to_vec()).to_string();
        if self.hooks.is_running(key) {
            session.event(
                kind::ACTION,
                format!("{name} is still running from the last crossing: not started again"),
            );
            return;
        }
        let env = HookEnv {
            run_id: session.run_id(),
            label: self.label.clone(),
            pid: self.root_pids.first().copied().unwrap_or(0),
            pids: self.root_pids.clone(),
            tree_bytes: bytes,
            limit_bytes: self.policy.rules().limit.map(|(b, _)| b),
            warn_bytes: self.policy.rules().warn,
            reason: "warn",
            detail: detail.to_string(),
        };
        match self.hooks.start(key, argv, &env) {
            Ok(pid) => {
                // A hook is memwarden's helper, not part of the tree it watches.
                session.sampler_mut().tree_mut().exclude(pid);
                session.event(kind::ACTION, format!("started {name} as pid {pid}"));
            }
            Err(e) => {
                if !self.quiet {
                    eprintln!("memwarden: cannot start a hook: {e}");
                }
                session.event(kind::ACTION, format!("could not start {name}: {e}"));
            }
        }
    }

    /// The roots that may be signalled now.
    fn roots_alive(&self, session: &mut Session) -> Vec<u32> {
        match &self.roots {
            Roots::Command(pid) => {
                let pid = pid.load(Ordering::SeqCst);
                if pid > 0 {
                    vec![pid as u32]
                } else {
                    Vec::new()
                }
            }
            Roots::Watched(pids) => {
                let tree = session.sampler_mut().tree();
                pids.iter()
                    .copied()
                    .filter(|p| tree.members().any(|(m, _)| m == *p))
                    .collect()
            }
        }
    }

    /// Records a stop order's trigger and takes its reason as the session's.
    pub fn note_stop(&mut self, session: &mut Session, order: &StopOrder) {
        session.event(order.kind, order.detail.clone());
        if !self.quiet {
            eprintln!("memwarden: {}", order.detail);
        }
        self.stopped_by.get_or_insert(order.reason);
    }

    /// Carries out a stop order: TERM to every process, the grace, KILL; records it all.
    pub fn stop(
        &mut self,
        session: &mut Session,
        placement: Option<&Placement>,
        order: &StopOrder,
    ) {
        self.note_stop(session, order);
        let plan = StopPlan {
            grace: self.grace,
            kill_above: order.kill_above,
        };
        let outcome = session.stop_tree(placement, &plan);
        session.event(
            kind::STOP,
            format!(
                "stopped the tree ({}): {}",
                order.reason.name(),
                outcome.describe()
            ),
        );
    }

    /// At the end: waits for running hooks (up to their timeouts) and records what the kernel
    /// saw of the limit.
    pub fn finish(&mut self, session: &mut Session, wake: &Receiver<Wake>) {
        for detail in self.hooks.finish(wake) {
            session.event(kind::HOOK, detail);
        }
        if let Some(k) = &self.kernel {
            if let Some(peak) = k.kernel_peak() {
                session.event(
                    kind::GUARD,
                    format!(
                        "the kernel's peak charge for the run's cgroup: {} ({peak} bytes; \
                         limit {} bytes)",
                        format_bytes(peak),
                        k.bytes()
                    ),
                );
            }
        }
    }
}

fn send(pids: &[u32], sig: Signal) {
    for &pid in pids {
        stop::signal(pid, sig as i32);
    }
}
