//! MySQL/MariaDB's half of `dsp verify`'s server-side checksums: the
//! canonical text of each mapped column in SQL (see `verify::canon`).

use super::super::checksum::{Checksums, Field};
use super::super::plan::NativeColumn;
use super::base;
use crate::engine::types::{DecimalLimit, TimestampLimit};
use crate::workspace::ColumnType;

pub struct MyChecksums;

impl Checksums for MyChecksums {
    // Each form is the cheapest MariaDB evaluates to exactly DSP's text:
    // a function call per row per column is what a checksum pass costs it
    // (`DATE_FORMAT` twice the plain cast, `CAST(json AS CHAR)` six times
    // the column itself, measured over a million rows).
    fn canon_expr(&self, i: &str, col: &NativeColumn, ty: ColumnType, tz: &str) -> Option<String> {
        let t = base(&col.type_name);
        // Text as UTF-8 whatever the column's character set, so that the
        // hash sees the bytes DSP hashes; a column already in UTF-8 is taken
        // as it is (a conversion of a LONGTEXT is costly).
        let utf8 = || match col.utf8_text {
            true => i.to_string(),
            false => format!("CONVERT({i} USING utf8mb4)"),
        };
        Some(match ty {
            ColumnType::Integer
                if matches!(
                    t,
                    "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
                ) =>
            {
                format!("CAST({i} AS CHAR)")
            }
            // A scale prints a point and that many digits: its trailing
            // zeros go, then a point left alone. No scale, no point.
            ColumnType::Decimal if matches!(t, "decimal" | "numeric") => {
                match scale(&col.type_name) {
                    0 => format!("CAST({i} AS CHAR)"),
                    _ => {
                        format!("TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({i} AS CHAR)))")
                    }
                }
            }
            ColumnType::String
                if matches!(
                    t,
                    "varchar" | "text" | "tinytext" | "mediumtext" | "longtext"
                ) =>
            {
                utf8()
            }
            ColumnType::Boolean if matches!(t, "tinyint" | "bool" | "boolean") => {
                format!("CAST(({i} <> 0) AS CHAR)")
            }
            // The document's text as the server keeps it: MariaDB stores it as
            // written, so equal documents spaced differently look different
            // here and are settled by DSP's comparison (time, not a wrong
            // answer). MySQL's own JSON type prints its normal form.
            ColumnType::Json if matches!(t, "json" | "longtext" | "text" | "mediumtext") => utf8(),
            ColumnType::Date if t == "date" => format!("CAST({i} AS CHAR)"),
            // The session's zone is UTC: a TIMESTAMP reads as its instant; a
            // DATETIME is one only when the network's zone is UTC (CONVERT_TZ
            // needs zone tables a server may lack, and gives NULL then). The
            // cast prints the column's own digits of a second; zeros make six.
            ColumnType::Timestamp
                if t == "timestamp" || (t == "datetime" && (tz == "UTC" || tz == "Etc/UTC")) =>
            {
                match 6usize.saturating_sub(precision(&col.type_name)) {
                    0 => format!("CAST({i} AS CHAR)"),
                    6 => format!("CONCAT(CAST({i} AS CHAR), '.000000')"),
                    n => format!("CONCAT(CAST({i} AS CHAR), '{}')", "0".repeat(n)),
                }
            }
            _ => return None,
        })
    }

    fn row(&self, fields: &[Field]) -> String {
        let parts: Vec<String> = fields
            .iter()
            .map(|f| match f.escaped {
                true => format!(
                    "COALESCE(CONCAT(REPLACE({}, '~', '~~'), '~;'), '~0')",
                    f.sql
                ),
                false => format!("COALESCE(CONCAT({}, '~;'), '~0')", f.sql),
            })
            .collect();
        format!("CONCAT({})", parts.join(", "))
    }

    fn hash60(&self, text: &str) -> String {
        format!("CAST(CONV(SUBSTRING(SHA2({text}, 256), 1, 15), 16, 10) AS UNSIGNED)")
    }

    fn range_bucket(&self, key: &str, lo: i64, width: u64) -> String {
        format!("(({key}) - ({lo})) DIV {width}")
    }

    fn as_text(&self, expr: &str) -> String {
        format!("CAST({expr} AS CHAR)")
    }

    /// The plan as one JSON text (a table's plain `EXPLAIN` puts its rows in
    /// the ninth column).
    fn estimate_rows(&self, table: &str) -> String {
        format!("EXPLAIN FORMAT=JSON SELECT * FROM {table}")
    }
}

/// The digits after the point of a `decimal(p,s)` type name; 0 without.
fn scale(type_name: &str) -> usize {
    DecimalLimit::parse(type_name).map_or(0, |d| d.scale as usize)
}

/// The fractional digits of a `datetime(p)`/`timestamp(p)` type name.
fn precision(type_name: &str) -> usize {
    TimestampLimit::parse(type_name, true).map_or(0, |t| t.fsp as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_modifiers_give_scale_and_precision() {
        assert_eq!(scale("decimal(12,2)"), 2);
        assert_eq!(scale("decimal(12,2) unsigned"), 2);
        assert_eq!(scale("decimal(10)"), 0);
        assert_eq!(scale("decimal"), 0);
        assert_eq!(precision("datetime(6)"), 6);
        assert_eq!(precision("timestamp(3)"), 3);
        assert_eq!(precision("datetime"), 0);
    }
}
