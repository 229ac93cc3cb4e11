//! Runs that do not end on their own: cancelled, killed (SIGKILL, SIGINT,
//! SIGTERM), cut off by a server dropping the connection, or refused because
//! the job is already running. The target is left exactly as it was and the
//! next run completes.

use std::io::Read;
use std::process::Command;

use dsp::engine::progress::{ProgressEvent, RunStatus};
use dsp::paths::DataDir;
use dsp::workspace::SyncMode;
use sqlx::Executor;
use tokio_util::sync::CancellationToken;

use crate::seed::*;
use crate::small_job::*;
use crate::support;
use crate::support::cli::*;
use crate::support::end::{End, Kind};
use crate::support::run::spawn_run;

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
    let cancel = CancellationToken::new();
    let (run, mut rx) = spawn_run(&ws, JOB, &data, cancel.clone());
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

async fn cancelled_after_first_batch(target: Kind) {
    let test = format!("cancel into {target:?}");
    let env = Env::new();
    let Some((src, tgt, text)) = big_setup(&test, &env, target).await else {
        return;
    };
    let ws = dsp::workspace::load_str(&text, &env.ws()).expect("workspace");
    let data = DataDir::new(env.data());
    let run = |cancel: CancellationToken| spawn_run(&ws, "J", &data, cancel);
    let (h, _rx) = run(CancellationToken::new());
    let first = h.await.unwrap();
    assert_eq!(
        first.status,
        RunStatus::Succeeded,
        "{test}: first run {:?}",
        first.error
    );
    let before = (tgt.tables().await, tgt.dump("big_copy").await);

    change_every_row(&src).await;
    let cancel = CancellationToken::new();
    let (h, mut rx) = run(cancel.clone());
    let mut log = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            ProgressEvent::Batch { .. } => {
                cancel.cancel();
                break;
            }
            ProgressEvent::Log { line, .. } => log.push(line.to_string()),
            _ => {}
        }
    }
    let summary = h.await.unwrap();
    while let Ok(ev) = rx.try_recv() {
        if let ProgressEvent::Log { line, .. } = ev {
            log.push(line.to_string());
        }
    }
    assert_eq!(
        summary.status,
        RunStatus::Cancelled,
        "{test}: {:?}\n{}",
        summary.error,
        log.join("\n")
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("[WARN]") || l.starts_with("[ERROR]")),
        "{test}: the log does not say the run was cancelled\n{}",
        log.join("\n")
    );
    let after = (tgt.tables().await, tgt.dump("big_copy").await);
    assert!(after == before, "{test}: the target changed after cancel");

    let (h, _rx) = run(CancellationToken::new());
    let last = h.await.unwrap();
    assert_eq!(
        last.status,
        RunStatus::Succeeded,
        "{test}: run after cancel {:?}",
        last.error
    );
    assert!(
        tgt.dump("big_copy").await == src.dump("big").await,
        "{test}: target does not mirror the source"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_the_first_batch_leaves_a_mysql_target_unchanged() {
    cancelled_after_first_batch(Kind::My).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_the_first_batch_leaves_a_sqlite_target_unchanged() {
    cancelled_after_first_batch(Kind::Lite).await;
}

async fn killed_mid_run(target: Kind) {
    let test = format!("SIGKILL mid-run into {target:?}");
    let env = Env::new();
    let Some((src, tgt, text)) = big_setup(&test, &env, target).await else {
        return;
    };
    env.write(&text);
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: first sync\n{}", out.all());
    let before = (tgt.tables().await, tgt.dump("big_copy").await);
    assert_eq!(before.1.len() as i64, BIG_ROWS);

    change_every_row(&src).await;
    let (mut child, lines, _reader) = start_until_first_batch(&env);
    child.kill().expect("SIGKILL dsp");
    child.wait().unwrap();
    assert!(
        !lines.iter().any(|l| l.contains("Sync completed")),
        "{test}: the run finished before it was killed; make it longer"
    );
    let after = (tgt.tables().await, tgt.dump("big_copy").await);
    assert!(after == before, "{test}: the target changed after SIGKILL");

    // The killed run left no lock behind; the next run completes the change.
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}: run after the kill\n{}", out.all());
    assert!(
        tgt.dump("big_copy").await == src.dump("big").await,
        "{test}: target does not mirror the source"
    );
    assert_eq!(tgt.tables().await, before.0, "{test}: tables left behind");
}

#[tokio::test]
async fn sigkill_mid_run_leaves_a_sqlite_target_as_it_was() {
    killed_mid_run(Kind::Lite).await;
}

#[tokio::test]
async fn sigkill_mid_run_leaves_a_pg_target_as_it_was() {
    killed_mid_run(Kind::Pg).await;
}

#[tokio::test]
async fn sigkill_mid_run_leaves_a_mysql_target_as_it_was() {
    killed_mid_run(Kind::My).await;
}

/// Killed during the very first copy into a new target: afterwards the target
/// holds no row (the copy commits all at once), and the next run fills it.
async fn killed_during_first_copy(target: Kind) {
    let test = format!("SIGKILL during the first copy into {target:?}");
    let env = Env::new();
    let Some((src, tgt, text)) = big_setup(&test, &env, target).await else {
        return;
    };
    env.write(&text);
    let (mut child, lines, _reader) = start_until_batch(&env, 3);
    child.kill().expect("SIGKILL dsp");
    child.wait().unwrap();
    assert!(
        !lines.iter().any(|l| l.contains("Sync completed")),
        "{test}: the run finished before it was killed"
    );
    let tables = tgt.tables().await;
    if tables.iter().any(|t| t.ends_with("big_copy")) {
        assert!(
            tgt.dump("big_copy").await.is_empty(),
            "{test}: rows of an unfinished copy are visible"
        );
    }
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}: run after the kill\n{}", out.all());
    assert!(
        tgt.dump("big_copy").await == src.dump("big").await,
        "{test}: target does not mirror the source"
    );
}

#[tokio::test]
async fn sigkill_during_the_first_copy_into_sqlite_leaves_no_rows() {
    killed_during_first_copy(Kind::Lite).await;
}

#[tokio::test]
async fn sigkill_during_the_first_copy_into_pg_leaves_no_rows() {
    killed_during_first_copy(Kind::Pg).await;
}

#[tokio::test]
async fn sigkill_during_the_first_copy_into_mysql_leaves_no_rows() {
    killed_during_first_copy(Kind::My).await;
}

#[tokio::test]
async fn sigint_and_sigterm_cancel_dsp_run_cleanly_and_leave_the_target() {
    let test = "SIGINT/SIGTERM mid-run";
    let env = Env::new();
    let Some((src, tgt, text)) = big_setup(test, &env, Kind::Pg).await else {
        return;
    };
    env.write(&text);
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: first sync\n{}", out.all());
    let before = (tgt.tables().await, tgt.dump("big_copy").await);

    change_every_row(&src).await;
    for signal in ["-INT", "-TERM"] {
        let (child, lines, reader) = start_until_first_batch(&env);
        let sent = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let out = finish(child, lines, reader);
        out.assert_no_panic(test);
        assert_eq!(out.code, 1, "{test} {signal}: exit status\n{}", out.all());
        assert!(
            out.all().to_lowercase().contains("cancel"),
            "{test} {signal}: nothing says the run was cancelled\n{}",
            out.all()
        );
        assert!(
            (tgt.tables().await, tgt.dump("big_copy").await) == before,
            "{test} {signal}: the target changed"
        );
    }
}

/// Closes every connection DSP holds to `end`'s database, as a crashing or
/// restarted server would; returns how many it closed.
async fn kill_dsp_connections(end: &End) -> u64 {
    match end {
        End::Pg(_, p) => sqlx::query_scalar::<_, i64>(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'dsp'",
        )
        .fetch_one(p)
        .await
        .unwrap() as u64,
        End::My(db, _) => {
            // The test's own pooled sessions go too; the pool replaces them.
            let mut c = <sqlx::MySqlConnection as sqlx::Connection>::connect(&db.url)
                .await
                .unwrap();
            let ids: Vec<u64> = sqlx::query_scalar(
                "SELECT CAST(id AS UNSIGNED) FROM information_schema.PROCESSLIST \
                 WHERE db = DATABASE() AND id <> CONNECTION_ID()",
            )
            .fetch_all(&mut c)
            .await
            .unwrap();
            let mut n = 0;
            for id in ids {
                if sqlx::raw_sql(&format!("KILL {id}"))
                    .execute(&mut c)
                    .await
                    .is_ok()
                {
                    n += 1;
                }
            }
            n
        }
        End::Lite(..) => 0,
    }
}

/// The server drops DSP's connection mid-run: a failed run naming the
/// network, exit 1, and a target exactly as before.
async fn server_dies_mid_run(target: Kind, victim_is_source: bool) {
    let victim = if victim_is_source { "Source" } else { "Target" };
    let test = format!("{victim} connection dropped mid-run into {target:?}");
    let env = Env::new();
    let Some((src, tgt, text)) = big_setup(&test, &env, target).await else {
        return;
    };
    env.write(&text);
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: first sync\n{}", out.all());
    let before = (tgt.tables().await, tgt.dump("big_copy").await);

    change_every_row(&src).await;
    // Paced, the run is still reading and writing when the connection goes
    // (unpaced, a quick machine could read every row before the kill lands).
    let (child, lines, reader) = start_until_batch_with(&env, 1, &[("DSP_PACE_MS", "5")]);
    let killed = kill_dsp_connections(if victim_is_source { &src } else { &tgt }).await;
    let out = finish(child, lines, reader);
    assert!(
        killed > 0,
        "{test}: no DSP connection found to drop\n{}",
        out.all()
    );
    if out.stdout.contains("Sync completed") {
        panic!("{test}: the run finished before its connection was dropped; make it longer");
    }
    out.assert_failed_naming(&test, &[&format!("\"{victim}\"")]);
    assert!(
        (tgt.tables().await, tgt.dump("big_copy").await) == before,
        "{test}: the target changed"
    );

    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: run after the failure\n{}", out.all());
    assert!(
        tgt.dump("big_copy").await == src.dump("big").await,
        "{test}: target does not mirror the source"
    );
}

#[tokio::test]
async fn the_target_server_dropping_the_connection_mid_run_fails_cleanly_pg() {
    server_dies_mid_run(Kind::Pg, false).await;
}

#[tokio::test]
async fn the_target_server_dropping_the_connection_mid_run_fails_cleanly_mysql() {
    server_dies_mid_run(Kind::My, false).await;
}

#[tokio::test]
async fn the_source_server_dropping_the_connection_mid_run_fails_cleanly() {
    server_dies_mid_run(Kind::Lite, true).await;
}

#[tokio::test]
async fn a_second_concurrent_run_of_a_job_is_refused() {
    let test = "concurrent run";
    let env = Env::new();
    let Some((src, tgt, text)) = big_setup(test, &env, Kind::Lite).await else {
        return;
    };
    env.write(&text);
    let (mut first, mut lines, mut reader) = start_until_first_batch(&env);
    let second = env.dsp(&["run", "J"], &[]);
    second.assert_failed_naming(test, &["already running"]);
    assert!(
        second.all().contains("\"J\""),
        "{test}: the refusal does not name the job\n{}",
        second.all()
    );

    // The first run is not disturbed by the refusal.
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    lines.push(rest);
    let status = first.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{test}: first run\n{}",
        lines.join("")
    );
    assert!(
        tgt.dump("big_copy").await == src.dump("big").await,
        "{test}: target does not mirror the source"
    );
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
