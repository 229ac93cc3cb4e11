//! What each run changed: inserted, updated, deleted and unchanged rows, in
//! the summary, the history and the line before `Sync completed`, for full
//! and incremental runs between engines.

use dsp::engine::progress::{Changes, RunStatus, RunSummary};
use dsp::engine::state;
use dsp::paths::DataDir;
use dsp::workspace::{Job, SyncMode, Workspace};

use crate::seed::*;
use crate::support;
use crate::support::end::{End, Kind};

/// A source and a target of the given kinds with the seed's `users` table,
/// rows 1..=100 (row 7's email NULL), and the seed job in `mode`.
pub(crate) struct Pair {
    pub(crate) test: String,
    pub(crate) src: End,
    pub(crate) tgt: End,
    pub(crate) ws: Workspace,
    pub(crate) data: DataDir,
    pub(crate) expect: Mirror,
    _dir: tempfile::TempDir,
}

impl Pair {
    pub(crate) async fn new(
        source: Kind,
        target: Kind,
        mode: SyncMode,
        what: &str,
    ) -> Option<Pair> {
        let test = format!("{what} {source:?} -> {target:?} {mode:?}");
        let dir = support::temp_dir();
        let src = End::new(source, &test, &dir, "source").await?;
        let tgt = End::new(target, &test, &dir, "target").await?;
        src.exec(users_ddl(source)).await;
        let (sql, mut expect) = users_insert(1, 100, "2024-01-01 00:00:00");
        src.exec(&fix(source, sql)).await;
        src.exec("UPDATE users SET email = NULL WHERE id = 7").await;
        expect[6].1 = None;
        let mut ws = Workspace {
            path: None,
            networks: vec![
                src.network("Production DB (Source)"),
                tgt.network("Analytics DB (Target)"),
            ],
            schemas: seed_workspace_schema(),
            jobs: Vec::new(),
            ..Default::default()
        };
        let mut job = Job::new(
            JOB,
            "Production DB (Source)",
            "Analytics DB (Target)",
            "Users Sync Schema",
            mode,
        );
        job.batch_size = Some(30);
        ws.jobs = vec![job];
        let data = DataDir::new(dir.path().join("data"));
        Some(Pair {
            test,
            src,
            tgt,
            ws,
            data,
            expect,
            _dir: dir,
        })
    }

    /// Runs the job; it must succeed, and log its changes just before the
    /// seed's closing line.
    pub(crate) async fn run(&self) -> Changes {
        let (summary, lines) = run(&self.ws, &self.data).await;
        let test = &self.test;
        assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
        let changes = summary.changes.expect("a succeeded run counts its changes");
        let n = lines.len();
        assert!(n >= 2, "{test}: {lines:#?}");
        assert_eq!(lines[n - 2], format!("[INFO] Changes: {}", changes.words()));
        assert!(lines[n - 1].starts_with("[INFO] Sync completed. Total: "));
        let recorded = last_recorded(&self.data);
        assert_eq!(
            recorded.changes,
            Some(changes),
            "{test}: the history keeps them"
        );
        changes
    }

    /// One row changed only in a timestamp's microseconds (5), one only from
    /// NULL to '' (7), one inserted (101) and one deleted (100); row 8 is
    /// touched (its cursor moves) without a mapped value changing.
    pub(crate) async fn change_source(&mut self) {
        let later = "2024-01-02 00:00:00";
        self.src
            .exec(&format!(
                "UPDATE users SET created_at = '2023-06-06 12:05:00.123457', updated_at = '{later}' \
                 WHERE id = 5"
            ))
            .await;
        self.src
            .exec(&format!(
                "UPDATE users SET email = '', updated_at = '{later}' WHERE id = 7"
            ))
            .await;
        self.src
            .exec(&format!(
                "UPDATE users SET updated_at = '{later}' WHERE id = 8"
            ))
            .await;
        self.src.exec("DELETE FROM users WHERE id = 100").await;
        let (sql, more) = users_insert(101, 101, later);
        self.src.exec(&fix(self.src.kind(), sql)).await;
        self.expect[4].3 = Some("2023-06-06T12:05:00.123457".into());
        self.expect[6].1 = Some(String::new());
        self.expect.retain(|r| r.0 != 100);
        self.expect.extend(more);
    }
}

/// Only MySQL reads backslashes in literals as escapes.
pub(crate) fn fix(source: Kind, sql: String) -> String {
    if source == Kind::My {
        sql
    } else {
        sql.replace("\\\\", "\\")
    }
}

fn last_recorded(data: &DataDir) -> RunSummary {
    let h = state::history(data, JOB).expect("history readable");
    h.into_iter().next().expect("the run was recorded").summary
}

pub(crate) fn changes(inserted: u64, updated: u64, deleted: u64, unchanged: u64) -> Changes {
    Changes {
        inserted,
        updated,
        deleted,
        unchanged,
    }
}

async fn full(source: Kind, target: Kind) {
    let Some(mut p) = Pair::new(source, target, SyncMode::Full, "changes").await else {
        return;
    };
    let test = p.test.clone();
    assert_eq!(p.run().await, changes(100, 0, 0, 0), "{test}: first run");
    assert_eq!(
        p.run().await,
        changes(0, 0, 0, 100),
        "{test}: nothing changed"
    );
    p.change_source().await;
    assert_eq!(p.run().await, changes(1, 2, 1, 97), "{test}: after changes");
    assert_eq!(p.tgt.target_rows().await, p.expect, "{test}");
    assert_eq!(p.run().await, changes(0, 0, 0, 100), "{test}: settled");
}

async fn incremental(source: Kind, target: Kind) {
    let Some(mut p) = Pair::new(source, target, SyncMode::Incremental, "changes").await else {
        return;
    };
    let test = p.test.clone();
    assert_eq!(p.run().await, changes(100, 0, 0, 0), "{test}: first run");
    // Every row sits on the watermark and is read again.
    assert_eq!(
        p.run().await,
        changes(0, 0, 0, 100),
        "{test}: nothing changed"
    );
    p.change_source().await;
    // The watermark is inclusive: every row is read again, 101 is new, 5
    // and 7 changed (8 only in its unmapped cursor); deletes go unseen.
    assert_eq!(p.run().await, changes(1, 2, 0, 97), "{test}: after changes");
    // Past the new watermark: rows 5, 7, 8 and 101, none changed since.
    assert_eq!(p.run().await, changes(0, 0, 0, 4), "{test}: settled");
    p.expect.push(p.expect.last().unwrap().clone());
    let n = p.expect.len();
    p.expect[n - 2] = (100, Some("user100@example.com".into()), None, None, None);
    let got = p.tgt.target_rows().await;
    assert_eq!(got.len(), 101, "{test}: row 100 stays in the target");
    assert_eq!(got[4], p.expect[4], "{test}");
    assert_eq!(got[6], p.expect[6], "{test}");
    assert_eq!(got[100], p.expect[n - 1], "{test}");
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
