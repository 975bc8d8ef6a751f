//! Time charts of a run as SVG: series from a [`Timeline`] (low and high of each pixel column,
//! so peaks and floors stay visible at any length), warn/limit lines, events marked on the time
//! axis, and the detector's optional overlays: the floor it judged and the trend line with its
//! projection to the limit.
//!
//! Styling is by class (`.s-metric`, `.s-rss`, `.ev-limit`...), left to the page's CSS; the
//! drawing itself only places things. The size of the output depends on the number of columns,
//! not on the number of samples.

use memwarden::units::{format_bytes_f, format_seconds};

use super::axis::{time_label, time_step, value_label, value_step};
use super::svg::{Svg, Value};
use super::timeline::{Series, Timeline};
use super::{Overlays, Threshold};
use crate::record::Event;

/// What the y axis counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes, labelled in binary units.
    Bytes,
    /// A plain count (threads, descriptors, processes).
    Count,
}

/// A series to draw and the CSS class that styles it.
#[derive(Debug, Clone, Copy)]
pub struct Line {
    /// Which series of the timeline.
    pub series: Series,
    /// Its class, e.g. `s-metric`.
    pub class: &'static str,
    /// Whether to shade the area under it.
    pub area: bool,
}

/// One chart.
pub struct Chart<'a> {
    /// Accessible name of the chart.
    pub title: &'a str,
    /// The samples.
    pub timeline: &'a Timeline,
    /// The series to draw, back to front.
    pub lines: &'a [Line],
    /// What the y axis counts.
    pub unit: Unit,
    /// Width and height in user units (the page scales the drawing).
    pub size: (f64, f64),
    /// The run's end, seconds since start: the time axis reaches at least this far.
    pub end_s: f64,
    /// The detector's floor and trend (memory charts only).
    pub overlays: Option<&'a Overlays>,
    /// Warn and limit lines (memory charts only).
    pub thresholds: &'a [Threshold],
    /// Events to mark on the time axis.
    pub events: &'a [Event],
}

/// Margins around the plot: left (y labels), right, top, bottom (x labels, event marks).
const MARGIN: (f64, f64, f64, f64) = (78.0, 18.0, 14.0, 36.0);

/// Above this many, events are drawn one mark per few pixels (the events table lists them all).
const MAX_EVENT_MARKS: usize = 200;

/// A threshold more than this many times the data's highest value is named, not drawn to scale.
const THRESHOLD_SCALE: f64 = 3.0;

/// The time axis may stretch this much past the run's end to show the trend reach its limit.
const PROJECTION_STRETCH: f64 = 1.5;

/// Where the plot sits and how values map onto it.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// Plot area: left, top, right, bottom, in user units.
    pub plot: (f64, f64, f64, f64),
    /// Time range shown, seconds since start.
    pub t: (f64, f64),
    /// Value range shown.
    pub v: (f64, f64),
}

impl Frame {
    /// x of time `t`.
    pub fn x(&self, t: f64) -> f64 {
        let (l, _, r, _) = self.plot;
        l + (t - self.t.0) / (self.t.1 - self.t.0) * (r - l)
    }

    /// y of value `v`.
    pub fn y(&self, v: f64) -> f64 {
        let (_, top, _, bottom) = self.plot;
        bottom - (v - self.v.0) / (self.v.1 - self.v.0) * (bottom - top)
    }
}

impl Chart<'_> {
    /// The frame: the time range (stretched for a projection), the value range (rounded up
    /// to a tick), and the plot area.
    pub fn frame(&self) -> Frame {
        let (w, h) = self.size;
        let plot = (MARGIN.0, MARGIN.2, w - MARGIN.1, h - MARGIN.3);
        let (_, tl_end) = self.timeline.range();
        let floor = self.overlays.map_or(&[][..], |o| &o.floor[..]);
        let mut t_end = self
            .end_s
            .max(tl_end)
            .max(floor.iter().map(|p| p.0).fold(0.0, f64::max));
        if let Some(hit) = self.trend_hit() {
            if hit > t_end {
                t_end = hit.min(t_end * PROJECTION_STRETCH);
            }
        }
        if t_end <= 0.0 {
            t_end = 1.0;
        }
        let data_max = self
            .lines
            .iter()
            .filter_map(|l| self.timeline.max(l.series))
            .chain(floor.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        let mut v_max = data_max;
        for t in self.shown_thresholds(data_max) {
            v_max = v_max.max(t.bytes);
        }
        if let Some(trend) = self.overlays.and_then(|o| o.trend) {
            let at_end = trend.at(t_end);
            let capped = trend.limit_bytes.map_or(at_end, |l| at_end.min(l));
            if capped <= data_max.max(1.0) * THRESHOLD_SCALE {
                v_max = v_max.max(capped);
            }
        }
        let (step, _) = value_step(v_max.max(1.0), self.unit);
        let top = (v_max / step).ceil().max(1.0) * step;
        let top = if top <= v_max { top + step } else { top };
        Frame {
            plot,
            t: (0.0, t_end),
            v: (0.0, top),
        }
    }

    fn trend_hit(&self) -> Option<f64> {
        self.overlays?.trend?.hits_limit_at()
    }

    fn shown_thresholds(&self, data_max: f64) -> impl Iterator<Item = &Threshold> {
        self.thresholds
            .iter()
            .filter(move |t| data_max <= 0.0 || t.bytes <= data_max * THRESHOLD_SCALE)
    }

    /// The chart as an SVG element.
    pub fn svg(&self) -> String {
        let f = self.frame();
        let (w, h) = self.size;
        let (l, top, r, bottom) = f.plot;
        let t0 = format!("{}", f.t.0);
        let t1 = format!("{}", f.t.1);
        let mut svg = Svg::new(
            w,
            h,
            &[
                ("class", "mw-chart".into()),
                ("role", "img".into()),
                ("aria-label", self.title.into()),
                ("data-t0", Value::Text(&t0)),
                ("data-t1", Value::Text(&t1)),
                ("data-x0", l.into()),
                ("data-x1", r.into()),
            ],
        );
        svg.text("title", &[], self.title);
        self.axes(&mut svg, &f);
        // Thresholds first, so the data is drawn over them.
        for t in self.thresholds {
            let class = format!("th th-{}", t.kind);
            let label = format!("{} {}", t.kind, format_bytes_f(t.bytes));
            if t.bytes <= f.v.1 {
                let y = f.y(t.bytes);
                svg.line((l, y), (r, y), &[("class", Value::Text(&class))]);
                // At the left, where a growing series is still low.
                svg.text(
                    "text",
                    &[
                        ("class", Value::Text(&class)),
                        ("x", (l + 6.0).into()),
                        ("y", (y - 4.0).into()),
                    ],
                    &label,
                );
            } else {
                let above = format!("{label} (above the chart)");
                svg.text(
                    "text",
                    &[
                        ("class", Value::Text(&class)),
                        ("x", (r - 4.0).into()),
                        ("y", (top + 12.0).into()),
                        ("text-anchor", "end".into()),
                    ],
                    &above,
                );
            }
        }
        for line in self.lines {
            self.series(&mut svg, &f, line);
        }
        if let Some(o) = self.overlays {
            self.overlays(&mut svg, &f, o);
        }
        self.events(&mut svg, &f);
        // The hover guide, moved by the page's script.
        svg.line(
            (l, top),
            (l, bottom),
            &[("class", "guide".into()), ("visibility", "hidden".into())],
        );
        svg.finish()
    }

    fn axes(&self, svg: &mut Svg, f: &Frame) {
        let (l, top, r, bottom) = f.plot;
        svg.open("g", &[("class", "axis".into())]);
        let (step, base) = value_step(f.v.1, self.unit);
        let mut v = f.v.0;
        while v <= f.v.1 + step * 1e-6 {
            let y = f.y(v);
            svg.line((l, y), (r, y), &[("class", "grid".into())]);
            svg.text(
                "text",
                &[
                    ("x", (l - 6.0).into()),
                    ("y", (y + 4.0).into()),
                    ("text-anchor", "end".into()),
                ],
                &value_label(v, base, self.unit),
            );
            v += step;
        }
        let step = time_step(f.t.1 - f.t.0);
        let mut t = f.t.0;
        while t <= f.t.1 + step * 1e-6 {
            let x = f.x(t);
            svg.line((x, top), (x, bottom), &[("class", "grid".into())]);
            svg.text(
                "text",
                &[
                    ("x", x.into()),
                    ("y", (bottom + 16.0).into()),
                    ("text-anchor", "middle".into()),
                ],
                &time_label(t, step),
            );
            t += step;
        }
        svg.leaf(
            "rect",
            &[
                ("class", "frame".into()),
                ("x", l.into()),
                ("y", top.into()),
                ("width", (r - l).into()),
                ("height", (bottom - top).into()),
            ],
        );
        svg.close();
    }

    fn series(&self, svg: &mut Svg, f: &Frame, line: &Line) {
        let mut points = Vec::with_capacity(2 * crate::report::COLUMNS);
        for c in self.timeline.columns() {
            let Some(span) = c.span(line.series) else {
                continue;
            };
            let x = f.x(c.t());
            points.extend(span.in_order().map(|v| (x, f.y(v))));
        }
        if points.len() == 1 {
            // A single sample: a short flat stroke so it shows.
            let (x, y) = points[0];
            points = vec![(x - 2.0, y), (x + 2.0, y)];
        }
        if line.area && points.len() >= 2 {
            let base = f.y(f.v.0);
            let mut area = Vec::with_capacity(points.len() + 2);
            area.push((points[0].0, base));
            area.extend(&points);
            area.push((points[points.len() - 1].0, base));
            let class = format!("area {}", line.class);
            svg.polygon(&area, &[("class", Value::Text(&class))]);
        }
        let class = format!("line {}", line.class);
        svg.polyline(&points, &[("class", Value::Text(&class))]);
    }

    fn overlays(&self, svg: &mut Svg, f: &Frame, o: &Overlays) {
        let clip = |v: f64| v.clamp(f.v.0, f.v.1);
        if !o.floor.is_empty() {
            let points: Vec<(f64, f64)> = o
                .floor
                .iter()
                .map(|(t, v)| (f.x(*t), f.y(clip(*v))))
                .collect();
            svg.polyline(&points, &[("class", "line floor".into())]);
            for (x, y) in &points {
                svg.leaf(
                    "circle",
                    &[
                        ("class", "floor-pt".into()),
                        ("cx", (*x).into()),
                        ("cy", (*y).into()),
                        ("r", 2.0.into()),
                    ],
                );
            }
        }
        let Some(trend) = o.trend else { return };
        let (_, tl_end) = self.timeline.range();
        let run_end = self.end_s.max(tl_end).min(f.t.1);
        let from = trend.from_s.clamp(f.t.0, run_end);
        svg.polyline(
            &[
                (f.x(from), f.y(clip(trend.at(from)))),
                (f.x(run_end), f.y(clip(trend.at(run_end)))),
            ],
            &[("class", "line trend".into())],
        );
        // The projection: from the run's end to the limit, or to the edge of the chart.
        let hit = trend.hits_limit_at();
        let to = hit.filter(|h| *h > run_end).map_or(f.t.1, |h| h.min(f.t.1));
        if to > run_end && trend.slope_bytes_per_s > 0.0 {
            let end_v = trend.at(to);
            let end_y = f.y(clip(end_v));
            svg.polyline(
                &[
                    (f.x(run_end), f.y(clip(trend.at(run_end)))),
                    (f.x(to), end_y),
                ],
                &[("class", "line projection".into())],
            );
            if let Some(h) = hit.filter(|h| *h > run_end) {
                let text = if h <= f.t.1 {
                    format!("limit at {}", format_seconds(h))
                } else {
                    format!("limit at {} →", format_seconds(h))
                };
                svg.text(
                    "text",
                    &[
                        ("class", "projection-label".into()),
                        ("x", (f.x(to) - 4.0).into()),
                        ("y", (end_y + 14.0).into()),
                        ("text-anchor", "end".into()),
                    ],
                    &text,
                );
            }
        }
    }

    fn events(&self, svg: &mut Svg, f: &Frame) {
        if self.events.is_empty() {
            return;
        }
        let (_, top, _, bottom) = f.plot;
        // Events close together share a mark when there are many.
        let px = if self.events.len() > MAX_EVENT_MARKS {
            4.0
        } else {
            0.0
        };
        let mut groups: Vec<(f64, Vec<&Event>)> = Vec::new();
        for e in self.events {
            let x = f.x(e.at_s.clamp(f.t.0, f.t.1));
            match groups.last_mut() {
                Some((gx, g)) if (x - *gx).abs() <= px && g[0].kind == e.kind => g.push(e),
                _ => groups.push((x, vec![e])),
            }
        }
        svg.open("g", &[("class", "events".into())]);
        for (x, group) in groups {
            let e = group[0];
            let class = format!("ev ev-{}", css_word(e.kind.as_str()));
            let mut title = group
                .iter()
                .take(5)
                .map(|e| format!("{} {}: {}", format_seconds(e.at_s), e.kind, e.detail))
                .collect::<Vec<_>>()
                .join("\n");
            if group.len() > 5 {
                title.push_str(&format!("\n… and {} more", group.len() - 5));
            }
            svg.open("g", &[("class", Value::Text(&class))]);
            svg.text("title", &[], &title);
            svg.line((x, top), (x, bottom), &[]);
            svg.polygon(
                &[
                    (x, bottom),
                    (x - 4.5, bottom + 7.0),
                    (x + 4.5, bottom + 7.0),
                ],
                &[],
            );
            svg.close();
        }
        svg.close();
    }
}

/// An event kind as a CSS class word.
pub fn css_word(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Metric;
    use crate::report::Trend;
    use memwarden::sample::{Sample, TreeTotals};

    const MIB: f64 = 1048576.0;

    fn timeline() -> Timeline {
        let samples: Vec<Sample> = (0..=100)
            .map(|i| Sample {
                t: i as f64,
                tree: TreeTotals {
                    anon_bytes: (10 + i) as u64 * MIB as u64,
                    rss_bytes: (20 + i) as u64 * MIB as u64,
                    processes: 1,
                    ..Default::default()
                },
                ..Default::default()
            })
            .collect();
        Timeline::of(Metric::Anon, &samples, 1000)
    }

    #[test]
    fn a_projection_stretches_the_time_axis_to_the_limit_at_most_half_again() {
        let tl = timeline();
        let lines = [Line {
            series: Series::Metric,
            class: "s-metric",
            area: true,
        }];
        let overlays = Overlays {
            floor: vec![(0.0, 10.0 * MIB), (50.0, 60.0 * MIB), (100.0, 110.0 * MIB)],
            trend: Some(Trend {
                intercept_bytes: 10.0 * MIB,
                slope_bytes_per_s: MIB,
                from_s: 0.0,
                limit_bytes: Some(130.0 * MIB),
            }),
        };
        let thresholds = [Threshold {
            kind: "limit",
            bytes: 130.0 * MIB,
        }];
        let events = [Event::new(
            40.0,
            crate::record::EventKind::Warn,
            "over 50 MiB",
        )];
        let chart = Chart {
            title: "memory",
            timeline: &tl,
            lines: &lines,
            unit: Unit::Bytes,
            size: (1000.0, 300.0),
            end_s: 100.0,
            overlays: Some(&overlays),
            thresholds: &thresholds,
            events: &events,
        };
        let f = chart.frame();
        assert_eq!(f.t, (0.0, 120.0), "the trend hits 130 MiB at 120 s");
        assert!(f.v.1 > 130.0 * MIB, "{:?}", f.v);
        let svg = chart.svg();
        for class in [
            "line s-metric",
            "area s-metric",
            "line floor",
            "line trend",
            "line projection",
            "th th-limit",
            "ev ev-warn",
        ] {
            assert!(svg.contains(class), "{class} missing");
        }
        assert!(svg.contains("limit at 2m 00s"), "{svg}");
        assert!(svg.contains("40.0s warn: over 50 MiB"), "{svg}");

        // Without overlays the axis ends with the run, and a far limit is named, not drawn.
        let far = [Threshold {
            kind: "limit",
            bytes: 100.0 * 1024.0 * MIB,
        }];
        let chart = Chart {
            overlays: None,
            thresholds: &far,
            ..chart
        };
        assert_eq!(chart.frame().t, (0.0, 100.0));
        assert!(chart.frame().v.1 < 200.0 * MIB);
        let svg = chart.svg();
        assert!(svg.contains("limit 100.0 GiB (above the chart)"), "{svg}");
        assert!(!svg.contains("projection"));
    }
}
