//! The TUI at 80x24 and 60x16 (ratatui's TestBackend): footers, errors and
//! history rows that wrap or drop whole items instead of cutting words, a job
//! list that tells each job's story after a restart, a log pane that never
//! scrolls past its end, status colours, and the demo's first screen.

use std::collections::HashSet;

use chrono::{Duration as Span, Utc};
use crossterm::event::KeyCode;
use dsp::engine::progress::{Level, LogLine, ProgressEvent};
use dsp::engine::state;
use dsp::engine::{RunStatus, RunSummary};
use dsp::tui::app::{App, Tab};
use dsp::tui::keymap::BINDINGS;
use dsp::tui::theme::Theme;
use dsp::tui::ui;
use dsp::workspace::{self, SyncMode};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use crate::support;
use crate::tui::{Loop, ctrl, demo_app, key, screen, type_text};
use crate::tui_e2e::{assert_whole, words};

const SIZES: [(u16, u16); 2] = [(80, 24), (60, 16)];
const FULL_JOB: &str = "Sync Users to Analytics";
const INCR_JOB: &str = "Sync Users (Incremental)";

/// The footer (the last row) lists whole bindings only.
fn assert_footer_whole(s: &str) {
    let footer = s.lines().last().unwrap_or_default().trim_end();
    let labels: HashSet<String> = BINDINGS
        .iter()
        .map(|b| format!("{} {}", b.keys, b.action))
        .collect();
    for item in footer.split("  ").filter(|i| !i.is_empty()) {
        assert!(labels.contains(item), "footer item \"{item}\" is cut:\n{s}");
    }
}

pub(crate) fn summary(
    job: &str,
    status: RunStatus,
    ago_secs: i64,
    error: Option<&str>,
) -> RunSummary {
    let started = Utc::now() - Span::seconds(ago_secs);
    RunSummary {
        job: job.into(),
        mode: SyncMode::Full,
        status,
        started,
        ended: started + Span::seconds(4),
        total: 50_000,
        success: if status == RunStatus::Succeeded {
            50_000
        } else {
            12_000
        },
        failed: 0,
        changes: None,
        error: error.map(str::to_string),
    }
}

const LONG_ERROR: &str = "network \"Analytics DB (Target)\" refused the connection at \
     127.0.0.1:5499; check that the server is running and that host and port are right";

/// A data dir where the full job failed last (its log recorded) and the
/// incremental one succeeded, as a restart finds it.
async fn app_after_runs(dir: &std::path::Path) -> App {
    let app = demo_app(dir).await;
    let ok = summary(FULL_JOB, RunStatus::Succeeded, 3_600, None);
    state::record_run(&app.data, &ok, &[LogLine::new(Level::Info, "earlier run")]).unwrap();
    let failed = summary(FULL_JOB, RunStatus::Failed, 60, Some(LONG_ERROR));
    let log: Vec<LogLine> = (1..=30)
        .map(|i| {
            LogLine::new(
                Level::Info,
                format!("Processing batch {i}/50 (1000 records)"),
            )
        })
        .chain([LogLine::new(
            Level::Error,
            "Sync failed: the target went away",
        )])
        .collect();
    state::record_run(&app.data, &failed, &log).unwrap();
    let cancelled = summary(
        INCR_JOB,
        RunStatus::Cancelled,
        120,
        Some("cancelled by the operator"),
    );
    state::record_run(&app.data, &cancelled, &[]).unwrap();
    // A new App reads the history as after a restart.
    let mut app = App::new(app.ws, app.ws_path, app.data, app.zone);
    app.on_key(key(KeyCode::Char('3')));
    app
}

#[tokio::test]
async fn footers_keep_help_and_quit_and_list_whole_keys() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    for tab in ['1', '2', '3'] {
        app.on_key(key(KeyCode::Char(tab)));
        for (w, h) in SIZES {
            let s = screen(&app, w, h);
            let footer = s.lines().last().unwrap();
            assert!(
                footer.contains("? help") && footer.contains("q quit"),
                "{w}x{h}:\n{s}"
            );
            assert_footer_whole(&s);
        }
    }
    // In a form and a confirmation, the way out is always there.
    app.on_key(key(KeyCode::Char('a')));
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        assert!(s.lines().last().unwrap().contains("Esc cancel"), "{s}");
        assert_footer_whole(&s);
    }
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Char('d')));
    assert_footers_keep(&app, "n/Esc/Enter no");
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Char('/')));
    assert_footers_keep(&app, "Enter/Esc prompt: keep / clear");

    // The past runs, a run's log and its find prompt.
    let mut app = app_after_runs(dir.path()).await;
    app.on_key(key(KeyCode::Char('h')));
    assert_footers_keep(&app, "Esc/q/h back");
    app.on_key(key(KeyCode::Enter));
    assert_footers_keep(&app, "Esc/q back to the runs");
    app.on_key(key(KeyCode::Char('/')));
    assert_footers_keep(&app, "Enter/Esc prompt: keep / clear");
}

/// At both sizes the footer lists whole keys and keeps `way_out`.
fn assert_footers_keep(app: &App, way_out: &str) {
    for (w, h) in SIZES {
        let s = screen(app, w, h);
        assert!(s.lines().last().unwrap().contains(way_out), "{w}x{h}:\n{s}");
        assert_footer_whole(&s);
    }
}

#[tokio::test]
async fn long_errors_wrap_whole_words_at_80x24_and_60x16() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    // The status line.
    app.message = Some((Level::Error, LONG_ERROR.to_string()));
    for (w, h) in SIZES {
        assert_whole(&screen(&app, w, h), LONG_ERROR);
    }
    app.message = None;
    // A form's error beside its field.
    app.on_key(key(KeyCode::Char('3')));
    app.on_key(key(KeyCode::Char('a')));
    for _ in 0..5 {
        app.on_key(key(KeyCode::Tab));
    }
    type_text(&mut app, "61 * * * *");
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        assert_whole(&s, "\"61 * * * *\" is not a valid cron expression:");
        assert!(s.contains("Minutes"), "the reason reads to its end:\n{s}");
    }
    // A failed job's error on the Jobs tab.
    app.on_key(key(KeyCode::Esc));
    let mut app = app_after_runs(dir.path()).await;
    app.message = None;
    let s = screen(&app, 80, 24);
    assert_whole(&s, LONG_ERROR);
    // At 60x16 it ends in `…` after a whole word (the log has all of it).
    let s = screen(&app, 60, 16);
    assert_whole(&s, "✗ network \"Analytics DB (Target)\" refused the");
    assert!(s.contains(" …"), "{s}");
}

#[tokio::test]
async fn last_runs_and_history_rows_fit_their_columns() {
    let dir = support::temp_dir();
    let mut app = app_after_runs(dir.path()).await;
    let newest = app.job_view(FULL_JOB).unwrap().history[0].summary.started;
    let when = app.zone.format(newest);
    let time = &when[11..19];
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        let row = s
            .lines()
            .skip_while(|l| !l.contains(" Last runs "))
            .find(|l| l.contains("✗ failed") && l.contains(time))
            .unwrap_or_else(|| panic!("a last-runs row at {w}x{h}:\n{s}"));
        // Every word of the row is a whole word of the full row.
        let full = words(&format!("{time} ✗ failed 12,000 ok 0m04s full │"));
        for word in words(row).into_iter().filter(|w| !w.starts_with('>')) {
            assert!(
                full.contains(&word),
                "cut \"{word}\" at {w}x{h}: {row}\n{s}"
            );
        }
        // Times keep their seconds.
        assert!(row.contains(time), "{row}");
    }
    // The past runs popup, and a long log line read to its end.
    app.on_key(key(KeyCode::Char('h')));
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        assert!(s.contains("✗ failed") && s.contains("✓ succeeded"), "{s}");
        for row in s
            .lines()
            .filter(|l| l.contains("failed") && l.contains("✗"))
        {
            for word in words(row) {
                assert!(
                    !word.ends_with(',') && word != "tot" && word != "fai",
                    "cut word \"{word}\" at {w}x{h}:\n{s}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_job_list_tells_each_jobs_story_after_a_restart() {
    let dir = support::temp_dir();
    let mut app = app_after_runs(dir.path()).await;
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        assert!(
            s.contains(&format!("✗ {FULL_JOB}")) || s.contains("✗ Sync Users to"),
            "{s}"
        );
        assert!(
            s.contains("⊘ Sync Users (Incr"),
            "every job shows its status:\n{s}"
        );
        assert!(
            s.contains("next 00:00:00") || s.contains(" 00:00:00 "),
            "next run, seconds kept:\n{s}"
        );
        // The selected failed job: its error and its last log, not `idle`.
        assert!(s.contains("failed · 24%"), "{s}");
        assert!(!s.contains("idle") && !s.contains("100%"), "{s}");
        assert_whole(&s, "[ERROR] Sync failed: the target went away");
    }
    let s = screen(&app, 80, 24);
    assert!(s.contains("Log of the last run"), "{s}");
    // The cancelled job says so too.
    app.on_key(key(KeyCode::Char('j')));
    let s = screen(&app, 80, 24);
    assert!(s.contains("⊘ cancelled by the operator"), "{s}");
    assert!(s.contains("⊘ last run cancelled"), "{s}");
}

/// The cell colour of the first `symbol` on the screen, drawn in colour.
fn colour_of(app: &App, symbol: &str) -> Option<Color> {
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| ui::draw(f, app, &Theme::colored())).unwrap();
    let buf = t.backend().buffer().clone();
    buf.content()
        .iter()
        .find(|c| c.symbol() == symbol)
        .map(|c| c.fg)
}

#[tokio::test]
async fn statuses_are_coloured_and_marked_by_a_symbol() {
    let dir = support::temp_dir();
    let mut app = app_after_runs(dir.path()).await;
    app.message = None;
    assert_eq!(colour_of(&app, "✗"), Some(Color::Red));
    assert_eq!(colour_of(&app, "⊘"), Some(Color::Yellow));
    app.on_key(key(KeyCode::Char('h')));
    app.on_key(key(KeyCode::Esc));
    // A succeeded run is green.
    let ok = summary(INCR_JOB, RunStatus::Succeeded, 5, None);
    app.on_engine(ProgressEvent::Finished(ok));
    assert_eq!(colour_of(&app, "✓"), Some(Color::Green));
    // Without colour (NO_COLOR), the symbols still tell the states apart.
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("✗ Sync Users to") && s.contains("✓ Sync Users (Incr"),
        "{s}"
    );

    // A connection test in progress is not a pass.
    app.on_key(key(KeyCode::Char('1')));
    app.on_key(key(KeyCode::Char('t')));
    let s = screen(&app, 80, 24);
    assert!(s.contains("… testing") && !s.contains("✓"), "{s}");
}

fn log_pane(s: &str) -> Vec<String> {
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.iter().position(|l| l.contains(" Log")).unwrap() + 1;
    let end = lines
        .iter()
        .position(|l| l.contains(" Last runs "))
        .unwrap();
    lines[start..end]
        .iter()
        .map(|l| {
            // The right pane, inside its border.
            let cells: Vec<char> = l.chars().collect();
            cells[31..cells.len() - 1]
                .iter()
                .collect::<String>()
                .trim()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn the_log_pane_never_scrolls_past_its_end() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.on_key(key(KeyCode::Char('3')));
    for i in 1..=60 {
        app.on_engine(ProgressEvent::Log {
            job: FULL_JOB.into(),
            line: LogLine::new(Level::Info, format!("line {i}")),
        });
    }
    let tail = log_pane(&screen(&app, 80, 24));
    assert_eq!(
        tail.last().map(String::as_str),
        Some("[INFO] line 60"),
        "{tail:?}"
    );
    // Home (and g) show the first lines; no blank rows anywhere.
    for top in [KeyCode::Home, KeyCode::Char('g')] {
        app.on_key(key(top));
        let pane = log_pane(&screen(&app, 80, 24));
        assert_eq!(pane[0], "[INFO] line 1", "{pane:?}");
        assert!(pane.iter().all(|l| !l.is_empty()), "{pane:?}");
    }
    // Paging down far past the end stops at the last line, then follows.
    for _ in 0..20 {
        app.on_key(key(KeyCode::PageDown));
        let pane = log_pane(&screen(&app, 80, 24));
        assert!(pane.iter().all(|l| !l.is_empty()), "{pane:?}");
    }
    assert_eq!(log_pane(&screen(&app, 80, 24)), tail);
    // Paging up far past the top shows the first line, never blank rows.
    for _ in 0..20 {
        app.on_key(key(KeyCode::PageUp));
    }
    let pane = log_pane(&screen(&app, 80, 24));
    assert_eq!(pane[0], "[INFO] line 1", "{pane:?}");
    // Ctrl-D moves half a page down, G follows the tail again.
    app.on_key(ctrl('d'));
    let half = log_pane(&screen(&app, 80, 24));
    assert_eq!(half[0], "[INFO] line 6", "{half:?}");
    app.on_key(ctrl('u'));
    assert_eq!(log_pane(&screen(&app, 80, 24))[0], "[INFO] line 1");
    app.on_key(key(KeyCode::Char('G')));
    assert_eq!(log_pane(&screen(&app, 80, 24)), tail);
}

#[tokio::test]
async fn end_and_pgdn_in_the_history_viewer_reach_the_last_line() {
    let dir = support::temp_dir();
    let mut app = app_after_runs(dir.path()).await;
    app.on_key(key(KeyCode::Char('h')));
    app.on_key(key(KeyCode::Enter));
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("batch 1/50") && !s.contains("Sync failed"),
        "{s}"
    );
    app.on_key(key(KeyCode::End));
    let s = screen(&app, 80, 24);
    assert!(s.contains("Sync failed: the target went away"), "{s}");
    assert!(!s.contains("batch 1/50 "), "{s}");
    for _ in 0..5 {
        app.on_key(key(KeyCode::PageDown));
    }
    let after = screen(&app, 80, 24);
    assert_eq!(after, s, "PgDn past the end changes nothing");
    // Up moves at once (the scroll did not run on past the end).
    app.on_key(key(KeyCode::Up));
    assert!(
        !screen(&app, 80, 24).contains("Sync failed"),
        "{}",
        screen(&app, 80, 24)
    );
    app.on_key(key(KeyCode::Home));
    assert!(screen(&app, 80, 24).contains("batch 1/50 "));
}

#[tokio::test]
async fn the_demo_opens_on_the_jobs_tab_with_a_hint() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.open_as_demo();
    assert_eq!(app.tab, Tab::Jobs);
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        assert!(
            s.contains("Press r to run the selected job, ? for keys"),
            "{s}"
        );
        assert!(s.contains("not run yet"), "{s}");
    }
    // The header names the workspace file and the schedules' zone.
    let s = screen(&app, 80, 24);
    assert!(
        s.lines().next().unwrap().contains("workspace.toml · UTC"),
        "{s}"
    );
    let s = screen(&app, 60, 16);
    assert!(s.lines().next().unwrap().contains("UTC"), "{s}");

    // The first moments of a run show `—`, not a rate of 0 and an ETA of 0.
    app.on_key(key(KeyCode::Char('r')));
    app.on_engine(ProgressEvent::Started {
        job: FULL_JOB.into(),
        total: 50_000,
        batches: 50,
    });
    let s = screen(&app, 80, 24);
    assert!(s.contains("— rec/s") && s.contains("ETA —"), "{s}");
    assert!(!s.contains("0 rec/s") && !s.contains("ETA 0m00s"), "{s}");
}

#[test]
fn demo_workspace_still_loads() {
    // The demo's comment changed with its opening tab; the file stays valid.
    let dir = support::temp_dir();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(demo_app(dir.path()));
    assert!(workspace::load(&app.ws_path).is_ok());
}

/// The demo's pace: its run moves for a few seconds, so the gauge, rate, ETA
/// and sparkline are seen part-way (the real SQLite run, not made-up events).
#[tokio::test]
async fn a_paced_demo_run_is_seen_moving() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.open_as_demo();
    let mut lp = Loop::new(&app);
    lp.bg.pace = Some(dsp::tui::DEMO_PACE);
    lp.press(&mut app, key(KeyCode::Char('r')));
    lp.until(&mut app, |a| {
        a.job_view(FULL_JOB)
            .is_some_and(|v| v.done >= 10_000 && v.done < v.total)
    })
    .await;
    app.sample();
    let s = screen(&app, 80, 24);
    assert!(s.contains("% · ") && s.contains(" / 50,000"), "{s}");
    assert!(
        s.contains(" rec/s · elapsed ") && s.contains(" · ETA "),
        "{s}"
    );
    assert!(!s.contains("— rec/s"), "a rate once rows moved:\n{s}");
    lp.until(&mut app, |a| {
        a.job_view(FULL_JOB).is_some_and(|v| !v.running)
    })
    .await;
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("✓ last run succeeded · 100% · 50,000 / 50,000"),
        "{s}"
    );
}

/// Masks the digits, so that the capture compares by layout and words, not by
/// today's date or the clock.
fn masked(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_digit() { '0' } else { c })
        .collect::<String>()
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// README shows the Jobs tab mid-run at 80x24. This test keeps it current:
/// when the screen changes, `DSP_WRITE_SCREEN=1 cargo test --test app
/// readme_shows` rewrites the capture in README.md.
#[tokio::test]
async fn readme_shows_the_jobs_tab_mid_run() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.open_as_demo();
    app.message = None;
    // Where `dsp demo` puts it, not this test's temp dir.
    app.ws_path = "/home/operator/.local/share/dsp/demo/workspace.toml".into();
    app.on_key(key(KeyCode::Char('r')));
    // Twelve seconds in, as a paced demo run would be.
    app.jobs.get_mut(FULL_JOB).unwrap().started =
        Some(std::time::Instant::now() - std::time::Duration::from_secs(12));
    app.on_engine(ProgressEvent::Started {
        job: FULL_JOB.into(),
        total: 50_000,
        batches: 50,
    });
    for (i, done) in (1..=31u64).map(|i| (i, i * 1_000)) {
        app.on_engine(ProgressEvent::Batch {
            job: FULL_JOB.into(),
            index: i,
            batches: 50,
            rows: 1000,
            done,
            failed: 0,
        });
        app.on_engine(ProgressEvent::Log {
            job: FULL_JOB.into(),
            line: LogLine::new(
                Level::Info,
                format!("Processing batch {i}/50 (1000 records)"),
            ),
        });
        // One sample a second, at an uneven rate, as a real run has.
        if [2, 5, 6, 9, 13, 15, 18, 22, 23, 27, 29, 31].contains(&i) {
            app.sample();
        }
    }
    let s = screen(&app, 80, 24);
    let s: String = s.lines().map(|l| format!("{}\n", l.trim_end())).collect();
    let readme_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let (begin, end) = (
        "<!-- screen:jobs -->\n```text\n",
        "```\n<!-- /screen:jobs -->",
    );
    let start = readme.find(begin).expect("README has the screen markers") + begin.len();
    let stop = readme[start..].find(end).expect("README closes the screen") + start;
    if std::env::var_os("DSP_WRITE_SCREEN").is_some() {
        let updated = format!("{}{s}{}", &readme[..start], &readme[stop..]);
        std::fs::write(&readme_path, updated).unwrap();
        return;
    }
    assert_eq!(
        masked(&readme[start..stop]),
        masked(&s),
        "README's screen is out of date; rerun with DSP_WRITE_SCREEN=1"
    );
}

#[tokio::test]
async fn forms_show_defaults_and_only_the_fields_that_apply() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.on_key(key(KeyCode::Char('3')));
    app.on_key(key(KeyCode::Char('a')));
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("Max delete %") && s.contains("(default 50)"),
        "{s}"
    );
    assert!(!s.contains("Lookback"), "a full job has no lookback:\n{s}");
    // Sync mode is the fifth field; → makes the job incremental.
    for _ in 0..4 {
        app.on_key(key(KeyCode::Tab));
    }
    app.on_key(key(KeyCode::Right));
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("‹ incremental ›") && s.contains("Lookback"),
        "{s}"
    );
    assert!(
        !s.contains("Max delete %") && !s.contains("Allow empty source"),
        "{s}"
    );
    // Tab skips the hidden fields: from Max failed rows straight to Lookback.
    for _ in 0..4 {
        app.on_key(key(KeyCode::Tab));
    }
    let s = screen(&app, 80, 24);
    assert!(s.contains("> Lookback"), "{s}");

    // A SQLite network has no host, user, password or SSL.
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Char('y')));
    app.on_key(key(KeyCode::Char('1')));
    app.on_key(key(KeyCode::Char('e')));
    let s = screen(&app, 80, 24);
    assert!(s.contains("‹ sqlite ›") && s.contains("Database"), "{s}");
    for hidden in ["Host", "Username", "Password", "SSL mode"] {
        assert!(!s.contains(hidden), "{hidden} shown for SQLite:\n{s}");
    }
}

/// An unchanged save writes nothing new: `mariadb` stays `mariadb` and no
/// `ssl_mode` appears where the file had none.
#[tokio::test]
async fn an_unchanged_save_keeps_the_file_byte_for_byte() {
    let dir = support::temp_dir();
    let path = dir.path().join("workspace.toml");
    let text = r#"# hand-written
[[network]]
name = "Shop"
type = "mariadb"   # the operator's word
host = "db.internal"
database = "shop"
username = "reader"
password_env = "SHOP_PW"

[[network]]
name = "Local"
type = "sqlite"
database = "local.db"
"#;
    std::fs::write(&path, text).unwrap();
    let ws = workspace::load(&path).unwrap();
    let mut app = App::new(
        ws,
        path.clone(),
        dsp::paths::DataDir::new(dir.path().join("data")),
        dsp::engine::schedule::Zone::Named {
            tz: chrono_tz::UTC,
            from: "test",
        },
    );
    app.on_key(key(KeyCode::Char('e')));
    app.on_key(ctrl('s'));
    assert!(app.popup.is_none(), "saved: {:?}", app.message);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

/// The header keeps who fires the schedules however long the workspace path:
/// the path is shortened in the middle (its file name kept) or gives way.
#[tokio::test]
async fn the_header_keeps_the_schedule_owner_beside_a_long_path() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.ws_path = "/srv/teams/data-platform/sync/production/eu-west/workspace.toml".into();
    app.on_msg(dsp::tui::app::Msg::Firing(dsp::engine::lease::Firing::Here));
    app.on_key(key(KeyCode::Char('3')));
    let header = |app: &App, w, h| screen(app, w, h).lines().next().unwrap().to_string();
    let top = header(&app, 80, 24);
    assert!(
        top.contains("schedules: this TUI · /srv…/workspace.toml · UTC"),
        "{top}"
    );
    assert!(header(&app, 60, 16).contains("schedules: this TUI · UTC"));
    // A run going takes room too: the path goes, the owner stays.
    app.on_key(key(KeyCode::Char('r')));
    let top = header(&app, 80, 24);
    assert!(
        top.contains("1 running · schedules: this TUI · UTC"),
        "{top}"
    );
    assert!(header(&app, 60, 16).contains("schedules: this TUI"));
}

const CHANGES: &str = "Changes: 50,000 inserted, 0 updated, 0 deleted, 0 unchanged";

/// End in the history viewer shows the last line even when the lines above
/// it wrap (as the demo's `Changes: … unchanged` line does at 80 columns), and
/// a long line reads to its end, at 80x24 and 60x16.
#[tokio::test]
async fn end_in_the_history_viewer_reaches_the_last_line_past_wrapped_ones() {
    let dir = support::temp_dir();
    let app = demo_app(dir.path()).await;
    let ok = summary(FULL_JOB, RunStatus::Succeeded, 60, None);
    let log: Vec<LogLine> = (1..=50)
        .map(|i| {
            LogLine::new(
                Level::Info,
                format!("Processing batch {i}/50 (1000 records)"),
            )
        })
        .chain((0..4).map(|_| LogLine::new(Level::Info, CHANGES)))
        .chain([LogLine::new(
            Level::Info,
            "Sync completed. Total: 50,000, Success: 50,000, Failed: 0",
        )])
        .collect();
    state::record_run(&app.data, &ok, &log).unwrap();
    for (w, h) in SIZES {
        let mut app = App::new(
            app.ws.clone(),
            app.ws_path.clone(),
            app.data.clone(),
            app.zone.clone(),
        );
        (app.screen_cols, app.screen_rows) = (w, h);
        for k in ['3', 'h'] {
            app.on_key(key(KeyCode::Char(k)));
        }
        app.on_key(key(KeyCode::Enter));
        app.on_key(key(KeyCode::End));
        let s = screen(&app, w, h);
        assert_whole(
            &s,
            "Sync completed. Total: 50,000, Success: 50,000, Failed: 0",
        );
        assert_whole(&s, CHANGES);
        // PgDn past the end changes nothing; one line up moves at once.
        app.on_key(key(KeyCode::PageDown));
        assert_eq!(screen(&app, w, h), s, "{w}x{h}");
        app.on_key(key(KeyCode::Up));
        assert_ne!(screen(&app, w, h), s, "{w}x{h}");
    }
}
