//! The past runs popup.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::centered;
use super::jobs::{marker_for, short_time};
use super::text::{fit, join_fitting, log_rows};
use crate::engine::progress::{LogLine, thousands};
use crate::engine::state::RunRecord;
use crate::tui::app::{App, RunsView};
use crate::tui::theme::Theme;

/// The job's past runs (when, mode, status, counts, duration); Enter opens one's
/// full log as recorded in the run history, wrapped so every line reads to its end.
pub(super) fn draw(f: &mut Frame, area: Rect, app: &App, r: &RunsView, theme: &Theme) {
    let rect = centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    f.render_widget(Clear, rect);
    let history = app
        .job_view(&r.job)
        .map(|v| v.history.as_slice())
        .unwrap_or(&[]);
    let height = rect.height.saturating_sub(2) as usize;
    let width = rect.width.saturating_sub(2) as usize;
    let hit = r.found.as_ref().and_then(|f| f.line);
    let (title, lines): (Vec<String>, Vec<Line>) =
        match r.open.and_then(|(i, s)| history.get(i).map(|h| (h, s))) {
            Some((run, scroll)) => {
                let rows = log_rows(
                    run.log.iter().enumerate().map(|(n, l)| {
                        let style = if Some(n) == hit {
                            theme.selected()
                        } else {
                            Style::default()
                        };
                        (log_text(l), style)
                    }),
                    width,
                    height,
                    Some(scroll),
                );
                let when = app.zone.format(run.summary.started);
                (
                    vec![
                        format!(" {} · run of {when} (Esc back, End last line) ", r.job),
                        format!(" run of {when} (Esc back) "),
                        " Esc back ".into(),
                    ],
                    rows.into_iter()
                        .map(|(r, style)| Line::from(Span::styled(r, style)))
                        .collect(),
                )
            }
            None => {
                let skip = r.selected.saturating_sub(height.saturating_sub(1));
                let lines = history
                    .iter()
                    .enumerate()
                    .skip(skip)
                    .take(height)
                    .map(|(i, run)| run_line(app, run, i == r.selected, width, theme))
                    .collect();
                (
                    vec![
                        format!(" {} · past runs (Enter shows the log) ", r.job),
                        " past runs (Enter shows the log) ".into(),
                        " past runs ".into(),
                    ],
                    lines,
                )
            }
        };
    let title = fit(&title, width);
    let mut block = Block::default().borders(Borders::ALL).title(title);
    if let Some(bottom) = find_line(r) {
        block = block.title_bottom(Line::from(Span::styled(fit(&bottom, width), theme.title())));
    }
    f.render_widget(Paragraph::new(lines).block(block), rect);
}

/// The search in the log's bottom border: the prompt being typed, or what
/// was found (the popup hides the status line).
fn find_line(r: &RunsView) -> Option<Vec<String>> {
    if let Some(text) = &r.find {
        return Some(vec![format!(" Find in log: {text}▏ ")]);
    }
    let found = r.found.as_ref()?;
    let q = &found.query;
    Some(match found.line {
        Some(line) => vec![
            format!(" '{q}' at line {} · n/N next ↓/↑ · Esc clears ", line + 1),
            format!(" '{q}' at line {} ", line + 1),
        ],
        None => vec![format!(" no match for '{q}' "), " no match ".into()],
    })
}

/// A line of a past run's log as the popup shows it.
pub(crate) fn log_text(l: &LogLine) -> String {
    format!("{} {l}", l.at.format("%H:%M:%S"))
}

/// The width of the popup's log on a terminal `cols` wide: less the popup's
/// margin and borders.
pub(crate) fn log_width(cols: u16) -> usize {
    cols.saturating_sub(6).max(1).into()
}

/// One run: when and how it ended first, then as many of the counts, the
/// time it took and the mode as fit.
fn run_line(
    app: &App,
    run: &RunRecord,
    selected: bool,
    width: usize,
    theme: &Theme,
) -> Line<'static> {
    let s = &run.summary;
    let secs = (s.ended - s.started).num_milliseconds() as f64 / 1000.0;
    let head = format!(
        "{:<14} {} {:<9}",
        short_time(&app.zone, s.started),
        marker_for(s.status),
        s.status.as_str()
    );
    let rest = [
        format!("total {:>9}", thousands(s.total)),
        // Changes as `+12 ~3 -1`; history from before DSP counted them
        // shows how many rows it wrote.
        match s.changes {
            Some(c) => format!("{:<16}", c.short()),
            None => format!("ok {:>9}", thousands(s.success)),
        },
        format!("failed {:>6}", thousands(s.failed)),
        format!("{secs:>6.1}s"),
        s.mode.as_str().to_string(),
    ];
    let room = width.saturating_sub(head.chars().count() + 4);
    let marker = if selected { "> " } else { "  " };
    let style = if selected {
        theme.selected()
    } else {
        Style::default()
    };
    Line::from(vec![
        Span::raw(marker),
        Span::styled(
            format!("{head}  {}", join_fitting(&rest, "  ", room)),
            style,
        ),
    ])
}
