//! What an engine is to the rest of the code: its SQL ([`Dialect`]), an open
//! session that reads and introspects ([`Connection`]), and the write side of
//! a run ([`Target`]). What the engines share is written once here, as
//! default methods; each engine's module overrides only where it differs.
//!
//! The traits are object-safe (futures are boxed) and used once per statement
//! or batch; the per-row work (decoding, encoding, binding) stays inside each
//! engine's own concrete code.

use futures::future::BoxFuture;

use super::connect::Role;
use super::plan::{NativeColumn, Plan, TargetColumn, TargetRules};
use super::read::BatchBuilder;
use super::sql::split_table;
use crate::engine::error::Result;
use crate::engine::types::{TimestampLimit, Value};
use crate::workspace::{ColumnType, Network, Workspace};

/// An open session on some engine.
pub type Conn = Box<dyn Connection>;

/// Where a cursor column's index goes when the engine creates a table.
pub enum CursorIndex {
    /// A clause inside CREATE TABLE.
    Inline(String),
    /// A statement after it.
    Statement(String),
}

/// An engine's SQL and static rules.
pub trait Dialect: Sync {
    /// Opens a session (the caller bounds its time and words the failure).
    fn connect<'a>(
        &'static self,
        ws: &'a Workspace,
        net: &'a Network,
        role: Role,
        password: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Conn>>;

    /// The character that quotes identifiers.
    fn quote(&self) -> char {
        '"'
    }

    /// A quoted identifier; the quote character inside a name is doubled, so a
    /// name can never end the quoting.
    fn ident(&self, name: &str) -> String {
        let q = self.quote();
        let mut out = String::with_capacity(name.len() + 2);
        out.push(q);
        for c in name.chars() {
            if c == q {
                out.push(q);
            }
            out.push(c);
        }
        out.push(q);
        out
    }

    /// A possibly schema-qualified table name (`public.users`), quoted part by part.
    fn table(&self, name: &str) -> String {
        let (schema, table) = split_table(name);
        match schema {
            Some(s) => format!("{}.{}", self.ident(s), self.ident(table)),
            None => self.ident(table),
        }
    }

    /// A comma-separated list of quoted identifiers, each optionally prefixed.
    fn idents(&self, names: &[String], prefix: &str) -> String {
        names
            .iter()
            .map(|n| format!("{prefix}{}", self.ident(n)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A string literal.
    fn literal(&self, s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }

    /// The canonical type a column most likely holds.
    fn guess(&self, n: &NativeColumn) -> ColumnType;

    /// Whether an existing column can hold values of a canonical type.
    fn compatible(&self, ty: ColumnType, n: &NativeColumn) -> bool;

    /// Values the engine cannot store at all, whatever the column.
    fn target_rules(&self) -> TargetRules {
        TargetRules::default()
    }

    /// Whether an existing column's declared precision and ranges bind its
    /// values (a column that keeps any text answers no).
    fn enforces_column_limits(&self) -> bool {
        true
    }

    /// The precision and range an existing timestamp column holds.
    fn timestamp_limit(&self, native: &str) -> Option<TimestampLimit> {
        TimestampLimit::parse(native, false)
    }

    /// The type a created table gives a mapped column.
    fn column_type(&self, t: &TargetColumn) -> String;

    /// The index a created table gets on its cursor column (when that is not
    /// a key column already).
    fn cursor_index(&self, table: &str, cursor: &str) -> CursorIndex;

    /// Text after a created table's column list.
    fn table_options(&self) -> &'static str {
        ""
    }

    /// CREATE TABLE (and the cursor's index) for the mapped columns; the key
    /// columns are NOT NULL and form the primary key.
    fn create_table_sql(
        &self,
        table: &str,
        cols: &[TargetColumn],
        column_type: &dyn Fn(&TargetColumn) -> String,
    ) -> String {
        let defs: Vec<String> = cols
            .iter()
            .map(|t| {
                let not_null = if t.key { " NOT NULL" } else { "" };
                format!("{} {}{not_null}", self.ident(&t.name), column_type(t))
            })
            .collect();
        let keys: Vec<String> = cols
            .iter()
            .filter(|t| t.key)
            .map(|t| t.name.clone())
            .collect();
        let (inline, after) = match cols.iter().find(|t| t.cursor && !t.key) {
            Some(cur) => match self.cursor_index(table, &cur.name) {
                CursorIndex::Inline(clause) => (format!(", {clause}"), None),
                CursorIndex::Statement(sql) => (String::new(), Some(sql)),
            },
            None => (String::new(), None),
        };
        let mut sql = format!(
            "CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}){inline}){}",
            self.table(table),
            defs.join(", "),
            self.idents(&keys, ""),
            self.table_options()
        );
        if let Some(after) = after {
            sql.push_str("; ");
            sql.push_str(&after);
        }
        sql
    }

    /// How a column is selected as text, or `None` to read it as stored.
    fn read_expr(&self, _ident: &str, _binary: bool) -> Option<String> {
        None
    }

    /// The source's select list. Expressions are aliased, so that
    /// `ORDER BY "col"` sorts by the column itself and not by its text
    /// (`'10' < '9'`), which would move the watermark past unread rows.
    fn select_list(&self, plan: &Plan) -> String {
        plan.read
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let ident = self.ident(&r.name);
                match self.read_expr(&ident, r.native.binary) {
                    Some(expr) => format!("{expr} AS dsp_c{i}"),
                    None => ident,
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `cursor >= watermark - lookback`, in the cursor column's own terms.
    fn cursor_bound(&self, col: &NativeColumn, watermark: &str, lookback_secs: u64) -> String;

    /// `ASC` with NULLs first, where the dialect does not already sort so.
    fn asc_nulls_first(&self) -> &'static str {
        " ASC"
    }

    /// Opens the source's read transaction.
    fn snapshot_sql(&self) -> &'static str;

    /// Opens a target transaction.
    fn begin_sql(&self) -> &'static str {
        "BEGIN"
    }

    /// The session's staging table.
    fn stage_table(&self) -> &'static str {
        "dsp_stage"
    }

    /// Whether a run should open a second source connection to count the
    /// rows inside the read's own snapshot while they stream.
    fn counts_alongside(&self) -> bool {
        false
    }

    /// Whether an incremental run should stage the next batch on a second
    /// target connection while the current one is applied.
    fn stages_ahead(&self) -> bool {
        false
    }
}

/// An open session: introspection, DDL, and the source's read.
pub trait Connection: Send {
    fn dialect(&self) -> &'static dyn Dialect;

    /// Runs one or more statements; returns the rows they affected.
    fn exec<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<u64>>;

    /// Runs a query that returns one integer.
    fn scalar<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<i64>>;

    /// Runs a `SELECT count(*)`.
    fn count<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move { Ok(self.scalar(sql).await?.max(0) as u64) })
    }

    /// The server's product and version.
    fn version(&mut self) -> BoxFuture<'_, Result<String>>;

    /// The table's columns, or `None` when there is no such table.
    fn columns<'a>(
        &'a mut self,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<NativeColumn>>>>;

    /// Whether the primary key or a unique index covers exactly `keys`.
    fn has_unique_key<'a>(
        &'a mut self,
        table: &'a str,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<bool>>;

    /// Key columns that compare case- or accent-insensitively, as
    /// `(column, collation)`.
    fn insensitive_keys<'a>(
        &'a mut self,
        _table: &'a str,
        _keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<(String, String)>>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn create_table<'a>(
        &'a mut self,
        table: &'a str,
        cols: &'a [TargetColumn],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let d = self.dialect();
            let sql = d.create_table_sql(table, cols, &|t| d.column_type(t));
            self.exec(&sql).await.map(|_| ())
        })
    }

    fn begin_snapshot(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.exec(self.dialect().snapshot_sql()).await.map(|_| ()) })
    }

    /// Ends the read transaction. By default nothing is sent: the reader
    /// closes the connection right after, which ends it.
    fn end_snapshot(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Starts the count `sql` on `counter` inside this session's snapshot.
    /// `Ok(None)` where snapshots cannot be shared: count in line then.
    fn count_alongside(
        &mut self,
        counter: Conn,
        _sql: String,
    ) -> BoxFuture<'_, Result<Option<tokio::task::JoinHandle<Result<u64>>>>> {
        Box::pin(async move {
            counter.close().await;
            Ok(None)
        })
    }

    /// For a read ordered by an indexed cursor: rows should flow as they are
    /// read, not after the whole range is sorted. Most engines' indexes carry
    /// the key after the cursor, so their index order already is (cursor, key).
    fn stream_in_index_order(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Runs `sql` and pushes every row into `b`.
    fn stream<'a>(&'a mut self, sql: &'a str, b: &'a mut BatchBuilder)
    -> BoxFuture<'a, Result<()>>;

    /// The write side of a run over this session.
    fn into_target<'a>(self: Box<Self>, plan: &'a Plan) -> BoxFuture<'a, Result<Box<dyn Target>>>;

    /// Closes politely; a connection that cannot say goodbye is just dropped.
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// The quoted names a writer's statements use.
pub struct TargetNames {
    pub dialect: &'static dyn Dialect,
    /// The target table, quoted.
    pub table: String,
    /// The mapped columns, quoted and comma-separated.
    pub cols: String,
    pub names: Vec<String>,
    pub keys: Vec<String>,
    pub non_keys: Vec<String>,
}

impl TargetNames {
    pub fn new(dialect: &'static dyn Dialect, plan: &Plan) -> Self {
        TargetNames {
            dialect,
            table: dialect.table(&plan.target_table),
            cols: dialect.idents(&plan.target_names(), ""),
            names: plan.target_names(),
            keys: plan.key_names(),
            non_keys: plan.non_key_names(),
        }
    }

    /// `a.k = b.k AND ...` over the key columns.
    pub fn key_match(&self, a: &str, b: &str) -> String {
        self.keys
            .iter()
            .map(|k| format!("{a}.{k} = {b}.{k}", k = self.dialect.ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The staging table, or the target.
    pub fn dest(&self, stage: bool) -> &str {
        if stage {
            self.dialect.stage_table()
        } else {
            &self.table
        }
    }
}

/// The write side of a run: bulk loads into a staging table (or the target),
/// the merge, and the transaction.
pub trait Target: Send {
    fn names(&self) -> &TargetNames;

    /// Runs one or more statements; returns the rows they affected.
    fn exec<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<u64>>;

    /// Runs a `SELECT count(*)`.
    fn count_rows<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<u64>>;

    /// Creates the session's staging table (outside any transaction).
    fn create_stage(&mut self) -> BoxFuture<'_, Result<()>>;

    fn begin(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let sql = self.names().dialect.begin_sql();
            self.exec(sql).await.map(|_| ())
        })
    }

    fn commit(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.exec("COMMIT").await.map(|_| ()) })
    }

    fn rollback(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.exec("ROLLBACK").await;
        })
    }

    /// Rows in the staging table (`stage`) or the target table.
    fn count(&mut self, stage: bool) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let sql = format!("SELECT count(*) FROM {}", self.names().dest(stage));
            self.count_rows(&sql).await
        })
    }

    /// Queues rows for the staging table (`stage`) or straight for the target.
    fn write<'a>(&'a mut self, rows: &'a [Vec<Value>], stage: bool) -> BoxFuture<'a, Result<()>>;

    /// Sends whatever `write` still holds.
    fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Deletes target rows whose key is not staged; returns how many.
    fn delete_missing(&mut self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let n = self.names();
            let sql = format!(
                "DELETE FROM {} AS t WHERE NOT EXISTS (SELECT 1 FROM {} AS s WHERE {})",
                n.table,
                n.dialect.stage_table(),
                n.key_match("s", "t")
            );
            self.exec(&sql).await
        })
    }

    /// Inserts new and updates changed target rows from the staging table;
    /// `unchanged_likely` when many staged rows may already be in the target
    /// as they are.
    fn upsert(&mut self, unchanged_likely: bool) -> BoxFuture<'_, Result<u64>>;

    /// Applies the whole stage to a target that held `before` rows: inserts
    /// new rows, updates changed ones, deletes those not staged. Returns the
    /// rows deleted and the rows in the target afterwards.
    fn merge(&mut self, _before: u64) -> BoxFuture<'_, Result<(u64, u64)>> {
        Box::pin(async move {
            self.upsert(true).await?;
            let deleted = self.delete_missing().await?;
            Ok((deleted, self.count(false).await?))
        })
    }

    /// Empties the staging table for the next batch.
    fn clear_stage(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let sql = format!("DELETE FROM {}", self.names().dialect.stage_table());
            self.exec(&sql).await.map(|_| ())
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Pushes rows whose columns were all selected as text (binary ones as hex)
/// into `b`: the read loop of the engines that send text.
pub async fn push_text_rows<R, S>(mut rows: S, b: &mut BatchBuilder) -> Result<()>
where
    R: sqlx::Row,
    S: futures::Stream<Item = std::result::Result<R, sqlx::Error>> + Unpin + Send,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    use futures::TryStreamExt;
    let binary: Vec<bool> = b.plan().read.iter().map(|r| r.native.binary).collect();
    while let Some(row) = rows.try_next().await? {
        let mut raws = Vec::with_capacity(binary.len());
        for (i, bin) in binary.iter().enumerate() {
            let v: Option<String> = row.try_get_unchecked(i)?;
            raws.push(match v {
                None => crate::engine::types::Raw::Null,
                Some(s) if *bin => {
                    crate::engine::types::Raw::Bytes(crate::engine::types::hex_decode(&s)?)
                }
                Some(s) => crate::engine::types::Raw::Text(s),
            });
        }
        b.push(raws).await?;
    }
    Ok(())
}

/// Closes a driver's connection; one that cannot say goodbye is just dropped.
pub fn close_quietly<C: sqlx::Connection>(c: C) -> BoxFuture<'static, ()> {
    let closing = c.close();
    Box::pin(async move {
        let _ = closing.await;
    })
}

/// Whether an index's columns are exactly `keys`, in any order and letter case.
pub fn same_columns(mut cols: Vec<String>, keys: &[String]) -> bool {
    let mut want: Vec<String> = keys.iter().map(|k| k.to_lowercase()).collect();
    want.sort();
    cols.iter_mut().for_each(|c| *c = c.to_lowercase());
    cols.sort();
    cols == want
}

/// Runs a query that returns one integer, unprepared, on a driver's connection.
pub fn query_i64<'a, DB>(c: &'a mut DB::Connection, sql: &'a str) -> BoxFuture<'a, Result<i64>>
where
    DB: sqlx::Database + sqlx::database::HasStatementCache,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    for<'r> i64: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    Box::pin(async move {
        Ok(sqlx::query_scalar::<DB, i64>(sql)
            .persistent(false)
            .fetch_one(c)
            .await?)
    })
}
