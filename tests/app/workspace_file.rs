//! The workspace file and `dsp check`: the seed example loads,
//! each kind of bad input is rejected with its field and line, a save keeps the
//! user's comments and is private to the user, and no secret is ever printed.

use std::path::{Path, PathBuf};
use std::process::Command;

use dsp::workspace::{self, ColumnType, EngineKind, Network, Secret, SyncMode};

use crate::support;

fn seed_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed.toml")
}

fn seed_text() -> String {
    std::fs::read_to_string(seed_path()).unwrap()
}

/// Runs `dsp check` on `text`, returning (exit code, stdout, stderr).
fn check(text: &str, envs: &[(&str, &str)]) -> (i32, String, String) {
    let dir = support::temp_dir();
    let file = dir.path().join("workspace.toml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(support::dsp_bin())
        .arg("check")
        .arg("--workspace")
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_no_panic(text: &str) {
    assert!(!text.contains("panicked"), "panic in output: {text}");
    assert!(
        !text.contains("RUST_BACKTRACE"),
        "backtrace hint in output: {text}"
    );
}

#[test]
fn seed_example_loads_as_the_guide_describes() {
    let ws = workspace::load(&seed_path()).expect("seed loads");
    assert_eq!(ws.networks.len(), 2);
    let src = ws.network("Production DB (Source)").unwrap();
    assert_eq!(src.kind, EngineKind::Postgres);
    assert_eq!(src.host.as_deref(), Some("prod-db.example.com"));
    assert_eq!(src.effective_port(), Some(5432));
    assert_eq!(src.database, "myapp_prod");
    assert_eq!(src.password_env.as_deref(), Some("PROD_DB_PASSWORD"));
    let schema = ws.schema("Users Sync Schema").unwrap();
    assert_eq!(schema.source_table, "users");
    assert_eq!(schema.target_table, "dim_users");
    assert_eq!(schema.primary_key, vec!["id"]);
    let targets: Vec<(&str, &str, ColumnType)> = schema
        .columns
        .iter()
        .map(|c| (c.source.as_str(), c.target.as_str(), c.ty))
        .collect();
    assert_eq!(
        targets,
        vec![
            ("id", "user_id", ColumnType::Integer),
            ("email", "email", ColumnType::String),
            ("name", "full_name", ColumnType::String),
            ("created_at", "created_at", ColumnType::Timestamp),
        ]
    );
    let job = ws.job("Sync Users to Analytics").unwrap();
    assert_eq!(job.mode, SyncMode::Full);
    assert_eq!(job.schedule.as_deref(), Some("0 0 * * *"));
    assert_eq!(job.batch_size(), 1000);
    assert_eq!(job.max_failed(), 0);
    assert_eq!(job.max_delete_percent(), 50.0);
}

/// A `password_env` that names an unset variable is valid as written, but
/// every run would fail to log in: `dsp check` says so, naming it.
#[test]
fn check_names_an_unset_password_variable() {
    let var = "DSP_TEST_SURELY_UNSET_PASSWORD_VARIABLE";
    let text = seed_text().replace("PROD_DB_PASSWORD", var);
    let (code, stdout, stderr) = check(&text, &[("ANALYTICS_DB_PASSWORD", "x")]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: network \"Production DB (Source)\": environment variable {var} (password_env) is not set"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("ANALYTICS_DB_PASSWORD"),
        "a set one is not named: {stderr}"
    );
}

/// Lookback defaults to none (docs/SPEC.md §4), which misses rows committed
/// late: `dsp check` warns for every incremental job without one, naming it,
/// and a lookback, or `0s` for none on purpose, silences it.
#[test]
fn check_warns_of_an_incremental_job_without_lookback() {
    let env = [("PROD_DB_PASSWORD", "x"), ("ANALYTICS_DB_PASSWORD", "x")];
    let warning = "warning: job \"Sync Users to Analytics\" is incremental without a lookback, \
         so rows committed late with an older cursor than the watermark are missed; \
         set e.g. lookback = \"1m\", or lookback = \"0s\" to say none on purpose";
    let incremental = seed_text().replace("mode = \"full\"", "mode = \"incremental\"");
    let (code, stdout, stderr) = check(&incremental, &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains(warning), "{stderr}");
    assert_eq!(
        stderr.matches("warning: job").count(),
        1,
        "one warning: {stderr}"
    );

    for lookback in ["0s", "1m"] {
        let text = incremental.replace(
            "mode = \"incremental\"",
            &format!("mode = \"incremental\"\nlookback = \"{lookback}\""),
        );
        let (code, stdout, stderr) = check(&text, &env);
        assert_eq!(code, 0, "{lookback}: {stdout}{stderr}");
        assert!(!stderr.contains("lookback"), "{lookback}: {stderr}");
    }
    // A full job reads everything: nothing to warn of.
    let (_, _, stderr) = check(&seed_text(), &env);
    assert!(!stderr.contains("lookback"), "{stderr}");
}

#[test]
fn check_accepts_the_seed_example() {
    let out = Command::new(support::dsp_bin())
        .args(["check", "--workspace"])
        .arg(seed_path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("valid (2 networks, 1 schema, 1 job)"),
        "{stdout}"
    );
}

#[test]
fn flags_work_before_and_after_the_subcommand_and_from_the_environment() {
    let before = Command::new(support::dsp_bin())
        .arg("--workspace")
        .arg(seed_path())
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(before.status.code(), Some(0));
    let env = Command::new(support::dsp_bin())
        .arg("check")
        .env("DSP_WORKSPACE", seed_path())
        .output()
        .unwrap();
    assert_eq!(
        env.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&env.stderr)
    );
}

/// Each bad input: the text to splice into the seed, and what the one error line
/// must say (line number and field included).
#[test]
fn each_kind_of_bad_input_names_its_line_and_field() {
    let seed = seed_text();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "syntax error",
            seed.replace(
                "port = 5432\ndatabase = \"myapp_prod\"",
                "port = 5432\ndatabase = \"myapp_prod",
            ),
            vec!["workspace.toml:10:", "invalid TOML"],
        ),
        (
            "unknown key",
            seed.replace("batch_size = 1000", "batch_size = 1000\nbatch_sise = 10"),
            vec![
                "workspace.toml:45:",
                "job \"Sync Users to Analytics\"",
                "field `batch_sise`",
                "unknown key",
            ],
        ),
        (
            "duplicate name",
            seed.replace(
                "name = \"Analytics DB (Target)\"",
                "name = \"Production DB (Source)\"",
            ),
            vec![
                "workspace.toml:16:",
                "network \"Production DB (Source)\"",
                "field `name`",
                "same name",
            ],
        ),
        (
            "dangling reference",
            seed.replace(
                "schema = \"Users Sync Schema\"",
                "schema = \"Orders Schema\"",
            ),
            vec![
                "workspace.toml:41:",
                "field `schema`",
                "no schema is named \"Orders Schema\"",
            ],
        ),
        (
            "invalid cron expression",
            seed.replace("schedule = \"0 0 * * *\"", "schedule = \"61 * * * *\""),
            vec!["workspace.toml:43:", "field `schedule`", "61 * * * *"],
        ),
        (
            "batch_size of zero",
            seed.replace("batch_size = 1000", "batch_size = 0"),
            vec!["workspace.toml:44:", "field `batch_size`", "out of range"],
        ),
        (
            "wrong type",
            seed.replace(
                "port = 5432\ndatabase = \"analytics\"",
                "port = \"5432\"\ndatabase = \"analytics\"",
            ),
            vec![
                "workspace.toml:19:",
                "network \"Analytics DB (Target)\"",
                "field `port`",
                "whole number",
            ],
        ),
        (
            "unknown engine",
            seed.replacen("type = \"postgresql\"", "type = \"oracle\"", 1),
            vec![
                "workspace.toml:7:",
                "field `type`",
                "\"oracle\" is not one of",
            ],
        ),
        (
            "primary key not mapped",
            seed.replace("primary_key = \"id\"", "primary_key = \"uuid\""),
            vec!["workspace.toml:28:", "field `primary_key`", "\"uuid\""],
        ),
    ];
    for (what, text, expect) in cases {
        let (code, stdout, stderr) = check(&text, &[]);
        assert_eq!(code, 2, "{what}: exit status; stderr: {stderr}");
        assert_no_panic(&stderr);
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        // Renaming the target network to a duplicate also leaves the job's
        // reference to the old name dangling: two true problems.
        let expected_lines = if what == "duplicate name" { 2 } else { 1 };
        assert_eq!(errors.len(), expected_lines, "{what}: got: {stderr}");
        for e in expect {
            assert!(errors[0].contains(e), "{what}: `{e}` not in: {}", errors[0]);
        }
        assert!(!stdout.contains("valid"), "{what}: {stdout}");
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = seed_text()
        .replace("batch_size = 1000", "batch_size = 0\ncolour = \"blue\"")
        .replace("schedule = \"0 0 * * *\"", "schedule = \"61 * * * *\"")
        .replace(
            "source = \"Production DB (Source)\"",
            "source = \"Nowhere\"",
        );
    let (code, _, stderr) = check(&text, &[]);
    assert_eq!(code, 2);
    for e in [
        "field `batch_size`",
        "field `colour`",
        "field `schedule`",
        "no network is named \"Nowhere\"",
    ] {
        assert!(stderr.contains(e), "`{e}` missing from: {stderr}");
    }
    assert!(stderr.contains("4 problems found"), "{stderr}");
}

#[test]
fn mariadb_is_an_alias_and_sqlite_paths_are_relative_to_the_workspace() {
    let text = r#"
[[network]]
name = "Maria"
type = "mariadb"
host = "db"
database = "shop"

[[network]]
name = "Local"
type = "sqlite"
database = "data/local.db"
"#;
    let ws = workspace::load_str(text, Path::new("/srv/dsp/workspace.toml")).unwrap();
    assert_eq!(ws.network("Maria").unwrap().kind, EngineKind::Mysql);
    assert_eq!(ws.network("Maria").unwrap().effective_port(), Some(3306));
    let local = ws.network("Local").unwrap();
    assert_eq!(ws.sqlite_path(local), Path::new("/srv/dsp/data/local.db"));
}

#[test]
fn composite_keys_and_incremental_rules() {
    let base = r#"
[[network]]
name = "A"
type = "sqlite"
database = "a.db"

[[schema]]
name = "S"
source_table = "t"
target_table = "t2"
primary_key = ["org_id", "id"]
columns = [
  { source = "org_id", target = "org_id", type = "integer" },
  { source = "id", target = "id", type = "integer" },
]

[[job]]
name = "J"
source = "A"
target = "A"
schema = "S"
mode = "incremental"
"#;
    let err = workspace::load_str(base, Path::new("w.toml")).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1, "{err}");
    assert!(
        err.to_string()
            .contains("incremental mode needs a cursor_column"),
        "{err}"
    );
    let ok = base.replace(
        "primary_key = [",
        "cursor_column = \"updated_at\"\nprimary_key = [",
    );
    let ws = workspace::load_str(&ok, Path::new("w.toml")).unwrap();
    assert_eq!(ws.schemas[0].primary_key, vec!["org_id", "id"]);
    assert_eq!(ws.schemas[0].cursor_column.as_deref(), Some("updated_at"));
}

#[test]
fn missing_file_is_an_empty_workspace_but_check_says_so() {
    let dir = support::temp_dir();
    let ws = workspace::load(&dir.path().join("none.toml")).unwrap();
    assert!(ws.networks.is_empty() && ws.jobs.is_empty());
    let out = Command::new(support::dsp_bin())
        .arg("check")
        .arg("--workspace")
        .arg(dir.path().join("none.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no workspace file at"));
}

#[test]
fn save_keeps_comments_and_ordering_and_is_private() {
    let dir = support::temp_dir();
    let file = dir.path().join("workspace.toml");
    let hand = seed_text().replace(
        "[[job]]",
        "# Nightly; ask the data team before changing.\n[[job]]",
    );
    std::fs::write(&file, &hand).unwrap();
    let mut ws = workspace::load(&file).unwrap();

    // Change one value of one entry, add a network.
    ws.jobs[0].batch_size = Some(5000);
    let mut extra = Network::new("Scratch", EngineKind::Sqlite, "scratch.db");
    extra.timezone = Some("Asia/Jakarta".into());
    ws.networks.push(extra);
    workspace::save(&ws, &file).unwrap();

    let saved = std::fs::read_to_string(&file).unwrap();
    for kept in [
        "# The example of the user guide \"Creating Sync Jobs\"",
        "# Nightly; ask the data team before changing.",
        "schedule = \"0 0 * * *\"     # daily at midnight",
        "{ source = \"id\",         target = \"user_id\",    type = \"integer\" },",
    ] {
        assert!(saved.contains(kept), "lost `{kept}` in:\n{saved}");
    }
    assert!(saved.contains("batch_size = 5000"), "{saved}");
    assert!(!saved.contains("batch_size = 1000"), "{saved}");
    // Entries keep their order; the new network follows the existing ones.
    let pos = |s: &str| {
        saved
            .find(s)
            .unwrap_or_else(|| panic!("`{s}` missing:\n{saved}"))
    };
    assert!(pos("Production DB (Source)") < pos("Analytics DB (Target)"));
    assert!(pos("Analytics DB (Target)") < pos("name = \"Scratch\""));

    let again = workspace::load(&file).unwrap();
    assert_eq!(again.networks.len(), 3);
    assert_eq!(again.jobs[0].batch_size, Some(5000));
    assert_eq!(
        again.network("Scratch").unwrap().timezone.as_deref(),
        Some("Asia/Jakarta")
    );
    assert_eq!(again.schemas, ws.schemas);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "workspace file mode {mode:o}");
    }
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn save_handles_rename_and_delete() {
    let dir = support::temp_dir();
    let file = dir.path().join("workspace.toml");
    std::fs::write(&file, seed_text()).unwrap();
    let mut ws = workspace::load(&file).unwrap();
    ws.networks[1].name = "Warehouse".into();
    ws.jobs[0].target = "Warehouse".into();
    workspace::save(&ws, &file).unwrap();
    let again = workspace::load(&file).unwrap();
    assert_eq!(again.networks[1].name, "Warehouse");
    assert_eq!(
        again.networks[1].host.as_deref(),
        Some("analytics-db.example.com")
    );
    assert_eq!(again.jobs[0].target, "Warehouse");

    ws.jobs.clear();
    ws.schemas.clear();
    workspace::save(&ws, &file).unwrap();
    let again = workspace::load(&file).unwrap();
    assert!(again.jobs.is_empty() && again.schemas.is_empty());
    assert_eq!(again.networks.len(), 2);
}

#[test]
fn a_new_file_is_created_private() {
    let dir = support::temp_dir();
    let file = dir.path().join("sub").join("workspace.toml");
    let mut ws = workspace::Workspace::default();
    ws.networks
        .push(Network::new("Local", EngineKind::Sqlite, "local.db"));
    workspace::save(&ws, &file).unwrap();
    let again = workspace::load(&file).unwrap();
    assert_eq!(again.networks[0].name, "Local");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn secrets_never_appear_in_output() {
    let secret = "Tr0ub4dor&3-horse";
    let env_secret = "correct-battery-staple-42";
    let text = seed_text()
        .replace(
            "password_env = \"PROD_DB_PASSWORD\"",
            &format!("password = \"{secret}\""),
        )
        // A broken reference makes check print errors about the same entries.
        .replace("schema = \"Users Sync Schema\"", "schema = \"Missing\"");
    let (code, stdout, stderr) = check(&text, &[("ANALYTICS_DB_PASSWORD", env_secret)]);
    assert_eq!(code, 2);
    let (code2, stdout2, stderr2) = check(
        &seed_text().replace(
            "password_env = \"PROD_DB_PASSWORD\"",
            &format!("password = \"{secret}\""),
        ),
        &[("ANALYTICS_DB_PASSWORD", env_secret)],
    );
    assert_eq!(code2, 0, "{stderr2}");
    assert!(
        stderr2.contains("stored in clear"),
        "literal password must be warned about: {stderr2}"
    );
    for out in [stdout, stderr, stdout2, stderr2] {
        assert!(
            !out.contains(secret) && !out.contains(env_secret),
            "secret leaked: {out}"
        );
    }
    let ws = workspace::load_str(
        &seed_text().replace(
            "password_env = \"PROD_DB_PASSWORD\"",
            &format!("password = \"{secret}\""),
        ),
        Path::new("w.toml"),
    )
    .unwrap();
    let debug = format!("{ws:?}");
    assert!(
        !debug.contains(secret),
        "Debug of the workspace leaks: {debug}"
    );
    assert_eq!(ws.networks[0].password, Some(Secret::new(secret)));
}

/// Mappings the target engine cannot hold are workspace errors, so that
/// `dsp check` (and `--connect`) does not call ready what the run then fails
/// on: a JSON key, column names differing only in case on MySQL or SQLite, an
/// emoji in a MySQL name.
#[test]
fn mappings_the_target_engine_cannot_hold_are_refused_by_check() {
    let seed = seed_text();
    let on_mysql = |text: &str| {
        text.replacen(
            "name = \"Analytics DB (Target)\"\ntype = \"postgresql\"",
            "name = \"Analytics DB (Target)\"\ntype = \"mysql\"",
            1,
        )
    };
    let load = |text: &str| {
        workspace::load_str(text, std::path::Path::new("w.toml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let json_key = seed.replace(
        r#"{ source = "id",         target = "user_id",    type = "integer" }"#,
        r#"{ source = "id",         target = "user_id",    type = "json" }"#,
    );
    assert!(
        load(&json_key).contains("is mapped as json"),
        "{}",
        load(&json_key)
    );

    let cased = seed.replace(r#"target = "created_at""#, r#"target = "Full_Name""#);
    assert!(
        load(&on_mysql(&seed)).is_empty(),
        "{}",
        load(&on_mysql(&seed))
    );
    assert_eq!(load(&cased), "", "PostgreSQL keeps both names apart");
    let e = load(&on_mysql(&cased));
    assert!(
        e.contains("\"full_name\" and \"Full_Name\"") && e.contains("mysql"),
        "{e}"
    );

    let emoji = on_mysql(&seed.replace(
        r#"target_table = "dim_users""#,
        r#"target_table = "dim_users_📈""#,
    ));
    let e = load(&emoji);
    assert!(e.contains("dim_users_📈") && e.contains("emoji"), "{e}");
}

/// `state` on a network and on a job: the job's own wins, a network's
/// applies to every job writing to it, the data dir is the default; a save
/// keeps both, and keeps a file that sets neither byte for byte.
#[test]
fn state_in_the_target_loads_resolves_and_round_trips() {
    let dir = support::temp_dir();
    let file = dir.path().join("workspace.toml");
    let plain = seed_text();
    std::fs::write(&file, &plain).unwrap();
    let ws = workspace::load(&file).unwrap();
    assert!(
        ws.jobs
            .iter()
            .all(|j| ws.state_of(j) == workspace::StateStore::DataDir)
    );
    workspace::save(&ws, &file).unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), plain);

    let mut ws = ws;
    let target = ws.jobs[0].target.clone();
    ws.networks
        .iter_mut()
        .find(|n| n.name == target)
        .unwrap()
        .state = Some(workspace::StateStore::Target);
    assert_eq!(ws.state_of(&ws.jobs[0]), workspace::StateStore::Target);
    ws.jobs[0].state = Some(workspace::StateStore::DataDir);
    assert_eq!(ws.state_of(&ws.jobs[0]), workspace::StateStore::DataDir);
    workspace::save(&ws, &file).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("state = \"target\"") && text.contains("state = \"data_dir\""));
    let again = workspace::load(&file).unwrap();
    assert_eq!(again, ws);
}
