//! A seeded generator of labeled memory traces: the shapes DESIGN §5 names, with a start-up
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
    /// Growth that slows and stops (exponential approach: a cache filling).
    Plateau,
    /// One step up, then flat.
    Step,
    /// Flat with noise only.
    Noise,
}

impl Shape {
    /// Every shape.
    pub const ALL: [Shape; 8] = [
        Shape::Line,
        Shape::LateLine,
        Shape::Staircase,
        Shape::SawRising,
        Shape::SawFlat,
        Shape::Plateau,
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
            Shape::Plateau => "plateau",
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
    /// Whether the trace leaks.
    pub leak: bool,
    /// When the leak starts (seconds), for latency.
    pub leak_start: f64,
}

const MIB: f64 = 1024.0 * 1024.0;

/// Builds the trace `spec` describes.
pub fn generate(spec: &Spec) -> Labeled {
    let mut rng = Rng::new(spec.seed);
    let b = spec.base;
    // Start-up: from a tenth of the base towards it with a 2-5 s time constant.
    let warm_tau = rng.range(2.0, 5.0);
    let leak_at = match spec.shape {
        Shape::LateLine => rng.range(0.3, 0.7) * spec.duration,
        _ => rng.range(5.0, 30.0),
    };
    let period = match spec.shape {
        Shape::Staircase => *pick(&mut rng, &[20.0, 60.0, 120.0]),
        Shape::SawRising | Shape::SawFlat => *pick(&mut rng, &[5.0, 15.0, 40.0]),
        _ => 0.0,
    };
    let amplitude = rng.range(0.2, 0.6) * b;
    let phase = rng.uniform() * period;
    let plateau_tau = *pick(&mut rng, &[5.0, 10.0, 20.0]);
    let plateau_height = rng.range(0.2, 1.0) * b;
    let step_at = rng.range(0.2, 0.8) * spec.duration;
    let step_height = rng.range(0.1, 0.5) * b;
    let rate = if spec.shape.leaks() { spec.rate } else { 0.0 };
    let leak_start = match spec.shape {
        Shape::Staircase => leak_at + period,
        _ => leak_at,
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
            Shape::SawRising | Shape::SawFlat => {
                rate * since + amplitude * (((t + phase) / period).fract())
            }
            Shape::Plateau => plateau_height * (1.0 - (-since / plateau_tau).exp()),
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
    Labeled {
        name: format!(
            "{} {}@{}s {:.0}min noise {}{}{}",
            spec.shape.name(),
            fmt_rate(rate),
            spec.interval,
            spec.duration / 60.0,
            fmt_size(spec.noise),
            if spec.wander > 0.0 { " wandering" } else { "" },
            if spec.startup { " +startup" } else { "" }
        ),
        group: spec.shape.name().to_string(),
        points,
        leak: spec.shape.leaks(),
        leak_start,
    }
}

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
        format!("{}/s ", fmt_size(r))
    }
}

/// The labeled corpus of the evaluation: every shape at several rates, noise levels,
/// intervals and lengths, each with its own seed.
pub fn corpus(seed: u64) -> Vec<Labeled> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let rates = [24.0 * 1024.0, 256.0 * 1024.0, 2.0 * MIB];
    let noises = [(16.0 * 1024.0, 0.0), (1.0 * MIB, 0.0), (4.0 * MIB, 0.5)];
    let runs = [(1.0, 600.0), (1.0, 3600.0), (0.1, 300.0), (0.1, 1200.0)];
    for shape in Shape::ALL {
        let shape_rates: &[f64] = if shape.leaks() { &rates } else { &[0.0] };
        // Non-leaking shapes get as many traces as leaking ones, with fresh seeds.
        let repeats = if shape.leaks() { 1 } else { rates.len() };
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
