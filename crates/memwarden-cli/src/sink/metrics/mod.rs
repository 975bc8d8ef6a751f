//! The Prometheus endpoint: what memwarden knows of each tree it watches — memory by kind,
//! the floor, its growth and interval, the time to the limit, the thresholds, threads,
//! descriptors, processes, the verdict, and events as counters — served at `/metrics` in the
//! Prometheus text format, with memwarden's own `process_*` figures.
//!
//! The loop only stores numbers into atomics ([`TreeMetrics`] is a [`Sink`]); the HTTP
//! thread ([`server`]) encodes them when scraped, so a scrape never waits for a sample and a
//! sample never waits for a scrape.

mod process;
pub mod rules;
pub mod server;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use memwarden::detect::VerdictKind;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Sink;
use crate::record::{Record, RunVerdict};

type FloatGauge = Gauge<f64, AtomicU64>;

/// Which tree a series is about: the run's label, and the tree (`run`, `watch`, or a group
/// of `top`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TreeLabels {
    /// The run's label.
    pub label: String,
    /// The tree: `run`, `watch`, or the group's name in `top`.
    pub tree: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    label: String,
    tree: String,
    kind: String,
}

impl KindLabels {
    fn of(tree: &TreeLabels, kind: &str) -> Self {
        KindLabels {
            label: tree.label.clone(),
            tree: tree.tree.clone(),
            kind: kind.to_string(),
        }
    }
}

/// Every series family, shared by the sinks that fill them and the server that reads them.
#[derive(Debug, Default)]
struct Families {
    memory: Family<KindLabels, FloatGauge>,
    floor: Family<TreeLabels, FloatGauge>,
    growth: Family<TreeLabels, FloatGauge>,
    growth_bound: Family<KindLabels, FloatGauge>,
    time_to_limit: Family<TreeLabels, FloatGauge>,
    threshold: Family<KindLabels, FloatGauge>,
    threads: Family<TreeLabels, FloatGauge>,
    fds: Family<TreeLabels, FloatGauge>,
    processes: Family<TreeLabels, FloatGauge>,
    verdict: Family<KindLabels, FloatGauge>,
    events: Family<KindLabels, Counter>,
    samples: Family<TreeLabels, Counter>,
}

/// The metric names, for `memwarden rules` and the README.
pub const NAMES: [&str; 12] = [
    "memwarden_tree_memory_bytes",
    "memwarden_tree_floor_bytes",
    "memwarden_tree_growth_bytes_per_second",
    "memwarden_tree_growth_bound_bytes_per_second",
    "memwarden_tree_time_to_limit_seconds",
    "memwarden_tree_threshold_bytes",
    "memwarden_tree_threads",
    "memwarden_tree_fds",
    "memwarden_tree_processes",
    "memwarden_tree_verdict",
    "memwarden_events",
    "memwarden_samples",
];

impl Families {
    fn register(self: &Arc<Self>, registry: &mut Registry) {
        let f = self;
        registry.register(
            NAMES[0],
            "The tree's memory by kind (anon, rss, pss, cgroup)",
            f.memory.clone(),
        );
        registry.register(
            NAMES[1],
            "The memory floor the leak detector judges (the lowest of its latest bucket)",
            f.floor.clone(),
        );
        registry.register(
            NAMES[2],
            "Growth of the memory floor (Theil-Sen slope)",
            f.growth.clone(),
        );
        registry.register(
            NAMES[3],
            "95% interval of the floor's growth (bound: low, high)",
            f.growth_bound.clone(),
        );
        registry.register(NAMES[4], "Seconds until the floor, at its rate, reaches the nearest limit (absent when it does not rise)", f.time_to_limit.clone());
        registry.register(
            NAMES[5],
            "The tree's thresholds (kind: limit, warn)",
            f.threshold.clone(),
        );
        registry.register(NAMES[6], "Threads summed over the tree", f.threads.clone());
        registry.register(
            NAMES[7],
            "Open descriptors summed over the tree",
            f.fds.clone(),
        );
        registry.register(NAMES[8], "Live processes of the tree", f.processes.clone());
        registry.register(NAMES[9], "The leak verdict: 1 for the current kind (leak, stable, plateau, inconclusive), 0 for the others", f.verdict.clone());
        registry.register(
            NAMES[10],
            "Events by kind (warn, leak, limit, oom-kill, action, stop...)",
            f.events.clone(),
        );
        registry.register(NAMES[11], "Samples taken", f.samples.clone());
    }
}

/// The registry behind one endpoint, with memwarden's own process figures.
#[derive(Debug, Clone)]
pub struct Exporter {
    registry: Arc<Registry>,
    families: Arc<Families>,
}

impl Default for Exporter {
    fn default() -> Self {
        let families = Arc::new(Families::default());
        let mut registry = Registry::default();
        families.register(&mut registry);
        registry.register_collector(Box::new(process::OwnProcess));
        Exporter {
            registry: Arc::new(registry),
            families,
        }
    }
}

impl Exporter {
    /// The series of one tree. The counters of events that alerts watch start at 0, so a
    /// first `limit` or `oom-kill` is an increase Prometheus can see.
    pub fn tree(&self, labels: TreeLabels) -> TreeMetrics {
        for kind in PRESET_EVENTS {
            let _ = self
                .families
                .events
                .get_or_create(&KindLabels::of(&labels, kind));
        }
        TreeMetrics {
            families: Arc::clone(&self.families),
            labels,
            verdict: None,
            events: PRESET_EVENTS.map(String::from).to_vec(),
        }
    }

    /// Every series now, in the Prometheus text format (version 0.0.4).
    pub fn scrape(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// The events whose counters exist from the start (alerts watch their increase).
const PRESET_EVENTS: [&str; 4] = ["leak", "limit", "oom-kill", "warn"];

/// One tree's series; fed as a sink.
#[derive(Debug)]
pub struct TreeMetrics {
    families: Arc<Families>,
    labels: TreeLabels,
    verdict: Option<VerdictKind>,
    /// The event kinds counted so far, so [`forget`](TreeMetrics::forget) finds them all.
    events: Vec<String>,
}

const KINDS: [VerdictKind; 4] = [
    VerdictKind::Leak,
    VerdictKind::Stable,
    VerdictKind::Plateau,
    VerdictKind::Inconclusive,
];

impl TreeMetrics {
    fn gauge(&self, family: &Family<TreeLabels, FloatGauge>, value: f64) {
        family.get_or_create(&self.labels).set(value);
    }

    fn kind_gauge(&self, family: &Family<KindLabels, FloatGauge>, kind: &str, value: f64) {
        family
            .get_or_create(&KindLabels::of(&self.labels, kind))
            .set(value);
    }

    fn verdict(&mut self, v: &RunVerdict) {
        let f = &self.families;
        if self.verdict != Some(v.kind) {
            self.verdict = Some(v.kind);
            for kind in KINDS {
                let on = if kind == v.kind { 1.0 } else { 0.0 };
                self.kind_gauge(&f.verdict, kind.as_str(), on);
            }
        }
        if let Some(floor) = v.floor_bytes {
            self.gauge(&f.floor, floor);
        }
        if v.growth_measured() {
            self.gauge(&f.growth, v.growth_bytes_per_s);
            let [lo, hi] = v.growth_ci_bytes_per_s;
            self.kind_gauge(&f.growth_bound, "low", lo);
            self.kind_gauge(&f.growth_bound, "high", hi);
        }
        match v.time_to_limit_s {
            Some(t) => self.gauge(&f.time_to_limit, t),
            // No projection: no series, so an alert on it cannot fire on a stale value.
            None => {
                f.time_to_limit.remove(&self.labels);
            }
        }
    }

    /// Removes every series of the tree (a group of `top` that has gone), so a scrape no
    /// longer carries it.
    pub fn forget(self) {
        let f = &self.families;
        for family in [
            &f.floor,
            &f.growth,
            &f.time_to_limit,
            &f.threads,
            &f.fds,
            &f.processes,
        ] {
            family.remove(&self.labels);
        }
        f.samples.remove(&self.labels);
        let kinds = [
            (&f.memory, &["anon", "rss", "pss", "cgroup"][..]),
            (&f.growth_bound, &["low", "high"]),
            (&f.threshold, &["limit", "warn"]),
            (&f.verdict, &KINDS.map(VerdictKind::as_str)),
        ];
        for (family, names) in kinds {
            for kind in names {
                family.remove(&KindLabels::of(&self.labels, kind));
            }
        }
        for kind in &self.events {
            f.events.remove(&KindLabels::of(&self.labels, kind));
        }
    }

    /// Sets the tree's thresholds (`limit`, `warn`), bytes.
    pub fn thresholds(&self, limit: Option<u64>, warn: Option<u64>) {
        for (kind, bytes) in [("limit", limit), ("warn", warn)] {
            if let Some(b) = bytes {
                self.kind_gauge(&self.families.threshold, kind, b as f64);
            }
        }
    }
}

/// One tree's series with the endpoint that serves them, for `run` and `watch`: the endpoint
/// lives as long as the session's sinks.
pub struct Served {
    /// The tree's series.
    pub tree: TreeMetrics,
    /// The endpoint, kept open while the sinks live.
    pub _endpoint: server::Endpoint,
}

impl Sink for Served {
    fn accept(&mut self, record: &Record) {
        self.tree.accept(record);
    }
}

impl Sink for TreeMetrics {
    fn accept(&mut self, record: &Record) {
        let f = Arc::clone(&self.families);
        match record {
            Record::Sample(s) => {
                f.samples.get_or_create(&self.labels).inc();
                let t = &s.tree;
                self.kind_gauge(&f.memory, "anon", t.anon_bytes as f64);
                self.kind_gauge(&f.memory, "rss", t.rss_bytes as f64);
                if let Some(pss) = t.pss_bytes {
                    self.kind_gauge(&f.memory, "pss", pss as f64);
                }
                if let Some(cg) = s.cgroup_bytes {
                    self.kind_gauge(&f.memory, "cgroup", cg as f64);
                }
                self.gauge(&f.threads, t.threads as f64);
                self.gauge(&f.fds, t.fds as f64);
                self.gauge(&f.processes, f64::from(t.processes));
            }
            Record::Verdict(v) => self.verdict(v),
            Record::Event(e) => {
                let kind = e.kind.as_str();
                if !self.events.iter().any(|k| k == kind) {
                    self.events.push(kind.to_string());
                }
                f.events
                    .get_or_create(&KindLabels::of(&self.labels, kind))
                    .inc();
            }
            Record::End(end) => {
                if let Some(v) = &end.verdict {
                    self.verdict(v);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Event, EventKind};
    use memwarden::sample::{Sample, TreeTotals};

    #[test]
    fn a_scrape_carries_the_tree_the_verdict_and_memwardens_own_figures() {
        let exporter = Exporter::default();
        let mut tree = exporter.tree(TreeLabels {
            label: "s1 \"leaky\"".into(),
            tree: "run".into(),
        });
        tree.thresholds(Some(1 << 30), None);
        tree.accept(&Record::Sample(Sample {
            t: 1.0,
            tree: TreeTotals {
                anon_bytes: 300 << 20,
                rss_bytes: 400 << 20,
                threads: 12,
                fds: 30,
                processes: 5,
                ..TreeTotals::default()
            },
            ..Sample::default()
        }));
        tree.accept(&Record::Verdict(RunVerdict {
            kind: VerdictKind::Leak,
            memory_kind: VerdictKind::Leak,
            growth_bytes_per_s: 1000.0,
            growth_ci_bytes_per_s: [900.0, 1100.0],
            time_to_limit_s: Some(60.0),
            floor_bytes: Some(290.0 * 1048576.0),
            ..RunVerdict::default()
        }));
        tree.accept(&Record::Event(Event::new(1.0, EventKind::Warn, "x")));
        let text = exporter.scrape();
        let labels = r#"label="s1 \"leaky\"",tree="run""#;
        for line in [
            format!("memwarden_tree_memory_bytes{{{labels},kind=\"anon\"}} 314572800.0"),
            format!("memwarden_tree_verdict{{{labels},kind=\"leak\"}} 1.0"),
            format!("memwarden_tree_verdict{{{labels},kind=\"stable\"}} 0.0"),
            format!("memwarden_tree_time_to_limit_seconds{{{labels}}} 60.0"),
            format!("memwarden_tree_threshold_bytes{{{labels},kind=\"limit\"}} 1073741824.0"),
            format!("memwarden_events_total{{{labels},kind=\"warn\"}} 1"),
            format!("memwarden_samples_total{{{labels}}} 1"),
        ] {
            assert!(text.contains(&line), "missing {line} in\n{text}");
        }
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        // No projection any more: the series goes.
        tree.accept(&Record::Verdict(RunVerdict::default()));
        assert!(!exporter
            .scrape()
            .contains("memwarden_tree_time_to_limit_seconds{"));
        // A tree forgotten (a group of `top` that has gone) leaves no series behind.
        let other = exporter.tree(TreeLabels {
            label: "other".into(),
            tree: "command".into(),
        });
        tree.forget();
        let text = exporter.scrape();
        assert!(!text.contains("leaky"), "{text}");
        assert!(text.contains(r#"label="other""#), "{text}");
        drop(other);
    }
}
