//! The second phase: what the run moves and how it reads it. Both tables are
//! introspected, the target is checked (or created) before any row moves, and
//! the statements that read the source are built in one place.

use std::sync::Arc;

use super::report::Report;
use super::setup::Setup;
use super::stop::Stop;
use crate::engine::db::Dialect;
use crate::engine::db::connect::Conn;
use crate::engine::db::plan::{self, NativeColumn, Plan, TargetColumn};
use crate::engine::db::read::Cutoff;
use crate::engine::db::{self, Source};
use crate::engine::progress::{Level, thousands};
use crate::engine::state;
use crate::engine::types::parse_tz;
use crate::workspace::SyncMode;

/// Introspects both tables and resolves the plan. The target's problems are
/// reported first, and its table is created or checked here, so that DDL
/// stays outside the data transaction.
pub(super) async fn plan(
    report: &mut Report,
    s: &Setup<'_>,
    target: Result<Conn, Stop>,
    source: Result<Conn, Stop>,
    counter: Option<Conn>,
) -> Result<Planned, Stop> {
    let (src, tgt) = (&s.source, &s.target);
    let mut target = target?;
    let existing = db::columns(&mut target, tgt.table)
        .await
        .map_err(|e| tgt.fail(e))?;

    let mut source = Source::new(source?, counter);
    let src_natives = db::columns(&mut source.conn, src.table)
        .await
        .map_err(|e| src.fail(e))?
        .ok_or_else(|| Stop::failed(db::no_table(src.net, src.table)))?;
    let rules = plan::TargetRules::of(target.dialect());
    // The source must fit the mapping before the target is touched at all.
    plan::resolve(
        s.schema,
        src.net,
        &src_natives,
        plan::target_columns(s.schema),
        &[],
        rules,
    )?;
    db::check_lookback(&s.job, s.schema, src.net, &src_natives)?;

    let mut targets = plan::target_columns(s.schema);
    if existing.is_none() && s.dry_run {
        // The run would create the table: every row read would be inserted.
        report.create_target = true;
        report.log(
            Level::Info,
            format!(
                "Target table {} does not exist on network \"{}\"; the run would create it",
                tgt.table, tgt.net.name
            ),
        );
        let plan = plan::resolve(s.schema, src.net, &src_natives, targets, &[], rules)?;
        return Ok(Planned {
            target,
            source,
            plan: Arc::new(plan),
            target_state: TargetState::Created,
        });
    }
    let (natives, target_state) = match existing {
        Some(n) => (n, target_state(s, &mut target).await?),
        None => (
            create_target(report, s, &mut target, &targets).await?,
            TargetState::Created,
        ),
    };
    let limits =
        db::check_existing_target(&mut target, tgt.net, tgt.table, &mut targets, &natives).await?;
    if s.job.mode == SyncMode::Incremental {
        refuse_merging_keys(s, &mut target, &mut source, &src_natives, &targets).await?;
    }
    let mut plan = plan::resolve(s.schema, src.net, &src_natives, targets, &limits, rules)?;
    if s.job.mode != SyncMode::Incremental {
        plan.forget_cursor();
    }
    Ok(Planned {
        target,
        source,
        plan: Arc::new(plan),
        target_state,
    })
}

/// What planning leaves the later phases.
pub(super) struct Planned {
    pub(super) target: Conn,
    pub(super) source: Source,
    pub(super) plan: Arc<Plan>,
    pub(super) target_state: TargetState,
}

/// What the target table held when the run began. An incremental watermark
/// says "the target holds every row up to here": of a table this run
/// created, or one that is empty, it cannot be true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TargetState {
    Created,
    Empty,
    Holding,
}

/// Whether an existing target table holds rows (asked of incremental runs
/// only, whose watermark depends on it: one row is enough to know).
async fn target_state(s: &Setup<'_>, target: &mut Conn) -> Result<TargetState, Stop> {
    if s.job.mode != SyncMode::Incremental {
        return Ok(TargetState::Holding);
    }
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 AS one FROM {} LIMIT 1) AS dsp_any",
        target.dialect().table(s.target.table)
    );
    let rows = s.target.op(s.cancel, target.count(&sql)).await?;
    Ok(if rows == 0 {
        TargetState::Empty
    } else {
        TargetState::Holding
    })
}

/// Creates the missing target table; returns its columns as the database now
/// describes them.
async fn create_target(
    report: &mut Report,
    s: &Setup<'_>,
    target: &mut Conn,
    targets: &[TargetColumn],
) -> Result<Vec<NativeColumn>, Stop> {
    let tgt = &s.target;
    db::create_table(target, tgt.table, targets)
        .await
        .map_err(|e| {
            tgt.fail(format!(
                "cannot create the table ({e}); create it by hand or grant CREATE"
            ))
        })?;
    report.log(
        Level::Info,
        format!(
            "Created target table {} on network \"{}\"",
            tgt.table, tgt.net.name
        ),
    );
    Ok(db::columns(target, tgt.table)
        .await
        .map_err(|e| tgt.fail(e))?
        .unwrap_or_default())
}

/// A full sync notices keys merging (its row count comes out short); an
/// incremental upsert would let them overwrite each other silently, so an
/// incremental run refuses a key column whose collation equates keys the
/// source holds apart.
async fn refuse_merging_keys(
    s: &Setup<'_>,
    target: &mut Conn,
    source: &mut Source,
    natives: &[NativeColumn],
    targets: &[TargetColumn],
) -> Result<(), Stop> {
    let tgt = &s.target;
    let keys = plan::key_names(targets);
    let folding = db::insensitive_keys(target, tgt.table, &keys)
        .await
        .map_err(|e| tgt.fail(e))?;
    for k in &folding {
        let folded = db::folded_keys(&mut source.conn, s.schema, natives, k);
        if let Some(what) = s.source.op(s.cancel, folded).await? {
            return Err(Stop::failed(db::folding_problem(
                tgt.table, tgt.net, k, what,
            )));
        }
    }
    Ok(())
}

/// The statements that read the source. Built in one place, so that the
/// count and the rows always agree on the filter.
#[derive(Debug)]
pub(super) struct ReadQuery {
    pub(super) count: String,
    pub(super) select: String,
    /// Where the last incremental run stopped; `None` on a first run and in
    /// full mode.
    pub(super) watermark: Option<String>,
    /// The source's clock at the snapshot (incremental runs).
    pub(super) cutoff: Option<Cutoff>,
    /// `select` also returns the rows whose cursor is NULL, first, for the
    /// reader to count and leave out; `count` does not count them.
    pub(super) null_cursors: bool,
}

/// An incremental read: ordered by the cursor, then the key; past the
/// watermark (`bound`) when there is one.
struct CursorRead<'a> {
    column: &'a str,
    keys: Vec<&'a str>,
    bound: Option<String>,
    /// The dialect's `ASC` with NULLs first.
    nulls_first: &'static str,
    /// Past the watermark, the rows with a NULL cursor are read too (first).
    with_nulls: bool,
}

impl ReadQuery {
    fn new(
        d: &dyn Dialect,
        table: &str,
        select_list: &str,
        cursor: Option<CursorRead>,
        watermark: Option<String>,
    ) -> Self {
        let table = d.table(table);
        let (filter, read_filter, order) = match cursor {
            None => (String::new(), String::new(), String::new()),
            Some(c) => {
                let (filter, read_filter) = match &c.bound {
                    Some(b) if c.with_nulls => (
                        format!(" WHERE {b}"),
                        format!(" WHERE ({b} OR {} IS NULL)", d.ident(c.column)),
                    ),
                    Some(b) => (format!(" WHERE {b}"), format!(" WHERE {b}")),
                    None => (String::new(), String::new()),
                };
                // NULL cursors come first on the first run; later runs filter
                // them out, and a plain ASC lets the cursor's index give the order.
                let nulls = if c.bound.is_none() || c.with_nulls {
                    c.nulls_first
                } else {
                    ""
                };
                let mut keys = vec![format!("{}{nulls}", d.ident(c.column))];
                keys.extend(c.keys.iter().map(|k| d.ident(k)));
                (
                    filter,
                    read_filter,
                    format!(" ORDER BY {}", keys.join(", ")),
                )
            }
        };
        ReadQuery {
            count: format!("SELECT COUNT(*) FROM {table}{filter}"),
            select: format!("SELECT {select_list} FROM {table}{read_filter}{order}"),
            watermark,
            cutoff: None,
            null_cursors: false,
        }
    }
}

/// Builds the read for this run. Call inside the source's snapshot: an
/// incremental run past a watermark counts the rows it will skip for a NULL
/// cursor, and says so. Where no index starts with the cursor
/// (`cursor_unindexed`), that count would scan the whole table once more:
/// the read takes those rows too, for the reader to count and leave out
/// (`ReadQuery::null_cursors`).
pub(super) async fn read_query(
    report: &mut Report,
    s: &Setup<'_>,
    source: &mut Source,
    plan: &Plan,
    target_state: TargetState,
    cursor_unindexed: bool,
) -> Result<ReadQuery, Stop> {
    let d = source.dialect();
    let select_list = source.select_list(plan);
    if s.job.mode != SyncMode::Incremental {
        return Ok(ReadQuery::new(
            d,
            &plan.source_table,
            &select_list,
            None,
            None,
        ));
    }
    let ci = plan.cursor_read.ok_or_else(|| {
        Stop::failed(format!(
            "job \"{}\" is incremental but schema \"{}\" has no cursor_column; set one",
            s.job.name, s.schema.name
        ))
    })?;
    let cur = &plan.read[ci].native;
    let watermark = starting_watermark(report, s, target_state)?;
    let mut bound = None;
    let with_nulls = watermark.is_some() && cursor_unindexed;
    if let Some(wm) = &watermark {
        let lookback = s.job.lookback().map(|d| d.as_secs()).unwrap_or(0);
        bound = Some(source.cursor_bound(cur, wm, lookback));
        if !with_nulls {
            warn_null_cursors(report, s, source, plan, cur).await?;
        }
        report.log(
            Level::Info,
            format!("Reading rows with {} >= {wm}", cur.name),
        );
    }
    refuse_duplicate_keys(s, source, plan, bound.as_deref()).await?;
    let cutoff = source_clock(s, source, cur).await?;
    let cursor = CursorRead {
        column: &cur.name,
        keys: plan
            .key_read
            .iter()
            .map(|&k| plan.read[k].name.as_str())
            .collect(),
        bound,
        nulls_first: source.asc_nulls_first(),
        with_nulls,
    };
    let mut query = ReadQuery::new(d, &plan.source_table, &select_list, Some(cursor), watermark);
    query.cutoff = Some(cutoff);
    query.null_cursors = with_nulls;
    Ok(query)
}

/// The source's clock at the snapshot, with the zone the cursor's zone-less
/// text is read in (see `Cutoff`).
async fn source_clock(
    s: &Setup<'_>,
    source: &mut Source,
    cursor: &NativeColumn,
) -> Result<Cutoff, Stop> {
    let now = match source.dialect().clock_sql() {
        Some(sql) => {
            let micros = s.source.op(s.cancel, source.conn.scalar(sql)).await?;
            chrono::DateTime::from_timestamp_micros(micros).unwrap_or_else(chrono::Utc::now)
        }
        None => chrono::Utc::now(),
    };
    let tz = if cursor.naive_is_utc {
        chrono_tz::Tz::UTC
    } else {
        parse_tz(s.source.net.timezone_name()).map_err(|e| s.source.fail(e))?
    };
    Ok(Cutoff { now, tz })
}

/// An incremental upsert lets source rows that share a key overwrite each
/// other in the target (MySQL and SQLite without a word; a full sync's
/// counts notice). A source whose key has no unique index is checked over
/// the rows this run reads; one that has one cannot hold such rows.
async fn refuse_duplicate_keys(
    s: &Setup<'_>,
    source: &mut Source,
    plan: &Plan,
    bound: Option<&str>,
) -> Result<(), Stop> {
    let keys: Vec<String> = plan
        .key_read
        .iter()
        .map(|&k| plan.read[k].name.clone())
        .collect();
    let shared = db::shared_keys(&mut source.conn, &plan.source_table, &keys, bound);
    match s.source.op(s.cancel, shared).await? {
        0 => Ok(()),
        n => Err(s.source.fail(db::shared_keys_problem(n, &keys))),
    }
}

/// The watermark this run reads from: none (everything is read) when the
/// target table was just created or the stored watermark belongs to another
/// source, table, cursor or target, saying why in the log.
fn starting_watermark(
    report: &mut Report,
    s: &Setup<'_>,
    target_state: TargetState,
) -> Result<Option<String>, Stop> {
    let stored = match &s.target_watermark {
        Some(w) => w.clone(),
        None => s.watermarks.load().map_err(Stop::failed)?,
    };
    let value = match stored {
        state::Watermark::None => return Ok(None),
        state::Watermark::Current(v) | state::Watermark::Unowned(v) if s.full_refresh => {
            report.log(
                Level::Info,
                format!(
                    "Full refresh: ignoring the stored watermark {v}; reading every row, \
                     the watermark is then set from this run"
                ),
            );
            return Ok(None);
        }
        state::Watermark::Current(v) | state::Watermark::Unowned(v) => v,
        state::Watermark::Stale { value, why } => {
            report.log(
                Level::Warn,
                format!(
                    "the stored watermark {value} belongs to another configuration ({why}); \
                     reading every row again"
                ),
            );
            return Ok(None);
        }
    };
    let why = match target_state {
        TargetState::Holding => return Ok(Some(value)),
        TargetState::Created => "was just created",
        TargetState::Empty => "is empty",
    };
    report.log(
        Level::Warn,
        format!(
            "the target table {} {why}, so the stored watermark {value} does not describe it; \
             reading every row again",
            s.target.table
        ),
    );
    Ok(None)
}

/// Says once, before the total, which column the run reads by has no index
/// in the source (see `db::indexes`); a catalog that cannot be asked says
/// nothing. Called outside the snapshot, where a failed query costs nothing.
pub(super) async fn warn_unindexed(
    report: &mut Report,
    s: &Setup<'_>,
    source: &mut Source,
    plan: &Plan,
) -> Result<bool, Stop> {
    let name = |i: Option<usize>| i.map(|i| plan.read[i].name.as_str());
    let cols = db::indexes::read_by(
        s.job.mode,
        name(plan.cursor_read),
        name(plan.key_read.first().copied()),
    );
    let unindexed =
        db::indexes::unindexed(&mut source.conn, s.source.net, &plan.source_table, &cols);
    // Under the watchdog like any other statement: a stalled server still
    // fails the run within its stall_timeout.
    let warnings = s
        .source
        .op(s.cancel, async {
            Ok::<_, crate::engine::Error>(unindexed.await)
        })
        .await?;
    let cursor_unindexed = warnings
        .iter()
        .any(|(role, _)| *role == db::indexes::CURSOR);
    for (_, w) in warnings {
        report.log(Level::Warn, w);
    }
    Ok(cursor_unindexed)
}

/// Past a watermark, rows whose cursor is NULL are never read again: say how
/// many there are.
async fn warn_null_cursors(
    report: &mut Report,
    s: &Setup<'_>,
    source: &mut Source,
    plan: &Plan,
    cur: &NativeColumn,
) -> Result<(), Stop> {
    let d = source.dialect();
    let sql = format!(
        "SELECT COUNT(*) FROM {} WHERE {} IS NULL",
        d.table(&plan.source_table),
        d.ident(&cur.name)
    );
    let nulls = source.count(&sql).await.map_err(|e| s.source.fail(e))?;
    if nulls > 0 {
        report.log(
            Level::Warn,
            null_cursors_line(nulls, &plan.source_table, Some(&cur.name)),
        );
    }
    Ok(())
}

/// The warning about `n` rows of `table` whose cursor is NULL.
pub(super) fn null_cursors_line(n: u64, table: &str, cursor: Option<&str>) -> String {
    format!(
        "{} rows of {table} have a NULL {}; incremental runs do not read them (a full sync does)",
        thousands(n),
        cursor.unwrap_or("cursor")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::EngineKind;

    fn cursor(bound: Option<&str>, nulls_first: &'static str) -> Option<CursorRead<'static>> {
        Some(CursorRead {
            column: "updated_at",
            keys: vec!["id", "region"],
            bound: bound.map(String::from),
            nulls_first,
            with_nulls: false,
        })
    }

    #[test]
    fn a_full_read_takes_the_whole_table_in_no_order() {
        let q = ReadQuery::new(
            db::dialect_of(EngineKind::Postgres),
            "public.users",
            "a, b",
            None,
            None,
        );
        assert_eq!(q.count, r#"SELECT COUNT(*) FROM "public"."users""#);
        assert_eq!(q.select, r#"SELECT a, b FROM "public"."users""#);
    }

    #[test]
    fn a_first_incremental_read_orders_null_cursors_first() {
        let q = ReadQuery::new(
            db::dialect_of(EngineKind::Postgres),
            "users",
            "a",
            cursor(None, " ASC NULLS FIRST"),
            None,
        );
        assert_eq!(q.count, r#"SELECT COUNT(*) FROM "users""#);
        assert_eq!(
            q.select,
            r#"SELECT a FROM "users" ORDER BY "updated_at" ASC NULLS FIRST, "id", "region""#
        );
    }

    #[test]
    fn a_later_incremental_read_counts_and_reads_past_the_same_bound() {
        let q = ReadQuery::new(
            db::dialect_of(EngineKind::Mysql),
            "users",
            "a",
            cursor(Some("`updated_at` >= '2024-01-01'"), " ASC"),
            Some("2024-01-01".into()),
        );
        assert_eq!(
            q.count,
            "SELECT COUNT(*) FROM `users` WHERE `updated_at` >= '2024-01-01'"
        );
        assert_eq!(
            q.select,
            "SELECT a FROM `users` WHERE `updated_at` >= '2024-01-01' ORDER BY `updated_at`, `id`, `region`"
        );
        assert_eq!(q.watermark.as_deref(), Some("2024-01-01"));
    }

    #[test]
    fn a_read_by_an_unindexed_cursor_takes_null_cursors_first_and_counts_without_them() {
        let mut c = cursor(Some(r#""updated_at" >= '2024-01-01'"#), " ASC NULLS FIRST");
        if let Some(c) = c.as_mut() {
            c.with_nulls = true;
        }
        let q = ReadQuery::new(
            db::dialect_of(EngineKind::Postgres),
            "users",
            "a",
            c,
            Some("2024-01-01".into()),
        );
        assert_eq!(
            q.count,
            r#"SELECT COUNT(*) FROM "users" WHERE "updated_at" >= '2024-01-01'"#
        );
        assert_eq!(
            q.select,
            r#"SELECT a FROM "users" WHERE ("updated_at" >= '2024-01-01' OR "updated_at" IS NULL) ORDER BY "updated_at" ASC NULLS FIRST, "id", "region""#
        );
    }
}
