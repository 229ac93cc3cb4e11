//! A dry run's last phase: the rows are staged and the changes counted
//! exactly as a run would make them, inside a transaction that is then
//! rolled back, so the target ends exactly as it was. The watermark is not
//! touched. Into a table that does not exist (and is not created) or is
//! empty, every row read would be inserted: the rows are only read.

use super::super::report::Report;
use super::super::setup::Setup;
use super::super::stop::Stop;
use super::super::stream::Reader;
use super::full;
use crate::engine::db::Writer;
use crate::engine::db::connect::Conn;
use crate::engine::db::plan::Plan;
use crate::engine::db::read::shown_key_text;
use crate::engine::db::target::KeySet;
use crate::engine::preview::FIRST_KEYS;
use crate::engine::progress::Changes;
use crate::engine::types::Value;
use crate::workspace::SyncMode;

/// Counts what the run would change; `target` is `None` when the table does
/// not exist. Leaves the counts in `report`.
pub(in super::super) async fn preview(
    report: &mut Report,
    s: &Setup<'_>,
    plan: &Plan,
    target: Option<Conn>,
    reader: &mut Reader,
) -> Result<(), Stop> {
    let Some(target) = target else {
        return read_only(report, s, plan, reader).await;
    };
    let (t, cancel) = (&s.target, s.cancel);
    let mut w = t.op(cancel, Writer::new(target, plan)).await?;
    let r = match t.op(cancel, w.create_stage()).await {
        Ok(()) => staged(report, s, plan, &mut w, reader).await,
        Err(e) => Err(e),
    };
    // Whatever happened, nothing stays.
    w.rollback().await;
    w.close().await;
    r
}

/// Stages every row, lists the first keys of each change, applies the stage
/// to learn the exact counts, and checks the run's guards.
async fn staged(
    report: &mut Report,
    s: &Setup<'_>,
    plan: &Plan,
    w: &mut Writer,
    reader: &mut Reader,
) -> Result<(), Stop> {
    let (t, cancel) = (&s.target, s.cancel);
    t.op(cancel, w.begin()).await?;
    let before = t.op(cancel, w.count(false)).await?;
    if before == 0 && s.job.mode == SyncMode::Full {
        return read_only(report, s, plan, reader).await;
    }
    let loaded = full::load(report, s, plan, w, reader, true).await?;
    read_ended(report, s).await?;
    t.op(cancel, w.flush()).await?;
    report.first.insert = t
        .op(cancel, w.first_keys(KeySet::Insert, FIRST_KEYS))
        .await?;
    report.first.update = t
        .op(cancel, w.first_keys(KeySet::Update, FIRST_KEYS))
        .await?;
    if s.job.mode == SyncMode::Incremental {
        report.changes = Some(t.op(cancel, w.upsert(true, loaded.written)).await?);
        return Ok(());
    }
    report.first.delete = t
        .op(cancel, w.first_keys(KeySet::Delete, FIRST_KEYS))
        .await?;
    let (changes, after) = full::apply_stage(s, w, before, &loaded).await?;
    report.changes = Some(changes);
    full::refuse_emptying(&s.job, plan, loaded.written, before)?;
    full::check_outcome(&s.job, plan, before, &loaded, changes, after)
}

/// Into a missing or empty table: every row read would be inserted.
async fn read_only(
    report: &mut Report,
    s: &Setup<'_>,
    plan: &Plan,
    reader: &mut Reader,
) -> Result<(), Stop> {
    let mut written = 0;
    while let Some(chunk) = reader.next(s).await? {
        report.account(&s.job, &chunk, s.cancel).await?;
        written += chunk.rows.len() as u64;
        for row in &chunk.rows {
            if report.first.insert.len() as u64 >= FIRST_KEYS {
                break;
            }
            report.first.insert.push(key_text(plan, row));
        }
        if chunk.last {
            report.progress(chunk.index, chunk.batch_read)?;
        }
    }
    read_ended(report, s).await?;
    report.changes = Some(Changes::all_inserted(written));
    Ok(())
}

/// The read has ended: its total is awaited, and a full sync's read is held
/// to it as the run holds it (a read cut short would preview phantom deletes).
async fn read_ended(report: &mut Report, s: &Setup<'_>) -> Result<(), Stop> {
    match s.job.mode {
        SyncMode::Full => report.all_counted_read(s.cancel).await,
        SyncMode::Incremental => report.wait_total(s.cancel).await,
    }
}

/// A row's key as the target would spell it: `42`, or `7, 42`.
fn key_text(plan: &Plan, row: &[Value]) -> String {
    plan.key_read
        .iter()
        .map(|&k| match row.get(k) {
            Some(Value::Int(i)) => i.to_string(),
            Some(Value::Text(t)) => shown_key_text(t).into_owned(),
            Some(Value::Decimal(t)) => t.clone(),
            Some(Value::Uuid(u)) => u.hyphenated().to_string(),
            Some(v) => format!("{v:?}"),
            None => "?".into(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
