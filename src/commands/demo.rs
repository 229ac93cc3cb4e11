//! `dsp demo` and the bare `dsp` that opens the TUI.
//!
//! The demo lives in `<data dir>/demo/`: a SQLite source with 50,000 `users`, a
//! SQLite target (created by the first run), and a workspace with the user
//! guide's schema and a full and an incremental job.

use std::path::Path;

use sqlx::Connection;

use crate::paths::{DataDir, Paths};
use crate::workspace;

use super::{EXIT_RUN_FAILED, EXIT_USAGE};

pub(crate) const DEMO_ROWS: i64 = 50_000;

const DEMO_WORKSPACE: &str = r#"# The DSP demo: the user guide's example on local SQLite files.
# DSP opens on the Jobs tab: select a job and press r to run it.

[[network]]
name = "Production DB (Source)"
type = "sqlite"
database = "source.db"

[[network]]
name = "Analytics DB (Target)"
type = "sqlite"
database = "target.db"

[[schema]]
name = "Users Sync Schema"
source_table = "users"
target_table = "dim_users"
primary_key = "id"
cursor_column = "updated_at"
columns = [
  { source = "id",         target = "user_id",    type = "integer" },
  { source = "email",      target = "email",      type = "string" },
  { source = "name",       target = "full_name",  type = "string" },
  { source = "created_at", target = "created_at", type = "timestamp" },
]

[[job]]
name = "Sync Users to Analytics"
source = "Production DB (Source)"
target = "Analytics DB (Target)"
schema = "Users Sync Schema"
mode = "full"
schedule = "0 0 * * *"     # daily at midnight
batch_size = 1000

[[job]]
name = "Sync Users (Incremental)"
source = "Production DB (Source)"
target = "Analytics DB (Target)"
schema = "Users Sync Schema"
mode = "incremental"
batch_size = 1000
"#;

/// Creates the demo files that are missing; an existing demo is left as it is,
/// so the operator's edits and runs survive a second `dsp demo`.
pub async fn ensure_demo(data: &DataDir) -> Result<std::path::PathBuf, String> {
    let dir = data.demo_dir();
    DataDir::ensure(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let ws = dir.join("workspace.toml");
    if !ws.exists() {
        workspace::save::write_atomic(&ws, DEMO_WORKSPACE.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", ws.display()))?;
    }
    let source = dir.join("source.db");
    if !source.exists() {
        create_source(&source)
            .await
            .map_err(|e| format!("cannot create the demo source {}: {e}", source.display()))?;
    }
    Ok(ws)
}

/// 50,000 deterministic users, written into a temporary file and renamed, so an
/// interrupted demo never leaves a half-filled source behind.
async fn create_source(path: &Path) -> Result<(), sqlx::Error> {
    let tmp = path.with_extension("db.partial");
    let _ = std::fs::remove_file(&tmp);
    let url = format!("sqlite://{}?mode=rwc", tmp.display());
    let mut c = sqlx::SqliteConnection::connect(&url).await?;
    sqlx::query(
        "CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )",
    )
    .execute(&mut c)
    .await?;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO users (id, email, name, created_at, updated_at)
         SELECT i,
                'user' || i || '@example.com',
                'User ' || i,
                strftime('%Y-%m-%d %H:%M:%f', '2024-01-01', '+' || (i * 37) || ' minutes'),
                strftime('%Y-%m-%d %H:%M:%f', '2024-01-01', '+' || (i * 37 + 90) || ' minutes')
         FROM n",
    )
    .bind(DEMO_ROWS)
    .execute(&mut c)
    .await?;
    sqlx::query("CREATE INDEX users_updated_at ON users (updated_at)")
        .execute(&mut c)
        .await?;
    c.close().await?;
    std::fs::rename(&tmp, path).map_err(sqlx::Error::Io)?;
    Ok(())
}

pub async fn run(paths: &Paths) -> u8 {
    let data = paths.data();
    let ws_path = match ensure_demo(&data).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_RUN_FAILED;
        }
    };
    open(&ws_path, data, true).await
}

pub(crate) async fn open_tui(paths: &Paths) -> u8 {
    open(&paths.workspace, paths.data(), false).await
}

#[cfg(feature = "tui")]
async fn open(ws_path: &Path, data: DataDir, demo: bool) -> u8 {
    let Ok(ws) = super::load_workspace_at(ws_path, false) else {
        eprintln!("fix the workspace file (dsp check shows every problem), then start DSP again");
        return EXIT_USAGE;
    };
    crate::tui::run(ws, data, demo).await
}

#[cfg(not(feature = "tui"))]
async fn open(_ws_path: &Path, _data: DataDir, _demo: bool) -> u8 {
    eprintln!("error: this dsp was built without the terminal UI (cargo feature `tui`)");
    EXIT_USAGE
}
