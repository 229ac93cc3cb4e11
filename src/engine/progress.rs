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
    /// What the run changed in the target; `None` when it committed nothing
    /// it could count (and in history recorded before DSP counted changes).
    pub changes: Option<Changes>,
}

/// What a run did to the target's rows: every row read and written is
/// exactly one of inserted, updated (a mapped value differed) or unchanged;
/// deleted rows were in the target and are no longer in the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
}

impl Changes {
    /// Rows written into the target as they were staged, of which `inserted`
    /// were new and `updated` changed.
    pub fn of_written(written: u64, inserted: u64, updated: u64) -> Self {
        // Never more inserted or updated than written, whatever a server said.
        let inserted = inserted.min(written);
        let updated = updated.min(written - inserted);
        Changes {
            inserted,
            updated,
            deleted: 0,
            unchanged: written - inserted - updated,
        }
    }

    /// Everything inserted: a load into an empty or new table.
    pub fn all_inserted(written: u64) -> Self {
        Self::of_written(written, written, 0)
    }

    pub fn add(&mut self, other: Changes) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.unchanged += other.unchanged;
    }

    /// `12 inserted, 3 updated, 1 deleted, 49,984 unchanged`, as the log says it.
    pub fn words(&self) -> String {
        format!(
            "{} inserted, {} updated, {} deleted, {} unchanged",
            thousands(self.inserted),
            thousands(self.updated),
            thousands(self.deleted),
            thousands(self.unchanged)
        )
    }

    /// `+12 ~3 -1`, for narrow lists (unchanged rows are the rest).
    pub fn short(&self) -> String {
        format!(
            "+{} ~{} -{}",
            compact(self.inserted),
            compact(self.updated),
            compact(self.deleted)
        )
    }
}

/// `999`, `12k`, `3.4M`: a count in at most four characters or so.
fn compact(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{}k", n / 1000),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
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
    pace: Option<std::time::Duration>,
    /// The run's status file for the other DSP processes, once it runs.
    live: Option<std::sync::Arc<crate::engine::live_status::LiveWriter>>,
}

impl Reporter {
    pub fn new(job: impl Into<String>, tx: mpsc::UnboundedSender<ProgressEvent>) -> Self {
        Reporter {
            job: job.into(),
            tx,
            pace: None,
            live: None,
        }
    }
    /// A listener that wants to watch the run at a human pace (the demo):
    /// the run pauses this long after each batch it reports.
    pub fn paced(mut self, pause: std::time::Duration) -> Self {
        self.pace = Some(pause);
        self
    }
    pub fn pace(&self) -> Option<std::time::Duration> {
        self.pace
    }
    /// Paced by `DSP_PACE_MS` when it is set: headless runs that must last
    /// long enough to watch or interrupt (demos, end-to-end tests).
    pub fn paced_by_env(self) -> Self {
        match std::env::var("DSP_PACE_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
        {
            Some(ms) => self.paced(std::time::Duration::from_millis(ms)),
            None => self,
        }
    }
    pub fn job(&self) -> &str {
        &self.job
    }
    pub(crate) fn set_live(
        &mut self,
        live: std::sync::Arc<crate::engine::live_status::LiveWriter>,
    ) {
        self.live = Some(live);
    }
    pub fn send(&self, event: ProgressEvent) {
        if let Some(live) = &self.live {
            live.observe(&event);
        }
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
    fn changes_in_words_and_short() {
        let c = Changes {
            inserted: 12,
            updated: 3,
            deleted: 1,
            unchanged: 49_984,
        };
        assert_eq!(
            c.words(),
            "12 inserted, 3 updated, 1 deleted, 49,984 unchanged"
        );
        assert_eq!(c.short(), "+12 ~3 -1");
        assert_eq!(Changes::all_inserted(1_500_000).short(), "+1.5M ~0 -0");
        assert_eq!(Changes::of_written(5, 2, 9).unchanged, 0);
    }

    #[test]
    fn log_line_format() {
        let l = LogLine::new(Level::Info, "Total records: 50,000");
        assert_eq!(l.to_string(), "[INFO] Total records: 50,000");
    }
}
