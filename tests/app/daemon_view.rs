//! The TUI's side of one view with the daemon (issue 17 #4), without a
//! terminal: the header names the process that fires the schedules, another
//! process's run shows live in the job pane from its status, `c` leaves a
//! cancel request for it, and its end shows the result from the history.

use chrono::Utc;
use crossterm::event::KeyCode;
use dsp::engine::lease::{Firing, Holder, Kind};
use dsp::engine::live_status::{LiveLine, LiveStatus};
use dsp::engine::progress::{Level, LogLine, RunStatus, RunSummary};
use dsp::engine::state;
use dsp::tui::app::Msg;
use dsp::workspace::SyncMode;

use crate::support;
use crate::tui::{demo_app, key, screen};

const JOB: &str = "Sync Users to Analytics";

fn daemons_run(done: u64) -> LiveStatus {
    let now = Utc::now();
    LiveStatus {
        job: JOB.into(),
        pid: 4242,
        host: "elsewhere".into(),
        status: "running".into(),
        trigger: "schedule".into(),
        started: now - chrono::Duration::seconds(4),
        total: Some(50_000),
        done,
        failed: 0,
        rate: 6_000,
        log: [LiveLine {
            at: now,
            level: "INFO".into(),
            message: format!("Starting sync job: {JOB}"),
        }]
        .into(),
        updated: now,
        cancelling: false,
    }
}

#[tokio::test]
async fn the_daemons_run_shows_live_and_c_asks_the_daemon_to_cancel_it() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.open_as_demo();
    let now = Utc::now();
    app.on_msg(Msg::Firing(Firing::Elsewhere(Some(Holder {
        pid: 4242,
        host: "elsewhere".into(),
        kind: Kind::Daemon,
        started: now,
        heartbeat: now,
    }))));
    let s = screen(&app, 80, 24);
    assert!(s.contains("schedules: dsp daemon (pid 4242)"), "{s}");

    app.on_msg(Msg::Live(vec![daemons_run(25_000)]));
    let s = screen(&app, 80, 24);
    assert!(s.contains("50% · 25,000 / 50,000"), "{s}");
    assert!(s.contains("run by pid 4242"), "{s}");
    assert!(s.contains("[INFO] Starting sync job"), "{s}");
    // Not this TUI's run: quitting does not wait for it.
    assert_eq!(app.running(), 0);

    app.on_key(key(KeyCode::Char('c')));
    let s = screen(&app, 80, 24);
    assert!(s.contains("cancel requested…"), "{s}");
    let live = dir.path().join("data").join("live");
    let requests: Vec<_> = std::fs::read_dir(&live)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cancel"))
        .collect();
    assert_eq!(
        requests.len(),
        1,
        "one cancel request in {}",
        live.display()
    );

    // The daemon records the cancelled run and removes its status.
    let data = dsp::paths::DataDir::new(dir.path().join("data"));
    let summary = RunSummary {
        job: JOB.into(),
        mode: SyncMode::Full,
        status: RunStatus::Cancelled,
        started: now,
        ended: now + chrono::Duration::seconds(5),
        total: 50_000,
        success: 0,
        failed: 0,
        error: Some("cancelled by the operator".into()),
        changes: None,
    };
    let log = [LogLine::new(Level::Warn, "Sync cancelled")];
    state::record_run(&data, &summary, &log).unwrap();
    app.on_msg(Msg::Live(Vec::new()));
    let s = screen(&app, 80, 24);
    assert!(!s.contains("run by pid"), "{s}");
    assert!(s.contains("cancelled"), "{s}");
    assert!(s.contains("Sync cancelled"), "{s}");
}

#[tokio::test]
async fn the_header_says_when_this_tui_fires_the_schedules() {
    let dir = support::temp_dir();
    let mut app = demo_app(dir.path()).await;
    app.on_msg(Msg::Firing(Firing::Here));
    let s = screen(&app, 120, 24);
    assert!(s.contains("schedules: this TUI"), "{s}");
}
