//! The page's tables: the processes by command, the events, and the run's details.

use std::fmt::Write as _;

use memwarden::units::{format_bytes, format_seconds};

use crate::record::RunState;
use crate::report::chart::css_word;
use crate::report::ending::{ending_with_status, processes as n_processes};
use crate::report::svg::escape;
use crate::report::term::{command_line, printable};
use crate::report::text::grows;
use crate::report::Run;

/// Events listed in the page's table at most (the JSON report has them all).
const MAX_EVENT_ROWS: usize = 500;

pub fn processes(h: &mut String, run: &Run<'_>) {
    let groups = &run.report.processes.groups;
    if groups.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<section>\n<h2>Largest processes, by command</h2>\n<p class=\"note\">{} seen, \
         grouped by command line; the {} largest groups by their peaks (anonymous memory) \
         added up. Grows: how fast a group's processes piled up, or a lone process's memory \
         grew between its first and last sight.</p>\n<table>\n<thead><tr>\
         <th class=\"n\">count</th><th>command</th><th class=\"n\">peak each</th>\
         <th class=\"n\">together</th><th class=\"n\">grows</th><th>seen</th><th>pids</th>\
         </tr></thead>\n<tbody>\n",
        n_processes(run.report.processes.seen),
        groups.len()
    );
    for g in groups {
        let each = if g.peak_bytes_max > g.peak_bytes_each + g.peak_bytes_each / 5 {
            format!(
                "{} (up to {})",
                format_bytes(g.peak_bytes_each),
                format_bytes(g.peak_bytes_max)
            )
        } else {
            format_bytes(g.peak_bytes_each)
        };
        let mut pids: Vec<String> = g.pids.iter().map(u32::to_string).collect();
        if g.count as usize > pids.len() {
            pids.push("…".into());
        }
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">{} ×</td><td><code title=\"{}\">{}</code></td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td>{} – {}{}</td><td>{}</td></tr>",
            g.count,
            escape(&printable(&g.command)),
            escape(&command_line(&g.command)),
            escape(&each),
            format_bytes(g.peak_bytes_together),
            escape(&grows(g)),
            format_seconds(g.seen_s[0]),
            format_seconds(g.seen_s[1]),
            if g.alive_at_end > 0 {
                format!(" ({} alive at the end)", g.alive_at_end)
            } else {
                String::new()
            },
            pids.join(", ")
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

pub fn events(h: &mut String, run: &Run<'_>) {
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
            css_word(e.kind.as_str()),
            format_seconds(e.at_s),
            escape(e.kind.as_str()),
            escape(&printable(&e.detail))
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

pub fn details(h: &mut String, run: &Run<'_>) {
    let r = &run.report;
    let mut items: Vec<(String, String)> = vec![
        (
            "run".into(),
            r.run_id.map_or("not recorded".into(), |i| i.to_string()),
        ),
        ("label".into(), printable(&r.label).into_owned()),
        (
            "command".into(),
            printable(&r.command.join(" ")).into_owned(),
        ),
        ("kind".into(), r.kind.as_str().into()),
        ("started".into(), r.started_at.clone()),
        ("host".into(), printable(&r.host).into_owned()),
        ("mode".into(), r.mode.clone()),
        ("metric".into(), r.memory.metric.clone()),
        ("end".into(), ending_with_status(r)),
        (
            "memwarden status".into(),
            match r.state {
                RunState::Ended => r.status.to_string(),
                state => format!("none yet ({})", state.describe()),
            },
        ),
    ];
    let given = run.options_line();
    if !given.is_empty() {
        items.push(("options".into(), printable(&given).into_owned()));
    }
    h.push_str("<section>\n<h2>Run</h2>\n<dl class=\"details\">\n");
    for (k, v) in items {
        let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", escape(&k), escape(&v));
    }
    h.push_str("</dl>\n</section>\n");
}
