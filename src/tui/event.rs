//! The event loop: one `select!` over terminal keys, engine events and the
//! results of background work; database work only ever runs in spawned tasks.
//! A redraw timer is armed only while a job runs, so an idle screen costs no CPU.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::app::{App, Effect, Msg};
use super::terminal::draw;
use super::theme::Theme;
use crate::engine::progress::{ProgressEvent, Reporter};
use crate::workspace::Workspace;

/// Cancels every run and takes the engine's events until they have all
/// finished (and so written their history as cancelled), or `QUIT_GRACE` passes.
pub(super) async fn stop_runs(app: &mut App, events: &mut mpsc::UnboundedReceiver<ProgressEvent>) {
    app.cancel_all();
    let deadline = tokio::time::Instant::now() + QUIT_GRACE;
    while app.running() > 0 {
        tokio::select! {
            Some(ev) = events.recv() => app.on_engine(ev),
            _ = tokio::time::sleep_until(deadline) => return,
        }
    }
}

/// How often the screen is redrawn while jobs run.
const FRAME: Duration = Duration::from_millis(100);
/// How long quitting waits for cancelled runs to roll back.
pub(super) const QUIT_GRACE: Duration = Duration::from_secs(10);

/// Starts background work for the app and routes its results back.
pub struct Background {
    pub events: mpsc::UnboundedSender<ProgressEvent>,
    pub msgs: mpsc::UnboundedSender<Msg>,
    pub workspace: watch::Sender<Arc<Workspace>>,
    /// The pause after each batch of a Run Now (the demo's, so a newcomer
    /// sees the gauge, rate and ETA move); `None` runs at full speed.
    pub pace: Option<Duration>,
}

impl Background {
    pub fn execute(&self, app: &mut App, effect: Effect) {
        match effect {
            Effect::RunJob(job) => {
                let cancel = CancellationToken::new();
                app.set_cancel(&job, cancel.clone());
                let ws = Arc::new(app.ws.clone());
                let data = app.data.clone();
                let mut reporter = Reporter::new(job.clone(), self.events.clone());
                if let Some(pause) = self.pace {
                    reporter = reporter.paced(pause);
                }
                tokio::spawn(async move {
                    crate::engine::runner::run_job(&ws, &job, &data, cancel, reporter).await;
                });
            }
            Effect::VerifyJob { job, epoch } => {
                let ws = app.ws.clone();
                let data = app.data.clone();
                let tx = self.msgs.clone();
                tokio::spawn(async move {
                    let cancel = CancellationToken::new();
                    let v = crate::engine::verify::verify_job(&ws, &job, &data, &cancel).await;
                    let _ = tx.send(Msg::Verified(epoch, Box::new(v)));
                });
            }
            Effect::PreviewJob { job, epoch } => {
                let ws = Arc::new(app.ws.clone());
                let data = app.data.clone();
                let tx = self.msgs.clone();
                tokio::spawn(async move {
                    // The result shows in the pane; its log lines go nowhere.
                    let (sink, _) = mpsc::unbounded_channel();
                    let reporter = Reporter::new(job.clone(), sink);
                    let cancel = CancellationToken::new();
                    let p = crate::engine::runner::preview_job(&ws, &job, &data, cancel, reporter)
                        .await;
                    let _ = tx.send(Msg::Previewed(epoch, p));
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
                    let _ = tx.send(Msg::Introspected {
                        network,
                        table,
                        result,
                    });
                });
            }
            Effect::WorkspaceSaved => {
                let _ = self.workspace.send(Arc::new(app.ws.clone()));
            }
        }
    }
}

/// How the loop ended.
#[derive(Debug, PartialEq)]
pub(super) enum Ended {
    /// The operator quit.
    Quit,
    /// SIGHUP or SIGTERM: the terminal may be gone, runs were cancelled.
    Signal(&'static str),
}

pub(super) async fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    bg: &Background,
    events: &mut mpsc::UnboundedReceiver<ProgressEvent>,
    mut msgs: mpsc::UnboundedReceiver<Msg>,
    theme: &Theme,
) -> std::io::Result<Ended> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut input = EventStream::new();
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_sample = Instant::now();
    let mut quit_deadline: Option<Instant> = None;
    let mut dirty = true;
    // The workspace file is looked at once a second (see app/watch.rs).
    let mut file_tick = tokio::time::interval(Duration::from_secs(1));
    file_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    if let Ok(size) = terminal.size() {
        (app.screen_cols, app.screen_rows) = (size.width, size.height);
    }
    loop {
        if dirty {
            draw(terminal, app, theme)?;
            dirty = false;
        }
        if app.quitting {
            let deadline = *quit_deadline.get_or_insert_with(|| Instant::now() + QUIT_GRACE);
            if app.running() == 0 || Instant::now() >= deadline {
                return Ok(Ended::Quit);
            }
        }
        let animate = app.animating() || app.quitting;
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => {
                    for effect in app.on_key(key) {
                        bg.execute(app, effect);
                    }
                    dirty = true;
                }
                Some(Ok(Event::Resize(cols, rows))) => {
                    (app.screen_cols, app.screen_rows) = (cols, rows);
                    dirty = true;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(Ended::Quit),
            },
            // The SSH session ended or the service manager stops DSP: the
            // caller cancels the runs and waits for their history.
            _ = hangup.recv() => return Ok(Ended::Signal("SIGHUP")),
            _ = terminate.recv() => return Ok(Ended::Signal("SIGTERM")),
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
            _ = file_tick.tick() => {
                if let Some(effects) = app.check_file() {
                    for effect in effects {
                        bg.execute(app, effect);
                    }
                    dirty = true;
                }
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
