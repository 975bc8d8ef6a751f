//! HTML: one self-contained page per run, readable offline and printable. Inline CSS, SVG
//! charts drawn by [`super::chart`], a few lines of own script for hover values; nothing is
//! loaded from anywhere. Its size depends on the number of chart columns, processes and events
//! shown, not on the number of samples.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;
use memwarden::units::{format_bytes, format_bytes_f, format_rate, format_seconds};
use serde_json::Value as Json;

use super::chart::{css_word, Chart, Line, Unit};
use super::svg::escape;
use super::text::ending;
use super::timeline::Series;
use super::verdict::{Verdict, NOT_JUDGED};
use super::{RenderRun, Run};

/// The HTML format.
pub struct Html;

/// Events listed in the page's table at most (the JSON report has them all).
const MAX_EVENT_ROWS: usize = 500;

const MEMORY_SIZE: (f64, f64) = (1000.0, 340.0);
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
    let title = match r.run_id {
        Some(id) => format!("run {id}: {}", r.label),
        None => r.label.clone(),
    };
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
    let when = if r.kind == "watch" { "for" } else { "after" };
    let ended = format!(
        "{} {when} {}",
        capitalized(&ending(r)),
        format_seconds(r.duration_s)
    );
    let _ = write!(
        h,
        "<header>\n<p class=\"brand\">memwarden report</p>\n<h1>{}</h1>\n\
         <p class=\"cmd\"><code>{}</code></p>\n<p class=\"sub\">{} · started {} on {} · {} · \
         {} samples, interval {}</p>\n</header>\n",
        escape(title),
        escape(&r.command.join(" ")),
        escape(&ended),
        escape(&r.started_at),
        escape(&r.host),
        escape(&r.mode),
        r.samples,
        escape(&format_seconds(r.interval_s)),
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
    match Verdict::from_json(run.report.verdict.as_ref()) {
        None => {
            let _ = write!(
                h,
                "<section class=\"verdict v-none\" id=\"verdict\">\n<h2>Verdict: \
                 <strong>{NOT_JUDGED}</strong></h2>\n<p>No leak verdict was recorded for this \
                 run; the figures and charts below are the measurements.</p>\n</section>\n"
            );
        }
        Some(v) => {
            let _ = write!(
                h,
                "<section class=\"verdict v-{}\" id=\"verdict\">\n<h2>Verdict: \
                 <strong>{}</strong></h2>\n",
                css_word(&v.kind),
                escape(&v.kind)
            );
            if !v.reason.is_empty() {
                let _ = writeln!(h, "<p class=\"reason\">{}</p>", escape(&v.reason));
            }
            let figures = v.figures();
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
    let tl = &run.timeline;
    let metric = r.memory.metric.as_str();
    let mut lines = vec![Line {
        series: Series::Metric,
        class: "s-metric",
        area: true,
    }];
    let mut legend = vec![("s-metric", format!("{metric} (tree total)"))];
    if metric != "rss" {
        lines.insert(
            0,
            Line {
                series: Series::Rss,
                class: "s-rss",
                area: false,
            },
        );
        legend.push(("s-rss", "rss (tree total)".into()));
    }
    if tl.max(Series::Cgroup).is_some() {
        lines.insert(
            0,
            Line {
                series: Series::Cgroup,
                class: "s-cgroup",
                area: false,
            },
        );
        legend.push(("s-cgroup", "cgroup charge".into()));
    }
    if !run.overlays.floor.is_empty() {
        legend.push(("floor", "floor judged by the detector".into()));
    }
    if let Some(t) = run.overlays.trend {
        legend.push((
            "trend",
            format!("trend {}", format_rate(t.slope_bytes_per_s)),
        ));
        if t.hits_limit_at().is_some() {
            legend.push(("projection", "projection to the limit".into()));
        }
    }
    let thresholds = run.thresholds();
    for t in &thresholds {
        let class = if t.kind == "warn" {
            "th-warn"
        } else {
            "th-limit"
        };
        legend.push((class, format!("{} {}", t.kind, format_bytes_f(t.bytes))));
    }
    if !r.events.is_empty() {
        legend.push(("ev", "events (hover for details)".into()));
    }
    let chart = Chart {
        title: &format!("The tree's memory ({metric}) over time"),
        timeline: tl,
        lines: &lines,
        unit: Unit::Bytes,
        size: MEMORY_SIZE,
        end_s: r.duration_s,
        overlays: Some(&run.overlays),
        thresholds: &thresholds,
        events: &r.events,
    }
    .svg();
    h.push_str("<section class=\"chart\">\n<h2>Memory</h2>\n<p class=\"legend\">");
    for (class, text) in legend {
        let _ = write!(
            h,
            "<span class=\"key {class}\"><i></i>{}</span> ",
            escape(&text)
        );
    }
    h.push_str("</p>\n");
    if tl.is_empty() {
        h.push_str("<p class=\"empty\">No sample of a live tree was recorded.</p>\n");
    } else {
        h.push_str(&chart);
    }
    h.push_str("</section>\n");
}

fn counts(h: &mut String, run: &Run<'_>) {
    if run.timeline.is_empty() {
        return;
    }
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
            end_s: run.report.duration_s,
            overlays: None,
            thresholds: &[],
            events: &run.report.events,
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

fn processes(h: &mut String, run: &Run<'_>) {
    let top = &run.report.processes.top;
    if top.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<section>\n<h2>Largest processes</h2>\n<p class=\"note\">{} seen; the {} \
         largest by peak anonymous memory. Growth is the average between first and last \
         sight.</p>\n<table>\n<thead><tr><th>pid</th><th class=\"n\">peak anon</th>\
         <th class=\"n\">peak rss</th><th class=\"n\">growth</th><th>seen</th><th>command</th>\
         </tr></thead>\n<tbody>\n",
        super::text::processes(run.report.processes.seen),
        top.len()
    );
    for p in top {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td>{} – {}{}</td><td><code>{}</code></td></tr>",
            p.pid,
            format_bytes(p.peak_bytes),
            format_bytes(p.peak_rss_bytes),
            escape(&format_rate(p.growth_bytes_per_s)),
            format_seconds(p.seen_s[0]),
            format_seconds(p.seen_s[1]),
            if p.exited { "" } else { " (alive)" },
            escape(&p.command)
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn events(h: &mut String, run: &Run<'_>) {
    let events = &run.report.events;
    if events.is_empty() {
        return;
    }
    h.push_str(
        "<section>\n<h2>Events</h2>\n<table>\n<thead><tr><th class=\"n\">at</th><th>kind</th>\
         <th>what happened</th></tr></thead>\n<tbody>\n",
    );
    for e in events.iter().take(MAX_EVENT_ROWS) {
        let _ = writeln!(
            h,
            "<tr class=\"ev-{}\"><td class=\"n\">{}</td><td><b>{}</b></td><td>{}</td></tr>",
            css_word(&e.kind),
            format_seconds(e.at_s),
            escape(&e.kind),
            escape(&e.detail)
        );
    }
    h.push_str("</tbody>\n</table>\n");
    if events.len() > MAX_EVENT_ROWS {
        let _ = writeln!(
            h,
            "<p class=\"note\">… and {} more (all are in <code>memwarden report --format \
             json</code>).</p>",
            events.len() - MAX_EVENT_ROWS
        );
    }
    h.push_str("</section>\n");
}

fn details(h: &mut String, run: &Run<'_>) {
    let r = &run.report;
    let mut items: Vec<(String, String)> = vec![
        (
            "run".into(),
            r.run_id.map_or("not recorded".into(), |i| i.to_string()),
        ),
        ("label".into(), r.label.clone()),
        ("command".into(), r.command.join(" ")),
        ("kind".into(), r.kind.clone()),
        ("started".into(), r.started_at.clone()),
        ("host".into(), r.host.clone()),
        ("mode".into(), r.mode.clone()),
        ("metric".into(), r.memory.metric.clone()),
        ("end".into(), ending(r)),
        ("memwarden status".into(), r.status.to_string()),
    ];
    if let Json::Object(options) = &run.options {
        for (k, v) in options {
            let v = match v {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            items.push((format!("option {k}"), v));
        }
    }
    h.push_str("<section>\n<h2>Run</h2>\n<dl class=\"details\">\n");
    for (k, v) in items {
        let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", escape(&k), escape(&v));
    }
    h.push_str("</dl>\n</section>\n");
}

/// The chart columns for the hover script: `{"m": metric, "c": [[t, low, high, rss, threads,
/// fds, processes], ...]}` (highs of each column).
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
            "[{:.3},{},{},{},{},{},{}]",
            c.t(),
            lo,
            hi(Series::Metric),
            hi(Series::Rss),
            hi(Series::Threads),
            hi(Series::Fds),
            hi(Series::Processes)
        );
    }
    s.push_str("]}");
    s
}

const STYLE: &str = r#"
:root{--fg:#111827;--muted:#4b5563;--line:#e5e7eb;--metric:#2563eb;--rss:#94a3b8;--cgroup:#9333ea;
--floor:#16a34a;--trend:#ea580c;--warn:#d97706;--limit:#dc2626;--event:#64748b}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:20px 24px 32px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 8px}h3{font-size:13px;margin:10px 0 2px;font-weight:600}
.brand{margin:0;color:var(--muted);font-size:12px;letter-spacing:.06em;text-transform:uppercase}
.cmd{margin:4px 0}.cmd code{background:#f3f4f6;padding:2px 6px;border-radius:4px;word-break:break-all}
.sub,.note,footer{color:var(--muted);font-size:13px}
code{font:12.5px ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace}
.verdict{border-left:6px solid var(--event);background:#f8fafc;padding:8px 14px;margin:14px 0;border-radius:4px}
.verdict h2{margin:4px 0}.verdict p{margin:4px 0}
.v-leak{border-color:var(--limit);background:#fef2f2}.v-leak strong{color:#b91c1c}
.v-stable{border-color:var(--floor);background:#f0fdf4}.v-stable strong{color:#15803d}
.v-plateau{border-color:var(--warn);background:#fffbeb}.v-plateau strong{color:#b45309}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:8px 18px;margin:0}
.grid div{border-top:1px solid var(--line);padding-top:4px}
dt{color:var(--muted);font-size:12px}dd{margin:0;font-weight:600}
.details{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px}.details dd{font-weight:400;word-break:break-all}
svg.mw-chart{display:block;width:100%;height:auto;overflow:visible}
.mw-chart text{font-size:11px;fill:var(--muted)}
.grid line,line.grid{stroke:var(--line);stroke-width:1}
.frame{fill:none;stroke:#9ca3af;stroke-width:1}
.line{fill:none;stroke-width:1.6;stroke-linejoin:round}
.area{stroke:none;opacity:.13}
.s-metric{stroke:var(--metric);fill:var(--metric)}.line.s-metric{fill:none}
.s-rss{stroke:var(--rss)}.s-cgroup{stroke:var(--cgroup);stroke-dasharray:5 3}
.s-threads{stroke:#0891b2}.s-fds{stroke:#65a30d}.s-processes{stroke:#c2410c}
.floor{stroke:var(--floor);stroke-width:2}.floor-pt{fill:var(--floor)}
.trend{stroke:var(--trend);stroke-width:2}.projection{stroke:var(--trend);stroke-width:2;stroke-dasharray:7 5}
text.projection-label{fill:var(--trend);font-weight:600}
line.th{stroke-width:1.5;stroke-dasharray:8 4}line.th-warn{stroke:var(--warn)}line.th-limit{stroke:var(--limit)}
text.th-warn{fill:var(--warn);font-weight:600}text.th-limit{fill:var(--limit);font-weight:600}
.ev line{stroke:var(--event);stroke-dasharray:2 3;stroke-width:1}.ev polygon{fill:var(--event)}
.ev-warn line{stroke:var(--warn)}.ev-warn polygon{fill:var(--warn)}
.ev-limit line,.ev-stop line,.ev-oom-kill line{stroke:var(--limit)}
.ev-limit polygon,.ev-stop polygon,.ev-oom-kill polygon{fill:var(--limit)}
.ev-store-error line{stroke:var(--cgroup)}.ev-store-error polygon{fill:var(--cgroup)}
.guide{stroke:#111827;stroke-width:1;opacity:.5}
.legend{margin:0 0 6px;font-size:13px;color:var(--muted)}
.key{white-space:nowrap;margin-right:12px}
.key i{display:inline-block;width:18px;height:0;border-top:3px solid var(--event);vertical-align:middle;margin-right:5px}
.key.s-metric i{border-color:var(--metric)}.key.s-rss i{border-color:var(--rss)}.key.s-cgroup i{border-color:var(--cgroup);border-top-style:dashed}
.key.floor i{border-color:var(--floor)}.key.trend i{border-color:var(--trend)}.key.projection i{border-color:var(--trend);border-top-style:dashed}
.key.th-warn i{border-color:var(--warn);border-top-style:dashed}.key.th-limit i{border-color:var(--limit);border-top-style:dashed}
.key.ev i{border-top-style:dotted}
.key.s-threads i{border-color:#0891b2}.key.s-fds i{border-color:#65a30d}.key.s-processes i{border-color:#c2410c}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}.n{text-align:right;white-space:nowrap}
td code{word-break:break-all}
tr.ev-warn b{color:var(--warn)}tr.ev-limit b,tr.ev-stop b,tr.ev-oom-kill b{color:var(--limit)}
footer{margin-top:28px;border-top:1px solid var(--line);padding-top:8px}
.tip{position:absolute;pointer-events:none;background:#111827;color:#fff;font-size:12px;padding:4px 8px;border-radius:4px;white-space:nowrap}
@media print{main{max-width:none;padding:0}.tip,.guide{display:none}section{break-inside:avoid}body{font-size:11pt}@page{margin:12mm}}
"#;

const SCRIPT: &str = r#"
(function(){
var D=JSON.parse(document.getElementById('mw-data').textContent),tip=document.getElementById('tip');
function fb(b){var u=['B','KiB','MiB','GiB','TiB'],i=0;while(b>=1024&&i<4){b/=1024;i++}return(i?b.toFixed(1):b.toFixed(0))+' '+u[i]}
function ft(s){var p=function(n){return(n<10?'0':'')+n};return s<60?s.toFixed(1)+'s':s<3600?Math.floor(s/60)+'m '+p(Math.round(s%60))+'s':s<86400?Math.floor(s/3600)+'h '+p(Math.floor(s%3600/60))+'m':Math.floor(s/86400)+'d '+Math.floor(s%86400/3600)+'h'}
document.querySelectorAll('svg.mw-chart').forEach(function(svg){
var g=svg.querySelector('.guide'),w=svg.viewBox.baseVal.width,d=svg.dataset,x0=+d.x0,x1=+d.x1,t0=+d.t0,t1=+d.t1;
function hide(){g.setAttribute('visibility','hidden');tip.hidden=true}
svg.addEventListener('mousemove',function(e){
var r=svg.getBoundingClientRect(),x=(e.clientX-r.left)*w/r.width,C=D.c;
if(x<x0||x>x1||!C.length)return hide();
var t=t0+(x-x0)/(x1-x0)*(t1-t0),lo=0,hi=C.length-1;
while(lo<hi){var m=(lo+hi)>>1;if(C[m][0]<t)lo=m+1;else hi=m}
if(lo>0&&t-C[lo-1][0]<C[lo][0]-t)lo--;
var c=C[lo],cx=x0+(c[0]-t0)/(t1-t0)*(x1-x0);
g.setAttribute('x1',cx);g.setAttribute('x2',cx);g.setAttribute('visibility','visible');
tip.textContent=ft(c[0])+' · '+D.m+' '+(c[1]==c[2]?fb(c[2]):fb(c[1])+' – '+fb(c[2]))+' · rss '+fb(c[3])+' · threads '+c[4]+' · fds '+c[5]+' · processes '+c[6];
tip.hidden=false;tip.style.left=(e.pageX+14)+'px';tip.style.top=(e.pageY+14)+'px'});
svg.addEventListener('mouseleave',hide)})})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Event, RunEnd, RunMeta};
    use crate::report::model::{top_processes, Metric, RunStats};
    use crate::report::timeline::Timeline;
    use crate::report::{Overlays, Run, Trend};
    use memwarden::sample::{Sample, TreeTotals};
    use serde_json::json;

    fn run(samples: Vec<Sample>, verdict: Option<Json>, options: Json) -> Run<'static> {
        let meta = RunMeta {
            kind: "run".into(),
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
            stopped_by: Some("limit".into()),
            status: 121,
            peak_bytes: 0,
            verdict,
            samples: samples.len() as u64,
        };
        let mut stats = RunStats::new(Metric::Anon);
        samples.iter().for_each(|s| stats.push(s));
        let events = vec![
            Event::new(30.0, "warn", "over 200 MiB"),
            Event::new(50.0, "limit", "over 300 MiB & stopping"),
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
            Some(json!({"kind": "leak", "reason": "the floor rose steadily",
                        "growth_bytes_per_s": 5242880.0})),
            json!({"interval": "1s", "warn_bytes": 200u64 << 20, "limit_bytes": 300u64 << 20}),
        );
        let page = page(&run);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert_eq!(page.matches("<svg").count(), 4, "memory + three counts");
        assert!(page.contains("Verdict: <strong>leak</strong>"));
        assert!(page.contains("the floor rose steadily"));
        assert!(page.contains("leaky &lt;script&gt;"), "labels are escaped");
        assert!(!page.contains("leaky <script>"));
        assert!(page.contains("warn 200.0 MiB") && page.contains("limit 300.0 MiB"));
        assert!(page.contains("over 300 MiB &amp; stopping"));
        assert!(page.contains("option limit_bytes"));
        assert!(!page.contains("src=") && !page.contains("href="));
        assert!(!page.contains("@import") && !page.contains("url("));
    }

    #[test]
    fn an_unjudged_run_says_so_and_overlays_draw_when_given() {
        let mut run = run(ramp(), None, json!({}));
        let page_without = page(&run);
        assert!(page_without.contains("Verdict: <strong>not judged</strong>"));
        assert!(!page_without.contains("line floor"));
        run.overlays = Overlays {
            floor: vec![(0.0, 10.0 * 1048576.0), (60.0, 310.0 * 1048576.0)],
            trend: Some(Trend {
                intercept_bytes: 10.0 * 1048576.0,
                slope_bytes_per_s: 5.0 * 1048576.0,
                from_s: 0.0,
                limit_bytes: Some(400.0 * 1048576.0),
            }),
        };
        let page = page(&run);
        assert!(page.contains("line floor") && page.contains("line projection"));
        assert!(page.contains("floor judged by the detector"));
    }

    #[test]
    fn an_empty_run_still_renders() {
        let page = page(&run(Vec::new(), None, Json::Null));
        assert!(page.contains("No sample of a live tree was recorded."));
        assert!(page.contains("\"c\":[]"));
    }
}
