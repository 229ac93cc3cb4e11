//! Dates and times PostgreSQL stores past the ordinary calendar: `infinity`
//! and `-infinity` of timestamps and dates, years before Christ and after
//! 9999, and `time '24:00:00'`. Each failed its row. PostgreSQL to
//! PostgreSQL now carries every one exactly (compared as PostgreSQL's own
//! text on both sides), by binary and by text COPY, into a new table and
//! through the merge; into MariaDB only the rows it cannot represent fail,
//! named by key and saying why; SQLite keeps them as text that comes back
//! unchanged; and an incremental cursor at `infinity` or in year 12000 never
//! becomes the watermark.

use dsp::engine::progress::RunStatus;
use dsp::paths::DataDir;
use dsp::workspace::{ColumnMap, ColumnType, Job, Schema, SyncMode, Workspace};

use crate::support::end::{End, Kind};
use crate::support::run::run_and_collect;

/// (id, timestamptz, timestamp, date, time): each special value alone in its
/// row, the others ordinary, so that a target which cannot hold one fails
/// exactly that row.
const ROWS: &[(i64, &str, &str, &str, &str)] = &[
    (1, "infinity", ORD_TS, ORD_D, ORD_T),
    (2, "-infinity", ORD_TS, ORD_D, ORD_T),
    (3, ORD_TS, "0044-03-15 12:00:00.5 BC", ORD_D, ORD_T),
    (4, ORD_TS, "12000-01-01 01:02:03", ORD_D, ORD_T),
    (5, ORD_TS, ORD_TS, "infinity", ORD_T),
    (6, ORD_TS, ORD_TS, "0044-03-15 BC", ORD_T),
    (7, ORD_TS, ORD_TS, "12000-02-29", ORD_T),
    (
        8,
        "0005-02-29 23:59:59.999999 BC",
        ORD_TS,
        "-infinity",
        ORD_T,
    ),
    (
        9,
        "0001-01-01 00:00:00 BC",
        "4713-11-24 00:00:00 BC",
        ORD_D,
        ORD_T,
    ),
    // What MariaDB holds too: a time of 24:00:00, the first and last years.
    (10, ORD_TS, ORD_TS, ORD_D, "24:00:00"),
    (
        11,
        "0001-01-01 00:00:00+00",
        "9999-12-31 23:59:59.999999",
        "0001-01-01",
        ORD_T,
    ),
    (12, ORD_TS, ORD_TS, "9999-12-31", "23:59:59.999999"),
];
const ORD_TS: &str = "2024-07-01 12:00:00.123456";
const ORD_D: &str = "2024-07-01";
const ORD_T: &str = "12:34:56.5";
/// The rows MariaDB cannot hold.
const NOT_MYSQL: &[i64] = &[1, 2, 3, 4, 5, 6, 7, 8, 9];

const COLS: &str = "id, ts, tsn, d, t";
const TEXT: &str = "SELECT id, ts::text, tsn::text, d::text, t::text FROM cal ORDER BY id";
type Row = (i64, String, String, String, String);

/// Source and PostgreSQL targets alike, so that each column's text compares.
const DDL: &str =
    "CREATE TABLE cal (id bigint PRIMARY KEY, ts timestamptz, tsn timestamp, d date, t time)";

async fn source(src: &End, rows: &[(i64, &str, &str, &str, &str)]) {
    src.exec(DDL).await;
    insert(src, rows).await;
}

async fn insert(src: &End, rows: &[(i64, &str, &str, &str, &str)]) {
    let values: Vec<String> = rows
        .iter()
        .map(|(id, ts, tsn, d, t)| format!("({id}, '{ts}', '{tsn}', '{d}', '{t}')"))
        .collect();
    src.exec(&format!(
        "INSERT INTO cal ({COLS}) VALUES {} ON CONFLICT (id) DO UPDATE SET \
         ts = excluded.ts, tsn = excluded.tsn, d = excluded.d, t = excluded.t",
        values.join(", ")
    ))
    .await;
}

async fn pg_text(end: &End) -> Vec<Row> {
    let End::Pg(_, pool) = end else {
        panic!("not a PostgreSQL end")
    };
    sqlx::query_as(TEXT).fetch_all(pool).await.unwrap()
}

fn workspace(
    src: &End,
    tgt: &End,
    source_table: &str,
    target_table: &str,
    mode: SyncMode,
) -> Workspace {
    let col = |s: &str, ty| ColumnMap {
        source: s.into(),
        target: s.into(),
        ty,
    };
    let mut job = Job::new("J", "S", "T", "C", mode);
    job.max_failed = Some(ROWS.len() as u64);
    Workspace {
        path: None,
        networks: vec![src.network("S"), tgt.network("T")],
        schemas: vec![Schema {
            name: "C".into(),
            source_table: source_table.into(),
            target_table: target_table.into(),
            primary_key: vec!["id".into()],
            cursor_column: (mode == SyncMode::Incremental).then(|| "ts".into()),
            columns: vec![
                col("id", ColumnType::Integer),
                col("ts", ColumnType::Timestamp),
                col("tsn", ColumnType::Timestamp),
                col("d", ColumnType::Date),
                col("t", ColumnType::Time),
            ],
        }],
        jobs: vec![job],
        ..Default::default()
    }
}

/// Runs job `J` and insists it succeeded with `failed` failed rows.
async fn run_ok(ws: &Workspace, data: &DataDir, failed: u64, test: &str) -> Vec<String> {
    let c = run_and_collect(ws, "J", data).await;
    let lines = c.lines();
    assert_eq!(c.summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert_eq!(c.summary.failed, failed, "{test}: {lines:#?}");
    lines
}

/// Into an empty table (binary COPY straight into it), then, after the
/// source changed, through the stage and merge; and into an existing table
/// with a column binary COPY does not encode (the whole COPY goes as text).
#[tokio::test]
async fn postgres_to_postgres_carries_every_date_and_time_exactly() {
    let test = "calendar PG -> PG";
    let dir = crate::support::temp_dir();
    let Some(src) = End::new(Kind::Pg, test, &dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, test, &dir, "").await else {
        return;
    };
    source(&src, ROWS).await;
    tgt.exec(DDL).await;
    let data = DataDir::new(dir.path().join("data"));
    let ws = workspace(&src, &tgt, "cal", "cal", SyncMode::Full);
    run_ok(&ws, &data, 0, test).await;
    let want = pg_text(&src).await;
    assert_eq!(want.len(), ROWS.len(), "{test}: source rows");
    assert_eq!(pg_text(&tgt).await, want, "{test}: empty table");

    // Values swap between rows, so the merge must write each one.
    insert(
        &src,
        &[
            (1, "-infinity", "infinity", "12000-01-01", "24:00:00"),
            (10, "0044-03-15 12:00:00 BC", "-infinity", "infinity", ORD_T),
            (
                13,
                "infinity",
                "12345-06-07 08:09:10",
                "0100-01-01 BC",
                "24:00:00",
            ),
        ],
    )
    .await;
    run_ok(&ws, &data, 0, &format!("{test}, merge")).await;
    assert_eq!(pg_text(&tgt).await, pg_text(&src).await, "{test}: merged");

    // `real` is sent as text, and so then is every column of the COPY.
    let End::Pg(_, tp) = &tgt else { unreachable!() };
    src.exec("ALTER TABLE cal ADD COLUMN x real DEFAULT 1.5")
        .await;
    sqlx::raw_sql(
        "CREATE TABLE cal_text (id bigint PRIMARY KEY, ts timestamptz, tsn timestamp, d date, \
         t time, x real)",
    )
    .execute(tp)
    .await
    .unwrap();
    let mut ws = workspace(&src, &tgt, "cal", "cal_text", SyncMode::Full);
    ws.schemas[0].columns.push(ColumnMap {
        source: "x".into(),
        target: "x".into(),
        ty: ColumnType::Float,
    });
    run_ok(&ws, &data, 0, &format!("{test}, text COPY")).await;
    let got: Vec<Row> = sqlx::query_as(&TEXT.replace("FROM cal ", "FROM cal_text "))
        .fetch_all(tp)
        .await
        .unwrap();
    assert_eq!(got, pg_text(&src).await, "{test}: text COPY");
}

/// MariaDB has no infinite dates and holds years 1 to 9999: those rows fail
/// alone, each named by key with what its value is and why; the rest,
/// `24:00:00` and the first and last years among them, arrive.
#[tokio::test]
async fn into_mariadb_only_the_rows_it_cannot_hold_fail() {
    let test = "calendar PG -> MariaDB";
    let dir = crate::support::temp_dir();
    let Some(src) = End::new(Kind::Pg, test, &dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::My, test, &dir, "").await else {
        return;
    };
    source(&src, ROWS).await;
    let data = DataDir::new(dir.path().join("data"));
    let ws = workspace(&src, &tgt, "cal", "cal", SyncMode::Full);
    let lines = run_ok(&ws, &data, NOT_MYSQL.len() as u64, test)
        .await
        .join("\n");
    for id in NOT_MYSQL {
        assert!(
            lines.contains(&format!("Row id={id} of cal failed")),
            "{test}: {lines}"
        );
    }
    for why in [
        "column ts (timestamp): timestamp infinity (after every date) has no equivalent in MySQL/MariaDB",
        "column ts (timestamp): timestamp -infinity (before every date) has no equivalent in MySQL/MariaDB",
        "column tsn (timestamp): timestamp 0044-03-15 BC is outside the years MySQL/MariaDB stores (1 to 9999)",
        "column tsn (timestamp): timestamp 12000-01-01 is outside the years MySQL/MariaDB stores (1 to 9999)",
        "column d (date): date infinity (after every date) has no equivalent in MySQL/MariaDB",
        "column d (date): date 12000-02-29 is outside the years MySQL/MariaDB stores (1 to 9999)",
    ] {
        assert!(lines.contains(why), "{test}: no \"{why}\" in {lines}");
    }
    let End::My(_, pool) = &tgt else {
        unreachable!()
    };
    let got: Vec<(i64, String, String, String, String)> = sqlx::query_as(
        "SELECT id, CAST(ts AS CHAR), CAST(tsn AS CHAR), CAST(d AS CHAR), CAST(t AS CHAR) \
         FROM cal ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let s = |v: &str| v.to_string();
    let ts = s("2024-07-01 12:00:00.123456");
    let want = vec![
        (10, ts.clone(), ts.clone(), s(ORD_D), s("24:00:00.000000")),
        (
            11,
            s("0001-01-01 00:00:00.000000"),
            s("9999-12-31 23:59:59.999999"),
            s("0001-01-01"),
            s("12:34:56.500000"),
        ),
        (12, ts.clone(), ts, s("9999-12-31"), s("23:59:59.999999")),
    ];
    assert_eq!(got, want, "{test}");
}

/// SQLite keeps dates and times as text: each special value is stored in a
/// spelling DSP reads back as the same value (PostgreSQL's `infinity`,
/// `24:00:00`; ISO 8601's signed years), so PostgreSQL -> SQLite ->
/// PostgreSQL ends where it started.
#[tokio::test]
async fn sqlite_keeps_them_as_text_that_comes_back_unchanged() {
    let test = "calendar PG -> SQLite -> PG";
    let dir = crate::support::temp_dir();
    let Some(src) = End::new(Kind::Pg, test, &dir, "").await else {
        return;
    };
    let Some(back) = End::new(Kind::Pg, test, &dir, "").await else {
        return;
    };
    let lite = End::new(Kind::Lite, test, &dir, "mid").await.unwrap();
    source(&src, ROWS).await;
    let data = DataDir::new(dir.path().join("data"));
    run_ok(
        &workspace(&src, &lite, "cal", "cal", SyncMode::Full),
        &data,
        0,
        test,
    )
    .await;
    let End::Lite(_, pool) = &lite else {
        unreachable!()
    };
    let stored: Vec<(i64, String, String, String, String)> = sqlx::query_as(&format!(
        "SELECT {COLS} FROM cal WHERE id IN (1, 3, 7, 8, 10) ORDER BY id"
    ))
    .fetch_all(pool)
    .await
    .unwrap();
    let [one, three, seven, eight, ten] = &stored[..] else {
        panic!("{test}: {stored:?}")
    };
    assert_eq!(one.1, "infinity", "{test}");
    assert_eq!(three.2, "-0043-03-15T12:00:00.500000Z", "{test}");
    assert_eq!(seven.3, "+12000-02-29", "{test}");
    assert_eq!(eight.3, "-infinity", "{test}");
    assert_eq!(ten.4, "24:00:00", "{test}");

    back.exec(DDL).await;
    let ws = workspace(&lite, &back, "cal", "cal", SyncMode::Full);
    run_ok(
        &ws,
        &DataDir::new(dir.path().join("data2")),
        0,
        &format!("{test}, back"),
    )
    .await;
    assert_eq!(pg_text(&back).await, pg_text(&src).await, "{test}");
}

/// An incremental cursor at `-infinity` is a watermark the next run reads
/// past; one at `infinity` or in year 12000 is past the source's clock, so it
/// never becomes the watermark (it would hide every later change): such rows
/// are read again each run, and later changes arrive.
#[tokio::test]
async fn an_infinite_or_far_cursor_never_pins_the_watermark() {
    let test = "calendar incremental cursor";
    let dir = crate::support::temp_dir();
    let Some(src) = End::new(Kind::Pg, test, &dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, test, &dir, "").await else {
        return;
    };
    let ord = |id| (id, "2024-07-01 00:00:00", ORD_TS, ORD_D, ORD_T);
    source(&src, &[(1, "-infinity", ORD_TS, ORD_D, ORD_T)]).await;
    tgt.exec(DDL).await;
    let data = DataDir::new(dir.path().join("data"));
    let mut ws = workspace(&src, &tgt, "cal", "cal", SyncMode::Incremental);
    ws.jobs[0].lookback = Some("1m".into());
    let watermark = || dsp::engine::state::read_watermark(&data, "J").unwrap();

    run_ok(&ws, &data, 0, test).await;
    assert_eq!(watermark().as_deref(), Some("-infinity"), "{test}");
    insert(
        &src,
        &[
            ord(2),
            (3, "infinity", ORD_TS, ORD_D, ORD_T),
            (4, "12000-01-01", ORD_TS, ORD_D, ORD_T),
        ],
    )
    .await;
    let lines = run_ok(&ws, &data, 0, &format!("{test}, second run")).await;
    assert_eq!(
        pg_text(&tgt).await,
        pg_text(&src).await,
        "{test}: {lines:#?}"
    );
    assert_eq!(
        watermark().as_deref(),
        Some("2024-07-01 00:00:00+00"),
        "{test}: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[WARN] 2 rows of cal have a ts past the source's clock")),
        "{test}: {lines:#?}"
    );

    // Changed long after 2024, long before 12000.
    src.exec("UPDATE cal SET ts = now(), t = '24:00:00' WHERE id IN (1, 2)")
        .await;
    let lines = run_ok(&ws, &data, 0, &format!("{test}, third run")).await;
    assert_eq!(
        pg_text(&tgt).await,
        pg_text(&src).await,
        "{test}: {lines:#?}"
    );
    let wm = watermark().unwrap_or_default();
    assert!(
        !wm.contains("infinity") && !wm.starts_with("12000"),
        "{test}: {wm}"
    );
}
