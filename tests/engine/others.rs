//! One view across DSP processes (issue 17): the schedule lease says which
//! process fires a workspace's schedules, a running job's status file shows
//! it to the others, and a cancel request there stops it.

use std::time::Duration;

use dsp::engine::lease::{self, Kind, Taken};
use dsp::engine::live_status;
use dsp::engine::progress::{ProgressEvent, Reporter, RunStatus};
use dsp::engine::runner::run_job;
use dsp::engine::state;
use dsp::paths::DataDir;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::small_job::*;
use crate::support;
use crate::support::cli::*;
use crate::support::end::{End, lite_pool};

fn ws_file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("workspace.toml");
    std::fs::write(&path, "").unwrap();
    path
}

#[test]
fn the_lease_is_held_by_one_process_and_free_again_when_it_lets_go() {
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path().join("data"));
    let ws = ws_file(&dir);

    let Taken::Ours(daemon) = lease::take(&data, &ws, Kind::Daemon).unwrap() else {
        panic!("a free lease is taken");
    };
    assert_eq!(daemon.holder().pid, std::process::id());
    // A second taker (a TUI) is refused and told who holds it.
    match lease::take(&data, &ws, Kind::Tui).unwrap() {
        Taken::Theirs(Some(h)) => {
            assert_eq!(h.kind, Kind::Daemon);
            assert_eq!(h.pid, std::process::id());
        }
        other => panic!("taken twice: {other:?}"),
    }
    assert_eq!(
        lease::holder(&data, &ws).map(|h| h.kind),
        Some(Kind::Daemon)
    );
    // The same workspace by another spelling is the same lease.
    let other_spelling = dir.path().join(".").join("workspace.toml");
    assert!(matches!(
        lease::take(&data, &other_spelling, Kind::Tui).unwrap(),
        Taken::Theirs(_)
    ));
    // Another workspace has its own.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "").unwrap();
    assert!(matches!(
        lease::take(&data, &other, Kind::Tui).unwrap(),
        Taken::Ours(_)
    ));

    drop(daemon);
    assert_eq!(lease::holder(&data, &ws), None);
    assert!(matches!(
        lease::take(&data, &ws, Kind::Tui).unwrap(),
        Taken::Ours(_)
    ));
}

#[test]
fn a_dead_holders_lease_file_does_not_hold_the_lease() {
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path().join("data"));
    let ws = ws_file(&dir);
    // A holder killed with SIGKILL leaves its file; the kernel freed its lock.
    let Taken::Ours(held) = lease::take(&data, &ws, Kind::Daemon).unwrap() else {
        panic!("a free lease is taken");
    };
    let info = std::fs::read_dir(dir.path().join("data").join("schedules"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("the holder is written down");
    let left = std::fs::read(&info).unwrap();
    drop(held);
    std::fs::write(&info, left).unwrap();

    assert_eq!(lease::holder(&data, &ws), None);
    match lease::take(&data, &ws, Kind::Tui).unwrap() {
        Taken::Ours(l) => assert_eq!(l.holder().kind, Kind::Tui),
        other => panic!("the dead holder's file kept the lease: {other:?}"),
    }
}

#[test]
fn a_daemon_asks_a_tui_to_hand_over_and_a_stale_heartbeat_shows() {
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path().join("data"));
    let ws = ws_file(&dir);
    let Taken::Ours(tui) = lease::take(&data, &ws, Kind::Tui).unwrap() else {
        panic!("a free lease is taken");
    };
    assert!(!tui.yield_requested());
    lease::request_yield(&data, &ws).unwrap();
    assert!(tui.yield_requested());
    drop(tui);
    let Taken::Ours(mut daemon) = lease::take(&data, &ws, Kind::Daemon).unwrap() else {
        panic!("the daemon takes over");
    };
    // No request is left for the next TUI.
    assert!(!daemon.yield_requested());
    daemon.refresh().unwrap();
    let h = lease::holder(&data, &ws).unwrap();
    assert!(!h.stale(chrono::Utc::now()));
    assert!(h.stale(chrono::Utc::now() + chrono::Duration::seconds(60)));
}

/// A slow SQLite job: `rows` rows in batches of 10, paced.
async fn slow_job(env: &Env, rows: i64) -> dsp::workspace::Workspace {
    let src = End::Lite(env.sqlite("s"), lite_pool(&env.sqlite("s")).await);
    src.exec("CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, n BIGINT)")
        .await;
    src.exec(&format!(
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {rows}) \
         INSERT INTO src SELECT i, 'v' || i, i FROM c"
    ))
    .await;
    let text = sqlite_only_workspace(env).replace("batch_size = 1000", "batch_size = 10");
    env.write(&text);
    dsp::workspace::load(&env.ws()).expect("the workspace loads")
}

#[tokio::test]
async fn a_running_job_is_seen_live_by_others_and_cancelled_by_their_request() {
    let env = Env::new();
    let ws = slow_job(&env, 2000).await;
    let data = DataDir::new(env.data());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reporter = Reporter::new("J", tx).paced(Duration::from_millis(20));
    let cancel = CancellationToken::new();
    let run = {
        let data = data.clone();
        tokio::spawn(async move { run_job(&ws, "J", &data, cancel, reporter).await })
    };
    // Seen from the data dir once some batches are through.
    let mut batches = 0;
    while let Some(ev) = rx.recv().await {
        if matches!(ev, ProgressEvent::Batch { .. }) {
            batches += 1;
            if batches == 5 {
                break;
            }
        }
    }
    let mut seen = None;
    for _ in 0..50 {
        if let Some(s) = live_status::running(&data)
            .into_iter()
            .find(|s| s.job == "J" && s.done > 0)
        {
            seen = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = seen.expect("the run's status file shows its progress");
    assert_eq!(seen.pid, std::process::id());
    assert_eq!(seen.status, "running");
    assert_eq!(seen.total, Some(2000));
    assert!(seen.done < 2000, "{seen:?}");
    assert!(
        seen.log
            .iter()
            .any(|l| l.message.contains("Starting sync job: J")),
        "{seen:?}"
    );
    assert_eq!(
        live_status::of(&data, "J").map(|s| s.pid),
        Some(std::process::id())
    );

    // Another process asks for the cancel; this run acts on it.
    live_status::request_cancel(&data, "J").unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run stops on the request")
        .unwrap();
    assert_eq!(summary.status, RunStatus::Cancelled, "{summary:?}");
    let history = state::history(&data, "J").unwrap();
    assert_eq!(history[0].summary.status, RunStatus::Cancelled);
    // Gone once it ended, and the request does not cancel the next run.
    assert!(live_status::running(&data).is_empty());
    assert_eq!(live_status::of(&data, "J"), None);
    let ws = dsp::workspace::load(&env.ws()).unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let next = run_job(
        &ws,
        "J",
        &data,
        CancellationToken::new(),
        Reporter::new("J", tx),
    )
    .await;
    assert_eq!(next.status, RunStatus::Succeeded, "{next:?}");
}

#[test]
fn a_status_file_of_a_dead_process_is_ignored() {
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());
    let live = dir.path().join("live");
    std::fs::create_dir_all(&live).unwrap();
    // A pid that cannot be running: above the kernel's pid_max.
    let status = serde_json::json!({
        "job": "J", "pid": 4_194_304u32 + 7, "host": dsp_host(),
        "status": "running", "trigger": "schedule",
        "started": "2026-11-26T10:00:00Z", "total": 10, "done": 1, "failed": 0,
        "rate": 1, "log": [], "updated": chrono::Utc::now().to_rfc3339(),
    });
    std::fs::write(live.join("j.json"), status.to_string()).unwrap();
    assert!(live_status::running(&data).is_empty());
}

fn dsp_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Waits until `rx` says `want`, for at most 20 s.
async fn until(
    rx: &mut tokio::sync::watch::Receiver<Option<lease::Firing>>,
    what: &str,
    want: impl Fn(&lease::Firing) -> bool,
) {
    let waited = {
        let wait = rx.wait_for(|f| f.as_ref().is_some_and(&want));
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .map(|r| r.is_ok())
    };
    assert_eq!(
        waited,
        Ok(true),
        "timed out waiting for {what}: {:?}",
        *rx.borrow()
    );
}

#[tokio::test]
async fn a_tui_hands_the_schedules_to_a_daemon_and_takes_them_back_when_it_stops() {
    use lease::Firing;
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path().join("data"));
    let ws = ws_file(&dir);
    let keep = |kind| {
        let (tx, rx) = tokio::sync::watch::channel(None);
        let stop = CancellationToken::new();
        let task = tokio::spawn(lease::keep(
            data.clone(),
            ws.clone(),
            kind,
            tx,
            stop.clone(),
        ));
        (rx, stop, task)
    };
    let (mut tui, tui_stop, tui_task) = keep(Kind::Tui);
    until(&mut tui, "the TUI to fire", |f| *f == Firing::Here).await;

    let (mut daemon, daemon_stop, daemon_task) = keep(Kind::Daemon);
    until(&mut daemon, "the daemon to take over", |f| {
        *f == Firing::Here
    })
    .await;
    until(
        &mut tui,
        "the TUI to see the daemon",
        |f| matches!(f, Firing::Elsewhere(Some(h)) if h.kind == Kind::Daemon),
    )
    .await;
    // It stays with the daemon: the TUI does not take it back while it lives.
    tokio::time::sleep(lease::BEAT * 3).await;
    assert_eq!(*daemon.borrow(), Some(Firing::Here));
    assert!(!matches!(*tui.borrow(), Some(Firing::Here)));

    daemon_stop.cancel();
    daemon_task.await.unwrap();
    until(&mut tui, "the TUI to fire again", |f| *f == Firing::Here).await;
    tui_stop.cancel();
    tui_task.await.unwrap();
    assert_eq!(lease::holder(&data, &ws), None);
}
