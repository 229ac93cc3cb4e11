//! One end of a sync: a private test database of some engine (or a SQLite
//! file) with a pool on it, and the workspace entry that points at it.

use std::path::{Path, PathBuf};

use super::TestDb;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pg,
    My,
    Lite,
}

/// A database of some engine and a pool on it; the database is dropped with it.
pub enum End {
    Pg(TestDb, sqlx::PgPool),
    My(TestDb, sqlx::MySqlPool),
    Lite(PathBuf, sqlx::SqlitePool),
}

impl End {
    /// A fresh database of `kind` for `test` (a SQLite file `file` in `dir`), or
    /// `None` when its server is missing and the test was reported as skipped.
    pub async fn new(kind: Kind, test: &str, dir: &tempfile::TempDir, file: &str) -> Option<End> {
        Some(match kind {
            Kind::Pg => {
                let db = super::pg_db(test).await?;
                let pool = db.pool_pg().await;
                End::Pg(db, pool)
            }
            Kind::My => {
                let db = super::mysql_db(test).await?;
                let pool = db.pool_mysql().await;
                End::My(db, pool)
            }
            Kind::Lite => {
                let path = super::sqlite_path(dir, file);
                End::Lite(path.clone(), lite_pool(&path).await)
            }
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            End::Pg(..) => Kind::Pg,
            End::My(..) => Kind::My,
            End::Lite(..) => Kind::Lite,
        }
    }

    /// TOML for a `[[network]]` entry named `name` pointing at this end.
    pub fn network_toml(&self, name: &str) -> String {
        match self {
            End::Pg(db, _) | End::My(db, _) => db.network_toml(name),
            End::Lite(path, _) => super::workspace::sqlite_network_toml(name, path),
        }
    }

    /// A model `Network` named `name` pointing at this end.
    pub fn network(&self, name: &str) -> dsp::workspace::Network {
        match self {
            End::Pg(db, _) | End::My(db, _) => db.network(name),
            End::Lite(path, _) => dsp::workspace::Network::new(
                name,
                dsp::workspace::EngineKind::Sqlite,
                path.display().to_string(),
            ),
        }
    }

    /// Runs `sql` (one or more statements); a failure fails the test.
    pub async fn exec(&self, sql: &str) {
        let r = match self {
            End::Pg(_, p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
            End::My(_, p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
            End::Lite(_, p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
        };
        if let Err(e) = r {
            panic!("{:?}: {sql}: {e}", self.kind());
        }
    }

    /// The user tables of the database, sorted: a failed run leaves no new ones.
    pub async fn tables(&self) -> Vec<String> {
        let mut t: Vec<String> = match self {
            End::Pg(_, p) => sqlx::query_scalar(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables \
                 WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
            )
            .fetch_all(p)
            .await
            .unwrap(),
            End::My(_, p) => sqlx::query_scalar(
                "SELECT CONVERT(table_name USING utf8mb4) FROM information_schema.tables \
                 WHERE table_schema = DATABASE()",
            )
            .fetch_all(p)
            .await
            .unwrap(),
            End::Lite(path, _) => {
                // A fresh connection, as the next DSP run would open it.
                let p = lite_pool(path).await;
                let t = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .fetch_all(&p)
                    .await
                    .unwrap();
                p.close().await;
                t
            }
        };
        t.sort();
        t
    }
}

/// A pool on the SQLite file at `path`, creating the file if it is missing.
pub async fn lite_pool(path: &Path) -> sqlx::SqlitePool {
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(opts)
        .await
        .expect("open SQLite file")
}
