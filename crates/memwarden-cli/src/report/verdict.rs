//! The leak verdict in words, as every format shows it.

use memwarden::units::{format_rate, format_seconds};

use crate::record::RunVerdict;

/// What the words say when a run has no verdict.
pub const NOT_JUDGED: &str = "not judged";

/// The figures in words: "floor grows 1.2 MiB/min (1.0 MiB/min to 1.4 MiB/min), called at
/// 2m 10s, reaches the limit in 1h 05m".
pub fn figures(v: &RunVerdict) -> String {
    let mut parts = Vec::new();
    // An inconclusive verdict has not measured a trend: its zero growth is no figure.
    if v.growth_measured() {
        let [lo, hi] = v.growth_ci_bytes_per_s;
        parts.push(format!(
            "floor grows {} ({} to {})",
            format_rate(v.growth_bytes_per_s),
            format_rate(lo),
            format_rate(hi)
        ));
    }
    if let Some(t) = v.detected_at_s {
        parts.push(format!("called at {}", format_seconds(t)));
    }
    if let Some(t) = v.time_to_limit_s {
        parts.push(format!("reaches the limit in {}", format_seconds(t)));
    }
    parts.join(", ")
}

/// One line: "leak: REASON (FIGURES)".
pub fn line(v: &RunVerdict) -> String {
    let figures = figures(v);
    let kind = v.kind.as_str();
    match (v.reason.is_empty(), figures.is_empty()) {
        (true, true) => kind.to_string(),
        (false, true) => format!("{kind}: {}", v.reason),
        (true, false) => format!("{kind}: {figures}"),
        (false, false) => format!("{kind}: {} ({figures})", v.reason),
    }
}

/// The growth the memory floor showed, when it was measured.
pub fn measured_growth(v: &RunVerdict) -> Option<f64> {
    v.growth_measured().then_some(v.growth_bytes_per_s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use memwarden::detect::VerdictKind;

    #[test]
    fn verdicts_read_well() {
        let v = RunVerdict {
            kind: VerdictKind::Leak,
            memory_kind: VerdictKind::Leak,
            growth_bytes_per_s: 1024.0 * 1024.0 / 60.0,
            growth_ci_bytes_per_s: [1000.0, 20000.0],
            detected_at_s: Some(130.0),
            reason: "the floor rose steadily".into(),
            ..RunVerdict::default()
        };
        assert_eq!(
            line(&v),
            "leak: the floor rose steadily (floor grows 1.0 MiB/min \
             (58.6 KiB/min to 1.1 MiB/min), called at 2m 10s)"
        );
        let bare = RunVerdict {
            kind: VerdictKind::Stable,
            memory_kind: VerdictKind::Inconclusive,
            ..RunVerdict::default()
        };
        assert_eq!(line(&bare), "stable");
    }
}
