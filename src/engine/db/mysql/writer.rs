//! Writing into MySQL/MariaDB: prepared multi-row INSERTs with binary
//! parameters into a temporary staging table, merged with one INSERT ...
//! SELECT ... ON DUPLICATE KEY UPDATE.

use futures::future::BoxFuture;
use sqlx::mysql::MySqlArguments;
use sqlx::{Arguments, MySqlConnection};

use super::super::dialect::Dialect;
use super::super::plan::Plan;
use super::super::session::Connection;
use super::super::sql::split_table;
use super::super::target::{Target, TargetNames};
use super::D;
use crate::engine::error::{DbErrorKind, Error, Result};
use crate::engine::types::Value;

pub struct MyWriter {
    conn: MySqlConnection,
    n: TargetNames,
    /// The target table as the workspace names it (`db.table` or `table`).
    target: String,
    /// Bound values of the rows waiting for `to_stage`'s destination.
    args: MySqlArguments,
    pending: usize,
    pending_bytes: usize,
    to_stage: bool,
    /// Rows per prepared INSERT: the server parses it once per run and then
    /// only receives binary values (parsing literal VALUES lists was most of
    /// its work).
    rows_per_stmt: usize,
    /// An INSERT's values stay under half the server's packet limit
    /// (or 8 MB)...
    flush_bytes: usize,
    /// ...and never pass the limit itself: the server drops the connection
    /// of a client that sends a larger packet.
    packet: usize,
}

/// Bytes of a prepared INSERT's packet besides its values: the command,
/// statement id, flags and NULL bitmap, with room to spare.
const PACKET_OVERHEAD: usize = 1024;

/// MySQL allows at most 65,535 placeholders in one statement.
const MAX_PLACEHOLDERS: usize = 65_535;
/// More rows per statement save little once round trips are this rare.
const MAX_ROWS_PER_STMT: usize = 2_000;

impl MyWriter {
    pub async fn new(mut conn: MySqlConnection, plan: &Plan) -> Result<Self> {
        let packet: i64 = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS SIGNED)")
            .fetch_one(&mut conn)
            .await?;
        let packet = packet.max(4096) as usize;
        let flush_bytes = (packet / 2).min(8 << 20);
        let ncols = plan.targets.len().max(1);
        Ok(MyWriter {
            conn,
            n: TargetNames::new(D, plan),
            target: plan.target_table.clone(),
            args: MySqlArguments::default(),
            pending: 0,
            pending_bytes: 0,
            to_stage: true,
            rows_per_stmt: (MAX_PLACEHOLDERS / ncols).clamp(1, MAX_ROWS_PER_STMT),
            flush_bytes,
            packet,
        })
    }

    fn insert_sql(&self, rows: usize) -> String {
        let one = format!("({})", vec!["?"; self.n.names.len()].join(","));
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            self.n.dest(self.to_stage),
            self.n.cols
        );
        sql.reserve(rows * (one.len() + 1));
        for i in 0..rows {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&one);
        }
        sql
    }

    async fn create_stage(&mut self) -> Result<()> {
        let drop = format!("DROP TEMPORARY TABLE IF EXISTS {}", self.n.stage);
        self.conn.exec(&drop).await?;
        // Selected through an outer join, every column comes out nullable
        // (plain CREATE ... SELECT keeps NOT NULL), so a failed row's key can be
        // staged with NULL in the other columns.
        let sql = format!(
            "CREATE TEMPORARY TABLE {} AS SELECT {} FROM (SELECT 1 AS dsp_one) AS d \
             LEFT JOIN {} AS t ON 1 = 0 WHERE 1 = 0",
            self.n.stage,
            D.idents(&self.n.names, "t."),
            self.n.table
        );
        self.conn.exec(&sql).await.map_err(|e| {
            // A login allowed only to change rows cannot stage; say what to grant.
            if e.kind() == DbErrorKind::AccessDenied {
                Error::Message(format!(
                    "{e}; rows are staged in a temporary table first: GRANT CREATE TEMPORARY TABLES on this database to the target user"
                ))
            } else {
                e
            }
        })?;
        // An index for the anti-join of the delete; a key type MySQL cannot
        // index as is only makes that join slower.
        let idx = format!(
            "ALTER TABLE {} ADD INDEX {} ({})",
            self.n.stage,
            self.n.stage_key,
            D.idents(&self.n.keys, "")
        );
        let _ = self.conn.exec(&idx).await;
        self.stage_checks().await;
        Ok(())
    }

    /// The target's CHECK constraints, on the stage too. CREATE ... SELECT
    /// leaves them behind, MariaDB's JSON columns among them (a longtext
    /// with CHECK (json_valid(...))): a row the target would refuse is then
    /// refused as it is staged, where it fails alone, rather than by the
    /// merge, which would fail the whole run. Best effort: a check naming a
    /// column the job does not map, or a server without MariaDB's
    /// CHECK_CONSTRAINTS.TABLE_NAME (MySQL keeps JSON's type on the stage
    /// anyway), leaves the stage as it is.
    async fn stage_checks(&mut self) {
        let (schema, table) = split_table(&self.target);
        let checks: Vec<(String, String)> = match sqlx::query_as(
            "SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
        )
        .bind(schema)
        .bind(table)
        .fetch_all(&mut self.conn)
        .await
        {
            Ok(c) => c,
            Err(_) => return,
        };
        for (name, clause) in checks {
            let sql = format!(
                "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({clause})",
                self.n.stage,
                D.ident(&name)
            );
            let _ = self.conn.exec(&sql).await;
        }
    }

    async fn write(&mut self, rows: &[Vec<Value>], stage: bool) -> Result<()> {
        if stage != self.to_stage {
            self.flush().await?;
            self.to_stage = stage;
        }
        for row in rows {
            // Each value's bytes, plus its type in the packet's header.
            let size: usize = row.iter().map(|v| wire_size(v) + 2).sum();
            if size + PACKET_OVERHEAD > self.packet {
                return Err(self.too_large(size));
            }
            if self.pending > 0 && self.pending_bytes + size + PACKET_OVERHEAD > self.packet {
                self.flush().await?;
            }
            for v in row {
                bind(&mut self.args, v)?;
            }
            self.pending_bytes += size;
            self.pending += 1;
            if self.pending >= self.rows_per_stmt || self.pending_bytes >= self.flush_bytes {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// A row the server would not even receive: refused here, as the server
    /// would (by dropping the connection), naming the setting to raise.
    fn too_large(&self, size: usize) -> Error {
        Error::Database {
            kind: DbErrorKind::Rejected,
            message: format!(
                "the row is about {size} bytes, more than the server takes in one statement \
                 (max_allowed_packet = {} bytes); raise max_allowed_packet on the server above \
                 the largest row",
                self.packet
            ),
        }
    }

    fn discard(&mut self) {
        self.args = MySqlArguments::default();
        self.pending = 0;
        self.pending_bytes = 0;
    }

    async fn flush(&mut self) -> Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let sql = self.insert_sql(self.pending);
        // Only the full-size statement recurs; a short one is not worth caching.
        let persistent = self.pending == self.rows_per_stmt;
        let args = std::mem::take(&mut self.args);
        self.pending = 0;
        self.pending_bytes = 0;
        let r = sqlx::query_with(&sql, args)
            .persistent(persistent)
            .execute(&mut self.conn)
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) => Err(self.as_target(e.into())),
        }
    }

    /// A refusal by the stage, worded as the target's: the operator knows
    /// the target table, not DSP's temporary one.
    fn as_target(&self, e: Error) -> Error {
        match e {
            Error::Database { kind, message } if self.to_stage => Error::Database {
                kind,
                message: message.replace(&self.n.stage_name, split_table(&self.target).1),
            },
            e => e,
        }
    }

    /// A multi-table DELETE with an anti-join, which uses the stage's index.
    async fn delete_missing(&mut self) -> Result<u64> {
        let sql = format!(
            "DELETE t FROM {} AS t LEFT JOIN {} AS s ON {} WHERE s.{} IS NULL",
            self.n.table,
            self.n.stage,
            self.n.key_match("s", "t"),
            D.ident(&self.n.keys[0])
        );
        self.conn.exec(&sql).await
    }

    /// MySQL's single-table DELETE takes no alias; a join does.
    async fn delete_staged(&mut self) -> Result<u64> {
        let sql = format!(
            "DELETE t FROM {} AS t JOIN {} AS s ON {}",
            self.n.table,
            self.n.stage,
            self.n.key_match("s", "t")
        );
        self.conn.exec(&sql).await
    }

    /// `_unchanged_likely` tunes PostgreSQL's statement only. MySQL leaves a
    /// row whose values are all the same alone (see `updated_of` for how it
    /// counts them).
    async fn upsert_rows(&mut self, _unchanged_likely: bool) -> Result<u64> {
        let sets: Vec<String> = if self.n.non_keys.is_empty() {
            let k = D.ident(&self.n.keys[0]);
            vec![format!("{k} = {k}")]
        } else {
            self.n
                .non_keys
                .iter()
                .map(|c| format!("{c} = VALUES({c})", c = D.ident(c)))
                .collect()
        };
        let sql = format!(
            "INSERT INTO {} ({cols}) SELECT {cols} FROM {} ON DUPLICATE KEY UPDATE {}",
            self.n.table,
            self.n.stage,
            sets.join(", "),
            cols = self.n.cols
        );
        self.conn.exec(&sql).await
    }
}

impl Target for MyWriter {
    fn names(&self) -> &TargetNames {
        &self.n
    }
    fn session(&mut self) -> BoxFuture<'_, Result<&mut dyn Connection>> {
        Box::pin(async move { Ok(&mut self.conn as &mut dyn Connection) })
    }
    fn create_stage(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(MyWriter::create_stage(self))
    }
    fn write<'a>(&'a mut self, rows: &'a [Vec<Value>], stage: bool) -> BoxFuture<'a, Result<()>> {
        Box::pin(MyWriter::write(self, rows, stage))
    }
    fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(MyWriter::flush(self))
    }
    fn discard(&mut self) -> BoxFuture<'_, ()> {
        MyWriter::discard(self);
        Box::pin(async {})
    }
    fn delete_missing(&mut self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(MyWriter::delete_missing(self))
    }
    fn delete_staged(&mut self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(MyWriter::delete_staged(self))
    }
    fn upsert_rows(&mut self, unchanged_likely: bool) -> BoxFuture<'_, Result<u64>> {
        Box::pin(MyWriter::upsert_rows(self, unchanged_likely))
    }
    /// MySQL has no IS DISTINCT FROM; `<=>` is its NULL-safe equality.
    fn differs(&self, a: &str, b: &str) -> String {
        if self.n.non_keys.is_empty() {
            return "1 = 0".into();
        }
        self.n
            .non_keys
            .iter()
            .map(|c| format!("NOT ({a}.{c} <=> {b}.{c})", c = D.ident(c)))
            .collect::<Vec<_>>()
            .join(" OR ")
    }
    /// INSERT ... ON DUPLICATE KEY UPDATE affects 1 row per insert and 2 per
    /// update; an existing row left as it was counts 1 because sqlx connects
    /// with CLIENT_FOUND_ROWS (0 without it). So every staged row counts once
    /// and each updated row once more.
    fn updated_of(&self, affected: u64, _inserted: u64, staged: u64) -> u64 {
        affected.saturating_sub(staged)
    }
    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::new(self.conn).close()
    }
}

/// Binds one value as a binary parameter.
fn bind(args: &mut MySqlArguments, v: &Value) -> Result<()> {
    let r = match v {
        Value::Null => args.add(None::<String>),
        Value::Int(i) => args.add(*i),
        // Non-finite floats were refused when converting for MySQL.
        Value::Float(f) => args.add(*f),
        // As text, which the server converts to DECIMAL exactly.
        Value::Decimal(s) | Value::Text(s) | Value::Json(s) => args.add(s.as_str()),
        Value::Bool(b) => args.add(*b),
        // Sessions are pinned to UTC, and instants for a zone-less column were
        // shifted to the network's zone when converted.
        Value::Timestamp(t) => args.add(t.naive_utc()),
        Value::Date(d) => args.add(*d),
        Value::Time(t) => args.add(*t),
        Value::Uuid(u) => args.add(u.hyphenated().to_string()),
        Value::Bytes(b) => args.add(b.as_slice()),
        // Only `24:00:00` gets here (a TIME holds it); the infinities were
        // refused when converting for MySQL.
        Value::Special(s) => args.add(s.text()),
    };
    r.map_err(|e| format!("cannot send a value to MySQL: {e}"))?;
    Ok(())
}

/// A value's size on the wire, at most: its bytes and their length prefix.
fn wire_size(v: &Value) -> usize {
    match v {
        Value::Decimal(s) | Value::Text(s) | Value::Json(s) => s.len() + 9,
        Value::Bytes(b) => b.len() + 9,
        // A UUID goes as its 36 characters of text.
        Value::Uuid(_) => 45,
        _ => 16,
    }
}
