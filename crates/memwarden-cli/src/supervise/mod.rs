//! Supervising a tree: start the command (or attach to running processes), place it, sample it
//! until it ends, stop what it leaves behind, and hand back the report and the exit status.

pub mod action;
pub mod child;
mod guard;
mod hook;
mod limit;
pub mod placement;
mod policy;
mod session;
pub mod signals;
pub mod stop;

use std::ffi::OsString;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError};
use memwarden::sample::cgroup::Cgroup;
use memwarden::sample::procfs::ProcFs;
use memwarden::sample::tree::{Cadence, Descendants, Membership};
use memwarden::sample::Sampler;

use crate::exit;
use crate::judge::RunVerdict;
use crate::options::{default_label, SessionOptions, UsageError};
use crate::record::{kind, ExitInfo, RunEnd, RunMeta};
use crate::report::model::RunReport;
use crate::report::text::{processes, shorten, signal_name};
use crate::store::{writer::Recorder, Store};
use guard::{Guard, GuardSetup, Roots};
use memwarden::units::format_rate;
use placement::{CgroupEnv, Placement};
use session::{next_tick, Session};
use signals::{Children, Wake};

/// What a finished session hands back: the report and memwarden's exit status.
pub struct Outcome {
    /// The run's report.
    pub report: RunReport,
    /// memwarden's exit status.
    pub status: u8,
    /// The database the run is stored in, when it was.
    pub stored_in: Option<String>,
}

/// Opens the store and records the run's start; a failure is reported and the run goes on
/// unrecorded (the command must never suffer from the store).
fn open_recorder(opts: &SessionOptions, meta: &RunMeta) -> (Recorder, Option<String>) {
    let opened = Store::create(&opts.db).and_then(|mut store| {
        let id = store
            .begin_run(meta)
            .context("cannot record the run's start")?;
        Ok((store, id))
    });
    match opened {
        Ok((store, id)) => {
            let path = store.path().display().to_string();
            (Recorder::start(store, id), Some(path))
        }
        Err(e) => {
            if !opts.quiet {
                eprintln!("memwarden: this run will not be recorded: {e:#}; monitoring goes on");
            }
            (Recorder::disabled(), None)
        }
    }
}

fn meta(
    kind: &str,
    opts: &SessionOptions,
    label: String,
    command: Vec<String>,
    mode: &str,
    mem_total: u64,
) -> RunMeta {
    let now = SystemTime::now();
    RunMeta {
        kind: kind.to_string(),
        label,
        command,
        host: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        started_at: humantime::format_rfc3339_seconds(now).to_string(),
        started_unix_ms: unix_ms_of(now),
        interval_s: opts.interval.as_secs_f64(),
        mode: mode.to_string(),
        metric: opts.metric.name().to_string(),
        mem_total_bytes: mem_total,
        options: opts.to_json(),
    }
}

fn unix_ms() -> i64 {
    unix_ms_of(SystemTime::now())
}

fn unix_ms_of(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The machine's RAM (0 when /proc/meminfo cannot be read: percentages then refuse to resolve).
fn mem_total() -> u64 {
    memwarden::sample::machine::MachineReader::open()
        .and_then(|mut m| m.read())
        .map_or(0, |m| m.mem_total_bytes)
}

/// `memwarden run`: starts `argv` (with `env` added to its environment), watches its tree
/// until it exits, stops leftovers.
pub fn run(
    opts: &SessionOptions,
    gates: &Gates,
    argv: &[OsString],
    env: &[(OsString, OsString)],
) -> Result<Outcome> {
    let label = opts.label.clone().unwrap_or_else(|| default_label(argv));
    let self_pid = std::process::id();
    let mem_total = mem_total();
    // Percentages are of the cgroup memwarden runs under: read before the run's own group exists.
    let ambient = Cgroup::own_limit();
    let reference = limit::reference_bytes(mem_total, ambient);
    let (placement, no_cgroup) = if opts.no_cgroup {
        (None, Some("--no-cgroup".to_string()))
    } else {
        match Placement::create(&CgroupEnv::discover(), &format!("memwarden-{self_pid}")) {
            Ok(p) => (Some(p), None),
            Err(why) => {
                if !opts.quiet {
                    eprintln!("memwarden: no cgroup for this run, following the tree by parent links ({why})");
                }
                (None, Some("no cgroup for this run".to_string()))
            }
        }
    };
    let mode = placement
        .as_ref()
        .map_or("process-tree", |p| p.version().mode_name());

    // Orphans of the tree re-parent to memwarden instead of init, so they stay visible
    // and are reaped here.
    // SAFETY: prctl on this process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    let nofile_soft = child::raise_nofile();
    let (wake_tx, wake_rx) = unbounded();
    let children = Children::default();
    let forward_to = Arc::new(AtomicI32::new(0));
    let _signals = signals::start(children.clone(), Arc::clone(&forward_to), wake_tx.clone())
        .context("cannot install signal handlers")?;
    let mut guard = Guard::new(GuardSetup {
        opts,
        reference,
        mem_total,
        placement: placement.as_ref(),
        no_cgroup,
        children: children.clone(),
        wake: wake_tx.clone(),
    });
    let take_terminal = child::owns_terminal();
    if take_terminal {
        // SAFETY: memwarden ignores SIGTTOU so it can take the terminal back later.
        unsafe { libc::signal(libc::SIGTTOU, libc::SIG_IGN) };
    }

    let command: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let setup = child::ChildSetup {
        cgroup_procs: placement.as_ref().map(|p| p.procs_fd()),
        take_terminal,
        nofile_soft,
    };
    let pid = {
        let mut registry = children.lock();
        let pid = match child::spawn(argv, env, setup) {
            Ok(pid) => pid,
            Err(e) => {
                eprintln!("memwarden: {}", e.message);
                return Ok(Outcome {
                    report: not_started_report(opts, label, command, mode),
                    status: e.status,
                    stored_in: None,
                });
            }
        };
        registry.register(pid, wake_tx.clone());
        forward_to.store(pid as i32, Ordering::SeqCst);
        pid
    };

    let membership = match &placement {
        Some(p) => Membership::Cgroup(p.reader().context("cannot read the run's cgroup")?),
        None => Membership::Descendants(Descendants {
            roots: vec![pid],
            process_group: Some(pid),
            adopted_by: Some(self_pid),
        }),
    };
    let sampler = Sampler::new(membership, Cadence::for_interval(opts.interval))?;
    let mut meta = meta("run", opts, label.clone(), command.clone(), mode, mem_total);
    guard.annotate(&mut meta.options);
    let (recorder, stored_in) = open_recorder(opts, &meta);
    let mut session = Session::new(sampler, opts, recorder, nearest_limit(&guard, ambient));
    let place = placement
        .as_ref()
        .map(|p| format!(" in {}", p.dir().display()))
        .unwrap_or_default();
    session.event(
        kind::START,
        format!(
            "started `{}` as pid {pid}{place}",
            shorten(&command.join(" "), 80)
        ),
    );

    guard.begin(
        &mut session,
        Roots::Command(Arc::clone(&forward_to)),
        vec![pid],
        &label,
    );

    let (exit_info, interrupted) = sample_until_exit(
        &mut session,
        &mut guard,
        &wake_rx,
        opts,
        pid,
        placement.as_ref(),
    )?;
    if take_terminal {
        child::reclaim_terminal();
    }
    session.event(kind::EXIT, describe_exit(exit_info));
    session.command_ended();
    if let Some(order) = guard.after_exit(&mut session) {
        guard.note_stop(&mut session, &order);
    }
    stop_leftovers(&mut session, placement.as_ref(), opts);
    guard.finish(&mut session, &wake_rx);
    session.tick()?;

    let mut status = match (guard.stopped_by(), exit_info.code, exit_info.signal) {
        (Some(reason), ..) => reason.status(),
        (None, _, Some(sig)) => exit::for_signal(sig),
        (None, Some(code), None) => code.clamp(0, 255) as u8,
        (None, None, None) => exit::INTERNAL,
    };
    let stopped_by = guard.stopped_by_name(interrupted);
    let verdict = session.verdict();
    if status == exit::OK {
        if let Some(failed) = gates.check(&verdict) {
            session.event(kind::GATE, failed);
            status = exit::GATE_FAILED;
        }
    }
    let duration_s = session.now();
    let end = RunEnd {
        ended_unix_ms: unix_ms(),
        duration_s,
        exit: Some(exit_info),
        stopped_by,
        status,
        peak_bytes: session.peak_bytes(),
        verdict: Some(verdict.to_json()),
        samples: 0,
    };
    let report = session.finish(&meta, end);
    drop(placement);
    Ok(Outcome {
        report,
        status,
        stored_in,
    })
}

/// CI gates of `run`: fail (exit 122) a command that succeeded but leaked.
#[derive(Debug, Clone, Default)]
pub struct Gates {
    /// Fail when any leak was called.
    pub fail_on_leak: bool,
    /// Fail when the memory floor grew faster than this, bytes per second.
    pub max_growth: Option<f64>,
}

impl Gates {
    /// Why the run fails its gates, if it does.
    fn check(&self, v: &RunVerdict) -> Option<String> {
        if self.fail_on_leak && v.kind == "leak" {
            return Some(format!(
                "--fail-on-leak: {} leaks ({})",
                v.resource, v.reason
            ));
        }
        let max = self.max_growth?;
        // An inconclusive trend is not a measurement of growth: too short to judge.
        (v.memory_kind != "inconclusive" && v.growth_bytes_per_s > max).then(|| {
            format!(
                "--max-growth: the memory floor grew {}, more than {}",
                format_rate(v.growth_bytes_per_s),
                format_rate(max)
            )
        })
    }
}

/// The nearest cap on the tree's memory, for the verdict's time-to-limit: `--limit`, or the
/// `ambient` limit of the cgroup memwarden runs in (the tree lives under it too).
fn nearest_limit(guard: &Guard, ambient: Option<u64>) -> Option<u64> {
    match (guard.limit_bytes(), ambient) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Samples until the command's own exit is reported, acting on what the guard decides.
fn sample_until_exit(
    session: &mut Session,
    guard: &mut Guard,
    wake: &Receiver<Wake>,
    opts: &SessionOptions,
    pid: u32,
    placement: Option<&Placement>,
) -> Result<(ExitInfo, bool)> {
    let mut interrupted = false;
    let mut tick_at = Instant::now();
    loop {
        let sample = session.tick_every(opts.interval)?;
        if let Some(order) = guard.after_sample(session, &sample, opts.interval) {
            guard.stop(session, placement, &order);
        }
        tick_at = next_tick(tick_at, guard.interval());
        loop {
            let until = guard.deadline().map_or(tick_at, |d| d.min(tick_at));
            match wake.recv_deadline(until) {
                Ok(Wake::Exited(p, info)) if p == pid => return Ok((info, interrupted)),
                Ok(Wake::Exited(p, info)) => guard.child_exited(session, p, info),
                Ok(Wake::Signal(sig)) => {
                    interrupted = true;
                    session.event(
                        kind::SIGNAL,
                        format!("forwarded {} to the command", signal_name(sig)),
                    );
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(order) = guard.on_time(session) {
                        guard.stop(session, placement, &order);
                    }
                    if Instant::now() >= tick_at {
                        break;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => bail!("the signal thread stopped"),
            }
        }
    }
}

/// Processes that outlived the command are listed in an event, then stopped (DESIGN §3).
fn stop_leftovers(session: &mut Session, placement: Option<&Placement>, opts: &SessionOptions) {
    let Ok(_) = session.tick() else { return };
    let tree = session.sampler_mut().tree();
    if tree.is_empty() {
        return;
    }
    let mut names: Vec<String> = tree
        .summaries()
        .map(|p| format!("{} ({})", p.pid, shorten(&p.command, 40)))
        .collect();
    names.sort();
    let count = names.len();
    session.event(
        kind::LEFTOVERS,
        format!(
            "{} outlived the command: {}",
            processes(count as u64),
            shorten(&names.join(", "), 400)
        ),
    );
    let outcome = session.stop_tree(placement, &stop::StopPlan::grace(opts.grace));
    session.event(
        kind::STOP,
        format!("stopped the leftovers: {}", outcome.describe()),
    );
}

fn describe_exit(x: ExitInfo) -> String {
    match (x.code, x.signal) {
        (_, Some(sig)) => format!("the command was killed by {}", signal_name(sig)),
        (Some(code), None) => format!("the command exited with status {code}"),
        (None, None) => "the command ended".into(),
    }
}

/// The report of a command that could not be started (for `--json`).
fn not_started_report(
    opts: &SessionOptions,
    label: String,
    command: Vec<String>,
    mode: &str,
) -> RunReport {
    let meta = meta("run", opts, label, command, mode, 0);
    crate::report::model::RunStats::new(opts.metric).report(
        None,
        &meta,
        None,
        crate::report::model::top_processes(0, []),
        Vec::new(),
    )
}

/// `memwarden watch`: watches running processes and their descendants, never signalling them.
pub fn watch(
    opts: &SessionOptions,
    pids: &[u32],
    duration: Option<std::time::Duration>,
) -> Result<Outcome> {
    let fs = ProcFs::default();
    let mut buf = Vec::new();
    let mut command = Vec::new();
    for &pid in pids {
        match fs.stat(pid, &mut buf) {
            Ok(_) => command.push(fs.cmdline(pid, &mut buf).unwrap_or_default()),
            Err(memwarden::sample::procfs::ReadError::Gone(_)) => {
                bail!(UsageError(format!("no process with PID {pid}")))
            }
            Err(e) => bail!(UsageError(format!("cannot read process {pid}: {e}"))),
        }
    }
    let label = opts.label.clone().unwrap_or_else(|| {
        let words: Vec<OsString> = command
            .first()
            .map(|c| c.split(' ').map(OsString::from).collect())
            .unwrap_or_default();
        let base = default_label(&words);
        if pids.len() > 1 {
            format!("{base} (+{} more)", pids.len() - 1)
        } else {
            base
        }
    });
    let membership = Membership::Descendants(Descendants {
        roots: pids.to_vec(),
        ..Default::default()
    });
    let sampler = Sampler::new(membership, Cadence::for_interval(opts.interval))?;
    let mem_total = mem_total();
    let ambient = Cgroup::own_limit();

    // Signals end the watch; nothing is ever forwarded to the watched processes. Only the
    // guard acts on them, and only when a limit, warning, floor or timeout was asked for.
    let (wake_tx, wake_rx) = unbounded();
    let children = Children::default();
    let _signals = signals::start(
        children.clone(),
        Arc::new(AtomicI32::new(0)),
        wake_tx.clone(),
    )
    .context("cannot install signal handlers")?;
    let mut guard = Guard::new(GuardSetup {
        opts,
        reference: limit::reference_bytes(mem_total, ambient),
        mem_total,
        placement: None,
        no_cgroup: Some("watched processes have no cgroup of memwarden's own".into()),
        children,
        wake: wake_tx,
    });

    let mut meta = meta(
        "watch",
        opts,
        label.clone(),
        command,
        "process-tree",
        mem_total,
    );
    guard.annotate(&mut meta.options);
    let (recorder, stored_in) = open_recorder(opts, &meta);
    let mut session = Session::new(sampler, opts, recorder, nearest_limit(&guard, ambient));
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    let hands_off = if opts.guard.acts() {
        ""
    } else {
        " (never signalled: no limit, warning, floor or timeout was given)"
    };
    session.event(
        kind::START,
        format!("watching pid {}{hands_off}", list.join(", ")),
    );
    guard.begin(
        &mut session,
        Roots::Watched(pids.to_vec()),
        pids.to_vec(),
        &label,
    );

    let until = duration.map(|d| Instant::now() + d);
    let mut interrupted = false;
    let mut tick_at = Instant::now();
    'watching: loop {
        let sample = session.tick_every(opts.interval)?;
        if sample.tree.processes == 0 {
            session.event(kind::EXIT, "every watched process has exited");
            break;
        }
        if let Some(order) = guard.after_sample(&mut session, &sample, opts.interval) {
            guard.stop(&mut session, None, &order);
            continue;
        }
        tick_at = next_tick(tick_at, guard.interval());
        if let Some(until) = until {
            if tick_at > until {
                session.event(kind::STOP, "the watch duration has passed");
                break;
            }
        }
        loop {
            let wait_until = guard.deadline().map_or(tick_at, |d| d.min(tick_at));
            match wake_rx.recv_deadline(wait_until) {
                Ok(Wake::Signal(sig)) => {
                    session.event(
                        kind::SIGNAL,
                        format!("{} ended the watch", signal_name(sig)),
                    );
                    interrupted = true;
                    break 'watching;
                }
                Ok(Wake::Exited(p, info)) => guard.child_exited(&mut session, p, info),
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(order) = guard.on_time(&mut session) {
                        guard.stop(&mut session, None, &order);
                        continue 'watching;
                    }
                    if Instant::now() >= tick_at {
                        break;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => bail!("the signal thread stopped"),
            }
        }
    }
    guard.finish(&mut session, &wake_rx);
    let status = guard.stopped_by().map_or(exit::OK, |r| r.status());
    let stopped_by = guard.stopped_by_name(interrupted);
    let end = RunEnd {
        ended_unix_ms: unix_ms(),
        duration_s: session.now(),
        exit: None,
        stopped_by,
        status,
        peak_bytes: session.peak_bytes(),
        verdict: None,
        samples: 0,
    };
    let report = session.finish(&meta, end);
    Ok(Outcome {
        report,
        status,
        stored_in,
    })
}
