//! Every canonical column type through every engine, MySQL's TINYINT(1) and
//! big unsigned integers, and existing PostgreSQL targets of narrower types.

use dsp::engine::progress::RunStatus;
use dsp::paths::DataDir;
use dsp::workspace::{ColumnType, Job, Schema, SyncMode, Workspace};
use sqlx::Executor;

use crate::seed::*;
use crate::support;
use crate::support::cli::*;
use crate::support::end::{End, Kind, lite_pool};
use crate::support::run::run_and_collect;
use crate::support::workspace::{SchemaJob, WorkspaceToml};

fn typed_schema(name: &str, source: &str, target: &str) -> Schema {
    use ColumnType::*;
    let cols = [
        ("id", Integer),
        ("f", Float),
        ("d", Decimal),
        ("s", String),
        ("b", Boolean),
        ("ts", Timestamp),
        ("dt", Date),
        ("tm", Time),
        ("j", Json),
        ("u", Uuid),
        ("by", Bytes),
    ];
    Schema {
        name: name.into(),
        source_table: source.into(),
        target_table: target.into(),
        primary_key: vec!["id".into()],
        cursor_column: Some("ts".into()),
        columns: cols.iter().map(|(c, t)| col(c, c, *t)).collect(),
    }
}

/// Syncs table t0 on PostgreSQL along `route` (network names, starting and
/// ending at "PG"), each hop creating its target table t1, t2, ... from the
/// mapping; the last table must equal the first.
async fn type_trip(test: &str, route: &[&str]) {
    let Some(pg) = support::pg_db(test).await else {
        return;
    };
    let Some(my) = support::mysql_db(test).await else {
        return;
    };
    let dir = support::temp_dir();
    let lite = support::sqlite_path(&dir, "hop");
    let p = pg.pool_pg().await;
    p.execute(
        "CREATE TABLE t0 (id bigint PRIMARY KEY, f double precision, d numeric(38,10), s text, b boolean, \
         ts timestamptz, dt date, tm time, j json, u uuid, by bytea)",
    )
    .await
    .unwrap();
    p.execute(
        "INSERT INTO t0 VALUES \
         (1, 0.1, 1234567890123456789012345678.0123456789, 'Zoë ✓ \"q\" ''a'' \\ tab\there', true, \
          '2024-02-29 23:59:59.123456+00', '2024-02-29', '12:34:56.789012', '{\"b\": 1, \"a\": [1, 2.50]}', \
          'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff10'), \
         (2, -1.5e300, -0.0000000001, '', false, '1970-01-01 00:00:00+00', '0001-01-01', '00:00:00', \
          '\"just a string\"', '00000000-0000-0000-0000-000000000000', ''), \
         (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    .await
    .unwrap();
    let mut lite_net = dsp::workspace::Network::new(
        "Lite",
        dsp::workspace::EngineKind::Sqlite,
        lite.display().to_string(),
    );
    lite_net.timezone = None;
    let mut ws = Workspace {
        path: None,
        networks: vec![pg.network("PG"), my.network("My"), lite_net],
        schemas: Vec::new(),
        jobs: Vec::new(),
        ..Default::default()
    };
    let mut hops = Vec::new();
    for (i, pair) in route.windows(2).enumerate() {
        let name = format!("hop{}", i + 1);
        ws.schemas.push(typed_schema(
            &name,
            &format!("t{i}"),
            &format!("t{}", i + 1),
        ));
        ws.jobs
            .push(Job::new(&name, pair[0], pair[1], &name, SyncMode::Full));
        hops.push(name);
    }
    let data = DataDir::new(dir.path().join("data"));
    for job in &hops {
        let job = job.as_str();
        let (summary, lines) = run_and_collect(&ws, job, &data).await.into_parts();
        assert_eq!(summary.status, RunStatus::Succeeded, "{job}: {lines:#?}");
        assert_eq!((summary.success, summary.failed), (3, 0), "{job}");
    }
    let q = |t: &str| {
        format!(
            "SELECT id, f::text, d::numeric(38,10)::text, s, b::text, ts::text, dt::text, tm::text, \
             j::text, u::text, encode(by, 'hex') FROM {t} ORDER BY id"
        )
    };
    type R = (
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    p.execute("SET TIME ZONE 'UTC'").await.unwrap();
    let first: Vec<R> = sqlx::query_as(&q("t0")).fetch_all(&p).await.unwrap();
    let last: Vec<R> = sqlx::query_as(&q(&format!("t{}", hops.len())))
        .fetch_all(&p)
        .await
        .unwrap();
    assert_eq!(last, first);
}

/// PostgreSQL → MariaDB → SQLite → PostgreSQL.
#[tokio::test]
async fn every_type_survives_a_trip_through_all_three_engines() {
    type_trip(
        "every_type_survives_a_trip_through_all_three_engines",
        &["PG", "My", "Lite", "PG"],
    )
    .await;
}

/// The other six pairs: PG→PG, PG→SQLite, SQLite→SQLite, SQLite→MariaDB,
/// MariaDB→MariaDB, MariaDB→PG.
#[tokio::test]
async fn every_type_survives_the_reverse_trip_and_same_engine_hops() {
    type_trip(
        "every_type_survives_the_reverse_trip_and_same_engine_hops",
        &["PG", "PG", "Lite", "Lite", "My", "My", "PG"],
    )
    .await;
}

type FlagRow = (
    i64,
    Option<bool>,
    Option<String>,
    Option<String>,
    Option<String>,
);

#[tokio::test]
async fn mysql_tinyint_is_boolean_and_big_unsigned_needs_decimal() {
    let test = "mysql_tinyint_is_boolean_and_big_unsigned_needs_decimal";
    let Some(my) = support::mysql_db(test).await else {
        return;
    };
    let Some(pg) = support::pg_db(test).await else {
        return;
    };
    let m = my.pool_mysql().await;
    m.execute(
        "CREATE TABLE flags (id bigint unsigned PRIMARY KEY, on_off tinyint(1), big bigint unsigned, \
         at timestamp(6) NULL, local_at datetime(6), doc json)",
    )
    .await
    .unwrap();
    m.execute(
        "INSERT INTO flags VALUES (1, 1, 18446744073709551615, '2024-01-01 10:00:00.5', '2024-07-01 12:00:00', '{}'), \
         (2, 0, 5, NULL, NULL, NULL)",
    )
    .await
    .unwrap();
    let schema = |big: ColumnType| Schema {
        name: "flags".into(),
        source_table: "flags".into(),
        target_table: "flags".into(),
        primary_key: vec!["id".into()],
        cursor_column: None,
        columns: vec![
            col("id", "id", ColumnType::Integer),
            col("on_off", "on_off", ColumnType::Boolean),
            col("big", "big", big),
            col("at", "at", ColumnType::Timestamp),
            col("local_at", "local_at", ColumnType::Timestamp),
        ],
    };
    let mut source = my.network("My");
    source.timezone = Some("Europe/Berlin".into());
    let mut ws = Workspace {
        path: None,
        networks: vec![source, pg.network("PG")],
        schemas: vec![schema(ColumnType::Integer)],
        jobs: vec![Job::new(JOB, "My", "PG", "flags", SyncMode::Full)],
        ..Default::default()
    };
    let guessed = dsp::engine::db::introspect_columns(&ws, &ws.networks[0], "flags")
        .await
        .unwrap();
    assert_eq!(
        guessed,
        vec![
            ("id".to_string(), ColumnType::Decimal),
            ("on_off".into(), ColumnType::Boolean),
            ("big".into(), ColumnType::Decimal),
            ("at".into(), ColumnType::Timestamp),
            ("local_at".into(), ColumnType::Timestamp),
            ("doc".into(), ColumnType::Json),
        ]
    );
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Failed);
    assert!(
        lines.iter().any(|l| l.contains("id=1")
            && l.contains("18446744073709551615")
            && l.contains("map the column as decimal")),
        "{lines:#?}"
    );

    // The first run created the target with a BIGINT column; start afresh.
    let p = pg.pool_pg().await;
    p.execute("DROP TABLE flags").await.unwrap();
    ws.schemas[0] = schema(ColumnType::Decimal);
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    let p = pg.pool_pg().await;
    let rows: Vec<FlagRow> = sqlx::query_as(
        "SELECT id, on_off, big::text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), \
         to_char(local_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM flags ORDER BY id",
    )
    .fetch_all(&p)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                1,
                Some(true),
                Some("18446744073709551615".into()),
                // TIMESTAMP is an instant (session UTC); DATETIME is wall time
                // in the network's zone (Berlin, summer: UTC+2).
                Some("2024-01-01 10:00:00.500000".into()),
                Some("2024-07-01 10:00:00".into())
            ),
            (2, Some(false), Some("5".into()), None, None),
        ]
    );
}

/// An existing PostgreSQL target with narrower or padded column types gets
/// exactly the source's values, whether DSP can send every column in COPY's
/// binary format (integer, smallint, char(n), timestamp(3), numeric(p,s) with
/// exponents, jsonb) or has to fall back to text because one column's type
/// (`real`) has no binary encoder.
async fn existing_pg_target_types(fallback: bool) {
    let test = if fallback {
        "existing PG target types (text COPY)"
    } else {
        "existing PG target types (binary COPY)"
    };
    let env = Env::new();
    let Some(tgt) = End::new(Kind::Pg, test, &env.dir, "").await else {
        return;
    };
    let src = lite_pool(&env.sqlite("s")).await;
    sqlx::raw_sql(
        "CREATE TABLE src (id INTEGER PRIMARY KEY, i INTEGER, s INTEGER, c TEXT, \
                           at TEXT, d TEXT, j TEXT, f REAL);
         INSERT INTO src VALUES
           (1, 2147483647, -32768, 'ab', '2024-02-29 23:59:59.123', '-12.5e-1', '{\"a\": [1, 2]}', 0.5),
           (2, -2147483648, 32767, 'abcde', '1999-12-31T23:59:59Z', '123456789012345.12345', '[]', -2),
           (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
           (4, 0, 0, '', '2000-01-01 00:00:00', '0.00000', 'null', 0);",
    )
    .execute(&src)
    .await
    .unwrap();
    src.close().await;
    let f_type = if fallback { "REAL" } else { "DOUBLE PRECISION" };
    tgt.exec(&format!(
        "CREATE TABLE dst (id BIGINT PRIMARY KEY, i INTEGER, s SMALLINT, c CHAR(5), \
         at TIMESTAMP(3) WITHOUT TIME ZONE, d NUMERIC(20,5), j JSONB, f {f_type})"
    ))
    .await;
    let cols = r#"  { source = "id", target = "id", type = "integer" },
  { source = "i", target = "i", type = "integer" },
  { source = "s", target = "s", type = "integer" },
  { source = "c", target = "c", type = "string" },
  { source = "at", target = "at", type = "timestamp" },
  { source = "d", target = "d", type = "decimal" },
  { source = "j", target = "j", type = "json" },
  { source = "f", target = "f", type = "float" },"#;
    env.write(
        &WorkspaceToml::new()
            .sqlite("Source", &env.sqlite("s"))
            .entry(&tgt.network_toml("Target"))
            .schema_job(&SchemaJob::new("src", "dst").columns(cols))
            .build(),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(test);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    let End::Pg(_, pool) = &tgt else {
        unreachable!()
    };
    let rows: Vec<(i64, Option<String>)> = sqlx::query_as(
        "SELECT id, concat_ws('|', i, s, '[' || c || ']' || octet_length(c), at, d, j, f) FROM dst ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let want = [
        "2147483647|-32768|[ab]5|2024-02-29 23:59:59.123|-1.25000|{\"a\": [1, 2]}|0.5",
        "-2147483648|32767|[abcde]5|1999-12-31 23:59:59|123456789012345.12345|[]|-2",
        "",
        "0|0|[]5|2000-01-01 00:00:00|0.00000|null|0",
    ];
    let got: Vec<String> = rows.into_iter().map(|r| r.1.unwrap_or_default()).collect();
    assert_eq!(got, want, "{test}");
}

#[tokio::test]
async fn an_existing_pg_target_with_narrower_types_gets_exact_values_in_binary() {
    existing_pg_target_types(false).await;
}

#[tokio::test]
async fn an_existing_pg_target_with_a_real_column_gets_exact_values_in_text() {
    existing_pg_target_types(true).await;
}
