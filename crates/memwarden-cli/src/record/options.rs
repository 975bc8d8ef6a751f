//! The options a run was started with, as recorded with it: the words the user gave, and
//! what reports need resolved (thresholds in bytes, the detector's knobs).

use memwarden::detect::DetectorConfig;
use serde::{Deserialize, Serialize};

/// A run's options as the store keeps them and reports read them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordedOptions {
    /// memwarden's own arguments as the user wrote them (`--interval 200ms --limit 1GiB`),
    /// without the command.
    pub given: Vec<String>,
    /// `--limit`, resolved to bytes.
    pub limit_bytes: Option<u64>,
    /// `--warn`, resolved to bytes.
    pub warn_bytes: Option<u64>,
    /// `--system-floor`, resolved to bytes of available memory.
    pub system_floor_bytes: Option<u64>,
    /// The leak detector's knobs the user set (the others are the defaults).
    #[serde(flatten)]
    pub detector: DetectorKnobs,
}

/// The leak detector's knobs a user may set; `None` keeps the documented default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectorKnobs {
    /// `--warmup`, seconds.
    pub warmup_s: Option<f64>,
    /// `--judge-after`, seconds.
    pub judge_after_s: Option<f64>,
    /// `--leak-rate`, bytes per second.
    pub leak_rate_bytes_per_s: Option<f64>,
    /// `--leak-relative`, percent per hour.
    pub leak_relative_pct_per_h: Option<f64>,
}

impl DetectorKnobs {
    /// The detector's configuration: its defaults, changed where these knobs say.
    pub fn config(&self) -> DetectorConfig {
        let mut c = DetectorConfig::default();
        if let Some(w) = self.warmup_s {
            c.warmup_s = w;
            c.warmup_fraction = 0.0;
        }
        if let Some(j) = self.judge_after_s {
            c.min_span_s = j;
        }
        if let Some(r) = self.leak_rate_bytes_per_s {
            c.min_rate_per_s = r;
        }
        if let Some(p) = self.leak_relative_pct_per_h {
            c.min_relative_rate_per_h = p / 100.0;
        }
        c
    }
}

impl RecordedOptions {
    /// The options in words, as the user wrote them (empty when none were given).
    pub fn command_line(&self) -> String {
        shlex::try_join(self.given.iter().map(String::as_str))
            .unwrap_or_else(|_| self.given.join(" "))
    }
}
