//! The reporting half of a run: its counters, the log it keeps for the
//! history, throttled progress events, and the total while its count still
//! runs beside the read. The phases tell it what happened; it decides what a
//! listener sees, and when.

use std::time::Duration;

use chrono::Utc;
use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use super::setup::SideWatch;
use super::stop::Stop;
use crate::engine::db::read::Batch;
use crate::engine::error::Error;
use crate::engine::preview::FirstKeys;
use crate::engine::progress::{
    Changes, Level, LogLine, ProgressEvent, Reporter, RunStatus, RunSummary, thousands,
};
use crate::workspace::{Job, SyncMode};

/// Up to this many batches, every one gets its log line; beyond, a sample.
const MAX_BATCH_LINES: u64 = 10_000;
/// Batch progress events are sent at most this often (plus first and last).
const PROGRESS_EVERY: Duration = Duration::from_millis(50);
/// Batch lines held back while the count runs beside the read; past this
/// (tiny batches, a count that takes long) the run waits for the count.
const MAX_WAITING_LINES: usize = 100_000;
/// A deferred count (`PendingTotal::go`) starts once this many batch lines
/// wait for it...
const COUNT_AFTER_LINES: usize = 20;
/// ...or once the first of them has waited this long.
const COUNT_AFTER: Duration = Duration::from_secs(1);
/// Failed rows listed one by one; the rest are only counted.
const MAX_FAILURE_LINES: u64 = 1_000;

/// What a run has done so far, and what it has told its listener.
pub(super) struct Report {
    reporter: Reporter,
    /// Every line logged, for the run's history.
    pub(super) lines: Vec<LogLine>,
    job: String,
    pub(super) total: u64,
    batches: u64,
    pub(super) read: u64,
    /// Rows the target has committed.
    pub(super) committed: u64,
    pub(super) failed: u64,
    /// What the committed rows changed in the target, once anything committed.
    pub(super) changes: Option<Changes>,
    /// What a dry run found beyond the counts.
    pub(super) create_target: bool,
    pub(super) first: FirstKeys,
    last_progress: Option<std::time::Instant>,
    /// The total while its count is still running alongside the read.
    pending: Option<PendingTotal>,
}

/// The source's row count while it is still being taken alongside the read
/// (`Source::count_alongside`). Batch lines and progress wait for it, so the
/// log reads as if it came first: the total, then batch k of N.
struct PendingTotal {
    count: tokio::task::JoinHandle<Result<u64, Error>>,
    batch_size: u64,
    /// Names the source in the count's error.
    label: String,
    /// Batches that ended meanwhile, (index, rows), for their log lines.
    lines: Vec<(u64, u64)>,
    /// The latest of them, for one progress event.
    progress: Option<(u64, u64)>,
    /// A count that waits for this before it starts (`None` once sent, or
    /// for a count that started at once).
    go: Option<tokio::sync::oneshot::Sender<()>>,
    /// When the first batch line began to wait.
    since: Option<std::time::Instant>,
    /// The source's watchdog: a count stalled with its server fails the run
    /// within the source's `stall_timeout`, whatever end was waited on last.
    watch: Option<SideWatch>,
}

impl PendingTotal {
    fn new(
        count: tokio::task::JoinHandle<Result<u64, Error>>,
        batch_size: u64,
        label: String,
        go: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Self {
        PendingTotal {
            count,
            batch_size,
            label,
            lines: Vec::new(),
            progress: None,
            go,
            since: None,
            watch: None,
        }
    }

    /// The run now waits on the count (or on its connection's goodbye).
    fn waiting(&self) {
        if let Some(w) = &self.watch {
            w.waiting("row count");
        }
    }

    /// Lets a deferred count start.
    fn start(&mut self) {
        if let Some(go) = self.go.take() {
            let _ = go.send(());
        }
    }
}

impl Drop for PendingTotal {
    /// A run that stops early stops its count too.
    fn drop(&mut self) {
        self.count.abort();
    }
}

impl Report {
    pub(super) fn new(reporter: Reporter, job: &str) -> Self {
        Report {
            reporter,
            lines: Vec::new(),
            job: job.to_string(),
            total: 0,
            batches: 0,
            read: 0,
            committed: 0,
            failed: 0,
            changes: None,
            create_target: false,
            first: FirstKeys::default(),
            last_progress: None,
            pending: None,
        }
    }

    pub(super) fn log(&mut self, level: Level, message: impl Into<String>) {
        let line = self.reporter.log(level, message);
        self.lines.push(line);
    }

    pub(super) fn send(&self, event: ProgressEvent) {
        self.reporter.send(event);
    }

    /// From now on every event also goes to the run's status file.
    pub(super) fn show_live(
        &mut self,
        live: std::sync::Arc<crate::engine::live_status::LiveWriter>,
    ) {
        self.reporter.set_live(live);
    }

    /// Takes the total when `count`, running beside the read, returns it;
    /// batch lines and progress wait for it until then. A count that waits
    /// for `go` is started once lines have waited a while, or when the run
    /// needs the total; a read that ends before has its total (`stream_done`).
    pub(super) fn count_alongside(
        &mut self,
        count: tokio::task::JoinHandle<Result<u64, Error>>,
        batch_size: u64,
        label: String,
        go: Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        self.pending = Some(PendingTotal::new(count, batch_size, label, go));
    }

    /// Watches the count alongside like any wait on the source.
    pub(super) fn watch_count(&mut self, watch: SideWatch) {
        if let Some(p) = self.pending.as_mut() {
            p.watch = Some(watch);
        }
    }

    /// The read has ended, every row of it accounted: when its count has not
    /// started, the rows read are the total (the same snapshot, the same
    /// rows), and the count is called off; else the count's answer is awaited.
    pub(super) async fn stream_done(&mut self, cancel: &CancellationToken) -> Result<(), Stop> {
        let Some(p) = self.pending.as_mut() else {
            return Ok(());
        };
        if p.go.is_none() {
            return self.wait_total(cancel).await;
        }
        // Dropping the sender calls the count off; its task then ends its
        // transaction and closes its connection, which takes a moment.
        p.go = None;
        p.waiting();
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(Stop::by_operator()),
            _ = &mut p.count => {}
        };
        let read = self.read;
        self.settle_total(Some(Ok(Ok(read))))
    }

    /// Waits for the total of a read that has ended, and holds the rows read
    /// to it: the source counted them in the same snapshot, so fewer means
    /// the read was cut short somewhere without an error, and the missing
    /// rows would otherwise be taken for deleted ones.
    pub(super) async fn all_counted_read(
        &mut self,
        cancel: &CancellationToken,
    ) -> Result<(), Stop> {
        self.wait_total(cancel).await?;
        if self.read != self.total {
            return Err(Stop::failed(format!(
                "the source counted {} rows for this read but sent {}; the read was cut short, so \
                 nothing was changed; run the job again",
                thousands(self.total),
                thousands(self.read)
            )));
        }
        Ok(())
    }

    /// Stops a count still running (the run is over); whether the total was
    /// known by then.
    pub(super) fn end_count(&mut self) -> bool {
        self.pending.take().is_none()
    }

    pub(super) fn summary(
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
            changes: self.changes,
        }
    }

    /// The total is known: logs it, and tells the listener how many batches
    /// to expect.
    pub(super) fn announce_total(&mut self, total: u64, batch_size: u64) {
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
    pub(super) async fn wait_total(&mut self, cancel: &CancellationToken) -> Result<(), Stop> {
        let Some(p) = self.pending.as_mut() else {
            return Ok(());
        };
        p.start();
        p.waiting();
        let r = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(Stop::by_operator()),
            r = &mut p.count => r,
        };
        self.settle_total(Some(r))
    }

    /// Announces the total that has just arrived, then what waited for it.
    fn settle_total(
        &mut self,
        r: Option<Result<Result<u64, Error>, tokio::task::JoinError>>,
    ) -> Result<(), Stop> {
        let Some(mut p) = self.pending.take() else {
            return Ok(());
        };
        let total = match r {
            Some(Ok(Ok(n))) => n,
            Some(Ok(Err(e))) => return Err(Stop::Failed(e.context(&p.label))),
            _ => {
                return Err(Stop::failed(format!(
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
    pub(super) async fn account(
        &mut self,
        job: &Job,
        chunk: &Batch,
        cancel: &CancellationToken,
    ) -> Result<(), Stop> {
        self.read += chunk.read;
        self.fail_rows(job, &chunk.failures, cancel).await?;
        if chunk.last {
            if let Some(p) = self.pending.as_mut()
                && p.lines.len() < MAX_WAITING_LINES
                && !p.count.is_finished()
            {
                p.lines.push((chunk.index, chunk.batch_read));
                let since = *p.since.get_or_insert_with(std::time::Instant::now);
                if p.lines.len() >= COUNT_AFTER_LINES || since.elapsed() >= COUNT_AFTER {
                    p.start();
                }
            } else {
                self.wait_total(cancel).await?;
                self.batch_line(chunk.index, chunk.batch_read);
            }
        }
        Ok(())
    }

    /// Counts and logs rows that failed (one sentence each, naming the row);
    /// fails the run when the failures pass `max_failed`.
    pub(super) async fn fail_rows(
        &mut self,
        job: &Job,
        failures: &[String],
        cancel: &CancellationToken,
    ) -> Result<(), Stop> {
        if failures.is_empty() {
            return Ok(());
        }
        // The total's line comes before any row's warning.
        self.wait_total(cancel).await?;
        for f in failures {
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
            let last = failures.last().map(String::as_str).unwrap_or("");
            return Err(Stop::failed(format!(
                "{} row{} failed, more than max_failed = {} allows ({}{last}); fix the source values or raise max_failed",
                thousands(self.failed),
                if self.failed == 1 { "" } else { "s" },
                job.max_failed(),
                if self.failed == 1 { "" } else { "the last: " },
            )));
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

    /// The pause the listener asked for after each batch (see
    /// `Reporter::paced`); a cancel ends it at once.
    pub(super) async fn pause(&self, cancel: &tokio_util::sync::CancellationToken) {
        if let Some(pause) = self.reporter.pace() {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = cancel.cancelled() => {}
            }
        }
    }

    /// Reports a finished batch: the first and the last always, the others at
    /// most every 50 ms, so that tiny batches cannot flood a slow listener.
    pub(super) fn progress(&mut self, index: u64, rows: u64) -> Result<(), Stop> {
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
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

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
        let mut run = Report::new(Reporter::new("J", tx), "J");
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        run.pending = Some(PendingTotal::new(
            tokio::spawn(async move {
                let _ = wait.await;
                Ok(2500)
            }),
            1000,
            "source".into(),
            None,
        ));
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
        let mut run = Report::new(Reporter::new("J", tx), "J");
        run.pending = Some(PendingTotal::new(
            tokio::spawn(async { Err(Error::from("permission denied for table users")) }),
            1000,
            "source network \"S\" (postgresql://h/db), table users".into(),
            None,
        ));
        match run.wait_total(&CancellationToken::new()).await {
            Err(Stop::Failed(e)) => assert_eq!(
                e.to_string(),
                "source network \"S\" (postgresql://h/db), table users: permission denied for table users"
            ),
            _ => panic!("the run should fail"),
        }
    }

    /// A count that waits for `go`, as a PostgreSQL source's deferred count
    /// does: `started` once it was let go, then `total`; 0 if called off.
    fn deferred(
        total: u64,
        started: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> (
        tokio::task::JoinHandle<Result<u64, Error>>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let count = tokio::spawn(async move {
            if wait.await.is_err() {
                return Ok(0);
            }
            started.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(total)
        });
        (count, go)
    }

    #[tokio::test]
    async fn a_read_that_ends_before_its_deferred_count_starts_is_its_own_total() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut run = Report::new(Reporter::new("J", tx), "J");
        let started = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (count, go) = deferred(999_999, started.clone());
        run.count_alongside(count, 1000, "source".into(), Some(go));
        let job = Job::new("J", "a", "b", "s", SyncMode::Incremental);
        let cancel = CancellationToken::new();
        for (index, rows) in [(1, 1000), (2, 1000), (3, 500)] {
            run.account(&job, &chunk(index, rows, vec![]), &cancel)
                .await
                .unwrap_or_else(|_| panic!("batch {index}"));
        }
        assert_eq!(seen(&mut rx), Vec::<String>::new());
        run.stream_done(&cancel)
            .await
            .unwrap_or_else(|_| panic!("stream_done"));
        assert!(!started.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(
            seen(&mut rx),
            [
                "[INFO] Total records: 2,500",
                "started 2500/3",
                "[INFO] Processing batch 1/3 (1000 records)",
                "[INFO] Processing batch 2/3 (1000 records)",
                "[INFO] Processing batch 3/3 (500 records)",
            ]
        );
    }

    #[tokio::test]
    async fn a_deferred_count_starts_once_enough_batch_lines_wait_and_gives_the_total() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut run = Report::new(Reporter::new("J", tx), "J");
        let started = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (count, go) = deferred(50_000, started.clone());
        run.count_alongside(count, 1000, "source".into(), Some(go));
        let job = Job::new("J", "a", "b", "s", SyncMode::Incremental);
        let cancel = CancellationToken::new();
        for index in 1..=COUNT_AFTER_LINES as u64 {
            tokio::task::yield_now().await;
            assert!(!started.load(std::sync::atomic::Ordering::SeqCst));
            run.account(&job, &chunk(index, 1000, vec![]), &cancel)
                .await
                .unwrap_or_else(|_| panic!("batch {index}"));
        }
        // The count's answer, not the rows read so far, is the total.
        run.stream_done(&cancel)
            .await
            .unwrap_or_else(|_| panic!("stream_done"));
        assert!(started.load(std::sync::atomic::Ordering::SeqCst));
        let lines = seen(&mut rx);
        assert_eq!(lines[0], "[INFO] Total records: 50,000");
        assert_eq!(lines[2], "[INFO] Processing batch 1/50 (1000 records)");
    }

    /// A read that ends with fewer rows than its snapshot's count (a stream
    /// cut short without an error) fails the run instead of its rows being
    /// taken for deleted ones; the whole read passes.
    #[tokio::test]
    async fn a_read_short_of_its_count_fails_the_run() {
        let job = Job::new("J", "a", "b", "s", SyncMode::Full);
        let cancel = CancellationToken::new();
        for (read, ok) in [(2_000, false), (2_500, true)] {
            let (tx, _rx) = mpsc::unbounded_channel();
            let mut run = Report::new(Reporter::new("J", tx), "J");
            run.count_alongside(
                tokio::spawn(async { Ok(2_500) }),
                1000,
                "source".into(),
                None,
            );
            for (index, rows) in [(1, 1000), (2, 1000), (3, read - 2000)] {
                run.account(&job, &chunk(index, rows, vec![]), &cancel)
                    .await
                    .unwrap_or_else(|_| panic!("batch {index}"));
            }
            match run.all_counted_read(&cancel).await {
                Ok(()) => assert!(ok, "a read of {read} rows of 2,500 passed"),
                Err(Stop::Failed(e)) => {
                    assert!(!ok, "{e}");
                    assert!(
                        e.to_string()
                            .contains("counted 2,500 rows for this read but sent 2,000"),
                        "{e}"
                    );
                }
                Err(_) => panic!("cancelled"),
            }
        }
    }
}
