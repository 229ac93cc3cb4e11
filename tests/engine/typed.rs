//! The typed-values fixture: a source table holding the hard values of every
//! column type, what a target must hold for them, and a comparison that
//! normalises each engine's spelling of the same value.

use chrono::{DateTime, NaiveDateTime, Utc};
use dsp::engine::progress::{RunStatus, RunSummary};
use dsp::workspace::ColumnType;
use sqlx::Row;

use crate::support::end::{End, Kind};

/// A value as compared: one spelling per meaning, whatever engine held it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Norm {
    Null,
    Int(i64),
    /// Exact decimal text with trailing fractional zeros trimmed.
    Dec(String),
    Bool(bool),
    /// A UTC instant at microsecond precision.
    Ts(DateTime<Utc>),
    Text(String),
    Json(serde_json::Value),
    /// Compared by bits: a float must survive exactly.
    Float(u64),
}

pub(crate) fn norm_decimal(s: &str) -> String {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    assert!(
        digits.chars().all(|c| c.is_ascii_digit() || c == '.'),
        "decimal read back in an unexpected spelling: {s:?}"
    );
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.trim_end_matches('0');
    let body = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    if neg && body != "0" {
        format!("-{body}")
    } else {
        body
    }
}

/// Timestamps as the three engines spell them: with `T` or a space, with `Z`,
/// an offset, or none (then UTC: every connection and target stores UTC).
pub(crate) fn norm_ts(s: &str) -> DateTime<Utc> {
    let t = s.trim().replacen(' ', "T", 1);
    if let Ok(dt) = DateTime::parse_from_rfc3339(&t) {
        return dt.with_timezone(&Utc);
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%#z"] {
        if let Ok(dt) = DateTime::parse_from_str(&t, fmt) {
            return dt.with_timezone(&Utc);
        }
    }
    let naive = NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f")
        .unwrap_or_else(|e| panic!("timestamp read back as {s:?}: {e}"));
    naive.and_utc()
}

pub(crate) fn norm_json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("JSON read back as {s:?}: {e}"))
}

pub(crate) fn bool_of(i: i64) -> bool {
    assert!(i == 0 || i == 1, "boolean read back as {i}");
    i == 1
}

pub(crate) fn text_cell(v: Option<String>, ty: ColumnType) -> Norm {
    match v {
        None => Norm::Null,
        Some(s) => match ty {
            ColumnType::Decimal => Norm::Dec(norm_decimal(&s)),
            ColumnType::Timestamp => Norm::Ts(norm_ts(&s)),
            ColumnType::Json => Norm::Json(norm_json(&s)),
            _ => Norm::Text(s),
        },
    }
}

pub(crate) fn pg_cell(r: &sqlx::postgres::PgRow, i: usize, ty: ColumnType) -> Norm {
    match ty {
        ColumnType::Integer => r.get::<Option<i64>, _>(i).map_or(Norm::Null, Norm::Int),
        ColumnType::Float => r
            .get::<Option<f64>, _>(i)
            .map_or(Norm::Null, |f| Norm::Float(f.to_bits())),
        ColumnType::Boolean => r.get::<Option<bool>, _>(i).map_or(Norm::Null, Norm::Bool),
        _ => text_cell(r.get(i), ty),
    }
}

pub(crate) fn my_cell(r: &sqlx::mysql::MySqlRow, i: usize, ty: ColumnType) -> Norm {
    match ty {
        ColumnType::Integer => r.get::<Option<i64>, _>(i).map_or(Norm::Null, Norm::Int),
        ColumnType::Float => r
            .get::<Option<f64>, _>(i)
            .map_or(Norm::Null, |f| Norm::Float(f.to_bits())),
        ColumnType::Boolean => r
            .get::<Option<i64>, _>(i)
            .map_or(Norm::Null, |b| Norm::Bool(bool_of(b))),
        _ => text_cell(r.get(i), ty),
    }
}

pub(crate) fn lite_cell(r: &sqlx::sqlite::SqliteRow, i: usize, ty: ColumnType) -> Norm {
    match ty {
        ColumnType::Integer => r.get::<Option<i64>, _>(i).map_or(Norm::Null, Norm::Int),
        ColumnType::Float => r
            .get::<Option<f64>, _>(i)
            .map_or(Norm::Null, |f| Norm::Float(f.to_bits())),
        ColumnType::Boolean => r
            .get::<Option<i64>, _>(i)
            .map_or(Norm::Null, |b| Norm::Bool(bool_of(b))),
        _ => text_cell(r.get(i), ty),
    }
}

pub(crate) const TYPES: [ColumnType; 8] = [
    ColumnType::Integer,
    ColumnType::Integer,
    ColumnType::Decimal,
    ColumnType::Boolean,
    ColumnType::Timestamp,
    ColumnType::String,
    ColumnType::Json,
    ColumnType::Float,
];

pub(crate) const SRC_COLS: [&str; 8] =
    ["id", "big", "amount", "flag", "at", "label", "doc", "ratio"];

pub(crate) const TGT_COLS: [&str; 8] = [
    "key_id", "big_n", "amount_d", "is_flag", "at_ts", "label_s", "doc_j", "ratio_f",
];

pub(crate) fn cols<'a>(names: &[&'a str], types: &[ColumnType]) -> Vec<(&'a str, ColumnType)> {
    names.iter().copied().zip(types.iter().copied()).collect()
}

/// One source row: the timestamp as written with its offset, and the instant it means.
pub(crate) struct Case {
    id: i64,
    big: Option<i64>,
    amount: Option<&'static str>,
    flag: Option<bool>,
    /// `(with offset, UTC wall clock)`
    at: Option<(&'static str, &'static str)>,
    label: Option<&'static str>,
    doc: Option<&'static str>,
    ratio: Option<f64>,
}

pub(crate) const DOC: &str = r#"{"a":[1,2,{"b":null}],"u":"é"}"#;

pub(crate) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: i64::MIN,
            big: Some(i64::MAX),
            amount: Some("1234567890123456789012345678.0123456789"),
            flag: Some(true),
            at: Some((
                "2024-03-10 01:59:59.999999-05:00",
                "2024-03-10 06:59:59.999999",
            )),
            label: Some("😀 漢字 עברית"),
            doc: Some(DOC),
            ratio: Some(0.1),
        },
        Case {
            id: i64::MAX,
            big: Some(i64::MIN),
            amount: Some("-0.0000000001"),
            flag: Some(false),
            at: Some((
                "2024-03-10 03:00:00.000001-04:00",
                "2024-03-10 07:00:00.000001",
            )),
            label: Some(""),
            doc: Some("[]"),
            ratio: Some(-1.7976931348623157e308),
        },
        Case {
            id: 0,
            big: Some(0),
            amount: Some("0"),
            flag: Some(false),
            at: Some(("1970-01-01 00:00:00+00:00", "1970-01-01 00:00:00")),
            label: Some("O'Brien \"quoted\" back\\slash\nnew line\ttab"),
            doc: Some(
                r#"{"k":"v\"q","n":1.25,"big":12345678901234,"emoji":"😀","nested":{"x":[true,false,null]}}"#,
            ),
            ratio: Some(2.2250738585072014e-308),
        },
        Case {
            id: -1,
            big: Some(-1),
            amount: Some("-9999999999999999999999999999.9999999999"),
            flag: Some(true),
            at: Some(("2038-01-19 03:14:08.5+05:30", "2038-01-18 21:44:08.5")),
            label: Some("مرحبا 👩‍👩‍👧 ñ"),
            doc: Some(r#""just a string""#),
            ratio: Some(std::f64::consts::PI),
        },
        Case {
            id: 42,
            big: None,
            amount: None,
            flag: None,
            at: None,
            label: None,
            doc: None,
            ratio: None,
        },
        Case {
            id: 7,
            big: Some(1),
            amount: Some("1.5000000000"),
            flag: Some(true),
            at: Some((
                "1999-12-31 23:59:59.123456+00:00",
                "1999-12-31 23:59:59.123456",
            )),
            label: Some("x"),
            doc: Some("{}"),
            ratio: Some(1e-7),
        },
    ]
}

pub(crate) fn expected(cases: &[Case]) -> Vec<Vec<Norm>> {
    let mut out: Vec<Vec<Norm>> = cases
        .iter()
        .map(|c| {
            vec![
                Norm::Int(c.id),
                c.big.map_or(Norm::Null, Norm::Int),
                c.amount.map_or(Norm::Null, |a| Norm::Dec(norm_decimal(a))),
                c.flag.map_or(Norm::Null, Norm::Bool),
                c.at.map_or(Norm::Null, |(_, utc)| Norm::Ts(norm_ts(utc))),
                c.label.map_or(Norm::Null, |l| Norm::Text(l.to_string())),
                c.doc.map_or(Norm::Null, |d| Norm::Json(norm_json(d))),
                c.ratio.map_or(Norm::Null, |f| Norm::Float(f.to_bits())),
            ]
        })
        .collect();
    out.sort_by_key(|r| format!("{r:?}"));
    out
}

/// SQL text literal: quotes doubled; MySQL also needs backslashes doubled.
pub(crate) fn lit(kind: Kind, s: Option<&str>) -> String {
    match s {
        None => "NULL".into(),
        Some(s) => {
            let mut v = s.replace('\'', "''");
            if kind == Kind::My {
                v = v.replace('\\', "\\\\");
            }
            format!("'{v}'")
        }
    }
}

pub(crate) fn num(v: Option<i64>) -> String {
    v.map_or("NULL".into(), |i| i.to_string())
}

pub(crate) async fn create_source(src: &End, cases: &[Case]) {
    let k = src.kind();
    src.exec(match k {
        Kind::Pg => {
            "CREATE TABLE src_types (id bigint PRIMARY KEY, big bigint, amount numeric(38,10), \
             flag boolean, at timestamptz, label text, doc jsonb, ratio double precision)"
        }
        Kind::My => {
            "CREATE TABLE src_types (id BIGINT PRIMARY KEY, big BIGINT NULL, \
             amount DECIMAL(38,10) NULL, flag TINYINT(1) NULL, at DATETIME(6) NULL, \
             label TEXT CHARACTER SET utf8mb4 NULL, doc JSON NULL, ratio DOUBLE NULL)"
        }
        Kind::Lite => {
            "CREATE TABLE src_types (id INTEGER PRIMARY KEY, big INTEGER, amount TEXT, \
             flag BOOLEAN, at TEXT, label TEXT, doc TEXT, ratio REAL)"
        }
    })
    .await;
    for c in cases {
        let flag = match (k, c.flag) {
            (_, None) => "NULL".to_string(),
            (Kind::Pg, Some(b)) => b.to_string(),
            (_, Some(b)) => i64::from(b).to_string(),
        };
        let at = match (k, c.at) {
            (_, None) => "NULL".to_string(),
            // MySQL DATETIME holds the UTC wall clock (the default `timezone`).
            (Kind::My, Some((_, utc))) => lit(k, Some(utc)),
            // SQLite keeps ISO text; offsets must be honoured.
            (Kind::Lite, Some((with_offset, _))) => {
                lit(k, Some(&with_offset.replacen(' ', "T", 1)))
            }
            (Kind::Pg, Some((with_offset, _))) => lit(k, Some(with_offset)),
        };
        let sql = format!(
            "INSERT INTO src_types (id, big, amount, flag, at, label, doc, ratio) VALUES ({}, {}, {}, {flag}, {at}, {}, {}, {})",
            c.id,
            num(c.big),
            lit(k, c.amount),
            lit(k, c.label),
            lit(k, c.doc),
            c.ratio.map_or("NULL".to_string(), |f| format!("{f:e}")),
        );
        src.exec(&sql).await;
    }
}

pub(crate) const MULTI_TYPES: [ColumnType; 3] =
    [ColumnType::Integer, ColumnType::String, ColumnType::String];

/// Keys that differ only by case, accent or trailing space are distinct rows.
pub(crate) const MULTI: [(i64, &str, Option<&str>); 7] = [
    (1, "a", Some("lower")),
    (1, "A", Some("upper")),
    (1, "a ", Some("trailing space")),
    (1, "á", Some("accent")),
    (2, "a", None),
    (-5, "漢", Some("字")),
    (i64::MAX, "😀", Some("emoji key")),
];

pub(crate) async fn create_multi(src: &End) {
    let k = src.kind();
    src.exec(match k {
        Kind::Pg => {
            "CREATE TABLE src_multi (org_id bigint, code varchar(64), note text, PRIMARY KEY (org_id, code))"
        }
        // A case-, accent- and trailing-space-sensitive key, as the data needs.
        Kind::My => {
            "CREATE TABLE src_multi (org_id BIGINT, code VARCHAR(64) CHARACTER SET utf8mb4 \
             COLLATE utf8mb4_nopad_bin, note TEXT CHARACTER SET utf8mb4, PRIMARY KEY (org_id, code))"
        }
        Kind::Lite => {
            "CREATE TABLE src_multi (org_id INTEGER, code TEXT, note TEXT, PRIMARY KEY (org_id, code))"
        }
    })
    .await;
    for (org, code, note) in MULTI {
        src.exec(&format!(
            "INSERT INTO src_multi (org_id, code, note) VALUES ({org}, {}, {})",
            lit(k, Some(code)),
            lit(k, note)
        ))
        .await;
    }
}

pub(crate) fn workspace_toml(src: &End, tgt: &End) -> String {
    let mut t = String::new();
    t.push_str(&src.network_toml("Source"));
    t.push('\n');
    t.push_str(&tgt.network_toml("Target"));
    let columns: Vec<String> = SRC_COLS
        .iter()
        .zip(TGT_COLS)
        .zip(TYPES)
        .map(|((s, tg), ty)| {
            format!("  {{ source = \"{s}\", target = \"{tg}\", type = \"{ty}\" }},")
        })
        .collect();
    t.push_str(&format!(
        r#"
[[schema]]
name = "Types"
source_table = "src_types"
target_table = "dst_types"
primary_key = "id"
columns = [
{}
]

[[schema]]
name = "Multi"
source_table = "src_multi"
target_table = "dst_multi"
primary_key = ["org_id", "code"]
columns = [
  {{ source = "org_id", target = "org", type = "integer" }},
  {{ source = "code", target = "code_s", type = "string" }},
  {{ source = "note", target = "note_s", type = "string" }},
]

[[job]]
name = "types"
source = "Source"
target = "Target"
schema = "Types"
mode = "full"
batch_size = 2

[[schema]]
name = "Names"
source_table = "Order Items"
target_table = "Dst Items"
primary_key = "order"
columns = [
  {{ source = "order", target = "group", type = "integer" }},
  {{ source = "User Name", target = "Full Name", type = "string" }},
  {{ source = "select", target = "from", type = "string" }},
  {{ source = "CamelCase", target = "MixedCase", type = "integer" }},
]

[[job]]
name = "names"
source = "Source"
target = "Target"
schema = "Names"
mode = "full"

[[job]]
name = "multi"
source = "Source"
target = "Target"
schema = "Multi"
mode = "full"
batch_size = 3
"#,
        columns.join("\n")
    ));
    t
}

pub(crate) fn assert_succeeded(s: &RunSummary, lines: &[String], rows: u64, what: &str) {
    assert_eq!(
        s.status,
        RunStatus::Succeeded,
        "{what}: {:?}\n{}",
        s.error,
        lines.join("\n")
    );
    assert_eq!(
        (s.total, s.success, s.failed),
        (rows, rows, 0),
        "{what}: counts\n{}",
        lines.join("\n")
    );
}

/// Row-count first, then the first differing row and column, for a readable failure.
pub(crate) fn compare(what: &str, want: &[Vec<Norm>], got: &[Vec<Norm>]) {
    for (w, g) in want.iter().zip(got) {
        for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
            assert_eq!(
                wv, gv,
                "{what}: column {i} of row {:?} differs\nwant {w:?}\ngot  {g:?}",
                w[0]
            );
        }
    }
    assert_eq!(
        want.len(),
        got.len(),
        "{what}: row count\nwant {want:?}\ngot  {got:?}"
    );
}

impl End {
    pub(crate) fn quote(&self, ident: &str) -> String {
        match self.kind() {
            Kind::My => format!("`{ident}`"),
            _ => format!("\"{ident}\""),
        }
    }

    /// The select expression that reads `col` of type `ty` in a comparable form.
    pub(crate) fn read_expr(&self, col: &str, ty: ColumnType) -> String {
        let q = match self.kind() {
            Kind::My => format!("`{col}`"),
            _ => format!("\"{col}\""),
        };
        match (self.kind(), ty) {
            (Kind::Pg, ColumnType::Decimal | ColumnType::Json) => format!("{q}::text"),
            (Kind::Pg, ColumnType::Timestamp) => {
                format!("to_char({q} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
            }
            (Kind::My, ColumnType::Decimal | ColumnType::Json | ColumnType::Timestamp) => {
                format!("CAST({q} AS CHAR)")
            }
            (Kind::My, ColumnType::Boolean) => format!("CAST({q} AS SIGNED)"),
            // A binary collation would make the driver see bytes, not text.
            (Kind::My, ColumnType::String) => format!("CONVERT({q} USING utf8mb4)"),
            (Kind::Lite, ColumnType::Decimal | ColumnType::Json | ColumnType::Timestamp) => {
                format!("CAST({q} AS TEXT)")
            }
            _ => q,
        }
    }

    /// All rows of `table`, normalised, sorted by their rendering (keys come first).
    pub(crate) async fn rows(&self, table: &str, cols: &[(&str, ColumnType)]) -> Vec<Vec<Norm>> {
        let list: Vec<String> = cols.iter().map(|(c, t)| self.read_expr(c, *t)).collect();
        let table: Vec<String> = table.split('.').map(|p| self.quote(p)).collect();
        let sql = format!("SELECT {} FROM {}", list.join(", "), table.join("."));
        let mut out: Vec<Vec<Norm>> = match self {
            End::Pg(_, p) => {
                let rows = sqlx::query(&sql).fetch_all(p).await.expect(&sql);
                rows.iter()
                    .map(|r| {
                        cols.iter()
                            .enumerate()
                            .map(|(i, (_, t))| pg_cell(r, i, *t))
                            .collect()
                    })
                    .collect()
            }
            End::My(_, p) => {
                let rows = sqlx::query(&sql).fetch_all(p).await.expect(&sql);
                rows.iter()
                    .map(|r| {
                        cols.iter()
                            .enumerate()
                            .map(|(i, (_, t))| my_cell(r, i, *t))
                            .collect()
                    })
                    .collect()
            }
            End::Lite(_, p) => {
                let rows = sqlx::query(&sql).fetch_all(p).await.expect(&sql);
                rows.iter()
                    .map(|r| {
                        cols.iter()
                            .enumerate()
                            .map(|(i, (_, t))| lite_cell(r, i, *t))
                            .collect()
                    })
                    .collect()
            }
        };
        out.sort_by_key(|r| format!("{r:?}"));
        out
    }
}
