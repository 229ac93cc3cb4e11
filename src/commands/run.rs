//! `dsp run JOB...` / `dsp run --all`: runs jobs headless, in order, printing
//! their log lines to stdout (see `report::Output` for the forms: the seed's
//! lines on a terminal, prefixed by time and job elsewhere, JSON Lines with
//! `--json`); SIGINT/SIGTERM cancel the running job cleanly.
//! Exit status: 0 all succeeded, 1 a job failed or was cancelled, 2 the
//! workspace or a job name is wrong (nothing was run). `--dry-run` previews
//! the runs instead, writing nothing, with the same exit status.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::engine::preview::Preview;
use crate::engine::progress::{Reporter, RunStatus, Trigger};
use crate::engine::runner::{RunOptions, preview_job, run_job_with};
use crate::paths::Paths;
use crate::report::{self, Output};
use crate::workspace::Workspace;

use super::{EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE};

pub async fn run(paths: &Paths, args: &RunArgs) -> u8 {
    let Ok(ws) = super::load_workspace(paths, true) else {
        return EXIT_USAGE;
    };
    let Some(jobs) = chosen_jobs(paths, &ws, args) else {
        return EXIT_USAGE;
    };
    if args.dry_run {
        return dry_run(paths, &ws, &jobs, args.json).await;
    }
    let data = paths.data();
    let cancel = CancellationToken::new();
    let signals = tokio::spawn(cancel_on_signal(cancel.clone()));
    let output = Output::detect(args.json, false);
    let options = RunOptions {
        trigger: Trigger::Manual,
        full_refresh: args.full_refresh,
        dry_run: false,
    };
    let mut code = EXIT_OK;
    for name in &jobs {
        if cancel.is_cancelled() {
            eprintln!("error: job \"{name}\" was not started: the run was interrupted");
            code = EXIT_RUN_FAILED;
            continue;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let printer = tokio::spawn(report::print_events(rx, output));
        let reporter = Reporter::new(name, tx).paced_by_env();
        let summary = run_job_with(&ws, name, &data, cancel.clone(), reporter, options).await;
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

/// The jobs to run, in order: every job of the workspace with `--all`, else
/// the named ones, each checked before the first job touches a database.
fn chosen_jobs(paths: &Paths, ws: &Workspace, args: &RunArgs) -> Option<Vec<String>> {
    if args.all {
        return Some(ws.jobs.iter().map(|j| j.name.clone()).collect());
    }
    let unknown: Vec<&String> = args.jobs.iter().filter(|j| ws.job(j).is_none()).collect();
    for j in &unknown {
        super::no_such_job(paths, j);
    }
    unknown.is_empty().then(|| args.jobs.clone())
}

/// `dsp run --dry-run JOB...`: each job's preview, as its log lines or (with
/// `json`) one JSON object per job, one a line. Exit status as `dsp run`: a
/// job whose run would fail (a guard, an error) makes it 1.
async fn dry_run(paths: &Paths, ws: &Workspace, jobs: &[String], json: bool) -> u8 {
    let data = paths.data();
    let cancel = CancellationToken::new();
    let signals = tokio::spawn(cancel_on_signal(cancel.clone()));
    let output = Output::detect(false, false);
    let mut code = EXIT_OK;
    for name in jobs {
        let (tx, rx) = mpsc::unbounded_channel();
        // The JSON form prints the object alone; the log is dropped.
        let printer = (!json).then(|| tokio::spawn(report::print_events(rx, output)));
        let preview = preview_job(ws, name, &data, cancel.clone(), Reporter::new(name, tx)).await;
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
