//! Markdown: the comparison as a table that pastes into a pull request.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;

use super::compare::{Comparison, Side};
use super::RenderComparison;

/// The Markdown format.
pub struct Markdown;

impl RenderComparison for Markdown {
    fn render(&self, c: &Comparison, out: &mut dyn Write) -> Result<()> {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "**before**: {} · **after**: {}\n",
            side(&c.before),
            side(&c.after)
        );
        let _ = writeln!(s, "| | before | after | change |");
        let _ = writeln!(s, "|---|---:|---:|---:|");
        for r in &c.rows {
            let _ = writeln!(s, "| {} |", r.cells().map(|c| cell(&c)).join(" | "));
        }
        if let Some(note) = c.growth_not_compared() {
            let _ = writeln!(s, "\n{note}.");
        }
        out.write_all(s.as_bytes())?;
        Ok(())
    }
}

fn side(s: &Side) -> String {
    let label = format!("`{}`", s.label.replace('`', "'"));
    let id = s.run_id.map(|id| format!("run {id} ")).unwrap_or_default();
    format!("{id}{} ({})", cell(&label), s.started_at)
}

/// Text that cannot break a table row: pipes escaped, line breaks as spaces.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}
