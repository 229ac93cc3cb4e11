//! Pure rendering of the app state: nothing here changes state or does I/O.

mod confirm;
mod form;
mod help;
mod jobs;
mod lists;
mod network;
mod runs;
mod schema;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs, Wrap};

use super::app::{App, Popup, Tab};
use super::keymap;
use super::theme::Theme;
use crate::engine::progress::Level;

/// Below this the layout cannot show a list beside its details.
const MIN_WIDTH: u16 = 60;
const MIN_HEIGHT: u16 = 16;

pub fn draw(f: &mut Frame, app: &App, theme: &Theme) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "Terminal too small: {}x{}. DSP needs at least {MIN_WIDTH}x{MIN_HEIGHT}; enlarge the window (q quits).",
            area.width, area.height
        );
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let [top, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);

    let titles: Vec<Line> = Tab::ALL
        .iter()
        .map(|t| Line::from(format!("{} {}", t.index() + 1, t.title())))
        .collect();
    let running = app.running();
    let tabs = Tabs::new(titles)
        .select(app.tab.index())
        .highlight_style(theme.selected())
        .divider("│");
    let [tabs_area, info_area] =
        Layout::horizontal([Constraint::Min(30), Constraint::Length(30)]).areas(top);
    f.render_widget(tabs, tabs_area);
    let info = if running > 0 {
        format!("DSP · {running} running")
    } else {
        "DSP".to_string()
    };
    f.render_widget(
        Paragraph::new(info).style(theme.title()).right_aligned(),
        info_area,
    );

    match app.tab {
        Tab::Network => network::draw(f, body, app, theme),
        Tab::Schema => schema::draw(f, body, app, theme),
        Tab::Jobs => jobs::draw(f, body, app, theme),
    }

    if let Some((level, msg)) = &app.message {
        let style = match level {
            Level::Error => theme.error(),
            Level::Warn => theme.warn(),
            Level::Info => theme.ok(),
        };
        f.render_widget(
            Paragraph::new(Line::from(Span::styled(msg.clone(), style))),
            status,
        );
    }
    f.render_widget(
        Paragraph::new(keymap::footer(&app.contexts(), footer.width.into())).style(theme.dim()),
        footer,
    );

    match &app.popup {
        Some(Popup::Help) => help::draw(f, area, theme),
        Some(Popup::Confirm(c)) => confirm::draw(f, area, c, theme),
        Some(Popup::Form(form)) => form::draw(f, area, form, theme),
        Some(Popup::Runs(r)) => runs::draw(f, area, app, r, theme),
        None => {}
    }
}

/// A rectangle of `w`x`h` (clamped) centred in `area`.
pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Splits a tab's body into the list (left) and the details (right).
pub(crate) fn split(area: Rect) -> [Rect; 2] {
    let list_w = (area.width / 3).clamp(30, 40);
    Layout::horizontal([Constraint::Length(list_w), Constraint::Min(0)]).areas(area)
}
