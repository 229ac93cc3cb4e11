//! Whether a full sync copies every row or only the key segments that
//! differ, and which segments those are.
//!
//! A target that already holds the source's rows mostly needs nothing: both
//! ends are split into buckets (key ranges, or a hash of the key's canonical
//! text) and checksummed per bucket (`dsp verify`'s first pass, on the
//! server where it can), the source inside the run's own snapshot so that
//! the checksums and the rows fetched afterwards agree. Only rows of buckets
//! whose count or checksum differ are read and applied
//! (`apply::differential`); every other bucket is equal on both ends
//! already. Where both servers hash, the differing buckets are narrowed to
//! the rows whose hashes differ before anything is fetched.

use std::collections::{HashMap, HashSet};

use super::report::Report;
use super::setup::Setup;
use super::stop::Stop;
use crate::engine::db::Source;
use crate::engine::db::connect::{Conn, Role, connect};
use crate::engine::db::plan::Plan;
use crate::engine::progress::{Level, thousands};
use crate::engine::state;
use crate::engine::types::Value;
use crate::engine::verify::side::{self, Bucketing, Buckets, Hashed, Side, Size};
use crate::engine::verify::{self, canon, locate};
use crate::workspace::SyncMode;

/// Targets with fewer rows are copied whole: checksumming costs more than
/// it saves there.
pub(super) const DIFFERENTIAL_MIN_ROWS: u64 = 1_000;

/// Rows per side of the differing segments up to which their rows' hashes
/// are read and compared (a few MB), so that only the rows that differ are
/// fetched and staged rather than every row of their segments.
const NARROW_ROWS: u64 = 200_000;
/// Keys the source is asked for by list at most; more are fetched by
/// segment and kept by DSP.
const KEY_LIST: usize = 50_000;

/// The segments that differ, and what reading them takes.
pub(super) struct Segments {
    pub(super) source_rows: u64,
    /// The target's rows, as its checksum pass counted them.
    pub(super) target_rows: u64,
    /// Target rows the run may change: those of the differing segments, or
    /// the differing rows themselves when row hashes narrowed them (the
    /// rest are unchanged).
    pub(super) target_rows_differing: u64,
    /// Source rows the fetch reads: those of the differing buckets when the
    /// source filters by bucket, else every row (DSP then filters).
    pub(super) fetch_rows: u64,
    /// `WHERE` clause that keeps the source rows to fetch, when the source
    /// server can say which they are.
    pub(super) source_filter: Option<String>,
    /// Which fetched rows to stage, where the source's filter does not
    /// already keep exactly those.
    pub(super) keep: Option<Keep>,
    /// The target's keys that may have to go, with their canonical text.
    pub(super) target_keys: Vec<(String, Vec<Value>)>,
    /// Every segment is equal: the target's rows, none of which changes.
    pub(super) all_equal: Option<u64>,
}

/// Which fetched source rows a differential run stages.
pub(super) enum Keep {
    /// Rows whose key lies in one of these buckets.
    Buckets(Bucketing, HashSet<u64>),
    /// Rows whose key (its canonical text) is one of these.
    Keys(HashSet<String>),
}

impl Keep {
    /// Whether a row (its key at `plan.key_read`) is kept.
    pub(super) fn holds(&self, plan: &Plan, row: &[Value]) -> bool {
        let key = key_text(plan, row);
        match self {
            Keep::Buckets(by, differing) => differing.contains(&by.of_key(&key)),
            Keep::Keys(keys) => keys.contains(&key),
        }
    }
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
    let r = match compare(s, &mut src, &mut target).await {
        Ok(Ok(c)) => found(report, s, &mut src, target, c).await,
        Ok(Err(why)) => {
            target.into_conn().close().await;
            Ok(Err(why))
        }
        Err(stop) => {
            target.into_conn().close().await;
            Err(stop)
        }
    };
    (src, r)
}

/// What the checksums found: the segments to read, and the target's keys in
/// them (read now, before the run's transaction takes the target: a SQLite
/// file would not let this connection read beside its writer).
async fn found(
    report: &mut Report,
    s: &Setup<'_>,
    src: &mut Side,
    mut target: Side,
    (by, differing, sb, tb, (source_rows, target_rows)): Compared,
) -> Result<Result<Segments, String>, Stop> {
    let in_differing =
        |b: &Buckets| -> u64 { differing.iter().filter_map(|k| b.get(k)).map(|x| x.0).sum() };
    let target_rows_differing = in_differing(&tb);
    let said = format!(
        "{} of {} segments differ",
        thousands(differing.len() as u64),
        thousands(by.count())
    );
    // Reading most of the table twice costs more than copying it once.
    if target_rows_differing * 2 > target_rows {
        target.into_conn().close().await;
        return Ok(Err(format!("{said}, holding most of the target's rows")));
    }
    let (t, cancel) = (&s.target, s.cancel);
    if !differing.is_empty() {
        let listed = listed(s, (src, &mut target), by, &differing, (&sb, &tb)).await?;
        if let Some((a, b, located)) = listed {
            target.into_conn().close().await;
            let (seg, rows) = narrowed(src, a, b, (source_rows, target_rows), || {
                src.bucket_filter(by, &differing)
                    .map(|f| (f, in_differing(&sb)))
            });
            report.log(
                Level::Info,
                format!(
                    "Differential full sync: {said}, {} of their rows by row hash{}",
                    thousands(rows),
                    match located {
                        0 => String::new(),
                        n => format!(" ({} segments located by their sums)", thousands(n)),
                    }
                ),
            );
            return Ok(Ok(seg));
        }
    }
    report.log(Level::Info, format!("Differential full sync: {said}"));
    let all_equal = differing.is_empty().then_some(target_rows);
    // Nothing differs: nothing is read (and `IN ()` is no SQL).
    let source_filter = if differing.is_empty() {
        Some(" WHERE 1 = 0".to_string())
    } else {
        src.bucket_filter(by, &differing)
    };
    let fetch_rows = if source_filter.is_some() {
        in_differing(&sb)
    } else {
        source_rows
    };
    let target_keys = t
        .op(cancel, target_keys(target, by, &differing, cancel))
        .await?;
    let keep = source_filter
        .is_none()
        .then(|| Keep::Buckets(by, differing));
    Ok(Ok(Segments {
        source_rows,
        target_rows,
        target_rows_differing,
        fetch_rows,
        source_filter,
        keep,
        target_keys,
        all_equal,
    }))
}

/// The rows of both ends (source, target) that may differ, each with its
/// row hash, when both servers hash rows and listing them is cheap; else
/// `None` (the differing segments are then read whole). A bucket that
/// `locate` names one key for is listed by that key alone once both ends'
/// rows of it explain the whole difference; every other differing bucket
/// is listed whole. Also returns how many buckets were located so.
async fn listed(
    s: &Setup<'_>,
    (src, target): (&mut Side, &mut Side),
    by: Bucketing,
    differing: &HashSet<u64>,
    (sb, tb): (&Buckets, &Buckets),
) -> Result<Option<(Vec<Hashed>, Vec<Hashed>, u64)>, Stop> {
    if !src.on_server() || !target.on_server() {
        return Ok(None);
    }
    let (sc, tc, cancel) = (&s.source, &s.target, s.cancel);
    let mut found = locate::candidates(by, differing, (sb, &src.weighted), (tb, &target.weighted));
    if found.len() > KEY_LIST {
        found.clear();
    }
    let rows_in = |set: &HashSet<u64>| -> u64 {
        let end = |b: &Buckets| -> u64 { set.iter().filter_map(|k| b.get(k)).map(|x| x.0).sum() };
        end(sb).max(end(tb))
    };
    let whole: HashSet<u64> = differing
        .iter()
        .filter(|k| !found.contains_key(k))
        .copied()
        .collect();
    if found.len() as u64 + rows_in(&whole) > NARROW_ROWS {
        return Ok(None);
    }
    let mut keys: Vec<i64> = found.values().copied().collect();
    keys.sort_unstable();
    // Each end: the candidates' rows, then the whole buckets' rows.
    let (a, b) = tokio::join!(
        sc.op(cancel, list(src, by, &keys, &whole, cancel)),
        tc.op(cancel, list(target, by, &keys, &whole, cancel)),
    );
    let (Some((mut ca, mut a)), Some((mut cb, mut b))) = (a?, b?) else {
        return Ok(None);
    };
    // A candidate whose rows leave its bucket unequal was a guess that
    // failed: that bucket is listed whole.
    let bucket_of = |r: &Hashed| by.of_key(&r.key);
    let (ia, ib) = (per_bucket(by, &ca), per_bucket(by, &cb));
    let none = Vec::new();
    let failed: HashSet<u64> = found
        .keys()
        .filter(|k| {
            let (ra, rb) = (ia.get(k).unwrap_or(&none), ib.get(k).unwrap_or(&none));
            !locate::confirmed(sb, tb, **k, ra, rb)
        })
        .copied()
        .collect();
    drop((ia, ib));
    if !failed.is_empty() {
        ca.retain(|r| !failed.contains(&bucket_of(r)));
        cb.retain(|r| !failed.contains(&bucket_of(r)));
        let (ra, rb) = tokio::join!(
            sc.op(cancel, src.row_hashes(by, &failed, cancel)),
            tc.op(cancel, target.row_hashes(by, &failed, cancel)),
        );
        let (Some(ra), Some(rb)) = (ra?, rb?) else {
            return Ok(None);
        };
        a.extend(ra);
        b.extend(rb);
    }
    a.extend(ca);
    b.extend(cb);
    Ok(Some((a, b, (found.len() - failed.len()) as u64)))
}

/// Rows by their bucket.
fn per_bucket(by: Bucketing, rows: &[Hashed]) -> HashMap<u64, Vec<&Hashed>> {
    let mut m: HashMap<u64, Vec<&Hashed>> = HashMap::new();
    for r in rows {
        m.entry(by.of_key(&r.key)).or_default().push(r);
    }
    m
}

/// One end's row hashes of the candidate `keys`, then of the `whole`
/// buckets; `None` for an end DSP hashes. Where the whole buckets' keys
/// can be listed, both are one query.
async fn list(
    side: &mut Side,
    by: Bucketing,
    keys: &[i64],
    whole: &HashSet<u64>,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Option<(Vec<Hashed>, Vec<Hashed>)>, String> {
    // Where the whole buckets' keys can be listed, they join the candidates.
    let (keys, rest_apart) = match by.keys_in(whole) {
        Some(mut all) => {
            all.extend_from_slice(keys);
            (all, false)
        }
        None => (keys.to_vec(), !whole.is_empty()),
    };
    let found = match side.key_filter(&keys) {
        Some(f) if !keys.is_empty() => side.row_hashes_where(&f, cancel).await?,
        _ => Some(Vec::new()),
    };
    let Some(found) = found else {
        return Ok(None);
    };
    if rest_apart {
        return Ok(side
            .row_hashes(by, whole, cancel)
            .await?
            .map(|rest| (found, rest)));
    }
    // The whole buckets' rows, out of the one query's.
    let (rest, candidates) = found
        .into_iter()
        .partition(|r| whole.contains(&by.of_key(&r.key)));
    Ok(Some((candidates, rest)))
}

/// Each key's row hash; `None` for a key that stands in more than one row.
/// (Hashed with foldhash: SipHash over two maps of 160,000 keys was a
/// tenth of a 1%-changed run's CPU.)
fn hashes(rows: &[Hashed]) -> HashMap<&str, Option<u64>, foldhash::fast::RandomState> {
    let mut map = HashMap::with_capacity_and_hasher(rows.len(), Default::default());
    for r in rows {
        map.entry(r.key.as_str())
            .and_modify(|h| *h = None)
            .or_insert(Some(r.hash));
    }
    map
}

/// The segments narrowed to rows by the row hashes of both ends (`a` the
/// source's, `b` the target's): the source rows whose hash the target lacks
/// are fetched, by key list where the key is one integer column, else by
/// segment (`by_segment`: its filter and rows) and kept by key; the target
/// keys the source lacks may go. A key standing twice on one end is
/// fetched whatever its hashes, so that the merge sees every row of it.
/// Also returns how many rows differ (on the end with more).
fn narrowed(
    src: &Side,
    a: Vec<Hashed>,
    b: Vec<Hashed>,
    (source_rows, target_rows): (u64, u64),
    by_segment: impl FnOnce() -> Option<(String, u64)>,
) -> (Segments, u64) {
    let (ha, hb) = (hashes(&a), hashes(&b));
    let differs = |h: &Option<u64>, other: Option<&Option<u64>>| h.is_none() || other != Some(h);
    let fetch: Vec<&Hashed> = a
        .iter()
        .filter(|r| differs(&ha[r.key.as_str()], hb.get(r.key.as_str())))
        .collect();
    let touched = b
        .iter()
        .filter(|r| differs(&hb[r.key.as_str()], ha.get(r.key.as_str())))
        .count() as u64;
    let ints: Option<Vec<i64>> = fetch
        .iter()
        .map(|r| match r.values[..] {
            [Value::Int(i)] => Some(i),
            _ => None,
        })
        .collect();
    let listed = ints
        .filter(|i| i.len() <= KEY_LIST)
        .and_then(|i| src.key_filter(&i));
    let keys: HashSet<String> = fetch.iter().map(|r| r.key.clone()).collect();
    let fetched = fetch.len() as u64;
    let (source_filter, keep, fetch_rows) = match (listed, by_segment()) {
        (Some(f), _) => (Some(f), None, fetched),
        (None, Some((f, rows))) => (Some(f), Some(Keep::Keys(keys)), rows),
        (None, None) => (None, Some(Keep::Keys(keys)), source_rows),
    };
    let target_keys = b
        .into_iter()
        .filter(|r| !ha.contains_key(r.key.as_str()))
        .map(|r| (r.key, r.values))
        .collect();
    let seg = Segments {
        source_rows,
        target_rows,
        target_rows_differing: touched,
        fetch_rows,
        source_filter,
        keep,
        target_keys,
        all_equal: None,
    };
    (seg, touched.max(fetched))
}

/// How both ends were bucketed, the differing buckets, each end's buckets,
/// and the two ends' row counts (source, target).
type Compared = (Bucketing, HashSet<u64>, Buckets, Buckets, (u64, u64));

/// Counts and bucket checksums of both ends; the reason to copy every row
/// instead when the counts say differential would not pay.
async fn compare(
    s: &Setup<'_>,
    src: &mut Side,
    target: &mut Side,
) -> Result<Result<Compared, String>, Stop> {
    let (sc, tc) = (&s.source, &s.target);
    let cancel = s.cancel;
    let (source_size, target_size) = tokio::join!(
        sc.op(cancel, src.size(verify::ESTIMATE_FROM)),
        tc.op(cancel, target.size(verify::ESTIMATE_FROM))
    );
    let source_size = source_size?;
    let target_size = match target_size {
        Ok(n) => n,
        Err(Stop::Failed(e)) => return Ok(Err(format!("the target could not be counted ({e})"))),
        Err(c) => return Err(c),
    };
    // Counted sides are judged now; estimated ones (large, by their planner)
    // once their checksum pass has counted them.
    let exact = |s: Size| match s {
        Size::Exact(n) => n,
        Size::About(_) => u64::MAX,
    };
    if let Some(why) = too_few(exact(source_size), exact(target_size)) {
        return Ok(Err(why));
    }
    let rows = source_size.rows().max(target_size.rows());
    let (by, _) = sc
        .op(cancel, verify::prepare(src, target, rows, cancel))
        .await?;
    // A table that changed between the last two runs likely changed again.
    let changed = state::last_changes(s.data, &s.job.name)
        .is_none_or(|c| c.inserted + c.updated + c.deleted > 0);
    src.weigh = changed;
    target.weigh = changed;
    let (a, b) = tokio::join!(
        sc.op(cancel, src.buckets(by, cancel)),
        tc.op(cancel, target.buckets(by, cancel)),
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
    let (source_rows, target_rows) = (source_size.exact(&sb), target_size.exact(&tb));
    if let Some(why) = too_few(source_rows, target_rows) {
        return Ok(Err(why));
    }
    let differing: HashSet<u64> = verify::differing_buckets(&sb, &tb).into_iter().collect();
    Ok(Ok((by, differing, sb, tb, (source_rows, target_rows))))
}

/// Why a run copies every row instead, by the two ends' row counts.
fn too_few(source_rows: u64, target_rows: u64) -> Option<String> {
    // An empty source goes the whole way, where its guard stands.
    if source_rows == 0 {
        return Some("the source is empty".into());
    }
    if target_rows == 0 {
        return Some("target empty".into());
    }
    if target_rows < DIFFERENTIAL_MIN_ROWS {
        return Some(format!(
            "target small ({} rows, under {})",
            thousands(target_rows),
            thousands(DIFFERENTIAL_MIN_ROWS)
        ));
    }
    None
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

/// The keys of the target's rows in the `differing` buckets, each with its
/// canonical text. Closes the target's read connection.
async fn target_keys(
    mut side: Side,
    by: Bucketing,
    differing: &HashSet<u64>,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Vec<(String, Vec<Value>)>, String> {
    if differing.is_empty() {
        side.into_conn().close().await;
        return Ok(Vec::new());
    }
    let filter = side.bucket_filter(by, differing);
    // Only the key columns: the rest of a row is the source's to decide.
    side.plan = std::sync::Arc::new(side::key_plan(&side.plan));
    let select = side.select(filter.as_deref());
    let tplan = side.plan.clone();
    let mut out = Vec::new();
    let r = side
        .each_batch(&select, cancel, |b| {
            for row in b.rows {
                let key = key_text(&tplan, &row);
                if filter.is_none() && !differing.contains(&by.of_key(&key)) {
                    continue;
                }
                let values = tplan.key_read.iter().map(|&k| row[k].clone()).collect();
                out.push((key, values));
            }
        })
        .await;
    side.into_conn().close().await;
    r.map(|()| out)
}

/// A key (its values in `plan.key_read`'s order) as a row of `plan` to
/// stage: NULL outside the key.
pub(super) fn key_row(plan: &Plan, key: Vec<Value>) -> Vec<Value> {
    let mut row = vec![Value::Null; plan.targets.len()];
    for (&k, v) in plan.key_read.iter().zip(key) {
        row[k] = v;
    }
    row
}
