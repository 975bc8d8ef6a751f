//! What the detector concludes ([`Verdict`]) and how it prints the quantity it judges.

use std::fmt;

use crate::units::{format_bytes_f, format_rate};

/// The four conclusions the detector can reach (JSON `verdict.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerdictKind {
    /// The floor keeps rising, clearly and fast enough to matter: live, for at least
    /// [`DetectorConfig::min_span_s`](super::DetectorConfig::min_span_s); final, until the end
    /// of the run.
    Leak,
    /// The floor does not rise by more than the minimum rate allows.
    Stable,
    /// The floor rose, then stopped rising (a cache filled, a pool grew to its size); also a
    /// leak call revised because the floor levelled off.
    Plateau,
    /// Not enough observation yet (too short, too few points), a rise that is uneven or dying
    /// out, or a steady rise the live verdict has not called yet ([`Verdict::rising`]).
    Inconclusive,
}

impl VerdictKind {
    /// The name used in JSON and text reports: `leak`, `stable`, `plateau`, `inconclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Leak => "leak",
            VerdictKind::Stable => "stable",
            VerdictKind::Plateau => "plateau",
            VerdictKind::Inconclusive => "inconclusive",
        }
    }
}

impl fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The detector's conclusion about one series, with the figures behind it.
///
/// Rates are in the series' units per second (bytes/s for memory, e.g. threads/s for counts).
/// Times are on the clock the caller pushed (seconds since the run started, usually).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The conclusion.
    pub kind: VerdictKind,
    /// Trend of the floor (Theil–Sen slope) over the part of the run the verdict is about
    /// (the rise for `leak` and a rising floor, else the whole run after warm-up), units per
    /// second; 0 when there is no trend yet.
    pub growth_per_s: f64,
    /// 95 % confidence interval of `growth_per_s`, `(low, high)`.
    pub growth_ci_per_s: (f64, f64),
    /// Whether the floor is rising steadily now: a leak, or a rise not called yet (the live
    /// verdict waits [`DetectorConfig::min_span_s`](super::DetectorConfig::min_span_s) before
    /// calling one, as a cache that fills rises the same way until it is full).
    pub rising: bool,
    /// When `leak` was first called, kept when the call is later revised; for the final
    /// verdict of a leak the live verdict never called, the end of the run.
    pub detected_at_s: Option<f64>,
    /// When a `leak` call was taken back because the floor levelled off (`plateau`) or fell
    /// back (`stable`); `None` while the call stands or when none was made.
    pub revised_at_s: Option<f64>,
    /// Seconds until the floor, growing at `growth_per_s` from the latest value, reaches the
    /// limit given to [`Detector::verdict_with_limit`](super::Detector::verdict_with_limit) or
    /// [`Detector::final_verdict`](super::Detector::final_verdict); only while `rising`
    /// (0 when already there).
    pub time_to_limit_s: Option<f64>,
    /// The reason in plain words, the finding first, e.g. "floor rose 158.0 MiB over 2m 23s
    /// and was still rising at the end: 35.0 MiB/min over the last quarter".
    pub reason: String,
}

/// What the series counts, so reasons print `41.0 MiB` or `12 threads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// Bytes, printed with binary units.
    Bytes,
    /// A count of things, printed with the given plural noun (`"threads"`, `"fds"`).
    Count(&'static str),
}

impl Quantity {
    /// An amount (or difference) in this quantity: `41.0 MiB`, `-3 threads`.
    pub fn amount(self, v: f64) -> String {
        match self {
            Quantity::Bytes => format_bytes_f(v),
            // Whole things: a floor that rose by 52.9 threads rose by 53.
            Quantity::Count(noun) if v.abs() >= 1.0 => format!("{} {noun}", v.round()),
            Quantity::Count(noun) => format!("{} {noun}", trim_number(v)),
        }
    }

    /// A rate per second in this quantity, with the time unit that reads best: `1.2 MiB/min`.
    pub fn rate(self, per_s: f64) -> String {
        match self {
            Quantity::Bytes => format_rate(per_s),
            Quantity::Count(noun) => {
                let a = per_s.abs();
                let (v, unit) = if a >= 1.0 || a == 0.0 {
                    (per_s, "s")
                } else if a * 60.0 >= 1.0 {
                    (per_s * 60.0, "min")
                } else if a * 3600.0 >= 1.0 {
                    (per_s * 3600.0, "h")
                } else {
                    (per_s * 86400.0, "day")
                };
                format!("{} {noun}/{unit}", trim_number(v))
            }
        }
    }
}

/// Two significant decimals at most, no trailing zeros: `3`, `2.5`, `0.17`.
fn trim_number(v: f64) -> String {
    let s = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A p-value as a reason prints it: `p<0.001` below a thousandth, else `p=0.034`.
pub(crate) fn format_p(p: f64) -> String {
    if p < 0.001 {
        "p<0.001".to_string()
    } else {
        format!("p={p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_their_json_names() {
        let names: Vec<_> = [
            VerdictKind::Leak,
            VerdictKind::Stable,
            VerdictKind::Plateau,
            VerdictKind::Inconclusive,
        ]
        .iter()
        .map(|k| k.to_string())
        .collect();
        assert_eq!(names, ["leak", "stable", "plateau", "inconclusive"]);
    }

    #[test]
    fn bytes_print_with_binary_units() {
        assert_eq!(Quantity::Bytes.amount(41.0 * 1024.0 * 1024.0), "41.0 MiB");
        assert_eq!(Quantity::Bytes.rate(1024.0 * 1024.0 / 60.0), "1.0 MiB/min");
    }

    #[test]
    fn counts_print_with_their_noun() {
        let q = Quantity::Count("threads");
        assert_eq!(q.amount(12.0), "12 threads");
        assert_eq!(q.amount(52.9), "53 threads");
        assert_eq!(q.amount(-2.5), "-3 threads");
        assert_eq!(q.amount(0.4), "0.4 threads");
        assert_eq!(q.rate(2.0), "2 threads/s");
        assert_eq!(q.rate(0.5), "30 threads/min");
        assert_eq!(q.rate(1.0 / 600.0), "6 threads/h");
        assert_eq!(q.rate(0.0), "0 threads/s");
    }

    #[test]
    fn p_values_print_plainly() {
        assert_eq!(format_p(0.0001), "p<0.001");
        assert_eq!(format_p(0.0342), "p=0.034");
    }
}
