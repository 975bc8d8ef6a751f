//! A run's verdict as it is recorded and reported: the detector's verdict on the tree's memory
//! and on its counted resources (threads, descriptors, processes), typed end to end.

use std::collections::BTreeMap;

use memwarden::detect::VerdictKind;
use serde::{Deserialize, Serialize};

/// The verdict of a run (the JSON report's `verdict`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunVerdict {
    /// `leak` when any resource leaks, else the memory verdict.
    #[serde(with = "kind_name")]
    pub kind: VerdictKind,
    /// What leaks (`memory`, `threads`, `fds`, `processes`, comma-separated), or `memory`.
    pub resource: String,
    /// The memory figure judged (`anon`, `rss`, `pss`, or a trace's column).
    pub metric: String,
    /// Growth of the memory floor, bytes per second.
    pub growth_bytes_per_s: f64,
    /// Its 95 % confidence interval.
    pub growth_ci_bytes_per_s: [f64; 2],
    /// When a leak was first called (any resource).
    pub detected_at_s: Option<f64>,
    /// Seconds until the memory floor, growing at its rate, reaches `limit_bytes`.
    pub time_to_limit_s: Option<f64>,
    /// The nearest limit: `--limit`, a cgroup limit, or what the machine has available.
    pub limit_bytes: Option<u64>,
    /// The memory floor the detector judges, at its latest bucket.
    pub floor_bytes: Option<f64>,
    /// The memory floor is rising steadily now (whether or not a leak is called yet).
    pub rising: bool,
    /// When a leak call was taken back (the floor levelled off: a cache that filled);
    /// `detected_at_s` keeps when it was first called.
    pub revised_at_s: Option<f64>,
    /// The reason in plain words.
    pub reason: String,
    /// The memory verdict on its own.
    #[serde(with = "kind_name")]
    pub memory_kind: VerdictKind,
    /// Threads, descriptors and processes, each judged like memory.
    pub resources: BTreeMap<String, ResourceVerdict>,
}

impl Default for RunVerdict {
    fn default() -> Self {
        RunVerdict {
            kind: VerdictKind::Inconclusive,
            resource: "memory".into(),
            metric: String::new(),
            growth_bytes_per_s: 0.0,
            growth_ci_bytes_per_s: [0.0, 0.0],
            detected_at_s: None,
            time_to_limit_s: None,
            limit_bytes: None,
            floor_bytes: None,
            rising: false,
            revised_at_s: None,
            reason: String::new(),
            memory_kind: VerdictKind::Inconclusive,
            resources: BTreeMap::new(),
        }
    }
}

impl RunVerdict {
    /// Whether any resource was judged leaking.
    pub fn leaks(&self) -> bool {
        self.kind == VerdictKind::Leak
    }

    /// Whether the memory floor's growth was measured (an inconclusive verdict has no trend).
    pub fn growth_measured(&self) -> bool {
        self.memory_kind != VerdictKind::Inconclusive
    }
}

/// The verdict on one counted resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceVerdict {
    /// `leak`, `stable`, `plateau` or `inconclusive`.
    #[serde(with = "kind_name")]
    pub kind: VerdictKind,
    /// Growth of the count's floor, per second.
    pub growth_per_s: f64,
    /// Its 95 % confidence interval.
    pub growth_ci_per_s: [f64; 2],
    /// When a leak was first called.
    pub detected_at_s: Option<f64>,
    /// The count's floor is rising steadily now.
    pub rising: bool,
    /// When a leak call was taken back.
    pub revised_at_s: Option<f64>,
    /// The reason in plain words.
    pub reason: String,
}

impl Default for ResourceVerdict {
    fn default() -> Self {
        ResourceVerdict {
            kind: VerdictKind::Inconclusive,
            growth_per_s: 0.0,
            growth_ci_per_s: [0.0, 0.0],
            detected_at_s: None,
            rising: false,
            revised_at_s: None,
            reason: String::new(),
        }
    }
}

/// A verdict kind as its JSON name (`leak`, `stable`, `plateau`, `inconclusive`); an unknown
/// name reads as `inconclusive`, so a record from a newer memwarden still opens.
pub mod kind_name {
    use memwarden::detect::VerdictKind;
    use serde::{Deserialize, Deserializer, Serializer};

    /// The kind named `name`.
    pub fn parse(name: &str) -> VerdictKind {
        match name {
            "leak" => VerdictKind::Leak,
            "stable" => VerdictKind::Stable,
            "plateau" => VerdictKind::Plateau,
            _ => VerdictKind::Inconclusive,
        }
    }

    /// Serializes a kind as its name.
    pub fn serialize<S: Serializer>(kind: &VerdictKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(kind.as_str())
    }

    /// Reads a kind from its name.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<VerdictKind, D::Error> {
        Ok(parse(&String::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_reads_back_what_it_wrote_and_old_records_still_open() {
        let v = RunVerdict {
            kind: VerdictKind::Leak,
            memory_kind: VerdictKind::Leak,
            growth_bytes_per_s: 1024.0,
            reason: "floor rose".into(),
            ..RunVerdict::default()
        };
        let text = serde_json::to_string(&v).unwrap();
        assert!(text.contains(r#""kind":"leak""#), "{text}");
        assert_eq!(serde_json::from_str::<RunVerdict>(&text).unwrap(), v);
        let old: RunVerdict =
            serde_json::from_str(r#"{"kind": "stable", "reason": "flat"}"#).unwrap();
        assert_eq!(old.kind, VerdictKind::Stable);
        assert_eq!(old.memory_kind, VerdictKind::Inconclusive);
    }
}
