//! A full sync: every row in one target transaction. Into an empty target
//! the rows go straight in; otherwise they are staged, checked against the
//! guards, and merged, and nothing is committed unless every guard passes.

use super::super::report::Report;
use super::super::setup::Setup;
use super::super::stop::Stop;
use super::super::stream::Reader;
use super::isolate::RowWriter;
use crate::engine::db::Writer;
use crate::engine::db::plan::Plan;
use crate::engine::progress::{Changes, Level, thousands};
use crate::engine::types::Value;
use crate::workspace::Job;

/// What the load left: rows the target took, and the keys of rows that
/// failed to convert or were refused (their target copies must survive the
/// merge).
pub(super) struct Loaded {
    pub(super) written: u64,
    kept: Vec<Vec<Value>>,
}

pub(super) async fn apply(
    report: &mut Report,
    s: &Setup<'_>,
    plan: &Plan,
    w: &mut Writer,
    reader: &mut Reader,
) -> Result<(), Stop> {
    let (t, cancel) = (&s.target, s.cancel);
    t.op(cancel, w.begin()).await?;
    let before = t.op(cancel, w.count(false)).await?;
    // Into an empty target, rows go straight in, inside the same transaction.
    let stage = before > 0;
    let loaded = load(report, s, plan, w, reader, stage).await?;
    report.all_counted_read(cancel).await?;
    t.op(cancel, w.flush()).await?;
    // Into the empty table, the server's own tally of what its loads stored
    // stands in for counting the table again (a scan of every row just
    // written).
    let landed = match w.copied() {
        Some(copied) if !stage => copied,
        _ => t.op(cancel, w.count(stage)).await?,
    };
    if landed != loaded.written {
        return Err(Stop::failed(format!(
            "{} rows were read but {} arrived in the target's {}; nothing was changed",
            thousands(loaded.written),
            thousands(landed),
            if stage { "staging table" } else { "table" }
        )));
    }
    let changes = if stage {
        merge(report, s, plan, w, before, &loaded).await?
    } else {
        Changes::all_inserted(loaded.written)
    };
    if cancel.is_cancelled() {
        return Err(Stop::by_operator());
    }
    // Never abandoned half-way: a cancel now could not know whether it
    // committed.
    super::commit(w, t).await?;
    report.committed = loaded.written;
    report.changes = Some(changes);
    Ok(())
}

/// Writes every batch the reader sends, into the staging table (`stage`) or
/// the target table; a row the target refuses fails alone.
pub(super) async fn load(
    report: &mut Report,
    s: &Setup<'_>,
    plan: &Plan,
    w: &mut Writer,
    reader: &mut Reader,
    stage: bool,
) -> Result<Loaded, Stop> {
    let mut kept = Vec::new();
    let mut rows = RowWriter::within(w, plan, stage, s);
    while let Some(mut chunk) = reader.next(s).await? {
        report.account(&s.job, &chunk, s.cancel).await?;
        kept.append(&mut chunk.kept);
        rows.write(s, std::mem::take(&mut chunk.rows)).await?;
        rows.write_wire(s, std::mem::take(&mut chunk.wire), chunk.wire_rows)
            .await?;
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
    kept.append(&mut rows.kept);
    Ok(Loaded {
        written: rows.written,
        kept,
    })
}

/// Applies the staged rows to a target that held `before` rows, inside the
/// run's transaction, and checks the outcome against the job's guards;
/// returns what it changed.
async fn merge(
    report: &mut Report,
    s: &Setup<'_>,
    plan: &Plan,
    w: &mut Writer,
    before: u64,
    loaded: &Loaded,
) -> Result<Changes, Stop> {
    refuse_emptying(&s.job, plan, loaded.written, before)?;
    let (changes, after) = apply_stage(s, w, before, loaded).await?;
    let deleted = changes.deleted;
    check_outcome(&s.job, plan, before, loaded, changes, after)?;
    if deleted > 0 {
        report.log(
            Level::Info,
            format!(
                "Deleted {} rows no longer in the source",
                thousands(deleted)
            ),
        );
    }
    Ok(changes)
}

/// Applies the stage to the target (inside the open transaction): returns
/// what changed and the rows the target then holds.
pub(super) async fn apply_stage(
    s: &Setup<'_>,
    w: &mut Writer,
    before: u64,
    loaded: &Loaded,
) -> Result<(Changes, u64), Stop> {
    let (t, cancel) = (&s.target, s.cancel);
    if loaded.kept.is_empty() {
        return t.op(cancel, w.merge(before, loaded.written)).await;
    }
    let mut changes = t.op(cancel, w.upsert(true, loaded.written)).await?;
    // Keys of rows that failed to convert join the staged keys only now,
    // after the upsert: their target rows are neither updated nor deleted.
    t.op(cancel, w.write(&loaded.kept, true)).await?;
    t.op(cancel, w.flush()).await?;
    changes.deleted = t.op(cancel, w.delete_missing()).await?;
    Ok((changes, t.op(cancel, w.count(false)).await?))
}

/// The guards on an applied stage: not too many deletes, no merged keys.
pub(super) fn check_outcome(
    job: &Job,
    plan: &Plan,
    before: u64,
    loaded: &Loaded,
    changes: Changes,
    after: u64,
) -> Result<(), Stop> {
    refuse_mass_delete(job, plan, changes.deleted, before, loaded.written)?;
    // Kept rows make the count inexact; the check is skipped then.
    if loaded.kept.is_empty() {
        refuse_merged_keys(plan, loaded.written, after)?;
    }
    Ok(())
}

/// A source that returns nothing must not empty a target that holds rows,
/// unless the job allows it.
pub(super) fn refuse_emptying(
    job: &Job,
    plan: &Plan,
    written: u64,
    before: u64,
) -> Result<(), Stop> {
    if written == 0 && !job.allow_empty() {
        return Err(Stop::failed(format!(
            "the source table {} returned no rows while the target table {} holds {}; refusing to empty it \
             (set allow_empty = true on the job if that is intended); the target was left unchanged",
            plan.source_table,
            plan.target_table,
            thousands(before)
        )));
    }
    Ok(())
}

/// The merge may delete at most `max_delete_percent` of the target's rows
/// (emptying a target the job allows to be emptied aside).
pub(super) fn refuse_mass_delete(
    job: &Job,
    plan: &Plan,
    deleted: u64,
    before: u64,
    written: u64,
) -> Result<(), Stop> {
    let pct = deleted as f64 * 100.0 / before as f64;
    let limit = job.max_delete_percent();
    let emptying_allowed = written == 0 && job.allow_empty();
    if pct > limit && !emptying_allowed {
        return Err(Stop::failed(format!(
            "the sync would delete {} of {} rows ({pct:.0}%) from the target table {}, more than \
             max_delete_percent = {limit}; nothing was changed (raise max_delete_percent on the job \
             if the source really lost those rows)",
            thousands(deleted),
            thousands(before),
            plan.target_table
        )));
    }
    Ok(())
}

/// Rows sharing a key merge silently in an upsert; the target must end up
/// with exactly the rows read, or the key is not unique.
pub(super) fn refuse_merged_keys(plan: &Plan, written: u64, after: u64) -> Result<(), Stop> {
    if after == written {
        return Ok(());
    }
    let keys: Vec<&str> = plan
        .key_read
        .iter()
        .map(|&k| plan.read[k].name.as_str())
        .collect();
    Err(Stop::failed(format!(
        "the source table {} has {} rows but only {} distinct values of its primary key ({}) \
         as the target table {} compares them; the schema's primary_key must be unique in the \
         source, and the target's key columns must not treat different values as equal \
         (a case- or accent-insensitive collation does); the target was left unchanged",
        plan.source_table,
        thousands(written),
        thousands(after),
        keys.join(", "),
        plan.target_table
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::SyncMode;

    fn plan() -> Plan {
        Plan {
            source_table: "src_users".into(),
            target_table: "users".into(),
            read: Vec::new(),
            targets: Vec::new(),
            key_read: Vec::new(),
            cursor_read: None,
        }
    }

    fn failure(r: Result<(), Stop>) -> String {
        match r {
            Err(Stop::Failed(e)) => e.to_string(),
            Err(Stop::Cancelled(e)) => panic!("cancelled, not failed: {e}"),
            Ok(()) => panic!("the guard let it pass"),
        }
    }

    #[test]
    fn an_empty_source_empties_the_target_only_when_the_job_allows_it() {
        let mut job = Job::new("J", "a", "b", "s", SyncMode::Full);
        assert_eq!(
            failure(refuse_emptying(&job, &plan(), 0, 1200)),
            "the source table src_users returned no rows while the target table users holds 1,200; \
             refusing to empty it (set allow_empty = true on the job if that is intended); the target \
             was left unchanged"
        );
        assert!(refuse_emptying(&job, &plan(), 1, 1200).is_ok());
        job.allow_empty = Some(true);
        assert!(refuse_emptying(&job, &plan(), 0, 1200).is_ok());
        // Emptying allowed, deleting everything is no longer "too many".
        assert!(refuse_mass_delete(&job, &plan(), 1200, 1200, 0).is_ok());
    }

    #[test]
    fn deleting_more_than_max_delete_percent_is_refused() {
        let mut job = Job::new("J", "a", "b", "s", SyncMode::Full);
        job.max_delete_percent = Some(10.0);
        assert!(refuse_mass_delete(&job, &plan(), 100, 1000, 900).is_ok());
        assert_eq!(
            failure(refuse_mass_delete(&job, &plan(), 101, 1000, 899)),
            "the sync would delete 101 of 1,000 rows (10%) from the target table users, more than \
             max_delete_percent = 10; nothing was changed (raise max_delete_percent on the job if the \
             source really lost those rows)"
        );
    }

    #[test]
    fn a_target_short_of_rows_after_the_merge_means_keys_merged() {
        assert!(refuse_merged_keys(&plan(), 5, 5).is_ok());
        assert!(failure(refuse_merged_keys(&plan(), 5, 4)).starts_with(
            "the source table src_users has 5 rows but only 4 distinct values of its primary key ()"
        ));
    }
}
