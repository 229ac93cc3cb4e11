//! The release binary in a real terminal (tmux): `dsp demo` on a fresh data dir,
//! 3, r, the full job reaches 100% and its summary, q quits and the shell is back.
//!
//! Needs tmux and `target/release/dsp` (`cargo build --release`; `.ci/run` builds
//! it first). Without them the test says it skipped; in CI it fails instead.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support;

pub(crate) fn release_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("release").join("dsp")
}

/// The words of `text` as the screen shows them (between spaces and borders).
pub(crate) fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| c.is_whitespace() || "│┌┐└┘─".contains(c))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Every word of `text` is on screen whole: a cut word would be missing.
pub(crate) fn assert_whole(screen: &str, text: &str) {
    let on_screen = words(screen);
    for w in words(text) {
        assert!(
            on_screen.contains(&w),
            "\"{w}\" of \"{text}\" is cut or missing:\n{screen}"
        );
    }
}

pub(crate) struct Tmux {
    pub(crate) socket: String,
}

impl Tmux {
    pub(crate) fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    pub(crate) fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "e2e"])
    }
    pub(crate) fn keys(&self, keys: &str) {
        self.run(&["send-keys", "-t", "e2e", keys]);
        std::thread::sleep(Duration::from_millis(300));
    }
    pub(crate) fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// `dsp`'s arguments for a workspace file and a data dir, quoted for tmux.
pub(crate) fn ws_args(ws: &std::path::Path, data: &std::path::Path) -> String {
    format!(
        "--workspace '{}' --data-dir '{}'",
        ws.display(),
        data.display()
    )
}

/// The release binary in a new tmux session `e2e` of `w`x`h`: `env`
/// assignments, then `dsp` with `args` (quoted for the shell). The shell stays
/// after it exits and prints `DSP-EXITED-<code>`. `None` (the test skipped)
/// without tmux or the release binary.
pub(crate) fn start(test: &str, w: u16, h: u16, env: &str, args: &str) -> Option<Tmux> {
    if Command::new("tmux").arg("-V").output().is_err() {
        support::skip(test, "tmux is not installed");
        return None;
    }
    let bin = release_bin();
    if !bin.exists() {
        support::skip(
            test,
            &format!("{} is missing; run cargo build --release", bin.display()),
        );
        return None;
    }
    let tmux = Tmux {
        socket: support::unique_name("dsp_e2e"),
    };
    let cmd = format!(
        "{env} '{}' {args}; echo DSP-EXITED-$?; sleep 60",
        bin.display()
    );
    let (w, h) = (w.to_string(), h.to_string());
    tmux.run(&["new-session", "-d", "-s", "e2e", "-x", &w, "-y", &h, &cmd]);
    Some(tmux)
}

/// `dsp demo` at `w`x`h` in tmux on a data dir in `dir`, once its first
/// screen is up.
pub(crate) fn open_demo_in(test: &str, dir: &std::path::Path, w: u16, h: u16) -> Option<Tmux> {
    let args = format!("demo --data-dir '{}'", dir.join("data").display());
    let tmux = start(test, w, h, "", &args)?;
    tmux.wait_for(
        "the TUI",
        |s| s.contains("3 Jobs") && s.contains("Sync Users to Analytics"),
        60,
    );
    Some(tmux)
}

/// `dsp demo` at `w`x`h` in tmux on a fresh data dir.
fn open_demo(test: &str, w: u16, h: u16) -> Option<(Tmux, tempfile::TempDir)> {
    let dir = support::temp_dir();
    let tmux = open_demo_in(test, dir.path(), w, h)?;
    Some((tmux, dir))
}

#[test]
fn demo_runs_the_full_job_to_its_summary_and_quits_cleanly() {
    let test = "demo_runs_the_full_job_to_its_summary_and_quits_cleanly";
    let Some((tmux, _dir)) = open_demo(test, 100, 30) else {
        return;
    };
    tmux.keys("3");
    tmux.wait_for(
        "the Jobs tab",
        |s| s.contains("> ") && s.contains("Sync Users to Analytics"),
        10,
    );
    tmux.keys("r");
    let done = tmux.wait_for(
        "the summary",
        // The log's last line comes a moment before the run's end marks
        // the job: wait for both.
        |s| {
            s.contains("Sync completed. Total: 50,000, Success: 50,000, Failed: 0")
                && s.contains("✓ Sync Users to Analytics")
        },
        120,
    );
    assert!(done.contains("100%"), "gauge at 100%:\n{done}");
    assert!(done.contains("✓ Sync Users to Analytics"), "{done}");

    tmux.keys("q");
    let after = tmux.wait_for("the shell", |s| s.contains("DSP-EXITED-"), 20);
    assert!(after.contains("DSP-EXITED-0"), "exit status 0:\n{after}");
    // The alternate screen is gone: the UI's frame is no longer on screen.
    assert!(!after.contains("1 Network"), "terminal restored:\n{after}");
}

/// The pid of the `dsp` the tmux pane's shell started.
pub(crate) fn dsp_pid(tmux: &Tmux) -> String {
    let shell = tmux.run(&["list-panes", "-t", "e2e", "-F", "#{pane_pid}"]);
    let out = Command::new("pgrep")
        .args(["-P", shell.trim(), "-x", "dsp"])
        .output()
        .expect("pgrep runs");
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!pid.is_empty(), "no dsp under the pane's shell {shell}");
    pid
}

/// A run dies with the SSH session no more (issue 17 #6): SIGHUP in the middle
/// of the demo's (paced) run cancels it, records it as cancelled, leaves the
/// target as it was, restores the terminal and exits 0. The demo opens on the
/// Jobs tab with its hint, at 80x24.
#[test]
fn sighup_cancels_the_running_job_and_records_it() {
    a_signal_cancels_the_running_job("sighup_cancels_the_running_job_and_records_it", "-HUP");
}

/// The service manager's stop (SIGTERM) does the same.
#[test]
fn sigterm_cancels_the_running_job_and_records_it() {
    a_signal_cancels_the_running_job("sigterm_cancels_the_running_job_and_records_it", "-TERM");
}

fn a_signal_cancels_the_running_job(test: &str, signal: &str) {
    let Some((tmux, dir)) = open_demo(test, 80, 24) else {
        return;
    };
    let first = tmux.screen();
    assert!(
        first.contains("Press r to run the selected job, ? for keys"),
        "{first}"
    );
    tmux.keys("r");
    let mid = tmux.wait_for(
        "the run under way",
        |s| s.contains("rec/s") && s.contains("ETA") && s.contains("1 running"),
        30,
    );
    assert!(!mid.contains("ETA 0m00s"), "{mid}");
    let kill = Command::new("kill")
        .args([signal, &dsp_pid(&tmux)])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let after = tmux.wait_for("the shell", |s| s.contains("DSP-EXITED-"), 30);
    assert!(after.contains("DSP-EXITED-0"), "exit status 0:\n{after}");
    assert!(!after.contains("3 Jobs"), "terminal restored:\n{after}");

    let data = dsp::paths::DataDir::new(dir.path().join("data"));
    let history = dsp::engine::state::history(&data, "Sync Users to Analytics").unwrap();
    assert_eq!(history.len(), 1, "the run is in the history");
    assert_eq!(history[0].summary.status, dsp::engine::RunStatus::Cancelled);
    // A cancelled full sync changes nothing: the target has no users.
    let target = dir.path().join("data/demo/target.db");
    let rows: Option<i64> = if target.exists() {
        use sqlx::Connection;
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let url = format!("sqlite://{}", target.display());
            let mut c = sqlx::SqliteConnection::connect(&url).await.ok()?;
            sqlx::query_scalar("SELECT count(*) FROM dim_users")
                .fetch_one(&mut c)
                .await
                .ok()
        })
    } else {
        None
    };
    assert!(
        rows.unwrap_or(0) == 0,
        "the target was written: {rows:?} rows"
    );
}
