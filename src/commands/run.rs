//! `dsp run JOB...`: runs jobs headless, in order,
//! printing their log lines to stdout (prefixed with the UTC time when
//! `DSP_LOG_TIME` is set); SIGINT/SIGTERM cancel the running job cleanly.
//! Exit status: 0 all succeeded, 1 a job failed or was cancelled, 2 the
//! workspace or a job name is wrong (nothing was run). `--dry-run` previews
//! the runs instead, writing nothing, with the same exit status.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::engine::preview::Preview;
use crate::engine::progress::{Reporter, RunStatus};
use crate::engine::runner::{preview_job, run_job};
use crate::paths::Paths;
use crate::report::{self, Style};
use crate::workspace::Workspace;

use super::{EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE};

pub async fn run(paths: &Paths, jobs: &[String]) -> u8 {
    let Some(ws) = workspace_with(paths, jobs) else {
        return EXIT_USAGE;
    };
    let data = paths.data();
    let cancel = CancellationToken::new();
    let signals = tokio::spawn(cancel_on_signal(cancel.clone()));
    let style = Style {
        time: std::env::var_os("DSP_LOG_TIME").is_some(),
        job: false,
    };
    let mut code = EXIT_OK;
    for name in jobs {
        if cancel.is_cancelled() {
            eprintln!("error: job \"{name}\" was not started: the run was interrupted");
            code = EXIT_RUN_FAILED;
            continue;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let printer = tokio::spawn(report::print_events(rx, style));
        let summary = run_job(&ws, name, &data, cancel.clone(), Reporter::new(name, tx)).await;
        let _ = printer.await;
        if summary.status != RunStatus::Succeeded {
            code = EXIT_RUN_FAILED;
            let why = summary.error.as_deref().unwrap_or("no reason given");
            eprintln!("error: job \"{name}\" {}: {why}", summary.status.as_str());
        }
    }
    signals.abort();
    code
}

/// The workspace, once it loads and names every job in `jobs` (checked
/// before the first job touches a database); `None` after saying why.
fn workspace_with(paths: &Paths, jobs: &[String]) -> Option<Workspace> {
    let ws = super::load_workspace(paths, true).ok()?;
    let unknown: Vec<&String> = jobs.iter().filter(|j| ws.job(j).is_none()).collect();
    for j in &unknown {
        eprintln!(
            "error: there is no job named \"{j}\" in {}; `dsp check` lists the workspace",
            paths.workspace.display()
        );
    }
    unknown.is_empty().then_some(ws)
}

/// `dsp run --dry-run JOB...`: each job's preview, as its log lines or (with
/// `json`) one JSON object per job, one a line. Exit status as `dsp run`: a
/// job whose run would fail (a guard, an error) makes it 1.
pub async fn dry_run(paths: &Paths, jobs: &[String], json: bool) -> u8 {
    let Some(ws) = workspace_with(paths, jobs) else {
        return EXIT_USAGE;
    };
    let data = paths.data();
    let cancel = CancellationToken::new();
    let signals = tokio::spawn(cancel_on_signal(cancel.clone()));
    let style = Style {
        time: std::env::var_os("DSP_LOG_TIME").is_some(),
        job: false,
    };
    let mut code = EXIT_OK;
    for name in jobs {
        let (tx, rx) = mpsc::unbounded_channel();
        // The JSON form prints the object alone; the log is dropped.
        let printer = (!json).then(|| tokio::spawn(report::print_events(rx, style)));
        let preview = preview_job(&ws, name, &data, cancel.clone(), Reporter::new(name, tx)).await;
        if let Some(p) = printer {
            let _ = p.await;
        }
        if json {
            println!("{}", preview_json(&preview));
        }
        if !preview.would_succeed() {
            code = EXIT_RUN_FAILED;
            let why = preview.error.as_deref().unwrap_or("no reason given");
            eprintln!("error: job \"{name}\" would not run through: {why}");
        }
    }
    signals.abort();
    code
}

/// A preview as one JSON object for scripts.
fn preview_json(p: &Preview) -> String {
    let c = p.changes;
    let status = match p.status {
        Some(RunStatus::Succeeded) => "ok",
        Some(RunStatus::Cancelled) => "cancelled",
        _ => "failed",
    };
    serde_json::json!({
        "job": p.job,
        "mode": p.mode.as_str(),
        "status": status,
        "error": p.error,
        "create_target": p.create_target,
        "read": p.read,
        "failed": p.failed,
        "insert": c.map(|c| c.inserted),
        "update": c.map(|c| c.updated),
        "delete": c.map(|c| c.deleted),
        "unchanged": c.map(|c| c.unchanged),
        "first_keys": {
            "insert": p.first.insert,
            "update": p.first.update,
            "delete": p.first.delete,
        },
    })
    .to_string()
}

/// Cancels the running job on SIGINT or SIGTERM.
async fn cancel_on_signal(cancel: CancellationToken) {
    super::interrupted().await;
    eprintln!("dsp: interrupted; cancelling the running job and rolling back");
    cancel.cancel();
}
