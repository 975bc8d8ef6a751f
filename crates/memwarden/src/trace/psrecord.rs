//! psrecord logs: `--log FILE` (plain) and `--log-format csv`.
//!
//! psrecord writes memory in "MB" computed as bytes / 1024², i.e. MiB; the series is in bytes.

use super::csv::{parse_with, Dialect};
use super::{number, Collector, Format, Series, TraceError, MIB};

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
///
/// `column` may be `real` (default), `virtual`, or a header name such as `Virtual (MB)`.
pub(super) fn parse_plain(text: &str, column: Option<&str>) -> Result<Series, TraceError> {
    let value = match column.map(|c| c.trim().to_ascii_lowercase()) {
        None => 2,
        Some(c) if c == "real" || c == "mem_real" || c == "rss" => 2,
        Some(c) if c == "virtual" || c == "mem_virtual" || c == "vms" => 3,
        Some(c) => PLAIN_COLUMNS[2..4]
            .iter()
            .position(|n| n.eq_ignore_ascii_case(&c))
            .map(|i| i + 2)
            .ok_or_else(|| TraceError::NoSuchColumn {
                wanted: c,
                available: "real, virtual".to_string(),
            })?,
    };
    let mut out = Collector::new();
    // One buffer for every row's fields, as the CSV reader does (no allocation per row).
    let mut fields: Vec<&str> = Vec::with_capacity(8);
    for (i, row) in text.lines().enumerate() {
        let line = i + 1;
        let row = row.trim();
        // psrecord prints "Process finished (…)" to stdout; a captured stdout log has it.
        if row.is_empty() || row.starts_with('#') || row.starts_with("Process finished") {
            continue;
        }
        fields.clear();
        fields.extend(row.split_whitespace());
        if fields.len() != 4 && fields.len() != 8 {
            return Err(TraceError::malformed(
                line,
                format!(
                    "{} fields, a psrecord row has 4 (or 8 with --include-io)",
                    fields.len()
                ),
            ));
        }
        let t = number(line, fields[0], "elapsed time")?;
        let v = number(line, fields[value], PLAIN_COLUMNS[value])?;
        out.add(line, t, v * MIB)?;
    }
    Ok(out.finish(
        Format::PsrecordPlain,
        PLAIN_COLUMNS[value].to_string(),
        true,
    ))
}

/// The csv log: `elapsed_time,nproc,cpu,mem_real,mem_virtual[,…]`.
///
/// `column` may be `mem_real` (default), `mem_virtual`, or `real` / `virtual`.
pub(super) fn parse_csv(text: &str, column: Option<&str>) -> Result<Series, TraceError> {
    let column = column.map(|c| match c.trim().to_ascii_lowercase().as_str() {
        "real" | "rss" => "mem_real",
        "virtual" | "vms" => "mem_virtual",
        _ => c,
    });
    parse_with(
        text,
        column,
        &Dialect {
            format: Format::PsrecordCsv,
            default_column: Some("mem_real"),
            scale: MIB,
            bytes: true,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = "# Elapsed time   CPU (%)     Real (MB)   Virtual (MB)\n\
           0.000        0.000        1.500        2.531\n\
           0.200        0.000        2.000        3.000\n";

    #[test]
    fn plain_logs_read_real_memory_in_bytes() {
        let s = parse_plain(PLAIN, None).unwrap();
        assert_eq!(s.points, vec![(0.0, 1.5 * MIB), (0.2, 2.0 * MIB)]);
        assert_eq!(s.column, "Real (MB)");
        let s = parse_plain(PLAIN, Some("virtual")).unwrap();
        assert_eq!(s.points[1], (0.2, 3.0 * MIB));
        assert!(parse_plain(PLAIN, Some("pss")).is_err());
    }

    #[test]
    fn plain_rows_with_the_wrong_shape_name_their_line() {
        let e = parse_plain("# Elapsed time\n0.0 1.0 2.0\n", None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: 3 fields, a psrecord row has 4 (or 8 with --include-io)"
        );
        let e = parse_plain("# Elapsed time\n0.0 1.0 x 2.0\n", None).unwrap_err();
        assert_eq!(e.to_string(), "line 2: Real (MB) is not a number: \"x\"");
    }

    #[test]
    fn csv_logs_read_mem_real_in_bytes() {
        let text = "elapsed_time,nproc,cpu,mem_real,mem_virtual\n0.1,2,0.0,10.5,15.25\n";
        let s = parse_csv(text, None).unwrap();
        assert_eq!(s.points, vec![(0.1, 10.5 * MIB)]);
        assert_eq!(s.format, Format::PsrecordCsv);
        assert_eq!(
            parse_csv(text, Some("virtual")).unwrap().points[0].1,
            15.25 * MIB
        );
    }
}
