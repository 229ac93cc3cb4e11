//! An incremental sync: batch by batch, each upserted and committed on its
//! own, the watermark moving only after its commit. With a second writer, the
//! next batch is staged on it while this one is applied and committed; batches
//! still commit one after the other, in order, and only the committing writer
//! touches the target table.

use tokio_util::sync::CancellationToken;

use super::super::report::Report;
use super::super::setup::{Setup, Side};
use super::super::stop::Stop;
use super::super::stream::Reader;
use crate::engine::db::Writer;
use crate::engine::progress::{Changes, Level, thousands};

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
}

pub(super) async fn apply(
    report: &mut Report,
    s: &Setup<'_>,
    w: &mut Writer,
    mut ahead: Option<&mut Writer>,
    reader: &mut Reader,
    mut watermark: Option<String>,
) -> Result<(), Stop> {
    let (t, cancel) = (&s.target, s.cancel);
    // Past a watermark nearly every row read has changed; a first run
    // (into a target that may hold the rows already) or a lookback
    // re-reads rows that have not.
    let unchanged_likely = watermark.is_none() || s.job.lookback().is_some();
    let mut cursor: Option<String> = None;
    let mut written = 0;
    let mut future = 0;
    let mut cur: &mut Writer = w;
    let mut staged = stage_batch(report, s, cur, reader).await?;
    while let Some(batch) = staged {
        let (applied, next) = match ahead.take() {
            Some(other) => {
                let (a, n) = tokio::join!(
                    apply_batch(cur, &batch, unchanged_likely, t, cancel),
                    stage_batch(report, s, other, reader)
                );
                ahead = Some(std::mem::replace(&mut cur, other));
                (a, n)
            }
            None => {
                let a = apply_batch(cur, &batch, unchanged_likely, t, cancel).await;
                let n = match a {
                    Ok(_) => stage_batch(report, s, cur, reader).await,
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
        if batch.cursor.is_some() {
            cursor = batch.cursor;
        }
        // Only now that the target holds these rows may the watermark move.
        if let Some(c) = &cursor
            && watermark.as_deref() != Some(c.as_str())
        {
            save_watermark(s, c)?;
            watermark = Some(c.clone());
        }
        report.progress(batch.index, batch.read)?;
        report.pause(s.cancel).await;
        staged = next?;
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
/// it begins; `None` when the source is done.
async fn stage_batch(
    report: &mut Report,
    s: &Setup<'_>,
    w: &mut Writer,
    reader: &mut Reader,
) -> Result<Option<StagedBatch>, Stop> {
    let (t, cancel) = (&s.target, s.cancel);
    let mut b = StagedBatch::default();
    while let Some(chunk) = reader.next(s).await? {
        report.account(&s.job, &chunk, cancel).await?;
        if chunk.last_cursor.is_some() {
            b.cursor = chunk.last_cursor.clone();
        }
        b.future += chunk.future;
        if !chunk.rows.is_empty() {
            if !b.open {
                t.op(cancel, w.begin()).await?;
                b.open = true;
            }
            t.op(cancel, w.write(&chunk.rows, true)).await?;
            b.rows += chunk.rows.len() as u64;
        }
        if chunk.last {
            if b.open {
                t.op(cancel, w.flush()).await?;
            }
            b.index = chunk.index;
            b.read = chunk.batch_read;
            return Ok(Some(b));
        }
    }
    Ok(None)
}

/// Upserts a staged batch into the target and commits it; returns what it
/// changed.
async fn apply_batch(
    w: &mut Writer,
    batch: &StagedBatch,
    unchanged_likely: bool,
    t: &Side<'_>,
    cancel: &CancellationToken,
) -> Result<Changes, Stop> {
    if !batch.open {
        return Ok(Changes::default());
    }
    let changes = t.op(cancel, w.upsert(unchanged_likely, batch.rows)).await?;
    t.op(cancel, w.clear_stage()).await?;
    // Never abandoned half-way: a cancel now could not know whether it
    // committed.
    super::commit(w, t).await?;
    Ok(changes)
}
