//! `--json` output: one JSON object per event, one per line (JSON Lines), so
//! that a script reads a run as it happens. Every object has `event` (what
//! happened) and `at` (UTC, RFC 3339); a job's objects have `job`.
//!
//! Events: `started` (mode, total, batches), `batch` (index, batches, rows,
//! done, failed: running totals), `log` (level, message; `job` is null for the
//! daemon's own lines), `finished` (mode, status, started, ended,
//! duration_seconds, total, success, failed, error). The `log` lines of a
//! run's alerts (engine::alert) follow its `finished`. Other commands may add
//! their own `event` kinds (a dry run's plan) without changing these.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::engine::progress::{Level, ProgressEvent, RunSummary};
use crate::workspace::SyncMode;

pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Turns events into JSON objects, remembering each job's mode from the event
/// that begins its run (the count that follows does not carry it).
#[derive(Default)]
pub(crate) struct JsonEvents {
    modes: HashMap<String, SyncMode>,
}

impl JsonEvents {
    pub(crate) fn object(&mut self, event: &ProgressEvent) -> Option<Value> {
        let now = time(Utc::now());
        Some(match event {
            ProgressEvent::Began { job, mode } => {
                self.modes.insert(job.clone(), *mode);
                return None;
            }
            ProgressEvent::Started {
                job,
                total,
                batches,
            } => json!({
                "event": "started", "at": now, "job": job,
                "mode": self.modes.get(job).map(|m| m.as_str()),
                "total": total, "batches": batches,
            }),
            ProgressEvent::Batch {
                job,
                index,
                batches,
                rows,
                done,
                failed,
            } => json!({
                "event": "batch", "at": now, "job": job, "index": index,
                "batches": batches, "rows": rows, "done": done, "failed": failed,
            }),
            ProgressEvent::Log { job, line } => json!({
                "event": "log", "at": time(line.at), "job": job,
                "level": line.level.as_str(), "message": line.message,
            }),
            ProgressEvent::Finished(s) => {
                self.modes.remove(&s.job);
                finished(s)
            }
        })
    }
}

/// The run's summary, as `finished` carries it.
pub(crate) fn finished(s: &RunSummary) -> Value {
    let seconds = (s.ended - s.started).num_milliseconds().max(0) as f64 / 1000.0;
    json!({
        "event": "finished", "at": time(s.ended), "job": s.job,
        "mode": s.mode.as_str(), "status": s.status.as_str(),
        "started": time(s.started), "ended": time(s.ended), "duration_seconds": seconds,
        "total": s.total, "success": s.success, "failed": s.failed, "error": s.error,
        "changes": s.changes.map(changes),
    })
}

/// What a run changed in the target; `null` when it changed nothing it
/// could count (it failed before the apply).
pub(crate) fn changes(c: crate::engine::progress::Changes) -> Value {
    json!({
        "inserted": c.inserted, "updated": c.updated,
        "deleted": c.deleted, "unchanged": c.unchanged,
    })
}

/// A line of a command's own (the daemon's start, reload, stop), no job's.
pub(crate) fn own_line(level: Level, message: &str) -> Value {
    json!({
        "event": "log", "at": time(Utc::now()), "job": Value::Null,
        "level": level.as_str(), "message": message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::progress::{LogLine, RunStatus};

    #[test]
    fn a_run_reads_as_started_batch_log_finished() {
        let mut j = JsonEvents::default();
        let job = "J".to_string();
        let began = ProgressEvent::Began {
            job: job.clone(),
            mode: SyncMode::Incremental,
        };
        assert_eq!(j.object(&began), None);
        let started = j
            .object(&ProgressEvent::Started {
                job: job.clone(),
                total: 3,
                batches: 1,
            })
            .unwrap();
        assert_eq!(started["event"], "started");
        assert_eq!(started["mode"], "incremental");
        assert_eq!(started["total"], 3);
        let log = j
            .object(&ProgressEvent::Log {
                job: job.clone(),
                line: LogLine::new(Level::Warn, "careful \"quoted\"\nline"),
            })
            .unwrap();
        assert_eq!(log["level"], "WARN");
        assert_eq!(log["message"], "careful \"quoted\"\nline");
        // One object per line, whatever the message holds.
        assert!(!log.to_string().contains('\n'));
        let t = Utc::now();
        let done = j
            .object(&ProgressEvent::Finished(RunSummary {
                job,
                mode: SyncMode::Incremental,
                status: RunStatus::Failed,
                started: t,
                ended: t + chrono::Duration::milliseconds(1500),
                total: 3,
                success: 2,
                failed: 1,
                error: Some("why".into()),
                changes: None,
            }))
            .unwrap();
        assert_eq!(done["status"], "failed");
        assert_eq!(done["duration_seconds"], 1.5);
        assert_eq!(done["success"], 2);
        assert_eq!(done["error"], "why");
    }
}
