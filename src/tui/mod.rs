//! The terminal UI of SPEC §6, a client of the engine.
//!
//! One `select!` loop takes terminal keys, engine events and the results of
//! background work; database work only ever runs in spawned tasks. A redraw
//! timer is armed only while a job runs, so an idle screen costs no CPU.

pub mod action;
pub mod app;
pub mod form;
pub mod keymap;
pub mod theme;
pub mod ui;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::engine::progress::{ProgressEvent, Reporter};
use crate::engine::schedule::Zone;
use crate::engine::scheduler::{Scheduler, SystemClock, engine_runner};
use crate::paths::DataDir;
use crate::workspace::Workspace;
use app::{App, Effect, Msg};

/// How often the screen is redrawn while jobs run.
const FRAME: Duration = Duration::from_millis(100);
/// How long quitting waits for cancelled runs to roll back.
const QUIT_GRACE: Duration = Duration::from_secs(10);

/// Starts background work for the app and routes its results back.
pub struct Background {
    pub events: mpsc::UnboundedSender<ProgressEvent>,
    pub msgs: mpsc::UnboundedSender<Msg>,
    pub workspace: watch::Sender<Arc<Workspace>>,
}

impl Background {
    pub fn execute(&self, app: &mut App, effect: Effect) {
        match effect {
            Effect::RunJob(job) => {
                let cancel = CancellationToken::new();
                app.set_cancel(&job, cancel.clone());
                let ws = Arc::new(app.ws.clone());
                let data = app.data.clone();
                let reporter = Reporter::new(job.clone(), self.events.clone());
                tokio::spawn(async move {
                    crate::engine::runner::run_job(&ws, &job, &data, cancel, reporter).await;
                });
            }
            Effect::TestConnection(name) => {
                let ws = app.ws.clone();
                let tx = self.msgs.clone();
                tokio::spawn(async move {
                    let result = match ws.network(&name) {
                        Some(n) => crate::engine::db::test_connection(&ws, n).await,
                        None => Err(format!("network \"{name}\" no longer exists")),
                    };
                    let _ = tx.send(Msg::Tested {
                        network: name,
                        result,
                    });
                });
            }
            Effect::Introspect { network, table } => {
                let ws = app.ws.clone();
                let tx = self.msgs.clone();
                tokio::spawn(async move {
                    let result = match ws.network(&network) {
                        Some(n) => crate::engine::db::introspect_columns(&ws, n, &table).await,
                        None => Err(format!("network \"{network}\" no longer exists")),
                    };
                    let _ = tx.send(Msg::Introspected(result));
                });
            }
            Effect::WorkspaceSaved => {
                let _ = self.workspace.send(Arc::new(app.ws.clone()));
            }
        }
    }
}

/// Opens the UI on `ws` until the user quits. Returns the exit status.
pub async fn run(ws: Workspace, data: DataDir) -> u8 {
    let ws_path = ws.path.clone().unwrap_or_else(|| "workspace.toml".into());
    let (zone, zone_warning) = match Zone::from_env() {
        Ok(z) => (z, None),
        Err(e) => (Zone::Local, Some(e)),
    };
    let mut app = App::new(ws, ws_path, data.clone(), zone.clone());
    if let Some(w) = zone_warning {
        app.message = Some((
            crate::engine::progress::Level::Warn,
            format!("{w}; schedules use local time"),
        ));
    }

    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (msg_tx, msg_rx) = mpsc::unbounded_channel();
    let (ws_tx, ws_rx) = watch::channel(Arc::new(app.ws.clone()));
    let shutdown = CancellationToken::new();
    let scheduler = tokio::spawn(
        Scheduler {
            workspace: ws_rx,
            run: engine_runner(data),
            clock: Arc::new(SystemClock),
            zone,
            events: ev_tx.clone(),
            grace: QUIT_GRACE,
        }
        .run(shutdown.clone()),
    );
    let bg = Background {
        events: ev_tx,
        msgs: msg_tx,
        workspace: ws_tx,
    };

    let mut terminal = ratatui::init();
    let theme = theme::Theme::from_env();
    let result = event_loop(&mut terminal, &mut app, &bg, ev_rx, msg_rx, &theme).await;
    shutdown.cancel();
    ratatui::restore();
    let _ = tokio::time::timeout(QUIT_GRACE, scheduler).await;
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: the terminal failed: {e}");
            1
        }
    }
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    bg: &Background,
    mut events: mpsc::UnboundedReceiver<ProgressEvent>,
    mut msgs: mpsc::UnboundedReceiver<Msg>,
    theme: &theme::Theme,
) -> std::io::Result<()> {
    let mut input = EventStream::new();
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_sample = Instant::now();
    let mut quit_deadline: Option<Instant> = None;
    let mut dirty = true;
    loop {
        if dirty {
            draw(terminal, app, theme)?;
            dirty = false;
        }
        if app.quitting {
            let deadline = *quit_deadline.get_or_insert_with(|| Instant::now() + QUIT_GRACE);
            if app.running() == 0 || Instant::now() >= deadline {
                return Ok(());
            }
        }
        let animate = app.running() > 0 || app.quitting;
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => {
                    for effect in app.on_key(key) {
                        bg.execute(app, effect);
                    }
                    dirty = true;
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            Some(ev) = events.recv() => {
                app.on_engine(ev);
                // Take everything already queued before drawing once.
                while let Ok(ev) = events.try_recv() {
                    app.on_engine(ev);
                }
                // While jobs run the frame timer draws; otherwise draw now.
                dirty = app.running() == 0;
            }
            Some(msg) = msgs.recv() => {
                app.on_msg(msg);
                dirty = true;
            }
            _ = frame.tick(), if animate => {
                if last_sample.elapsed() >= Duration::from_secs(1) {
                    last_sample = Instant::now();
                    app.sample();
                }
                dirty = true;
            }
        }
    }
}

/// One frame inside a synchronized update, so tmux and SSH never show half of it.
fn draw(terminal: &mut DefaultTerminal, app: &App, theme: &theme::Theme) -> std::io::Result<()> {
    use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
    crossterm::queue!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
    terminal.draw(|f| ui::draw(f, app, theme))?;
    crossterm::queue!(terminal.backend_mut(), EndSynchronizedUpdate)?;
    terminal.backend_mut().flush()
}
