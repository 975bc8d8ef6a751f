//! JSON: the run report (its fields are in the README), and the comparison as rows of numbers.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};

use super::compare::{Comparison, Side};
use super::{RenderComparison, RenderRun, Run};

/// The JSON format.
pub struct Json;

/// A report (of a run, or a comparison), pretty-printed, with a final newline.
pub fn json(report: &impl Serialize) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a report always serializes");
    s.push('\n');
    s
}

impl RenderRun for Json {
    fn render(&self, run: &Run<'_>, out: &mut dyn Write) -> Result<()> {
        out.write_all(json(&run.report).as_bytes())?;
        Ok(())
    }
}

impl RenderComparison for Json {
    fn render(&self, c: &Comparison, out: &mut dyn Write) -> Result<()> {
        let side = |s: &Side| {
            json!({
                "run_id": s.run_id,
                "label": s.label,
                "started_at": s.started_at,
                "metric": s.metric,
            })
        };
        let rows: Vec<Value> = c
            .rows
            .iter()
            .map(|r| {
                json!({
                    "key": r.key,
                    "name": r.name,
                    "before": r.before.json(),
                    "after": r.after.json(),
                    "change": r.change().map(|c| r.after.json_number(c)),
                    "change_pct": r.change_pct(),
                })
            })
            .collect();
        let doc = json!({
            "schema": 1,
            "before": side(&c.before),
            "after": side(&c.after),
            "rows": rows,
        });
        out.write_all(json(&doc).as_bytes())?;
        Ok(())
    }
}
