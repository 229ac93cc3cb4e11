//! The sync engine (SPEC §4) against real servers: the seed example's log lines,
//! full sync mirroring inserts, updates and deletes, the delete guards,
//! all-or-nothing failure, and incremental runs with inclusive boundaries that
//! resume after a failure without losing a row.

mod support;

use dsp::engine::progress::{ProgressEvent, Reporter, RunStatus, RunSummary};
use dsp::engine::runner::run_job;
use dsp::paths::DataDir;
use dsp::workspace::{ColumnMap, ColumnType, Job, Schema, SyncMode, Workspace};
use sqlx::{Executor, PgPool};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const JOB: &str = "Sync Users to Analytics";

fn col(source: &str, target: &str, ty: ColumnType) -> ColumnMap {
    ColumnMap {
        source: source.into(),
        target: target.into(),
        ty,
    }
}

/// The seed's schema and job, between two test databases.
fn seed_workspace(src: &support::TestDb, tgt: &support::TestDb, mode: SyncMode) -> Workspace {
    let schema = Schema {
        name: "Users Sync Schema".into(),
        source_table: "users".into(),
        target_table: "dim_users".into(),
        primary_key: vec!["id".into()],
        cursor_column: Some("updated_at".into()),
        columns: vec![
            col("id", "user_id", ColumnType::Integer),
            col("email", "email", ColumnType::String),
            col("name", "full_name", ColumnType::String),
            col("created_at", "created_at", ColumnType::Timestamp),
            col("score", "score", ColumnType::Integer),
        ],
    };
    let job = Job::new(
        JOB,
        "Production DB (Source)",
        "Analytics DB (Target)",
        "Users Sync Schema",
        mode,
    );
    Workspace {
        path: None,
        networks: vec![
            src.network("Production DB (Source)"),
            tgt.network("Analytics DB (Target)"),
        ],
        schemas: vec![schema],
        jobs: vec![job],
    }
}

fn job_mut(ws: &mut Workspace) -> &mut Job {
    &mut ws.jobs[0]
}

/// Runs the job; returns its summary and the log lines it reported.
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

async fn create_users(pool: &PgPool, rows: i64) {
    pool.execute(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text, name text, \
         created_at timestamptz, updated_at timestamptz, score text)",
    )
    .await
    .unwrap();
    insert_users(pool, 1, rows, "2024-01-01 00:00:00+00").await;
}

async fn insert_users(pool: &PgPool, from: i64, to: i64, updated: &str) {
    let sql = format!(
        "INSERT INTO users SELECT g, 'user' || g || '@example.com', 'Name ' || g, \
         timestamptz '2023-06-01 12:00:00.123456+00' + g * interval '1 minute', \
         timestamptz '{updated}', (g * 7)::text FROM generate_series({from}, {to}) g"
    );
    pool.execute(sql.as_str()).await.unwrap();
}

type Mirror = Vec<(
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
)>;

async fn source_rows(pool: &PgPool) -> Mirror {
    sqlx::query_as("SELECT id, email, name, created_at::text, score::bigint FROM users ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn target_rows(pool: &PgPool) -> Mirror {
    sqlx::query_as(
        "SELECT user_id, email, full_name, created_at::text, score FROM dim_users ORDER BY user_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

macro_rules! dbs {
    ($name:literal) => {{
        let Some(src) = support::pg_db(concat!($name, " (source)")).await else {
            return;
        };
        let Some(tgt) = support::pg_db(concat!($name, " (target)")).await else {
            return;
        };
        let (s, t) = (src.pool_pg().await, tgt.pool_pg().await);
        (src, tgt, s, t)
    }};
}

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
    assert_eq!(summary.success, 1800);
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

// ---- the same sync between every kind of engine ----

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Pg,
    My,
    Lite,
}

/// One side of a sync: a database of some engine, with a way to run SQL on it.
struct End {
    kind: Kind,
    db: Option<support::TestDb>,
    file: std::path::PathBuf,
}

impl End {
    async fn new(kind: Kind, test: &str, dir: &tempfile::TempDir, name: &str) -> Option<End> {
        let db = match kind {
            Kind::Pg => Some(support::pg_db(test).await?),
            Kind::My => Some(support::mysql_db(test).await?),
            Kind::Lite => None,
        };
        Some(End {
            kind,
            db,
            file: support::sqlite_path(dir, name),
        })
    }

    fn network(&self, name: &str) -> dsp::workspace::Network {
        match &self.db {
            Some(db) => db.network(name),
            None => dsp::workspace::Network::new(
                name,
                dsp::workspace::EngineKind::Sqlite,
                self.file.display().to_string(),
            ),
        }
    }

    async fn exec(&self, sql: &str) {
        match self.kind {
            Kind::Pg => {
                let p = self.db.as_ref().unwrap().pool_pg().await;
                sqlx::raw_sql(sql).execute(&p).await.unwrap();
            }
            Kind::My => {
                let p = self.db.as_ref().unwrap().pool_mysql().await;
                sqlx::raw_sql(sql).execute(&p).await.unwrap();
            }
            Kind::Lite => {
                let o = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&self.file)
                    .create_if_missing(true);
                let p = sqlx::SqlitePool::connect_with(o).await.unwrap();
                sqlx::raw_sql(sql).execute(&p).await.unwrap();
            }
        }
    }

    /// The target's rows as (id, email, name, created_at as ISO text, score).
    async fn target_rows(&self) -> Mirror {
        match self.kind {
            Kind::Pg => {
                let p = self.db.as_ref().unwrap().pool_pg().await;
                sqlx::query_as(
                    "SELECT user_id, email, full_name, \
                     to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), score \
                     FROM dim_users ORDER BY user_id",
                )
                .fetch_all(&p)
                .await
                .unwrap()
            }
            Kind::My => {
                let p = self.db.as_ref().unwrap().pool_mysql().await;
                sqlx::query_as(
                    "SELECT user_id, email, full_name, \
                     CAST(DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%f') AS CHAR), score \
                     FROM dim_users ORDER BY user_id",
                )
                .fetch_all(&p)
                .await
                .unwrap()
            }
            Kind::Lite => {
                let p = sqlx::SqlitePool::connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new().filename(&self.file),
                )
                .await
                .unwrap();
                sqlx::query_as(
                    "SELECT user_id, email, full_name, substr(created_at, 1, 26), score \
                     FROM dim_users ORDER BY user_id",
                )
                .fetch_all(&p)
                .await
                .unwrap()
            }
        }
    }
}

fn users_ddl(kind: Kind) -> &'static str {
    match kind {
        Kind::Pg => {
            "CREATE TABLE users (id bigint PRIMARY KEY, email text, name text, \
             created_at timestamp(6), updated_at timestamp(6), score text)"
        }
        Kind::My => {
            "CREATE TABLE users (id bigint PRIMARY KEY, email varchar(200), name text, \
             created_at datetime(6), updated_at datetime(6), score varchar(20))"
        }
        Kind::Lite => {
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT, \
             created_at TEXT, updated_at TEXT, score TEXT)"
        }
    }
}

/// Rows `from..=to` as an INSERT every engine accepts, and what the target
/// should then hold for them.
fn users_insert(from: i64, to: i64, updated: &str) -> (String, Mirror) {
    let mut values = Vec::new();
    let mut expect = Vec::new();
    for g in from..=to {
        let name = if g % 10 == 0 {
            format!("Zoë O'Brien \\ {g} ✓")
        } else {
            format!("Name {g}")
        };
        let created = format!("2023-06-{:02}T12:{:02}:00.123456", 1 + g % 28, g % 60);
        let score = if g % 7 == 0 { None } else { Some(g * 3) };
        values.push(format!(
            "({g}, 'user{g}@example.com', '{}', '{}', '{updated}', {})",
            name.replace('\'', "''").replace('\\', "\\\\"),
            created.replace('T', " "),
            score.map(|s| format!("'{s}'")).unwrap_or("NULL".into())
        ));
        expect.push((
            g,
            Some(format!("user{g}@example.com")),
            Some(name),
            Some(created),
            score,
        ));
    }
    (
        format!("INSERT INTO users VALUES {}", values.join(", ")),
        expect,
    )
}

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

fn seed_workspace_schema() -> Vec<Schema> {
    vec![Schema {
        name: "Users Sync Schema".into(),
        source_table: "users".into(),
        target_table: "dim_users".into(),
        primary_key: vec!["id".into()],
        cursor_column: Some("updated_at".into()),
        columns: vec![
            col("id", "user_id", ColumnType::Integer),
            col("email", "email", ColumnType::String),
            col("name", "full_name", ColumnType::String),
            col("created_at", "created_at", ColumnType::Timestamp),
            col("score", "score", ColumnType::Integer),
        ],
    }]
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

// ---- cancel and bad targets ----

#[tokio::test]
async fn cancel_mid_full_sync_leaves_the_target_as_it_was() {
    let (src, tgt, s, t) = dbs!("cancel_mid_full_sync_leaves_the_target_as_it_was");
    create_users(&s, 1000).await;
    let ws = seed_workspace(&src, &tgt, SyncMode::Full);
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());
    assert_eq!(run(&ws, &data).await.0.status, RunStatus::Succeeded);
    let before = target_rows(&t).await;

    insert_users(&s, 1001, 100_000, "2024-02-01 00:00:00+00").await;
    s.execute("UPDATE users SET name = 'changed' WHERE id <= 1000")
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let run = {
        let (ws, data, cancel) = (ws.clone(), data.clone(), cancel.clone());
        tokio::spawn(async move { run_job(&ws, JOB, &data, cancel, Reporter::new(JOB, tx)).await })
    };
    // Cancel as soon as the first batch is through.
    while let Some(ev) = rx.recv().await {
        if matches!(ev, ProgressEvent::Batch { .. }) {
            cancel.cancel();
            break;
        }
    }
    let summary = run.await.unwrap();
    assert_eq!(summary.status, RunStatus::Cancelled, "{summary:?}");
    assert_eq!(summary.success, 0);
    assert_eq!(target_rows(&t).await, before);
    // The lock is free again and the next run completes.
    let (summary, lines) = self::run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!(target_rows(&t).await, source_rows(&s).await);
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
async fn an_unreachable_source_is_a_failed_run_naming_the_network() {
    let (src, tgt, _s, t) = dbs!("an_unreachable_source_is_a_failed_run_naming_the_network");
    let mut ws = seed_workspace(&src, &tgt, SyncMode::Full);
    ws.networks[0].port = Some(1);
    ws.networks[0].password = Some(dsp::workspace::Secret::new("hunter2-secret"));
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Failed);
    let err = summary.error.unwrap();
    assert!(err.contains("Production DB (Source)"), "{err}");
    assert!(err.contains(":***@"), "{err}");
    assert!(!lines.join("\n").contains("hunter2"), "{lines:#?}");
    // Nothing was created on the target either.
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('dim_users') IS NOT NULL")
        .fetch_one(&t)
        .await
        .unwrap();
    assert!(!exists);
}

// ---- every canonical type through every engine ----

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
        let (tx, mut rx) = mpsc::unbounded_channel();
        let summary = run_job(
            &ws,
            job,
            &data,
            CancellationToken::new(),
            Reporter::new(job, tx),
        )
        .await;
        let mut lines = Vec::new();
        while let Ok(ProgressEvent::Log { line, .. }) = rx.try_recv() {
            lines.push(line.to_string());
        }
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
async fn connection_test_introspection_and_job_check() {
    use dsp::engine::db;
    let (src, tgt, s, _t) = dbs!("connection_test_introspection_and_job_check");
    create_users(&s, 1).await;
    let ws = seed_workspace(&src, &tgt, SyncMode::Full);
    let v = db::test_connection(&ws, &ws.networks[0]).await.unwrap();
    assert!(v.starts_with("PostgreSQL "), "{v}");
    let cols = db::introspect_columns(&ws, &ws.networks[0], "users")
        .await
        .unwrap();
    assert_eq!(
        cols,
        vec![
            ("id".to_string(), ColumnType::Integer),
            ("email".into(), ColumnType::String),
            ("name".into(), ColumnType::String),
            ("created_at".into(), ColumnType::Timestamp),
            ("updated_at".into(), ColumnType::Timestamp),
            ("score".into(), ColumnType::String),
        ]
    );
    let err = db::introspect_columns(&ws, &ws.networks[0], "nope")
        .await
        .unwrap_err();
    assert!(
        err.contains("nope") && err.contains("Production DB (Source)"),
        "{err}"
    );
    // The target table does not exist yet: the first run creates it.
    assert_eq!(db::check_job(&ws, &ws.jobs[0]).await, Vec::<String>::new());
    let mut bad = ws.clone();
    bad.schemas[0].columns[1].source = "mail".into();
    let problems = db::check_job(&bad, &bad.jobs[0]).await;
    assert!(
        problems.len() == 1 && problems[0].contains("no column mail"),
        "{problems:?}"
    );
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

// ---- `dsp run` ----

fn dsp_run(ws: &std::path::Path, data: &std::path::Path, jobs: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(support::dsp_bin())
        .arg("run")
        .args(jobs)
        .arg("--workspace")
        .arg(ws)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn dsp_run_prints_the_log_and_exits_by_outcome() {
    let dir = support::temp_dir();
    let src = support::sqlite_path(&dir, "src");
    let o = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&src)
        .create_if_missing(true);
    let p = sqlx::SqlitePool::connect_with(o).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT, created_at TEXT, updated_at TEXT, score TEXT); \
         WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 2500) \
         INSERT INTO users SELECT n, 'u' || n || '@example.com', 'Name ' || n, '2024-01-01 10:00:00', \
         '2024-01-02 00:00:00', n FROM g;",
    )
    .execute(&p)
    .await
    .unwrap();
    p.close().await;
    let ws = dir.path().join("workspace.toml");
    std::fs::write(
        &ws,
        r#"
[[network]]
name = "Src"
type = "sqlite"
database = "src.db"

[[network]]
name = "Tgt"
type = "sqlite"
database = "out/target.db"

[[schema]]
name = "Users Sync Schema"
source_table = "users"
target_table = "dim_users"
primary_key = "id"
columns = [
  { source = "id", target = "user_id", type = "integer" },
  { source = "email", target = "email", type = "string" },
  { source = "name", target = "full_name", type = "string" },
  { source = "created_at", target = "created_at", type = "timestamp" },
]

[[schema]]
name = "Broken"
source_table = "no_such_table"
target_table = "x"
primary_key = "id"
columns = [{ source = "id", target = "id", type = "integer" }]

[[job]]
name = "Sync Users to Analytics"
source = "Src"
target = "Tgt"
schema = "Users Sync Schema"
mode = "full"

[[job]]
name = "Broken job"
source = "Src"
target = "Tgt"
schema = "Broken"
"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    let data = dir.path().join("data");

    let (code, out, err) = dsp_run(&ws, &data, &[JOB]);
    assert_eq!(code, 0, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "[INFO] Starting sync job: Sync Users to Analytics"
    );
    assert!(lines.contains(&"[INFO] Total records: 2,500"), "{out}");
    assert!(
        lines.contains(&"[INFO] Processing batch 3/3 (500 records)"),
        "{out}"
    );
    assert_eq!(
        lines.last(),
        Some(&"[INFO] Sync completed. Total: 2,500, Success: 2,500, Failed: 0")
    );

    let (code, out, err) = dsp_run(&ws, &data, &["Broken job", JOB]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("[ERROR]") && out.contains("no_such_table"),
        "{out}"
    );
    assert!(
        err.contains("Broken job") && !err.contains("panicked"),
        "{err}"
    );
    // The second job still ran.
    assert!(out.contains("Sync completed. Total: 2,500"), "{out}");

    let (code, out, err) = dsp_run(&ws, &data, &["No such job"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("No such job") && out.is_empty(), "{err}");

    std::fs::write(&ws, "[[network]]\nname = 1\n").unwrap();
    let (code, _, err) = dsp_run(&ws, &data, &[JOB]);
    assert_eq!(code, 2, "{err}");
}

#[tokio::test]
async fn a_job_already_running_is_refused() {
    let (src, tgt, s, _t) = dbs!("a_job_already_running_is_refused");
    create_users(&s, 10).await;
    let ws = seed_workspace(&src, &tgt, SyncMode::Full);
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());
    let held = dsp::engine::state::lock_job(&data, JOB).unwrap();
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Failed);
    assert!(summary.error.is_some(), "{lines:#?}");
    assert!(lines.last().unwrap().starts_with("[ERROR]"), "{lines:#?}");
    drop(held);
    assert_eq!(run(&ws, &data).await.0.status, RunStatus::Succeeded);
}

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
    };
    let conn = |ws, net| async move { connect(ws, net, Role::Source).await.unwrap() };
    let mut source = Source::new(conn(&ws, &net).await, Some(conn(&ws, &net).await));
    source.begin_snapshot().await.unwrap();
    let sql = "SELECT COUNT(*) FROM users";
    assert_eq!(source.count(sql).await.unwrap(), 100);
    // Committed by someone else while the read's transaction is open.
    insert_users(&s, 101, 150, "2024-01-01 00:00:00+00").await;
    let beside = source
        .count_alongside(sql.to_string())
        .await
        .unwrap()
        .expect("PostgreSQL counts beside the read");
    assert_eq!(beside.await.unwrap().unwrap(), 100);
    assert_eq!(source.count(sql).await.unwrap(), 100);
    source.end_snapshot().await;

    // Without the second connection the caller counts in line.
    let mut alone = Source::new(conn(&ws, &net).await, None);
    alone.begin_snapshot().await.unwrap();
    assert!(alone.count_alongside(sql.into()).await.unwrap().is_none());
    assert_eq!(alone.count(sql).await.unwrap(), 150);
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
