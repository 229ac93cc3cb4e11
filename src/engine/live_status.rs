//! What a run looks like now, for the other DSP processes (issue 17): the
//! process running a job (TUI, daemon or `dsp run`) keeps `live/<job>.json` in
//! the data dir current, at most `WRITE_EVERY` apart, and removes it at the
//! end; any other process reads it to show the run live. A file whose process
//! is gone (same host) or that stopped being refreshed (another host) is
//! ignored. `live/<job>.cancel` asks the process running the job to cancel
//! it; the run looks for it every `LOOK_EVERY`.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::engine::lease::{host, write_replacing};
use crate::engine::progress::{Level, LogLine, ProgressEvent, Trigger};
use crate::paths::{DataDir, job_slug};

/// At most this often a run rewrites its status (4×/s).
const WRITE_EVERY: Duration = Duration::from_millis(250);
/// How often a run looks for a cancel request (and refreshes its status).
const LOOK_EVERY: Duration = Duration::from_millis(500);
/// A run rewrites its status at least this often, so that a reader on
/// another host can tell it still goes.
const REFRESH_EVERY: Duration = Duration::from_secs(5);
/// A status not refreshed for this long is a dead run's.
const STALE: Duration = Duration::from_secs(30);
/// Log lines a status carries (the full log is in the history at the end).
pub const LOG_TAIL: usize = 50;

/// A running job, as its status file says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveStatus {
    pub job: String,
    pub pid: u32,
    pub host: String,
    /// `running`; `succeeded`, `failed` or `cancelled` for the moment between
    /// the end and the file's removal.
    pub status: String,
    pub trigger: String,
    pub started: DateTime<Utc>,
    /// Known once the source is counted.
    pub total: Option<u64>,
    pub done: u64,
    pub failed: u64,
    /// Records per second since the first row moved.
    pub rate: u64,
    pub log: VecDeque<LiveLine>,
    pub updated: DateTime<Utc>,
    /// A cancel was asked for and is being acted on.
    #[serde(default)]
    pub cancelling: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveLine {
    pub at: DateTime<Utc>,
    pub level: String,
    pub message: String,
}

impl From<&LiveLine> for LogLine {
    fn from(l: &LiveLine) -> Self {
        LogLine {
            at: l.at,
            level: match l.level.as_str() {
                "WARN" => Level::Warn,
                "ERROR" => Level::Error,
                _ => Level::Info,
            },
            message: l.message.clone(),
        }
    }
}

impl LiveStatus {
    /// Written by a process that still runs it.
    fn alive(&self, here: &str, now: DateTime<Utc>) -> bool {
        if self.host == here {
            pid_alive(self.pid)
        } else {
            (now - self.updated).to_std().unwrap_or_default() < STALE
        }
    }
}

fn live_dir(data: &DataDir) -> PathBuf {
    data.root().join("live")
}

fn status_path(data: &DataDir, job: &str) -> PathBuf {
    live_dir(data).join(format!("{}.json", job_slug(job)))
}

fn cancel_path(data: &DataDir, job: &str) -> PathBuf {
    live_dir(data).join(format!("{}.cancel", job_slug(job)))
}

/// Every run going on in a DSP process, on this host or a shared data dir.
pub fn running(data: &DataDir) -> Vec<LiveStatus> {
    let Ok(entries) = std::fs::read_dir(live_dir(data)) else {
        return Vec::new();
    };
    let here = host();
    let now = Utc::now();
    let mut all: Vec<LiveStatus> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .filter(|s: &LiveStatus| s.alive(&here, now))
        .collect();
    all.sort_by(|a, b| a.job.cmp(&b.job));
    all
}

/// The run of `job` going on in a DSP process, if any.
pub fn of(data: &DataDir, job: &str) -> Option<LiveStatus> {
    let s: LiveStatus =
        serde_json::from_slice(&std::fs::read(status_path(data, job)).ok()?).ok()?;
    s.alive(&host(), Utc::now()).then_some(s)
}

/// Asks the process running `job` to cancel it.
pub fn request_cancel(data: &DataDir, job: &str) -> std::io::Result<()> {
    DataDir::ensure(&live_dir(data))?;
    std::fs::write(cancel_path(data, job), b"")
}

/// The running side: keeps the status file of one run.
#[derive(Debug)]
pub(crate) struct LiveWriter {
    status_path: PathBuf,
    cancel_path: PathBuf,
    state: Mutex<Written>,
}

#[derive(Debug)]
struct Written {
    status: LiveStatus,
    last_write: Option<Instant>,
    dirty: bool,
    first_row: Option<Instant>,
    done: bool,
}

impl LiveWriter {
    /// A run of `job` begins in this process; a cancel request left from an
    /// earlier run is not this run's.
    pub(crate) fn start(data: &DataDir, job: &str, trigger: Trigger) -> Arc<Self> {
        let _ = DataDir::ensure(&live_dir(data));
        let now = Utc::now();
        let writer = LiveWriter {
            status_path: status_path(data, job),
            cancel_path: cancel_path(data, job),
            state: Mutex::new(Written {
                status: LiveStatus {
                    job: job.to_string(),
                    pid: std::process::id(),
                    host: host(),
                    status: "running".into(),
                    trigger: trigger.as_str().into(),
                    started: now,
                    total: None,
                    done: 0,
                    failed: 0,
                    rate: 0,
                    log: VecDeque::new(),
                    updated: now,
                    cancelling: false,
                },
                last_write: None,
                dirty: true,
                first_row: None,
                done: false,
            }),
        };
        let _ = std::fs::remove_file(&writer.cancel_path);
        writer.flush(true);
        Arc::new(writer)
    }

    /// Takes one of the run's events into the status, written if the last
    /// write is old enough.
    pub(crate) fn observe(&self, event: &ProgressEvent) {
        let Ok(mut guard) = self.state.lock() else {
            return;
        };
        let Written {
            status: s,
            first_row,
            done: ended,
            dirty,
            ..
        } = &mut *guard;
        match event {
            ProgressEvent::Began { .. } => {}
            ProgressEvent::Started { total, .. } => s.total = Some(*total),
            ProgressEvent::Batch { done, failed, .. } => {
                s.done = *done;
                s.failed = *failed;
                let secs = first_row
                    .get_or_insert_with(Instant::now)
                    .elapsed()
                    .as_secs_f64();
                if secs > 0.0 {
                    s.rate = (s.done as f64 / secs) as u64;
                }
            }
            ProgressEvent::Log { line, .. } => {
                if s.log.len() >= LOG_TAIL {
                    s.log.pop_front();
                }
                s.log.push_back(LiveLine {
                    at: line.at,
                    level: line.level.as_str().into(),
                    message: line.message.clone(),
                });
            }
            ProgressEvent::Finished(summary) => {
                s.status = summary.status.as_str().into();
                *ended = true;
            }
        }
        *dirty = true;
        drop(guard);
        self.flush(false);
    }

    /// Writes the status if it changed and the last write is `WRITE_EVERY`
    /// old (or `force`), or if it was not written for `REFRESH_EVERY`.
    fn flush(&self, force: bool) {
        let Ok(mut w) = self.state.lock() else { return };
        if w.done {
            return;
        }
        let age = w.last_write.map(|t| t.elapsed());
        let due = match age {
            None => true,
            Some(a) => (w.dirty && a >= WRITE_EVERY) || a >= REFRESH_EVERY,
        };
        if !(force || due) {
            return;
        }
        w.status.updated = Utc::now();
        if let Ok(bytes) = serde_json::to_vec(&w.status) {
            let _ = write_replacing(&self.status_path, &bytes);
        }
        w.last_write = Some(Instant::now());
        w.dirty = false;
    }

    /// Until the run ends: refreshes the status and cancels the run when
    /// another process asks.
    pub(crate) fn watch(self: &Arc<Self>, cancel: CancellationToken) -> JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(LOOK_EVERY);
            loop {
                tick.tick().await;
                if me.cancel_path.exists() {
                    let _ = std::fs::remove_file(&me.cancel_path);
                    if let Ok(mut w) = me.state.lock() {
                        w.status.cancelling = true;
                        w.dirty = true;
                    }
                    cancel.cancel();
                }
                me.flush(false);
            }
        })
    }

    /// The run has recorded its end: the status goes.
    pub(crate) fn finish(&self) {
        if let Ok(mut w) = self.state.lock() {
            w.done = true;
        }
        let _ = std::fs::remove_file(&self.status_path);
        let _ = std::fs::remove_file(&self.cancel_path);
    }
}

/// The process is alive on this host.
fn pid_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
