//! Per-job state in the data directory (SPEC §2): the incremental watermark, the
//! run history with each run's full log, and the lock that keeps a job from running
//! twice at once, across processes.
//!
//! OWNER: scheduler/state helper. The signatures below are the contract the runner,
//! the TUI and the daemon use.

use crate::engine::progress::{LogLine, RunSummary};
use crate::paths::DataDir;

/// Held while a job runs; dropping it releases the lock.
#[derive(Debug)]
pub struct JobLock {
    _file: std::fs::File,
}

/// Takes the job's lock, or says plainly that the job is already running.
pub fn lock_job(_data: &DataDir, _job: &str) -> Result<JobLock, String> {
    todo!("state helper")
}

/// The stored watermark of an incremental job, as the engine wrote it.
pub fn read_watermark(_data: &DataDir, _job: &str) -> std::io::Result<Option<String>> {
    todo!("state helper")
}

/// Stores the watermark atomically (temp file, fsync, rename).
pub fn write_watermark(_data: &DataDir, _job: &str, _watermark: &str) -> std::io::Result<()> {
    todo!("state helper")
}

/// One past run, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub summary: RunSummary,
    pub log: Vec<LogLine>,
}

/// Appends a finished run to the job's history.
pub fn record_run(_data: &DataDir, _summary: &RunSummary, _log: &[LogLine]) -> std::io::Result<()> {
    todo!("state helper")
}

/// The job's past runs, newest first.
pub fn history(_data: &DataDir, _job: &str) -> std::io::Result<Vec<RunRecord>> {
    todo!("state helper")
}
