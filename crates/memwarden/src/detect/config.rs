//! The detector's knobs, each with a documented default the command line can expose.

use super::verdict::Quantity;

/// Thresholds and sizes of the leak detector.
///
/// The defaults suit memory sampled every 10 ms to a few seconds, over runs of ten seconds to
/// weeks. For counts (threads, descriptors, processes) start from
/// [`DetectorConfig::for_count`]. The figures quoted are from the labeled corpus of
/// `bench/evaluate.sh` (bench/results/detector-eval.md: 900 synthetic traces, six real
/// programs whole and cut short, the scenarios' recorded runs).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// What the values are, for the reason text. Default: bytes.
    pub quantity: Quantity,
    /// Seconds from the first sample that are warm-up and never judged. Default 5 s: program
    /// start-up (loading code, first allocations) is not a leak.
    pub warmup_s: f64,
    /// Share of the run so far that is warm-up, when that is longer than `warmup_s`; the
    /// final verdict leaves out as much of a finished run, but never more than a quarter of
    /// it (a 12 s run is judged from 3 s). Default 0.2: a run judged at 10 minutes ignores its
    /// first two, so a slow start-up (a JIT warming, a pool growing to size) is not taken for
    /// a trend. On the corpus 0.1 made the live verdict call nine 6-minute fills (their
    /// start-up no longer hides their first minute), and 0.3 made one more wrong final call
    /// and the live verdict's median latency 8m 37s instead of 7m 25s.
    pub warmup_fraction: f64,
    /// Seconds a steady rise must have lasted (all through a window this long, and still at
    /// its end) before the live verdict calls it a leak; until then it reports the rise
    /// ([`Verdict::rising`](super::Verdict::rising), with its rate and the time left before a
    /// limit). The final verdict does not wait: a floor still rising steadily when the run
    /// ends is a leak, whatever the run's length. A cache that fills at a steady rate looks
    /// exactly like a leak until it is full, so this must outlast the fills that are not to be
    /// called a leak: real ones fill for minutes (Redis with `maxmemory` for 4, a JVM growing
    /// its heap to `-Xmx` for 6). Default 360 s: on the corpus, whose fills last up to 6
    /// minutes, 150 s (the old default) called 30 of them (every one revised later), 300 s 9,
    /// 360 s none; it puts the median latency on leaks of 16 MiB/min and faster at 7m 24s
    /// (1m 08s at 60 s, with 110 wrong calls).
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
    /// Smallest rise of the floor called a leak (or a plateau), as seconds of growth at the
    /// slowest leak rate: the floor's rise over a window (its rate times its length) must be
    /// at least the slowest rate times this. Default 60 s (170 KiB at 10 MiB/h): a small
    /// program's start-up creep is above the slowest rate for seconds (S5's fixed variant:
    /// 42 KiB in 8 s at 5 KiB/s, called a leak without this) but adds nothing that matters.
    /// On the corpus 0–60 s call the same leaks; 90 s missed one of the 21 one-minute
    /// leaks of the target, 180 s two more.
    pub min_rise_s: f64,
    /// Mann–Kendall significance (one-sided p-value) a rising floor must reach, split between
    /// the windows judged at one look. Default 0.001: the live verdict looks again every time
    /// a bucket closes, so each look must be strict; the final verdict, one decision per run,
    /// tests at three times this. On the corpus the final verdict made 4 wrong calls at
    /// 0.003, 1 at 0.001, none at 0.0003 but called 5 leaks fewer.
    pub significance: f64,
    /// How steady a rise must be: the recent half and the last quarter of a window must rise
    /// at least this share of its slope, and the recent half at least this share of the early
    /// half (one step, a fill that stopped, or growth dying out fail; a line, a staircase and
    /// growth that speeds up pass). For a live call the early half must also rise this share
    /// of the recent one (the rise has lasted the whole window). Default 0.5: 0.4 made one
    /// more wrong final call, 0.6 called 4 leaks fewer.
    pub min_half_ratio: f64,
    /// Width of a floor bucket at the start, seconds. Default 1 s; buckets double in width as
    /// the run grows, so the floor always has `max_buckets / 2 ..= max_buckets` points. On the
    /// corpus 0.5 s made one more wrong final call, 2 s called 17 leaks fewer (short runs
    /// have half the points).
    pub bucket_s: f64,
    /// Most floor buckets kept. Default 128: memory and the cost of a look are bounded by
    /// this, whatever the length of the run (a look at the whole floor costs about 20 µs).
    /// 64 made one more wrong final call and the live verdict's p90 latency 12m 46s instead
    /// of 9m 33s.
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
            min_rise_s: 60.0,
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
