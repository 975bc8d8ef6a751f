//! Setting up a session's guard: the thresholds resolved to bytes, the kernel limit put on
//! the run's cgroup before the command starts (or why the limit is polled instead), and the
//! lines that say how the run is guarded. The policy then decides, and the loop acts.

use memwarden::sample::cgroup::CgroupVersion;
use memwarden::units::format_bytes;

use super::action::Action;
use super::limit::KernelLimit;
use super::placement::Placement;
use super::policy::{LimitMode, Rules, MIN_POLL, REARM_FRACTION};
use crate::options::SessionOptions;
use crate::record::RecordedOptions;

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
}

/// A session's guard, set up.
#[derive(Debug)]
pub struct Guarding {
    /// The thresholds, for the policy.
    pub rules: Rules,
    /// The kernel limit on the run's cgroup, when it has one.
    pub kernel: Option<KernelLimit>,
    /// How the run is guarded, in words: one `guard` event each.
    pub notes: Vec<String>,
}

impl Guarding {
    /// The tree's `--limit` in bytes, when one is set.
    pub fn limit_bytes(&self) -> Option<u64> {
        self.rules.limit.map(|(bytes, _)| bytes)
    }

    /// Records the resolved thresholds with the run's options, so reports can draw them
    /// whatever form they were given in.
    pub fn annotate(&self, options: &mut RecordedOptions) {
        options.limit_bytes = self.limit_bytes();
        options.warn_bytes = self.rules.warn;
        options.system_floor_bytes = self.rules.floor;
    }
}

/// Resolves the thresholds and puts the kernel limit in place (before the command starts,
/// so none of its allocations escapes it). Weaker modes are said in one line on stderr.
pub fn set_up(setup: GuardSetup<'_>) -> Guarding {
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
    if !g.on_leak.is_empty() || g.act_before.is_some() {
        let actions: Vec<String> = g.on_leak.iter().map(Action::to_string).collect();
        let when = match g.act_before {
            Some(d) => format!(
                "when the tree's memory would reach its limit within {} at its rate (a leak, \
                 or a rise that would not stop in time)",
                memwarden::units::format_seconds(d.as_secs_f64())
            ),
            None => "when a leak is called".into(),
        };
        notes.push(format!("{when}: {}", actions.join(", ")));
    }
    let rules = Rules {
        limit: limit_bytes.map(|b| (b, mode)),
        warn,
        floor,
        pressure: g.pressure,
        timeout_s: g.timeout.map(|t| t.as_secs_f64()),
        // With --act-before, the projection decides when the actions run, not the call.
        on_leak: !g.on_leak.is_empty() && g.act_before.is_none(),
        act_before_s: g.act_before.map(|d| d.as_secs_f64()),
    };
    Guarding {
        rules,
        kernel,
        notes,
    }
}
