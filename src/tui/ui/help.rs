//! The `?` popup: every binding in the keymap, in two columns.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::centered;
use crate::tui::keymap::{BINDINGS, Context, HELP_COLUMNS};
use crate::tui::theme::Theme;

pub(super) fn draw(f: &mut Frame, area: Rect, theme: &Theme) {
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
    // No bottom border: its row holds one more key at 80x24.
    let h = (left.len().max(right.len()) as u16 + 1).min(area.height);
    let rect = centered(area, 78, h);
    f.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::TOP | Borders::LEFT | Borders::RIGHT)
        .title(format!(" Keys ({}) ", how_help_closes()));
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let [l, r] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
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
