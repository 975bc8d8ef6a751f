//! Supervising a tree: set it up (start the command in a cgroup of its own, or attach to
//! processes that already run), sample it in the one loop of [`monitor`] until it ends, stop
//! what it leaves behind, and hand back the report and the exit status.
//!
//! The data flow: a [`source::Source`] is sampled; each sample goes to the judges (the
//! verdict), the policy (thresholds → decisions) and the sinks (store, status line, metrics);
//! the [`actor`] carries out the decisions' actions; [`stop`] stops trees.

pub mod action;
mod actor;
pub mod child;
mod guard;
mod hook;
mod limit;
mod monitor;
pub mod placement;
mod policy;
mod protect;
mod reclaim;
pub mod signals;
mod source;
pub mod stop;

use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use crossbeam_channel::unbounded;
use memwarden::sample::cgroup::Cgroup;
use memwarden::sample::procfs::ProcFs;
use memwarden::sample::tree::{Cadence, Descendants, Membership};
use memwarden::sample::Sampler;
use memwarden::units::format_rate;

use crate::exit;
use crate::options::{default_label, SessionOptions, UsageError};
use crate::record::{EventKind, RunEnd, RunKind, RunMeta, RunVerdict};
use crate::report::model::RunReport;
use crate::report::text::shorten;
use crate::sink::console::Console;
use crate::sink::metrics::server::Endpoint;
use crate::sink::metrics::{Exporter, Served, TreeLabels};
use crate::sink::Sinks;
use crate::store::writer::Recorder;
use actor::{Actor, ActorSetup, Roots};
use guard::{GuardSetup, Guarding};
use monitor::{Ending, Monitor, OnSignal, Parts, Until};
use placement::{CgroupEnv, Placement};
use policy::{status_after, Policy};
use signals::Children;
use source::TreeSource;

/// What a finished session hands back: the report and memwarden's exit status.
pub struct Outcome {
    /// The run's report.
    pub report: RunReport,
    /// memwarden's exit status.
    pub status: u8,
    /// The database the run is stored in, when it was.
    pub stored_in: Option<String>,
    /// A gate that failed, in words (`run --fail-on-leak`, `--max-growth`).
    pub gate: Option<String>,
}

/// CI gates of `run`: fail (exit 122) a command that succeeded but leaked.
#[derive(Debug, Clone, Default)]
pub struct Gates {
    /// Fail when a leak was called.
    pub fail_on_leak: bool,
    /// Fail when the memory floor grew faster than this, bytes per second.
    pub max_growth: Option<f64>,
}

impl Gates {
    /// Why the run fails its gates, if it does.
    fn check(&self, v: &RunVerdict) -> Option<String> {
        if self.fail_on_leak && v.leaks() {
            return Some(format!(
                "--fail-on-leak: {} leaks ({})",
                v.resource, v.reason
            ));
        }
        let max = self.max_growth?;
        // An inconclusive trend is not a measurement of growth: too short to judge.
        (v.growth_measured() && v.growth_bytes_per_s > max).then(|| {
            format!(
                "--max-growth: the memory floor grew {}, more than {}",
                format_rate(v.growth_bytes_per_s),
                format_rate(max)
            )
        })
    }
}

/// What stays after the command exits (`run --wait`, `--keep-leftovers`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Afterwards {
    /// The run lasts while any process of the tree lives (`--wait tree`).
    pub wait_tree: bool,
    /// Leftovers are reported and left running (`--keep-leftovers`).
    pub keep_leftovers: bool,
}

/// Starts recording the run. The store is opened, and the run's start recorded, on the
/// writer's thread: nothing here waits on it, and a failure is said by the loop (quiet or not:
/// a run that is not recorded is always said) while the run goes on.
fn open_recorder(opts: &SessionOptions, meta: &RunMeta, cgroup: Option<&Path>) -> Recorder {
    Recorder::start(opts.db.clone(), meta.clone(), cgroup.map(Path::to_path_buf))
}

/// Where the run is stored, once the store has recorded it.
fn stored_in(opts: &SessionOptions, report: &RunReport) -> Option<String> {
    report.run_id.map(|_| opts.db.display().to_string())
}

fn meta(
    kind: RunKind,
    opts: &SessionOptions,
    label: String,
    command: Vec<String>,
    mode: &str,
    mem_total: u64,
) -> RunMeta {
    let now = SystemTime::now();
    RunMeta {
        kind,
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
        options: opts.recorded(),
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

/// The nearest cap on the tree's memory, for the verdict's time-to-limit: `--limit`, or the
/// `ambient` limit of the cgroup memwarden runs in (the tree lives under it too).
fn nearest_limit(guarding: &Guarding, ambient: Option<u64>) -> Option<u64> {
    match (guarding.limit_bytes(), ambient) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The parts of a session's loop, once its guard is set up and its store opened.
/// Who a session's actions act on: the tree's roots, and where hooks are reaped.
struct Targets {
    roots: Roots,
    root_pids: Vec<u32>,
    label: String,
    children: Children,
    wake: crossbeam_channel::Sender<signals::Wake>,
}

fn parts(
    opts: &SessionOptions,
    guarding: &Guarding,
    targets: Targets,
    recorder: Recorder,
    metrics: Option<Served>,
    limit: Option<u64>,
    reclaim: Option<reclaim::Reclaim>,
) -> Parts {
    let actor = Actor::new(ActorSetup {
        on_warn: opts.guard.on_warn.clone(),
        on_leak: opts.guard.on_leak.clone(),
        children: targets.children,
        wake: targets.wake,
        hook_timeout: opts.guard.hook_timeout,
        roots: targets.roots,
        root_pids: targets.root_pids,
        label: targets.label,
        limit_bytes: guarding.limit_bytes(),
        warn_bytes: guarding.rules.warn,
    });
    let mut sinks = Sinks::default();
    sinks.push(Box::new(recorder));
    sinks.push(Box::new(Console::new(opts.metric, opts.quiet)));
    if let Some(served) = metrics {
        served
            .tree
            .thresholds(guarding.limit_bytes(), guarding.rules.warn);
        sinks.push(Box::new(served));
    }
    Parts {
        policy: Policy::new(guarding.rules),
        actor,
        sinks,
        metric: opts.metric,
        detector: opts.detector.clone(),
        interval: opts.interval,
        grace: opts.grace,
        limit,
        reclaim,
    }
}

/// Starts `--metrics`' endpoint, before anything else starts: an address that cannot be used
/// is refused with the command never run.
fn serve_metrics(opts: &SessionOptions, label: &str, tree: RunKind) -> Result<Option<Served>> {
    let Some(addr) = opts.metrics else {
        return Ok(None);
    };
    let exporter = Exporter::default();
    let endpoint = Endpoint::start(addr, exporter.clone()).map_err(UsageError)?;
    if !opts.quiet {
        eprintln!("memwarden: metrics at http://{}/metrics", endpoint.addr());
    }
    let tree = exporter.tree(TreeLabels {
        label: label.to_string(),
        tree: tree.as_str().to_string(),
    });
    Ok(Some(Served {
        tree,
        _endpoint: endpoint,
    }))
}

/// `memwarden run`: starts `argv` (with `env` added to its environment), watches its tree
/// until it exits, stops leftovers.
pub fn run(
    opts: &SessionOptions,
    gates: &Gates,
    afterwards: Afterwards,
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
    let metrics = serve_metrics(opts, &label, RunKind::Run)?;

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
    let mut guarding = guard::set_up(GuardSetup {
        opts,
        reference,
        mem_total,
        placement: placement.as_ref(),
        no_cgroup,
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
                let meta = meta(RunKind::Run, opts, label, command, mode, 0);
                return Ok(Outcome {
                    report: RunReport::not_started(&meta, opts.metric),
                    status: e.status,
                    stored_in: None,
                    gate: None,
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
    let mut meta = meta(
        RunKind::Run,
        opts,
        label.clone(),
        command.clone(),
        mode,
        mem_total,
    );
    guarding.annotate(&mut meta.options);
    let recorder = open_recorder(opts, &meta, placement.as_ref().map(|p| p.dir()));
    // Runs whose memwarden died may have left survivors in their cgroups: reclaimed beside
    // this one, once the store is open.
    let reclaim = reclaim::Reclaim::start(recorder.abandoned(), opts.grace);
    let place = placement
        .as_ref()
        .map(|p| format!(" in {}", p.dir().display()))
        .unwrap_or_default();
    let targets = Targets {
        roots: Roots::Command(Arc::clone(&forward_to)),
        root_pids: vec![pid],
        label,
        children,
        wake: wake_tx,
    };
    let limit = nearest_limit(&guarding, ambient);
    let parts = parts(
        opts,
        &guarding,
        targets,
        recorder,
        metrics,
        limit,
        Some(reclaim),
    );
    let notes = std::mem::take(&mut guarding.notes);
    let source = TreeSource::new(sampler, placement, guarding.kernel);
    let mut monitor = Monitor::new(source, parts);
    monitor.event(
        EventKind::Start,
        format!(
            "started `{}` as pid {pid}{place}",
            shorten(&command.join(" "), 80)
        ),
    );
    for note in notes {
        monitor.event(EventKind::Guard, note);
    }

    let until = Until {
        root: Some(pid),
        empty: false,
        deadline: None,
        on_signal: OnSignal::Forwarded,
    };
    let Ending::RootExited(exit_info) = monitor.run(&wake_rx, until)? else {
        bail!("the command's end was never reported");
    };
    if take_terminal {
        child::reclaim_terminal();
    }
    monitor.command_exited(exit_info);
    if afterwards.wait_tree && monitor.stops().by.is_none() {
        let until = Until {
            root: None,
            empty: true,
            deadline: None,
            on_signal: OnSignal::StopTree,
        };
        monitor.run(&wake_rx, until)?;
    }
    monitor.leftovers(afterwards.keep_leftovers)?;

    let verdict = monitor.final_verdict();
    let stops = monitor.stops().clone();
    let mut status = match (stops.by, exit_info.code, exit_info.signal) {
        // memwarden claims a stop only for a tree that is gone.
        (Some(_), ..) if !stops.survivors.is_empty() => exit::INTERNAL,
        (Some(reason), ..) => status_after(reason),
        (None, _, Some(sig)) => exit::for_signal(sig),
        (None, Some(code), None) => code.clamp(0, 255) as u8,
        (None, None, None) => exit::INTERNAL,
    };
    let mut gate = None;
    if status == exit::OK {
        if let Some(failed) = gates.check(&verdict) {
            monitor.event(EventKind::Gate, failed.clone());
            status = exit::GATE_FAILED;
            gate = Some(failed);
        }
    }
    let report = monitor.finish(&wake_rx, &meta, |m| RunEnd {
        ended_unix_ms: unix_ms(),
        duration_s: m.now(),
        exit: Some(exit_info),
        stopped_by: stops.by,
        status,
        peak_bytes: m.peak_bytes(),
        verdict: Some(verdict),
        samples: 0,
    });
    Ok(Outcome {
        stored_in: stored_in(opts, &report),
        report,
        status,
        gate,
    })
}

/// Checks the PIDs `watch` is given: each must exist, and when memwarden is to act on the
/// tree, none may be memwarden itself, its ancestor, PID 1, a kernel thread or a zombie.
/// Returns their command lines.
fn check_watched(pids: &[u32], acts: bool) -> Result<Vec<String>> {
    let fs = ProcFs::default();
    let protected = protect::Protected::discover();
    let mut buf = Vec::new();
    let mut command = Vec::new();
    for &pid in pids {
        let stat = match fs.stat(pid, &mut buf) {
            Ok(stat) => stat,
            Err(memwarden::sample::procfs::ReadError::Gone(_)) => {
                bail!(UsageError(format!("no process with PID {pid}")))
            }
            Err(e) => bail!(UsageError(format!("cannot read process {pid}: {e}"))),
        };
        if let Some(why) = protected.refusal(pid, &stat) {
            if acts {
                bail!(UsageError(format!(
                    "memwarden will not act on pid {pid}: {why}; watch it without --limit, \
                     --warn, --system-floor, --pressure, --timeout and --on-leak to observe it"
                )));
            }
            if stat.is_kernel_thread() || stat.is_zombie() {
                bail!(UsageError(format!("cannot watch pid {pid}: {why}")));
            }
            eprintln!("memwarden: observing only: {why}; memwarden never signals it");
        }
        command.push(fs.cmdline(pid, &mut buf).unwrap_or_default());
    }
    Ok(command)
}

/// `memwarden watch`: watches running processes and their descendants, never signalling them
/// unless a containment option asks for it.
pub fn watch(
    opts: &SessionOptions,
    pids: &[u32],
    duration: Option<std::time::Duration>,
) -> Result<Outcome> {
    let command = check_watched(pids, opts.guard.acts())?;
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
    let metrics = serve_metrics(opts, &label, RunKind::Watch)?;
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
    let mut guarding = guard::set_up(GuardSetup {
        opts,
        reference: limit::reference_bytes(mem_total, ambient),
        mem_total,
        placement: None,
        no_cgroup: Some("watched processes have no cgroup of memwarden's own".into()),
    });
    let mut meta = meta(
        RunKind::Watch,
        opts,
        label.clone(),
        command,
        "process-tree",
        mem_total,
    );
    guarding.annotate(&mut meta.options);
    let recorder = open_recorder(opts, &meta, None);
    let targets = Targets {
        roots: Roots::Watched(pids.to_vec()),
        root_pids: pids.to_vec(),
        label,
        children,
        wake: wake_tx,
    };
    let limit = nearest_limit(&guarding, ambient);
    let parts = parts(opts, &guarding, targets, recorder, metrics, limit, None);
    let notes = std::mem::take(&mut guarding.notes);
    let mut monitor = Monitor::new(TreeSource::new(sampler, None, None), parts);
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    let hands_off = if opts.guard.acts() {
        ""
    } else {
        " (never signalled: no limit, warning, floor, timeout or leak action was given)"
    };
    monitor.event(
        EventKind::Start,
        format!("watching pid {}{hands_off}", list.join(", ")),
    );
    for note in notes {
        monitor.event(EventKind::Guard, note);
    }
    monitor.watch_roots(pids);

    let until = Until {
        root: None,
        empty: true,
        deadline: duration.map(|d| Instant::now() + d),
        on_signal: OnSignal::End,
    };
    match monitor.run(&wake_rx, until)? {
        Ending::TreeEmpty => monitor.event(EventKind::Exit, "every watched process has exited"),
        Ending::DeadlinePassed => monitor.event(EventKind::Stop, "the watch duration has passed"),
        Ending::RootExited(_) | Ending::Signalled(_) | Ending::Unstoppable => {}
    }
    let stops = monitor.stops().clone();
    let status = match stops.by {
        Some(_) if !stops.survivors.is_empty() => exit::INTERNAL,
        Some(reason) => status_after(reason),
        None => exit::OK,
    };
    let report = monitor.finish(&wake_rx, &meta, |m| RunEnd {
        ended_unix_ms: unix_ms(),
        duration_s: m.now(),
        exit: None,
        stopped_by: stops.by,
        status,
        peak_bytes: m.peak_bytes(),
        verdict: None,
        samples: 0,
    });
    Ok(Outcome {
        stored_in: stored_in(opts, &report),
        report,
        status,
        gate: None,
    })
}
