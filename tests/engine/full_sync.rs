//! Full sync: the seed example's log lines, a re-sync mirroring inserts,
//! updates and deletes, all-or-nothing batches, and a source read in one
//! snapshot.

use dsp::engine::progress::RunStatus;
use dsp::paths::DataDir;
use dsp::workspace::{Job, SyncMode, Workspace};
use sqlx::Executor;

use crate::seed::*;
use crate::small_job::*;
use crate::support;
use crate::support::cli::*;
use crate::support::end::{End, Kind};

#[tokio::test]
async fn seed_example_full_sync_pg_to_pg() {
    let (src, tgt, s, t) = dbs!("seed_example_full_sync_pg_to_pg");
    create_users(&s, 5000).await;
    let ws = seed_workspace(&src, &tgt, SyncMode::Full);
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());

    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!(
        (summary.total, summary.success, summary.failed),
        (5000, 5000, 0)
    );
    let mut expected = vec![
        "[INFO] Starting sync job: Sync Users to Analytics".to_string(),
        "[INFO] Fetching records from source: users".into(),
        "[INFO] Total records: 5,000".into(),
    ];
    for k in 1..=5 {
        expected.push(format!("[INFO] Processing batch {k}/5 (1000 records)"));
    }
    expected.push("[INFO] Sync completed. Total: 5,000, Success: 5,000, Failed: 0".into());
    // The seed's lines, in order; an informational line in between (the target
    // table being created) is allowed.
    let seen: Vec<&String> = lines.iter().filter(|l| expected.contains(l)).collect();
    assert_eq!(seen, expected.iter().collect::<Vec<_>>(), "{lines:#?}");
    assert_eq!(lines.first(), expected.first());
    assert_eq!(lines.last(), expected.last());
    assert_eq!(target_rows(&t).await, source_rows(&s).await);

    let history = dsp::engine::state::history(&data, JOB).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].summary.status, RunStatus::Succeeded);
    assert_eq!(history[0].log.len(), lines.len());
}

#[tokio::test]
async fn full_resync_mirrors_inserts_updates_and_deletes() {
    let (src, tgt, s, t) = dbs!("full_resync_mirrors_inserts_updates_and_deletes");
    create_users(&s, 2000).await;
    let ws = seed_workspace(&src, &tgt, SyncMode::Full);
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());
    assert_eq!(run(&ws, &data).await.0.status, RunStatus::Succeeded);

    insert_users(&s, 2001, 2100, "2024-02-01 00:00:00+00").await;
    s.execute("UPDATE users SET name = 'Renamed ' || id, score = NULL WHERE id % 40 = 0")
        .await
        .unwrap();
    s.execute("UPDATE users SET email = NULL, name = 'Ünïcødé ✓ \t tab \\ backslash' WHERE id = 7")
        .await
        .unwrap();
    s.execute("DELETE FROM users WHERE id BETWEEN 500 AND 799")
        .await
        .unwrap();
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    // Most segments differ: the whole table is read.
    assert_eq!(summary.success, 1800);
    let c = summary.changes.unwrap();
    assert_eq!(
        (c.inserted, c.updated, c.deleted),
        (100, 44, 300),
        "{lines:#?}"
    );
    assert_eq!(c.inserted + c.updated + c.unchanged, 1800, "{lines:#?}");
    assert!(
        lines.contains(&"[INFO] Deleted 300 rows no longer in the source".to_string()),
        "{lines:#?}"
    );
    assert_eq!(target_rows(&t).await, source_rows(&s).await);

    // Nothing changed: the same rows, and the run still succeeds.
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!(target_rows(&t).await, source_rows(&s).await);
}

#[tokio::test]
async fn a_failure_in_the_last_batch_leaves_the_target_as_it_was() {
    let (src, tgt, s, t) = dbs!("a_failure_in_the_last_batch_leaves_the_target_as_it_was");
    create_users(&s, 3000).await;
    let ws = seed_workspace(&src, &tgt, SyncMode::Full);
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());
    assert_eq!(run(&ws, &data).await.0.status, RunStatus::Succeeded);
    let before = target_rows(&t).await;

    s.execute("UPDATE users SET name = 'changed'")
        .await
        .unwrap();
    s.execute(
        "INSERT INTO users VALUES (9999, 'x@example.com', 'bad', now(), now(), 'not a number')",
    )
    .await
    .unwrap();
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Failed, "{lines:#?}");
    assert_eq!(summary.failed, 1);
    assert_eq!(summary.success, 0);
    let warn = lines
        .iter()
        .find(|l| l.starts_with("[WARN]"))
        .expect("a line for the failed row");
    assert!(
        warn.contains("id=9999") && warn.contains("score") && warn.contains("not a number"),
        "{warn}"
    );
    assert!(lines.last().unwrap().contains("max_failed"), "{lines:#?}");
    assert_eq!(target_rows(&t).await, before);
}

#[tokio::test]
async fn batches_larger_than_a_chunk_are_counted_and_committed_whole() {
    let (src, tgt, s, t) = dbs!("batches_larger_than_a_chunk_are_counted_and_committed_whole");
    create_users(&s, 30_000).await;
    let mut ws = seed_workspace(&src, &tgt, SyncMode::Full);
    job_mut(&mut ws).batch_size = Some(12_000);
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    let batch_lines: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("Processing batch"))
        .collect();
    assert_eq!(
        batch_lines,
        vec![
            "[INFO] Processing batch 1/3 (12000 records)",
            "[INFO] Processing batch 2/3 (12000 records)",
            "[INFO] Processing batch 3/3 (6000 records)"
        ]
    );
    assert_eq!(target_rows(&t).await, source_rows(&s).await);

    // Incremental, with a bad row in the second batch: the first batch of
    // 12,000 commits as a whole, the second not at all.
    t.execute("DROP TABLE dim_users").await.unwrap();
    s.execute(
        "UPDATE users SET updated_at = timestamptz '2024-05-01 00:00:00+00' + id * interval '1 ms'",
    )
    .await
    .unwrap();
    s.execute("UPDATE users SET score = 'bad' WHERE id = 20000")
        .await
        .unwrap();
    job_mut(&mut ws).mode = SyncMode::Incremental;
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Failed, "{lines:#?}");
    assert_eq!(summary.success, 12_000);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM dim_users")
        .fetch_one(&t)
        .await
        .unwrap();
    assert_eq!(n, 12_000);
    s.execute("UPDATE users SET score = '1' WHERE id = 20000")
        .await
        .unwrap();
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!(target_rows(&t).await, source_rows(&s).await);
}

#[tokio::test]
async fn wide_rows_travel_in_small_chunks_but_count_as_one_batch() {
    let (src, tgt, s, t) = dbs!("wide_rows_travel_in_small_chunks_but_count_as_one_batch");
    create_users(&s, 30).await;
    s.execute("UPDATE users SET name = repeat(md5(id::text), 40000)")
        .await
        .unwrap();
    let ws = seed_workspace(&src, &tgt, SyncMode::Full);
    let dir = support::temp_dir();
    let (summary, lines) = run(&ws, &DataDir::new(dir.path())).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert!(
        lines.contains(&"[INFO] Processing batch 1/1 (30 records)".to_string()),
        "{lines:#?}"
    );
    assert_eq!(target_rows(&t).await, source_rows(&s).await);
}

#[tokio::test]
async fn a_run_of_many_tiny_batches_logs_a_sample_of_batch_lines() {
    let dir = support::temp_dir();
    let src = End::new(Kind::Lite, "tiny batches", &dir, "src")
        .await
        .unwrap();
    let tgt = End::new(Kind::Lite, "tiny batches", &dir, "tgt")
        .await
        .unwrap();
    src.exec(users_ddl(Kind::Lite)).await;
    src.exec(
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20001) \
         INSERT INTO users SELECT n, 'u' || n, 'N', '2024-01-01 00:00:00', '2024-01-01 00:00:00', n FROM g",
    )
    .await;
    let mut ws = Workspace {
        path: None,
        networks: vec![src.network("S"), tgt.network("T")],
        schemas: seed_workspace_schema(),
        jobs: vec![Job::new(JOB, "S", "T", "Users Sync Schema", SyncMode::Full)],
        ..Default::default()
    };
    ws.jobs[0].batch_size = Some(1);
    let (summary, lines) = run(&ws, &DataDir::new(dir.path().join("data"))).await;
    assert_eq!(summary.status, RunStatus::Succeeded);
    assert_eq!(summary.success, 20_001);
    let batch_lines = lines
        .iter()
        .filter(|l| l.contains("Processing batch"))
        .count();
    assert!((6_000..=7_000).contains(&batch_lines), "{batch_lines}");
    assert!(lines.contains(&"[INFO] 20,001 batches: logging one batch line in 3".to_string()));
    assert!(lines.contains(&"[INFO] Processing batch 1/20001 (1 records)".to_string()));
    assert!(lines.contains(&"[INFO] Processing batch 20001/20001 (1 records)".to_string()));
    assert_eq!(tgt.target_rows().await.len(), 20_001);
}

/// The count that runs beside the read sees the read's own snapshot: rows
/// committed after the read began are in neither, so "batch k of N" and the
/// summary agree with what was streamed.
#[tokio::test]
async fn the_count_beside_a_pg_read_sees_the_reads_snapshot() {
    use dsp::engine::db::Source;
    use dsp::engine::db::connect::{Role, connect};
    let (src, _tgt, s, _t) = dbs!("the_count_beside_a_pg_read_sees_the_reads_snapshot");
    create_users(&s, 100).await;
    let net = src.network("S");
    let ws = Workspace {
        path: None,
        networks: vec![net.clone()],
        schemas: vec![],
        jobs: vec![],
        ..Default::default()
    };
    let conn = |ws, net| async move { connect(ws, net, Role::Source).await.unwrap() };
    let mut source = Source::new(conn(&ws, &net).await, Some(conn(&ws, &net).await));
    source.begin_snapshot().await.unwrap();
    let sql = "SELECT COUNT(*) FROM users";
    assert_eq!(source.count(sql).await.unwrap(), 100);
    // Committed by someone else while the read's transaction is open.
    insert_users(&s, 101, 150, "2024-01-01 00:00:00+00").await;
    let beside = source
        .count_alongside(sql.to_string(), None)
        .await
        .unwrap()
        .expect("PostgreSQL counts beside the read");
    assert_eq!(beside.await.unwrap().unwrap(), 100);
    assert_eq!(source.count(sql).await.unwrap(), 100);
    source.end_snapshot().await;

    // A deferred count, let go after more rows were committed, still counts
    // the read's snapshot.
    let mut source = Source::new(conn(&ws, &net).await, Some(conn(&ws, &net).await));
    source.begin_snapshot().await.unwrap();
    let (go, wait) = tokio::sync::oneshot::channel();
    let later = source
        .count_alongside(sql.to_string(), Some(wait))
        .await
        .unwrap()
        .expect("PostgreSQL counts beside the read");
    insert_users(&s, 151, 160, "2024-01-01 00:00:00+00").await;
    go.send(()).unwrap();
    assert_eq!(later.await.unwrap().unwrap(), 150);
    source.end_snapshot().await;

    // Without the second connection the caller counts in line.
    let mut alone = Source::new(conn(&ws, &net).await, None);
    alone.begin_snapshot().await.unwrap();
    assert!(
        alone
            .count_alongside(sql.into(), None)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(alone.count(sql).await.unwrap(), 160);
}

/// The source is read in one snapshot: rows deleted and added in the source
/// after the run started do not tear the copy.
async fn snapshot(source: Kind) {
    let test = format!("snapshot of a {source:?} source");
    let env = Env::new();
    let Some(src) = End::new(source, &format!("{test} (source)"), &env.dir, "s").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, &format!("{test} (target)"), &env.dir, "").await else {
        return;
    };
    src.exec("CREATE TABLE big (id BIGINT PRIMARY KEY, v TEXT, n BIGINT)")
        .await;
    // 200,000 rows in 200 statements of 1,000 rows: portable SQL.
    for chunk in 0..(BIG_ROWS / 1000) {
        let values: Vec<String> = (chunk * 1000 + 1..=chunk * 1000 + 1000)
            .map(|i| format!("({i}, 'v{i}', {i})"))
            .collect();
        src.exec(&format!("INSERT INTO big VALUES {}", values.join(",")))
            .await;
    }
    let at_start = src.dump("big").await;
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("big", "big_copy", 100, COLS)),
    );
    let (child, lines, reader) = start_until_first_batch(&env);
    // Committed while DSP streams: the copy must not see any of it.
    src.exec("DELETE FROM big WHERE id > 100000").await;
    src.exec("UPDATE big SET v = 'changed' WHERE id <= 50")
        .await;
    src.exec("INSERT INTO big VALUES (999999999, 'late', 0)")
        .await;
    let out = finish(child, lines, reader);
    assert!(
        out.stdout.contains("Processing batch 2/"),
        "{test}: the run was too short to show anything\n{}",
        out.all()
    );
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    assert!(
        out.stdout
            .contains("Total: 200,000, Success: 200,000, Failed: 0"),
        "{test}: summary\n{}",
        out.stdout
            .lines()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        tgt.dump("big_copy").await == at_start,
        "{test}: the target is not the source as it was when the run started"
    );
}

#[tokio::test]
async fn a_pg_source_is_read_in_one_snapshot() {
    snapshot(Kind::Pg).await;
}

#[tokio::test]
async fn a_mysql_source_is_read_in_one_snapshot() {
    snapshot(Kind::My).await;
}
