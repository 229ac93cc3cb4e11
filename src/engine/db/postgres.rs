//! PostgreSQL: introspection, DDL, the snapshot read, and bulk writes through
//! COPY into a staging table merged with one set-based upsert.

use futures::TryStreamExt;
use sqlx::{Executor, PgConnection, Row};
use tokio::sync::mpsc;

use super::plan::{NativeColumn, Plan, TargetColumn};
use super::read::BatchBuilder;
use super::sql::{Dialect, db_err};
use crate::engine::types::{Raw, Value, date_text, hex_decode, time_text, ts_text};
use crate::workspace::ColumnType;

mod binary;

const D: Dialect = Dialect::Postgres;
/// Encoded COPY data goes to the server in chunks of about this size...
const CHUNK_BYTES: usize = 1 << 20;
/// ...with at most this many chunks queued for the COPY task.
const COPY_CHUNKS_IN_FLIGHT: usize = 4;

pub async fn version(c: &mut PgConnection) -> Result<String, String> {
    let v: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut *c)
        .await
        .map_err(|e| db_err(&e))?;
    Ok(format!("PostgreSQL {v}"))
}

/// The table's columns, or `None` when there is no such table.
pub async fn columns(
    c: &mut PgConnection,
    table: &str,
) -> Result<Option<Vec<NativeColumn>>, String> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(D.table(table))
        .fetch_one(&mut *c)
        .await
        .map_err(|e| db_err(&e))?;
    if !exists {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), t.typname::text, a.atttypmod \
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
         WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attnum",
    )
    .bind(D.table(table))
    .fetch_all(&mut *c)
    .await
    .map_err(|e| db_err(&e))?;
    let mut out = Vec::new();
    for r in rows {
        let name: String = r.try_get(0).map_err(|e| db_err(&e))?;
        let type_name: String = r.try_get(1).map_err(|e| db_err(&e))?;
        let typname: String = r.try_get(2).map_err(|e| db_err(&e))?;
        let typmod: i32 = r.try_get(3).map_err(|e| db_err(&e))?;
        let max_chars = match typname.as_str() {
            "varchar" | "bpchar" if typmod > 4 => Some((typmod - 4) as usize),
            _ => None,
        };
        out.push(NativeColumn {
            name,
            binary: typname == "bytea",
            type_name: type_name.to_ascii_lowercase(),
            max_chars,
            max_bytes: None,
            int_range: match typname.as_str() {
                "int2" => Some((i16::MIN.into(), i16::MAX.into())),
                "int4" => Some((i32::MIN.into(), i32::MAX.into())),
                _ => None,
            },
            naive_is_utc: false,
        });
    }
    Ok(Some(out))
}

/// The canonical type a column most likely holds.
pub fn guess(n: &NativeColumn) -> ColumnType {
    let t = n.type_name.as_str();
    match t {
        "smallint" | "integer" | "bigint" => ColumnType::Integer,
        "real" | "double precision" => ColumnType::Float,
        "boolean" => ColumnType::Boolean,
        "date" => ColumnType::Date,
        "json" | "jsonb" => ColumnType::Json,
        "uuid" => ColumnType::Uuid,
        "bytea" => ColumnType::Bytes,
        _ if t.starts_with("numeric") => ColumnType::Decimal,
        _ if t.starts_with("timestamp") => ColumnType::Timestamp,
        _ if t.starts_with("time") => ColumnType::Time,
        _ => ColumnType::String,
    }
}

pub fn compatible(ty: ColumnType, n: &NativeColumn) -> bool {
    let t = n.type_name.as_str();
    let texty = t == "text" || t.starts_with("character") || t == "citext" || t == "name";
    if texty {
        return ty != ColumnType::Bytes;
    }
    match ty {
        ColumnType::Integer => {
            matches!(t, "smallint" | "integer" | "bigint") || t.starts_with("numeric")
        }
        ColumnType::Float => matches!(t, "real" | "double precision") || t.starts_with("numeric"),
        ColumnType::Decimal => t.starts_with("numeric"),
        ColumnType::String => false,
        ColumnType::Boolean => t == "boolean",
        ColumnType::Timestamp => t.starts_with("timestamp"),
        ColumnType::Date => t == "date" || t.starts_with("timestamp"),
        ColumnType::Time => t.starts_with("time") && !t.starts_with("timestamp"),
        ColumnType::Json => t == "json" || t == "jsonb",
        ColumnType::Uuid => t == "uuid",
        ColumnType::Bytes => t == "bytea",
    }
}

fn column_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Integer => "BIGINT",
        ColumnType::Float => "DOUBLE PRECISION",
        // Unconstrained NUMERIC keeps every digit the source has.
        ColumnType::Decimal => "NUMERIC",
        ColumnType::String => "TEXT",
        ColumnType::Boolean => "BOOLEAN",
        ColumnType::Timestamp => "TIMESTAMPTZ",
        ColumnType::Date => "DATE",
        ColumnType::Time => "TIME",
        // JSON (not JSONB) keeps the source's text exactly.
        ColumnType::Json => "JSON",
        ColumnType::Uuid => "UUID",
        ColumnType::Bytes => "BYTEA",
    }
}

pub async fn create_table(
    c: &mut PgConnection,
    table: &str,
    cols: &[TargetColumn],
) -> Result<(), String> {
    let defs: Vec<String> = cols
        .iter()
        .map(|t| {
            let not_null = if t.key { " NOT NULL" } else { "" };
            format!("{} {}{not_null}", D.ident(&t.name), column_type(t.ty))
        })
        .collect();
    let keys: Vec<String> = cols
        .iter()
        .filter(|t| t.key)
        .map(|t| t.name.clone())
        .collect();
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}));",
        D.table(table),
        defs.join(", "),
        D.idents(&keys, "")
    );
    if let Some(cur) = cols.iter().find(|t| t.cursor && !t.key) {
        let (_, bare) = super::sql::split_table(table);
        let name: String = format!("{bare}_{}_idx", cur.name)
            .chars()
            .take(63)
            .collect();
        sql.push_str(&format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({});",
            D.ident(&name),
            D.table(table),
            D.ident(&cur.name)
        ));
    }
    (&mut *c)
        .execute(sqlx::raw_sql(&sql))
        .await
        .map_err(|e| db_err(&e))?;
    Ok(())
}

// ---- source ----

pub async fn begin_snapshot(c: &mut PgConnection) -> Result<(), String> {
    c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| db_err(&e))?;
    Ok(())
}

/// Names the read transaction's snapshot, so that a second connection can
/// count exactly the rows this one is about to stream.
pub async fn export_snapshot(c: &mut PgConnection) -> Result<String, String> {
    sqlx::query_scalar("SELECT pg_export_snapshot()")
        .persistent(false)
        .fetch_one(&mut *c)
        .await
        .map_err(|e| db_err(&e))
}

/// Opens a read transaction that sees the snapshot `id` names; the exporting
/// transaction must still be open.
pub async fn import_snapshot(c: &mut PgConnection, id: &str) -> Result<(), String> {
    (&mut *c)
        .execute(sqlx::raw_sql(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}",
            D.literal(id)
        )))
        .await
        .map_err(|e| db_err(&e))?;
    Ok(())
}

/// `ORDER BY cursor, key` over an index on the cursor alone: with its usual
/// small estimate for a range past the watermark, the planner sorts the whole
/// range before the first row leaves (the 10,000 changed rows of a benchmark
/// run: 23 ms before the writer could start). An incremental sort streams in
/// index order, sorting only rows that share a cursor value; disabling the
/// full sort (for this read transaction only) makes the planner take it when
/// such an index exists, and changes nothing when none does.
pub async fn stream_in_index_order(c: &mut PgConnection) -> Result<(), String> {
    c.execute("SET LOCAL enable_sort = off")
        .await
        .map_err(|e| db_err(&e))?;
    Ok(())
}

pub async fn end_snapshot(c: &mut PgConnection) {
    let _ = c.execute("ROLLBACK").await;
}

pub async fn count(c: &mut PgConnection, sql: &str) -> Result<u64, String> {
    let n: i64 = sqlx::query_scalar(sql)
        .persistent(false)
        .fetch_one(&mut *c)
        .await
        .map_err(|e| db_err(&e))?;
    Ok(n.max(0) as u64)
}

/// Each column as text: PostgreSQL's text output is exact for every type.
/// Aliased, so that `ORDER BY "col"` sorts by the column itself and not by
/// its text (`'10' < '9'`), which would move the watermark past unread rows.
pub fn select_list(plan: &Plan) -> String {
    plan.read
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if r.native.binary {
                format!("encode({}, 'hex') AS dsp_c{i}", D.ident(&r.name))
            } else {
                format!("{}::text AS dsp_c{i}", D.ident(&r.name))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `cursor >= watermark - lookback`, in the cursor column's own type.
pub fn cursor_bound(col: &NativeColumn, watermark: &str, lookback_secs: u64) -> String {
    let temporal = col.type_name.starts_with("timestamp") || col.type_name == "date";
    let mut bound = format!("CAST({} AS {})", D.literal(watermark), col.type_name);
    if lookback_secs > 0 && temporal {
        bound = format!("({bound} - interval '{lookback_secs} seconds')");
    }
    format!("{} >= {bound}", D.ident(&col.name))
}

pub fn nulls_first() -> &'static str {
    " NULLS FIRST"
}

/// Boxed so that the spawned reader's future is `Send` (sqlx's streams trip
/// the compiler's higher-ranked lifetime check otherwise).
pub fn stream<'a>(
    c: &'a mut PgConnection,
    sql: &'a str,
    b: &'a mut BatchBuilder,
) -> futures::future::BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        let binary: Vec<bool> = b.plan().read.iter().map(|r| r.native.binary).collect();
        let mut rows = sqlx::query(sql).persistent(false).fetch(&mut *c);
        while let Some(row) = rows.try_next().await.map_err(|e| db_err(&e))? {
            let mut raws = Vec::with_capacity(binary.len());
            for (i, bin) in binary.iter().enumerate() {
                let v: Option<String> = row.try_get_unchecked(i).map_err(|e| db_err(&e))?;
                raws.push(match v {
                    None => Raw::Null,
                    Some(s) if *bin => Raw::Bytes(hex_decode(&s)?),
                    Some(s) => Raw::Text(s),
                });
            }
            b.push(raws).await?;
        }
        Ok(())
    })
}

// ---- target ----

/// A COPY in progress: a task owns the connection and streams chunks into one
/// COPY statement while the writer encodes the next ones.
struct CopyTask {
    tx: mpsc::Sender<CopyMsg>,
    /// The connection back, and the rows the server says it stored.
    done: tokio::task::JoinHandle<(PgConnection, Result<u64, String>)>,
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
    table: String,
    cols: String,
    names: Vec<String>,
    /// The source table, for errors about its rows.
    source: String,
    keys: Vec<String>,
    non_keys: Vec<String>,
    json: Vec<String>,
    buf: Vec<u8>,
    /// Each column's binary encoding, when every column has one; else COPY
    /// goes as text.
    binary: Option<Vec<binary::Field>>,
    /// Where `buf` is headed: the staging table or the target.
    buf_to_stage: bool,
    /// Rows the server reports copied into the stage since the last commit.
    staged: u64,
}

impl PgWriter {
    pub fn new(conn: PgConnection, plan: &Plan) -> Self {
        PgWriter {
            conn: Some(conn),
            copy: None,
            table: D.table(&plan.target_table),
            cols: D.idents(&plan.target_names(), ""),
            names: plan.target_names(),
            source: plan.source_table.clone(),
            keys: plan.key_names(),
            non_keys: plan.non_key_names(),
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
        }
    }

    /// The connection, once any COPY in progress has ended.
    async fn conn(&mut self) -> Result<&mut PgConnection, String> {
        self.flush().await?;
        self.conn
            .as_mut()
            .ok_or_else(|| "the connection was lost during a bulk load".to_string())
    }

    async fn exec(&mut self, sql: &str) -> Result<u64, String> {
        let c = self.conn().await?;
        c.execute(sqlx::raw_sql(sql))
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| db_err(&e))
    }

    pub async fn create_stage(&mut self) -> Result<(), String> {
        // A million staged rows overflow the default 8 MB of temp buffers and
        // spill to disk; the setting only takes before the session's first
        // temporary table, and costs memory only as the stage fills.
        let sql = format!(
            "SET temp_buffers = '256MB'; DROP TABLE IF EXISTS pg_temp.dsp_stage; \
             CREATE TEMP TABLE dsp_stage ON COMMIT DELETE ROWS AS SELECT {} FROM {} WITH NO DATA",
            self.cols, self.table
        );
        self.exec(&sql).await.map(|_| ())
    }

    pub async fn begin(&mut self) -> Result<(), String> {
        self.exec("BEGIN").await.map(|_| ())
    }

    pub async fn commit(&mut self) -> Result<(), String> {
        self.exec("COMMIT").await?;
        // ON COMMIT DELETE ROWS emptied the stage.
        self.staged = 0;
        Ok(())
    }

    pub async fn rollback(&mut self) {
        self.abort_copy().await;
        let _ = self.exec("ROLLBACK").await;
        self.staged = 0;
    }

    pub async fn count(&mut self, stage: bool) -> Result<u64, String> {
        if stage {
            // What the server said each COPY stored: as exact as a count(*),
            // without reading the whole stage again.
            self.flush().await?;
            return Ok(self.staged);
        }
        let sql = format!(
            "SELECT count(*) FROM {}",
            if stage { "dsp_stage" } else { &self.table }
        );
        let c = self.conn().await?;
        count(c, &sql).await
    }

    pub async fn write(&mut self, rows: &[Vec<Value>], stage: bool) -> Result<(), String> {
        if stage != self.buf_to_stage || self.copy.as_ref().is_some_and(|c| c.to_stage != stage) {
            self.flush().await?;
        }
        self.buf_to_stage = stage;
        if self.binary.is_some() && self.copy.is_none() && self.buf.is_empty() {
            self.buf.extend_from_slice(binary::HEADER);
        }
        for row in rows {
            if let Some(fields) = &self.binary {
                binary::encode_row(&mut self.buf, row, fields, &self.names)
                    .map_err(|e| format!("cannot encode a row for table {}: {e}", self.table))?;
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

    /// Hands the encoded rows to the COPY task, starting it if needed.
    async fn send_chunk(&mut self, stage: bool) -> Result<(), String> {
        if self.copy.is_none() {
            let Some(conn) = self.conn.take() else {
                return Err("the connection was lost during a bulk load".into());
            };
            let dest = if stage {
                "dsp_stage".to_string()
            } else {
                self.table.clone()
            };
            let format = if self.binary.is_some() {
                " WITH (FORMAT binary)"
            } else {
                ""
            };
            let sql = format!("COPY {dest} ({}) FROM STDIN{format}", self.cols);
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
    pub async fn flush(&mut self) -> Result<(), String> {
        if self.binary.is_some() && (self.copy.is_some() || !self.buf.is_empty()) {
            self.buf.extend_from_slice(binary::TRAILER);
        }
        if !self.buf.is_empty() {
            self.send_chunk(self.buf_to_stage).await?;
        }
        self.finish_copy().await
    }

    async fn finish_copy(&mut self) -> Result<(), String> {
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

    fn key_match(&self, a: &str, b: &str) -> String {
        self.keys
            .iter()
            .map(|k| format!("{a}.{k} = {b}.{k}", k = D.ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// Deletes target rows whose key was not staged; returns how many.
    pub async fn delete_missing(&mut self) -> Result<u64, String> {
        let sql = format!(
            "DELETE FROM {} AS t WHERE NOT EXISTS (SELECT 1 FROM dsp_stage s WHERE {})",
            self.table,
            self.key_match("s", "t")
        );
        self.exec(&sql).await
    }

    /// `ROW(p.col, ...)` of the non-key columns, comparable with IS DISTINCT FROM.
    fn row_of(&self, p: &str) -> String {
        let cols: Vec<String> = self
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
        let missing = format!("o.{} IS NULL", D.ident(&self.keys[0]));
        if self.non_keys.is_empty() {
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
        let keys = D.idents(&self.keys, "");
        if self.non_keys.is_empty() {
            return format!("ON CONFLICT ({keys}) DO NOTHING");
        }
        let sets: Vec<String> = self
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
    async fn exec_merge(&mut self, sql: &str) -> Result<Vec<i64>, String> {
        let c = self.conn().await?;
        let row = sqlx::query(sql)
            .persistent(false)
            .fetch_optional(&mut *c)
            .await
            .map_err(|e| {
                let msg = db_err(&e);
                if msg.contains("cannot affect row a second time") {
                    format!(
                        "the source table {} has several rows with the same primary key (target \
                         column {}), which must be unique; the target was left unchanged",
                        self.source,
                        self.keys.join(", ")
                    )
                } else {
                    msg
                }
            })?;
        let Some(row) = row else {
            return Ok(Vec::new());
        };
        (0..row.len())
            .map(|i| row.try_get::<i64, _>(i).map_err(|e| db_err(&e)))
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
    pub async fn upsert(&mut self, unchanged_likely: bool) -> Result<u64, String> {
        let filter = if unchanged_likely {
            format!(
                " LEFT JOIN {table} o ON {on} WHERE {changed}",
                table = self.table,
                on = self.key_match("o", "s"),
                changed = self.changed(),
            )
        } else {
            String::new()
        };
        let sql = format!(
            "WITH i AS (INSERT INTO {table} AS t ({cols}) SELECT {staged} FROM dsp_stage s\
             {filter} {conflict} RETURNING 1) SELECT count(*) FROM i",
            table = self.table,
            cols = self.cols,
            staged = D.idents(&self.names, "s."),
            conflict = self.on_conflict(),
        );
        let n = self.exec_merge(&sql).await?;
        Ok(n.first().copied().unwrap_or(0).max(0) as u64)
    }

    /// A full sync's whole change in one statement: one full join of the
    /// stage with the target finds new, changed and vanished rows (a separate
    /// delete would join the million rows a second time). Returns the rows
    /// deleted and the rows the target holds afterwards.
    pub async fn merge(&mut self, before: u64) -> Result<(u64, u64), String> {
        let old_keys: Vec<String> = (0..self.keys.len())
            .map(|i| format!("o.{} AS dsp_o{i}", D.ident(&self.keys[i])))
            .collect();
        let gone: Vec<String> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("t.{} = j.dsp_o{i}", D.ident(k)))
            .collect();
        let key0 = D.ident(&self.keys[0]);
        let sql = format!(
            "WITH j AS MATERIALIZED (SELECT {old_keys}, {staged} FROM dsp_stage s \
               FULL JOIN {table} o ON {on} WHERE s.{key0} IS NULL OR {changed}), \
             d AS (DELETE FROM {table} AS t USING j WHERE j.{key0} IS NULL AND {gone} RETURNING 1), \
             i AS (INSERT INTO {table} AS t ({cols}) SELECT {cols} FROM j WHERE j.{key0} IS NOT NULL \
               {conflict} RETURNING (t.xmax = 0) AS inserted) \
             SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM i WHERE inserted)",
            old_keys = old_keys.join(", "),
            staged = D.idents(&self.names, "s."),
            table = self.table,
            on = self.key_match("o", "s"),
            changed = self.changed(),
            gone = gone.join(" AND "),
            cols = self.cols,
            conflict = self.on_conflict(),
        );
        let n = self.exec_merge(&sql).await?;
        let deleted = n.first().copied().unwrap_or(0).max(0) as u64;
        let inserted = n.get(1).copied().unwrap_or(0).max(0) as u64;
        // Exact within this transaction: every row is either kept, inserted
        // or deleted by this statement.
        Ok((deleted, (before + inserted).saturating_sub(deleted)))
    }

    /// Nothing to do: the staging table empties itself at each COMMIT
    /// (ON COMMIT DELETE ROWS), which saves a round trip per batch.
    pub async fn clear_stage(&mut self) -> Result<(), String> {
        Ok(())
    }

    pub async fn close(mut self) {
        self.abort_copy().await;
        if let Some(c) = self.conn.take() {
            let _ = sqlx::Connection::close(c).await;
        }
    }
}

/// Streams chunks into one COPY; returns the connection when done.
async fn copy_task(
    mut conn: PgConnection,
    sql: String,
    mut rx: mpsc::Receiver<CopyMsg>,
) -> (PgConnection, Result<u64, String>) {
    let res = copy_into(&mut conn, &sql, &mut rx).await;
    (conn, res)
}

fn copy_into<'a>(
    conn: &'a mut PgConnection,
    sql: &'a str,
    rx: &'a mut mpsc::Receiver<CopyMsg>,
) -> futures::future::BoxFuture<'a, Result<u64, String>> {
    Box::pin(async move {
        let mut copy = conn.copy_in_raw(sql).await.map_err(|e| db_err(&e))?;
        loop {
            match rx.recv().await {
                Some(CopyMsg::Data(chunk)) => {
                    if let Err(e) = copy.send(chunk).await {
                        let _ = copy.abort("dsp stopped the load").await;
                        return Err(db_err(&e));
                    }
                }
                Some(CopyMsg::Finish) => {
                    return copy.finish().await.map_err(|e| db_err(&e));
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
        Value::Timestamp(t) => buf.extend_from_slice(ts_text(t, ' ', "+00").as_bytes()),
        Value::Date(d) => buf.extend_from_slice(date_text(d).as_bytes()),
        Value::Time(t) => buf.extend_from_slice(time_text(t).as_bytes()),
        Value::Uuid(u) => {
            let _ = write!(buf, "{}", u.hyphenated());
        }
        Value::Bytes(b) => {
            buf.extend_from_slice(b"\\\\x");
            buf.extend_from_slice(crate::engine::types::hex_encode(b).as_bytes());
        }
    }
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

/// Whether a unique index (or the primary key) covers exactly `keys`: the
/// upsert matches rows through it.
pub async fn has_unique_key(
    c: &mut PgConnection,
    table: &str,
    keys: &[String],
) -> Result<bool, String> {
    let mut sorted = keys.to_vec();
    sorted.sort();
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1) \
         AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL \
         AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a \
              WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = $2::text[])",
    )
    .bind(D.table(table))
    .bind(sorted)
    .fetch_one(&mut *c)
    .await
    .map_err(|e| db_err(&e))
}
