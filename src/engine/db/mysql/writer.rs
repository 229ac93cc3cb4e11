//! Writing into MySQL/MariaDB: prepared multi-row INSERTs with binary
//! parameters into a temporary staging table, merged with one INSERT ...
//! SELECT ... ON DUPLICATE KEY UPDATE.

use futures::future::BoxFuture;
use sqlx::mysql::MySqlArguments;
use sqlx::{Arguments, MySqlConnection};

use super::super::dialect::Dialect;
use super::super::plan::Plan;
use super::super::session::Connection;
use super::super::target::{Target, TargetNames};
use super::D;
use crate::engine::error::{DbErrorKind, Error, Result};
use crate::engine::types::Value;

pub struct MyWriter {
    conn: MySqlConnection,
    n: TargetNames,
    /// Bound values of the rows waiting for `to_stage`'s destination.
    args: MySqlArguments,
    pending: usize,
    pending_bytes: usize,
    to_stage: bool,
    /// Rows per prepared INSERT: the server parses it once per run and then
    /// only receives binary values (parsing literal VALUES lists was most of
    /// its work).
    rows_per_stmt: usize,
    /// An INSERT's values stay under half the server's packet limit.
    flush_bytes: usize,
}

/// MySQL allows at most 65,535 placeholders in one statement.
const MAX_PLACEHOLDERS: usize = 65_535;
/// More rows per statement save little once round trips are this rare.
const MAX_ROWS_PER_STMT: usize = 2_000;

impl MyWriter {
    pub async fn new(mut conn: MySqlConnection, plan: &Plan) -> Result<Self> {
        let packet: i64 = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS SIGNED)")
            .fetch_one(&mut conn)
            .await?;
        let flush_bytes = ((packet.max(1 << 20) as usize) / 2).min(8 << 20);
        let ncols = plan.targets.len().max(1);
        Ok(MyWriter {
            conn,
            n: TargetNames::new(D, plan),
            args: MySqlArguments::default(),
            pending: 0,
            pending_bytes: 0,
            to_stage: true,
            rows_per_stmt: (MAX_PLACEHOLDERS / ncols).clamp(1, MAX_ROWS_PER_STMT),
            flush_bytes,
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
        Ok(())
    }

    async fn write(&mut self, rows: &[Vec<Value>], stage: bool) -> Result<()> {
        if stage != self.to_stage {
            self.flush().await?;
            self.to_stage = stage;
        }
        for row in rows {
            for v in row {
                self.pending_bytes += bind(&mut self.args, v)?;
            }
            self.pending += 1;
            if self.pending >= self.rows_per_stmt || self.pending_bytes >= self.flush_bytes {
                self.flush().await?;
            }
        }
        Ok(())
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
        sqlx::query_with(&sql, args)
            .persistent(persistent)
            .execute(&mut self.conn)
            .await?;
        Ok(())
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
    fn delete_missing(&mut self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(MyWriter::delete_missing(self))
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

/// Binds one value as a binary parameter; returns roughly its size on the wire.
fn bind(args: &mut MySqlArguments, v: &Value) -> Result<usize> {
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
    Ok(match v {
        Value::Decimal(s) | Value::Text(s) | Value::Json(s) => s.len() + 9,
        Value::Bytes(b) => b.len() + 9,
        _ => 16,
    })
}
