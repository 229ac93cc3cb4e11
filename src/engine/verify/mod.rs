//! `dsp verify`: proves that a job's target holds its mapped source rows.
//!
//! Both ends are read in a read-only snapshot through the same read path a
//! run uses (the dialect's read expressions, `types::convert`), the target
//! as the target's own columns. Rows are put in buckets by a hash of their
//! key's canonical text (`canon`), which every engine computes alike, so no
//! collation or ordering needs to agree across engines; a key that is one
//! integer column both servers checksum is bucketed by key range instead
//! (no key hash, and a differing bucket is read through the primary key;
//! integer order is the same everywhere). The first pass
//! takes a count and a checksum per bucket on each side: in SQL on
//! PostgreSQL and MySQL when they can build every mapped column's canonical
//! text, else in DSP as the rows stream (SQLite, JSON, floats, ...). Only
//! buckets whose count or checksum differ are read in the second pass, and
//! there DSP compares rows by key, column by column: the final word is
//! always DSP's, so a server that formats a value differently costs time,
//! never a wrong answer.

pub(crate) mod canon;
mod compare;
pub(crate) mod locate;
pub(crate) mod pg_hash;
mod report;
pub(crate) mod side;

use std::collections::HashSet;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use self::compare::Tally;
pub use self::report::{Differing, Outcome, Verified};
use self::side::{Bucketing, Buckets, Side};
use crate::engine::db::connect::{Role, connect};
use crate::engine::db::plan::{self, TargetColumn, TargetRules};
use crate::engine::db::{self, Conn};
use crate::engine::state;
use crate::engine::target_state;
use crate::engine::types::parse_tz;
use crate::paths::DataDir;
use crate::workspace::{ColumnMap, ColumnType, Network, Schema, SyncMode, Workspace};

/// Rows per bucket the first pass aims at: a differing bucket costs reading
/// this many rows of each side.
pub(crate) const BUCKET_ROWS: u64 = 16;
pub(crate) const MAX_BUCKETS: u64 = 1 << 20;
/// Below this many rows (by the planner's estimate) a side is counted before
/// its buckets are sized: the count is cheap there, and an estimate of a
/// small table is the likeliest to be far off.
pub(crate) const ESTIMATE_FROM: u64 = 100_000;
/// Rows of differing buckets compared at once (memory stays bounded).
const GROUP_ROWS: u64 = 200_000;

/// Verifies one job. Never panics on bad input; every problem is an
/// `Outcome::Failed` with one sentence.
pub async fn verify_job(
    ws: &Workspace,
    job: &str,
    data: &DataDir,
    cancel: &CancellationToken,
) -> Verified {
    let started = Instant::now();
    let before = RunsNow::of(ws, job, data).await;
    if let Some(why) = before.busy(job) {
        return Verified::failed(job, why, 0.0);
    }
    let r = tokio::select! {
        r = verify(ws, job, data, cancel) => r,
        _ = cancel.cancelled() => Err("cancelled".to_string()),
    };
    let r = match r {
        Ok(_) if RunsNow::of(ws, job, data).await.overtook(&before) => Err(format!(
            "a run of job \"{job}\" began while it was verified, so the comparison does not \
             hold; verify it again when the run ends"
        )),
        r => r,
    };
    let seconds = started.elapsed().as_secs_f64();
    match r {
        Ok(mut v) => {
            v.seconds = seconds;
            v
        }
        Err(e) => Verified::failed(job, e, seconds),
    }
}

/// The job's runs as verify sees them before and after comparing. A run
/// changes the target while it goes: a comparison beside it would report
/// rows the run is about to change as differences. Runs of this data dir
/// are seen by their lock and by the record a finished run leaves; runs of
/// other hosts (state in the target) by the target's lock and record.
struct RunsNow {
    locked_here: bool,
    last_here: Option<std::path::PathBuf>,
    /// `None`: not kept in the target, or no answer within the target's
    /// stall timeout (the comparison's own watchdog then names it).
    target: Option<target_state::RunsSeen>,
}

impl RunsNow {
    async fn of(ws: &Workspace, job: &str, data: &DataDir) -> Self {
        let target = match ws.job(job).filter(|j| target_state::in_target(ws, j)) {
            Some(j) => {
                let limit = ws
                    .network(&j.target)
                    .map_or(std::time::Duration::from_secs(30), |n| n.stall_timeout());
                tokio::time::timeout(limit, target_state::runs_seen(ws, j))
                    .await
                    .ok()
                    .flatten()
            }
            None => None,
        };
        RunsNow {
            locked_here: state::job_running(data, job),
            last_here: state::last_run(data, job),
            target,
        }
    }

    /// Why verify cannot start now, if a run holds the job.
    fn busy(&self, job: &str) -> Option<String> {
        if self.locked_here {
            return Some(format!(
                "job \"{job}\" is running; its target is changing: verify it when the run ends"
            ));
        }
        self.target.as_ref().and_then(|t| t.held.clone())
    }

    /// Whether a run held the job now, or began or ended since `before`.
    fn overtook(&self, before: &RunsNow) -> bool {
        let remote = match (&self.target, &before.target) {
            (Some(now), Some(then)) => now.held.is_some() || now.last_run != then.last_run,
            (Some(now), None) => now.held.is_some(),
            _ => false,
        };
        self.locked_here || self.last_here != before.last_here || remote
    }
}

async fn verify(
    ws: &Workspace,
    name: &str,
    data: &DataDir,
    cancel: &CancellationToken,
) -> Result<Verified, String> {
    let job = ws
        .job(name)
        .ok_or_else(|| format!("there is no job named \"{name}\" in the workspace"))?;
    let (schema, src_net, tgt_net) = db::job_parts(ws, job).map_err(|e| e.to_string())?;
    let (src, tgt) = tokio::join!(open(ws, src_net), open(ws, tgt_net));
    let (mut src, mut tgt) = (src?, tgt?);
    let incremental = job.mode == SyncMode::Incremental;
    let plans = match source_side(src_net, schema, &mut src, incremental).await {
        Ok(s) => target_side(tgt_net, schema, &mut tgt).await.map(|t| (s, t)),
        Err(e) => Err(e),
    };
    let (sp, tp) = match plans {
        Ok(p) => p,
        Err(e) => {
            src.close().await;
            tgt.close().await;
            return Err(e);
        }
    };
    let mapped = schema.columns.len();
    let mut source = Side::new(src, sp, mapped, src_net.timezone_name()).watched(
        format!("network \"{}\"", src_net.name),
        src_net.stall_timeout(),
    );
    let mut target = Side::new(tgt, tp, mapped, tgt_net.timezone_name()).watched(
        format!("network \"{}\"", tgt_net.name),
        tgt_net.stall_timeout(),
    );
    let watermark = if incremental {
        watermark(ws, data, job, schema, src_net, tgt_net).await?
    } else {
        None
    };
    let r = compare_sides(&mut source, &mut target, cancel).await;
    // After a failure (a server that stopped answering among them) the
    // connections are dropped, not closed: closing talks to the server.
    if r.is_ok() {
        for s in [source, target] {
            s.conn.close().await;
        }
    }
    let (tally, stats) = r?;
    Ok(tally.into_report(name, stats, watermark.as_ref()))
}

/// Connects read-only, within the network's `stall_timeout`.
async fn open(ws: &Workspace, net: &Network) -> Result<Conn, String> {
    match tokio::time::timeout(net.stall_timeout(), connect(ws, net, Role::Source)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "cannot connect to network \"{}\": no answer within its stall_timeout",
            net.name
        )),
    }
}

/// The source's plan, as a run resolves it (without the target's limits: a
/// value the target could not hold is a difference to show, not a failure;
/// one that both sides hold, `NaN` or `infinity`, is compared like any other).
pub(crate) async fn source_side(
    net: &Network,
    schema: &Schema,
    conn: &mut Conn,
    incremental: bool,
) -> Result<plan::Plan, String> {
    let natives = db::columns(conn, &schema.source_table)
        .await
        .map_err(|e| format!("network \"{}\": {e}", net.name))?
        .ok_or_else(|| db::no_table(net, &schema.source_table))?;
    let targets = plan::target_columns(schema);
    let mut p = plan::resolve(schema, net, &natives, targets, &[], TargetRules::anything())
        .map_err(|e| e.to_string())?;
    let mapped = schema.columns.len();
    if !incremental {
        p.forget_cursor();
    } else if let Some(c) = p.cursor_read
        && c >= mapped
    {
        // An unmapped cursor is read after the mapped columns; the reader
        // converts it (as text) only when it stands among the targets.
        p.targets.push(TargetColumn {
            name: p.read[c].name.clone(),
            ty: ColumnType::String,
            key: false,
            cursor: true,
            native: None,
        });
    }
    Ok(p)
}

/// The target's plan: its table read as the mapping's target columns, each
/// converted to the mapped type in the target network's zone.
pub(crate) async fn target_side(
    net: &Network,
    schema: &Schema,
    conn: &mut Conn,
) -> Result<plan::Plan, String> {
    let table = &schema.target_table;
    let natives = db::columns(conn, table)
        .await
        .map_err(|e| format!("network \"{}\": {e}", net.name))?
        .ok_or_else(|| {
            format!(
                "target table {table} does not exist on network \"{}\"; run the job once to create it",
                net.name
            )
        })?;
    let mut targets = plan::target_columns(schema);
    plan::check_target(net, table, &mut targets, &natives, conn.dialect())
        .map_err(|e| e.to_string())?;
    let mirror = Schema {
        name: schema.name.clone(),
        source_table: table.clone(),
        target_table: table.clone(),
        primary_key: targets
            .iter()
            .filter(|t| t.key)
            .map(|t| t.name.clone())
            .collect(),
        cursor_column: None,
        columns: targets
            .iter()
            .map(|t| ColumnMap {
                source: t.name.clone(),
                target: t.name.clone(),
                ty: t.ty,
            })
            .collect(),
    };
    plan::resolve(
        &mirror,
        net,
        &natives,
        targets,
        &[],
        TargetRules::anything(),
    )
    .map_err(|e| e.to_string())
}

/// The watermark an incremental run would read from, with the zone its text
/// is read in; `None` when the next run reads everything.
async fn watermark(
    ws: &Workspace,
    data: &DataDir,
    job: &crate::workspace::Job,
    schema: &Schema,
    src: &Network,
    tgt: &Network,
) -> Result<Option<compare::Watermark>, String> {
    let store = state::WatermarkStore {
        data,
        job: &job.name,
        owner: state::WatermarkOwner::of(ws, schema, src, tgt),
    };
    let stored = if crate::engine::target_state::in_target(ws, job) {
        crate::engine::target_state::read_watermark(ws, tgt, &store).await?
    } else {
        store.load()?
    };
    let value = match stored {
        state::Watermark::Current(v) | state::Watermark::Unowned(v) => v,
        state::Watermark::None | state::Watermark::Stale { .. } => return Ok(None),
    };
    let tz = parse_tz(src.timezone_name())
        .map_err(|e| format!("network \"{}\": timezone {e}", src.name))?;
    Ok(Some(compare::Watermark { value, tz }))
}

/// What the passes cost, for the report.
pub(crate) struct Stats {
    pub source_rows: u64,
    pub target_rows: u64,
    pub buckets: u64,
    pub differing: u64,
    pub on_server: (bool, bool),
    pub hashing: RowHashing,
    pub rows_fetched: u64,
    pub bytes_fetched: u64,
}

/// Both snapshots, both passes.
async fn compare_sides(
    source: &mut Side,
    target: &mut Side,
    cancel: &CancellationToken,
) -> Result<(Tally, Stats), String> {
    let (a, b) = tokio::join!(source.begin_snapshot(), target.begin_snapshot());
    a.map_err(|e| format!("source: {e}"))?;
    b.map_err(|e| format!("target: {e}"))?;
    let (a, b) = tokio::join!(source.size(ESTIMATE_FROM), target.size(ESTIMATE_FROM));
    let (source_size, target_size) = (
        a.map_err(|e| format!("source: {e}"))?,
        b.map_err(|e| format!("target: {e}"))?,
    );
    let rows = source_size.rows().max(target_size.rows());
    let (n, hashing) = prepare(source, target, rows, cancel).await?;
    let (a, b) = tokio::join!(source.buckets(n, cancel), target.buckets(n, cancel));
    let (sb, tb) = (
        a.map_err(|e| format!("source: {e}"))?,
        b.map_err(|e| format!("target: {e}"))?,
    );
    let (source_rows, target_rows) = (source_size.exact(&sb), target_size.exact(&tb));
    let differing = differing_buckets(&sb, &tb);
    let mut tally = Tally::new(source.names.clone());
    for group in groups(&differing, &sb, &tb) {
        source
            .rows_in(n, &group, cancel, |r| tally.source_row(r))
            .await
            .map_err(|e| format!("source: {e}"))?;
        target
            .rows_in(n, &group, cancel, |r| tally.target_row(r))
            .await
            .map_err(|e| format!("target: {e}"))?;
    }
    tally.unreadable(std::mem::take(&mut source.unreadable), "source");
    tally.unreadable(std::mem::take(&mut target.unreadable), "target");
    let stats = Stats {
        source_rows,
        target_rows,
        buckets: n.count(),
        differing: differing.len() as u64,
        on_server: (source.on_server(), target.on_server()),
        hashing,
        rows_fetched: source.rows_fetched + target.rows_fetched,
        bytes_fetched: source.bytes_fetched + target.bytes_fetched,
    };
    Ok((tally, stats))
}

/// What both sides hash a row as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowHashing {
    /// The SHA-256 of its canonical text.
    Text,
    /// Its native values (both servers one engine, see `hash_natively`).
    Native,
    /// Its canonical text, as PostgreSQL's `hashtextextended` hashes it (a
    /// side DSP hashes beside a PostgreSQL server, see `hash_text_like_pg`).
    PgText,
}

/// How a pair of sides buckets and hashes its rows (the larger side holds
/// `rows`), decided once for both: key ranges or key hashes, and the row
/// hash.
pub(crate) async fn prepare(
    source: &mut Side,
    target: &mut Side,
    rows: u64,
    cancel: &CancellationToken,
) -> Result<(Bucketing, RowHashing), String> {
    let n = (rows / BUCKET_ROWS).clamp(1, MAX_BUCKETS);
    let by = bucketing(source, target, n, rows.max(1), cancel).await?;
    let hashing = if side::hash_natively(source, target).await? {
        RowHashing::Native
    } else if side::hash_text_like_pg(source, target).await? {
        RowHashing::PgText
    } else {
        RowHashing::Text
    };
    Ok((by, hashing))
}

/// Key ranges when both servers checksum a one-integer-column key (no key
/// hash to compute, and the second pass reads through the primary key),
/// else `n` hash buckets.
async fn bucketing(
    source: &mut Side,
    target: &mut Side,
    n: u64,
    rows: u64,
    cancel: &CancellationToken,
) -> Result<Bucketing, String> {
    if !(source.ranged() && target.ranged()) {
        return Ok(Bucketing::Hash(n));
    }
    let (a, b) = tokio::join!(source.key_range(cancel), target.key_range(cancel));
    let a = a.map_err(|e| format!("source: {e}"))?;
    let b = b.map_err(|e| format!("target: {e}"))?;
    let span = match (a, b) {
        (Some((l1, h1)), Some((l2, h2))) => (l1.min(l2), h1.max(h2)),
        (Some(r), None) | (None, Some(r)) => r,
        (None, None) => return Ok(Bucketing::Hash(n)),
    };
    // Sparse keys would crowd most rows into a few ranges (a differing one
    // then costs reading them all): hash buckets spread any keys evenly.
    let width = i128::from(span.1) - i128::from(span.0);
    let dense = width < i128::from(rows) * 4;
    // Ranges of `BUCKET_ROWS` keys, not `n` equal slices of the span: rows
    // crowded in part of it (a few outlying keys) would fill each slice.
    let ranges = (width / i128::from(BUCKET_ROWS) + 1).clamp(1, i128::from(MAX_BUCKETS)) as u64;
    match Bucketing::ranges(ranges, span.0, span.1) {
        Some(r) if dense => Ok(r),
        _ => Ok(Bucketing::Hash(n)),
    }
}

/// Buckets whose count or checksum differ between the sides.
pub(crate) fn differing_buckets(a: &Buckets, b: &Buckets) -> Vec<u64> {
    let mut out: Vec<u64> = a
        .keys()
        .chain(b.keys())
        .copied()
        .collect::<HashSet<u64>>()
        .into_iter()
        .filter(|k| a.get(k) != b.get(k))
        .collect();
    out.sort_unstable();
    out
}

/// The differing buckets in groups of about `GROUP_ROWS` rows a side.
fn groups(differing: &[u64], a: &Buckets, b: &Buckets) -> Vec<HashSet<u64>> {
    let mut out = Vec::new();
    let (mut cur, mut rows) = (HashSet::new(), 0u64);
    for &k in differing {
        let n = a
            .get(&k)
            .map_or(0, |x| x.0)
            .max(b.get(&k).map_or(0, |x| x.0));
        if rows + n > GROUP_ROWS && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            rows = 0;
        }
        cur.insert(k);
        rows += n;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}
