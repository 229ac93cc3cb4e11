//! What a run reports while it works (docs/SPEC.md §4): typed events on a channel that the
//! TUI draws and the headless commands print.

use std::fmt;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::workspace::SyncMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// One log line of a run, e.g. `[INFO] Total records: 50,000`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub level: Level,
    pub message: String,
}

impl LogLine {
    pub fn new(level: Level, message: impl Into<String>) -> Self {
        LogLine {
            at: Utc::now(),
            level,
            message: message.into(),
        }
    }
}

impl fmt::Display for LogLine {
    /// The form of docs/SPEC.md §4, without a time prefix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.level.as_str(), self.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// Who or what started a run, as its history records it (docs/SPEC.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trigger {
    /// Someone asked: `dsp run`, or Run Now in the TUI.
    #[default]
    Manual,
    /// A job's schedule fired (the TUI's or `dsp daemon`'s scheduler).
    Schedule,
    /// Not a run: `dsp reset` forgot the watermark.
    Reset,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
            Trigger::Reset => "reset",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Trigger::Manual, Trigger::Schedule, Trigger::Reset]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// The outcome of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub job: String,
    pub mode: SyncMode,
    pub status: RunStatus,
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    pub total: u64,
    pub success: u64,
    pub failed: u64,
    /// Why a failed or cancelled run stopped, in words for an operator.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProgressEvent {
    /// A run took its job's lock and begins; every event of that run follows.
    Began {
        job: String,
        mode: SyncMode,
    },
    /// The count before streaming is known.
    Started {
        job: String,
        total: u64,
        batches: u64,
    },
    /// A batch was processed; `done` and `failed` are running totals.
    Batch {
        job: String,
        index: u64,
        batches: u64,
        rows: u64,
        done: u64,
        failed: u64,
    },
    Log {
        job: String,
        line: LogLine,
    },
    Finished(RunSummary),
}

impl ProgressEvent {
    pub fn job(&self) -> &str {
        match self {
            ProgressEvent::Began { job, .. }
            | ProgressEvent::Started { job, .. }
            | ProgressEvent::Batch { job, .. }
            | ProgressEvent::Log { job, .. } => job,
            ProgressEvent::Finished(s) => &s.job,
        }
    }
}

/// Where a run sends its events. A closed receiver is not an error: a run goes on
/// (and its history is still recorded) when nobody watches.
#[derive(Debug, Clone)]
pub struct Reporter {
    job: String,
    tx: mpsc::UnboundedSender<ProgressEvent>,
}

impl Reporter {
    pub fn new(job: impl Into<String>, tx: mpsc::UnboundedSender<ProgressEvent>) -> Self {
        Reporter {
            job: job.into(),
            tx,
        }
    }
    pub fn job(&self) -> &str {
        &self.job
    }
    pub fn send(&self, event: ProgressEvent) {
        let _ = self.tx.send(event);
    }
    pub fn log(&self, level: Level, message: impl Into<String>) -> LogLine {
        let line = LogLine::new(level, message);
        self.send(ProgressEvent::Log {
            job: self.job.clone(),
            line: line.clone(),
        });
        line
    }
}

/// `50000` → `50,000`, as the totals of docs/SPEC.md §4 are written.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(50_000), "50,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn log_line_format() {
        let l = LogLine::new(Level::Info, "Total records: 50,000");
        assert_eq!(l.to_string(), "[INFO] Total records: 50,000");
    }
}
