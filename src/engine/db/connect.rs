//! Opening a connection to a network: the password from the workspace, a
//! bounded connect time, and one sentence naming the network when it fails.
//! Each engine's own options (TLS mode, session pinned to UTC, file checks)
//! are in its module's `Dialect::connect`.

use std::time::Duration;

pub use super::session::Conn;
use crate::engine::error::{Error, Result};
use crate::workspace::{Network, Workspace};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Whether a connection reads (the source, never written) or writes (the target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Source,
    Target,
}

/// What a connection is opened to: a network of the workspace, for a role,
/// with the password already resolved.
#[derive(Clone, Copy)]
pub struct Endpoint<'a> {
    pub ws: &'a Workspace,
    pub net: &'a Network,
    pub role: Role,
    pub password: Option<&'a str>,
}

/// How messages name a connection (`postgresql://user:***@host:5432/db`,
/// `sqlite:path`); the password is never part of it.
pub fn describe(ws: &Workspace, net: &Network) -> String {
    super::dialect_of(net.kind).describe(ws, net)
}

/// Connects to `net`; every error is one sentence naming the network.
pub async fn connect(ws: &Workspace, net: &Network, role: Role) -> Result<Conn> {
    let password = net.resolve_password()?;
    let password = password.as_ref().map(|p| p.expose());
    let to = Endpoint {
        ws,
        net,
        role,
        password,
    };
    let attempt = super::dialect_of(net.kind).connect(to);
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
