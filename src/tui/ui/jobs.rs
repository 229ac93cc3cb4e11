//! The Jobs tab: the list with run markers, and for the selected job its
//! settings, progress gauge, throughput sparkline, log and past runs.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, Paragraph, Sparkline, Wrap};

use super::lists::list;
use super::split;
use crate::engine::progress::{Level, LogLine, RunStatus, thousands};
use crate::tui::app::{App, JobView, PreviewState};
use crate::tui::theme::Theme;
use crate::workspace::Job;

/// A text marker per state, readable without colour.
fn marker(view: Option<&JobView>) -> &'static str {
    match view {
        Some(v) if v.running => "▶",
        Some(v) => match v.last.as_ref().map(|s| s.status) {
            Some(RunStatus::Succeeded) => "✓",
            Some(RunStatus::Failed) => "✗",
            Some(RunStatus::Cancelled) => "⊘",
            None => " ",
        },
        None => " ",
    }
}

fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

pub(super) fn draw(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let [left, right] = split(area);
    let names = app
        .ws
        .jobs
        .iter()
        .map(|j| format!("{} {}", marker(app.job_view(&j.name)), j.name))
        .collect();
    list(f, left, "Jobs", names, app.selection(), theme);
    let Some(job) = app.selected_job() else {
        let p =
            Paragraph::new("No jobs yet. Press a to add one (add a network and a schema first).")
                .block(Block::default().borders(Borders::ALL).title(" Job "));
        f.render_widget(p, right);
        return;
    };
    let empty = JobView::default();
    let view = app.job_view(&job.name).unwrap_or(&empty);

    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {} ", job.name), theme.title()));
    let inner = block.inner(right);
    f.render_widget(block, right);
    let preview_h = if view.preview.is_some() { 3 } else { 0 };
    let [info, gauge, stats, spark, preview, log, runs] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Length(preview_h),
        Constraint::Min(4),
        Constraint::Length(4),
    ])
    .areas(inner);

    draw_settings(f, info, app, job);
    draw_gauge(f, gauge, view, theme);
    f.render_widget(Paragraph::new(stats_line(view)), stats);
    let data: Vec<u64> = view.samples.iter().copied().collect();
    f.render_widget(Sparkline::default().data(&data).style(theme.ok()), spark);
    if let Some(p) = &view.preview {
        draw_preview(f, preview, p, theme);
    }
    draw_log(f, log, view, theme);
    draw_last_runs(f, runs, app, view, theme);
}

/// The last preview (`p`): what a run would change and the first keys, or
/// why it would fail.
fn draw_preview(f: &mut Frame, area: Rect, p: &PreviewState, theme: &Theme) {
    let lines = match p {
        PreviewState::Running => vec![Line::from(Span::styled(
            "previewing… (a dry run: nothing is written)",
            theme.dim(),
        ))],
        PreviewState::Done(p) => {
            let mut lines = Vec::new();
            if let Some(c) = p.changes {
                let create = if p.create_target {
                    " (creates the table)"
                } else {
                    ""
                };
                lines.push(Line::from(format!(
                    "would: +{} ~{} -{} ={}{create}",
                    thousands(c.inserted),
                    thousands(c.updated),
                    thousands(c.deleted),
                    thousands(c.unchanged)
                )));
            }
            if let (false, Some(why)) = (p.would_succeed(), &p.error) {
                lines.insert(
                    0,
                    Line::from(Span::styled(format!("✗ would fail: {why}"), theme.error())),
                );
            } else {
                let keys: Vec<String> = [
                    ("+", &p.first.insert),
                    ("~", &p.first.update),
                    ("-", &p.first.delete),
                ]
                .into_iter()
                .filter(|(_, k)| !k.is_empty())
                .map(|(sign, k)| format!("{sign}{}", k.join(" ")))
                .collect();
                lines.push(Line::from(format!("keys {}", keys.join(" · "))));
            }
            lines
        }
    };
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::TOP)
                .title(" Preview (p) "),
        ),
        area,
    );
}

/// Where the job reads and writes, and when it runs next.
fn draw_settings(f: &mut Frame, area: Rect, app: &App, job: &Job) {
    let next = crate::engine::schedule::next_run(job, &app.zone, chrono::Utc::now())
        .map(|t| app.zone.format(t))
        .unwrap_or_else(|| "—".into());
    let lines = vec![
        Line::from(format!(
            "{} → {} · {} · {}",
            job.source, job.target, job.schema, job.mode
        )),
        Line::from(format!(
            "Schedule {} · next {next}",
            job.schedule.as_deref().unwrap_or("none"),
        )),
    ];
    f.render_widget(Paragraph::new(lines), area);
}

fn draw_gauge(f: &mut Frame, area: Rect, view: &JobView, theme: &Theme) {
    let pct = view.percent();
    let label = if view.counting() {
        "counting rows…".to_string()
    } else {
        format!(
            "{pct:.0}% · {} / {}",
            thousands(view.done),
            thousands(view.total)
        )
    };
    f.render_widget(
        Gauge::default()
            .gauge_style(theme.gauge())
            .ratio(pct / 100.0)
            .label(label),
        area,
    );
}

/// The rate (or the last run's average), elapsed time, ETA and failures.
fn stats_line(view: &JobView) -> String {
    let mut s = if view.running {
        format!("{} rec/s", thousands(view.rate()))
    } else {
        match view.elapsed().map(|e| e.as_secs_f64()).filter(|s| *s > 0.0) {
            Some(secs) if view.done > 0 => format!(
                "last run {} rec/s",
                thousands((view.done as f64 / secs) as u64)
            ),
            _ => "idle".to_string(),
        }
    };
    if let Some(e) = view.elapsed() {
        s.push_str(&format!(" · elapsed {}", duration(e)));
    }
    if let Some(eta) = view.eta() {
        s.push_str(&format!(" · ETA {}", duration(eta)));
    }
    if view.failed > 0 {
        s.push_str(&format!(" · {} failed", thousands(view.failed)));
    }
    s
}

/// The log: the tail, or a window scrolled up from it. Long lines wrap, so
/// the lines that fit are counted by their wrapped height.
fn draw_log(f: &mut Frame, area: Rect, view: &JobView, theme: &Theme) {
    let height = area.height.saturating_sub(1) as usize;
    let width = area.width.max(1) as usize;
    let with_time = area.width >= 84;
    let text = |l: &LogLine| {
        if with_time {
            format!("{} {l}", l.at.format("%H:%M:%S"))
        } else {
            l.to_string()
        }
    };
    let total = view.log.len();
    let end = total - view.scroll.unwrap_or(0).min(total);
    let mut start = end;
    let mut used = 0;
    while start > 0 {
        let h = text(&view.log[start - 1])
            .chars()
            .count()
            .div_ceil(width)
            .max(1);
        if used + h > height {
            break;
        }
        used += h;
        start -= 1;
    }
    let lines: Vec<Line> = view
        .log
        .range(start..end)
        .map(|l| {
            let style = match l.level {
                Level::Error => theme.error(),
                Level::Warn => theme.warn(),
                Level::Info => Style::default(),
            };
            Line::from(Span::styled(text(l), style))
        })
        .collect();
    let title = if view.scroll.is_some() {
        " Log (scrolled; End follows) "
    } else {
        " Log "
    };
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::TOP).title(title)),
        area,
    );
}

fn draw_last_runs(f: &mut Frame, area: Rect, app: &App, view: &JobView, theme: &Theme) {
    let mut lines = Vec::new();
    for r in view
        .history
        .iter()
        .take(area.height.saturating_sub(1) as usize)
    {
        let s = &r.summary;
        // What the run changed, or (recorded before DSP counted changes, or
        // nothing committed) how many rows it wrote.
        let changed = match s.changes {
            Some(c) => c.short(),
            None => format!("{} ok", thousands(s.success)),
        };
        let failed = match s.failed {
            0 => String::new(),
            n => format!(", {} failed", thousands(n)),
        };
        let took = duration((s.ended - s.started).to_std().unwrap_or_default());
        // At 80 columns the pane is 48 wide: a short time, no status word.
        let text = if area.width >= 72 {
            format!(
                "{} {} {:<9} {:<11} {changed}{failed}, {took}",
                app.zone.format(s.started),
                marker_for(s.status),
                s.status.as_str(),
                s.mode.as_str(),
            )
        } else {
            format!(
                "{} {} {:<11} {changed}{failed}, {took}",
                app.zone.format_short(s.started),
                marker_for(s.status),
                s.mode.as_str(),
            )
        };
        lines.push(Line::from(text));
    }
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            "No runs yet. Press r to run now.",
            theme.dim(),
        )));
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::TOP).title(" Last runs ")),
        area,
    );
}

fn marker_for(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "✓",
        RunStatus::Failed => "✗",
        RunStatus::Cancelled => "⊘",
    }
}
