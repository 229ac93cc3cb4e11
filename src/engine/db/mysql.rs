//! MySQL/MariaDB: connecting, introspection, DDL and the consistent-snapshot
//! read. The write side (prepared multi-row INSERTs with binary parameters
//! into a staging table, merged with one INSERT ... SELECT ... ON DUPLICATE
//! KEY UPDATE) is in `writer`.

use futures::future::BoxFuture;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::{ConnectOptions, Executor, MySqlConnection, Row};

use super::connect::Endpoint;
use super::dialect::{CursorIndex, Dialect};
use super::plan::{NativeColumn, Plan, TargetColumn, TargetRules};
use super::read::BatchBuilder;
use super::session::{
    ColumnTypes, Conn, Connection, Folding, FoldingKey, driver_basics, push_text_rows, same_columns,
};
use super::sql::{push_mysql_escaped, split_table};
use super::target::Target;
use crate::engine::error::Result;
use crate::engine::types::{Calendar, TimestampLimit};
use crate::workspace::{ColumnType, SslMode};

mod canon;
mod writer;

pub struct Mysql;
pub static MYSQL: Mysql = Mysql;
const D: &Mysql = &MYSQL;

impl Dialect for Mysql {
    /// As CHAR: CONCAT_WS of numbers alone may come back binary.
    fn key_text(&self, cols: &[String], prefix: &str) -> String {
        format!(
            "CAST(CONCAT_WS(', ', {}) AS CHAR)",
            self.idents(cols, prefix)
        )
    }

    fn connect<'a>(&'static self, to: Endpoint<'a>) -> BoxFuture<'a, Result<Conn>> {
        Box::pin(async move {
            let net = to.net;
            let mut o = MySqlConnectOptions::new()
                .host(net.host.as_deref().unwrap_or("localhost"))
                .port(net.effective_port().unwrap_or(3306))
                .database(&net.database)
                .ssl_mode(ssl_mode(net.ssl()))
                .charset("utf8mb4")
                .timezone(Some("+00:00".to_string()));
            if let Some(u) = &net.username {
                o = o.username(u);
            }
            if let Some(p) = to.password {
                o = o.password(p);
            }
            let mut c = o.disable_statement_logging().connect().await?;
            // Strict mode turns silent truncation into errors; no ANSI_QUOTES or
            // NO_BACKSLASH_ESCAPES, because the SQL we build relies on both.
            (&mut c)
                .execute(sqlx::raw_sql(
                    "SET time_zone = '+00:00', \
                     sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO'; \
                     SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                ))
                .await?;
            Ok(Box::new(c) as Conn)
        })
    }

    fn quote(&self) -> char {
        '`'
    }

    /// Sessions run with backslash escapes on (the connection pins
    /// sql_mode), so backslashes are escaped too.
    fn literal(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('\'');
        push_mysql_escaped(&mut out, s);
        out.push('\'');
        out
    }

    fn guess(&self, n: &NativeColumn) -> ColumnType {
        let t = n.type_name.as_str();
        match base(t) {
            "tinyint" if t.starts_with("tinyint(1)") => ColumnType::Boolean,
            "bool" | "boolean" => ColumnType::Boolean,
            "bigint" if t.contains("unsigned") => ColumnType::Decimal,
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
                ColumnType::Integer
            }
            "float" | "double" | "real" => ColumnType::Float,
            "decimal" | "numeric" => ColumnType::Decimal,
            "date" => ColumnType::Date,
            "datetime" | "timestamp" => ColumnType::Timestamp,
            "time" => ColumnType::Time,
            "json" => ColumnType::Json,
            "uuid" => ColumnType::Uuid,
            _ if n.binary => ColumnType::Bytes,
            _ => ColumnType::String,
        }
    }

    fn compatible(&self, ty: ColumnType, n: &NativeColumn) -> bool {
        let b = base(&n.type_name);
        let texty = matches!(
            b,
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set"
        );
        if texty {
            return ty != ColumnType::Bytes;
        }
        let int = matches!(
            b,
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
        );
        match ty {
            ColumnType::Integer => int || b == "decimal",
            ColumnType::Float => matches!(b, "float" | "double" | "real" | "decimal"),
            ColumnType::Decimal => b == "decimal",
            ColumnType::String => false,
            ColumnType::Boolean => int || b == "bit",
            ColumnType::Timestamp => matches!(b, "datetime" | "timestamp"),
            ColumnType::Date => matches!(b, "date" | "datetime"),
            ColumnType::Time => b == "time",
            ColumnType::Json => b == "json",
            ColumnType::Uuid => b == "uuid",
            ColumnType::Bytes => n.binary,
        }
    }

    /// Non-finite floats have no column to go to, nor dates before year 1,
    /// after 9999 or infinite; a TIME holds `24:00:00`.
    fn target_rules(&self) -> TargetRules {
        TargetRules {
            finite_floats: true,
            calendar: Calendar {
                infinities: false,
                end_of_day: true,
                years: Some((1, 9999)),
                engine: "MySQL/MariaDB",
            },
            ..TargetRules::default()
        }
    }

    /// DATETIME and TIMESTAMP also have ranges.
    fn timestamp_limit(&self, native: &str) -> Option<TimestampLimit> {
        TimestampLimit::parse(native, true)
    }

    /// DATETIME; TIMESTAMP is stored as an instant.
    fn zone_less(&self, native: &str) -> bool {
        native.starts_with("datetime")
    }

    /// Without a looked-up collation, string keys get the binary one every
    /// server has (see `key_collation`).
    fn column_type(&self, t: &TargetColumn) -> String {
        column_type(t, "utf8mb4_bin")
    }

    fn cursor_index(&self, _table: &str, cursor: &str) -> CursorIndex {
        CursorIndex::Inline(format!(
            "KEY {} ({})",
            self.ident(cursor),
            self.ident(cursor)
        ))
    }

    fn leading_index_sql(&self, table: &str, column: &str) -> String {
        let (schema, bare) = split_table(table);
        let schema = schema.map_or_else(|| "DATABASE()".to_string(), |s| self.literal(s));
        format!(
            "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = {schema} \
             AND TABLE_NAME = {} AND SEQ_IN_INDEX = 1 AND COLUMN_NAME = {}",
            self.literal(bare),
            self.literal(column)
        )
    }

    fn table_options(&self) -> &'static str {
        " DEFAULT CHARSET=utf8mb4"
    }

    /// Each column as text (MariaDB renders doubles and decimals exactly),
    /// binary columns as hex. A FLOAT's own text has 6 significant digits
    /// (1.0000001 reads as 1): it is widened to DOUBLE first, which is exact.
    fn read_expr(&self, ident: &str, col: &NativeColumn) -> Option<String> {
        Some(if col.binary {
            format!("HEX({ident})")
        } else if self.single_precision(col) {
            format!("CAST({ident} + 0e0 AS CHAR)")
        } else {
            format!("CAST({ident} AS CHAR)")
        })
    }

    fn single_precision(&self, col: &NativeColumn) -> bool {
        base(&col.type_name) == "float"
    }

    fn lookback_applies(&self, col: &NativeColumn) -> bool {
        matches!(base(&col.type_name), "datetime" | "timestamp" | "date")
    }

    fn cursor_bound(&self, col: &NativeColumn, watermark: &str, lookback_secs: u64) -> String {
        let bound = if self.lookback_applies(col) {
            let mut s = format!("CAST({} AS DATETIME(6))", self.literal(watermark));
            if lookback_secs > 0 {
                s = format!("({s} - INTERVAL {lookback_secs} SECOND)");
            }
            s
        } else {
            self.literal(watermark)
        };
        format!("{} >= {bound}", self.ident(&col.name))
    }

    /// The session runs in UTC, so NOW() converts to the epoch unshifted.
    fn clock_sql(&self) -> Option<&'static str> {
        Some("SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)")
    }

    fn checksums(&self) -> Option<&'static dyn super::checksum::Checksums> {
        Some(&canon::MyChecksums)
    }

    fn snapshot_sql(&self) -> &'static str {
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"
    }

    fn begin_sql(&self) -> &'static str {
        "START TRANSACTION"
    }

    fn state_time_type(&self) -> &'static str {
        "DATETIME(6)"
    }

    fn upsert_one_sql(&self, table: &str, cols: &[(&str, String)]) -> String {
        let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
        let values: Vec<&str> = cols.iter().map(|(_, v)| v.as_str()).collect();
        let sets: Vec<String> = names[1..]
            .iter()
            .map(|n| format!("{n} = VALUES({n})"))
            .collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({}) ON DUPLICATE KEY UPDATE {}",
            self.table(table),
            names.join(", "),
            values.join(", "),
            sets.join(", ")
        )
    }

    /// Named locks are server-wide (not per database) and at most 64
    /// characters: the name is a hash of the database and the key. The
    /// server frees it when the session ends, however it ends.
    fn try_lock_sql(&self, key: u64) -> Option<String> {
        Some(format!(
            "SELECT COALESCE(GET_LOCK(CONCAT('dsp:', SHA1(CONCAT(DATABASE(), '/{key:016x}'))), 0), 0)"
        ))
    }

    fn lock_held_sql(&self, key: u64) -> Option<String> {
        Some(format!(
            "SELECT CAST(IS_USED_LOCK(CONCAT('dsp:', SHA1(CONCAT(DATABASE(), '/{key:016x}')))) \
             IS NOT NULL AS SIGNED)"
        ))
    }
}

fn ssl_mode(m: SslMode) -> MySqlSslMode {
    match m {
        SslMode::Disable => MySqlSslMode::Disabled,
        SslMode::Prefer => MySqlSslMode::Preferred,
        SslMode::Require => MySqlSslMode::Required,
        SslMode::VerifyCa => MySqlSslMode::VerifyCa,
        SslMode::VerifyFull => MySqlSslMode::VerifyIdentity,
    }
}

impl Connection for MySqlConnection {
    driver_basics!();

    /// As plain SQL: a prepared statement would cost MySQL a round trip more.
    fn scalar<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<i64>> {
        Box::pin(async move {
            let row = (&mut *self).fetch_one(sqlx::raw_sql(sql)).await?;
            Ok(row.try_get_unchecked(0)?)
        })
    }

    fn texts<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            let rows = (&mut *self).fetch_all(sqlx::raw_sql(sql)).await?;
            rows.iter()
                .map(|r| {
                    let t: Option<String> = r.try_get_unchecked(0)?;
                    Ok(t.unwrap_or_else(|| "NULL".into()))
                })
                .collect()
        })
    }

    fn version(&mut self) -> BoxFuture<'_, Result<String>> {
        Box::pin(async move {
            let v: String = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)")
                .fetch_one(&mut *self)
                .await?;
            Ok(if v.to_ascii_lowercase().contains("mariadb") {
                format!("MariaDB {v}")
            } else {
                format!("MySQL {v}")
            })
        })
    }

    fn insensitive_keys<'a>(
        &'a mut self,
        table: &'a str,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<FoldingKey>>> {
        Box::pin(insensitive_keys(self, table, keys))
    }

    /// String keys get a binary collation without pad space, where the
    /// server has one.
    fn column_types(&mut self) -> BoxFuture<'_, ColumnTypes> {
        Box::pin(async move {
            let collation = key_collation(self).await;
            Box::new(move |t: &TargetColumn| column_type(t, &collation)) as ColumnTypes
        })
    }

    fn stream<'a>(
        &'a mut self,
        sql: &'a str,
        b: &'a mut BatchBuilder,
    ) -> BoxFuture<'a, Result<()>> {
        let rows = (&mut *self).fetch(sqlx::raw_sql(sql));
        Box::pin(push_text_rows(rows, b))
    }

    fn into_target<'a>(self: Box<Self>, plan: &'a Plan) -> BoxFuture<'a, Result<Box<dyn Target>>> {
        Box::pin(async move {
            Ok(Box::new(writer::MyWriter::new(*self, plan).await?) as Box<dyn Target>)
        })
    }
}

async fn columns(c: &mut MySqlConnection, table: &str) -> Result<Option<Vec<NativeColumn>>> {
    let (schema, name) = split_table(table);
    let rows = sqlx::query(
        "SELECT CAST(COLUMN_NAME AS CHAR), CAST(LOWER(COLUMN_TYPE) AS CHAR), CAST(LOWER(DATA_TYPE) AS CHAR), \
         CAST(CHARACTER_MAXIMUM_LENGTH AS SIGNED), CAST(LOWER(CHARACTER_SET_NAME) AS CHAR) \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
         ORDER BY ORDINAL_POSITION",
    )
    .bind(schema)
    .bind(name)
    .fetch_all(&mut *c)
    .await
    ?;
    if rows.is_empty() {
        return Ok(None);
    }
    let json = mariadb_json_columns(c, schema, name).await;
    let mut out = Vec::new();
    for r in rows {
        let name: String = r.try_get_unchecked(0)?;
        let mut type_name: String = r.try_get_unchecked(1)?;
        if json.contains(&name) {
            type_name = "json".into();
        }
        let type_name_unsigned = type_name.contains("unsigned");
        let data_type: String = r.try_get_unchecked(2)?;
        let max: Option<i64> = r.try_get_unchecked(3)?;
        let charset: Option<String> = r.try_get_unchecked(4)?;
        let max_chars = match data_type.as_str() {
            "char" | "varchar" => max.map(|m| m.max(0) as usize),
            _ => None,
        };
        out.push(NativeColumn {
            name,
            binary: matches!(
                data_type.as_str(),
                "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob"
            ),
            naive_is_utc: data_type == "timestamp",
            // MariaDB's JSON is LONGTEXT in utf8mb4 whatever the table's
            // character set.
            utf8_text: type_name == "json"
                || matches!(
                    charset.as_deref(),
                    Some("utf8mb4" | "utf8mb3" | "utf8" | "ascii")
                ),
            type_name,
            max_chars,
            max_bytes: match data_type.as_str() {
                "tinytext" => Some(255),
                "text" => Some(65_535),
                "mediumtext" => Some(16_777_215),
                _ => None,
            },
            int_range: int_range(&data_type, type_name_unsigned),
        });
    }
    Ok(Some(out))
}

/// MariaDB stores JSON as LONGTEXT with a `json_valid(col)` check; those
/// columns are JSON to the mapping. (MySQL has a real JSON type, and its
/// CHECK_CONSTRAINTS lacks TABLE_NAME: the query fails and nothing changes.)
async fn mariadb_json_columns(
    c: &mut MySqlConnection,
    schema: Option<&str>,
    table: &str,
) -> Vec<String> {
    let clauses: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(CHECK_CLAUSE AS CHAR) FROM information_schema.CHECK_CONSTRAINTS \
         WHERE CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(&mut *c)
    .await
    .unwrap_or_default();
    clauses
        .iter()
        .filter_map(|cl| {
            let inner = cl.trim().strip_prefix("json_valid(`")?.strip_suffix("`)")?;
            Some(inner.replace("``", "`"))
        })
        .collect()
}

fn int_range(data_type: &str, unsigned: bool) -> Option<(i64, i64)> {
    let bits = match data_type {
        "tinyint" => 8,
        "smallint" => 16,
        "mediumint" => 24,
        "int" | "integer" => 32,
        "bigint" => 64,
        _ => return None,
    };
    match (bits, unsigned) {
        (64, false) => None,
        (64, true) => Some((0, i64::MAX)),
        (b, false) => Some((-(1i64 << (b - 1)), (1i64 << (b - 1)) - 1)),
        (b, true) => Some((0, (1i64 << b) - 1)),
    }
}

fn base(t: &str) -> &str {
    t.split(['(', ' ']).next().unwrap_or(t)
}

/// A binary collation WITHOUT pad space for string keys: under `utf8mb4_bin`
/// (PAD SPACE) `'a'` and `'a '` collide as keys, so one of two distinct source
/// rows would be lost or fail. MariaDB names it `utf8mb4_nopad_bin`, MySQL 8
/// `utf8mb4_0900_bin`; older servers only have the padding one.
async fn key_collation(c: &mut MySqlConnection) -> String {
    sqlx::query_scalar::<_, String>(
        "SELECT COLLATION_NAME FROM information_schema.COLLATIONS \
         WHERE COLLATION_NAME IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin') LIMIT 1",
    )
    .fetch_optional(&mut *c)
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| "utf8mb4_bin".into())
}

fn column_type(t: &TargetColumn, key_collation: &str) -> String {
    if t.key && t.ty == ColumnType::String {
        // Keys that differ only in case, accents or trailing spaces are
        // different rows in the source and must stay so.
        return format!("VARCHAR(255) CHARACTER SET utf8mb4 COLLATE {key_collation}");
    }
    // Keys and the indexed cursor need a bounded type; everything else the
    // largest one, so that no value is cut.
    let indexed = t.key || t.cursor;
    let ty = match t.ty {
        ColumnType::Integer => "BIGINT",
        ColumnType::Float => "DOUBLE",
        ColumnType::Decimal => "DECIMAL(65,30)",
        ColumnType::String if indexed => "VARCHAR(255)",
        ColumnType::String => "LONGTEXT",
        ColumnType::Boolean => "TINYINT(1)",
        ColumnType::Timestamp => "DATETIME(6)",
        ColumnType::Date => "DATE",
        ColumnType::Time => "TIME(6)",
        ColumnType::Json => "JSON",
        ColumnType::Uuid => "CHAR(36)",
        ColumnType::Bytes if indexed => "VARBINARY(255)",
        ColumnType::Bytes => "LONGBLOB",
    };
    ty.to_string()
}

/// Key columns whose collation treats different strings as equal (case- or
/// accent-insensitive), as `(column, collation)`.
async fn insensitive_keys(
    c: &mut MySqlConnection,
    table: &str,
    keys: &[String],
) -> Result<Vec<FoldingKey>> {
    let (schema, name) = split_table(table);
    let rows = sqlx::query(
        "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLLATION_NAME AS CHAR) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLLATION_NAME IS NOT NULL",
    )
    .bind(schema)
    .bind(name)
    .fetch_all(&mut *c)
    .await
    ?;
    let mut out = Vec::new();
    for r in rows {
        let col: String = r.try_get_unchecked(0)?;
        let coll: String = r.try_get_unchecked(1)?;
        if !keys.iter().any(|k| k.eq_ignore_ascii_case(&col)) {
            continue;
        }
        if let Some(folds) = folding(&coll) {
            out.push(FoldingKey {
                column: col,
                collation: coll,
                folds,
            });
        }
    }
    Ok(out)
}

/// How a collation folds distinct strings into one: `_ci`/`_ai` fold case
/// and accents; every collation but the NO PAD ones (MariaDB's `_nopad_`,
/// MySQL 8's `_0900_`) ignores trailing spaces.
fn folding(collation: &str) -> Option<Folding> {
    let lower = collation.to_ascii_lowercase();
    if lower.ends_with("_ci") || lower.contains("_ai") {
        Some(Folding::CaseOrAccent)
    } else if lower == "binary" || lower.contains("_nopad_") || lower.contains("_0900_") {
        None
    } else {
        Some(Folding::TrailingSpace)
    }
}

/// Whether a unique index (or the primary key) covers exactly `keys`.
async fn has_unique_key(c: &mut MySqlConnection, table: &str, keys: &[String]) -> Result<bool> {
    let (schema, name) = split_table(table);
    let rows = sqlx::query(
        "SELECT CAST(INDEX_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR) FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0",
    )
    .bind(schema)
    .bind(name)
    .fetch_all(&mut *c)
    .await
    ?;
    let mut by_index: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in rows {
        let idx: String = r.try_get_unchecked(0)?;
        let col: String = r.try_get_unchecked(1)?;
        by_index.entry(idx).or_default().push(col);
    }
    Ok(by_index.into_values().any(|cols| same_columns(cols, keys)))
}
