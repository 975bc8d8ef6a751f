//! JSON: the run report of DESIGN §3.

use std::io::Write;

use super::model::RunReport;
use super::{RenderRun, Run};
use anyhow::Result;

/// The JSON format.
pub struct Json;

/// The JSON report, pretty-printed, with a final newline.
pub fn json(report: &RunReport) -> String {
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
