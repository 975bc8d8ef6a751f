//! Validated options: what clap parsed, checked against each other and completed with
//! defaults that need the environment (the database path, the label).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use memwarden::units::Threshold;

use crate::cli::{DetectArgs, GuardArgs, MetricArg, SamplingArgs};
use crate::record::{DetectorKnobs, RecordedOptions};
use crate::report::model::Metric;
use crate::report::text::shorten;
use crate::supervise::action::Action;
use memwarden::detect::DetectorConfig;

/// Options of a sampling session (`run` or `watch`).
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Time between samples.
    pub interval: Duration,
    /// The run's name, if given.
    pub label: Option<String>,
    /// Follow the tree by parent links even where a cgroup is possible.
    pub no_cgroup: bool,
    /// No summary on stderr.
    pub quiet: bool,
    /// The run database.
    pub db: PathBuf,
    /// The memory figure the run is judged by.
    pub metric: Metric,
    /// Where to serve Prometheus metrics.
    pub metrics: Option<std::net::SocketAddr>,
    /// Grace between TERM and KILL when memwarden stops processes.
    pub grace: Duration,
    /// The memory leak detector's configuration.
    pub detector: DetectorConfig,
    /// The detector's knobs as the user set them.
    pub knobs: DetectorKnobs,
    /// memwarden's own arguments as the user wrote them.
    pub given: Vec<String>,
    /// Limits, warnings and their actions, the system floor, the timeout.
    pub guard: GuardOptions,
}

/// The detector's knobs as the user set them on the command line.
pub fn detector_knobs(args: &DetectArgs) -> DetectorKnobs {
    DetectorKnobs {
        warmup_s: args.warmup.map(|w| w.as_secs_f64()),
        judge_after_s: args.judge_after.map(|j| j.as_secs_f64()),
        leak_rate_bytes_per_s: args.leak_rate,
        leak_relative_pct_per_h: args.leak_relative,
    }
}

/// The detector's configuration: its documented defaults, changed where the user said so.
pub fn detector_config(args: &DetectArgs) -> DetectorConfig {
    detector_knobs(args).config()
}

/// memwarden's own arguments as the user wrote them: everything before `--` (the command).
fn given_words() -> Vec<String> {
    std::env::args().skip(1).take_while(|a| a != "--").collect()
}

/// Containment options, checked against each other.
#[derive(Debug, Clone, Default)]
pub struct GuardOptions {
    /// `--limit`.
    pub limit: Option<Threshold>,
    /// `--warn`.
    pub warn: Option<Threshold>,
    /// `--on-warn` (`log` when `--warn` is given alone).
    pub on_warn: Vec<Action>,
    /// `--on-leak` (`log` when `--act-before` is given alone).
    pub on_leak: Vec<Action>,
    /// `--act-before`.
    pub act_before: Option<Duration>,
    /// `--system-floor`.
    pub system_floor: Option<Threshold>,
    /// `--pressure`, percent.
    pub pressure: Option<f64>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--hook-timeout`.
    pub hook_timeout: Duration,
}

/// A combination of options that cannot work, found before anything starts (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl GuardOptions {
    /// Checks `args`; `psi` says whether this kernel reports memory pressure.
    pub fn new(args: &GuardArgs, psi: bool) -> Result<Self, UsageError> {
        if let (Some(warn), Some(limit)) = (args.warn, args.limit) {
            let above = match (warn, limit) {
                (Threshold::Bytes(w), Threshold::Bytes(l)) => w >= l,
                (Threshold::Percent(w), Threshold::Percent(l)) => w >= l,
                // Mixed forms are compared once percentages are resolved, at the start.
                _ => false,
            };
            if above {
                return Err(UsageError(format!(
                    "--warn {warn} must be below --limit {limit}: the warning is the chance to \
                     clean up before the stop"
                )));
            }
        }
        if args.pressure.is_some() && !psi {
            return Err(UsageError(
                "--pressure needs PSI, which this kernel does not report \
                 (/proc/pressure/memory is missing: a kernel before 4.20, or booted with psi=0); \
                 use --system-floor instead"
                    .into(),
            ));
        }
        let mut on_warn = args.on_warn.clone();
        if on_warn.is_empty() && args.warn.is_some() {
            on_warn.push(Action::Log);
        }
        let mut on_leak = args.on_leak.clone();
        if on_leak.is_empty() && args.act_before.is_some() {
            on_leak.push(Action::Log);
        }
        Ok(GuardOptions {
            limit: args.limit,
            warn: args.warn,
            on_warn,
            on_leak,
            act_before: args.act_before,
            system_floor: args.system_floor,
            pressure: args.pressure,
            timeout: args.timeout,
            hook_timeout: args.hook_timeout,
        })
    }

    /// Whether anything may act on the tree (`watch` never signals without it).
    pub fn acts(&self) -> bool {
        self.limit.is_some()
            || self.warn.is_some()
            || self.system_floor.is_some()
            || self.pressure.is_some()
            || self.timeout.is_some()
            || !self.on_leak.is_empty()
    }
}

impl SessionOptions {
    /// Validates the shared options; `db` is `--db`/`MEMWARDEN_DB` if given.
    pub fn new(args: &SamplingArgs, db: Option<&Path>) -> Result<Self> {
        let db = crate::store::path_or_default(db)?;
        Ok(SessionOptions {
            interval: args.interval,
            label: args.label.clone().filter(|l| !l.trim().is_empty()),
            no_cgroup: args.no_cgroup,
            quiet: args.quiet,
            db,
            metric: match args.metric {
                MetricArg::Anon => Metric::Anon,
                MetricArg::Rss => Metric::Rss,
                MetricArg::Pss => Metric::Pss,
            },
            metrics: args.metrics,
            detector: detector_config(&args.detect),
            knobs: detector_knobs(&args.detect),
            given: given_words(),
            grace: args.grace,
            guard: GuardOptions::new(&args.guard, Path::new("/proc/pressure/memory").exists())?,
        })
    }

    /// The options as recorded with the run (thresholds in bytes are added once resolved).
    pub fn recorded(&self) -> RecordedOptions {
        RecordedOptions {
            given: self.given.clone(),
            detector: self.knobs,
            ..RecordedOptions::default()
        }
    }
}

/// The default label of a run: the command's base name and its arguments, shortened.
///
/// `/usr/bin/python3 -u script.py` → `python3 -u script.py`.
pub fn default_label(argv: &[OsString]) -> String {
    let mut words = argv.iter().map(|a| a.to_string_lossy().into_owned());
    let Some(first) = words.next() else {
        return String::new();
    };
    let base = Path::new(&first)
        .file_name()
        .map_or(first.clone(), |b| b.to_string_lossy().into_owned());
    let all: Vec<String> = std::iter::once(base).chain(words).collect();
    // An inline script's newlines and indentation would make a label of many lines.
    let one_line = all
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    shorten(&one_line, 48)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard_args(args: &[&str]) -> GuardArgs {
        use clap::Parser;
        let mut all = vec!["memwarden", "run"];
        all.extend(args);
        all.extend(["--", "true"]);
        match crate::cli::Cli::try_parse_from(all).unwrap().command {
            crate::cli::Command::Run(r) => r.sampling.guard,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_warning_must_come_before_the_limit() {
        let err =
            GuardOptions::new(&guard_args(&["--limit", "1G", "--warn", "2G"]), true).unwrap_err();
        assert!(err.to_string().contains("must be below --limit"), "{err}");
        let err =
            GuardOptions::new(&guard_args(&["--limit", "50%", "--warn", "50%"]), true).unwrap_err();
        assert!(err.to_string().contains("must be below"), "{err}");
        let ok =
            GuardOptions::new(&guard_args(&["--limit", "1G", "--warn", "900M"]), true).unwrap();
        assert_eq!(ok.on_warn, vec![Action::Log], "log is the default action");
        assert!(ok.acts());
        assert!(!GuardOptions::new(&guard_args(&[]), true).unwrap().acts());
    }

    #[test]
    fn pressure_without_psi_is_refused_with_the_alternative() {
        let err = GuardOptions::new(&guard_args(&["--pressure", "10"]), false).unwrap_err();
        assert!(err.to_string().contains("--system-floor"), "{err}");
        assert!(GuardOptions::new(&guard_args(&["--pressure", "10"]), true).is_ok());
    }

    #[test]
    fn labels_are_short_and_readable() {
        let argv = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            default_label(&argv(&["/usr/bin/python3", "-u", "x.py"])),
            "python3 -u x.py"
        );
        let long = default_label(&argv(&["sh", "-c", &"echo hello; ".repeat(20)]));
        assert_eq!(long.chars().count(), 48);
        let inline = default_label(&argv(&["python3", "-c", "import x\nfor i in y:\n    f(i)"]));
        assert_eq!(inline, "python3 -c import x for i in y: f(i)");
        assert!(long.ends_with('…'));
    }
}
