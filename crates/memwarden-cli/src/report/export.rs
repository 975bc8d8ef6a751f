//! The reports `run` and `watch` write when they end (`--json`, `--html`, `--csv`,
//! `--markdown`, `--svg`), as hyperfine's `--export-*` do: CI keeps them as artifacts.
//!
//! They are written from the finished run: the JSON and Markdown from its report, the HTML,
//! CSV and SVG from the store (they need every sample), so those need the run recorded. A
//! report can go to stdout (`-`) only where stdout is memwarden's alone: in `watch`, not in
//! `run`, whose command writes its own output there.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use super::memory::MemoryCharts;
use super::model::RunReport;
use super::{RenderRun, Run, COLUMNS};
use crate::record::RunKind;
use crate::store::Store;

/// The files asked for at the end of a run.
#[derive(Debug, Clone, Default)]
pub struct Exports {
    /// `--json FILE`.
    pub json: Option<PathBuf>,
    /// `--html FILE`.
    pub html: Option<PathBuf>,
    /// `--csv FILE`.
    pub csv: Option<PathBuf>,
    /// `--markdown FILE`.
    pub markdown: Option<PathBuf>,
    /// `--svg FILE`.
    pub svg: Option<PathBuf>,
}

/// `-`: stdout.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

impl Exports {
    fn all(&self) -> [(&'static str, Option<&PathBuf>); 5] {
        [
            ("--json", self.json.as_ref()),
            ("--markdown", self.markdown.as_ref()),
            ("--html", self.html.as_ref()),
            ("--csv", self.csv.as_ref()),
            ("--svg", self.svg.as_ref()),
        ]
    }

    /// Why these exports cannot be written by a session of `kind`, if they cannot: `-` in
    /// `run` (the report would be mixed into the command's own output), or more than one `-`.
    pub fn refusal(&self, kind: RunKind) -> Option<String> {
        let to_stdout: Vec<&str> = self
            .all()
            .into_iter()
            .filter(|(_, p)| p.is_some_and(|p| is_stdout(p)))
            .map(|(flag, _)| flag)
            .collect();
        match (kind, to_stdout.as_slice()) {
            (_, []) => None,
            (RunKind::Run, [flag, ..]) => Some(format!(
                "{flag} - would mix the report into the command's own output on stdout; \
                 write it to a file ({flag} report.out), or to another descriptor \
                 ({flag} /dev/fd/3 3>report.out)"
            )),
            // `top` writes no exports; its groups' runs are read back like a watch's.
            (RunKind::Watch | RunKind::Top, [_]) => None,
            (RunKind::Watch | RunKind::Top, flags) => Some(format!(
                "only one report can go to stdout, not {}",
                flags.join(" and ")
            )),
        }
    }

    /// Writes every export of a finished run; what could not be written, in words (a failed
    /// export never changes the run's exit status). `stored`: the run's database and id.
    pub fn write(&self, report: &RunReport, stored: Option<(&Path, i64)>) -> Vec<String> {
        let mut failures = Vec::new();
        let failed =
            |flag: &str, e: anyhow::Error| format!("cannot write the {flag} report: {e:#}");
        if let Some(path) = &self.json {
            if let Err(e) = crate::write_text(Some(path), &super::json(report)) {
                failures.push(failed("--json", e));
            }
        }
        let wanted = [&self.html, &self.csv, &self.svg, &self.markdown]
            .iter()
            .any(|p| p.is_some());
        let opened = match stored.filter(|_| wanted).map(read_back).transpose() {
            Ok(opened) => opened,
            Err(e) => {
                failures.push(format!("cannot read the run back from the store: {e:#}"));
                None
            }
        };
        let run = match opened
            .as_ref()
            .map(|(store, row)| super::open(store, row, COLUMNS))
        {
            Some(Ok(run)) => Some(run),
            Some(Err(e)) => {
                failures.push(format!("cannot read the run back from the store: {e:#}"));
                None
            }
            None => None,
        };
        if let Some(path) = &self.markdown {
            let options = run.as_ref().map(Run::options_line).unwrap_or_default();
            let text = super::markdown::report(report, &options);
            if let Err(e) = crate::write_text(Some(path), &text) {
                failures.push(failed("--markdown", e));
            }
        }
        let formats: [(&str, &Option<PathBuf>, &dyn RenderRun); 3] = [
            ("--html", &self.html, &super::html::Html),
            ("--csv", &self.csv, &super::csv::Csv),
            ("--svg", &self.svg, &SvgFile),
        ];
        for (flag, path, format) in formats {
            let Some(path) = path else { continue };
            let written = match &run {
                Some(run) => crate::write_with(Some(path), |out| format.render(run, out)),
                None => Err(anyhow!(
                    "the run was not recorded, and this report is drawn from its samples"
                )),
            };
            if let Err(e) = written {
                failures.push(failed(flag, e.context(path.display().to_string())));
            }
        }
        failures
    }
}

/// The stored run `id` of the database at `db`.
fn read_back((db, id): (&Path, i64)) -> Result<(Store, crate::store::RunRow)> {
    let store = Store::open_existing(db)?;
    let row = store.resolve(Some(&id.to_string()))?;
    Ok((store, row))
}

/// The memory charts of a run as one SVG file that stands on its own (its own style, white
/// background), for a CI job's artifacts.
pub struct SvgFile;

impl RenderRun for SvgFile {
    fn render(&self, run: &Run<'_>, out: &mut dyn std::io::Write) -> Result<()> {
        out.write_all(svg_file(run).as_bytes())
            .context("cannot write the SVG")
    }
}

/// Space above the charts for the title, the end and the verdict.
const HEADER: f64 = 66.0;

/// Space above each chart for its caption.
const CAPTION: f64 = 22.0;

/// Characters of a header line (14px text in 1000 units).
const LINE_CHARS: usize = 130;

/// The SVG document: the run's title, how it ended and the verdict's finding, then the memory
/// charts one above the other, each with a caption saying what it shows.
pub fn svg_file(run: &Run<'_>) -> String {
    let charts = MemoryCharts::of(run);
    let leak = charts.leak(run);
    let limits = charts.limits(run);
    let width = leak.size.0;
    let height =
        HEADER + CAPTION + leak.size.1 + limits.as_ref().map_or(0.0, |c| CAPTION + c.size.1);
    let r = &run.report;
    let finding = r.verdict.as_ref().map_or_else(
        || super::verdict::NOT_JUDGED.to_string(),
        |v| super::verdict::finding(v, super::verdict::Context::of(r)).text(),
    );
    let lines = [
        ("head", format!("memwarden · {}", super::ending::title(r))),
        ("sub", super::ending::ending_with_status(r)),
        ("sub", finding),
    ];
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\">\n<style>{}\nsvg{{font-family:system-ui,\
         -apple-system,\"Segoe UI\",Roboto,Arial,sans-serif}}\n.head{{font-size:15px;\
         font-weight:600;fill:#111827}}.sub{{font-size:13px;fill:#4b5563}}\
         .caption{{font-size:13px;font-weight:600;fill:#111827}}</style>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n",
        super::html::STYLE,
    );
    for (i, (class, text)) in lines.iter().enumerate() {
        let _ = writeln!(
            s,
            "<text class=\"{class}\" x=\"8\" y=\"{}\">{}</text>",
            18 + 20 * i,
            super::svg::escape(&super::term::shorten(text, LINE_CHARS))
        );
    }
    if run.timeline.is_empty() {
        let _ = writeln!(
            s,
            "<text class=\"sub\" x=\"8\" y=\"{}\">No sample of a live tree was recorded.</text>",
            HEADER + CAPTION
        );
    } else {
        let mut y = HEADER;
        let captions = [
            format!("Memory: {}, what a leak grows", charts.metric),
            format!("Memory the limits watch: {}", charts.guarded_name),
        ];
        for (chart, caption) in std::iter::once(&leak).chain(limits.as_ref()).zip(captions) {
            let _ = writeln!(
                s,
                "<text class=\"caption\" x=\"8\" y=\"{}\">{}</text>",
                y + 15.0,
                super::svg::escape(&caption)
            );
            s.push_str(&chart.svg_at(y + CAPTION));
            y += CAPTION + chart.size.1;
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_is_refused_where_the_command_writes_to_it() {
        let to = |json: &str, html: Option<&str>| Exports {
            json: Some(json.into()),
            html: html.map(PathBuf::from),
            ..Exports::default()
        };
        let refusal = to("-", None).refusal(RunKind::Run).unwrap();
        assert!(
            refusal.contains("--json -") && refusal.contains("/dev/fd/3"),
            "{refusal}"
        );
        assert_eq!(to("-", None).refusal(RunKind::Watch), None);
        assert_eq!(to("out.json", Some("-")).refusal(RunKind::Watch), None);
        assert!(to("-", Some("-"))
            .refusal(RunKind::Watch)
            .unwrap()
            .contains("--json and --html"));
        assert_eq!(to("out.json", Some("out.html")).refusal(RunKind::Run), None);
    }
}
