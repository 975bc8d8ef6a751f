//! Validated options: what clap parsed, checked against each other and completed with
//! defaults that need the environment (the database path, the label).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::cli::{DetectArgs, MetricArg, SamplingArgs};
use crate::report::model::Metric;
use crate::report::text::shorten;
use memwarden::detect::DetectorConfig;

/// Options of a sampling session (`run` or `watch`).
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Time between samples.
    pub interval: Duration,
    /// The run's name, if given.
    pub label: Option<String>,
    /// Where to write the JSON report at the end (`-` is stdout).
    pub json: Option<PathBuf>,
    /// Follow the tree by parent links even where a cgroup is possible.
    pub no_cgroup: bool,
    /// No summary on stderr.
    pub quiet: bool,
    /// The run database.
    pub db: PathBuf,
    /// The memory figure the run is judged by.
    pub metric: Metric,
    /// Grace between TERM and KILL when memwarden stops processes.
    pub grace: Duration,
    /// The memory leak detector's configuration.
    pub detector: DetectorConfig,
}

/// The detector's configuration: its documented defaults, changed where the user said so.
pub fn detector_config(args: &DetectArgs) -> DetectorConfig {
    let mut c = DetectorConfig::default();
    if let Some(w) = args.warmup {
        c.warmup_s = w.as_secs_f64();
        c.warmup_fraction = 0.0;
    }
    if let Some(j) = args.judge_after {
        c.min_span_s = j.as_secs_f64();
    }
    if let Some(r) = args.leak_rate {
        c.min_rate_per_s = r;
    }
    if let Some(p) = args.leak_relative {
        c.min_relative_rate_per_h = p / 100.0;
    }
    c
}

impl SessionOptions {
    /// Validates the shared options; `db` is `--db`/`MEMWARDEN_DB` if given.
    pub fn new(args: &SamplingArgs, db: Option<&Path>) -> Result<Self> {
        let db = match db {
            Some(p) => p.to_path_buf(),
            None => crate::store::default_path()?,
        };
        Ok(SessionOptions {
            interval: args.interval,
            label: args.label.clone().filter(|l| !l.trim().is_empty()),
            json: args.json.clone(),
            no_cgroup: args.no_cgroup,
            quiet: args.quiet,
            db,
            metric: match args.metric {
                MetricArg::Anon => Metric::Anon,
                MetricArg::Rss => Metric::Rss,
                MetricArg::Pss => Metric::Pss,
            },
            detector: detector_config(&args.detect),
            grace: args.grace,
        })
    }

    /// The options as recorded with the run.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "interval": memwarden::units::format_seconds(self.interval.as_secs_f64()),
            "metric": self.metric.name(),
            "no_cgroup": self.no_cgroup,
            "grace": memwarden::units::format_seconds(self.grace.as_secs_f64()),
            "warmup_s": self.detector.warmup_s,
            "judge_after_s": self.detector.min_span_s,
            "leak_rate_bytes_per_s": self.detector.min_rate_per_s,
            "leak_relative_pct_per_h": self.detector.min_relative_rate_per_h * 100.0,
        })
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
