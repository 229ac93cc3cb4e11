//! MySQL/MariaDB: introspection, DDL, the consistent-snapshot read, and bulk
//! writes as prepared multi-row INSERTs with binary parameters into a staging
//! table, merged with one INSERT ... SELECT ... ON DUPLICATE KEY UPDATE.

use futures::TryStreamExt;
use sqlx::mysql::MySqlArguments;
use sqlx::{Arguments, Executor, MySqlConnection, Row};

use super::plan::{NativeColumn, Plan, TargetColumn};
use super::read::BatchBuilder;
use super::sql::{Dialect, db_err, split_table};
use crate::engine::types::{Raw, Value, hex_decode};
use crate::workspace::ColumnType;

const D: Dialect = Dialect::Mysql;

pub async fn version(c: &mut MySqlConnection) -> Result<String, String> {
    let v: String = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)")
        .fetch_one(&mut *c)
        .await
        .map_err(|e| db_err(&e))?;
    Ok(if v.to_ascii_lowercase().contains("mariadb") {
        format!("MariaDB {v}")
    } else {
        format!("MySQL {v}")
    })
}

pub async fn columns(
    c: &mut MySqlConnection,
    table: &str,
) -> Result<Option<Vec<NativeColumn>>, String> {
    let (schema, name) = split_table(table);
    let rows = sqlx::query(
        "SELECT CAST(COLUMN_NAME AS CHAR), CAST(LOWER(COLUMN_TYPE) AS CHAR), CAST(LOWER(DATA_TYPE) AS CHAR), \
         CAST(CHARACTER_MAXIMUM_LENGTH AS SIGNED) \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
         ORDER BY ORDINAL_POSITION",
    )
    .bind(schema)
    .bind(name)
    .fetch_all(&mut *c)
    .await
    .map_err(|e| db_err(&e))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let json = mariadb_json_columns(c, schema, name).await;
    let mut out = Vec::new();
    for r in rows {
        let name: String = r.try_get_unchecked(0).map_err(|e| db_err(&e))?;
        let mut type_name: String = r.try_get_unchecked(1).map_err(|e| db_err(&e))?;
        if json.contains(&name) {
            type_name = "json".into();
        }
        let type_name_unsigned = type_name.contains("unsigned");
        let data_type: String = r.try_get_unchecked(2).map_err(|e| db_err(&e))?;
        let max: Option<i64> = r.try_get_unchecked(3).map_err(|e| db_err(&e))?;
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

pub fn guess(n: &NativeColumn) -> ColumnType {
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

pub fn compatible(ty: ColumnType, n: &NativeColumn) -> bool {
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

pub async fn create_table(
    c: &mut MySqlConnection,
    table: &str,
    cols: &[TargetColumn],
) -> Result<(), String> {
    let collation = key_collation(c).await;
    let defs: Vec<String> = cols
        .iter()
        .map(|t| {
            let not_null = if t.key { " NOT NULL" } else { "" };
            format!(
                "{} {}{not_null}",
                D.ident(&t.name),
                column_type(t, &collation)
            )
        })
        .collect();
    let keys: Vec<String> = cols
        .iter()
        .filter(|t| t.key)
        .map(|t| t.name.clone())
        .collect();
    let mut extra = String::new();
    if let Some(cur) = cols.iter().find(|t| t.cursor && !t.key) {
        extra = format!(", KEY {} ({})", D.ident(&cur.name), D.ident(&cur.name));
    }
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}){extra}) DEFAULT CHARSET=utf8mb4",
        D.table(table),
        defs.join(", "),
        D.idents(&keys, "")
    );
    (&mut *c)
        .execute(sqlx::raw_sql(&sql))
        .await
        .map_err(|e| db_err(&e))?;
    Ok(())
}

// ---- source ----

pub async fn begin_snapshot(c: &mut MySqlConnection) -> Result<(), String> {
    (&mut *c)
        .execute(sqlx::raw_sql(
            "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
        ))
        .await
        .map_err(|e| db_err(&e))?;
    Ok(())
}

/// Nothing to send: the reader closes the connection right after, which ends
/// the read-only transaction.
pub async fn end_snapshot(_c: &mut MySqlConnection) {}

pub async fn count(c: &mut MySqlConnection, sql: &str) -> Result<u64, String> {
    let row = (&mut *c)
        .fetch_one(sqlx::raw_sql(sql))
        .await
        .map_err(|e| db_err(&e))?;
    let n: i64 = row.try_get_unchecked(0).map_err(|e| db_err(&e))?;
    Ok(n.max(0) as u64)
}

/// Each column as text (MariaDB renders doubles and decimals exactly), binary
/// columns as hex.
pub fn select_list(plan: &Plan) -> String {
    plan.read
        .iter()
        .enumerate()
        .map(|(i, r)| {
            // Aliased so that ORDER BY names the column, never this text.
            if r.native.binary {
                format!("HEX({}) AS dsp_c{i}", D.ident(&r.name))
            } else {
                format!("CAST({} AS CHAR) AS dsp_c{i}", D.ident(&r.name))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn cursor_bound(col: &NativeColumn, watermark: &str, lookback_secs: u64) -> String {
    let b = base(&col.type_name);
    let bound = if matches!(b, "datetime" | "timestamp" | "date") {
        let mut s = format!("CAST({} AS DATETIME(6))", D.literal(watermark));
        if lookback_secs > 0 {
            s = format!("({s} - INTERVAL {lookback_secs} SECOND)");
        }
        s
    } else {
        D.literal(watermark)
    };
    format!("{} >= {bound}", D.ident(&col.name))
}

/// Boxed so that the spawned reader's future is `Send` (sqlx's streams trip
/// the compiler's higher-ranked lifetime check otherwise).
pub fn stream<'a>(
    c: &'a mut MySqlConnection,
    sql: &'a str,
    b: &'a mut BatchBuilder,
) -> futures::future::BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        let binary: Vec<bool> = b.plan().read.iter().map(|r| r.native.binary).collect();
        let mut rows = (&mut *c).fetch(sqlx::raw_sql(sql));
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

pub struct MyWriter {
    conn: MySqlConnection,
    table: String,
    cols: String,
    names: Vec<String>,
    keys: Vec<String>,
    non_keys: Vec<String>,
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
    pub async fn new(mut conn: MySqlConnection, plan: &Plan) -> Result<Self, String> {
        let packet: i64 = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS SIGNED)")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| db_err(&e))?;
        let flush_bytes = ((packet.max(1 << 20) as usize) / 2).min(8 << 20);
        let ncols = plan.targets.len().max(1);
        Ok(MyWriter {
            conn,
            table: D.table(&plan.target_table),
            cols: D.idents(&plan.target_names(), ""),
            names: plan.target_names(),
            keys: plan.key_names(),
            non_keys: plan.non_key_names(),
            args: MySqlArguments::default(),
            pending: 0,
            pending_bytes: 0,
            to_stage: true,
            rows_per_stmt: (MAX_PLACEHOLDERS / ncols).clamp(1, MAX_ROWS_PER_STMT),
            flush_bytes,
        })
    }

    fn insert_sql(&self, rows: usize) -> String {
        let dest = if self.to_stage {
            "dsp_stage"
        } else {
            self.table.as_str()
        };
        let one = format!("({})", vec!["?"; self.names.len()].join(","));
        let mut sql = format!("INSERT INTO {dest} ({}) VALUES ", self.cols);
        sql.reserve(rows * (one.len() + 1));
        for i in 0..rows {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&one);
        }
        sql
    }

    async fn exec(&mut self, sql: &str) -> Result<u64, String> {
        (&mut self.conn)
            .execute(sqlx::raw_sql(sql))
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| db_err(&e))
    }

    pub async fn create_stage(&mut self) -> Result<(), String> {
        self.exec("DROP TEMPORARY TABLE IF EXISTS dsp_stage")
            .await?;
        // Selected through an outer join, every column comes out nullable
        // (plain CREATE ... SELECT keeps NOT NULL), so a failed row's key can be
        // staged with NULL in the other columns.
        let sql = format!(
            "CREATE TEMPORARY TABLE dsp_stage AS SELECT {} FROM (SELECT 1 AS dsp_one) AS d \
             LEFT JOIN {} AS t ON 1 = 0 WHERE 1 = 0",
            D.idents(&self.names, "t."),
            self.table
        );
        self.exec(&sql).await.map_err(|e| {
            // A login allowed only to change rows cannot stage; say what to grant.
            if e.contains("denied") {
                format!(
                    "{e}; rows are staged in a temporary table first: GRANT CREATE TEMPORARY TABLES on this database to the target user"
                )
            } else {
                e
            }
        })?;
        // An index for the anti-join of the delete; a key type MySQL cannot
        // index as is only makes that join slower.
        let idx = format!(
            "ALTER TABLE dsp_stage ADD INDEX dsp_stage_key ({})",
            D.idents(&self.keys, "")
        );
        let _ = self.exec(&idx).await;
        Ok(())
    }

    pub async fn begin(&mut self) -> Result<(), String> {
        self.exec("START TRANSACTION").await.map(|_| ())
    }

    pub async fn commit(&mut self) -> Result<(), String> {
        self.exec("COMMIT").await.map(|_| ())
    }

    pub async fn rollback(&mut self) {
        let _ = self.exec("ROLLBACK").await;
    }

    pub async fn count(&mut self, stage: bool) -> Result<u64, String> {
        let sql = format!(
            "SELECT COUNT(*) FROM {}",
            if stage { "dsp_stage" } else { &self.table }
        );
        count(&mut self.conn, &sql).await
    }

    pub async fn write(&mut self, rows: &[Vec<Value>], stage: bool) -> Result<(), String> {
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

    pub async fn flush(&mut self) -> Result<(), String> {
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
            .await
            .map(|_| ())
            .map_err(|e| db_err(&e))
    }

    pub async fn delete_missing(&mut self) -> Result<u64, String> {
        let on: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("s.{k} = t.{k}", k = D.ident(k)))
            .collect();
        let sql = format!(
            "DELETE t FROM {} AS t LEFT JOIN dsp_stage AS s ON {} WHERE s.{} IS NULL",
            self.table,
            on.join(" AND "),
            D.ident(&self.keys[0])
        );
        self.exec(&sql).await
    }

    /// `_unchanged_likely` tunes PostgreSQL's statement only (see
    /// `PgWriter::upsert`).
    pub async fn upsert(&mut self, _unchanged_likely: bool) -> Result<u64, String> {
        let sets: Vec<String> = if self.non_keys.is_empty() {
            let k = D.ident(&self.keys[0]);
            vec![format!("{k} = {k}")]
        } else {
            self.non_keys
                .iter()
                .map(|c| format!("{c} = VALUES({c})", c = D.ident(c)))
                .collect()
        };
        let sql = format!(
            "INSERT INTO {} ({cols}) SELECT {cols} FROM dsp_stage ON DUPLICATE KEY UPDATE {}",
            self.table,
            sets.join(", "),
            cols = self.cols
        );
        self.exec(&sql).await
    }

    pub async fn clear_stage(&mut self) -> Result<(), String> {
        self.exec("DELETE FROM dsp_stage").await.map(|_| ())
    }

    pub async fn close(self) {
        let _ = sqlx::Connection::close(self.conn).await;
    }
}

/// Binds one value as a binary parameter; returns roughly its size on the wire.
fn bind(args: &mut MySqlArguments, v: &Value) -> Result<usize, String> {
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
    };
    r.map_err(|e| format!("cannot send a value to MySQL: {e}"))?;
    Ok(match v {
        Value::Decimal(s) | Value::Text(s) | Value::Json(s) => s.len() + 9,
        Value::Bytes(b) => b.len() + 9,
        _ => 16,
    })
}

/// Key columns whose collation treats different strings as equal (case- or
/// accent-insensitive), as `(column, collation)`.
pub async fn insensitive_keys(
    c: &mut MySqlConnection,
    table: &str,
    keys: &[String],
) -> Result<Vec<(String, String)>, String> {
    let (schema, name) = split_table(table);
    let rows = sqlx::query(
        "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLLATION_NAME AS CHAR) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLLATION_NAME IS NOT NULL",
    )
    .bind(schema)
    .bind(name)
    .fetch_all(&mut *c)
    .await
    .map_err(|e| db_err(&e))?;
    let mut out = Vec::new();
    for r in rows {
        let col: String = r.try_get_unchecked(0).map_err(|e| db_err(&e))?;
        let coll: String = r.try_get_unchecked(1).map_err(|e| db_err(&e))?;
        let lower = coll.to_ascii_lowercase();
        if keys.iter().any(|k| k.eq_ignore_ascii_case(&col))
            && (lower.ends_with("_ci") || lower.contains("_ai"))
        {
            out.push((col, coll));
        }
    }
    Ok(out)
}

/// Whether a unique index (or the primary key) covers exactly `keys`.
pub async fn has_unique_key(
    c: &mut MySqlConnection,
    table: &str,
    keys: &[String],
) -> Result<bool, String> {
    let (schema, name) = split_table(table);
    let rows = sqlx::query(
        "SELECT CAST(INDEX_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR) FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0",
    )
    .bind(schema)
    .bind(name)
    .fetch_all(&mut *c)
    .await
    .map_err(|e| db_err(&e))?;
    let mut by_index: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in rows {
        let idx: String = r.try_get_unchecked(0).map_err(|e| db_err(&e))?;
        let col: String = r.try_get_unchecked(1).map_err(|e| db_err(&e))?;
        by_index.entry(idx).or_default().push(col.to_lowercase());
    }
    let mut want: Vec<String> = keys.iter().map(|k| k.to_lowercase()).collect();
    want.sort();
    Ok(by_index.into_values().any(|mut cols| {
        cols.sort();
        cols == want
    }))
}
