//! The sync algorithm of SPEC §4: full and incremental runs.
//!
//! OWNER: engine helper. `run_job` is the contract the TUI, `dsp run` and the
//! scheduler use.
//!
//! A run has two halves joined by a bounded channel: a reader task streams the
//! source inside its snapshot and converts rows into batches, while this task
//! writes them. Full sync stages everything and applies it in one target
//! transaction; incremental sync commits batch by batch and advances the
//! watermark only after each commit.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::FutureExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::engine::db::connect::{Role, connect, describe};
use crate::engine::db::plan::{self, Plan};
use crate::engine::db::read::{Batch, BatchBuilder, CHUNK_ROWS, ReadMsg};
use crate::engine::db::{self, Source, Writer};
use crate::engine::progress::{
    Level, LogLine, ProgressEvent, Reporter, RunStatus, RunSummary, thousands,
};
use crate::engine::state;
use crate::engine::types::Value;
use crate::paths::DataDir;
use crate::workspace::{Job, SyncMode, Workspace};

/// Rows in flight between the reader and the writer: enough to keep the
/// source streaming while the target digests a bulk write, few enough to
/// bound memory (chunks are also cut at 4 MB, so at most ~40 MB wait here).
const CHANNEL_ROWS: u64 = 50_000;

/// Up to this many batches, every one gets its log line; beyond, a sample.
const MAX_BATCH_LINES: u64 = 10_000;
/// Batch progress events are sent at most this often (plus first and last).
const PROGRESS_EVERY: Duration = Duration::from_millis(50);
/// Batch lines held back while the count runs beside the read; past this
/// (tiny batches, a count that takes long) the run waits for the count.
const MAX_WAITING_LINES: usize = 100_000;
/// Failed rows listed one by one; the rest are only counted.
const MAX_FAILURE_LINES: u64 = 1_000;

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
    let mut run = Run::new(reporter, job);
    let started = Utc::now();
    let mode = workspace.job(job).map(|j| j.mode).unwrap_or_default();
    let lock = match state::lock_job(data, job) {
        Ok(l) => l,
        Err(msg) => {
            run.log(Level::Error, msg.clone());
            let summary = run.summary(mode, RunStatus::Failed, started, Some(msg));
            run.reporter.send(ProgressEvent::Finished(summary.clone()));
            return summary;
        }
    };
    run.reporter.send(ProgressEvent::Began {
        job: job.to_string(),
        mode,
    });
    run.log(Level::Info, format!("Starting sync job: {job}"));
    // Boxed as `Send` here, where every lifetime is concrete: callers spawn
    // runs on the multi-threaded runtime, and without this the compiler cannot
    // prove that sqlx's futures inside are `Send` for all lifetimes.
    let execute: futures::future::BoxFuture<'_, Result<(), Stop>> =
        Box::pin(run.execute(workspace, data, &cancel));
    let outcome = std::panic::AssertUnwindSafe(execute)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            Err(Stop::Failed(
                "internal error in DSP (a bug); the run stopped and the target keeps its last committed state".into(),
            ))
        });
    // A run that stopped before its count came back does not know its total.
    let total_known = run.pending.take().is_none();
    let summary = match outcome {
        Ok(()) => {
            if mode == SyncMode::Incremental && run.failed > 0 {
                run.log(
                    Level::Warn,
                    format!(
                        "the {} failed rows are behind the watermark now: later incremental runs read them \
                         again only if their cursor changes; fix them in the source or run a full sync",
                        thousands(run.failed)
                    ),
                );
            }
            run.log(
                Level::Info,
                format!(
                    "Sync completed. Total: {}, Success: {}, Failed: {}",
                    thousands(run.read),
                    thousands(run.committed),
                    thousands(run.failed)
                ),
            );
            run.summary(mode, RunStatus::Succeeded, started, None)
        }
        Err(Stop::Cancelled(why)) => {
            let kept = match mode {
                SyncMode::Full => "the target was left unchanged".to_string(),
                SyncMode::Incremental => format!(
                    "the {} records committed before stay, and the next run resumes from there",
                    thousands(run.committed)
                ),
            };
            let of = if total_known {
                format!(" of {}", thousands(run.total))
            } else {
                String::new()
            };
            let why = format!("{why} after {}{of} records; {kept}", thousands(run.read));
            run.log(Level::Warn, format!("Sync cancelled: {why}"));
            run.summary(mode, RunStatus::Cancelled, started, Some(why))
        }
        Err(Stop::Failed(why)) => {
            run.log(Level::Error, format!("Sync failed: {why}"));
            run.summary(mode, RunStatus::Failed, started, Some(why))
        }
    };
    if let Err(e) = state::record_run(data, &summary, &run.lines) {
        run.log(
            Level::Warn,
            format!(
                "could not record this run in the history under {}: {e}",
                data.root().display()
            ),
        );
    }
    run.reporter.send(ProgressEvent::Finished(summary.clone()));
    drop(lock);
    summary
}

/// Why a run stopped early.
enum Stop {
    Failed(String),
    Cancelled(String),
}

impl From<String> for Stop {
    fn from(s: String) -> Self {
        Stop::Failed(s)
    }
}

impl From<crate::engine::Error> for Stop {
    fn from(e: crate::engine::Error) -> Self {
        Stop::Failed(e.to_string())
    }
}

struct Run {
    reporter: Reporter,
    lines: Vec<LogLine>,
    job: String,
    total: u64,
    batches: u64,
    read: u64,
    /// Rows handed to the target (staged or written).
    written: u64,
    /// Rows the target has committed.
    committed: u64,
    failed: u64,
    /// How errors name the target: network, connection and table.
    label: String,
    last_progress: Option<std::time::Instant>,
    /// The total while its count is still running alongside the read.
    pending: Option<PendingTotal>,
}

/// The source's row count while it is still being taken alongside the read
/// (`Source::count_alongside`). Batch lines and progress wait for it, so the
/// log reads as if it came first: the total, then batch k of N.
struct PendingTotal {
    count: tokio::task::JoinHandle<Result<u64, crate::engine::Error>>,
    batch_size: u64,
    /// Names the source in the count's error.
    label: String,
    /// Batches that ended meanwhile, (index, rows), for their log lines.
    lines: Vec<(u64, u64)>,
    /// The latest of them, for one progress event.
    progress: Option<(u64, u64)>,
}

impl Drop for PendingTotal {
    /// A run that stops early stops its count too.
    fn drop(&mut self) {
        self.count.abort();
    }
}

/// Awaits `fut` unless the run is cancelled first.
async fn or_cancel<T>(
    cancel: &CancellationToken,
    fut: impl Future<Output = Result<T, crate::engine::Error>>,
) -> Result<T, Stop> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(Stop::Cancelled(
            "cancelled by the operator".into(),
        )),
        r = fut => r.map_err(Stop::from),
    }
}

impl Run {
    fn new(reporter: Reporter, job: &str) -> Self {
        Run {
            reporter,
            lines: Vec::new(),
            job: job.to_string(),
            total: 0,
            batches: 0,
            read: 0,
            written: 0,
            committed: 0,
            failed: 0,
            label: String::new(),
            last_progress: None,
            pending: None,
        }
    }

    fn log(&mut self, level: Level, message: impl Into<String>) {
        let line = self.reporter.log(level, message);
        self.lines.push(line);
    }

    fn summary(
        &self,
        mode: SyncMode,
        status: RunStatus,
        started: chrono::DateTime<Utc>,
        error: Option<String>,
    ) -> RunSummary {
        RunSummary {
            job: self.job.clone(),
            mode,
            status,
            started,
            ended: Utc::now(),
            total: self.total.max(self.read),
            success: self.committed,
            failed: self.failed,
            error,
        }
    }

    async fn execute(
        &mut self,
        ws: &Workspace,
        data: &DataDir,
        cancel: &CancellationToken,
    ) -> Result<(), Stop> {
        let job = ws
            .job(&self.job)
            .ok_or_else(|| format!("there is no job named \"{}\" in the workspace", self.job))?
            .clone();
        let (schema, src_net, tgt_net) = db::job_parts(ws, &job)?;
        self.log(
            Level::Info,
            format!("Fetching records from source: {}", schema.source_table),
        );

        // Both connections at once (over TLS to remote servers each can take a
        // good part of a second); the target's problems are reported first: its
        // table is created or checked before any row moves, and DDL stays
        // outside the data transaction.
        let (tconn, sconn, counter, spare) = tokio::join!(
            or_cancel(cancel, connect(ws, tgt_net, Role::Target)),
            or_cancel(cancel, connect(ws, src_net, Role::Source)),
            // A spare for counting the rows while they stream; without it
            // the count runs first, as it must on the other engines.
            or_cancel(cancel, async {
                Ok(if Source::counts_alongside(src_net) {
                    connect(ws, src_net, Role::Source).await.ok()
                } else {
                    None
                })
            }),
            // A spare for staging the next batch while the last one is
            // applied (incremental runs into PostgreSQL).
            or_cancel(cancel, async {
                Ok(
                    if job.mode == SyncMode::Incremental && Writer::stages_ahead(tgt_net) {
                        connect(ws, tgt_net, Role::Target).await.ok()
                    } else {
                        None
                    },
                )
            }),
        );
        let mut tconn = tconn?;
        let tdialect = tconn.dialect();
        let in_target = |e: String| {
            Stop::Failed(format!(
                "target network \"{}\" ({}), table {}: {e}",
                tgt_net.name,
                describe(ws, tgt_net),
                schema.target_table
            ))
        };
        let existing = db::columns(&mut tconn, &schema.target_table)
            .await
            .map_err(|e| in_target(e.into()))?;

        let mut source = Source::new(sconn?, counter.ok().flatten());
        let in_source = |e: String| {
            Stop::Failed(format!(
                "source network \"{}\" ({}), table {}: {e}",
                src_net.name,
                describe(ws, src_net),
                schema.source_table
            ))
        };
        let src_natives = db::columns(&mut source.conn, &schema.source_table)
            .await
            .map_err(|e| in_source(e.into()))?
            .ok_or_else(|| db::no_table(src_net, &schema.source_table))?;
        let rules = plan::TargetRules::of(tdialect);
        // The source must fit the mapping before the target is touched at all.
        plan::resolve(
            schema,
            src_net,
            &src_natives,
            plan::target_columns(schema),
            &[],
            rules,
        )?;

        let mut targets = plan::target_columns(schema);
        let natives = match existing {
            Some(n) => n,
            None => {
                db::create_table(&mut tconn, &schema.target_table, &targets)
                    .await
                    .map_err(|e| {
                        in_target(format!(
                            "cannot create the table ({e}); create it by hand or grant CREATE"
                        ))
                    })?;
                self.log(
                    Level::Info,
                    format!(
                        "Created target table {} on network \"{}\"",
                        schema.target_table, tgt_net.name
                    ),
                );
                db::columns(&mut tconn, &schema.target_table)
                    .await
                    .map_err(|e| in_target(e.into()))?
                    .unwrap_or_default()
            }
        };
        let limits = db::check_existing_target(
            &mut tconn,
            tgt_net,
            &schema.target_table,
            &mut targets,
            &natives,
        )
        .await?;
        if job.mode == SyncMode::Incremental {
            // A full sync notices keys merging (its row count comes out short);
            // an incremental upsert would let them overwrite each other silently.
            let keys: Vec<String> = targets
                .iter()
                .filter(|t| t.key)
                .map(|t| t.name.clone())
                .collect();
            let merging = db::insensitive_keys(&mut tconn, &schema.target_table, &keys)
                .await
                .map_err(|e| in_target(e.into()))?;
            if let Some((col, collation)) = merging.first() {
                return Err(Stop::Failed(format!(
                    "target key column {}.{col} on network \"{}\" uses collation {collation}, which treats keys \
                     differing only in case or accents as equal, so an incremental run would let such rows \
                     overwrite each other; give the column a binary collation (e.g. ALTER TABLE {} MODIFY \
                     {col} VARCHAR(255) COLLATE utf8mb4_bin) or sync this job in full mode",
                    schema.target_table, tgt_net.name, schema.target_table
                )));
            }
        }
        let plan = plan::resolve(schema, src_net, &src_natives, targets, &limits, rules)?;
        let plan = Arc::new(plan);

        or_cancel(cancel, source.begin_snapshot())
            .await
            .map_err(|s| map_failed(s, in_source))?;
        let d = source.dialect();
        let table = d.table(&plan.source_table);
        let mut filter = String::new();
        let mut order = String::new();
        let mut watermark = None;
        if job.mode == SyncMode::Incremental {
            let ci = plan.cursor_read.ok_or_else(|| {
                format!(
                    "job \"{}\" is incremental but schema \"{}\" has no cursor_column; set one",
                    job.name, schema.name
                )
            })?;
            let cur = &plan.read[ci].native;
            watermark = state::read_watermark(data, &job.name).map_err(|e| {
                format!(
                    "cannot read the watermark of job \"{}\" under {}: {e}",
                    job.name,
                    data.root().display()
                )
            })?;
            if let Some(wm) = &watermark {
                let lookback = job.lookback().map(|d| d.as_secs()).unwrap_or(0);
                filter = format!(" WHERE {}", source.cursor_bound(cur, wm, lookback));
                let nulls = source
                    .count(&format!(
                        "SELECT COUNT(*) FROM {table} WHERE {} IS NULL",
                        d.ident(&cur.name)
                    ))
                    .await
                    .map_err(|e| in_source(e.into()))?;
                if nulls > 0 {
                    self.log(
                        Level::Warn,
                        format!(
                            "{} rows of {} have a NULL {}; incremental runs do not read them (a full sync does)",
                            thousands(nulls),
                            plan.source_table,
                            cur.name
                        ),
                    );
                }
                self.log(
                    Level::Info,
                    format!("Reading rows with {} >= {wm}", cur.name),
                );
            }
            // NULL cursors come first on the first run; later runs filter them
            // out, and a plain ASC lets the cursor's index give the order.
            let nulls = if watermark.is_none() {
                source.asc_nulls_first()
            } else {
                ""
            };
            let mut keys = vec![format!("{}{nulls}", d.ident(&cur.name))];
            keys.extend(plan.key_read.iter().map(|&k| d.ident(&plan.read[k].name)));
            order = format!(" ORDER BY {}", keys.join(", "));
        }
        let src_label = format!(
            "source network \"{}\" ({}), table {}",
            src_net.name,
            describe(ws, src_net),
            schema.source_table
        );
        let batch_size = job.batch_size().max(1);
        let count = format!("SELECT COUNT(*) FROM {table}{filter}");
        match or_cancel(cancel, source.count_alongside(count.clone()))
            .await
            .map_err(|s| map_failed(s, in_source))?
        {
            Some(count) => {
                self.pending = Some(PendingTotal {
                    count,
                    batch_size,
                    label: src_label.clone(),
                    lines: Vec::new(),
                    progress: None,
                })
            }
            None => {
                let total = or_cancel(cancel, source.count(&count))
                    .await
                    .map_err(|s| map_failed(s, in_source))?;
                self.announce_total(total, batch_size);
            }
        }

        let select = format!(
            "SELECT {} FROM {table}{filter}{order}",
            source.select_list(&plan)
        );
        // The first run reads the whole table; the planner's own choice
        // (often a sequential scan and a sort) stands then.
        if watermark.is_some() {
            source
                .stream_in_index_order()
                .await
                .map_err(|e| in_source(e.into()))?;
        }
        let mut writer = or_cancel(cancel, Writer::new(tconn, &plan))
            .await
            .map_err(|s| map_failed(s, in_target))?;
        if let Err(e) = or_cancel(cancel, writer.create_stage()).await {
            writer.close().await;
            return Err(map_failed(e, in_target));
        }
        let mut ahead = match spare.ok().flatten() {
            Some(c) => {
                let mut w = or_cancel(cancel, Writer::new(c, &plan))
                    .await
                    .map_err(|s| map_failed(s, in_target))?;
                match or_cancel(cancel, w.create_stage()).await {
                    Ok(()) => Some(w),
                    Err(_) => {
                        w.close().await;
                        None
                    }
                }
            }
            None => None,
        };

        // The reader: streams the snapshot into batches.
        let chunk = batch_size.min(CHUNK_ROWS as u64);
        let (tx, mut rx) = mpsc::channel::<ReadMsg>((CHANNEL_ROWS / chunk).clamp(2, 64) as usize);
        let reader_stop = cancel.child_token();
        let reader = {
            let plan = plan.clone();
            let stop = reader_stop.clone();
            tokio::spawn(async move {
                let mut b = BatchBuilder::new(plan, batch_size as usize, tx, stop);
                let r = source.stream(&select, &mut b).await;
                source.end_snapshot().await;
                source.conn.close().await;
                match r {
                    Ok(()) => {
                        let _ = b.finish().await;
                    }
                    Err(e) if !b.is_cancelled() => b.fail(format!("{src_label}: {e}")).await,
                    Err(_) => {}
                }
            })
        };

        self.label = format!(
            "target network \"{}\" ({}), table {}",
            tgt_net.name,
            describe(ws, tgt_net),
            schema.target_table
        );
        let result = match job.mode {
            SyncMode::Full => {
                self.write_full(&job, &plan, &mut writer, &mut rx, cancel)
                    .await
            }
            SyncMode::Incremental => {
                self.write_incremental(
                    &job,
                    data,
                    &mut writer,
                    ahead.as_mut(),
                    &mut rx,
                    cancel,
                    watermark,
                )
                .await
            }
        };
        reader_stop.cancel();
        drop(rx);
        if result.is_err() {
            reader.abort();
            // Whatever the target was doing, it must not commit: roll back if the
            // connection still answers, else closing it makes the server do so.
            for mut w in std::iter::once(writer).chain(ahead) {
                let _ = tokio::time::timeout(Duration::from_secs(1), w.rollback()).await;
                let _ = tokio::time::timeout(Duration::from_secs(1), w.close()).await;
            }
        } else {
            let _ = reader.await;
            writer.close().await;
            if let Some(w) = ahead {
                w.close().await;
            }
        }
        result
    }

    /// Receives the next batch; `None` when the source is done.
    async fn next_batch(
        &mut self,
        rx: &mut mpsc::Receiver<ReadMsg>,
        cancel: &CancellationToken,
    ) -> Result<Option<Batch>, Stop> {
        let msg = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(Stop::Cancelled("cancelled by the operator".into())),
            m = rx.recv() => m,
        };
        match msg {
            None => Ok(None),
            Some(Err(e)) => Err(Stop::Failed(e)),
            Some(Ok(batch)) => Ok(Some(batch)),
        }
    }

    fn announce_total(&mut self, total: u64, batch_size: u64) {
        self.total = total;
        self.batches = total.div_ceil(batch_size);
        self.log(
            Level::Info,
            format!("Total records: {}", thousands(self.total)),
        );
        self.reporter.send(ProgressEvent::Started {
            job: self.job.clone(),
            total: self.total,
            batches: self.batches,
        });
    }

    /// Whether the total is known; takes it if its count has just finished.
    fn total_known(&mut self) -> Result<bool, Stop> {
        let Some(p) = self.pending.as_mut() else {
            return Ok(true);
        };
        if !p.count.is_finished() {
            return Ok(false);
        }
        let r = (&mut p.count).now_or_never();
        self.settle_total(r)?;
        Ok(true)
    }

    /// Waits for the count running alongside the read, if there is one.
    async fn wait_total(&mut self, cancel: &CancellationToken) -> Result<(), Stop> {
        let Some(p) = self.pending.as_mut() else {
            return Ok(());
        };
        let r = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(Stop::Cancelled("cancelled by the operator".into())),
            r = &mut p.count => r,
        };
        self.settle_total(Some(r))
    }

    /// Announces the total that has just arrived, then what waited for it.
    fn settle_total(
        &mut self,
        r: Option<Result<Result<u64, crate::engine::Error>, tokio::task::JoinError>>,
    ) -> Result<(), Stop> {
        let Some(mut p) = self.pending.take() else {
            return Ok(());
        };
        let total = match r {
            Some(Ok(Ok(n))) => n,
            Some(Ok(Err(e))) => return Err(Stop::Failed(format!("{}: {e}", p.label))),
            _ => {
                return Err(Stop::Failed(format!(
                    "{}: counting the rows stopped unexpectedly",
                    p.label
                )));
            }
        };
        self.announce_total(total, p.batch_size);
        for (index, rows) in std::mem::take(&mut p.lines) {
            self.batch_line(index, rows);
        }
        if let Some((index, rows)) = p.progress.take() {
            self.progress(index, rows)?;
        }
        Ok(())
    }

    /// Logs the chunk's failed rows, and the batch line when the chunk ends its
    /// batch; fails the run when the failures pass `max_failed`.
    async fn account(
        &mut self,
        job: &Job,
        chunk: &Batch,
        cancel: &CancellationToken,
    ) -> Result<(), Stop> {
        if !chunk.failures.is_empty() {
            // The total's line comes before any row's warning.
            self.wait_total(cancel).await?;
        }
        self.read += chunk.read;
        for f in &chunk.failures {
            self.failed += 1;
            if self.failed <= MAX_FAILURE_LINES {
                self.log(Level::Warn, f.clone());
            } else if self.failed == MAX_FAILURE_LINES + 1 {
                self.log(
                    Level::Warn,
                    format!(
                        "more rows failed; only the first {MAX_FAILURE_LINES} are listed, the summary counts them all"
                    ),
                );
            }
        }
        if self.failed > job.max_failed() {
            let last = chunk.failures.last().map(String::as_str).unwrap_or("");
            return Err(Stop::Failed(format!(
                "{} row{} failed, more than max_failed = {} allows ({}{last}); fix the source values or raise max_failed",
                thousands(self.failed),
                if self.failed == 1 { "" } else { "s" },
                job.max_failed(),
                if self.failed == 1 { "" } else { "the last: " },
            )));
        }
        if chunk.last {
            if let Some(p) = self.pending.as_mut()
                && p.lines.len() < MAX_WAITING_LINES
                && !p.count.is_finished()
            {
                p.lines.push((chunk.index, chunk.batch_read));
            } else {
                self.wait_total(cancel).await?;
                self.batch_line(chunk.index, chunk.batch_read);
            }
        }
        Ok(())
    }

    /// "Processing batch k/N"; a run of a million one-row batches logs a
    /// sample, not a million lines (the history keeps every line).
    fn batch_line(&mut self, index: u64, rows: u64) {
        let step = self.batches.div_ceil(MAX_BATCH_LINES).max(1);
        if index == 1 && step > 1 {
            self.log(
                Level::Info,
                format!(
                    "{} batches: logging one batch line in {step}",
                    thousands(self.batches)
                ),
            );
        }
        if step == 1 || index == 1 || index.is_multiple_of(step) || index >= self.batches {
            self.log(
                Level::Info,
                format!(
                    "Processing batch {index}/{} ({rows} records)",
                    self.batches.max(index)
                ),
            );
        }
    }

    /// Reports a finished batch: the first and the last always, the others at
    /// most every 50 ms, so that tiny batches cannot flood a slow listener.
    fn progress(&mut self, index: u64, rows: u64) -> Result<(), Stop> {
        if !self.total_known()? {
            if let Some(p) = self.pending.as_mut() {
                p.progress = Some((index, rows));
            }
            return Ok(());
        }
        let now = std::time::Instant::now();
        let due = self
            .last_progress
            .is_none_or(|t| now.duration_since(t) >= PROGRESS_EVERY);
        if !(due || index == 1 || index >= self.batches) {
            return Ok(());
        }
        self.last_progress = Some(now);
        self.reporter.send(ProgressEvent::Batch {
            job: self.job.clone(),
            index,
            batches: self.batches.max(index),
            rows,
            done: self.read,
            failed: self.failed,
        });
        Ok(())
    }

    async fn write_full(
        &mut self,
        job: &Job,
        plan: &Plan,
        w: &mut Writer,
        rx: &mut mpsc::Receiver<ReadMsg>,
        cancel: &CancellationToken,
    ) -> Result<(), Stop> {
        tw(cancel, &self.label, w.begin()).await?;
        let before = tw(cancel, &self.label, w.count(false)).await?;
        // Into an empty target, rows go straight in, inside the same transaction.
        let stage = before > 0;
        let mut kept: Vec<Vec<Value>> = Vec::new();
        while let Some(mut chunk) = self.next_batch(rx, cancel).await? {
            self.account(job, &chunk, cancel).await?;
            kept.append(&mut chunk.kept);
            tw(cancel, &self.label, w.write(&chunk.rows, stage)).await?;
            self.written += chunk.rows.len() as u64;
            if chunk.last {
                self.progress(chunk.index, chunk.batch_read)?;
            }
        }
        self.wait_total(cancel).await?;
        tw(cancel, &self.label, w.flush()).await?;
        let landed = tw(cancel, &self.label, w.count(stage)).await?;
        if landed != self.written {
            return Err(Stop::Failed(format!(
                "{} rows were read but {} arrived in the target's {}; nothing was changed",
                thousands(self.written),
                thousands(landed),
                if stage { "staging table" } else { "table" }
            )));
        }
        if stage {
            if self.written == 0 && !job.allow_empty() {
                return Err(Stop::Failed(format!(
                    "the source table {} returned no rows while the target table {} holds {}; refusing to empty it \
                     (set allow_empty = true on the job if that is intended); the target was left unchanged",
                    plan.source_table,
                    plan.target_table,
                    thousands(before)
                )));
            }
            let (deleted, after) = if kept.is_empty() {
                tw(cancel, &self.label, w.merge(before)).await?
            } else {
                tw(cancel, &self.label, w.upsert(true)).await?;
                // Keys of rows that failed to convert join the staged keys only
                // now, after the upsert: their target rows are neither updated
                // nor deleted.
                tw(cancel, &self.label, w.write(&kept, true)).await?;
                tw(cancel, &self.label, w.flush()).await?;
                let deleted = tw(cancel, &self.label, w.delete_missing()).await?;
                (deleted, tw(cancel, &self.label, w.count(false)).await?)
            };
            let pct = deleted as f64 * 100.0 / before as f64;
            let limit = job.max_delete_percent();
            let emptying_allowed = self.written == 0 && job.allow_empty();
            if pct > limit && !emptying_allowed {
                return Err(Stop::Failed(format!(
                    "the sync would delete {} of {} rows ({pct:.0}%) from the target table {}, more than \
                     max_delete_percent = {limit}; nothing was changed (raise max_delete_percent on the job \
                     if the source really lost those rows)",
                    thousands(deleted),
                    thousands(before),
                    plan.target_table
                )));
            }
            // Rows sharing a key merge silently in an upsert; the target must
            // end up with exactly the rows read, or the key is not unique.
            // (Kept rows make the count inexact; the check is skipped then.)
            if kept.is_empty() && after != self.written {
                let keys: Vec<&str> = plan
                    .key_read
                    .iter()
                    .map(|&k| plan.read[k].name.as_str())
                    .collect();
                return Err(Stop::Failed(format!(
                    "the source table {} has {} rows but only {} distinct values of its primary key ({}) \
                     as the target table {} compares them; the schema's primary_key must be unique in the \
                     source, and the target's key columns must not treat different values as equal \
                     (a case- or accent-insensitive collation does); the target was left unchanged",
                    plan.source_table,
                    thousands(self.written),
                    thousands(after),
                    keys.join(", "),
                    plan.target_table
                )));
            }
            if deleted > 0 {
                self.log(
                    Level::Info,
                    format!(
                        "Deleted {} rows no longer in the source",
                        thousands(deleted)
                    ),
                );
            }
        }
        if cancel.is_cancelled() {
            return Err(Stop::Cancelled("cancelled by the operator".into()));
        }
        // Never abandoned half-way: a cancel now could not know whether it
        // committed.
        w.commit()
            .await
            .map_err(|e| Stop::Failed(format!("{}: {e}", self.label)))?;
        self.committed = self.written;
        Ok(())
    }

    /// Commits batch by batch. With a second writer, the next batch is
    /// staged on it while this one is applied and committed; batches still
    /// commit one after the other, in order, and only the committing writer
    /// touches the target table.
    #[allow(clippy::too_many_arguments)]
    async fn write_incremental(
        &mut self,
        job: &Job,
        data: &DataDir,
        w: &mut Writer,
        mut ahead: Option<&mut Writer>,
        rx: &mut mpsc::Receiver<ReadMsg>,
        cancel: &CancellationToken,
        mut watermark: Option<String>,
    ) -> Result<(), Stop> {
        let label = self.label.clone();
        // Past a watermark nearly every row read has changed; a first run
        // (into a target that may hold the rows already) or a lookback
        // re-reads rows that have not.
        let unchanged_likely = watermark.is_none() || job.lookback().is_some();
        let mut cursor: Option<String> = None;
        let mut cur: &mut Writer = w;
        let mut staged = self.stage_batch(job, cur, rx, cancel).await?;
        while let Some(batch) = staged {
            let (applied, next) = match ahead.take() {
                Some(other) => {
                    let (a, n) = tokio::join!(
                        apply_batch(cur, batch.open, unchanged_likely, &label, cancel),
                        self.stage_batch(job, other, rx, cancel)
                    );
                    ahead = Some(std::mem::replace(&mut cur, other));
                    (a, n)
                }
                None => {
                    let a = apply_batch(cur, batch.open, unchanged_likely, &label, cancel).await;
                    let n = match a {
                        Ok(()) => self.stage_batch(job, cur, rx, cancel).await,
                        Err(_) => Ok(None),
                    };
                    (a, n)
                }
            };
            applied?;
            self.written += batch.rows;
            self.committed = self.written;
            if batch.cursor.is_some() {
                cursor = batch.cursor;
            }
            // Only now that the target holds these rows may the watermark move.
            if let Some(c) = &cursor
                && watermark.as_deref() != Some(c.as_str())
            {
                state::write_watermark(data, &job.name, c).map_err(|e| {
                    format!(
                        "rows up to {c} were committed but the watermark could not be saved under {} ({e}); \
                         the next run re-reads them",
                        data.root().display()
                    )
                })?;
                watermark = Some(c.clone());
            }
            self.progress(batch.index, batch.read)?;
            staged = next?;
        }
        self.wait_total(cancel).await
    }

    /// Reads the next batch and stages its rows on `w` inside a transaction
    /// it begins; `None` when the source is done.
    async fn stage_batch(
        &mut self,
        job: &Job,
        w: &mut Writer,
        rx: &mut mpsc::Receiver<ReadMsg>,
        cancel: &CancellationToken,
    ) -> Result<Option<StagedBatch>, Stop> {
        let label = self.label.clone();
        let mut b = StagedBatch::default();
        while let Some(chunk) = self.next_batch(rx, cancel).await? {
            self.account(job, &chunk, cancel).await?;
            if chunk.last_cursor.is_some() {
                b.cursor = chunk.last_cursor.clone();
            }
            if !chunk.rows.is_empty() {
                if !b.open {
                    tw(cancel, &label, w.begin()).await?;
                    b.open = true;
                }
                tw(cancel, &label, w.write(&chunk.rows, true)).await?;
                b.rows += chunk.rows.len() as u64;
            }
            if chunk.last {
                if b.open {
                    tw(cancel, &label, w.flush()).await?;
                }
                b.index = chunk.index;
                b.read = chunk.batch_read;
                return Ok(Some(b));
            }
        }
        Ok(None)
    }
}

/// A batch read and staged, its transaction open (`open`) unless none of its
/// rows could be converted.
#[derive(Default)]
struct StagedBatch {
    index: u64,
    read: u64,
    rows: u64,
    cursor: Option<String>,
    open: bool,
}

/// Upserts a staged batch into the target and commits it.
async fn apply_batch(
    w: &mut Writer,
    open: bool,
    unchanged_likely: bool,
    label: &str,
    cancel: &CancellationToken,
) -> Result<(), Stop> {
    if !open {
        return Ok(());
    }
    tw(cancel, label, w.upsert(unchanged_likely)).await?;
    tw(cancel, label, w.clear_stage()).await?;
    // Never abandoned half-way: a cancel now could not know whether it
    // committed.
    w.commit()
        .await
        .map_err(|e| Stop::Failed(format!("{label}: {e}")))
}

fn map_failed(s: Stop, f: impl Fn(String) -> Stop) -> Stop {
    match s {
        Stop::Failed(e) => f(e),
        c => c,
    }
}

/// A target operation, cancellable, its error naming the target.
async fn tw<T>(
    cancel: &CancellationToken,
    label: &str,
    fut: impl Future<Output = Result<T, crate::engine::Error>>,
) -> Result<T, Stop> {
    or_cancel(cancel, fut)
        .await
        .map_err(|s| map_failed(s, |e| Stop::Failed(format!("{label}: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a listener saw, in order: log lines as text, `Started` and
    /// `Batch` events as short tags.
    fn seen(rx: &mut mpsc::UnboundedReceiver<ProgressEvent>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            out.push(match ev {
                ProgressEvent::Log { line, .. } => line.to_string(),
                ProgressEvent::Started { total, batches, .. } => {
                    format!("started {total}/{batches}")
                }
                ProgressEvent::Batch { index, batches, .. } => format!("batch {index}/{batches}"),
                ProgressEvent::Finished(_) => "finished".into(),
                ProgressEvent::Began { .. } => "began".into(),
            });
        }
        out
    }

    fn chunk(index: u64, rows: u64, failures: Vec<String>) -> Batch {
        Batch {
            read: rows,
            index,
            batch_read: rows,
            last: true,
            failures,
            ..Batch::default()
        }
    }

    #[tokio::test]
    async fn batch_lines_wait_for_a_count_running_alongside_and_keep_their_order() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut run = Run::new(Reporter::new("J", tx), "J");
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        run.pending = Some(PendingTotal {
            count: tokio::spawn(async move {
                let _ = wait.await;
                Ok(2500)
            }),
            batch_size: 1000,
            label: "source".into(),
            lines: Vec::new(),
            progress: None,
        });
        let mut job = Job::new("J", "a", "b", "s", SyncMode::Incremental);
        job.max_failed = Some(5);
        let cancel = CancellationToken::new();

        for index in 1..=2 {
            run.account(&job, &chunk(index, 1000, vec![]), &cancel)
                .await
                .unwrap_or_else(|_| panic!("batch {index}"));
            run.progress(index, 1000)
                .unwrap_or_else(|_| panic!("batch {index}"));
        }
        // Batch k of N cannot be said before N is known.
        assert_eq!(seen(&mut rx), Vec::<String>::new());

        // A row's warning waits for the total too, then everything follows
        // in the order it happened.
        go.send(()).unwrap();
        let bad = chunk(3, 500, vec!["row id=2001: not a number".into()]);
        run.account(&job, &bad, &cancel)
            .await
            .unwrap_or_else(|_| panic!("batch 3"));
        run.progress(3, 500).unwrap_or_else(|_| panic!("batch 3"));
        assert_eq!(
            seen(&mut rx),
            [
                "[INFO] Total records: 2,500",
                "started 2500/3",
                "[INFO] Processing batch 1/3 (1000 records)",
                "[INFO] Processing batch 2/3 (1000 records)",
                "batch 2/3",
                "[WARN] row id=2001: not a number",
                "[INFO] Processing batch 3/3 (500 records)",
                "batch 3/3",
            ]
        );
        assert!(run.pending.is_none());
    }

    #[tokio::test]
    async fn a_count_that_fails_alongside_fails_the_run_naming_the_source() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut run = Run::new(Reporter::new("J", tx), "J");
        run.pending = Some(PendingTotal {
            count: tokio::spawn(async { Err("permission denied for table users".into()) }),
            batch_size: 1000,
            label: "source network \"S\" (postgresql://h/db), table users".into(),
            lines: Vec::new(),
            progress: None,
        });
        match run.wait_total(&CancellationToken::new()).await {
            Err(Stop::Failed(e)) => assert_eq!(
                e,
                "source network \"S\" (postgresql://h/db), table users: permission denied for table users"
            ),
            _ => panic!("the run should fail"),
        }
    }
}
