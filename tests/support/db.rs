//! A private PostgreSQL or MariaDB database per test, a SQLite temp file, and a
//! loud skip when a server is missing.
//!
//! Servers come from `DSP_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`,
//! an admin connection used to create and drop the per-test database) and
//! `DSP_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/mysql`).
//! Without a server the test prints that it skipped and why, straight to the
//! terminal (past the test harness's capture), and passes — unless `CI` or
//! `DSP_REQUIRE_DB` is set, where a missing server fails the test.
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::Connection;

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn pg_admin_url() -> String {
    std::env::var("DSP_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn mysql_admin_url() -> String {
    std::env::var("DSP_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into())
}

fn require_db() -> bool {
    std::env::var_os("DSP_REQUIRE_DB").is_some()
        || std::env::var("CI")
            .map(|v| !v.is_empty() && v != "false" && v != "0")
            .unwrap_or(false)
}

/// Says plainly that a test was skipped; in CI a missing server is a failure.
pub fn skip(test: &str, why: &str) {
    if require_db() {
        panic!("{test}: database server required (CI or DSP_REQUIRE_DB is set) but {why}");
    }
    // Written to the real stderr, not through eprintln!, so that `cargo test` shows
    // it even for a passing test.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Says that part of a test was skipped for want of a tool that is not
/// DSP's to require (systemd-analyze, `script`); unlike a database server,
/// CI may lack it, and the test's own checks still ran.
pub fn skip_tool(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED (partly) {test}: {why}");
}

/// A name no other test (or test process) uses at the same time.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos:x}", std::process::id())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Postgres,
    Mysql,
}

/// A database created for one test and dropped when it goes out of scope.
pub struct TestDb {
    pub server: Server,
    pub name: String,
    /// URL of the test database itself.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    admin_url: String,
}

impl TestDb {
    /// TOML for a `[[network]]` entry pointing at this database.
    pub fn network_toml(&self, network_name: &str) -> String {
        let kind = match self.server {
            Server::Postgres => "postgresql",
            Server::Mysql => "mysql",
        };
        format!(
            "[[network]]\nname = \"{network_name}\"\ntype = \"{kind}\"\nhost = \"{}\"\nport = {}\ndatabase = \"{}\"\nusername = \"{}\"\nssl_mode = \"disable\"\n",
            self.host, self.port, self.name, self.username
        )
    }

    /// A model `Network` pointing at this database.
    pub fn network(&self, network_name: &str) -> dsp::workspace::Network {
        let kind = match self.server {
            Server::Postgres => dsp::workspace::EngineKind::Postgres,
            Server::Mysql => dsp::workspace::EngineKind::Mysql,
        };
        let mut n = dsp::workspace::Network::new(network_name, kind, self.name.clone());
        n.host = Some(self.host.clone());
        n.port = Some(self.port);
        n.username = Some(self.username.clone());
        n.ssl_mode = Some(dsp::workspace::SslMode::Disable);
        n
    }

    pub async fn pool_pg(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&self.url)
            .await
            .expect("connect to test database")
    }

    pub async fn pool_mysql(&self) -> sqlx::MySqlPool {
        sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(4)
            .after_connect(|c, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(&mut *c, "SET time_zone = '+00:00'").await?;
                    Ok(())
                })
            })
            .connect(&self.url)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        let server = self.server;
        // Drop may run inside or outside a runtime; a fresh thread with its own
        // runtime works in both.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                match server {
                    Server::Postgres => {
                        let mut c = sqlx::PgConnection::connect(&admin).await.ok()?;
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        sqlx::Executor::execute(&mut c, sql.as_str()).await.ok()?;
                    }
                    Server::Mysql => {
                        let mut c = sqlx::MySqlConnection::connect(&admin).await.ok()?;
                        let sql = format!("DROP DATABASE IF EXISTS `{name}`");
                        sqlx::Executor::execute(&mut c, sql.as_str()).await.ok()?;
                    }
                }
                Some(())
            })
        })
        .join();
    }
}

fn url_parts(url: &str) -> (String, u16, String) {
    // scheme://user[:pass]@host:port/db
    let rest = url.split("://").nth(1).unwrap_or("");
    let (userinfo, hostpart) = rest.rsplit_once('@').unwrap_or(("", rest));
    let user = userinfo.split(':').next().unwrap_or("").to_string();
    let hostport = hostpart.split('/').next().unwrap_or("");
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "0"));
    (host.to_string(), port.parse().unwrap_or(0), user)
}

fn with_database(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap_or((url, ""));
    format!("{base}/{db}")
}

/// A fresh PostgreSQL database for `test`, or `None` (after saying so) when the
/// server cannot be reached outside CI.
pub async fn pg_db(test: &str) -> Option<TestDb> {
    let admin = pg_admin_url();
    let conn =
        tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&admin)).await;
    let mut c = match conn {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            skip(
                test,
                &format!("PostgreSQL at {admin} is not reachable ({e})"),
            );
            return None;
        }
        Err(_) => {
            skip(
                test,
                &format!("PostgreSQL at {admin} did not answer within 5 s"),
            );
            return None;
        }
    };
    let name = unique_name("dsp_t");
    sqlx::Executor::execute(&mut c, format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .expect("create test database");
    let (host, port, username) = url_parts(&admin);
    Some(TestDb {
        server: Server::Postgres,
        url: with_database(&admin, &name),
        name,
        host,
        port,
        username,
        admin_url: admin,
    })
}

/// A fresh MariaDB/MySQL database for `test`, or `None` (after saying so).
pub async fn mysql_db(test: &str) -> Option<TestDb> {
    let admin = mysql_admin_url();
    let conn = tokio::time::timeout(
        Duration::from_secs(5),
        sqlx::MySqlConnection::connect(&admin),
    )
    .await;
    let mut c = match conn {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            skip(
                test,
                &format!("MariaDB/MySQL at {admin} is not reachable ({e})"),
            );
            return None;
        }
        Err(_) => {
            skip(
                test,
                &format!("MariaDB/MySQL at {admin} did not answer within 5 s"),
            );
            return None;
        }
    };
    let name = unique_name("dsp_t");
    sqlx::Executor::execute(
        &mut c,
        format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4").as_str(),
    )
    .await
    .expect("create test database");
    let (host, port, username) = url_parts(&admin);
    Some(TestDb {
        server: Server::Mysql,
        url: with_database(&admin, &name),
        name,
        host,
        port,
        username,
        admin_url: admin,
    })
}

/// A directory for a test's SQLite files, workspace and data dir; removed on drop.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("dsp-test-")
        .tempdir()
        .expect("temp dir")
}

/// Path of a SQLite file inside `dir` (not created).
pub fn sqlite_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(format!("{name}.db"))
}

/// The built `dsp` binary, for tests that run it as a process.
pub fn dsp_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dsp"))
}
