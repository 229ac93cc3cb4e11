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
mod diff_plan;
mod finish;
mod key_ranges;
pub(crate) mod liveness;
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
use crate::engine::target_state as state_target;
use crate::paths::DataDir;
use crate::workspace::{SyncMode, Workspace};

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
        Err(msg) => return refused(&mut report, mode, started, msg),
    };
    let mut held = match lock_in_target(workspace, job, &cancel).await {
        Ok(l) => l,
        Err(msg) => return refused(&mut report, mode, started, msg),
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
    if let Some(l) = held.as_mut()
        && let Err(e) = l.record_start(started).await
    {
        report.log(
            Level::Warn,
            format!(
                "could not record this run in the table {}: {e}",
                state_target::TABLE
            ),
        );
    }
    let outcome = execute_guarded(&mut report, workspace, data, job, &cancel, options).await;
    let summary = finish::summarize(&mut report, mode, started, outcome);
    finish::record(&mut report, data, &summary, &finish::note_of(options, mode));
    if let Some(mut l) = held {
        if let Err(e) = l.record_finish(&summary).await {
            report.log(
                Level::Warn,
                format!(
                    "could not record the run in the table {}: {e}",
                    state_target::TABLE
                ),
            );
        }
        l.release().await;
    }
    cancel_requests.abort();
    live.finish();
    report.send(ProgressEvent::Finished(summary.clone()));
    // The job is free again while its alerts go out: a hook that hangs
    // holds neither the job nor the run's outcome, only this call.
    drop(lock);
    finish::alert(&mut report, workspace, data, &summary, options.trigger).await;
    summary
}

/// A run that could not start (its lock is held here or on the target): the
/// reason logged and the run ended as failed, without a history record.
fn refused(
    report: &mut Report,
    mode: crate::workspace::SyncMode,
    started: chrono::DateTime<Utc>,
    msg: String,
) -> RunSummary {
    report.log(Level::Error, msg.clone());
    let summary = report.summary(mode, RunStatus::Failed, started, Some(msg));
    report.send(ProgressEvent::Finished(summary.clone()));
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
    let held = match lock_in_target(workspace, job, &cancel).await {
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
    if let Some(l) = held {
        l.release().await;
    }
    finish::preview(&mut report, job, mode, outcome)
}

/// With `state = "target"`, the job's lock in its target too (the data
/// dir's keeps one host from running it twice; this one, any two hosts).
async fn lock_in_target(
    ws: &Workspace,
    job: &str,
    cancel: &CancellationToken,
) -> Result<Option<state_target::TargetLock>, String> {
    let Some(j) = ws.job(job).filter(|j| state_target::in_target(ws, j)) else {
        return Ok(None);
    };
    tokio::select! {
        l = state_target::lock(ws, j) => l.map(Some),
        _ = cancel.cancelled() => Err(format!("job \"{job}\" was cancelled before it started")),
    }
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
        mut target,
        mut source,
        plan,
        target_state,
    } = plan::plan(report, &s, ends.target, ends.source, ends.counter).await?;
    let cursor_unindexed = plan::warn_unindexed(report, &s, &mut source, &plan).await?;
    if s.state_in_target {
        let loading = state_target::load_watermark(&mut target, &s.watermarks, s.dry_run);
        let (w, carried) = s
            .target
            .op(cancel, async {
                loading.await.map_err(crate::engine::Error::from)
            })
            .await?;
        if let Some(line) = carried {
            report.log(Level::Info, line);
        }
        s.target_watermark = Some(w);
    }

    or_cancel(cancel, source.begin_snapshot())
        .await
        .map_err(|e| s.source.name(e))?;
    let mut query = plan::read_query(
        report,
        &s,
        &mut source,
        &plan,
        target_state,
        cursor_unindexed,
    )
    .await?;
    let (mut source, segments) = diff_plan::choose(report, &s, source).await?;
    match &segments {
        Some(seg) => {
            report.announce_total(seg.fetch_rows, s.batch_size());
            query
                .select
                .push_str(seg.source_filter.as_deref().unwrap_or(""));
        }
        None => {
            let deferred = query.watermark.is_some();
            stream::count(report, &s, &mut source, &query.count, deferred).await?
        }
    }
    // The first run reads the whole table; the planner's own choice
    // (often a sequential scan and a sort) stands then, and so it does
    // without an index on the cursor: the sort cannot be avoided, and a sort
    // only disabled inflates the plan's cost past the JIT thresholds
    // (PostgreSQL then spent ~1 s compiling the read of a million rows).
    if query.watermark.is_some() && !cursor_unindexed {
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
        let nulls = query.null_cursors;
        let mut reader = stream::Reader::spawn(
            source,
            plan.clone(),
            (query.select, Vec::new()),
            query.cutoff,
            nulls,
            false,
            &s,
        );
        let result = apply::preview(report, &s, &plan, target, &mut reader).await;
        warn_null_cursors(report, &plan, &reader, &result);
        reader.finish(result.is_ok()).await;
        return result;
    }
    let mut writers = apply::Writers::open(target, ends.spare, &plan, &s).await?;
    let nulls = query.null_cursors;
    // A whole copy between columns of the very same types needs no
    // conversion: the rows go from the source's COPY to the target's as the
    // source encoded them (a refused row is still decoded and isolated).
    let wire = segments.is_none()
        && s.job.mode != SyncMode::Incremental
        && source.sends_wire(&plan)
        && writers.takes_wire();
    if wire {
        report.log(
            Level::Info,
            "Column types match: rows are copied in the source's binary form, unconverted",
        );
    }
    // A whole-table read of a large table: in key ranges at once, where the
    // source's sessions can share its snapshot.
    let whole = segments.is_none() && s.job.mode != SyncMode::Incremental;
    let read = match whole {
        true => key_ranges::split(report, &s, &mut source, &plan, &query.select).await?,
        false => None,
    };
    let read = match read {
        Some(r) => (r.first, r.others),
        None => (query.select, Vec::new()),
    };
    let mut reader =
        stream::Reader::spawn(source, plan.clone(), read, query.cutoff, nulls, wire, &s);

    let result = match segments {
        Some(seg) => apply::differential(report, &s, &plan, &mut writers, &mut reader, seg).await,
        None => {
            let watermark = query.watermark;
            apply::apply(report, &s, &plan, &mut writers, &mut reader, watermark).await
        }
    };
    warn_null_cursors(report, &plan, &reader, &result);
    reader.finish(result.is_ok()).await;
    writers.close(result.is_ok()).await;
    result
}

/// Past a watermark, rows whose cursor is NULL are never read again: says how
/// many there are, when the read itself counted them (see `plan::read_query`).
fn warn_null_cursors(
    report: &mut Report,
    plan: &crate::engine::db::plan::Plan,
    reader: &stream::Reader,
    result: &Result<(), Stop>,
) {
    if let (Ok(()), Some(n)) = (result, reader.null_cursors())
        && n > 0
    {
        report.log(
            crate::engine::progress::Level::Warn,
            plan::null_cursors_line(
                n,
                &plan.source_table,
                plan.cursor_read.map(|i| plan.read[i].name.as_str()),
            ),
        );
    }
}
