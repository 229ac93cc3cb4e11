//! What `dsp verify` asks of a server that can checksum rows itself: the
//! canonical text of a column (`verify::canon`) built in SQL, a row's text,
//! and the 60-bit MD5 slice that buckets and sums are made of. An engine
//! without it (SQLite: no MD5) is hashed by DSP as its rows stream.

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

    /// The first 60 bits of the MD5 of a text, as an unsigned integer.
    fn hash60(&self, text: &str) -> String;

    /// The range bucket `(key - lo) / width` of an integer key column that
    /// is at least `lo` (the server's integer division, no overflow: the
    /// caller keeps `key - lo` within 64 bits).
    fn range_bucket(&self, key: &str, lo: i64, width: u64) -> String;

    /// An integer expression as decimal text.
    fn as_text(&self, expr: &str) -> String;

    /// How a column is hashed without its canonical text, when both sides
    /// of a comparison are this engine: the expression and its hash
    /// family. Two columns whose families are equal hash equal values
    /// alike (`integer` and `bigint`, `text` and `varchar`), so the row
    /// hashes of two sides agree wherever their values do. `None` when
    /// the engine has no such hash for the column's type.
    fn native_column(&self, _ident: &str, _col: &NativeColumn, _tz: &str) -> Option<Native> {
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
