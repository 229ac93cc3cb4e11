//! The seed example's job ("Sync Users to Analytics": `users` into `dim_users`)
//! between two PostgreSQL test databases, with the data and read-backs the
//! full-sync, guard and incremental tests share.

use dsp::engine::progress::RunSummary;
use dsp::paths::DataDir;
use dsp::workspace::{ColumnMap, ColumnType, Job, Schema, SyncMode, Workspace};
use sqlx::{Executor, PgPool};

use crate::support;
use crate::support::end::{End, Kind, lite_pool};
use crate::support::run::run_and_collect;

pub(crate) const JOB: &str = "Sync Users to Analytics";

pub(crate) fn col(source: &str, target: &str, ty: ColumnType) -> ColumnMap {
    ColumnMap {
        source: source.into(),
        target: target.into(),
        ty,
    }
}

/// The seed's schema and job, between two test databases.
pub(crate) fn seed_workspace(
    src: &support::TestDb,
    tgt: &support::TestDb,
    mode: SyncMode,
) -> Workspace {
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
        schemas: seed_workspace_schema(),
        jobs: vec![job],
        ..Default::default()
    }
}

/// The seed's mapping of `users` onto `dim_users`, cursor `updated_at`.
pub(crate) fn seed_workspace_schema() -> Vec<Schema> {
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

pub(crate) fn job_mut(ws: &mut Workspace) -> &mut Job {
    &mut ws.jobs[0]
}

/// Runs the job; returns its summary and the log lines it reported.
pub(crate) async fn run(ws: &Workspace, data: &DataDir) -> (RunSummary, Vec<String>) {
    run_and_collect(ws, JOB, data).await.into_parts()
}

pub(crate) async fn create_users(pool: &PgPool, rows: i64) {
    pool.execute(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text, name text, \
         created_at timestamptz, updated_at timestamptz, score text)",
    )
    .await
    .unwrap();
    insert_users(pool, 1, rows, "2024-01-01 00:00:00+00").await;
}

pub(crate) async fn insert_users(pool: &PgPool, from: i64, to: i64, updated: &str) {
    let sql = format!(
        "INSERT INTO users SELECT g, 'user' || g || '@example.com', 'Name ' || g, \
         timestamptz '2023-06-01 12:00:00.123456+00' + g * interval '1 minute', \
         timestamptz '{updated}', (g * 7)::text FROM generate_series({from}, {to}) g"
    );
    pool.execute(sql.as_str()).await.unwrap();
}

pub(crate) type Mirror = Vec<(
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
)>;

pub(crate) async fn source_rows(pool: &PgPool) -> Mirror {
    sqlx::query_as("SELECT id, email, name, created_at::text, score::bigint FROM users ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

pub(crate) async fn target_rows(pool: &PgPool) -> Mirror {
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

impl End {
    /// The target's rows as (id, email, name, created_at as ISO text, score).
    pub(crate) async fn target_rows(&self) -> Mirror {
        match self {
            End::Pg(_, p) => sqlx::query_as(
                "SELECT user_id, email, full_name, \
                 to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), score \
                 FROM dim_users ORDER BY user_id",
            )
            .fetch_all(p)
            .await
            .unwrap(),
            End::My(_, p) => sqlx::query_as(
                "SELECT user_id, email, full_name, \
                 CAST(DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%f') AS CHAR), score \
                 FROM dim_users ORDER BY user_id",
            )
            .fetch_all(p)
            .await
            .unwrap(),
            End::Lite(path, _) => {
                // A fresh connection, as the next DSP run would open it.
                let p = lite_pool(path).await;
                let rows = sqlx::query_as(
                    "SELECT user_id, email, full_name, substr(created_at, 1, 26), score \
                     FROM dim_users ORDER BY user_id",
                )
                .fetch_all(&p)
                .await
                .unwrap();
                p.close().await;
                rows
            }
        }
    }
}

pub(crate) fn users_ddl(kind: Kind) -> &'static str {
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
pub(crate) fn users_insert(from: i64, to: i64, updated: &str) -> (String, Mirror) {
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
