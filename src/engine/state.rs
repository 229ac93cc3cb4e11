//! Per-job state in the data directory (docs/SPEC.md §2): the incremental watermark, the
//! run history with each run's full log, and the lock that keeps a job from running
//! twice at once, across processes.
//!
//! Layout under `DataDir::job_dir(job)`: `lock`, `watermark`, `history/<start>.json`.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::progress::{Changes, Level, LogLine, RunStatus, RunSummary, Trigger};
use crate::paths::DataDir;
use crate::workspace::save::write_atomic;
use crate::workspace::{Network, Schema, SyncMode, Workspace};

/// How many past runs a job keeps; older ones are pruned when a run is recorded.
pub(crate) const HISTORY_KEEP: usize = 100;

/// Held while a job runs; dropping it (or the process dying) releases the lock.
#[derive(Debug)]
pub struct JobLock {
    _file: File,
}

/// How often `lock_job` tries a held lock again, 10 ms apart.
const LOCK_TRIES: u32 = 20;

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
    // A lock just released can look held for a moment: a process spawned
    // (by this one, on another thread) while the holder's file was open
    // shares that open file, and with it the lock, until its `exec` closes
    // it. A busy machine stretches that moment to milliseconds, so a run
    // right after another tries again for a little while before saying the
    // job is running.
    let mut tries = 0;
    let locked = loop {
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) if tries < LOCK_TRIES => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            r => break r,
        }
    };
    match locked {
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

/// Whether a run of `job` from this data dir (this or another DSP process)
/// holds its lock now. Takes the lock for an instant if it is free (a run
/// starting then waits for it, see `lock_job`).
pub fn job_running(data: &DataDir, job: &str) -> bool {
    let path = data.job_dir(job).join("lock");
    // No lock file: the job never ran here.
    let Ok(file) = OpenOptions::new().write(true).open(&path) else {
        return false;
    };
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// The newest run record of `job` (its file), to tell whether a run ended
/// between two moments.
pub fn last_run(data: &DataDir, job: &str) -> Option<PathBuf> {
    run_files(&history_dir(data, job)).ok()?.into_iter().next()
}

fn watermark_path(data: &DataDir, job: &str) -> PathBuf {
    data.job_dir(job).join("watermark")
}

/// What a watermark belongs to. A watermark says "the target holds every row
/// up to here", which is true only of the source, table and cursor it was read
/// from and the target it was written to: point the job elsewhere and it must
/// start over, or the rows before the watermark are silently never copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WatermarkOwner {
    /// Where the source lives (`postgresql://host:5432/db`; no user, no password).
    pub source: String,
    pub source_table: String,
    pub cursor_column: String,
    pub target: String,
    pub target_table: String,
}

impl WatermarkOwner {
    /// What a job mapping `schema` from `source` to `target` owns.
    pub(crate) fn of(ws: &Workspace, schema: &Schema, source: &Network, target: &Network) -> Self {
        let location = |n: &Network| crate::engine::db::dialect_of(n.kind).location(ws, n);
        WatermarkOwner {
            source: location(source),
            source_table: schema.source_table.clone(),
            cursor_column: schema.cursor_column.clone().unwrap_or_default(),
            target: location(target),
            target_table: schema.target_table.clone(),
        }
    }

    /// The first field that differs from `other`, said for an operator.
    pub(crate) fn difference(&self, other: &WatermarkOwner) -> Option<String> {
        let fields = [
            ("source", &self.source, &other.source),
            ("source table", &self.source_table, &other.source_table),
            ("cursor column", &self.cursor_column, &other.cursor_column),
            ("target", &self.target, &other.target),
            ("target table", &self.target_table, &other.target_table),
        ];
        fields
            .into_iter()
            .find(|(_, a, b)| a != b)
            .map(|(what, was, now)| format!("the {what} changed from {was} to {now}"))
    }
}

#[derive(Serialize, Deserialize)]
struct StoredWatermark {
    value: String,
    #[serde(flatten)]
    owner: WatermarkOwner,
}

/// A job's stored watermark, judged against what the job syncs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Watermark {
    /// No watermark: the run loads everything.
    None,
    /// The watermark of this very source, cursor and target.
    Current(String),
    /// Written by a DSP that did not record what it belonged to; taken as this
    /// job's (the job's configuration is all it could have belonged to).
    Unowned(String),
    /// The job now reads or writes elsewhere: the run must start over.
    Stale { value: String, why: String },
}

/// The stored watermark value of an incremental job, whatever it belongs to.
pub fn read_watermark(data: &DataDir, job: &str) -> std::io::Result<Option<String>> {
    let path = watermark_path(data, job);
    let text = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    parse_watermark(&text)
        .map(|w| w.map(|(value, _)| value))
        .map_err(std::io::Error::other)
}

/// One job's watermark in the data dir, for the source and target it syncs now.
pub(crate) struct WatermarkStore<'a> {
    pub data: &'a DataDir,
    pub job: &'a str,
    pub owner: WatermarkOwner,
}

impl WatermarkStore<'_> {
    /// The stored watermark judged against the owner; an unreadable or
    /// corrupt file is an error that names the file and what to do.
    pub fn load(&self) -> Result<Watermark, String> {
        load_watermark(self.data, self.job, &self.owner)
    }
    /// Stores `value` as the watermark of the rows the target now holds.
    pub fn save(&self, value: &str) -> std::io::Result<()> {
        write_watermark(self.data, self.job, &self.owner, value)
    }
}

fn load_watermark(data: &DataDir, job: &str, owner: &WatermarkOwner) -> Result<Watermark, String> {
    let path = watermark_path(data, job);
    let bad = |why: String| {
        format!(
            "the watermark file {} of job \"{job}\" {why}; delete it to make the next run load everything again",
            path.display()
        )
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Watermark::None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(bad("is not text".into()));
        }
        Err(e) => return Err(bad(format!("cannot be read ({e})"))),
    };
    Ok(match parse_watermark(&text).map_err(bad)? {
        None => Watermark::None,
        Some((value, None)) => Watermark::Unowned(value),
        Some((value, Some(stored))) => match stored.difference(owner) {
            None => Watermark::Current(value),
            Some(why) => Watermark::Stale { value, why },
        },
    })
}

/// A watermark file's value and owner: JSON since owners are recorded, one
/// line of text before that.
fn parse_watermark(text: &str) -> Result<Option<(String, Option<WatermarkOwner>)>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.starts_with('{') {
        let stored: StoredWatermark =
            serde_json::from_str(trimmed).map_err(|e| format!("is corrupt ({e})"))?;
        return Ok(Some((stored.value, Some(stored.owner))));
    }
    if trimmed.lines().count() > 1 || trimmed.chars().any(char::is_control) {
        return Err("is corrupt (not a single watermark value)".into());
    }
    Ok(Some((trimmed.to_string(), None)))
}

/// Stores the watermark with what it belongs to, atomically (temp file, fsync,
/// rename): after a crash the file holds the old or the new value, never a
/// torn one.
fn write_watermark(
    data: &DataDir,
    job: &str,
    owner: &WatermarkOwner,
    value: &str,
) -> std::io::Result<()> {
    data.ensure_job_dir(job)?;
    let stored = StoredWatermark {
        value: value.to_string(),
        owner: owner.clone(),
    };
    let mut json = serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)?;
    json.push(b'\n');
    write_atomic(&watermark_path(data, job), &json)
}

/// Forgets a job's watermark (`dsp reset`): the next incremental run reads
/// every row again. Returns the value forgotten, if there was one.
pub fn forget_watermark(data: &DataDir, job: &str) -> std::io::Result<Option<String>> {
    let before = read_watermark(data, job).ok().flatten();
    match std::fs::remove_file(watermark_path(data, job)) {
        Ok(()) => Ok(before),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// One past run, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub summary: RunSummary,
    pub log: Vec<LogLine>,
    /// What started it; `None` in records written before DSP recorded that.
    pub trigger: Option<Trigger>,
    /// What was out of the ordinary: a full refresh, a watermark forgotten.
    pub note: Option<String>,
}

/// How a run came about, recorded beside its summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunNote {
    pub trigger: Trigger,
    pub note: Option<String>,
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
    /// Absent in runs recorded before DSP counted changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    changes: Option<StoredChanges>,
    /// Absent from records of older DSPs, which still load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trigger: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    log: Vec<StoredLine>,
}

#[derive(Serialize, Deserialize)]
struct StoredChanges {
    inserted: u64,
    updated: u64,
    deleted: u64,
    unchanged: u64,
}

impl From<StoredChanges> for Changes {
    fn from(c: StoredChanges) -> Self {
        Changes {
            inserted: c.inserted,
            updated: c.updated,
            deleted: c.deleted,
            unchanged: c.unchanged,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StoredLine {
    at: DateTime<Utc>,
    level: String,
    message: String,
}

/// What the job's newest recorded run changed, when it counted changes.
pub fn last_changes(data: &DataDir, job: &str) -> Option<Changes> {
    let bytes = std::fs::read(last_run(data, job)?).ok()?;
    let c = serde_json::from_slice::<StoredRun>(&bytes).ok()?.changes?;
    Some(c.into())
}

fn history_dir(data: &DataDir, job: &str) -> PathBuf {
    data.job_dir(job).join("history")
}

/// Appends a finished run to the job's history.
pub fn record_run(data: &DataDir, summary: &RunSummary, log: &[LogLine]) -> std::io::Result<()> {
    record_run_as(data, summary, log, &RunNote::default())
}

/// Appends a finished run to the job's history with what started it.
pub fn record_run_as(
    data: &DataDir,
    summary: &RunSummary,
    log: &[LogLine],
    how: &RunNote,
) -> std::io::Result<()> {
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
        changes: summary.changes.map(|c| StoredChanges {
            inserted: c.inserted,
            updated: c.updated,
            deleted: c.deleted,
            unchanged: c.unchanged,
        }),
        trigger: Some(how.trigger.as_str().into()),
        note: how.note.clone(),
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
    write_atomic(&run_file(data, summary), &json)?;
    prune(&dir)
}

/// The file of a run's record: sortable by name = by start time; the
/// nanoseconds keep two quick runs apart.
fn run_file(data: &DataDir, summary: &RunSummary) -> PathBuf {
    let name = format!("{}.json", summary.started.format("%Y%m%dT%H%M%S%.9fZ"));
    history_dir(data, &summary.job).join(name)
}

/// Adds what came after a recorded run (its alerts) to its record: log lines
/// at the end of its log and `notes` after its note, its outcome unchanged.
pub fn amend_run(
    data: &DataDir,
    summary: &RunSummary,
    notes: &[String],
    log: &[LogLine],
) -> std::io::Result<()> {
    if notes.is_empty() && log.is_empty() {
        return Ok(());
    }
    let path = run_file(data, summary);
    let mut stored: StoredRun =
        serde_json::from_slice(&std::fs::read(&path)?).map_err(std::io::Error::other)?;
    let mut all: Vec<String> = stored.note.take().into_iter().collect();
    all.extend(notes.iter().cloned());
    stored.note = (!all.is_empty()).then(|| all.join("; "));
    stored.log.extend(log.iter().map(|l| StoredLine {
        at: l.at,
        level: l.level.as_str().into(),
        message: l.message.clone(),
    }));
    let json = serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)?;
    write_atomic(&path, &json)
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
            trigger: s.trigger.as_deref().and_then(Trigger::parse),
            note: s.note,
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
                changes: s.changes.map(Changes::from),
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
            changes: Some(Changes::all_inserted(3)),
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
        write_watermark(&data, "Sync Users", &owner(), "2024-01-01T00:00:00Z").unwrap();
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
        write_watermark(&data, "J", &owner(), "2024-01-01T00:00:00.123456Z").unwrap();
        write_watermark(&data, "J", &owner(), "2024-01-02T00:00:00.000001Z").unwrap();
        assert_eq!(
            read_watermark(&data, "J").unwrap().as_deref(),
            Some("2024-01-02T00:00:00.000001Z")
        );
        let files: Vec<_> = std::fs::read_dir(data.job_dir("J")).unwrap().collect();
        assert_eq!(files.len(), 1, "no temp files left: {files:?}");
    }

    fn owner() -> WatermarkOwner {
        WatermarkOwner {
            source: "postgresql://db1:5432/app".into(),
            source_table: "users".into(),
            cursor_column: "updated_at".into(),
            target: "mysql://db2:3306/dw".into(),
            target_table: "dim_users".into(),
        }
    }

    fn store_of(data: &DataDir, owner: WatermarkOwner) -> WatermarkStore<'_> {
        WatermarkStore {
            data,
            job: "J",
            owner,
        }
    }

    #[test]
    fn a_watermark_belongs_to_its_source_cursor_and_target() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let store = store_of(&data, owner());
        assert_eq!(store.load().unwrap(), Watermark::None);
        store.save("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(
            store.load().unwrap(),
            Watermark::Current("2024-01-01T00:00:00Z".into())
        );
        let elsewhere = |f: fn(&mut WatermarkOwner)| {
            let mut o = owner();
            f(&mut o);
            store_of(&data, o).load().unwrap()
        };
        let new_target = elsewhere(|o| o.target = "mysql://db3:3306/dw".into());
        assert_eq!(
            new_target,
            Watermark::Stale {
                value: "2024-01-01T00:00:00Z".into(),
                why: "the target changed from mysql://db2:3306/dw to mysql://db3:3306/dw".into()
            }
        );
        let new_cursor = elsewhere(|o| o.cursor_column = "id".into());
        assert!(
            matches!(&new_cursor, Watermark::Stale { why, .. } if why.contains("cursor column")),
            "{new_cursor:?}"
        );
    }

    #[test]
    fn an_old_plain_watermark_is_kept_and_a_corrupt_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let store = store_of(&data, owner());
        data.ensure_job_dir("J").unwrap();
        let file = data.job_dir("J").join("watermark");
        std::fs::write(&file, "2024-03-01 00:05:00+00\n").unwrap();
        assert_eq!(
            store.load().unwrap(),
            Watermark::Unowned("2024-03-01 00:05:00+00".into())
        );
        for corrupt in [&b"{\"value\": 3"[..], b"\xff\xfe\x00garbage", b"a\nb\nc"] {
            std::fs::write(&file, corrupt).unwrap();
            let e = store.load().unwrap_err();
            assert!(
                e.contains(&file.display().to_string()) && e.contains("delete it"),
                "{e}"
            );
        }
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

    /// Runs recorded before DSP counted changes still load, without counts;
    /// new ones keep theirs.
    #[test]
    fn history_keeps_change_counts_and_loads_old_runs_without_them() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let t0 = DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
            .unwrap()
            .to_utc();
        record_run(&data, &summary("J", t0, RunStatus::Succeeded), &[]).unwrap();
        let old = r#"{"job":"J","mode":"full","status":"succeeded",
            "started":"2024-04-01T10:00:00Z","ended":"2024-04-01T10:00:01Z",
            "total":2,"success":2,"failed":0,"error":null,"log":[]}"#;
        let file = history_dir(&data, "J").join("20240401T100000.000000000Z.json");
        std::fs::write(file, old).unwrap();
        let h = history(&data, "J").unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].summary.changes, Some(Changes::all_inserted(3)));
        assert_eq!(h[1].summary.success, 2);
        assert_eq!(h[1].summary.changes, None);
    }
}
