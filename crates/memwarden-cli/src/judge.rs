//! Where the verdict is decided for a run: the library's leak detector applied to the tree's
//! memory (in the run's metric) and to its threads, descriptors and processes, so a leak of
//! connections or tasks is called as such (S5), and the verdict that reports carry.

use std::collections::BTreeMap;

use memwarden::detect::{Detector, DetectorConfig, Verdict, VerdictKind};
use memwarden::sample::Sample;

use crate::record::{ResourceVerdict, RunVerdict};
use crate::report::model::Metric;

/// The resources judged besides memory; each name is also the noun its counts print with.
const COUNTS: [&str; 3] = ["threads", "fds", "processes"];

/// One detector per resource, fed sample by sample.
pub struct Judges {
    metric: Metric,
    memory: Detector,
    counts: [Detector; 3],
    kinds: [VerdictKind; 4],
    /// The last sample with a live process: where time-to-limit projects from.
    last: Option<Sample>,
}

/// A change of one resource's verdict, worth an event.
pub struct Change {
    /// `memory`, `threads`, `fds` or `processes`.
    pub resource: &'static str,
    /// The kind before the change.
    pub before: VerdictKind,
    /// The new verdict.
    pub verdict: Verdict,
}

impl Judges {
    /// Judges for a run measured by `metric`, the memory detector configured by `memory`.
    /// The counts are judged on the same clock (warm-up, observation, significance) with
    /// their own minimum rates.
    pub fn new(metric: Metric, memory: DetectorConfig) -> Self {
        let counts = COUNTS.map(|noun| {
            let rates = DetectorConfig::for_count(noun);
            Detector::new(DetectorConfig {
                quantity: rates.quantity,
                min_rate_per_s: rates.min_rate_per_s,
                min_relative_rate_per_h: rates.min_relative_rate_per_h,
                ..memory.clone()
            })
        });
        Judges {
            metric,
            memory: Detector::new(memory),
            counts,
            kinds: [VerdictKind::Inconclusive; 4],
            last: None,
        }
    }

    /// Feeds one sample; returns the resources whose verdict changed. Samples of an empty
    /// tree are not fed: a command that has exited is not a memory drop.
    pub fn push(&mut self, s: &Sample) -> Vec<Change> {
        if s.tree.processes == 0 {
            return Vec::new();
        }
        self.last = Some(*s);
        self.memory.push(s.t, self.metric.of(s) as f64);
        let values = [s.tree.threads, s.tree.fds, u64::from(s.tree.processes)];
        for (d, v) in self.counts.iter_mut().zip(values) {
            d.push(s.t, v as f64);
        }
        let detectors =
            std::iter::once(("memory", &self.memory)).chain(COUNTS.into_iter().zip(&self.counts));
        let mut changes = Vec::new();
        // Only the kind is compared on every sample; a verdict (its reason) is built on a change.
        for ((resource, d), kind) in detectors.zip(self.kinds.iter_mut()) {
            if d.kind() != *kind {
                let before = std::mem::replace(kind, d.kind());
                changes.push(Change {
                    resource,
                    before,
                    verdict: d.verdict(),
                });
            }
        }
        changes
    }

    /// The memory floor the detector judges: `(t, bytes)` per bucket, oldest first.
    pub fn floor(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.memory.floor()
    }

    /// Whether the memory floor is rising steadily now (before a leak can be called, too).
    pub fn memory_rising(&self) -> bool {
        self.memory.rising()
    }

    /// The run's live verdict: what decides actions while it runs. `limit` is the tightest
    /// known cap on the tree's memory (`--limit`, a cgroup limit); the machine's available
    /// memory is always one.
    pub fn verdict(&self, limit: Option<u64>) -> RunVerdict {
        let limit = self.nearest(limit);
        let memory = self.memory.verdict_with_limit(limit.map(|l| l as f64));
        let counts = self.counts.each_ref().map(Detector::verdict);
        self.combine(memory, counts, limit)
    }

    /// The run's final verdict, once it has ended: each resource's whole recorded floor judged
    /// (a floor that rose significantly and was still rising at the end is a leak, whatever
    /// the run's length).
    pub fn final_verdict(&self, limit: Option<u64>) -> RunVerdict {
        let limit = self.nearest(limit);
        let memory = self.memory.final_verdict(limit.map(|l| l as f64));
        let counts = self.counts.each_ref().map(|d| d.final_verdict(None));
        self.combine(memory, counts, limit)
    }

    /// `limit`, or what the machine has available, whichever is nearer.
    fn nearest(&self, limit: Option<u64>) -> Option<u64> {
        let machine = self
            .last
            .map(|s| self.metric.of(&s) + s.machine.mem_available_bytes);
        match (limit, machine) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The run's verdict from the memory verdict and the counts' verdicts.
    fn combine(&self, memory: Verdict, counts: [Verdict; 3], limit: Option<u64>) -> RunVerdict {
        let resources: BTreeMap<String, ResourceVerdict> = COUNTS
            .iter()
            .zip(&counts)
            .map(|(name, v)| (name.to_string(), resource_verdict(v)))
            .collect();
        let mut leaking: Vec<&str> = Vec::new();
        let mut reasons = Vec::new();
        let memory_leaks = memory.kind == VerdictKind::Leak;
        if memory_leaks {
            leaking.push("memory");
            reasons.push(memory.reason.clone());
        }
        let mut also = Vec::new();
        for (name, d) in COUNTS.into_iter().zip(&self.counts) {
            let r = &resources[name];
            if r.kind == VerdictKind::Leak {
                leaking.push(name);
                if memory_leaks {
                    // The memory reason leads; the counts rising with it are named briefly.
                    also.push(format!(
                        "{name} ({})",
                        d.config().quantity.rate(r.growth_per_s)
                    ));
                } else {
                    reasons.push(format!("{name}: {}", r.reason));
                }
            }
        }
        if !also.is_empty() {
            reasons.push(format!("also rising: {}", also.join(", ")));
        }
        let detected_at_s = std::iter::once(memory.detected_at_s)
            .chain(resources.values().map(|r| r.detected_at_s))
            .flatten()
            .reduce(f64::min);
        let (kind, resource, reason) = if leaking.is_empty() {
            (memory.kind, "memory".to_string(), memory.reason.clone())
        } else {
            if memory.kind != VerdictKind::Leak {
                reasons.push(format!("memory {}: {}", memory.kind, memory.reason));
            }
            (VerdictKind::Leak, leaking.join(", "), reasons.join("; "))
        };
        RunVerdict {
            kind,
            resource,
            metric: self.metric.name().to_string(),
            growth_bytes_per_s: memory.growth_per_s,
            growth_ci_bytes_per_s: [memory.growth_ci_per_s.0, memory.growth_ci_per_s.1],
            detected_at_s,
            time_to_limit_s: memory.time_to_limit_s,
            limit_bytes: limit,
            floor_bytes: self.memory.floor().last().map(|(_, v)| v),
            rising: memory.rising,
            revised_at_s: memory.revised_at_s,
            reason,
            memory_kind: memory.kind,
            resources,
        }
    }
}

/// The verdict on a single series (a trace's column), with no other resources judged.
pub fn series_verdict(v: &Verdict, metric: &str) -> RunVerdict {
    RunVerdict {
        kind: v.kind,
        resource: "memory".to_string(),
        metric: metric.to_string(),
        growth_bytes_per_s: v.growth_per_s,
        growth_ci_bytes_per_s: [v.growth_ci_per_s.0, v.growth_ci_per_s.1],
        detected_at_s: v.detected_at_s,
        time_to_limit_s: v.time_to_limit_s,
        limit_bytes: None,
        floor_bytes: None,
        rising: v.rising,
        revised_at_s: v.revised_at_s,
        reason: v.reason.clone(),
        memory_kind: v.kind,
        resources: BTreeMap::new(),
    }
}

fn resource_verdict(v: &Verdict) -> ResourceVerdict {
    ResourceVerdict {
        kind: v.kind,
        growth_per_s: v.growth_per_s,
        growth_ci_per_s: [v.growth_ci_per_s.0, v.growth_ci_per_s.1],
        detected_at_s: v.detected_at_s,
        rising: v.rising,
        revised_at_s: v.revised_at_s,
        reason: v.reason.clone(),
    }
}

/// One line for an event when a verdict changes: "memory: leak — floor rose …".
pub fn describe(change: &Change) -> String {
    format!(
        "{}: {} — {}",
        change.resource, change.verdict.kind, change.verdict.reason
    )
}
