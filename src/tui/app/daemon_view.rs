//! One view with the other DSP processes on this workspace: who fires the
//! schedules (the lease), and their runs shown live from their status files,
//! cancelled by a request the owner acts on (`engine::live_status`).

use std::time::{Duration, Instant};

use super::App;
use crate::engine::lease::{Firing, Kind};
use crate::engine::live_status::{self, LiveStatus};
use crate::engine::progress::{Level, LogLine};
use crate::engine::state;

impl App {
    /// Who fires the schedules, for the header: `None` until known, and when
    /// this TUI does it needs no words beyond `schedules: this TUI`.
    pub fn schedules_by(&self) -> Option<String> {
        match self.firing.as_ref()? {
            Firing::Here => Some("schedules: this TUI".into()),
            Firing::Elsewhere(Some(h)) => {
                let who = match h.kind {
                    Kind::Daemon => "dsp daemon",
                    Kind::Tui => "another TUI",
                };
                let stale = if h.stale(chrono::Utc::now()) {
                    ", not answering"
                } else {
                    ""
                };
                Some(format!("schedules: {who} (pid {}{stale})", h.pid))
            }
            Firing::Elsewhere(None) => Some("schedules: another DSP".into()),
        }
    }

    /// The runs other DSP processes have going now: each shows in its job's
    /// pane as if it ran here; one that ended shows its result from the history.
    pub(crate) fn on_live(&mut self, others: Vec<LiveStatus>) {
        let mut begun = Vec::new();
        for s in &others {
            let view = self.jobs.entry(s.job.clone()).or_default();
            if view.running && view.remote.is_none() {
                // Started here too: this process's own events tell it.
                continue;
            }
            if view.remote != Some(s.pid) {
                view.restart();
                begun.push(s.job.clone());
                view.cancel = None;
                view.remote = Some(s.pid);
                let age = (chrono::Utc::now() - s.started)
                    .to_std()
                    .unwrap_or_default();
                view.started = Instant::now().checked_sub(age).or(view.started);
            }
            view.counted = s.total.is_some();
            view.total = s.total.unwrap_or(0);
            view.done = s.done;
            view.failed = s.failed;
            let followed = view.scroll.is_none();
            view.log = s.log.iter().map(LogLine::from).collect();
            if !followed {
                view.scroll = Some(view.scroll.unwrap_or(0).min(view.log.len()));
            }
            if s.cancelling {
                view.cancel_requested = true;
            }
        }
        for job in begun {
            self.run_begins(&job);
        }
        let ended: Vec<String> = self
            .jobs
            .iter()
            .filter(|(job, v)| v.remote.is_some() && !others.iter().any(|s| &s.job == *job))
            .map(|(job, _)| job.clone())
            .collect();
        for job in ended {
            let history = state::history(&self.data, &job).unwrap_or_default();
            let view = self.jobs.entry(job.clone()).or_default();
            view.running = false;
            view.remote = None;
            view.ended = Some(Instant::now());
            if let Some(last) = history.first() {
                view.last = Some(last.summary.clone());
                view.failed = last.summary.failed;
                view.log.clear();
                view.log_from(Some(last));
            }
            view.history = history;
            if std::mem::take(&mut view.cancel_requested) {
                let status = view
                    .last
                    .as_ref()
                    .map(|s| s.status.as_str())
                    .unwrap_or("ended");
                self.message = Some((Level::Info, format!("job \"{job}\" {status}")));
            }
        }
    }

    /// `c` on a run another DSP process owns: ask it to stop.
    pub(super) fn request_cancel(&mut self, job: &str) {
        let pid = self.jobs.get(job).and_then(|v| v.remote);
        match live_status::request_cancel(&self.data, job) {
            Ok(()) => {
                if let Some(v) = self.jobs.get_mut(job) {
                    v.cancel_requested = true;
                }
                self.message = Some((
                    Level::Info,
                    format!(
                        "Cancel requested for \"{job}\" (run by pid {})…",
                        pid.unwrap_or_default()
                    ),
                ));
            }
            Err(e) => {
                self.message = Some((
                    Level::Error,
                    format!("cannot ask for the cancel of \"{job}\" in the data dir: {e}"),
                ))
            }
        }
    }
}

/// How often the other processes' runs are looked at.
pub const LOOK_EVERY: Duration = Duration::from_millis(500);
