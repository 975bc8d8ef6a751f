//! psrecord logs: `--log FILE` (plain) and `--log-format csv`.
//!
//! psrecord writes memory in "MB" computed as bytes / 1024², i.e. MiB; the series is in bytes.

use super::csv::{Dialect, Rows};
use super::lines::Line;
use super::{clip, number, Row, TraceError, MIB, NAME_CLIP};

/// Columns of the plain log, in order (the last four only with `--include-io`).
const PLAIN_COLUMNS: [&str; 8] = [
    "Elapsed time",
    "CPU (%)",
    "Real (MB)",
    "Virtual (MB)",
    "Read count",
    "Write count",
    "Read bytes",
    "Write bytes",
];

/// The plain log: a `#` header, then whitespace-separated rows of 4 (or 8) numbers.
#[derive(Debug)]
pub(super) struct Plain {
    value: usize,
}

impl Plain {
    /// `column` may be `real` (default), `virtual`, or a header name such as `Virtual (MB)`;
    /// returns the rows and the column's name.
    pub fn new(column: Option<&str>) -> Result<(Plain, &'static str), TraceError> {
        let value = match column.map(|c| c.trim().to_ascii_lowercase()) {
            None => 2,
            Some(c) if c == "real" || c == "mem_real" || c == "rss" => 2,
            Some(c) if c == "virtual" || c == "mem_virtual" || c == "vms" => 3,
            Some(c) => PLAIN_COLUMNS[2..4]
                .iter()
                .position(|n| n.eq_ignore_ascii_case(&c))
                .map(|i| i + 2)
                .ok_or_else(|| TraceError::NoSuchColumn {
                    wanted: clip(&c, NAME_CLIP),
                    available: "real, virtual".to_string(),
                })?,
        };
        Ok((Plain { value }, PLAIN_COLUMNS[value]))
    }

    /// Parses one line; comments, blank lines and psrecord's closing message give nothing.
    pub fn row(&mut self, line: &Line<'_>) -> Result<Option<Row>, TraceError> {
        let text = line.text.trim();
        // psrecord prints "Process finished (…)" to stdout; a captured stdout log has it.
        if text.is_empty() || text.starts_with('#') || text.starts_with("Process finished") {
            return Ok(None);
        }
        // The fields are counted as they are taken: no vector per row (the hot path).
        let (mut t, mut v, mut width) = ("", "", 0);
        for (i, field) in text.split_whitespace().enumerate() {
            if i == 0 {
                t = field;
            } else if i == self.value {
                v = field;
            }
            width = i + 1;
        }
        if width != 4 && width != 8 {
            return Err(TraceError::malformed(
                line.number,
                format!("{width} fields, a psrecord row has 4 (or 8 with --include-io)"),
            ));
        }
        Ok(Some(Row {
            line: line.number,
            t: number(line.number, t, "elapsed time")?,
            value: number(line.number, v, PLAIN_COLUMNS[self.value])? * MIB,
        }))
    }
}

/// The csv log's rows under its `header`: `elapsed_time,nproc,cpu,mem_real,mem_virtual[,…]`.
///
/// `column` may be `mem_real` (default), `mem_virtual`, or `real` / `virtual`.
pub(super) fn csv_rows(
    header: &Line<'_>,
    column: Option<&str>,
) -> Result<(Rows, String, bool), TraceError> {
    let column = column.map(|c| match c.trim().to_ascii_lowercase().as_str() {
        "real" | "rss" => "mem_real",
        "virtual" | "vms" => "mem_virtual",
        _ => c,
    });
    Rows::new(
        header,
        column,
        &Dialect {
            default_column: Some("mem_real"),
            scale: MIB,
            bytes: true,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::super::Format;
    use super::*;

    const PLAIN: &str = "# Elapsed time   CPU (%)     Real (MB)   Virtual (MB)\n\
           0.000        0.000        1.500        2.531\n\
           0.200        0.000        2.000        3.000\n";

    #[test]
    fn plain_logs_read_real_memory_in_bytes() {
        let s = parse(PLAIN, None).unwrap();
        assert_eq!(s.format, Format::PsrecordPlain);
        assert_eq!(s.points, vec![(0.0, 1.5 * MIB), (0.2, 2.0 * MIB)]);
        assert_eq!(s.column, "Real (MB)");
        let s = parse(PLAIN, Some("virtual")).unwrap();
        assert_eq!(s.points[1], (0.2, 3.0 * MIB));
        assert!(parse(PLAIN, Some("pss")).is_err());
    }

    #[test]
    fn plain_rows_with_the_wrong_shape_name_their_line() {
        let e = parse("# Elapsed time\n0.0 1.0 2.0\n", None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: 3 fields, a psrecord row has 4 (or 8 with --include-io)"
        );
        let e = parse("# Elapsed time\n0.0 1.0 x 2.0\n", None).unwrap_err();
        assert_eq!(e.to_string(), "line 2: Real (MB) is not a number: \"x\"");
    }

    #[test]
    fn a_log_cut_short_by_a_killed_psrecord_keeps_its_whole_rows() {
        let cut = format!("{PLAIN}       0.400        0.000        2.");
        let s = parse(&cut, None).unwrap();
        assert_eq!(s.points.len(), 2);
        assert!(
            s.notes[0].starts_with("line 4 was cut short"),
            "{:?}",
            s.notes
        );
    }

    #[test]
    fn csv_logs_read_mem_real_in_bytes() {
        let text = "elapsed_time,nproc,cpu,mem_real,mem_virtual\n0.1,2,0.0,10.5,15.25\n";
        let s = parse(text, None).unwrap();
        assert_eq!(s.points, vec![(0.1, 10.5 * MIB)]);
        assert_eq!(s.format, Format::PsrecordCsv);
        assert_eq!(
            parse(text, Some("virtual")).unwrap().points[0].1,
            15.25 * MIB
        );
    }
}
