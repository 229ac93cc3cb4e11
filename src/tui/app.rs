//! The TUI's state and how keys and engine events change it. Nothing here waits
//! on a database: work that does is returned as an [`Effect`] for the event loop
//! to start in the background, and its results come back as messages.

mod daemon_view;
mod edit;
mod job_view;
mod keys;
mod run_log;
mod runs;
mod search;
mod watch;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use super::form::Form;
use super::keymap::Context;
use tokio_util::sync::CancellationToken;

use crate::engine::preview::Preview;
use crate::engine::progress::{Level, ProgressEvent, RunStatus};
use crate::engine::schedule::Zone;
use crate::engine::state;
use crate::paths::DataDir;
use crate::workspace::{ColumnType, Workspace};
pub use daemon_view::LOOK_EVERY;
pub use job_view::{JobView, PreviewState, SPARK_SECONDS};
pub use search::{LogHit, Search, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Network,
    Schema,
    Jobs,
}

impl Tab {
    pub const ALL: [Tab; 3] = [Tab::Network, Tab::Schema, Tab::Jobs];
    pub fn index(self) -> usize {
        match self {
            Tab::Network => 0,
            Tab::Schema => 1,
            Tab::Jobs => 2,
        }
    }
    /// What one entry of the tab is called in messages.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Tab::Network => "network",
            Tab::Schema => "schema",
            Tab::Jobs => "job",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Tab::Network => "Network",
            Tab::Schema => "Schema",
            Tab::Jobs => "Jobs",
        }
    }
}

/// Work the event loop starts in the background.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    RunJob(String),
    /// `dsp verify` of one job, in the background; `epoch` is the job's
    /// `App::runs_begun` when it was asked.
    VerifyJob {
        job: String,
        epoch: u64,
    },
    /// A dry run of the job (`p`), likewise.
    PreviewJob {
        job: String,
        epoch: u64,
    },
    TestConnection(String),
    Introspect {
        network: String,
        table: String,
    },
    /// The workspace changed on disk; tell the scheduler.
    WorkspaceSaved,
}

/// Results of background work.
#[derive(Debug)]
pub enum Msg {
    /// The schedule started `job`; `cancel` stops it, as `c` does a Run Now.
    Scheduled {
        job: String,
        cancel: CancellationToken,
    },
    Tested {
        network: String,
        result: Result<String, String>,
    },
    /// The columns of `table` on `network` (Ctrl-F in the schema form).
    Introspected {
        network: String,
        table: String,
        result: Result<Vec<(String, ColumnType)>, String>,
    },
    /// A verify's or a preview's result, with the epoch it was asked in.
    Verified(u64, Box<crate::engine::verify::Verified>),
    Previewed(u64, Preview),
    /// Who fires the schedules changed.
    Firing(crate::engine::lease::Firing),
    /// The runs other DSP processes have going now.
    Live(Vec<crate::engine::live_status::LiveStatus>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    Delete {
        tab: Tab,
        index: usize,
        name: String,
    },
    Quit {
        running: usize,
    },
    /// Esc on an edited form: No (the default) goes back to editing it.
    Discard(Box<Form>),
    /// Ctrl-S on a network form with a clear-text password: Yes saves it.
    ClearPassword(Box<Form>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    Help,
    Confirm(Confirm),
    Form(Form),
    Runs(RunsView),
}

/// The past runs of a job: a list, and the full log of the one opened.
#[derive(Debug, Clone, PartialEq)]
pub struct RunsView {
    pub job: String,
    pub selected: usize,
    /// The run whose log is shown, and how far it is scrolled down.
    pub open: Option<(usize, usize)>,
    /// The find prompt being typed in the open log.
    pub find: Option<String>,
    /// The text looked for in the open log last, and the line found.
    pub found: Option<Found>,
}

/// A search of a past run's log: the text, and its line (`None`: no match).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub query: String,
    pub line: Option<usize>,
}

pub struct App {
    pub ws: Workspace,
    pub ws_path: PathBuf,
    pub data: DataDir,
    pub zone: Zone,
    pub tab: Tab,
    pub selected: [usize; 3],
    pub popup: Option<Popup>,
    pub jobs: HashMap<String, JobView>,
    /// Results of `t` per network.
    pub tested: HashMap<String, Result<String, String>>,
    /// Results of `v` per job; `None` while it runs.
    pub verified: HashMap<String, Option<crate::engine::verify::Verified>>,
    /// Runs of each job begun while this UI watched (here, by the schedule,
    /// or by another DSP). A verify or preview asked before the latest of
    /// them compared a target that run may have changed: its result is
    /// dropped, never shown as the job's state.
    pub runs_begun: HashMap<String, u64>,
    /// Networks whose connection test is under way.
    pub testing: std::collections::HashSet<String>,
    pub message: Option<(Level, String)>,
    /// Quit asked and confirmed; the loop exits once runs have stopped.
    pub quitting: bool,
    /// The terminal's height and width, so that scrolling a full-screen log
    /// stops where its last line (wrapped as drawn) reaches the bottom.
    pub screen_rows: u16,
    pub screen_cols: u16,
    /// The workspace file on disk, looked at once a second.
    pub file: watch::FileWatch,
    /// Who fires the schedules (the lease), once known.
    pub firing: Option<crate::engine::lease::Firing>,
    /// The `/` list filters and the log search.
    pub search: Search,
    /// The job a "busy" note in `message` is about, and the note.
    busy: Option<(String, String)>,
}

impl App {
    pub fn new(ws: Workspace, ws_path: PathBuf, data: DataDir, zone: Zone) -> Self {
        let mut app = App {
            ws,
            ws_path,
            data,
            zone,
            tab: Tab::Network,
            selected: [0; 3],
            popup: None,
            jobs: HashMap::new(),
            tested: HashMap::new(),
            verified: HashMap::new(),
            runs_begun: HashMap::new(),
            testing: Default::default(),
            message: None,
            quitting: false,
            screen_rows: 24,
            screen_cols: 80,
            file: watch::FileWatch::default(),
            firing: None,
            search: Search::default(),
            busy: None,
        };
        app.file = watch::FileWatch::new(&app.ws_path);
        for w in crate::workspace::validate::warnings(&app.ws) {
            app.message = Some((Level::Warn, w));
        }
        // Every job's last status, from the history, so the list tells the
        // story after a restart (a few small local files per job).
        let names: Vec<String> = app.ws.jobs.iter().map(|j| j.name.clone()).collect();
        for job in names {
            app.load_history_of(&job);
        }
        app
    }

    /// `dsp demo`: straight to the jobs, with the one key a newcomer needs.
    pub fn open_as_demo(&mut self) {
        // Every job's history was read when the app was made.
        self.tab = Tab::Jobs;
        if self.message.is_none() {
            self.message = Some((
                Level::Info,
                "Press r to run the selected job, ? for keys".into(),
            ));
        }
    }

    /// Runs started here (another process's are not this TUI's to wait for).
    pub fn running(&self) -> usize {
        self.jobs
            .values()
            .filter(|j| j.running && j.remote.is_none())
            .count()
    }

    /// Something moves on screen: a run here or in another process.
    pub fn animating(&self) -> bool {
        self.jobs.values().any(|j| j.running)
    }

    fn len(&self, tab: Tab) -> usize {
        match tab {
            Tab::Network => self.ws.networks.len(),
            Tab::Schema => self.ws.schemas.len(),
            Tab::Jobs => self.ws.jobs.len(),
        }
    }

    pub fn selection(&self) -> usize {
        self.selected[self.tab.index()].min(self.len(self.tab).saturating_sub(1))
    }

    pub(crate) fn selected_job(&self) -> Option<&crate::workspace::Job> {
        self.ws
            .jobs
            .get(self.selected[2].min(self.ws.jobs.len().saturating_sub(1)))
    }

    pub fn job_view(&self, name: &str) -> Option<&JobView> {
        self.jobs.get(name)
    }

    /// Where the keys are now, general first: what the keymap resolves a key
    /// against and what the footer lists.
    pub fn contexts(&self) -> Vec<Context> {
        match &self.popup {
            Some(Popup::Confirm(_)) => vec![Context::Confirm],
            Some(Popup::Form(f)) => {
                let field = match f.fields.get(f.focus) {
                    Some(field) if field.is_choice() => Context::ChoiceField,
                    _ => Context::TextField,
                };
                let mut contexts = vec![Context::Form, field];
                if f.is_schema() {
                    contexts.push(Context::SchemaForm);
                }
                contexts
            }
            Some(Popup::Help) => vec![Context::Help],
            Some(Popup::Runs(r)) if r.find.is_some() => vec![Context::TextField, Context::Prompt],
            Some(Popup::Runs(r)) if r.open.is_some() => vec![Context::RunLog],
            Some(Popup::Runs(_)) => vec![Context::Runs],
            None if self.search.prompt.is_some() => vec![Context::TextField, Context::Prompt],
            None => vec![
                Context::Global,
                match self.tab {
                    Tab::Network => Context::Network,
                    Tab::Schema => Context::Schema,
                    Tab::Jobs => Context::Jobs,
                },
            ],
        }
    }

    /// Loads the selected job's past runs from the data dir (small local files).
    pub(crate) fn load_history(&mut self) {
        if let Some(job) = self.selected_job().map(|j| j.name.clone()) {
            self.load_history_of(&job);
        }
    }

    fn load_history_of(&mut self, job: &str) {
        let history = state::history(&self.data, job).unwrap_or_default();
        let view = self.jobs.entry(job.to_string()).or_default();
        if view.last.is_none() {
            view.last = history.first().map(|r| r.summary.clone());
        }
        view.log_from(history.first());
        view.history = history;
    }

    pub fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Scheduled { job, cancel } => self.set_cancel(&job, cancel),
            Msg::Firing(f) => self.firing = Some(f),
            Msg::Live(others) => self.on_live(others),
            Msg::Previewed(epoch, p) => {
                let job = p.job.clone();
                self.no_longer_busy(&job);
                if self.outrun(&job, epoch, "preview", 'p') {
                    return;
                }
                self.jobs.entry(job).or_default().preview = Some(PreviewState::Done(p));
            }
            Msg::Tested { network, result } => {
                self.testing.remove(&network);
                self.tested.insert(network, result);
            }
            Msg::Verified(epoch, v) => {
                if self.outrun(&v.job, epoch, "verify", 'v') {
                    return;
                }
                self.verified.insert(v.job.clone(), Some(*v));
            }
            Msg::Introspected {
                network,
                table,
                result,
            } => {
                if let Some(Popup::Form(form)) = &mut self.popup
                    && form.is_schema()
                {
                    match result {
                        Ok(cols) if cols.is_empty() => {
                            form.note = Some(format!("{table} on \"{network}\" has no columns"))
                        }
                        Ok(cols) => {
                            form.fill_columns(&cols);
                            // Which table of which network, so a wrong guess shows.
                            form.note = Some(format!(
                                "{} column{} filled from {table} on \"{network}\"; edit as needed",
                                cols.len(),
                                if cols.len() == 1 { "" } else { "s" }
                            ));
                            form.validate(&self.ws);
                        }
                        Err(e) => form.note = Some(e),
                    }
                }
            }
        }
    }

    pub fn on_engine(&mut self, ev: ProgressEvent) {
        let job = ev.job().to_string();
        let view = self.jobs.entry(job.clone()).or_default();
        match ev {
            ProgressEvent::Began { .. } => {
                if !view.running {
                    // Started by the schedule: reset like Run Now does.
                    view.restart();
                    self.run_begins(&job);
                }
            }
            ProgressEvent::Started { total, .. } => {
                view.total = total;
                view.counted = true;
            }
            ProgressEvent::Batch { done, failed, .. } => {
                view.running = true;
                view.done = done;
                view.failed = failed;
            }
            ProgressEvent::Log { line, .. } => view.push_log(line),
            ProgressEvent::Finished(summary) => {
                self.no_longer_busy(&job);
                let view = self.jobs.entry(job.clone()).or_default();
                view.running = false;
                view.cancel = None;
                view.ended = Some(Instant::now());
                if summary.status == RunStatus::Succeeded {
                    view.done = summary.success + summary.failed;
                    view.total = view.total.max(summary.total);
                }
                view.failed = summary.failed;
                view.last = Some(summary);
                view.history = state::history(&self.data, &job).unwrap_or_default();
            }
        }
    }

    /// `job`'s run or preview ended: a note that it is busy, still shown,
    /// would now be untrue.
    fn no_longer_busy(&mut self, job: &str) {
        if let Some((busy, note)) = self.busy.take() {
            let shown = self.message.as_ref().is_some_and(|(_, m)| *m == note);
            match busy == job && shown {
                true => self.message = None,
                false => self.busy = Some((busy, note)),
            }
        }
    }

    /// The job's runs begun so far (see `runs_begun`).
    pub(crate) fn epoch(&self, job: &str) -> u64 {
        self.runs_begun.get(job).copied().unwrap_or(0)
    }

    /// A run of `job` begins: what a verify found no longer holds, and a
    /// verify or preview still under way will be dropped when it ends.
    pub(crate) fn run_begins(&mut self, job: &str) {
        *self.runs_begun.entry(job.to_string()).or_default() += 1;
        self.verified.remove(job);
    }

    /// Whether a result asked in `epoch` was overtaken by a run of `job`
    /// (then it is dropped, and the operator told).
    fn outrun(&mut self, job: &str, epoch: u64, what: &str, key: char) -> bool {
        if epoch == self.epoch(job) {
            return false;
        }
        self.message = Some((
            Level::Info,
            format!(
                "the {what} of \"{job}\" began before its last run and no longer holds; \
                 press {key} to {what} it again"
            ),
        ));
        true
    }

    /// Once a second while jobs run: the throughput sample for the sparkline.
    pub fn sample(&mut self) {
        for view in self.jobs.values_mut().filter(|v| v.running) {
            view.sample();
        }
    }
}
