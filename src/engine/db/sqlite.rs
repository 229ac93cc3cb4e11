//! SQLite: introspection, DDL, the read transaction (rows stepped by `stmt`),
//! and writes as prepared multi-row INSERTs into a staging table merged with
//! one upsert.

use sqlx::sqlite::SqliteArguments;
use sqlx::{Executor, Row, SqliteConnection};

use super::plan::{NativeColumn, Plan, TargetColumn};
use super::sql::{Dialect, db_err, split_table};
use crate::engine::types::{Value, date_text, parse_timestamp, time_text, ts_text};
use crate::workspace::ColumnType;

mod stmt;
pub use stmt::stream;

const D: Dialect = Dialect::Sqlite;
/// SQLite's default limit on bound parameters per statement is 32766.
const MAX_PARAMS: usize = 32_000;

pub async fn version(c: &mut SqliteConnection) -> Result<String, String> {
    let v: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&mut *c)
        .await
        .map_err(|e| db_err(&e))?;
    Ok(format!("SQLite {v}"))
}

pub async fn columns(
    c: &mut SqliteConnection,
    table: &str,
) -> Result<Option<Vec<NativeColumn>>, String> {
    let (schema, name) = split_table(table);
    let rows = sqlx::query("SELECT name, type FROM pragma_table_info(?1, ?2) ORDER BY cid")
        .bind(name)
        .bind(schema.unwrap_or("main"))
        .fetch_all(&mut *c)
        .await
        .map_err(|e| db_err(&e))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for r in rows {
        let name: String = r.try_get(0).map_err(|e| db_err(&e))?;
        let type_name: String = r.try_get(1).map_err(|e| db_err(&e))?;
        let type_name = type_name.to_ascii_lowercase();
        out.push(NativeColumn {
            name,
            binary: type_name.contains("blob"),
            type_name,
            max_chars: None,
            max_bytes: None,
            int_range: None,
            naive_is_utc: false,
        });
    }
    Ok(Some(out))
}

pub fn guess(n: &NativeColumn) -> ColumnType {
    let t = n.type_name.as_str();
    if t.contains("bool") || t.starts_with("tinyint(1)") {
        ColumnType::Boolean
    } else if t.contains("int") {
        ColumnType::Integer
    } else if t.contains("json") {
        ColumnType::Json
    } else if t.contains("uuid") {
        ColumnType::Uuid
    } else if t.contains("datetime") || t.contains("timestamp") {
        ColumnType::Timestamp
    } else if t.contains("date") {
        ColumnType::Date
    } else if t.contains("time") {
        ColumnType::Time
    } else if t.contains("char") || t.contains("clob") || t.contains("text") {
        ColumnType::String
    } else if t.contains("real") || t.contains("floa") || t.contains("doub") {
        ColumnType::Float
    } else if t.contains("dec") || t.contains("numeric") {
        ColumnType::Decimal
    } else if t.contains("blob") {
        ColumnType::Bytes
    } else {
        ColumnType::String
    }
}

/// SQLite stores any value in any column; only the column's presence matters.
pub fn compatible(_ty: ColumnType, _n: &NativeColumn) -> bool {
    true
}

fn column_type(ty: ColumnType) -> &'static str {
    // Declared types pick SQLite's affinity: decimals and JSON must keep TEXT
    // affinity, or SQLite would turn "1.50" into the number 1.5.
    match ty {
        ColumnType::Integer => "INTEGER",
        ColumnType::Float => "REAL",
        ColumnType::Decimal => "TEXT",
        ColumnType::String => "TEXT",
        ColumnType::Boolean => "BOOLEAN",
        ColumnType::Timestamp => "TIMESTAMP",
        ColumnType::Date => "DATE",
        ColumnType::Time => "TIME",
        ColumnType::Json => "TEXT",
        ColumnType::Uuid => "TEXT",
        ColumnType::Bytes => "BLOB",
    }
}

pub async fn create_table(
    c: &mut SqliteConnection,
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
        let (schema, bare) = split_table(table);
        let idx: String = format!("{bare}_{}_idx", cur.name);
        let idx = match schema {
            Some(s) => format!("{}.{}", D.ident(s), D.ident(&idx)),
            None => D.ident(&idx),
        };
        sql.push_str(&format!(
            "CREATE INDEX IF NOT EXISTS {idx} ON {} ({});",
            D.ident(bare),
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

pub async fn begin_snapshot(c: &mut SqliteConnection) -> Result<(), String> {
    (&mut *c)
        .execute(sqlx::raw_sql("BEGIN"))
        .await
        .map_err(|e| db_err(&e))?;
    Ok(())
}

/// Nothing to send: the reader closes the connection right after, which ends
/// the read transaction.
pub async fn end_snapshot(_c: &mut SqliteConnection) {}

pub async fn count(c: &mut SqliteConnection, sql: &str) -> Result<u64, String> {
    let n: i64 = sqlx::query_scalar(sql)
        .persistent(false)
        .fetch_one(&mut *c)
        .await
        .map_err(|e| db_err(&e))?;
    Ok(n.max(0) as u64)
}

/// SQLite values carry their own type; they are read as stored.
pub fn select_list(plan: &Plan) -> String {
    plan.read
        .iter()
        .map(|r| D.ident(&r.name))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn cursor_bound(col: &NativeColumn, watermark: &str, lookback_secs: u64) -> String {
    let name = D.ident(&col.name);
    let w = watermark.trim();
    if w.parse::<i64>().is_ok() || (w.parse::<f64>().is_ok() && !w.contains('-')) {
        // Unix seconds.
        return format!("{name} >= ({w} - {lookback_secs})");
    }
    if lookback_secs > 0
        && let Ok(t) = parse_timestamp(w, chrono_tz::Tz::UTC)
    {
        // Text timestamps compare as text: write the bound in the same shape.
        let earlier = t - chrono::Duration::seconds(lookback_secs as i64);
        let sep = if w.as_bytes().get(10) == Some(&b'T') {
            'T'
        } else {
            ' '
        };
        let bound = ts_text(&earlier, sep, "");
        return format!("{name} >= {}", D.literal(&bound));
    }
    format!("{name} >= {}", D.literal(w))
}

// ---- target ----

pub struct LiteWriter {
    conn: SqliteConnection,
    table: String,
    cols: String,
    ncols: usize,
    keys: Vec<String>,
    non_keys: Vec<String>,
}

impl LiteWriter {
    pub fn new(conn: SqliteConnection, plan: &Plan) -> Self {
        LiteWriter {
            conn,
            table: D.table(&plan.target_table),
            cols: D.idents(&plan.target_names(), ""),
            ncols: plan.targets.len(),
            keys: plan.key_names(),
            non_keys: plan.non_key_names(),
        }
    }

    async fn exec(&mut self, sql: &str) -> Result<u64, String> {
        (&mut self.conn)
            .execute(sqlx::raw_sql(sql))
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| db_err(&e))
    }

    pub async fn create_stage(&mut self) -> Result<(), String> {
        let sql = format!(
            "DROP TABLE IF EXISTS temp.dsp_stage; \
             CREATE TEMP TABLE dsp_stage AS SELECT {} FROM {} WHERE 0; \
             CREATE INDEX temp.dsp_stage_key ON dsp_stage ({});",
            self.cols,
            self.table,
            D.idents(&self.keys, "")
        );
        self.exec(&sql).await.map(|_| ())
    }

    pub async fn begin(&mut self) -> Result<(), String> {
        self.exec("BEGIN IMMEDIATE").await.map(|_| ())
    }

    pub async fn commit(&mut self) -> Result<(), String> {
        self.exec("COMMIT").await.map(|_| ())
    }

    pub async fn rollback(&mut self) {
        let _ = self.exec("ROLLBACK").await;
    }

    pub async fn count(&mut self, stage: bool) -> Result<u64, String> {
        let sql = format!(
            "SELECT count(*) FROM {}",
            if stage { "temp.dsp_stage" } else { &self.table }
        );
        count(&mut self.conn, &sql).await
    }

    pub async fn write(&mut self, rows: &[Vec<Value>], stage: bool) -> Result<(), String> {
        let per = (MAX_PARAMS / self.ncols.max(1)).clamp(1, 1000);
        let dest = if stage {
            "temp.dsp_stage".to_string()
        } else {
            self.table.clone()
        };
        let one = format!("({})", vec!["?"; self.ncols].join(","));
        for chunk in rows.chunks(per) {
            let sql = format!(
                "INSERT INTO {dest} ({}) VALUES {}",
                self.cols,
                vec![one.as_str(); chunk.len()].join(",")
            );
            let mut args = SqliteArguments::default();
            for row in chunk {
                for v in row {
                    bind(&mut args, v)?;
                }
            }
            sqlx::query_with(&sql, args)
                .execute(&mut self.conn)
                .await
                .map_err(|e| db_err(&e))?;
        }
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<(), String> {
        Ok(())
    }

    pub async fn delete_missing(&mut self) -> Result<u64, String> {
        let m: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("s.{k} = t.{k}", k = D.ident(k)))
            .collect();
        let sql = format!(
            "DELETE FROM {} AS t WHERE NOT EXISTS (SELECT 1 FROM temp.dsp_stage AS s WHERE {})",
            self.table,
            m.join(" AND ")
        );
        self.exec(&sql).await
    }

    /// `_unchanged_likely` tunes PostgreSQL's statement only (see
    /// `PgWriter::upsert`).
    pub async fn upsert(&mut self, _unchanged_likely: bool) -> Result<u64, String> {
        let action = if self.non_keys.is_empty() {
            "DO NOTHING".to_string()
        } else {
            let sets: Vec<String> = self
                .non_keys
                .iter()
                .map(|c| format!("{c} = excluded.{c}", c = D.ident(c)))
                .collect();
            let changed: Vec<String> = self
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
            "INSERT INTO {} AS t ({cols}) SELECT {cols} FROM temp.dsp_stage WHERE true ON CONFLICT ({}) {action}",
            self.table,
            D.idents(&self.keys, ""),
            cols = self.cols
        );
        self.exec(&sql).await
    }

    pub async fn clear_stage(&mut self) -> Result<(), String> {
        self.exec("DELETE FROM temp.dsp_stage").await.map(|_| ())
    }

    pub async fn close(self) {
        let _ = sqlx::Connection::close(self.conn).await;
    }
}

fn bind(args: &mut SqliteArguments<'_>, v: &Value) -> Result<(), String> {
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
    };
    r.map_err(|e| e.to_string())
}

/// Whether the primary key or a unique index covers exactly `keys`.
pub async fn has_unique_key(
    c: &mut SqliteConnection,
    table: &str,
    keys: &[String],
) -> Result<bool, String> {
    let (schema, name) = split_table(table);
    let schema = schema.unwrap_or("main");
    let mut want: Vec<String> = keys.iter().map(|k| k.to_lowercase()).collect();
    want.sort();
    let same = |mut cols: Vec<String>| {
        cols.iter_mut().for_each(|c| *c = c.to_lowercase());
        cols.sort();
        cols == want
    };
    let pk: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info(?1, ?2) WHERE pk > 0")
            .bind(name)
            .bind(schema)
            .fetch_all(&mut *c)
            .await
            .map_err(|e| db_err(&e))?;
    if same(pk) {
        return Ok(true);
    }
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM pragma_index_list(?1, ?2) WHERE \"unique\" = 1 AND partial = 0",
    )
    .bind(name)
    .bind(schema)
    .fetch_all(&mut *c)
    .await
    .map_err(|e| db_err(&e))?;
    for idx in indexes {
        let cols: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_index_info(?1, ?2)")
            .bind(&idx)
            .bind(schema)
            .fetch_all(&mut *c)
            .await
            .map_err(|e| db_err(&e))?;
        if same(cols) {
            return Ok(true);
        }
    }
    Ok(false)
}
