//! A job's state kept in its target database (`state = "target"`, issue 16):
//! the watermark, the run lock and the last run, so that any host (a second
//! bastion, a pod whose disk is gone after each run) resumes the job where
//! it stopped and never runs it twice at once.
//!
//! The state is one row per job in the target's `_dsp_state` table. An
//! incremental run writes the watermark in the same transaction as each
//! batch's rows (see `runner::apply::incremental`). The lock is the server's
//! own: a PostgreSQL advisory lock or a MySQL named lock held by a dedicated
//! session for the whole run, freed by the server when that session ends,
//! however the process ended. SQLite has no such lock: an OS file lock on a
//! file beside the database stands in (the kernel frees it when the holder
//! dies), and the writer's own transactions stay free to run.
//!
//! History stays in the data dir.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::engine::db::Dialect;
use crate::engine::db::connect::{Conn, Role, connect};
use crate::engine::progress::RunSummary;
use crate::engine::state::{Watermark, WatermarkOwner, WatermarkStore};
use crate::workspace::{EngineKind, Job, Network, StateStore, Workspace};

/// The table DSP keeps its jobs' state in, in the target database.
pub const TABLE: &str = "_dsp_state";

/// Whether `job` keeps its state in its target.
pub fn in_target(ws: &Workspace, job: &Job) -> bool {
    ws.state_of(job) == StateStore::Target
}

/// The job's lock key: stable across hosts, processes and DSP versions
/// (FNV-1a of `dsp:` and the job's name).
pub fn lock_key(job: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in "dsp:".bytes().chain(job.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// This host and process, as the state table records who runs a job.
pub fn this_host() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown host".into());
    format!("{host} pid {}", std::process::id())
}

/// A time as the state table stores it: UTC (every session DSP opens is
/// pinned to UTC), microseconds.
fn time(d: &dyn Dialect, t: DateTime<Utc>) -> String {
    d.literal(&t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
}

fn text(d: &dyn Dialect, v: Option<&str>) -> String {
    v.map(|v| d.literal(v)).unwrap_or_else(|| "NULL".into())
}

/// The statement that stores `value` as the job's watermark; run inside the
/// transaction that commits the rows it describes.
pub(crate) fn watermark_sql(
    d: &dyn Dialect,
    job: &str,
    owner: &WatermarkOwner,
    value: Option<&str>,
) -> String {
    let of = value.and_then(|_| serde_json::to_string(owner).ok());
    d.upsert_one_sql(
        TABLE,
        &[
            ("job", d.literal(job)),
            ("watermark", text(d, value)),
            ("watermark_of", text(d, of.as_deref())),
            ("updated_at", time(d, Utc::now())),
        ],
    )
}

/// Creates the state table if it is missing (outside any transaction: on
/// MySQL DDL commits). Two jobs creating it at once is no error.
async fn ensure_table(conn: &mut Conn) -> Result<(), String> {
    if conn
        .columns(TABLE)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Ok(());
    }
    let sql = conn.dialect().state_table_sql(TABLE);
    if let Err(e) = conn.exec(&sql).await
        && conn.columns(TABLE).await.ok().flatten().is_none()
    {
        return Err(format!("cannot create the table {TABLE}: {e}"));
    }
    Ok(())
}

/// One text column of the job's row; `None` for no table, no row or NULL.
async fn field(conn: &mut Conn, job: &str, column: &str) -> Result<Option<String>, String> {
    let d = conn.dialect();
    let sql = format!(
        "SELECT {column} FROM {} WHERE job = {}",
        d.table(TABLE),
        d.literal(job)
    );
    let texts = conn.texts(&sql).await.map_err(|e| e.to_string())?;
    Ok(texts.into_iter().next().filter(|v| v != "NULL"))
}

/// The job's watermark in the target, judged against what the job syncs now.
/// A target without one takes the data dir's (switching a job to
/// `state = "target"`): written to the target and removed from the data dir
/// unless `dry_run`, which writes nothing, not even the table. Returns the
/// watermark and, when it was carried over, a line to log.
pub(crate) async fn load_watermark(
    conn: &mut Conn,
    store: &WatermarkStore<'_>,
    dry_run: bool,
) -> Result<(Watermark, Option<String>), String> {
    let job = store.job;
    let in_words = |e: String| {
        format!("cannot read the state of job \"{job}\" from the table {TABLE} in its target: {e}")
    };
    let exists = conn
        .columns(TABLE)
        .await
        .map_err(|e| in_words(e.to_string()))?;
    if exists.is_none() && !dry_run {
        ensure_table(conn).await.map_err(in_words)?;
    }
    if exists.is_some()
        && let Some(value) = field(conn, job, "watermark").await.map_err(in_words)?
    {
        let of = field(conn, job, "watermark_of").await.map_err(in_words)?;
        let owner = of.and_then(|o| serde_json::from_str::<WatermarkOwner>(&o).ok());
        return Ok((
            match owner.map(|o| o.difference(&store.owner)) {
                None => Watermark::Unowned(value),
                Some(None) => Watermark::Current(value),
                Some(Some(why)) => Watermark::Stale { value, why },
            },
            None,
        ));
    }
    let value = match store.load()? {
        Watermark::Current(v) | Watermark::Unowned(v) => v,
        other => return Ok((other, None)),
    };
    let mut note = format!(
        "Carried the watermark {value} of job \"{job}\" over from the data dir to the table {TABLE} in the target"
    );
    if dry_run {
        note.push_str(" (not written: dry run)");
    } else {
        let sql = watermark_sql(conn.dialect(), job, &store.owner, Some(&value));
        conn.exec(&sql).await.map_err(|e| in_words(e.to_string()))?;
        // The target's row is the watermark now: a stale copy here must not
        // come back after a `dsp reset` elsewhere.
        let _ = crate::engine::state::forget_watermark(store.data, job);
    }
    Ok((Watermark::Current(value), Some(note)))
}

/// The job's watermark in its target (or the data dir's, which its next run
/// would carry over), judged against what it syncs now; reads only.
pub(crate) async fn read_watermark(
    ws: &Workspace,
    net: &Network,
    store: &WatermarkStore<'_>,
) -> Result<Watermark, String> {
    let mut conn = connect(ws, net, Role::Target)
        .await
        .map_err(|e| e.to_string())?;
    let r = load_watermark(&mut conn, store, true).await;
    conn.close().await;
    r.map(|(w, _)| w)
}

/// The job's watermark value in its target, if it has one.
pub async fn stored_watermark(ws: &Workspace, job: &Job) -> Result<Option<String>, String> {
    watermark_in_target(ws, job, false).await
}

/// Forgets the job's watermark in its target (`dsp reset`); the value
/// forgotten, if there was one.
pub async fn forget_watermark(ws: &Workspace, job: &Job) -> Result<Option<String>, String> {
    watermark_in_target(ws, job, true).await
}

/// What the target says of the job's runs, asked on one connection and
/// without taking its lock (a run starting then must not find it taken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsSeen {
    /// Another DSP holds the job's lock now: the sentence that says so,
    /// naming the host the state table recorded. `None` when it is free or
    /// the target has no such lock (SQLite).
    pub held: Option<String>,
    /// The last run as the state table records it (start, end, status):
    /// two readings that differ mean a run began or ended between them.
    pub last_run: Option<String>,
}

/// `RunsSeen` of `job` in its target; `None` when the target cannot be asked.
pub async fn runs_seen(ws: &Workspace, job: &Job) -> Option<RunsSeen> {
    let net = target_of(ws, job).ok()?;
    let mut conn = connect(ws, net, Role::Target).await.ok()?;
    let held = match conn.dialect().lock_held_sql(lock_key(&job.name)) {
        Some(sql) => conn.scalar(&sql).await.ok() == Some(1),
        None => false,
    };
    let mut row = [None, None, None, None];
    if let Ok(Some(_)) = conn.columns(TABLE).await {
        let columns = ["run_started", "run_finished", "run_status", "run_host"];
        for (value, column) in row.iter_mut().zip(columns) {
            *value = field(&mut conn, &job.name, column).await.ok().flatten();
        }
    }
    conn.close().await;
    let [started, finished, status, host] = row;
    let on = host.map(|h| format!(" (on {h})")).unwrap_or_default();
    Some(RunsSeen {
        held: held.then(|| {
            format!(
                "job \"{}\" is running: another DSP{on} holds its lock on target network \"{}\"; \
                 its target is changing: verify it when the run ends",
                job.name, net.name
            )
        }),
        last_run: started.map(|s| format!("{s} {finished:?} {status:?}")),
    })
}

async fn watermark_in_target(
    ws: &Workspace,
    job: &Job,
    forget: bool,
) -> Result<Option<String>, String> {
    let net = target_of(ws, job)?;
    let mut conn = connect(ws, net, Role::Target)
        .await
        .map_err(|e| e.to_string())?;
    let result = async {
        if conn
            .columns(TABLE)
            .await
            .map_err(|e| e.to_string())?
            .is_none()
        {
            return Ok(None);
        }
        let before = field(&mut conn, &job.name, "watermark").await?;
        if forget && before.is_some() {
            let sql = watermark_sql(conn.dialect(), &job.name, &dummy_owner(), None);
            conn.exec(&sql).await.map_err(|e| e.to_string())?;
        }
        Ok(before)
    }
    .await;
    conn.close().await;
    result.map_err(|e: String| {
        format!(
            "cannot reach the watermark of job \"{}\" in the table {TABLE} on network \"{}\": {e}",
            job.name, net.name
        )
    })
}

fn dummy_owner() -> WatermarkOwner {
    WatermarkOwner {
        source: String::new(),
        source_table: String::new(),
        cursor_column: String::new(),
        target: String::new(),
        target_table: String::new(),
    }
}

fn target_of<'a>(ws: &'a Workspace, job: &Job) -> Result<&'a Network, String> {
    ws.network(&job.target).ok_or_else(|| {
        format!(
            "job \"{}\": there is no network named \"{}\"",
            job.name, job.target
        )
    })
}

/// The job's run lock in its target, held until dropped or `release`d (or
/// the process dies: the server, or the kernel for SQLite, frees it).
pub struct TargetLock {
    job: String,
    conn: Option<Conn>,
    _file: Option<File>,
}

/// Takes the job's lock in its target, or says plainly that another DSP
/// holds it (naming the host it recorded).
pub async fn lock(ws: &Workspace, job: &Job) -> Result<TargetLock, String> {
    let net = target_of(ws, job)?;
    let mut conn = connect(ws, net, Role::Target)
        .await
        .map_err(|e| e.to_string())?;
    let key = lock_key(&job.name);
    let taken = match conn.dialect().try_lock_sql(key) {
        Some(sql) => match conn.scalar(&sql).await {
            Ok(n) => n == 1,
            Err(e) => {
                conn.close().await;
                return Err(format!(
                    "cannot take the lock of job \"{}\" on target network \"{}\": {e}",
                    job.name, net.name
                ));
            }
        },
        None => false,
    };
    let mut file = None;
    let held = if conn.dialect().try_lock_sql(key).is_some() {
        taken
    } else {
        let path = lock_file(ws, net, key);
        match open_lock_file(&path) {
            Ok(f) => match f.try_lock() {
                Ok(()) => {
                    file = Some(f);
                    true
                }
                Err(std::fs::TryLockError::WouldBlock) => false,
                Err(std::fs::TryLockError::Error(e)) => {
                    conn.close().await;
                    return Err(format!(
                        "cannot lock job \"{}\" ({}): {e}",
                        job.name,
                        path.display()
                    ));
                }
            },
            Err(e) => {
                conn.close().await;
                return Err(format!(
                    "cannot open the lock file {} of job \"{}\": {e}",
                    path.display(),
                    job.name
                ));
            }
        }
    };
    if !held {
        let host = match conn.columns(TABLE).await {
            Ok(Some(_)) => field(&mut conn, &job.name, "run_host").await.ok().flatten(),
            _ => None,
        };
        conn.close().await;
        let on = host.map(|h| format!(" (on {h})")).unwrap_or_default();
        return Err(format!(
            "job \"{}\" is already running: another DSP{on} holds its lock on target network \"{}\"; wait for it to finish",
            job.name, net.name
        ));
    }
    Ok(TargetLock {
        job: job.name.clone(),
        conn: Some(conn),
        _file: file,
    })
}

/// Beside a SQLite database file, one per job.
fn lock_file(ws: &Workspace, net: &Network, key: u64) -> PathBuf {
    debug_assert_eq!(net.kind, EngineKind::Sqlite);
    let db = ws.sqlite_path(net);
    let name = db
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dsp".into());
    db.with_file_name(format!("{name}.dsp-{key:016x}.lock"))
}

fn open_lock_file(path: &PathBuf) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

impl TargetLock {
    /// Records that this host runs the job now (the table is created if
    /// missing). A failure here is said, not fatal: the lock is held.
    pub async fn record_start(&mut self, started: DateTime<Utc>) -> Result<(), String> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        ensure_table(conn).await?;
        let d = conn.dialect();
        let sql = d.upsert_one_sql(
            TABLE,
            &[
                ("job", d.literal(&self.job)),
                ("run_started", time(d, started)),
                ("run_finished", "NULL".into()),
                ("run_status", d.literal("running")),
                ("run_host", d.literal(&this_host())),
                ("run_error", "NULL".into()),
            ],
        );
        conn.exec(&sql).await.map(|_| ()).map_err(|e| e.to_string())
    }

    /// Records the finished run beside the watermark.
    pub async fn record_finish(&mut self, s: &RunSummary) -> Result<(), String> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let d = conn.dialect();
        let sql = d.upsert_one_sql(
            TABLE,
            &[
                ("job", d.literal(&self.job)),
                ("run_started", time(d, s.started)),
                ("run_finished", time(d, s.ended)),
                ("run_status", d.literal(s.status.as_str())),
                ("run_total", s.total.to_string()),
                ("run_success", s.success.to_string()),
                ("run_failed", s.failed.to_string()),
                ("run_host", d.literal(&this_host())),
                ("run_error", text(d, s.error.as_deref())),
            ],
        );
        conn.exec(&sql).await.map(|_| ()).map_err(|e| e.to_string())
    }

    /// Releases the lock: closing the session frees the server's lock.
    pub async fn release(mut self) {
        if let Some(c) = self.conn.take() {
            c.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every host must derive the same key from a job's name.
    #[test]
    fn the_lock_key_is_stable_and_per_job() {
        assert_eq!(lock_key("Sync Users"), lock_key("Sync Users"));
        assert_ne!(lock_key("Sync Users"), lock_key("Sync Orders"));
    }
}
