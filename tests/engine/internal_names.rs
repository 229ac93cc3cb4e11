//! The run's own objects (the staging table and its index) never take the
//! name of the user's target table: a target named like them still receives
//! every source row, on a full sync, a re-sync of changes and incremental
//! runs.

use dsp::engine::progress::RunStatus;
use dsp::paths::DataDir;
use dsp::workspace::{Job, SyncMode, Workspace};

use crate::seed::*;
use crate::support;
use crate::support::end::{End, Kind};

/// (id, email, name, score) of every row of `table` on the target, by id.
type Rows = Vec<(i64, Option<String>, Option<String>, Option<i64>)>;

async fn rows_of(end: &End, table: &str) -> Rows {
    let sql = format!("SELECT user_id, email, full_name, score FROM {table} ORDER BY user_id");
    match end {
        End::Pg(_, p) => sqlx::query_as(&sql).fetch_all(p).await.unwrap(),
        End::My(_, p) => sqlx::query_as(&sql).fetch_all(p).await.unwrap(),
        End::Lite(path, _) => {
            // A fresh connection, as the next DSP run would open it.
            let p = support::end::lite_pool(path).await;
            let rows = sqlx::query_as(&sql).fetch_all(&p).await.unwrap();
            p.close().await;
            rows
        }
    }
}

fn expected(mirror: &Mirror) -> Rows {
    mirror
        .iter()
        .map(|(id, email, name, _, score)| (*id, email.clone(), name.clone(), *score))
        .collect()
}

/// The seed job from a SQLite source into a `target` table named `table`.
async fn into_table_named(target: Kind, table: &str) {
    let test = format!("internal_names {target:?} {table}");
    let dir = support::temp_dir();
    let Some(src) = End::new(Kind::Lite, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(target, &test, &dir, "target").await else {
        return;
    };
    src.exec(users_ddl(Kind::Lite)).await;
    // Only MySQL reads backslashes in literals as escapes.
    let (sql, mut expect) = users_insert(1, 1000, "2024-01-01 00:00:00");
    src.exec(&sql.replace("\\\\", "\\")).await;
    let mut ws = Workspace {
        path: None,
        networks: vec![
            src.network("Production DB (Source)"),
            tgt.network("Analytics DB (Target)"),
        ],
        schemas: seed_workspace_schema(),
        jobs: vec![Job::new(
            JOB,
            "Production DB (Source)",
            "Analytics DB (Target)",
            "Users Sync Schema",
            SyncMode::Full,
        )],
        ..Default::default()
    };
    ws.schemas[0].target_table = table.into();
    let data = DataDir::new(dir.path().join("data"));

    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert_eq!(
        rows_of(&tgt, table).await,
        expected(&expect),
        "{test}: full"
    );

    // A re-sync deletes and updates through the stage.
    src.exec("DELETE FROM users WHERE id > 900").await;
    src.exec("UPDATE users SET email = NULL WHERE id = 5").await;
    expect.truncate(900);
    expect[4].1 = None;
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert_eq!(
        rows_of(&tgt, table).await,
        expected(&expect),
        "{test}: re-sync"
    );

    // Incremental: the first run loads all, the next picks up new rows.
    ws.jobs[0].mode = SyncMode::Incremental;
    ws.jobs[0].batch_size = Some(250);
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    let (sql, more) = users_insert(901, 950, "2024-02-01 00:00:00");
    src.exec(&sql.replace("\\\\", "\\")).await;
    expect.extend(more);
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert_eq!(
        rows_of(&tgt, table).await,
        expected(&expect),
        "{test}: incremental"
    );
}

#[tokio::test]
async fn pg_target_named_like_the_stage() {
    into_table_named(Kind::Pg, "dsp_stage").await;
    into_table_named(Kind::Pg, "dsp_stage_key").await;
}

#[tokio::test]
async fn mysql_target_named_like_the_stage() {
    into_table_named(Kind::My, "dsp_stage").await;
    into_table_named(Kind::My, "dsp_stage_key").await;
}

#[tokio::test]
async fn sqlite_target_named_like_the_stage() {
    into_table_named(Kind::Lite, "dsp_stage").await;
    into_table_named(Kind::Lite, "dsp_stage_key").await;
}
