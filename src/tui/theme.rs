//! Styles, with colour only when `NO_COLOR` is unset. Everything that matters
//! (selection, focus, errors) also has a text marker or a modifier, so the
//! screen reads the same without colour.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    color: bool,
}

impl Theme {
    pub fn from_env() -> Self {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }
    /// Colours on, whatever the environment says (tests, screen captures).
    pub fn colored() -> Self {
        Theme { color: true }
    }
    pub fn plain() -> Self {
        Theme { color: false }
    }
    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }
    pub(crate) fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    pub(crate) fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub(crate) fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default()
        }
    }
    pub(crate) fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub(crate) fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }
    pub(crate) fn ok(&self) -> Style {
        self.fg(Color::Green)
    }
    /// How a run ended: green, red or yellow (the symbol beside it says the
    /// same without colour).
    pub(crate) fn status(&self, status: crate::engine::progress::RunStatus) -> Style {
        use crate::engine::progress::RunStatus;
        match status {
            RunStatus::Succeeded => self.ok(),
            RunStatus::Failed => self.error(),
            RunStatus::Cancelled => self.warn(),
        }
    }
    pub(crate) fn gauge(&self) -> Style {
        self.fg(Color::Green)
    }
}
