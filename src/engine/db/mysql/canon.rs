//! MySQL/MariaDB's half of `dsp verify`'s server-side checksums: the
//! canonical text of each mapped column in SQL (see `verify::canon`).

use super::super::checksum::{Checksums, Field};
use super::super::plan::NativeColumn;
use super::base;
use crate::workspace::ColumnType;

pub struct MyChecksums;

impl Checksums for MyChecksums {
    fn canon_expr(&self, i: &str, col: &NativeColumn, ty: ColumnType, tz: &str) -> Option<String> {
        let t = base(&col.type_name);
        const TS: &str = "'%Y-%m-%d %H:%i:%s.%f'";
        Some(match ty {
            ColumnType::Integer
                if matches!(
                    t,
                    "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
                ) =>
            {
                format!("CAST({i} AS CHAR)")
            }
            // Trailing zeros of the fraction go, then a point left alone.
            ColumnType::Decimal if matches!(t, "decimal" | "numeric") => format!(
                "IF(INSTR(CAST({i} AS CHAR), '.') > 0, \
                 TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({i} AS CHAR))), CAST({i} AS CHAR))"
            ),
            // As UTF-8 whatever the column's character set, so that MD5 sees
            // the bytes DSP hashes.
            ColumnType::String
                if matches!(
                    t,
                    "varchar" | "text" | "tinytext" | "mediumtext" | "longtext"
                ) =>
            {
                format!("CONVERT({i} USING utf8mb4)")
            }
            ColumnType::Boolean if matches!(t, "tinyint" | "bool" | "boolean") => {
                format!("CAST(({i} <> 0) AS CHAR)")
            }
            // The document's text as the server keeps it: MariaDB stores it as
            // written, so equal documents spaced differently look different
            // here and are settled by DSP's comparison (time, not a wrong
            // answer).
            ColumnType::Json if matches!(t, "json" | "longtext" | "text" | "mediumtext") => {
                format!("CAST({i} AS CHAR)")
            }
            ColumnType::Date if t == "date" => format!("DATE_FORMAT({i}, '%Y-%m-%d')"),
            // The session's zone is UTC: a TIMESTAMP reads as its instant; a
            // DATETIME is one only when the network's zone is UTC (CONVERT_TZ
            // needs zone tables a server may lack, and gives NULL then).
            ColumnType::Timestamp
                if t == "timestamp" || (t == "datetime" && (tz == "UTC" || tz == "Etc/UTC")) =>
            {
                format!("DATE_FORMAT({i}, {TS})")
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
        format!("CAST(CONV(SUBSTRING(MD5({text}), 1, 15), 16, 10) AS UNSIGNED)")
    }

    fn range_bucket(&self, key: &str, lo: i64, width: u64) -> String {
        format!("(({key}) - ({lo})) DIV {width}")
    }

    fn as_text(&self, expr: &str) -> String {
        format!("CAST({expr} AS CHAR)")
    }
}
