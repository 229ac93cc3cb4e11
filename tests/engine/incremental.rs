//! Incremental runs: inclusive boundaries, cursors of every engine and type,
//! lookback, batches committed in order, and resuming after a failure or a
//! kill without losing a row.

use chrono::Utc;
use dsp::engine::progress::RunStatus;
use dsp::paths::DataDir;
use dsp::workspace::{ColumnType, Schema, SyncMode};
use sqlx::{Executor, PgPool};

use crate::seed::*;
use crate::small_job::*;
use crate::support;
use crate::support::cli::*;
use crate::support::end::{End, Kind};
use crate::support::run::run_and_collect;
use crate::typed::*;

#[tokio::test]
async fn incremental_reads_boundary_rows_and_resumes_after_a_failure() {
    let (src, tgt, s, t) = dbs!("incremental_reads_boundary_rows_and_resumes_after_a_failure");
    create_users(&s, 1000).await;
    // Rows with NULL cursors are loaded by the first run.
    s.execute("UPDATE users SET updated_at = NULL WHERE id <= 10")
        .await
        .unwrap();
    let mut ws = seed_workspace(&src, &tgt, SyncMode::Incremental);
    job_mut(&mut ws).batch_size = Some(100);
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());

    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!(summary.success, 1000);
    assert_eq!(target_rows(&t).await, source_rows(&s).await);
    let wm = dsp::engine::state::read_watermark(&data, JOB).unwrap();
    assert_eq!(wm.as_deref(), Some("2024-01-01 00:00:00+00"));

    // No change: only the rows on the watermark itself are read again, and
    // the NULL-cursor rows are reported.
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!(summary.total, 990);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[WARN] 10 rows of users have a NULL updated_at")),
        "{lines:#?}"
    );

    // Rows committed with exactly the watermark's time, and newer ones.
    s.execute(
        "UPDATE users SET updated_at = '2024-01-01 00:00:00.5+00', name = 'later' WHERE id > 990",
    )
    .await
    .unwrap();
    insert_users(&s, 1001, 1050, "2024-01-01 00:00:00+00").await;
    job_mut(&mut ws).lookback = None;
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!(target_rows(&t).await, source_rows(&s).await);
    let wm = dsp::engine::state::read_watermark(&data, JOB).unwrap();
    assert_eq!(wm.as_deref(), Some("2024-01-01 00:00:00.5+00"));

    // A bad value halfway through: earlier batches commit, the run fails, and
    // the next run (after the fix) picks up everything from there.
    s.execute(
        "UPDATE users SET updated_at = timestamptz '2024-03-01 00:00:00+00' + id * interval '1 second', \
         name = 'third' WHERE id BETWEEN 100 AND 599",
    )
    .await
    .unwrap();
    s.execute("UPDATE users SET score = 'oops' WHERE id = 350")
        .await
        .unwrap();
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Failed, "{lines:#?}");
    assert!(summary.success > 0 && summary.success < 500, "{summary:?}");
    s.execute("UPDATE users SET score = '350' WHERE id = 350")
        .await
        .unwrap();
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!(target_rows(&t).await, source_rows(&s).await);
}

/// An integer cursor must be read in numeric order: in text order (`'10' <
/// '9'`) a failed run would commit a batch ending on cursor 27 before rows 4
/// to 9 were read, and the next run would start past them.
#[tokio::test]
async fn incremental_integer_cursor_is_read_in_numeric_order() {
    let (src, tgt, s, t) = dbs!("incremental_integer_cursor_is_read_in_numeric_order");
    s.execute(
        "CREATE TABLE items (id bigint PRIMARY KEY, version bigint, score text); \
         INSERT INTO items SELECT g, g, g::text FROM generate_series(1, 30) g; \
         UPDATE items SET score = 'oops' WHERE id = 3",
    )
    .await
    .unwrap();
    let mut ws = seed_workspace(&src, &tgt, SyncMode::Incremental);
    ws.schemas[0] = Schema {
        name: "Users Sync Schema".into(),
        source_table: "items".into(),
        target_table: "items_copy".into(),
        primary_key: vec!["id".into()],
        cursor_column: Some("version".into()),
        columns: vec![
            col("id", "id", ColumnType::Integer),
            col("version", "version", ColumnType::Integer),
            col("score", "score", ColumnType::Integer),
        ],
    };
    job_mut(&mut ws).batch_size = Some(5);
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());

    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Failed, "{lines:#?}");
    s.execute("UPDATE items SET score = '3' WHERE id = 3")
        .await
        .unwrap();
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    let ids: Vec<(i64, i64)> = sqlx::query_as("SELECT id, score FROM items_copy ORDER BY id")
        .fetch_all(&t)
        .await
        .unwrap();
    assert_eq!(ids, (1..=30).map(|i| (i, i)).collect::<Vec<_>>());
    let wm = dsp::engine::state::read_watermark(&data, JOB).unwrap();
    assert_eq!(wm.as_deref(), Some("30"));
}

#[tokio::test]
async fn lookback_catches_rows_committed_late_with_an_older_cursor() {
    let (src, tgt, s, t) = dbs!("lookback_catches_rows_committed_late_with_an_older_cursor");
    create_users(&s, 100).await;
    let mut ws = seed_workspace(&src, &tgt, SyncMode::Incremental);
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());
    assert_eq!(run(&ws, &data).await.0.status, RunStatus::Succeeded);

    // A transaction that started earlier commits now, with an older cursor.
    insert_users(&s, 101, 101, "2023-12-31 23:30:00+00").await;
    let (summary, _) = run(&ws, &data).await;
    assert_eq!(
        summary.total, 100,
        "without lookback only the boundary rows are read"
    );
    let count = |t: PgPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM dim_users")
            .fetch_one(&t)
            .await
            .unwrap()
    };
    assert_eq!(count(t.clone()).await, 100);

    job_mut(&mut ws).lookback = Some("1h".into());
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!(summary.total, 101);
    assert_eq!(target_rows(&t).await, source_rows(&s).await);
    // The watermark stays the largest cursor read, not the lookback's bound.
    let wm = dsp::engine::state::read_watermark(&data, JOB).unwrap();
    assert_eq!(wm.as_deref(), Some("2024-01-01 00:00:00+00"));
}

/// The target refusing a batch (here a CHECK constraint) stops an incremental
/// run there: the batches before it stay committed and the watermark stands
/// at the last of them, the refused batch and the one already staged behind
/// it are rolled back, and once the target accepts the rows the next run
/// finishes the job.
#[tokio::test]
async fn incremental_batches_commit_in_order_up_to_one_the_target_refuses() {
    let (src, tgt, s, t) = dbs!("incremental_batches_commit_in_order_up_to_one_the_target_refuses");
    create_users(&s, 1000).await;
    let mut ws = seed_workspace(&src, &tgt, SyncMode::Incremental);
    job_mut(&mut ws).batch_size = Some(100);
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");

    // Rows 101..600 change, each a second after the one before; the run reads
    // the 500 rows on the watermark first (5 batches), then these in id order.
    s.execute(
        "UPDATE users SET updated_at = timestamptz '2024-03-01 00:00:00+00' + id * interval '1 second', \
         name = 'second' WHERE id BETWEEN 101 AND 600",
    )
    .await
    .unwrap();
    t.execute(
        "ALTER TABLE dim_users ADD CONSTRAINT not_350_yet CHECK (user_id <> 350 OR full_name <> 'second')",
    )
    .await
    .unwrap();
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Failed, "{lines:#?}");
    let err = summary.error.unwrap();
    assert!(
        err.contains("dim_users") && err.contains("not_350_yet"),
        "{err}"
    );
    assert_eq!(summary.success, 700, "{lines:#?}");
    let renamed: Vec<i64> = sqlx::query_scalar(
        "SELECT user_id FROM dim_users WHERE full_name = 'second' ORDER BY user_id",
    )
    .fetch_all(&t)
    .await
    .unwrap();
    assert_eq!(renamed, (101..=300).collect::<Vec<i64>>());
    let wm = dsp::engine::state::read_watermark(&data, JOB).unwrap();
    assert_eq!(wm.as_deref(), Some("2024-03-01 00:05:00+00"));

    t.execute("ALTER TABLE dim_users DROP CONSTRAINT not_350_yet")
        .await
        .unwrap();
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!(target_rows(&t).await, source_rows(&s).await);
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

    let (s, lines) = run_and_collect(&ws, "J", &data).await.into_parts();
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
    let (s, lines) = run_and_collect(&ws, "J", &data).await.into_parts();
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
    let (s, lines) = run_and_collect(&ws, "J", &data).await.into_parts();
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

#[tokio::test]
async fn an_incremental_run_killed_mid_way_resumes_without_losing_rows() {
    let test = "SIGKILL mid incremental";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, &format!("{test} (target)"), &env.dir, "").await else {
        return;
    };
    src.exec("CREATE TABLE big (id BIGINT PRIMARY KEY, v TEXT, n BIGINT, updated_at TIMESTAMPTZ)")
        .await;
    // Cursor values shared by ten rows each, so batches end inside a group.
    src.exec(&format!(
        "INSERT INTO big SELECT g, 'old ' || g, g, \
         timestamptz '2024-01-01 00:00:00.000001+00' + (g / 10) * interval '1 millisecond' \
         FROM generate_series(1, {BIG_ROWS}) g"
    ))
    .await;
    let text = src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + &schema_job("big", "big_copy", 95, COLS)
            .replace(
                "primary_key = \"id\"",
                "primary_key = \"id\"\ncursor_column = \"updated_at\"",
            )
            .replace("mode = \"full\"", "mode = \"incremental\"");
    env.write(&text);

    let (mut child, lines, _reader) = start_until_batch(&env, 20);
    child.kill().expect("SIGKILL dsp");
    child.wait().unwrap();
    assert!(
        !lines.iter().any(|l| l.contains("Sync completed")),
        "{test}: the run finished before it was killed"
    );
    // What was committed is whole source rows.
    let partial = tgt.dump("big_copy").await;
    let all = src.dump("big").await;
    let by_id: std::collections::HashMap<i64, _> = all.iter().map(|r| (r.0, r)).collect();
    for r in &partial {
        assert_eq!(Some(&r), by_id.get(&r.0), "{test}: a half-written row");
    }

    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(test);
    assert_eq!(out.code, 0, "{test}: resumed run\n{}", out.all());
    assert!(
        tgt.dump("big_copy").await == all,
        "{test}: rows lost after resuming"
    );

    // Later changes, some sharing the newest cursor value, arrive too.
    src.exec(
        "UPDATE big SET v = 'late ' || id, updated_at = timestamptz '2030-01-01 00:00:00+00' \
         WHERE id % 1000 = 0",
    )
    .await;
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(
        out.code,
        0,
        "{test}: incremental after changes\n{}",
        out.all()
    );
    assert!(
        tgt.dump("big_copy").await == src.dump("big").await,
        "{test}: changed rows were not picked up"
    );
}

/// Batches commit in groups (several batches in one transaction), and the
/// data dir's watermark is written after a group's commit, not with every
/// batch. A kill while a group is open, between its batches, must leave the
/// watermark on rows the target holds: every source row up to it is there,
/// whole, and a resumed run brings the rest, each row once.
#[tokio::test]
async fn a_kill_between_the_batches_of_a_commit_group_keeps_the_watermark_on_committed_rows() {
    let test = "SIGKILL inside a commit group";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, &format!("{test} (target)"), &env.dir, "").await else {
        return;
    };
    src.exec("CREATE TABLE grp (id BIGINT PRIMARY KEY, v TEXT, n BIGINT)")
        .await;
    src.exec("CREATE INDEX grp_n ON grp (n)").await;
    src.exec("INSERT INTO grp SELECT g, 'row ' || g, g FROM generate_series(1, 60000) g")
        .await;
    let text = src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + &schema_job("grp", "grp_copy", 100, COLS)
            .replace(
                "primary_key = \"id\"",
                "primary_key = \"id\"\ncursor_column = \"n\"",
            )
            .replace("mode = \"full\"", "mode = \"incremental\"");
    env.write(&text);
    let data = DataDir::new(env.data());
    let all = src.dump("grp").await;

    // Groups grow 1, 2, 4, ... up to 100 of these batches: batches 50, 130
    // and 75 are read while a group of 32 or 64 is still open (each run
    // resumes from its watermark and counts its batches from 1).
    for (kill, at) in [50, 130, 75].into_iter().enumerate() {
        let (mut child, lines, _reader) = start_until_batch(&env, at);
        child.kill().expect("SIGKILL dsp");
        child.wait().unwrap();
        assert!(
            !lines.iter().any(|l| l.contains("Sync completed")),
            "{test}: run {kill} finished before it was killed"
        );
        let held = tgt.dump("grp_copy").await;
        for r in &held {
            assert_eq!(
                Some(r),
                all.get(r.0 as usize - 1),
                "{test}: a half-written row"
            );
        }
        let wm = dsp::engine::state::read_watermark(&data, "J")
            .unwrap()
            .map(|w| w.parse::<i64>().unwrap())
            .unwrap_or(0);
        let up_to_wm = held.iter().filter(|r| r.0 <= wm).count() as i64;
        assert_eq!(
            up_to_wm, wm,
            "{test}: after kill {kill} the watermark is {wm} but the target holds only {up_to_wm} \
             of the rows up to it"
        );
    }
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(test);
    assert_eq!(out.code, 0, "{test}: resumed run\n{}", out.all());
    assert!(
        tgt.dump("grp_copy").await == all,
        "{test}: the target does not mirror the source after resuming"
    );
    let wm = dsp::engine::state::read_watermark(&data, "J").unwrap();
    assert_eq!(wm.as_deref(), Some("60000"), "{test}: the final watermark");
}

/// The same target in incremental mode: keys that differ only by case must
/// not silently overwrite each other (there is no full count to catch it).
#[tokio::test]
async fn incremental_keys_merged_by_a_case_insensitive_target_collation_are_not_lost() {
    let test = "case-insensitive target key, incremental";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, test, &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::My, test, &env.dir, "").await else {
        return;
    };
    src.exec("CREATE TABLE src (code TEXT PRIMARY KEY, v TEXT, c TIMESTAMPTZ)")
        .await;
    src.exec(
        "INSERT INTO src VALUES ('a', 'lower', '2024-01-01+00'), ('A', 'upper', '2024-01-02+00')",
    )
    .await;
    tgt.exec(
        "CREATE TABLE dst (code VARCHAR(10) PRIMARY KEY, v TEXT) \
         DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci",
    )
    .await;
    let cols = "  { source = \"code\", target = \"code\", type = \"string\" },\n  \
                { source = \"v\", target = \"v\", type = \"string\" },";
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 1, cols)
                .replace(
                    "primary_key = \"id\"",
                    "primary_key = \"code\"\ncursor_column = \"c\"",
                )
                .replace("mode = \"full\"", "mode = \"incremental\"")),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(test);
    let End::My(_, p) = &tgt else { unreachable!() };
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dst")
        .fetch_one(p)
        .await
        .unwrap();
    assert!(
        out.code == 1 || n == 2,
        "{test}: the run succeeded but the target holds {n} of 2 rows\n{}",
        out.all()
    );
    if out.code == 1 {
        out.assert_failed_naming(test, &["collation", "code"]);
        assert_eq!(n, 0, "{test}: a refused run wrote rows");
    }
}
