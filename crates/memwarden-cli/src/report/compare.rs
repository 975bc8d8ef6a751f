//! A measured before/after comparison of two runs: the rows every compare format prints, and
//! the `--fail-if-worse` gate.

use memwarden::units::{format_bytes_f, format_rate, format_seconds};
use serde_json::Value as JsonValue;

use super::model::RunReport;
use super::verdict::{measured_growth, NOT_JUDGED};

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// The run's id in the store.
    pub run_id: Option<i64>,
    /// The run's label.
    pub label: String,
    /// Its start, RFC 3339 UTC.
    pub started_at: String,
    /// The memory metric its figures use.
    pub metric: String,
}

/// A value of one row on one side.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Bytes.
    Bytes(Option<f64>),
    /// Bytes per second.
    Rate(Option<f64>),
    /// Seconds.
    Seconds(Option<f64>),
    /// A count.
    Count(Option<f64>),
    /// A verdict's kind (`None`: not judged).
    Verdict(Option<String>),
}

impl Value {
    /// The number, for numeric values that are known.
    pub fn number(&self) -> Option<f64> {
        match self {
            Value::Bytes(v) | Value::Rate(v) | Value::Seconds(v) | Value::Count(v) => *v,
            Value::Verdict(_) => None,
        }
    }

    /// For people: `167.4 MiB`, `1.2 MiB/min`, `2m 10s`, `12`, `leak`; `n/a` when unknown.
    pub fn text(&self) -> String {
        match self {
            Value::Verdict(v) => v.clone().unwrap_or_else(|| NOT_JUDGED.to_string()),
            other => match other.number() {
                None => "n/a".to_string(),
                Some(n) => self.format(n),
            },
        }
    }

    fn format(&self, n: f64) -> String {
        match self {
            Value::Bytes(_) => format_bytes_f(n),
            Value::Rate(_) => format_rate(n),
            Value::Seconds(_) => format_seconds(n),
            Value::Count(_) => format!("{n:.0}"),
            Value::Verdict(_) => String::new(),
        }
    }

    /// As JSON: the number, the verdict's kind, or null.
    pub fn json(&self) -> JsonValue {
        match self {
            Value::Verdict(v) => v.clone().map_or(JsonValue::Null, JsonValue::String),
            other => other
                .number()
                .map_or(JsonValue::Null, |n| self.json_number(n)),
        }
    }

    /// `n` in this value's unit as JSON: bytes and counts as integers when whole.
    pub fn json_number(&self, n: f64) -> JsonValue {
        let whole = matches!(self, Value::Bytes(_) | Value::Count(_))
            && n.fract() == 0.0
            && n.abs() < 9.0e15;
        if whole {
            JsonValue::from(n as i64)
        } else {
            JsonValue::from(n)
        }
    }
}

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// A stable key for JSON consumers (`peak_bytes`, `growth_bytes_per_s`...).
    pub key: &'static str,
    /// The row's name for people.
    pub name: String,
    /// Before.
    pub before: Value,
    /// After.
    pub after: Value,
}

impl Row {
    /// After minus before, when both are numbers.
    pub fn change(&self) -> Option<f64> {
        Some(self.after.number()? - self.before.number()?)
    }

    /// The change in percent of before, when before is a non-zero number.
    pub fn change_pct(&self) -> Option<f64> {
        let before = self.before.number().filter(|b| *b != 0.0)?;
        Some(self.change()? / before.abs() * 100.0)
    }

    /// The row as the tables print it: name, before, after, change.
    pub fn cells(&self) -> [String; 4] {
        [
            self.name.clone(),
            self.before.text(),
            self.after.text(),
            self.change_text(),
        ]
    }

    /// The change for people: `+12.0 MiB (+7.2%)`, `-3 (-50.0%)`, `stable → leak`, `same`.
    pub fn change_text(&self) -> String {
        if let (Value::Verdict(a), Value::Verdict(b)) = (&self.before, &self.after) {
            return match (a, b) {
                (None, None) => String::new(),
                _ if a == b => "same".to_string(),
                _ => format!("{} → {}", self.before.text(), self.after.text()),
            };
        }
        let Some(change) = self.change() else {
            return "n/a".to_string();
        };
        let sign = if change > 0.0 { "+" } else { "" };
        let abs = format!("{sign}{}", self.after.format(change));
        match self.change_pct() {
            Some(p) => format!("{abs} ({}{p:.1}%)", if p > 0.0 { "+" } else { "" }),
            None => abs,
        }
    }
}

/// Two runs side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The run before the change.
    pub before: Side,
    /// The run after it.
    pub after: Side,
    /// Peak, end, growth, verdict, time to limit, processes, threads, fds, duration.
    pub rows: Vec<Row>,
}

impl Comparison {
    /// Compares two reports.
    pub fn new(before: &RunReport, after: &RunReport) -> Comparison {
        let side = |r: &RunReport| Side {
            run_id: r.run_id,
            label: r.label.clone(),
            started_at: r.started_at.clone(),
            metric: r.memory.metric.clone(),
        };
        let (vb, va) = (before.verdict.as_ref(), after.verdict.as_ref());
        let metric = if before.memory.metric == after.memory.metric {
            before.memory.metric.clone()
        } else {
            format!("{} / {}", before.memory.metric, after.memory.metric)
        };
        let n = |v: u64| Some(v as f64);
        let mut rows = vec![
            Row {
                key: "peak_bytes",
                name: format!("peak ({metric})"),
                before: Value::Bytes(n(before.memory.peak_bytes)),
                after: Value::Bytes(n(after.memory.peak_bytes)),
            },
            Row {
                key: "end_bytes",
                name: format!("end ({metric})"),
                before: Value::Bytes(n(before.memory.end_bytes)),
                after: Value::Bytes(n(after.memory.end_bytes)),
            },
            Row {
                key: "growth_bytes_per_s",
                name: "floor growth".to_string(),
                before: Value::Rate(vb.and_then(measured_growth)),
                after: Value::Rate(va.and_then(measured_growth)),
            },
            Row {
                key: "verdict",
                name: "verdict".to_string(),
                before: Value::Verdict(vb.map(|v| v.kind.to_string())),
                after: Value::Verdict(va.map(|v| v.kind.to_string())),
            },
            Row {
                key: "time_to_limit_s",
                name: "time to limit".to_string(),
                before: Value::Seconds(vb.and_then(|v| v.time_to_limit_s)),
                after: Value::Seconds(va.and_then(|v| v.time_to_limit_s)),
            },
            Row {
                key: "max_processes",
                name: "max processes".to_string(),
                before: Value::Count(n(before.processes.max_alive)),
                after: Value::Count(n(after.processes.max_alive)),
            },
            Row {
                key: "max_threads",
                name: "max threads".to_string(),
                before: Value::Count(n(before.resources.threads.peak)),
                after: Value::Count(n(after.resources.threads.peak)),
            },
            Row {
                key: "max_fds",
                name: "max fds".to_string(),
                before: Value::Count(n(before.resources.fds.peak)),
                after: Value::Count(n(after.resources.fds.peak)),
            },
            Row {
                key: "duration_s",
                name: "duration".to_string(),
                before: Value::Seconds(Some(before.duration_s)),
                after: Value::Seconds(Some(after.duration_s)),
            },
        ];
        rows.extend(crate::heap::compare::rows(
            before.heap.as_ref(),
            after.heap.as_ref(),
        ));
        Comparison {
            before: side(before),
            after: side(after),
            rows,
        }
    }

    fn row(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.key == key)
    }

    /// What got worse by more than `pct` percent: the peak, or the floor's growth. Each entry
    /// says what and by how much. Growth is compared only when both runs are judged; a run
    /// that became a `leak` is worse whatever the numbers; growth from zero or below is worse
    /// only then.
    pub fn worse_than(&self, pct: f64) -> Vec<String> {
        let mut worse = Vec::new();
        if let Some(r) = self.row("peak_bytes") {
            if let Some(reason) = worse_number(r, pct) {
                worse.push(reason);
            }
        }
        let verdicts = self.row("verdict").map(|r| (&r.before, &r.after));
        if let Some((Value::Verdict(Some(b)), Value::Verdict(Some(a)))) = verdicts {
            if a == "leak" && b != "leak" {
                worse.push(format!("the verdict went from {b} to leak"));
            } else if let Some(r) = self.row("growth_bytes_per_s") {
                let grew = r.before.number().is_some_and(|b| b > 0.0);
                if grew {
                    if let Some(reason) = worse_number(r, pct) {
                        worse.push(reason);
                    }
                }
            }
        }
        worse
    }

    /// Why growth could not be compared, if it could not.
    pub fn growth_not_compared(&self) -> Option<String> {
        let r = self.row("verdict")?;
        let missing: Vec<&Side> = [(&r.before, &self.before), (&r.after, &self.after)]
            .into_iter()
            .filter(|(v, _)| match v {
                Value::Verdict(kind) => kind.as_deref().is_none_or(|k| k == "inconclusive"),
                _ => false,
            })
            .map(|(_, s)| s)
            .collect();
        if missing.is_empty() {
            return None;
        }
        let names: Vec<String> = missing.iter().map(|s| s.name()).collect();
        Some(format!(
            "growth not compared: {} not judged (too short, or no verdict)",
            names.join(" and ")
        ))
    }
}

impl Side {
    /// `run 3 (label)`, or the label alone.
    pub fn name(&self) -> String {
        match self.run_id {
            Some(id) => format!("run {id} ({})", self.label),
            None => self.label.clone(),
        }
    }
}

fn worse_number(r: &Row, pct: f64) -> Option<String> {
    let change = r.change()?;
    if change <= 0.0 {
        return None;
    }
    let over = match r.change_pct() {
        Some(p) => p > pct,
        None => true, // from zero
    };
    over.then(|| {
        format!(
            "{} got worse: {} → {}, {}, more than {pct}%",
            r.name,
            r.before.text(),
            r.after.text(),
            r.change_text()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(b: f64, a: f64) -> Row {
        Row {
            key: "peak_bytes",
            name: "peak (anon)".into(),
            before: Value::Bytes(Some(b)),
            after: Value::Bytes(Some(a)),
        }
    }

    #[test]
    fn changes_read_well() {
        assert_eq!(
            row(100.0 * 1048576.0, 110.0 * 1048576.0).change_text(),
            "+10.0 MiB (+10.0%)"
        );
        assert_eq!(row(2048.0, 1024.0).change_text(), "-1.0 KiB (-50.0%)");
        assert_eq!(row(0.0, 1024.0).change_text(), "+1.0 KiB");
        assert_eq!(row(5.0, 5.0).change_text(), "0 B (0.0%)");
        let none = Row {
            before: Value::Rate(None),
            after: Value::Rate(Some(1.0)),
            ..row(0.0, 0.0)
        };
        assert_eq!(none.change_text(), "n/a");
        assert_eq!(none.before.text(), "n/a");
        let v = |a: Option<&str>, b: Option<&str>| Row {
            before: Value::Verdict(a.map(String::from)),
            after: Value::Verdict(b.map(String::from)),
            ..row(0.0, 0.0)
        };
        assert_eq!(v(None, None).change_text(), "");
        assert_eq!(v(Some("leak"), Some("leak")).change_text(), "same");
        assert_eq!(
            v(Some("leak"), Some("stable")).change_text(),
            "leak → stable"
        );
        assert_eq!(v(None, Some("stable")).change_text(), "not judged → stable");
    }

    #[test]
    fn worse_means_more_than_the_percentage() {
        assert!(worse_number(&row(100.0, 110.0), 10.0).is_none());
        assert!(worse_number(&row(100.0, 110.5), 10.0).is_some());
        assert!(worse_number(&row(100.0, 50.0), 0.0).is_none());
        assert!(worse_number(&row(0.0, 1.0), 50.0).is_some());
    }
}
