//! Text for a terminal: what a watched process wrote made harmless, the width to fit, and
//! whether to color.
//!
//! A watched process chooses its own command line, and a label or a trace's file name is
//! anything a user typed: printed raw, an escape sequence in them could retitle or clear the
//! terminal, and a newline could forge a `memwarden:` line. [`printable`] (kept with the
//! records, so the store's messages use it too) is the one function every text output passes
//! such text through.

use std::io::IsTerminal;
use std::os::fd::AsFd;

pub use crate::record::printable;

/// The width assumed when the output is not a terminal and `COLUMNS` does not say otherwise.
pub const DEFAULT_WIDTH: usize = 80;

/// Narrower than this, layouts stop shrinking (a line may then wrap).
pub const MIN_WIDTH: usize = 40;

/// A command line for one line of a table: its program without its directory, cut at its
/// first line break (an inline script: `python3 -c …`), then made [`printable`].
pub fn command_line(command: &str) -> String {
    let (first, rest) = match command.split_once('\n') {
        Some((first, rest)) => (first.trim_end(), Some(rest)),
        None => (command, None),
    };
    let (program, args) = first.split_once(' ').unwrap_or((first, ""));
    let base = if program.starts_with('/') {
        program.rsplit('/').next().unwrap_or(program)
    } else {
        program
    };
    let mut line = base.to_string();
    if !args.is_empty() {
        line.push(' ');
        line.push_str(args);
    }
    if rest.is_some() {
        line.push_str(" …");
    }
    printable(&line).into_owned()
}

/// How text is laid out for where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Whether to color with ANSI escapes.
    pub color: bool,
    /// Columns a line may take.
    pub width: usize,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            color: false,
            width: DEFAULT_WIDTH,
        }
    }
}

impl Layout {
    /// The layout for stdout (`to_stdout`: the output is not a file).
    pub fn for_stdout(to_stdout: bool) -> Layout {
        if to_stdout {
            Layout::of(&std::io::stdout())
        } else {
            Layout::default()
        }
    }

    /// The layout for stderr, where the end-of-run summary goes.
    pub fn for_stderr() -> Layout {
        Layout::of(&std::io::stderr())
    }

    fn of(stream: &(impl AsFd + IsTerminal)) -> Layout {
        let terminal = stream.is_terminal();
        let size = terminal
            .then(|| terminal_size::terminal_size_of(stream.as_fd()))
            .flatten()
            .map(|(w, _)| usize::from(w.0));
        Layout {
            color: terminal && !no_color(),
            width: width(size, std::env::var("COLUMNS").ok().as_deref()),
        }
    }

    /// `s` in the ANSI style `code` when coloring (`1;31` is bold red).
    pub fn paint(&self, code: &str, s: &str) -> String {
        if self.color && !s.is_empty() {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// `NO_COLOR` set to something (<https://no-color.org>).
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The width to fit: the terminal's when it has one, else `COLUMNS` when it is a number,
/// else [`DEFAULT_WIDTH`]; never below [`MIN_WIDTH`].
pub fn width(terminal: Option<usize>, columns: Option<&str>) -> usize {
    terminal
        .filter(|w| *w > 0)
        .or_else(|| {
            columns
                .and_then(|c| c.trim().parse().ok())
                .filter(|w| *w > 0)
        })
        .unwrap_or(DEFAULT_WIDTH)
        .max(MIN_WIDTH)
}

/// Cuts `s` to `max` characters, marking the cut with `…`.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `text` wrapped at spaces into lines of at most `width` characters: the first line goes
/// on after column `first` (what is already printed there), the others start after `indent`
/// spaces. A word longer than a whole line is cut.
pub fn wrap(text: &str, first: usize, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut column = first;
    let mut line_empty = true;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if !line_empty && column + 1 + len > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            column = indent;
            line_empty = true;
        }
        if !line_empty {
            out.push(' ');
            column += 1;
        }
        let word = shorten(word, width.saturating_sub(column).max(MIN_WIDTH / 2));
        column += word.chars().count();
        out.push_str(&word);
        line_empty = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_fit_one_line() {
        assert_eq!(
            command_line("/root/.pyenv/versions/3.11.7/bin/python3 -c \nimport sys\nx = 1 8"),
            "python3 -c …"
        );
        assert_eq!(
            command_line("./build/app --port 80"),
            "./build/app --port 80"
        );
        assert_eq!(command_line("[kworker/0:1]"), "[kworker/0:1]");
        assert_eq!(command_line("/bin/sh -c \x1b[2Jx"), "sh -c \\x1b[2Jx");
    }

    #[test]
    fn the_width_is_the_terminals_else_columns_else_80() {
        assert_eq!(width(Some(132), Some("100")), 132);
        assert_eq!(width(None, Some("100")), 100);
        assert_eq!(width(None, Some("wide")), 80);
        assert_eq!(width(None, None), 80);
        assert_eq!(width(Some(0), None), 80);
        assert_eq!(width(Some(20), None), MIN_WIDTH);
    }

    #[test]
    fn wrapping_keeps_lines_within_the_width() {
        let text = "leaking 29.9 MiB/s, steadily, called at 17.0s, and reached its limit; \
                    threads, fds and processes rise with it";
        let out = wrap(text, 11, 11, 50);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].chars().count() <= 50 - 11, "{out}");
        assert!(lines.len() >= 3, "{out}");
        for line in &lines[1..] {
            assert!(
                line.starts_with("           ") && line.chars().count() <= 50,
                "{out}"
            );
        }
        assert_eq!(out.split_whitespace().collect::<Vec<_>>().join(" "), text);
        assert_eq!(wrap("short", 4, 4, 80), "short");
    }
}
