//! Recorded traces read as a stream of `(t_seconds, value)` points, for judging after the fact.
//!
//! Three formats, told apart by their content (not their file name):
//! - **CSV** with a header: a time column and one or more value columns, e.g.
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
//! A [`Trace`] reads its input line by line and hands out points as it goes: memory stays
//! bounded whatever the input (a device, a FIFO, a growing log, a file of gigabytes). A line
//! longer than [`MAX_LINE`] bytes, binary data (refused on the first bytes read) and text that
//! is not UTF-8 are errors; errors name the line and quote at most a short excerpt of it.
//!
//! In every format, rows whose value is 0 are skipped and counted in [`Trace::zero_rows`]:
//! recorders write a last row of zeros once the process has exited, which is not a
//! measurement of it. Blank lines are skipped. A last line without its line break that does
//! not parse (the recorder was killed while writing it) is skipped with a note
//! ([`Trace::notes`]). Anything else that does not parse is an error naming the line.
//!
//! ```
//! use memwarden::trace::{Format, Trace};
//! let text = "t_ms,rss_bytes,anon_bytes\n0,1000,500\n1000,1100,600\n2000,0,0\n3000,12";
//! let mut trace = Trace::new(text.as_bytes(), None).unwrap();
//! assert_eq!((trace.format(), trace.column()), (Format::Csv, "anon_bytes"));
//! let points: Vec<(f64, f64)> = trace.by_ref().collect::<Result<_, _>>().unwrap();
//! assert_eq!(points, vec![(0.0, 500.0), (1.0, 600.0)]);
//! assert_eq!(trace.zero_rows(), 1);
//! assert!(trace.notes()[0].starts_with("line 5 was cut short"));
//! ```

mod csv;
mod lines;
mod mprof;
mod psrecord;

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

pub use lines::MAX_LINE;
use lines::{Line, Lines};

/// Bytes in psrecord's and mprof's "MB" (both divide by 1024²).
const MIB: f64 = 1024.0 * 1024.0;
/// Characters of a name (a column's) quoted in an error.
const NAME_CLIP: usize = 40;
/// Characters of a list (a header's columns) quoted in an error.
const LIST_CLIP: usize = 200;
/// The read buffer: a read is thousands of rows, and a few syscalls a megabyte.
const READ_BUFFER: usize = 256 * 1024;

/// The format of a recorded trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header. The time column is the first whose name is `t`, starts with `t_`,
    /// or contains `time`, `elapsed` or `second` (case-insensitive), else the first column.
    /// It holds seconds unless its name ends in another unit (`t_ms`, `time (us)`,
    /// `elapsed_ns`, `t_min`, `t_h`), which is converted; values too large for seconds
    /// under a name without a unit (epoch milliseconds) are refused. The value column is the
    /// one asked for by name, else the first other column whose name contains `anon` (what a
    /// leak grows), else `rss`, else the first other column. Values are taken as written
    /// (bytes for memory; a count for threads or fds).
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
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the first lines of a trace say about it.
enum Opening {
    /// A `#` comment before the header (a CSV file may have them).
    Comment,
    Format(Format),
    Unknown,
}

/// Tells the format from a trace's first non-blank line.
fn opening(line: &str) -> Opening {
    let line = line.trim();
    if line.starts_with("CMDLINE") || line.starts_with("MEM ") {
        Opening::Format(Format::Mprof)
    } else if line.starts_with('#') && line.contains("Elapsed time") {
        Opening::Format(Format::PsrecordPlain)
    } else if line.starts_with('#') {
        Opening::Comment
    } else if line
        .replace(' ', "")
        .starts_with("elapsed_time,nproc,cpu,mem_real")
    {
        Opening::Format(Format::PsrecordCsv)
    } else if line.contains(',') {
        Opening::Format(Format::Csv)
    } else {
        Opening::Unknown
    }
}

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be opened.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// Reading failed part way.
    #[error("reading the trace: {0}")]
    Read(#[source] std::io::Error),
    /// The input is not text.
    #[error("the trace is not text: {0}")]
    NotText(String),
    /// Nothing but blank lines and comments.
    #[error("the trace is empty (nothing but blank lines and # comments)")]
    Empty,
    /// The content matches no known format.
    #[error(
        "unknown trace format (line {line}: {start}): expected a CSV header with a time \
         column, a psrecord log or an mprof .dat file"
    )]
    UnknownFormat {
        /// The line that told.
        line: usize,
        /// Its start, quoted.
        start: String,
    },
    /// The value column asked for is not in the header.
    #[error("no column named \"{wanted}\"; the trace has: {available}")]
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

    fn read(e: std::io::Error) -> Self {
        TraceError::Read(e)
    }
}

/// One parsed row: its line, its time in seconds and its value in the series' unit.
#[derive(Debug, Clone, Copy)]
struct Row {
    line: usize,
    t: f64,
    value: f64,
}

/// The rows of one format.
#[derive(Debug)]
enum Rows {
    Csv(csv::Rows),
    Plain(psrecord::Plain),
    Mprof(mprof::Rows),
}

impl Rows {
    fn row(&mut self, line: &Line<'_>) -> Result<Option<Row>, TraceError> {
        match self {
            Rows::Csv(r) => r.row(line),
            Rows::Plain(r) => r.row(line),
            Rows::Mprof(r) => r.row(line),
        }
    }

    /// A row still pending at the end of the input (mprof's last round).
    fn finish(&mut self) -> Option<Row> {
        match self {
            Rows::Mprof(r) => r.finish(),
            Rows::Csv(_) | Rows::Plain(_) => None,
        }
    }
}

/// A trace being read: its format and column, known from its first lines, then its points
/// in time order as an iterator of `(seconds, value)` (zero rows left out). The iterator ends
/// at the end of the input or at the first error, which it yields.
#[derive(Debug)]
pub struct Trace<R> {
    lines: Lines<R>,
    rows: Rows,
    format: Format,
    column: String,
    bytes: bool,
    last_t: Option<f64>,
    zero_rows: u64,
    /// The number of the last line when it had no line break.
    cut_line: Option<usize>,
    notes: Vec<String>,
    done: bool,
}

impl Trace<BufReader<File>> {
    /// Opens the trace at `path`; `column` picks a value column by name (CSV and psrecord).
    pub fn open(path: &Path, column: Option<&str>) -> Result<Self, TraceError> {
        let file = File::open(path).map_err(|source| TraceError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // Best effort: the file is read once from start to end, so the kernel may read ahead
        // further (a FIFO or a device refuses, which changes nothing).
        let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::Sequential);
        Trace::new(BufReader::with_capacity(READ_BUFFER, file), column)
    }
}

impl<R: BufRead> Trace<R> {
    /// Reads the trace's first lines from `reader` to tell its format and value column.
    pub fn new(reader: R, column: Option<&str>) -> Result<Self, TraceError> {
        let mut lines = Lines::new(reader)?;
        let (rows, format, column, bytes) = loop {
            let Some(line) = lines.next_line()? else {
                return Err(TraceError::Empty);
            };
            if line.text.trim().is_empty() {
                continue;
            }
            match opening(line.text) {
                Opening::Comment => continue,
                Opening::Unknown => {
                    return Err(TraceError::UnknownFormat {
                        line: line.number,
                        start: quoted(line.text.trim()),
                    })
                }
                Opening::Format(format) => break rows_for(format, &line, column)?,
            }
        };
        Ok(Trace {
            lines,
            rows,
            format,
            column,
            bytes,
            last_t: None,
            zero_rows: 0,
            cut_line: None,
            notes: Vec::new(),
            done: false,
        })
    }
}

/// The rows parser for `format`, whose first significant line is `first`.
fn rows_for(
    format: Format,
    first: &Line<'_>,
    column: Option<&str>,
) -> Result<(Rows, Format, String, bool), TraceError> {
    Ok(match format {
        Format::Csv | Format::PsrecordCsv => {
            let (rows, name, bytes) = if format == Format::Csv {
                csv::Rows::new(first, column, &csv::GENERIC)?
            } else {
                psrecord::csv_rows(first, column)?
            };
            (Rows::Csv(rows), format, name, bytes)
        }
        Format::PsrecordPlain => {
            let (rows, name) = psrecord::Plain::new(column)?;
            (Rows::Plain(rows), format, name.to_string(), true)
        }
        Format::Mprof => {
            let mut rows = mprof::Rows::new(column)?;
            // The first line is a record of its own (CMDLINE or MEM), never a round's end.
            rows.row(first)?;
            (Rows::Mprof(rows), format, "MEM".to_string(), true)
        }
    })
}

impl<R> Trace<R> {
    /// The format it is read as.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The name of the value column read (`anon_bytes`, `mem_real`, `Real (MB)`, `MEM`).
    pub fn column(&self) -> &str {
        &self.column
    }

    /// True when the values are bytes (always for psrecord and mprof; for CSV when the
    /// column's name says `bytes`, `rss`, `anon`, `pss` or `mem`).
    pub fn bytes(&self) -> bool {
        self.bytes
    }

    /// Rows skipped so far because their value was 0 (the process had exited).
    pub fn zero_rows(&self) -> u64 {
        self.zero_rows
    }

    /// What was skipped and why, in words (a last line cut short).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Takes `row` into the series: refuses time going backwards, counts zero rows.
    fn accept(&mut self, row: Row) -> Result<Option<(f64, f64)>, TraceError> {
        if let Some(prev) = self.last_t {
            if row.t < prev {
                return Err(TraceError::malformed(
                    row.line,
                    format!("time goes backwards ({} after {prev})", row.t),
                ));
            }
        }
        self.last_t = Some(row.t);
        if row.value == 0.0 {
            self.zero_rows += 1;
            return Ok(None);
        }
        Ok(Some((row.t, row.value)))
    }

    /// Skips a last line cut short with a note, or ends the trace with `error`.
    fn failed(&mut self, error: TraceError) -> Option<Result<(f64, f64), TraceError>> {
        match (&error, self.cut_line) {
            (TraceError::Malformed { line, problem }, Some(cut)) if *line == cut => {
                self.notes.push(format!(
                    "line {line} was cut short (no line break at the end: the recorder was \
                     probably stopped while writing it) and is skipped: {problem}"
                ));
                None
            }
            _ => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}

impl<R: BufRead> Iterator for Trace<R> {
    type Item = Result<(f64, f64), TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let row = match self.lines.next_line() {
                Ok(Some(line)) => {
                    if !line.terminated {
                        self.cut_line = Some(line.number);
                    }
                    self.rows.row(&line)
                }
                Ok(None) => {
                    self.done = true;
                    Ok(self.rows.finish())
                }
                Err(e) => Err(e),
            };
            let accepted = row.and_then(|row| match row {
                Some(row) => self.accept(row),
                None => Ok(None),
            });
            match accepted {
                Ok(Some(point)) => return Some(Ok(point)),
                Ok(None) => {}
                Err(e) => {
                    if let Some(err) = self.failed(e) {
                        return Some(err);
                    }
                }
            }
        }
        None
    }
}

/// A trace read whole into memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The format it was read as.
    pub format: Format,
    /// Name of the value column read.
    pub column: String,
    /// True when the values are bytes.
    pub bytes: bool,
    /// `(seconds, value)` in time order, zero rows left out.
    pub points: Vec<(f64, f64)>,
    /// Rows skipped because their value was 0 (the process had exited).
    pub zero_rows: u64,
    /// What was skipped and why.
    pub notes: Vec<String>,
}

/// Reads the whole trace at `path` into memory, for small traces (tests, corpora); a trace
/// of any size is read with [`Trace::open`] as a stream. `column` as for [`Trace::open`].
pub fn read(path: &Path, column: Option<&str>) -> Result<Series, TraceError> {
    collect(Trace::open(path, column)?)
}

fn collect<R: BufRead>(mut trace: Trace<R>) -> Result<Series, TraceError> {
    let points: Vec<(f64, f64)> = trace.by_ref().collect::<Result<_, _>>()?;
    if points.is_empty() {
        return Err(TraceError::NoSamples);
    }
    Ok(Series {
        format: trace.format,
        column: trace.column,
        bytes: trace.bytes,
        points,
        zero_rows: trace.zero_rows,
        notes: trace.notes,
    })
}

/// At most `max` characters of `s`, control characters escaped, `…` marking a cut: input
/// quoted in an error never floods a terminal or carries escape sequences to it.
fn clip(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// A short excerpt of input, in double quotes.
fn quoted(s: &str) -> String {
    format!("\"{}\"", clip(s, NAME_CLIP))
}

/// Parses one number field, naming it in the error.
fn number(line: usize, field: &str, what: &str) -> Result<f64, TraceError> {
    let field = field.trim();
    match field.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(TraceError::malformed(
            line,
            format!("{what} is not a finite number: {}", quoted(field)),
        )),
        Err(_) if field.is_empty() => Err(TraceError::malformed(line, format!("{what} is empty"))),
        Err(_) => Err(TraceError::malformed(
            line,
            format!("{what} is not a number: {}", quoted(field)),
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Reads a whole trace from text.
    pub(crate) fn parse(text: &str, column: Option<&str>) -> Result<Series, TraceError> {
        collect(Trace::new(text.as_bytes(), column)?)
    }

    fn format_of(text: &str) -> Option<Format> {
        Trace::new(text.as_bytes(), None).ok().map(|t| t.format())
    }

    #[test]
    fn formats_are_told_from_content() {
        assert_eq!(format_of("t_seconds,rss_bytes\n0,1\n"), Some(Format::Csv));
        assert_eq!(
            format_of("# a comment\n\nt_seconds,rss_bytes\n0,1\n"),
            Some(Format::Csv)
        );
        assert_eq!(
            format_of("# Elapsed time   CPU (%)     Real (MB)   Virtual (MB)\n"),
            Some(Format::PsrecordPlain)
        );
        assert_eq!(
            format_of("elapsed_time,nproc,cpu,mem_real,mem_virtual\n"),
            Some(Format::PsrecordCsv)
        );
        assert_eq!(format_of("CMDLINE python x.py\n"), Some(Format::Mprof));
        assert_eq!(format_of("\n\nMEM 1.0 1700000000.0\n"), Some(Format::Mprof));
        assert_eq!(format_of("hello world\n"), None);
    }

    #[test]
    fn empty_and_unknown_inputs_are_errors() {
        assert!(matches!(parse("", None), Err(TraceError::Empty)));
        assert!(matches!(
            parse(" \n\n# only\n", None),
            Err(TraceError::Empty)
        ));
        let e = parse("\nhello world\n", None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("unknown trace format (line 2: \"hello world\")"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_first_line_is_quoted_short_and_escaped() {
        let e = parse(&format!("\x1b]0;title\x07{}\n", "y".repeat(1000)), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"\\u{1b}]0;title\\u{7}yyy"), "{e}");
        assert!(e.len() < 200, "{e}");
        assert!(!e.contains('\x1b'), "{e}");
    }

    #[test]
    fn all_zero_rows_leave_no_samples() {
        let e = parse("t,rss\n0,0\n1,0\n", None).unwrap_err();
        assert!(matches!(e, TraceError::NoSamples), "{e}");
        assert!(matches!(parse("t,rss\n", None), Err(TraceError::NoSamples)));
    }

    #[test]
    fn a_last_line_cut_short_is_skipped_with_a_note() {
        let s = parse("t,rss\n0,5\n1,6\n2,", None).unwrap();
        assert_eq!(s.points, vec![(0.0, 5.0), (1.0, 6.0)]);
        assert_eq!(s.notes.len(), 1);
        assert!(
            s.notes[0].starts_with("line 4 was cut short") && s.notes[0].contains("rss is empty"),
            "{:?}",
            s.notes
        );
        // A cut line that parses is kept; a bad line that ends with a break is an error.
        assert_eq!(parse("t,rss\n0,5\n1,6", None).unwrap().points.len(), 2);
        assert!(parse("t,rss\n0,5\n1,\n", None).is_err());
        // Only the last line can be cut: a bad line before it is still an error.
        assert!(parse("t,rss\n0,\n1,6", None).is_err());
    }

    #[test]
    fn missing_files_name_the_path() {
        let e = read(Path::new("/nonexistent/trace.csv"), None).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/trace.csv"), "{e}");
    }

    #[test]
    fn points_stream_from_a_reader_that_gives_a_few_bytes_at_a_time() {
        /// A reader that hands out at most 3 bytes per read, like a slow pipe.
        struct Trickle<'a>(&'a [u8]);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(3).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let text = "t_seconds,anon_bytes\n0,1\n1,2\n2,3\n";
        let reader = BufReader::with_capacity(4, Trickle(text.as_bytes()));
        let points: Vec<_> = Trace::new(reader, None)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(points, vec![(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]);
    }
}
