//! The terminal UI without a terminal: rendering into ratatui's
//! TestBackend at 80x24 and 120x40, and keys driving the app state — forms that
//! save to the workspace file, deletes that confirm, Run Now on a real SQLite job.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dsp::engine::progress::{Level, LogLine, ProgressEvent};
use dsp::engine::schedule::Zone;
use dsp::paths::DataDir;
use dsp::tui::app::{App, Msg, Popup, PreviewState, Tab};
use dsp::tui::theme::Theme;
use dsp::tui::{Background, ui};
use dsp::workspace::{self, SyncMode};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::{mpsc, watch};

use crate::support;

pub(crate) fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, app, &Theme::plain())).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

pub(crate) fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub(crate) fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

pub(crate) fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
}

/// The demo workspace in a temp dir (its SQLite source created for real).
pub(crate) async fn demo_app(dir: &Path) -> App {
    let data = DataDir::new(dir.join("data"));
    let ws_path = dsp::commands::demo::ensure_demo(&data).await.unwrap();
    let ws = workspace::load(&ws_path).unwrap();
    App::new(
        ws,
        ws_path,
        data,
        Zone::Named {
            tz: chrono_tz::UTC,
            from: "test",
        },
    )
}

#[tokio::test]
async fn each_tab_renders_at_80x24_and_120x40() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    for (w, h) in [(80, 24), (120, 40)] {
        app.tab = Tab::Network;
        let s = screen(&app, w, h);
        assert!(
            s.contains("1 Network") && s.contains("2 Schema") && s.contains("3 Jobs"),
            "{s}"
        );
        assert!(
            s.contains("> Production DB (Source)"),
            "selection is marked without colour:\n{s}"
        );
        assert!(s.contains("Press t to test the connection"), "{s}");
        assert!(
            s.contains("? help") && s.contains("q quit"),
            "footer at {w}x{h}:\n{s}"
        );

        app.tab = Tab::Schema;
        let s = screen(&app, w, h);
        assert!(s.contains("Users Sync Schema"), "{s}");
        assert!(s.contains("users → dim_users"), "{s}");
        assert!(
            s.contains("name") && s.contains("full_name") && s.contains("timestamp"),
            "{s}"
        );

        app.tab = Tab::Jobs;
        let s = screen(&app, w, h);
        assert!(s.contains("Sync Users to Analytics"), "{s}");
        assert!(s.contains("Schedule 0 0 * * *"), "{s}");
        assert!(s.contains("next 20"), "next scheduled time shown:\n{s}");
        assert!(s.contains("No runs yet"), "{s}");
        assert!(s.contains("r run now"), "{s}");
    }
}

#[tokio::test]
async fn a_tiny_terminal_gets_a_notice_not_a_panic() {
    let dir = support::temp_dir();
    let app = demo_app(dir.path()).await;
    let s = screen(&app, 30, 8);
    assert!(s.contains("Terminal too small"), "{s}");
}

#[tokio::test]
async fn help_lists_every_key_at_80x24() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.on_key(key(KeyCode::Char('?')));
    let s = screen(&app, 80, 24);
    for b in dsp::tui::keymap::BINDINGS {
        assert!(
            s.contains(b.action),
            "`{}` missing from help:\n{s}",
            b.action
        );
    }
    app.on_key(key(KeyCode::Char('x')));
    assert!(app.popup.is_none(), "any key closes help");
}

#[tokio::test]
async fn a_form_shows_its_validation_error_beside_the_field() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.on_key(key(KeyCode::Char('3')));
    app.on_key(key(KeyCode::Char('a')));
    type_text(&mut app, "Nightly");
    for _ in 0..5 {
        app.on_key(key(KeyCode::Tab));
    }
    type_text(&mut app, "61 * * * *");
    app.on_key(key(KeyCode::Tab));
    type_text(&mut app, "0");
    for (w, h) in [(80, 24), (120, 40)] {
        let s = screen(&app, w, h);
        assert!(s.contains("Add job"), "{s}");
        assert!(
            s.contains("✗ \"61 * * * *\" is not a valid cron expression"),
            "{s}"
        );
        assert!(s.contains("✗ 0 is out of range; use 1 to 1000000"), "{s}");
    }
    // Saving is refused while fields are wrong.
    app.on_key(ctrl('s'));
    assert!(matches!(app.popup, Some(Popup::Form(_))), "form stays open");
    assert_eq!(app.ws.jobs.len(), 2);
    // Esc on an edited form asks first; No (Enter, the default) keeps editing.
    app.on_key(key(KeyCode::Esc));
    let s = screen(&app, 80, 24);
    assert!(s.contains("Add job: discard your changes?"), "{s}");
    app.on_key(key(KeyCode::Enter));
    let Some(Popup::Form(form)) = &app.popup else {
        panic!("Enter went back to the form: {:?}", app.popup);
    };
    assert!(
        form.fields.iter().any(|f| f.value == "Nightly"),
        "edits kept"
    );
    // y discards; Esc never quits.
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Char('y')));
    assert!(app.popup.is_none() && !app.quitting);
    assert_eq!(app.ws.jobs.len(), 2);
    // An unedited form closes on Esc without a question.
    app.on_key(key(KeyCode::Char('e')));
    app.on_key(key(KeyCode::Esc));
    assert!(app.popup.is_none(), "{:?}", app.popup);
}

/// Until the run's total arrives (a PostgreSQL source counts while the first
/// rows already move), the gauge says so instead of showing the last run's 100%.
#[tokio::test]
async fn a_run_waiting_for_its_total_says_it_is_counting() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.on_key(key(KeyCode::Char('3')));
    let job = "Sync Users to Analytics".to_string();
    let now = chrono::Utc::now();
    app.on_engine(ProgressEvent::Finished(dsp::engine::RunSummary {
        job: job.clone(),
        mode: workspace::SyncMode::Full,
        status: dsp::engine::RunStatus::Succeeded,
        started: now,
        ended: now,
        total: 0,
        success: 0,
        failed: 0,
        error: None,
        changes: None,
    }));
    // Idle, the gauge tells the last run's result, not a fake full bar.
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("✓ last run succeeded · no rows to move") && !s.contains("100%"),
        "{s}"
    );

    app.on_key(key(KeyCode::Char('r')));
    let s = screen(&app, 80, 24);
    assert!(s.contains("counting rows…") && !s.contains("100%"), "{s}");

    app.on_engine(ProgressEvent::Started {
        job: job.clone(),
        total: 50_000,
        batches: 50,
    });
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("0% · 0 / 50,000") && !s.contains("counting"),
        "{s}"
    );
}

#[tokio::test]
async fn a_running_job_shows_gauge_rate_sparkline_and_log() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.on_key(key(KeyCode::Char('3')));
    let job = "Sync Users to Analytics".to_string();
    app.on_engine(ProgressEvent::Began {
        job: job.clone(),
        mode: SyncMode::Full,
    });
    app.on_engine(ProgressEvent::Started {
        job: job.clone(),
        total: 50_000,
        batches: 50,
    });
    for (i, done) in [(1u64, 5_000u64), (2, 12_000), (3, 25_000)] {
        app.on_engine(ProgressEvent::Batch {
            job: job.clone(),
            index: i,
            batches: 50,
            rows: 1000,
            done,
            failed: 0,
        });
        app.on_engine(ProgressEvent::Log {
            job: job.clone(),
            line: LogLine::new(
                Level::Info,
                format!("Processing batch {i}/50 (1000 records)"),
            ),
        });
        app.sample();
    }
    for (w, h) in [(80, 24), (120, 40)] {
        let s = screen(&app, w, h);
        assert!(s.contains("50%"), "gauge at half:\n{s}");
        assert!(s.contains("25,000 / 50,000"), "{s}");
        assert!(s.contains("13,000 rec/s"), "the last second's rate:\n{s}");
        assert!(
            s.contains("[INFO] Processing batch 3/50 (1000 records)"),
            "{s}"
        );
        assert!(
            s.contains("▶ Sync Users to Analytics"),
            "running marker:\n{s}"
        );
        assert!(s.contains("1 running"), "{s}");
        assert!(
            s.chars().any(|c| "▁▂▃▄▅▆▇█".contains(c)),
            "sparkline drawn:\n{s}"
        );
    }
    // Quitting while it runs asks first; n stays.
    app.on_key(key(KeyCode::Char('q')));
    assert!(screen(&app, 80, 24).contains("1 job is running. Quit and cancel it?"));
    app.on_key(key(KeyCode::Char('n')));
    assert!(!app.quitting && app.popup.is_none());
    // Enter answers the default, No: destructive answers take a `y`.
    app.on_key(key(KeyCode::Char('q')));
    app.on_key(key(KeyCode::Enter));
    assert!(!app.quitting && app.popup.is_none());
    app.on_key(key(KeyCode::Char('q')));
    app.on_key(key(KeyCode::Char('y')));
    assert!(app.quitting);
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("Cancelling 1 job…"),
        "quitting says what it waits for:\n{s}"
    );
}

/// Runs effects the way the event loop does and feeds results back.
pub(crate) struct Loop {
    pub(crate) bg: Background,
    events: mpsc::UnboundedReceiver<ProgressEvent>,
    msgs: mpsc::UnboundedReceiver<Msg>,
}

impl Loop {
    pub(crate) fn new(app: &App) -> Self {
        let (ev_tx, events) = mpsc::unbounded_channel();
        let (msg_tx, msgs) = mpsc::unbounded_channel();
        let (ws_tx, _ws_rx) = watch::channel(Arc::new(app.ws.clone()));
        Loop {
            bg: Background {
                events: ev_tx,
                msgs: msg_tx,
                workspace: ws_tx,
                pace: None,
            },
            events,
            msgs,
        }
    }
    pub(crate) fn press(&mut self, app: &mut App, k: KeyEvent) {
        for effect in app.on_key(k) {
            self.bg.execute(app, effect);
        }
    }
    /// Feeds results back until `done` holds (or 60 s pass).
    pub(crate) async fn until(&mut self, app: &mut App, done: impl Fn(&App) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !done(app) {
            tokio::select! {
                Some(ev) = self.events.recv() => app.on_engine(ev),
                Some(m) = self.msgs.recv() => app.on_msg(m),
                _ = tokio::time::sleep_until(deadline) => panic!("timed out waiting for the app"),
            }
        }
    }
}

#[tokio::test]
async fn adding_a_network_through_the_form_saves_it_to_the_file() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    let before = std::fs::read_to_string(&app.ws_path).unwrap();
    app.on_key(key(KeyCode::Char('1')));
    app.on_key(key(KeyCode::Char('a')));
    type_text(&mut app, "Reporting replica");
    app.on_key(key(KeyCode::Tab));
    app.on_key(key(KeyCode::Right)); // postgresql -> mysql
    app.on_key(key(KeyCode::Tab));
    type_text(&mut app, "replica.internal");
    app.on_key(key(KeyCode::Tab));
    type_text(&mut app, "3307");
    app.on_key(key(KeyCode::Tab));
    type_text(&mut app, "reports");
    app.on_key(key(KeyCode::Tab));
    type_text(&mut app, "reader");
    app.on_key(key(KeyCode::Tab));
    // Password from: a variable by default; the clear one is chosen.
    let s = screen(&app, 80, 24);
    assert!(s.contains("environment variable"), "{s}");
    app.on_key(key(KeyCode::Right));
    app.on_key(key(KeyCode::Tab));
    type_text(&mut app, "qwerty-secret");
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("*************") && !s.contains("qwerty-secret"),
        "password masked:\n{s}"
    );
    assert!(
        s.contains("clear text in the file") && !s.contains("Password env var"),
        "only the password used is shown:\n{s}"
    );
    // Saving a clear password asks first, No by default (issue 17 #11).
    app.on_key(ctrl('s'));
    let s = screen(&app, 80, 24);
    assert!(s.contains("in clear text"), "{s}");
    app.on_key(key(KeyCode::Enter));
    assert!(
        matches!(app.popup, Some(Popup::Form(_))),
        "Enter is No: back to the form"
    );
    assert_eq!(std::fs::read_to_string(&app.ws_path).unwrap(), before);
    app.on_key(ctrl('s'));
    app.on_key(key(KeyCode::Char('y')));
    assert!(app.popup.is_none(), "saved and closed: {:?}", app.message);

    let saved = std::fs::read_to_string(&app.ws_path).unwrap();
    assert!(
        saved.starts_with(before.lines().next().unwrap()),
        "the file's comments are kept"
    );
    let ws = workspace::load(&app.ws_path).unwrap();
    let n = ws.network("Reporting replica").expect("saved to the file");
    assert_eq!(n.kind, workspace::EngineKind::Mysql);
    assert_eq!(n.host.as_deref(), Some("replica.internal"));
    assert_eq!(n.port, Some(3307));
    assert_eq!(n.database, "reports");
    assert_eq!(
        n.password.as_ref().map(|p| p.expose()),
        Some("qwerty-secret")
    );
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("Reporting replica") && !s.contains("qwerty-secret"),
        "{s}"
    );
}

#[tokio::test]
async fn delete_asks_first_and_refuses_entries_in_use() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    // A network used by jobs is not deleted.
    app.on_key(key(KeyCode::Char('d')));
    assert!(app.popup.is_none());
    let (_, msg) = app.message.clone().unwrap();
    assert!(msg.contains("is used by jobs"), "{msg}");

    app.on_key(key(KeyCode::Char('3')));
    app.on_key(key(KeyCode::Char('j')));
    app.on_key(key(KeyCode::Char('d')));
    assert!(screen(&app, 80, 24).contains("Delete job \"Sync Users (Incremental)\"?"));
    app.on_key(key(KeyCode::Esc)); // default is No
    assert_eq!(workspace::load(&app.ws_path).unwrap().jobs.len(), 2);
    // Enter, pressed out of habit, is the default too.
    app.on_key(key(KeyCode::Char('d')));
    app.on_key(key(KeyCode::Enter));
    assert!(app.popup.is_none());
    assert_eq!(workspace::load(&app.ws_path).unwrap().jobs.len(), 2);
    app.on_key(key(KeyCode::Char('d')));
    app.on_key(key(KeyCode::Char('y')));
    let ws = workspace::load(&app.ws_path).unwrap();
    assert_eq!(ws.jobs.len(), 1);
    assert!(ws.job("Sync Users (Incremental)").is_none());
}

#[tokio::test]
async fn renaming_a_network_updates_the_jobs_that_use_it() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.on_key(key(KeyCode::Char('e')));
    for _ in 0.."Production DB (Source)".len() {
        app.on_key(key(KeyCode::Backspace));
    }
    type_text(&mut app, "Primary");
    app.on_key(ctrl('s'));
    let ws = workspace::load(&app.ws_path).unwrap();
    assert!(ws.network("Primary").is_some());
    assert!(
        ws.jobs.iter().all(|j| j.source == "Primary"),
        "{:?}",
        ws.jobs
    );
}

#[tokio::test]
async fn run_now_on_a_sqlite_job_reaches_the_summary() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    let mut lp = Loop::new(&app);
    lp.press(&mut app, key(KeyCode::Char('3')));
    lp.press(&mut app, key(KeyCode::Char('r')));
    assert_eq!(app.running(), 1);
    let job = "Sync Users to Analytics";
    lp.until(&mut app, |a| {
        a.job_view(job)
            .is_some_and(|v| !v.running && v.last.is_some())
    })
    .await;
    let view = app.job_view(job).unwrap();
    let log: Vec<String> = view.log.iter().map(|l| l.to_string()).collect();
    assert_eq!(
        log.first().map(String::as_str),
        Some("[INFO] Starting sync job: Sync Users to Analytics")
    );
    assert!(
        log.contains(&"[INFO] Total records: 50,000".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"[INFO] Processing batch 50/50 (1000 records)".to_string()),
        "{log:?}"
    );
    assert_eq!(
        log.last().map(String::as_str),
        Some("[INFO] Sync completed. Total: 50,000, Success: 50,000, Failed: 0")
    );
    let s = screen(&app, 120, 40);
    assert!(s.contains("100%"), "{s}");
    assert!(
        s.contains("Sync completed. Total: 50,000, Success: 50,000, Failed: 0"),
        "{s}"
    );
    assert!(s.contains("✓ Sync Users to Analytics"), "{s}");
    assert!(s.contains("succeeded"), "the run is in the history:\n{s}");

    // h lists the past runs; Enter shows a run's full log from the history.
    lp.press(&mut app, key(KeyCode::Char('h')));
    let s = screen(&app, 100, 30);
    assert!(
        s.contains("past runs") && s.contains("full") && s.contains("succeeded"),
        "{s}"
    );
    assert!(s.contains("total    50,000  +50k ~0 -0"), "{s}");
    lp.press(&mut app, key(KeyCode::Enter));
    for _ in 0..40 {
        lp.press(&mut app, key(KeyCode::Down));
    }
    let s = screen(&app, 100, 30);
    assert!(
        s.contains("[INFO] Sync completed. Total: 50,000, Success: 50,000, Failed: 0"),
        "{s}"
    );
    lp.press(&mut app, key(KeyCode::Esc));
    lp.press(&mut app, key(KeyCode::Esc));
    assert!(app.popup.is_none());

    // Network t: the test result arrives in the background.
    lp.press(&mut app, key(KeyCode::Char('1')));
    lp.press(&mut app, key(KeyCode::Char('t')));
    lp.until(&mut app, |a| {
        a.tested
            .get("Production DB (Source)")
            .is_some_and(|r| r.as_ref().is_ok_and(|v| v.contains("SQLite")))
    })
    .await;
    assert!(screen(&app, 80, 24).contains("✓ SQLite"));

    // Schema f: the source table's real columns fill the mapping.
    lp.press(&mut app, key(KeyCode::Char('2')));
    lp.press(&mut app, key(KeyCode::Char('f')));
    lp.until(&mut app, |a| matches!(&a.popup, Some(Popup::Form(f)) if f.note.as_deref().is_some_and(|n| n.contains("filled from users on \"Production DB (Source)\"")))).await;
    let s = screen(&app, 120, 40);
    assert!(s.contains("updated_at"), "introspected columns shown:\n{s}");
}

/// `c` stops a run the schedule started, as it stops a Run Now (it used to
/// say the run "stops when DSP quits" and let it write on).
#[tokio::test]
async fn c_cancels_a_run_the_schedule_started() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.on_key(key(KeyCode::Char('3')));
    let job = "Sync Users to Analytics".to_string();
    let token = tokio_util::sync::CancellationToken::new();
    app.on_msg(Msg::Scheduled {
        job: job.clone(),
        cancel: token.clone(),
    });
    app.on_engine(ProgressEvent::Began {
        job: job.clone(),
        mode: SyncMode::Full,
    });
    app.on_key(key(KeyCode::Char('c')));
    assert!(token.is_cancelled(), "the scheduled run was told to stop");
    let s = screen(&app, 80, 24);
    assert!(s.contains("Cancelling"), "{s}");
}

/// `v` on the Jobs tab verifies the selected job in the background and shows
/// the verdict and the first differing keys in the job's pane.
#[tokio::test]
async fn v_verifies_the_selected_job_and_shows_the_differing_keys() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    let mut lp = Loop::new(&app);
    let job = "Sync Users to Analytics";
    lp.press(&mut app, key(KeyCode::Char('3')));
    let done = |a: &App| a.verified.get(job).is_some_and(Option::is_some);

    // Before the first run there is no target table: said, not a panic.
    lp.press(&mut app, key(KeyCode::Char('v')));
    assert!(screen(&app, 120, 40).contains("verifying…"));
    lp.until(&mut app, done).await;
    let s = screen(&app, 120, 40);
    assert!(s.contains("failed") && s.contains("does not exist"), "{s}");

    lp.press(&mut app, key(KeyCode::Char('r')));
    lp.until(&mut app, |a| {
        a.job_view(job)
            .is_some_and(|v| !v.running && v.last.is_some())
    })
    .await;
    lp.press(&mut app, key(KeyCode::Char('v')));
    lp.until(&mut app, done).await;
    let s = screen(&app, 120, 40);
    assert!(
        s.contains("source and target are identical: 50,000 rows"),
        "{s}"
    );

    let target = app.data.root().join("demo").join("target.db");
    let p = crate::support::end::lite_pool(&target).await;
    sqlx::raw_sql("UPDATE dim_users SET full_name = 'x' WHERE user_id = 77; DELETE FROM dim_users WHERE user_id = 9")
        .execute(&p)
        .await
        .unwrap();
    p.close().await;
    lp.press(&mut app, key(KeyCode::Char('v')));
    lp.until(&mut app, done).await;
    let s = screen(&app, 120, 40);
    assert!(
        s.contains("1 only in source, 0 only in target, 1 differing"),
        "{s}"
    );
    assert!(s.contains("only in source: user_id=9"), "{s}");
    assert!(s.contains("user_id=77 (column full_name)"), "{s}");
}

/// `p` previews the selected job in the background and shows what a run
/// would change in its pane; the run that follows reports the same, and its
/// Last runs row shows the change counts at 80 columns.
#[tokio::test]
async fn p_previews_the_job_and_last_runs_show_its_changes() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    let mut lp = Loop::new(&app);
    let job = "Sync Users to Analytics";
    let previewed = |a: &App| {
        a.job_view(job)
            .is_some_and(|v| matches!(v.preview, Some(PreviewState::Done(_))))
    };
    lp.press(&mut app, key(KeyCode::Char('3')));
    lp.press(&mut app, key(KeyCode::Char('p')));
    assert!(screen(&app, 80, 24).contains("previewing…"));
    lp.until(&mut app, previewed).await;
    let s = screen(&app, 80, 24);
    assert!(s.contains("would: +50,000 ~0 -0 =0"), "{s}");
    assert!(s.contains("keys +1 2 3"), "{s}");
    assert_eq!(app.running(), 0, "a preview is not a run");

    lp.press(&mut app, key(KeyCode::Char('r')));
    lp.until(&mut app, |a| {
        a.job_view(job)
            .is_some_and(|v| !v.running && v.last.is_some())
    })
    .await;
    let s = screen(&app, 80, 24);
    assert!(s.contains("✓ succeeded  +50k ~0 -0  "), "{s}");
    let log: Vec<String> = app
        .job_view(job)
        .unwrap()
        .log
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert!(
        log.contains(
            &"[INFO] Changes: 50,000 inserted, 0 updated, 0 deleted, 0 unchanged".to_string()
        ),
        "{log:?}"
    );

    lp.press(&mut app, key(KeyCode::Char('p')));
    lp.until(&mut app, previewed).await;
    let s = screen(&app, 80, 24);
    assert!(s.contains("would: +0 ~0 -0 =50,000"), "{s}");
}

/// A verify or preview asked before a run began compared a target the run
/// was changing: its result is dropped with a word, never shown as the job's
/// state, and `v` waits for a running job to end.
#[tokio::test]
async fn a_verify_or_preview_overtaken_by_a_run_is_dropped() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    let mut lp = Loop::new(&app);
    let job = "Sync Users to Analytics";
    let ran = |a: &App| {
        a.job_view(job)
            .is_some_and(|v| !v.running && v.last.is_some())
    };
    let said = |a: &App, what: &str| {
        a.message
            .as_ref()
            .is_some_and(|(_, m)| m.contains(&format!("the {what} of \"{job}\" began before")))
    };
    lp.press(&mut app, key(KeyCode::Char('3')));
    lp.press(&mut app, key(KeyCode::Char('v')));
    lp.press(&mut app, key(KeyCode::Char('r')));
    assert!(!screen(&app, 120, 40).contains("verifying…"));
    lp.press(&mut app, key(KeyCode::Char('v')));
    let s = screen(&app, 120, 40);
    assert!(s.contains("is running; verify it when it is done"), "{s}");
    lp.until(&mut app, |a| ran(a) && said(a, "verify")).await;
    assert!(
        !app.verified.contains_key(job),
        "{:?}",
        app.verified.get(job)
    );
    let s = screen(&app, 120, 40);
    assert!(
        !s.contains("only in source") && !s.contains("does not exist"),
        "{s}"
    );

    lp.press(&mut app, key(KeyCode::Char('v')));
    lp.until(&mut app, |a| {
        a.verified.get(job).is_some_and(Option::is_some)
    })
    .await;
    let s = screen(&app, 120, 40);
    assert!(
        s.contains("source and target are identical: 50,000 rows"),
        "{s}"
    );

    // A run begun by the schedule overtakes a preview the same way.
    lp.press(&mut app, key(KeyCode::Char('p')));
    app.on_engine(ProgressEvent::Began {
        job: job.to_string(),
        mode: dsp::workspace::SyncMode::Full,
    });
    assert!(!app.verified.contains_key(job), "a run clears the verdict");
    lp.until(&mut app, |a| said(a, "preview")).await;
    let v = app.job_view(job).unwrap();
    assert!(v.preview.is_none(), "{:?}", v.preview.is_some());

    // The note that the job is running goes when its run ends.
    lp.press(&mut app, key(KeyCode::Char('v')));
    assert!(screen(&app, 120, 40).contains("is running; verify it when it is done"));
    app.on_engine(ProgressEvent::Finished(crate::tui_fit::summary(
        job,
        dsp::engine::RunStatus::Succeeded,
        0,
        None,
    )));
    let s = screen(&app, 120, 40);
    assert!(!s.contains("is running; verify it"), "{s}");
}

/// A preview holds the job's lock as a run does: `v` waits for it, and the
/// note saying so goes when the preview is done.
#[tokio::test]
async fn v_waits_for_a_preview_of_the_job() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    let mut lp = Loop::new(&app);
    let job = "Sync Users to Analytics";
    lp.press(&mut app, key(KeyCode::Char('3')));
    lp.press(&mut app, key(KeyCode::Char('p')));
    lp.press(&mut app, key(KeyCode::Char('v')));
    let s = screen(&app, 120, 40);
    assert!(
        s.contains("is being previewed; verify it when that is done"),
        "{s}"
    );
    assert!(!app.verified.contains_key(job), "no verify was started");
    lp.until(&mut app, |a| {
        a.job_view(job)
            .is_some_and(|v| matches!(v.preview, Some(PreviewState::Done(_))))
    })
    .await;
    let s = screen(&app, 120, 40);
    assert!(!s.contains("is being previewed"), "{s}");
    assert!(s.contains("would: +50,000"), "{s}");
}
