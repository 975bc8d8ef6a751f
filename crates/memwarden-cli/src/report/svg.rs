//! A small SVG writer: elements with attributes, text, escaping, and compact numbers.
//!
//! The charts need lines, polylines, rectangles and text, nothing else; a few dozen lines
//! here give full control over classes (styled by the page's CSS, also for print), tooltips
//! (`<title>`) and output size, without a plotting crate and its font handling.

use std::fmt::Write;

/// An SVG document being written.
pub struct Svg {
    out: String,
    open: Vec<&'static str>,
}

/// An attribute value: text, or a number written with at most one decimal.
#[derive(Clone, Copy)]
pub enum Value<'a> {
    /// Text, escaped when written.
    Text(&'a str),
    /// A number: `12`, `12.5`, `-3`.
    Num(f64),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Text(s)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(s: &'a String) -> Self {
        Value::Text(s)
    }
}

impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Num(v)
    }
}

/// Attributes, written in order: `&[("x", 1.0.into()), ("class", "axis".into())]`.
pub type Attrs<'a> = [(&'a str, Value<'a>)];

impl Svg {
    /// A document `width` × `height` user units wide, scaled by its container.
    pub fn new(width: f64, height: f64, attrs: &Attrs<'_>) -> Svg {
        let mut svg = Svg {
            out: String::with_capacity(16 * 1024),
            open: Vec::new(),
        };
        svg.out
            .push_str("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ");
        push_num(&mut svg.out, width);
        svg.out.push(' ');
        push_num(&mut svg.out, height);
        svg.out.push('"');
        svg.attrs(attrs);
        svg.out.push_str(">\n");
        svg.open.push("svg");
        svg
    }

    fn attrs(&mut self, attrs: &Attrs<'_>) {
        for (name, value) in attrs {
            self.out.push(' ');
            self.out.push_str(name);
            self.out.push_str("=\"");
            match value {
                Value::Text(t) => escape_into(&mut self.out, t),
                Value::Num(n) => push_num(&mut self.out, *n),
            }
            self.out.push('"');
        }
    }

    /// Opens `<tag ...>`; close it with [`Svg::close`].
    pub fn open(&mut self, tag: &'static str, attrs: &Attrs<'_>) {
        self.out.push('<');
        self.out.push_str(tag);
        self.attrs(attrs);
        self.out.push('>');
        self.open.push(tag);
    }

    /// Closes the innermost open element.
    pub fn close(&mut self) {
        let tag = self.open.pop().expect("an element is open");
        let _ = writeln!(self.out, "</{tag}>");
    }

    /// An empty element `<tag .../>`.
    pub fn leaf(&mut self, tag: &str, attrs: &Attrs<'_>) {
        self.out.push('<');
        self.out.push_str(tag);
        self.attrs(attrs);
        self.out.push_str("/>\n");
    }

    /// An element holding text: `<text ...>content</text>`, `<title>...</title>`.
    pub fn text(&mut self, tag: &str, attrs: &Attrs<'_>, content: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.attrs(attrs);
        self.out.push('>');
        escape_into(&mut self.out, content);
        let _ = write!(self.out, "</{tag}>");
        self.out.push('\n');
    }

    /// A straight line from `a` to `b` (user units), with more attributes.
    pub fn line(&mut self, a: (f64, f64), b: (f64, f64), attrs: &Attrs<'_>) {
        let mut all = vec![
            ("x1", a.0.into()),
            ("y1", a.1.into()),
            ("x2", b.0.into()),
            ("y2", b.1.into()),
        ];
        all.extend_from_slice(attrs);
        self.leaf("line", &all);
    }

    /// A polyline through `points` (user units), or nothing for fewer than two points.
    pub fn polyline(&mut self, points: &[(f64, f64)], attrs: &Attrs<'_>) {
        self.poly("polyline", points, attrs);
    }

    /// A closed polygon through `points`, or nothing for fewer than three points.
    pub fn polygon(&mut self, points: &[(f64, f64)], attrs: &Attrs<'_>) {
        if points.len() >= 3 {
            self.poly("polygon", points, attrs);
        }
    }

    fn poly(&mut self, tag: &str, points: &[(f64, f64)], attrs: &Attrs<'_>) {
        if points.len() < 2 {
            return;
        }
        let mut p = String::with_capacity(points.len() * 12);
        for (i, (x, y)) in points.iter().enumerate() {
            if i > 0 {
                p.push(' ');
            }
            push_num(&mut p, *x);
            p.push(',');
            push_num(&mut p, *y);
        }
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push_str(" points=\"");
        self.out.push_str(&p);
        self.out.push('"');
        self.attrs(attrs);
        self.out.push_str("/>\n");
    }

    /// The document, every open element closed.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

/// Writes `n` with at most one decimal and no trailing `.0`; non-finite numbers as 0.
pub fn push_num(out: &mut String, n: f64) {
    let n = if n.is_finite() { n } else { 0.0 };
    let tenths = (n * 10.0).round() as i64;
    if tenths % 10 == 0 {
        let _ = write!(out, "{}", tenths / 10);
    } else {
        let sign = if tenths < 0 { "-" } else { "" };
        let a = tenths.abs();
        let _ = write!(out, "{sign}{}.{}", a / 10, a % 10);
    }
}

/// Escapes text for XML and HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact() {
        let n = |v: f64| {
            let mut s = String::new();
            push_num(&mut s, v);
            s
        };
        assert_eq!(n(12.0), "12");
        assert_eq!(n(12.04), "12");
        assert_eq!(n(12.46), "12.5");
        assert_eq!(n(-0.26), "-0.3");
        assert_eq!(n(-3.0), "-3");
        assert_eq!(n(f64::NAN), "0");
    }

    #[test]
    fn documents_are_well_formed_and_escaped() {
        let mut svg = Svg::new(100.0, 50.0, &[("class", "chart".into())]);
        svg.open("g", &[("class", "axis".into())]);
        svg.leaf("line", &[("x1", 0.0.into()), ("x2", 10.5.into())]);
        svg.text("text", &[("x", 1.0.into())], "a < b & \"c\"");
        svg.polyline(&[(0.0, 1.0), (2.0, 3.25)], &[("class", "s".into())]);
        svg.polyline(&[(0.0, 1.0)], &[]);
        let s = svg.finish();
        assert!(s.starts_with(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 100 50\" class=\"chart\">"
        ));
        assert!(s.contains("<line x1=\"0\" x2=\"10.5\"/>"), "{s}");
        assert!(s.contains(">a &lt; b &amp; &quot;c&quot;</text>"), "{s}");
        assert!(s.contains("points=\"0,1 2,3.3\""), "{s}");
        assert_eq!(s.matches("<polyline").count(), 1);
        assert!(s.trim_end().ends_with("</g>\n</svg>"), "{s}");
    }
}
