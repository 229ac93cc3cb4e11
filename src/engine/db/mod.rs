//! Each database dialect's SQL, reads and bulk writes, one module per engine.
//!
//! OWNER: engine helper. Contract used by the TUI and `dsp check`:
//! - `test_connection` (Network tab `t`): the server version or an error sentence.
//! - `introspect_columns` (Schema tab): the source table's columns with a guessed
//!   canonical type.
//! - `check_job` (`dsp check --connect`): problems with a job's tables.
//!
//! The runner talks to the dialects through [`Source`] and [`Writer`], which
//! dispatch to `postgres`, `mysql` or `sqlite`. A source streams text (or
//! SQLite's own values) that `types::convert` turns into canonical values; a
//! writer bulk-loads them (PostgreSQL: one streaming COPY; MySQL: prepared
//! multi-row INSERTs with binary values; SQLite: prepared multi-row INSERTs)
//! into the target or a staging table and merges with set-based SQL. Faster paths for a given pair
//! of engines belong in the dialect modules behind these same calls.

pub mod connect;
pub mod mysql;
pub mod plan;
pub mod postgres;
pub mod read;
pub mod sql;
pub mod sqlite;

use connect::{Conn, Role, connect};
use plan::{NativeColumn, Plan, TargetColumn};
use read::BatchBuilder;
use sql::Dialect;

use crate::workspace::{ColumnType, EngineKind, Job, Network, Schema, Workspace};

/// Connects to the network and returns the server's version string.
pub async fn test_connection(workspace: &Workspace, network: &Network) -> Result<String, String> {
    if network.kind == EngineKind::Sqlite && !workspace.sqlite_path(network).exists() {
        return Ok(format!(
            "SQLite (the file {} does not exist yet; a job writing to it creates it)",
            workspace.sqlite_path(network).display()
        ));
    }
    let mut conn = connect(workspace, network, Role::Source).await?;
    let v = version(&mut conn)
        .await
        .map_err(|e| format!("network \"{}\": {e}", network.name));
    conn.close().await;
    v
}

/// The columns of `table` on `network`, in table order, with their canonical type.
pub async fn introspect_columns(
    workspace: &Workspace,
    network: &Network,
    table: &str,
) -> Result<Vec<(String, ColumnType)>, String> {
    let mut conn = connect(workspace, network, Role::Source).await?;
    let cols = columns(&mut conn, table).await;
    let d = conn.dialect();
    conn.close().await;
    match cols.map_err(|e| format!("network \"{}\": {e}", network.name))? {
        None => Err(no_table(network, table)),
        Some(cols) => Ok(cols.iter().map(|c| (c.name.clone(), guess(d, c))).collect()),
    }
}

/// Connects to the job's source and target and checks the tables and columns
/// its schema names; each problem is one sentence, none means ready.
pub async fn check_job(workspace: &Workspace, job: &Job) -> Vec<String> {
    match check_job_inner(workspace, job).await {
        Ok(()) => Vec::new(),
        Err(problems) => problems,
    }
}

async fn check_job_inner(ws: &Workspace, job: &Job) -> Result<(), Vec<String>> {
    let (schema, source, target) = job_parts(ws, job).map_err(|e| vec![e])?;
    let mut problems = Vec::new();
    let mut targets = plan::target_columns(schema);
    let mut limits = vec![plan::Limit::default(); targets.len()];
    let target_file_missing = target.kind == EngineKind::Sqlite && !ws.sqlite_path(target).exists();
    if !target_file_missing {
        match connect(ws, target, Role::Target).await {
            Err(e) => problems.push(e),
            Ok(mut conn) => {
                match columns(&mut conn, &schema.target_table).await {
                    Err(e) => problems.push(format!("network \"{}\": {e}", target.name)),
                    // A missing target table is created by the first run.
                    Ok(None) => {}
                    Ok(Some(natives)) => match check_existing_target(
                        &mut conn,
                        target,
                        &schema.target_table,
                        &mut targets,
                        &natives,
                    )
                    .await
                    {
                        Ok(l) => limits = l,
                        Err(e) => problems.push(e),
                    },
                }
                conn.close().await;
            }
        }
    }
    match connect(ws, source, Role::Source).await {
        Err(e) => problems.push(e),
        Ok(mut conn) => {
            match columns(&mut conn, &schema.source_table).await {
                Err(e) => problems.push(format!("network \"{}\": {e}", source.name)),
                Ok(None) => problems.push(no_table(source, &schema.source_table)),
                Ok(Some(natives)) => {
                    if let Err(e) = plan::resolve(
                        schema,
                        source,
                        &natives,
                        targets,
                        &limits,
                        plan::TargetRules::default(),
                    ) {
                        problems.push(e);
                    }
                }
            }
            conn.close().await;
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The schema and networks a job names (the loader has checked that they exist;
/// a workspace built in code may not have).
pub fn job_parts<'a>(
    ws: &'a Workspace,
    job: &Job,
) -> Result<(&'a Schema, &'a Network, &'a Network), String> {
    let schema = ws.schema(&job.schema).ok_or_else(|| {
        format!(
            "job \"{}\": there is no schema named \"{}\"",
            job.name, job.schema
        )
    })?;
    let net = |n: &str| {
        ws.network(n)
            .ok_or_else(|| format!("job \"{}\": there is no network named \"{n}\"", job.name))
    };
    Ok((schema, net(&job.source)?, net(&job.target)?))
}

pub fn no_table(net: &Network, table: &str) -> String {
    format!(
        "table {table} does not exist on network \"{}\"; check the schema's table name",
        net.name
    )
}

pub async fn version(conn: &mut Conn) -> Result<String, String> {
    match conn {
        Conn::Pg(c) => postgres::version(c).await,
        Conn::My(c) => mysql::version(c).await,
        Conn::Lite(c) => sqlite::version(c).await,
    }
}

pub async fn columns(conn: &mut Conn, table: &str) -> Result<Option<Vec<NativeColumn>>, String> {
    match conn {
        Conn::Pg(c) => postgres::columns(c, table).await,
        Conn::My(c) => mysql::columns(c, table).await,
        Conn::Lite(c) => sqlite::columns(c, table).await,
    }
}

pub async fn has_unique_key(conn: &mut Conn, table: &str, keys: &[String]) -> Result<bool, String> {
    match conn {
        Conn::Pg(c) => postgres::has_unique_key(c, table, keys).await,
        Conn::My(c) => mysql::has_unique_key(c, table, keys).await,
        Conn::Lite(c) => sqlite::has_unique_key(c, table, keys).await,
    }
}

/// Target key columns that compare case- or accent-insensitively (MySQL
/// collations), as `(column, collation)`.
pub async fn insensitive_keys(
    conn: &mut Conn,
    table: &str,
    keys: &[String],
) -> Result<Vec<(String, String)>, String> {
    match conn {
        Conn::My(c) => mysql::insensitive_keys(c, table, keys).await,
        Conn::Pg(_) | Conn::Lite(_) => Ok(Vec::new()),
    }
}

/// Checks an existing target table: every mapped column present and able to
/// hold its type, and a unique key to match rows by. Returns the columns'
/// text length limits.
pub async fn check_existing_target(
    conn: &mut Conn,
    net: &Network,
    table: &str,
    targets: &mut [TargetColumn],
    natives: &[NativeColumn],
) -> Result<Vec<plan::Limit>, String> {
    let mut limits =
        plan::check_target(net, table, targets, natives, compatible_fn(conn.dialect()))?;
    // PostgreSQL and MySQL round a decimal to its column's scale without a
    // word (or refuse the whole statement when it is too large): such a value
    // fails its row instead. SQLite keeps any text.
    if conn.dialect() != Dialect::Sqlite {
        for (limit, t) in limits.iter_mut().zip(targets.iter()) {
            let native = t.native.as_deref();
            match t.ty {
                ColumnType::Decimal | ColumnType::Integer => {
                    limit.decimal = native.and_then(crate::engine::types::DecimalLimit::parse);
                }
                // Likewise a timestamp's fraction (and MySQL's ranges).
                ColumnType::Timestamp => {
                    limit.timestamp = native.and_then(|n| {
                        crate::engine::types::TimestampLimit::parse(
                            n,
                            conn.dialect() == Dialect::Mysql,
                        )
                    });
                    // A column without zone (MySQL DATETIME, PostgreSQL
                    // timestamp) holds the network's local time, both ways.
                    let naive = native.is_some_and(|n| {
                        n.starts_with("datetime")
                            || (n.starts_with("timestamp") && n.contains("without time zone"))
                    });
                    if naive && net.timezone.is_some() {
                        let tz = crate::engine::types::parse_tz(net.timezone_name())
                            .map_err(|e| format!("network \"{}\": timezone {e}", net.name))?;
                        if tz != chrono_tz::Tz::UTC {
                            limit.write_tz = Some(tz);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let keys: Vec<String> = targets
        .iter()
        .filter(|t| t.key)
        .map(|t| t.name.clone())
        .collect();
    let unique = has_unique_key(conn, table, &keys)
        .await
        .map_err(|e| format!("network \"{}\": {e}", net.name))?;
    if !unique {
        return Err(format!(
            "target table {table} on network \"{}\" has no primary key or unique index on ({}); add one, so that rows can be matched by key",
            net.name,
            keys.join(", ")
        ));
    }
    Ok(limits)
}

pub fn guess(d: Dialect, n: &NativeColumn) -> ColumnType {
    match d {
        Dialect::Postgres => postgres::guess(n),
        Dialect::Mysql => mysql::guess(n),
        Dialect::Sqlite => sqlite::guess(n),
    }
}

pub fn compatible_fn(d: Dialect) -> fn(ColumnType, &NativeColumn) -> bool {
    match d {
        Dialect::Postgres => postgres::compatible,
        Dialect::Mysql => mysql::compatible,
        Dialect::Sqlite => sqlite::compatible,
    }
}

pub async fn create_table(
    conn: &mut Conn,
    table: &str,
    cols: &[TargetColumn],
) -> Result<(), String> {
    match conn {
        Conn::Pg(c) => postgres::create_table(c, table, cols).await,
        Conn::My(c) => mysql::create_table(c, table, cols).await,
        Conn::Lite(c) => sqlite::create_table(c, table, cols).await,
    }
}

/// The read side of a run: a source connection inside its snapshot.
pub struct Source {
    pub conn: Conn,
    /// A second connection that counts the rows while `conn` streams them
    /// (see `count_alongside`); only where the snapshot can be shared.
    counter: Option<Conn>,
}

impl Source {
    pub fn new(conn: Conn, counter: Option<Conn>) -> Self {
        Source { conn, counter }
    }

    /// Whether a run should open the second connection `count_alongside`
    /// needs: PostgreSQL exports snapshots; MySQL and SQLite cannot share one.
    pub fn counts_alongside(net: &Network) -> bool {
        net.kind == EngineKind::Postgres
    }

    /// Starts the count `sql` on the second connection, inside this read
    /// transaction's own snapshot, so that it runs while the rows stream and
    /// still agrees with them exactly. Call after `begin_snapshot` and before
    /// streaming. `Ok(None)` when that cannot be arranged (no second
    /// connection, a server or pooler that will not share snapshots): count
    /// with `count` then, before streaming.
    pub async fn count_alongside(
        &mut self,
        sql: String,
    ) -> Result<Option<tokio::task::JoinHandle<Result<u64, String>>>, String> {
        let Some(counter) = self.counter.take() else {
            return Ok(None);
        };
        let (Conn::Pg(main), Conn::Pg(mut c)) = (&mut self.conn, counter) else {
            return Ok(None);
        };
        let Ok(id) = postgres::export_snapshot(main).await else {
            // The failed statement aborted the read transaction: begin again.
            postgres::end_snapshot(main).await;
            Conn::Pg(c).close().await;
            postgres::begin_snapshot(main).await?;
            return Ok(None);
        };
        if postgres::import_snapshot(&mut c, &id).await.is_err() {
            Conn::Pg(c).close().await;
            return Ok(None);
        }
        Ok(Some(tokio::spawn(async move {
            let n = postgres::count(&mut c, &sql).await;
            postgres::end_snapshot(&mut c).await;
            Conn::Pg(c).close().await;
            n
        })))
    }

    pub async fn begin_snapshot(&mut self) -> Result<(), String> {
        match &mut self.conn {
            Conn::Pg(c) => postgres::begin_snapshot(c).await,
            Conn::My(c) => mysql::begin_snapshot(c).await,
            Conn::Lite(c) => sqlite::begin_snapshot(c).await,
        }
    }

    pub async fn end_snapshot(&mut self) {
        match &mut self.conn {
            Conn::Pg(c) => postgres::end_snapshot(c).await,
            Conn::My(c) => mysql::end_snapshot(c).await,
            Conn::Lite(c) => sqlite::end_snapshot(c).await,
        }
    }

    pub async fn count(&mut self, sql: &str) -> Result<u64, String> {
        match &mut self.conn {
            Conn::Pg(c) => postgres::count(c, sql).await,
            Conn::My(c) => mysql::count(c, sql).await,
            Conn::Lite(c) => sqlite::count(c, sql).await,
        }
    }

    /// For a read ordered by an indexed cursor: rows should flow as they are
    /// read, not after the whole range is sorted (see `postgres::stream_in_index_order`).
    pub async fn stream_in_index_order(&mut self) -> Result<(), String> {
        match &mut self.conn {
            Conn::Pg(c) => postgres::stream_in_index_order(c).await,
            // InnoDB and SQLite indexes carry the key after the cursor, so
            // their index order already is (cursor, key).
            Conn::My(_) | Conn::Lite(_) => Ok(()),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.conn.dialect()
    }

    pub fn select_list(&self, plan: &Plan) -> String {
        match self.dialect() {
            Dialect::Postgres => postgres::select_list(plan),
            Dialect::Mysql => mysql::select_list(plan),
            Dialect::Sqlite => sqlite::select_list(plan),
        }
    }

    pub fn cursor_bound(&self, col: &NativeColumn, watermark: &str, lookback_secs: u64) -> String {
        match self.dialect() {
            Dialect::Postgres => postgres::cursor_bound(col, watermark, lookback_secs),
            Dialect::Mysql => mysql::cursor_bound(col, watermark, lookback_secs),
            Dialect::Sqlite => sqlite::cursor_bound(col, watermark, lookback_secs),
        }
    }

    /// `ASC` with NULLs first, where the dialect does not already sort so.
    pub fn asc_nulls_first(&self) -> &'static str {
        match self.dialect() {
            Dialect::Postgres => " ASC NULLS FIRST",
            Dialect::Mysql | Dialect::Sqlite => " ASC",
        }
    }

    pub async fn stream(&mut self, sql: &str, b: &mut BatchBuilder) -> Result<(), String> {
        match &mut self.conn {
            Conn::Pg(c) => postgres::stream(c, sql, b).await,
            Conn::My(c) => mysql::stream(c, sql, b).await,
            Conn::Lite(c) => sqlite::stream(c, sql, b).await,
        }
    }
}

/// The write side of a run: bulk loads, the merge, and the transaction.
pub enum Writer {
    Pg(postgres::PgWriter),
    My(mysql::MyWriter),
    Lite(sqlite::LiteWriter),
}

macro_rules! each {
    ($w:expr, $x:ident => $body:expr) => {
        match $w {
            Writer::Pg($x) => $body,
            Writer::My($x) => $body,
            Writer::Lite($x) => $body,
        }
    };
}

impl Writer {
    pub async fn new(conn: Conn, plan: &Plan) -> Result<Self, String> {
        Ok(match conn {
            Conn::Pg(c) => Writer::Pg(postgres::PgWriter::new(c, plan)),
            Conn::My(c) => Writer::My(mysql::MyWriter::new(c, plan).await?),
            Conn::Lite(c) => Writer::Lite(sqlite::LiteWriter::new(c, plan)),
        })
    }
    /// Whether an incremental run into `net` should stage the next batch on
    /// a second connection while the current one is applied. Only where a
    /// session's staging table is its own and staging takes no lock on the
    /// target: PostgreSQL's temporary tables. (A SQLite file has one writer.)
    pub fn stages_ahead(net: &Network) -> bool {
        net.kind == EngineKind::Postgres
    }
    /// Creates the session's staging table (outside any transaction).
    pub async fn create_stage(&mut self) -> Result<(), String> {
        each!(self, w => w.create_stage().await)
    }
    pub async fn begin(&mut self) -> Result<(), String> {
        each!(self, w => w.begin().await)
    }
    pub async fn commit(&mut self) -> Result<(), String> {
        each!(self, w => w.commit().await)
    }
    pub async fn rollback(&mut self) {
        each!(self, w => w.rollback().await)
    }
    /// Rows in the staging table (`stage`) or the target table.
    pub async fn count(&mut self, stage: bool) -> Result<u64, String> {
        each!(self, w => w.count(stage).await)
    }
    /// Queues rows for the staging table (`stage`) or straight for the target.
    pub async fn write(
        &mut self,
        rows: &[Vec<crate::engine::types::Value>],
        stage: bool,
    ) -> Result<(), String> {
        each!(self, w => w.write(rows, stage).await)
    }
    /// Sends whatever `write` still holds.
    pub async fn flush(&mut self) -> Result<(), String> {
        each!(self, w => w.flush().await)
    }
    /// Deletes target rows whose key is not staged; returns how many.
    pub async fn delete_missing(&mut self) -> Result<u64, String> {
        each!(self, w => w.delete_missing().await)
    }
    /// Inserts new and updates changed target rows from the staging table;
    /// `unchanged_likely` when many staged rows may already be in the target
    /// as they are.
    pub async fn upsert(&mut self, unchanged_likely: bool) -> Result<u64, String> {
        each!(self, w => w.upsert(unchanged_likely).await)
    }
    /// Applies the whole stage to a target that held `before` rows: inserts
    /// new rows, updates changed ones, deletes those not staged. Returns the
    /// rows deleted and the rows in the target afterwards.
    pub async fn merge(&mut self, before: u64) -> Result<(u64, u64), String> {
        if let Writer::Pg(w) = self {
            return w.merge(before).await;
        }
        self.upsert(true).await?;
        let deleted = self.delete_missing().await?;
        Ok((deleted, self.count(false).await?))
    }
    pub async fn clear_stage(&mut self) -> Result<(), String> {
        each!(self, w => w.clear_stage().await)
    }
    pub async fn close(self) {
        each!(self, w => w.close().await)
    }
}
