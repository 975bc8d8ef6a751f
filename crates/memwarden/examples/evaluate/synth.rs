//! A seeded generator of labeled memory traces: leaks, plateaus, steps, sawtooths, with a start-up
//! ramp, noise, and a known leak start. Shared by the evaluation and the integration tests.

#![allow(dead_code)] // each user takes a different part

/// A small, fast, seedable PRNG (SplitMix64): reproducible corpora without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed; equal seeds give equal streams.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// The shapes of the corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    /// Steady growth from the leak start.
    Line,
    /// Flat for 30-70 % of the trace, then steady growth (a long-running service that starts
    /// leaking: a new traffic pattern, a config change).
    LateLine,
    /// Equal steps at a regular period from the leak start.
    Staircase,
    /// A GC sawtooth whose floor rises.
    SawRising,
    /// A GC sawtooth with a flat floor.
    SawFlat,
    /// Growth that slows and stops (exponential approach: a cache of random keys filling).
    Plateau,
    /// Steady growth for 15-120 s, then flat, sometimes under a GC sawtooth (a cache of new
    /// keys filling to its capacity, or a TTL cache filling until its first entries expire):
    /// a leak in every respect until it stops.
    Fill,
    /// One step up, then flat.
    Step,
    /// Flat with noise only.
    Noise,
}

impl Shape {
    /// Every shape.
    pub const ALL: [Shape; 9] = [
        Shape::Line,
        Shape::LateLine,
        Shape::Staircase,
        Shape::SawRising,
        Shape::SawFlat,
        Shape::Plateau,
        Shape::Fill,
        Shape::Step,
        Shape::Noise,
    ];

    /// Whether the shape is a leak.
    pub fn leaks(self) -> bool {
        matches!(
            self,
            Shape::Line | Shape::LateLine | Shape::Staircase | Shape::SawRising
        )
    }

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Line => "line",
            Shape::LateLine => "line after a flat stretch",
            Shape::Staircase => "staircase",
            Shape::SawRising => "sawtooth, rising floor",
            Shape::SawFlat => "sawtooth, flat floor",
            Shape::Plateau => "plateau (slowing fill)",
            Shape::Fill => "fill at a steady rate, then flat",
            Shape::Step => "step",
            Shape::Noise => "noise",
        }
    }
}

/// How one synthetic trace is made.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The shape.
    pub shape: Shape,
    /// Seconds between samples.
    pub interval: f64,
    /// Seconds of trace.
    pub duration: f64,
    /// Steady level after start-up, bytes.
    pub base: f64,
    /// Leak rate for leaking shapes, bytes/s (ignored by the others).
    pub rate: f64,
    /// Standard deviation of the noise, bytes.
    pub noise: f64,
    /// Share of the noise that wanders slowly (AR(1), ~10 s memory) instead of being
    /// independent per sample: memory that drifts with load.
    pub wander: f64,
    /// Whether the trace starts with the program's start-up (a `run`), or with the program
    /// already at its level (a `watch` of a running process).
    pub startup: bool,
    /// Seed of the randomness (phases, step times, noise).
    pub seed: u64,
}

/// A labeled trace.
#[derive(Debug, Clone)]
pub struct Labeled {
    /// A name for tables.
    pub name: String,
    /// Group for per-shape tables.
    pub group: String,
    /// `(seconds, bytes)`.
    pub points: Vec<(f64, f64)>,
    /// Whether the trace leaks: its floor rises to the end (a fill still filling when the
    /// trace ends is one, as nothing in the trace tells it will stop). The live verdict's
    /// label: a call on any other trace is wrong, even if it is later revised.
    pub leak: bool,
    /// When the leak (or the rise that lasts to the end) starts, seconds, for latency.
    pub leak_start: f64,
    /// Leak rate, bytes/s (0 for a trace that does not leak, NaN when unknown).
    pub rate: f64,
    /// The final verdict's label: `Some(leak)`, or `None` when either answer is right (a fill
    /// that stopped too near the end for its flat tail to be seen).
    pub final_leak: Option<bool>,
    /// Standard deviation of the noise, bytes (NaN when unknown).
    pub noise: f64,
    /// How much the start-up ramp still rises over the trace's second half, bytes: a start-up
    /// still settling at the end hides a leak as noise does.
    pub settling: f64,
    /// How much the leak raised the floor by the end of the trace, bytes (0 for a trace that
    /// does not leak, NaN when unknown).
    pub rise: f64,
    /// Seconds from the first to the last sample.
    pub duration: f64,
    /// Seconds between samples.
    pub interval: f64,
    /// Period of the sawtooth over the floor, seconds (0 without one).
    pub period: f64,
    /// The parameter that makes this trace hard, for finer tables: `fill 90s`, `period 40s`.
    pub detail: String,
}

/// A fill's flat tail must last this share of the trace for the final verdict to see it (it
/// judges the run after the first fifth, and looks for a flat last quarter of that).
pub const SEEN_TAIL_SHARE: f64 = 0.25;

const MIB: f64 = 1024.0 * 1024.0;

/// Builds the trace `spec` describes.
pub fn generate(spec: &Spec) -> Labeled {
    let mut rng = Rng::new(spec.seed);
    let b = spec.base;
    // Start-up: from a tenth of the base towards it with a 2-12 s time constant (a slow one is
    // a JIT warming or a pool growing to size: 95 % after half a minute).
    let warm_tau = rng.range(2.0, 12.0);
    let leak_at = match spec.shape {
        Shape::LateLine => rng.range(0.3, 0.7) * spec.duration,
        _ => rng.range(5.0, 30.0),
    };
    let periods: &[f64] = match spec.shape {
        // At least five steps in the trace.
        Shape::Staircase if spec.duration < 600.0 => &[20.0],
        Shape::Staircase if spec.duration < 1200.0 => &[20.0, 60.0],
        Shape::Staircase => &[20.0, 60.0, 120.0],
        Shape::SawRising | Shape::SawFlat => &[3.0, 10.0, 30.0, 60.0],
        Shape::Fill => &[3.0, 10.0, 30.0],
        _ => &[0.0],
    };
    let period = *pick(&mut rng, periods);
    let amplitude = match spec.shape {
        // A fill under a GC: teeth smaller than the fill, half the time.
        Shape::Fill if rng.uniform() < 0.5 => 0.0,
        Shape::Fill => rng.range(0.1, 0.3) * b,
        _ => rng.range(0.2, 0.6) * b,
    };
    let phase = rng.uniform() * period;
    let plateau_tau = *pick(&mut rng, &[5.0, 10.0, 20.0, 40.0]);
    let fill_s = *pick(&mut rng, FILLS);
    let plateau_height = rng.range(0.2, 1.0) * b;
    let step_at = rng.range(0.2, 0.8) * spec.duration;
    let step_height = rng.range(0.1, 0.5) * b;
    let rate = if spec.shape.leaks() { spec.rate } else { 0.0 };
    let leak_start = match spec.shape {
        Shape::Staircase => leak_at + period,
        _ => leak_at,
    };
    let saw = |t: f64| {
        if period > 0.0 && amplitude > 0.0 {
            amplitude * ((t + phase) / period).fract()
        } else {
            0.0
        }
    };

    let n = (spec.duration / spec.interval).round() as usize + 1;
    let mut points = Vec::with_capacity(n);
    let iid_sd = spec.noise * (1.0 - spec.wander * spec.wander).max(0.0).sqrt();
    let wander_sd = spec.noise * spec.wander;
    let rho = (-spec.interval / 10.0f64).exp();
    let mut ar = wander_sd * rng.normal();
    for i in 0..n {
        let t = i as f64 * spec.interval;
        let warm = if spec.startup {
            b * (0.1 + 0.9 * (1.0 - (-t / warm_tau).exp()))
        } else {
            b
        };
        let since = (t - leak_at).max(0.0);
        let shape = match spec.shape {
            Shape::Line | Shape::LateLine => rate * since,
            Shape::Staircase => {
                if t < leak_at {
                    0.0
                } else {
                    rate * period * ((t - leak_at) / period).floor()
                }
            }
            Shape::SawRising | Shape::SawFlat => rate * since + saw(t),
            Shape::Plateau => plateau_height * (1.0 - (-since / plateau_tau).exp()),
            Shape::Fill => plateau_height * (since / fill_s).min(1.0) + saw(t),
            Shape::Step => {
                if t >= step_at {
                    step_height
                } else {
                    0.0
                }
            }
            Shape::Noise => 0.0,
        };
        ar = rho * ar + wander_sd * (1.0 - rho * rho).sqrt() * rng.normal();
        let noise = iid_sd * rng.normal() + ar;
        // Memory is counted in pages.
        let v = ((warm + shape + noise).max(4096.0) / 4096.0).round() * 4096.0;
        points.push((t, v));
    }
    let detail = match spec.shape {
        Shape::Staircase => format!("a step every {period:.0}s"),
        Shape::SawRising | Shape::SawFlat => format!("period {period:.0}s"),
        Shape::Plateau => format!("time constant {plateau_tau:.0}s"),
        Shape::Fill if amplitude > 0.0 => format!("fills {fill_s:.0}s, under a sawtooth"),
        Shape::Fill => format!("fills {fill_s:.0}s"),
        _ => String::new(),
    };
    let duration = (n - 1) as f64 * spec.interval;
    // A fill still filling when the trace ends is a leak to anyone reading the trace.
    let tail = duration - (leak_at + fill_s);
    let filling = spec.shape == Shape::Fill && tail <= 0.0;
    let leak = spec.shape.leaks() || filling;
    let rise = match spec.shape {
        _ if filling => plateau_height * (duration - leak_at) / fill_s,
        Shape::Staircase => rate * period * ((duration - leak_at) / period).floor(),
        _ => rate * (duration - leak_start).max(0.0),
    };
    // A slowing fill has levelled (to 95 %) three time constants after it began.
    let levelled_tail = duration - (leak_at + 3.0 * plateau_tau);
    let final_leak = match spec.shape {
        Shape::Fill if !filling && tail < SEEN_TAIL_SHARE * duration => None,
        Shape::Plateau if levelled_tail < SEEN_TAIL_SHARE * duration => None,
        // One tooth's ramp across the judged run (its last four fifths) is a rise to its end.
        Shape::SawFlat if period > 0.4 * duration => None,
        _ => Some(leak),
    };
    Labeled {
        name: format!(
            "{}{}{} {}@{}s {:.0}s noise {}{}{}",
            spec.shape.name(),
            if detail.is_empty() { "" } else { ", " },
            detail,
            fmt_rate(rate),
            spec.interval,
            spec.duration,
            fmt_size(spec.noise),
            if spec.wander > 0.0 { " wandering" } else { "" },
            if spec.startup { " +startup" } else { "" }
        ),
        group: spec.shape.name().to_string(),
        points,
        leak,
        leak_start: if filling { leak_at } else { leak_start },
        rate: if filling {
            plateau_height / fill_s
        } else {
            rate
        },
        final_leak,
        noise: spec.noise,
        settling: if spec.startup {
            0.9 * b * ((-duration / 2.0 / warm_tau).exp() - (-duration / warm_tau).exp())
        } else {
            0.0
        },
        rise,
        duration,
        interval: spec.interval,
        period: if amplitude > 0.0 { period } else { 0.0 },
        detail,
    }
}

/// How long the fills at a steady rate last, seconds: from a quarter of a minute to the six
/// minutes a JVM's cache and heap took to grow to `-Xmx` (Redis filled for four, in the real
/// corpus).
pub const FILLS: &[f64] = &[15.0, 30.0, 60.0, 90.0, 120.0, 240.0, 360.0];

fn pick<'a, T>(rng: &mut Rng, xs: &'a [T]) -> &'a T {
    &xs[(rng.next_u64() % xs.len() as u64) as usize]
}

fn fmt_size(b: f64) -> String {
    if b >= MIB {
        format!("{:.0}MiB", b / MIB)
    } else {
        format!("{:.0}KiB", b / 1024.0)
    }
}

fn fmt_rate(r: f64) -> String {
    if r == 0.0 {
        String::new()
    } else {
        format!("{} ", memwarden::units::format_rate(r))
    }
}

/// Leak rates of the corpus, bytes/s: from below the detector's default minimum (10 MiB/h)
/// to the growth S4's incident saw (158 MB/min).
pub const RATES: [f64; 5] = [
    4.0 * MIB / 3600.0,
    16.0 * MIB / 3600.0,
    96.0 * MIB / 3600.0,
    16.0 * MIB / 60.0,
    158e6 / 60.0,
];

/// The labeled corpus of the evaluation: every shape at several rates, noise levels,
/// intervals and lengths, each with its own seed.
pub fn corpus(seed: u64) -> Vec<Labeled> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let noises = [(16.0 * 1024.0, 0.0), (1.0 * MIB, 0.0), (4.0 * MIB, 0.5)];
    // (interval, duration): a minute at the CLI's default interval, `memwarden run` in CI
    // (200 ms, two minutes), and longer runs.
    let runs = [
        (1.0, 60.0),
        (0.2, 120.0),
        (0.1, 300.0),
        (1.0, 600.0),
        (0.1, 1200.0),
        (1.0, 3600.0),
    ];
    for shape in Shape::ALL {
        let shape_rates: &[f64] = if shape.leaks() { &RATES } else { &[0.0] };
        // Non-leaking shapes get as many traces as leaking ones (fills twice as many: they
        // are the hardest), with fresh seeds.
        let repeats = match shape {
            _ if shape.leaks() => 1,
            Shape::Fill => 2 * RATES.len(),
            _ => RATES.len(),
        };
        for &rate in shape_rates {
            for _ in 0..repeats {
                for &(noise, wander) in &noises {
                    for &(interval, duration) in &runs {
                        out.push(generate(&Spec {
                            shape,
                            interval,
                            duration,
                            base: rng.range(50.0, 500.0) * MIB,
                            rate,
                            noise,
                            wander,
                            startup: rng.uniform() < 0.5,
                            seed: rng.next_u64(),
                        }));
                    }
                }
            }
        }
    }
    out
}
