//! mprof `.dat` files from `mprof run`.
//!
//! Lines: `CMDLINE <command>`, `MEM <MiB> <unix time>`, `CHLD <pid> <MiB> <unix time>` (with
//! `--multiprocess`, after the `MEM` line of the same sampling round), and `FUNC …` (from
//! `@profile`). Each `MEM` line starts a sample; its `CHLD` lines are added to it.

use super::{number, Collector, Format, Series, TraceError, MIB};

/// Parses an mprof file; `column` may only be `MEM` (the file has a single series).
pub(super) fn parse(text: &str, column: Option<&str>) -> Result<Series, TraceError> {
    if let Some(c) = column {
        if !c.trim().eq_ignore_ascii_case("mem") {
            return Err(TraceError::NoSuchColumn {
                wanted: c.to_string(),
                available: "MEM".to_string(),
            });
        }
    }
    let mut out = Collector::new();
    let mut origin = None;
    // The round being summed: (line of its MEM, seconds, MiB).
    let mut round: Option<(usize, f64, f64)> = None;
    for (i, row) in text.lines().enumerate() {
        let line = i + 1;
        let row = row.trim();
        let mut fields = row.split_whitespace();
        match fields.next() {
            None | Some("CMDLINE") | Some("FUNC") => {}
            Some("MEM") => {
                let (mib, time) = two_numbers(line, fields, "MEM <MiB> <time>")?;
                if let Some((l, t, v)) = round.take() {
                    out.add(l, t, v * MIB)?;
                }
                let origin = *origin.get_or_insert(time);
                round = Some((line, time - origin, mib));
            }
            Some("CHLD") => {
                let Some(_pid) = fields.next() else {
                    return Err(TraceError::malformed(
                        line,
                        "expected CHLD <pid> <MiB> <time>",
                    ));
                };
                let (mib, _) = two_numbers(line, fields, "CHLD <pid> <MiB> <time>")?;
                match round.as_mut() {
                    Some(r) => r.2 += mib,
                    None => {
                        return Err(TraceError::malformed(line, "CHLD line before any MEM line"))
                    }
                }
            }
            Some(other) => {
                return Err(TraceError::malformed(
                    line,
                    format!("unknown mprof record {other:?} (expected CMDLINE, MEM, CHLD or FUNC)"),
                ))
            }
        }
    }
    if let Some((l, t, v)) = round {
        out.add(l, t, v * MIB)?;
    }
    Ok(out.finish(Format::Mprof, "MEM".to_string(), true))
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
}
