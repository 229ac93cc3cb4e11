//! Alerts through `dsp run`: the `on_failure` / `on_success` hooks with the
//! run in their environment, the webhook that receives the run's summary (a
//! local HTTP listener stands for the receiver), and alerts that hang, fail
//! or find nobody, which change nothing about the run's outcome.

use std::collections::HashMap;
use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::small_job::*;
use crate::support::cli::*;
use crate::support::end::{End, Kind};
use crate::support::workspace::SchemaJob;

/// A workspace whose job `J` copies `src` (3 rows) into `dst`, with `extra`
/// appended to the job and `[alerts]` holding `timeout = "2s"` and `defaults`.
fn workspace(src: &End, tgt: &End, source_table: &str, extra: &str, defaults: &str) -> String {
    src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + &SchemaJob::new(source_table, "dst").toml()
        + extra
        + "\n[alerts]\ntimeout = \"2s\"\n"
        + defaults
}

/// A hook that writes its `DSP_` variables to `file`.
fn env_hook(key: &str, file: &Path) -> String {
    format!("{key} = 'env | grep ^DSP_ > \"{}\"'\n", file.display())
}

fn read_env(file: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("the hook did not write {}: {e}", file.display()));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn ends(test: &str, env: &Env, source: Kind) -> Option<(End, End)> {
    let src = End::new(source, &format!("{test} (source)"), &env.dir, "s").await?;
    let tgt = End::new(Kind::Lite, &format!("{test} (target)"), &env.dir, "t").await?;
    small_source(&src).await;
    Some((src, tgt))
}

/// `dsp run J` on a blocking thread, so that the test's listener keeps serving.
async fn run(env: &Env) -> Out {
    let mut cmd = env.command(&["run", "J"], &[]);
    tokio::task::spawn_blocking(move || {
        let start = std::time::Instant::now();
        let o = cmd.output().unwrap();
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            elapsed: start.elapsed(),
        }
    })
    .await
    .unwrap()
}

/// The history record of the job's last run: its note.
fn last_note(env: &Env) -> Option<String> {
    let data = dsp::paths::DataDir::new(env.data());
    let runs = dsp::engine::state::history(&data, "J").unwrap();
    runs.first()
        .expect("the run is in the history")
        .note
        .clone()
}

fn warnings(out: &Out) -> Vec<&str> {
    out.log_lines()
        .into_iter()
        .filter(|l| l.starts_with("[WARN]"))
        .collect()
}

#[tokio::test]
async fn the_failure_hook_gets_the_failed_run_and_the_success_hook_stays_quiet() {
    for kind in [Kind::Pg, Kind::Lite] {
        let env = Env::new();
        let test = &format!("the failure hook fires ({kind:?})");
        let Some((src, tgt)) = ends(test, &env, kind).await else {
            return;
        };
        let failed = env.dir.path().join("failed.env");
        let succeeded = env.dir.path().join("succeeded.env");
        let job = env_hook("on_failure", &failed) + &env_hook("on_success", &succeeded);
        // The source table does not exist: the run fails.
        env.write(&workspace(&src, &tgt, "no_such_table", &job, ""));
        let out = run(&env).await;
        out.assert_failed_naming(test, &["no_such_table"]);
        let vars = read_env(&failed);
        assert_eq!(vars["DSP_JOB"], "J", "{vars:?}");
        assert_eq!(vars["DSP_STATUS"], "failed");
        assert_eq!(vars["DSP_TRIGGER"], "manual");
        assert_eq!(vars["DSP_SUCCESS"], "0");
        assert!(vars["DSP_ERROR"].contains("no_such_table"), "{vars:?}");
        for key in ["DSP_STARTED", "DSP_FINISHED"] {
            chrono::DateTime::parse_from_rfc3339(&vars[key])
                .unwrap_or_else(|e| panic!("{key}={}: {e}", vars[key]));
        }
        assert!(vars["DSP_DURATION_SECS"].parse::<f64>().unwrap() >= 0.0);
        assert!(!succeeded.exists(), "on_success ran for a failed run");
        assert_eq!(tgt.tables().await, Vec::<String>::new());
    }
}

#[tokio::test]
async fn the_success_hook_gets_the_counts_of_a_good_run() {
    for kind in [Kind::Pg, Kind::Lite] {
        let env = Env::new();
        let test = &format!("the success hook fires ({kind:?})");
        let Some((src, tgt)) = ends(test, &env, kind).await else {
            return;
        };
        let failed = env.dir.path().join("failed.env");
        let succeeded = env.dir.path().join("succeeded.env");
        // The workspace's default hook for failures, the job's own for success.
        let default = env_hook("on_failure", &failed);
        let job = env_hook("on_success", &succeeded);
        env.write(&workspace(&src, &tgt, "src", &job, &default));
        let out = run(&env).await;
        assert_eq!(out.code, 0, "{test}\n{}", out.all());
        assert_eq!(tgt.dump("dst").await, src.dump("src").await);
        let vars = read_env(&succeeded);
        assert_eq!(vars["DSP_STATUS"], "succeeded", "{vars:?}");
        assert_eq!(vars["DSP_TOTAL"], "3");
        assert_eq!(vars["DSP_SUCCESS"], "3");
        assert_eq!(vars["DSP_FAILED"], "0");
        assert_eq!(vars["DSP_INSERTED"], "3");
        assert_eq!(vars["DSP_UPDATED"], "0");
        assert_eq!(vars["DSP_DELETED"], "0");
        assert_eq!(vars["DSP_ERROR"], "");
        assert!(!failed.exists(), "on_failure ran for a good run");
        assert!(
            out.log_lines()
                .iter()
                .any(|l| l.starts_with("[INFO] The on_success hook ran")),
            "{}",
            out.all()
        );
        assert_eq!(last_note(&env), None);
    }
}

/// What the listener answers to each request, in order.
struct Receiver {
    url: String,
    requests: tokio::task::JoinHandle<Vec<(String, String)>>,
}

/// Listens on a free local port; answers the n-th request with `statuses[n]`
/// and returns every request's head and body once they are all answered.
async fn receiver(statuses: &'static [u16]) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://user:hunter2@{}/hook/secret-path?token=hunter3",
        listener.local_addr().unwrap()
    );
    let requests = tokio::spawn(async move {
        let mut got = Vec::new();
        for status in statuses {
            let (mut socket, _) = listener.accept().await.unwrap();
            let (head, body) = read_request(&mut socket).await;
            let answer =
                format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            socket.write_all(answer.as_bytes()).await.unwrap();
            socket.shutdown().await.ok();
            got.push((head, body));
        }
        got
    });
    Receiver { url, requests }
}

/// One HTTP/1.1 request with a Content-Length body, read by hand.
async fn read_request(socket: &mut tokio::net::TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "the request ended early: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().unwrap())
            })
            .expect("a Content-Length");
        if buf.len() >= end + 4 + length {
            let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
            return (head, body);
        }
    }
}

#[tokio::test]
async fn the_webhook_receives_the_summary_and_is_retried_after_a_5xx() {
    for (kind, statuses) in [(Kind::Pg, &[200u16][..]), (Kind::Lite, &[500u16, 200][..])] {
        let env = Env::new();
        let test = &format!("webhook ({kind:?}, answers {statuses:?})");
        let Some((src, tgt)) = ends(test, &env, kind).await else {
            return;
        };
        let hook = receiver(statuses).await;
        let job = format!("webhook = \"{}\"\n", hook.url);
        env.write(&workspace(&src, &tgt, "src", &job, ""));
        let out = run(&env).await;
        assert_eq!(out.code, 0, "{test}\n{}", out.all());
        let requests = hook.requests.await.unwrap();
        assert_eq!(requests.len(), statuses.len());
        let (head, body) = requests.last().unwrap();
        assert!(
            head.starts_with("POST /hook/secret-path?token=hunter3 "),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let summary: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(summary["event"], "finished");
        assert_eq!(summary["job"], "J");
        assert_eq!(summary["status"], "succeeded");
        assert_eq!(summary["total"], 3);
        assert_eq!(summary["success"], 3);
        assert_eq!(summary["changes"]["inserted"], 3);
        assert_eq!(summary["trigger"], "manual");
        assert!(warnings(&out).is_empty(), "{test}\n{}", out.all());
        let said = out
            .log_lines()
            .into_iter()
            .find(|l| l.contains("The webhook"))
            .unwrap_or_else(|| panic!("{test}: no webhook line\n{}", out.all()))
            .to_string();
        assert!(said.contains("answered 200"), "{said}");
        for secret in ["hunter2", "hunter3", "secret-path"] {
            assert!(
                !out.all().contains(secret),
                "{test}: {secret} was printed\n{}",
                out.all()
            );
        }
    }
}

#[tokio::test]
async fn alerts_that_hang_fail_or_find_nobody_change_nothing_about_the_run() {
    let env = Env::new();
    let test = "alerts that fail";
    let Some((src, tgt)) = ends(test, &env, Kind::Lite).await else {
        return;
    };
    // A port nobody listens on: bound, then let go.
    let nobody = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let pid_file = env.dir.path().join("hook.pid");
    let job = format!(
        "on_success = 'echo $$ > \"{}\"; sleep 1000'\nwebhook = \"http://{nobody}/x?key=hunter3\"\n",
        pid_file.display()
    );
    env.write(&workspace(&src, &tgt, "src", &job, ""));
    let out = run(&env).await;
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    assert_eq!(tgt.dump("dst").await, src.dump("src").await);
    let warned = warnings(&out);
    assert!(
        warned
            .iter()
            .any(|l| l.contains("on_success hook did not finish within 2s and was killed")),
        "{}",
        out.all()
    );
    assert!(
        warned
            .iter()
            .any(|l| l.contains(&format!("webhook http://{nobody}/*** failed"))),
        "{}",
        out.all()
    );
    assert!(!out.all().contains("hunter3"), "{}", out.all());
    // The hook's whole process group is gone, its `sleep` with it.
    let pgid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut alive = living_in_group(pgid);
    for _ in 0..50 {
        if alive.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        alive = living_in_group(pgid);
    }
    assert_eq!(alive, Vec::<i32>::new(), "the hook's group lives on");
    let note = last_note(&env).expect("a note for the failed alerts");
    assert!(
        note.contains("on_success hook killed") && note.contains("webhook"),
        "{note}"
    );
    let data = dsp::paths::DataDir::new(env.data());
    let record = &dsp::engine::state::history(&data, "J").unwrap()[0];
    assert_eq!(record.summary.status, dsp::engine::RunStatus::Succeeded);
    assert!(
        record.log.iter().any(|l| l.message.contains("was killed")),
        "the warning is in the run's log"
    );

    // A failed run stays failed (exit 1) with a hook that fails itself.
    env.write(&workspace(
        &src,
        &tgt,
        "no_such_table",
        "on_failure = 'echo something broke >&2; exit 3'\n",
        "",
    ));
    let out = run(&env).await;
    out.assert_failed_naming(test, &["no_such_table"]);
    assert!(
        warnings(&out)
            .iter()
            .any(|l| l.contains("on_failure hook exited with status 3: something broke")),
        "{}",
        out.all()
    );
    let note = last_note(&env).unwrap();
    assert!(
        note.contains("on_failure hook exited with status 3"),
        "{note}"
    );
}

/// The processes of group `pgid` that still run (a zombie is dead: whoever
/// reaps orphans here may be slow to, or may never).
fn living_in_group(pgid: i32) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces.
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.get(2) == Some(&pgid.to_string().as_str()) && fields.first() != Some(&"Z") {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn the_loader_names_the_job_of_a_webhook_that_is_not_http() {
    let text = r#"
[[network]]
name = "A"
type = "sqlite"
database = "a.db"

[[schema]]
name = "S"
source_table = "t"
target_table = "t"
primary_key = "id"
columns = [{ source = "id", target = "id", type = "integer" }]

[[job]]
name = "Nightly"
source = "A"
target = "A"
schema = "S"
webhook = "ftp://user:hunter2@example.com/x"
"#;
    let err = dsp::workspace::load_str(text, Path::new("w.toml")).unwrap_err();
    let said = err.to_string();
    assert!(said.contains("job \"Nightly\" field `webhook`"), "{said}");
    assert!(said.contains("not an http:// or https:// URL"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");

    let err = dsp::workspace::load_str(
        &text
            .replace("webhook = \"ftp://user:hunter2@example.com/x\"", "")
            .replace("[[network]]", "[alerts]\non_falure = \"x\"\n\n[[network]]"),
        Path::new("w.toml"),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("[alerts] field `on_falure`: unknown key"),
        "{err}"
    );
}
