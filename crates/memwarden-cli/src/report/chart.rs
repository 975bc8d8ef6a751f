//! Time charts of a run as SVG: series from a [`Timeline`] (low and high of each pixel column,
//! so peaks and floors stay visible at any length), warn/limit lines named for the figure they
//! apply to, events marked and labelled on the time axis, and the detector's optional
//! overlays: the floor it judged, the trend line, and the verdict's projection to its limit
//! (with the same time to the limit the words give).
//!
//! Styling is by class (`.s-metric`, `.s-rss`, `.ev-limit`...), left to the page's CSS; the
//! drawing itself only places things. The size of the output depends on the number of columns,
//! not on the number of samples.

use memwarden::units::format_bytes_f;

use super::axis::{time_label, time_step, value_label, value_step};
use super::marks;
use super::svg::{Svg, Value};
use super::timeline::{Series, Timeline};
use super::verdict::time_until;
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
    /// What the thresholds apply to, after their value: ` on the cgroup charge`.
    pub threshold_note: &'a str,
    /// Events to mark on the time axis.
    pub events: &'a [Event],
    /// Whether to write what each event is above its mark (else a line, named on hover).
    pub label_events: bool,
}

/// Margins around the plot: left (y labels), right, top, bottom (x labels, event marks).
const MARGIN: (f64, f64, f64, f64) = (78.0, 18.0, 14.0, 36.0);

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
        if let Some(hit) = self.projection().map(|p| p.hits_at()) {
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
        if let Some(p) = self.projection() {
            let capped = p.at(t_end).min(p.limit_bytes);
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

    fn projection(&self) -> Option<super::Projection> {
        self.overlays?.projection
    }

    fn shown_thresholds(&self, data_max: f64) -> impl Iterator<Item = &Threshold> {
        self.thresholds
            .iter()
            .filter(move |t| data_max <= 0.0 || t.bytes <= data_max * THRESHOLD_SCALE)
    }

    /// The chart as an SVG element, scaled by its container.
    pub fn svg(&self) -> String {
        self.draw(None)
    }

    /// The chart as an SVG element at its own size, `y` down in the document it goes into.
    pub fn svg_at(&self, y: f64) -> String {
        self.draw(Some(y))
    }

    fn draw(&self, at: Option<f64>) -> String {
        let f = self.frame();
        let (w, h) = self.size;
        let (l, top, r, bottom) = f.plot;
        let t0 = format!("{}", f.t.0);
        let t1 = format!("{}", f.t.1);
        let mut attrs = vec![
            ("class", "mw-chart".into()),
            ("role", "img".into()),
            ("aria-label", self.title.into()),
            ("data-t0", Value::Text(&t0)),
            ("data-t1", Value::Text(&t1)),
            ("data-x0", l.into()),
            ("data-x1", r.into()),
        ];
        if let Some(y) = at {
            attrs.extend([
                ("x", 0.0.into()),
                ("y", y.into()),
                ("width", w.into()),
                ("height", h.into()),
            ]);
        }
        let mut svg = Svg::new(w, h, &attrs);
        svg.text("title", &[], self.title);
        self.axes(&mut svg, &f);
        // Thresholds first, so the data is drawn over them; those above the chart are named
        // one under the other.
        let mut above = 0.0;
        for t in self.thresholds {
            let class = format!("th th-{}", t.kind);
            let label = format!(
                "{} {}{}",
                t.kind,
                format_bytes_f(t.bytes),
                self.threshold_note
            );
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
                let text = format!("{label} (above the chart)");
                svg.text(
                    "text",
                    &[
                        ("class", Value::Text(&class)),
                        ("x", (r - 4.0).into()),
                        ("y", (top + 12.0 + 14.0 * above).into()),
                        ("text-anchor", "end".into()),
                    ],
                    &text,
                );
                above += 1.0;
            }
        }
        for line in self.lines {
            self.series(&mut svg, &f, line);
        }
        if let Some(o) = self.overlays {
            self.overlays(&mut svg, &f, o);
        }
        marks::draw(&mut svg, &f, self.events, self.label_events);
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
        let (_, tl_end) = self.timeline.range();
        let run_end = self.end_s.max(tl_end).min(f.t.1);
        if let Some(trend) = o.trend {
            let from = trend.from_s.clamp(f.t.0, run_end);
            svg.polyline(
                &[
                    (f.x(from), f.y(clip(trend.at(from)))),
                    (f.x(run_end), f.y(clip(trend.at(run_end)))),
                ],
                &[("class", "line trend".into())],
            );
        }
        // The floor as points over the trend: a line of its own would lie on the series' lows.
        svg.open("g", &[("class", "floor".into())]);
        for (t, v) in &o.floor {
            svg.leaf(
                "circle",
                &[
                    ("class", "floor-pt".into()),
                    ("cx", f.x(*t).into()),
                    ("cy", f.y(clip(*v)).into()),
                    ("r", 3.0.into()),
                ],
            );
        }
        svg.close();
        let Some(p) = o.projection else { return };
        let from = p.from_s.clamp(f.t.0, f.t.1);
        let to = p.hits_at().min(f.t.1);
        if to <= from {
            return;
        }
        let end_y = f.y(clip(p.at(to)));
        svg.polyline(
            &[(f.x(from), f.y(clip(p.at(from)))), (f.x(to), end_y)],
            &[("class", "line projection".into())],
        );
        let verb = if p.running {
            "reaches"
        } else {
            "would have reached"
        };
        let arrow = if p.hits_at() > f.t.1 { " →" } else { "" };
        let text = format!(
            "at this rate it {verb} {} {}{arrow}",
            format_bytes_f(p.limit_bytes),
            time_until(p.time_to_limit_s)
        );
        if p.hits_at() <= f.t.1 {
            svg.leaf(
                "circle",
                &[
                    ("class", "projection-pt".into()),
                    ("cx", f.x(to).into()),
                    ("cy", end_y.into()),
                    ("r", 3.5.into()),
                ],
            );
        }
        svg.text(
            "text",
            &[
                ("class", "projection-label".into()),
                ("x", (f.x(to) - 6.0).into()),
                ("y", (end_y + 16.0).into()),
                ("text-anchor", "end".into()),
            ],
            &text,
        );
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
    use crate::record::EventKind;
    use crate::report::model::Metric;
    use crate::report::{Projection, Trend};
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
            }),
            projection: Some(Projection {
                from_s: 100.0,
                limit_bytes: 130.0 * MIB,
                slope_bytes_per_s: MIB,
                time_to_limit_s: 20.0,
                running: false,
            }),
        };
        let thresholds = [Threshold {
            kind: "limit",
            bytes: 130.0 * MIB,
        }];
        let events = [
            Event::new(0.01, EventKind::Start, "started `x`"),
            Event::new(40.0, EventKind::Warn, "over 50 MiB"),
            Event::new(40.5, EventKind::Verdict, "memory: leak — floor rose"),
            Event::new(
                70.0,
                EventKind::Verdict,
                "memory: rising 2 MiB/s (1 to 3); at this",
            ),
            Event::new(99.0, EventKind::Limit, "reached 130 MiB"),
        ];
        let chart = Chart {
            title: "memory",
            timeline: &tl,
            lines: &lines,
            unit: Unit::Bytes,
            size: (1000.0, 300.0),
            end_s: 100.0,
            overlays: Some(&overlays),
            thresholds: &thresholds,
            threshold_note: " on the cgroup charge",
            events: &events,
            label_events: true,
        };
        let f = chart.frame();
        assert_eq!(f.t, (0.0, 120.0), "the projection reaches 130 MiB at 120 s");
        assert!(f.v.1 > 130.0 * MIB, "{:?}", f.v);
        let svg = chart.svg();
        for class in [
            "line s-metric",
            "area s-metric",
            "floor-pt",
            "line trend",
            "line projection",
            "th th-limit",
            "ev ev-warn",
            "ev ev-verdict",
            "ev ev-limit",
        ] {
            assert!(svg.contains(class), "{class} missing");
        }
        assert!(!svg.contains("ev-start"), "the start is not marked");
        assert!(
            svg.contains("limit 130.0 MiB on the cgroup charge"),
            "{svg}"
        );
        // The same time to the limit as the verdict's words.
        assert!(
            svg.contains("at this rate it would have reached 130.0 MiB in 20.0s"),
            "{svg}"
        );
        assert!(svg.contains(">warn</text>") && svg.contains(">memory: leak</text>"));
        assert!(svg.contains(">memory: rising 2 MiB/s</text>"), "{svg}");
        assert!(svg.contains(">limit</text>"), "{svg}");
        assert!(svg.contains("40.0s warn: over 50 MiB"), "{svg}");

        // Without overlays the axis ends with the run, and a far limit is named, not drawn.
        let far = [Threshold {
            kind: "limit",
            bytes: 100.0 * 1024.0 * MIB,
        }];
        let chart = Chart {
            overlays: None,
            thresholds: &far,
            threshold_note: "",
            label_events: false,
            ..chart
        };
        assert_eq!(chart.frame().t, (0.0, 100.0));
        assert!(chart.frame().v.1 < 200.0 * MIB);
        let svg = chart.svg();
        assert!(svg.contains("limit 100.0 GiB (above the chart)"), "{svg}");
        assert!(!svg.contains("projection"));
        assert!(!svg.contains("ev-label"), "marks without labels");
    }

    #[test]
    fn labels_that_would_collide_take_the_next_row_or_none() {
        let tl = timeline();
        let events: Vec<Event> = (0..8)
            .map(|i| Event::new(50.0 + i as f64 * 0.5, EventKind::Action, "sent USR1"))
            .collect();
        let chart = Chart {
            title: "memory",
            timeline: &tl,
            lines: &[],
            unit: Unit::Bytes,
            size: (1000.0, 300.0),
            end_s: 100.0,
            overlays: None,
            thresholds: &[],
            threshold_note: "",
            events: &events,
            label_events: true,
        };
        let svg = chart.svg();
        let labels = svg.matches("class=\"ev-label\"").count();
        assert_eq!(
            labels,
            super::super::marks::LABEL_ROWS,
            "one label per row, the rest on hover: {svg}"
        );
    }
}
