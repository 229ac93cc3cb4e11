//! Pure rendering of the app state: nothing here changes state or does I/O.

mod confirm;
mod form;
mod help;
mod jobs;
mod lists;
mod network;
pub(crate) mod runs;
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
        0 => None,
        n => Some(format!("{n} running")),
    };
    let info = header_info(
        running.as_deref(),
        app.schedules_by().as_deref(),
        &shown_path(&app.ws_path),
        &zone_name(&app.zone),
        info_area.width.saturating_sub(1) as usize,
    );
    f.render_widget(
        Paragraph::new(info).style(theme.title()).right_aligned(),
        info_area,
    );
}

/// The header's right side: what runs here, who fires the schedules, the
/// workspace path and the zone. Who fires the schedules matters most (two
/// processes firing them is the mistake to see), so the path gives way first,
/// shortened in the middle, then the zone, then the count of runs.
fn header_info(
    running: Option<&str>,
    schedules: Option<&str>,
    path: &str,
    zone: &str,
    width: usize,
) -> String {
    let sep = " · ";
    let join = |parts: &[Option<&str>]| -> String {
        parts
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
            .join(sep)
    };
    let short = schedules.map(without_pid);
    let short_schedules = short.as_deref();
    let fixed = [
        [running, schedules, Some(zone)],
        [running, short_schedules, Some(zone)],
        [running, short_schedules, None],
        [None, short_schedules, None],
    ]
    .into_iter()
    .find(|p| join(p).chars().count() <= width)
    .unwrap_or([None, short_schedules, None]);
    // The path goes between the schedules and the zone, in what room is left.
    let taken = join(&fixed).chars().count();
    let room = width.saturating_sub(taken + if taken > 0 { sep.chars().count() } else { 0 });
    let [run, sched, zone] = fixed;
    match middle_ellipsis(path, room) {
        Some(path) => join(&[run, sched, Some(&path), zone]),
        None => join(&fixed),
    }
}

/// Who fires the schedules without the pid: `schedules: dsp daemon (pid 42)`
/// becomes `schedules: dsp daemon`, and `(pid 42, not answering)` keeps
/// `(not answering)`, which matters more.
fn without_pid(s: &str) -> String {
    let Some(start) = s.find("(pid ") else {
        return s.to_string();
    };
    let rest = &s[start + "(pid ".len()..];
    let after = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    match after.strip_prefix(", ") {
        Some(more) => format!("{}({more}", &s[..start]),
        None => format!(
            "{}{}",
            s[..start].trim_end(),
            after.strip_prefix(')').unwrap_or(after)
        ),
    }
}

/// `path` in at most `width` characters, its middle replaced by `…` so that
/// the start and the file name stay; `None` when not even the name fits.
fn middle_ellipsis(path: &str, width: usize) -> Option<String> {
    let len = path.chars().count();
    if len <= width {
        return Some(path.to_string());
    }
    let name = path.rsplit('/').next().unwrap_or(path).chars().count();
    // A path of less than its name and a little context says nothing.
    if width < name + 4 {
        return None;
    }
    let head = ((width - 1) / 3).min(width - 1 - (name + 1));
    let tail = width - 1 - head;
    let chars: Vec<char> = path.chars().collect();
    Some(format!(
        "{}…{}",
        chars[..head].iter().collect::<String>(),
        chars[len - tail..].iter().collect::<String>()
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_path_is_cut_in_the_middle_keeping_its_name() {
        let path = "/srv/teams/data-platform/sync/production/workspace.toml";
        assert_eq!(middle_ellipsis(path, 80).as_deref(), Some(path));
        let short = middle_ellipsis(path, 30).unwrap();
        assert_eq!(short.chars().count(), 30, "{short}");
        assert!(
            short.starts_with("/srv/") && short.ends_with("/workspace.toml"),
            "{short}"
        );
        assert_eq!(
            middle_ellipsis(path, 16),
            None,
            "the name alone says little"
        );
    }

    #[test]
    fn the_schedule_owner_stays_when_the_header_is_short_of_room() {
        let path = "/srv/teams/data-platform/sync/production/workspace.toml";
        let sched = "schedules: dsp daemon (pid 4242)";
        // 80 columns leave 48 for the header's right side.
        let info = header_info(None, Some(sched), path, "UTC", 60);
        assert!(
            info.starts_with(sched) && info.contains("…/workspace.toml"),
            "{info}"
        );
        let info = header_info(None, Some(sched), path, "UTC", 48);
        assert_eq!(
            info, "schedules: dsp daemon (pid 4242) · UTC",
            "no room for a path"
        );
        // The pid gives way before the zone the next-run times are read in.
        let info = header_info(Some("1 running"), Some(sched), path, "Asia/Jakarta", 48);
        assert_eq!(info, "1 running · schedules: dsp daemon · Asia/Jakarta");
        // A daemon not answering says so even when its pid gives way.
        let stale = "schedules: dsp daemon (pid 4242, not answering)";
        let info = header_info(Some("1 running"), Some(stale), path, "UTC", 60);
        assert_eq!(
            info,
            "1 running · schedules: dsp daemon (not answering) · UTC"
        );
        let info = header_info(Some("1 running"), Some(stale), path, "UTC", 48);
        assert_eq!(info, "schedules: dsp daemon (not answering)");
        assert!(info.chars().count() <= 48, "{info}");
        let info = header_info(None, Some("schedules: this TUI"), path, "UTC", 48);
        assert!(
            info.starts_with("schedules: this TUI · /srv")
                && info.ends_with("workspace.toml · UTC"),
            "{info}"
        );
        assert_eq!(info.chars().count(), 48, "{info}");
        // 60 columns leave 28: the zone and then the count give way.
        let info = header_info(Some("2 running"), Some(sched), path, "UTC", 28);
        assert_eq!(info, "schedules: dsp daemon");
        let info = header_info(None, None, path, "UTC", 28);
        assert!(
            info.ends_with("workspace.toml · UTC") || info == "UTC",
            "{info}"
        );
    }
}
