//! The terminal UI, a client of the engine: the app's state and how keys and
//! engine events change it (`app`), what keys mean (`keymap`, `action`), pure
//! rendering (`ui`), and the event loop that ties them to the terminal.

pub mod action;
pub mod app;
mod event;
pub mod form;
pub mod keymap;
mod others;
mod terminal;
pub mod theme;
pub mod ui;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::engine::schedule::Zone;
use crate::engine::scheduler::{RunFn, Scheduler, SystemClock, engine_runner};
use crate::paths::DataDir;
use crate::workspace::Workspace;
use app::App;
pub use event::Background;
use event::{Ended, QUIT_GRACE, event_loop, stop_runs};
use std::io::Write;

/// The pause after each batch of a demo run: its 50 batches of 1,000 rows
/// take about 5 seconds, long enough to watch the gauge, rate and ETA move.
pub const DEMO_PACE: std::time::Duration = std::time::Duration::from_millis(100);

/// Opens the UI on `ws` until the user quits. Returns the exit status. The
/// demo opens on the Jobs tab with a hint, and paces its runs.
pub async fn run(ws: Workspace, data: DataDir, demo: bool) -> u8 {
    let ws_path = ws.path.clone().unwrap_or_else(|| "workspace.toml".into());
    let (zone, zone_warning) = match Zone::from_env() {
        Ok(z) => (z, None),
        Err(e) => (Zone::Local, Some(e)),
    };
    let mut app = App::new(ws, ws_path, data.clone(), zone.clone());
    if demo {
        app.open_as_demo();
    }
    if let Some(w) = zone_warning {
        app.message = Some((
            crate::engine::progress::Level::Warn,
            format!("{w}; schedules use local time"),
        ));
    }

    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let (msg_tx, msg_rx) = mpsc::unbounded_channel();
    let (ws_tx, ws_rx) = watch::channel(Arc::new(app.ws.clone()));
    let shutdown = CancellationToken::new();
    // A `dsp daemon` on this workspace fires its schedules instead of this TUI.
    let (firing, lease) = others::spawn(
        data.clone(),
        app.ws_path.clone(),
        msg_tx.clone(),
        shutdown.clone(),
    );
    let scheduler = tokio::spawn(
        Scheduler {
            workspace: ws_rx,
            run: cancellable_here(engine_runner(data), msg_tx.clone()),
            clock: Arc::new(SystemClock),
            zone,
            events: ev_tx.clone(),
            grace: QUIT_GRACE,
        }
        .run_while(shutdown.clone(), firing),
    );
    let bg = Background {
        events: ev_tx,
        msgs: msg_tx,
        workspace: ws_tx,
        pace: demo.then_some(DEMO_PACE),
    };

    let mut terminal = ratatui::init();
    let theme = theme::Theme::from_env();
    let result = event_loop(&mut terminal, &mut app, &bg, &mut ev_rx, msg_rx, &theme).await;
    // Whatever ended the loop, no run is left writing: each is cancelled and
    // waited for, so its history says it was cancelled.
    stop_runs(&mut app, &mut ev_rx).await;
    shutdown.cancel();
    // After a hangup the terminal is gone; restoring it may fail, and that is fine.
    let _ = ratatui::try_restore();
    let _ = tokio::time::timeout(QUIT_GRACE, scheduler).await;
    // Let go of the lease now, so a daemon need not wait for it.
    let _ = lease.await;
    match result {
        Ok(Ended::Quit) => 0,
        Ok(Ended::Signal(name)) => {
            let _ = writeln!(
                std::io::stderr(),
                "{name}: cancelled the running jobs and quit"
            );
            0
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: the terminal failed: {e}");
            1
        }
    }
}

/// The scheduler's runs, with each run's cancel token handed to the app, so
/// that `c` stops a scheduled run as it stops a Run Now.
fn cancellable_here(run: RunFn, msgs: mpsc::UnboundedSender<app::Msg>) -> RunFn {
    Arc::new(move |ws, job, cancel, reporter| {
        let _ = msgs.send(app::Msg::Scheduled {
            job: job.clone(),
            cancel: cancel.clone(),
        });
        run(ws, job, cancel, reporter)
    })
}
