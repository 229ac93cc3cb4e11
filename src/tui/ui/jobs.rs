//! The Jobs tab: the list with each job's last status, last run and next run,
//! and for the selected job its settings, progress gauge, throughput
//! sparkline, the last run's error, its log and past runs.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, ListItem, Paragraph, Sparkline, Wrap};

use super::lists::list_items;
use super::split;
use super::text::{fit, join_fitting, log_rows, wrap};
use crate::engine::progress::{Level, LogLine, RunStatus, RunSummary, thousands};
use crate::engine::schedule::Zone;
use crate::tui::app::{App, JobView, LogHit, PreviewState, Tab};
use crate::tui::theme::Theme;
use crate::workspace::Job;

/// A job's state as a symbol and a word, readable without colour, and its colour.
pub(super) fn status(view: Option<&JobView>, theme: &Theme) -> (&'static str, Style) {
    match view {
        Some(v) if v.running => ("▶", theme.title()),
        Some(v) => match v.last.as_ref().map(|s| s.status) {
            Some(s) => (marker_for(s), theme.status(s)),
            None => ("·", theme.dim()),
        },
        None => ("·", theme.dim()),
    }
}

pub(super) fn marker_for(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "✓",
        RunStatus::Failed => "✗",
        RunStatus::Cancelled => "⊘",
    }
}

pub(super) fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// A time short enough for a list: the time of day today, else the date too
/// (in the schedule's zone, seconds kept).
pub(super) fn short_time(zone: &Zone, t: DateTime<Utc>) -> String {
    let full = zone.format(t);
    let today = zone.format(Utc::now());
    if full.get(..10) == today.get(..10) {
        full.get(11..19).unwrap_or(&full).to_string()
    } else {
        full.get(5..19).unwrap_or(&full).to_string()
    }
}

fn next_run(app: &App, job: &Job) -> Option<DateTime<Utc>> {
    crate::engine::schedule::next_run(job, &app.zone, Utc::now())
}

pub(super) fn draw(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let [left, right] = split(area);
    // Inside the border and the selection marker.
    let room = left.width.saturating_sub(4) as usize;
    let items = app
        .visible(Tab::Jobs)
        .into_iter()
        .map(|i| list_item(app, &app.ws.jobs[i], room, theme))
        .collect();
    let title = app.list_title(Tab::Jobs, "Jobs");
    list_items(f, left, &title, items, app.visible_row(Tab::Jobs), theme);
    let Some(job) = app.selected_job() else {
        let p =
            Paragraph::new("No jobs yet. Press a to add one (add a network and a schema first).")
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(Block::default().borders(Borders::ALL).title(" Job "));
        f.render_widget(p, right);
        return;
    };
    let empty = JobView::default();
    let view = app.job_view(&job.name).unwrap_or(&empty);
    draw_job(f, right, app, job, view, theme);
}

/// Two lines per job: its status and name, then when it last ran and when it
/// runs next (the last status comes from the history, so it survives a restart).
fn list_item(app: &App, job: &Job, room: usize, theme: &Theme) -> ListItem<'static> {
    let view = app.job_view(&job.name);
    let (symbol, style) = status(view, theme);
    let last = match view {
        Some(v) if v.running => "running".to_string(),
        Some(v) => v
            .last
            .as_ref()
            .map(|s| short_time(&app.zone, s.started))
            .unwrap_or_else(|| "never run".into()),
        None => "never run".into(),
    };
    let next = next_run(app, job).map(|t| short_time(&app.zone, t));
    let when = match next {
        Some(next) => fit(
            &[
                format!("  {last} · next {next}"),
                format!("  {last} → {next}"),
                format!("{last} → {next}"),
                format!("  {last}"),
            ],
            room,
        ),
        None => format!("  {last}"),
    };
    ListItem::new(vec![
        Line::from(vec![
            Span::styled(symbol, style),
            Span::raw(format!(" {}", job.name)),
        ]),
        Line::from(Span::styled(when, theme.dim())),
    ])
}

fn draw_job(f: &mut Frame, area: Rect, app: &App, job: &Job, view: &JobView, theme: &Theme) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {} ", job.name), theme.title()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = inner.width as usize;
    let small = inner.height < 16;
    let settings = settings(app, job, width, small);
    let stats = wrap(&stats_line(app, view), width);
    let error = error_lines(view, width, if small { 2 } else { 4 }, theme);
    // The sparkline only once there is throughput to draw.
    let spark_h = match (view.samples.is_empty(), small) {
        (true, _) => 0,
        (false, true) => 1,
        (false, false) => 2,
    };
    let runs_h = if small {
        2
    } else {
        view.history.len().clamp(1, 3) as u16 + 1
    };
    let verified = app.verified.get(&job.name);
    // As high as its wrapped text, within a few rows.
    let check_h = verified.map_or(0, |v| {
        let rows: usize = verified_lines(v.as_ref())
            .iter()
            .map(|l| wrap(l, width).len())
            .sum();
        1 + rows.min(if small { 2 } else { 5 }) as u16
    });
    let preview_h = if view.preview.is_some() { 3 } else { 0 };
    let [info, gauge, stats_a, err, spark, preview, log, check, runs] = Layout::vertical([
        Constraint::Length(settings.len() as u16),
        Constraint::Length(1),
        Constraint::Length(stats.len().min(2) as u16),
        Constraint::Length(error.len() as u16),
        Constraint::Length(spark_h),
        Constraint::Length(preview_h),
        Constraint::Min(2),
        Constraint::Length(check_h),
        Constraint::Length(runs_h),
    ])
    .areas(inner);
    f.render_widget(Paragraph::new(settings), info);
    draw_gauge(f, gauge, view, width, theme);
    let stats: Vec<Line> = stats.into_iter().map(Line::from).collect();
    f.render_widget(Paragraph::new(stats), stats_a);
    f.render_widget(Paragraph::new(error), err);
    let data: Vec<u64> = view.samples.iter().copied().collect();
    f.render_widget(Sparkline::default().data(&data).style(theme.ok()), spark);
    if let Some(p) = &view.preview {
        draw_preview(f, preview, p, theme);
    }
    draw_log(f, log, view, app.log_hit(&job.name), theme);
    if let Some(v) = verified {
        draw_verified(f, check, v.as_ref(), theme);
    }
    draw_last_runs(f, runs, app, view, theme);
}

/// The last `v` of this job: the verdict and the first differing keys.
fn draw_verified(
    f: &mut Frame,
    area: Rect,
    v: Option<&crate::engine::verify::Verified>,
    theme: &Theme,
) {
    use crate::engine::verify::Outcome;
    let style = match v.map(|v| v.outcome) {
        None => theme.dim(),
        Some(Outcome::Identical) => theme.ok(),
        Some(_) => theme.error(),
    };
    let lines = verified_lines(v);
    let mut text: Vec<Line> = lines.into_iter().map(Line::from).collect();
    if let Some(first) = text.first_mut() {
        *first = first.clone().style(style);
    }
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::TOP).title(" Verify ")),
        area,
    );
}

/// The verify pane's text: the verdict and the first keys. The pane is the
/// job's, so no job name, and no statistics line (`dsp verify` prints it).
fn verified_lines(v: Option<&crate::engine::verify::Verified>) -> Vec<String> {
    let Some(v) = v else {
        return vec!["verifying…".to_string()];
    };
    let mut lines = v.lines();
    if v.outcome != crate::engine::verify::Outcome::Failed {
        lines.pop();
    }
    if let Some(first) = lines.first_mut() {
        let named = format!("Job \"{}\": ", v.job);
        if let Some(rest) = first.strip_prefix(&named) {
            *first = rest.to_string();
        }
    }
    lines
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
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::TOP)
                .title(" Preview (p) "),
        ),
        area,
    );
}

/// Where the job reads and writes (not on a small screen: the form shows
/// it), and when it runs next, wrapped.
fn settings(app: &App, job: &Job, width: usize, small: bool) -> Vec<Line<'static>> {
    // The zone is in the header; here the date and time, seconds kept.
    let next: String = next_run(app, job)
        .map(|t| app.zone.format(t).chars().take(19).collect())
        .unwrap_or_else(|| "—".into());
    let mut lines = if small {
        Vec::new()
    } else {
        wrap(
            &format!(
                "{} → {} · {} · {}",
                job.source, job.target, job.schema, job.mode
            ),
            width,
        )
    };
    let schedule = job.schedule.as_deref().unwrap_or("none");
    let when = format!("Schedule {schedule} · next {next}");
    if small {
        lines.push(fit(&[when, format!("next {next}")], width));
    } else {
        lines.extend(wrap(&when, width));
    }
    lines.into_iter().map(Line::from).collect()
}

/// The running run's progress; idle, the last run's result (never a full bar
/// for a run that moved nothing).
fn draw_gauge(f: &mut Frame, area: Rect, view: &JobView, width: usize, theme: &Theme) {
    let (ratio, label, style) = if view.running {
        let label = if view.counting() {
            "counting rows…".to_string()
        } else {
            format!(
                "{:.0}% · {} / {}",
                view.percent(),
                thousands(view.done),
                thousands(view.total)
            )
        };
        (view.percent() / 100.0, label, theme.gauge())
    } else {
        match &view.last {
            Some(s) => last_result(s, width, theme),
            None => (0.0, "not run yet".to_string(), theme.dim()),
        }
    };
    f.render_widget(
        Gauge::default()
            .gauge_style(style)
            .ratio(ratio.clamp(0.0, 1.0))
            .label(label),
        area,
    );
}

/// The last run's gauge: how far it got, and how it ended, in `width` columns.
fn last_result(s: &RunSummary, width: usize, theme: &Theme) -> (f64, String, Style) {
    let moved = s.success + s.failed;
    let mark = marker_for(s.status);
    let word = s.status.as_str();
    let style = theme.status(s.status);
    if s.total == 0 {
        let label = fit(
            &[
                format!("{mark} last run {word} · no rows to move"),
                format!("{mark} {word} · no rows"),
            ],
            width,
        );
        return (0.0, label, style);
    }
    let ratio = moved as f64 / s.total as f64;
    let pct = format!("{:.0}%", (ratio * 100.0).min(100.0));
    let counts = format!("{} / {}", thousands(moved), thousands(s.total));
    let label = fit(
        &[
            format!("{mark} last run {word} · {pct} · {counts}"),
            format!("{mark} {word} · {pct} · {counts}"),
            format!("{mark} {word} · {pct}"),
        ],
        width,
    );
    (ratio, label, style)
}

/// Running: the rate, elapsed time, ETA and failures (`—` until a rate is
/// known). Idle: when the last run started, its average rate and duration.
fn stats_line(app: &App, view: &JobView) -> String {
    if view.running {
        let rate = view
            .rate()
            .map(|r| format!("{} rec/s", thousands(r)))
            .unwrap_or_else(|| "— rec/s".into());
        let elapsed = view.elapsed().map(duration).unwrap_or_else(|| "—".into());
        let eta = view.eta().map(duration).unwrap_or_else(|| "—".into());
        let mut s = format!("{rate} · elapsed {elapsed} · ETA {eta}");
        if view.failed > 0 {
            s.push_str(&format!(" · {} failed", thousands(view.failed)));
        }
        if view.cancel_requested {
            s = format!("cancel requested… · {s}");
        } else if let Some(pid) = view.remote {
            // First, so that a narrow pane never wraps the pid away.
            s = format!("run by pid {pid} · {s}");
        }
        return s;
    }
    let Some(last) = &view.last else {
        return "idle · press r to run now".into();
    };
    let took = (last.ended - last.started).to_std().unwrap_or_default();
    let moved = last.success + last.failed;
    let mut s = format!("last run {}", short_time(&app.zone, last.started));
    if took.as_secs_f64() > 0.0 && moved > 0 {
        let rate = (moved as f64 / took.as_secs_f64()) as u64;
        s.push_str(&format!(" · {} rec/s", thousands(rate)));
    }
    s.push_str(&format!(" · took {}", duration(took)));
    if last.failed > 0 {
        s.push_str(&format!(" · {} rows failed", thousands(last.failed)));
    }
    s
}

/// Why the last run failed or was cancelled, wrapped, at most `max` rows (the
/// whole text is in the log and in `h`).
fn error_lines(view: &JobView, width: usize, max: usize, theme: &Theme) -> Vec<Line<'static>> {
    let Some(last) = view.last.as_ref().filter(|_| !view.running) else {
        return Vec::new();
    };
    let Some(error) = &last.error else {
        return Vec::new();
    };
    let mut rows = wrap(&format!("{} {error}", marker_for(last.status)), width);
    if rows.len() > max {
        rows.truncate(max);
        let last_row = rows.pop().unwrap_or_default();
        let mut words: Vec<&str> = last_row.split(' ').collect();
        while !words.is_empty() && words.join(" ").chars().count() + 2 > width {
            words.pop();
        }
        rows.push(format!("{} …", words.join(" ")));
    }
    let style = theme.status(last.status);
    rows.into_iter()
        .map(|r| Line::from(Span::styled(r, style)))
        .collect()
}

/// The log, wrapped: the tail, or a window scrolled up from it that never
/// goes past the last line. The line a search found is highlighted.
fn draw_log(f: &mut Frame, area: Rect, view: &JobView, hit: Option<&LogHit>, theme: &Theme) {
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
    let style = |l: &LogLine| match l.level {
        Level::Error => theme.error(),
        Level::Warn => theme.warn(),
        Level::Info => Style::default(),
    };
    let rows = log_rows(
        view.log.iter().enumerate().map(|(i, l)| {
            let found = hit.is_some_and(|h| h.line == i);
            (text(l), if found { theme.selected() } else { style(l) })
        }),
        width,
        height,
        view.scroll,
    );
    let lines: Vec<Line> = rows
        .into_iter()
        .map(|(r, s)| Line::from(Span::styled(r, s)))
        .collect();
    let title = match (hit, view.scroll.is_some(), view.log_from_history) {
        (Some(h), _, _) => format!(" Log, found '{}' (n/N, Esc) ", h.query),
        (None, true, _) => " Log (scrolled; End follows) ".into(),
        (None, false, true) => " Log of the last run ".into(),
        (None, false, false) => " Log ".into(),
    };
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::TOP).title(title)),
        area,
    );
}

fn draw_last_runs(f: &mut Frame, area: Rect, app: &App, view: &JobView, theme: &Theme) {
    let width = area.width as usize;
    let shown = &view.history[..view
        .history
        .len()
        .min(area.height.saturating_sub(1) as usize)];
    // The time column is as wide as its longest entry (a date only when needed).
    let pad = shown
        .iter()
        .map(|r| short_time(&app.zone, r.summary.started).chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = shown
        .iter()
        .map(|r| run_row(app, &r.summary, pad, width, theme))
        .collect();
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            fit(
                &[
                    "No runs yet. Press r to run now.".into(),
                    "No runs yet.".into(),
                ],
                width,
            ),
            theme.dim(),
        )));
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::TOP).title(" Last runs ")),
        area,
    );
}

/// One past run in `width` columns: when, how it ended, the counts, the time
/// it took and the mode, dropping the least important from the end.
fn run_row(app: &App, s: &RunSummary, pad: usize, width: usize, theme: &Theme) -> Line<'static> {
    let when = short_time(&app.zone, s.started);
    let state = format!("{} {:<9}", marker_for(s.status), s.status.as_str());
    let state = if width < 40 {
        state.trim_end().to_string()
    } else {
        state
    };
    // What the run changed, or (recorded before DSP counted changes, or
    // nothing committed) how many rows it wrote.
    let changed = match s.changes {
        Some(c) => c.short(),
        None => format!("{} ok", thousands(s.success)),
    };
    let mut rest = vec![changed];
    if s.failed > 0 {
        rest.push(format!("{} failed", thousands(s.failed)));
    }
    rest.push(duration((s.ended - s.started).to_std().unwrap_or_default()));
    rest.push(s.mode.as_str().to_string());
    let head = format!("{when:<pad$} ");
    let room = width.saturating_sub(head.chars().count() + state.chars().count() + 2);
    Line::from(vec![
        Span::raw(head),
        Span::styled(state, theme.status(s.status)),
        Span::raw(format!("  {}", join_fitting(&rest, "  ", room))),
    ])
}
