//! Events on a chart: a dotted line at each moment, and a few words naming it above the plot
//! ("warn", "memory: leak", "OOM kill +2"), set in rows so no two labels overlap; what does not
//! fit is still marked, and named on hover (the events table lists them all).

use memwarden::units::format_seconds;

use super::chart::{css_word, Frame};
use super::svg::{Svg, Value};
use super::term::{printable, shorten};
use crate::record::{Event, EventKind};

/// Events closer than this (user units) share a mark and a label.
const EVENT_MERGE: f64 = 3.0;

/// Rows of labels at the top of the plot; an event whose label fits in none is marked without
/// one.
pub const LABEL_ROWS: usize = 4;

/// Width of a label's character, user units (11px text is ~6 wide).
const LABEL_CHAR: f64 = 6.0;

/// Marks `events` on the plot of `f`, with their labels when `labelled`.
pub fn draw(svg: &mut Svg, f: &Frame, events: &[Event], labelled: bool) {
    let (l, top, r, bottom) = f.plot;
    // Events close together share a mark; the setup notes at the start are not marked.
    let mut groups: Vec<(f64, Vec<&Event>)> = Vec::new();
    for e in events.iter().filter(|e| marked(&e.kind)) {
        let x = f.x(e.at_s.clamp(f.t.0, f.t.1));
        match groups.last_mut() {
            Some((gx, g)) if (x - *gx).abs() <= EVENT_MERGE => g.push(e),
            _ => groups.push((x, vec![e])),
        }
    }
    if groups.is_empty() {
        return;
    }
    let mut rows: Vec<Vec<(f64, f64)>> = vec![Vec::new(); LABEL_ROWS];
    svg.open("g", &[("class", "events".into())]);
    for (x, group) in groups {
        let e = group[0];
        let class = format!("ev ev-{}", css_word(e.kind.as_str()));
        let mut title = group
            .iter()
            .take(5)
            .map(|e| {
                format!(
                    "{} {}: {}",
                    format_seconds(e.at_s),
                    e.kind,
                    printable(&e.detail)
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        if group.len() > 5 {
            title.push_str(&format!("\n… and {} more", group.len() - 5));
        }
        svg.open("g", &[("class", Value::Text(&class))]);
        svg.text("title", &[], &title);
        svg.line((x, top), (x, bottom), &[]);
        if labelled {
            let mut label = event_label(e);
            if group.len() > 1 {
                label.push_str(&format!(" +{}", group.len() - 1));
            }
            let width = label.chars().count() as f64 * LABEL_CHAR;
            // Right of the mark, or left of it near the right edge.
            let (x0, anchor) = if x + 3.0 + width <= r {
                (x + 3.0, "start")
            } else {
                (x - 3.0 - width, "end")
            };
            let span = (x0.max(l) - 4.0, x0 + width + 4.0);
            let free = rows
                .iter()
                .position(|row| row.iter().all(|(a, b)| span.1 < *a || span.0 > *b));
            if let Some(i) = free {
                rows[i].push(span);
                let tx = if anchor == "start" { x + 3.0 } else { x - 3.0 };
                svg.text(
                    "text",
                    &[
                        ("class", "ev-label".into()),
                        ("x", tx.into()),
                        ("y", (top + 11.0 + 12.0 * i as f64).into()),
                        ("text-anchor", anchor.into()),
                    ],
                    &label,
                );
            }
        }
        svg.close();
    }
    svg.close();
}

/// Whether an event is marked on the charts: not the start and the guard's setup notes,
/// which are about the run as a whole (the events table lists them).
fn marked(kind: &EventKind) -> bool {
    !matches!(kind, EventKind::Start | EventKind::Guard)
}

/// A few words for an event's mark: its kind, or for a verdict change what changed
/// (`memory: leak`), for a signal which one.
pub fn event_label(e: &Event) -> String {
    let words = match &e.kind {
        // What changed, before its figures: "memory: leak", "memory: rising 28.1 MiB/s".
        EventKind::Verdict => e
            .detail
            .split([';', '(', '—'])
            .next()
            .unwrap_or("verdict")
            .trim()
            .to_string(),
        EventKind::Signal => e
            .detail
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find(|w| w.starts_with("SIG") && w.len() > 3)
            .unwrap_or("signal")
            .to_string(),
        EventKind::OomKill => "OOM kill".to_string(),
        EventKind::Leak => "leak action".to_string(),
        EventKind::StoreError => "store error".to_string(),
        EventKind::SystemFloor => "system floor".to_string(),
        other => other.as_str().to_string(),
    };
    shorten(&printable(&words), 28)
}
