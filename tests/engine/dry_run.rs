//! `dsp run --dry-run`: the exact changes a run would make, and nothing
//! written: the counts equal what the following run reports, the target's
//! rows and the watermark stay as they were, a missing target is not
//! created, a guard that would stop the run says so.

use dsp::engine::preview::Preview;
use dsp::engine::progress::{Changes, Reporter, RunStatus};
use dsp::engine::runner::preview_job;
use dsp::engine::state;
use dsp::workspace::SyncMode;
use tokio_util::sync::CancellationToken;

use crate::changes::{Pair, changes};
use crate::seed::JOB;
use crate::support;
use crate::support::end::Kind;

async fn preview(p: &Pair) -> (Preview, Vec<String>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let r = preview_job(
        &p.ws,
        JOB,
        &p.data,
        CancellationToken::new(),
        Reporter::new(JOB, tx),
    )
    .await;
    let mut events = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        events.push(ev);
    }
    (r, support::run::log_lines(&events))
}

fn keys(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| s.to_string()).collect()
}

/// The preview must succeed, leave the target's rows as they were, and
/// count what the next run then reports.
async fn preview_then_run(p: &Pair, expect: Changes) -> Preview {
    let test = &p.test;
    let before = p.tgt.target_rows().await;
    let watermark = state::read_watermark(&p.data, JOB).unwrap();
    let runs = state::history(&p.data, JOB).unwrap().len();
    let (pv, lines) = preview(p).await;
    assert_eq!(pv.status, Some(RunStatus::Succeeded), "{test}: {lines:#?}");
    assert_eq!(pv.changes, Some(expect), "{test}: {lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[INFO] Dry run: the run would insert")),
        "{test}: {lines:#?}"
    );
    assert_eq!(
        p.tgt.target_rows().await,
        before,
        "{test}: the dry run wrote"
    );
    assert_eq!(
        state::read_watermark(&p.data, JOB).unwrap(),
        watermark,
        "{test}"
    );
    assert_eq!(
        state::history(&p.data, JOB).unwrap().len(),
        runs,
        "{test}: not a run"
    );
    assert_eq!(p.run().await, expect, "{test}: the run after the dry run");
    pv
}

async fn full(source: Kind, target: Kind) {
    let Some(mut p) = Pair::new(source, target, SyncMode::Full, "dry run").await else {
        return;
    };
    let test = p.test.clone();
    // No target table: the run would create it and insert every row.
    let (pv, lines) = preview(&p).await;
    assert_eq!(pv.status, Some(RunStatus::Succeeded), "{test}: {lines:#?}");
    assert!(pv.create_target, "{test}");
    assert_eq!(pv.changes, Some(changes(100, 0, 0, 0)), "{test}");
    assert_eq!(pv.first.insert.len(), 10, "{test}");
    assert_eq!(pv.first.insert[0], "1", "{test}");
    assert!(
        !p.tgt
            .tables()
            .await
            .iter()
            .any(|t| t.ends_with("dim_users")),
        "{test}: the dry run created the table"
    );
    assert!(state::history(&p.data, JOB).unwrap().is_empty(), "{test}");
    assert_eq!(p.run().await, changes(100, 0, 0, 0), "{test}");

    preview_then_run(&p, changes(0, 0, 0, 100)).await;
    p.change_source().await;
    let pv = preview_then_run(&p, changes(1, 2, 1, 97)).await;
    assert_eq!(pv.first.insert, keys(&["101"]), "{test}");
    assert_eq!(pv.first.update, keys(&["5", "7"]), "{test}");
    assert_eq!(pv.first.delete, keys(&["100"]), "{test}");

    // Deleting 59 of 100 rows trips the delete guard: said, and nothing done.
    p.src.exec("DELETE FROM users WHERE id > 41").await;
    let before = p.tgt.target_rows().await;
    let (pv, lines) = preview(&p).await;
    assert_eq!(pv.status, Some(RunStatus::Failed), "{test}: {lines:#?}");
    assert_eq!(pv.changes.map(|c| c.deleted), Some(59), "{test}");
    let why = pv.error.clone().unwrap_or_default();
    assert!(why.contains("would delete 59 of 100 rows"), "{test}: {why}");
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("[ERROR] Dry run: the run would fail: "),
        "{test}: {lines:#?}"
    );
    assert_eq!(p.tgt.target_rows().await, before, "{test}");
}

async fn incremental(source: Kind, target: Kind) {
    let Some(mut p) = Pair::new(source, target, SyncMode::Incremental, "dry run").await else {
        return;
    };
    let test = p.test.clone();
    let (pv, _) = preview(&p).await;
    assert!(pv.create_target, "{test}");
    assert_eq!(pv.read, 100, "{test}");
    assert_eq!(p.run().await, changes(100, 0, 0, 0), "{test}");
    p.change_source().await;
    let pv = preview_then_run(&p, changes(1, 2, 0, 97)).await;
    assert_eq!(pv.read, 100, "{test}: rows past the watermark");
    assert_eq!(pv.first.insert, keys(&["101"]), "{test}");
    assert_eq!(pv.first.update, keys(&["5", "7"]), "{test}");
    // Past the new watermark: 5, 7, 8 and 101, now all in the target.
    let pv = preview_then_run(&p, changes(0, 0, 0, 4)).await;
    assert_eq!(pv.read, 4, "{test}");
}

#[tokio::test]
async fn full_pg_to_pg() {
    full(Kind::Pg, Kind::Pg).await;
}

#[tokio::test]
async fn full_pg_to_mysql() {
    full(Kind::Pg, Kind::My).await;
}

#[tokio::test]
async fn full_mysql_to_pg() {
    full(Kind::My, Kind::Pg).await;
}

#[tokio::test]
async fn full_sqlite_to_sqlite() {
    full(Kind::Lite, Kind::Lite).await;
}

#[tokio::test]
async fn incremental_pg_to_pg() {
    incremental(Kind::Pg, Kind::Pg).await;
}

#[tokio::test]
async fn incremental_pg_to_mysql() {
    incremental(Kind::Pg, Kind::My).await;
}

#[tokio::test]
async fn incremental_mysql_to_pg() {
    incremental(Kind::My, Kind::Pg).await;
}

#[tokio::test]
async fn incremental_sqlite_to_sqlite() {
    incremental(Kind::Lite, Kind::Lite).await;
}

/// `dsp run --dry-run` as an operator meets it: the log, the JSON, the exit
/// status of a run the guard would stop, and a target table never created.
#[tokio::test]
async fn dsp_run_dry_run_prints_what_a_run_would_do() {
    use crate::support::cli::Env;
    use crate::support::end::lite_pool;
    use crate::support::workspace::{SchemaJob, WorkspaceToml};

    let env = Env::new();
    let (src, tgt) = (env.sqlite("src"), env.sqlite("tgt"));
    let p = lite_pool(&src).await;
    sqlx::raw_sql(
        "CREATE TABLE src (id INTEGER PRIMARY KEY, v TEXT, n INTEGER); \
         WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 50) \
         INSERT INTO src SELECT i, 'v' || i, i FROM g;",
    )
    .execute(&p)
    .await
    .unwrap();
    env.write(
        &WorkspaceToml::new()
            .sqlite("Source", &src)
            .sqlite("Target", &tgt)
            .schema_job(&SchemaJob::new("src", "dst"))
            .build(),
    );
    let tables = || async {
        let t = lite_pool(&tgt).await;
        let n: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&t)
                .await
                .unwrap();
        t.close().await;
        n
    };

    let out = env.dsp(&["run", "--dry-run", "J"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    let lines = out.log_lines();
    assert_eq!(
        lines[0],
        "[INFO] Starting dry run of sync job: J (nothing will be written)"
    );
    assert!(
        out.stdout.contains("the run would create it"),
        "{}",
        out.all()
    );
    assert!(
        lines
            .contains(&"[INFO] Dry run: the run would insert 50, update 0, delete 0 (0 unchanged)"),
        "{}",
        out.all()
    );
    assert!(
        lines.contains(&"[INFO] First keys to insert: 1; 2; 3; 4; 5; 6; 7; 8; 9; 10, ..."),
        "{}",
        out.all()
    );
    assert!(tables().await.is_empty(), "the dry run created the table");

    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    let lines = out.log_lines();
    assert_eq!(
        lines[lines.len() - 2..],
        [
            "[INFO] Changes: 50 inserted, 0 updated, 0 deleted, 0 unchanged",
            "[INFO] Sync completed. Total: 50, Success: 50, Failed: 0"
        ]
    );

    sqlx::raw_sql("DELETE FROM src WHERE id > 10; UPDATE src SET v = NULL WHERE id = 3")
        .execute(&p)
        .await
        .unwrap();
    let out = env.dsp(&["run", "--dry-run", "--json", "J"], &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("one JSON object");
    assert_eq!(v["job"], "J");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["create_target"], false);
    assert_eq!(
        (v["insert"].clone(), v["update"].clone()),
        (0.into(), 1.into())
    );
    assert_eq!(
        (v["delete"].clone(), v["unchanged"].clone()),
        (40.into(), 9.into())
    );
    assert_eq!(v["first_keys"]["update"], serde_json::json!(["3"]));
    assert_eq!(v["first_keys"]["delete"][0], "11");
    assert!(
        v["error"].as_str().unwrap().contains("max_delete_percent"),
        "{v}"
    );
    assert!(
        out.stderr.contains("job \"J\" would not run through"),
        "{}",
        out.all()
    );
    out.assert_no_panic("dry run");

    let out = env.dsp(&["run", "--dry-run", "--full-refresh", "J"], &[]);
    assert_eq!(
        out.code,
        2,
        "a dry run is not a full refresh: {}",
        out.all()
    );
    p.close().await;
}
