//! Alerts in the workspace file: the `[alerts]` defaults and a job's own
//! values load (a job's empty value turns a default off), a save keeps the
//! hand-written bytes around them, and `dsp check` shows them without secrets.

use std::path::{Path, PathBuf};
use std::process::Command;

use dsp::workspace;

use crate::support;

fn seed_text() -> String {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed.toml");
    std::fs::read_to_string(seed).unwrap()
}

/// The seed example with workspace-wide alerts and a hand-written comment.
fn with_alerts() -> String {
    seed_text()
        + r#"
# Who hears about the nightly runs.
[alerts]
on_failure = 'mail -s "DSP: $DSP_JOB $DSP_STATUS" ops@example.com'   # the on-call list
webhook = "https://user:hunter2@hooks.example.com/services/T0/B0/hunter3?key=hunter4"
timeout = "20s"
"#
}

fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = support::temp_dir();
    let file = dir.path().join("workspace.toml");
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

#[test]
fn workspace_alerts_are_every_jobs_default_and_a_job_can_turn_one_off() {
    let (_dir, file) = write(&with_alerts().replace(
        "name = \"Sync Users to Analytics\"\n",
        "name = \"Sync Users to Analytics\"\nwebhook = \"\"\non_success = \"true\"\n",
    ));
    let ws = workspace::load(&file).unwrap();
    assert_eq!(ws.alert_timeout(), std::time::Duration::from_secs(20));
    let job = ws.job("Sync Users to Analytics").unwrap();
    let alerts = ws.alerts_of(job);
    assert_eq!(
        alerts.on_failure.as_deref(),
        Some("mail -s \"DSP: $DSP_JOB $DSP_STATUS\" ops@example.com")
    );
    assert_eq!(alerts.on_success.as_deref(), Some("true"));
    assert_eq!(
        alerts.webhook, None,
        "the job turned the default webhook off"
    );
}

#[test]
fn a_save_keeps_the_alerts_as_written_and_changes_only_what_changed() {
    let hand = with_alerts().replace(
        "name = \"Sync Users to Analytics\"\n",
        "name = \"Sync Users to Analytics\"\non_success = 'echo ok'  # keep\n",
    );
    let (_dir, file) = write(&hand);
    let mut ws = workspace::load(&file).unwrap();
    workspace::save(&ws, &file).unwrap();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        hand,
        "an unchanged save"
    );

    ws.alerts.timeout = Some("45s".into());
    ws.jobs[0].alerts.on_failure = Some("logger dsp failed".into());
    workspace::save(&ws, &file).unwrap();
    let saved = std::fs::read_to_string(&file).unwrap();
    // The new key goes at the end of the job's table.
    let expected = hand
        .replace("timeout = \"20s\"", "timeout = \"45s\"")
        .replace(
            "batch_size = 1000\n",
            "batch_size = 1000\non_failure = \"logger dsp failed\"\n",
        );
    assert_eq!(saved, expected);
    assert_eq!(workspace::load(&file).unwrap(), ws);

    // No alerts left: the table goes.
    ws.alerts = Default::default();
    workspace::save(&ws, &file).unwrap();
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(!saved.contains("[alerts]"), "{saved}");
    assert_eq!(workspace::load(&file).unwrap(), ws);
}

#[test]
fn check_shows_alerts_without_their_secrets() {
    let (dir, file) = write(&with_alerts());
    let out = Command::new(support::dsp_bin())
        .args(["check", "--workspace"])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("PROD_DB_PASSWORD", "x")
        .env("ANALYTICS_DB_PASSWORD", "x")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        stdout.contains(
            "job \"Sync Users to Analytics\": alerts: on_failure runs \"mail …\", webhook to https://***@hooks.example.com/*** (hooks time out after 20s)"
        ),
        "{all}"
    );
    for secret in ["hunter2", "hunter3", "hunter4", "ops@example.com"] {
        assert!(!all.contains(secret), "{secret} was printed:\n{all}");
    }

    let (_dir, file) = write(&with_alerts().replace("https://user", "smtp://user"));
    let out = Command::new(support::dsp_bin())
        .args(["check", "--workspace"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("[alerts] field `webhook`: \"smtp://***@hooks.example.com/***\" is not an http:// or https:// URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter"), "{stderr}");
}
