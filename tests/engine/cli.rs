//! `dsp run` as an operator meets it: the log it prints and its exit status,
//! usage errors before any database is touched, and SQLite files resolved
//! against the workspace and left untouched as sources.

use std::path::Path;
use std::time::Duration;

use crate::seed::*;
use crate::small_job::*;
use crate::support;
use crate::support::cli::*;
use crate::support::end::{End, lite_pool};
use crate::support::workspace::{SchemaJob, WorkspaceToml};

fn dsp_run(ws: &std::path::Path, data: &std::path::Path, jobs: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(support::dsp_bin())
        .arg("run")
        .args(jobs)
        .arg("--workspace")
        .arg(ws)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn dsp_run_prints_the_log_and_exits_by_outcome() {
    let dir = support::temp_dir();
    let src = support::sqlite_path(&dir, "src");
    let o = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&src)
        .create_if_missing(true);
    let p = sqlx::SqlitePool::connect_with(o).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT, created_at TEXT, updated_at TEXT, score TEXT); \
         WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 2500) \
         INSERT INTO users SELECT n, 'u' || n || '@example.com', 'Name ' || n, '2024-01-01 10:00:00', \
         '2024-01-02 00:00:00', n FROM g;",
    )
    .execute(&p)
    .await
    .unwrap();
    p.close().await;
    let ws = dir.path().join("workspace.toml");
    std::fs::write(
        &ws,
        r#"
[[network]]
name = "Src"
type = "sqlite"
database = "src.db"

[[network]]
name = "Tgt"
type = "sqlite"
database = "out/target.db"

[[schema]]
name = "Users Sync Schema"
source_table = "users"
target_table = "dim_users"
primary_key = "id"
columns = [
  { source = "id", target = "user_id", type = "integer" },
  { source = "email", target = "email", type = "string" },
  { source = "name", target = "full_name", type = "string" },
  { source = "created_at", target = "created_at", type = "timestamp" },
]

[[schema]]
name = "Broken"
source_table = "no_such_table"
target_table = "x"
primary_key = "id"
columns = [{ source = "id", target = "id", type = "integer" }]

[[job]]
name = "Sync Users to Analytics"
source = "Src"
target = "Tgt"
schema = "Users Sync Schema"
mode = "full"

[[job]]
name = "Broken job"
source = "Src"
target = "Tgt"
schema = "Broken"
"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    let data = dir.path().join("data");

    let (code, out, err) = dsp_run(&ws, &data, &[JOB]);
    assert_eq!(code, 0, "{out}\n{err}");
    // Not on a terminal, every line says when and which job; the rest is the seed's.
    let lines: Vec<&str> = out
        .lines()
        .map(|l| match split_prefixed(l) {
            Some((_, job, seed)) if job == JOB => seed,
            _ => panic!("no time and job prefix on {l:?}\n{out}"),
        })
        .collect();
    assert_eq!(
        lines[0],
        "[INFO] Starting sync job: Sync Users to Analytics"
    );
    assert!(lines.contains(&"[INFO] Total records: 2,500"), "{out}");
    assert!(
        lines.contains(&"[INFO] Processing batch 3/3 (500 records)"),
        "{out}"
    );
    assert_eq!(
        lines.last(),
        Some(&"[INFO] Sync completed. Total: 2,500, Success: 2,500, Failed: 0")
    );

    let (code, out, err) = dsp_run(&ws, &data, &["Broken job", JOB]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("[ERROR]") && out.contains("no_such_table"),
        "{out}"
    );
    assert!(
        err.contains("Broken job") && !err.contains("panicked"),
        "{err}"
    );
    // The second job still ran: a re-sync of an unchanged table, so the
    // differential path read nothing and found every row unchanged.
    assert!(
        out.contains("Changes: 0 inserted, 0 updated, 0 deleted, 2,500 unchanged")
            && out.contains("Sync completed. Total: 0, Success: 0, Failed: 0"),
        "{out}"
    );

    let (code, out, err) = dsp_run(&ws, &data, &["No such job"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("No such job") && out.is_empty(), "{err}");

    std::fs::write(&ws, "[[network]]\nname = 1\n").unwrap();
    let (code, _, err) = dsp_run(&ws, &data, &[JOB]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn an_unknown_job_is_a_usage_error() {
    let env = Env::new();
    env.write(&sqlite_only_workspace(&env));
    let out = env.dsp(&["run", "No Such Job"], &[]);
    out.assert_no_panic("unknown job");
    assert_eq!(out.code, 2, "unknown job\n{}", out.all());
    assert!(
        out.stderr.contains("No Such Job"),
        "unknown job\n{}",
        out.all()
    );
    // Nothing was touched: the SQLite files were not even created.
    assert!(!env.sqlite("s").exists() && !env.sqlite("t").exists());

    // A known job listed before an unknown one does not run either.
    let out = env.dsp(&["run", "J", "No Such Job"], &[]);
    out.assert_no_panic("known then unknown job");
    assert_eq!(out.code, 2, "known then unknown job\n{}", out.all());
    assert!(
        !env.sqlite("t").exists(),
        "job J ran before the unknown name was refused"
    );

    // No job at all, and a workspace file that does not exist.
    let out = env.dsp(&["run"], &[]);
    out.assert_no_panic("no job named");
    assert_eq!(out.code, 2, "no job named\n{}", out.all());
    std::fs::remove_file(env.ws()).unwrap();
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic("missing workspace file");
    assert_eq!(out.code, 2, "missing workspace file\n{}", out.all());
    assert!(
        out.stderr.contains("no workspace file at")
            && out.stderr.contains(&env.ws().display().to_string()),
        "missing workspace file\n{}",
        out.all()
    );
}

#[test]
fn a_malformed_workspace_is_a_usage_error_with_its_line() {
    let env = Env::new();
    let good = sqlite_only_workspace(&env);
    let line_of =
        |text: &str, needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let broken_syntax = good.replace("batch_size = 1000", "batch_size = = 1000");
    let broken_value = good.replace("batch_size = 1000", "batch_size = 0");
    let unknown_key = good.replace("batch_size = 1000", "batch_size = 1000\nbatch_sise = 5");
    for (what, text, needle) in [
        ("syntax error", broken_syntax, "batch_size = = 1000"),
        ("batch_size 0", broken_value, "batch_size = 0"),
        ("unknown key", unknown_key, "batch_sise"),
    ] {
        env.write(&text);
        let line = line_of(&text, needle);
        let out = env.dsp(&["run", "J"], &[]);
        out.assert_no_panic(what);
        assert_eq!(out.code, 2, "{what}\n{text}\n{}", out.all());
        let ws = env.ws().display().to_string();
        assert!(
            out.stderr.contains(&format!("{ws}:{line}"))
                || out.stderr.contains(&format!("line {line}")),
            "{what}: stderr does not give line {line} of {ws}\n{}",
            out.all()
        );
        assert!(!env.sqlite("t").exists(), "{what}: a database was touched");
    }
}

/// A missing SQLite source file is an error naming the network, and is not
/// created; relative paths are resolved against the workspace file, not the
/// current directory; a run leaves the source file byte for byte as it was.
#[tokio::test]
async fn sqlite_files_missing_relative_and_untouched() {
    let env = Env::new();
    std::fs::create_dir_all(env.dir.path().join("dbs")).unwrap();
    let rel = |name: &str| format!("dbs/{name}.db");
    let text = WorkspaceToml::new()
        .sqlite("Lite Source", Path::new(&rel("src")))
        .sqlite("Target", Path::new(&rel("dst")))
        .schema_job(
            &SchemaJob::new("src", "dst")
                .batch_size(2)
                .source("Lite Source"),
        )
        .build();
    env.write(&text);
    let src_path = env.dir.path().join(rel("src"));

    // Run from another directory: the relative paths must not follow it.
    let elsewhere = support::temp_dir();
    let mut cmd = env.command(&["run", "J"], &[]);
    cmd.current_dir(elsewhere.path());
    let out = cmd.output().unwrap();
    let out = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: Duration::ZERO,
    };
    out.assert_failed_naming("missing SQLite source", &["Lite Source"]);
    assert!(!src_path.exists(), "the missing source file was created");
    assert!(
        std::fs::read_dir(elsewhere.path())
            .unwrap()
            .next()
            .is_none(),
        "files were created in the current directory"
    );

    // Now with a source file, in rollback-journal mode as SQLite creates it.
    let pool = lite_pool(&src_path).await;
    sqlx::raw_sql(
        "CREATE TABLE src (id INTEGER PRIMARY KEY, v TEXT, n INTEGER); \
         INSERT INTO src VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4), (5, 'e', 5);",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let before = std::fs::read(&src_path).unwrap();
    let siblings = |dir: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let mut cmd = env.command(&["run", "J"], &[]);
    cmd.current_dir(elsewhere.path());
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read(&src_path).unwrap() == before,
        "the run changed the source file"
    );
    assert_eq!(
        siblings(&env.dir.path().join("dbs")),
        vec!["dst.db".to_string(), "src.db".to_string()],
        "journal or WAL files were left beside the databases"
    );
    let t = End::Lite(
        env.dir.path().join(rel("dst")),
        lite_pool(&env.dir.path().join(rel("dst"))).await,
    );
    assert_eq!(t.dump("dst").await.len(), 5);
}
