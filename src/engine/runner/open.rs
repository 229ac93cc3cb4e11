//! The first phase: connecting to both ends at once.

use std::fmt::Display;

use super::liveness::short;
use super::setup::Setup;
use super::stop::{Stop, or_cancel};
use crate::engine::db::connect::{Conn, Role, connect, describe};
use crate::engine::db::{Source, Writer};
use crate::workspace::{Network, SyncMode, Workspace};

/// The connections a run opened. The two main ones keep their errors, for
/// planning to report in its own order; a spare that could not be opened is
/// simply absent, and the run goes without what it would have sped up.
pub(super) struct Ends {
    pub(super) target: Result<Conn, Stop>,
    pub(super) source: Result<Conn, Stop>,
    /// Counts the source's rows while they stream.
    pub(super) counter: Option<Conn>,
    /// Stages the next batch while the last one is applied.
    pub(super) spare: Option<Conn>,
}

/// Opens every connection the run needs at the same time: over TLS to remote
/// servers each can take a good part of a second.
pub(super) async fn open(s: &Setup<'_>) -> Ends {
    let (ws, cancel) = (s.ws, s.cancel);
    let (source, target) = (s.source.net, s.target.net);
    let (target_conn, source_conn, counter, spare) = tokio::join!(
        or_cancel(
            cancel,
            bounded(ws, target, connect(ws, target, Role::Target))
        ),
        or_cancel(
            cancel,
            bounded(ws, source, connect(ws, source, Role::Source))
        ),
        // A spare for counting the rows while they stream; without it
        // the count runs first, as it must on the other engines.
        or_cancel(cancel, async {
            Ok::<_, String>(if Source::counts_alongside(source) {
                bounded(ws, source, connect(ws, source, Role::Source))
                    .await
                    .ok()
            } else {
                None
            })
        }),
        // A spare for staging the next batch while the last one is
        // applied (incremental runs into PostgreSQL).
        or_cancel(cancel, async {
            Ok::<_, String>(
                if s.job.mode == SyncMode::Incremental && Writer::stages_ahead(target) {
                    bounded(ws, target, connect(ws, target, Role::Target))
                        .await
                        .ok()
                } else {
                    None
                },
            )
        }),
    );
    Ends {
        target: target_conn,
        source: source_conn,
        counter: counter.ok().flatten(),
        spare: spare.ok().flatten(),
    }
}

/// A connection that does not come up within the network's `stall_timeout`
/// (a server that accepts and then says nothing) is an error naming it.
pub(super) async fn bounded<E: Display>(
    ws: &Workspace,
    net: &Network,
    connecting: impl Future<Output = Result<Conn, E>>,
) -> Result<Conn, String> {
    let limit = net.stall_timeout();
    match tokio::time::timeout(limit, connecting).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "cannot connect to network \"{}\" ({}): no answer for {} (its stall_timeout); check that \
             the host and port are those of a running server",
            net.name,
            describe(ws, net),
            short(limit)
        )),
    }
}
