//! Each database engine's SQL, reads and bulk writes, one module per engine.
//!
//! Used by the TUI and `dsp check`:
//! - `test_connection` (Network tab `t`): the server version or an error sentence.
//! - `introspect_columns` (Schema tab): the source table's columns with a guessed
//!   canonical type.
//! - `check_job` (`dsp check --connect`): problems with a job's tables.
//!
//! An engine is a [`Dialect`] (its SQL and rules), a [`Connection`] (a
//! session that introspects and reads) and a [`target::Target`] (the write
//! side), each trait carrying what the engines share as default methods;
//! an engine is registered in [`dialect_of`]. The runner talks to them
//! through [`Source`] and [`Writer`]. A source streams text (or SQLite's own
//! values) that `types::convert` turns into canonical values; a writer
//! bulk-loads them (PostgreSQL: one streaming COPY; MySQL: prepared multi-row
//! INSERTs with binary values; SQLite: prepared multi-row INSERTs) into the
//! target or a staging table and merges with set-based SQL. Faster paths for
//! a given pair of engines belong in the engine modules behind these same calls.

pub mod checksum;
pub mod connect;
pub mod dialect;
pub mod indexes;
pub(crate) mod mysql;
pub mod plan;
pub(crate) mod postgres;
pub mod read;
pub mod session;
pub(crate) mod sql;
pub(crate) mod sqlite;
pub mod target;

use connect::{Role, connect};
pub use dialect::Dialect;
use plan::{NativeColumn, Plan, TargetColumn};
use read::BatchBuilder;
pub use session::{Conn, Connection};

use crate::engine::error::{Error, Result};
use crate::workspace::{ColumnType, EngineKind, Job, Network, Schema, Workspace};

/// The engine behind each kind of network: a new engine is one module and
/// one line here.
pub fn dialect_of(kind: EngineKind) -> &'static dyn Dialect {
    match kind {
        EngineKind::Postgres => &postgres::POSTGRES,
        EngineKind::Mysql => &mysql::MYSQL,
        EngineKind::Sqlite => &sqlite::SQLITE,
    }
}

/// Connects to the network and returns the server's version string.
pub async fn test_connection(
    workspace: &Workspace,
    network: &Network,
) -> std::result::Result<String, String> {
    if let Some(v) = dialect_of(network.kind).not_created_yet(workspace, network) {
        return Ok(v);
    }
    let mut conn = connect(workspace, network, Role::Source).await?;
    let v = version(&mut conn)
        .await
        .map_err(|e| in_network(network, e).to_string());
    conn.close().await;
    v
}

/// The columns of `table` on `network`, in table order, with their canonical type.
pub async fn introspect_columns(
    workspace: &Workspace,
    network: &Network,
    table: &str,
) -> std::result::Result<Vec<(String, ColumnType)>, String> {
    let mut conn = connect(workspace, network, Role::Source).await?;
    let cols = columns(&mut conn, table).await;
    let d = conn.dialect();
    conn.close().await;
    match cols.map_err(|e| in_network(network, e).to_string())? {
        None => Err(no_table(network, table)),
        Some(cols) => Ok(cols.iter().map(|c| (c.name.clone(), d.guess(c))).collect()),
    }
}

/// `network "name": ` before an error.
fn in_network(net: &Network, e: Error) -> Error {
    e.context(format!("network \"{}\"", net.name))
}

/// Connects to the job's source and target and checks the tables and columns
/// its schema names; each problem is one sentence, none means ready.
pub async fn check_job(workspace: &Workspace, job: &Job) -> Vec<String> {
    let (schema, source, target) = match job_parts(workspace, job) {
        Ok(parts) => parts,
        Err(e) => return vec![e.to_string()],
    };
    let mut problems = Vec::new();
    let target_missing = dialect_of(target.kind)
        .not_created_yet(workspace, target)
        .is_some();
    let (targets, limits, folding) = if target_missing {
        let targets = plan::target_columns(schema);
        let limits = vec![plan::Limit::default(); targets.len()];
        (targets, limits, Vec::new())
    } else {
        check_job_target(workspace, schema, target, &mut problems).await
    };
    match connect(workspace, source, Role::Source).await {
        Err(e) => problems.push(e.to_string()),
        Ok(mut conn) => {
            match columns(&mut conn, &schema.source_table).await {
                Err(e) => problems.push(in_network(source, e).to_string()),
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
                        problems.push(e.to_string());
                    }
                    if let Err(e) = check_lookback(job, schema, source, &natives) {
                        problems.push(e.to_string());
                    }
                    if job.mode == crate::workspace::SyncMode::Incremental {
                        for k in &folding {
                            match folded_keys(&mut conn, schema, &natives, k).await {
                                Ok(None) => {}
                                Ok(Some(why)) => problems.push(folding_problem(
                                    &schema.target_table,
                                    target,
                                    k,
                                    why,
                                )),
                                Err(e) => problems.push(in_network(source, e).to_string()),
                            }
                        }
                        let table = &schema.source_table;
                        match shared_keys(&mut conn, table, &schema.primary_key, None).await {
                            Ok(0) => {}
                            Ok(n) => problems.push(format!(
                                "source table {table} on network \"{}\": {}",
                                source.name,
                                shared_keys_problem(n, &schema.primary_key)
                            )),
                            Err(e) => problems.push(in_network(source, e).to_string()),
                        }
                    }
                }
            }
            conn.close().await;
        }
    }
    problems
}

/// A `lookback` is a time: on a cursor the source compares as a number (an
/// id, a version) it would be silently ignored, and rows committed late
/// behind the watermark lost. Refused, by the run and by `dsp check
/// --connect` alike; `0s`, which says "none" on purpose, fits any cursor.
pub(crate) fn check_lookback(
    job: &Job,
    schema: &Schema,
    source: &Network,
    natives: &[plan::NativeColumn],
) -> Result<()> {
    let (Some(lookback), Some(cursor)) = (&job.lookback, &schema.cursor_column) else {
        return Ok(());
    };
    if job.mode != crate::workspace::SyncMode::Incremental
        || job.lookback().is_some_and(|d| d.is_zero())
    {
        return Ok(());
    }
    match plan::find(natives, cursor) {
        Some(col) if !dialect_of(source.kind).lookback_applies(col) => Err(format!(
            "job \"{}\" sets lookback = \"{lookback}\", but its cursor column {cursor} is a {} on \
             network \"{}\", not a time, so a lookback cannot apply; remove lookback, or use a \
             timestamp cursor",
            job.name, col.type_name, source.name
        )
        .into()),
        _ => Ok(()),
    }
}

/// How many values of `keys` stand in more than one row of `table` (among
/// those `filter` selects); 0 at once when a unique index guarantees none.
pub(crate) async fn shared_keys(
    conn: &mut Conn,
    table: &str,
    keys: &[String],
    filter: Option<&str>,
) -> Result<u64> {
    if conn.has_unique_key(table, keys).await? {
        return Ok(0);
    }
    let d = conn.dialect();
    let cols = d.idents(keys, "");
    let filter = filter.map(|b| format!(" WHERE {b}")).unwrap_or_default();
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT {cols} FROM {}{filter} GROUP BY {cols} HAVING COUNT(*) > 1) AS dsp_dup",
        d.table(table)
    );
    conn.count(&sql).await
}

/// Why source rows sharing a key are refused: an incremental upsert lets
/// them overwrite each other in the target (MySQL and SQLite without a word).
pub(crate) fn shared_keys_problem(shared: u64, keys: &[String]) -> String {
    format!(
        "{} value{} of the primary_key ({}) stand in more than one row, and an incremental run \
         would let those rows overwrite each other in the target; make the schema's primary_key \
         columns that are unique in the source (with a unique index on them DSP skips this check)",
        crate::engine::progress::thousands(shared),
        if shared == 1 { "" } else { "s" },
        keys.join(", ")
    )
}

/// Whether the target key column `k`, whose collation folds keys, would
/// merge rows the source holds apart: what it equates, or `None`. Any
/// case- or accent-folding collation would; a PAD SPACE one only once a
/// source key ends in a space.
pub(crate) async fn folded_keys(
    source: &mut Conn,
    schema: &Schema,
    natives: &[plan::NativeColumn],
    k: &session::FoldingKey,
) -> Result<Option<&'static str>> {
    match k.folds {
        session::Folding::CaseOrAccent => Ok(Some("keys differing only in case or accents")),
        session::Folding::TrailingSpace => {
            let native = schema
                .columns
                .iter()
                .find(|c| c.target.eq_ignore_ascii_case(&k.column))
                .and_then(|c| plan::find(natives, &c.source));
            let Some(native) = native else {
                return Ok(None);
            };
            let d = source.dialect();
            // The key as text, whatever its type (LIKE needs text on PostgreSQL).
            let ident = d.ident(&native.name);
            let text = d.read_expr(&ident, native).unwrap_or(ident);
            let sql = format!(
                "SELECT COUNT(*) FROM {} WHERE {text} LIKE '% '",
                d.table(&schema.source_table)
            );
            Ok((source.count(&sql).await? > 0).then_some(
                "a key and the same key ending in spaces (PAD SPACE), and the source holds keys \
                 ending in a space,",
            ))
        }
    }
}

/// Why a target key collation that folds keys the source holds apart is
/// refused.
pub(crate) fn folding_problem(
    table: &str,
    net: &Network,
    k: &session::FoldingKey,
    what: &str,
) -> String {
    let (col, collation) = (&k.column, &k.collation);
    format!(
        "target key column {table}.{col} on network \"{}\" uses collation {collation}, which treats \
         {what} as equal, so an incremental run would let such rows overwrite each other; give \
         the column a binary NO PAD collation (e.g. ALTER TABLE {table} MODIFY {col} VARCHAR(255) \
         COLLATE utf8mb4_nopad_bin on MariaDB, utf8mb4_0900_bin on MySQL 8) or sync this job \
         in full mode",
        net.name
    )
}

/// `check_job`'s target half: the mapped columns and their limits, with any
/// problem pushed to `problems`. A missing target table is no problem: the
/// first run creates it.
async fn check_job_target(
    ws: &Workspace,
    schema: &Schema,
    target: &Network,
    problems: &mut Vec<String>,
) -> (
    Vec<TargetColumn>,
    Vec<plan::Limit>,
    Vec<session::FoldingKey>,
) {
    let mut targets = plan::target_columns(schema);
    let mut limits = vec![plan::Limit::default(); targets.len()];
    let mut folding = Vec::new();
    match connect(ws, target, Role::Target).await {
        Err(e) => problems.push(e.to_string()),
        Ok(mut conn) => {
            match columns(&mut conn, &schema.target_table).await {
                Err(e) => problems.push(in_network(target, e).to_string()),
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
                    Ok(l) => {
                        limits = l;
                        let keys = plan::key_names(&targets);
                        match insensitive_keys(&mut conn, &schema.target_table, &keys).await {
                            Ok(f) => folding = f,
                            Err(e) => problems.push(in_network(target, e).to_string()),
                        }
                    }
                    Err(e) => problems.push(e.to_string()),
                },
            }
            conn.close().await;
        }
    }
    (targets, limits, folding)
}

/// The schema and networks a job names (the loader has checked that they exist;
/// a workspace built in code may not have).
pub(crate) fn job_parts<'a>(
    ws: &'a Workspace,
    job: &Job,
) -> Result<(&'a Schema, &'a Network, &'a Network)> {
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

pub(crate) fn no_table(net: &Network, table: &str) -> String {
    format!(
        "table {table} does not exist on network \"{}\"; check the schema's table name",
        net.name
    )
}

pub(crate) async fn version(conn: &mut Conn) -> Result<String> {
    conn.version().await
}

pub(crate) async fn columns(conn: &mut Conn, table: &str) -> Result<Option<Vec<NativeColumn>>> {
    conn.columns(table).await
}

pub(crate) async fn has_unique_key(conn: &mut Conn, table: &str, keys: &[String]) -> Result<bool> {
    conn.has_unique_key(table, keys).await
}

/// Target key columns whose collation folds distinct keys into one (MySQL
/// collations: case, accents, trailing spaces).
pub(crate) async fn insensitive_keys(
    conn: &mut Conn,
    table: &str,
    keys: &[String],
) -> Result<Vec<session::FoldingKey>> {
    conn.insensitive_keys(table, keys).await
}

/// Checks an existing target table: every mapped column present and able to
/// hold its type, and a unique key to match rows by. Returns the columns'
/// text length limits.
pub(crate) async fn check_existing_target(
    conn: &mut Conn,
    net: &Network,
    table: &str,
    targets: &mut [TargetColumn],
    natives: &[NativeColumn],
) -> Result<Vec<plan::Limit>> {
    let d = conn.dialect();
    let mut limits = plan::check_target(net, table, targets, natives, d)?;
    // A server rounds a decimal to its column's scale without a word (or
    // refuses the whole statement when it is too large): such a value fails
    // its row instead. A column that keeps any text has no such limits.
    if d.enforces_column_limits() {
        for (limit, t) in limits.iter_mut().zip(targets.iter()) {
            column_limits(d, net, limit, t)?;
        }
    }
    let keys = plan::key_names(targets);
    let unique = has_unique_key(conn, table, &keys)
        .await
        .map_err(|e| in_network(net, e))?;
    if !unique {
        return Err(format!(
            "target table {table} on network \"{}\" has no primary key or unique index on ({}); add one, so that rows can be matched by key",
            net.name,
            keys.join(", ")
        )
        .into());
    }
    Ok(limits)
}

/// The decimal and timestamp limits of one existing target column.
fn column_limits(
    d: &dyn Dialect,
    net: &Network,
    limit: &mut plan::Limit,
    t: &TargetColumn,
) -> Result<()> {
    let native = t.native.as_deref();
    match t.ty {
        ColumnType::Decimal | ColumnType::Integer => {
            limit.decimal = native.and_then(crate::engine::types::DecimalLimit::parse);
        }
        // Likewise a timestamp's fraction (and, on some engines, its range).
        ColumnType::Timestamp => {
            limit.timestamp = native.and_then(|n| d.timestamp_limit(n));
            // A column without zone holds the network's local time, both ways.
            let naive = native.is_some_and(|n| d.zone_less(n));
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
    Ok(())
}

pub(crate) async fn create_table(
    conn: &mut Conn,
    table: &str,
    cols: &[TargetColumn],
) -> Result<()> {
    conn.create_table(table, cols).await
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
    /// needs (only engines that can share a snapshot between sessions).
    pub fn counts_alongside(net: &Network) -> bool {
        dialect_of(net.kind).counts_alongside()
    }

    /// Starts the count `sql` on the second connection, inside this read
    /// transaction's own snapshot, so that it runs while the rows stream and
    /// still agrees with them exactly. Call after `begin_snapshot` and before
    /// streaming. `Ok(None)` when that cannot be arranged (no second
    /// connection, a server or pooler that will not share snapshots): count
    /// with `count` then, before streaming. With `go`, the count waits for
    /// it (and is not taken if it closes first).
    pub async fn count_alongside(
        &mut self,
        sql: String,
        go: Option<tokio::sync::oneshot::Receiver<()>>,
    ) -> Result<Option<tokio::task::JoinHandle<Result<u64>>>> {
        match self.counter.take() {
            Some(counter) => self.conn.count_alongside(counter, sql, go).await,
            None => Ok(None),
        }
    }

    /// The connections, for a reader that borrows the snapshot for a while.
    pub fn into_parts(self) -> (Conn, Option<Conn>) {
        (self.conn, self.counter)
    }

    pub async fn begin_snapshot(&mut self) -> Result<()> {
        self.conn.begin_snapshot().await
    }

    pub async fn end_snapshot(&mut self) {
        self.conn.end_snapshot().await
    }

    pub async fn count(&mut self, sql: &str) -> Result<u64> {
        self.conn.count(sql).await
    }

    /// For a read ordered by an indexed cursor: rows should flow as they are
    /// read, not after the whole range is sorted.
    pub async fn stream_in_index_order(&mut self) -> Result<()> {
        self.conn.stream_in_index_order().await
    }

    pub fn dialect(&self) -> &'static dyn Dialect {
        self.conn.dialect()
    }

    /// Whether `stream` can pass `plan`'s rows through untouched.
    pub fn sends_wire(&self, plan: &Plan) -> bool {
        self.conn.sends_wire(plan)
    }

    pub fn select_list(&self, plan: &Plan) -> String {
        self.dialect().select_list(plan)
    }

    pub fn cursor_bound(&self, col: &NativeColumn, watermark: &str, lookback_secs: u64) -> String {
        self.dialect().cursor_bound(col, watermark, lookback_secs)
    }

    /// `ASC` with NULLs first, where the dialect does not already sort so.
    pub fn asc_nulls_first(&self) -> &'static str {
        self.dialect().asc_nulls_first()
    }

    pub async fn stream(&mut self, sql: &str, b: &mut BatchBuilder) -> Result<()> {
        self.conn.stream(sql, b).await
    }

    /// Whether this engine can read one snapshot in key ranges at once.
    pub fn reads_in_ranges(&self) -> bool {
        self.dialect().reads_in_ranges()
    }

    /// Brings `others` into this read's snapshot; returns those that joined.
    pub async fn share_snapshot(&mut self, others: Vec<Conn>) -> Result<Vec<Conn>> {
        self.conn.share_snapshot(others).await
    }

    /// Streams `sql` here and each of `others` on its own session (which
    /// joined the snapshot), all into `b`.
    pub async fn stream_ranges(
        &mut self,
        sql: &str,
        others: Vec<(Conn, String)>,
        b: &mut BatchBuilder,
    ) -> Result<()> {
        self.conn.stream_ranges(sql, others, b).await
    }
}

/// Tuples a PostgreSQL source passed through (`Batch::wire`) as the values
/// they hold, each with its failure's sentence when one does not convert.
pub(crate) fn wire_values(
    plan: &Plan,
    wire: &[u8],
) -> Result<Vec<(Vec<crate::engine::types::Value>, Option<String>)>> {
    postgres::binary_read::wire_values(plan, wire)
}

/// The write side of a run: bulk loads, the merge, and the transaction.
pub(crate) struct Writer(Box<dyn target::Target>);

impl Writer {
    pub async fn new(conn: Conn, plan: &Plan) -> Result<Self> {
        Ok(Writer(conn.into_target(plan).await?))
    }
    /// Whether an incremental run into `net` should stage the next batch on
    /// a second connection while the current one is applied. Only where a
    /// session's staging table is its own and staging takes no lock on the
    /// target. (A SQLite file has one writer.)
    pub fn stages_ahead(net: &Network) -> bool {
        dialect_of(net.kind).stages_ahead()
    }
    /// Runs one or more statements (in the open transaction, if any).
    pub async fn exec(&mut self, sql: &str) -> Result<u64> {
        self.0.exec(sql).await
    }
    pub fn dialect(&self) -> &'static dyn Dialect {
        self.0.names().dialect
    }
    /// Creates the session's staging table (outside any transaction).
    pub async fn create_stage(&mut self) -> Result<()> {
        self.0.create_stage().await
    }
    pub async fn begin(&mut self) -> Result<()> {
        self.0.begin().await
    }
    pub async fn commit(&mut self) -> Result<()> {
        self.0.commit().await
    }
    pub async fn rollback(&mut self) {
        self.0.rollback().await
    }
    /// Marks the transaction's state for `rollback_to_savepoint` (`again`:
    /// replacing the mark set before).
    pub async fn savepoint(&mut self, again: bool) -> Result<()> {
        self.0.savepoint(again).await
    }
    /// Drops unsent rows and undoes the transaction back to the last mark.
    pub async fn rollback_to_savepoint(&mut self) -> Result<()> {
        self.0.rollback_to_savepoint().await
    }
    /// Drops rows `write` holds and has not sent.
    pub async fn discard(&mut self) {
        self.0.discard().await
    }
    /// Rows in the staging table (`stage`) or the target table.
    pub async fn count(&mut self, stage: bool) -> Result<u64> {
        self.0.count(stage).await
    }
    /// Queues rows for the staging table (`stage`) or straight for the target.
    pub async fn write(
        &mut self,
        rows: &[Vec<crate::engine::types::Value>],
        stage: bool,
    ) -> Result<()> {
        self.0.write(rows, stage).await
    }
    /// Rows this transaction's bulk loads stored straight into the target
    /// table, as the server reported them, where the writer knows.
    pub fn copied(&self) -> Option<u64> {
        self.0.copied()
    }
    /// Whether the target takes rows a PostgreSQL source passes through.
    pub fn takes_wire(&self) -> bool {
        self.0.takes_wire()
    }
    /// Queues tuples the source passed through untouched.
    pub async fn write_wire(&mut self, wire: &[u8], stage: bool) -> Result<()> {
        self.0.write_wire(wire, stage).await
    }
    /// Sends whatever `write` still holds.
    pub async fn flush(&mut self) -> Result<()> {
        self.0.flush().await
    }
    /// Deletes target rows whose key is not staged; returns how many.
    pub async fn delete_missing(&mut self) -> Result<u64> {
        self.0.delete_missing().await
    }
    /// Deletes target rows whose key is staged; returns how many.
    pub async fn delete_staged(&mut self) -> Result<u64> {
        self.0.delete_staged().await
    }
    /// Inserts new and updates changed target rows from the staging table,
    /// which holds `staged` rows; `unchanged_likely` when many staged rows
    /// may already be in the target as they are. Returns what changed.
    pub async fn upsert(
        &mut self,
        unchanged_likely: bool,
        staged: u64,
    ) -> Result<crate::engine::progress::Changes> {
        self.0.upsert(unchanged_likely, staged).await
    }
    /// Applies the whole stage (`staged` rows) to a target that held `before`
    /// rows: inserts new rows, updates changed ones, deletes those not
    /// staged. Returns what changed and the rows in the target afterwards.
    pub async fn merge(
        &mut self,
        before: u64,
        staged: u64,
    ) -> Result<(crate::engine::progress::Changes, u64)> {
        self.0.merge(before, staged).await
    }
    /// The first `limit` keys of the staged rows to insert or update, or of
    /// the target rows to delete; asked before the stage is applied.
    pub async fn first_keys(&mut self, which: target::KeySet, limit: u64) -> Result<Vec<String>> {
        self.0.first_keys(which, limit).await
    }
    pub async fn clear_stage(&mut self) -> Result<()> {
        self.0.clear_stage().await
    }
    /// Empties the staging table now, inside the transaction.
    pub async fn empty_stage(&mut self) -> Result<()> {
        self.0.empty_stage().await
    }
    pub async fn close(self) {
        self.0.close().await
    }
}
