//! Every source/target engine pair moves the hard values faithfully: 64-bit
//! extremes, decimal(38,10) at full precision, booleans (MySQL TINYINT(1)),
//! timestamps with microseconds and zones, NULLs, emoji/CJK/RTL text and JSON,
//! plus a composite key whose text part differs only by case, accent or a
//! trailing space. Target and source are read back independently and compared
//! value by value after normalising each engine's spelling; a second run
//! mirrors updates, deletes and inserts.

mod support;

use std::path::PathBuf;

use chrono::{DateTime, NaiveDateTime, Utc};
use dsp::engine::progress::{Reporter, RunStatus, RunSummary};
use dsp::engine::runner::run_job;
use dsp::paths::DataDir;
use dsp::workspace::{ColumnType, Workspace};
use sqlx::Row;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pg,
    My,
    Lite,
}

/// One end of a sync: a private test database (or SQLite file) and a pool on it.
enum End {
    Pg(support::TestDb, sqlx::PgPool),
    My(support::TestDb, sqlx::MySqlPool),
    Lite(PathBuf, sqlx::SqlitePool),
}

impl End {
    async fn new(kind: Kind, test: &str, dir: &tempfile::TempDir, file: &str) -> Option<End> {
        Some(match kind {
            Kind::Pg => {
                let db = support::pg_db(test).await?;
                let pool = db.pool_pg().await;
                End::Pg(db, pool)
            }
            Kind::My => {
                let db = support::mysql_db(test).await?;
                let pool = db.pool_mysql().await;
                End::My(db, pool)
            }
            Kind::Lite => {
                let path = support::sqlite_path(dir, file);
                let opts = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true);
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect_with(opts)
                    .await
                    .expect("open SQLite file");
                End::Lite(path, pool)
            }
        })
    }

    fn kind(&self) -> Kind {
        match self {
            End::Pg(..) => Kind::Pg,
            End::My(..) => Kind::My,
            End::Lite(..) => Kind::Lite,
        }
    }

    fn network_toml(&self, name: &str) -> String {
        match self {
            End::Pg(db, _) | End::My(db, _) => db.network_toml(name),
            End::Lite(path, _) => format!(
                "[[network]]\nname = \"{name}\"\ntype = \"sqlite\"\ndatabase = \"{}\"\n",
                path.display()
            ),
        }
    }

    async fn exec(&self, sql: &str) {
        let r = match self {
            End::Pg(_, p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
            End::My(_, p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
            End::Lite(_, p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
        };
        if let Err(e) = r {
            panic!("{:?}: {sql}: {e}", self.kind());
        }
    }

    fn quote(&self, ident: &str) -> String {
        match self.kind() {
            Kind::My => format!("`{ident}`"),
            _ => format!("\"{ident}\""),
        }
    }

    /// The select expression that reads `col` of type `ty` in a comparable form.
    fn read_expr(&self, col: &str, ty: ColumnType) -> String {
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
    async fn rows(&self, table: &str, cols: &[(&str, ColumnType)]) -> Vec<Vec<Norm>> {
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

/// A value as compared: one spelling per meaning, whatever engine held it.
#[derive(Debug, Clone, PartialEq)]
enum Norm {
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

fn norm_decimal(s: &str) -> String {
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
fn norm_ts(s: &str) -> DateTime<Utc> {
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

fn norm_json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("JSON read back as {s:?}: {e}"))
}

fn bool_of(i: i64) -> bool {
    assert!(i == 0 || i == 1, "boolean read back as {i}");
    i == 1
}

fn text_cell(v: Option<String>, ty: ColumnType) -> Norm {
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

fn pg_cell(r: &sqlx::postgres::PgRow, i: usize, ty: ColumnType) -> Norm {
    match ty {
        ColumnType::Integer => r.get::<Option<i64>, _>(i).map_or(Norm::Null, Norm::Int),
        ColumnType::Float => r
            .get::<Option<f64>, _>(i)
            .map_or(Norm::Null, |f| Norm::Float(f.to_bits())),
        ColumnType::Boolean => r.get::<Option<bool>, _>(i).map_or(Norm::Null, Norm::Bool),
        _ => text_cell(r.get(i), ty),
    }
}

fn my_cell(r: &sqlx::mysql::MySqlRow, i: usize, ty: ColumnType) -> Norm {
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

fn lite_cell(r: &sqlx::sqlite::SqliteRow, i: usize, ty: ColumnType) -> Norm {
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

// ---------------------------------------------------------------------------
// The data

const TYPES: [ColumnType; 8] = [
    ColumnType::Integer,
    ColumnType::Integer,
    ColumnType::Decimal,
    ColumnType::Boolean,
    ColumnType::Timestamp,
    ColumnType::String,
    ColumnType::Json,
    ColumnType::Float,
];
const SRC_COLS: [&str; 8] = ["id", "big", "amount", "flag", "at", "label", "doc", "ratio"];
const TGT_COLS: [&str; 8] = [
    "key_id", "big_n", "amount_d", "is_flag", "at_ts", "label_s", "doc_j", "ratio_f",
];

fn cols<'a>(names: &[&'a str], types: &[ColumnType]) -> Vec<(&'a str, ColumnType)> {
    names.iter().copied().zip(types.iter().copied()).collect()
}

/// One source row: the timestamp as written with its offset, and the instant it means.
struct Case {
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

const DOC: &str = r#"{"a":[1,2,{"b":null}],"u":"é"}"#;

fn cases() -> Vec<Case> {
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

fn expected(cases: &[Case]) -> Vec<Vec<Norm>> {
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
fn lit(kind: Kind, s: Option<&str>) -> String {
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

fn num(v: Option<i64>) -> String {
    v.map_or("NULL".into(), |i| i.to_string())
}

async fn create_source(src: &End, cases: &[Case]) {
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

const MULTI_TYPES: [ColumnType; 3] = [ColumnType::Integer, ColumnType::String, ColumnType::String];

/// Keys that differ only by case, accent or trailing space are distinct rows.
const MULTI: [(i64, &str, Option<&str>); 7] = [
    (1, "a", Some("lower")),
    (1, "A", Some("upper")),
    (1, "a ", Some("trailing space")),
    (1, "á", Some("accent")),
    (2, "a", None),
    (-5, "漢", Some("字")),
    (i64::MAX, "😀", Some("emoji key")),
];

async fn create_multi(src: &End) {
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

fn workspace_toml(src: &End, tgt: &End) -> String {
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

async fn run(ws: &Workspace, data: &DataDir, job: &str) -> (RunSummary, Vec<String>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let summary = run_job(
        ws,
        job,
        data,
        CancellationToken::new(),
        Reporter::new(job, tx),
    )
    .await;
    let mut lines = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let dsp::engine::progress::ProgressEvent::Log { line, .. } = ev {
            lines.push(line.to_string());
        }
    }
    (summary, lines)
}

fn assert_succeeded(s: &RunSummary, lines: &[String], rows: u64, what: &str) {
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

async fn matrix(source: Kind, target: Kind) {
    let test = format!("engine_matrix {source:?} -> {target:?}");
    let dir = support::temp_dir();
    let Some(src) = End::new(source, &format!("{test} (source)"), &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &dir, "target").await else {
        return;
    };
    let cases = cases();
    create_source(&src, &cases).await;
    create_multi(&src).await;

    let ws_path = dir.path().join("workspace.toml");
    let text = workspace_toml(&src, &tgt);
    let ws = dsp::workspace::load_str(&text, &ws_path)
        .unwrap_or_else(|e| panic!("{test}: workspace does not load: {e}\n{text}"));
    let data = DataDir::new(dir.path().join("data"));

    let src_cols = cols(&SRC_COLS, &TYPES);
    let tgt_cols = cols(&TGT_COLS, &TYPES);
    let want = expected(&cases);
    // The source itself reads back as written, so a match below is not two
    // equal misreadings.
    assert_eq!(
        src.rows("src_types", &src_cols).await,
        want,
        "{test}: source as written"
    );

    let (s, lines) = run(&ws, &data, "types").await;
    assert_succeeded(&s, &lines, cases.len() as u64, &test);
    compare(&test, &want, &tgt.rows("dst_types", &tgt_cols).await);

    let multi_src = cols(&["org_id", "code", "note"], &MULTI_TYPES);
    let multi_tgt = cols(&["org", "code_s", "note_s"], &MULTI_TYPES);
    let multi_want = src.rows("src_multi", &multi_src).await;
    assert_eq!(
        multi_want.len(),
        MULTI.len(),
        "{test}: composite source rows"
    );
    let (s, lines) = run(&ws, &data, "multi").await;
    assert_succeeded(&s, &lines, MULTI.len() as u64, &format!("{test} composite"));
    compare(
        &format!("{test} composite key"),
        &multi_want,
        &tgt.rows("dst_multi", &multi_tgt).await,
    );

    // Reserved words, spaces and mixed case in table and column names.
    let q = |i: &str| src.quote(i);
    src.exec(&format!(
        "CREATE TABLE {} ({} BIGINT PRIMARY KEY, {} TEXT, {} TEXT, {} BIGINT)",
        q("Order Items"),
        q("order"),
        q("User Name"),
        q("select"),
        q("CamelCase")
    ))
    .await;
    src.exec(&format!(
        "INSERT INTO {} ({}, {}, {}, {}) VALUES (1, 'Ann', 'x', 10), (2, NULL, 'y''z', -3)",
        q("Order Items"),
        q("order"),
        q("User Name"),
        q("select"),
        q("CamelCase")
    ))
    .await;
    let names_types = [
        ColumnType::Integer,
        ColumnType::String,
        ColumnType::String,
        ColumnType::Integer,
    ];
    let names_want = src
        .rows(
            "Order Items",
            &cols(&["order", "User Name", "select", "CamelCase"], &names_types),
        )
        .await;
    let (s, lines) = run(&ws, &data, "names").await;
    assert_succeeded(&s, &lines, 2, &format!("{test} names"));
    compare(
        &format!("{test} quoted names"),
        &names_want,
        &tgt.rows(
            "Dst Items",
            &cols(&["group", "Full Name", "from", "MixedCase"], &names_types),
        )
        .await,
    );

    // A second run mirrors an update, a delete and an insert in the source.
    let k = src.kind();
    src.exec(&format!(
        "UPDATE src_types SET label = {}, amount = {}, big = NULL WHERE id = 0",
        lit(k, Some("changed ☃")),
        lit(k, Some("-12345678901234567890.1234567891"))
    ))
    .await;
    src.exec("DELETE FROM src_types WHERE id = -1").await;
    src.exec(&format!(
        "INSERT INTO src_types (id, label) VALUES (100, {})",
        lit(k, Some("new row"))
    ))
    .await;
    src.exec(&format!(
        "UPDATE src_multi SET note = {} WHERE org_id = 1 AND code = {}",
        lit(k, Some("changed upper")),
        lit(k, Some("A"))
    ))
    .await;
    let want = src.rows("src_types", &src_cols).await;
    assert_eq!(want.len(), cases.len(), "{test}: source after changes");
    let (s, lines) = run(&ws, &data, "types").await;
    assert_succeeded(
        &s,
        &lines,
        cases.len() as u64,
        &format!("{test} second run"),
    );
    compare(
        &format!("{test} after update/delete/insert"),
        &want,
        &tgt.rows("dst_types", &tgt_cols).await,
    );
    let multi_want = src.rows("src_multi", &multi_src).await;
    let (s, lines) = run(&ws, &data, "multi").await;
    assert_succeeded(
        &s,
        &lines,
        MULTI.len() as u64,
        &format!("{test} composite second run"),
    );
    compare(
        &format!("{test} composite key after update"),
        &multi_want,
        &tgt.rows("dst_multi", &multi_tgt).await,
    );
}

/// Row-count first, then the first differing row and column, for a readable failure.
fn compare(what: &str, want: &[Vec<Norm>], got: &[Vec<Norm>]) {
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

#[tokio::test]
async fn pg_to_pg() {
    matrix(Kind::Pg, Kind::Pg).await;
}

#[tokio::test]
async fn pg_to_mysql() {
    matrix(Kind::Pg, Kind::My).await;
}

#[tokio::test]
async fn pg_to_sqlite() {
    matrix(Kind::Pg, Kind::Lite).await;
}

#[tokio::test]
async fn mysql_to_pg() {
    matrix(Kind::My, Kind::Pg).await;
}

#[tokio::test]
async fn mysql_to_mysql() {
    matrix(Kind::My, Kind::My).await;
}

#[tokio::test]
async fn mysql_to_sqlite() {
    matrix(Kind::My, Kind::Lite).await;
}

#[tokio::test]
async fn sqlite_to_pg() {
    matrix(Kind::Lite, Kind::Pg).await;
}

#[tokio::test]
async fn sqlite_to_mysql() {
    matrix(Kind::Lite, Kind::My).await;
}

#[tokio::test]
async fn sqlite_to_sqlite() {
    matrix(Kind::Lite, Kind::Lite).await;
}

/// Timestamps stored without a zone are read in the source network's
/// `timezone`: the target holds the instants they mean.
async fn naive_in_zone(source: Kind) {
    let test = format!("naive timestamps from {source:?}");
    let dir = support::temp_dir();
    let Some(src) = End::new(source, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, &format!("{test} (target)"), &dir, "target").await else {
        return;
    };
    let (ddl, zone) = match source {
        Kind::Pg => (
            "CREATE TABLE t (id BIGINT PRIMARY KEY, at TIMESTAMP(6))",
            "Asia/Kolkata",
        ),
        Kind::My => (
            "CREATE TABLE t (id BIGINT PRIMARY KEY, at DATETIME(6))",
            "America/New_York",
        ),
        Kind::Lite => (
            "CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT)",
            "Europe/Berlin",
        ),
    };
    src.exec(ddl).await;
    // (wall clock in the zone, the UTC instant it means)
    let rows: &[(&str, &str)] = match source {
        Kind::Pg => &[
            ("2024-01-15 05:30:00.000001", "2024-01-15 00:00:00.000001"),
            ("2024-07-01 00:00:00", "2024-06-30 18:30:00"),
        ],
        Kind::My => &[
            ("2024-01-15 07:00:00.250000", "2024-01-15 12:00:00.25"),
            // Daylight saving: UTC-4 in summer.
            ("2024-07-01 20:00:00", "2024-07-02 00:00:00"),
        ],
        Kind::Lite => &[
            ("2024-01-15T01:00:00.999999", "2024-01-15 00:00:00.999999"),
            ("2024-07-01 02:00:00", "2024-07-01 00:00:00"),
        ],
    };
    for (i, (wall, _)) in rows.iter().enumerate() {
        src.exec(&format!("INSERT INTO t (id, at) VALUES ({i}, '{wall}')"))
            .await;
    }
    let text = src
        .network_toml("Source")
        .replace("type = ", &format!("timezone = \"{zone}\"\ntype = "))
        + "\n"
        + &tgt.network_toml("Target")
        + r#"
[[schema]]
name = "S"
source_table = "t"
target_table = "t_utc"
primary_key = "id"
columns = [
  { source = "id", target = "id", type = "integer" },
  { source = "at", target = "at", type = "timestamp" },
]

[[job]]
name = "J"
source = "Source"
target = "Target"
schema = "S"
"#;
    let ws = dsp::workspace::load_str(&text, &dir.path().join("workspace.toml"))
        .unwrap_or_else(|e| panic!("{test}: {e}\n{text}"));
    let data = DataDir::new(dir.path().join("data"));
    let (s, lines) = run(&ws, &data, "J").await;
    assert_succeeded(&s, &lines, rows.len() as u64, &test);
    let mut want: Vec<Vec<Norm>> = rows
        .iter()
        .enumerate()
        .map(|(i, (_, utc))| vec![Norm::Int(i as i64), Norm::Ts(norm_ts(utc))])
        .collect();
    want.sort_by_key(|r| format!("{r:?}"));
    let got = tgt
        .rows(
            "t_utc",
            &cols(&["id", "at"], &[ColumnType::Integer, ColumnType::Timestamp]),
        )
        .await;
    compare(&test, &want, &got);
}

#[tokio::test]
async fn naive_pg_timestamps_are_read_in_the_network_zone() {
    naive_in_zone(Kind::Pg).await;
}

#[tokio::test]
async fn naive_mysql_datetimes_are_read_in_the_network_zone() {
    naive_in_zone(Kind::My).await;
}

#[tokio::test]
async fn naive_sqlite_timestamps_are_read_in_the_network_zone() {
    naive_in_zone(Kind::Lite).await;
}

/// `schema.table` names on PostgreSQL, source and target, outside `public`.
#[tokio::test]
async fn schema_qualified_pg_tables() {
    let test = "schema-qualified PG tables";
    let dir = support::temp_dir();
    let Some(src) = End::new(Kind::Pg, test, &dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, test, &dir, "").await else {
        return;
    };
    src.exec("CREATE SCHEMA sales; CREATE TABLE sales.orders (id BIGINT PRIMARY KEY, v TEXT)")
        .await;
    src.exec("INSERT INTO sales.orders VALUES (1, 'a'), (2, 'b')")
        .await;
    // The same table name in `public` must not be read instead.
    src.exec("CREATE TABLE public.orders (id BIGINT PRIMARY KEY, v TEXT); INSERT INTO public.orders VALUES (99, 'wrong')")
        .await;
    tgt.exec("CREATE SCHEMA analytics; CREATE TABLE public.orders_copy (id BIGINT PRIMARY KEY, v TEXT); INSERT INTO public.orders_copy VALUES (7, 'untouched')")
        .await;
    let text = src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + r#"
[[schema]]
name = "S"
source_table = "sales.orders"
target_table = "analytics.orders_copy"
primary_key = "id"
columns = [
  { source = "id", target = "id", type = "integer" },
  { source = "v", target = "v", type = "string" },
]

[[job]]
name = "J"
source = "Source"
target = "Target"
schema = "S"
"#;
    let ws = dsp::workspace::load_str(&text, &dir.path().join("workspace.toml")).unwrap();
    let data = DataDir::new(dir.path().join("data"));
    for round in 0..2 {
        let (s, lines) = run(&ws, &data, "J").await;
        assert_succeeded(&s, &lines, 2, &format!("{test} round {round}"));
        let c = cols(&["id", "v"], &[ColumnType::Integer, ColumnType::String]);
        compare(
            test,
            &src.rows("sales.orders", &c).await,
            &tgt.rows("analytics.orders_copy", &c).await,
        );
        compare(
            &format!("{test}: public.orders_copy"),
            &[vec![Norm::Int(7), Norm::Text("untouched".into())]],
            &tgt.rows("public.orders_copy", &c).await,
        );
    }
}

/// How an incremental test's source stores its cursor.
#[derive(Debug, Clone, Copy)]
enum Cursor {
    PgTimestamptz,
    /// `timestamp` without zone, read in the network's zone.
    PgNaive,
    /// `DATETIME(6)`, read in the network's zone.
    MyDatetime,
    /// `TIMESTAMP(6)`: an instant, whatever the zone.
    MyTimestamp,
    /// ISO text `2024-03-09 12:00:00.999990`, read in the network's zone.
    LiteSpace,
    /// ISO text `2024-03-09T12:00:00.999990Z`.
    LiteZulu,
}

/// Incremental runs from every engine, with cursor values a microsecond apart
/// and shared by several rows: each run picks up exactly what changed, rows
/// sharing the watermark's value are not missed, and nothing is lost.
async fn incremental_from(cursor: Cursor, lookback: Option<&str>) {
    use chrono::{Duration, NaiveDateTime, TimeZone};
    let test = format!("incremental from {cursor:?} (lookback {lookback:?})");
    let source = match cursor {
        Cursor::PgTimestamptz | Cursor::PgNaive => Kind::Pg,
        Cursor::MyDatetime | Cursor::MyTimestamp => Kind::My,
        Cursor::LiteSpace | Cursor::LiteZulu => Kind::Lite,
    };
    let dir = support::temp_dir();
    let Some(src) = End::new(source, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, &format!("{test} (target)"), &dir, "target").await else {
        return;
    };
    let zone: chrono_tz::Tz = match cursor {
        Cursor::PgNaive => chrono_tz::Asia::Kolkata,
        Cursor::MyDatetime => chrono_tz::America::New_York,
        Cursor::LiteSpace => chrono_tz::Europe::Berlin,
        _ => chrono_tz::UTC,
    };
    let ddl = match cursor {
        Cursor::PgTimestamptz => "CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT, c TIMESTAMPTZ)",
        Cursor::PgNaive => "CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT, c TIMESTAMP(6))",
        Cursor::MyDatetime => "CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT, c DATETIME(6))",
        Cursor::MyTimestamp => {
            "CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT, c TIMESTAMP(6) NULL DEFAULT NULL)"
        }
        Cursor::LiteSpace | Cursor::LiteZulu => {
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, c TEXT)"
        }
    };
    src.exec(ddl).await;
    let base = NaiveDateTime::parse_from_str("2024-03-09 12:00:00.999990", "%Y-%m-%d %H:%M:%S%.f")
        .unwrap();
    // The wall clock a row's cursor holds in the source, as SQL text.
    let wall = |step: i64| base + Duration::microseconds(step);
    let literal = |step: i64| -> String {
        let w = wall(step);
        match cursor {
            Cursor::PgTimestamptz => format!("'{}+00'", w.format("%Y-%m-%d %H:%M:%S%.6f")),
            Cursor::LiteZulu => format!("'{}Z'", w.format("%Y-%m-%dT%H:%M:%S%.6f")),
            _ => format!("'{}'", w.format("%Y-%m-%d %H:%M:%S%.6f")),
        }
    };
    // The instant it means.
    let instant = |step: i64| -> chrono::DateTime<Utc> {
        zone.from_local_datetime(&wall(step))
            .single()
            .expect("no DST edge in the test data")
            .with_timezone(&Utc)
    };
    // MySQL TIMESTAMP literals are read in the session zone: pin it to UTC.
    let insert = |id: i64, v: &str, step: i64| {
        format!(
            "INSERT INTO t (id, v, c) VALUES ({id}, '{v}', {})",
            literal(step)
        )
    };
    let mut expect: std::collections::BTreeMap<i64, (String, i64)> = Default::default();
    for id in 1..=50 {
        // Five rows share each cursor value; 30 µs cross a second boundary.
        let step = id / 5;
        src.exec(&insert(id, &format!("r{id}"), step)).await;
        expect.insert(id, (format!("r{id}"), step));
    }
    let text = src.network_toml("Source").replace(
        "type = ",
        &format!("timezone = \"{}\"\ntype = ", zone.name()),
    ) + "\n"
        + &tgt.network_toml("Target")
        + &format!(
            r#"
[[schema]]
name = "S"
source_table = "t"
target_table = "t_copy"
primary_key = "id"
cursor_column = "c"
columns = [
  {{ source = "id", target = "id", type = "integer" }},
  {{ source = "v", target = "v", type = "string" }},
  {{ source = "c", target = "c", type = "timestamp" }},
]

[[job]]
name = "J"
source = "Source"
target = "Target"
schema = "S"
mode = "incremental"
batch_size = 7
{}
"#,
            lookback.map_or(String::new(), |l| format!("lookback = \"{l}\""))
        );
    let ws = dsp::workspace::load_str(&text, &dir.path().join("workspace.toml"))
        .unwrap_or_else(|e| panic!("{test}: {e}\n{text}"));
    let data = DataDir::new(dir.path().join("data"));
    let types = [
        ColumnType::Integer,
        ColumnType::String,
        ColumnType::Timestamp,
    ];
    let check = |round: &str, expect: &std::collections::BTreeMap<i64, (String, i64)>| {
        let mut want: Vec<Vec<Norm>> = expect
            .iter()
            .map(|(id, (v, step))| {
                vec![
                    Norm::Int(*id),
                    Norm::Text(v.clone()),
                    Norm::Ts(instant(*step)),
                ]
            })
            .collect();
        want.sort_by_key(|r| format!("{r:?}"));
        (format!("{test}: {round}"), want)
    };

    let (s, lines) = run(&ws, &data, "J").await;
    assert_succeeded(&s, &lines, 50, &format!("{test}: first run"));
    let (what, want) = check("first run", &expect);
    compare(
        &what,
        &want,
        &tgt.rows("t_copy", &cols(&["id", "v", "c"], &types)).await,
    );

    // New rows at and after the watermark (10), and an update moved past it.
    for (id, step) in [(51, 10), (52, 11)] {
        src.exec(&insert(id, &format!("r{id}"), step)).await;
        expect.insert(id, (format!("r{id}"), step));
    }
    src.exec(&format!(
        "UPDATE t SET v = 'changed', c = {} WHERE id = 3",
        literal(12)
    ))
    .await;
    expect.insert(3, ("changed".into(), 12));
    let (s, lines) = run(&ws, &data, "J").await;
    assert_eq!(
        s.status,
        RunStatus::Succeeded,
        "{test}: second run {:?}\n{}",
        s.error,
        lines.join("\n")
    );
    assert_eq!(s.failed, 0, "{test}: second run");
    let (what, want) = check("second run", &expect);
    compare(
        &what,
        &want,
        &tgt.rows("t_copy", &cols(&["id", "v", "c"], &types)).await,
    );

    // A row committed late with exactly the watermark's value.
    src.exec(&insert(53, "r53", 12)).await;
    expect.insert(53, ("r53".into(), 12));
    let (s, lines) = run(&ws, &data, "J").await;
    assert_eq!(
        s.status,
        RunStatus::Succeeded,
        "{test}: third run {:?}\n{}",
        s.error,
        lines.join("\n")
    );
    let (what, want) = check("row at the watermark", &expect);
    compare(
        &what,
        &want,
        &tgt.rows("t_copy", &cols(&["id", "v", "c"], &types)).await,
    );
    if lookback.is_none() {
        // Only the rows at the watermark's value are read again.
        assert_eq!(
            s.total,
            2,
            "{test}: third run re-read more than the boundary\n{}",
            lines.join("\n")
        );
    }
}

#[tokio::test]
async fn incremental_from_pg_timestamptz() {
    incremental_from(Cursor::PgTimestamptz, None).await;
}

#[tokio::test]
async fn incremental_from_pg_naive_timestamp_in_zone() {
    incremental_from(Cursor::PgNaive, None).await;
}

#[tokio::test]
async fn incremental_from_mysql_datetime_in_zone() {
    incremental_from(Cursor::MyDatetime, None).await;
}

#[tokio::test]
async fn incremental_from_mysql_timestamp() {
    incremental_from(Cursor::MyTimestamp, None).await;
}

#[tokio::test]
async fn incremental_from_sqlite_text_in_zone() {
    incremental_from(Cursor::LiteSpace, None).await;
}

#[tokio::test]
async fn incremental_from_sqlite_zulu_text_with_lookback() {
    incremental_from(Cursor::LiteZulu, Some("1s")).await;
}

#[tokio::test]
async fn incremental_from_mysql_datetime_with_lookback() {
    incremental_from(Cursor::MyDatetime, Some("5m")).await;
}

/// An existing target whose columns are in another order, with an extra
/// column the mapping does not write, fed from a view: values land in their
/// own columns and the extra column keeps its values.
async fn existing_target_layout(target: Kind) {
    let test = format!("existing {target:?} target, other column order");
    let dir = support::temp_dir();
    let Some(src) = End::new(Kind::Pg, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &dir, "target").await else {
        return;
    };
    src.exec(
        "CREATE TABLE base (id BIGINT PRIMARY KEY, a TEXT, b BIGINT, hidden TEXT); \
         INSERT INTO base VALUES (1, 'one', 10, 'h'), (2, 'two', 20, 'h'), (3, NULL, NULL, 'h'); \
         CREATE VIEW v_src AS SELECT id, a, b FROM base WHERE id < 100",
    )
    .await;
    let q = |i: &str| tgt.quote(i);
    tgt.exec(&format!(
        "CREATE TABLE dst ({} TEXT, {} BIGINT, note TEXT DEFAULT 'dflt', {} BIGINT NOT NULL PRIMARY KEY)",
        q("b_text"),
        q("a_num"),
        q("key")
    ))
    .await;
    tgt.exec(&format!(
        "INSERT INTO dst ({}, {}, note, {}) VALUES ('old', 0, 'kept', 1), ('gone', 0, 'x', 50)",
        q("b_text"),
        q("a_num"),
        q("key")
    ))
    .await;
    let text = src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + r#"
[[schema]]
name = "S"
source_table = "v_src"
target_table = "dst"
primary_key = "id"
columns = [
  { source = "id", target = "key", type = "integer" },
  { source = "b", target = "a_num", type = "integer" },
  { source = "a", target = "b_text", type = "string" },
]

[[job]]
name = "J"
source = "Source"
target = "Target"
schema = "S"
max_delete_percent = 100
"#;
    let ws = dsp::workspace::load_str(&text, &dir.path().join("workspace.toml")).unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let (s, lines) = run(&ws, &data, "J").await;
    assert_succeeded(&s, &lines, 3, &test);
    let types = [
        ColumnType::Integer,
        ColumnType::Integer,
        ColumnType::String,
        ColumnType::String,
    ];
    let got = tgt
        .rows("dst", &cols(&["key", "a_num", "b_text", "note"], &types))
        .await;
    let t = |s: &str| Norm::Text(s.into());
    let mut want = vec![
        vec![Norm::Int(1), Norm::Int(10), t("one"), t("kept")],
        vec![Norm::Int(2), Norm::Int(20), t("two"), t("dflt")],
        vec![Norm::Int(3), Norm::Null, Norm::Null, t("dflt")],
    ];
    want.sort_by_key(|r| format!("{r:?}"));
    compare(&test, &want, &got);
}

#[tokio::test]
async fn existing_pg_target_with_other_column_order_and_extra_column() {
    existing_target_layout(Kind::Pg).await;
}

#[tokio::test]
async fn existing_mysql_target_with_other_column_order_and_extra_column() {
    existing_target_layout(Kind::My).await;
}

#[tokio::test]
async fn existing_sqlite_target_with_other_column_order_and_extra_column() {
    existing_target_layout(Kind::Lite).await;
}

/// Multi-megabyte text and JSON values cross every engine whole.
async fn large_values(source: Kind, target: Kind) {
    let test = format!("large values {source:?} -> {target:?}");
    let dir = support::temp_dir();
    let Some(src) = End::new(source, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &dir, "target").await else {
        return;
    };
    let ddl = match source {
        Kind::Pg => "CREATE TABLE t (id BIGINT PRIMARY KEY, body TEXT, doc JSONB)",
        Kind::My => {
            "CREATE TABLE t (id BIGINT PRIMARY KEY, body LONGTEXT CHARACTER SET utf8mb4, doc JSON)"
        }
        Kind::Lite => "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT, doc TEXT)",
    };
    src.exec(ddl).await;
    // ~3 MB of 4-byte characters and quotes, ~1 MB of JSON; several such rows
    // so that a writer must split its statements.
    let body: String = "😀'\\\"漢 ".repeat(300_000);
    let items: Vec<String> = (0..60_000)
        .map(|i| format!("{{\"i\":{i},\"s\":\"é\"}}"))
        .collect();
    let doc = format!("[{}]", items.join(","));
    for id in 1..=6 {
        src.exec(&format!(
            "INSERT INTO t (id, body, doc) VALUES ({id}, {}, {})",
            lit(source, Some(&format!("{id}{body}"))),
            lit(source, Some(&doc))
        ))
        .await;
    }
    let text = src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + r#"
[[schema]]
name = "S"
source_table = "t"
target_table = "t_copy"
primary_key = "id"
columns = [
  { source = "id", target = "id", type = "integer" },
  { source = "body", target = "body", type = "string" },
  { source = "doc", target = "doc", type = "json" },
]

[[job]]
name = "J"
source = "Source"
target = "Target"
schema = "S"
batch_size = 4
"#;
    let ws = dsp::workspace::load_str(&text, &dir.path().join("workspace.toml")).unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let (s, lines) = run(&ws, &data, "J").await;
    assert_succeeded(&s, &lines, 6, &test);
    let types = [ColumnType::Integer, ColumnType::String, ColumnType::Json];
    let c = cols(&["id", "body", "doc"], &types);
    let want = src.rows("t", &c).await;
    let got = tgt.rows("t_copy", &c).await;
    assert_eq!(want.len(), 6);
    // Not through compare(): a failure message must not print megabytes.
    for (w, g) in want.iter().zip(&got) {
        assert!(w == g, "{test}: row {:?} differs", w[0]);
    }
    assert_eq!(got.len(), 6, "{test}: row count");
}

#[tokio::test]
async fn large_values_pg_to_mysql() {
    large_values(Kind::Pg, Kind::My).await;
}

#[tokio::test]
async fn large_values_mysql_to_pg() {
    large_values(Kind::My, Kind::Pg).await;
}

#[tokio::test]
async fn large_values_sqlite_to_sqlite() {
    large_values(Kind::Lite, Kind::Lite).await;
}

/// A network's `timezone` governs its zone-less columns both ways: instants
/// written into a MySQL DATETIME or PostgreSQL `timestamp` column of a
/// network in Europe/Berlin hold Berlin wall-clock time, and reading them
/// back through the same network gives the same instants.
async fn zoned_round_trip(via: Kind) {
    let test = format!("round trip through a zoned {via:?} network");
    let dir = support::temp_dir();
    let Some(src) = End::new(Kind::Pg, &test, &dir, "source").await else {
        return;
    };
    let Some(mid) = End::new(via, &format!("{test} (middle)"), &dir, "middle").await else {
        return;
    };
    src.exec(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, at TIMESTAMPTZ); \
         INSERT INTO t VALUES (1, '2024-01-01 12:00:00.000001+00'), (2, '2024-07-01 12:00:00+00'), (3, NULL)",
    )
    .await;
    // An existing zone-less column in the middle.
    mid.exec(match via {
        Kind::My => "CREATE TABLE t_mid (id BIGINT PRIMARY KEY, at DATETIME(6))",
        _ => "CREATE TABLE t_mid (id BIGINT PRIMARY KEY, at TIMESTAMP WITHOUT TIME ZONE)",
    })
    .await;
    let text = src.network_toml("Source")
        + "\n"
        + &mid
            .network_toml("Middle")
            .replace("type = ", "timezone = \"Europe/Berlin\"\ntype = ")
        + r#"
[[schema]]
name = "There"
source_table = "t"
target_table = "t_mid"
primary_key = "id"
columns = [
  { source = "id", target = "id", type = "integer" },
  { source = "at", target = "at", type = "timestamp" },
]

[[schema]]
name = "Back"
source_table = "t_mid"
target_table = "t_back"
primary_key = "id"
columns = [
  { source = "id", target = "id", type = "integer" },
  { source = "at", target = "at", type = "timestamp" },
]

[[job]]
name = "there"
source = "Source"
target = "Middle"
schema = "There"

[[job]]
name = "back"
source = "Middle"
target = "Source"
schema = "Back"
"#;
    let ws = dsp::workspace::load_str(&text, &dir.path().join("workspace.toml")).unwrap();
    let data = DataDir::new(dir.path().join("data"));
    for job in ["there", "back"] {
        let (s, lines) = run(&ws, &data, job).await;
        assert_succeeded(&s, &lines, 3, &format!("{test}: {job}"));
    }
    // The middle holds Berlin wall clock (UTC+1 in winter, +2 in summer).
    let wall: Vec<Vec<Norm>> = mid
        .rows(
            "t_mid",
            &cols(&["id", "at"], &[ColumnType::Integer, ColumnType::Timestamp]),
        )
        .await;
    let ts = |s: &str| Norm::Ts(norm_ts(s));
    let mut want_wall = vec![
        vec![Norm::Int(1), ts("2024-01-01 13:00:00.000001")],
        vec![Norm::Int(2), ts("2024-07-01 14:00:00")],
        vec![Norm::Int(3), Norm::Null],
    ];
    want_wall.sort_by_key(|r| format!("{r:?}"));
    compare(
        &format!("{test}: wall clock in the middle"),
        &want_wall,
        &wall,
    );
    let tc = cols(&["id", "at"], &[ColumnType::Integer, ColumnType::Timestamp]);
    compare(
        &format!("{test}: instants after the round trip"),
        &src.rows("t", &tc).await,
        &src.rows("t_back", &tc).await,
    );
}

#[tokio::test]
async fn a_zoned_mysql_network_writes_and_reads_datetime_in_its_zone() {
    zoned_round_trip(Kind::My).await;
}

#[tokio::test]
async fn a_zoned_pg_network_writes_and_reads_naive_timestamps_in_its_zone() {
    zoned_round_trip(Kind::Pg).await;
}
