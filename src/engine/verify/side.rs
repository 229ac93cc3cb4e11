//! One end of a verification: its connection inside a read-only snapshot,
//! the plan its rows are read and converted by (the run's own read path),
//! and the two passes over it: a count and checksum per bucket, then the
//! rows of the buckets that differ.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::canon;
use crate::engine::db::Conn;
use crate::engine::db::checksum::Checksums;
use crate::engine::db::plan::{NativeColumn, Plan, ReadColumn, TargetColumn};
use crate::engine::db::read::{Batch, BatchBuilder};
use crate::engine::types::{Convert, Value};
use crate::workspace::ColumnType;

/// Rows of a side hashed by DSP that are kept from the first pass, so that a
/// small table is not read twice.
const KEEP_ROWS: usize = 100_000;

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

/// Count and sum of row hashes per bucket.
pub type Buckets = HashMap<u64, (u64, u128)>;

/// The SQL a server checksums this side with.
struct ServerSql {
    sql: &'static dyn Checksums,
    /// The key's 60-bit hash.
    key_hash: String,
    /// The row's 60-bit hash.
    row_hash: String,
}

pub struct Side {
    pub conn: Conn,
    pub plan: Arc<Plan>,
    /// Mapped columns: the first `mapped` values of a row are compared.
    pub mapped: usize,
    /// Names of the mapped columns on this side, for reports.
    pub names: Vec<String>,
    server: Option<ServerSql>,
    kept: Option<Vec<Row>>,
    pub rows_fetched: u64,
    pub bytes_fetched: u64,
    /// Rows that could not be read or converted, one sentence each.
    pub unreadable: Vec<String>,
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
            kept: None,
            rows_fetched: 0,
            bytes_fetched: 0,
            unreadable: Vec::new(),
        }
    }

    /// Whether the server computes this side's checksums.
    pub fn on_server(&self) -> bool {
        self.server.is_some()
    }

    fn table(&self) -> String {
        self.conn.dialect().table(&self.plan.source_table)
    }

    pub async fn count(&mut self) -> Result<u64, String> {
        let sql = format!("SELECT COUNT(*) FROM {}", self.table());
        self.conn.count(&sql).await.map_err(|e| e.to_string())
    }

    /// The first pass: count and checksum of every bucket of `n`.
    pub async fn buckets(&mut self, n: u64, cancel: &CancellationToken) -> Result<Buckets, String> {
        match &self.server {
            Some(s) => self.server_buckets(n, cancel, s.sql).await,
            None => self.dsp_buckets(n, cancel).await,
        }
    }

    async fn server_buckets(
        &mut self,
        n: u64,
        cancel: &CancellationToken,
        sql: &'static dyn Checksums,
    ) -> Result<Buckets, String> {
        let s = self.server.as_ref().expect("checked by the caller");
        let query = format!(
            "SELECT {}, {}, {} FROM (SELECT MOD({}, {n}) AS dsp_b, {} AS dsp_h FROM {}) dsp_v GROUP BY dsp_b",
            sql.as_text("dsp_b"),
            sql.as_text("COUNT(*)"),
            sql.as_text("SUM(dsp_h)"),
            s.key_hash,
            s.row_hash,
            self.table()
        );
        let mut out = Buckets::new();
        let mut bad = None;
        each_batch(&mut self.conn, text_plan(3), &query, cancel, |b| {
            for r in &b.rows {
                let num = |i: usize| match &r[i] {
                    Value::Text(t) => t.trim().parse::<u128>().ok(),
                    _ => None,
                };
                match (num(0), num(1), num(2)) {
                    (Some(b), Some(c), Some(h)) => {
                        out.insert(b as u64, (c as u64, h));
                    }
                    _ => bad = Some(format!("{r:?}")),
                }
            }
        })
        .await?;
        self.bytes_fetched += out.len() as u64 * 48;
        match bad {
            Some(r) => Err(format!(
                "the server's checksum row {r} is not three numbers"
            )),
            None => Ok(out),
        }
    }

    async fn dsp_buckets(&mut self, n: u64, cancel: &CancellationToken) -> Result<Buckets, String> {
        let mut out = Buckets::new();
        let mut kept = Some(Vec::new());
        let select = self.select(None);
        let rows = self.read(&select, cancel, |row| {
            let text = canon::row_text(&row.cols);
            let e = out.entry(canon::hash60(&row.key) % n).or_insert((0, 0));
            e.0 += 1;
            e.1 += u128::from(canon::hash60(&text));
            if let Some(k) = &mut kept {
                if k.len() < KEEP_ROWS {
                    k.push(row);
                } else {
                    kept = None;
                }
            }
        });
        rows.await?;
        self.kept = kept;
        Ok(out)
    }

    /// The second pass: the rows of `wanted` buckets (of `n`), to `each`.
    pub async fn rows_in(
        &mut self,
        n: u64,
        wanted: &HashSet<u64>,
        cancel: &CancellationToken,
        mut each: impl FnMut(Row),
    ) -> Result<(), String> {
        if let Some(kept) = &self.kept {
            for row in kept {
                if wanted.contains(&(canon::hash60(&row.key) % n)) {
                    each(row.clone());
                }
            }
            return Ok(());
        }
        let filter = self.bucket_filter(n, wanted);
        let on_server = filter.is_some();
        let select = self.select(filter.as_deref());
        self.read(&select, cancel, |row| {
            if on_server || wanted.contains(&(canon::hash60(&row.key) % n)) {
                each(row)
            }
        })
        .await
    }

    /// A `WHERE` clause that keeps the rows of `wanted` buckets (of `n`),
    /// when the server hashes this side's keys; else DSP must filter.
    pub fn bucket_filter(&self, n: u64, wanted: &HashSet<u64>) -> Option<String> {
        self.server.as_ref().map(|s| {
            let mut list: Vec<u64> = wanted.iter().copied().collect();
            list.sort_unstable();
            let list: Vec<String> = list.iter().map(u64::to_string).collect();
            format!(" WHERE MOD({}, {n}) IN ({})", s.key_hash, list.join(", "))
        })
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
        let (mut rows, mut bytes) = (0u64, 0u64);
        let mut unreadable = Vec::new();
        each_batch(&mut self.conn, plan.clone(), select, cancel, |b| {
            rows += b.read;
            unreadable.extend(b.failures);
            for values in b.rows {
                let row = to_row(&plan, mapped, values);
                bytes += row
                    .cols
                    .iter()
                    .flatten()
                    .map(|c| c.len() as u64 + 4)
                    .sum::<u64>();
                each(row);
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
    let fields: Option<Vec<String>> = plan.read[..mapped]
        .iter()
        .zip(&plan.targets)
        .map(|(r, t)| sql.canon_expr(&d.ident(&r.name), &r.native, t.ty, tz))
        .collect();
    let fields = fields?;
    let keys: Vec<String> = plan.key_read.iter().map(|&k| fields[k].clone()).collect();
    Some(ServerSql {
        sql,
        key_hash: sql.hash60(&sql.row(&keys)),
        row_hash: sql.hash60(&sql.row(&fields)),
    })
}

fn to_row(plan: &Plan, mapped: usize, values: Vec<Value>) -> Row {
    let cols: Vec<Option<String>> = values[..mapped].iter().map(canon::text).collect();
    let keys: Vec<Option<String>> = plan.key_read.iter().map(|&k| cols[k].clone()).collect();
    let shown = plan
        .key_read
        .iter()
        .map(|&k| {
            let v = cols[k].as_deref().unwrap_or("NULL");
            format!("{}={v}", plan.targets[k].name)
        })
        .collect::<Vec<_>>()
        .join(", ");
    let cursor = plan.cursor_read.and_then(|c| values.get(c).cloned());
    Row {
        key: canon::row_text(&keys),
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
