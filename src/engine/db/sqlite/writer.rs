//! Writing into SQLite: prepared multi-row INSERTs into a temporary staging
//! table, merged with one upsert.

use futures::future::BoxFuture;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteArguments;

use super::super::dialect::Dialect;
use super::super::plan::Plan;
use super::super::session::Connection;
use super::super::target::{Target, TargetNames};
use super::D;
use crate::engine::error::Result;
use crate::engine::types::{Value, date_text, time_text, ts_text};

/// SQLite's default limit on bound parameters per statement is 32766.
const MAX_PARAMS: usize = 32_000;

pub struct LiteWriter {
    conn: SqliteConnection,
    n: TargetNames,
}

impl LiteWriter {
    pub fn new(conn: SqliteConnection, plan: &Plan) -> Self {
        LiteWriter {
            conn,
            n: TargetNames::new(D, plan),
        }
    }

    async fn create_stage(&mut self) -> Result<()> {
        let sql = format!(
            "DROP TABLE IF EXISTS {stage}; \
             CREATE TEMP TABLE {name} AS SELECT {} FROM {} WHERE 0; \
             CREATE INDEX temp.{key} ON {name} ({});",
            self.n.cols,
            self.n.table,
            D.idents(&self.n.keys, ""),
            stage = self.n.stage,
            name = self.n.stage_name,
            key = self.n.stage_key,
        );
        self.conn.exec(&sql).await.map(|_| ())
    }

    async fn write(&mut self, rows: &[Vec<Value>], stage: bool) -> Result<()> {
        let ncols = self.n.names.len();
        let per = (MAX_PARAMS / ncols.max(1)).clamp(1, 1000);
        let one = format!("({})", vec!["?"; ncols].join(","));
        for chunk in rows.chunks(per) {
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {}",
                self.n.dest(stage),
                self.n.cols,
                vec![one.as_str(); chunk.len()].join(",")
            );
            let mut args = SqliteArguments::default();
            for row in chunk {
                for v in row {
                    bind(&mut args, v)?;
                }
            }
            sqlx::query_with(&sql, args).execute(&mut self.conn).await?;
        }
        Ok(())
    }

    /// `_unchanged_likely` tunes PostgreSQL's statement only. The WHERE of
    /// DO UPDATE leaves an unchanged row alone, so `changes()` counts only
    /// rows inserted or updated.
    async fn upsert_rows(&mut self, _unchanged_likely: bool) -> Result<u64> {
        let action = if self.n.non_keys.is_empty() {
            "DO NOTHING".to_string()
        } else {
            let sets: Vec<String> = self
                .n
                .non_keys
                .iter()
                .map(|c| format!("{c} = excluded.{c}", c = D.ident(c)))
                .collect();
            let changed: Vec<String> = self
                .n
                .non_keys
                .iter()
                .map(|c| format!("t.{c} IS NOT excluded.{c}", c = D.ident(c)))
                .collect();
            format!(
                "DO UPDATE SET {} WHERE {}",
                sets.join(", "),
                changed.join(" OR ")
            )
        };
        // `WHERE true` keeps SQLite from reading ON CONFLICT as a join clause.
        let sql = format!(
            "INSERT INTO {} AS t ({cols}) SELECT {cols} FROM {} WHERE true ON CONFLICT ({}) {action}",
            self.n.table,
            self.n.stage,
            D.idents(&self.n.keys, ""),
            cols = self.n.cols
        );
        self.conn.exec(&sql).await
    }
}

impl Target for LiteWriter {
    fn names(&self) -> &TargetNames {
        &self.n
    }
    fn session(&mut self) -> BoxFuture<'_, Result<&mut dyn Connection>> {
        Box::pin(async move { Ok(&mut self.conn as &mut dyn Connection) })
    }
    fn create_stage(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(LiteWriter::create_stage(self))
    }
    fn write<'a>(&'a mut self, rows: &'a [Vec<Value>], stage: bool) -> BoxFuture<'a, Result<()>> {
        Box::pin(LiteWriter::write(self, rows, stage))
    }
    fn upsert_rows(&mut self, unchanged_likely: bool) -> BoxFuture<'_, Result<u64>> {
        Box::pin(LiteWriter::upsert_rows(self, unchanged_likely))
    }
    /// `IS NOT`: older SQLite has no IS DISTINCT FROM.
    fn differs(&self, a: &str, b: &str) -> String {
        if self.n.non_keys.is_empty() {
            return "0".into();
        }
        self.n
            .non_keys
            .iter()
            .map(|c| format!("{a}.{c} IS NOT {b}.{c}", c = D.ident(c)))
            .collect::<Vec<_>>()
            .join(" OR ")
    }
    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::new(self.conn).close()
    }
}

fn bind(args: &mut SqliteArguments<'_>, v: &Value) -> Result<()> {
    use sqlx::Arguments;
    let r = match v {
        Value::Null => args.add(None::<i64>),
        Value::Int(i) => args.add(*i),
        Value::Float(f) => args.add(*f),
        Value::Decimal(s) | Value::Text(s) | Value::Json(s) => args.add(s.clone()),
        Value::Bool(b) => args.add(i64::from(*b)),
        Value::Timestamp(t) => args.add(ts_text(t, 'T', "Z")),
        Value::Date(d) => args.add(date_text(d)),
        Value::Time(t) => args.add(time_text(t)),
        Value::Uuid(u) => args.add(u.hyphenated().to_string()),
        Value::Bytes(b) => args.add(b.clone()),
        // PostgreSQL's spelling, which DSP reads back as the same value.
        Value::Special(s) => args.add(s.text()),
    };
    Ok(r.map_err(|e| e.to_string())?)
}
