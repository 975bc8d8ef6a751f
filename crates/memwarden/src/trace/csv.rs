//! CSV traces with a header: a time column and value columns.

use super::lines::Line;
use super::{clip, number, Row, TraceError, LIST_CLIP, NAME_CLIP};

/// How a CSV dialect maps onto a series.
pub(super) struct Dialect {
    /// Value column when none is asked for; `None` for the generic rule.
    pub default_column: Option<&'static str>,
    /// Multiplier from the file's unit to the series' (MiB → bytes for psrecord).
    pub scale: f64,
    /// Whether the values are bytes whatever the column's name.
    pub bytes: bool,
}

/// Generic CSV: the column rules of [`super::Format::Csv`].
pub(super) const GENERIC: Dialect = Dialect {
    default_column: None,
    scale: 1.0,
    bytes: false,
};

/// Values at or above this in a time column without a unit are not seconds since anything a
/// trace records (10¹¹ s is 3,000 years): they are milliseconds or finer since the epoch.
const SECONDS_AT_MOST: f64 = 1e11;

/// The rows under a CSV header.
#[derive(Debug)]
pub(super) struct Rows {
    header_line: usize,
    width: usize,
    time: usize,
    value: usize,
    /// Seconds per unit of the time column.
    time_scale: f64,
    /// Whether the time column's name gave its unit.
    time_unit_named: bool,
    scale: f64,
    time_label: String,
    value_label: String,
    checked_first_time: bool,
}

impl Rows {
    /// Reads the header `line` under `dialect`; `column` picks the value column by name.
    pub fn new(
        line: &Line<'_>,
        column: Option<&str>,
        dialect: &Dialect,
    ) -> Result<(Rows, String, bool), TraceError> {
        let names: Vec<String> = line
            .text
            .trim()
            .split(',')
            .map(|n| n.trim().trim_matches('"').to_string())
            .collect();
        if names.len() < 2 {
            return Err(TraceError::malformed(
                line.number,
                "the header needs a time column and a value column, separated by commas",
            ));
        }
        let time = time_column(&names);
        let wanted = column.or(dialect.default_column);
        let value = match wanted {
            Some(w) => find_column(&names, w).ok_or_else(|| TraceError::NoSuchColumn {
                wanted: clip(w, NAME_CLIP),
                available: clip(&names.join(", "), LIST_CLIP),
            })?,
            None => default_value_column(&names, time),
        };
        if value == time {
            return Err(TraceError::malformed(
                line.number,
                format!(
                    "column {} is the time column, not a value",
                    clip(&names[value], NAME_CLIP)
                ),
            ));
        }
        let (time_scale, time_unit_named) = match time_unit(&names[time]) {
            Some(Ok(scale)) => (scale, true),
            None => (1.0, false),
            Some(Err(word)) => {
                return Err(TraceError::malformed(
                    line.number,
                    format!(
                        "the time column {} is in {word}, which memwarden cannot convert to \
                         seconds (it reads s, ms, us, ns, min and h)",
                        clip(&names[time], NAME_CLIP)
                    ),
                ))
            }
        };
        let rows = Rows {
            header_line: line.number,
            width: names.len(),
            time,
            value,
            time_scale,
            time_unit_named,
            scale: dialect.scale,
            // Formatted once here, not for every row (the parse loop is the hot path).
            time_label: format!("time ({})", clip(&names[time], NAME_CLIP)),
            value_label: clip(&names[value], NAME_CLIP),
            checked_first_time: false,
        };
        let bytes = dialect.bytes || names_bytes(&names[value]);
        Ok((rows, names[value].clone(), bytes))
    }

    /// Parses one line under the header; `#` lines and blank lines give nothing.
    pub fn row(&mut self, line: &Line<'_>) -> Result<Option<Row>, TraceError> {
        let text = line.text.trim();
        if text.is_empty() || text.starts_with('#') {
            return Ok(None);
        }
        // Fields are taken as the split goes: no vector per row (the hot path).
        let (mut t, mut v, mut width) = (None, None, 0);
        for (i, field) in text.split(',').enumerate() {
            if i == self.time {
                t = Some(field);
            } else if i == self.value {
                v = Some(field);
            }
            width = i + 1;
        }
        let (Some(t), Some(v), true) = (t, v, width == self.width) else {
            return Err(TraceError::malformed(
                line.number,
                format!(
                    "{width} fields, but the header (line {}) has {}",
                    self.header_line, self.width
                ),
            ));
        };
        let t = number(line.number, t, &self.time_label)?;
        if !self.checked_first_time {
            self.checked_first_time = true;
            if !self.time_unit_named && t >= SECONDS_AT_MOST {
                return Err(TraceError::malformed(
                    line.number,
                    format!(
                        "{} is {t}, too large for seconds: milliseconds (or finer) since the \
                         epoch? Name the column with its unit (t_ms, time_us, ...) and it is \
                         converted",
                        self.time_label
                    ),
                ));
            }
        }
        let v = number(line.number, v, &self.value_label)?;
        Ok(Some(Row {
            line: line.number,
            t: t * self.time_scale,
            value: v * self.scale,
        }))
    }
}

/// The first column named like time (`t`, `t_*`, `*time*`, `*elapsed*`, `*second*`), else 0.
fn time_column(names: &[String]) -> usize {
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

/// The unit a time column's name gives, as seconds per unit: the last word of the name that
/// is a unit (`t_ms`, `Time (ms)`, `elapsed_seconds`). `None` when no word is a unit (seconds
/// then); `Err(word)` for a unit of time memwarden does not convert.
fn time_unit(name: &str) -> Option<Result<f64, String>> {
    let lower = name.to_lowercase();
    lower
        .split(|c: char| !c.is_alphanumeric() && c != 'µ')
        .rev()
        .find_map(|word| {
            let scale = match word {
                "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
                "ms" | "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => 1e-3,
                "us" | "µs" | "usec" | "usecs" | "micros" | "microsecond" | "microseconds" => 1e-6,
                "ns" | "nsec" | "nsecs" | "nanos" | "nanosecond" | "nanoseconds" => 1e-9,
                "min" | "mins" | "minute" | "minutes" => 60.0,
                "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
                "ticks" | "jiffies" | "cycles" | "days" | "d" => {
                    return Some(Err(word.to_string()))
                }
                _ => return None,
            };
            Some(Ok(scale))
        })
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
    use super::super::tests::parse;

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
    fn a_huge_field_is_quoted_short() {
        let text = format!("t,rss\n0,{}\n", "9".repeat(50_000) + "x");
        let e = parse(&text, None).unwrap_err().to_string();
        assert!(e.starts_with("line 2: rss is not a number: \"999"), "{e}");
        assert!(e.len() < 120, "{e}");
    }

    #[test]
    fn equal_times_are_kept() {
        let s = parse("t,rss\n1,5\n1,6\n", None).unwrap();
        assert_eq!(s.points.len(), 2);
    }

    #[test]
    fn a_time_column_in_milliseconds_is_converted() {
        for header in ["t_ms,rss", "Time (ms),rss", "elapsed_millis,rss", "ms,rss"] {
            let s = parse(&format!("{header}\n1500,5\n2500,6\n"), None).unwrap();
            assert_eq!(s.points, vec![(1.5, 5.0), (2.5, 6.0)], "{header}");
        }
        let s = parse("time_us,rss\n2000000,5\n", None).unwrap();
        assert_eq!(s.points, vec![(2.0, 5.0)]);
        let s = parse("t_min,rss\n2,5\n", None).unwrap();
        assert_eq!(s.points, vec![(120.0, 5.0)]);
        let s = parse("elapsed_seconds,rss\n2,5\n", None).unwrap();
        assert_eq!(s.points, vec![(2.0, 5.0)]);
    }

    #[test]
    fn a_time_column_that_cannot_be_seconds_is_refused() {
        let e = parse("t_ticks,rss\n1,5\n", None).unwrap_err().to_string();
        assert!(
            e.starts_with("line 1: the time column t_ticks is in ticks"),
            "{e}"
        );
        // Epoch milliseconds under a name without a unit.
        let e = parse("timestamp,rss\n1700000000000,5\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("too large for seconds"), "{e}");
        assert!(e.contains("t_ms"), "{e}");
        // Epoch seconds are fine.
        assert!(parse("timestamp,rss\n1700000000,5\n", None).is_ok());
        // Epoch milliseconds named as such are converted.
        let s = parse("timestamp_ms,rss\n1700000000000,5\n", None).unwrap();
        assert_eq!(s.points, vec![(1.7e9, 5.0)]);
    }
}
