//! What the Jobs tab shows of one job: progress, rate, ETA and the log.

use std::collections::VecDeque;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::engine::preview::Preview;
use crate::engine::progress::{LogLine, RunSummary};
use crate::engine::state::RunRecord;

/// Seconds of throughput the sparkline shows.
pub const SPARK_SECONDS: usize = 60;
/// Log lines kept per job in memory (the full log is in the run history).
const LOG_KEEP: usize = 5000;

/// What the Jobs tab shows of one job.
#[derive(Debug, Default)]
pub struct JobView {
    pub running: bool,
    pub cancel: Option<CancellationToken>,
    /// The run's total is known (a PostgreSQL source counts while the first
    /// rows already move, so it can come a moment after the start).
    pub counted: bool,
    pub total: u64,
    pub done: u64,
    pub failed: u64,
    pub started: Option<Instant>,
    pub ended: Option<Instant>,
    pub log: VecDeque<LogLine>,
    /// The log shown is the last recorded run's (read from the history after
    /// a restart), not one seen live.
    pub log_from_history: bool,
    /// The first log line shown when scrolled; `None` follows the tail. The
    /// pane clamps it, so the log never scrolls past its last line.
    pub scroll: Option<usize>,
    /// Records per second, one sample a second, newest last.
    pub samples: VecDeque<u64>,
    sampled_done: u64,
    pub last: Option<RunSummary>,
    pub history: Vec<RunRecord>,
    /// The last preview (`p`) of this job, or the one under way.
    pub preview: Option<PreviewState>,
    /// The run shown is another DSP process's (its pid), read from its
    /// status file.
    pub remote: Option<u32>,
    /// `c` asked the process running it to cancel.
    pub cancel_requested: bool,
}

/// A preview (dry run) of a job in the TUI.
#[derive(Debug, Clone, PartialEq)]
pub enum PreviewState {
    Running,
    Done(Preview),
}

impl JobView {
    /// A new run of this job begins: everything of the last run goes but its
    /// summary and the history.
    pub(super) fn restart(&mut self) {
        *self = JobView {
            history: std::mem::take(&mut self.history),
            last: self.last.take(),
            // A scheduled run's token can arrive before its first event.
            cancel: self.cancel.take(),
            running: true,
            started: Some(Instant::now()),
            ..JobView::default()
        };
    }
    /// Running, its total not known yet.
    pub fn counting(&self) -> bool {
        self.running && !self.counted
    }
    /// The running run's progress in percent (0 while it counts).
    pub(crate) fn percent(&self) -> f64 {
        if self.counting() || self.total == 0 {
            return 0.0;
        }
        (self.done as f64 / self.total as f64 * 100.0).min(100.0)
    }
    /// Records per second over the last second (the average so far until the
    /// first sample is taken); `None` until a row has moved, so the first
    /// moments read `—` rather than a rate of 0.
    pub fn rate(&self) -> Option<u64> {
        if self.done == 0 {
            return None;
        }
        match self.samples.back() {
            Some(r) => Some(*r),
            None => {
                let secs = self.elapsed().map(|e| e.as_secs_f64()).unwrap_or(0.0);
                (secs > 0.0).then(|| (self.done as f64 / secs) as u64)
            }
        }
    }
    pub fn elapsed(&self) -> Option<std::time::Duration> {
        let start = self.started?;
        Some(
            self.ended
                .unwrap_or_else(Instant::now)
                .duration_since(start),
        )
    }
    /// Remaining time at the average rate so far.
    pub(crate) fn eta(&self) -> Option<std::time::Duration> {
        if !self.running || self.done == 0 || self.total <= self.done {
            return None;
        }
        let secs = self.elapsed()?.as_secs_f64();
        let per_row = secs / self.done as f64;
        Some(std::time::Duration::from_secs_f64(
            per_row * (self.total - self.done) as f64,
        ))
    }
    /// Shows the last recorded run's log when nothing was seen live, so a job
    /// that failed before a restart still shows why.
    pub(super) fn log_from(&mut self, record: Option<&RunRecord>) {
        if self.running || !(self.log.is_empty() || self.log_from_history) {
            return;
        }
        let Some(record) = record else { return };
        let skip = record.log.len().saturating_sub(LOG_KEEP);
        self.log = record.log.iter().skip(skip).cloned().collect();
        self.log_from_history = true;
    }
    /// Scrolls the log up `n` lines (from the tail when following it).
    pub(crate) fn scroll_up(&mut self, n: usize) {
        let len = self.log.len();
        self.scroll = Some(match self.scroll {
            None => len.saturating_sub(2 * n),
            Some(top) => top.saturating_sub(n),
        });
    }
    /// Scrolls the log down `n` lines, following the tail again near its end.
    pub(crate) fn scroll_down(&mut self, n: usize) {
        self.scroll = match self.scroll {
            Some(top) if top + 2 * n < self.log.len() => Some(top + n),
            _ => None,
        };
    }
    pub(super) fn push_log(&mut self, line: LogLine) {
        if self.log.len() >= LOG_KEEP {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }
    /// The rows done since the last sample, for the sparkline.
    pub(super) fn sample(&mut self) {
        let delta = self.done.saturating_sub(self.sampled_done);
        self.sampled_done = self.done;
        if self.samples.len() >= SPARK_SECONDS {
            self.samples.pop_front();
        }
        self.samples.push_back(delta);
    }
}
