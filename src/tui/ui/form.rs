//! The add/edit form popup: one line per field, the focused one marked with `>`
//! and reversed, errors beside their field, passwords masked.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::centered;
use crate::tui::form::{FieldKind, Form};
use crate::tui::theme::Theme;

pub fn draw(f: &mut Frame, area: Rect, form: &Form, theme: &Theme) {
    let rect = centered(
        area,
        area.width.saturating_sub(4).min(100),
        area.height.saturating_sub(2),
    );
    f.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {} ", form.title()), theme.title()));
    let inner = block.inner(rect);
    f.render_widget(block, rect);

    let mut lines: Vec<Line> = Vec::new();
    let start = form.columns_start();
    let mut focus_line = 0;
    let cell = |i: usize, width: usize| -> Span<'static> {
        let field = &form.fields[i];
        let value = match &field.kind {
            FieldKind::Secret => "*".repeat(field.value.chars().count()),
            FieldKind::Choice(_) => format!("‹ {} ›", field.value),
            FieldKind::Text => field.value.clone(),
        };
        let focused = i == form.focus;
        let cursor = if focused && !field.is_choice() {
            "▏"
        } else {
            ""
        };
        let text = format!("{value}{cursor}");
        let text = if width > 0 {
            format!("{text:<width$}")
        } else {
            text
        };
        Span::styled(
            text,
            if focused {
                theme.selected()
            } else {
                Style::default()
            },
        )
    };
    for i in 0..start {
        let field = &form.fields[i];
        let focused = i == form.focus;
        if focused {
            focus_line = lines.len();
        }
        let spans = vec![
            Span::raw(if focused { "> " } else { "  " }),
            Span::raw(format!("{:<20} ", field.label)),
            cell(i, 0),
        ];
        lines.push(Line::from(spans));
        // On its own line, so a long reason is never cut at the popup's edge.
        if let Some(e) = &field.error {
            lines.push(Line::from(Span::styled(
                format!("{:<23}✗ {e}", ""),
                theme.error(),
            )));
        }
    }
    if form.is_schema() {
        lines.push(Line::from(Span::styled(
            format!(
                "  {:<20} {:<20} {}",
                "source column", "target column", "type"
            ),
            theme.title(),
        )));
        // One line per column: source, target and type side by side.
        for row in (start..form.fields.len()).step_by(3) {
            let focused = (row..row + 3).contains(&form.focus);
            if focused {
                focus_line = lines.len();
            }
            let spans = vec![
                Span::raw(if focused { "> " } else { "  " }),
                cell(row, 20),
                Span::raw(" "),
                cell(row + 1, 20),
                Span::raw(" "),
                cell(row + 2, 0),
            ];
            lines.push(Line::from(spans));
            for f in &form.fields[row..row + 3] {
                if let Some(e) = &f.error {
                    lines.push(Line::from(Span::styled(format!("  ✗ {e}"), theme.error())));
                }
            }
        }
    }
    if let Some(note) = &form.note {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(note.clone(), theme.warn())));
    }
    // Keep the focused field in view on small screens.
    let height = inner.height as usize;
    let skip = focus_line.saturating_sub(height.saturating_sub(2));
    let visible: Vec<Line> = lines.into_iter().skip(skip).collect();
    f.render_widget(Paragraph::new(visible), inner);
}
