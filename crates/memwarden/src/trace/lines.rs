//! Lines of a trace, read with bounded memory: one line at a time, each at most
//! [`MAX_LINE`] bytes, UTF-8 text without NUL bytes. A device, a FIFO or a huge file is read
//! as it comes and never held whole; binary input is refused on its first bytes.

use std::io::{BufRead, Read};

use super::{quoted, TraceError};

/// The longest line a trace may have. Recorders write lines of a few dozen bytes, a CSV header
/// with many columns a few KiB; anything longer is not a trace.
pub const MAX_LINE: usize = 64 * 1024;

/// One line of the trace: its 1-based number, its text (without the line break), and whether
/// a line break ended it (the last line of a file whose writer was killed has none).
#[derive(Debug, Clone, Copy)]
pub(super) struct Line<'a> {
    pub number: usize,
    pub text: &'a str,
    pub terminated: bool,
}

/// Reads lines from `reader`, reusing one buffer.
#[derive(Debug)]
pub(super) struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    number: usize,
}

impl<R: BufRead> Lines<R> {
    /// Checks the first bytes `reader` gives for binary data, then reads it line by line.
    pub fn new(mut reader: R) -> Result<Self, TraceError> {
        let head = reader.fill_buf().map_err(TraceError::read)?;
        if let Some(why) = binary(head) {
            return Err(TraceError::NotText(why));
        }
        Ok(Lines {
            reader,
            buf: Vec::with_capacity(256),
            number: 0,
        })
    }

    /// The next line, or `None` at the end of the input.
    pub fn next_line(&mut self) -> Result<Option<Line<'_>>, TraceError> {
        self.buf.clear();
        // One byte past the limit tells a line of exactly MAX_LINE bytes from a longer one.
        let read = (&mut self.reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(TraceError::read)?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        let terminated = self.buf.last() == Some(&b'\n');
        if terminated {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        } else if self.buf.len() > MAX_LINE {
            return Err(TraceError::malformed(
                self.number,
                format!(
                    "longer than {} KiB, which no trace line is (it starts {})",
                    MAX_LINE / 1024,
                    quoted(&String::from_utf8_lossy(&self.buf[..64]))
                ),
            ));
        }
        let text = std::str::from_utf8(&self.buf).map_err(|_| {
            TraceError::malformed(self.number, "not UTF-8 text (binary data in the trace?)")
        })?;
        if text.contains('\0') {
            return Err(TraceError::malformed(
                self.number,
                "has NUL bytes (binary data in the trace?)",
            ));
        }
        Ok(Some(Line {
            number: self.number,
            text,
            terminated,
        }))
    }
}

/// Why `head` (the first bytes of the input) is not text, if it is not.
fn binary(head: &[u8]) -> Option<String> {
    if head.contains(&0) {
        return Some("it has NUL bytes: binary data, not a trace".into());
    }
    match std::str::from_utf8(head) {
        Ok(_) => None,
        // A character cut at the end of the first read is fine: its rest comes next.
        Err(e) if e.error_len().is_none() => None,
        Err(_) => Some("it is not UTF-8: binary data, not a trace".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line of `input`, read through a buffer of `capacity` bytes (the first read
    /// is what the binary check sees).
    fn read_with(input: &[u8], capacity: usize) -> Result<Vec<(usize, String, bool)>, TraceError> {
        let mut lines = Lines::new(std::io::BufReader::with_capacity(capacity, input))?;
        let mut out = Vec::new();
        while let Some(l) = lines.next_line()? {
            out.push((l.number, l.text.to_string(), l.terminated));
        }
        Ok(out)
    }

    fn all(input: &[u8]) -> Result<Vec<(usize, String, bool)>, TraceError> {
        read_with(input, 64 * 1024)
    }

    #[test]
    fn lines_are_numbered_and_the_last_one_may_lack_its_break() {
        let got = all(b"a\r\nb\n\nc").unwrap();
        assert_eq!(
            got,
            vec![
                (1, "a".into(), true),
                (2, "b".into(), true),
                (3, "".into(), true),
                (4, "c".into(), false)
            ]
        );
    }

    #[test]
    fn binary_input_is_refused_at_once() {
        let e = all(&[0u8; 100]).unwrap_err();
        assert!(e.to_string().contains("NUL"), "{e}");
        let e = all(&[0xff, 0xfe, b'a', b'\n']).unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }

    #[test]
    fn a_line_too_long_is_an_error_quoting_only_its_start() {
        let mut long = b"t,v\n".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        let e = all(&long).unwrap_err().to_string();
        assert!(e.starts_with("line 2: longer than 64 KiB"), "{e}");
        assert!(e.len() < 200, "{e}");
        // Exactly the limit is fine.
        let mut max = vec![b'y'; MAX_LINE];
        max.push(b'\n');
        assert_eq!(all(&max).unwrap()[0].1.len(), MAX_LINE);
    }

    #[test]
    fn binary_after_the_start_names_its_line() {
        let e = read_with(b"t,v\n0,1\n\xff\xfe\n", 8).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3: not UTF-8 text (binary data in the trace?)"
        );
        let e = read_with(b"t,v\n0,\x001\n", 4).unwrap_err();
        assert!(e.to_string().starts_with("line 2: has NUL bytes"), "{e}");
    }
}
