//! The live full-screen view of `top`, in the conventions of `top`, `htop` and `bottom`: a
//! sortable table of the groups (memory now, floor growth, verdict, time to exhaustion,
//! processes, a sparkline of recent memory), a detail pane for the selected group (its floor
//! chart, its processes, the verdict's reason), the keys on screen. `q` quits; a resize is
//! redrawn at once; colour is off when `NO_COLOR` is set.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use memwarden::detect::VerdictKind;
use memwarden::units::{format_bytes, format_seconds};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Cell, Chart, Dataset, GraphType, Paragraph, Row as TableRow, Table,
    TableState, Wrap,
};
use ratatui::Frame;

use super::board::{growth, Row, SortBy};
use super::report::{exhaustion_cell, growth_cell, unreadable_note, verdict_cell};
use super::Session;

/// Block characters of a sparkline, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// Readings shown in a row's sparkline.
const SPARK_WIDTH: usize = 20;
/// Processes listed in the detail pane.
const DETAIL_PROCESSES: usize = 12;

/// What the view shows besides the board.
struct View {
    sort: SortBy,
    selected: usize,
    /// The group selected, followed when the ranking moves it.
    selected_id: Option<u64>,
    color: bool,
    started: Instant,
}

/// Runs the view until `q` (or the deadline); samples the machine every interval.
pub fn run(session: &mut Session, deadline: Option<Instant>) -> Result<()> {
    let mut terminal = ratatui::try_init().context("cannot use the terminal")?;
    let outcome = run_in(&mut terminal, session, deadline);
    ratatui::restore();
    outcome
}

fn run_in(
    terminal: &mut ratatui::DefaultTerminal,
    session: &mut Session,
    deadline: Option<Instant>,
) -> Result<()> {
    let mut view = View {
        sort: SortBy::Rank,
        selected: 0,
        selected_id: None,
        color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        started: Instant::now(),
    };
    let mut tick_at = Instant::now();
    loop {
        if Instant::now() >= tick_at {
            session.tick()?;
            tick_at = (tick_at + session.interval).max(Instant::now());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
        terminal.draw(|f| draw(f, session, &mut view))?;
        let wait = tick_at.saturating_duration_since(Instant::now());
        if !event::poll(wait.min(Duration::from_millis(250)))? {
            continue;
        }
        match event::read()? {
            Event::Key(key) if key.kind != KeyEventKind::Release => {
                let rows = session.board.len();
                match key.code {
                    KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        return Ok(())
                    }
                    KeyCode::Down | KeyCode::Char('j') => view.move_by(1, rows),
                    KeyCode::Up | KeyCode::Char('k') => view.move_by(-1, rows),
                    KeyCode::PageDown => view.move_by(10, rows),
                    KeyCode::PageUp => view.move_by(-10, rows),
                    KeyCode::Home | KeyCode::Char('g') => view.move_by(-(rows as i64), rows),
                    KeyCode::End | KeyCode::Char('G') => view.move_by(rows as i64, rows),
                    KeyCode::Char('s') => view.sort = view.sort.next(),
                    _ => {}
                }
            }
            // A resize is drawn at the next pass, right away.
            _ => {}
        }
    }
}

impl View {
    fn move_by(&mut self, by: i64, rows: usize) {
        let last = rows.saturating_sub(1) as i64;
        self.selected = (self.selected as i64 + by).clamp(0, last) as usize;
        self.selected_id = None;
    }

    fn style(&self, color: Color) -> Style {
        if self.color {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    fn verdict_style(&self, row: &Row) -> Style {
        match row.verdict.kind {
            VerdictKind::Leak => self.style(Color::Red).add_modifier(Modifier::BOLD),
            _ if row.gone => self.style(Color::DarkGray),
            _ if row.verdict.rising => self.style(Color::Yellow),
            VerdictKind::Plateau => self.style(Color::Yellow),
            VerdictKind::Stable => self.style(Color::Green),
            VerdictKind::Inconclusive => Style::default(),
        }
    }
}

fn draw(f: &mut Frame, session: &Session, view: &mut View) {
    let rows = session.board.sorted(view.sort);
    // Keep the selected group selected when the ranking moves it.
    if let Some(id) = view.selected_id {
        if let Some(i) = rows.iter().position(|r| r.id == id) {
            view.selected = i;
        }
    }
    view.selected = view.selected.min(rows.len().saturating_sub(1));
    view.selected_id = rows.get(view.selected).map(|r| r.id);

    let [header, table, detail, keys] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(2),
            Constraint::Percentage(55),
            Constraint::Min(8),
            Constraint::Length(1),
        ])
        .areas(f.area());
    draw_header(f, header, session, view);
    draw_table(f, table, &rows, view);
    if let Some(row) = rows.get(view.selected) {
        draw_detail(f, detail, session, row, view);
    }
    let help = "↑/↓ j/k select · PgUp/PgDn · g/G first/last · s sort · q quit";
    f.render_widget(
        Paragraph::new(help).style(Style::default().add_modifier(Modifier::REVERSED)),
        keys,
    );
}

fn draw_header(f: &mut Frame, area: Rect, session: &Session, view: &View) {
    let machine = session
        .board
        .rows()
        .next()
        .map(|r| r.last.machine)
        .unwrap_or_default();
    let leaks = session.board.rows().filter(|r| r.verdict.leaks()).count();
    let first = format!(
        "memwarden top · by {} · {} processes in {} groups · {} leaking · {} available of {} · {} · sort: {}",
        session.sampler.by().as_str(),
        session.sampler.processes(),
        session.board.len(),
        leaks,
        format_bytes(machine.mem_available_bytes),
        format_bytes(machine.mem_total_bytes),
        format_seconds(view.started.elapsed().as_secs_f64()),
        view.sort.name(),
    );
    let u = session.sampler.unreadable();
    let figures = super::report::UnreadableFigures {
        processes: u.processes,
        fds: u.fds,
    };
    let second = unreadable_note(&figures).unwrap_or_else(|| {
        "leaks first, soonest to exhaust their memory first; then by floor growth".into()
    });
    let text = vec![
        Line::from(Span::styled(
            first,
            Style::default().add_modifier(Modifier::BOLD),
        )),
        Line::from(Span::styled(second, view.style(Color::DarkGray))),
    ];
    f.render_widget(Paragraph::new(text), area);
}

fn draw_table(f: &mut Frame, area: Rect, rows: &[&Row], view: &View) {
    let header = TableRow::new(
        [
            "GROUP",
            "MEMORY",
            "FLOOR GROWTH",
            "VERDICT",
            "EXHAUSTED IN",
            "PROCS",
            "RECENT",
        ]
        .map(|h| Cell::from(h).style(Style::default().add_modifier(Modifier::BOLD))),
    );
    let body = rows.iter().map(|r| {
        TableRow::new(vec![
            Cell::from(clean(&r.name)),
            Cell::from(format_bytes(r.bytes)),
            Cell::from(growth_cell(growth(r))),
            Cell::from(verdict_cell(&r.verdict)).style(view.verdict_style(r)),
            Cell::from(exhaustion_cell(&r.verdict)),
            Cell::from(r.last.tree.processes.to_string()),
            Cell::from(sparkline(
                r.history.iter().map(|&k| u64::from(k)),
                SPARK_WIDTH,
            )),
        ])
    });
    let widths = [
        Constraint::Min(24),
        Constraint::Length(10),
        Constraint::Length(13),
        Constraint::Length(16),
        Constraint::Length(12),
        Constraint::Length(6),
        Constraint::Length(SPARK_WIDTH as u16),
    ];
    let table = Table::new(body, widths)
        .header(header)
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .block(Block::default().borders(Borders::TOP | Borders::BOTTOM));
    let mut state = TableState::default().with_selected(Some(view.selected));
    f.render_stateful_widget(table, area, &mut state);
}

fn draw_detail(f: &mut Frame, area: Rect, session: &Session, row: &Row, view: &View) {
    let [chart_area, side] = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(55), Constraint::Percentage(45)])
        .areas(area);
    draw_chart(f, chart_area, session, row, view);
    let mut members: Vec<_> = session.sampler.members(row.id).collect();
    members.sort_by_key(|m| std::cmp::Reverse(m.1.anon_bytes));
    let reason = row.full_verdict().reason;
    let mut why = vec![Line::from(Span::styled(
        format!("{} · {}", verdict_cell(&row.verdict), clean(&reason)),
        view.verdict_style(row),
    ))];
    if let Some(limit) = row.limit_bytes {
        why.push(Line::from(format!("cgroup limit {}", format_bytes(limit))));
    }
    let mut lines = vec![Line::from(Span::styled(
        format!("{:>8} {:>10}  COMMAND", "PID", "ANON"),
        Style::default().add_modifier(Modifier::BOLD),
    ))];
    for (p, now) in members.iter().take(DETAIL_PROCESSES) {
        lines.push(Line::from(format!(
            "{:>8} {:>10}  {}",
            p.pid,
            format_bytes(now.anon_bytes),
            clean(&p.command)
        )));
    }
    if members.len() > DETAIL_PROCESSES {
        lines.push(Line::from(format!(
            "… and {} more",
            members.len() - DETAIL_PROCESSES
        )));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {} ", clean(&row.name)));
    let inner = block.inner(side);
    f.render_widget(block, side);
    let [reason, list] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(4), Constraint::Min(1)])
        .areas(inner);
    f.render_widget(Paragraph::new(why).wrap(Wrap { trim: true }), reason);
    // One line per process, cut at the pane's edge.
    f.render_widget(Paragraph::new(lines), list);
}

fn draw_chart(f: &mut Frame, area: Rect, session: &Session, row: &Row, view: &View) {
    const MIB: f64 = 1024.0 * 1024.0;
    let interval = session.interval.as_secs_f64();
    let n = row.history.len();
    let recent: Vec<(f64, f64)> = row
        .history
        .iter()
        .enumerate()
        .map(|(i, &kib)| {
            let t = row.last.t - (n - 1 - i) as f64 * interval;
            (t, f64::from(kib) * 1024.0 / MIB)
        })
        .collect();
    let floor: Vec<(f64, f64)> = session
        .board
        .floor(row.id)
        .into_iter()
        .map(|(t, v)| (t, v / MIB))
        .collect();
    let t0 = floor
        .first()
        .map_or(0.0, |p| p.0)
        .min(recent.first().map_or(0.0, |p| p.0));
    let t1 = row.last.t.max(t0 + 1.0);
    let top = recent
        .iter()
        .chain(&floor)
        .map(|p| p.1)
        .fold(0.0f64, f64::max)
        .max(1.0);
    let datasets = vec![
        Dataset::default()
            .name("memory")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(view.style(Color::Cyan))
            .data(&recent),
        Dataset::default()
            .name("floor")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(view.style(Color::Magenta))
            .data(&floor),
    ];
    let chart = Chart::new(datasets)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" memory and the floor judged (MiB) "),
        )
        .x_axis(
            Axis::default()
                .bounds([t0, t1])
                .labels([format_seconds(t0), format_seconds(t1)]),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, top * 1.1])
                .labels(["0".to_string(), format!("{:.0}", top * 1.1)]),
        );
    f.render_widget(chart, area);
}

/// A row's recent memory as block characters, scaled between its own low and high.
fn sparkline(values: impl DoubleEndedIterator<Item = u64> + Clone, width: usize) -> String {
    let shown: Vec<u64> = values.rev().take(width).collect();
    let lo = shown.iter().copied().min().unwrap_or(0);
    let hi = shown.iter().copied().max().unwrap_or(0);
    shown
        .iter()
        .rev()
        .map(|&v| {
            if hi == lo {
                BARS[0]
            } else {
                BARS[((v - lo) as f64 / (hi - lo) as f64 * 7.0).round() as usize]
            }
        })
        .collect()
}

/// Text from watched processes never carries control characters to the terminal.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_their_own_range() {
        assert_eq!(
            sparkline([1u64, 2, 3, 4, 5, 6, 7, 8].into_iter(), 8),
            "▁▂▃▄▅▆▇█"
        );
        assert_eq!(sparkline([5u64, 5, 5].into_iter(), 8), "▁▁▁");
        assert_eq!(sparkline([0u64, 9, 0, 9].into_iter(), 2), "▁█");
        assert_eq!(clean("a\x1b[2Jb"), "a?[2Jb");
    }
}
