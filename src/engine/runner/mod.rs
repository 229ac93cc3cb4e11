//! The sync algorithm: full and incremental runs.
//!
//! `run_job` is the contract the TUI, `dsp run` and the
//! scheduler use.
//!
//! A run goes through named phases, one module each: `open` connects to both
//! ends at once; `plan` introspects both tables, checks or creates the target
//! and builds the read; `stream` counts the rows and spawns the reader, which
//! streams the source inside its snapshot and converts rows into batches on a
//! bounded channel; `apply` writes them (a full sync stages everything and
//! applies it in one target transaction; an incremental sync commits batch by
//! batch and advances the watermark only after each commit); `finish` words
//! the outcome. `report` is what the phases tell the listener, kept apart from
//! the work itself.

mod apply;
mod finish;
mod liveness;
mod open;
mod plan;
mod report;
mod setup;
mod stop;
mod stream;

use std::sync::Arc;

use chrono::Utc;
use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use self::report::Report;
use self::setup::Setup;
use self::stop::{Stop, or_cancel};
use crate::engine::preview::Preview;
use crate::engine::progress::{Level, ProgressEvent, Reporter, RunStatus, RunSummary, Trigger};
use crate::engine::state;
use crate::paths::DataDir;
use crate::workspace::Workspace;

/// How a run was asked for, beyond the job itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Recorded in the history.
    pub trigger: Trigger,
    /// An incremental job ignores its stored watermark this once: it reads and
    /// upserts every source row, and its watermark is then set from this run.
    pub full_refresh: bool,
    /// Everything up to the changes, counted, then nothing written
    /// (`preview_job`).
    pub dry_run: bool,
}

/// Runs one job to its end: takes the job's lock, reports progress through
/// `reporter`, records the run in the history, and returns its summary. Never
/// panics on bad input; every failure is a `RunSummary` with status Failed and
/// an operator-readable `error`.
pub async fn run_job(
    workspace: &Workspace,
    job: &str,
    data: &DataDir,
    cancel: CancellationToken,
    reporter: Reporter,
) -> RunSummary {
    run_job_with(
        workspace,
        job,
        data,
        cancel,
        reporter,
        RunOptions::default(),
    )
    .await
}

/// `run_job`, asked for as `options` say.
pub async fn run_job_with(
    workspace: &Workspace,
    job: &str,
    data: &DataDir,
    cancel: CancellationToken,
    reporter: Reporter,
    options: RunOptions,
) -> RunSummary {
    let mut report = Report::new(reporter, job);
    let started = Utc::now();
    let mode = workspace.job(job).map(|j| j.mode).unwrap_or_default();
    let lock = match state::lock_job(data, job) {
        Ok(l) => l,
        Err(msg) => {
            report.log(Level::Error, msg.clone());
            let summary = report.summary(mode, RunStatus::Failed, started, Some(msg));
            report.send(ProgressEvent::Finished(summary.clone()));
            return summary;
        }
    };
    // Another DSP process shows this run from its status file and may ask
    // for a cancel there; that cancel is this run's alone.
    let cancel = cancel.child_token();
    let live = crate::engine::live_status::LiveWriter::start(data, job, options.trigger);
    let cancel_requests = live.watch(cancel.clone());
    report.show_live(live.clone());
    report.send(ProgressEvent::Began {
        job: job.to_string(),
        mode,
    });
    report.log(Level::Info, format!("Starting sync job: {job}"));
    let outcome = execute_guarded(&mut report, workspace, data, job, &cancel, options).await;
    let summary = finish::summarize(&mut report, mode, started, outcome);
    finish::record(&mut report, data, &summary, &finish::note_of(options, mode));
    cancel_requests.abort();
    live.finish();
    report.send(ProgressEvent::Finished(summary.clone()));
    drop(lock);
    summary
}

/// A dry run of one job: everything a run would do up to the changes,
/// counted exactly, and nothing written (see `apply::preview`). Takes the
/// job's lock like a run, reports its log lines through `reporter` (no
/// `Began`/`Finished` events: it is not a run), and is not recorded in the
/// history.
pub async fn preview_job(
    workspace: &Workspace,
    job: &str,
    data: &DataDir,
    cancel: CancellationToken,
    reporter: Reporter,
) -> Preview {
    let mut report = Report::new(reporter, job);
    let mode = workspace.job(job).map(|j| j.mode).unwrap_or_default();
    let _lock = match state::lock_job(data, job) {
        Ok(l) => l,
        Err(msg) => {
            report.log(Level::Error, msg.clone());
            return finish::preview(&mut report, job, mode, Err(Stop::failed(msg)));
        }
    };
    report.log(
        Level::Info,
        format!("Starting dry run of sync job: {job} (nothing will be written)"),
    );
    let options = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let outcome = execute_guarded(&mut report, workspace, data, job, &cancel, options).await;
    finish::preview(&mut report, job, mode, outcome)
}

/// Runs the phases; a panic inside them (a bug) becomes a failed run, and so
/// does a server that stops answering (see `liveness`): the phases are then
/// dropped where they wait, closing their connections.
async fn execute_guarded(
    report: &mut Report,
    ws: &Workspace,
    data: &DataDir,
    job: &str,
    cancel: &CancellationToken,
    options: RunOptions,
) -> Result<(), Stop> {
    let live = Arc::new(liveness::Liveness::new(
        "the source and target networks".into(),
        connect_limit(ws, job),
    ));
    // Boxed as `Send` here, where every lifetime is concrete: callers spawn
    // runs on the multi-threaded runtime, and without this the compiler cannot
    // prove that sqlx's futures inside are `Send` for all lifetimes.
    let execute: futures::future::BoxFuture<'_, Result<(), Stop>> =
        Box::pin(execute(report, ws, data, job, cancel, &live, options));
    let guarded = std::panic::AssertUnwindSafe(execute).catch_unwind();
    tokio::select! {
        r = guarded => r.unwrap_or_else(|_| {
            Err(Stop::failed(
                "internal error in DSP (a bug); the run stopped and the target keeps its last committed state",
            ))
        }),
        why = live.stalled() => Err(Stop::failed(why)),
    }
}

/// While connecting, the run waits on both ends, each connection bounded by
/// its own network's limit (which names it); the watchdog stays behind them.
fn connect_limit(ws: &Workspace, job: &str) -> std::time::Duration {
    let job = ws.job(job);
    [job.map(|j| &j.source), job.map(|j| &j.target)]
        .into_iter()
        .flatten()
        .filter_map(|n| ws.network(n))
        .map(|n| n.stall_timeout())
        .max()
        .unwrap_or(crate::workspace::fields::DEFAULT_STALL_TIMEOUT)
        + std::time::Duration::from_secs(5)
}

/// The run's phases, in order: open both ends, plan, stream, apply.
async fn execute(
    report: &mut Report,
    ws: &Workspace,
    data: &DataDir,
    job: &str,
    cancel: &CancellationToken,
    live: &Arc<liveness::Liveness>,
    options: RunOptions,
) -> Result<(), Stop> {
    let mut s = Setup::new(ws, data, job, cancel, live)?;
    s.full_refresh = options.full_refresh;
    s.dry_run = options.dry_run;
    report.log(
        Level::Info,
        format!("Fetching records from source: {}", s.schema.source_table),
    );
    let ends = open::open(&s).await;
    let plan::Planned {
        target,
        mut source,
        plan,
        target_state,
    } = plan::plan(report, &s, ends.target, ends.source, ends.counter).await?;

    or_cancel(cancel, source.begin_snapshot())
        .await
        .map_err(|e| s.source.name(e))?;
    let query = plan::read_query(report, &s, &mut source, &plan, target_state).await?;
    stream::count(report, &s, &mut source, &query.count).await?;
    // The first run reads the whole table; the planner's own choice
    // (often a sequential scan and a sort) stands then.
    if query.watermark.is_some() {
        source
            .stream_in_index_order()
            .await
            .map_err(|e| s.source.fail(e))?;
    }
    if s.dry_run {
        // A table the run would create has nothing to compare with.
        let target = if report.create_target {
            target.close().await;
            None
        } else {
            Some(target)
        };
        if let Some(spare) = ends.spare {
            spare.close().await;
        }
        let mut reader =
            stream::Reader::spawn(source, plan.clone(), query.select, query.cutoff, &s);
        let result = apply::preview(report, &s, &plan, target, &mut reader).await;
        reader.finish(result.is_ok()).await;
        return result;
    }
    let mut writers = apply::Writers::open(target, ends.spare, &plan, &s).await?;
    let mut reader = stream::Reader::spawn(source, plan.clone(), query.select, query.cutoff, &s);

    let result = apply::apply(
        report,
        &s,
        &plan,
        &mut writers,
        &mut reader,
        query.watermark,
    )
    .await;
    reader.finish(result.is_ok()).await;
    writers.close(result.is_ok()).await;
    result
}
