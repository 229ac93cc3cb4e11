//! Opening a connection to a network: the password from the workspace, a
//! bounded connect time, and one sentence naming the network when it fails.
//! Each engine's own options (TLS mode, session pinned to UTC, file checks)
//! are in its module's `Dialect::connect`.

use std::time::Duration;

pub use super::session::Conn;
use crate::engine::error::{Error, Result};
use crate::workspace::{EngineKind, Network, Workspace};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Whether a connection reads (the source, never written) or writes (the target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Source,
    Target,
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
pub async fn connect(ws: &Workspace, net: &Network, role: Role) -> Result<Conn> {
    let password = net.resolve_password()?;
    let password = password.as_ref().map(|p| p.expose());
    let attempt = super::dialect_of(net.kind).connect(ws, net, role, password);
    let fail = |why: Error| {
        why.context(format!(
            "cannot connect to network \"{}\" ({})",
            net.name,
            describe(ws, net)
        ))
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(fail(e)),
        Err(_) => Err(fail(
            format!(
                "no answer within {} s; check host, port and firewall",
                CONNECT_TIMEOUT.as_secs()
            )
            .into(),
        )),
    }
}
