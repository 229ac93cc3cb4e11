//! A primary_key that is not unique in the source: an incremental run into
//! MariaDB or SQLite turned 1,000 rows into 7 and reported success. The run
//! now refuses before any row moves, naming the key; a source whose key has
//! a unique index is not scanned for it.

use dsp::engine::progress::RunStatus;
use dsp::paths::DataDir;
use dsp::workspace::{ColumnMap, ColumnType, Job, Schema, SyncMode, Workspace};

use crate::support::end::{End, Kind};
use crate::support::run::run_and_collect;

fn workspace(src: &End, tgt: &End) -> Workspace {
    let col = |s: &str, ty| ColumnMap {
        source: s.into(),
        target: s.into(),
        ty,
    };
    Workspace {
        path: None,
        networks: vec![src.network("S"), tgt.network("T")],
        schemas: vec![Schema {
            name: "E".into(),
            source_table: "events".into(),
            target_table: "events".into(),
            primary_key: vec!["device".into()],
            cursor_column: Some("at".into()),
            columns: vec![
                col("device", ColumnType::Integer),
                col("v", ColumnType::Integer),
                col("at", ColumnType::Timestamp),
            ],
        }],
        jobs: vec![Job::new("J", "S", "T", "E", SyncMode::Incremental)],
        ..Default::default()
    }
}

async fn refused_into(target: Kind) {
    let test = format!("duplicate source keys into {target:?}");
    let dir = crate::support::temp_dir();
    let Some(src) = End::new(Kind::My, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(target, &test, &dir, "target").await else {
        return;
    };
    // 1,000 events of 7 devices: `device` is no key of this table.
    src.exec("CREATE TABLE events (device bigint, v bigint, at datetime(6))")
        .await;
    let rows: Vec<String> = (0..1000)
        .map(|i| format!("({}, {i}, '2024-01-01 00:00:00')", i % 7))
        .collect();
    src.exec(&format!("INSERT INTO events VALUES {}", rows.join(", ")))
        .await;
    let ws = workspace(&src, &tgt);
    let data = DataDir::new(dir.path().join("data"));
    // What `dsp check --connect` says is what the run then does.
    let problems = dsp::engine::db::check_job(&ws, &ws.jobs[0]).await;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("7 values of the primary_key (device)")),
        "{test}: {problems:#?}"
    );
    let c = run_and_collect(&ws, "J", &data).await;
    assert_eq!(
        c.summary.status,
        RunStatus::Failed,
        "{test}: {:#?}",
        c.lines()
    );
    let why = c.summary.error.unwrap_or_default();
    assert!(
        why.starts_with("source network \"S\"")
            && why.contains("7 values of the primary_key (device)")
            && why.contains("overwrite each other"),
        "{test}: {why}"
    );
    assert_eq!(c.summary.success, 0, "{test}");

    // Unique in fact and by index: the run goes through.
    src.exec("DELETE FROM events WHERE v >= 7").await;
    src.exec("ALTER TABLE events ADD PRIMARY KEY (device)")
        .await;
    let c = run_and_collect(&ws, "J", &data).await;
    assert_eq!(
        c.summary.status,
        RunStatus::Succeeded,
        "{test}: {:#?}",
        c.lines()
    );
    assert_eq!(c.summary.success, 7, "{test}");
}

#[tokio::test]
async fn duplicate_source_keys_are_refused_into_mariadb() {
    refused_into(Kind::My).await;
}

#[tokio::test]
async fn duplicate_source_keys_are_refused_into_sqlite() {
    refused_into(Kind::Lite).await;
}

/// A MariaDB key column of `utf8mb4_bin` ignores trailing spaces (PAD
/// SPACE): `b` and `b ` are one key there, two in the source. An incremental
/// run folded them into one row; it now refuses — and only when the source
/// holds such keys, so the many targets keyed by `utf8mb4_bin` still run.
#[tokio::test]
async fn keys_that_differ_by_trailing_spaces_are_not_folded_by_a_pad_space_target() {
    let test = "keys_that_differ_by_trailing_spaces_are_not_folded_by_a_pad_space_target";
    let dir = crate::support::temp_dir();
    let Some(src) = End::new(Kind::Pg, test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::My, test, &dir, "target").await else {
        return;
    };
    src.exec(
        "CREATE TABLE events (device text PRIMARY KEY, v bigint, at timestamp);
         INSERT INTO events VALUES ('a', 1, '2024-01-01'), ('b', 2, '2024-01-01');",
    )
    .await;
    tgt.exec(
        "CREATE TABLE events (device VARCHAR(20) COLLATE utf8mb4_bin PRIMARY KEY, v BIGINT, \
         at DATETIME(6)) DEFAULT CHARSET=utf8mb4",
    )
    .await;
    let mut ws = workspace(&src, &tgt);
    ws.schemas[0].columns[0].ty = ColumnType::String;
    let data = DataDir::new(dir.path().join("data"));
    let c = run_and_collect(&ws, "J", &data).await;
    assert_eq!(
        c.summary.status,
        RunStatus::Succeeded,
        "{test}: {:#?}",
        c.lines()
    );

    assert_eq!(
        dsp::engine::db::check_job(&ws, &ws.jobs[0]).await,
        Vec::<String>::new()
    );

    src.exec("INSERT INTO events VALUES ('b ', 3, '2024-01-02')")
        .await;
    let problems = dsp::engine::db::check_job(&ws, &ws.jobs[0]).await;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("utf8mb4_bin") && p.contains("PAD SPACE")),
        "{test}: dsp check --connect says what the run will: {problems:#?}"
    );
    let c = run_and_collect(&ws, "J", &data).await;
    assert_eq!(
        c.summary.status,
        RunStatus::Failed,
        "{test}: {:#?}",
        c.lines()
    );
    let why = c.summary.error.unwrap_or_default();
    assert!(
        why.contains("utf8mb4_bin") && why.contains("PAD SPACE") && why.contains("nopad"),
        "{test}: {why}"
    );
    let End::My(_, pool) = &tgt else {
        unreachable!()
    };
    let v: i64 = sqlx::query_scalar("SELECT v FROM events WHERE device = 'b'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(v, 2, "{test}: the row of 'b' was not overwritten by 'b '");
}
