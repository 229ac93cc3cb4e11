//! PostgreSQL's half of `dsp verify`'s server-side checksums: the canonical
//! text of each mapped column in SQL (see `verify::canon`).

use super::super::checksum::{Checksums, Field, Native};
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

    fn row(&self, fields: &[Field]) -> String {
        let parts: Vec<String> = fields
            .iter()
            .map(|f| match f.escaped {
                true => format!("COALESCE(replace({}, '~', '~~') || '~;', '~0')", f.sql),
                false => format!("COALESCE({} || '~;', '~0')", f.sql),
            })
            .collect();
        format!("({})", parts.join(" || "))
    }

    fn hash60(&self, text: &str) -> String {
        format!(
            "('x' || substr(encode(sha256(convert_to({text}, 'UTF8')), 'hex'), 1, 15))::bit(60)::bigint"
        )
    }

    fn range_bucket(&self, key: &str, lo: i64, width: u64) -> String {
        format!("(({key}) - ({lo}::bigint)) / {width}")
    }

    fn as_text(&self, expr: &str) -> String {
        format!("({expr})::text")
    }

    // The planner takes a bucket expression over the key for as many groups
    // as rows, and a grouping it thinks cannot fit its memory spills every
    // row to disk from the start (126 MB for a million rows, 40% of the
    // query's time). `OFFSET 0` keeps the rows a subquery, whose groups it
    // then guesses few; `around_grouping` gives it the memory the real
    // groups need.
    fn range_place(&self, key: &str, lo: i64, width: u64) -> String {
        format!("(({key}) - ({lo}::bigint)) % {width} + 1")
    }

    fn bucketed_rows(&self, columns: &str, table: &str) -> String {
        format!("SELECT {columns} FROM {table} OFFSET 0")
    }

    /// About 230 bytes a group (measured: 14 MB for 62,500), never less
    /// than the server's default and at most 256 MB, past which the
    /// grouping spills as before. A session setting, reset after: the
    /// target's side reads outside a transaction, where `SET LOCAL` is void.
    fn around_grouping(&self, groups: u64) -> Option<(String, String)> {
        let kb = (groups.saturating_add(1).saturating_mul(256) / 1024).clamp(4096, 256 * 1024);
        Some((format!("SET work_mem = '{kb}kB'"), "RESET work_mem".into()))
    }

    /// Each type's own hash function (through `hash_record_extended`):
    /// equal values hash alike, whatever their text (`1.5` and `1.50`, one
    /// instant in any zone), and no text is built at all.
    fn native_column(&self, i: &str, col: &NativeColumn, tz: &str) -> Option<Native> {
        let t = col.type_name.as_str();
        let (expr, family) = match t {
            // hashint8 agrees with hashint4 on every int4 value; the cast
            // makes that hold without relying on it.
            "smallint" | "integer" | "bigint" => (format!("{i}::bigint"), "int"),
            _ if t.starts_with("numeric") => (format!("{i}::numeric"), "numeric"),
            "text" => (i.to_string(), "text"),
            _ if t.starts_with("character varying") => (format!("{i}::text"), "text"),
            "boolean" => (i.to_string(), "bool"),
            "uuid" => (i.to_string(), "uuid"),
            "bytea" => (i.to_string(), "bytea"),
            "json" | "jsonb" => (format!("{i}::jsonb"), "jsonb"),
            "date" => (i.to_string(), "date"),
            "double precision" => (i.to_string(), "float8"),
            "time without time zone" => (i.to_string(), "time"),
            "timestamp with time zone" => (i.to_string(), "timestamptz"),
            // A zone-less time is one instant only within its network's zone.
            "timestamp without time zone" => {
                return Some(Native {
                    expr: i.to_string(),
                    family: format!("pg:timestamp@{tz}"),
                });
            }
            _ => return None,
        };
        Some(Native {
            expr,
            family: format!("pg:{family}"),
        })
    }

    // `COLLATE "C"`: a nondeterministic collation would hash a sort key,
    // not the bytes.
    fn text_hash60(&self, text: &str) -> Option<String> {
        Some(format!(
            "(hashtextextended(({text}) COLLATE \"C\", 0) & {})",
            (1u64 << 60) - 1
        ))
    }

    fn text_hash_probe(&self) -> Option<[String; 2]> {
        Some([
            "SELECT (current_setting('server_version_num')::int >= 110000 \
             AND current_setting('server_encoding') = 'UTF8')::int::bigint"
                .into(),
            format!(
                "SELECT hashtextextended('{}' COLLATE \"C\", 0)",
                crate::engine::verify::pg_hash::PROBE
            ),
        ])
    }

    fn native_probe(&self) -> Option<&'static str> {
        Some("SELECT (current_setting('server_version_num')::int >= 140000)::int::bigint")
    }

    fn native_row_hash(&self, exprs: &[String]) -> Option<String> {
        Some(format!(
            "(hash_record_extended(ROW({}), 0) & {})",
            exprs.join(", "),
            (1u64 << 60) - 1
        ))
    }
}
