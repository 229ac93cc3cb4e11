//! A large whole-table read split into key ranges, read at once on sessions
//! that share the read's snapshot (PostgreSQL's exported snapshots): the rows
//! of all ranges together are the rows of one read, at one moment. MySQL and
//! SQLite sessions cannot share a snapshot, so their reads stay on one
//! session; ranges each in their own snapshot would mirror no moment at all.

use super::open::bounded;
use super::report::Report;
use super::setup::Setup;
use super::stop::Stop;
use crate::engine::db::Source;
use crate::engine::db::checksum::estimated_rows;
use crate::engine::db::connect::{Conn, Role, connect};
use crate::engine::db::plan::Plan;
use crate::engine::progress::Level;

/// Sessions at most, the read's own included (`read_ranges`' own limit).
const MAX_STREAMS: usize = crate::workspace::fields::READ_RANGES.max as usize;
/// Below this estimate a table is read on one session: the ranges' extra
/// connections and queries would cost more than they save.
const LARGE_TABLE_ROWS: u64 = 1_000_000;
/// Below this many cores on DSP's host, DSP reads on one session by itself:
/// on two cores beside both servers, more sessions measured slower.
const MIN_CORES: usize = 4;
/// Keys a range spans at least.
const MIN_RANGE_KEYS: i128 = 10_000;

/// The read split into ranges: `first` is read on the source's own session,
/// each of `others` on a session that joined its snapshot.
pub(super) struct KeyRanges {
    pub(super) first: String,
    pub(super) others: Vec<(Conn, String)>,
}

/// Splits `select` (a whole-table read, inside the source's snapshot) into
/// key ranges when the source can share its snapshot, the key is one integer
/// column, and more than one session is wanted (`streams`). `None`: read
/// it on one session, as when no extra session could be opened or join the
/// snapshot. A query that fails inside the snapshot fails the run: the read
/// transaction cannot go on after it.
pub(super) async fn split(
    report: &mut Report,
    s: &Setup<'_>,
    source: &mut Source,
    plan: &Plan,
    select: &str,
) -> Result<Option<KeyRanges>, Stop> {
    let key = plan.int_key().map(|k| plan.read[k].name.as_str());
    let Some(key) = key.filter(|_| source.reads_in_ranges()) else {
        // Asked for by the job and impossible: say why, once.
        if s.job.read_ranges.is_some_and(|n| n > 1) {
            let why = match key {
                Some(_) => "this source's sessions cannot share a snapshot",
                None => "its key is not one integer column",
            };
            report.log(
                Level::Info,
                format!(
                    "The job sets read_ranges, but {} is read on one session: {why}",
                    plan.source_table
                ),
            );
        }
        return Ok(None);
    };
    let wanted = streams(s, source, plan).await?;
    if wanted < 2 {
        return Ok(None);
    }
    let k = source.dialect().ident(key);
    let Some((low, high)) = bounds(s, source, &k, &plan.source_table).await? else {
        return Ok(None);
    };
    let span = i128::from(high) - i128::from(low) + 1;
    let wanted = wanted.min((span / MIN_RANGE_KEYS).clamp(1, MAX_STREAMS as i128) as usize);
    if wanted < 2 {
        return Ok(None);
    }
    let opened = futures::future::join_all((1..wanted).map(|_| open(s))).await;
    let joining = source.share_snapshot(opened.into_iter().flatten().collect());
    let others = s.source.op(s.cancel, joining).await?;
    if others.is_empty() {
        return Ok(None);
    }
    let n = others.len() + 1;
    // Inner boundaries only: the first range takes everything below the
    // second (and the NULL keys, which the run must still see to fail them
    // by name), the last everything from its start up.
    let cut = |i: usize| low as i128 + span * i as i128 / n as i128;
    let range = |i: usize| {
        let lower = (i > 0).then(|| format!("{k} >= {}", cut(i)));
        let upper = (i + 1 < n).then(|| format!("{k} < {}", cut(i + 1)));
        match (lower, upper) {
            (None, Some(u)) => format!("{select} WHERE ({u} OR {k} IS NULL)"),
            (Some(l), Some(u)) => format!("{select} WHERE {l} AND {u}"),
            (Some(l), None) => format!("{select} WHERE {l}"),
            (None, None) => select.to_string(),
        }
    };
    report.log(
        Level::Info,
        format!(
            "Reading {} in {n} ranges of {key} at once ({low} to {high}), on one snapshot",
            plan.source_table
        ),
    );
    Ok(Some(KeyRanges {
        first: range(0),
        others: others
            .into_iter()
            .enumerate()
            .map(|(i, c)| (c, range(i + 1)))
            .collect(),
    }))
}

/// The least and greatest key `k` of `table`, in one statement; `None`
/// when there is none, or a bound does not fit 64 bits (a `numeric` key):
/// the read then stays on one session.
async fn bounds(
    s: &Setup<'_>,
    source: &mut Source,
    k: &str,
    table: &str,
) -> Result<Option<(i64, i64)>, Stop> {
    let d = source.dialect();
    let Some(sql) = d.checksums() else {
        return Ok(None);
    };
    let table = d.table(table);
    let (lo, hi) = (
        sql.as_text(&format!("MIN({k})")),
        sql.as_text(&format!("MAX({k})")),
    );
    let query = format!("SELECT {lo} FROM {table} UNION ALL SELECT {hi} FROM {table}");
    let texts = s.source.op(s.cancel, source.conn.texts(&query)).await?;
    // Two rows, in whatever order the server sends them.
    let ints: Vec<i64> = texts.iter().filter_map(|t| t.trim().parse().ok()).collect();
    Ok(match ints[..] {
        [a, b] => Some((a.min(b), a.max(b))),
        _ => None,
    })
}

/// Sessions wanted for the read: the job's `read_ranges`, else
/// `DSP_READ_RANGES` in the environment (1 turns the ranges off); else, for a
/// table the planner puts at a million rows or more, half of this machine's
/// cores (up to four), so that the servers beside DSP keep the rest. DSP
/// cannot see the source server's cores; an operator who knows better (a
/// source across a long network path) sets the number.
async fn streams(s: &Setup<'_>, source: &mut Source, plan: &Plan) -> Result<usize, Stop> {
    let asked = s.job.read_ranges.map(|n| n as usize).or_else(|| {
        std::env::var("DSP_READ_RANGES")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    if let Some(n) = asked {
        return Ok(n.clamp(1, MAX_STREAMS));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let d = source.dialect();
    let Some(sql) = d
        .checksums()
        .filter(|_| cores >= MIN_CORES)
        .map(|c| c.estimate_rows(&d.table(&plan.source_table)))
    else {
        return Ok(1);
    };
    let lines = s.source.op(s.cancel, source.conn.texts(&sql)).await?;
    Ok(chosen(cores, lines.first().and_then(|l| estimated_rows(l))))
}

/// Ranges DSP reads at once by itself, on a host with `cores`, for a table
/// the planner estimates at `rows`.
fn chosen(cores: usize, rows: Option<u64>) -> usize {
    match rows {
        Some(r) if cores >= MIN_CORES && r >= LARGE_TABLE_ROWS => (cores / 2).min(4),
        _ => 1,
    }
}

/// One more session on the source, bounded by its `stall_timeout`.
async fn open(s: &Setup<'_>) -> Option<Conn> {
    let net = s.source.net;
    bounded(s.ws, net, connect(s.ws, net, Role::Source))
        .await
        .ok()
}

#[cfg(test)]
mod tests {
    use super::chosen;

    #[test]
    fn ranges_are_chosen_for_a_large_table_on_a_host_with_cores_to_spare() {
        assert_eq!(chosen(2, Some(50_000_000)), 1, "two cores");
        assert_eq!(chosen(4, Some(999_999)), 1, "below a million rows");
        assert_eq!(chosen(8, None), 1, "no estimate");
        assert_eq!(chosen(4, Some(1_000_000)), 2);
        assert_eq!(chosen(6, Some(1_000_000)), 3);
        assert_eq!(chosen(64, Some(1_000_000_000)), 4, "four at most");
    }
}
