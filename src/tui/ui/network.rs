//! The Network tab: the networks, and the selected one's settings and test
//! result.

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
        .visible(Tab::Network)
        .into_iter()
        .map(|i| &app.ws.networks[i])
        .map(|n| format!("{} [{}]", n.name, n.kind))
        .collect();
    let title = app.list_title(Tab::Network, "Networks");
    list(f, left, &title, names, app.visible_row(Tab::Network), theme);
    let Some(n) = app.ws.networks.get(app.selection()) else {
        details(
            f,
            right,
            "Details",
            vec![Line::from("No networks yet. Press a to add one.")],
            theme,
        );
        return;
    };
    let password = match (&n.password_env, &n.password) {
        (Some(var), _) => format!("from ${var}"),
        (None, Some(_)) => "******** (stored in the file; prefer an env var)".into(),
        (None, None) => "none".into(),
    };
    let mut lines = vec![kv("Name", n.name.clone()), kv("Type", n.kind.as_str())];
    if n.kind == crate::workspace::EngineKind::Sqlite {
        lines.push(kv("File", app.ws.sqlite_path(n).display().to_string()));
    } else {
        lines.push(kv("Host", n.host.clone().unwrap_or_default()));
        lines.push(kv(
            "Port",
            n.effective_port()
                .map(|p| p.to_string())
                .unwrap_or_default(),
        ));
        lines.push(kv("Database", n.database.clone()));
        lines.push(kv("Username", n.username.clone().unwrap_or_default()));
        lines.push(kv("Password", password));
        lines.push(kv("SSL mode", n.ssl().as_str()));
    }
    lines.push(kv("Time zone", n.timezone_name()));
    lines.push(Line::from(""));
    match app.tested.get(&n.name) {
        _ if app.testing.contains(&n.name) => lines.push(Line::from(Span::styled(
            "… testing the connection",
            theme.warn(),
        ))),
        Some(Ok(v)) => lines.push(Line::from(Span::styled(format!("✓ {v}"), theme.ok()))),
        Some(Err(e)) => lines.push(Line::from(Span::styled(format!("✗ {e}"), theme.error()))),
        None => lines.push(Line::from(Span::styled(
            "Press t to test the connection",
            theme.dim(),
        ))),
    }
    details(f, right, "Details", lines, theme);
}
