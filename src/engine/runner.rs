//! The sync algorithm of SPEC §4: full and incremental runs.
//!
//! OWNER: engine helper. `run_job` is the contract the TUI, `dsp run` and the
//! scheduler use.

use tokio_util::sync::CancellationToken;

use crate::engine::progress::{Reporter, RunSummary};
use crate::paths::DataDir;
use crate::workspace::Workspace;

/// Runs one job to its end: takes the job's lock, reports progress through
/// `reporter`, records the run in the history, and returns its summary. Never
/// panics on bad input; every failure is a `RunSummary` with status Failed and
/// an operator-readable `error`.
pub async fn run_job(
    _workspace: &Workspace,
    _job: &str,
    _data: &DataDir,
    _cancel: CancellationToken,
    _reporter: Reporter,
) -> RunSummary {
    todo!("engine helper")
}
