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

/// How often the screen is redrawn while jobs run.
const FRAME: Duration = Duration::from_millis(100);
/// How long quitting waits for cancelled runs to roll back.
pub(super) const QUIT_GRACE: Duration = Duration::from_secs(10);

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
            Effect::PreviewJob(job) => {
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
                    let _ = tx.send(Msg::Previewed(p));
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

pub(super) async fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    bg: &Background,
    mut events: mpsc::UnboundedReceiver<ProgressEvent>,
    mut msgs: mpsc::UnboundedReceiver<Msg>,
    theme: &Theme,
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
