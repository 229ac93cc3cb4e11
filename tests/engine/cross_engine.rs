//! The seed job between every kind of engine: a full sync, a re-sync of
//! changes and incremental runs, with text that needs quoting and escaping.

use dsp::engine::progress::RunStatus;
use dsp::paths::DataDir;
use dsp::workspace::{Job, SyncMode, Workspace};

use crate::seed::*;
use crate::support;
use crate::support::end::{End, Kind};

async fn cross_engine(source: Kind, target: Kind) {
    let test = format!("cross_engine {source:?} -> {target:?}");
    let dir = support::temp_dir();
    let Some(src) = End::new(source, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(target, &test, &dir, "target").await else {
        return;
    };
    src.exec(users_ddl(source)).await;
    // Only MySQL reads backslashes in literals as escapes.
    let fix = |sql: String| {
        if source == Kind::My {
            sql
        } else {
            sql.replace("\\\\", "\\")
        }
    };
    let (sql, mut expect) = users_insert(1, 1200, "2024-01-01 00:00:00");
    src.exec(&fix(sql)).await;
    let mut ws = Workspace {
        path: None,
        networks: vec![
            src.network("Production DB (Source)"),
            tgt.network("Analytics DB (Target)"),
        ],
        schemas: Vec::new(),
        jobs: Vec::new(),
        ..Default::default()
    };
    ws.schemas = seed_workspace_schema();
    ws.jobs = vec![Job::new(
        JOB,
        "Production DB (Source)",
        "Analytics DB (Target)",
        "Users Sync Schema",
        SyncMode::Full,
    )];
    let data = DataDir::new(dir.path().join("data"));

    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert_eq!(tgt.target_rows().await, expect, "{test}");

    // Changes, then a full re-sync mirrors them.
    src.exec("DELETE FROM users WHERE id > 1100").await;
    src.exec("UPDATE users SET email = NULL WHERE id = 5").await;
    expect.truncate(1100);
    expect[4].1 = None;
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert_eq!(tgt.target_rows().await, expect, "{test}");

    // Incremental: the first run loads all, the next picks up a boundary row.
    ws.jobs[0].mode = SyncMode::Incremental;
    ws.jobs[0].batch_size = Some(250);
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    let (sql, more) = users_insert(1101, 1101, "2024-01-01 00:00:00");
    src.exec(&fix(sql)).await;
    expect.extend(more);
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert_eq!(
        summary.total, 1101,
        "{test}: every row sits on the watermark"
    );
    assert_eq!(tgt.target_rows().await, expect, "{test}");
}

#[tokio::test]
async fn mysql_to_mysql() {
    cross_engine(Kind::My, Kind::My).await;
}

#[tokio::test]
async fn sqlite_to_sqlite() {
    cross_engine(Kind::Lite, Kind::Lite).await;
}

#[tokio::test]
async fn pg_to_mysql() {
    cross_engine(Kind::Pg, Kind::My).await;
}

#[tokio::test]
async fn mysql_to_pg() {
    cross_engine(Kind::My, Kind::Pg).await;
}

#[tokio::test]
async fn sqlite_to_pg() {
    cross_engine(Kind::Lite, Kind::Pg).await;
}

#[tokio::test]
async fn pg_to_sqlite() {
    cross_engine(Kind::Pg, Kind::Lite).await;
}
