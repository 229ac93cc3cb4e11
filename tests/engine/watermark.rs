//! An incremental job's watermark belongs to the source, table, cursor column
//! and target it was read from and written to: pointed anywhere else, or at a
//! target table DSP had to create, the job starts over and says why, instead
//! of reading only the rows past a watermark that describes another table.

use crate::support;

use dsp::engine::progress::{ProgressEvent, Reporter, RunStatus, RunSummary};
use dsp::engine::runner::run_job;
use dsp::paths::DataDir;
use dsp::workspace::{ColumnMap, ColumnType, Job, Schema, SyncMode, Workspace};
use sqlx::{Executor, PgPool};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const JOB: &str = "Sync Users";

fn workspace(src: &support::TestDb, tgt: &support::TestDb, target_table: &str) -> Workspace {
    let col = |s: &str, ty| ColumnMap {
        source: s.into(),
        target: s.into(),
        ty,
    };
    Workspace {
        path: None,
        networks: vec![src.network("Source"), tgt.network("Target")],
        schemas: vec![Schema {
            name: "Users".into(),
            source_table: "users".into(),
            target_table: target_table.into(),
            primary_key: vec!["id".into()],
            cursor_column: Some("updated_at".into()),
            columns: vec![
                col("id", ColumnType::Integer),
                col("name", ColumnType::String),
                col("created_at", ColumnType::Timestamp),
                col("updated_at", ColumnType::Timestamp),
            ],
        }],
        jobs: vec![Job::new(
            JOB,
            "Source",
            "Target",
            "Users",
            SyncMode::Incremental,
        )],
        ..Default::default()
    }
}

async fn run(ws: &Workspace, data: &DataDir) -> (RunSummary, Vec<String>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let summary = run_job(
        ws,
        JOB,
        data,
        CancellationToken::new(),
        Reporter::new(JOB, tx),
    )
    .await;
    let mut lines = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let ProgressEvent::Log { line, .. } = ev {
            lines.push(line.to_string());
        }
    }
    (summary, lines)
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// 300 users; the last 10 changed most recently, so a watermark after the
/// first run sits past 290 of them.
async fn users(pool: &PgPool) {
    pool.execute(
        "CREATE TABLE users (id bigint PRIMARY KEY, name text, created_at timestamptz, updated_at timestamptz);
         INSERT INTO users SELECT g, 'user ' || g, '2024-01-01'::timestamptz + g * interval '1 minute',
                '2024-02-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 300) g;",
    )
    .await
    .unwrap();
}

/// A source with the users and an empty target, both PostgreSQL, their
/// pools, and a data dir (in a temp dir kept alive by the caller).
type Ends = (
    support::TestDb,
    support::TestDb,
    PgPool,
    PgPool,
    tempfile::TempDir,
    DataDir,
);

async fn ends(test: &str) -> Option<Ends> {
    let src = support::pg_db(test).await?;
    let tgt = support::pg_db(test).await?;
    let (sp, tp) = (src.pool_pg().await, tgt.pool_pg().await);
    users(&sp).await;
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path().join("data"));
    Some((src, tgt, sp, tp, dir, data))
}

#[tokio::test]
async fn a_new_target_table_or_cursor_starts_the_job_over() {
    let test = "a_new_target_table_or_cursor_starts_the_job_over";
    let Some((src, tgt, sp, tp, _dir, data)) = ends(test).await else {
        return;
    };

    let ws = workspace(&src, &tgt, "dim_users");
    let (s, log) = run(&ws, &data).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{log:#?}");
    assert_eq!(count(&tp, "dim_users").await, 300);
    sp.execute("UPDATE users SET updated_at = updated_at + interval '1 day' WHERE id > 290")
        .await
        .unwrap();

    // The same job, pointed at another target table: every row, not the 10
    // past the old watermark.
    let ws = workspace(&src, &tgt, "dim_users_v2");
    let (s, log) = run(&ws, &data).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{log:#?}");
    assert_eq!(count(&tp, "dim_users_v2").await, 300, "{log:#?}");
    assert!(
        log.iter().any(|l| l.starts_with("[WARN]")
            && l.contains("the target table changed from dim_users to dim_users_v2")),
        "{log:#?}"
    );

    // Its own watermark now: the next run reads only from there.
    let (s, log) = run(&ws, &data).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{log:#?}");
    assert!(s.total < 300, "read {} rows: {log:#?}", s.total);
    // (The source's missing cursor index is warned of on every run: not a
    // watermark's warning.)
    assert!(
        !log.iter()
            .any(|l| l.starts_with("[WARN]") && !l.contains("has no index starting with")),
        "{log:#?}"
    );

    // A cursor column that changes type and meaning starts over too, instead of
    // casting the old watermark to the new column.
    let mut ws = workspace(&src, &tgt, "dim_users_v2");
    ws.schemas[0].cursor_column = Some("created_at".into());
    let (s, log) = run(&ws, &data).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{log:#?}");
    assert_eq!(s.total, 300, "{log:#?}");
    assert!(
        log.iter()
            .any(|l| l.contains("cursor column changed from updated_at to created_at")),
        "{log:#?}"
    );
}

#[tokio::test]
async fn a_dropped_target_is_refilled_whole_even_with_an_old_plain_watermark() {
    let test = "a_dropped_target_is_refilled_whole_even_with_an_old_plain_watermark";
    let Some((src, tgt, _sp, tp, _dir, data)) = ends(test).await else {
        return;
    };
    let ws = workspace(&src, &tgt, "dim_users");
    let (s, log) = run(&ws, &data).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{log:#?}");

    // A watermark file as an older DSP wrote it (the value alone), and the
    // target table dropped since.
    let file = data.job_dir(JOB).join("watermark");
    let value = dsp::engine::state::read_watermark(&data, JOB)
        .unwrap()
        .unwrap();
    std::fs::write(&file, format!("{value}\n")).unwrap();
    tp.execute("DROP TABLE dim_users").await.unwrap();

    let (s, log) = run(&ws, &data).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{log:#?}");
    assert_eq!(count(&tp, "dim_users").await, 300, "{log:#?}");
    assert!(
        log.iter().any(|l| l.contains("was just created")),
        "{log:#?}"
    );
}

#[tokio::test]
async fn a_corrupt_watermark_file_is_named_not_blamed_on_the_source() {
    let test = "a_corrupt_watermark_file_is_named_not_blamed_on_the_source";
    let Some((src, tgt, _sp, _tp, _dir, data)) = ends(test).await else {
        return;
    };
    let ws = workspace(&src, &tgt, "dim_users");
    let (s, _) = run(&ws, &data).await;
    assert_eq!(s.status, RunStatus::Succeeded);

    let file = data.job_dir(JOB).join("watermark");
    std::fs::write(&file, "{\"value\": \"2024-0").unwrap();
    let (s, log) = run(&ws, &data).await;
    assert_eq!(s.status, RunStatus::Failed, "{log:#?}");
    let why = s.error.unwrap_or_default();
    assert!(
        why.contains(&file.display().to_string()) && !why.contains("source network"),
        "{why}"
    );
}

/// A target emptied since the last run (a truncate, a restore) holds none of
/// the rows its watermark vouches for: the job reads everything again.
#[tokio::test]
async fn an_emptied_target_is_refilled_whole() {
    let test = "an_emptied_target_is_refilled_whole";
    let Some((src, tgt, _sp, tp, _dir, data)) = ends(test).await else {
        return;
    };
    let ws = workspace(&src, &tgt, "dim_users");
    let (s, log) = run(&ws, &data).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{log:#?}");

    tp.execute("DELETE FROM dim_users").await.unwrap();
    let (s, log) = run(&ws, &data).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{log:#?}");
    assert_eq!(count(&tp, "dim_users").await, 300, "{log:#?}");
    assert!(
        log.iter()
            .any(|l| l.starts_with("[WARN]") && l.contains("dim_users is empty")),
        "{log:#?}"
    );
}

/// A lookback is a time; on a numeric cursor it used to be ignored without a
/// word (and rows committed late lost). The run and `dsp check --connect`
/// both refuse it, before the target is touched; all but `0s`.
#[tokio::test]
async fn a_lookback_on_a_numeric_cursor_is_refused_by_the_run_and_the_check() {
    let test = "a_lookback_on_a_numeric_cursor_is_refused_by_the_run_and_the_check";
    let Some(src) = support::pg_db(test).await else {
        return;
    };
    let Some(tgt) = support::pg_db(test).await else {
        return;
    };
    let (sp, tp) = (src.pool_pg().await, tgt.pool_pg().await);
    sp.execute(
        "CREATE TABLE users (id bigint PRIMARY KEY, name text, created_at timestamptz, updated_at bigint);
         INSERT INTO users SELECT g, 'u' || g, now(), g FROM generate_series(1, 10) g;",
    )
    .await
    .unwrap();
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path().join("data"));
    let mut ws = workspace(&src, &tgt, "dim_users");
    ws.schemas[0].columns.retain(|c| c.source != "updated_at");
    ws.jobs[0].lookback = Some("5m".into());

    let problems = dsp::engine::db::check_job(&ws, &ws.jobs[0]).await;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("lookback = \"5m\"") && p.contains("updated_at is a bigint")),
        "{problems:#?}"
    );
    let (s, log) = run(&ws, &data).await;
    assert_eq!(s.status, RunStatus::Failed, "{log:#?}");
    assert!(
        s.error.unwrap_or_default().contains("remove lookback"),
        "{log:#?}"
    );
    let created: bool = sqlx::query_scalar("SELECT to_regclass('dim_users') IS NOT NULL")
        .fetch_one(&tp)
        .await
        .unwrap();
    assert!(!created, "refused before the target was touched");

    // `0s` says "no lookback" on purpose (it silences `dsp check`'s warning),
    // and so fits a numeric cursor.
    ws.jobs[0].lookback = Some("0s".into());
    let problems = dsp::engine::db::check_job(&ws, &ws.jobs[0]).await;
    assert_eq!(problems, Vec::<String>::new());
    let (s, log) = run(&ws, &data).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{log:#?}");
    assert_eq!(count(&tp, "dim_users").await, 10, "{log:#?}");
}

/// One row dated in the future (`9999-12-31`, or PostgreSQL's `infinity`)
/// pinned the watermark there, and every later change was never synced. The
/// watermark now stays at or before the source's clock: the future row is
/// read again each run (with a warning), and later changes arrive.
#[tokio::test]
async fn a_row_dated_in_the_future_does_not_hide_later_changes() {
    for far in ["9999-12-31 00:00:00+00", "infinity"] {
        let test = format!("a_row_dated_in_the_future_does_not_hide_later_changes ({far})");
        let Some((src, tgt, sp, tp, _dir, data)) = ends(&test).await else {
            return;
        };
        sp.execute(format!("UPDATE users SET updated_at = '{far}' WHERE id = 300").as_str())
            .await
            .unwrap();
        // PostgreSQL to PostgreSQL carries `infinity` like any timestamp.
        let ws = workspace(&src, &tgt, "dim_users");
        let (s, log) = run(&ws, &data).await;
        assert_eq!(s.status, RunStatus::Succeeded, "{test}: {log:#?}");
        assert!(
            log.iter().any(|l| l
                .starts_with("[WARN] 1 rows of users have a updated_at past the source's clock")),
            "{test}: {log:#?}"
        );

        // Changed now, long after the rows synced and long before 9999.
        sp.execute("UPDATE users SET name = 'changed', updated_at = now() WHERE id <= 5")
            .await
            .unwrap();
        let (s, log) = run(&ws, &data).await;
        assert_eq!(s.status, RunStatus::Succeeded, "{test}: {log:#?}");
        let changed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM dim_users WHERE name = 'changed'")
                .fetch_one(&tp)
                .await
                .unwrap();
        assert_eq!(changed, 5, "{test}: {log:#?}");
        assert!(
            s.total < 300,
            "{test}: read {} rows, not everything again",
            s.total
        );
    }
}
