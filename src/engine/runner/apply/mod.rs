//! The fourth phase: the rows into the target. A full sync stages everything
//! and applies it in one transaction, behind its guards; an incremental sync
//! commits batch by batch and moves the watermark after each commit.

mod differential;
mod full;
mod preview;

pub(super) use differential::apply as differential;

pub(super) use preview::preview;
mod incremental;
mod isolate;

use std::time::Duration;

use super::report::Report;
use super::setup::{Setup, Side};
use super::stop::Stop;
use super::stream::Reader;
use crate::engine::DbErrorKind;
use crate::engine::db::Writer;
use crate::engine::db::connect::Conn;
use crate::engine::db::plan::Plan;
use crate::workspace::SyncMode;

/// The target's writers: the one that commits, and for an incremental run
/// into a target that allows it, a second that stages the next batch meanwhile.
pub(super) struct Writers {
    main: Writer,
    ahead: Option<Writer>,
}

impl Writers {
    /// Whether the committing writer takes rows passed through untouched.
    pub(super) fn takes_wire(&self) -> bool {
        self.main.takes_wire()
    }

    /// Prepares the writers and their staging tables (outside any transaction).
    /// Staging ahead is an optimisation: a spare that cannot stage is closed,
    /// and the run goes on without it.
    pub(super) async fn open(
        target: Conn,
        spare: Option<Conn>,
        plan: &Plan,
        s: &Setup<'_>,
    ) -> Result<Self, Stop> {
        let (t, cancel) = (&s.target, s.cancel);
        let mut main = t.op(cancel, Writer::new(target, plan)).await?;
        if let Err(e) = t.op(cancel, main.create_stage()).await {
            main.close().await;
            return Err(e);
        }
        let ahead = match spare {
            Some(c) => {
                let mut w = t.op(cancel, Writer::new(c, plan)).await?;
                match t.op(cancel, w.create_stage()).await {
                    Ok(()) => Some(w),
                    Err(_) => {
                        w.close().await;
                        None
                    }
                }
            }
            None => None,
        };
        Ok(Writers { main, ahead })
    }

    /// Closes the writers. After a failure, whatever the target was doing must
    /// not commit: roll back if the connection still answers, else closing it
    /// makes the server do so.
    pub(super) async fn close(self, succeeded: bool) {
        let all = std::iter::once(self.main).chain(self.ahead);
        if succeeded {
            for w in all {
                w.close().await;
            }
            return;
        }
        for mut w in all {
            let _ = tokio::time::timeout(Duration::from_secs(1), w.rollback()).await;
            let _ = tokio::time::timeout(Duration::from_secs(1), w.close()).await;
        }
    }
}

/// Drains the reader into the target, the job's mode deciding how;
/// `watermark` is where the last incremental run stopped.
pub(super) async fn apply(
    report: &mut Report,
    s: &Setup<'_>,
    plan: &Plan,
    writers: &mut Writers,
    reader: &mut Reader,
    watermark: Option<String>,
) -> Result<(), Stop> {
    match s.job.mode {
        SyncMode::Full => full::apply(report, s, plan, &mut writers.main, reader).await,
        SyncMode::Incremental => {
            let ahead = writers.ahead.as_mut();
            let w = &mut writers.main;
            incremental::apply(report, s, plan, w, ahead, reader, watermark).await
        }
    }
}

/// Commits the target's transaction. A connection lost while the COMMIT was
/// on its way leaves the outcome unknown (the server may have committed and
/// not been able to say so): that is reported as such, not as a plain
/// failure, so nobody reads "failed, 0 rows" of a target that was updated.
pub(super) async fn commit(w: &mut Writer, t: &Side<'_>) -> Result<(), Stop> {
    t.waiting("answer to its COMMIT");
    let r = w.commit().await;
    t.answered();
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == DbErrorKind::ConnectionLost => Err(Stop::failed(format!(
            "{}: the connection was lost while the COMMIT was on its way ({e}), so whether this \
             run's changes were committed is unknown; running the job again is safe: a full sync \
             mirrors the source either way, an incremental run re-reads the rows past its last \
             saved watermark",
            t.label
        ))),
        Err(e) => Err(t.fail(e)),
    }
}
