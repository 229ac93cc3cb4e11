//! The panes every tab is made of: the list on the left and the details on
//! the right.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};

use crate::tui::theme::Theme;

pub(super) fn list(
    f: &mut Frame,
    area: Rect,
    title: &str,
    items: Vec<String>,
    selected: usize,
    theme: &Theme,
) {
    let items = items.into_iter().map(ListItem::new).collect();
    list_items(f, area, title, items, selected, theme);
}

/// A list of items drawn by the caller (several lines, styled parts).
pub(super) fn list_items(
    f: &mut Frame,
    area: Rect,
    title: &str,
    items: Vec<ListItem>,
    selected: usize,
    theme: &Theme,
) {
    let empty = items.is_empty();
    let mut state = ListState::default();
    if !empty {
        state.select(Some(selected));
    }
    let list = List::new(items)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(format!(" {title} "), theme.title())),
        )
        .highlight_style(theme.selected())
        .highlight_symbol("> ");
    f.render_stateful_widget(list, area, &mut state);
}

pub(super) fn details(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line>, theme: &Theme) {
    let p = Paragraph::new(lines)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(format!(" {title} "), theme.title())),
        )
        .wrap(Wrap { trim: false });
    f.render_widget(p, area);
}

pub(super) fn kv(k: &str, v: impl Into<String>) -> Line<'static> {
    Line::from(format!("{k:<14} {}", v.into()))
}
