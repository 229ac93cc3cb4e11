//! Writing into PostgreSQL: rows go through one streaming COPY (binary where
//! every column's type allows it) into a temporary staging table, merged into
//! the target with one set-based upsert.

use futures::future::BoxFuture;
use sqlx::{PgConnection, Row};
use tokio::sync::mpsc;

use super::super::dialect::Dialect;
use super::super::plan::Plan;
use super::super::session::Connection;
use super::super::target::{Target, TargetNames};
use super::{D, binary};
use crate::engine::error::{DbErrorKind, Error, Result};
use crate::engine::progress::Changes;
use crate::engine::types::{Value, date_pg, pg_year, time_text, ts_text};

/// Encoded COPY data goes to the server in chunks of about this size...
const CHUNK_BYTES: usize = 1 << 20;
/// ...with at most this many chunks queued for the COPY task.
const COPY_CHUNKS_IN_FLIGHT: usize = 4;

/// A COPY in progress: a task owns the connection and streams chunks into one
/// COPY statement while the writer encodes the next ones.
struct CopyTask {
    tx: mpsc::Sender<CopyMsg>,
    /// The connection back, and the rows the server says it stored.
    done: tokio::task::JoinHandle<(PgConnection, Result<u64>)>,
    to_stage: bool,
}

enum CopyMsg {
    Data(Vec<u8>),
    /// End the COPY normally; a channel closed without it aborts the COPY.
    Finish,
}

pub struct PgWriter {
    /// `None` while a COPY task holds the connection.
    conn: Option<PgConnection>,
    copy: Option<CopyTask>,
    n: TargetNames,
    /// The source table, for errors about its rows.
    source: String,
    json: Vec<String>,
    buf: Vec<u8>,
    /// Each column's binary encoding, when every column has one; else COPY
    /// goes as text.
    binary: Option<Vec<binary::Field>>,
    /// Where `buf` is headed: the staging table or the target.
    buf_to_stage: bool,
    /// Rows the server reports copied into the stage since the last commit.
    staged: u64,
    /// Rows the server reports copied straight into the target table since
    /// the last commit.
    copied: u64,
}

impl PgWriter {
    pub fn new(conn: PgConnection, plan: &Plan) -> Self {
        PgWriter {
            conn: Some(conn),
            copy: None,
            n: TargetNames::new(D, plan),
            source: plan.source_table.clone(),
            json: plan
                .targets
                .iter()
                .filter(|t| t.native.as_deref() == Some("json"))
                .map(|t| t.name.clone())
                .collect(),
            buf: Vec::with_capacity(CHUNK_BYTES + (64 << 10)),
            binary: binary::fields(&plan.targets),
            buf_to_stage: true,
            staged: 0,
            copied: 0,
        }
    }

    /// The connection, once any COPY in progress has ended.
    async fn conn(&mut self) -> Result<&mut PgConnection> {
        self.flush().await?;
        self.conn
            .as_mut()
            .ok_or_else(|| "the connection was lost during a bulk load".into())
    }

    async fn create_stage(&mut self) -> Result<()> {
        // A million staged rows overflow the default 8 MB of temp buffers and
        // spill to disk; the setting only takes before the session's first
        // temporary table, and costs memory only as the stage fills.
        let sql = format!(
            "SET temp_buffers = '256MB'; DROP TABLE IF EXISTS {}; \
             CREATE TEMP TABLE {} ON COMMIT DELETE ROWS AS SELECT {} FROM {} WITH NO DATA",
            self.n.stage, self.n.stage_name, self.n.cols, self.n.table
        );
        self.exec(&sql).await.map(|_| ())
    }

    async fn commit(&mut self) -> Result<()> {
        self.exec("COMMIT").await?;
        // ON COMMIT DELETE ROWS emptied the stage.
        self.staged = 0;
        self.copied = 0;
        Ok(())
    }

    async fn rollback(&mut self) {
        self.abort_copy().await;
        let _ = self.exec("ROLLBACK").await;
        self.staged = 0;
        self.copied = 0;
    }

    async fn count(&mut self, stage: bool) -> Result<u64> {
        if stage {
            // What the server said each COPY stored: as exact as a count(*),
            // without reading the whole stage again.
            self.flush().await?;
            return Ok(self.staged);
        }
        let sql = format!("SELECT count(*) FROM {}", self.n.table);
        let c = self.conn().await?;
        c.count(&sql).await
    }

    async fn write(&mut self, rows: &[Vec<Value>], stage: bool) -> Result<()> {
        if stage != self.buf_to_stage || self.copy.as_ref().is_some_and(|c| c.to_stage != stage) {
            self.flush().await?;
        }
        self.buf_to_stage = stage;
        if self.binary.is_some() && self.copy.is_none() && self.buf.is_empty() {
            self.buf.extend_from_slice(binary::HEADER);
        }
        for row in rows {
            if let Some(fields) = &self.binary {
                binary::encode_row(&mut self.buf, row, fields, &self.n.names)
                    .map_err(|e| format!("cannot encode a row for table {}: {e}", self.n.table))?;
            } else {
                for (i, v) in row.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(b'\t');
                    }
                    encode_copy(&mut self.buf, v);
                }
                self.buf.push(b'\n');
            }
            if self.buf.len() >= CHUNK_BYTES {
                self.send_chunk(stage).await?;
            }
        }
        Ok(())
    }

    /// Appends tuples a PostgreSQL source sent in binary, for columns of
    /// the very types this COPY writes.
    async fn write_wire(&mut self, wire: &[u8], stage: bool) -> Result<()> {
        if self.binary.is_none() {
            return Err(format!("table {} does not take binary COPY rows", self.n.table).into());
        }
        if stage != self.buf_to_stage || self.copy.as_ref().is_some_and(|c| c.to_stage != stage) {
            self.flush().await?;
        }
        self.buf_to_stage = stage;
        if self.copy.is_none() && self.buf.is_empty() {
            self.buf.extend_from_slice(binary::HEADER);
        }
        self.buf.extend_from_slice(wire);
        if self.buf.len() >= CHUNK_BYTES {
            self.send_chunk(stage).await?;
        }
        Ok(())
    }

    /// Hands the encoded rows to the COPY task, starting it if needed.
    async fn send_chunk(&mut self, stage: bool) -> Result<()> {
        if self.copy.is_none() {
            let Some(conn) = self.conn.take() else {
                return Err("the connection was lost during a bulk load".into());
            };
            let dest = self.n.dest(stage).to_string();
            let format = if self.binary.is_some() {
                " WITH (FORMAT binary)"
            } else {
                ""
            };
            let sql = format!("COPY {dest} ({}) FROM STDIN{format}", self.n.cols);
            let (tx, rx) = mpsc::channel(COPY_CHUNKS_IN_FLIGHT);
            self.copy = Some(CopyTask {
                tx,
                done: tokio::spawn(copy_task(conn, sql, rx)),
                to_stage: stage,
            });
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + (64 << 10)));
        let sent = match &self.copy {
            Some(task) => task.tx.send(CopyMsg::Data(chunk)).await.is_ok(),
            None => false,
        };
        if !sent {
            // The task stopped early: its result says why.
            return self.finish_copy().await;
        }
        Ok(())
    }

    /// Sends what is buffered and ends the COPY, taking the connection back.
    async fn flush(&mut self) -> Result<()> {
        if self.binary.is_some() && (self.copy.is_some() || !self.buf.is_empty()) {
            self.buf.extend_from_slice(binary::TRAILER);
        }
        if !self.buf.is_empty() {
            self.send_chunk(self.buf_to_stage).await?;
        }
        self.finish_copy().await
    }

    async fn finish_copy(&mut self) -> Result<()> {
        let Some(task) = self.copy.take() else {
            return Ok(());
        };
        let _ = task.tx.send(CopyMsg::Finish).await;
        drop(task.tx);
        match task.done.await {
            Ok((conn, res)) => {
                self.conn = Some(conn);
                let rows = res?;
                if task.to_stage {
                    self.staged += rows;
                } else {
                    self.copied += rows;
                }
                Ok(())
            }
            Err(_) => Err("the bulk load stopped unexpectedly".into()),
        }
    }

    async fn abort_copy(&mut self) {
        self.buf.clear();
        if let Some(task) = self.copy.take() {
            drop(task.tx);
            if let Ok((conn, _)) = task.done.await {
                self.conn = Some(conn);
            }
        }
    }

    /// `ROW(p.col, ...)` of the non-key columns, comparable with IS DISTINCT FROM.
    fn row_of(&self, p: &str) -> String {
        let cols: Vec<String> = self
            .n
            .non_keys
            .iter()
            // json has no equality operator; compare its text.
            .map(|c| {
                let cast = if self.json.contains(c) { "::text" } else { "" };
                format!("{p}.{}{cast}", D.ident(c))
            })
            .collect();
        format!("ROW({})", cols.join(", "))
    }

    /// `s` (staged) is new or differs from `o` (the target's row).
    fn changed(&self) -> String {
        let missing = format!("o.{} IS NULL", D.ident(&self.n.keys[0]));
        if self.n.non_keys.is_empty() {
            missing
        } else {
            format!(
                "{missing} OR {} IS DISTINCT FROM {}",
                self.row_of("o"),
                self.row_of("s")
            )
        }
    }

    /// `ON CONFLICT ...`: update a changed row, leave an equal one alone.
    fn on_conflict(&self) -> String {
        let keys = D.idents(&self.n.keys, "");
        if self.n.non_keys.is_empty() {
            return format!("ON CONFLICT ({keys}) DO NOTHING");
        }
        let sets: Vec<String> = self
            .n
            .non_keys
            .iter()
            .map(|c| format!("{c} = EXCLUDED.{c}", c = D.ident(c)))
            .collect();
        format!(
            "ON CONFLICT ({keys}) DO UPDATE SET {} WHERE {} IS DISTINCT FROM {}",
            sets.join(", "),
            self.row_of("t"),
            self.row_of("EXCLUDED")
        )
    }

    /// Runs a statement that inserts from the stage; two staged rows with one
    /// key make PostgreSQL refuse it, which deserves a plainer sentence.
    async fn exec_merge(&mut self, sql: &str) -> Result<Vec<i64>> {
        let c = self.conn().await?;
        let row = sqlx::query(sql)
            .persistent(false)
            .fetch_optional(&mut *c)
            .await
            .map_err(|e| match Error::from(e) {
                e if e.kind() == DbErrorKind::Cardinality => Error::Message(format!(
                    "the source table {} has several rows with the same primary key (target \
                     column {}), which must be unique; the target was left unchanged",
                    self.source,
                    self.n.keys.join(", ")
                )),
                e => e,
            })?;
        let Some(row) = row else {
            return Ok(Vec::new());
        };
        (0..row.len())
            .map(|i| row.try_get::<i64, _>(i).map_err(Error::from))
            .collect()
    }

    /// Inserts new staged rows and updates changed ones. Where the stage may
    /// hold many rows the target already has unchanged (`unchanged_likely`: a
    /// full sync, an incremental lookback), they are filtered out first: ON
    /// CONFLICT locks every row it meets before its WHERE can skip it, so a
    /// re-sync of an unchanged million rows would otherwise rewrite (and
    /// WAL-log) every tuple's header. Past a watermark, nearly every row has
    /// changed, and the filter's extra key lookup per row (~1 ms per 1,000)
    /// buys nothing; ON CONFLICT's own WHERE still leaves unchanged ones be.
    /// Returns the rows inserted and the rows updated: a row that ON CONFLICT
    /// updated has a locking transaction in `xmax`, a new one none.
    async fn upsert_counted(&mut self, unchanged_likely: bool) -> Result<(u64, u64)> {
        let filter = if unchanged_likely {
            format!(
                " LEFT JOIN {table} o ON {on} WHERE {changed}",
                table = self.n.table,
                on = self.n.key_match("o", "s"),
                changed = self.changed(),
            )
        } else {
            String::new()
        };
        let sql = format!(
            "WITH i AS (INSERT INTO {table} AS t ({cols}) SELECT {staged} FROM {stage} s\
             {filter} {conflict} RETURNING (t.xmax = 0) AS inserted) \
             SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM i",
            table = self.n.table,
            cols = self.n.cols,
            staged = D.idents(&self.n.names, "s."),
            conflict = self.on_conflict(),
            stage = self.n.stage,
        );
        let n = self.exec_merge(&sql).await?;
        Ok((nth(&n, 0), nth(&n, 1)))
    }

    /// A full sync's whole change in one statement: one full join of the
    /// stage with the target finds new, changed and vanished rows (a separate
    /// delete would join the million rows a second time). Returns what
    /// changed and the rows the target holds afterwards.
    async fn merge(&mut self, before: u64, staged: u64) -> Result<(Changes, u64)> {
        let old_keys: Vec<String> = (0..self.n.keys.len())
            .map(|i| format!("o.{} AS dsp_o{i}", D.ident(&self.n.keys[i])))
            .collect();
        let gone: Vec<String> = self
            .n
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("t.{} = j.dsp_o{i}", D.ident(k)))
            .collect();
        let key0 = D.ident(&self.n.keys[0]);
        let sql = format!(
            "WITH j AS MATERIALIZED (SELECT {old_keys}, {staged} FROM {stage} s \
               FULL JOIN {table} o ON {on} WHERE s.{key0} IS NULL OR {changed}), \
             d AS (DELETE FROM {table} AS t USING j WHERE j.{key0} IS NULL AND {gone} RETURNING 1), \
             i AS (INSERT INTO {table} AS t ({cols}) SELECT {cols} FROM j WHERE j.{key0} IS NOT NULL \
               {conflict} RETURNING (t.xmax = 0) AS inserted) \
             SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM i WHERE inserted), \
               (SELECT count(*) FROM i WHERE NOT inserted)",
            old_keys = old_keys.join(", "),
            staged = D.idents(&self.n.names, "s."),
            table = self.n.table,
            on = self.n.key_match("o", "s"),
            changed = self.changed(),
            gone = gone.join(" AND "),
            stage = self.n.stage,
            cols = self.n.cols,
            conflict = self.on_conflict(),
        );
        let n = self.exec_merge(&sql).await?;
        let (deleted, inserted, updated) = (nth(&n, 0), nth(&n, 1), nth(&n, 2));
        let mut changes = Changes::of_written(staged, inserted, updated);
        changes.deleted = deleted;
        // Exact within this transaction: every row is either kept, inserted
        // or deleted by this statement.
        Ok((changes, (before + inserted).saturating_sub(deleted)))
    }

    async fn close(mut self) {
        self.abort_copy().await;
        if let Some(c) = self.conn.take() {
            let _ = sqlx::Connection::close(c).await;
        }
    }
}

impl Target for PgWriter {
    fn names(&self) -> &TargetNames {
        &self.n
    }
    fn session(&mut self) -> BoxFuture<'_, Result<&mut dyn Connection>> {
        Box::pin(async move {
            let c: &mut dyn Connection = self.conn().await?;
            Ok(c)
        })
    }
    fn create_stage(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(PgWriter::create_stage(self))
    }
    fn commit(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(PgWriter::commit(self))
    }
    fn rollback(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(PgWriter::rollback(self))
    }
    /// Ends a COPY in progress without its rows (the server aborts it).
    fn discard(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(PgWriter::abort_copy(self))
    }
    fn count(&mut self, stage: bool) -> BoxFuture<'_, Result<u64>> {
        Box::pin(PgWriter::count(self, stage))
    }
    fn write<'a>(&'a mut self, rows: &'a [Vec<Value>], stage: bool) -> BoxFuture<'a, Result<()>> {
        Box::pin(PgWriter::write(self, rows, stage))
    }
    fn copied(&self) -> Option<u64> {
        Some(self.copied)
    }
    fn takes_wire(&self) -> bool {
        self.binary.is_some()
    }
    fn write_wire<'a>(&'a mut self, wire: &'a [u8], stage: bool) -> BoxFuture<'a, Result<()>> {
        Box::pin(PgWriter::write_wire(self, wire, stage))
    }
    fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(PgWriter::flush(self))
    }
    fn upsert_rows(&mut self, unchanged_likely: bool) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let (inserted, updated) = self.upsert_counted(unchanged_likely).await?;
            Ok(inserted + updated)
        })
    }
    /// The statement counts inserted and updated rows itself.
    fn upsert(&mut self, unchanged_likely: bool, staged: u64) -> BoxFuture<'_, Result<Changes>> {
        Box::pin(async move {
            let (inserted, updated) = self.upsert_counted(unchanged_likely).await?;
            Ok(Changes::of_written(staged, inserted, updated))
        })
    }
    fn differs(&self, a: &str, b: &str) -> String {
        if self.n.non_keys.is_empty() {
            return "false".into();
        }
        format!("{} IS DISTINCT FROM {}", self.row_of(a), self.row_of(b))
    }
    fn merge(&mut self, before: u64, staged: u64) -> BoxFuture<'_, Result<(Changes, u64)>> {
        Box::pin(PgWriter::merge(self, before, staged))
    }
    /// Nothing to do: the staging table empties itself at each COMMIT
    /// (ON COMMIT DELETE ROWS), which saves a round trip per batch.
    fn clear_stage(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(PgWriter::close(*self))
    }
}

/// The `i`th count a merge statement returned (0 if absent or negative).
fn nth(counts: &[i64], i: usize) -> u64 {
    counts.get(i).copied().unwrap_or(0).max(0) as u64
}

/// Streams chunks into one COPY; returns the connection when done.
async fn copy_task(
    mut conn: PgConnection,
    sql: String,
    mut rx: mpsc::Receiver<CopyMsg>,
) -> (PgConnection, Result<u64>) {
    let res = copy_into(&mut conn, &sql, &mut rx).await;
    (conn, res)
}

fn copy_into<'a>(
    conn: &'a mut PgConnection,
    sql: &'a str,
    rx: &'a mut mpsc::Receiver<CopyMsg>,
) -> BoxFuture<'a, Result<u64>> {
    Box::pin(async move {
        let mut copy = conn.copy_in_raw(sql).await?;
        loop {
            match rx.recv().await {
                Some(CopyMsg::Data(chunk)) => {
                    if let Err(e) = copy.send(chunk).await {
                        let _ = copy.abort("dsp stopped the load").await;
                        return Err(e.into());
                    }
                }
                Some(CopyMsg::Finish) => {
                    return Ok(copy.finish().await?);
                }
                None => {
                    let _ = copy.abort("dsp stopped the load").await;
                    return Err("the bulk load was stopped".into());
                }
            }
        }
    })
}

/// One value in COPY's text format.
fn encode_copy(buf: &mut Vec<u8>, v: &Value) {
    use std::io::Write;
    match v {
        Value::Null => buf.extend_from_slice(b"\\N"),
        Value::Int(i) => {
            let _ = write!(buf, "{i}");
        }
        Value::Float(f) => {
            if f.is_nan() {
                buf.extend_from_slice(b"NaN");
            } else if f.is_infinite() {
                buf.extend_from_slice(if *f > 0.0 { b"Infinity" } else { b"-Infinity" });
            } else {
                let _ = write!(buf, "{f:?}");
            }
        }
        Value::Decimal(s) => buf.extend_from_slice(s.as_bytes()),
        Value::Text(s) | Value::Json(s) => escape_copy(buf, s),
        Value::Bool(b) => buf.push(if *b { b't' } else { b'f' }),
        Value::Timestamp(t) => buf.extend_from_slice(ts_pg(t).as_bytes()),
        Value::Date(d) => buf.extend_from_slice(date_pg(*d).as_bytes()),
        Value::Time(t) => buf.extend_from_slice(time_text(t).as_bytes()),
        Value::Special(s) => buf.extend_from_slice(s.text().as_bytes()),
        Value::Uuid(u) => {
            let _ = write!(buf, "{}", u.hyphenated());
        }
        Value::Bytes(b) => {
            buf.extend_from_slice(b"\\\\x");
            buf.extend_from_slice(crate::engine::types::hex_encode(b).as_bytes());
        }
    }
}

/// A timestamp as PostgreSQL reads it. Years 1 to 9999 take the fast
/// common form; PostgreSQL has no year 0 and wants `BC` after the offset for
/// earlier years, and no sign before a year past 9999.
fn ts_pg(t: &chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Datelike;
    let year = t.year();
    if (1..=9999).contains(&year) {
        return ts_text(t, ' ', "+00");
    }
    let (y, bc) = pg_year(year);
    let tail = if bc { "+00 BC" } else { "+00" };
    format!("{y:04}{}{tail}", t.format("-%m-%d %H:%M:%S%.6f"))
}

fn escape_copy(buf: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            _ => buf.push(b),
        }
    }
}
