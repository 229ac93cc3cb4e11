//! The confirmation popup, No by default.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::centered;
use crate::tui::app::Confirm;
use crate::tui::theme::Theme;

pub(super) fn draw(f: &mut Frame, area: Rect, c: &Confirm, theme: &Theme) {
    let question = match c {
        Confirm::Delete { tab, name, .. } => {
            format!("Delete {} \"{name}\"?", tab.noun())
        }
        Confirm::Discard(form) => format!(
            "{}: discard your changes? No goes back to the form.",
            form.title()
        ),
        Confirm::ClearPassword(_) => "Save the password in clear text in the workspace file? A variable keeps it out of the file.".to_string(),
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
            "y yes   n/Esc/Enter no (default)",
            theme.title(),
        )),
    ];
    let p = Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .block(Block::default().borders(Borders::ALL).title(" Confirm "));
    f.render_widget(p, rect);
}
