//! `dsp daemon`: runs the scheduler headless until SIGINT or SIGTERM, printing
//! each run's log lines with a time and the job's name (or, with `--json`, one
//! JSON object per event), and following edits of the workspace file without a
//! restart.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::engine::lease;
use crate::engine::progress::Level;
use crate::engine::schedule::Zone;
use crate::engine::scheduler::{Scheduler, SystemClock, engine_runner};
use crate::paths::Paths;
use crate::report::{self, Output};
use crate::workspace::{self, Workspace};

use super::{EXIT_OK, EXIT_USAGE};

/// How often the workspace file is looked at for edits.
const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// How long a shutdown waits for cancelled runs to roll back.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub async fn run(paths: &Paths, json: bool) -> u8 {
    let Ok(ws) = super::load_workspace(paths, false) else {
        return EXIT_USAGE;
    };
    let zone = match Zone::from_env() {
        Ok(z) => z,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let output = Output::detect(json, true);
    let say = |text: &str| report::say(output, Level::Info, text);
    let scheduled = ws.jobs.iter().filter(|j| j.schedule.is_some()).count();
    say(&format!(
        "dsp daemon: {} ({scheduled} scheduled job{}), schedules in {}; stop with Ctrl-C or SIGTERM",
        paths.workspace.display(),
        if scheduled == 1 { "" } else { "s" },
        zone.describe()
    ));
    let now = chrono::Utc::now();
    for job in &ws.jobs {
        if let Some(next) = crate::engine::schedule::next_run(job, &zone, now) {
            say(&format!(
                "job \"{}\": next run {}",
                job.name,
                zone.format(next)
            ));
        }
    }

    let (ws_tx, ws_rx) = watch::channel(Arc::new(ws));
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let scheduler = Scheduler {
        workspace: ws_rx,
        run: engine_runner(paths.data()),
        clock: Arc::new(SystemClock),
        zone,
        events: ev_tx,
        grace: SHUTDOWN_GRACE,
    };
    let printer = tokio::spawn(report::print_events(ev_rx, output));
    let reloader = tokio::spawn(reload_on_change(paths.workspace.clone(), ws_tx, output));
    let (firing_tx, firing) = watch::channel(None);
    let lease = tokio::spawn(lease::keep(
        paths.data(),
        paths.workspace.clone(),
        lease::Kind::Daemon,
        firing_tx,
        shutdown.clone(),
    ));
    let teller = tokio::spawn(tell_who_fires(firing.clone(), output));
    let sched = tokio::spawn(scheduler.run_while(shutdown.clone(), move || {
        matches!(*firing.borrow(), Some(lease::Firing::Here))
    }));

    super::interrupted().await;
    say(
        "dsp daemon: stopping; cancelling running jobs (their targets keep their last consistent state)",
    );
    shutdown.cancel();
    reloader.abort();
    teller.abort();
    let _ = sched.await;
    let _ = lease.await;
    // The scheduler owned the last event sender; the printer drains and ends.
    let _ = printer.await;
    say("dsp daemon: stopped");
    EXIT_OK
}

/// Says when this daemon starts or stops firing the schedules: another daemon
/// may hold them, and a TUI holding them lets go within seconds.
async fn tell_who_fires(mut firing: watch::Receiver<Option<lease::Firing>>, output: Output) {
    while firing.changed().await.is_ok() {
        let now = firing.borrow_and_update().clone();
        let text = match now {
            Some(lease::Firing::Here) => "dsp daemon: this daemon fires the schedules".to_string(),
            Some(lease::Firing::Elsewhere(Some(h))) if h.kind == lease::Kind::Tui => format!(
                "dsp daemon: the DSP TUI (pid {}) fires the schedules; asked it to hand them over",
                h.pid
            ),
            Some(lease::Firing::Elsewhere(Some(h))) => format!(
                "dsp daemon: another dsp daemon (pid {} on {}) fires the schedules; this one waits to take over",
                h.pid, h.host
            ),
            Some(lease::Firing::Elsewhere(None)) => {
                "dsp daemon: another DSP process fires the schedules; this one waits to take over"
                    .to_string()
            }
            None => continue,
        };
        report::say(output, Level::Info, &text);
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Polls the file's modification time; a valid edit replaces the workspace the
/// scheduler sees, a broken one keeps the last good workspace and says why.
async fn reload_on_change(
    path: std::path::PathBuf,
    tx: watch::Sender<Arc<Workspace>>,
    output: Output,
) {
    let say = |level, text: &str| report::say(output, level, text);
    let mut seen = modified(&path);
    loop {
        tokio::time::sleep(RELOAD_EVERY).await;
        let now = modified(&path);
        if now == seen {
            continue;
        }
        seen = now;
        match workspace::load(&path) {
            Ok(ws) => {
                say(
                    Level::Info,
                    &format!("workspace {} changed; schedules reloaded", path.display()),
                );
                let _ = tx.send(Arc::new(ws));
            }
            Err(e) => {
                say(
                    Level::Warn,
                    &format!(
                        "workspace {} changed but is invalid; keeping the previous one:",
                        path.display()
                    ),
                );
                for d in &e.diagnostics {
                    say(Level::Warn, &format!("  {d}"));
                }
            }
        }
    }
}
