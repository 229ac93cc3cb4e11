//! `/` filters the lists and Ctrl-F finds a line in the job's log, seen on a
//! TestBackend screen at 80x24.

use crossterm::event::KeyCode;
use dsp::engine::progress::{Level, LogLine, ProgressEvent};
use dsp::tui::app::{App, Effect, Popup};
use dsp::tui::theme::Theme;
use dsp::tui::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;

use crate::support;
use crate::tui::{ctrl, demo_app, key, screen, type_text};

const JOB: &str = "Sync Users to Analytics";

fn log(app: &mut App, text: &str) {
    app.on_engine(ProgressEvent::Log {
        job: JOB.into(),
        line: LogLine::new(Level::Info, text.to_string()),
    });
}

fn selected(app: &App) -> Option<&str> {
    app.ws.jobs.get(app.selected[2]).map(|j| j.name.as_str())
}

/// The row showing `text` is drawn highlighted (reversed, so NO_COLOR too).
fn highlighted(app: &App, text: &str) -> bool {
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| ui::draw(f, app, &Theme::plain())).unwrap();
    let buf = t.backend().buffer().clone();
    (0..24).any(|y| {
        let row: String = (0..80).map(|x| buf[(x, y)].symbol().to_string()).collect();
        let Some(at) = row.find(text) else {
            return false;
        };
        let x = row[..at].chars().count() as u16;
        buf[(x, y)].modifier.contains(Modifier::REVERSED)
    })
}

/// The screen shows this log line whole (not a longer one starting with it).
fn shows(s: &str, line: &str) -> bool {
    let line = format!("[INFO] {line} ");
    s.lines().any(|l| l.contains(&line))
}

#[tokio::test]
async fn finding_in_the_log_brings_a_line_far_above_the_view_on_screen() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.on_key(key(KeyCode::Char('3')));
    for i in 0..300 {
        match i {
            20 => log(&mut app, "Needle one"),
            100 => log(&mut app, "needle two"),
            _ => log(&mut app, &format!("line {i}")),
        }
    }
    let s = screen(&app, 80, 24);
    assert!(shows(&s, "line 299") && !shows(&s, "needle two"), "{s}");

    // Case-insensitive; Enter finds the nearest match above the tail.
    app.on_key(ctrl('f'));
    type_text(&mut app, "NEEDLE");
    assert!(screen(&app, 80, 24).contains("Find in log: NEEDLE"));
    app.on_key(key(KeyCode::Enter));
    let s = screen(&app, 80, 24);
    assert!(shows(&s, "needle two") && !shows(&s, "line 299"), "{s}");
    assert!(highlighted(&app, "[INFO] needle two"), "{s}");
    assert!(!highlighted(&app, "[INFO] line 101"), "{s}");

    // The pane no longer follows the tail while the search is on.
    log(&mut app, "line 300");
    assert!(shows(&screen(&app, 80, 24), "needle two"));

    // n goes on up the log, N comes back down, and n wraps at the top.
    app.on_key(key(KeyCode::Char('n')));
    let s = screen(&app, 80, 24);
    assert!(shows(&s, "Needle one") && !shows(&s, "needle two"), "{s}");
    app.on_key(key(KeyCode::Char('N')));
    assert!(shows(&screen(&app, 80, 24), "needle two"));
    app.on_key(key(KeyCode::Char('n')));
    app.on_key(key(KeyCode::Char('n')));
    assert!(shows(&screen(&app, 80, 24), "needle two"), "wrapped");

    // Esc ends the search: the tail again, nothing highlighted.
    app.on_key(key(KeyCode::Esc));
    let s = screen(&app, 80, 24);
    assert!(shows(&s, "line 300") && !shows(&s, "needle two"), "{s}");
    assert!(app.search.hit.is_none());
    assert!(!highlighted(&app, "[INFO] line 300"));

    // Nothing found is said, and the view stays on the tail.
    app.on_key(ctrl('f'));
    type_text(&mut app, "zzz");
    app.on_key(key(KeyCode::Enter));
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("no match for 'zzz'") && shows(&s, "line 300"),
        "{s}"
    );
}

#[tokio::test]
async fn filtering_the_jobs_shows_the_matching_ones_and_r_runs_the_selected() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    for name in ["Orders nightly", "Users archive"] {
        let mut job = app.ws.jobs[0].clone();
        job.name = name.into();
        app.ws.jobs.push(job);
    }
    app.on_key(key(KeyCode::Char('3')));
    app.on_key(key(KeyCode::Char('/')));
    type_text(&mut app, "USER");
    app.on_key(key(KeyCode::Enter));
    let s = screen(&app, 80, 24);
    assert!(s.contains(" Jobs /USER "), "{s}");
    assert!(
        !s.contains("Orders nightly") && s.contains("Users archive"),
        "{s}"
    );

    // j skips the hidden job; r runs the one selected on screen.
    app.on_key(key(KeyCode::Char('j')));
    app.on_key(key(KeyCode::Char('j')));
    let effects = app.on_key(key(KeyCode::Char('r')));
    assert_eq!(effects, vec![Effect::RunJob("Users archive".into())]);

    // Esc shows every job again, the selection where it was.
    app.on_key(key(KeyCode::Esc));
    let s = screen(&app, 80, 24);
    assert!(s.contains("Orders nightly") && !s.contains("/USER"), "{s}");
    assert!(
        s.lines()
            .any(|l| l.contains("> ") && l.contains("Users archive")),
        "{s}"
    );
    assert_eq!(selected(&app), Some("Users archive"));

    // A filter typed live moves the selection onto what it shows.
    app.on_key(key(KeyCode::Char('/')));
    type_text(&mut app, "orders");
    assert_eq!(selected(&app), Some("Orders nightly"));
    // Matching nothing: said, and r runs nothing hidden.
    type_text(&mut app, "zzz");
    app.on_key(key(KeyCode::Enter));
    let s = screen(&app, 80, 24);
    assert!(s.contains("no match for 'orderszzz'"), "{s}");
    assert!(app.on_key(key(KeyCode::Char('r'))).is_empty());
}

#[tokio::test]
async fn slash_in_a_form_is_a_character_and_other_tabs_filter_too() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.on_key(key(KeyCode::Char('/')));
    type_text(&mut app, "analytics");
    app.on_key(key(KeyCode::Enter));
    let s = screen(&app, 80, 24);
    assert!(s.contains(" Networks /analytics "), "{s}");
    assert!(
        s.contains("Analytics DB") && !s.contains("Production DB (Source) ["),
        "{s}"
    );
    app.on_key(key(KeyCode::Char('e')));
    let Some(Popup::Form(form)) = &app.popup else {
        panic!("no form");
    };
    let before = form.fields[form.focus].value.clone();
    app.on_key(key(KeyCode::Char('/')));
    let Some(Popup::Form(form)) = &app.popup else {
        panic!("/ closed the form");
    };
    assert_eq!(form.fields[form.focus].value, format!("{before}/"));
}

/// A recorded run of `JOB` with a 200-line log: two needles far down it.
fn record_long_run(app: &App) {
    use chrono::Utc;
    use dsp::engine::{RunStatus, RunSummary};
    let started = Utc::now() - chrono::Duration::seconds(60);
    let summary = RunSummary {
        job: JOB.into(),
        mode: dsp::workspace::SyncMode::Full,
        status: RunStatus::Failed,
        started,
        ended: started + chrono::Duration::seconds(4),
        total: 200,
        success: 0,
        failed: 0,
        changes: None,
        error: Some("the target went away".into()),
    };
    let log: Vec<LogLine> = (0..200)
        .map(|i| match i {
            90 => LogLine::new(Level::Warn, "Needle one: a slow batch"),
            150 => LogLine::new(Level::Error, "needle two: the target went away"),
            _ => LogLine::new(Level::Info, format!("batch {i}")),
        })
        .collect();
    dsp::engine::state::record_run(&app.data, &summary, &log).unwrap();
}

/// The history viewer finds like the live log: `/` or Ctrl-F, Enter, n/N, Esc.
#[tokio::test]
async fn finding_in_a_past_runs_log_at_80x24_and_60x16() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    record_long_run(&app);
    app.on_key(key(KeyCode::Char('3')));
    app.on_key(key(KeyCode::Char('h')));
    app.on_key(key(KeyCode::Enter));
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("[INFO] batch 0 ") && !s.contains("Needle"),
        "{s}"
    );
    assert!(
        s.lines().last().unwrap().contains("/ Ctrl-F n/N find"),
        "{s}"
    );

    app.on_key(key(KeyCode::Char('/')));
    type_text(&mut app, "NEEDLE");
    let s = screen(&app, 80, 24);
    assert!(s.contains("Find in log: NEEDLE"), "the prompt shows:\n{s}");
    app.on_key(key(KeyCode::Enter));
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("[WARN] Needle one: a slow batch") && !s.contains("batch 0 "),
        "{s}"
    );
    assert!(s.contains("'NEEDLE' at line 91"), "{s}");
    assert!(highlighted(&app, "[WARN] Needle one"), "{s}");
    assert!(!highlighted(&app, "[INFO] batch 91"), "{s}");

    // n goes down to the next one, N back up; n wraps past the end.
    app.on_key(key(KeyCode::Char('n')));
    let s = screen(&app, 80, 24);
    assert!(s.contains("'NEEDLE' at line 151"), "{s}");
    assert!(highlighted(&app, "[ERROR] needle two"), "{s}");
    app.on_key(key(KeyCode::Char('N')));
    assert!(screen(&app, 80, 24).contains("'NEEDLE' at line 91"));
    app.on_key(key(KeyCode::Char('n')));
    app.on_key(key(KeyCode::Char('n')));
    assert!(
        screen(&app, 80, 24).contains("'NEEDLE' at line 91"),
        "wrapped"
    );
    // At 60x16 the line found and the note about it are on screen too.
    let s = screen(&app, 60, 16);
    assert!(
        s.contains("Needle one") && s.contains("'NEEDLE' at line 91"),
        "{s}"
    );

    // Esc drops the search and stays in the log; Esc again leaves it.
    app.on_key(key(KeyCode::Esc));
    let s = screen(&app, 80, 24);
    assert!(!s.contains("'NEEDLE'") && s.contains("Needle one"), "{s}");
    assert!(!highlighted(&app, "[WARN] Needle one"), "{s}");
    // Ctrl-F too; nothing found is said where the popup shows it.
    app.on_key(ctrl('f'));
    type_text(&mut app, "zzz");
    app.on_key(key(KeyCode::Enter));
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("no match for 'zzz'") && s.contains("Needle one"),
        "{s}"
    );
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Esc));
    assert!(
        screen(&app, 80, 24).contains("past runs"),
        "back to the runs"
    );
    // q in the prompt is a letter, not a way out.
    app.on_key(key(KeyCode::Enter));
    app.on_key(key(KeyCode::Char('/')));
    type_text(&mut app, "q");
    assert!(screen(&app, 80, 24).contains("Find in log: q"));
    app.on_key(key(KeyCode::Esc));
    assert!(matches!(&app.popup, Some(Popup::Runs(r)) if r.open.is_some()));
}
