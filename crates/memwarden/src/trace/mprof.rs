//! mprof `.dat` files from `mprof run`.
//!
//! Lines: `CMDLINE <command>`, `MEM <MiB> <unix time>`, `CHLD <pid> <MiB> <unix time>` (with
//! `--multiprocess`, after the `MEM` line of the same sampling round), and `FUNC …` (from
//! `@profile`). Each `MEM` line starts a sample; its `CHLD` lines are added to it.

use super::lines::Line;
use super::{clip, number, Row, TraceError, MIB, NAME_CLIP};

/// The rounds of an mprof file: a round is complete when the next `MEM` line (or the end)
/// comes.
#[derive(Debug, Default)]
pub(super) struct Rows {
    origin: Option<f64>,
    /// The round being summed, in MiB.
    round: Option<Row>,
}

impl Rows {
    /// `column` may only be `MEM` (the file has a single series).
    pub fn new(column: Option<&str>) -> Result<Rows, TraceError> {
        match column {
            Some(c) if !c.trim().eq_ignore_ascii_case("mem") => Err(TraceError::NoSuchColumn {
                wanted: clip(c, NAME_CLIP),
                available: "MEM".to_string(),
            }),
            _ => Ok(Rows::default()),
        }
    }

    /// Parses one line; gives the previous round when a `MEM` line starts a new one.
    pub fn row(&mut self, line: &Line<'_>) -> Result<Option<Row>, TraceError> {
        let mut fields = line.text.split_whitespace();
        let number_of = line.number;
        match fields.next() {
            None | Some("CMDLINE") | Some("FUNC") => Ok(None),
            Some("MEM") => {
                let (mib, time) = two_numbers(number_of, fields, "MEM <MiB> <time>")?;
                let origin = *self.origin.get_or_insert(time);
                let next = Row {
                    line: number_of,
                    t: time - origin,
                    value: mib,
                };
                Ok(self.round.replace(next).map(in_bytes))
            }
            Some("CHLD") => {
                let Some(_pid) = fields.next() else {
                    return Err(TraceError::malformed(
                        number_of,
                        "expected CHLD <pid> <MiB> <time>",
                    ));
                };
                let (mib, _) = two_numbers(number_of, fields, "CHLD <pid> <MiB> <time>")?;
                match self.round.as_mut() {
                    Some(r) => {
                        r.value += mib;
                        Ok(None)
                    }
                    None => Err(TraceError::malformed(
                        number_of,
                        "CHLD line before any MEM line",
                    )),
                }
            }
            Some(other) => Err(TraceError::malformed(
                number_of,
                format!(
                    "unknown mprof record \"{}\" (expected CMDLINE, MEM, CHLD or FUNC)",
                    clip(other, NAME_CLIP)
                ),
            )),
        }
    }

    /// The last round, at the end of the file.
    pub fn finish(&mut self) -> Option<Row> {
        self.round.take().map(in_bytes)
    }
}

fn in_bytes(r: Row) -> Row {
    Row {
        value: r.value * MIB,
        ..r
    }
}

fn two_numbers<'a>(
    line: usize,
    mut fields: impl Iterator<Item = &'a str>,
    shape: &str,
) -> Result<(f64, f64), TraceError> {
    match (fields.next(), fields.next(), fields.next()) {
        (Some(a), Some(b), None) => Ok((number(line, a, "memory")?, number(line, b, "time")?)),
        _ => Err(TraceError::malformed(line, format!("expected {shape}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::*;

    #[test]
    fn mem_lines_become_bytes_at_relative_times() {
        let text = "CMDLINE python x.py\nMEM 1.5 1000.0\nMEM 2.0 1000.5\nFUNC f 1 2 3 4 1\n";
        let s = parse(text, None).unwrap();
        assert_eq!(s.points, vec![(0.0, 1.5 * MIB), (0.5, 2.0 * MIB)]);
        assert_eq!(s.column, "MEM");
    }

    #[test]
    fn children_are_added_to_their_round() {
        let text = "MEM 1.0 1000.0\nCHLD 7 2.0 1000.01\nCHLD 8 3.0 1000.02\nMEM 1.0 1001.0\n";
        let s = parse(text, None).unwrap();
        assert_eq!(s.points, vec![(0.0, 6.0 * MIB), (1.0, 1.0 * MIB)]);
    }

    #[test]
    fn bad_lines_name_their_line() {
        let cases = [
            ("MEM 1.0\n", "line 1: expected MEM <MiB> <time>"),
            (
                "CMDLINE x\nCHLD 1 2.0 3.0\n",
                "line 2: CHLD line before any MEM line",
            ),
            (
                "MEM 1 2\nMEM x 3\n",
                "line 2: memory is not a number: \"x\"",
            ),
            (
                "MEM 1 2\nWHAT 1 2\n",
                "line 2: unknown mprof record \"WHAT\" (expected CMDLINE, MEM, CHLD or FUNC)",
            ),
            (
                "MEM 1 5\nMEM 1 4\n",
                "line 2: time goes backwards (-1 after 0)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text, None).unwrap_err().to_string(), want, "{text:?}");
        }
        assert!(parse("MEM 1 2\n", Some("rss")).is_err());
    }

    #[test]
    fn a_file_cut_short_by_a_killed_mprof_keeps_its_whole_rounds() {
        // The time of the last MEM line was cut: it reads as long before the others.
        let s = parse("MEM 1.0 1000.0\nMEM 2.0 1001.0\nMEM 3.0 10", None).unwrap();
        assert_eq!(s.points, vec![(0.0, MIB), (1.0, 2.0 * MIB)]);
        assert!(s.notes[0].contains("time goes backwards"), "{:?}", s.notes);
        let s = parse("MEM 1.0 1000.0\nMEM 2.0 1001.0\nCHLD 5 1", None).unwrap();
        assert_eq!(s.points, vec![(0.0, MIB), (1.0, 2.0 * MIB)]);
        assert_eq!(s.notes.len(), 1);
    }
}
