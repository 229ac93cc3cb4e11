//! The operator's commands (issue 16): `dsp list` and `dsp history` agree with
//! the history files, `dsp run --all`, `--full-refresh` and `dsp reset` each do
//! what they say and are recorded, and `dsp run --json` is JSON Lines whose
//! counts are the target's rows.

use std::path::Path;

use serde_json::Value;

use crate::small_job::*;
use crate::support;
use crate::support::cli::*;
use crate::support::end::{End, Kind};

/// Every line of `text` as a JSON value; a line that does not parse fails.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

fn one_json(out: &Out, what: &str) -> Value {
    assert_eq!(out.code, 0, "{what}\n{}", out.all());
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{what}: {e}\n{}", out.all()))
}

/// A job's history files, newest first, as written.
fn history_files(env: &Env, job: &str) -> Vec<Value> {
    let dir = dsp::paths::DataDir::new(env.data())
        .job_dir(job)
        .join("history");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.reverse();
    files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect()
}

/// The same instant, written by the history file and by the command.
fn same_time(a: &Value, b: &Value) -> bool {
    let t = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or("")).ok();
    t(a).is_some() && t(a) == t(b)
}

/// SQLite: a source `src` of (id, v, n, updated_at), and jobs `Inc`
/// (incremental, scheduled), `Full` and `Broken` (its table is missing).
async fn three_jobs(env: &Env) -> End {
    let src = End::new(Kind::Lite, "", &env.dir, "src").await.unwrap();
    src.exec(
        "CREATE TABLE src (id INTEGER PRIMARY KEY, v TEXT, n INTEGER, updated_at TEXT); \
         WITH RECURSIVE g(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM g WHERE k < 1500) \
         INSERT INTO src SELECT k, 'v' || k, k, '2024-01-01 00:00:00' FROM g;",
    )
    .await;
    let schema = |name: &str, table: &str, target: &str| {
        format!(
            "[[schema]]\nname = \"{name}\"\nsource_table = \"{table}\"\ntarget_table = \"{target}\"\n\
             primary_key = \"id\"\ncursor_column = \"updated_at\"\ncolumns = [\n{COLS}\n  \
             {{ source = \"updated_at\", target = \"updated_at\", type = \"timestamp\" }},\n]\n"
        )
    };
    let job = |name: &str, schema: &str, extra: &str| {
        format!(
            "[[job]]\nname = \"{name}\"\nsource = \"Source\"\ntarget = \"Target\"\n\
             schema = \"{schema}\"\n{extra}\n"
        )
    };
    env.write(
        &[
            src.network_toml("Source"),
            support::workspace::sqlite_network_toml("Target", &env.sqlite("t")),
            schema("S", "src", "inc_copy"),
            schema("F", "src", "full_copy"),
            schema("B", "no_such_table", "b_copy"),
            job(
                "Inc",
                "S",
                "mode = \"incremental\"\nschedule = \"0 0 * * *\"",
            ),
            job("Full", "F", "mode = \"full\""),
            job("Broken", "B", ""),
        ]
        .join("\n"),
    );
    src
}

#[tokio::test]
async fn list_and_history_agree_with_the_history_files() {
    let env = Env::new();
    let _src = three_jobs(&env).await;

    let out = env.dsp(&["run", "--all"], &[]);
    out.assert_failed_naming("run --all", &["Broken", "no_such_table"]);
    // Every job ran, in the workspace's order, each line saying which.
    let starts: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(split_prefixed)
        .filter(|(_, _, l)| l.starts_with("[INFO] Starting sync job"))
        .map(|(_, job, _)| job)
        .collect();
    assert_eq!(starts, ["Inc", "Full", "Broken"], "{}", out.all());
    let again = env.dsp(&["run", "Inc"], &[]);
    assert_eq!(again.code, 0, "{}", again.all());

    let list = one_json(&env.dsp(&["list", "--json"], &[]), "list --json");
    let rows = list.as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["job"].as_str().unwrap()).collect();
    assert_eq!(names, ["Inc", "Full", "Broken"]);
    for row in rows {
        let job = row["job"].as_str().unwrap();
        let newest = &history_files(&env, job)[0];
        assert_eq!(row["last_status"], newest["status"], "{job}: {row}");
        assert!(
            same_time(&row["last_run"], &newest["started"]),
            "{job}: {row}\n{newest}"
        );
        assert_eq!(row["mode"], newest["mode"], "{job}");
    }
    assert_eq!(rows[2]["last_status"], "failed");
    let next = chrono::DateTime::parse_from_rfc3339(rows[0]["next_run"].as_str().unwrap()).unwrap();
    assert!(next > chrono::Utc::now(), "{}", rows[0]);
    assert_eq!(rows[1]["next_run"], Value::Null, "Full has no schedule");

    let history = one_json(
        &env.dsp(&["history", "Inc", "--json"], &[]),
        "history --json",
    );
    let files = history_files(&env, "Inc");
    let runs = history.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs.len(), files.len());
    for (run, file) in runs.iter().zip(&files) {
        for field in [
            "status", "mode", "total", "success", "failed", "error", "trigger",
        ] {
            assert_eq!(run[field], file[field], "{field}: {run}\n{file}");
        }
        assert!(same_time(&run["started"], &file["started"]), "{run}");
        assert_eq!(run["trigger"], "manual");
    }
    // The table form says the same.
    let table = env.dsp(&["history", "Inc"], &[]);
    assert_eq!(table.code, 0, "{}", table.all());
    assert!(
        table
            .stdout
            .lines()
            .nth(1)
            .unwrap()
            .contains("succeeded  1,500"),
        "{}",
        table.stdout
    );

    // A run recorded by an older DSP (no trigger, no note) still loads.
    let old = files[0].as_object().unwrap().clone();
    let mut old = Value::Object(old);
    old.as_object_mut().unwrap().remove("trigger");
    old["started"] = Value::from("2020-01-01T00:00:00Z");
    let dir = dsp::paths::DataDir::new(env.data())
        .job_dir("Inc")
        .join("history");
    std::fs::write(dir.join("20200101T000000.000000000Z.json"), old.to_string()).unwrap();
    let history = one_json(&env.dsp(&["history", "Inc", "--json"], &[]), "old record");
    assert_eq!(history.as_array().unwrap().len(), 3);
    assert_eq!(history[2]["trigger"], Value::Null);

    let out = env.dsp(&["history", "Nope"], &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("\"Nope\""), "{}", out.all());
    // --all and named jobs together is a usage error.
    assert_eq!(env.dsp(&["run", "--all", "Inc"], &[]).code, 2);
}

/// Sets the stored watermark of `job` to `value`, as a wrong one would be.
fn set_watermark(data: &Path, job: &str, value: &str) {
    let file = dsp::paths::DataDir::new(data)
        .job_dir(job)
        .join("watermark");
    let mut stored: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    stored["value"] = Value::from(value);
    std::fs::write(&file, stored.to_string()).unwrap();
}

fn watermark(env: &Env, job: &str) -> Option<String> {
    dsp::engine::state::read_watermark(&dsp::paths::DataDir::new(env.data()), job).unwrap()
}

/// The `finished` event of a `dsp run --json`, after checking that every line
/// parses, that `started` comes first with its total, and `finished` last.
fn finished_event(out: &Out) -> Value {
    let events = json_lines(&out.stdout);
    assert!(!events.is_empty(), "{}", out.all());
    for e in &events {
        assert!(e["event"].is_string() && e["at"].is_string(), "{e}");
    }
    let started: Vec<&Value> = events.iter().filter(|e| e["event"] == "started").collect();
    assert_eq!(started.len(), 1, "{}", out.all());
    let last = events.last().unwrap().clone();
    assert_eq!(last["event"], "finished", "{}", out.all());
    assert_eq!(started[0]["total"], last["total"], "{}", out.all());
    last
}

/// PostgreSQL to MariaDB: a wrong watermark hides rows from an incremental
/// run; `--full-refresh` brings them and sets the watermark from the rows it
/// read; `dsp reset` refuses without a terminal, then with `--yes` forgets the
/// watermark so the next run reads every row. Each is in the history.
#[tokio::test]
async fn full_refresh_and_reset_bring_back_what_a_wrong_watermark_hid() {
    let test = "ops_full_refresh_reset";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, test, &env.dir, "s").await else {
        return;
    };
    let Some(dst) = End::new(Kind::My, test, &env.dir, "t").await else {
        return;
    };
    src.exec(
        "CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, n BIGINT, updated_at TIMESTAMP NOT NULL); \
         INSERT INTO src SELECT k, 'v' || k, k, TIMESTAMP '2024-01-01' + k * INTERVAL '1 second' \
         FROM generate_series(1, 300) k;",
    )
    .await;
    let schema = schema_job("src", "dst", 100, COLS)
        .replace(
            "primary_key = \"id\"",
            "primary_key = \"id\"\ncursor_column = \"updated_at\"",
        )
        .replace("mode = \"full\"", "mode = \"incremental\"")
        .replace(
            "\n]\n",
            "\n  { source = \"updated_at\", target = \"updated_at\", type = \"timestamp\" },\n]\n",
        );
    env.write(&format!(
        "{}\n{}\n{schema}",
        src.network_toml("Source"),
        dst.network_toml("Target")
    ));
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    let good = watermark(&env, "J").unwrap();
    assert!(
        good.contains("2024-01-01") && good.contains("00:05:00"),
        "{good}"
    );

    // Rows the wrong watermark hides: changed and new, dated before it.
    src.exec("UPDATE src SET v = 'changed' WHERE id <= 10; INSERT INTO src VALUES (301, 'new', 1, '2024-01-01')")
        .await;
    set_watermark(&env.data(), "J", "2030-01-01 00:00:00");
    let out = env.dsp(&["run", "J", "--json"], &[]);
    assert_eq!(finished_event(&out)["total"], 0, "{}", out.all());
    assert_ne!(dst.dump("dst").await, src.dump("src").await);

    let out = env.dsp(&["run", "--full-refresh", "J", "--json"], &[]);
    let done = finished_event(&out);
    assert_eq!(
        (done["status"].as_str(), done["total"].as_u64()),
        (Some("succeeded"), Some(301))
    );
    assert_eq!(dst.dump("dst").await, src.dump("src").await);
    assert_eq!(
        watermark(&env, "J").as_deref(),
        Some(good.as_str()),
        "set from this run"
    );
    let newest = &history_files(&env, "J")[0];
    assert!(
        newest["note"]
            .as_str()
            .unwrap_or("")
            .contains("full refresh"),
        "{newest}"
    );

    // No terminal, no --yes: refused, nothing forgotten.
    let out = env.dsp(&["reset", "J"], &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("--yes"), "{}", out.all());
    assert_eq!(watermark(&env, "J").as_deref(), Some(good.as_str()));
    let out = env.dsp(&["reset", "J", "--yes"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(watermark(&env, "J"), None);
    let newest = &history_files(&env, "J")[0];
    assert_eq!(newest["trigger"], "reset", "{newest}");
    assert_eq!(env.dsp(&["reset", "Nope", "--yes"], &[]).code, 2);

    // The next run reads every row again, and counts what the target holds.
    dst.exec("DELETE FROM dst WHERE id > 290").await;
    let out = env.dsp(&["run", "J", "--json"], &[]);
    let done = finished_event(&out);
    assert_eq!(done["total"], 301, "{}", out.all());
    let rows = dst.dump("dst").await;
    assert_eq!(done["success"], rows.len() as u64);
    assert_eq!(rows, src.dump("src").await);
    // `dsp list` shows that run, not the reset.
    let list = one_json(&env.dsp(&["list", "--json"], &[]), "list");
    assert!(
        same_time(&list[0]["last_run"], &done["started"]),
        "{list}\n{done}"
    );
}

/// `dsp run --json`: every line is an object, batches count
/// up, and the finished counts are what the target holds.
#[tokio::test]
async fn run_json_counts_are_the_targets_rows() {
    let test = "ops_run_json";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, test, &env.dir, "s").await else {
        return;
    };
    let Some(dst) = End::new(Kind::Pg, test, &env.dir, "t").await else {
        return;
    };
    src.exec(
        "CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, n BIGINT); \
         INSERT INTO src SELECT k, 'v' || k, k FROM generate_series(1, 2500) k;",
    )
    .await;
    env.write(&format!(
        "{}\n{}\n{}",
        src.network_toml("Source"),
        dst.network_toml("Target"),
        schema_job("src", "dst", 1000, COLS)
    ));
    let out = env.dsp(&["run", "--json", "J"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    let events = json_lines(&out.stdout);
    let done = finished_event(&out);
    let batches: Vec<u64> = events
        .iter()
        .filter(|e| e["event"] == "batch")
        .map(|e| e["done"].as_u64().unwrap())
        .collect();
    assert!(!batches.is_empty() && batches.is_sorted(), "{batches:?}");
    assert_eq!(batches.last(), Some(&2500));
    assert!(events.iter().all(|e| e["job"] == "J"), "{}", out.stdout);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "log" && e["level"] == "INFO")
    );
    let rows = dst.dump("dst").await;
    assert_eq!(done["total"], 2500);
    assert_eq!(done["success"], rows.len() as u64);
    assert_eq!(done["failed"], 0);
    assert_eq!(rows, src.dump("src").await);
}

/// Runs `dsp ARGS` on a pseudo-terminal (util-linux `script`), `input` typed
/// on it; `None` where `script` is missing.
fn on_terminal(env: &Env, args: &str, input: &str) -> Option<(i32, String)> {
    use std::io::Write;
    let line = format!(
        "'{}' --workspace '{}' --data-dir '{}' {args}",
        support::dsp_bin().display(),
        env.ws().display(),
        env.data().display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    Some((out.status.code().unwrap_or(-1), text))
}

/// On a terminal: the seed's lines as they are, a progress line rewritten in
/// place beside them; `dsp reset` asks, Enter (the default) keeps the
/// watermark, `y` forgets it.
#[tokio::test]
async fn a_terminal_gets_the_seed_lines_a_live_line_and_a_question() {
    let env = Env::new();
    let _src = three_jobs(&env).await;
    let Some((code, text)) = on_terminal(&env, "run Inc", "") else {
        support::skip_tool("a_terminal_gets", "no `script` to make a terminal");
        return;
    };
    assert_eq!(code, 0, "{text}");
    let erase = "\x1b[K";
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.rsplit(erase).next().unwrap())
        .collect();
    assert_eq!(lines[0], "[INFO] Starting sync job: Inc", "{text:?}");
    assert!(
        lines.contains(&"[INFO] Sync completed. Total: 1,500, Success: 1,500, Failed: 0"),
        "{text:?}"
    );
    assert!(
        text.contains(&format!("{erase}Inc: 1,500/1,500 records (100%), ")),
        "{text:?}"
    );
    assert!(watermark(&env, "Inc").is_some());

    let (code, text) = on_terminal(&env, "reset Inc", "\n").unwrap();
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("[y/N]") && text.contains("nothing changed"),
        "{text}"
    );
    assert!(
        watermark(&env, "Inc").is_some(),
        "Enter keeps the watermark"
    );
    let (code, text) = on_terminal(&env, "reset Inc", "y\n").unwrap();
    assert_eq!(code, 0, "{text}");
    assert_eq!(watermark(&env, "Inc"), None);
}
