//! The Schema tab: the schemas, and the selected one's tables, keys and
//! column mapping.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::lists::{details, kv, list};
use super::split;
use crate::tui::app::{App, Tab};
use crate::tui::theme::Theme;

pub(super) fn draw(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let [left, right] = split(area);
    let names = app
        .visible(Tab::Schema)
        .into_iter()
        .map(|i| app.ws.schemas[i].name.clone())
        .collect();
    let title = app.list_title(Tab::Schema, "Schemas");
    list(f, left, &title, names, app.visible_row(Tab::Schema), theme);
    let Some(s) = app.ws.schemas.get(app.selection()) else {
        details(
            f,
            right,
            "Details",
            vec![Line::from("No schemas yet. Press a to add one.")],
            theme,
        );
        return;
    };
    let mut lines = vec![
        kv("Name", s.name.clone()),
        kv("Tables", format!("{} → {}", s.source_table, s.target_table)),
        kv("Primary key", s.primary_key.join(", ")),
        kv(
            "Cursor",
            s.cursor_column
                .clone()
                .unwrap_or_else(|| "— (full sync only)".into()),
        ),
        Line::from(""),
    ];
    // Three columns that share the pane: the type column keeps its longest
    // name, the two name columns split the rest (at most 18 each).
    let inner = right.width.saturating_sub(2) as usize;
    let col = (inner.saturating_sub(11) / 2).clamp(8, 18);
    lines.push(Line::from(Span::styled(
        format!("{:<col$} {:<col$} {}", "source", "target", "type"),
        theme.title(),
    )));
    for c in &s.columns {
        lines.push(Line::from(format!(
            "{:<col$} {:<col$} {}",
            c.source, c.target, c.ty
        )));
    }
    details(f, right, "Details", lines, theme);
}
