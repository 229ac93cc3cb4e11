//! An open session on an engine ([`Connection`]): introspection, DDL and
//! the source's read, with what the engines share as default methods. The
//! trait is object-safe (futures are boxed) and called once per statement;
//! the per-row work (decoding a row) stays in each engine's concrete code,
//! or in the generic helpers below, which are monomorphized per driver.

use futures::future::BoxFuture;

use super::dialect::Dialect;
use super::plan::{NativeColumn, Plan, TargetColumn};
use super::read::BatchBuilder;
use super::target::Target;
use crate::engine::error::Result;

/// How a key column's collation folds distinct keys into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folding {
    /// Case or accents (`_ci`, `_ai`): `b` and `B` are one key.
    CaseOrAccent,
    /// Trailing spaces (PAD SPACE): `b` and `b ` are one key.
    TrailingSpace,
}

/// A key column of the target whose collation folds keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldingKey {
    pub column: String,
    pub collation: String,
    pub folds: Folding,
}

/// An open session on some engine.
pub type Conn = Box<dyn Connection>;

/// What a session reading one key range (`Connection::copy_range`) sends
/// the session that merges them: a piece of range `i`'s data, in the
/// engine's own stream format, or why the range failed.
pub enum RangePiece {
    Data(usize, Vec<u8>),
    Failed(String),
}

/// A target column's type in a CREATE TABLE.
pub type ColumnTypes = Box<dyn Fn(&TargetColumn) -> String + Send + Sync>;

/// An open session: introspection, DDL, and the source's read.
pub trait Connection: Send {
    fn dialect(&self) -> &'static dyn Dialect;

    /// Runs one or more statements; returns the rows they affected.
    fn exec<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<u64>>;

    /// Runs a query that returns one integer.
    fn scalar<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<i64>>;

    /// Runs a query that returns one text column; NULL reads as `NULL`.
    fn texts<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<Vec<String>>>;

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

    /// Key columns whose collation folds distinct keys into one, as
    /// `(column, collation, how)`.
    fn insensitive_keys<'a>(
        &'a mut self,
        _table: &'a str,
        _keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<FoldingKey>>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// How `create_table` types each column; by default the dialect's own
    /// choice, which an engine may refine with what it asks the server.
    fn column_types(&mut self) -> BoxFuture<'_, ColumnTypes> {
        let d = self.dialect();
        Box::pin(async move { Box::new(move |t: &TargetColumn| d.column_type(t)) as ColumnTypes })
    }

    fn create_table<'a>(
        &'a mut self,
        table: &'a str,
        cols: &'a [TargetColumn],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let types = self.column_types().await;
            let sql = self.dialect().create_table_sql(table, cols, &*types);
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

    /// Starts the count `sql` on `counter` inside this session's snapshot
    /// (with `go`, once it says so; should it close first, the count is not
    /// taken and the task ends with 0). `Ok(None)` where snapshots cannot be
    /// shared: count in line then.
    fn count_alongside(
        &mut self,
        counter: Conn,
        _sql: String,
        _go: Option<tokio::sync::oneshot::Receiver<()>>,
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

    /// Exports this read transaction's snapshot into each of `others` (see
    /// `Dialect::reads_in_ranges`); returns those that joined, the rest
    /// closed. Where snapshots cannot be shared, none join. `Err` when the
    /// read transaction itself could not go on.
    fn share_snapshot(&mut self, others: Vec<Conn>) -> BoxFuture<'_, Result<Vec<Conn>>> {
        Box::pin(async move {
            for o in others {
                o.close().await;
            }
            Ok(Vec::new())
        })
    }

    /// Like `stream`, with `sql` read here and each of `others` on its own
    /// session, which has joined this one's snapshot (`share_snapshot`):
    /// every row of every range goes into `b`.
    fn stream_ranges<'a>(
        &'a mut self,
        _sql: &'a str,
        _others: Vec<(Conn, String)>,
        _b: &'a mut BatchBuilder,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Err("this engine cannot read key ranges at once".into()) })
    }

    /// Reads `sql` as range `id` of a `stream_ranges`, sending its data to
    /// the session that merges them; a failure is the range's last piece.
    fn copy_range(
        self: Box<Self>,
        _sql: String,
        id: usize,
        tx: tokio::sync::mpsc::Sender<RangePiece>,
    ) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let why = format!("range {id}: this engine cannot read key ranges at once");
            let _ = tx.send(RangePiece::Failed(why)).await;
        })
    }

    /// Whether `stream` can hand `plan`'s rows over in a form a target of the
    /// same engine and column types takes untouched (`BatchBuilder::push_wire`).
    fn sends_wire(&self, _plan: &Plan) -> bool {
        false
    }

    /// The write side of a run over this session.
    fn into_target<'a>(self: Box<Self>, plan: &'a Plan) -> BoxFuture<'a, Result<Box<dyn Target>>>;

    /// Closes politely; a connection that cannot say goodbye is just dropped.
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// The [`Connection`] methods that every engine module writes the same way
/// for its sqlx driver connection, once: the module's dialect `D`, raw
/// (unprepared) statements, the module's own `columns` and `has_unique_key`
/// functions, and a quiet close. Expands inside `impl Connection for ...`.
macro_rules! driver_basics {
    () => {
        fn dialect(&self) -> &'static dyn Dialect {
            D
        }

        fn exec<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<u64>> {
            Box::pin(async move {
                let done = sqlx::Executor::execute(&mut *self, sqlx::raw_sql(sql)).await?;
                Ok(done.rows_affected())
            })
        }

        fn columns<'a>(
            &'a mut self,
            table: &'a str,
        ) -> BoxFuture<'a, Result<Option<Vec<NativeColumn>>>> {
            Box::pin(columns(self, table))
        }

        fn has_unique_key<'a>(
            &'a mut self,
            table: &'a str,
            keys: &'a [String],
        ) -> BoxFuture<'a, Result<bool>> {
            Box::pin(has_unique_key(self, table, keys))
        }

        fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
            $crate::engine::db::session::close_quietly(*self)
        }
    };
}
pub(crate) use driver_basics;

/// Pushes rows whose columns were all selected as text (binary ones as hex)
/// into `b`: the read loop of the engines that send text.
pub(crate) async fn push_text_rows<R, S>(mut rows: S, b: &mut BatchBuilder) -> Result<()>
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
pub(crate) fn close_quietly<C: sqlx::Connection>(c: C) -> BoxFuture<'static, ()> {
    let closing = c.close();
    Box::pin(async move {
        let _ = closing.await;
    })
}

/// Whether an index's columns are exactly `keys`, in any order and letter case.
pub(crate) fn same_columns(mut cols: Vec<String>, keys: &[String]) -> bool {
    let mut want: Vec<String> = keys.iter().map(|k| k.to_lowercase()).collect();
    want.sort();
    cols.iter_mut().for_each(|c| *c = c.to_lowercase());
    cols.sort();
    cols == want
}

/// Runs a query that returns one text column, unprepared, on a driver's
/// connection.
pub(crate) fn query_texts<'a, DB>(
    c: &'a mut DB::Connection,
    sql: &'a str,
) -> BoxFuture<'a, Result<Vec<String>>>
where
    DB: sqlx::Database + sqlx::database::HasStatementCache,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    Box::pin(async move {
        let rows = sqlx::query_scalar::<DB, Option<String>>(sql)
            .persistent(false)
            .fetch_all(c)
            .await?;
        Ok(rows
            .into_iter()
            .map(|t| t.unwrap_or_else(|| "NULL".into()))
            .collect())
    })
}

/// Runs a query that returns one integer, unprepared, on a driver's connection.
pub(crate) fn query_i64<'a, DB>(
    c: &'a mut DB::Connection,
    sql: &'a str,
) -> BoxFuture<'a, Result<i64>>
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
