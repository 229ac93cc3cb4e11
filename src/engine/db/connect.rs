//! Opening a connection to a network: the password from the workspace, a
//! bounded connect time, and one sentence naming the network when it fails.
//! Each engine's own options (TLS mode, session pinned to UTC, file checks)
//! are in its module's `Dialect::connect`.

use std::time::Duration;

pub use super::session::Conn;
use crate::engine::error::{DbErrorKind, Error, Result};
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
    let fail = |why: Error| {
        why.context(format!(
            "cannot connect to network \"{}\" ({})",
            net.name,
            describe(ws, net)
        ))
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, resolve_host(net)).await {
        Ok(r) => r.map_err(fail)?,
        Err(_) => {
            return Err(fail(
                "the host name could not be looked up in time; check the host and DNS".into(),
            ));
        }
    }
    let password = net.resolve_password()?;
    let password = password.as_ref().map(|p| p.expose());
    let to = Endpoint {
        ws,
        net,
        role,
        password,
    };
    let attempt = super::dialect_of(net.kind).connect(to);
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) if e.kind() == DbErrorKind::Protocol => Err(fail(
            format!(
                "the server did not answer as a {} server; check that the port is that of a {} server",
                net.kind, net.kind
            )
            .into(),
        )),
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

/// Looks the host name up first, so that a name that does not resolve is
/// said as such (the driver's own lookup failure reads like a lost
/// connection). A network without a host (SQLite) has nothing to look up.
async fn resolve_host(net: &Network) -> Result<()> {
    let Some(host) = net.host.as_deref() else {
        return Ok(());
    };
    let port = net.effective_port().unwrap_or(0);
    match tokio::net::lookup_host((host, port))
        .await
        .map(|mut a| a.next())
    {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!("the host name {host} has no address; check the host").into()),
        Err(e) => {
            Err(format!("the host name {host} cannot be resolved ({e}); check the host").into())
        }
    }
}
