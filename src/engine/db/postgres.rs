//! PostgreSQL: connecting, introspection, DDL, and the snapshot read — whose
//! row count can run on a second connection that imports the same snapshot.
//! The write side (COPY into a staging table merged with one set-based
//! upsert) is in `writer`.

use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, Executor, PgConnection, Row};

use super::connect::Endpoint;
use super::dialect::{CursorIndex, Dialect};
use super::plan::{NativeColumn, Plan, TargetColumn, TargetRules};
use super::read::BatchBuilder;
use super::session::{Conn, Connection, RangePiece, driver_basics, query_i64, query_texts};
use super::sql::split_table;
use super::target::Target;
use crate::engine::error::Result;
use crate::engine::types::Calendar;
use crate::workspace::{ColumnType, SslMode};

mod binary;
pub(crate) mod binary_read;
mod canon;
mod ranges;
mod writer;

pub struct Postgres;
pub static POSTGRES: Postgres = Postgres;
const D: &Postgres = &POSTGRES;

impl Dialect for Postgres {
    fn connect<'a>(&'static self, to: Endpoint<'a>) -> BoxFuture<'a, Result<Conn>> {
        Box::pin(async move {
            let net = to.net;
            let mut o = PgConnectOptions::new()
                .host(net.host.as_deref().unwrap_or("localhost"))
                .port(net.effective_port().unwrap_or(5432))
                .database(&net.database)
                .ssl_mode(ssl_mode(net.ssl()))
                .application_name("dsp")
                .options([("TimeZone", "UTC"), ("bytea_output", "hex")]);
            if let Some(u) = &net.username {
                o = o.username(u);
            }
            if let Some(p) = to.password {
                o = o.password(p);
            }
            let mut c = o.disable_statement_logging().connect().await?;
            c.execute("SET TIME ZONE 'UTC'").await?;
            // PostgreSQL 14+: a backend whose client went away (a cancelled
            // or killed run) stops its statement and rolls back within a
            // second, instead of finishing a long merge first. Older
            // servers do not know the setting; that is fine.
            let _ = c
                .execute("SET client_connection_check_interval = 1000")
                .await;
            Ok(Box::new(c) as Conn)
        })
    }

    fn guess(&self, n: &NativeColumn) -> ColumnType {
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

    fn compatible(&self, ty: ColumnType, n: &NativeColumn) -> bool {
        let t = n.type_name.as_str();
        let texty = t == "text" || t.starts_with("character") || t == "citext" || t == "name";
        if texty {
            return ty != ColumnType::Bytes;
        }
        match ty {
            ColumnType::Integer => {
                matches!(t, "smallint" | "integer" | "bigint") || t.starts_with("numeric")
            }
            ColumnType::Float => {
                matches!(t, "real" | "double precision") || t.starts_with("numeric")
            }
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

    /// Text cannot hold a NUL character; numerics, dates and times hold
    /// every special value.
    fn target_rules(&self) -> TargetRules {
        TargetRules {
            no_nul: true,
            special_numerics: true,
            calendar: Calendar {
                infinities: true,
                end_of_day: true,
                years: None,
                engine: "PostgreSQL",
            },
            ..TargetRules::default()
        }
    }

    fn zone_less(&self, native: &str) -> bool {
        native.starts_with("timestamp") && native.contains("without time zone")
    }

    fn column_type(&self, t: &TargetColumn) -> String {
        match t.ty {
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
        .to_string()
    }

    /// The index lives in the table's schema; its name is cut to
    /// PostgreSQL's 63-character limit.
    fn cursor_index(&self, table: &str, cursor: &str) -> CursorIndex {
        let (_, bare) = split_table(table);
        let name: String = format!("{bare}_{cursor}_idx").chars().take(63).collect();
        CursorIndex::Statement(format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
            self.ident(&name),
            self.table(table),
            self.ident(cursor)
        ))
    }

    /// `pg_index.indkey[0]` is an index's first column; a partial index
    /// does not serve every read.
    fn leading_index_sql(&self, table: &str, column: &str) -> String {
        format!(
            "SELECT COUNT(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid \
             AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass({}) \
             AND i.indpred IS NULL AND a.attname = {}",
            self.literal(&self.table(table)),
            self.literal(column)
        )
    }

    fn select_list(&self, plan: &Plan) -> String {
        binary_read::select_list(self, plan)
    }

    /// A column read as text: PostgreSQL's text output is exact for every type.
    fn read_expr(&self, ident: &str, col: &NativeColumn) -> Option<String> {
        Some(if col.binary {
            format!("encode({ident}, 'hex')")
        } else {
            format!("{ident}::text")
        })
    }

    fn single_precision(&self, col: &NativeColumn) -> bool {
        col.type_name == "real"
    }

    fn lookback_applies(&self, col: &NativeColumn) -> bool {
        col.type_name.starts_with("timestamp") || col.type_name == "date"
    }

    /// `cursor >= watermark - lookback`, in the cursor column's own type.
    fn cursor_bound(&self, col: &NativeColumn, watermark: &str, lookback_secs: u64) -> String {
        let temporal = self.lookback_applies(col);
        let mut bound = format!("CAST({} AS {})", self.literal(watermark), col.type_name);
        if lookback_secs > 0 && temporal {
            bound = format!("({bound} - interval '{lookback_secs} seconds')");
        }
        format!("{} >= {bound}", self.ident(&col.name))
    }

    /// PostgreSQL sorts NULLs last in ascending order.
    fn asc_nulls_first(&self) -> &'static str {
        " ASC NULLS FIRST"
    }

    /// `now()` is the transaction's start: the snapshot's own moment.
    fn clock_sql(&self) -> Option<&'static str> {
        Some("SELECT CAST(EXTRACT(EPOCH FROM now()) * 1000000 AS bigint)")
    }

    fn checksums(&self) -> Option<&'static dyn super::checksum::Checksums> {
        Some(&canon::PgChecksums)
    }

    fn snapshot_sql(&self) -> &'static str {
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    }

    fn state_time_type(&self) -> &'static str {
        "TIMESTAMPTZ"
    }

    /// A session-level advisory lock: held until released or the session
    /// ends, which the server notices even when the holder is killed.
    fn try_lock_sql(&self, key: u64) -> Option<String> {
        Some(format!(
            "SELECT CAST(CASE WHEN pg_try_advisory_lock({}) THEN 1 ELSE 0 END AS BIGINT)",
            key as i64
        ))
    }

    /// A bigint advisory lock shows in `pg_locks` as its high and low 32
    /// bits (`classid`, `objid`) with `objsubid` 1, in its database.
    fn lock_held_sql(&self, key: u64) -> Option<String> {
        Some(format!(
            "SELECT CAST(EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND classid = {} AND objid = {} AND objsubid = 1 AND granted) AS INT)::bigint",
            key >> 32,
            key & 0xffff_ffff
        ))
    }

    fn temp_schema(&self) -> Option<&'static str> {
        Some("pg_temp")
    }

    /// PostgreSQL exports snapshots: key ranges read at once share one.
    fn reads_in_ranges(&self) -> bool {
        true
    }

    /// PostgreSQL exports snapshots: the count beside the read shares it.
    fn counts_alongside(&self) -> bool {
        true
    }

    /// A session's temporary table is its own, and staging takes no lock on
    /// the target.
    fn stages_ahead(&self) -> bool {
        true
    }
}

fn ssl_mode(m: SslMode) -> PgSslMode {
    match m {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require => PgSslMode::Require,
        SslMode::VerifyCa => PgSslMode::VerifyCa,
        SslMode::VerifyFull => PgSslMode::VerifyFull,
    }
}

impl Connection for PgConnection {
    driver_basics!();

    fn scalar<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<i64>> {
        query_i64::<sqlx::Postgres>(self, sql)
    }

    fn texts<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        query_texts::<sqlx::Postgres>(self, sql)
    }

    fn version(&mut self) -> BoxFuture<'_, Result<String>> {
        Box::pin(async move {
            let v: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(&mut *self)
                .await?;
            Ok(format!("PostgreSQL {v}"))
        })
    }

    fn end_snapshot(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.execute("ROLLBACK").await;
        })
    }

    fn count_alongside(
        &mut self,
        counter: Conn,
        sql: String,
        go: Option<tokio::sync::oneshot::Receiver<()>>,
    ) -> BoxFuture<'_, Result<Option<tokio::task::JoinHandle<Result<u64>>>>> {
        Box::pin(count_alongside(self, counter, sql, go))
    }

    /// `ORDER BY cursor, key` over an index on the cursor alone: with its usual
    /// small estimate for a range past the watermark, the planner sorts the whole
    /// range before the first row leaves (the 10,000 changed rows of a benchmark
    /// run: 23 ms before the writer could start). An incremental sort streams in
    /// index order, sorting only rows that share a cursor value; disabling the
    /// full sort (for this read transaction only) makes the planner take it.
    /// Only where such an index exists: without one the sort stays, and its
    /// disabled cost would push the plan past the JIT thresholds.
    fn stream_in_index_order(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.execute("SET LOCAL enable_sort = off").await?;
            Ok(())
        })
    }

    fn stream<'a>(
        &'a mut self,
        sql: &'a str,
        b: &'a mut BatchBuilder,
    ) -> BoxFuture<'a, Result<()>> {
        if b.wants_wire() {
            return Box::pin(binary_read::stream_wire(self, sql, b));
        }
        let rows = sqlx::query(sql).persistent(false).fetch(&mut *self);
        Box::pin(binary_read::push_rows(rows, b))
    }

    fn share_snapshot(&mut self, others: Vec<Conn>) -> BoxFuture<'_, Result<Vec<Conn>>> {
        Box::pin(ranges::share_snapshot(self, others))
    }

    fn stream_ranges<'a>(
        &'a mut self,
        sql: &'a str,
        others: Vec<(Conn, String)>,
        b: &'a mut BatchBuilder,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(ranges::stream_ranges(self, sql, others, b))
    }

    fn copy_range(
        self: Box<Self>,
        sql: String,
        id: usize,
        tx: tokio::sync::mpsc::Sender<RangePiece>,
    ) -> BoxFuture<'static, ()> {
        Box::pin(ranges::copy_range(*self, sql, id, tx))
    }

    fn sends_wire(&self, plan: &Plan) -> bool {
        binary_read::wire_ok(plan)
    }

    fn into_target<'a>(self: Box<Self>, plan: &'a Plan) -> BoxFuture<'a, Result<Box<dyn Target>>> {
        Box::pin(async move { Ok(Box::new(writer::PgWriter::new(*self, plan)) as Box<dyn Target>) })
    }
}

async fn columns(c: &mut PgConnection, table: &str) -> Result<Option<Vec<NativeColumn>>> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(D.table(table))
        .fetch_one(&mut *c)
        .await?;
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
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let name: String = r.try_get(0)?;
        let type_name: String = r.try_get(1)?;
        let typname: String = r.try_get(2)?;
        let typmod: i32 = r.try_get(3)?;
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
            utf8_text: false,
        });
    }
    Ok(Some(out))
}

/// Whether the primary key or a unique index covers exactly `keys`.
async fn has_unique_key(c: &mut PgConnection, table: &str, keys: &[String]) -> Result<bool> {
    let mut sorted = keys.to_vec();
    sorted.sort();
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1) \
         AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL \
         AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a \
              WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = $2::text[])",
    )
    .bind(D.table(table))
    .bind(sorted)
    .fetch_one(&mut *c)
    .await?)
}

/// Starts the count `sql` on `counter`, inside `main`'s read transaction's
/// own snapshot, so that it runs while the rows stream and still agrees with
/// them exactly; with `go`, only once it says so (the snapshot is imported
/// now, while the read's transaction surely exists). `Ok(None)` when the
/// server or a pooler will not share snapshots: the caller counts in line then.
async fn count_alongside(
    main: &mut PgConnection,
    mut counter: Conn,
    sql: String,
    go: Option<tokio::sync::oneshot::Receiver<()>>,
) -> Result<Option<tokio::task::JoinHandle<Result<u64>>>> {
    let Some(id) = export_snapshot(main).await? else {
        counter.close().await;
        return Ok(None);
    };
    // The count only has to end before the read does; parallel workers
    // for it would take cores from the server's side of the read itself
    // (a first copy on 2 cores: three processes counting for 0.2 s).
    let serial = "SET LOCAL max_parallel_workers_per_gather = 0";
    if !import_snapshot(&mut counter, &id).await || counter.exec(serial).await.is_err() {
        counter.close().await;
        return Ok(None);
    }
    Ok(Some(tokio::spawn(async move {
        if let Some(go) = go
            && go.await.is_err()
        {
            counter.end_snapshot().await;
            counter.close().await;
            return Ok(0);
        }
        let n = counter.count(&sql).await;
        counter.end_snapshot().await;
        counter.close().await;
        n
    })))
}

/// Exports the read transaction's snapshot for other sessions to import;
/// `None` when the server or a pooler will not (the read transaction is
/// then begun again, as the failed statement aborted it).
pub(super) async fn export_snapshot(main: &mut PgConnection) -> Result<Option<String>> {
    let exported: std::result::Result<String, sqlx::Error> =
        sqlx::query_scalar("SELECT pg_export_snapshot()")
            .persistent(false)
            .fetch_one(&mut *main)
            .await;
    match exported {
        Ok(id) => Ok(Some(id)),
        Err(_) => {
            main.end_snapshot().await;
            main.begin_snapshot().await?;
            Ok(None)
        }
    }
}

/// Begins `other`'s read transaction on snapshot `id`; whether it could.
pub(super) async fn import_snapshot(other: &mut Conn, id: &str) -> bool {
    let import = format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}",
        D.literal(id)
    );
    other.exec(&import).await.is_ok()
}
