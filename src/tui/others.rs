//! The background side of one view with the other DSP processes: this TUI
//! keeps trying to hold the schedule lease (a `dsp daemon` has it first), and
//! looks at the other processes' run status files, sending the app a message
//! only when something changed (an idle screen stays idle).

use std::path::PathBuf;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::app::{LOOK_EVERY, Msg};
use crate::engine::lease::{self, Firing};
use crate::engine::live_status;
use crate::paths::DataDir;

/// Starts the lease keeper and the watcher; returns what the scheduler asks
/// before each fire: does this TUI fire the schedules?
pub(super) fn spawn(
    data: DataDir,
    workspace: PathBuf,
    msgs: mpsc::UnboundedSender<Msg>,
    shutdown: CancellationToken,
) -> (
    impl Fn() -> bool + Send + 'static,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = watch::channel(None);
    let keeper = tokio::spawn(lease::keep(
        data.clone(),
        workspace,
        lease::Kind::Tui,
        tx,
        shutdown.clone(),
    ));
    tokio::spawn(forward_firing(rx.clone(), msgs.clone()));
    tokio::spawn(watch_runs(data, msgs, shutdown));
    let firing = move || matches!(*rx.borrow(), Some(Firing::Here));
    (firing, keeper)
}

async fn forward_firing(mut rx: watch::Receiver<Option<Firing>>, msgs: mpsc::UnboundedSender<Msg>) {
    while rx.changed().await.is_ok() {
        let now = rx.borrow_and_update().clone();
        if let Some(f) = now
            && msgs.send(Msg::Firing(f)).is_err()
        {
            return;
        }
    }
}

/// Every `LOOK_EVERY`: the runs of other processes (this one's own runs come
/// through its events).
async fn watch_runs(data: DataDir, msgs: mpsc::UnboundedSender<Msg>, shutdown: CancellationToken) {
    let me = std::process::id();
    let mut seen = Vec::new();
    let mut tick = tokio::time::interval(LOOK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let d = data.clone();
        let Ok(now) = tokio::task::spawn_blocking(move || live_status::running(&d)).await else {
            return;
        };
        let now: Vec<_> = now.into_iter().filter(|s| s.pid != me).collect();
        if now != seen {
            seen = now.clone();
            if msgs.send(Msg::Live(now)).is_err() {
                return;
            }
        }
    }
}
