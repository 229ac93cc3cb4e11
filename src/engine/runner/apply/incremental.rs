//! An incremental sync: batch by batch, each upserted and committed on its
//! own, the watermark moving only after its commit. With a second writer, the
//! next batch is staged on it while this one is applied and committed; batches
//! still commit one after the other, in order, and only the committing writer
//! touches the target table.

use super::super::report::Report;
use super::super::setup::Setup;
use super::super::stop::Stop;
use super::super::stream::Reader;
use super::isolate::RowWriter;
use crate::engine::DbErrorKind;
use crate::engine::db::Writer;
use crate::engine::db::plan::Plan;
use crate::engine::error::Error;
use crate::engine::progress::{Changes, Level, thousands};
use crate::engine::target_state;
use crate::engine::types::Value;

/// A batch read and staged, its transaction open (`open`) unless none of its
/// rows could be converted.
#[derive(Default)]
struct StagedBatch {
    index: u64,
    read: u64,
    rows: u64,
    cursor: Option<String>,
    open: bool,
    /// Rows whose cursor is past the source's clock.
    future: u64,
    /// The batch's rows, when they were staged in one unit: should the
    /// upsert refuse one of them, they are applied again in parts.
    whole: Option<Vec<Vec<Value>>>,
}

/// A batch whose upsert refused rows, applied again without them and not
/// yet committed: their failures are counted first.
struct Refused {
    failures: Vec<String>,
    written: u64,
    changes: Changes,
}

pub(super) async fn apply(
    report: &mut Report,
    s: &Setup<'_>,
    plan: &Plan,
    w: &mut Writer,
    mut ahead: Option<&mut Writer>,
    reader: &mut Reader,
    mut watermark: Option<String>,
) -> Result<(), Stop> {
    let cancel = s.cancel;
    // Past a watermark nearly every row read has changed; a first run
    // (into a target that may hold the rows already) or a lookback
    // re-reads rows that have not.
    let unchanged_likely = watermark.is_none() || s.job.lookback().is_some();
    let mut cursor: Option<String> = None;
    let mut written = 0;
    let mut future = 0;
    let mut cur: &mut Writer = w;
    // With the state in the target: the watermark last written with rows.
    let mut stamped = watermark.clone();
    let mut staged = stage_batch(report, s, plan, cur, reader).await?;
    while let Some(mut batch) = staged {
        let whole = batch.whole.take();
        let (applied, next) = match ahead.take() {
            Some(other) => {
                let (a, n) = tokio::join!(
                    apply_batch(cur, &batch, whole, unchanged_likely, plan, s),
                    stage_batch(report, s, plan, other, reader)
                );
                let applying = std::mem::replace(&mut cur, other);
                let changes = match a? {
                    Applied::Committed(c) => c,
                    Applied::Refused(refused) => {
                        let c = refused.changes;
                        let at = batch.cursor.as_deref();
                        batch.rows = settle(report, s, applying, refused, at).await?;
                        c
                    }
                };
                ahead = Some(applying);
                (Ok(changes), n)
            }
            None => {
                let a = apply_batch(cur, &batch, whole, unchanged_likely, plan, s).await;
                let a = match a {
                    Ok(Applied::Refused(refused)) => {
                        let c = refused.changes;
                        let at = batch.cursor.as_deref();
                        settle(report, s, cur, refused, at).await.map(|n| {
                            batch.rows = n;
                            c
                        })
                    }
                    Ok(Applied::Committed(c)) => Ok(c),
                    Err(e) => Err(e),
                };
                let n = match a {
                    Ok(_) => stage_batch(report, s, plan, cur, reader).await,
                    Err(_) => Ok(None),
                };
                (a, n)
            }
        };
        let changes = applied?;
        report.changes.get_or_insert_default().add(changes);
        written += batch.rows;
        future += batch.future;
        report.committed = written;
        if batch.open && batch.cursor.is_some() {
            stamped = batch.cursor.clone();
        }
        if batch.cursor.is_some() {
            cursor = batch.cursor;
        }
        // Only now that the target holds these rows may the watermark move.
        if let Some(c) = &cursor
            && watermark.as_deref() != Some(c.as_str())
        {
            if !s.state_in_target {
                save_watermark(s, c)?;
            }
            watermark = Some(c.clone());
        }
        report.progress(batch.index, batch.read)?;
        report.pause(s.cancel).await;
        staged = next?;
    }
    // A last batch none of whose rows could be written committed nothing to
    // carry its watermark: it moves on its own (no transaction is open now).
    if s.state_in_target && cursor.is_some() && cursor != stamped {
        stamp(s, cur, cursor.as_deref()).await?;
    }
    if future > 0 {
        report.log(
            Level::Warn,
            format!(
                "{} rows of {} have a {} past the source's clock; the watermark stays before \
                 them, so every run reads them again (correct their cursor in the source if it \
                 is wrong)",
                thousands(future),
                s.source.table,
                s.schema.cursor_column.as_deref().unwrap_or("cursor"),
            ),
        );
    }
    report.wait_total(cancel).await
}

fn save_watermark(s: &Setup<'_>, cursor: &str) -> Result<(), Stop> {
    s.watermarks.save(cursor).map_err(|e| {
        Stop::failed(format!(
            "rows up to {cursor} were committed but the watermark could not be saved under {} ({e}); \
             the next run re-reads them",
            s.data.root().display()
        ))
    })
}

/// Reads the next batch and stages its rows on `w` inside a transaction
/// it begins (a row the target refuses fails alone); `None` when the source
/// is done.
async fn stage_batch(
    report: &mut Report,
    s: &Setup<'_>,
    plan: &Plan,
    w: &mut Writer,
    reader: &mut Reader,
) -> Result<Option<StagedBatch>, Stop> {
    let mut b = StagedBatch::default();
    let mut rows = RowWriter::beginning(w, plan, true, s);
    while let Some(mut chunk) = reader.next(s).await? {
        report.account(&s.job, &chunk, s.cancel).await?;
        if chunk.last_cursor.is_some() {
            b.cursor = chunk.last_cursor.clone();
        }
        b.future += chunk.future;
        rows.write(s, std::mem::take(&mut chunk.rows)).await?;
        if chunk.last {
            rows.flush(s).await?;
        }
        let refused = std::mem::take(&mut rows.failures);
        report.fail_rows(&s.job, &refused, s.cancel).await?;
        if chunk.last {
            b.open = rows.began();
            b.rows = rows.written;
            b.index = chunk.index;
            b.read = chunk.batch_read;
            b.whole = rows.into_whole();
            return Ok(Some(b));
        }
    }
    Ok(None)
}

/// How a batch's upsert ended.
enum Applied {
    /// Committed, having changed this.
    Committed(Changes),
    /// The server refused rows of it: applied again without them, left open
    /// for the caller to count their failures before it commits (`settle`).
    Refused(Refused),
}

/// Upserts a staged batch into the target and commits it. Should the server
/// refuse rows of it, and the batch's rows (`whole`) be at hand, it is
/// applied again without them (`Applied::Refused`).
async fn apply_batch(
    w: &mut Writer,
    batch: &StagedBatch,
    whole: Option<Vec<Vec<Value>>>,
    unchanged_likely: bool,
    plan: &Plan,
    s: &Setup<'_>,
) -> Result<Applied, Stop> {
    let (t, cancel) = (&s.target, s.cancel);
    if !batch.open {
        return Ok(Applied::Committed(Changes::default()));
    }
    let upserted = t
        .op(cancel, async {
            Ok::<_, Error>(w.upsert(unchanged_likely, batch.rows).await)
        })
        .await?;
    let changes = match (upserted, whole) {
        (Ok(c), _) => c,
        (Err(e), Some(rows)) if e.kind() == DbErrorKind::Rejected => {
            let rw = RowWriter::reapply(w, plan, s, rows, unchanged_likely, e).await?;
            return Ok(Applied::Refused(Refused {
                written: rw.written,
                failures: rw.failures,
                changes: rw.changes,
            }));
        }
        (Err(e), _) => return Err(t.fail(e)),
    };
    t.op(cancel, w.clear_stage()).await?;
    stamp(s, w, batch.cursor.as_deref()).await?;
    // Never abandoned half-way: a cancel now could not know whether it
    // committed.
    super::commit(w, t).await?;
    Ok(Applied::Committed(changes))
}

/// Counts a batch's refused rows (past max_failed the run fails, the batch
/// uncommitted), then commits the rest; returns the rows written.
async fn settle(
    report: &mut Report,
    s: &Setup<'_>,
    w: &mut Writer,
    refused: Refused,
    cursor: Option<&str>,
) -> Result<u64, Stop> {
    report
        .fail_rows(&s.job, &refused.failures, s.cancel)
        .await?;
    s.target.op(s.cancel, w.clear_stage()).await?;
    stamp(s, w, cursor).await?;
    super::commit(w, &s.target).await?;
    Ok(refused.written)
}

/// With the state in the target (`state = "target"`), writes the batch's
/// watermark in the batch's own transaction, so that the rows and the
/// watermark commit together or not at all.
async fn stamp(s: &Setup<'_>, w: &mut Writer, cursor: Option<&str>) -> Result<(), Stop> {
    let (true, Some(c)) = (s.state_in_target, cursor) else {
        return Ok(());
    };
    let sql = target_state::watermark_sql(w.dialect(), &s.job.name, &s.watermarks.owner, Some(c));
    s.target.op(s.cancel, w.exec(&sql)).await.map(|_| ())
}
