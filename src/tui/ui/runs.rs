//! The past runs popup.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::centered;
use crate::engine::progress::thousands;
use crate::tui::app::{App, RunsView};
use crate::tui::theme::Theme;

/// The job's past runs (when, mode, status, counts, duration); Enter opens one's
/// full log as recorded in the run history.
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
                        // Changes as `+12 ~3 -1` (unchanged: the rest);
                        // history from before DSP counted them shows `ok`.
                        let changed = match s.changes {
                            Some(c) => c.short(),
                            None => format!("ok {}", thousands(s.success)),
                        };
                        // Fits 80 columns: a short time, the columns narrow.
                        let failed = match s.failed {
                            0 => String::new(),
                            n => format!(" {} failed", thousands(n)),
                        };
                        let text = format!(
                            "{} {:<11} {:<9} {:>9} read {changed:<16} {secs:.1}s{failed}",
                            app.zone.format_short(s.started),
                            s.mode.as_str(),
                            s.status.as_str(),
                            thousands(s.total),
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
