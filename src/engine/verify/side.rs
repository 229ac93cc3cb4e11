//! One end of a verification: its connection inside a read-only snapshot,
//! the plan its rows are read and converted by (the run's own read path),
//! and the two passes over it: a count and checksum per bucket, then the
//! rows of the buckets that differ.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::locate::{self, Weighted};
use super::{canon, pg_hash};
use crate::engine::db::Conn;
use crate::engine::db::checksum::{Checksums, Field, Native, estimated_rows};
use crate::engine::db::plan::{NativeColumn, Plan, ReadColumn, TargetColumn};
use crate::engine::db::read::{Batch, BatchBuilder, shown_key_text};
use crate::engine::runner::liveness::Liveness;
use crate::engine::types::{Convert, Value};
use crate::workspace::ColumnType;

/// Rows of a side hashed by DSP that are kept from the first pass, so that a
/// small table is not read twice.
const KEEP_ROWS: usize = 100_000;
/// A side's bound on silence until `watched` gives it its network's.
const DEFAULT_STALL: Duration = crate::workspace::fields::DEFAULT_STALL_TIMEOUT;

/// A row as verification compares it.
#[derive(Debug, Clone)]
pub struct Row {
    /// The canonical text of the key: what rows are matched by.
    pub key: String,
    /// The key as a person reads it: `id=7` or `org=1, id=7`.
    pub shown: String,
    /// The canonical text of each mapped column.
    pub cols: Vec<Option<String>>,
    /// The cursor value (the source of an incremental job).
    pub cursor: Option<Value>,
}

/// A row of a differing bucket, as `Side::row_hashes` reads it.
pub struct Hashed {
    /// The canonical text of the key (what rows are matched by).
    pub key: String,
    /// The key's values, in `key_read` order.
    pub values: Vec<Value>,
    pub hash: u64,
}

/// `plan` reading its key columns alone, in `key_read`'s order.
pub(crate) fn key_plan(plan: &Plan) -> Plan {
    Plan {
        source_table: plan.source_table.clone(),
        target_table: plan.target_table.clone(),
        read: plan
            .key_read
            .iter()
            .map(|&k| plan.read[k].clone())
            .collect(),
        targets: plan
            .key_read
            .iter()
            .map(|&k| plan.targets[k].clone())
            .collect(),
        key_read: (0..plan.key_read.len()).collect(),
        cursor_read: None,
    }
}

/// Count and sum of row hashes per bucket.
pub type Buckets = HashMap<u64, (u64, u128)>;

/// How rows are put in buckets; both sides must use the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucketing {
    /// `n` buckets by a hash of the key's canonical text: works for any key,
    /// but a bucket's rows are found again only by scanning the table.
    Hash(u64),
    /// One integer key column: bucket `(key - lo) / width` for keys in
    /// `lo..=hi`, and bucket `n` for a NULL key. A server then computes no key
    /// hash, and the rows of a bucket are a key range its primary key reads.
    Range {
        lo: i64,
        hi: i64,
        width: u64,
        n: u64,
    },
}

impl From<u64> for Bucketing {
    fn from(n: u64) -> Self {
        Bucketing::Hash(n)
    }
}

impl Bucketing {
    /// About `n` key ranges over `lo..=hi`; `None` when `key - lo` could
    /// overflow a server's 64-bit integer.
    pub fn ranges(n: u64, lo: i64, hi: i64) -> Option<Self> {
        let span = i128::from(hi) - i128::from(lo) + 1;
        if span <= 0 || span > i128::from(i64::MAX) {
            return None;
        }
        let n = i128::from(n.max(1));
        let width = ((span + n - 1) / n).max(1);
        let n = (span + width - 1) / width;
        Some(Bucketing::Range {
            lo,
            hi,
            width: width as u64,
            n: n as u64,
        })
    }

    /// How many buckets there are (a NULL key's range bucket aside).
    pub fn count(&self) -> u64 {
        match *self {
            Bucketing::Hash(n) | Bucketing::Range { n, .. } => n,
        }
    }

    /// Every key of the `wanted` range buckets, when they are few enough
    /// for a server to look each up (`RANGE_KEYS`) and none is the NULL
    /// keys' bucket.
    pub fn keys_in(&self, wanted: &HashSet<u64>) -> Option<Vec<i64>> {
        match *self {
            Bucketing::Range { lo, hi, width, n }
                if !wanted.contains(&n)
                    && (wanted.len() as u64).saturating_mul(width) <= RANGE_KEYS =>
            {
                Some(range_keys(lo, hi, width, wanted))
            }
            _ => None,
        }
    }

    /// The bucket of a row, from its key's canonical text alone (so that
    /// both sides agree whatever their engines).
    fn of(&self, row: &Row) -> u64 {
        self.of_key(&row.key)
    }

    /// The bucket of a key's canonical text (`canon::row_text` of the key).
    pub fn of_key(&self, key: &str) -> u64 {
        match *self {
            Bucketing::Hash(n) => canon::hash60(key) % n,
            Bucketing::Range { lo, hi, width, n } => {
                // A one-column key's text is the column's text and `~;`; an
                // integer's text has no `~` to double.
                let k = key.strip_suffix("~;").and_then(|t| t.parse::<i64>().ok());
                match k {
                    Some(k) if (lo..=hi).contains(&k) => {
                        ((i128::from(k) - i128::from(lo)) / i128::from(width)) as u64
                    }
                    _ => n,
                }
            }
        }
    }
}

/// The SQL a server checksums this side with.
struct ServerSql {
    sql: &'static dyn Checksums,
    /// The key's 60-bit hash.
    key_hash: String,
    /// The row's 60-bit hash.
    row_hash: String,
    /// The row's canonical text, for a hash other than `row_hash`'s.
    row_text: String,
    /// The key column, when the key is one integer column (range buckets).
    int_key: Option<String>,
    /// Each mapped column as the engine hashes it natively, when it can.
    native: Option<Vec<Native>>,
}

/// A side's rows: counted, or the planner's estimate (see `Side::size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Exact(u64),
    About(u64),
}

impl Size {
    /// The rows to size buckets by.
    pub fn rows(self) -> u64 {
        match self {
            Size::Exact(n) | Size::About(n) => n,
        }
    }

    /// The exact count: the one taken, else the sum of the side's buckets.
    pub fn exact(self, buckets: &Buckets) -> u64 {
        match self {
            Size::Exact(n) => n,
            Size::About(_) => buckets.values().map(|x| x.0).sum(),
        }
    }
}

pub struct Side {
    pub conn: Conn,
    pub plan: Arc<Plan>,
    /// Mapped columns: the first `mapped` values of a row are compared.
    pub mapped: usize,
    /// Names of the mapped columns on this side, for reports.
    pub names: Vec<String>,
    server: Option<ServerSql>,
    /// A side DSP hashes: rows are hashed as PostgreSQL's `hashtextextended`
    /// hashes their text (its server-side peer does so; see
    /// `hash_text_like_pg`), not by SHA-256.
    pg_text_hash: bool,
    kept: Option<Vec<Row>>,
    /// Whether `buckets` also takes the weighted sums `locate` reads: an
    /// aggregate more over every row (5% of a pass), worth it only where
    /// buckets will differ.
    pub weigh: bool,
    /// The last `buckets` pass's weighted sums, where it took them (a
    /// server bucketing by key range); empty elsewhere.
    pub weighted: Weighted,
    pub rows_fetched: u64,
    pub bytes_fetched: u64,
    /// Rows that could not be read or converted, one sentence each.
    pub unreadable: Vec<String>,
    /// The stall watchdog of this side's conversation (see `watched`).
    live: Arc<Liveness>,
    who: String,
    limit: Duration,
}

impl Side {
    /// `tz` is the network's zone of timestamps stored without one.
    pub fn new(conn: Conn, plan: Plan, mapped: usize, tz: &str) -> Self {
        let server = server_sql(&*conn, &plan, mapped, tz);
        let names = plan.targets[..mapped]
            .iter()
            .map(|t| t.name.clone())
            .collect();
        Side {
            conn,
            plan: Arc::new(plan),
            mapped,
            names,
            server,
            pg_text_hash: false,
            kept: None,
            weigh: false,
            weighted: Weighted::new(),
            rows_fetched: 0,
            bytes_fetched: 0,
            unreadable: Vec::new(),
            live: Arc::new(Liveness::new(String::new(), DEFAULT_STALL)),
            who: "the server".into(),
            limit: DEFAULT_STALL,
        }
    }

    /// Names this side for the stall watchdog (`network "S"`) and bounds its
    /// silence by the network's `stall_timeout`: every statement of this
    /// side then fails within `limit` of the server going quiet (SPEC §8).
    pub fn watched(mut self, who: String, limit: Duration) -> Self {
        self.who = who;
        self.limit = limit;
        self
    }

    /// Runs `fut`, one conversation with this side's server, failing it
    /// once the server has said nothing (no answer, no rows) for `limit`.
    async fn watch<T>(
        live: Arc<Liveness>,
        who: &str,
        limit: Duration,
        what: &'static str,
        fut: impl Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        live.waiting_for(who, what, limit);
        tokio::select! {
            r = fut => r,
            why = live.stalled() => Err(why),
        }
    }

    /// Streams `sql`'s rows as batches of this side's plan, under the same
    /// watchdog as every other read of this side.
    pub(crate) async fn each_batch(
        &mut self,
        sql: &str,
        cancel: &CancellationToken,
        f: impl FnMut(Batch),
    ) -> Result<(), String> {
        let (live, who, limit) = self.watching();
        let plan = self.plan.clone();
        let fut = each_batch(&mut self.conn, plan, sql, cancel, &live, f);
        Self::watch(live.clone(), &who, limit, "rows", fut).await
    }

    fn watching(&self) -> (Arc<Liveness>, String, Duration) {
        (self.live.clone(), self.who.clone(), self.limit)
    }

    /// Opens this side's read-only snapshot.
    pub async fn begin_snapshot(&mut self) -> Result<(), String> {
        let (live, who, limit) = self.watching();
        let conn = &mut self.conn;
        let fut = async move { conn.begin_snapshot().await.map_err(|e| e.to_string()) };
        Self::watch(live, &who, limit, "answer", fut).await
    }

    /// Whether the server computes this side's checksums.
    pub fn on_server(&self) -> bool {
        self.server.is_some()
    }

    fn table(&self) -> String {
        self.conn.dialect().table(&self.plan.source_table)
    }

    /// How many rows this side holds, as far as sizing its buckets needs:
    /// the planner's estimate where the server checksums the side and
    /// thinks it holds at least `exact_below` rows (its checksum pass then
    /// counts them exactly, `Buckets` sums), else `COUNT(*)`.
    pub async fn size(&mut self, exact_below: u64) -> Result<Size, String> {
        if let Some(s) = &self.server {
            let sql = s.sql.estimate_rows(&self.table());
            let (live, who, limit) = self.watching();
            let conn = &mut self.conn;
            let fut = async move { conn.texts(&sql).await.map_err(|e| e.to_string()) };
            let lines = Self::watch(live, &who, limit, "answer", fut).await?;
            if let Some(n) = lines.first().and_then(|l| estimated_rows(l))
                && n >= exact_below
            {
                return Ok(Size::About(n));
            }
        }
        self.count().await.map(Size::Exact)
    }

    pub async fn count(&mut self) -> Result<u64, String> {
        let sql = format!("SELECT COUNT(*) FROM {}", self.table());
        let (live, who, limit) = self.watching();
        let conn = &mut self.conn;
        let fut = async move { conn.count(&sql).await.map_err(|e| e.to_string()) };
        Self::watch(live, &who, limit, "answer", fut).await
    }

    /// This side's native row hash, when its server has one (asked once, in
    /// the side's snapshot: the probe cannot fail and abort it).
    async fn native_row_hash(&mut self, cols: &[Native]) -> Result<Option<String>, String> {
        let Some(s) = &self.server else {
            return Ok(None);
        };
        let (sql, Some(probe)) = (s.sql, s.sql.native_probe()) else {
            return Ok(None);
        };
        let (live, who, limit) = self.watching();
        let conn = &mut self.conn;
        let fut = async move { conn.scalar(probe).await.map_err(|e| e.to_string()) };
        if Self::watch(live, &who, limit, "answer", fut).await? != 1 {
            return Ok(None);
        }
        let exprs: Vec<String> = cols.iter().map(|c| c.expr.clone()).collect();
        Ok(sql.native_row_hash(&exprs))
    }

    /// Whether this side can bucket by key range: its server checksums it
    /// and its key is one integer column.
    pub fn ranged(&self) -> bool {
        self.range_key().is_some()
    }

    /// The key column of a side keyed by one integer column: a server
    /// computes its range bucket in SQL, DSP from the key's text (a side it
    /// hashes can be bucketed by range as well, and its server-side peer
    /// then computes no key hash).
    fn range_key(&self) -> Option<String> {
        if let Some(s) = &self.server {
            return s.int_key.clone();
        }
        let k = self.plan.int_key()?;
        Some(self.conn.dialect().ident(&self.plan.read[k].name))
    }

    /// The least and greatest key of a `ranged` side (through its primary
    /// key's index); `None` when it has no non-NULL key or is not ranged.
    pub async fn key_range(
        &mut self,
        cancel: &CancellationToken,
    ) -> Result<Option<(i64, i64)>, String> {
        let Some(k) = self.range_key() else {
            return Ok(None);
        };
        let checksums = self.conn.dialect().checksums();
        let as_text = |e: String| match checksums {
            Some(sql) => sql.as_text(&e),
            None => format!("CAST({e} AS TEXT)"),
        };
        let query = format!(
            "SELECT {}, {} FROM {}",
            as_text(format!("MIN({k})")),
            as_text(format!("MAX({k})")),
            self.table()
        );
        let mut out = None;
        let (live, who, limit) = self.watching();
        let beat = live.clone();
        let conn = &mut self.conn;
        let fut = each_batch(conn, text_plan(2), &query, cancel, &beat, |b| {
            for r in &b.rows {
                let num = |i: usize| match &r[i] {
                    Value::Text(t) => t.trim().parse::<i64>().ok(),
                    _ => None,
                };
                if let (Some(lo), Some(hi)) = (num(0), num(1)) {
                    out = Some((lo, hi));
                }
            }
        });
        Self::watch(live, &who, limit, "answer", fut).await?;
        Ok(out)
    }

    /// The first pass: count and checksum of every bucket.
    pub async fn buckets(
        &mut self,
        by: impl Into<Bucketing>,
        cancel: &CancellationToken,
    ) -> Result<Buckets, String> {
        let by = by.into();
        let (live, who, limit) = self.watching();
        let fut = async {
            match &self.server {
                Some(s) => self.server_buckets(by, cancel, s.sql).await,
                None => self.dsp_buckets(by, cancel).await,
            }
        };
        Self::watch(live, &who, limit, "rows", fut).await
    }

    /// The SQL of a row's bucket on this side's server.
    fn bucket_sql(&self, by: Bucketing) -> String {
        let s = self.server.as_ref().expect("checked by the caller");
        match (by, &s.int_key) {
            (Bucketing::Range { lo, width, n, .. }, Some(k)) => format!(
                "CASE WHEN {k} IS NULL THEN {n} ELSE {} END",
                s.sql.range_bucket(k, lo, width)
            ),
            (Bucketing::Hash(n), _) | (Bucketing::Range { n, .. }, None) => {
                format!("MOD({}, {n})", s.key_hash)
            }
        }
    }

    async fn server_buckets(
        &mut self,
        by: Bucketing,
        cancel: &CancellationToken,
        sql: &'static dyn Checksums,
    ) -> Result<Buckets, String> {
        let s = self.server.as_ref().expect("checked by the caller");
        let mut columns = format!("{} AS dsp_b, {} AS dsp_h", self.bucket_sql(by), s.row_hash);
        let mut sums = "dsp_b, COUNT(*), SUM(dsp_h)".to_string();
        let mut weighted = false;
        if let (Bucketing::Range { lo, width, .. }, Some(k), true) = (by, &s.int_key, self.weigh)
            && let Some(shift) = locate::shift(width)
        {
            columns.push_str(&format!(", {} AS dsp_p", sql.range_place(k, lo, width)));
            sums.push_str(&format!(", SUM(dsp_p * (dsp_h >> {shift}))"));
            weighted = true;
        }
        // One text a bucket, its numbers apart by spaces: 62,500 buckets
        // read as four values each cost DSP more than the server's grouping.
        let query = format!(
            "SELECT CONCAT_WS(' ', {sums}) FROM ({}) dsp_v GROUP BY dsp_b",
            sql.bucketed_rows(&columns, &self.table()),
        );
        let around = sql.around_grouping(by.count());
        if let Some((set, _)) = &around {
            self.conn.exec(set).await.map_err(|e| e.to_string())?;
        }
        let groups = by.count().saturating_add(1).min(super::MAX_BUCKETS) as usize;
        let mut out = Buckets::with_capacity(groups);
        let mut places = Weighted::with_capacity(if weighted { groups } else { 0 });
        let mut bad = None;
        let live = self.live.clone();
        each_batch(&mut self.conn, text_plan(1), &query, cancel, &live, |b| {
            for r in &b.rows {
                let Some(Value::Text(t)) = r.first() else {
                    bad = Some(format!("{r:?}"));
                    continue;
                };
                let mut nums = t.split(' ').map(|n| n.trim().parse::<u128>().ok());
                let mut next = || nums.next().flatten();
                match (next(), next(), next()) {
                    (Some(b), Some(c), Some(h)) => {
                        out.insert(b as u64, (c as u64, h));
                        // A bucket of NULL keys has no places (and no sum).
                        if let Some(w) = next() {
                            places.insert(b as u64, w);
                        }
                    }
                    _ => bad = Some(t.clone()),
                }
            }
        })
        .await?;
        if let Some((_, reset)) = &around {
            self.conn.exec(reset).await.map_err(|e| e.to_string())?;
        }
        self.weighted = places;
        self.bytes_fetched += out.len() as u64 * 64;
        match bad {
            Some(r) => Err(format!(
                "the server's checksum row {r:?} is not a bucket's numbers"
            )),
            None => Ok(out),
        }
    }

    async fn dsp_buckets(
        &mut self,
        by: Bucketing,
        cancel: &CancellationToken,
    ) -> Result<Buckets, String> {
        let mut out = Buckets::new();
        let mut kept = Some(Vec::new());
        let select = self.select(None);
        let pg_text_hash = self.pg_text_hash;
        let (plan, mapped) = (self.plan.clone(), self.mapped);
        // One row's text and its key's, written into buffers used again for
        // every row: a `Row` of owned texts is built only for rows kept.
        let (mut text, mut key) = (String::new(), String::new());
        let rows = self.read_values(&select, cancel, |values| {
            text.clear();
            key.clear();
            let mut bytes = 0;
            for v in &values[..mapped] {
                let before = text.len();
                if !canon::push_value(&mut text, v) {
                    bytes += (text.len() - before) as u64 + 2;
                }
            }
            for &k in &plan.key_read {
                canon::push_value(&mut key, &values[k]);
            }
            let hash = match pg_text_hash {
                true => pg_hash::text_hash60(text.as_bytes()),
                false => canon::hash60(&text),
            };
            let e = out.entry(by.of_key(&key)).or_insert((0, 0));
            e.0 += 1;
            e.1 += u128::from(hash);
            if let Some(k) = &mut kept {
                if k.len() < KEEP_ROWS {
                    k.push(to_row(&plan, mapped, values));
                } else {
                    kept = None;
                }
            }
            bytes
        });
        rows.await?;
        self.kept = kept;
        Ok(out)
    }

    /// The second pass: the rows of `wanted` buckets, to `each`.
    pub async fn rows_in(
        &mut self,
        by: impl Into<Bucketing>,
        wanted: &HashSet<u64>,
        cancel: &CancellationToken,
        mut each: impl FnMut(Row),
    ) -> Result<(), String> {
        let by = by.into();
        if let Some(kept) = &self.kept {
            for row in kept {
                if wanted.contains(&by.of(row)) {
                    each(row.clone());
                }
            }
            return Ok(());
        }
        let filter = self.bucket_filter(by, wanted);
        let on_server = filter.is_some();
        let select = self.select(filter.as_deref());
        let (live, who, limit) = self.watching();
        let fut = self.read(&select, cancel, |row| {
            if on_server || wanted.contains(&by.of(&row)) {
                each(row)
            }
        });
        Self::watch(live, &who, limit, "rows", fut).await
    }

    /// A `WHERE` clause that keeps the rows of `wanted` buckets (of `n`),
    /// when the server hashes this side's keys; else DSP must filter.
    pub fn bucket_filter(&self, by: impl Into<Bucketing>, wanted: &HashSet<u64>) -> Option<String> {
        let by = by.into();
        let by_bucket = || {
            let mut ids: Vec<u64> = wanted.iter().copied().collect();
            ids.sort_unstable();
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            format!(" WHERE {} IN ({})", self.bucket_sql(by), ids.join(", "))
        };
        self.server.as_ref().map(|s| match (by, &s.int_key) {
            (Bucketing::Range { lo, hi, width, n }, Some(k)) if runs(wanted) <= RANGE_RUNS => {
                format!(" WHERE {}", range_filter(k, (lo, hi, width, n), wanted))
            }
            (Bucketing::Range { .. }, Some(k)) => match by.keys_in(wanted) {
                Some(keys) => format!(" WHERE {k} IN ({})", in_list(&keys)),
                None => by_bucket(),
            },
            _ => by_bucket(),
        })
    }

    /// Every row of the `wanted` buckets as its key and its row hash, the
    /// hash computed by the server (the bucket sums' own); `None` for a
    /// side DSP hashes. What a differing bucket holds is then known row by
    /// row without reading the rows.
    pub async fn row_hashes(
        &mut self,
        by: Bucketing,
        wanted: &HashSet<u64>,
        cancel: &CancellationToken,
    ) -> Result<Option<Vec<Hashed>>, String> {
        let filter = self.bucket_filter(by, wanted).unwrap_or_default();
        self.row_hashes_where(&filter, cancel).await
    }

    /// As `row_hashes`, for the rows `filter` (a `WHERE` clause) keeps.
    pub async fn row_hashes_where(
        &mut self,
        filter: &str,
        cancel: &CancellationToken,
    ) -> Result<Option<Vec<Hashed>>, String> {
        let Some(s) = &self.server else {
            return Ok(None);
        };
        let keys = key_plan(&self.plan);
        let width = keys.read.len();
        let query = format!(
            "SELECT {}, {} FROM {}{filter}",
            self.conn.dialect().select_list(&keys),
            s.sql.as_text(&s.row_hash),
            self.table(),
        );
        // The key columns, then the hash read as text.
        let hash = text_plan(1);
        let mut with_hash = keys;
        with_hash.read.push(hash.read[0].clone());
        with_hash.targets.push(hash.targets[0].clone());
        let mut out = Vec::new();
        let mut bad = None;
        let (live, who, limit) = self.watching();
        let beat = live.clone();
        let fut = each_batch(
            &mut self.conn,
            Arc::new(with_hash),
            &query,
            cancel,
            &beat,
            |b| {
                for mut r in b.rows {
                    let hash = match r.pop() {
                        Some(Value::Text(t)) => t.trim().parse::<u64>().ok(),
                        _ => None,
                    };
                    let Some(hash) = hash else {
                        bad = Some(format!("{r:?}"));
                        continue;
                    };
                    let texts: Vec<Option<String>> = r.iter().map(canon::text).collect();
                    out.push(Hashed {
                        key: canon::row_text(&texts),
                        values: r,
                        hash,
                    });
                }
            },
        );
        Self::watch(live, &who, limit, "rows", fut).await?;
        self.rows_fetched += out.len() as u64;
        self.bytes_fetched += out.len() as u64 * (width as u64 * 8 + 16);
        match bad {
            Some(r) => Err(format!("the server's row hash for key {r} is not a number")),
            None => Ok(Some(out)),
        }
    }

    /// A `WHERE` clause that keeps the rows of `keys` (integers of a
    /// one-integer-column key), when the side has such a key.
    pub fn key_filter(&self, keys: &[i64]) -> Option<String> {
        let k = self.server.as_ref()?.int_key.as_ref()?;
        if keys.is_empty() {
            return Some(" WHERE 1 = 0".into());
        }
        Some(format!(" WHERE {k} IN ({})", in_list(keys)))
    }

    /// The connection back, for a caller that goes on reading in its snapshot.
    pub fn into_conn(self) -> Conn {
        self.conn
    }

    pub(crate) fn select(&self, filter: Option<&str>) -> String {
        let list = self.conn.dialect().select_list(&self.plan);
        format!(
            "SELECT {list} FROM {}{}",
            self.table(),
            filter.unwrap_or("")
        )
    }

    /// Streams `select` through the run's read path (the dialect's read
    /// expressions, `types::convert`) and hands each row over as compared.
    async fn read(
        &mut self,
        select: &str,
        cancel: &CancellationToken,
        mut each: impl FnMut(Row),
    ) -> Result<(), String> {
        let plan = self.plan.clone();
        let mapped = self.mapped;
        self.read_values(select, cancel, |values| {
            let row = to_row(&plan, mapped, values);
            let bytes = row
                .cols
                .iter()
                .flatten()
                .map(|c| c.len() as u64 + 4)
                .sum::<u64>();
            each(row);
            bytes
        })
        .await
    }

    /// `read` handing over each row's converted values; `each` answers
    /// about how many bytes the row's values held (text, and 4 a value).
    async fn read_values(
        &mut self,
        select: &str,
        cancel: &CancellationToken,
        mut each: impl FnMut(Vec<Value>) -> u64,
    ) -> Result<(), String> {
        let plan = self.plan.clone();
        let (mut rows, mut bytes) = (0u64, 0u64);
        let mut unreadable = Vec::new();
        let live = self.live.clone();
        each_batch(&mut self.conn, plan, select, cancel, &live, |b| {
            rows += b.read;
            unreadable.extend(b.failures);
            for values in b.rows {
                bytes += each(values);
            }
        })
        .await?;
        self.rows_fetched += rows;
        self.bytes_fetched += bytes;
        self.unreadable.extend(unreadable);
        Ok(())
    }
}

/// The server's SQL for this side, when it can checksum every mapped column.
fn server_sql(
    conn: &dyn crate::engine::db::Connection,
    plan: &Plan,
    mapped: usize,
    tz: &str,
) -> Option<ServerSql> {
    let d = conn.dialect();
    let sql = d.checksums()?;
    let columns = || plan.read[..mapped].iter().zip(&plan.targets);
    let fields: Option<Vec<Field>> = columns()
        .map(|(r, t)| {
            let sql = sql.canon_expr(&d.ident(&r.name), &r.native, t.ty, tz)?;
            Some(Field {
                sql,
                escaped: !matches!(
                    t.ty,
                    ColumnType::Integer
                        | ColumnType::Decimal
                        | ColumnType::Boolean
                        | ColumnType::Date
                        | ColumnType::Time
                        | ColumnType::Timestamp
                        | ColumnType::Uuid
                ),
            })
        })
        .collect();
    let fields = fields?;
    let keys: Vec<Field> = plan
        .key_read
        .iter()
        .map(|&k| Field {
            sql: fields[k].sql.clone(),
            escaped: fields[k].escaped,
        })
        .collect();
    let int_key = plan.int_key().map(|k| d.ident(&plan.read[k].name));
    let native = columns()
        .map(|(r, _)| sql.native_column(&d.ident(&r.name), &r.native, tz))
        .collect();
    Some(ServerSql {
        sql,
        key_hash: sql.hash60(&sql.row(&keys)),
        row_hash: sql.hash60(&sql.row(&fields)),
        row_text: sql.row(&fields),
        int_key,
        native,
    })
}

/// Lets two sides on one engine hash rows by their native values instead
/// of their canonical text (several times cheaper for a server), when
/// every mapped column of one hashes alike with its peer of the other.
/// Either way the second pass compares canonical text in DSP, so a native
/// hash that differs where the texts agree costs time, never an answer.
pub async fn hash_natively(a: &mut Side, b: &mut Side) -> Result<bool, String> {
    let families = |s: &Side| -> Option<Vec<Native>> { s.server.as_ref()?.native.clone() };
    let (Some(na), Some(nb)) = (families(a), families(b)) else {
        return Ok(false);
    };
    let alike = na.len() == nb.len() && na.iter().zip(&nb).all(|(x, y)| x.family == y.family);
    if !alike {
        return Ok(false);
    }
    let ha = a.native_row_hash(&na).await?;
    let hb = b.native_row_hash(&nb).await?;
    let (Some(ha), Some(hb)) = (ha, hb) else {
        return Ok(false);
    };
    for (side, hash) in [(a, ha), (b, hb)] {
        if let Some(s) = side.server.as_mut() {
            s.row_hash = hash;
        }
    }
    Ok(true)
}

/// Where one side is hashed by DSP and the other by a server with its own
/// text hash that DSP computes alike (PostgreSQL's `hashtextextended`),
/// both hash each row's canonical text that way instead of by SHA-256: a
/// third less work for the server. Only once the server has hashed a probe
/// as DSP does (a UTF-8 database, a little-endian machine). Either way the
/// second pass compares canonical text in DSP.
pub async fn hash_text_like_pg(a: &mut Side, b: &mut Side) -> Result<bool, String> {
    let (server, dsp) = match (&a.server, &b.server) {
        (Some(_), None) => (a, b),
        (None, Some(_)) => (b, a),
        _ => return Ok(false),
    };
    let s = server.server.as_ref().expect("matched above");
    let (Some(hash), Some(probe)) = (s.sql.text_hash60(&s.row_text), s.sql.text_hash_probe())
    else {
        return Ok(false);
    };
    let [check, probe] = probe;
    let (live, who, limit) = server.watching();
    let conn = &mut server.conn;
    let fut = async move {
        Ok(match conn.scalar(&check).await {
            Ok(1) => conn.scalar(&probe).await.ok(),
            _ => None,
        })
    };
    if Side::watch(live, &who, limit, "answer", fut).await? != Some(pg_hash::probe_hash()) {
        return Ok(false);
    }
    if let Some(s) = server.server.as_mut() {
        s.row_hash = hash;
    }
    dsp.pg_text_hash = true;
    Ok(true)
}

/// Key ranges a filter reads through the primary key at most; more (1% of
/// a table's rows changed, scattered) make a list of bucket numbers, which
/// a server matches in one scan, where thousands of `OR`ed ranges would
/// cost it a comparison each per row.
const RANGE_RUNS: usize = 64;

/// Keys of scattered range buckets a filter lists one by one at most, each
/// a probe of the primary key; with more, a server scans the table once
/// (16,000 keys of 1,000 buckets: 50 ms against a 60 ms scan of a million
/// rows, before either hashes a row).
const RANGE_KEYS: u64 = 20_000;

/// Every key of the `wanted` range buckets (none is `n`, the NULL keys'),
/// in order.
fn range_keys(lo: i64, hi: i64, width: u64, wanted: &HashSet<u64>) -> Vec<i64> {
    let mut ids: Vec<u64> = wanted.iter().copied().collect();
    ids.sort_unstable();
    let mut out = Vec::new();
    for b in ids {
        let from = i128::from(lo) + i128::from(b) * i128::from(width);
        let to = (from + i128::from(width) - 1).min(i128::from(hi));
        // Within `lo..=hi`, so within i64.
        out.extend((from..=to).map(|k| k as i64));
    }
    out
}

/// Integers as a list for `IN`.
fn in_list(keys: &[i64]) -> String {
    let mut out = String::with_capacity(keys.len() * 8);
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&k.to_string());
    }
    out
}

/// The runs of consecutive bucket numbers in `wanted`.
fn runs(wanted: &HashSet<u64>) -> usize {
    wanted
        .iter()
        .filter(|&&b| b == 0 || !wanted.contains(&(b - 1)))
        .count()
}

/// The rows of `wanted` range buckets: runs of neighbouring buckets as one
/// key range each (read through the key's index), bucket `n` as NULL keys.
fn range_filter(
    key: &str,
    (lo, hi, width, n): (i64, i64, u64, u64),
    wanted: &HashSet<u64>,
) -> String {
    let mut ids: Vec<u64> = wanted.iter().copied().collect();
    ids.sort_unstable();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let first = ids[i];
        if first >= n {
            parts.push(format!("{key} IS NULL"));
            break;
        }
        let mut last = first;
        while i + 1 < ids.len() && ids[i + 1] == last + 1 && ids[i + 1] < n {
            i += 1;
            last = ids[i];
        }
        i += 1;
        let from = i128::from(lo) + i128::from(first) * i128::from(width);
        let to =
            (i128::from(lo) + (i128::from(last) + 1) * i128::from(width) - 1).min(i128::from(hi));
        parts.push(format!("{key} BETWEEN {from} AND {to}"));
    }
    if parts.is_empty() {
        return "1 = 0".into();
    }
    format!("({})", parts.join(" OR "))
}

fn to_row(plan: &Plan, mapped: usize, values: Vec<Value>) -> Row {
    let cols: Vec<Option<String>> = values[..mapped].iter().map(canon::text).collect();
    let mut shown = String::new();
    for (i, &k) in plan.key_read.iter().enumerate() {
        if i > 0 {
            shown.push_str(", ");
        }
        shown.push_str(&plan.targets[k].name);
        shown.push('=');
        match &cols[k] {
            Some(t) => shown.push_str(&shown_key_text(t)),
            None => shown.push_str("NULL"),
        }
    }
    let cursor = plan.cursor_read.and_then(|c| values.get(c).cloned());
    Row {
        key: canon::row_text(plan.key_read.iter().map(|&k| &cols[k])),
        shown,
        cols,
        cursor,
    }
}

/// Runs `sql` on `conn`, converting rows by `plan`, and hands each batch to `f`.
pub(crate) async fn each_batch(
    conn: &mut Conn,
    plan: Arc<Plan>,
    sql: &str,
    cancel: &CancellationToken,
    live: &Liveness,
    mut f: impl FnMut(Batch),
) -> Result<(), String> {
    let (tx, mut rx) = mpsc::channel(4);
    let mut b = BatchBuilder::new(plan, 5_000, tx, cancel.child_token(), None);
    let read = async move {
        let r = conn.stream(sql, &mut b).await;
        match r {
            Ok(()) => b.finish().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    };
    let consume = async {
        let mut failed = None;
        while let Some(msg) = rx.recv().await {
            live.beat();
            match msg {
                Ok(batch) => f(batch),
                Err(e) => failed = Some(e),
            }
        }
        failed
    };
    let (r, failed) = tokio::join!(read, consume);
    if cancel.is_cancelled() {
        return Err("cancelled".into());
    }
    r?;
    failed.map_or(Ok(()), Err)
}

/// A plan that reads `n` columns of text (the checksum query's answer).
fn text_plan(n: usize) -> Arc<Plan> {
    let native = NativeColumn {
        name: String::new(),
        type_name: "text".into(),
        max_chars: None,
        max_bytes: None,
        int_range: None,
        binary: false,
        naive_is_utc: false,
        utf8_text: false,
    };
    Arc::new(Plan {
        source_table: String::new(),
        target_table: String::new(),
        read: (0..n)
            .map(|i| ReadColumn {
                name: format!("c{i}"),
                native: native.clone(),
                convert: Convert::new(ColumnType::String),
            })
            .collect(),
        targets: (0..n)
            .map(|i| TargetColumn {
                name: format!("c{i}"),
                ty: ColumnType::String,
                key: false,
                cursor: false,
                native: None,
            })
            .collect(),
        key_read: Vec::new(),
        cursor_read: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: Option<i64>) -> Row {
        let k = key.map(|k| k.to_string());
        Row {
            key: canon::row_text([&k]),
            shown: String::new(),
            cols: vec![k],
            cursor: None,
        }
    }

    #[test]
    fn key_ranges_cover_every_key_once_and_null_keys_apart() {
        let b = Bucketing::ranges(4, -10, 9).unwrap();
        assert_eq!(
            b,
            Bucketing::Range {
                lo: -10,
                hi: 9,
                width: 5,
                n: 4
            }
        );
        let of = |k| b.of(&row(k));
        assert_eq!((of(Some(-10)), of(Some(-6)), of(Some(-5))), (0, 0, 1));
        assert_eq!((of(Some(9)), of(None), of(Some(10))), (3, 4, 4));
        let wanted: HashSet<u64> = [0, 1, 3, 4].into();
        assert_eq!(
            range_filter("id", (-10, 9, 5, 4), &wanted),
            "(id BETWEEN -10 AND -1 OR id BETWEEN 5 AND 9 OR id IS NULL)"
        );
        assert_eq!(runs(&wanted), 2, "0-1 and 3-4");
        assert_eq!(runs(&HashSet::new()), 0);
        // Scattered buckets listed key by key: the last one ends at `hi`.
        assert_eq!(
            b.keys_in(&[3, 0].into()),
            Some(vec![-10, -9, -8, -7, -6, 5, 6, 7, 8, 9])
        );
        assert_eq!(b.keys_in(&[3, 4].into()), None, "NULL keys are no list");
        assert_eq!(range_keys(1, 7, 5, &[1].into()), vec![6, 7]);
        // A span a server's `key - lo` could overflow is not ranged.
        assert_eq!(Bucketing::ranges(4, i64::MIN, i64::MAX), None);
        assert!(Bucketing::ranges(1 << 20, 5, 5).is_some());
    }
}
