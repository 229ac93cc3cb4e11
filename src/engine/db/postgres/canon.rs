//! PostgreSQL's half of `dsp verify`'s server-side checksums: the canonical
//! text of each mapped column in SQL (see `verify::canon`).

use super::super::checksum::Checksums;
use super::super::plan::NativeColumn;
use crate::workspace::ColumnType;

pub struct PgChecksums;

impl Checksums for PgChecksums {
    fn canon_expr(&self, i: &str, col: &NativeColumn, ty: ColumnType, tz: &str) -> Option<String> {
        let t = col.type_name.as_str();
        // An infinite timestamp or date has no digits: its own text (never
        // NULL, which would make it equal to a NULL) stands in.
        let finite =
            |expr: String| format!("CASE WHEN isfinite({i}) THEN {expr} ELSE {i}::text END");
        const TS: &str = "'YYYY-MM-DD HH24:MI:SS.US'";
        Some(match ty {
            ColumnType::Integer if matches!(t, "smallint" | "integer" | "bigint") => {
                format!("{i}::text")
            }
            ColumnType::Decimal if t.starts_with("numeric") => format!("trim_scale({i})::text"),
            ColumnType::String if t == "text" || t.starts_with("character varying") => {
                i.to_string()
            }
            ColumnType::Boolean if t == "boolean" => format!("({i})::int::text"),
            ColumnType::Uuid if t == "uuid" => format!("{i}::text"),
            // jsonb's own text: keys sorted, one spacing (what DSP's canonical
            // JSON reproduces).
            ColumnType::Json if t == "json" || t == "jsonb" => format!("{i}::jsonb::text"),
            ColumnType::Date if t == "date" => finite(format!("to_char({i}, 'YYYY-MM-DD')")),
            ColumnType::Timestamp
                if t.starts_with("timestamp")
                    && t.ends_with("with time zone")
                    && !t.contains("without") =>
            {
                finite(format!("to_char({i} AT TIME ZONE 'UTC', {TS})"))
            }
            ColumnType::Timestamp if t.starts_with("timestamp") => {
                let zone = tz.replace('\'', "''");
                finite(format!(
                    "to_char(({i} AT TIME ZONE '{zone}') AT TIME ZONE 'UTC', {TS})"
                ))
            }
            _ => return None,
        })
    }

    fn row(&self, fields: &[String]) -> String {
        let parts: Vec<String> = fields
            .iter()
            .map(|f| format!("COALESCE(replace({f}, '~', '~~') || '~;', '~0')"))
            .collect();
        format!("({})", parts.join(" || "))
    }

    fn hash60(&self, text: &str) -> String {
        format!("('x' || substr(md5({text}), 1, 15))::bit(60)::bigint")
    }

    fn range_bucket(&self, key: &str, lo: i64, width: u64) -> String {
        format!("(({key}) - ({lo}::bigint)) / {width}")
    }

    fn as_text(&self, expr: &str) -> String {
        format!("({expr})::text")
    }
}
