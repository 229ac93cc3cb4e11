//! SQLite: opening the file, introspection, DDL and the read transaction
//! (rows stepped by `stmt`). The write side (prepared multi-row INSERTs into a
//! staging table merged with one upsert) is in `writer`.

use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row, SqliteConnection};

use super::connect::{Endpoint, Role};
use super::dialect::{CursorIndex, Dialect};
use super::plan::{NativeColumn, Plan, TargetColumn, TargetRules};
use super::read::BatchBuilder;
use super::session::{Conn, Connection, driver_basics, query_i64, query_texts, same_columns};
use super::sql::split_table;
use super::target::Target;
use crate::engine::error::Result;
use crate::engine::types::{Calendar, parse_timestamp, ts_text};
use crate::workspace::{ColumnType, Network, Workspace};

mod stmt;
mod writer;

pub struct Sqlite;
pub static SQLITE: Sqlite = Sqlite;
const D: &Sqlite = &SQLITE;

impl Dialect for Sqlite {
    /// `||`: older SQLite has no CONCAT_WS.
    fn key_text(&self, cols: &[String], prefix: &str) -> String {
        cols.iter()
            .map(|c| format!("CAST({prefix}{} AS TEXT)", self.ident(c)))
            .collect::<Vec<_>>()
            .join(" || ', ' || ")
    }

    fn connect<'a>(&'static self, to: Endpoint<'a>) -> BoxFuture<'a, Result<Conn>> {
        Box::pin(async move {
            let (ws, net, role) = (to.ws, to.net, to.role);
            let path = ws.sqlite_path(net);
            if role == Role::Source && !path.exists() {
                return Err(format!(
                    "the SQLite file {} does not exist; check the network's database path",
                    path.display()
                )
                .into());
            }
            if role == Role::Target
                && let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
                && !dir.is_dir()
            {
                return Err(format!(
                    "the directory {} of the SQLite file does not exist; create it or fix the network's database path",
                    dir.display()
                )
                .into());
            }
            let o = SqliteConnectOptions::new()
                .filename(&path)
                .read_only(role == Role::Source)
                .create_if_missing(role == Role::Target)
                .busy_timeout(Duration::from_secs(10))
                // sqlx hands rows over from its SQLite thread through a
                // channel; at the default 50 the two threads wake each
                // other for nearly every row of a large read.
                .row_buffer_size(4096)
                .disable_statement_logging();
            Ok(Box::new(o.connect().await?) as Conn)
        })
    }

    fn location(&self, ws: &Workspace, net: &Network) -> String {
        format!("sqlite:{}", ws.sqlite_path(net).display())
    }

    /// The file does not exist until a job writes to it.
    fn not_created_yet(&self, ws: &Workspace, net: &Network) -> Option<String> {
        let path = ws.sqlite_path(net);
        (!path.exists()).then(|| {
            format!(
                "SQLite (the file {} does not exist yet; a job writing to it creates it)",
                path.display()
            )
        })
    }

    fn guess(&self, n: &NativeColumn) -> ColumnType {
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
    fn compatible(&self, _ty: ColumnType, _n: &NativeColumn) -> bool {
        true
    }

    /// Dates and times are stored as text, so every one PostgreSQL holds
    /// is kept in its own spelling: `infinity`, `-infinity`, `24:00:00`,
    /// and ISO 8601's signed years (`-0043-03-15`, `+12000-01-01`).
    fn target_rules(&self) -> TargetRules {
        TargetRules {
            calendar: Calendar {
                infinities: true,
                end_of_day: true,
                years: None,
                engine: "SQLite",
            },
            ..TargetRules::default()
        }
    }

    /// A column keeps any text, so no declared precision binds it.
    fn enforces_column_limits(&self) -> bool {
        false
    }

    fn column_type(&self, t: &TargetColumn) -> String {
        // Declared types pick SQLite's affinity: decimals and JSON must keep TEXT
        // affinity, or SQLite would turn "1.50" into the number 1.5.
        match t.ty {
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
        .to_string()
    }

    /// The index goes in the table's schema, named by it, on the bare table.
    fn cursor_index(&self, table: &str, cursor: &str) -> CursorIndex {
        let (schema, bare) = split_table(table);
        let idx: String = format!("{bare}_{cursor}_idx");
        let idx = match schema {
            Some(s) => format!("{}.{}", self.ident(s), self.ident(&idx)),
            None => self.ident(&idx),
        };
        CursorIndex::Statement(format!(
            "CREATE INDEX IF NOT EXISTS {idx} ON {} ({})",
            self.ident(bare),
            self.ident(cursor)
        ))
    }

    /// An index's first column is its `seqno` 0; a lone INTEGER PRIMARY KEY
    /// is the rowid itself, the table's own order, and has no index entry.
    fn leading_index_sql(&self, table: &str, column: &str) -> String {
        let (schema, bare) = split_table(table);
        let (t, s, c) = (
            self.literal(bare),
            self.literal(schema.unwrap_or("main")),
            self.literal(column),
        );
        format!(
            "SELECT (SELECT COUNT(*) FROM pragma_index_list({t}, {s}) AS il \
             JOIN pragma_index_info(il.name, {s}) AS ii WHERE il.partial = 0 AND ii.seqno = 0 \
             AND ii.name = {c} COLLATE NOCASE) \
             + (SELECT COUNT(*) FROM pragma_table_info({t}, {s}) WHERE pk = 1 \
             AND name = {c} COLLATE NOCASE AND upper(type) = 'INTEGER' \
             AND (SELECT COUNT(*) FROM pragma_table_info({t}, {s}) WHERE pk > 0) = 1)"
        )
    }

    fn cursor_bound(&self, col: &NativeColumn, watermark: &str, lookback_secs: u64) -> String {
        let name = self.ident(&col.name);
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
            return format!("{name} >= {}", self.literal(&bound));
        }
        format!("{name} >= {}", self.literal(w))
    }

    fn snapshot_sql(&self) -> &'static str {
        "BEGIN"
    }

    fn begin_sql(&self) -> &'static str {
        "BEGIN IMMEDIATE"
    }

    fn temp_schema(&self) -> Option<&'static str> {
        Some("temp")
    }
}

impl Connection for SqliteConnection {
    driver_basics!();

    fn scalar<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<i64>> {
        query_i64::<sqlx::Sqlite>(self, sql)
    }

    fn texts<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        query_texts::<sqlx::Sqlite>(self, sql)
    }

    fn version(&mut self) -> BoxFuture<'_, Result<String>> {
        Box::pin(async move {
            let v: String = sqlx::query_scalar("SELECT sqlite_version()")
                .fetch_one(&mut *self)
                .await?;
            Ok(format!("SQLite {v}"))
        })
    }

    fn stream<'a>(
        &'a mut self,
        sql: &'a str,
        b: &'a mut BatchBuilder,
    ) -> BoxFuture<'a, Result<()>> {
        stmt::stream(self, sql, b)
    }

    fn into_target<'a>(self: Box<Self>, plan: &'a Plan) -> BoxFuture<'a, Result<Box<dyn Target>>> {
        Box::pin(
            async move { Ok(Box::new(writer::LiteWriter::new(*self, plan)) as Box<dyn Target>) },
        )
    }
}

async fn columns(c: &mut SqliteConnection, table: &str) -> Result<Option<Vec<NativeColumn>>> {
    let (schema, name) = split_table(table);
    let rows = sqlx::query("SELECT name, type FROM pragma_table_info(?1, ?2) ORDER BY cid")
        .bind(name)
        .bind(schema.unwrap_or("main"))
        .fetch_all(&mut *c)
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for r in rows {
        let name: String = r.try_get(0)?;
        let type_name: String = r.try_get(1)?;
        let type_name = type_name.to_ascii_lowercase();
        out.push(NativeColumn {
            name,
            binary: type_name.contains("blob"),
            type_name,
            max_chars: None,
            max_bytes: None,
            int_range: None,
            naive_is_utc: false,
            utf8_text: false,
        });
    }
    Ok(Some(out))
}

/// Whether the primary key or a unique index covers exactly `keys`.
async fn has_unique_key(c: &mut SqliteConnection, table: &str, keys: &[String]) -> Result<bool> {
    let (schema, name) = split_table(table);
    let schema = schema.unwrap_or("main");
    let same = |cols: Vec<String>| same_columns(cols, keys);
    let pk: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info(?1, ?2) WHERE pk > 0")
            .bind(name)
            .bind(schema)
            .fetch_all(&mut *c)
            .await?;
    if same(pk) {
        return Ok(true);
    }
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM pragma_index_list(?1, ?2) WHERE \"unique\" = 1 AND partial = 0",
    )
    .bind(name)
    .bind(schema)
    .fetch_all(&mut *c)
    .await?;
    for idx in indexes {
        let cols: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_index_info(?1, ?2)")
            .bind(&idx)
            .bind(schema)
            .fetch_all(&mut *c)
            .await?;
        if same(cols) {
            return Ok(true);
        }
    }
    Ok(false)
}
