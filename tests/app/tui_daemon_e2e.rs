//! One view with the daemon (issue 17 #3, #4), the release binary in tmux at
//! 80x24: a TUI and `dsp daemon` on one workspace fire each schedule once, the
//! TUI names the daemon in its header, shows the daemon's run live and cancels
//! it with `c` (the daemon keeps going); when the daemon stops the TUI fires
//! the schedules, and quitting with its run going cancels it visibly.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use dsp::engine::RunStatus;
use dsp::engine::state;
use dsp::paths::DataDir;

use crate::support;
use crate::support::end::{End, lite_pool};
use crate::support::workspace::{ID_V_N, sqlite_network_toml};
use crate::tui_e2e::{Tmux, release_bin};

/// Rows of the slow job: 200 batches of 100, paced 50 ms each (about 10 s).
const SLOW_ROWS: u32 = 20_000;

/// The daemon this test started, stopped by its pid whatever happens.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn workspace(dir: &Path) -> String {
    let job = |name: &str, table: &str, target: &str, schedule: &str| {
        format!(
            r#"
[[schema]]
name = "{name} schema"
source_table = "{table}"
target_table = "{target}"
primary_key = "id"
columns = [
{ID_V_N}
]

[[job]]
name = "{name}"
source = "Source"
target = "Target"
schema = "{name} schema"
mode = "full"
batch_size = 100
schedule = "{schedule}"
"#
        )
    };
    [
        sqlite_network_toml("Source", &dir.join("s.db")),
        sqlite_network_toml("Target", &dir.join("t.db")),
        job("Tick", "small", "small_copy", "*/3 * * * * *"),
        job("Slow", "big", "big_copy", "*/15 * * * * *"),
    ]
    .join("\n")
}

pub(crate) async fn sources(dir: &Path) {
    let src = End::Lite(dir.join("s.db"), lite_pool(&dir.join("s.db")).await);
    for (table, rows) in [("small", 10), ("big", SLOW_ROWS)] {
        src.exec(&format!(
            "CREATE TABLE {table} (id BIGINT PRIMARY KEY, v TEXT, n BIGINT)"
        ))
        .await;
        src.exec(&format!(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {rows}) \
             INSERT INTO {table} SELECT i, 'v' || i, i FROM c"
        ))
        .await;
    }
}

pub(crate) fn history(data: &DataDir, job: &str) -> Vec<state::RunRecord> {
    state::history(data, job).unwrap_or_default()
}

pub(crate) fn wait_until(what: &str, secs: u64, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn tui_and_daemon_share_the_schedules_and_the_tui_cancels_the_daemons_run() {
    let test = "tui_and_daemon_share_the_schedules_and_the_tui_cancels_the_daemons_run";
    if Command::new("tmux").arg("-V").output().is_err() {
        support::skip(test, "tmux is not installed");
        return;
    }
    let bin = release_bin();
    if !bin.exists() {
        support::skip(
            test,
            &format!("{} is missing; run cargo build --release", bin.display()),
        );
        return;
    }
    let dir = support::temp_dir();
    let ws = dir.path().join("workspace.toml");
    std::fs::write(&ws, workspace(dir.path())).unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(sources(dir.path()));
    let data_path = dir.path().join("data");
    let data = DataDir::new(&data_path);

    let out_path = dir.path().join("daemon.out");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut daemon = Daemon(
        Command::new(&bin)
            .args(["daemon", "--workspace"])
            .arg(&ws)
            .arg("--data-dir")
            .arg(&data_path)
            .env("DSP_TZ", "UTC")
            .env("DSP_PACE_MS", "50")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("the daemon starts"),
    );
    let daemon_pid = daemon.0.id();
    let said = || std::fs::read_to_string(&out_path).unwrap_or_default();
    wait_until("the daemon to hold the schedules", 30, || {
        said().contains("this daemon fires the schedules")
    });

    let tmux = Tmux {
        socket: support::unique_name("dsp_e2e"),
    };
    let cmd = format!(
        "DSP_TZ=UTC DSP_PACE_MS=50 '{}' --workspace '{}' --data-dir '{}'; echo DSP-EXITED-$?; sleep 60",
        bin.display(),
        ws.display(),
        data_path.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "80",
        "-y",
        "24",
        &cmd,
    ]);
    let header = format!("schedules: dsp daemon (pid {daemon_pid})");
    tmux.wait_for("the header naming the daemon", |s| s.contains(&header), 30);
    tmux.keys("3");
    tmux.keys("j");
    // The daemon's run of Slow, live in the TUI's job pane.
    let live = tmux.wait_for(
        "the daemon's run live",
        |s| s.contains(&format!("run by pid {daemon_pid}")) && s.contains("/ 20,000"),
        40,
    );
    assert!(live.contains("Slow"), "{live}");
    assert!(live.contains("rec/s"), "{live}");
    tmux.keys("c");
    // The notice lasts until the daemon acts, which can be quicker than the
    // key's pause: then the run's own words say who cancelled it.
    tmux.wait_for(
        "the cancel request",
        |s| {
            s.contains("Cancel requested")
                || s.contains("cancel requested")
                || s.contains("cancelled by the operator")
        },
        10,
    );
    wait_until("the cancelled run in the history", 20, || {
        history(&data, "Slow")
            .first()
            .is_some_and(|r| r.summary.status == RunStatus::Cancelled)
    });
    let after = tmux.wait_for(
        "the cancelled result",
        |s| s.contains("cancelled") && !s.contains(&format!("run by pid {daemon_pid}")),
        20,
    );
    assert!(after.contains("Slow"), "{after}");
    // The daemon keeps going: Tick fires again after the cancel.
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon exited");
    let ticks = history(&data, "Tick").len();
    wait_until("a later fire of Tick", 20, || {
        history(&data, "Tick").len() > ticks
    });

    // Each fire ran once: no run was refused as already running, and no two
    // runs of Tick started in the same fire.
    let daemon_said = said();
    assert!(!daemon_said.contains("already running"), "{daemon_said}");
    let screen = tmux.screen();
    assert!(
        !screen.contains("already running") && !screen.contains("✗"),
        "{screen}"
    );
    let tick = history(&data, "Tick");
    assert!(tick.len() >= 2, "{}", tick.len());
    assert!(
        tick.iter()
            .all(|r| r.summary.status == RunStatus::Succeeded),
        "{:?}",
        tick.iter().map(|r| r.summary.status).collect::<Vec<_>>()
    );
    let mut fires: Vec<i64> = tick
        .iter()
        .map(|r| r.summary.started.timestamp() / 3)
        .collect();
    fires.sort();
    let all = fires.len();
    fires.dedup();
    assert_eq!(fires.len(), all, "a fire of Tick ran twice");

    // The daemon stops; the TUI takes the schedules over.
    let stopped = Command::new("kill")
        .args(["-TERM", &daemon_pid.to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let _ = daemon.0.wait();
    tmux.wait_for(
        "the TUI firing the schedules",
        |s| s.contains("schedules: this TUI"),
        30,
    );
    // Slow fires here next; quitting with it going cancels it, visibly.
    let slow_runs = history(&data, "Slow").len();
    tmux.wait_for(
        "the TUI's own run of Slow",
        // `elapsed` is the running pane's (an idle one says `took`).
        |s| s.contains("/ 20,000") && s.contains("elapsed") && !s.contains("run by pid"),
        40,
    );
    tmux.keys("q");
    tmux.wait_for("the quit question", |s| s.contains("Quit and cancel"), 10);
    // (The "Cancelling 1 job…" notice lasts as long as a SQLite rollback,
    // too short to catch here; tests/app/tui.rs asserts it.)
    tmux.keys("y");
    let end = tmux.wait_for("the shell", |s| s.contains("DSP-EXITED-"), 30);
    assert!(end.contains("DSP-EXITED-0"), "{end}");
    let slow = history(&data, "Slow");
    assert!(slow.len() > slow_runs, "the TUI's run is recorded");
    assert_eq!(slow[0].summary.status, RunStatus::Cancelled);
}
