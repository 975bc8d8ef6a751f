//! A left-aligned text table that fits a width: every column as wide as its widest cell, the
//! last one (a label, a command, what happened) cut to what the line has left.

use super::term::shorten;

/// Columns the last one keeps at the least, however narrow the width.
const LAST_MIN: usize = 12;

/// A text table with a header row, indented two spaces.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    /// Adds a row (as many cells as the header; text already [`super::term::printable`]).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, each at most `width` characters (unless the
    /// other columns alone are wider).
    pub fn render(&self, width: usize) -> String {
        let columns = self.rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let before_last: usize = 2 + widths[..columns - 1].iter().map(|w| w + 2).sum::<usize>();
        let last_room = width.saturating_sub(before_last).max(LAST_MIN);
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::from("  ");
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == columns {
                    line.push_str(&shorten(cell, last_room));
                } else {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_column_is_cut_to_the_width() {
        let mut t = Table::new(&["id", "label"]);
        t.row(vec!["1".into(), "a".repeat(100)]);
        t.row(vec!["22".into(), "short".into()]);
        let out = t.render(40);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "  id  label");
        assert_eq!(lines[1].chars().count(), 40);
        assert!(lines[1].ends_with("a…"));
        assert_eq!(lines[2], "  22  short");
        // The last column keeps a few characters even when the others fill the line.
        let mut wide = Table::new(&["a", "b"]);
        wide.row(vec!["x".repeat(50), "y".repeat(30)]);
        assert!(wide
            .render(40)
            .lines()
            .nth(1)
            .unwrap()
            .ends_with(&format!("{}…", "y".repeat(11))));
    }
}
