//! Opening a connection to a network: options from the workspace, TLS mode,
//! a bounded connect time, and a session pinned to UTC.

use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, MySqlConnection, PgConnection, SqliteConnection};

use super::sql::{Dialect, db_err};
use crate::workspace::{EngineKind, Network, SslMode, Workspace};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Whether a connection reads (the source, never written) or writes (the target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Source,
    Target,
}

pub enum Conn {
    Pg(PgConnection),
    My(MySqlConnection),
    Lite(SqliteConnection),
}

impl Conn {
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Pg(_) => Dialect::Postgres,
            Conn::My(_) => Dialect::Mysql,
            Conn::Lite(_) => Dialect::Sqlite,
        }
    }

    /// Closes politely; a connection that cannot say goodbye is just dropped.
    pub async fn close(self) {
        let _ = match self {
            Conn::Pg(c) => c.close().await,
            Conn::My(c) => c.close().await,
            Conn::Lite(c) => c.close().await,
        };
    }
}

/// `postgresql://user:***@host:5432/db`: how messages name a connection. The
/// password is never part of it.
pub fn describe(ws: &Workspace, net: &Network) -> String {
    match net.kind {
        EngineKind::Sqlite => format!("sqlite:{}", ws.sqlite_path(net).display()),
        kind => {
            let user = match &net.username {
                Some(u) if net.password.is_some() || net.password_env.is_some() => {
                    format!("{u}:***@")
                }
                Some(u) => format!("{u}@"),
                None => String::new(),
            };
            format!(
                "{}://{user}{}:{}/{}",
                kind.as_str(),
                net.host.as_deref().unwrap_or("localhost"),
                net.effective_port().unwrap_or(0),
                net.database
            )
        }
    }
}

/// Connects to `net`; every error is one sentence naming the network.
pub async fn connect(ws: &Workspace, net: &Network, role: Role) -> Result<Conn, String> {
    let fail = |why: String| {
        format!(
            "cannot connect to network \"{}\" ({}): {why}",
            net.name,
            describe(ws, net)
        )
    };
    let password = net.resolve_password()?;
    let attempt = async {
        match net.kind {
            EngineKind::Postgres => {
                let mut o = PgConnectOptions::new()
                    .host(net.host.as_deref().unwrap_or("localhost"))
                    .port(net.effective_port().unwrap_or(5432))
                    .database(&net.database)
                    .ssl_mode(pg_ssl(net.ssl()))
                    .application_name("dsp")
                    .options([("TimeZone", "UTC"), ("bytea_output", "hex")]);
                if let Some(u) = &net.username {
                    o = o.username(u);
                }
                if let Some(p) = &password {
                    o = o.password(p.expose());
                }
                let o = o.disable_statement_logging();
                let mut c = o.connect().await.map_err(|e| db_err(&e))?;
                c.execute("SET TIME ZONE 'UTC'")
                    .await
                    .map_err(|e| db_err(&e))?;
                // PostgreSQL 14+: a backend whose client went away (a cancelled
                // or killed run) stops its statement and rolls back within a
                // second, instead of finishing a long merge first. Older
                // servers do not know the setting; that is fine.
                let _ = c
                    .execute("SET client_connection_check_interval = 1000")
                    .await;
                Ok(Conn::Pg(c))
            }
            EngineKind::Mysql => {
                let mut o = MySqlConnectOptions::new()
                    .host(net.host.as_deref().unwrap_or("localhost"))
                    .port(net.effective_port().unwrap_or(3306))
                    .database(&net.database)
                    .ssl_mode(mysql_ssl(net.ssl()))
                    .charset("utf8mb4")
                    .timezone(Some("+00:00".to_string()));
                if let Some(u) = &net.username {
                    o = o.username(u);
                }
                if let Some(p) = &password {
                    o = o.password(p.expose());
                }
                let o = o.disable_statement_logging();
                let mut c = o.connect().await.map_err(|e| db_err(&e))?;
                // Strict mode turns silent truncation into errors; no ANSI_QUOTES or
                // NO_BACKSLASH_ESCAPES, because the SQL we build relies on both.
                (&mut c)
                    .execute(sqlx::raw_sql(
                        "SET time_zone = '+00:00', \
                     sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO'; \
                     SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                    ))
                    .await
                    .map_err(|e| db_err(&e))?;
                Ok(Conn::My(c))
            }
            EngineKind::Sqlite => {
                let path = ws.sqlite_path(net);
                if role == Role::Source && !path.exists() {
                    return Err(format!(
                        "the SQLite file {} does not exist; check the network's database path",
                        path.display()
                    ));
                }
                if role == Role::Target
                    && let Some(dir) = path.parent()
                    && !dir.as_os_str().is_empty()
                    && !dir.is_dir()
                {
                    return Err(format!(
                        "the directory {} of the SQLite file does not exist; create it or fix the network's database path",
                        dir.display()
                    ));
                }
                let o = SqliteConnectOptions::new()
                    .filename(&path)
                    .read_only(role == Role::Source)
                    .create_if_missing(role == Role::Target)
                    .busy_timeout(Duration::from_secs(10))
                    // sqlx hands rows over from its SQLite thread through a
                    // channel; at the default 50 the two threads wake each
                    // other for nearly every row of a large read.
                    .row_buffer_size(4096)
                    .disable_statement_logging();
                let c = o.connect().await.map_err(|e| db_err(&e))?;
                Ok(Conn::Lite(c))
            }
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(fail(e)),
        Err(_) => Err(fail(format!(
            "no answer within {} s; check host, port and firewall",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

fn pg_ssl(m: SslMode) -> PgSslMode {
    match m {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require => PgSslMode::Require,
        SslMode::VerifyCa => PgSslMode::VerifyCa,
        SslMode::VerifyFull => PgSslMode::VerifyFull,
    }
}

fn mysql_ssl(m: SslMode) -> MySqlSslMode {
    match m {
        SslMode::Disable => MySqlSslMode::Disabled,
        SslMode::Prefer => MySqlSslMode::Preferred,
        SslMode::Require => MySqlSslMode::Required,
        SslMode::VerifyCa => MySqlSslMode::VerifyCa,
        SslMode::VerifyFull => MySqlSslMode::VerifyIdentity,
    }
}
