//! The leak verdict as every format shows it: read leniently from the report's JSON
//! (`{"kind", "growth_bytes_per_s", "growth_ci_bytes_per_s", "detected_at_s",
//! "time_to_limit_s", "reason"}`) and put in words.

use memwarden::units::{format_rate, format_seconds};
use serde_json::Value;

/// What the words say when a run has no verdict.
pub const NOT_JUDGED: &str = "not judged";

/// A verdict's fields; any may be missing.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `leak`, `stable`, `plateau` or `inconclusive`.
    pub kind: String,
    /// Growth of the floor, bytes per second.
    pub growth_bytes_per_s: Option<f64>,
    /// Confidence interval of the growth.
    pub growth_ci_bytes_per_s: Option<[f64; 2]>,
    /// Seconds since start when the verdict was reached.
    pub detected_at_s: Option<f64>,
    /// Seconds until the nearest limit at this growth.
    pub time_to_limit_s: Option<f64>,
    /// Why, in plain words.
    pub reason: String,
}

impl Verdict {
    /// Reads a verdict from the report's JSON (`None` for null or a value without a kind).
    pub fn from_json(v: Option<&Value>) -> Option<Verdict> {
        let v = v?;
        let kind = v.get("kind")?.as_str()?.to_string();
        let num = |k: &str| v.get(k).and_then(Value::as_f64);
        let ci = v.get("growth_ci_bytes_per_s").and_then(|c| {
            let c = c.as_array()?;
            Some([c.first()?.as_f64()?, c.get(1)?.as_f64()?])
        });
        // An inconclusive verdict has not measured a trend: its zero growth is no figure.
        let measured = kind != "inconclusive";
        Some(Verdict {
            growth_bytes_per_s: num("growth_bytes_per_s").filter(|_| measured),
            growth_ci_bytes_per_s: ci.filter(|_| measured),
            kind,
            detected_at_s: num("detected_at_s"),
            time_to_limit_s: num("time_to_limit_s"),
            reason: v
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        })
    }

    /// The figures in words: "floor grows 1.2 MiB/min (1.0 MiB/min to 1.4 MiB/min), called at
    /// 2m 10s, reaches the limit in 1h 05m".
    pub fn figures(&self) -> String {
        let mut parts = Vec::new();
        if let Some(g) = self.growth_bytes_per_s {
            let ci = self
                .growth_ci_bytes_per_s
                .map(|[lo, hi]| format!(" ({} to {})", format_rate(lo), format_rate(hi)))
                .unwrap_or_default();
            parts.push(format!("floor grows {}{ci}", format_rate(g)));
        }
        if let Some(t) = self.detected_at_s {
            parts.push(format!("called at {}", format_seconds(t)));
        }
        if let Some(t) = self.time_to_limit_s {
            parts.push(format!("reaches the limit in {}", format_seconds(t)));
        }
        parts.join(", ")
    }

    /// One line: "leak: REASON (FIGURES)".
    pub fn line(&self) -> String {
        let figures = self.figures();
        match (self.reason.is_empty(), figures.is_empty()) {
            (true, true) => self.kind.clone(),
            (false, true) => format!("{}: {}", self.kind, self.reason),
            (true, false) => format!("{}: {figures}", self.kind),
            (false, false) => format!("{}: {} ({figures})", self.kind, self.reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verdicts_read_leniently_and_read_well() {
        assert_eq!(Verdict::from_json(None), None);
        assert_eq!(Verdict::from_json(Some(&Value::Null)), None);
        let v = Verdict::from_json(Some(&json!({
            "kind": "leak", "growth_bytes_per_s": 1024.0 * 1024.0 / 60.0,
            "growth_ci_bytes_per_s": [1000.0, 20000.0], "detected_at_s": 130.0,
            "time_to_limit_s": null, "reason": "the floor rose steadily"
        })))
        .unwrap();
        assert_eq!(
            v.line(),
            "leak: the floor rose steadily (floor grows 1.0 MiB/min \
             (58.6 KiB/min to 1.1 MiB/min), called at 2m 10s)"
        );
        let bare = Verdict::from_json(Some(&json!({"kind": "stable"}))).unwrap();
        assert_eq!(bare.line(), "stable");
    }
}
