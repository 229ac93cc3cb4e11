//! Run Now, cancel, and the past runs of the selected job.

use tokio_util::sync::CancellationToken;

use super::{App, Effect, Popup, PreviewState, RunsView};
use crate::engine::progress::Level;

impl App {
    pub(super) fn run_selected(&mut self) -> Vec<Effect> {
        let Some(job) = self.selected_job().map(|j| j.name.clone()) else {
            return Vec::new();
        };
        let view = self.jobs.entry(job.clone()).or_default();
        if view.running {
            self.busy_note(&job, format!("job \"{job}\" is already running"));
            return Vec::new();
        }
        view.restart();
        self.run_begins(&job);
        self.message = None;
        vec![Effect::RunJob(job)]
    }

    /// `p`: a dry run of the selected job in the background; its result shows
    /// in the job's pane.
    pub(super) fn preview_selected(&mut self) -> Vec<Effect> {
        let Some(job) = self.selected_job().map(|j| j.name.clone()) else {
            return Vec::new();
        };
        let view = self.jobs.entry(job.clone()).or_default();
        if view.running || view.preview == Some(PreviewState::Running) {
            self.busy_note(
                &job,
                format!("job \"{job}\" is busy; preview it when it is done"),
            );
            return Vec::new();
        }
        view.preview = Some(PreviewState::Running);
        self.message = None;
        let epoch = self.epoch(&job);
        vec![Effect::PreviewJob { job, epoch }]
    }

    /// `v`: verifies the selected job in the background; its result shows
    /// in the job's pane. Not while the job runs: its target is changing.
    pub(super) fn verify_selected(&mut self) -> Vec<Effect> {
        let Some(job) = self.selected_job().map(|j| j.name.clone()) else {
            return Vec::new();
        };
        // A preview holds the job's lock as a run does.
        if self
            .jobs
            .get(&job)
            .is_some_and(|v| v.preview == Some(PreviewState::Running))
        {
            self.busy_note(
                &job,
                format!("job \"{job}\" is being previewed; verify it when that is done"),
            );
            return Vec::new();
        }
        if self.jobs.get(&job).is_some_and(|v| v.running) {
            self.busy_note(
                &job,
                format!("job \"{job}\" is running; verify it when it is done"),
            );
            return Vec::new();
        }
        // One verification of a job at a time.
        if self.verified.get(&job).is_some_and(Option::is_none) {
            return Vec::new();
        }
        self.verified.insert(job.clone(), None);
        self.message = None;
        let epoch = self.epoch(&job);
        vec![Effect::VerifyJob { job, epoch }]
    }

    /// Says `job` is busy, until the operator acts again or the job's run
    /// ends (then the note would be untrue).
    fn busy_note(&mut self, job: &str, text: String) {
        self.busy = Some((job.to_string(), text.clone()));
        self.message = Some((Level::Warn, text));
    }

    /// The loop hands back the run's cancel token once it has started the run.
    pub(crate) fn set_cancel(&mut self, job: &str, token: CancellationToken) {
        self.jobs.entry(job.to_string()).or_default().cancel = Some(token);
    }

    pub(super) fn cancel_selected(&mut self) {
        let Some(job) = self.selected_job().map(|j| j.name.clone()) else {
            return;
        };
        match self.jobs.get(&job) {
            Some(v) if v.running => {
                if let Some(c) = &v.cancel {
                    c.cancel();
                    self.message = Some((
                        Level::Info,
                        format!("Cancelling \"{job}\"; the target keeps its last consistent state"),
                    ));
                } else if v.remote.is_some() {
                    self.request_cancel(&job);
                } else {
                    // Started a moment ago; its token is on its way.
                    self.message = Some((
                        Level::Warn,
                        format!("\"{job}\" is starting; press c again in a moment"),
                    ));
                }
            }
            _ => self.message = Some((Level::Info, format!("job \"{job}\" is not running"))),
        }
    }

    pub(super) fn open_runs(&mut self) {
        self.load_history();
        let Some(job) = self.selected_job().map(|j| j.name.clone()) else {
            return;
        };
        if self.jobs.get(&job).is_none_or(|v| v.history.is_empty()) {
            self.message = Some((
                Level::Info,
                format!("job \"{job}\" has no recorded runs yet"),
            ));
            return;
        }
        self.popup = Some(Popup::Runs(RunsView {
            job,
            selected: 0,
            open: None,
            find: None,
            found: None,
        }));
    }
}
