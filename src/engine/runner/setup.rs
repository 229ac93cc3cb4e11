//! What every phase of a run works from: the job, its schema, both ends, and
//! how an error names the end it happened on.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::liveness::Liveness;
use super::stop::{Stop, or_cancel};
use crate::engine::db;
use crate::engine::db::connect::describe;
use crate::engine::error::Error;
use crate::engine::state;
use crate::paths::DataDir;
use crate::workspace::{Job, Network, Schema, Workspace};

pub(super) struct Setup<'a> {
    pub(super) ws: &'a Workspace,
    pub(super) data: &'a DataDir,
    pub(super) job: Job,
    pub(super) schema: &'a Schema,
    pub(super) source: Side<'a>,
    pub(super) target: Side<'a>,
    pub(super) cancel: &'a CancellationToken,
    /// The job's watermark, tied to this source, cursor and target.
    pub(super) watermarks: state::WatermarkStore<'a>,
    /// A dry run: everything up to the changes, then nothing written.
    pub(super) dry_run: bool,
    /// This run ignores the stored watermark (`dsp run --full-refresh`).
    pub(super) full_refresh: bool,
    /// `state = "target"`: the watermark is read from the target's state
    /// table and written in each batch's transaction.
    pub(super) state_in_target: bool,
    /// The watermark read from the target, when the state lives there.
    pub(super) target_watermark: Option<state::Watermark>,
}

/// One end of the run: its network and table, and the words that name both
/// in its errors.
pub(super) struct Side<'a> {
    /// What the run heard last, shared by both ends and the watchdog.
    live: Arc<Liveness>,
    pub(super) net: &'a Network,
    pub(super) table: &'a str,
    /// `source network "S" (postgresql://h:5432/db), table users`
    pub(super) label: String,
}

impl<'a> Setup<'a> {
    /// Finds the job and what it names; fails when the workspace lacks any.
    pub(super) fn new(
        ws: &'a Workspace,
        data: &'a DataDir,
        job: &str,
        cancel: &'a CancellationToken,
        live: &Arc<Liveness>,
    ) -> Result<Self, Stop> {
        let found = ws.job(job).ok_or_else(|| {
            Stop::failed(format!("there is no job named \"{job}\" in the workspace"))
        })?;
        let job = found.clone();
        let (schema, source, target) = db::job_parts(ws, &job)?;
        let watermarks = state::WatermarkStore {
            data,
            job: &found.name,
            owner: state::WatermarkOwner::of(ws, schema, source, target),
        };
        Ok(Setup {
            ws,
            data,
            watermarks,
            schema,
            source: Side::new(ws, "source", source, &schema.source_table, live),
            target: Side::new(ws, "target", target, &schema.target_table, live),
            cancel,
            job,
            dry_run: false,
            full_refresh: false,
            state_in_target: crate::engine::target_state::in_target(ws, found),
            target_watermark: None,
        })
    }

    /// Rows per batch (never zero: a batch must hold a row).
    pub(super) fn batch_size(&self) -> u64 {
        self.job.batch_size().max(1)
    }
}

impl<'a> Side<'a> {
    fn new(
        ws: &Workspace,
        role: &str,
        net: &'a Network,
        table: &'a str,
        live: &Arc<Liveness>,
    ) -> Self {
        Side {
            live: live.clone(),
            net,
            table,
            label: format!(
                "{role} network \"{}\" ({}), table {table}",
                net.name,
                describe(ws, net)
            ),
        }
    }

    /// A failure on this end, named (its kind kept).
    pub(super) fn fail(&self, e: impl Into<Error>) -> Stop {
        Stop::Failed(e.into().context(&self.label))
    }

    /// Names a failure on this end; a cancel stays a cancel.
    pub(super) fn name(&self, s: Stop) -> Stop {
        match s {
            Stop::Failed(e) => self.fail(e),
            c => c,
        }
    }

    /// Awaits an operation on this end unless the run is cancelled first;
    /// the run's watchdog gives it this network's `stall_timeout`.
    pub(super) async fn op<T, E: Into<Error>>(
        &self,
        cancel: &CancellationToken,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, Stop> {
        self.waiting("answer");
        let r = or_cancel(cancel, fut).await.map_err(|s| self.name(s));
        self.live.beat();
        r
    }

    /// From now on the run waits on this end for `what`.
    pub(super) fn waiting(&self, what: &'static str) {
        self.live
            .waiting_for(&self.label, what, self.net.stall_timeout());
    }

    /// This end answered.
    pub(super) fn answered(&self) {
        self.live.beat();
    }

    /// What lets a wait on this end elsewhere (a count alongside the read)
    /// be watched like `op`: the watchdog then gives it this end's limit.
    pub(super) fn watch(&self) -> SideWatch {
        SideWatch {
            live: self.live.clone(),
            label: self.label.clone(),
            limit: self.net.stall_timeout(),
        }
    }
}

/// An end's watchdog handle, owned (see `Side::watch`).
pub(super) struct SideWatch {
    live: Arc<Liveness>,
    label: String,
    limit: std::time::Duration,
}

impl SideWatch {
    /// From now on the run waits on this end for `what`.
    pub(super) fn waiting(&self, what: &'static str) {
        self.live.waiting_for(&self.label, what, self.limit);
    }
}
