//! Scheduling and `dsp daemon`: fires on time under a paused
//! clock, skips and logs an overlapping fire, follows schedule edits; the daemon
//! process runs a per-second SQLite job and stops cleanly on SIGTERM; a run held
//! elsewhere (the TUI) keeps the daemon's run from overlapping it.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dsp::engine::progress::{ProgressEvent, RunStatus, RunSummary};
use dsp::engine::schedule::Zone;
use dsp::engine::scheduler::{Clock, RunFn, Scheduler, TokioClock};
use dsp::engine::state;
use dsp::paths::DataDir;
use dsp::workspace::{self, Workspace};
use sqlx::Connection;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::support;

fn ws_with_schedule(expr: &str) -> Workspace {
    let text = format!(
        r#"
[[network]]
name = "A"
type = "sqlite"
database = "a.db"

[[schema]]
name = "S"
source_table = "t"
target_table = "t2"
primary_key = "id"
columns = [{{ source = "id", target = "id", type = "integer" }}]

[[job]]
name = "J"
source = "A"
target = "A"
schema = "S"
schedule = "{expr}"
"#
    );
    workspace::load_str(&text, Path::new("/tmp/w.toml")).unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// A runner that records when it was started (by the scheduler's clock) and
/// then takes `busy` of (paused) time.
fn recording_runner(
    clock: Arc<TokioClock>,
    busy: Duration,
) -> (RunFn, Arc<Mutex<Vec<DateTime<Utc>>>>) {
    let fired = Arc::new(Mutex::new(Vec::new()));
    let f = fired.clone();
    let run: RunFn = Arc::new(move |_ws, job, _cancel, _rep| {
        f.lock().unwrap().push(clock.now());
        Box::pin(async move {
            tokio::time::sleep(busy).await;
            RunSummary {
                job,
                mode: Default::default(),
                status: RunStatus::Succeeded,
                started: Utc::now(),
                ended: Utc::now(),
                total: 0,
                success: 0,
                failed: 0,
                error: None,
                changes: None,
            }
        })
    });
    (run, fired)
}

struct Harness {
    fired: Arc<Mutex<Vec<DateTime<Utc>>>>,
    events: mpsc::UnboundedReceiver<ProgressEvent>,
    ws: watch::Sender<Arc<Workspace>>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start(expr: &str, busy: Duration) -> Harness {
    let clock = Arc::new(TokioClock::starting_at(t("2026-11-24T10:00:00Z")));
    let (run, fired) = recording_runner(clock.clone(), busy);
    let (ws_tx, ws_rx) = watch::channel(Arc::new(ws_with_schedule(expr)));
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let scheduler = Scheduler {
        workspace: ws_rx,
        run,
        clock,
        zone: Zone::Named {
            tz: chrono_tz::UTC,
            from: "test",
        },
        events: ev_tx,
        grace: Duration::from_secs(5),
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(scheduler.run(shutdown.clone()));
    Harness {
        fired,
        events: ev_rx,
        ws: ws_tx,
        shutdown,
        task,
    }
}

impl Harness {
    async fn stop(self) -> (Vec<DateTime<Utc>>, Vec<String>) {
        self.shutdown.cancel();
        self.task.await.unwrap();
        let mut events = self.events;
        let mut lines = Vec::new();
        while let Ok(ev) = events.try_recv() {
            if let ProgressEvent::Log { line, .. } = ev {
                lines.push(line.to_string());
            }
        }
        let fired = self.fired.lock().unwrap().clone();
        (fired, lines)
    }
}

#[tokio::test(start_paused = true)]
async fn a_job_fires_at_its_times() {
    let h = start("*/10 * * * * *", Duration::from_millis(10));
    tokio::time::sleep(Duration::from_secs(35)).await;
    let (fired, lines) = h.stop().await;
    assert_eq!(
        fired,
        vec![
            t("2026-11-24T10:00:10Z"),
            t("2026-11-24T10:00:20Z"),
            t("2026-11-24T10:00:30Z")
        ]
    );
    assert!(lines.is_empty(), "{lines:?}");
}

#[tokio::test(start_paused = true)]
async fn five_field_crontab_fires_on_the_minute() {
    let h = start("*/5 * * * *", Duration::from_millis(10));
    tokio::time::sleep(Duration::from_secs(11 * 60)).await;
    let (fired, _) = h.stop().await;
    assert_eq!(
        fired,
        vec![t("2026-11-24T10:05:00Z"), t("2026-11-24T10:10:00Z")]
    );
}

#[tokio::test(start_paused = true)]
async fn an_overlapping_fire_is_skipped_and_logged() {
    // Every 10 s, but each run takes 25 s: 10:00:10 runs until :35, so :20 and
    // :30 are skipped; :40 runs.
    let h = start("*/10 * * * * *", Duration::from_secs(25));
    tokio::time::sleep(Duration::from_secs(45)).await;
    let (fired, lines) = h.stop().await;
    assert_eq!(
        fired,
        vec![t("2026-11-24T10:00:10Z"), t("2026-11-24T10:00:40Z")]
    );
    let skipped: Vec<&String> = lines.iter().filter(|l| l.contains("Skipped")).collect();
    assert_eq!(skipped.len(), 2, "{lines:?}");
    assert!(
        skipped[0].starts_with("[WARN] Skipped the scheduled run of 2026-11-24 10:00:20"),
        "{}",
        skipped[0]
    );
    assert!(skipped[0].contains("previous run is still going"));
}

#[tokio::test(start_paused = true)]
async fn a_changed_schedule_takes_effect_and_a_removed_one_stops() {
    let h = start("0 0 * * *", Duration::from_millis(10)); // midnight: not within the test
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(h.fired.lock().unwrap().is_empty());
    h.ws.send(Arc::new(ws_with_schedule("*/20 * * * * *")))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(31)).await; // to 10:01:01
    assert_eq!(
        *h.fired.lock().unwrap(),
        vec![t("2026-11-24T10:00:40Z"), t("2026-11-24T10:01:00Z")]
    );
    let mut none = ws_with_schedule("* * * * * *");
    none.jobs[0].schedule = None;
    h.ws.send(Arc::new(none)).unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let (fired, _) = h.stop().await;
    assert_eq!(
        fired.len(),
        2,
        "no fires after the schedule was removed: {fired:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_running_jobs() {
    let clock = Arc::new(TokioClock::starting_at(t("2026-11-24T10:00:00Z")));
    let cancelled = Arc::new(Mutex::new(false));
    let c = cancelled.clone();
    let run: RunFn = Arc::new(move |_ws, job, cancel, _rep| {
        let c = c.clone();
        Box::pin(async move {
            cancel.cancelled().await;
            *c.lock().unwrap() = true;
            RunSummary {
                job,
                mode: Default::default(),
                status: RunStatus::Cancelled,
                started: Utc::now(),
                ended: Utc::now(),
                total: 0,
                success: 0,
                failed: 0,
                error: None,
                changes: None,
            }
        })
    });
    let (_ws_tx, ws_rx) = watch::channel(Arc::new(ws_with_schedule("* * * * * *")));
    let (ev_tx, _ev_rx) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(
        Scheduler {
            workspace: ws_rx,
            run,
            clock,
            zone: Zone::Named {
                tz: chrono_tz::UTC,
                from: "test",
            },
            events: ev_tx,
            grace: Duration::from_secs(5),
        }
        .run(shutdown.clone()),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    shutdown.cancel();
    task.await.unwrap();
    assert!(*cancelled.lock().unwrap(), "the running job saw the cancel");
}

/// A SQLite source with a few rows and a workspace with a per-second job.
async fn daemon_fixture(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("src.db");
    let url = format!("sqlite://{}?mode=rwc", src.display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)")
        .execute(&mut c)
        .await
        .unwrap();
    for i in 1..=20 {
        sqlx::query("INSERT INTO items VALUES (?, ?)")
            .bind(i)
            .bind(format!("item {i}"))
            .execute(&mut c)
            .await
            .unwrap();
    }
    c.close().await.unwrap();
    let ws = dir.join("workspace.toml");
    std::fs::write(
        &ws,
        r#"
[[network]]
name = "Src"
type = "sqlite"
database = "src.db"

[[network]]
name = "Dst"
type = "sqlite"
database = "dst.db"

[[schema]]
name = "Items"
source_table = "items"
target_table = "items_copy"
primary_key = "id"
columns = [
  { source = "id", target = "id", type = "integer" },
  { source = "label", target = "label", type = "string" },
]

[[job]]
name = "Every Second"
source = "Src"
target = "Dst"
schema = "Items"
schedule = "* * * * * *"
"#,
    )
    .unwrap();
    ws
}

fn sigterm(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_with_deadline(child: &mut std::process::Child, secs: u64) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("dsp daemon did not stop within {secs} s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_runs(
    data: &DataDir,
    job: &str,
    pred: impl Fn(&[state::RunRecord]) -> bool,
    secs: u64,
) -> Vec<state::RunRecord> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let h = state::history(data, job).unwrap();
        if pred(&h) || std::time::Instant::now() > deadline {
            return h;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn daemon_runs_a_per_second_job_and_stops_cleanly_on_sigterm() {
    let dir = support::temp_dir();
    let ws = daemon_fixture(dir.path()).await;
    let data_dir = dir.path().join("data");
    let mut child = std::process::Command::new(support::dsp_bin())
        .arg("daemon")
        .arg("--workspace")
        .arg(&ws)
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let data = DataDir::new(&data_dir);
    let done = |h: &[state::RunRecord]| {
        h.iter()
            .filter(|r| r.summary.status == RunStatus::Succeeded)
            .count()
            >= 2
    };
    let history = wait_for_runs(&data, "Every Second", done, 30);
    sigterm(&child);
    let status = wait_with_deadline(&mut child, 15);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        done(&history),
        "two completed runs expected; history: {history:?}\n{stdout}\n{stderr}"
    );
    assert_eq!(status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("[Every Second] [INFO] Sync completed. Total: 20, Success: 20, Failed: 0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("schedules in"),
        "the zone in force is stated: {stdout}"
    );
    assert!(stdout.contains("dsp daemon: stopped"), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The target holds the source's rows.
    let mut c = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}",
        dir.path().join("dst.db").display()
    ))
    .await
    .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items_copy")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 20);
}

#[tokio::test]
async fn a_run_held_elsewhere_keeps_the_daemon_from_overlapping_it() {
    let dir = support::temp_dir();
    let ws = daemon_fixture(dir.path()).await;
    let data_dir = dir.path().join("data");
    let data = DataDir::new(&data_dir);
    // The TUI holds the job's lock while it runs the job.
    let held = state::lock_job(&data, "Every Second").unwrap();
    let mut child = std::process::Command::new(support::dsp_bin())
        .arg("daemon")
        .arg("--workspace")
        .arg(&ws)
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Fires come every second; give it several while the lock is held.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        state::history(&data, "Every Second").unwrap().is_empty(),
        "no run happened while the lock was held"
    );
    assert!(
        !dir.path().join("dst.db").exists(),
        "a refused run touches no target"
    );
    drop(held);
    let ok = wait_for_runs(
        &data,
        "Every Second",
        |h| h.iter().any(|r| r.summary.status == RunStatus::Succeeded),
        30,
    );
    sigterm(&child);
    let status = wait_with_deadline(&mut child, 15);
    assert!(
        ok.iter().any(|r| r.summary.status == RunStatus::Succeeded),
        "runs resume once released: {ok:?}"
    );
    assert_eq!(status.code(), Some(0));
}

/// `dsp daemon --json`: every line is a JSON object, the daemon's own lines
/// with a null job, each run ending in a `finished` object with its counts;
/// the history says the schedule started those runs.
#[tokio::test]
async fn daemon_json_prints_one_object_per_event() {
    let dir = support::temp_dir();
    let ws = daemon_fixture(dir.path()).await;
    let data_dir = dir.path().join("data");
    let mut child = std::process::Command::new(support::dsp_bin())
        .args(["daemon", "--json", "--workspace"])
        .arg(&ws)
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let data = DataDir::new(&data_dir);
    let ran = |h: &[state::RunRecord]| h.iter().any(|r| r.summary.status == RunStatus::Succeeded);
    let history = wait_for_runs(&data, "Every Second", ran, 30);
    sigterm(&child);
    let status = wait_with_deadline(&mut child, 15);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert!(ran(&history), "{history:?}\n{stdout}");
    assert!(
        history
            .iter()
            .all(|r| r.trigger == Some(dsp::engine::Trigger::Schedule)),
        "{history:?}"
    );
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    let own = |text: &str| {
        events
            .iter()
            .any(|e| e["job"].is_null() && e["message"].as_str().unwrap_or("").contains(text))
    };
    assert!(
        own("schedules in") && own("dsp daemon: stopped"),
        "{stdout}"
    );
    let finished = events
        .iter()
        .find(|e| e["event"] == "finished" && e["status"] == "succeeded")
        .unwrap_or_else(|| panic!("no finished run:\n{stdout}"));
    assert_eq!(finished["job"], "Every Second");
    assert_eq!(
        (finished["total"].as_u64(), finished["success"].as_u64()),
        (Some(20), Some(20))
    );
}
