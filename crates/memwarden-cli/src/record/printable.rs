//! Text a watched process or a user chose (command lines, labels, host and file names, event
//! details), as every output shows it: its control characters escaped, so it cannot act on
//! the terminal it is printed on.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `s` with every character that could act on a terminal shown as an escape instead:
/// newline, tab and carriage return as `\n`, `\t`, `\r`; other control characters (ESC,
/// BEL, DEL, the C1 range) as `\x1b`; the bidirectional overrides that can make text read
/// in another order than it is as `\u{202e}`. Everything else is kept, so ordinary text
/// comes out unchanged (and unallocated).
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert!(matches!(printable("python3 app.py"), Cow::Borrowed(_)));
        assert_eq!(
            printable("a\x1b]0;owned\x07b\nmemwarden: fake\r\t\u{7f}"),
            "a\\x1b]0;owned\\x07b\\nmemwarden: fake\\r\\t\\x7f"
        );
        assert_eq!(printable("\u{9b}2J"), "\\x9b2J", "the one-byte CSI of C1");
        assert_eq!(printable("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(printable("naïve café ▁█"), "naïve café ▁█");
    }
}
