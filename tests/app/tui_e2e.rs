//! The release binary in a real terminal (tmux): `dsp demo` on a fresh data dir,
//! 3, r, the full job reaches 100% and its summary, q quits and the shell is back.
//!
//! Needs tmux and `target/release/dsp` (`cargo build --release`; `.ci/run` builds
//! it first). Without them the test says it skipped; in CI it fails instead.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support;

fn release_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("release").join("dsp")
}

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "e2e"])
    }
    fn keys(&self, keys: &str) {
        self.run(&["send-keys", "-t", "e2e", keys]);
        std::thread::sleep(Duration::from_millis(300));
    }
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool, secs: u64) -> String {
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

#[test]
fn demo_runs_the_full_job_to_its_summary_and_quits_cleanly() {
    let test = "demo_runs_the_full_job_to_its_summary_and_quits_cleanly";
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
    let tmux = Tmux {
        socket: support::unique_name("dsp_e2e"),
    };
    let cmd = format!(
        "'{}' demo --data-dir '{}'; echo DSP-EXITED-$?; sleep 60",
        bin.display(),
        dir.path().join("data").display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "100",
        "-y",
        "30",
        &cmd,
    ]);
    tmux.wait_for(
        "the TUI",
        |s| s.contains("1 Network") && s.contains("Production DB (Source)"),
        60,
    );

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
