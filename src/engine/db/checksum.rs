//! What `dsp verify` asks of a server that can checksum rows itself: the
//! canonical text of a column (`verify::canon`) built in SQL, a row's text,
//! and the 60-bit SHA-256 slice that buckets and sums are made of. An engine
//! without it (SQLite: no SHA-256) is hashed by DSP as its rows stream.

use super::plan::NativeColumn;
use crate::workspace::ColumnType;

pub trait Checksums: Sync {
    /// The canonical text of a column mapped as `ty`, NULL staying NULL;
    /// `None` when this server cannot build exactly the text DSP would (the
    /// side is then hashed by DSP). `tz` is the network's zone of timestamps
    /// stored without one.
    fn canon_expr(
        &self,
        ident: &str,
        col: &NativeColumn,
        ty: ColumnType,
        tz: &str,
    ) -> Option<String>;

    /// A row's text: per column `~0` for NULL, else its text with `~`
    /// doubled and `~;` after it (each column's expression evaluated once).
    fn row(&self, fields: &[Field]) -> String;

    /// The first 60 bits of the SHA-256 of a text's UTF-8 bytes, as an
    /// unsigned integer.
    fn hash60(&self, text: &str) -> String;

    /// The range bucket `(key - lo) / width` of an integer key column that
    /// is at least `lo` (the server's integer division, no overflow: the
    /// caller keeps `key - lo` within 64 bits).
    fn range_bucket(&self, key: &str, lo: i64, width: u64) -> String;

    /// An integer expression as decimal text.
    fn as_text(&self, expr: &str) -> String;

    /// A row's place in its range bucket, from 1 (`(key - lo) mod width + 1`;
    /// see `verify::locate`).
    fn range_place(&self, key: &str, lo: i64, width: u64) -> String {
        format!("(({key}) - ({lo})) % {width} + 1")
    }

    /// The rows of `table` as `columns` (`dsp_b` their bucket, `dsp_h`
    /// their hash, ...), for a query to group by bucket.
    fn bucketed_rows(&self, columns: &str, table: &str) -> String {
        format!("SELECT {columns} FROM {table}")
    }

    /// A statement to run before grouping a table's rows into `groups`
    /// buckets, and one to run after it.
    fn around_grouping(&self, _groups: u64) -> Option<(String, String)> {
        None
    }

    /// A query whose text holds the planner's estimate of a table's rows
    /// (`EXPLAIN`), read by `estimated_rows`: a checksum pass counts the
    /// rows exactly, and a `COUNT(*)` before it to size the buckets costs
    /// a scan of its own.
    fn estimate_rows(&self, table: &str) -> String {
        format!("EXPLAIN SELECT * FROM {table}")
    }

    /// How a column is hashed without its canonical text, when both sides
    /// of a comparison are this engine: the expression and its hash
    /// family. Two columns whose families are equal hash equal values
    /// alike (`integer` and `bigint`, `text` and `varchar`), so the row
    /// hashes of two sides agree wherever their values do. `None` when
    /// the engine has no such hash for the column's type.
    fn native_column(&self, _ident: &str, _col: &NativeColumn, _tz: &str) -> Option<Native> {
        None
    }

    /// The 60 low bits of the server's own hash of a text, which DSP can
    /// compute as well (`verify::pg_hash`), when the server has one: used
    /// where the other side is hashed by DSP, in place of `hash60`.
    fn text_hash60(&self, _text: &str) -> Option<String> {
        None
    }

    /// Two queries: one answering 1 when `text_hash60` hashes the UTF-8
    /// bytes DSP hashes (and never failing), then one answering the
    /// server's hash (all 64 bits) of `verify::pg_hash::PROBE`.
    fn text_hash_probe(&self) -> Option<[String; 2]> {
        None
    }

    /// A query answering 1 when this server has the native row hash.
    fn native_probe(&self) -> Option<&'static str> {
        None
    }

    /// A non-negative 60-bit hash of the `native_column` expressions of a
    /// row, in order (NULLs included), on a server `native_probe` accepted.
    fn native_row_hash(&self, _exprs: &[String]) -> Option<String> {
        None
    }
}

/// A column's canonical text in SQL, for a row's text.
pub struct Field {
    pub sql: String,
    /// Whether the text can hold a `~`, which the row's text must double;
    /// numbers, booleans, dates and times never do, and skipping the
    /// `replace` is most of what building the row costs a server.
    pub escaped: bool,
}

/// A column as a same-engine native hash reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Native {
    pub expr: String,
    /// What equal values hash alike within; names the engine too.
    pub family: String,
}

/// The first row estimate in an `EXPLAIN`'s text: PostgreSQL's `rows=N`,
/// MariaDB's `"rows": N`, MySQL's `"rows_examined_per_scan": N`.
pub fn estimated_rows(text: &str) -> Option<u64> {
    ["rows=", "\"rows\": ", "\"rows_examined_per_scan\": "]
        .iter()
        .filter_map(|tag| {
            let at = text.find(tag)? + tag.len();
            Some((at, text[at..].split(|c: char| !c.is_ascii_digit()).next()?))
        })
        .min_by_key(|(at, _)| *at)
        .and_then(|(_, digits)| digits.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::estimated_rows;

    #[test]
    fn row_estimates_are_read_from_each_engines_explain() {
        let pg = "Seq Scan on users  (cost=0.00..36899.98 rows=1042132 width=145)";
        assert_eq!(estimated_rows(pg), Some(1_042_132));
        let maria = r#"{ "query_block": { "select_id": 1, "table": { "table_name": "users", "access_type": "ALL", "rows": 998650, "filtered": 100 } } }"#;
        assert_eq!(estimated_rows(maria), Some(998_650));
        let mysql = r#"{"query_block": {"table": {"rows_examined_per_scan": 5000, "rows_produced_per_join": 5000}}}"#;
        assert_eq!(estimated_rows(mysql), Some(5_000));
        assert_eq!(estimated_rows("Result  (cost=0.00..0.01 width=0)"), None);
    }
}
