//! HTML: one self-contained page per run, readable offline and printable. Inline CSS, SVG
//! charts drawn by [`super::chart`], a few lines of own script for hover values; nothing is
//! loaded from anywhere. Its size depends on the number of chart columns, processes and events
//! shown, not on the number of samples.
//!
//! Memory is drawn twice, each figure with what applies to it: what a leak grows (the run's
//! metric, the floor the detector judged, its trend and projection), and what the limits
//! watch (the cgroup's charge, or resident memory summed over the tree) with the warn and
//! limit lines — so no line is read against a limit that was never about it.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;
use memwarden::units::{format_bytes, format_bytes_f, format_rate, format_seconds};

use super::chart::{css_word, Chart, Line, Unit};
use super::ending::{ending_with_status, title};
use super::memory::MemoryCharts;
use super::svg::escape;
use super::term::printable;
use super::text::sampling;
use super::timeline::Series;
use super::verdict::{self, Context, NOT_JUDGED};
use super::{RenderRun, Run};
use crate::record::RunState;
use tables::{details, events, processes};

mod tables;

/// The HTML format.
pub struct Html;

const COUNT_SIZE: (f64, f64) = (1000.0, 150.0);

impl RenderRun for Html {
    fn render(&self, run: &Run<'_>, out: &mut dyn Write) -> Result<()> {
        out.write_all(page(run).as_bytes())?;
        Ok(())
    }
}

/// The whole page.
pub fn page(run: &Run<'_>) -> String {
    let r = &run.report;
    let mut h = String::with_capacity(256 * 1024);
    let title = title(r);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"memwarden {}\">\n\
         <title>memwarden · {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        env!("CARGO_PKG_VERSION"),
        escape(&title)
    );
    header(&mut h, run, &title);
    verdict(&mut h, run);
    figures(&mut h, run);
    memory(&mut h, run);
    counts(&mut h, run);
    processes(&mut h, run);
    if let Some(heap) = &r.heap {
        h.push_str(&crate::heap::render::html(heap));
    }
    events(&mut h, run);
    details(&mut h, run);
    let _ = write!(
        h,
        "<footer>Made by memwarden {} from run data recorded on {}. Each pixel column of a \
         chart shows the lowest and the highest sample it covers.</footer>\n</main>\n\
         <div id=\"tip\" class=\"tip\" hidden></div>\n\
         <script type=\"application/json\" id=\"mw-data\">{}</script>\n\
         <script>{SCRIPT}</script>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        escape(&r.host),
        hover_data(run)
    );
    h
}

fn header(h: &mut String, run: &Run<'_>, title: &str) {
    let r = &run.report;
    let badge = match r.state {
        RunState::Ended => String::new(),
        state => format!(" <span class=\"badge\">{}</span>", state.describe()),
    };
    let _ = write!(
        h,
        "<header>\n<p class=\"brand\">memwarden report</p>\n<h1>{}{badge}</h1>\n\
         <p class=\"cmd\"><code>{}</code></p>\n<p class=\"sub\">{} · started {} on {} · {} · \
         {}</p>\n</header>\n",
        escape(title),
        escape(&printable(&r.command.join(" "))),
        escape(&capitalized(&ending_with_status(r))),
        escape(&r.started_at.replace('T', " ").replace('Z', " UTC")),
        escape(&printable(&r.host)),
        escape(&r.mode),
        escape(&sampling(r)),
    );
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn verdict(h: &mut String, run: &Run<'_>) {
    let context = Context::of(&run.report);
    let so_far = if context.running { " so far" } else { "" };
    match run.report.verdict.as_ref() {
        None => {
            let _ = write!(
                h,
                "<section class=\"verdict v-none\" id=\"verdict\">\n<h2>Verdict{so_far}: \
                 <strong>{NOT_JUDGED}</strong></h2>\n<p>No leak verdict was recorded for this \
                 run; the figures and charts below are the measurements.</p>\n</section>\n"
            );
        }
        Some(v) => {
            let _ = write!(
                h,
                "<section class=\"verdict v-{}\" id=\"verdict\">\n<h2>Verdict{so_far}: \
                 <strong>{}</strong></h2>\n<p class=\"finding\">{}</p>\n",
                css_word(v.kind.as_str()),
                escape(v.kind.as_str()),
                escape(&capitalized(&finding_under(v, context))),
            );
            if !v.reason.is_empty() {
                let _ = writeln!(
                    h,
                    "<p class=\"reason\"><b>Why:</b> {}</p>",
                    escape(&printable(&v.reason))
                );
            }
            let figures = verdict::statistics(v);
            if !figures.is_empty() {
                let _ = writeln!(
                    h,
                    "<p class=\"figures\">{}</p>",
                    escape(&capitalized(&figures))
                );
            }
            h.push_str("</section>\n");
        }
    }
}

/// The finding under a heading that already names the kind: "too short to judge", not
/// "inconclusive: too short to judge".
fn finding_under(v: &crate::record::RunVerdict, context: Context) -> String {
    let f = verdict::finding(v, context);
    match f.rest.strip_prefix(": ") {
        Some(rest) if f.head == v.kind.as_str() => rest.to_string(),
        _ => f.text(),
    }
}

fn figures(h: &mut String, run: &Run<'_>) {
    let r = &run.report;
    let m = &r.memory;
    let res = &r.resources;
    let mut items: Vec<(String, String)> = vec![
        (
            format!("peak ({})", m.metric),
            format!(
                "{} at {}",
                format_bytes(m.peak_bytes),
                format_seconds(m.peak_at_s)
            ),
        ),
        (
            "start → end".into(),
            format!(
                "{} → {}",
                format_bytes(m.start_bytes),
                format_bytes(m.end_bytes)
            ),
        ),
        ("peak rss".into(), format_bytes(m.peak_rss_bytes)),
    ];
    if let Some(c) = m.peak_cgroup_bytes {
        items.push(("peak cgroup charge".into(), format_bytes(c)));
    }
    items.extend([
        (
            "processes".into(),
            format!(
                "{} seen, {} at once at most",
                r.processes.seen, r.processes.max_alive
            ),
        ),
        (
            "threads".into(),
            format!(
                "{} → {} (peak {})",
                res.threads.start, res.threads.end, res.threads.peak
            ),
        ),
        (
            "open descriptors".into(),
            format!(
                "{} → {} (peak {})",
                res.fds.start, res.fds.end, res.fds.peak
            ),
        ),
        (
            "machine".into(),
            format!(
                "{} total, {} available at least{}",
                format_bytes(r.machine.mem_total_bytes),
                format_bytes(r.machine.min_available_bytes),
                r.machine
                    .max_psi_some_avg10
                    .map(|p| format!(", pressure up to {p:.1}%"))
                    .unwrap_or_default()
            ),
        ),
    ]);
    h.push_str("<section class=\"figures\">\n<dl class=\"grid\">\n");
    for (k, v) in items {
        let _ = writeln!(
            h,
            "<div><dt>{}</dt><dd>{}</dd></div>",
            escape(&k),
            escape(&v)
        );
    }
    h.push_str("</dl>\n</section>\n");
}

fn memory(h: &mut String, run: &Run<'_>) {
    let r = &run.report;
    let charts = MemoryCharts::of(run);
    let metric = charts.metric.as_str();
    let mut legend = vec![("s-metric", format!("{metric} (tree total)"))];
    if !run.overlays.floor.is_empty() {
        legend.push(("floor", "floor the detector judged".into()));
    }
    if let Some(t) = run.overlays.trend {
        legend.push((
            "trend",
            format!("trend {}", format_rate(t.slope_bytes_per_s)),
        ));
    }
    if run.overlays.projection.is_some() {
        legend.push(("projection", "projection to the nearest limit".into()));
    }
    if charts.one_chart {
        legend.extend(threshold_keys(&charts.thresholds));
    }
    let _ = write!(
        h,
        "<section class=\"chart\">\n<h2>Memory: {}, what a leak grows</h2>\n",
        escape(metric)
    );
    legend_line(h, &legend, !r.events.is_empty());
    if run.timeline.is_empty() {
        h.push_str("<p class=\"empty\">No sample of a live tree was recorded.</p>\n</section>\n");
        return;
    }
    h.push_str(&charts.leak(run).svg());
    h.push_str("</section>\n");
    let Some(chart) = charts.limits(run) else {
        return;
    };
    let mut legend = vec![(charts.guarded_class, capitalized(charts.guarded_name))];
    legend.extend(threshold_keys(&charts.thresholds));
    let _ = write!(
        h,
        "<section class=\"chart\">\n<h2>Memory the limits watch: {}</h2>\n\
         <p class=\"note\">{}</p>\n",
        escape(charts.guarded_name),
        escape(charts.limits_note())
    );
    legend_line(h, &legend, false);
    h.push_str(&chart.svg());
    h.push_str("</section>\n");
}

fn threshold_keys(thresholds: &[super::Threshold]) -> Vec<(&'static str, String)> {
    thresholds
        .iter()
        .map(|t| {
            let class = if t.kind == "warn" {
                "th-warn"
            } else {
                "th-limit"
            };
            (class, format!("{} {}", t.kind, format_bytes_f(t.bytes)))
        })
        .collect()
}

fn legend_line(h: &mut String, keys: &[(&str, String)], events: bool) {
    h.push_str("<p class=\"legend\">");
    for (class, text) in keys {
        let _ = write!(
            h,
            "<span class=\"key {class}\"><i></i>{}</span> ",
            escape(text)
        );
    }
    if events {
        h.push_str("<span class=\"key ev\"><i></i>events (named above their line; hover for details)</span>");
    }
    h.push_str("</p>\n");
}

fn counts(h: &mut String, run: &Run<'_>) {
    if run.timeline.is_empty() {
        return;
    }
    let end_s = MemoryCharts::of(run).time_end(run);
    h.push_str("<section class=\"chart counts\">\n<h2>Threads, descriptors, processes</h2>\n");
    for (series, class, name) in [
        (Series::Threads, "s-threads", "threads"),
        (Series::Fds, "s-fds", "open descriptors"),
        (Series::Processes, "s-processes", "processes"),
    ] {
        let lines = [Line {
            series,
            class,
            area: false,
        }];
        let title = format!("{name} over time");
        let chart = Chart {
            title: &title,
            timeline: &run.timeline,
            lines: &lines,
            unit: Unit::Count,
            size: COUNT_SIZE,
            end_s,
            overlays: None,
            thresholds: &[],
            threshold_note: "",
            events: &run.report.events,
            label_events: false,
        };
        let _ = write!(
            h,
            "<h3><span class=\"key {class}\"><i></i>{}</span></h3>\n{}",
            escape(name),
            chart.svg()
        );
    }
    h.push_str("</section>\n");
}

/// The chart columns for the hover script: `{"m": metric, "c": [[t, low, high, rss, threads,
/// fds, processes, cgroup], ...]}` (highs of each column; cgroup -1 without one).
fn hover_data(run: &Run<'_>) -> String {
    let mut s = format!(
        "{{\"m\":\"{}\",\"c\":[",
        css_word(&run.report.memory.metric)
    );
    for (i, c) in run.timeline.columns().enumerate() {
        let hi = |series| c.span(series).map_or(0.0, |s| s.max);
        let lo = c.span(Series::Metric).map_or(0.0, |s| s.min);
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "[{:.3},{},{},{},{},{},{},{}]",
            c.t(),
            lo,
            hi(Series::Metric),
            hi(Series::Rss),
            hi(Series::Threads),
            hi(Series::Fds),
            hi(Series::Processes),
            c.span(Series::Cgroup).map_or(-1.0, |s| s.max)
        );
    }
    s.push_str("]}");
    s
}

/// The page's stylesheet, inlined so the file needs nothing from the network.
pub const STYLE: &str = include_str!("html/style.css");

/// Hover values on the charts; a few lines of own script, no library.
const SCRIPT: &str = include_str!("html/hover.js");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{
        Event, EventKind, RecordedOptions, RunEnd, RunKind, RunMeta, RunVerdict, StoppedBy,
    };
    use crate::report::model::{top_processes, Metric, RunStats};
    use crate::report::timeline::Timeline;
    use crate::report::{Overlays, Projection, Run, Trend};
    use memwarden::detect::VerdictKind;
    use memwarden::sample::{Sample, TreeTotals};

    fn run(
        samples: Vec<Sample>,
        verdict: Option<RunVerdict>,
        options: RecordedOptions,
    ) -> Run<'static> {
        let meta = RunMeta {
            kind: RunKind::Run,
            label: "leaky <script>".into(),
            command: vec!["python3".into(), "leak.py".into()],
            host: "box".into(),
            started_at: "2024-05-01T10:00:00Z".into(),
            started_unix_ms: 0,
            interval_s: 1.0,
            mode: "cgroup-v2".into(),
            metric: "anon".into(),
            mem_total_bytes: 8 << 30,
            options: options.clone(),
        };
        let end = RunEnd {
            ended_unix_ms: 0,
            duration_s: samples.last().map_or(0.0, |s| s.t),
            exit: None,
            stopped_by: Some(StoppedBy::Limit),
            status: 121,
            peak_bytes: 0,
            verdict,
            samples: samples.len() as u64,
        };
        let mut stats = RunStats::new(Metric::Anon);
        samples.iter().for_each(|s| stats.push(s));
        let events = vec![
            Event::new(30.0, EventKind::Warn, "over 200 MiB"),
            Event::new(50.0, EventKind::Limit, "over 300 MiB & stopping"),
        ];
        let report = stats.report(Some(7), &meta, Some(&end), top_processes(0, []), events);
        Run {
            report,
            options,
            timeline: Timeline::of(Metric::Anon, &samples, 1000),
            overlays: Overlays::default(),
            samples: Box::new(samples),
        }
    }

    fn ramp() -> Vec<Sample> {
        (0..=60)
            .map(|i| Sample {
                t: i as f64,
                tree: TreeTotals {
                    anon_bytes: (10 + 5 * i) << 20,
                    rss_bytes: (15 + 5 * i) << 20,
                    threads: 3,
                    fds: 10 + i,
                    processes: 2,
                    ..Default::default()
                },
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn the_page_is_self_contained_and_says_everything() {
        let run = run(
            ramp(),
            Some(RunVerdict {
                kind: VerdictKind::Leak,
                memory_kind: VerdictKind::Leak,
                reason: "the floor rose steadily".into(),
                growth_bytes_per_s: 5242880.0,
                ..RunVerdict::default()
            }),
            RecordedOptions {
                given: vec!["run".into(), "--limit".into(), "300MiB".into()],
                warn_bytes: Some(200 << 20),
                limit_bytes: Some(300 << 20),
                ..RecordedOptions::default()
            },
        );
        let page = page(&run);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert_eq!(
            page.matches("<svg").count(),
            5,
            "memory twice (what leaks, what the limits watch) + three counts"
        );
        assert!(page.contains("Memory the limits watch: resident memory, summed over the tree"));
        assert!(page.contains("Verdict: <strong>leak</strong>"));
        assert!(page.contains("the floor rose steadily"));
        assert!(page.contains("leaky &lt;script&gt;"), "labels are escaped");
        assert!(!page.contains("leaky <script>"));
        assert!(page.contains("warn 200.0 MiB") && page.contains("limit 300.0 MiB"));
        assert!(page.contains("over 300 MiB &amp; stopping"));
        assert!(page.contains("memwarden run --limit 300MiB"));
        assert!(!page.contains("src=") && !page.contains("href="));
        assert!(!page.contains("@import") && !page.contains("url("));
    }

    #[test]
    fn an_unjudged_run_says_so_and_overlays_draw_when_given() {
        let mut run = run(ramp(), None, RecordedOptions::default());
        let page_without = page(&run);
        assert!(page_without.contains("Verdict: <strong>not judged</strong>"));
        assert!(!page_without.contains("class=\"floor-pt\""));
        run.overlays = Overlays {
            floor: vec![(0.0, 10.0 * 1048576.0), (60.0, 310.0 * 1048576.0)],
            trend: Some(Trend {
                intercept_bytes: 10.0 * 1048576.0,
                slope_bytes_per_s: 5.0 * 1048576.0,
                from_s: 0.0,
            }),
            projection: Some(Projection {
                from_s: 60.0,
                limit_bytes: 400.0 * 1048576.0,
                slope_bytes_per_s: 5.0 * 1048576.0,
                time_to_limit_s: 18.0,
                running: false,
            }),
        };
        let page = page(&run);
        assert!(page.contains("class=\"floor-pt\"") && page.contains("line projection"));
        assert!(page.contains("floor the detector judged"));
        assert!(page.contains("would have reached 400.0 MiB in 18.0s"));
    }

    #[test]
    fn an_empty_run_still_renders() {
        let page = page(&run(Vec::new(), None, RecordedOptions::default()));
        assert!(page.contains("No sample of a live tree was recorded."));
        assert!(page.contains("\"c\":[]"));
    }
}
