//! Values a target cannot hold fail their own row, named by key, not the run;
//! beyond `max_failed` the run fails and the target is untouched.

use dsp::engine::progress::RunStatus;
use dsp::paths::DataDir;
use dsp::workspace::{Job, SyncMode, Workspace};

use crate::seed::*;
use crate::small_job::*;
use crate::support;
use crate::support::cli::*;
use crate::support::end::{End, Kind, lite_pool};

/// Values a target cannot hold fail their row (counted, named), not the run.
#[tokio::test]
async fn values_the_target_cannot_hold_fail_only_their_row() {
    let test = "values_the_target_cannot_hold_fail_only_their_row";
    let dir = support::temp_dir();
    let Some(pg) = End::new(Kind::Pg, test, &dir, "pg").await else {
        return;
    };
    let Some(my) = End::new(Kind::My, test, &dir, "my").await else {
        return;
    };
    let lite = End::new(Kind::Lite, test, &dir, "src").await.unwrap();
    lite.exec(users_ddl(Kind::Lite)).await;
    let (sql, _) = users_insert(1, 20, "2024-01-01 00:00:00");
    lite.exec(&sql.replace("\\\\", "\\")).await;
    lite.exec(&format!(
        "UPDATE users SET name = 'nul' || char(0) || 'inside' WHERE id = 3; \
         UPDATE users SET name = '{}' WHERE id = 4; UPDATE users SET score = '40000' WHERE id = 5",
        "x".repeat(70_000)
    ))
    .await;
    my.exec(
        "CREATE TABLE dim_users (user_id bigint PRIMARY KEY, email varchar(200), full_name text, \
         created_at datetime(6), score smallint)",
    )
    .await;
    let mut ws = Workspace {
        path: None,
        networks: vec![
            lite.network("Production DB (Source)"),
            pg.network("PG"),
            my.network("My"),
        ],
        schemas: seed_workspace_schema(),
        jobs: vec![Job::new(
            JOB,
            "Production DB (Source)",
            "PG",
            "Users Sync Schema",
            SyncMode::Full,
        )],
        ..Default::default()
    };
    ws.jobs[0].max_failed = Some(1);
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!((summary.success, summary.failed), (19, 1));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[WARN]") && l.contains("id=3") && l.contains("NUL")),
        "{lines:#?}"
    );
    assert_eq!(pg.target_rows().await.len(), 19);

    ws.jobs[0].target = "My".into();
    ws.jobs[0].max_failed = Some(2);
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!((summary.success, summary.failed), (18, 2));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("id=5") && l.contains("40000 is outside")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("id=4") && l.contains("70000 bytes")),
        "{lines:#?}"
    );
    assert_eq!(my.target_rows().await.len(), 18);
}

/// Rows that cannot be converted are logged with their key; within
/// `max_failed` the run succeeds and their keys, still present in the source,
/// are not deleted from the target; beyond it the run fails and the target
/// is untouched.
async fn failed_rows(target: Kind) {
    let test = format!("failed rows into {target:?}");
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &env.dir, "t").await else {
        return;
    };
    // `n` is text in the source, mapped as integer.
    src.exec("CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, n TEXT)")
        .await;
    src.exec("INSERT INTO src SELECT g, 'v' || g, g::text FROM generate_series(1, 10) g")
        .await;
    let text = |max_failed: u64| {
        src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 3, COLS)
            + &format!("max_failed = {max_failed}\n")
    };
    env.write(&text(0));
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: first sync\n{}", out.all());
    let first = tgt.dump("dst").await;
    assert_eq!(first.len(), 10);

    // Two rows turn bad, one row changes well, one row goes away.
    src.exec("UPDATE src SET n = 'five', v = 'bad' WHERE id = 5")
        .await;
    src.exec("UPDATE src SET n = '7.5', v = 'bad' WHERE id = 7")
        .await;
    src.exec("UPDATE src SET v = 'changed' WHERE id = 2").await;
    // A good row whose every non-key value becomes NULL is still a change.
    src.exec("UPDATE src SET v = NULL, n = NULL WHERE id = 4")
        .await;
    src.exec("DELETE FROM src WHERE id = 10").await;
    // A new row that fails must not appear in the target at all.
    src.exec("INSERT INTO src VALUES (11, 'new bad', 'eleven')")
        .await;

    // Beyond max_failed: failed run, target untouched, the rows named.
    env.write(&text(1));
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming(&test, &["max_failed"]);
    for key in ["id=5", "id=7"] {
        assert!(
            out.log_lines()
                .into_iter()
                .any(|l| l.contains(key) && l.contains("\"")),
            "{test}: row {key} not logged with its value\n{}",
            out.all()
        );
    }
    assert!(tgt.dump("dst").await == first, "{test}: the target changed");

    // Within max_failed: succeeded, counted, logged.
    env.write(&text(3));
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}: within max_failed\n{}", out.all());
    assert!(
        out.stdout.contains("Total: 10, Success: 7, Failed: 3"),
        "{test}: summary line\n{}",
        out.all()
    );
    for key in ["id=5", "id=7", "id=11"] {
        assert!(
            out.log_lines()
                .into_iter()
                .any(|l| l.contains(key) && (l.starts_with("[WARN]") || l.starts_with("[ERROR]"))),
            "{test}: row {key} not logged with its key\n{}",
            out.all()
        );
    }
    let got = tgt.dump("dst").await;
    let mut want: Vec<(i64, Option<String>, Option<i64>)> =
        first.iter().filter(|r| r.0 != 10).cloned().collect();
    want[1] = (2, Some("changed".into()), Some(2));
    want[3] = (4, None, None);
    // Rows 5 and 7 could not be read: the target keeps their last good copy;
    // row 11 never had one.
    assert_eq!(got, want, "{test}: target after a run with failed rows");
}

#[tokio::test]
async fn failed_rows_within_and_beyond_max_failed_into_pg() {
    failed_rows(Kind::Pg).await;
}

#[tokio::test]
async fn failed_rows_within_and_beyond_max_failed_into_mysql() {
    failed_rows(Kind::My).await;
}

#[tokio::test]
async fn failed_rows_within_and_beyond_max_failed_into_sqlite() {
    failed_rows(Kind::Lite).await;
}

/// An existing target decimal column narrower than the source's values must
/// not round or overflow the run: such values fail their row (named), the
/// others arrive exactly.
async fn narrower_decimal_target(target: Kind) {
    let test = format!("narrower decimal column in {target:?}");
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &env.dir, "t").await else {
        return;
    };
    src.exec("CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, d NUMERIC(38,10))")
        .await;
    src.exec(
        "INSERT INTO src VALUES (1, 'a', 1.23), (2, 'b', 1.005), (3, 'c', 123456789012.5), \
         (4, 'd', -99999999.99), (5, 'e', 0.1000000000), (6, 'f', NULL)",
    )
    .await;
    tgt.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY, v TEXT, d DECIMAL(10,2))")
        .await;
    let cols = "  { source = \"id\", target = \"id\", type = \"integer\" },\n  \
                { source = \"v\", target = \"v\", type = \"string\" },\n  \
                { source = \"d\", target = \"d\", type = \"decimal\" },";
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 1000, cols)
            + "max_failed = 2\n"),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    assert!(
        out.stdout.contains("Total: 6, Success: 4, Failed: 2"),
        "{test}: 1.005 and 123456789012.5 do not fit decimal(10,2) and must fail their rows\n{}",
        out.all()
    );
    for key in ["id=2", "id=3"] {
        assert!(
            out.log_lines()
                .into_iter()
                .any(|l| l.starts_with("[WARN]") && l.contains(key)),
            "{test}: row {key} not logged\n{}",
            out.all()
        );
    }
    let got: Vec<(i64, Option<String>)> = match &tgt {
        End::Pg(_, p) => sqlx::query_as("SELECT id, d::text FROM dst ORDER BY id")
            .fetch_all(p)
            .await
            .unwrap(),
        End::My(_, p) => {
            sqlx::query_as("SELECT id, CONVERT(CAST(d AS CHAR) USING utf8mb4) FROM dst ORDER BY id")
                .fetch_all(p)
                .await
                .unwrap()
        }
        End::Lite(..) => unreachable!(),
    };
    let want = vec![
        (1, Some("1.23".to_string())),
        (4, Some("-99999999.99".to_string())),
        (5, Some("0.10".to_string())),
        (6, None),
    ];
    assert_eq!(got, want, "{test}: target values");
}

#[tokio::test]
async fn values_that_do_not_fit_a_narrower_pg_numeric_fail_their_row() {
    narrower_decimal_target(Kind::Pg).await;
}

#[tokio::test]
async fn values_that_do_not_fit_a_narrower_mysql_decimal_fail_their_row() {
    narrower_decimal_target(Kind::My).await;
}

/// An existing target timestamp column that keeps fewer fractional digits,
/// or (MySQL TIMESTAMP) a narrower range, than a value needs: that value
/// fails its row, named, instead of being silently cut or failing the run.
async fn narrower_timestamp_target(target: Kind, column: &str, expect_failed: &[i64]) {
    let test = format!("timestamp into {target:?} {column}");
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &env.dir, "t").await else {
        return;
    };
    src.exec("CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, t TIMESTAMPTZ)")
        .await;
    src.exec(
        "INSERT INTO src VALUES (1, 'a', '2024-01-01 00:00:00+00'), \
         (2, 'b', '2024-01-01 00:00:00.123456+00'), (3, 'c', '2040-01-01 00:00:00+00'), \
         (4, 'd', '2024-01-01 00:00:00.5+00'), (5, 'e', NULL)",
    )
    .await;
    tgt.exec(&format!(
        "CREATE TABLE dst (id BIGINT PRIMARY KEY, v TEXT, n BIGINT, t {column} NULL)"
    ))
    .await;
    let cols = "  { source = \"id\", target = \"id\", type = \"integer\" },\n  \
                { source = \"v\", target = \"v\", type = \"string\" },\n  \
                { source = \"t\", target = \"t\", type = \"timestamp\" },";
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 1000, cols)
            + "max_failed = 3\n"),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    let ok = 5 - expect_failed.len();
    assert!(
        out.stdout.contains(&format!(
            "Total: 5, Success: {ok}, Failed: {}",
            expect_failed.len()
        )),
        "{test}: rows {expect_failed:?} cannot be stored exactly and must fail\n{}",
        out.all()
    );
    for id in expect_failed {
        let key = format!("id={id}");
        assert!(
            out.log_lines()
                .into_iter()
                .any(|l| l.starts_with("[WARN]") && l.contains(&key)),
            "{test}: row {key} not logged\n{}",
            out.all()
        );
    }
    let present: Vec<i64> = tgt.dump("dst").await.iter().map(|r| r.0).collect();
    let want: Vec<i64> = (1..=5).filter(|i| !expect_failed.contains(i)).collect();
    assert_eq!(present, want, "{test}: rows in the target");
}

#[tokio::test]
async fn sub_second_timestamps_do_not_fit_a_mysql_datetime_without_fraction() {
    narrower_timestamp_target(Kind::My, "DATETIME", &[2, 4]).await;
}

#[tokio::test]
async fn timestamps_outside_a_mysql_timestamp_column_fail_their_row() {
    narrower_timestamp_target(Kind::My, "TIMESTAMP(6)", &[3]).await;
}

#[tokio::test]
async fn sub_second_timestamps_do_not_fit_a_pg_timestamp_0() {
    narrower_timestamp_target(Kind::Pg, "TIMESTAMP(0) WITH TIME ZONE", &[2, 4]).await;
}

#[tokio::test]
async fn timestamps_fit_a_mysql_datetime_3_only_to_the_millisecond() {
    narrower_timestamp_target(Kind::My, "DATETIME(3)", &[2]).await;
}

/// An integer too large for an existing `decimal(5,0)` column fails its row.
async fn integer_into_narrow_decimal(target: Kind) {
    let test = format!("integer into {target:?} decimal(5,0)");
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &env.dir, "t").await else {
        return;
    };
    small_source(&src).await;
    src.exec("UPDATE src SET n = 1234567 WHERE id = 2; UPDATE src SET n = -99999 WHERE id = 3")
        .await;
    tgt.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY, v TEXT, n DECIMAL(5,0))")
        .await;
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 1000, COLS)
            + "max_failed = 1\n"),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    assert!(
        out.stdout.contains("Total: 3, Success: 2, Failed: 1")
            && out
                .log_lines()
                .into_iter()
                .any(|l| l.starts_with("[WARN]") && l.contains("id=2")),
        "{test}\n{}",
        out.all()
    );
    let rows: Vec<i64> = tgt.dump("dst").await.iter().map(|r| r.0).collect();
    assert_eq!(rows, vec![1, 3], "{test}");
}

#[tokio::test]
async fn integers_too_large_for_a_pg_numeric_5_0_fail_their_row() {
    integer_into_narrow_decimal(Kind::Pg).await;
}

#[tokio::test]
async fn integers_too_large_for_a_mysql_decimal_5_0_fail_their_row() {
    integer_into_narrow_decimal(Kind::My).await;
}

/// SQLite stores whatever bytes it is given as TEXT. A value that is not
/// UTF-8 fails its own row, named by key, within max_failed; a bytes column
/// keeps such a value exactly; every other row arrives.
#[tokio::test]
async fn invalid_utf8_in_a_sqlite_text_value_fails_only_its_row() {
    let env = Env::new();
    let src = lite_pool(&env.sqlite("s")).await;
    sqlx::raw_sql(
        "CREATE TABLE src (id INTEGER PRIMARY KEY, v TEXT, n INTEGER, b BLOB);
         INSERT INTO src VALUES (1, 'one', 10, CAST(x'ff00fe' AS TEXT)),
                                (2, CAST(x'c328' AS TEXT), 20, x'01'),
                                (3, 'three', 30, NULL);",
    )
    .execute(&src)
    .await
    .unwrap();
    src.close().await;
    let cols = format!("{COLS}\n  {{ source = \"b\", target = \"b\", type = \"bytes\" }},");
    env.write(
        &sqlite_only_workspace(&env)
            .replace(COLS, &cols)
            .replace("batch_size = 1000", "batch_size = 1000\nmax_failed = 1"),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic("invalid UTF-8");
    assert_eq!(out.code, 0, "invalid UTF-8\n{}", out.all());
    assert!(
        out.stdout
            .contains("Row id=2 of src failed: column v (string)")
            && out.stdout.contains("not valid UTF-8"),
        "invalid UTF-8\n{}",
        out.all()
    );
    let dst = lite_pool(&env.sqlite("t")).await;
    let rows: Vec<(i64, Option<String>, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT id, v, b FROM dst ORDER BY id")
            .fetch_all(&dst)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            (1, Some("one".into()), Some(vec![0xff, 0x00, 0xfe])),
            (3, Some("three".into()), None),
        ]
    );
}
