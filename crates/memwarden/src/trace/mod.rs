//! Recorded traces read into `(t_seconds, value)` series, for judging after the fact.
//!
//! Three formats, told apart by their content (not their file name):
//! - **CSV** with a header: a time column in seconds and one or more value columns, e.g.
//!   `t_seconds,rss_bytes,anon_bytes` (see [`Format::Csv`] for which columns are taken);
//! - **psrecord** logs, both `--log FILE` (plain, whitespace-separated under a
//!   `# Elapsed time  CPU (%)  Real (MB)  Virtual (MB)` header) and `--log-format csv`
//!   (`elapsed_time,nproc,cpu,mem_real,mem_virtual`); psrecord's "MB" are MiB (it divides by
//!   1024²), converted here to bytes; the resident ("real") column is taken by default;
//! - **mprof** `.dat` files from `mprof run`: `MEM <MiB> <unix time>` lines, converted to bytes
//!   at times relative to the first one; `CHLD <pid> <MiB> <time>` lines (from
//!   `mprof run --multiprocess`) are added to the `MEM` line they follow, so the series is the
//!   whole tree; `CMDLINE` and `FUNC` lines are skipped.
//!
//! In every format, rows whose value is 0 are skipped and counted in
//! [`Series::zero_rows`]: recorders write a last row of zeros once the process has exited,
//! which is not a measurement of it. Blank lines are skipped. Anything else that does not
//! parse is an error naming the line.
//!
//! ```
//! let text = "t_seconds,rss_bytes,anon_bytes\n0,1000,500\n1,1100,600\n2,0,0\n";
//! let s = memwarden::trace::parse(text, None).unwrap();
//! assert_eq!(s.column, "anon_bytes");
//! assert_eq!(s.points, vec![(0.0, 500.0), (1.0, 600.0)]);
//! assert_eq!(s.zero_rows, 1);
//! ```

mod csv;
mod mprof;
mod psrecord;

use std::fmt;
use std::path::{Path, PathBuf};

/// Bytes in psrecord's and mprof's "MB" (both divide by 1024²).
const MIB: f64 = 1024.0 * 1024.0;

/// The format of a recorded trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header. The time column is the first whose name is `t`, starts with `t_`,
    /// or contains `time`, `elapsed` or `second` (case-insensitive), else the first column;
    /// it holds seconds. The value column is the one asked for by name, else the first other
    /// column whose name contains `anon` (what a leak grows), else `rss`, else the first other
    /// column. Values are taken as written (bytes for memory; a count for threads or fds).
    Csv,
    /// psrecord `--log` plain text; values converted from MiB to bytes.
    PsrecordPlain,
    /// psrecord `--log-format csv`; values converted from MiB to bytes.
    PsrecordCsv,
    /// mprof `.dat`; values converted from MiB to bytes.
    Mprof,
}

impl Format {
    /// A short name: `csv`, `psrecord`, `psrecord-csv`, `mprof`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::PsrecordPlain => "psrecord",
            Format::PsrecordCsv => "psrecord-csv",
            Format::Mprof => "mprof",
        }
    }

    /// Tells the format from the first non-blank line, or `None` when it matches none.
    pub fn detect(text: &str) -> Option<Format> {
        let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
        if first.starts_with("CMDLINE") || first.starts_with("MEM ") {
            Some(Format::Mprof)
        } else if first.starts_with('#') && first.contains("Elapsed time") {
            Some(Format::PsrecordPlain)
        } else if first
            .replace(' ', "")
            .starts_with("elapsed_time,nproc,cpu,mem_real")
        {
            Some(Format::PsrecordCsv)
        } else if first.contains(',') {
            Some(Format::Csv)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A trace read into a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The format it was read as.
    pub format: Format,
    /// Name of the value column read (`anon_bytes`, `mem_real`, `Real (MB)`, `MEM`).
    pub column: String,
    /// True when the values are bytes (always for psrecord and mprof; for CSV when the
    /// column's name says `bytes`, `rss`, `anon`, `pss` or `mem`).
    pub bytes: bool,
    /// `(seconds, value)` in time order, zero rows left out.
    pub points: Vec<(f64, f64)>,
    /// Rows skipped because their value was 0 (the process had exited).
    pub zero_rows: usize,
}

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not text.
    #[error("the trace is not UTF-8 text")]
    NotText,
    /// Nothing but blank lines.
    #[error("the trace is empty")]
    Empty,
    /// The content matches no known format.
    #[error(
        "unknown trace format (first line {0:?}): expected a CSV header with a time column, \
         a psrecord log or an mprof .dat file"
    )]
    UnknownFormat(String),
    /// The value column asked for is not in the header.
    #[error("no column named {wanted:?}; the trace has: {available}")]
    NoSuchColumn {
        /// The name asked for.
        wanted: String,
        /// The columns there are, comma-separated.
        available: String,
    },
    /// A line does not parse.
    #[error("line {line}: {problem}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// Every row was skipped (all zero), so there is nothing to judge.
    #[error("no samples: every row's value is 0 or there are no data rows")]
    NoSamples,
}

impl TraceError {
    fn malformed(line: usize, problem: impl Into<String>) -> Self {
        TraceError::Malformed {
            line,
            problem: problem.into(),
        }
    }
}

/// Reads the trace at `path`; `column` picks a value column by name (CSV and psrecord).
pub fn read(path: &Path, column: Option<&str>) -> Result<Series, TraceError> {
    let bytes = std::fs::read(path).map_err(|source| TraceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| TraceError::NotText)?;
    parse(&text, column)
}

/// Parses a trace from its text, detecting the format; `column` as for [`read`].
pub fn parse(text: &str, column: Option<&str>) -> Result<Series, TraceError> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    let Some(first) = first else {
        return Err(TraceError::Empty);
    };
    let format = Format::detect(text).ok_or_else(|| TraceError::UnknownFormat(first.into()))?;
    parse_as(text, format, column)
}

/// Parses a trace known to be in `format`.
pub fn parse_as(text: &str, format: Format, column: Option<&str>) -> Result<Series, TraceError> {
    let series = match format {
        Format::Csv => csv::parse(text, column)?,
        Format::PsrecordPlain => psrecord::parse_plain(text, column)?,
        Format::PsrecordCsv => psrecord::parse_csv(text, column)?,
        Format::Mprof => mprof::parse(text, column)?,
    };
    if series.points.is_empty() {
        return Err(TraceError::NoSamples);
    }
    Ok(series)
}

/// Collects rows into a series: skips zero values, refuses non-finite numbers and time
/// going backwards.
#[derive(Debug)]
struct Collector {
    points: Vec<(f64, f64)>,
    zero_rows: usize,
}

impl Collector {
    fn new() -> Self {
        Collector {
            points: Vec::new(),
            zero_rows: 0,
        }
    }

    fn add(&mut self, line: usize, t: f64, value: f64) -> Result<(), TraceError> {
        if let Some(&(prev, _)) = self.points.last() {
            if t < prev {
                return Err(TraceError::malformed(
                    line,
                    format!("time goes backwards ({t} after {prev})"),
                ));
            }
        }
        if value == 0.0 {
            self.zero_rows += 1;
        } else {
            self.points.push((t, value));
        }
        Ok(())
    }

    fn finish(self, format: Format, column: String, bytes: bool) -> Series {
        Series {
            format,
            column,
            bytes,
            points: self.points,
            zero_rows: self.zero_rows,
        }
    }
}

/// Parses one number field, naming it in the error.
fn number(line: usize, field: &str, what: &str) -> Result<f64, TraceError> {
    let field = field.trim();
    match field.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(TraceError::malformed(
            line,
            format!("{what} is not a finite number: {field:?}"),
        )),
        Err(_) if field.is_empty() => Err(TraceError::malformed(line, format!("{what} is empty"))),
        Err(_) => Err(TraceError::malformed(
            line,
            format!("{what} is not a number: {field:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected_from_content() {
        assert_eq!(
            Format::detect("t_seconds,rss_bytes\n0,1\n"),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::detect("# Elapsed time   CPU (%)     Real (MB)   Virtual (MB)\n"),
            Some(Format::PsrecordPlain)
        );
        assert_eq!(
            Format::detect("elapsed_time,nproc,cpu,mem_real,mem_virtual\n"),
            Some(Format::PsrecordCsv)
        );
        assert_eq!(Format::detect("CMDLINE python x.py\n"), Some(Format::Mprof));
        assert_eq!(
            Format::detect("\n\nMEM 1.0 1700000000.0\n"),
            Some(Format::Mprof)
        );
        assert_eq!(Format::detect("hello world\n"), None);
        assert_eq!(Format::detect(""), None);
    }

    #[test]
    fn empty_and_unknown_inputs_are_errors() {
        assert!(matches!(parse("", None), Err(TraceError::Empty)));
        assert!(matches!(parse(" \n\n", None), Err(TraceError::Empty)));
        let e = parse("hello world\n", None).unwrap_err();
        assert!(e.to_string().contains("hello world"), "{e}");
    }

    #[test]
    fn all_zero_rows_leave_no_samples() {
        let e = parse("t,rss\n0,0\n1,0\n", None).unwrap_err();
        assert!(matches!(e, TraceError::NoSamples), "{e}");
        assert!(matches!(parse("t,rss\n", None), Err(TraceError::NoSamples)));
    }

    #[test]
    fn missing_files_name_the_path() {
        let e = read(Path::new("/nonexistent/trace.csv"), None).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/trace.csv"), "{e}");
    }
}
