//! The small `(id, v, n)` table and the job `J` that the failure tests run
//! through the `dsp` binary, and a bigger source for runs that must still be
//! going when a test interrupts them.

use sqlx::Row;

use crate::support::cli::*;
use crate::support::end::{End, Kind, lite_pool};
use crate::support::workspace::{ID_V_N, SchemaJob, WorkspaceToml};

/// A schema `S` of `(id, v, n)` from `source` to `target` and a full job `J`.
/// The schema `S` and full job `J` copying `source_table` into `target_table`.
pub(crate) fn schema_job(
    source_table: &str,
    target_table: &str,
    batch_size: u64,
    columns: &str,
) -> String {
    SchemaJob::new(source_table, target_table)
        .batch_size(batch_size)
        .columns(columns)
        .toml()
}

pub(crate) const COLS: &str = ID_V_N;

pub(crate) async fn small_source(src: &End) {
    src.exec("CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, n BIGINT)")
        .await;
    src.exec("INSERT INTO src (id, v, n) VALUES (1, 'one', 10), (2, 'two', 20), (3, NULL, NULL)")
        .await;
}

impl End {
    /// `SELECT id, v, n FROM table ORDER BY id`.
    pub(crate) async fn dump(&self, table: &str) -> Vec<(i64, Option<String>, Option<i64>)> {
        let sql = format!("SELECT id, v, CAST(n AS BIGINT) FROM {table} ORDER BY id");
        let conv = |id, v, n| (id, v, n);
        match self {
            End::Pg(_, p) => sqlx::query(&sql)
                .fetch_all(p)
                .await
                .unwrap()
                .iter()
                .map(|r| conv(r.get(0), r.get(1), r.get(2)))
                .collect(),
            End::My(_, p) => {
                let sql = format!(
                    "SELECT id, CONVERT(v USING utf8mb4), CAST(n AS SIGNED) FROM {table} ORDER BY id"
                );
                sqlx::query(&sql)
                    .fetch_all(p)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| conv(r.get(0), r.get(1), r.get(2)))
                    .collect()
            }
            End::Lite(path, _) => {
                // A fresh connection, as the next DSP run would open it.
                let p = lite_pool(path).await;
                let rows = sqlx::query(&sql)
                    .fetch_all(&p)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| conv(r.get(0), r.get(1), r.get(2)))
                    .collect();
                p.close().await;
                rows
            }
        }
    }
}

pub(crate) const BIG_ROWS: i64 = 200_000;

/// A PostgreSQL source `big` of BIG_ROWS rows and an empty target of `target`
/// kind, with a workspace whose job `J` copies it in small batches.
pub(crate) async fn big_setup(test: &str, env: &Env, target: Kind) -> Option<(End, End, String)> {
    let src = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await?;
    let tgt = End::new(target, &format!("{test} (target)"), &env.dir, "target").await?;
    src.exec("CREATE TABLE big (id BIGINT PRIMARY KEY, v TEXT, n BIGINT)")
        .await;
    src.exec(&format!(
        "INSERT INTO big SELECT g, 'old ' || g, g FROM generate_series(1, {BIG_ROWS}) g"
    ))
    .await;
    let text = src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + &schema_job("big", "big_copy", 100, COLS);
    Some((src, tgt, text))
}

/// Changes every source row, so that an applied run would show everywhere.
pub(crate) async fn change_every_row(src: &End) {
    src.exec("UPDATE big SET v = 'new ' || id, n = n + 1").await;
}

pub(crate) fn sqlite_only_workspace(env: &Env) -> String {
    WorkspaceToml::new()
        .sqlite("Source", &env.sqlite("s"))
        .sqlite("Target", &env.sqlite("t"))
        .schema_job(&SchemaJob::new("src", "dst"))
        .build()
}
