//! Whether a full sync copies every row or only the key segments that
//! differ, and which segments those are.
//!
//! A target that already holds the source's rows mostly needs nothing: both
//! ends are split into buckets by a hash of the key's canonical text and
//! checksummed per bucket (`dsp verify`'s first pass, on the server where it
//! can), the source inside the run's own snapshot so that the checksums and
//! the rows fetched afterwards agree. Only rows of buckets whose count or
//! checksum differ are read and applied (`apply::differential`); every other
//! bucket is equal on both ends already.

use std::collections::HashSet;

use super::report::Report;
use super::setup::Setup;
use super::stop::Stop;
use crate::engine::db::Source;
use crate::engine::db::connect::{Conn, Role, connect};
use crate::engine::db::plan::Plan;
use crate::engine::progress::{Level, thousands};
use crate::engine::types::Value;
use crate::engine::verify::side::{Buckets, Side};
use crate::engine::verify::{self, canon};
use crate::workspace::SyncMode;

/// Targets with fewer rows are copied whole: checksumming costs more than
/// it saves there.
pub(super) const DIFFERENTIAL_MIN_ROWS: u64 = 1_000;

/// The segments that differ, and what reading them takes.
pub(super) struct Segments {
    /// Buckets the keys are hashed into.
    pub(super) n: u64,
    pub(super) differing: HashSet<u64>,
    pub(super) source_rows: u64,
    /// Target rows in the differing buckets (the rest are unchanged).
    pub(super) target_rows_differing: u64,
    /// Source rows the fetch reads: those of the differing buckets when the
    /// source filters by bucket, else every row (DSP then filters).
    pub(super) fetch_rows: u64,
    /// `WHERE` clause that keeps the differing buckets' source rows, when
    /// the source server can hash its keys.
    pub(super) source_filter: Option<String>,
    /// The target read again for the keys of its differing buckets.
    pub(super) target: Side,
}

/// Whether a row (its key at `plan.key_read`) lies in a `differing` bucket
/// of `n`.
pub(super) fn holds(plan: &Plan, row: &[Value], n: u64, differing: &HashSet<u64>) -> bool {
    differing.contains(&(canon::hash60(&key_text(plan, row)) % n))
}

/// The canonical text of a row's key, as verify matches rows by.
pub(super) fn key_text(plan: &Plan, row: &[Value]) -> String {
    let keys: Vec<Option<String>> = plan
        .key_read
        .iter()
        .map(|&k| row.get(k).and_then(canon::text))
        .collect();
    canon::row_text(&keys)
}

/// Decides the way of a full sync whose target table exists: `Some` to move
/// only the differing segments, `None` to copy every row (logged either way).
/// `source` must be inside its snapshot; it is handed back as it was.
pub(super) async fn choose(
    report: &mut Report,
    s: &Setup<'_>,
    source: Source,
) -> Result<(Source, Option<Segments>), Stop> {
    if s.job.mode != SyncMode::Full || s.dry_run || report.create_target {
        return Ok((source, None));
    }
    if s.job.full_copy() {
        report.log(Level::Info, "Full copy: the job sets full_copy = true");
        return Ok((source, None));
    }
    let (conn, counter) = source.into_parts();
    let src = match source_side(s, conn).await {
        Ok(side) => side,
        Err((conn, why)) => {
            report.log(Level::Info, format!("Full copy: {why}"));
            return Ok((Source::new(conn, counter), None));
        }
    };
    let (src, found) = segments(report, s, src).await;
    let source = Source::new(src.into_conn(), counter);
    match found {
        Ok(Ok(seg)) => Ok((source, Some(seg))),
        Ok(Err(why)) => {
            report.log(Level::Info, format!("Full copy: {why}"));
            Ok((source, None))
        }
        Err(stop) => Err(stop),
    }
}

/// The source as verify reads it, on the run's connection. On failure the
/// connection comes back with the reason.
async fn source_side(s: &Setup<'_>, mut conn: Conn) -> Result<Side, (Conn, String)> {
    let net = s.source.net;
    match verify::source_side(net, s.schema, &mut conn, false).await {
        Ok(p) => Ok(Side::new(
            conn,
            p,
            s.schema.columns.len(),
            net.timezone_name(),
        )),
        Err(e) => Err((conn, format!("the source cannot be checksummed ({e})"))),
    }
}

/// Checksums both ends. `Ok(Err(why))` when the run should copy every row;
/// `Err` for a cancel or a source failure (the run cannot go on).
async fn segments(
    report: &mut Report,
    s: &Setup<'_>,
    mut src: Side,
) -> (Side, Result<Result<Segments, String>, Stop>) {
    let mut target = match target_side(s).await {
        Ok(t) => t,
        Err(why) => return (src, Ok(Err(why))),
    };
    let r = compare(report, s, &mut src, &mut target).await;
    match r {
        Ok(Ok((n, differing, sb, tb, source_rows))) => {
            // Nothing differs: nothing is read (and `IN ()` is no SQL).
            let source_filter = if differing.is_empty() {
                Some(" WHERE 1 = 0".to_string())
            } else {
                src.bucket_filter(n, &differing)
            };
            let in_differing =
                |b: &Buckets| differing.iter().filter_map(|k| b.get(k)).map(|x| x.0).sum();
            let source_differing: u64 = in_differing(&sb);
            let seg = Segments {
                n,
                source_rows,
                target_rows_differing: in_differing(&tb),
                fetch_rows: if source_filter.is_some() {
                    source_differing
                } else {
                    source_rows
                },
                source_filter,
                differing,
                target,
            };
            (src, Ok(Ok(seg)))
        }
        Ok(Err(why)) => {
            target.into_conn().close().await;
            (src, Ok(Err(why)))
        }
        Err(stop) => {
            target.into_conn().close().await;
            (src, Err(stop))
        }
    }
}

type Compared = (u64, HashSet<u64>, Buckets, Buckets, u64);

/// Counts and bucket checksums of both ends; the reason to copy every row
/// instead when the counts say differential would not pay.
async fn compare(
    report: &mut Report,
    s: &Setup<'_>,
    src: &mut Side,
    target: &mut Side,
) -> Result<Result<Compared, String>, Stop> {
    let (sc, tc) = (&s.source, &s.target);
    let cancel = s.cancel;
    let source_rows = sc.op(cancel, src.count()).await?;
    let target_rows = match tc.op(cancel, target.count()).await {
        Ok(n) => n,
        Err(Stop::Failed(e)) => return Ok(Err(format!("the target could not be counted ({e})"))),
        Err(c) => return Err(c),
    };
    // An empty source goes the whole way, where its guard stands.
    if source_rows == 0 {
        return Ok(Err("the source is empty".into()));
    }
    if target_rows == 0 {
        return Ok(Err("target empty".into()));
    }
    if target_rows < DIFFERENTIAL_MIN_ROWS {
        return Ok(Err(format!(
            "target small ({} rows, under {})",
            thousands(target_rows),
            thousands(DIFFERENTIAL_MIN_ROWS)
        )));
    }
    let n = (source_rows.max(target_rows) / verify::BUCKET_ROWS).clamp(1, verify::MAX_BUCKETS);
    let (a, b) = tokio::join!(
        sc.op(cancel, src.buckets(n, cancel)),
        tc.op(cancel, target.buckets(n, cancel)),
    );
    let sb = a?;
    let tb = match b {
        Ok(b) => b,
        Err(Stop::Failed(e)) => {
            return Ok(Err(format!(
                "the target's checksums could not be computed ({e})"
            )));
        }
        Err(c) => return Err(c),
    };
    let differing: HashSet<u64> = verify::differing_buckets(&sb, &tb).into_iter().collect();
    report.log(
        Level::Info,
        format!(
            "Differential full sync: {} of {} segments differ",
            thousands(differing.len() as u64),
            thousands(n)
        ),
    );
    Ok(Ok((n, differing, sb, tb, source_rows)))
}

/// The target table as verify reads it, on a read-only connection of its
/// own (the run's target connection writes).
async fn target_side(s: &Setup<'_>) -> Result<Side, String> {
    let net = s.target.net;
    let mut conn =
        match tokio::time::timeout(net.stall_timeout(), connect(s.ws, net, Role::Source)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(format!("the target could not be read ({e})")),
            Err(_) => return Err("the target did not answer in time".into()),
        };
    match verify::target_side(net, s.schema, &mut conn).await {
        Ok(p) => Ok(Side::new(
            conn,
            p,
            s.schema.columns.len(),
            net.timezone_name(),
        )),
        Err(e) => {
            conn.close().await;
            Err(format!("the target cannot be checksummed ({e})"))
        }
    }
}

/// The keys of the target's rows in the differing buckets, each as a
/// key-only row of `plan` (the run's plan, ready to stage) with its
/// canonical key text. Closes the target's read connection.
pub(super) async fn target_keys(
    seg: Segments,
    plan: &Plan,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Vec<(String, Vec<Value>)>, String> {
    let Segments {
        n,
        differing,
        target: mut side,
        ..
    } = seg;
    if differing.is_empty() {
        side.into_conn().close().await;
        return Ok(Vec::new());
    }
    let filter = side.bucket_filter(n, &differing);
    let select = side.select(filter.as_deref());
    let tplan = side.plan.clone();
    let width = plan.targets.len();
    let mut out = Vec::new();
    let r = verify::side::each_batch(&mut side.conn, tplan.clone(), &select, cancel, |b| {
        for row in b.rows {
            let key = key_text(&tplan, &row);
            if filter.is_none() && !differing.contains(&(canon::hash60(&key) % n)) {
                continue;
            }
            let mut staged = vec![Value::Null; width];
            for (&k, &tk) in plan.key_read.iter().zip(&tplan.key_read) {
                staged[k] = row[tk].clone();
            }
            out.push((key, staged));
        }
    })
    .await;
    side.into_conn().close().await;
    r.map(|()| out)
}
