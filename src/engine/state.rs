//! Per-job state in the data directory (SPEC §2): the incremental watermark, the
//! run history with each run's full log, and the lock that keeps a job from running
//! twice at once, across processes.
//!
//! Layout under `DataDir::job_dir(job)`: `lock`, `watermark`, `history/<start>.json`.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::progress::{Level, LogLine, RunStatus, RunSummary};
use crate::paths::DataDir;
use crate::workspace::SyncMode;
use crate::workspace::save::write_atomic;

/// How many past runs a job keeps; older ones are pruned when a run is recorded.
pub const HISTORY_KEEP: usize = 100;

/// Held while a job runs; dropping it (or the process dying) releases the lock.
#[derive(Debug)]
pub struct JobLock {
    _file: File,
}

/// Takes the job's lock, or says plainly that the job is already running.
///
/// An OS file lock (flock) rather than a pid file: the kernel drops it when the
/// holder dies, even by SIGKILL, so a crash never leaves a job locked.
pub fn lock_job(data: &DataDir, job: &str) -> Result<JobLock, String> {
    let dir = data.ensure_job_dir(job).map_err(|e| {
        format!(
            "cannot create the state directory {}: {e}",
            data.job_dir(job).display()
        )
    })?;
    let path = dir.join("lock");
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&path)
        .map_err(|e| format!("cannot open the lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(JobLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "job \"{job}\" is already running (in this or another DSP process); wait for it to finish"
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!(
            "cannot lock job \"{job}\" ({}): {e}",
            path.display()
        )),
    }
}

fn watermark_path(data: &DataDir, job: &str) -> PathBuf {
    data.job_dir(job).join("watermark")
}

/// The stored watermark of an incremental job, as the engine wrote it.
pub fn read_watermark(data: &DataDir, job: &str) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(watermark_path(data, job)) {
        Ok(s) if s.trim().is_empty() => Ok(None),
        Ok(s) => Ok(Some(s.trim_end_matches('\n').to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Stores the watermark atomically (temp file, fsync, rename): after a crash the
/// file holds the old or the new value, never a torn one.
pub fn write_watermark(data: &DataDir, job: &str, watermark: &str) -> std::io::Result<()> {
    data.ensure_job_dir(job)?;
    write_atomic(
        &watermark_path(data, job),
        format!("{watermark}\n").as_bytes(),
    )
}

/// Forgets the watermark, so the next incremental run loads everything.
pub fn clear_watermark(data: &DataDir, job: &str) -> std::io::Result<()> {
    match std::fs::remove_file(watermark_path(data, job)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// One past run, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub summary: RunSummary,
    pub log: Vec<LogLine>,
}

/// The on-disk form; plain strings so the file stays readable with `jq` and
/// stable if the in-memory types change.
#[derive(Serialize, Deserialize)]
struct StoredRun {
    job: String,
    mode: String,
    status: String,
    started: DateTime<Utc>,
    ended: DateTime<Utc>,
    total: u64,
    success: u64,
    failed: u64,
    error: Option<String>,
    log: Vec<StoredLine>,
}

#[derive(Serialize, Deserialize)]
struct StoredLine {
    at: DateTime<Utc>,
    level: String,
    message: String,
}

fn history_dir(data: &DataDir, job: &str) -> PathBuf {
    data.job_dir(job).join("history")
}

/// Appends a finished run to the job's history.
pub fn record_run(data: &DataDir, summary: &RunSummary, log: &[LogLine]) -> std::io::Result<()> {
    data.ensure_job_dir(&summary.job)?;
    let dir = history_dir(data, &summary.job);
    DataDir::ensure(&dir)?;
    let stored = StoredRun {
        job: summary.job.clone(),
        mode: summary.mode.as_str().into(),
        status: summary.status.as_str().into(),
        started: summary.started,
        ended: summary.ended,
        total: summary.total,
        success: summary.success,
        failed: summary.failed,
        error: summary.error.clone(),
        log: log
            .iter()
            .map(|l| StoredLine {
                at: l.at,
                level: l.level.as_str().into(),
                message: l.message.clone(),
            })
            .collect(),
    };
    let json = serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)?;
    // Sortable by name = by start time; the nanoseconds keep two quick runs apart.
    let name = format!("{}.json", summary.started.format("%Y%m%dT%H%M%S%.9fZ"));
    write_atomic(&dir.join(name), &json)?;
    prune(&dir)
}

fn run_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    files.sort();
    files.reverse();
    Ok(files)
}

fn prune(dir: &Path) -> std::io::Result<()> {
    for old in run_files(dir)?.into_iter().skip(HISTORY_KEEP) {
        let _ = std::fs::remove_file(old);
    }
    Ok(())
}

/// The job's past runs, newest first. A damaged record is skipped rather than
/// hiding the rest of the history.
pub fn history(data: &DataDir, job: &str) -> std::io::Result<Vec<RunRecord>> {
    let mut out = Vec::new();
    for file in run_files(&history_dir(data, job))? {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        let Ok(s) = serde_json::from_slice::<StoredRun>(&bytes) else {
            continue;
        };
        out.push(RunRecord {
            summary: RunSummary {
                job: s.job,
                mode: SyncMode::parse(&s.mode).unwrap_or_default(),
                status: match s.status.as_str() {
                    "succeeded" => RunStatus::Succeeded,
                    "cancelled" => RunStatus::Cancelled,
                    _ => RunStatus::Failed,
                },
                started: s.started,
                ended: s.ended,
                total: s.total,
                success: s.success,
                failed: s.failed,
                error: s.error,
            },
            log: s
                .log
                .into_iter()
                .map(|l| LogLine {
                    at: l.at,
                    level: match l.level.as_str() {
                        "WARN" => Level::Warn,
                        "ERROR" => Level::Error,
                        _ => Level::Info,
                    },
                    message: l.message,
                })
                .collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(job: &str, started: DateTime<Utc>, status: RunStatus) -> RunSummary {
        RunSummary {
            job: job.into(),
            mode: SyncMode::Full,
            status,
            started,
            ended: started,
            total: 3,
            success: 3,
            failed: 0,
            error: None,
        }
    }

    #[test]
    fn a_second_lock_on_the_same_job_is_refused_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let first = lock_job(&data, "Sync Users").unwrap();
        let err = lock_job(&data, "Sync Users").unwrap_err();
        assert!(err.contains("already running"), "{err}");
        // Another job is independent.
        let _other = lock_job(&data, "Sync Orders").unwrap();
        drop(first);
        lock_job(&data, "Sync Users").expect("released on drop");
    }

    /// Job names, watermarks and run logs are the operator's alone: what DSP
    /// creates under the data dir is 0700 (directories) and 0600 (files), and a
    /// `jobs/` left 0755 by an older DSP is narrowed.
    #[cfg(unix)]
    #[test]
    fn state_is_readable_only_by_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        let data = DataDir::new(&root);
        std::fs::create_dir_all(root.join("jobs")).unwrap();
        std::fs::set_permissions(root.join("jobs"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let lock = lock_job(&data, "Sync Users").unwrap();
        write_watermark(&data, "Sync Users", "2024-01-01T00:00:00Z").unwrap();
        record_run(
            &data,
            &summary("Sync Users", Utc::now(), RunStatus::Succeeded),
            &[],
        )
        .unwrap();
        drop(lock);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let job = data.job_dir("Sync Users");
        for d in [root.join("jobs"), job.clone(), job.join("history")] {
            assert_eq!(mode(&d), 0o700, "{}", d.display());
        }
        assert_eq!(mode(&job.join("lock")), 0o600);
        assert_eq!(mode(&job.join("watermark")), 0o600);
        for f in std::fs::read_dir(job.join("history")).unwrap() {
            assert_eq!(mode(&f.unwrap().path()), 0o600);
        }
        // A data dir DSP creates is its own too.
        let fresh = dir.path().join("fresh");
        lock_job(&DataDir::new(&fresh), "J").unwrap();
        assert_eq!(mode(&fresh), 0o700);
    }

    #[test]
    fn watermark_round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        assert_eq!(read_watermark(&data, "J").unwrap(), None);
        write_watermark(&data, "J", "2024-01-01T00:00:00.123456Z").unwrap();
        write_watermark(&data, "J", "2024-01-02T00:00:00.000001Z").unwrap();
        assert_eq!(
            read_watermark(&data, "J").unwrap().as_deref(),
            Some("2024-01-02T00:00:00.000001Z")
        );
        let files: Vec<_> = std::fs::read_dir(data.job_dir("J")).unwrap().collect();
        assert_eq!(files.len(), 1, "no temp files left: {files:?}");
        clear_watermark(&data, "J").unwrap();
        assert_eq!(read_watermark(&data, "J").unwrap(), None);
    }

    #[test]
    fn history_is_newest_first_with_its_log_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let t0 = DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
            .unwrap()
            .to_utc();
        for i in 0..(HISTORY_KEEP as i64 + 5) {
            let status = if i % 2 == 0 {
                RunStatus::Succeeded
            } else {
                RunStatus::Failed
            };
            let s = summary("J", t0 + chrono::Duration::seconds(i), status);
            let log = vec![LogLine::new(Level::Info, format!("run {i}"))];
            record_run(&data, &s, &log).unwrap();
        }
        let h = history(&data, "J").unwrap();
        assert_eq!(h.len(), HISTORY_KEEP);
        assert_eq!(
            h[0].summary.started,
            t0 + chrono::Duration::seconds(HISTORY_KEEP as i64 + 4)
        );
        assert_eq!(h[0].log[0].message, format!("run {}", HISTORY_KEEP + 4));
        assert_eq!(h[0].summary.status, RunStatus::Succeeded);
        assert_eq!(h[1].summary.status, RunStatus::Failed);
        assert!(history(&data, "other").unwrap().is_empty());
    }
}
