//! The live progress line `dsp run` keeps on a terminal's stderr, rewritten in
//! place (`\r`, erase line) as batches land: the log lines on stdout stay
//! exactly the seed's, and the line is erased before each of them is printed
//! so the two never mix on one screen row.

use std::io::Write;
use std::time::Instant;

use crate::engine::progress::{ProgressEvent, thousands};

/// Erases the current terminal row and returns to its start.
const ERASE: &str = "\r\x1b[K";

#[derive(Default)]
pub(crate) struct LiveLine {
    job: String,
    total: u64,
    done: u64,
    failed: u64,
    since: Option<Instant>,
    shown: bool,
}

impl LiveLine {
    /// Follows the run's counters; true when the line should be redrawn.
    pub(crate) fn update(&mut self, event: &ProgressEvent) -> bool {
        match event {
            ProgressEvent::Started { job, total, .. } => {
                *self = LiveLine {
                    job: job.clone(),
                    total: *total,
                    since: Some(Instant::now()),
                    ..LiveLine::default()
                };
                true
            }
            ProgressEvent::Batch { done, failed, .. } => {
                self.done = *done;
                self.failed = *failed;
                true
            }
            ProgressEvent::Finished(_) => {
                self.since = None;
                false
            }
            _ => false,
        }
    }

    /// `J: 25,000/50,000 records (50%), 12,500 rec/s, 0 failed`
    pub(crate) fn text(&self) -> Option<String> {
        let since = self.since?;
        let secs = since.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            (self.done as f64 / secs) as u64
        } else {
            0
        };
        let pct = (self.done * 100).checked_div(self.total).unwrap_or(100);
        Some(format!(
            "{}: {}/{} records ({pct}%), {} rec/s, {} failed",
            self.job,
            thousands(self.done),
            thousands(self.total),
            thousands(rate),
            thousands(self.failed),
        ))
    }

    /// Erases the line (before a log line goes to stdout, or at the end).
    pub(crate) fn clear(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{ERASE}");
            let _ = err.flush();
            self.shown = false;
        }
    }

    /// Draws the line again with the current counters.
    pub(crate) fn draw(&mut self) {
        if let Some(text) = self.text() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{ERASE}{text}");
            let _ = err.flush();
            self.shown = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_a_run_and_stops_at_its_end() {
        let mut l = LiveLine::default();
        assert_eq!(l.text(), None);
        let job = "J".to_string();
        assert!(l.update(&ProgressEvent::Started {
            job: job.clone(),
            total: 50_000,
            batches: 50
        }));
        l.update(&ProgressEvent::Batch {
            job: job.clone(),
            index: 25,
            batches: 50,
            rows: 1000,
            done: 25_000,
            failed: 2,
        });
        let t = l.text().unwrap();
        assert!(t.starts_with("J: 25,000/50,000 records (50%), "), "{t}");
        assert!(t.ends_with(" rec/s, 2 failed"), "{t}");
    }
}
