//! Help and confirmation popups.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::centered;
use crate::engine::progress::thousands;
use crate::tui::app::{App, Confirm, RunsView};
use crate::tui::keymap::{BINDINGS, Context, HELP_COLUMNS};
use crate::tui::theme::Theme;

pub fn draw_help(f: &mut Frame, area: Rect, theme: &Theme) {
    // Two columns, so every key fits on an 80x24 screen.
    let column = |sections: &[(&str, &[Context])]| -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        for (title, contexts) in sections {
            lines.push(Line::from(Span::styled(title.to_string(), theme.title())));
            for c in *contexts {
                for b in BINDINGS.iter().filter(|b| b.context == *c) {
                    lines.push(Line::from(format!(" {:<10} {}", b.keys, b.action)));
                }
            }
        }
        lines
    };
    let [left, right] = HELP_COLUMNS.map(column);
    let h = (left.len().max(right.len()) as u16 + 2).min(area.height);
    let rect = centered(area, 78, h);
    f.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" Keys ({}) ", how_help_closes()));
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let [l, r] = ratatui::layout::Layout::horizontal([
        ratatui::layout::Constraint::Percentage(50),
        ratatui::layout::Constraint::Percentage(50),
    ])
    .areas(inner);
    f.render_widget(Paragraph::new(left), l);
    f.render_widget(Paragraph::new(right), r);
}

/// The help popup's own binding, named in its title.
fn how_help_closes() -> String {
    BINDINGS
        .iter()
        .filter(|b| b.context == Context::Help)
        .map(|b| format!("{} {}", b.keys, b.action))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn draw_confirm(f: &mut Frame, area: Rect, c: &Confirm, theme: &Theme) {
    let question = match c {
        Confirm::Delete { tab, name, .. } => {
            format!("Delete {} \"{name}\"?", tab.noun())
        }
        Confirm::Quit { running } => format!(
            "{running} job{} running. Quit and cancel {}? Targets keep their last consistent state.",
            if *running == 1 { " is" } else { "s are" },
            if *running == 1 { "it" } else { "them" }
        ),
    };
    let rect = centered(area, 56, 6);
    f.render_widget(Clear, rect);
    let lines = vec![
        Line::from(question),
        Line::from(""),
        Line::from(Span::styled(
            "y/Enter yes   n/Esc no (default)",
            theme.title(),
        )),
    ];
    let p = Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .block(Block::default().borders(Borders::ALL).title(" Confirm "));
    f.render_widget(p, rect);
}

/// The job's past runs (when, mode, status, counts, duration); Enter opens one's
/// full log as recorded in the run history.
pub fn draw_runs(f: &mut Frame, area: Rect, app: &App, r: &RunsView, theme: &Theme) {
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
    let (title, lines): (String, Vec<Line>) =
        match r.open.and_then(|(i, s)| history.get(i).map(|h| (h, s))) {
            Some((run, scroll)) => {
                let lines = run
                    .log
                    .iter()
                    .skip(scroll)
                    .take(height)
                    .map(|l| Line::from(format!("{} {l}", l.at.format("%Y-%m-%d %H:%M:%S"))))
                    .collect();
                (
                    format!(
                        " {} · run of {} (Esc back) ",
                        r.job,
                        app.zone.format(run.summary.started)
                    ),
                    lines,
                )
            }
            None => {
                let skip = r.selected.saturating_sub(height.saturating_sub(1));
                let lines = history
                    .iter()
                    .enumerate()
                    .skip(skip)
                    .take(height)
                    .map(|(i, run)| {
                        let s = &run.summary;
                        let secs = (s.ended - s.started).num_milliseconds() as f64 / 1000.0;
                        let text = format!(
                            "{} {:<12} {:<10} total {:>9}  ok {:>9}  failed {:>6}  {secs:.1}s",
                            app.zone.format(s.started),
                            s.mode.as_str(),
                            s.status.as_str(),
                            thousands(s.total),
                            thousands(s.success),
                            thousands(s.failed),
                        );
                        let marker = if i == r.selected { "> " } else { "  " };
                        let style = if i == r.selected {
                            theme.selected()
                        } else {
                            Default::default()
                        };
                        Line::from(vec![Span::raw(marker), Span::styled(text, style)])
                    })
                    .collect();
                (
                    format!(" {} · past runs (Enter shows the log) ", r.job),
                    lines,
                )
            }
        };
    let p = Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title));
    f.render_widget(p, rect);
}
