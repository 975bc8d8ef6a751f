//! The detector's knobs, each with a documented default the command line can expose.

use super::verdict::Quantity;

/// Thresholds and sizes of the leak detector.
///
/// The defaults suit memory sampled every 10 ms to a few seconds, over runs of half a minute
/// to weeks. For counts (threads, descriptors, processes) start from
/// [`DetectorConfig::for_count`].
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// What the values are, for the reason text. Default: bytes.
    pub quantity: Quantity,
    /// Seconds from the first sample that are warm-up and never judged. Default 5 s: program
    /// start-up (loading code, first allocations) is not a leak.
    pub warmup_s: f64,
    /// Share of the run so far that is warm-up, when that is longer than `warmup_s`.
    /// Default 0.2: a run judged at 10 minutes ignores its first two, so a slow start-up
    /// (a JIT warming, a pool growing to size) is not taken for a trend.
    pub warmup_fraction: f64,
    /// Seconds a steady rise must have lasted before the live verdict calls it a leak; until
    /// then the live verdict reports it as rising, with its rate and the time it leaves
    /// before a limit. The final verdict does not wait: a floor still rising steadily when the
    /// run ends is a leak, whatever the run's length. A cache that fills at a steady rate
    /// looks exactly like a leak until it is full, so this must outlast the fills that are not
    /// to be called a leak, plus the time to see one stop. TUNED BELOW.
    pub min_span_s: f64,
    /// Seconds of observation after warm-up before the live verdict says anything (stable,
    /// plateau, rising). Default 10 s.
    pub first_look_s: f64,
    /// Floor points needed to judge a trend. Default 8: the fewest with which Mann–Kendall
    /// can reach p < 0.001.
    pub min_points: usize,
    /// Slowest growth called a leak, in units per second. Default 10 MiB/h (≈ 2.8 KiB/s):
    /// below this, allocator and interpreter creep after start-up (measured: a Python HTTP
    /// server creeps ≈ 1.3 KiB/s for a minute, then stops) cannot be told from a leak in
    /// minutes, and a leak this slow takes days to hurt.
    pub min_rate_per_s: f64,
    /// Slowest growth called a leak relative to the current floor, as a fraction per hour.
    /// Default 0.02 (2 %/h, doubling in about two days): big processes drift that much without
    /// leaking (fragmentation, caches at the margin).
    pub min_relative_rate_per_h: f64,
    /// Mann–Kendall significance (one-sided p-value) a rising floor must reach. Default 0.001,
    /// split between the windows judged at one look: the live verdict looks again every time
    /// a bucket closes, so each look must be strict.
    pub significance: f64,
    /// Each half of the judged window must rise at least this share of the whole window's
    /// slope to call a leak (one step, or growth that only started lately, rises in one half
    /// only); and a recent half slower than this share of the early half is a plateau forming.
    /// Default 0.5.
    pub min_half_ratio: f64,
    /// Width of a floor bucket at the start, seconds. Default 1 s; buckets double in width as
    /// the run grows, so the floor always has `max_buckets / 2 ..= max_buckets` points. On the
    /// corpus 0.5 s made 3 more wrong calls and no call sooner, 2 s changed nothing.
    pub bucket_s: f64,
    /// Most floor buckets kept. Default 128: memory and the cost of a verdict are bounded by
    /// this, whatever the length of the run.
    pub max_buckets: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            quantity: Quantity::Bytes,
            warmup_s: 5.0,
            warmup_fraction: 0.2,
            min_span_s: 360.0,
            first_look_s: 10.0,
            min_points: 8,
            min_rate_per_s: 10.0 * 1024.0 * 1024.0 / 3600.0,
            min_relative_rate_per_h: 0.02,
            significance: 0.001,
            min_half_ratio: 0.5,
            bucket_s: 1.0,
            max_buckets: 128,
        }
    }
}

impl DetectorConfig {
    /// Defaults for a count (threads, descriptors, processes) named by the plural `noun`:
    /// the slowest leak is one more every ten minutes (6/h); the rest as for bytes.
    pub fn for_count(noun: &'static str) -> Self {
        DetectorConfig {
            quantity: Quantity::Count(noun),
            min_rate_per_s: 1.0 / 600.0,
            ..DetectorConfig::default()
        }
    }

    /// The slowest growth called a leak at the floor level `level`, units per second.
    pub(crate) fn threshold_at(&self, level: f64) -> f64 {
        let relative = self.min_relative_rate_per_h / 3600.0 * level.abs();
        self.min_rate_per_s.max(relative)
    }
}
