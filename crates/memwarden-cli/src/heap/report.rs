//! The `heap` part of a run's report: the call sites ranked (leaks first, by growth), each
//! with its stack in words, live and allocated bytes, growth and verdict, and its curve.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use memwarden::detect::VerdictKind;

use super::profile::{CodeRef, Profile};
use super::symbols::Frame;
use crate::store::{heap::StoredSite, Store};

/// Sites kept in a report: the ranking's head is what a reader acts on.
pub const TOP_SITES: usize = 20;

/// Most points of a site's curve kept in the report (the floor the verdict judged).
const CURVE_POINTS: usize = 128;

/// Call-site attribution of a run (JSON `heap`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HeapReport {
    /// Mean bytes between samples.
    pub sample_interval_bytes: u64,
    /// Processes (program images) that reported samples.
    pub processes: u64,
    /// Samples received.
    pub samples: u64,
    /// Samples the processes could not track (a live set was full).
    pub dropped_samples: u64,
    /// Distinct call sites seen.
    pub sites_seen: usize,
    /// Why attribution may be missing for part of the tree (static binaries, setuid
    /// programs, programs with their own allocator).
    pub notes: Vec<String>,
    /// The top call sites, leaks first, then by growth and live bytes.
    pub sites: Vec<HeapSite>,
}

/// One call site.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HeapSite {
    /// 1 for the first.
    pub rank: usize,
    /// The function that asked for the memory: the innermost frame of the program's own code
    /// (else the innermost that is not allocator or runtime plumbing).
    pub function: String,
    /// Its `file:line`, when known.
    pub location: Option<String>,
    /// Estimated bytes allocated here and live at the last snapshot.
    pub live_bytes: u64,
    /// Highest estimated live bytes at a snapshot.
    pub peak_live_bytes: u64,
    /// Estimated bytes allocated here over the run.
    pub allocated_bytes: u64,
    /// Samples taken here.
    pub samples: u64,
    /// The detector's final verdict on this site's live bytes (the whole run judged).
    pub verdict: SiteVerdict,
    /// The stack, innermost first (inlined calls expanded).
    pub frames: Vec<SiteFrame>,
    /// The live-bytes floor the verdict judged, `[t_seconds, bytes]`.
    pub series: Vec<(f64, u64)>,
}

/// A site's verdict (the same fields as the tree's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SiteVerdict {
    /// `leak`, `stable`, `plateau` or `inconclusive`.
    pub kind: String,
    /// Growth of the live-bytes floor, bytes per second.
    pub growth_bytes_per_s: f64,
    /// Its 95 % confidence interval.
    pub growth_ci_bytes_per_s: (f64, f64),
    /// When a leak was called, seconds into the run.
    pub detected_at_s: Option<f64>,
    /// The reason in words.
    pub reason: String,
}

/// One frame (JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SiteFrame {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub object: String,
}

impl From<&Frame> for SiteFrame {
    fn from(f: &Frame) -> Self {
        SiteFrame {
            function: f.function.clone(),
            file: f.file.clone(),
            line: f.line,
            object: f.object.clone(),
        }
    }
}

impl HeapReport {
    /// Ranks and names the sites of `profile`.
    pub fn from_profile(profile: &mut Profile, notes: Vec<String>) -> Self {
        let mut order: Vec<usize> = (0..profile.sites.len()).collect();
        // The run has ended: each site's whole floor is judged, as the tree's is.
        let verdicts: Vec<_> = profile
            .sites
            .iter()
            .map(|s| s.detector.final_verdict(None))
            .collect();
        let key = |i: usize| {
            let v = &verdicts[i];
            (
                v.kind == VerdictKind::Leak,
                v.growth_per_s,
                profile.sites[i].last_live,
            )
        };
        order.sort_by(|&a, &b| {
            key(b)
                .partial_cmp(&key(a))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        order.truncate(TOP_SITES);
        let mut sites = Vec::with_capacity(order.len());
        for (rank, &i) in order.iter().enumerate() {
            let s = &profile.sites[i];
            let stack: Vec<CodeRef> = s.inner.iter().chain(&s.stack).copied().collect();
            let frames = profile.namer.stack(&profile.objects, &stack);
            let asker = frames
                .iter()
                .find(|f| f.is_own_code())
                .or_else(|| frames.iter().find(|f| !f.is_plumbing()))
                .or(frames.first());
            let v = &verdicts[i];
            sites.push(HeapSite {
                rank: rank + 1,
                function: match asker {
                    Some(f) => f.name(),
                    None => "(other sites)".to_string(),
                },
                location: asker.and_then(|f| Some(format!("{}:{}", f.file.as_deref()?, f.line?))),
                live_bytes: s.last_live.round() as u64,
                peak_live_bytes: s.peak_live.round() as u64,
                allocated_bytes: s.allocated.round() as u64,
                samples: s.samples,
                verdict: SiteVerdict {
                    kind: v.kind.as_str().to_string(),
                    growth_bytes_per_s: v.growth_per_s,
                    growth_ci_bytes_per_s: v.growth_ci_per_s,
                    detected_at_s: v.detected_at_s,
                    reason: v.reason.clone(),
                },
                frames: frames.iter().map(SiteFrame::from).collect(),
                series: curve(s.detector.floor()),
            });
        }
        HeapReport {
            sample_interval_bytes: profile.sample_bytes,
            processes: profile.processes,
            samples: profile.samples,
            dropped_samples: profile.dropped,
            sites_seen: profile.sites.len(),
            notes,
            sites,
        }
    }
}

fn curve(points: impl Iterator<Item = (f64, f64)>) -> Vec<(f64, u64)> {
    let all: Vec<_> = points.collect();
    let step = all.len().div_ceil(CURVE_POINTS).max(1);
    all.iter()
        .step_by(step)
        .map(|&(t, v)| ((t * 1000.0).round() / 1000.0, v.max(0.0).round() as u64))
        .collect()
}

impl HeapReport {
    /// Records this report for run `id`.
    pub fn save(&self, store: &mut Store, id: i64) -> Result<()> {
        let header = HeapReport {
            sites: Vec::new(),
            ..self.clone()
        };
        let sites = self
            .sites
            .iter()
            .map(|s| {
                Ok(StoredSite {
                    rank: s.rank,
                    function: s.function.clone(),
                    location: s.location.clone(),
                    live_bytes: s.live_bytes,
                    allocated_bytes: s.allocated_bytes,
                    growth_bytes_per_s: s.verdict.growth_bytes_per_s,
                    verdict: s.verdict.kind.clone(),
                    json: serde_json::to_string(s)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        store.save_heap(id, &serde_json::to_string(&header)?, &sites)
    }

    /// The report recorded for run `id`, if it was run with `--heap`.
    pub fn load(store: &Store, id: i64) -> Result<Option<HeapReport>> {
        let Some((header, sites)) = store.heap(id)? else {
            return Ok(None);
        };
        let mut report: HeapReport =
            serde_json::from_str(&header).context("the stored heap report is unreadable")?;
        for s in sites {
            report
                .sites
                .push(serde_json::from_str(&s).context("a stored heap site is unreadable")?);
        }
        Ok(Some(report))
    }
}
