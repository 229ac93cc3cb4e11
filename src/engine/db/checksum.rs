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
    fn row(&self, fields: &[String]) -> String;

    /// The first 60 bits of the MD5 of a text, as an unsigned integer.
    fn hash60(&self, text: &str) -> String;

    /// The range bucket `(key - lo) / width` of an integer key column that
    /// is at least `lo` (the server's integer division, no overflow: the
    /// caller keeps `key - lo` within 64 bits).
    fn range_bucket(&self, key: &str, lo: i64, width: u64) -> String;

    /// An integer expression as decimal text.
    fn as_text(&self, expr: &str) -> String;
}
