//! The Network and Schema tabs.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};

use super::split;
use crate::tui::app::App;
use crate::tui::theme::Theme;

pub fn list(
    f: &mut Frame,
    area: Rect,
    title: &str,
    items: Vec<String>,
    selected: usize,
    theme: &Theme,
) {
    let empty = items.is_empty();
    let items: Vec<ListItem> = items.into_iter().map(ListItem::new).collect();
    let mut state = ListState::default();
    if !empty {
        state.select(Some(selected));
    }
    let list = List::new(items)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(format!(" {title} "), theme.title())),
        )
        .highlight_style(theme.selected())
        .highlight_symbol("> ");
    f.render_stateful_widget(list, area, &mut state);
}

fn details(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line>, theme: &Theme) {
    let p = Paragraph::new(lines)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(format!(" {title} "), theme.title())),
        )
        .wrap(Wrap { trim: false });
    f.render_widget(p, area);
}

fn kv(k: &str, v: impl Into<String>) -> Line<'static> {
    Line::from(format!("{k:<14} {}", v.into()))
}

pub fn draw_networks(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let [left, right] = split(area);
    let names = app
        .ws
        .networks
        .iter()
        .map(|n| format!("{} [{}]", n.name, n.kind))
        .collect();
    list(f, left, "Networks", names, app.selection(), theme);
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
        Some(Ok(v)) => lines.push(Line::from(Span::styled(format!("✓ {v}"), theme.ok()))),
        Some(Err(e)) => lines.push(Line::from(Span::styled(format!("✗ {e}"), theme.error()))),
        None => lines.push(Line::from(Span::styled(
            "Press t to test the connection",
            theme.dim(),
        ))),
    }
    details(f, right, "Details", lines, theme);
}

pub fn draw_schemas(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let [left, right] = split(area);
    let names = app.ws.schemas.iter().map(|s| s.name.clone()).collect();
    list(f, left, "Schemas", names, app.selection(), theme);
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
        Line::from(Span::styled(
            format!("{:<18} {:<18} {}", "source", "target", "type"),
            theme.title(),
        )),
    ];
    for c in &s.columns {
        lines.push(Line::from(format!(
            "{:<18} {:<18} {}",
            c.source, c.target, c.ty
        )));
    }
    details(f, right, "Details", lines, theme);
}
