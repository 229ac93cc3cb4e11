//! The add/edit form popup: one line per field, the focused one marked with `>`
//! and reversed, errors beside their field, passwords masked, and an empty field
//! showing the default it stands for.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::centered;
use super::text::wrap;
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

    let mut out = Lines {
        form,
        theme,
        width: inner.width as usize,
        lines: Vec::new(),
        focus_line: 0,
    };
    out.entry_fields();
    if form.is_schema() {
        out.column_rows();
    }
    if let Some(note) = &form.note {
        out.lines.push(Line::from(""));
        out.lines
            .push(Line::from(Span::styled(note.clone(), theme.warn())));
    }
    // Keep the focused field in view on small screens.
    let height = inner.height as usize;
    let skip = out.focus_line.saturating_sub(height.saturating_sub(2));
    let visible: Vec<Line> = out.lines.into_iter().skip(skip).collect();
    f.render_widget(Paragraph::new(visible), inner);
}

/// The form's lines as they are laid out, and which one holds the focus.
struct Lines<'f> {
    form: &'f Form,
    theme: &'f Theme,
    /// Columns inside the popup's border.
    width: usize,
    lines: Vec<Line<'static>>,
    focus_line: usize,
}

impl Lines<'_> {
    /// The entry's own fields, one per line with its label.
    fn entry_fields(&mut self) {
        for i in (0..self.form.columns_start()).filter(|i| self.form.shown(*i)) {
            let field = &self.form.fields[i];
            let focused = i == self.form.focus;
            if focused {
                self.focus_line = self.lines.len();
            }
            let mut spans = vec![
                Span::raw(if focused { "> " } else { "  " }),
                Span::raw(format!("{:<20} ", field.label)),
                self.cell(i, 0),
            ];
            if let Some(hint) = self.form.default_hint(i) {
                let gap = if focused { " " } else { "" };
                spans.push(Span::styled(format!("{gap}({hint})"), self.theme.dim()));
            }
            self.lines.push(Line::from(spans));
            // Under the value and wrapped, so a long reason is never cut at the
            // popup's edge.
            if let Some(e) = &field.error {
                let room = self.width.saturating_sub(25).max(20);
                for (n, part) in wrap(e, room).into_iter().enumerate() {
                    let mark = if n == 0 { "✗ " } else { "  " };
                    self.lines.push(Line::from(Span::styled(
                        format!("{:<23}{mark}{part}", ""),
                        self.theme.error(),
                    )));
                }
            }
        }
    }

    /// The column mapping of a schema: one line per column, source, target and
    /// type side by side under a header.
    fn column_rows(&mut self) {
        let form = self.form;
        self.lines.push(Line::from(Span::styled(
            format!(
                "  {:<20} {:<20} {}",
                "source column", "target column", "type"
            ),
            self.theme.title(),
        )));
        for row in (form.columns_start()..form.fields.len()).step_by(3) {
            let focused = (row..row + 3).contains(&form.focus);
            if focused {
                self.focus_line = self.lines.len();
            }
            let spans = vec![
                Span::raw(if focused { "> " } else { "  " }),
                self.cell(row, 20),
                Span::raw(" "),
                self.cell(row + 1, 20),
                Span::raw(" "),
                self.cell(row + 2, 0),
            ];
            self.lines.push(Line::from(spans));
            for f in &form.fields[row..row + 3] {
                if let Some(e) = &f.error {
                    self.lines.push(Line::from(Span::styled(
                        format!("  ✗ {e}"),
                        self.theme.error(),
                    )));
                }
            }
        }
    }

    /// A field's value as drawn, padded to `width` when that is not 0.
    fn cell(&self, i: usize, width: usize) -> Span<'static> {
        let field = &self.form.fields[i];
        let value = match &field.kind {
            FieldKind::Secret => "*".repeat(field.value.chars().count()),
            FieldKind::Choice(_) => format!("‹ {} ›", field.value),
            FieldKind::Text => field.value.clone(),
        };
        let focused = i == self.form.focus;
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
                self.theme.selected()
            } else {
                Style::default()
            },
        )
    }
}
