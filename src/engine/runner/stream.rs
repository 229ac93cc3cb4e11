//! The third phase: the source's rows on their way. The count comes first, or
//! runs beside the read where the snapshot can be shared; then a reader task
//! streams the snapshot into batches on a bounded channel, which the apply
//! phase drains.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::report::Report;
use super::setup::Setup;
use super::stop::{Stop, or_cancel};
use crate::engine::db::plan::Plan;
use crate::engine::db::read::{Batch, BatchBuilder, CHUNK_ROWS, Cutoff, ReadMsg};
use crate::engine::db::{Conn, Source};

/// Rows in flight between the reader and the writer: enough to keep the
/// source streaming while the target digests a bulk write, few enough to
/// bound memory (chunks are also cut at 4 MB, so at most ~40 MB wait here).
const CHANNEL_ROWS: u64 = 50_000;

/// Counts the rows `count` selects: beside the read when the source can
/// share its snapshot with a second connection, else now, before the read.
/// `deferred` (a read past a watermark, often a few batches): beside the read
/// only once its batch lines have waited a while; a read that ends first
/// has counted its rows itself (`Report::stream_done`), and the source is
/// not scanned a second time.
pub(super) async fn count(
    report: &mut Report,
    s: &Setup<'_>,
    source: &mut Source,
    count: &str,
    deferred: bool,
) -> Result<(), Stop> {
    let (go, wait) = match deferred {
        true => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (Some(tx), Some(rx))
        }
        false => (None, None),
    };
    let alongside = or_cancel(s.cancel, source.count_alongside(count.to_string(), wait))
        .await
        .map_err(|e| s.source.name(e))?;
    match alongside {
        Some(handle) => {
            report.count_alongside(handle, s.batch_size(), s.source.label.clone(), go);
            report.watch_count(s.source.watch());
        }
        None => {
            let total = s.source.op(s.cancel, source.count(count)).await?;
            report.announce_total(total, s.batch_size());
        }
    }
    Ok(())
}

/// The reader task and the receiving end of its batches.
pub(super) struct Reader {
    rx: mpsc::Receiver<ReadMsg>,
    /// A chunk handed back (`unread`), to be received again first.
    back: Option<Batch>,
    /// Rows left out for their NULL cursor, when the read counts them.
    null_cursors: Option<Arc<AtomicU64>>,
    /// Stops the reader without cancelling the run.
    stop: CancellationToken,
    /// `None` once `finish` has taken it.
    task: Option<JoinHandle<()>>,
}

/// A run dropped where it waits (a stalled server) stops its reader too,
/// closing the source connection and its snapshot.
impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Reader {
    /// Streams `select` from the source's snapshot, then ends the snapshot
    /// and closes the source; with `others`, each of them at once on its
    /// own session, which joined the snapshot (`key_ranges`). With
    /// `null_cursors`, rows whose cursor is NULL are counted and left out
    /// (`ReadQuery::null_cursors`). `wire`: rows may come through in the
    /// source's own encoding (`Batch::wire`).
    pub(super) fn spawn(
        mut source: Source,
        plan: Arc<Plan>,
        (select, others): (String, Vec<(Conn, String)>),
        cutoff: Option<Cutoff>,
        null_cursors: bool,
        wire: bool,
        s: &Setup,
    ) -> Self {
        let nulls = null_cursors.then(|| Arc::new(AtomicU64::new(0)));
        let batch_size = s.batch_size();
        let chunk = batch_size.min(CHUNK_ROWS as u64);
        let (tx, rx) = mpsc::channel::<ReadMsg>((CHANNEL_ROWS / chunk).clamp(2, 64) as usize);
        let stop = s.cancel.child_token();
        let label = s.source.label.clone();
        let task = {
            let stop = stop.clone();
            let nulls = nulls.clone();
            tokio::spawn(async move {
                let mut b = BatchBuilder::new(plan, batch_size as usize, tx, stop, cutoff);
                if wire {
                    b.pass_through();
                }
                if let Some(n) = nulls {
                    b.skip_null_cursors(n);
                }
                let r = match others.is_empty() {
                    true => source.stream(&select, &mut b).await,
                    false => source.stream_ranges(&select, others, &mut b).await,
                };
                source.end_snapshot().await;
                source.conn.close().await;
                match r {
                    Ok(()) => {
                        let _ = b.finish().await;
                    }
                    Err(e) if !b.is_cancelled() => b.fail(format!("{label}: {e}")).await,
                    Err(_) => {}
                }
            })
        };
        Reader {
            rx,
            back: None,
            null_cursors: nulls,
            stop,
            task: Some(task),
        }
    }

    /// Receives the next chunk of a batch; `None` when the source is done.
    pub(super) async fn next(&mut self, s: &Setup<'_>) -> Result<Option<Batch>, Stop> {
        if let Some(b) = self.back.take() {
            return Ok(Some(b));
        }
        s.source.waiting("rows");
        let msg = tokio::select! {
            biased;
            _ = s.cancel.cancelled() => return Err(Stop::by_operator()),
            m = self.rx.recv() => m,
        };
        s.source.answered();
        match msg {
            None => Ok(None),
            Some(Err(e)) => Err(Stop::failed(e)),
            Some(Ok(batch)) => Ok(Some(batch)),
        }
    }

    /// The rows left out so far for their NULL cursor, when the read counts
    /// them (complete once the read has ended).
    pub(super) fn null_cursors(&self) -> Option<u64> {
        self.null_cursors
            .as_ref()
            .map(|n| n.load(Ordering::Relaxed))
    }

    /// Whether `next` has a chunk at hand, without waiting for the source.
    pub(super) fn ready(&self) -> bool {
        self.back.is_some() || !self.rx.is_empty()
    }

    /// Hands a chunk back: `next` returns it again.
    pub(super) fn unread(&mut self, chunk: Batch) {
        self.back = Some(chunk);
    }

    /// Stops reading. After a run that succeeded the reader has finished its
    /// work, and is awaited; after one that failed it is aborted wherever it is.
    pub(super) async fn finish(mut self, succeeded: bool) {
        self.stop.cancel();
        let task = self.task.take();
        drop(self);
        if let Some(task) = task {
            if succeeded {
                let _ = task.await;
            } else {
                task.abort();
            }
        }
    }
}
