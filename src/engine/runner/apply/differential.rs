//! A differential full sync: only the rows of the key segments that differ
//! (see `diff_plan`) are staged and merged, in one target transaction, as a
//! full sync's. Their inserts and updates come from the upsert of the stage;
//! deletes are the target's keys in those segments that the source no longer
//! has, staged in their turn and deleted by key. The guards hold as in a
//! whole copy, computed from the counts.

use std::collections::HashSet;

use super::super::diff_plan::{self, Keep, Segments};
use super::super::report::Report;
use super::super::setup::Setup;
use super::super::stop::Stop;
use super::super::stream::Reader;
use super::full;
use super::isolate::RowWriter;
use crate::engine::db::Writer;
use crate::engine::db::plan::Plan;
use crate::engine::progress::{Changes, Level, thousands};

pub(in super::super) async fn apply(
    report: &mut Report,
    s: &Setup<'_>,
    plan: &Plan,
    writers: &mut super::Writers,
    reader: &mut Reader,
    seg: Segments,
) -> Result<(), Stop> {
    if let Some(unchanged) = seg.all_equal {
        return nothing_differs(report, s, reader, unchanged).await;
    }
    let w = &mut writers.main;
    let (t, cancel) = (&s.target, s.cancel);
    t.op(cancel, w.begin()).await?;
    // The target's rows as its checksum pass counted them a moment ago: a
    // count here would scan the whole table again for the guards' sake. The
    // count after the merge, which checks the outcome, stays.
    let before = seg.target_rows;
    let (source_rows, target_differing) = (seg.source_rows, seg.target_rows_differing);
    // Where the source could not filter by segment, DSP does.
    let Loaded {
        written,
        equal,
        present,
        refused,
    } = load(report, s, plan, w, reader, seg.keep.as_ref()).await?;
    report.all_counted_read(cancel).await?;
    t.op(cancel, w.flush()).await?;
    let landed = t.op(cancel, w.count(true)).await?;
    if landed != written {
        return Err(Stop::failed(format!(
            "{} rows were read but {} arrived in the target's staging table; nothing was changed",
            thousands(written),
            thousands(landed)
        )));
    }
    let mut changes = t.op(cancel, w.upsert(true, written)).await?;

    let gone: Vec<_> = seg
        .target_keys
        .into_iter()
        .filter(|(k, _)| !present.contains(k))
        .map(|(_, key)| diff_plan::key_row(plan, key))
        .collect();
    if !gone.is_empty() {
        t.op(cancel, w.empty_stage()).await?;
        t.op(cancel, w.write(&gone, true)).await?;
        t.op(cancel, w.flush()).await?;
        changes.deleted = t.op(cancel, w.delete_staged()).await?;
    }
    // Rows of the equal segments are unchanged without being read.
    changes.unchanged += before.saturating_sub(target_differing);
    full::refuse_mass_delete(&s.job, plan, changes.deleted, before, source_rows)?;
    if !refused {
        let after = t.op(cancel, w.count(false)).await?;
        full::refuse_merged_keys(plan, source_rows, after)?;
    }
    if changes.deleted > 0 {
        report.log(
            Level::Info,
            format!(
                "Deleted {} rows no longer in the source",
                thousands(changes.deleted)
            ),
        );
    }
    if cancel.is_cancelled() {
        return Err(Stop::by_operator());
    }
    super::commit(w, t).await?;
    // Rows read and found equal already count as a whole copy counts them.
    report.committed = written + equal;
    report.changes = Some(changes);
    Ok(())
}

/// Every segment matched: there is nothing to write, so no transaction is
/// opened (its counts before and after would each scan the whole target).
/// The read, filtered to nothing, is drained.
async fn nothing_differs(
    report: &mut Report,
    s: &Setup<'_>,
    reader: &mut Reader,
    unchanged: u64,
) -> Result<(), Stop> {
    while let Some(chunk) = reader.next(s).await? {
        if chunk.read > 0 {
            return Err(Stop::failed(
                "the source returned rows for segments its checksums found equal; nothing was \
                 changed; run the job again",
            ));
        }
    }
    report.wait_total(s.cancel).await?;
    report.committed = 0;
    report.changes = Some(Changes {
        unchanged,
        ..Changes::default()
    });
    Ok(())
}

/// What `load` staged and saw.
struct Loaded {
    /// Rows staged.
    written: u64,
    /// Rows read but not staged: the source could not filter them, and
    /// their segment or row hash equals the target's.
    equal: u64,
    /// The canonical keys of every source row staged (refused and failed
    /// rows included: their target copies must stay).
    present: HashSet<String>,
    /// Whether any row was refused or failed.
    refused: bool,
}

/// Stages the fetched rows of the differing segments (dropping the others
/// where the source could not filter them itself).
async fn load(
    report: &mut Report,
    s: &Setup<'_>,
    plan: &Plan,
    w: &mut Writer,
    reader: &mut Reader,
    keep: Option<&Keep>,
) -> Result<Loaded, Stop> {
    let mut present = HashSet::new();
    let mut refused = false;
    let mut equal = 0;
    let mut rows = RowWriter::within(w, plan, true, s);
    while let Some(mut chunk) = reader.next(s).await? {
        report.account(&s.job, &chunk, s.cancel).await?;
        let mut fetched = std::mem::take(&mut chunk.rows);
        if let Some(keep) = keep {
            let read = fetched.len();
            fetched.retain(|r| keep.holds(plan, r));
            equal += (read - fetched.len()) as u64;
        }
        for r in fetched.iter().chain(&chunk.kept) {
            present.insert(diff_plan::key_text(plan, r));
        }
        refused |= !chunk.kept.is_empty();
        rows.write(s, fetched).await?;
        report
            .fail_rows(&s.job, &std::mem::take(&mut rows.failures), s.cancel)
            .await?;
        if chunk.last {
            report.progress(chunk.index, chunk.batch_read)?;
            report.pause(s.cancel).await;
        }
    }
    rows.flush(s).await?;
    report.fail_rows(&s.job, &rows.failures, s.cancel).await?;
    refused |= !rows.kept.is_empty();
    Ok(Loaded {
        written: rows.written,
        equal,
        present,
        refused,
    })
}
