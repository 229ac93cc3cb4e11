//! Help and confirmation popups.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::centered;
use crate::tui::app::Confirm;
use crate::tui::keymap::{BINDINGS, Context};
use crate::tui::theme::Theme;

pub fn draw_help(f: &mut Frame, area: Rect, theme: &Theme) {
    // Two columns, so every key fits on an 80x24 screen.
    let column = |contexts: &[Context]| -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        for c in contexts {
            lines.push(Line::from(Span::styled(c.title(), theme.title())));
            for b in BINDINGS.iter().filter(|b| b.context == *c) {
                lines.push(Line::from(format!(" {:<10} {}", b.keys, b.action)));
            }
        }
        lines
    };
    let left = column(&[
        Context::Global,
        Context::Network,
        Context::Schema,
        Context::Jobs,
    ]);
    let right = column(&[Context::Form, Context::SchemaForm, Context::Confirm]);
    let h = (left.len().max(right.len()) as u16 + 2).min(area.height);
    let rect = centered(area, 78, h);
    f.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Keys (any key closes) ");
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
