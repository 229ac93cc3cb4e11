//! Pure rendering of the app state: nothing here changes state or does I/O.

mod confirm;
mod form;
mod help;
mod jobs;
mod lists;
mod network;
mod runs;
mod schema;
pub(crate) mod text;

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
    // The status line grows to wrap a long message (up to 3 rows), so an
    // error is read to its end instead of being cut at the edge.
    let status_lines: Vec<Line> = match (app.prompt_line(), &app.message) {
        (Some(prompt), _) => vec![Line::from(Span::styled(prompt, theme.title()))],
        (None, None) => vec![Line::from("")],
        (None, Some((level, msg))) => {
            let style = match level {
                Level::Error => theme.error(),
                Level::Warn => theme.warn(),
                Level::Info => theme.ok(),
            };
            let mut lines = text::wrap(msg, area.width.into());
            if lines.len() > 3 {
                lines.truncate(3);
                lines[2] = text::wrap(&format!("{} … (Esc hides)", lines[2]), area.width.into())
                    .swap_remove(0);
            }
            lines
                .into_iter()
                .map(|l| Line::from(Span::styled(l, style)))
                .collect()
        }
    };
    let [top, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(status_lines.len() as u16),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(f, top, app, theme);

    match app.tab {
        Tab::Network => network::draw(f, body, app, theme),
        Tab::Schema => schema::draw(f, body, app, theme),
        Tab::Jobs => jobs::draw(f, body, app, theme),
    }

    f.render_widget(Paragraph::new(status_lines), status);
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

/// The tabs on the left; on the right what runs, the workspace file and the
/// zone schedules are read in, as much of it as fits.
fn draw_header(f: &mut Frame, top: Rect, app: &App, theme: &Theme) {
    let titles: Vec<Line> = Tab::ALL
        .iter()
        .map(|t| Line::from(format!("{} {}", t.index() + 1, t.title())))
        .collect();
    let tabs = Tabs::new(titles)
        .select(app.tab.index())
        .highlight_style(theme.selected())
        .divider("│");
    let tabs_w = 31;
    let [tabs_area, info_area] =
        Layout::horizontal([Constraint::Length(tabs_w), Constraint::Min(0)]).areas(top);
    f.render_widget(tabs, tabs_area);
    let running = match app.running() {
        0 => String::new(),
        n => format!("{n} running · "),
    };
    let zone = zone_name(&app.zone);
    let path = shown_path(&app.ws_path);
    let short = app
        .ws_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let width = info_area.width.saturating_sub(1) as usize;
    // Who fires the schedules matters most when it is not this TUI.
    let (first, last) = match app.schedules_by() {
        Some(s) if !matches!(app.firing, Some(crate::engine::lease::Firing::Here)) => (
            vec![
                format!("{running}{s} · {path} · {zone}"),
                format!("{running}{s} · …/{short} · {zone}"),
                format!("{running}{s} · {zone}"),
                format!("{running}{s}"),
            ],
            Vec::new(),
        ),
        Some(s) => (
            vec![
                format!("{running}{s} · {path} · {zone}"),
                format!("{running}{s} · …/{short} · {zone}"),
            ],
            Vec::new(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let info = text::fit(
        &[
            first,
            vec![
                format!("{running}{path} · {zone}"),
                format!("{running}…/{short} · {zone}"),
                format!("{running}{zone}"),
                running.trim_end_matches(" · ").to_string(),
            ],
            last,
        ]
        .concat(),
        width,
    );
    f.render_widget(
        Paragraph::new(info).style(theme.title()).right_aligned(),
        info_area,
    );
}

/// The zone schedules fire in, short: `UTC`, `Asia/Jakarta`, `local UTC+07:00`.
fn zone_name(zone: &crate::engine::schedule::Zone) -> String {
    match zone {
        crate::engine::schedule::Zone::Named { tz, .. } => tz.name().to_string(),
        crate::engine::schedule::Zone::Local => {
            format!("local UTC{}", chrono::Local::now().format("%:z"))
        }
    }
}

/// The workspace path, with the home directory written `~`.
fn shown_path(path: &std::path::Path) -> String {
    let full = path.display().to_string();
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() && full.starts_with(&format!("{home}/")) => {
            format!("~{}", &full[home.len()..])
        }
        _ => full,
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
