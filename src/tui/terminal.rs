//! Drawing to the real terminal.

use std::io::Write;

use ratatui::DefaultTerminal;

use super::app::App;
use super::theme::Theme;
use super::ui;

/// One frame inside a synchronized update, so tmux and SSH never show half of it.
pub(super) fn draw(
    terminal: &mut DefaultTerminal,
    app: &App,
    theme: &Theme,
) -> std::io::Result<()> {
    use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
    crossterm::queue!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
    terminal.draw(|f| ui::draw(f, app, theme))?;
    crossterm::queue!(terminal.backend_mut(), EndSynchronizedUpdate)?;
    terminal.backend_mut().flush()
}
