//! The `heap` report as a text section (the run's summary and `report`) and an HTML
//! section (a table of the ranked sites and the curves of the top ones).

use std::fmt::Write;

use memwarden::units::{format_bytes, format_rate};

use super::report::{HeapReport, HeapSite};
use crate::report::svg::{escape, Svg};
use crate::report::table::Table;
use crate::report::text::processes;

/// Sites shown in the text section.
const TEXT_SITES: usize = 10;
/// Sites drawn in the HTML chart.
const CHART_SITES: usize = 5;
/// Colours of the charted sites, in rank order.
const COLOURS: [&str; CHART_SITES] = ["#c0392b", "#2471a3", "#7d3c98", "#b9770e", "#1e8449"];

/// The site's growth, signed: `+1.2 MiB/min`.
fn growth(s: &HeapSite) -> String {
    let g = s.verdict.growth_bytes_per_s;
    if g > 0.0 {
        format!("+{}", format_rate(g))
    } else {
        format_rate(g)
    }
}

/// The function and where it is: `leaky (leak.c:6)`.
fn place(s: &HeapSite) -> String {
    match &s.location {
        Some(l) => format!("{} ({})", s.function, l.rsplit('/').next().unwrap_or(l)),
        None => s.function.clone(),
    }
}

/// The heap section of a text report, its table fitted to `width` columns.
pub fn text(r: &HeapReport, width: usize) -> String {
    let mut out = format!(
        "Heap call sites (sampled every {} on average; {}, {} samples, {} sites):\n",
        format_bytes(r.sample_interval_bytes),
        processes(r.processes),
        r.samples,
        r.sites_seen
    );
    let mut table = Table::new(&["#", "verdict", "growth", "live", "function"]);
    for s in r.sites.iter().take(TEXT_SITES) {
        table.row(vec![
            s.rank.to_string(),
            s.verdict.kind.clone(),
            growth(s),
            format_bytes(s.live_bytes),
            crate::record::printable(&place(s)).into_owned(),
        ]);
    }
    out.push_str(&table.render(width));
    if let Some(s) = r.sites.first().filter(|s| s.verdict.kind == "leak") {
        let _ = writeln!(out, "  Stack of #1 ({}):", s.verdict.reason);
        for f in s.frames.iter().take(12) {
            let at = match (&f.file, f.line) {
                (Some(file), Some(line)) => {
                    format!(" ({}:{line})", file.rsplit('/').next().unwrap_or(file))
                }
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "    {}{at}",
                f.function.as_deref().unwrap_or(&f.object)
            );
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    out
}

/// The heap section of the HTML report.
pub fn html(r: &HeapReport) -> String {
    let mut h = String::from("<section id=\"heap\">\n<h2>Heap call sites</h2>\n");
    let _ = writeln!(
        h,
        "<p>Allocations sampled every {} on average in {} ({} samples, {} sites); \
         each site's live bytes judged by the same detector as the tree.</p>",
        escape(&format_bytes(r.sample_interval_bytes)),
        processes(r.processes),
        r.samples,
        r.sites_seen
    );
    for n in &r.notes {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", escape(n));
    }
    if !r.sites.is_empty() {
        h.push_str(&chart(&r.sites[..r.sites.len().min(CHART_SITES)]));
        h.push_str(
            "<table class=\"heap\">\n<thead><tr><th>#</th><th>verdict</th><th>growth</th>\
             <th>live</th><th>peak live</th><th>allocated</th><th>function</th></tr></thead>\n<tbody>\n",
        );
        for s in &r.sites {
            let stack: Vec<String> = s
                .frames
                .iter()
                .map(|f| {
                    let name = f.function.as_deref().unwrap_or(&f.object);
                    match (&f.file, f.line) {
                        (Some(file), Some(line)) => format!("{name} ({file}:{line})"),
                        _ => name.to_string(),
                    }
                })
                .collect();
            let _ = writeln!(
                h,
                "<tr class=\"v-{kind}\"><td>{}</td><td>{kind}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td><details><summary><code>{}</code></summary><pre>{}</pre></details></td></tr>",
                s.rank,
                escape(&growth(s)),
                escape(&format_bytes(s.live_bytes)),
                escape(&format_bytes(s.peak_live_bytes)),
                escape(&format_bytes(s.allocated_bytes)),
                escape(&place(s)),
                escape(&stack.join("\n")),
                kind = escape(&s.verdict.kind),
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</section>\n");
    h
}

/// The live-bytes floors of `sites` on one time axis, with a legend.
fn chart(sites: &[HeapSite]) -> String {
    const W: f64 = 900.0;
    const H: f64 = 220.0;
    const PAD: f64 = 40.0;
    let points = || sites.iter().flat_map(|s| s.series.iter());
    let t_max = points().map(|p| p.0).fold(0.0f64, f64::max).max(1.0);
    let v_max = points().map(|p| p.1).max().unwrap_or(0).max(1) as f64;
    let mut svg = Svg::new(
        W,
        H + 20.0 * sites.len() as f64,
        &[("class", "heap-chart".into()), ("role", "img".into())],
    );
    svg.line(
        (PAD, H - PAD),
        (W - 10.0, H - PAD),
        &[("stroke", "#888".into())],
    );
    svg.text(
        "text",
        &[
            ("x", 2.0.into()),
            ("y", 14.0.into()),
            ("font-size", 12.0.into()),
        ],
        &format_bytes(v_max as u64),
    );
    svg.text(
        "text",
        &[
            ("x", (W - 60.0).into()),
            ("y", (H - PAD + 16.0).into()),
            ("font-size", 12.0.into()),
        ],
        &format!("{:.0} s", t_max),
    );
    for (i, s) in sites.iter().enumerate() {
        let line: Vec<(f64, f64)> = s
            .series
            .iter()
            .map(|&(t, v)| {
                (
                    PAD + t / t_max * (W - PAD - 10.0),
                    H - PAD - v as f64 / v_max * (H - PAD - 20.0),
                )
            })
            .collect();
        svg.polyline(
            &line,
            &[
                ("fill", "none".into()),
                ("stroke", COLOURS[i].into()),
                ("stroke-width", 2.0.into()),
            ],
        );
        let y = H + 20.0 * i as f64;
        svg.line(
            (PAD, y - 4.0),
            (PAD + 20.0, y - 4.0),
            &[("stroke", COLOURS[i].into()), ("stroke-width", 3.0.into())],
        );
        svg.text(
            "text",
            &[
                ("x", (PAD + 26.0).into()),
                ("y", y.into()),
                ("font-size", 12.0.into()),
            ],
            &format!("#{} {} · {}", s.rank, place(s), s.verdict.kind),
        );
    }
    svg.finish()
}
