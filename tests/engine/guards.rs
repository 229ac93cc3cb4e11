//! Runs refused before they can damage a target: a full sync that would empty
//! or mostly delete it, a target without a usable key or with missing or
//! mistyped columns, a missing source table or column, and source keys that
//! are null, duplicated, or merged by the target's collation.

use dsp::engine::progress::RunStatus;
use dsp::paths::DataDir;
use dsp::workspace::SyncMode;
use sqlx::Executor;

use crate::seed::*;
use crate::small_job::*;
use crate::support;
use crate::support::cli::*;
use crate::support::end::{End, Kind};
use crate::support::workspace::{SchemaJob, WorkspaceToml};

#[tokio::test]
async fn full_sync_refuses_to_empty_or_mostly_delete_the_target() {
    let (src, tgt, s, t) = dbs!("full_sync_refuses_to_empty_or_mostly_delete_the_target");
    create_users(&s, 5000).await;
    let mut ws = seed_workspace(&src, &tgt, SyncMode::Full);
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());
    assert_eq!(run(&ws, &data).await.0.status, RunStatus::Succeeded);
    let before = target_rows(&t).await;

    // 80% of the rows vanish from the source.
    s.execute("DELETE FROM users WHERE id > 1000")
        .await
        .unwrap();
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Failed);
    let err = summary.error.unwrap();
    assert!(
        err.contains("would delete 4,000 of 5,000 rows (80%)")
            && err.contains("max_delete_percent"),
        "{err}"
    );
    assert!(lines.last().unwrap().starts_with("[ERROR] "), "{lines:#?}");
    assert_eq!(target_rows(&t).await, before);

    // The source is empty.
    s.execute("DELETE FROM users").await.unwrap();
    let (summary, _) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Failed);
    let err = summary.error.unwrap();
    assert!(err.contains("allow_empty"), "{err}");
    assert_eq!(target_rows(&t).await, before);

    // Allowed explicitly, it empties the target.
    job_mut(&mut ws).allow_empty = Some(true);
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert!(target_rows(&t).await.is_empty());
}

#[tokio::test]
async fn an_existing_target_without_a_unique_key_is_refused() {
    let (src, tgt, s, t) = dbs!("an_existing_target_without_a_unique_key_is_refused");
    create_users(&s, 10).await;
    t.execute(
        "CREATE TABLE dim_users (user_id bigint, email text, full_name text, created_at timestamptz, score bigint)",
    )
    .await
    .unwrap();
    let ws = seed_workspace(&src, &tgt, SyncMode::Full);
    let dir = support::temp_dir();
    let (summary, _) = run(&ws, &DataDir::new(dir.path())).await;
    let err = summary.error.unwrap();
    assert!(
        err.contains("no primary key or unique index on (user_id)"),
        "{err}"
    );
    let problems = dsp::engine::db::check_job(&ws, &ws.jobs[0]).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("user_id"), "{problems:?}");
}

#[tokio::test]
async fn an_existing_target_missing_a_column_fails_before_any_row_moves() {
    let (src, tgt, s, t) = dbs!("an_existing_target_missing_a_column_fails_before_any_row_moves");
    create_users(&s, 10).await;
    t.execute("CREATE TABLE dim_users (user_id bigint PRIMARY KEY, email text, created_at timestamptz, score bigint)")
        .await
        .unwrap();
    let ws = seed_workspace(&src, &tgt, SyncMode::Full);
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Failed);
    let err = summary.error.unwrap();
    assert!(
        err.contains("dim_users")
            && err.contains("full_name")
            && err.contains("Analytics DB (Target)"),
        "{err}"
    );
    assert!(lines.last().unwrap().starts_with("[ERROR]"), "{lines:#?}");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM dim_users")
        .fetch_one(&t)
        .await
        .unwrap();
    assert_eq!(n, 0);

    // A column of the wrong kind is named too.
    t.execute("ALTER TABLE dim_users ADD COLUMN full_name text, ALTER COLUMN created_at TYPE boolean USING false")
        .await
        .unwrap();
    let (summary, _) = run(&ws, &data).await;
    let err = summary.error.unwrap();
    assert!(
        err.contains("created_at") && err.contains("boolean"),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_source_table_or_column_is_named() {
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, "missing table/column", &env.dir, "").await else {
        return;
    };
    small_source(&src).await;
    let base = WorkspaceToml::new()
        .entry(&src.network_toml("Source"))
        .sqlite("Target", &env.sqlite("t"));

    env.write(
        &base
            .clone()
            .schema_job(&SchemaJob::new("no_such_table", "dst"))
            .build(),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming("missing table", &["no_such_table"]);

    let cols =
        format!("{COLS}\n  {{ source = \"ghost_column\", target = \"g\", type = \"string\" }},");
    env.write(
        &base
            .schema_job(&SchemaJob::new("src", "dst").columns(&cols))
            .build(),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming("missing column", &["ghost_column"]);
}

/// An existing target whose column cannot hold the mapped type: the run fails
/// naming the column, and the target keeps its rows and its tables.
async fn type_mismatch(target: Kind) {
    let test = format!("type mismatch into {target:?}");
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &env.dir, "t").await else {
        return;
    };
    src.exec("CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, n BIGINT, payload JSONB)")
        .await;
    src.exec(
        "INSERT INTO src VALUES (1, 'one', 10, '{\"a\": 1}'), (2, 'two', 20, '[1, 2]'), \
         (3, 'three', 30, '\"text\"')",
    )
    .await;
    tgt.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY, v TEXT, n BIGINT, payload INTEGER)")
        .await;
    tgt.exec("INSERT INTO dst (id, v, n, payload) VALUES (1, 'old', 1, 5), (9, 'keep', 9, 6)")
        .await;
    let before = (tgt.tables().await, tgt.dump("dst").await);
    // JSON, then text, into the integer column `payload`.
    for (source, ty) in [("payload", "json"), ("v", "string")] {
        let cols = format!(
            "  {{ source = \"id\", target = \"id\", type = \"integer\" }},\n  \
             {{ source = \"{source}\", target = \"payload\", type = \"{ty}\" }},"
        );
        env.write(
            &(src.network_toml("Source")
                + "\n"
                + &tgt.network_toml("Target")
                + &schema_job("src", "dst", 1000, &cols)),
        );
        let out = env.dsp(&["run", "J"], &[]);
        out.assert_failed_naming(&format!("{test} ({ty})"), &["payload"]);
        assert_eq!(
            (tgt.tables().await, tgt.dump("dst").await),
            before,
            "{test} ({ty}): the target changed"
        );
    }
}

#[tokio::test]
async fn json_or_text_into_an_existing_pg_integer_column_is_refused() {
    type_mismatch(Kind::Pg).await;
}

#[tokio::test]
async fn json_or_text_into_an_existing_mysql_integer_column_is_refused() {
    type_mismatch(Kind::My).await;
}

#[tokio::test]
async fn null_and_duplicate_source_keys_are_reported_by_key() {
    let (src, tgt, s, t) = dbs!("null_and_duplicate_source_keys_are_reported_by_key");
    s.execute(
        "CREATE TABLE users (id bigint, email text, name text, created_at timestamptz, \
         updated_at timestamptz, score text)",
    )
    .await
    .unwrap();
    insert_users(&s, 1, 10, "2024-01-01 00:00:00+00").await;
    s.execute("INSERT INTO users (id, name) VALUES (NULL, 'no key')")
        .await
        .unwrap();
    let mut ws = seed_workspace(&src, &tgt, SyncMode::Full);
    job_mut(&mut ws).max_failed = Some(1);
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!((summary.success, summary.failed), (10, 1));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("id=NULL") && l.contains("key column id is NULL")),
        "{lines:#?}"
    );

    // A key the source holds twice cannot be mirrored: the run fails.
    insert_users(&s, 5, 5, "2024-01-01 00:00:00+00").await;
    let before = target_rows(&t).await;
    let (summary, _) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Failed);
    let err = summary.error.unwrap();
    assert!(
        err.contains("only 10 distinct values of its primary key (id)"),
        "{err}"
    );
    assert_eq!(target_rows(&t).await, before);

    // Into an empty target the database itself refuses the second row; its
    // message names the key.
    t.execute("DELETE FROM dim_users").await.unwrap();
    let (summary, _) = run(&ws, &data).await;
    let err = summary.error.unwrap();
    assert!(err.contains("(user_id)=(5)"), "{err}");
}

/// A source whose `primary_key` is not unique cannot be mirrored: the run
/// fails saying so, and the target keeps what the last good run wrote.
async fn duplicate_source_keys(target: Kind) {
    let test = format!("duplicate source keys into {target:?}");
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &env.dir, "t").await else {
        return;
    };
    // No key in the source: nothing there stops a duplicate.
    src.exec("CREATE TABLE src (id BIGINT, v TEXT, n BIGINT)")
        .await;
    src.exec("INSERT INTO src VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3)")
        .await;
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 1000, COLS)),
    );
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: first sync\n{}", out.all());
    let before = (tgt.tables().await, tgt.dump("dst").await);

    src.exec("INSERT INTO src VALUES (2, 'two again', 22)")
        .await;
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming(&test, &["src", "id"]);
    let lower = out.all().to_lowercase();
    assert!(
        lower.contains("duplicate") || lower.contains("unique") || lower.contains("distinct"),
        "{test}: the error does not say the key is duplicated\n{}",
        out.all()
    );
    assert!(
        (tgt.tables().await, tgt.dump("dst").await) == before,
        "{test}: the target changed"
    );
}

#[tokio::test]
async fn duplicate_source_keys_fail_the_run_into_pg() {
    duplicate_source_keys(Kind::Pg).await;
}

#[tokio::test]
async fn duplicate_source_keys_fail_the_run_into_mysql() {
    duplicate_source_keys(Kind::My).await;
}

#[tokio::test]
async fn duplicate_source_keys_fail_the_run_into_sqlite() {
    duplicate_source_keys(Kind::Lite).await;
}

/// Keys unique in the source that an existing MySQL target's case-insensitive
/// key column treats as equal: the run fails saying so, target untouched.
#[tokio::test]
async fn keys_merged_by_a_case_insensitive_target_collation_fail_the_run() {
    let test = "case-insensitive target key";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, test, &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::My, test, &env.dir, "").await else {
        return;
    };
    src.exec("CREATE TABLE src (code TEXT PRIMARY KEY, v TEXT)")
        .await;
    src.exec("INSERT INTO src VALUES ('a', 'lower'), ('A', 'upper'), ('b', 'x')")
        .await;
    tgt.exec(
        "CREATE TABLE dst (code VARCHAR(10) PRIMARY KEY, v TEXT) \
         DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci",
    )
    .await;
    tgt.exec("INSERT INTO dst VALUES ('z', 'old')").await;
    let cols = "  { source = \"code\", target = \"code\", type = \"string\" },\n  \
                { source = \"v\", target = \"v\", type = \"string\" },";
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 1000, cols)
                .replace("primary_key = \"id\"", "primary_key = \"code\"")
            + "max_delete_percent = 100\n"),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming(test, &["dst", "code"]);
    assert!(
        out.all().contains("collation"),
        "{test}: the error does not point at the target's collation\n{}",
        out.all()
    );
    let End::My(_, p) = &tgt else { unreachable!() };
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT CONVERT(code USING utf8mb4), CONVERT(v USING utf8mb4) FROM dst")
            .fetch_all(p)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![("z".to_string(), "old".to_string())],
        "{test}: target changed"
    );
}
