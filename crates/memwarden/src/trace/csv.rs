//! CSV traces with a header: a time column in seconds and value columns.

use super::{number, Collector, Format, Series, TraceError};

/// How a CSV dialect maps onto a series.
pub(super) struct Dialect {
    /// The format reported in the series.
    pub format: Format,
    /// Value column when none is asked for; `None` for the generic rule.
    pub default_column: Option<&'static str>,
    /// Multiplier from the file's unit to the series' (MiB → bytes for psrecord).
    pub scale: f64,
    /// Whether the values are bytes whatever the column's name.
    pub bytes: bool,
}

/// Generic CSV: the column rules of [`Format::Csv`].
pub(super) fn parse(text: &str, column: Option<&str>) -> Result<Series, TraceError> {
    parse_with(
        text,
        column,
        &Dialect {
            format: Format::Csv,
            default_column: None,
            scale: 1.0,
            bytes: false,
        },
    )
}

/// Parses CSV text under `dialect`; `#` lines and blank lines are skipped.
pub(super) fn parse_with(
    text: &str,
    column: Option<&str>,
    dialect: &Dialect,
) -> Result<Series, TraceError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((header_line, header)) = lines.next() else {
        return Err(TraceError::Empty);
    };
    let names: Vec<String> = header
        .split(',')
        .map(|n| n.trim().trim_matches('"').to_string())
        .collect();
    if names.len() < 2 {
        return Err(TraceError::malformed(
            header_line,
            "the header needs a time column and a value column, separated by commas",
        ));
    }
    let time = time_column(&names);
    let wanted = column.or(dialect.default_column);
    let value = match wanted {
        Some(w) => find_column(&names, w).ok_or_else(|| TraceError::NoSuchColumn {
            wanted: w.to_string(),
            available: names.join(", "),
        })?,
        None => default_value_column(&names, time),
    };
    if value == time {
        return Err(TraceError::malformed(
            header_line,
            format!("column {:?} is the time column, not a value", names[value]),
        ));
    }
    let mut out = Collector::new();
    // Hot loop (BENCHMARKS.md §3): the row's fields go into one reused vector, and the time
    // column's label is formatted once, not for every row.
    let time_label = format!("time ({})", names[time]);
    let mut fields: Vec<&str> = Vec::with_capacity(names.len());
    for (line, row) in lines {
        fields.clear();
        fields.extend(row.split(','));
        if fields.len() != names.len() {
            return Err(TraceError::malformed(
                line,
                format!(
                    "{} fields, but the header (line {header_line}) has {}",
                    fields.len(),
                    names.len()
                ),
            ));
        }
        let t = number(line, fields[time], &time_label)?;
        let v = number(line, fields[value], &names[value])?;
        out.add(line, t, v * dialect.scale)?;
    }
    let bytes = dialect.bytes || names_bytes(&names[value]);
    Ok(out.finish(dialect.format, names[value].clone(), bytes))
}

/// The first column named like time (`t`, `t_*`, `*time*`, `*elapsed*`, `*second*`), else 0.
pub(super) fn time_column(names: &[String]) -> usize {
    names
        .iter()
        .position(|n| {
            let n = n.to_ascii_lowercase();
            n == "t"
                || n.starts_with("t_")
                || n.contains("time")
                || n.contains("elapsed")
                || n.contains("second")
        })
        .unwrap_or(0)
}

/// The first non-time column containing `anon`, else `rss`, else the first non-time column.
fn default_value_column(names: &[String], time: usize) -> usize {
    let others = || {
        names
            .iter()
            .enumerate()
            .filter(move |&(i, _)| i != time)
            .map(|(i, n)| (i, n.to_ascii_lowercase()))
    };
    others()
        .find(|(_, n)| n.contains("anon"))
        .or_else(|| others().find(|(_, n)| n.contains("rss")))
        .or_else(|| others().next())
        .map(|(i, _)| i)
        .expect("the header has at least two columns")
}

/// The column named `wanted` (case-insensitive).
fn find_column(names: &[String], wanted: &str) -> Option<usize> {
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(wanted.trim()))
}

/// Whether a column's name says it holds bytes of memory.
fn names_bytes(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["bytes", "rss", "anon", "pss", "mem"]
        .iter()
        .any(|w| n.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anon_is_preferred_then_rss_then_the_first_value() {
        let s = parse("t_seconds,rss_bytes,anon_bytes\n0,10,5\n1,11,6\n", None).unwrap();
        assert_eq!((s.column.as_str(), s.points[1]), ("anon_bytes", (1.0, 6.0)));
        assert!(s.bytes);
        let s = parse("time,vsz,rss\n0,10,5\n", None).unwrap();
        assert_eq!(s.column, "rss");
        let s = parse("threads,elapsed_s\n4,0\n5,1\n", None).unwrap();
        assert_eq!((s.column.as_str(), s.points[1]), ("threads", (1.0, 5.0)));
        assert!(!s.bytes);
        let s = parse("a,b\n0,3\n", None).unwrap();
        assert_eq!((s.column.as_str(), s.points[0]), ("b", (0.0, 3.0)));
    }

    #[test]
    fn a_column_is_chosen_by_name() {
        let s = parse(
            "t_seconds,rss_bytes,anon_bytes\n0,10,5\n",
            Some("RSS_bytes"),
        )
        .unwrap();
        assert_eq!(s.column, "rss_bytes");
        assert_eq!(s.points, vec![(0.0, 10.0)]);
        let e = parse("t_seconds,rss_bytes\n0,10\n", Some("pss")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no column named \"pss\"; the trace has: t_seconds, rss_bytes"
        );
        let e = parse("t_seconds,rss_bytes\n0,10\n", Some("t_seconds")).unwrap_err();
        assert!(e.to_string().contains("time column"), "{e}");
    }

    #[test]
    fn zero_rows_blank_lines_comments_and_crlf_are_skipped() {
        let s = parse(
            "# recorded by hand\r\nt,rss\r\n0,5\r\n\r\n1,6\r\n2,0\r\n",
            None,
        )
        .unwrap();
        assert_eq!(s.points, vec![(0.0, 5.0), (1.0, 6.0)]);
        assert_eq!(s.zero_rows, 1);
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let cases = [
            (
                "t,rss\n0,5\n1\n",
                "line 3: 1 fields, but the header (line 1) has 2",
            ),
            (
                "t,rss\n0,5\n1,abc\n",
                "line 3: rss is not a number: \"abc\"",
            ),
            (
                "t,rss\n0,5\nx,6\n",
                "line 3: time (t) is not a number: \"x\"",
            ),
            ("t,rss\n0,\n", "line 2: rss is empty"),
            (
                "t,rss\n0,inf\n",
                "line 2: rss is not a finite number: \"inf\"",
            ),
            (
                "t,rss\n\n5,1\n4,1\n",
                "line 4: time goes backwards (4 after 5)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text, None).unwrap_err().to_string(), want, "{text:?}");
        }
    }

    #[test]
    fn equal_times_are_kept() {
        let s = parse("t,rss\n1,5\n1,6\n", None).unwrap();
        assert_eq!(s.points.len(), 2);
    }
}
