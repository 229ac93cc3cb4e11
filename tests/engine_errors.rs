//! Bad input through the real `dsp` binary (and the engine for cancel): wrong
//! passwords, unreachable servers, missing tables and columns, type mismatches,
//! unknown jobs, malformed workspace files, secrets, a SIGKILL mid-run, a cancel
//! and a second concurrent run. Each must be one clear message with the right
//! exit status (SPEC §3), no panic or backtrace, and a target left exactly as it
//! was before the failed run.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dsp::engine::progress::{ProgressEvent, Reporter, RunStatus};
use dsp::engine::runner::run_job;
use dsp::paths::DataDir;
use sqlx::Row;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------
// Running the binary

/// A temp dir holding the workspace file, the data dir and any SQLite files.
struct Env {
    dir: tempfile::TempDir,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Out {
    fn all(&self) -> String {
        format!(
            "--- stdout ---\n{}--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }

    /// No Rust panic or backtrace text, whatever happened.
    fn assert_no_panic(&self, what: &str) {
        for bad in [
            "panicked",
            "RUST_BACKTRACE",
            "stack backtrace",
            "internal error in DSP",
        ] {
            assert!(
                !self.stdout.contains(bad) && !self.stderr.contains(bad),
                "{what}: output contains {bad:?}\n{}",
                self.all()
            );
        }
    }

    /// The run failed with exit 1 and said so in an `[ERROR]` line or on stderr,
    /// mentioning every one of `names`.
    fn assert_failed_naming(&self, what: &str, names: &[&str]) {
        self.assert_no_panic(what);
        assert_eq!(self.code, 1, "{what}: exit status\n{}", self.all());
        let said: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| l.contains("[ERROR]"))
            .chain(self.stderr.lines().filter(|l| !l.trim().is_empty()))
            .collect();
        assert!(
            !said.is_empty(),
            "{what}: no error was printed\n{}",
            self.all()
        );
        for n in names {
            assert!(
                said.iter().any(|l| l.contains(n)),
                "{what}: no error line names {n:?}\n{}",
                self.all()
            );
        }
    }
}

impl Env {
    fn new() -> Env {
        Env {
            dir: support::temp_dir(),
        }
    }
    fn ws(&self) -> PathBuf {
        self.dir.path().join("workspace.toml")
    }
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn sqlite(&self, name: &str) -> PathBuf {
        support::sqlite_path(&self.dir, name)
    }
    fn write(&self, toml: &str) {
        std::fs::write(self.ws(), toml).unwrap();
    }

    fn command(&self, args: &[&str], envs: &[(&str, &str)]) -> Command {
        let mut c = Command::new(support::dsp_bin());
        c.arg("--workspace")
            .arg(self.ws())
            .arg("--data-dir")
            .arg(self.data())
            .args(args)
            // A backtrace must not appear even when the operator asked for one.
            .env("RUST_BACKTRACE", "1")
            .env_remove("DSP_WORKSPACE")
            .env_remove("DSP_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            c.env(k, v);
        }
        c
    }

    /// Runs `dsp` to its end (killed, and the test failed, after 120 s).
    fn dsp(&self, args: &[&str], envs: &[(&str, &str)]) -> Out {
        let start = Instant::now();
        let mut child = self.command(args, envs).spawn().expect("start dsp");
        let out = drain(&mut child);
        let deadline = start + Duration::from_secs(120);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("dsp {args:?} did not finish within 120 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = start.elapsed();
        let (stdout, stderr) = out.join().unwrap();
        Out {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
            elapsed,
        }
    }

    /// Every file under the data dir, for secret scanning.
    fn data_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(p: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            let Ok(rd) = std::fs::read_dir(p) else {
                return;
            };
            for e in rd.flatten() {
                let path = e.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    out.push((path, bytes));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data(), &mut out);
        out
    }

    /// `secret` is in no output and no file under the data dir.
    fn assert_secret_kept(&self, out: &Out, secret: &str, what: &str) {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{what}: the password {secret:?} was printed\n{}",
            out.all()
        );
        let files = self.data_files();
        for (path, bytes) in &files {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{what}: the password {secret:?} was written to {}",
                path.display()
            );
        }
    }
}

/// Reads a child's stdout and stderr on threads, so that neither pipe fills.
fn drain(child: &mut Child) -> std::thread::JoinHandle<(String, String)> {
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = se.read_to_string(&mut s);
            s
        });
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        (s, err.join().unwrap_or_default())
    })
}

// ---------------------------------------------------------------------------
// Databases

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pg,
    My,
    Lite,
}

enum End {
    Pg(support::TestDb, sqlx::PgPool),
    My(support::TestDb, sqlx::MySqlPool),
    Lite(PathBuf, sqlx::SqlitePool),
}

impl End {
    async fn new(kind: Kind, test: &str, env: &Env, file: &str) -> Option<End> {
        Some(match kind {
            Kind::Pg => {
                let db = support::pg_db(test).await?;
                let pool = db.pool_pg().await;
                End::Pg(db, pool)
            }
            Kind::My => {
                let db = support::mysql_db(test).await?;
                let pool = db.pool_mysql().await;
                End::My(db, pool)
            }
            Kind::Lite => {
                let path = env.sqlite(file);
                End::Lite(path.clone(), lite_pool(&path).await)
            }
        })
    }

    fn kind(&self) -> Kind {
        match self {
            End::Pg(..) => Kind::Pg,
            End::My(..) => Kind::My,
            End::Lite(..) => Kind::Lite,
        }
    }

    fn network_toml(&self, name: &str) -> String {
        match self {
            End::Pg(db, _) | End::My(db, _) => db.network_toml(name),
            End::Lite(path, _) => format!(
                "[[network]]\nname = \"{name}\"\ntype = \"sqlite\"\ndatabase = \"{}\"\n",
                path.display()
            ),
        }
    }

    async fn exec(&self, sql: &str) {
        let r = match self {
            End::Pg(_, p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
            End::My(_, p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
            End::Lite(_, p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
        };
        if let Err(e) = r {
            panic!("{:?}: {sql}: {e}", self.kind());
        }
    }

    /// The user tables of the database, sorted: a failed run leaves no new ones.
    async fn tables(&self) -> Vec<String> {
        let mut t: Vec<String> = match self {
            End::Pg(_, p) => sqlx::query_scalar(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables \
                 WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
            )
            .fetch_all(p)
            .await
            .unwrap(),
            End::My(_, p) => sqlx::query_scalar(
                "SELECT CONVERT(table_name USING utf8mb4) FROM information_schema.tables \
                 WHERE table_schema = DATABASE()",
            )
            .fetch_all(p)
            .await
            .unwrap(),
            End::Lite(path, _) => {
                // A fresh connection, as the next DSP run would open it.
                let p = lite_pool(path).await;
                let t = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .fetch_all(&p)
                    .await
                    .unwrap();
                p.close().await;
                t
            }
        };
        t.sort();
        t
    }

    /// `SELECT id, v, n FROM table ORDER BY id`.
    async fn dump(&self, table: &str) -> Vec<(i64, Option<String>, Option<i64>)> {
        let sql = format!("SELECT id, v, CAST(n AS BIGINT) FROM {table} ORDER BY id");
        let conv = |id, v, n| (id, v, n);
        match self {
            End::Pg(_, p) => sqlx::query(&sql)
                .fetch_all(p)
                .await
                .unwrap()
                .iter()
                .map(|r| conv(r.get(0), r.get(1), r.get(2)))
                .collect(),
            End::My(_, p) => {
                let sql = format!(
                    "SELECT id, CONVERT(v USING utf8mb4), CAST(n AS SIGNED) FROM {table} ORDER BY id"
                );
                sqlx::query(&sql)
                    .fetch_all(p)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| conv(r.get(0), r.get(1), r.get(2)))
                    .collect()
            }
            End::Lite(path, _) => {
                // A fresh connection, as the next DSP run would open it.
                let p = lite_pool(path).await;
                let rows = sqlx::query(&sql)
                    .fetch_all(&p)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| conv(r.get(0), r.get(1), r.get(2)))
                    .collect();
                p.close().await;
                rows
            }
        }
    }
}

async fn lite_pool(path: &Path) -> sqlx::SqlitePool {
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(opts)
        .await
        .expect("open SQLite file")
}

/// A MariaDB/MySQL user with a password, dropped with the guard.
struct MyUser {
    name: String,
}

impl MyUser {
    async fn create(db: &support::TestDb, password: &str) -> MyUser {
        let name = support::unique_name("dsp_u")
            .chars()
            .take(32)
            .collect::<String>();
        let mut c =
            <sqlx::MySqlConnection as sqlx::Connection>::connect(&support::mysql_admin_url())
                .await
                .unwrap();
        for sql in [
            format!("CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"),
            format!("GRANT ALL ON `{}`.* TO '{name}'@'%'", db.name),
        ] {
            sqlx::raw_sql(&sql).execute(&mut c).await.unwrap();
        }
        MyUser { name }
    }
}

impl MyUser {
    /// A user that may only read `table`.
    async fn create_select_only(db: &support::TestDb, password: &str, table: &str) -> MyUser {
        Self::create_with(password, &format!("SELECT ON `{}`.`{table}`", db.name)).await
    }

    /// A user that may only read and change the rows of `table`.
    async fn create_dml_only(db: &support::TestDb, password: &str, table: &str) -> MyUser {
        Self::create_with(
            password,
            &format!("SELECT, INSERT, UPDATE, DELETE ON `{}`.`{table}`", db.name),
        )
        .await
    }

    async fn create_with(password: &str, grant: &str) -> MyUser {
        let name = support::unique_name("dsp_u")
            .chars()
            .take(32)
            .collect::<String>();
        let mut c =
            <sqlx::MySqlConnection as sqlx::Connection>::connect(&support::mysql_admin_url())
                .await
                .unwrap();
        for sql in [
            format!("CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"),
            format!("GRANT {grant} TO '{name}'@'%'"),
        ] {
            sqlx::raw_sql(&sql).execute(&mut c).await.unwrap();
        }
        MyUser { name }
    }
}

impl Drop for MyUser {
    fn drop(&mut self) {
        let sql = format!("DROP USER IF EXISTS '{}'@'%'", self.name);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let mut c = <sqlx::MySqlConnection as sqlx::Connection>::connect(
                    &support::mysql_admin_url(),
                )
                .await
                .ok()?;
                sqlx::raw_sql(&sql).execute(&mut c).await.ok()
            })
        })
        .join();
    }
}

/// The network TOML of a MySQL test database, logging in as `user`.
fn my_network_as(db: &support::TestDb, name: &str, user: &str, auth: &str) -> String {
    db.network_toml(name).replace(
        &format!("username = \"{}\"", db.username),
        &format!("username = \"{user}\""),
    ) + auth
        + "\n"
}

/// A schema `S` of `(id, v, n)` from `source` to `target` and a full job `J`.
fn schema_job(source_table: &str, target_table: &str, batch_size: u64, columns: &str) -> String {
    format!(
        r#"
[[schema]]
name = "S"
source_table = "{source_table}"
target_table = "{target_table}"
primary_key = "id"
columns = [
{columns}
]

[[job]]
name = "J"
source = "Source"
target = "Target"
schema = "S"
mode = "full"
batch_size = {batch_size}
"#
    )
}

const COLS: &str = r#"  { source = "id", target = "id", type = "integer" },
  { source = "v", target = "v", type = "string" },
  { source = "n", target = "n", type = "integer" },"#;

async fn small_source(src: &End) {
    src.exec("CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, n BIGINT)")
        .await;
    src.exec("INSERT INTO src (id, v, n) VALUES (1, 'one', 10), (2, 'two', 20), (3, NULL, NULL)")
        .await;
}

// ---------------------------------------------------------------------------
// Connections

#[tokio::test]
async fn a_wrong_password_is_a_failed_run_naming_the_network() {
    let env = Env::new();
    let Some(src) = End::new(Kind::My, "wrong password", &env, "").await else {
        return;
    };
    let End::My(db, _) = &src else { unreachable!() };
    small_source(&src).await;
    let user = MyUser::create(db, "SuperSecret123!").await;
    let wrong = "WrongPassword987!";
    let text = my_network_as(db, "Source", &user.name, &format!("password = \"{wrong}\""))
        + &format!(
            "\n[[network]]\nname = \"Target\"\ntype = \"sqlite\"\ndatabase = \"{}\"\n",
            env.sqlite("t").display()
        )
        + &schema_job("src", "dst", 1000, COLS);
    env.write(&text);
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming("wrong password", &["\"Source\""]);
    let lower = out.all().to_lowercase();
    assert!(
        lower.contains("denied") || lower.contains("password") || lower.contains("authentic"),
        "wrong password: the error does not say the login was refused\n{}",
        out.all()
    );
    env.assert_secret_kept(&out, wrong, "wrong password");
    drop(user);
}

#[tokio::test]
async fn an_unreachable_port_fails_quickly_naming_the_network() {
    for kind in ["postgresql", "mysql"] {
        let env = Env::new();
        let text = format!(
            "[[network]]\nname = \"Dead {kind}\"\ntype = \"{kind}\"\nhost = \"127.0.0.1\"\nport = 1\n\
             database = \"nothing\"\nusername = \"nobody\"\nssl_mode = \"disable\"\n\n\
             [[network]]\nname = \"Target\"\ntype = \"sqlite\"\ndatabase = \"{}\"\n",
            env.sqlite("t").display()
        ) + &schema_job("src", "dst", 1000, COLS)
            .replace("source = \"Source\"", &format!("source = \"Dead {kind}\""));
        env.write(&text);
        let out = env.dsp(&["run", "J"], &[]);
        out.assert_failed_naming(&format!("unreachable {kind}"), &[&format!("Dead {kind}")]);
        assert!(
            out.elapsed < Duration::from_secs(15),
            "unreachable {kind}: took {:?}",
            out.elapsed
        );
    }
}

#[tokio::test]
async fn secrets_never_reach_output_or_the_data_dir() {
    let env = Env::new();
    let Some(src) = End::new(Kind::My, "secrets (source)", &env, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::My, "secrets (target)", &env, "").await else {
        return;
    };
    let (End::My(sdb, _), End::My(tdb, _)) = (&src, &tgt) else {
        unreachable!()
    };
    small_source(&src).await;
    let literal = "SuperSecret123!lit";
    let from_env = "SuperSecret123!env";
    let su = MyUser::create(sdb, literal).await;
    let tu = MyUser::create(tdb, from_env).await;
    let var = "DSP_TEST_TARGET_PASSWORD";
    let good = my_network_as(
        sdb,
        "Source",
        &su.name,
        &format!("password = \"{literal}\""),
    ) + "\n"
        + &my_network_as(
            tdb,
            "Target",
            &tu.name,
            &format!("password_env = \"{var}\""),
        )
        + &schema_job("src", "dst", 2, COLS);

    // A run that works.
    env.write(&good);
    let out = env.dsp(&["run", "J"], &[(var, from_env)]);
    out.assert_no_panic("secrets: good run");
    assert_eq!(out.code, 0, "secrets: good run\n{}", out.all());
    assert_eq!(tgt.dump("dst").await, src.dump("src").await);
    // The scan below must have the run history to look at.
    assert!(
        env.data_files().iter().any(|(_, b)| !b.is_empty()),
        "secrets: the data dir holds no run history to scan"
    );
    for s in [literal, from_env] {
        env.assert_secret_kept(&out, s, "secrets: good run");
    }
    let out = env.dsp(&["check", "--connect"], &[(var, from_env)]);
    out.assert_no_panic("secrets: check --connect");
    for s in [literal, from_env] {
        env.assert_secret_kept(&out, s, "secrets: check --connect");
    }

    // The same secrets when the servers cannot be reached.
    // The source on a dead port, the target still reachable (it is opened first).
    let dead = my_network_as(
        sdb,
        "Source",
        &su.name,
        &format!("password = \"{literal}\""),
    )
    .replace(&format!("port = {}", sdb.port), "port = 1")
        + "\n"
        + &my_network_as(
            tdb,
            "Target",
            &tu.name,
            &format!("password_env = \"{var}\""),
        )
        + &schema_job("src", "dst", 2, COLS);
    env.write(&dead);
    let out = env.dsp(&["run", "J"], &[(var, from_env)]);
    out.assert_failed_naming("secrets: unreachable", &["\"Source\""]);
    for s in [literal, from_env] {
        env.assert_secret_kept(&out, s, "secrets: unreachable");
    }

    // A wrong password through the environment is refused and not echoed.
    env.write(&good);
    let wrong = "SuperSecret123!wrong";
    let out = env.dsp(&["run", "J"], &[(var, wrong)]);
    out.assert_failed_naming("secrets: wrong env password", &["\"Target\""]);
    for s in [literal, from_env, wrong] {
        env.assert_secret_kept(&out, s, "secrets: wrong env password");
    }

    // A literal password that is refused is not echoed either.
    let wrong_lit = "SuperSecret123!badlit";
    env.write(&good.replace(literal, wrong_lit));
    let out = env.dsp(&["run", "J"], &[(var, from_env)]);
    out.assert_failed_naming("secrets: wrong literal password", &["\"Source\""]);
    for s in [literal, from_env, wrong_lit] {
        env.assert_secret_kept(&out, s, "secrets: wrong literal password");
    }
    drop((su, tu));
}

// ---------------------------------------------------------------------------
// Tables, columns, types

#[tokio::test]
async fn a_missing_source_table_or_column_is_named() {
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, "missing table/column", &env, "").await else {
        return;
    };
    small_source(&src).await;
    let base = src.network_toml("Source")
        + &format!(
            "\n[[network]]\nname = \"Target\"\ntype = \"sqlite\"\ndatabase = \"{}\"\n",
            env.sqlite("t").display()
        );

    env.write(&(base.clone() + &schema_job("no_such_table", "dst", 1000, COLS)));
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming("missing table", &["no_such_table"]);

    let cols =
        format!("{COLS}\n  {{ source = \"ghost_column\", target = \"g\", type = \"string\" }},");
    env.write(&(base + &schema_job("src", "dst", 1000, &cols)));
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming("missing column", &["ghost_column"]);
}

/// An existing target whose column cannot hold the mapped type: the run fails
/// naming the column, and the target keeps its rows and its tables.
async fn type_mismatch(target: Kind) {
    let test = format!("type mismatch into {target:?}");
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env, "").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &env, "t").await else {
        return;
    };
    src.exec("CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, n BIGINT, payload JSONB)")
        .await;
    src.exec(
        "INSERT INTO src VALUES (1, 'one', 10, '{\"a\": 1}'), (2, 'two', 20, '[1, 2]'), \
         (3, 'three', 30, '\"text\"')",
    )
    .await;
    tgt.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY, v TEXT, n BIGINT, payload INTEGER)")
        .await;
    tgt.exec("INSERT INTO dst (id, v, n, payload) VALUES (1, 'old', 1, 5), (9, 'keep', 9, 6)")
        .await;
    let before = (tgt.tables().await, tgt.dump("dst").await);
    // JSON, then text, into the integer column `payload`.
    for (source, ty) in [("payload", "json"), ("v", "string")] {
        let cols = format!(
            "  {{ source = \"id\", target = \"id\", type = \"integer\" }},\n  \
             {{ source = \"{source}\", target = \"payload\", type = \"{ty}\" }},"
        );
        env.write(
            &(src.network_toml("Source")
                + "\n"
                + &tgt.network_toml("Target")
                + &schema_job("src", "dst", 1000, &cols)),
        );
        let out = env.dsp(&["run", "J"], &[]);
        out.assert_failed_naming(&format!("{test} ({ty})"), &["payload"]);
        assert_eq!(
            (tgt.tables().await, tgt.dump("dst").await),
            before,
            "{test} ({ty}): the target changed"
        );
    }
}

#[tokio::test]
async fn json_or_text_into_an_existing_pg_integer_column_is_refused() {
    type_mismatch(Kind::Pg).await;
}

#[tokio::test]
async fn json_or_text_into_an_existing_mysql_integer_column_is_refused() {
    type_mismatch(Kind::My).await;
}

// ---------------------------------------------------------------------------
// Usage and workspace errors (exit 2, before any database is touched)

fn sqlite_only_workspace(env: &Env) -> String {
    format!(
        "[[network]]\nname = \"Source\"\ntype = \"sqlite\"\ndatabase = \"{}\"\n\n\
         [[network]]\nname = \"Target\"\ntype = \"sqlite\"\ndatabase = \"{}\"\n",
        env.sqlite("s").display(),
        env.sqlite("t").display()
    ) + &schema_job("src", "dst", 1000, COLS)
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

// ---------------------------------------------------------------------------
// Killed, cancelled and concurrent runs

const BIG_ROWS: i64 = 200_000;

/// A PostgreSQL source `big` of BIG_ROWS rows and an empty target of `target`
/// kind, with a workspace whose job `J` copies it in small batches.
async fn big_setup(test: &str, env: &Env, target: Kind) -> Option<(End, End, String)> {
    let src = End::new(Kind::Pg, &format!("{test} (source)"), env, "").await?;
    let tgt = End::new(target, &format!("{test} (target)"), env, "target").await?;
    src.exec("CREATE TABLE big (id BIGINT PRIMARY KEY, v TEXT, n BIGINT)")
        .await;
    src.exec(&format!(
        "INSERT INTO big SELECT g, 'old ' || g, g FROM generate_series(1, {BIG_ROWS}) g"
    ))
    .await;
    let text = src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + &schema_job("big", "big_copy", 100, COLS);
    Some((src, tgt, text))
}

/// Changes every source row, so that an applied run would show everywhere.
async fn change_every_row(src: &End) {
    src.exec("UPDATE big SET v = 'new ' || id, n = n + 1").await;
}

/// Starts `dsp run J` and returns once its first batch line is printed, with
/// the lines so far and a reader for the rest.
fn start_until_first_batch(
    env: &Env,
) -> (Child, Vec<String>, BufReader<std::process::ChildStdout>) {
    start_until_batch(env, 1)
}

/// Starts `dsp run J` and returns once its `k`th batch line is printed.
// The running child is handed back; every caller kills or waits for it.
#[allow(clippy::zombie_processes)]
fn start_until_batch(
    env: &Env,
    k: usize,
) -> (Child, Vec<String>, BufReader<std::process::ChildStdout>) {
    let mut child = env.command(&["run", "J"], &[]).spawn().expect("start dsp");
    let mut lines = Vec::new();
    let mut seen = 0;
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut l = String::new();
        if reader.read_line(&mut l).unwrap() == 0 {
            let _ = child.kill();
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            let status = child.wait();
            panic!(
                "dsp ended ({status:?}) before its batch {k}:\n{}\n{err}",
                lines.join("")
            );
        }
        if l.contains("Processing batch") {
            seen += 1;
        }
        lines.push(l);
        if seen == k {
            return (child, lines, reader);
        }
    }
}

/// Waits (at most 60 s) for a started `dsp` to end and collects all it printed.
fn finish(
    mut child: Child,
    lines: Vec<String>,
    mut reader: BufReader<std::process::ChildStdout>,
) -> Out {
    let start = Instant::now();
    let mut se = child.stderr.take().unwrap();
    let rest = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = reader.read_to_string(&mut out);
        let mut err = String::new();
        let _ = se.read_to_string(&mut err);
        (out, err)
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!(
                "dsp did not end within 60 s; it printed:\n{}",
                lines.join("")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = rest.join().unwrap();
    Out {
        code: status.code().unwrap_or(-1),
        stdout: lines.join("") + &out,
        stderr: err,
        elapsed: start.elapsed(),
    }
}

async fn killed_mid_run(target: Kind) {
    let test = format!("SIGKILL mid-run into {target:?}");
    let env = Env::new();
    let Some((src, tgt, text)) = big_setup(&test, &env, target).await else {
        return;
    };
    env.write(&text);
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: first sync\n{}", out.all());
    let before = (tgt.tables().await, tgt.dump("big_copy").await);
    assert_eq!(before.1.len() as i64, BIG_ROWS);

    change_every_row(&src).await;
    let (mut child, lines, _reader) = start_until_first_batch(&env);
    child.kill().expect("SIGKILL dsp");
    child.wait().unwrap();
    assert!(
        !lines.iter().any(|l| l.contains("Sync completed")),
        "{test}: the run finished before it was killed; make it longer"
    );
    let after = (tgt.tables().await, tgt.dump("big_copy").await);
    assert!(after == before, "{test}: the target changed after SIGKILL");

    // The killed run left no lock behind; the next run completes the change.
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}: run after the kill\n{}", out.all());
    assert!(
        tgt.dump("big_copy").await == src.dump("big").await,
        "{test}: target does not mirror the source"
    );
    assert_eq!(tgt.tables().await, before.0, "{test}: tables left behind");
}

#[tokio::test]
async fn sigkill_mid_run_leaves_a_sqlite_target_as_it_was() {
    killed_mid_run(Kind::Lite).await;
}

#[tokio::test]
async fn sigkill_mid_run_leaves_a_pg_target_as_it_was() {
    killed_mid_run(Kind::Pg).await;
}

#[tokio::test]
async fn sigkill_mid_run_leaves_a_mysql_target_as_it_was() {
    killed_mid_run(Kind::My).await;
}

async fn cancelled_after_first_batch(target: Kind) {
    let test = format!("cancel into {target:?}");
    let env = Env::new();
    let Some((src, tgt, text)) = big_setup(&test, &env, target).await else {
        return;
    };
    let ws = dsp::workspace::load_str(&text, &env.ws()).expect("workspace");
    let data = DataDir::new(env.data());
    let run = |cancel: CancellationToken| {
        let (ws, data) = (ws.clone(), data.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        let handle =
            tokio::spawn(
                async move { run_job(&ws, "J", &data, cancel, Reporter::new("J", tx)).await },
            );
        (handle, rx)
    };
    let (h, _rx) = run(CancellationToken::new());
    let first = h.await.unwrap();
    assert_eq!(
        first.status,
        RunStatus::Succeeded,
        "{test}: first run {:?}",
        first.error
    );
    let before = (tgt.tables().await, tgt.dump("big_copy").await);

    change_every_row(&src).await;
    let cancel = CancellationToken::new();
    let (h, mut rx) = run(cancel.clone());
    let mut log = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            ProgressEvent::Batch { .. } => {
                cancel.cancel();
                break;
            }
            ProgressEvent::Log { line, .. } => log.push(line.to_string()),
            _ => {}
        }
    }
    let summary = h.await.unwrap();
    while let Ok(ev) = rx.try_recv() {
        if let ProgressEvent::Log { line, .. } = ev {
            log.push(line.to_string());
        }
    }
    assert_eq!(
        summary.status,
        RunStatus::Cancelled,
        "{test}: {:?}\n{}",
        summary.error,
        log.join("\n")
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("[WARN]") || l.starts_with("[ERROR]")),
        "{test}: the log does not say the run was cancelled\n{}",
        log.join("\n")
    );
    let after = (tgt.tables().await, tgt.dump("big_copy").await);
    assert!(after == before, "{test}: the target changed after cancel");

    let (h, _rx) = run(CancellationToken::new());
    let last = h.await.unwrap();
    assert_eq!(
        last.status,
        RunStatus::Succeeded,
        "{test}: run after cancel {:?}",
        last.error
    );
    assert!(
        tgt.dump("big_copy").await == src.dump("big").await,
        "{test}: target does not mirror the source"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_the_first_batch_leaves_a_mysql_target_unchanged() {
    cancelled_after_first_batch(Kind::My).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_the_first_batch_leaves_a_sqlite_target_unchanged() {
    cancelled_after_first_batch(Kind::Lite).await;
}

#[tokio::test]
async fn a_second_concurrent_run_of_a_job_is_refused() {
    let test = "concurrent run";
    let env = Env::new();
    let Some((src, tgt, text)) = big_setup(test, &env, Kind::Lite).await else {
        return;
    };
    env.write(&text);
    let (mut first, mut lines, mut reader) = start_until_first_batch(&env);
    let second = env.dsp(&["run", "J"], &[]);
    second.assert_failed_naming(test, &["already running"]);
    assert!(
        second.all().contains("\"J\""),
        "{test}: the refusal does not name the job\n{}",
        second.all()
    );

    // The first run is not disturbed by the refusal.
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    lines.push(rest);
    let status = first.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{test}: first run\n{}",
        lines.join("")
    );
    assert!(
        tgt.dump("big_copy").await == src.dump("big").await,
        "{test}: target does not mirror the source"
    );
}

/// Closes every connection DSP holds to `end`'s database, as a crashing or
/// restarted server would; returns how many it closed.
async fn kill_dsp_connections(end: &End) -> u64 {
    match end {
        End::Pg(_, p) => sqlx::query_scalar::<_, i64>(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'dsp'",
        )
        .fetch_one(p)
        .await
        .unwrap() as u64,
        End::My(db, _) => {
            // The test's own pooled sessions go too; the pool replaces them.
            let mut c = <sqlx::MySqlConnection as sqlx::Connection>::connect(&db.url)
                .await
                .unwrap();
            let ids: Vec<u64> = sqlx::query_scalar(
                "SELECT CAST(id AS UNSIGNED) FROM information_schema.PROCESSLIST \
                 WHERE db = DATABASE() AND id <> CONNECTION_ID()",
            )
            .fetch_all(&mut c)
            .await
            .unwrap();
            let mut n = 0;
            for id in ids {
                if sqlx::raw_sql(&format!("KILL {id}"))
                    .execute(&mut c)
                    .await
                    .is_ok()
                {
                    n += 1;
                }
            }
            n
        }
        End::Lite(..) => 0,
    }
}

/// The server drops DSP's connection mid-run: a failed run naming the
/// network, exit 1, and a target exactly as before.
async fn server_dies_mid_run(target: Kind, victim_is_source: bool) {
    let victim = if victim_is_source { "Source" } else { "Target" };
    let test = format!("{victim} connection dropped mid-run into {target:?}");
    let env = Env::new();
    let Some((src, tgt, text)) = big_setup(&test, &env, target).await else {
        return;
    };
    env.write(&text);
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: first sync\n{}", out.all());
    let before = (tgt.tables().await, tgt.dump("big_copy").await);

    change_every_row(&src).await;
    let (child, lines, reader) = start_until_first_batch(&env);
    let killed = kill_dsp_connections(if victim_is_source { &src } else { &tgt }).await;
    let out = finish(child, lines, reader);
    assert!(
        killed > 0,
        "{test}: no DSP connection found to drop\n{}",
        out.all()
    );
    if out.stdout.contains("Sync completed") {
        // The run outpaced the kill: nothing to check about a failure.
        panic!("{test}: the run finished before its connection was dropped; make it longer");
    }
    out.assert_failed_naming(&test, &[&format!("\"{victim}\"")]);
    assert!(
        (tgt.tables().await, tgt.dump("big_copy").await) == before,
        "{test}: the target changed"
    );

    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: run after the failure\n{}", out.all());
    assert!(
        tgt.dump("big_copy").await == src.dump("big").await,
        "{test}: target does not mirror the source"
    );
}

#[tokio::test]
async fn the_target_server_dropping_the_connection_mid_run_fails_cleanly_pg() {
    server_dies_mid_run(Kind::Pg, false).await;
}

#[tokio::test]
async fn the_target_server_dropping_the_connection_mid_run_fails_cleanly_mysql() {
    server_dies_mid_run(Kind::My, false).await;
}

#[tokio::test]
async fn the_source_server_dropping_the_connection_mid_run_fails_cleanly() {
    server_dies_mid_run(Kind::Lite, true).await;
}

#[tokio::test]
async fn sigint_and_sigterm_cancel_dsp_run_cleanly_and_leave_the_target() {
    let test = "SIGINT/SIGTERM mid-run";
    let env = Env::new();
    let Some((src, tgt, text)) = big_setup(test, &env, Kind::Pg).await else {
        return;
    };
    env.write(&text);
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: first sync\n{}", out.all());
    let before = (tgt.tables().await, tgt.dump("big_copy").await);

    change_every_row(&src).await;
    for signal in ["-INT", "-TERM"] {
        let (child, lines, reader) = start_until_first_batch(&env);
        let sent = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let out = finish(child, lines, reader);
        out.assert_no_panic(test);
        assert_eq!(out.code, 1, "{test} {signal}: exit status\n{}", out.all());
        assert!(
            out.all().to_lowercase().contains("cancel"),
            "{test} {signal}: nothing says the run was cancelled\n{}",
            out.all()
        );
        assert!(
            (tgt.tables().await, tgt.dump("big_copy").await) == before,
            "{test} {signal}: the target changed"
        );
    }
}

#[tokio::test]
async fn an_incremental_run_killed_mid_way_resumes_without_losing_rows() {
    let test = "SIGKILL mid incremental";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, &format!("{test} (target)"), &env, "").await else {
        return;
    };
    src.exec("CREATE TABLE big (id BIGINT PRIMARY KEY, v TEXT, n BIGINT, updated_at TIMESTAMPTZ)")
        .await;
    // Cursor values shared by ten rows each, so batches end inside a group.
    src.exec(&format!(
        "INSERT INTO big SELECT g, 'old ' || g, g, \
         timestamptz '2024-01-01 00:00:00.000001+00' + (g / 10) * interval '1 millisecond' \
         FROM generate_series(1, {BIG_ROWS}) g"
    ))
    .await;
    let text = src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + &schema_job("big", "big_copy", 95, COLS)
            .replace(
                "primary_key = \"id\"",
                "primary_key = \"id\"\ncursor_column = \"updated_at\"",
            )
            .replace("mode = \"full\"", "mode = \"incremental\"");
    env.write(&text);

    let (mut child, lines, _reader) = start_until_batch(&env, 20);
    child.kill().expect("SIGKILL dsp");
    child.wait().unwrap();
    assert!(
        !lines.iter().any(|l| l.contains("Sync completed")),
        "{test}: the run finished before it was killed"
    );
    // What was committed is whole source rows.
    let partial = tgt.dump("big_copy").await;
    let all = src.dump("big").await;
    let by_id: std::collections::HashMap<i64, _> = all.iter().map(|r| (r.0, r)).collect();
    for r in &partial {
        assert_eq!(Some(&r), by_id.get(&r.0), "{test}: a half-written row");
    }

    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(test);
    assert_eq!(out.code, 0, "{test}: resumed run\n{}", out.all());
    assert!(
        tgt.dump("big_copy").await == all,
        "{test}: rows lost after resuming"
    );

    // Later changes, some sharing the newest cursor value, arrive too.
    src.exec(
        "UPDATE big SET v = 'late ' || id, updated_at = timestamptz '2030-01-01 00:00:00+00' \
         WHERE id % 1000 = 0",
    )
    .await;
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(
        out.code,
        0,
        "{test}: incremental after changes\n{}",
        out.all()
    );
    assert!(
        tgt.dump("big_copy").await == src.dump("big").await,
        "{test}: changed rows were not picked up"
    );
}

/// A source whose `primary_key` is not unique cannot be mirrored: the run
/// fails saying so, and the target keeps what the last good run wrote.
async fn duplicate_source_keys(target: Kind) {
    let test = format!("duplicate source keys into {target:?}");
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env, "").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &env, "t").await else {
        return;
    };
    // No key in the source: nothing there stops a duplicate.
    src.exec("CREATE TABLE src (id BIGINT, v TEXT, n BIGINT)")
        .await;
    src.exec("INSERT INTO src VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3)")
        .await;
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 1000, COLS)),
    );
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: first sync\n{}", out.all());
    let before = (tgt.tables().await, tgt.dump("dst").await);

    src.exec("INSERT INTO src VALUES (2, 'two again', 22)")
        .await;
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming(&test, &["src", "id"]);
    let lower = out.all().to_lowercase();
    assert!(
        lower.contains("duplicate") || lower.contains("unique") || lower.contains("distinct"),
        "{test}: the error does not say the key is duplicated\n{}",
        out.all()
    );
    assert!(
        (tgt.tables().await, tgt.dump("dst").await) == before,
        "{test}: the target changed"
    );
}

#[tokio::test]
async fn duplicate_source_keys_fail_the_run_into_pg() {
    duplicate_source_keys(Kind::Pg).await;
}

#[tokio::test]
async fn duplicate_source_keys_fail_the_run_into_mysql() {
    duplicate_source_keys(Kind::My).await;
}

#[tokio::test]
async fn duplicate_source_keys_fail_the_run_into_sqlite() {
    duplicate_source_keys(Kind::Lite).await;
}

/// The source is read in one snapshot: rows deleted and added in the source
/// after the run started do not tear the copy.
async fn snapshot(source: Kind) {
    let test = format!("snapshot of a {source:?} source");
    let env = Env::new();
    let Some(src) = End::new(source, &format!("{test} (source)"), &env, "s").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, &format!("{test} (target)"), &env, "").await else {
        return;
    };
    src.exec("CREATE TABLE big (id BIGINT PRIMARY KEY, v TEXT, n BIGINT)")
        .await;
    // 200,000 rows in 200 statements of 1,000 rows: portable SQL.
    for chunk in 0..(BIG_ROWS / 1000) {
        let values: Vec<String> = (chunk * 1000 + 1..=chunk * 1000 + 1000)
            .map(|i| format!("({i}, 'v{i}', {i})"))
            .collect();
        src.exec(&format!("INSERT INTO big VALUES {}", values.join(",")))
            .await;
    }
    let at_start = src.dump("big").await;
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("big", "big_copy", 100, COLS)),
    );
    let (child, lines, reader) = start_until_first_batch(&env);
    // Committed while DSP streams: the copy must not see any of it.
    src.exec("DELETE FROM big WHERE id > 100000").await;
    src.exec("UPDATE big SET v = 'changed' WHERE id <= 50")
        .await;
    src.exec("INSERT INTO big VALUES (999999999, 'late', 0)")
        .await;
    let out = finish(child, lines, reader);
    assert!(
        out.stdout.contains("Processing batch 2/"),
        "{test}: the run was too short to show anything\n{}",
        out.all()
    );
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    assert!(
        out.stdout
            .contains("Total: 200,000, Success: 200,000, Failed: 0"),
        "{test}: summary\n{}",
        out.stdout
            .lines()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        tgt.dump("big_copy").await == at_start,
        "{test}: the target is not the source as it was when the run started"
    );
}

#[tokio::test]
async fn a_pg_source_is_read_in_one_snapshot() {
    snapshot(Kind::Pg).await;
}

#[tokio::test]
async fn a_mysql_source_is_read_in_one_snapshot() {
    snapshot(Kind::My).await;
}

/// Killed during the very first copy into a new target: afterwards the target
/// holds no row (the copy commits all at once), and the next run fills it.
async fn killed_during_first_copy(target: Kind) {
    let test = format!("SIGKILL during the first copy into {target:?}");
    let env = Env::new();
    let Some((src, tgt, text)) = big_setup(&test, &env, target).await else {
        return;
    };
    env.write(&text);
    let (mut child, lines, _reader) = start_until_batch(&env, 3);
    child.kill().expect("SIGKILL dsp");
    child.wait().unwrap();
    assert!(
        !lines.iter().any(|l| l.contains("Sync completed")),
        "{test}: the run finished before it was killed"
    );
    let tables = tgt.tables().await;
    if tables.iter().any(|t| t.ends_with("big_copy")) {
        assert!(
            tgt.dump("big_copy").await.is_empty(),
            "{test}: rows of an unfinished copy are visible"
        );
    }
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}: run after the kill\n{}", out.all());
    assert!(
        tgt.dump("big_copy").await == src.dump("big").await,
        "{test}: target does not mirror the source"
    );
}

#[tokio::test]
async fn sigkill_during_the_first_copy_into_sqlite_leaves_no_rows() {
    killed_during_first_copy(Kind::Lite).await;
}

#[tokio::test]
async fn sigkill_during_the_first_copy_into_pg_leaves_no_rows() {
    killed_during_first_copy(Kind::Pg).await;
}

#[tokio::test]
async fn sigkill_during_the_first_copy_into_mysql_leaves_no_rows() {
    killed_during_first_copy(Kind::My).await;
}

/// A password full of URL syntax still logs in (no URL is built from it) and
/// is never echoed, whether the login works or not.
#[tokio::test]
async fn a_password_with_url_syntax_logs_in_and_stays_secret() {
    let env = Env::new();
    let Some(src) = End::new(Kind::My, "URL-syntax password", &env, "").await else {
        return;
    };
    let End::My(db, _) = &src else { unreachable!() };
    small_source(&src).await;
    let secret = "p@ss:w/rd?#%20&x=y;\\\"'é";
    // As a MySQL string literal: backslash and quote escaped.
    let sql_literal = secret.replace('\\', "\\\\").replace('\'', "\\'");
    let user = MyUser::create(db, &sql_literal).await;
    let var = "DSP_TEST_URL_PASSWORD";
    env.write(
        &(my_network_as(
            db,
            "Source",
            &user.name,
            &format!("password_env = \"{var}\""),
        ) + &format!(
            "\n[[network]]\nname = \"Target\"\ntype = \"sqlite\"\ndatabase = \"{}\"\n",
            env.sqlite("t").display()
        ) + &schema_job("src", "dst", 1000, COLS)),
    );
    let out = env.dsp(&["run", "J"], &[(var, secret)]);
    out.assert_no_panic("URL-syntax password");
    assert_eq!(out.code, 0, "URL-syntax password\n{}", out.all());
    env.assert_secret_kept(&out, secret, "URL-syntax password");
    for part in ["p@ss:w/rd", "%20&x=y"] {
        assert!(
            !out.all().contains(part),
            "a part of the password was printed\n{}",
            out.all()
        );
    }

    let wrong = format!("{secret}-wrong");
    let out = env.dsp(&["run", "J"], &[(var, &wrong)]);
    out.assert_failed_naming("URL-syntax password, wrong", &["\"Source\""]);
    env.assert_secret_kept(&out, &wrong, "URL-syntax password, wrong");
    for part in ["p@ss:w/rd", "%20&x=y"] {
        assert!(
            !out.all().contains(part),
            "a part of the password was printed\n{}",
            out.all()
        );
    }
    drop(user);
}

// ---------------------------------------------------------------------------
// SQLite files

/// A missing SQLite source file is an error naming the network, and is not
/// created; relative paths are resolved against the workspace file, not the
/// current directory; a run leaves the source file byte for byte as it was.
/// SQLite stores whatever bytes it is given as TEXT. A value that is not
/// UTF-8 fails its own row, named by key, within max_failed; a bytes column
/// keeps such a value exactly; every other row arrives.
#[tokio::test]
async fn invalid_utf8_in_a_sqlite_text_value_fails_only_its_row() {
    let env = Env::new();
    let src = lite_pool(&env.sqlite("s")).await;
    sqlx::raw_sql(
        "CREATE TABLE src (id INTEGER PRIMARY KEY, v TEXT, n INTEGER, b BLOB);
         INSERT INTO src VALUES (1, 'one', 10, CAST(x'ff00fe' AS TEXT)),
                                (2, CAST(x'c328' AS TEXT), 20, x'01'),
                                (3, 'three', 30, NULL);",
    )
    .execute(&src)
    .await
    .unwrap();
    src.close().await;
    let cols = format!("{COLS}\n  {{ source = \"b\", target = \"b\", type = \"bytes\" }},");
    env.write(
        &sqlite_only_workspace(&env)
            .replace(COLS, &cols)
            .replace("batch_size = 1000", "batch_size = 1000\nmax_failed = 1"),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic("invalid UTF-8");
    assert_eq!(out.code, 0, "invalid UTF-8\n{}", out.all());
    assert!(
        out.stdout
            .contains("Row id=2 of src failed: column v (string)")
            && out.stdout.contains("not valid UTF-8"),
        "invalid UTF-8\n{}",
        out.all()
    );
    let dst = lite_pool(&env.sqlite("t")).await;
    let rows: Vec<(i64, Option<String>, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT id, v, b FROM dst ORDER BY id")
            .fetch_all(&dst)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            (1, Some("one".into()), Some(vec![0xff, 0x00, 0xfe])),
            (3, Some("three".into()), None),
        ]
    );
}

#[tokio::test]
async fn sqlite_files_missing_relative_and_untouched() {
    let env = Env::new();
    std::fs::create_dir_all(env.dir.path().join("dbs")).unwrap();
    let rel = |name: &str| format!("dbs/{name}.db");
    let text = format!(
        "[[network]]\nname = \"Lite Source\"\ntype = \"sqlite\"\ndatabase = \"{}\"\n\n\
         [[network]]\nname = \"Target\"\ntype = \"sqlite\"\ndatabase = \"{}\"\n",
        rel("src"),
        rel("dst")
    ) + &schema_job("src", "dst", 2, COLS)
        .replace("source = \"Source\"", "source = \"Lite Source\"");
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

// ---------------------------------------------------------------------------
// Least privilege

/// A source login that may only SELECT the table is enough: the source is
/// used read-only.
#[tokio::test]
async fn a_select_only_source_login_is_enough() {
    for kind in [Kind::Pg, Kind::My] {
        let test = format!("SELECT-only {kind:?} source");
        let env = Env::new();
        let Some(src) = End::new(kind, &test, &env, "").await else {
            return;
        };
        small_source(&src).await;
        let role = support::unique_name("dsp_ro")
            .chars()
            .take(30)
            .collect::<String>();
        let (network, _guard) = match &src {
            End::Pg(db, _) => {
                src.exec(&format!(
                    "CREATE ROLE {role} LOGIN; GRANT CONNECT ON DATABASE \"{}\" TO {role}; \
                     GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT ON src TO {role}",
                    db.name
                ))
                .await;
                let n = db.network_toml("Source").replace(
                    &format!("username = \"{}\"", db.username),
                    &format!("username = \"{role}\""),
                );
                (n, None)
            }
            End::My(db, _) => {
                let user = MyUser::create_select_only(db, "ro-Secret-1", "src").await;
                let n = my_network_as(db, "Source", &user.name, "password = \"ro-Secret-1\"");
                (n, Some(user))
            }
            End::Lite(..) => unreachable!(),
        };
        env.write(
            &(network
                + &format!(
                    "\n[[network]]\nname = \"Target\"\ntype = \"sqlite\"\ndatabase = \"{}\"\n",
                    env.sqlite("t").display()
                )
                + &schema_job("src", "dst", 2, COLS)),
        );
        let out = env.dsp(&["run", "J"], &[]);
        out.assert_no_panic(&test);
        assert_eq!(out.code, 0, "{test}\n{}", out.all());
        if let End::Pg(..) = &src {
            // The role must go before the database can be dropped.
            src.exec(&format!(
                "REVOKE ALL ON src FROM {role}; REVOKE ALL ON SCHEMA public FROM {role}"
            ))
            .await;
            if let End::Pg(db, _) = &src {
                let mut c =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&support::pg_admin_url())
                        .await
                        .unwrap();
                let _ = sqlx::raw_sql(&format!(
                    "REVOKE ALL ON DATABASE \"{}\" FROM {role}",
                    db.name
                ))
                .execute(&mut c)
                .await;
                src.exec(&format!("DROP OWNED BY {role}")).await;
                let _ = sqlx::raw_sql(&format!("DROP ROLE IF EXISTS {role}"))
                    .execute(&mut c)
                    .await;
            }
        }
    }
}

/// A target login with only SELECT, INSERT, UPDATE and DELETE on an existing
/// table either syncs or says which privilege to grant.
#[tokio::test]
async fn a_dml_only_mysql_target_login_syncs_or_names_the_privilege() {
    let test = "DML-only MySQL target";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, test, &env, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::My, test, &env, "").await else {
        return;
    };
    small_source(&src).await;
    tgt.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY, v TEXT, n BIGINT)")
        .await;
    tgt.exec("INSERT INTO dst VALUES (1, 'old', 0)").await;
    let End::My(db, _) = &tgt else { unreachable!() };
    let user = MyUser::create_dml_only(db, "dml-Secret-1", "dst").await;
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &my_network_as(db, "Target", &user.name, "password = \"dml-Secret-1\"")
            + &schema_job("src", "dst", 2, COLS)),
    );
    let before = tgt.dump("dst").await;
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(test);
    if out.code == 0 {
        assert_eq!(tgt.dump("dst").await, src.dump("src").await, "{test}");
    } else {
        out.assert_failed_naming(test, &["\"Target\""]);
        let lower = out.all().to_lowercase();
        assert!(
            lower.contains("create temporary tables"),
            "{test}: the error does not say which privilege to grant\n{}",
            out.all()
        );
        assert_eq!(tgt.dump("dst").await, before, "{test}: the target changed");
    }
    drop(user);
}

// ---------------------------------------------------------------------------
// Failed rows

/// Rows that cannot be converted are logged with their key; within
/// `max_failed` the run succeeds and their keys, still present in the source,
/// are not deleted from the target; beyond it the run fails and the target
/// is untouched.
async fn failed_rows(target: Kind) {
    let test = format!("failed rows into {target:?}");
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env, "").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &env, "t").await else {
        return;
    };
    // `n` is text in the source, mapped as integer.
    src.exec("CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, n TEXT)")
        .await;
    src.exec("INSERT INTO src SELECT g, 'v' || g, g::text FROM generate_series(1, 10) g")
        .await;
    let text = |max_failed: u64| {
        src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 3, COLS)
            + &format!("max_failed = {max_failed}\n")
    };
    env.write(&text(0));
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: first sync\n{}", out.all());
    let first = tgt.dump("dst").await;
    assert_eq!(first.len(), 10);

    // Two rows turn bad, one row changes well, one row goes away.
    src.exec("UPDATE src SET n = 'five', v = 'bad' WHERE id = 5")
        .await;
    src.exec("UPDATE src SET n = '7.5', v = 'bad' WHERE id = 7")
        .await;
    src.exec("UPDATE src SET v = 'changed' WHERE id = 2").await;
    // A good row whose every non-key value becomes NULL is still a change.
    src.exec("UPDATE src SET v = NULL, n = NULL WHERE id = 4")
        .await;
    src.exec("DELETE FROM src WHERE id = 10").await;
    // A new row that fails must not appear in the target at all.
    src.exec("INSERT INTO src VALUES (11, 'new bad', 'eleven')")
        .await;

    // Beyond max_failed: failed run, target untouched, the rows named.
    env.write(&text(1));
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming(&test, &["max_failed"]);
    for key in ["id=5", "id=7"] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains(key) && l.contains("\"")),
            "{test}: row {key} not logged with its value\n{}",
            out.all()
        );
    }
    assert!(tgt.dump("dst").await == first, "{test}: the target changed");

    // Within max_failed: succeeded, counted, logged.
    env.write(&text(3));
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}: within max_failed\n{}", out.all());
    assert!(
        out.stdout.contains("Total: 10, Success: 7, Failed: 3"),
        "{test}: summary line\n{}",
        out.all()
    );
    for key in ["id=5", "id=7", "id=11"] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains(key) && (l.starts_with("[WARN]") || l.starts_with("[ERROR]"))),
            "{test}: row {key} not logged with its key\n{}",
            out.all()
        );
    }
    let got = tgt.dump("dst").await;
    let mut want: Vec<(i64, Option<String>, Option<i64>)> =
        first.iter().filter(|r| r.0 != 10).cloned().collect();
    want[1] = (2, Some("changed".into()), Some(2));
    want[3] = (4, None, None);
    // Rows 5 and 7 could not be read: the target keeps their last good copy;
    // row 11 never had one.
    assert_eq!(got, want, "{test}: target after a run with failed rows");
}

#[tokio::test]
async fn failed_rows_within_and_beyond_max_failed_into_pg() {
    failed_rows(Kind::Pg).await;
}

#[tokio::test]
async fn failed_rows_within_and_beyond_max_failed_into_mysql() {
    failed_rows(Kind::My).await;
}

#[tokio::test]
async fn failed_rows_within_and_beyond_max_failed_into_sqlite() {
    failed_rows(Kind::Lite).await;
}

/// An existing target decimal column narrower than the source's values must
/// not round or overflow the run: such values fail their row (named), the
/// others arrive exactly.
async fn narrower_decimal_target(target: Kind) {
    let test = format!("narrower decimal column in {target:?}");
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env, "").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &env, "t").await else {
        return;
    };
    src.exec("CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, d NUMERIC(38,10))")
        .await;
    src.exec(
        "INSERT INTO src VALUES (1, 'a', 1.23), (2, 'b', 1.005), (3, 'c', 123456789012.5), \
         (4, 'd', -99999999.99), (5, 'e', 0.1000000000), (6, 'f', NULL)",
    )
    .await;
    tgt.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY, v TEXT, d DECIMAL(10,2))")
        .await;
    let cols = "  { source = \"id\", target = \"id\", type = \"integer\" },\n  \
                { source = \"v\", target = \"v\", type = \"string\" },\n  \
                { source = \"d\", target = \"d\", type = \"decimal\" },";
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 1000, cols)
            + "max_failed = 2\n"),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    assert!(
        out.stdout.contains("Total: 6, Success: 4, Failed: 2"),
        "{test}: 1.005 and 123456789012.5 do not fit decimal(10,2) and must fail their rows\n{}",
        out.all()
    );
    for key in ["id=2", "id=3"] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with("[WARN]") && l.contains(key)),
            "{test}: row {key} not logged\n{}",
            out.all()
        );
    }
    let got: Vec<(i64, Option<String>)> = match &tgt {
        End::Pg(_, p) => sqlx::query_as("SELECT id, d::text FROM dst ORDER BY id")
            .fetch_all(p)
            .await
            .unwrap(),
        End::My(_, p) => {
            sqlx::query_as("SELECT id, CONVERT(CAST(d AS CHAR) USING utf8mb4) FROM dst ORDER BY id")
                .fetch_all(p)
                .await
                .unwrap()
        }
        End::Lite(..) => unreachable!(),
    };
    let want = vec![
        (1, Some("1.23".to_string())),
        (4, Some("-99999999.99".to_string())),
        (5, Some("0.10".to_string())),
        (6, None),
    ];
    assert_eq!(got, want, "{test}: target values");
}

#[tokio::test]
async fn values_that_do_not_fit_a_narrower_pg_numeric_fail_their_row() {
    narrower_decimal_target(Kind::Pg).await;
}

#[tokio::test]
async fn values_that_do_not_fit_a_narrower_mysql_decimal_fail_their_row() {
    narrower_decimal_target(Kind::My).await;
}

/// An existing target timestamp column that keeps fewer fractional digits,
/// or (MySQL TIMESTAMP) a narrower range, than a value needs: that value
/// fails its row, named, instead of being silently cut or failing the run.
async fn narrower_timestamp_target(target: Kind, column: &str, expect_failed: &[i64]) {
    let test = format!("timestamp into {target:?} {column}");
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env, "").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &env, "t").await else {
        return;
    };
    src.exec("CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, t TIMESTAMPTZ)")
        .await;
    src.exec(
        "INSERT INTO src VALUES (1, 'a', '2024-01-01 00:00:00+00'), \
         (2, 'b', '2024-01-01 00:00:00.123456+00'), (3, 'c', '2040-01-01 00:00:00+00'), \
         (4, 'd', '2024-01-01 00:00:00.5+00'), (5, 'e', NULL)",
    )
    .await;
    tgt.exec(&format!(
        "CREATE TABLE dst (id BIGINT PRIMARY KEY, v TEXT, n BIGINT, t {column} NULL)"
    ))
    .await;
    let cols = "  { source = \"id\", target = \"id\", type = \"integer\" },\n  \
                { source = \"v\", target = \"v\", type = \"string\" },\n  \
                { source = \"t\", target = \"t\", type = \"timestamp\" },";
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 1000, cols)
            + "max_failed = 3\n"),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    let ok = 5 - expect_failed.len();
    assert!(
        out.stdout.contains(&format!(
            "Total: 5, Success: {ok}, Failed: {}",
            expect_failed.len()
        )),
        "{test}: rows {expect_failed:?} cannot be stored exactly and must fail\n{}",
        out.all()
    );
    for id in expect_failed {
        let key = format!("id={id}");
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with("[WARN]") && l.contains(&key)),
            "{test}: row {key} not logged\n{}",
            out.all()
        );
    }
    let present: Vec<i64> = tgt.dump("dst").await.iter().map(|r| r.0).collect();
    let want: Vec<i64> = (1..=5).filter(|i| !expect_failed.contains(i)).collect();
    assert_eq!(present, want, "{test}: rows in the target");
}

#[tokio::test]
async fn sub_second_timestamps_do_not_fit_a_mysql_datetime_without_fraction() {
    narrower_timestamp_target(Kind::My, "DATETIME", &[2, 4]).await;
}

#[tokio::test]
async fn timestamps_outside_a_mysql_timestamp_column_fail_their_row() {
    narrower_timestamp_target(Kind::My, "TIMESTAMP(6)", &[3]).await;
}

#[tokio::test]
async fn sub_second_timestamps_do_not_fit_a_pg_timestamp_0() {
    narrower_timestamp_target(Kind::Pg, "TIMESTAMP(0) WITH TIME ZONE", &[2, 4]).await;
}

#[tokio::test]
async fn timestamps_fit_a_mysql_datetime_3_only_to_the_millisecond() {
    narrower_timestamp_target(Kind::My, "DATETIME(3)", &[2]).await;
}

/// An integer too large for an existing `decimal(5,0)` column fails its row.
async fn integer_into_narrow_decimal(target: Kind) {
    let test = format!("integer into {target:?} decimal(5,0)");
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env, "").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &env, "t").await else {
        return;
    };
    small_source(&src).await;
    src.exec("UPDATE src SET n = 1234567 WHERE id = 2; UPDATE src SET n = -99999 WHERE id = 3")
        .await;
    tgt.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY, v TEXT, n DECIMAL(5,0))")
        .await;
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 1000, COLS)
            + "max_failed = 1\n"),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    assert!(
        out.stdout.contains("Total: 3, Success: 2, Failed: 1")
            && out
                .stdout
                .lines()
                .any(|l| l.starts_with("[WARN]") && l.contains("id=2")),
        "{test}\n{}",
        out.all()
    );
    let rows: Vec<i64> = tgt.dump("dst").await.iter().map(|r| r.0).collect();
    assert_eq!(rows, vec![1, 3], "{test}");
}

#[tokio::test]
async fn integers_too_large_for_a_pg_numeric_5_0_fail_their_row() {
    integer_into_narrow_decimal(Kind::Pg).await;
}

#[tokio::test]
async fn integers_too_large_for_a_mysql_decimal_5_0_fail_their_row() {
    integer_into_narrow_decimal(Kind::My).await;
}

/// Keys unique in the source that an existing MySQL target's case-insensitive
/// key column treats as equal: the run fails saying so, target untouched.
#[tokio::test]
async fn keys_merged_by_a_case_insensitive_target_collation_fail_the_run() {
    let test = "case-insensitive target key";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, test, &env, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::My, test, &env, "").await else {
        return;
    };
    src.exec("CREATE TABLE src (code TEXT PRIMARY KEY, v TEXT)")
        .await;
    src.exec("INSERT INTO src VALUES ('a', 'lower'), ('A', 'upper'), ('b', 'x')")
        .await;
    tgt.exec(
        "CREATE TABLE dst (code VARCHAR(10) PRIMARY KEY, v TEXT) \
         DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci",
    )
    .await;
    tgt.exec("INSERT INTO dst VALUES ('z', 'old')").await;
    let cols = "  { source = \"code\", target = \"code\", type = \"string\" },\n  \
                { source = \"v\", target = \"v\", type = \"string\" },";
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 1000, cols)
                .replace("primary_key = \"id\"", "primary_key = \"code\"")
            + "max_delete_percent = 100\n"),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming(test, &["dst", "code"]);
    assert!(
        out.all().contains("collation"),
        "{test}: the error does not point at the target's collation\n{}",
        out.all()
    );
    let End::My(_, p) = &tgt else { unreachable!() };
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT CONVERT(code USING utf8mb4), CONVERT(v USING utf8mb4) FROM dst")
            .fetch_all(p)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![("z".to_string(), "old".to_string())],
        "{test}: target changed"
    );
}

/// The same target in incremental mode: keys that differ only by case must
/// not silently overwrite each other (there is no full count to catch it).
#[tokio::test]
async fn incremental_keys_merged_by_a_case_insensitive_target_collation_are_not_lost() {
    let test = "case-insensitive target key, incremental";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, test, &env, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::My, test, &env, "").await else {
        return;
    };
    src.exec("CREATE TABLE src (code TEXT PRIMARY KEY, v TEXT, c TIMESTAMPTZ)")
        .await;
    src.exec(
        "INSERT INTO src VALUES ('a', 'lower', '2024-01-01+00'), ('A', 'upper', '2024-01-02+00')",
    )
    .await;
    tgt.exec(
        "CREATE TABLE dst (code VARCHAR(10) PRIMARY KEY, v TEXT) \
         DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci",
    )
    .await;
    let cols = "  { source = \"code\", target = \"code\", type = \"string\" },\n  \
                { source = \"v\", target = \"v\", type = \"string\" },";
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 1, cols)
                .replace(
                    "primary_key = \"id\"",
                    "primary_key = \"code\"\ncursor_column = \"c\"",
                )
                .replace("mode = \"full\"", "mode = \"incremental\"")),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(test);
    let End::My(_, p) = &tgt else { unreachable!() };
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dst")
        .fetch_one(p)
        .await
        .unwrap();
    assert!(
        out.code == 1 || n == 2,
        "{test}: the run succeeded but the target holds {n} of 2 rows\n{}",
        out.all()
    );
    if out.code == 1 {
        out.assert_failed_naming(test, &["collation", "code"]);
        assert_eq!(n, 0, "{test}: a refused run wrote rows");
    }
}

/// An existing PostgreSQL target with narrower or padded column types gets
/// exactly the source's values, whether DSP can send every column in COPY's
/// binary format (integer, smallint, char(n), timestamp(3), numeric(p,s) with
/// exponents, jsonb) or has to fall back to text because one column's type
/// (`real`) has no binary encoder.
async fn existing_pg_target_types(fallback: bool) {
    let test = if fallback {
        "existing PG target types (text COPY)"
    } else {
        "existing PG target types (binary COPY)"
    };
    let env = Env::new();
    let Some(tgt) = End::new(Kind::Pg, test, &env, "").await else {
        return;
    };
    let src = lite_pool(&env.sqlite("s")).await;
    sqlx::raw_sql(
        "CREATE TABLE src (id INTEGER PRIMARY KEY, i INTEGER, s INTEGER, c TEXT, \
                           at TEXT, d TEXT, j TEXT, f REAL);
         INSERT INTO src VALUES
           (1, 2147483647, -32768, 'ab', '2024-02-29 23:59:59.123', '-12.5e-1', '{\"a\": [1, 2]}', 0.5),
           (2, -2147483648, 32767, 'abcde', '1999-12-31T23:59:59Z', '123456789012345.12345', '[]', -2),
           (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
           (4, 0, 0, '', '2000-01-01 00:00:00', '0.00000', 'null', 0);",
    )
    .execute(&src)
    .await
    .unwrap();
    src.close().await;
    let f_type = if fallback { "REAL" } else { "DOUBLE PRECISION" };
    tgt.exec(&format!(
        "CREATE TABLE dst (id BIGINT PRIMARY KEY, i INTEGER, s SMALLINT, c CHAR(5), \
         at TIMESTAMP(3) WITHOUT TIME ZONE, d NUMERIC(20,5), j JSONB, f {f_type})"
    ))
    .await;
    let cols = r#"  { source = "id", target = "id", type = "integer" },
  { source = "i", target = "i", type = "integer" },
  { source = "s", target = "s", type = "integer" },
  { source = "c", target = "c", type = "string" },
  { source = "at", target = "at", type = "timestamp" },
  { source = "d", target = "d", type = "decimal" },
  { source = "j", target = "j", type = "json" },
  { source = "f", target = "f", type = "float" },"#;
    env.write(
        &(format!(
            "[[network]]\nname = \"Source\"\ntype = \"sqlite\"\ndatabase = \"{}\"\n\n",
            env.sqlite("s").display()
        ) + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 1000, cols)),
    );
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(test);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    let End::Pg(_, pool) = &tgt else {
        unreachable!()
    };
    let rows: Vec<(i64, Option<String>)> = sqlx::query_as(
        "SELECT id, concat_ws('|', i, s, '[' || c || ']' || octet_length(c), at, d, j, f) FROM dst ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let want = [
        "2147483647|-32768|[ab]5|2024-02-29 23:59:59.123|-1.25000|{\"a\": [1, 2]}|0.5",
        "-2147483648|32767|[abcde]5|1999-12-31 23:59:59|123456789012345.12345|[]|-2",
        "",
        "0|0|[]5|2000-01-01 00:00:00|0.00000|null|0",
    ];
    let got: Vec<String> = rows.into_iter().map(|r| r.1.unwrap_or_default()).collect();
    assert_eq!(got, want, "{test}");
}

#[tokio::test]
async fn an_existing_pg_target_with_narrower_types_gets_exact_values_in_binary() {
    existing_pg_target_types(false).await;
}

#[tokio::test]
async fn an_existing_pg_target_with_a_real_column_gets_exact_values_in_text() {
    existing_pg_target_types(true).await;
}
