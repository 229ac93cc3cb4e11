//! An engine's SQL and static rules ([`Dialect`]), with what the engines
//! share written once as default methods; each engine's module overrides
//! only where it differs. Its sessions are `session::Connection`s, its write
//! side a `target::Target`.

use futures::future::BoxFuture;

use super::connect::Endpoint;
use super::plan::{NativeColumn, Plan, TargetColumn, TargetRules};
use super::session::Conn;
use super::sql::split_table;
use crate::engine::error::Result;
use crate::engine::types::TimestampLimit;
use crate::workspace::{ColumnType, Network, Workspace};

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
    fn connect<'a>(&'static self, to: Endpoint<'a>) -> BoxFuture<'a, Result<Conn>>;

    /// How messages name a connection: `postgresql://user:***@host:5432/db`.
    /// The password is never part of it.
    fn describe(&self, ws: &Workspace, net: &Network) -> String {
        let user = match &net.username {
            Some(u) if net.password.is_some() || net.password_env.is_some() => {
                format!("{u}:***@")
            }
            Some(u) => format!("{u}@"),
            None => String::new(),
        };
        let location = self.location(ws, net);
        match location.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{user}{rest}"),
            None => location,
        }
    }

    /// Where the data lives, without user or password: `postgresql://host:5432/db`.
    /// What a watermark is tied to (a new password is the same database; a
    /// new host is not).
    fn location(&self, _ws: &Workspace, net: &Network) -> String {
        format!(
            "{}://{}:{}/{}",
            net.kind.as_str(),
            net.host.as_deref().unwrap_or("localhost"),
            net.effective_port().unwrap_or(0),
            net.database
        )
    }

    /// For a database that a writing job creates and that does not exist
    /// yet: what the connection test says instead of a server version.
    fn not_created_yet(&self, _ws: &Workspace, _net: &Network) -> Option<String> {
        None
    }

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

    /// The key columns `cols` of the row `prefix` (`t.`) as one text, for
    /// naming rows to an operator: `42` or `7, 42`.
    fn key_text(&self, cols: &[String], prefix: &str) -> String {
        format!("CONCAT_WS(', ', {})", self.idents(cols, prefix))
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

    /// Whether a timestamp column of this native type stores wall-clock
    /// time without a zone (written and read in the network's time zone).
    fn zone_less(&self, _native: &str) -> bool {
        false
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

    /// A query whose one integer is how many indexes of `table` (the
    /// primary key's among them) start with `column`: a read ordered or
    /// filtered by a column no index starts with scans the whole table.
    fn leading_index_sql(&self, table: &str, column: &str) -> String;

    /// The statement that gives `table` an index starting with `column`, as
    /// an operator would run it by hand.
    fn create_index_sql(&self, table: &str, column: &str) -> String {
        match self.cursor_index(table, column) {
            CursorIndex::Statement(sql) => sql,
            CursorIndex::Inline(_) => {
                let (_, bare) = split_table(table);
                let name: String = format!("{bare}_{column}_idx").chars().take(64).collect();
                format!(
                    "CREATE INDEX {} ON {} ({})",
                    self.ident(&name),
                    self.table(table),
                    self.ident(column)
                )
            }
        }
    }

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
        let keys = super::plan::key_names(cols);
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
    fn read_expr(&self, _ident: &str, _col: &NativeColumn) -> Option<String> {
        None
    }

    /// A 32-bit float column: its text is read at double precision and
    /// written back as the shortest text of the stored single (the value
    /// itself, neither rounded to 6 digits nor padded with binary noise).
    fn single_precision(&self, _col: &NativeColumn) -> bool {
        false
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
                match self.read_expr(&ident, &r.native) {
                    Some(expr) => format!("{expr} AS dsp_c{i}"),
                    None => ident,
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether a `lookback` (a time) can be taken off this cursor column's
    /// watermark.
    fn lookback_applies(&self, _col: &NativeColumn) -> bool {
        true
    }

    /// `cursor >= watermark - lookback`, in the cursor column's own terms.
    fn cursor_bound(&self, col: &NativeColumn, watermark: &str, lookback_secs: u64) -> String;

    /// `ASC` with NULLs first, where the dialect does not already sort so.
    fn asc_nulls_first(&self) -> &'static str {
        " ASC"
    }

    /// The server's clock as microseconds since 1970, read inside the source's
    /// snapshot; `None` where there is no server (the local clock stands in).
    fn clock_sql(&self) -> Option<&'static str> {
        None
    }

    /// Opens the source's read transaction.
    fn snapshot_sql(&self) -> &'static str;

    /// Opens a target transaction.
    fn begin_sql(&self) -> &'static str {
        "BEGIN"
    }

    /// The schema that holds a session's temporary tables, where naming it
    /// keeps a permanent table of the same name out of reach.
    fn temp_schema(&self) -> Option<&'static str> {
        None
    }

    /// Whether a whole-table read may be split into key ranges read at once
    /// on several sessions sharing one snapshot (`Connection::share_snapshot`,
    /// `stream_ranges`). Engines without a snapshot that sessions can share
    /// (MySQL, SQLite) read on one session: ranges each in their own
    /// snapshot would not add up to one moment of the table.
    fn reads_in_ranges(&self) -> bool {
        false
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

    /// The table of jobs whose state lives in the target (`state = "target"`):
    /// one row per job, its watermark and its last run.
    fn state_table_sql(&self, table: &str) -> String {
        let time = self.state_time_type();
        format!(
            "CREATE TABLE IF NOT EXISTS {} (job VARCHAR(255) NOT NULL PRIMARY KEY, \
             watermark TEXT, watermark_of TEXT, updated_at {time}, run_started {time}, \
             run_finished {time}, run_status VARCHAR(20), run_total BIGINT, run_success BIGINT, \
             run_failed BIGINT, run_host VARCHAR(255), run_error TEXT){}",
            self.table(table),
            self.table_options()
        )
    }

    /// The type of the state table's times (written as UTC).
    fn state_time_type(&self) -> &'static str {
        "TIMESTAMP"
    }

    /// Inserts one row of `table`, or updates the row whose key (the first
    /// column) it shares; `cols` are names and SQL values.
    fn upsert_one_sql(&self, table: &str, cols: &[(&str, String)]) -> String {
        let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
        let values: Vec<&str> = cols.iter().map(|(_, v)| v.as_str()).collect();
        let sets: Vec<String> = names[1..]
            .iter()
            .map(|n| format!("{n} = excluded.{n}"))
            .collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
            self.table(table),
            names.join(", "),
            values.join(", "),
            names[0],
            sets.join(", ")
        )
    }

    /// A query that takes the server's own lock `key` for this session
    /// without waiting and returns 1 if it did, 0 if another session holds
    /// it; `None` where the server has no such lock (SQLite: a file lock
    /// beside the database stands in).
    fn try_lock_sql(&self, _key: u64) -> Option<String> {
        None
    }

    /// A query answering 1 when some session holds the lock `key` of
    /// `try_lock_sql`, 0 when none does, without taking it (a run starting
    /// then must not find it taken); `None` where the server has no such
    /// lock.
    fn lock_held_sql(&self, _key: u64) -> Option<String> {
        None
    }

    /// How the server checksums rows for `dsp verify`; `None` where DSP
    /// hashes the rows itself as they stream.
    fn checksums(&self) -> Option<&'static dyn super::checksum::Checksums> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::mysql::MYSQL;
    use super::super::postgres::POSTGRES;
    use super::super::sqlite::SQLITE;
    use super::*;

    fn cols() -> Vec<TargetColumn> {
        let col = |name: &str, ty, key, cursor| TargetColumn {
            name: name.into(),
            ty,
            key,
            cursor,
            native: None,
        };
        vec![
            col("id", ColumnType::Integer, true, false),
            col("at", ColumnType::Timestamp, false, true),
        ]
    }

    /// The shared CREATE TABLE with each engine's types and cursor index.
    #[test]
    fn create_table_per_engine() {
        let c = cols();
        assert_eq!(
            POSTGRES.create_table_sql("s.t", &c, &|t| POSTGRES.column_type(t)),
            "CREATE TABLE IF NOT EXISTS \"s\".\"t\" (\"id\" BIGINT NOT NULL, \"at\" TIMESTAMPTZ, \
             PRIMARY KEY (\"id\")); CREATE INDEX IF NOT EXISTS \"t_at_idx\" ON \"s\".\"t\" (\"at\")"
        );
        assert_eq!(
            MYSQL.create_table_sql("t", &c, &|t| MYSQL.column_type(t)),
            "CREATE TABLE IF NOT EXISTS `t` (`id` BIGINT NOT NULL, `at` DATETIME(6), \
             PRIMARY KEY (`id`), KEY `at` (`at`)) DEFAULT CHARSET=utf8mb4"
        );
        assert_eq!(
            SQLITE.create_table_sql("s.t", &c, &|t| SQLITE.column_type(t)),
            "CREATE TABLE IF NOT EXISTS \"s\".\"t\" (\"id\" INTEGER NOT NULL, \"at\" TIMESTAMP, \
             PRIMARY KEY (\"id\")); CREATE INDEX IF NOT EXISTS \"s\".\"t_at_idx\" ON \"t\" (\"at\")"
        );
    }
}
