//! Who fires a workspace's schedules (issue 17): a TUI and a `dsp daemon` on
//! the same workspace must not both start the same due jobs.
//!
//! One lease per workspace in the data dir, `schedules/<workspace>.lock` and
//! `.json` beside it. The OS file lock decides who holds it: the kernel drops
//! it when the holder dies, even by SIGKILL, so a dead owner never blocks the
//! next process. The `.json` says who holds it (pid, host, daemon or TUI,
//! started, heartbeat) for the others to show; a file left by a dead holder is
//! ignored because its lock is free. A daemon has priority: finding a TUI
//! holding the lease it asks it to yield (a `.yield` file), and the TUI lets go
//! on its next beat; when the daemon stops, the TUI takes the lease again.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::paths::DataDir;

/// How often a holder beats and the others look again.
pub const BEAT: Duration = Duration::from_secs(1);
/// A heartbeat older than this means the holder no longer answers.
pub const STALE: Duration = Duration::from_secs(30);
/// A daemon renews its request to a TUI every beat; one older than this is a
/// gone daemon's and asks nothing.
const YIELD_FRESH: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Daemon,
    Tui,
}

/// What the lease file says of its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub kind: Kind,
    pub started: DateTime<Utc>,
    pub heartbeat: DateTime<Utc>,
}

impl Holder {
    fn me(kind: Kind) -> Self {
        let now = Utc::now();
        Holder {
            pid: std::process::id(),
            host: host(),
            kind,
            started: now,
            heartbeat: now,
        }
    }

    /// Its heartbeat is older than `STALE`: alive by its lock, but hung.
    pub fn stale(&self, now: DateTime<Utc>) -> bool {
        (now - self.heartbeat).to_std().unwrap_or_default() > STALE
    }
}

/// Who fires the schedules, as a client shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firing {
    /// This process.
    Here,
    /// Another process; `None` while it has not written who it is yet.
    Elsewhere(Option<Holder>),
}

impl Firing {
    /// The same for a reader, heartbeats aside (they change every beat).
    fn same(&self, other: &Firing) -> bool {
        match (self, other) {
            (Firing::Here, Firing::Here) => true,
            (Firing::Elsewhere(Some(a)), Firing::Elsewhere(Some(b))) => {
                a.pid == b.pid && a.host == b.host && a.kind == b.kind
            }
            (Firing::Elsewhere(None), Firing::Elsewhere(None)) => true,
            _ => false,
        }
    }
}

/// Held while this process fires the schedules; dropping it lets go.
#[derive(Debug)]
pub struct Lease {
    _lock: File,
    files: Files,
    holder: Holder,
}

/// The outcome of `take`.
#[derive(Debug)]
pub enum Taken {
    Ours(Lease),
    Theirs(Option<Holder>),
}

#[derive(Debug, Clone)]
struct Files {
    lock: PathBuf,
    info: PathBuf,
    yield_request: PathBuf,
}

impl Files {
    fn of(data: &DataDir, workspace: &Path) -> Self {
        // The same workspace reached by two spellings is one lease.
        let ws = std::fs::canonicalize(workspace).unwrap_or_else(|_| workspace.to_path_buf());
        let key = crate::paths::job_slug(&ws.to_string_lossy());
        let dir = data.root().join("schedules");
        Files {
            lock: dir.join(format!("{key}.lock")),
            info: dir.join(format!("{key}.json")),
            yield_request: dir.join(format!("{key}.yield")),
        }
    }
}

/// Takes the workspace's schedule lease for this process, or says who holds it.
pub fn take(data: &DataDir, workspace: &Path, kind: Kind) -> std::io::Result<Taken> {
    let files = Files::of(data, workspace);
    if let Some(dir) = files.lock.parent() {
        DataDir::ensure(dir)?;
    }
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&files.lock)?;
    match file.try_lock() {
        Ok(()) => {
            let lease = Lease {
                _lock: file,
                holder: Holder::me(kind),
                files,
            };
            if kind == Kind::Daemon {
                // Asked of a TUI that held it before; it no longer does.
                let _ = std::fs::remove_file(&lease.files.yield_request);
            }
            lease.write()?;
            Ok(Taken::Ours(lease))
        }
        Err(std::fs::TryLockError::WouldBlock) => Ok(Taken::Theirs(read(&files.info))),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Who holds the lease now, if anyone (a file left by a dead holder is not a
/// holder: its lock is free).
pub fn holder(data: &DataDir, workspace: &Path) -> Option<Holder> {
    let files = Files::of(data, workspace);
    let file = File::open(&files.lock).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(_) => read(&files.info),
    }
}

/// A daemon asks the TUI holding the lease to let go of it.
pub fn request_yield(data: &DataDir, workspace: &Path) -> std::io::Result<()> {
    std::fs::write(Files::of(data, workspace).yield_request, b"")
}

fn read(path: &Path) -> Option<Holder> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

impl Lease {
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Beats: the others see the holder answers.
    pub fn refresh(&mut self) -> std::io::Result<()> {
        self.holder.heartbeat = Utc::now();
        self.write()
    }

    /// A TUI holder was asked by a daemon to let go.
    pub fn yield_requested(&self) -> bool {
        self.holder.kind == Kind::Tui && fresh(&self.files.yield_request)
    }

    fn write(&self) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(&self.holder).map_err(std::io::Error::other)?;
        write_replacing(&self.files.info, &bytes)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.files.info);
    }
}

/// A daemon wants the lease now (it renews the request every beat).
fn fresh(request: &Path) -> bool {
    std::fs::metadata(request)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().unwrap_or_default() < YIELD_FRESH)
}

/// Keeps trying to hold the lease and beats while it does, publishing who
/// fires the schedules on `tx` (only when that changes), until `shutdown`.
/// A TUI lets go when a daemon asks; a daemon asks a TUI holder to.
pub async fn keep(
    data: DataDir,
    workspace: PathBuf,
    kind: Kind,
    tx: watch::Sender<Option<Firing>>,
    shutdown: CancellationToken,
) {
    let mut lease: Option<Lease> = None;
    let mut beat = tokio::time::interval(BEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = beat.tick() => {}
        }
        if let Some(held) = lease.as_mut() {
            if held.yield_requested() {
                lease = None;
            } else {
                // A beat on disk every few seconds is enough for a 30 s
                // staleness and keeps an idle TUI from writing every second.
                if (Utc::now() - held.holder.heartbeat).num_seconds() >= 5 {
                    let _ = held.refresh();
                }
                continue;
            }
        }
        let files = Files::of(&data, &workspace);
        if kind == Kind::Tui && fresh(&files.yield_request) {
            // A daemon asked for the lease and is about to take it.
            let now = Firing::Elsewhere(read(&files.info).filter(|h| h.kind == Kind::Daemon));
            publish(&tx, now);
            continue;
        }
        let now = match take(&data, &workspace, kind) {
            Ok(Taken::Ours(l)) => {
                lease = Some(l);
                Firing::Here
            }
            Ok(Taken::Theirs(h)) => {
                if kind == Kind::Daemon && h.as_ref().is_some_and(|h| h.kind == Kind::Tui) {
                    let _ = request_yield(&data, &workspace);
                }
                Firing::Elsewhere(h)
            }
            // The data dir cannot hold a lease: fire here, as before leases
            // (the job locks still keep a job from running twice).
            Err(_) => Firing::Here,
        };
        publish(&tx, now);
    }
}

/// Tells the watchers, only when who fires changed.
fn publish(tx: &watch::Sender<Option<Firing>>, now: Firing) {
    tx.send_if_modified(|f| {
        let changed = !f.as_ref().is_some_and(|f| f.same(&now));
        if changed {
            *f = Some(now);
        }
        changed
    });
}

/// This machine's name, for telling a holder on another host from one here.
pub(crate) fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Writes a small file whole (a reader never sees half of it); no fsync: these
/// files say what is going on now and mean nothing after a crash.
pub(crate) fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
