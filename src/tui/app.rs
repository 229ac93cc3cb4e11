//! The TUI's state and how keys and engine events change it. Nothing here waits
//! on a database: work that does is returned as an [`Effect`] for the event loop
//! to start in the background, and its results come back as messages.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};
use tokio_util::sync::CancellationToken;

use super::form::{Form, FormKind};
use super::keymap::{self, Command, Context};
use crate::engine::progress::{Level, LogLine, ProgressEvent, RunStatus, RunSummary};
use crate::engine::schedule::Zone;
use crate::engine::state::{self, RunRecord};
use crate::paths::DataDir;
use crate::workspace::{ColumnType, Workspace};

/// Seconds of throughput the sparkline shows.
pub const SPARK_SECONDS: usize = 60;
/// Log lines kept per job in memory (the full log is in the run history).
const LOG_KEEP: usize = 5000;

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
    pub fn noun(self) -> &'static str {
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
    Engine(ProgressEvent),
    Tested {
        network: String,
        result: Result<String, String>,
    },
    Introspected(Result<Vec<(String, ColumnType)>, String>),
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
}

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
    /// Lines scrolled up from the tail; `None` follows the tail.
    pub scroll: Option<usize>,
    /// Records per second, one sample a second, newest last.
    pub samples: VecDeque<u64>,
    sampled_done: u64,
    pub last: Option<RunSummary>,
    pub history: Vec<RunRecord>,
}

impl JobView {
    /// A new run of this job begins: everything of the last run goes but its
    /// summary and the history.
    fn restart(&mut self) {
        *self = JobView {
            history: std::mem::take(&mut self.history),
            last: self.last.take(),
            running: true,
            started: Some(Instant::now()),
            ..JobView::default()
        };
    }
    /// Running, its total not known yet.
    pub fn counting(&self) -> bool {
        self.running && !self.counted
    }
    pub fn percent(&self) -> f64 {
        if self.counting() {
            return 0.0;
        }
        if self.total == 0 {
            if self
                .last
                .as_ref()
                .is_some_and(|s| s.status == RunStatus::Succeeded)
            {
                100.0
            } else {
                0.0
            }
        } else {
            (self.done as f64 / self.total as f64 * 100.0).min(100.0)
        }
    }
    /// Records per second over the last second (the average so far until the
    /// first sample is taken).
    pub fn rate(&self) -> u64 {
        match self.samples.back() {
            Some(r) => *r,
            None => {
                let secs = self.elapsed().map(|e| e.as_secs_f64()).unwrap_or(0.0);
                if secs > 0.0 {
                    (self.done as f64 / secs) as u64
                } else {
                    0
                }
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
    pub fn eta(&self) -> Option<std::time::Duration> {
        if !self.running || self.done == 0 || self.total <= self.done {
            return None;
        }
        let secs = self.elapsed()?.as_secs_f64();
        let per_row = secs / self.done as f64;
        Some(std::time::Duration::from_secs_f64(
            per_row * (self.total - self.done) as f64,
        ))
    }
    fn push_log(&mut self, line: LogLine) {
        if self.log.len() >= LOG_KEEP {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }
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
    pub message: Option<(Level, String)>,
    /// Quit asked and confirmed; the loop exits once runs have stopped.
    pub quitting: bool,
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
            message: None,
            quitting: false,
        };
        for w in crate::workspace::validate::warnings(&app.ws) {
            app.message = Some((Level::Warn, w));
        }
        app.load_history();
        app
    }

    pub fn running(&self) -> usize {
        self.jobs.values().filter(|j| j.running).count()
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

    pub fn selected_job(&self) -> Option<&crate::workspace::Job> {
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
            Some(Popup::Runs(r)) if r.open.is_some() => vec![Context::RunLog],
            Some(Popup::Runs(_)) => vec![Context::Runs],
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
    pub fn load_history(&mut self) {
        let Some(job) = self.selected_job().map(|j| j.name.clone()) else {
            return;
        };
        let history = state::history(&self.data, &job).unwrap_or_default();
        let view = self.jobs.entry(job).or_default();
        if view.last.is_none() {
            view.last = history.first().map(|r| r.summary.clone());
        }
        view.history = history;
    }

    /// Asks the keymap what `key` means here and lets the screen in front act
    /// on it; a key the keymap does not bind changes nothing.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let command = keymap::action(&self.contexts(), key);
        match self.popup.take() {
            Some(Popup::Help) => {
                if command != Some(Command::CloseHelp) {
                    self.popup = Some(Popup::Help);
                }
                Vec::new()
            }
            Some(Popup::Confirm(c)) => self.on_confirm_key(c, command),
            Some(Popup::Runs(r)) => {
                self.on_runs_key(r, command);
                Vec::new()
            }
            Some(Popup::Form(f)) => self.on_form_key(f, command, key),
            None => match command {
                Some(command) => self.on_list_key(command),
                None => Vec::new(),
            },
        }
    }

    fn on_confirm_key(&mut self, c: Confirm, command: Option<Command>) -> Vec<Effect> {
        match command {
            Some(Command::Yes) => match c {
                Confirm::Delete { tab, index, name } => self.delete(tab, index, &name),
                Confirm::Quit { .. } => {
                    self.quit_now();
                    Vec::new()
                }
            },
            Some(Command::No) => Vec::new(),
            _ => {
                self.popup = Some(Popup::Confirm(c));
                Vec::new()
            }
        }
    }

    fn quit_now(&mut self) {
        self.quitting = true;
        for view in self.jobs.values() {
            if let Some(c) = &view.cancel {
                c.cancel();
            }
        }
    }

    fn on_list_key(&mut self, command: Command) -> Vec<Effect> {
        let n = self.len(self.tab);
        let ti = self.tab.index();
        match command {
            Command::Quit => return self.ask_quit(),
            Command::Help => self.popup = Some(Popup::Help),
            Command::DismissMessage => self.message = None,
            Command::NextTab => self.switch(Tab::ALL[(self.tab.index() + 1) % 3]),
            Command::PrevTab => self.switch(Tab::ALL[(self.tab.index() + 2) % 3]),
            Command::ShowTab(tab) => self.switch(tab),
            Command::Down => {
                self.selected[ti] = (self.selected[ti] + 1).min(n.saturating_sub(1));
                self.after_move();
            }
            Command::Up => {
                self.selected[ti] = self.selected[ti].saturating_sub(1).min(n.saturating_sub(1));
                self.after_move();
            }
            Command::Add => self.open_form(None),
            Command::Edit if n > 0 => self.open_form(Some(self.selection())),
            Command::Delete if n > 0 => self.ask_delete(),
            Command::TestConnection if self.tab == Tab::Network && n > 0 => {
                let name = self.ws.networks[self.selection()].name.clone();
                self.tested.insert(name.clone(), Ok("testing…".into()));
                return vec![Effect::TestConnection(name)];
            }
            Command::FillColumns if self.tab == Tab::Schema && n > 0 => {
                self.open_form(Some(self.selection()));
                return self.fill_columns();
            }
            Command::RunNow if self.tab == Tab::Jobs && n > 0 => return self.run_selected(),
            Command::CancelRun if self.tab == Tab::Jobs && n > 0 => self.cancel_selected(),
            Command::PastRuns if self.tab == Tab::Jobs && n > 0 => self.open_runs(),
            Command::PageUp | Command::PageDown | Command::Top | Command::Bottom
                if self.tab == Tab::Jobs =>
            {
                self.scroll_log(command)
            }
            _ => {}
        }
        Vec::new()
    }

    fn switch(&mut self, tab: Tab) {
        self.tab = tab;
        self.after_move();
    }

    fn after_move(&mut self) {
        if self.tab == Tab::Jobs {
            self.load_history();
        }
    }

    fn ask_quit(&mut self) -> Vec<Effect> {
        let running = self.running();
        if running > 0 {
            self.popup = Some(Popup::Confirm(Confirm::Quit { running }));
        } else {
            self.quitting = true;
        }
        Vec::new()
    }

    fn ask_delete(&mut self) {
        let index = self.selection();
        let (name, users): (String, Vec<String>) = match self.tab {
            Tab::Network => {
                let name = self.ws.networks[index].name.clone();
                let users = self
                    .ws
                    .jobs
                    .iter()
                    .filter(|j| j.source == name || j.target == name);
                (name.clone(), users.map(|j| j.name.clone()).collect())
            }
            Tab::Schema => {
                let name = self.ws.schemas[index].name.clone();
                let users = self.ws.jobs.iter().filter(|j| j.schema == name);
                (name.clone(), users.map(|j| j.name.clone()).collect())
            }
            Tab::Jobs => (self.ws.jobs[index].name.clone(), Vec::new()),
        };
        if !users.is_empty() {
            self.message = Some((
                Level::Warn,
                format!(
                    "{} \"{name}\" is used by job{} {}; change or delete {} first",
                    self.tab.noun(),
                    if users.len() == 1 { "" } else { "s" },
                    users
                        .iter()
                        .map(|u| format!("\"{u}\""))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if users.len() == 1 { "it" } else { "them" }
                ),
            ));
            return;
        }
        if self.tab == Tab::Jobs && self.jobs.get(&name).is_some_and(|v| v.running) {
            self.message = Some((
                Level::Warn,
                format!("job \"{name}\" is running; cancel it (c) first"),
            ));
            return;
        }
        self.popup = Some(Popup::Confirm(Confirm::Delete {
            tab: self.tab,
            index,
            name,
        }));
    }

    fn delete(&mut self, tab: Tab, index: usize, name: &str) -> Vec<Effect> {
        let mut ws = self.ws.clone();
        match tab {
            Tab::Network => drop(ws.networks.remove(index)),
            Tab::Schema => drop(ws.schemas.remove(index)),
            Tab::Jobs => drop(ws.jobs.remove(index)),
        }
        if self.save(ws) {
            self.message = Some((Level::Info, format!("Deleted {} \"{name}\"", tab.noun())));
            let len = self.len(tab);
            let sel = &mut self.selected[tab.index()];
            *sel = sel.saturating_sub(usize::from(*sel >= len));
            return vec![Effect::WorkspaceSaved];
        }
        Vec::new()
    }

    /// Writes the workspace; on failure keeps the old one and says why.
    fn save(&mut self, ws: Workspace) -> bool {
        match crate::workspace::save(&ws, &self.ws_path) {
            Ok(()) => {
                self.ws = ws;
                true
            }
            Err(e) => {
                self.message = Some((
                    Level::Error,
                    format!("could not save {}: {e}", self.ws_path.display()),
                ));
                false
            }
        }
    }

    fn open_form(&mut self, index: Option<usize>) {
        let mut form = match self.tab {
            Tab::Network => Form::network(index.map(|i| &self.ws.networks[i]), index),
            Tab::Schema => Form::schema(index.map(|i| &self.ws.schemas[i]), index),
            Tab::Jobs => Form::job(index.map(|i| &self.ws.jobs[i]), &self.ws, index),
        };
        if index.is_some() {
            form.validate(&self.ws);
        }
        self.popup = Some(Popup::Form(form));
    }

    /// `key` is still needed for the character a `Type` command types.
    fn on_form_key(
        &mut self,
        mut form: Form,
        command: Option<Command>,
        key: KeyEvent,
    ) -> Vec<Effect> {
        let last = form.fields.len() - 1;
        let choice = form.fields.get(form.focus).is_some_and(|f| f.is_choice());
        match command {
            Some(Command::Cancel) => {
                self.message = Some((Level::Info, "Cancelled; nothing was saved".into()));
                return Vec::new();
            }
            Some(Command::Save) => return self.submit(form),
            Some(Command::AddColumn) if form.is_schema() => form.add_column_row(),
            Some(Command::DeleteColumn) if form.is_schema() => form.delete_column_row(),
            Some(Command::FillColumns) if form.is_schema() => {
                self.popup = Some(Popup::Form(form));
                return self.fill_columns();
            }
            Some(Command::NextOrSave) if form.focus == last => return self.submit(form),
            Some(Command::NextOrSave | Command::NextField) => {
                form.focus = (form.focus + 1).min(last)
            }
            Some(Command::PrevField) => form.focus = form.focus.saturating_sub(1),
            Some(Command::ChoicePrev) if choice => form.fields[form.focus].cycle(-1),
            Some(Command::ChoiceNext) if choice => form.fields[form.focus].cycle(1),
            Some(Command::Erase) if !choice => {
                form.fields[form.focus].value.pop();
            }
            Some(Command::Type) if !choice => {
                if let KeyCode::Char(c) = key.code {
                    form.fields[form.focus].value.push(c);
                }
            }
            _ => {}
        }
        form.validate(&self.ws);
        self.popup = Some(Popup::Form(form));
        Vec::new()
    }

    /// Saves a valid form; renaming a network or schema also updates the jobs
    /// that name it, so no reference is left dangling.
    fn submit(&mut self, mut form: Form) -> Vec<Effect> {
        let Some(mut ws) = form.validate(&self.ws) else {
            self.message = Some((Level::Warn, "Fix the fields marked ✗ before saving".into()));
            self.popup = Some(Popup::Form(form));
            return Vec::new();
        };
        let mut renamed = 0;
        let (tab, index) = match form.kind {
            FormKind::Network => (Tab::Network, form.editing.unwrap_or(ws.networks.len() - 1)),
            FormKind::Schema => (Tab::Schema, form.editing.unwrap_or(ws.schemas.len() - 1)),
            FormKind::Job => (Tab::Jobs, form.editing.unwrap_or(ws.jobs.len() - 1)),
        };
        if let Some(i) = form.editing {
            match form.kind {
                FormKind::Network => {
                    let (old, new) = (
                        self.ws.networks[i].name.clone(),
                        ws.networks[i].name.clone(),
                    );
                    for j in ws.jobs.iter_mut() {
                        for end in [&mut j.source, &mut j.target] {
                            if *end == old && old != new {
                                *end = new.clone();
                                renamed += 1;
                            }
                        }
                    }
                }
                FormKind::Schema => {
                    let (old, new) = (self.ws.schemas[i].name.clone(), ws.schemas[i].name.clone());
                    for j in ws.jobs.iter_mut().filter(|j| j.schema == old && old != new) {
                        j.schema = new.clone();
                        renamed += 1;
                    }
                }
                FormKind::Job => {}
            }
        }
        if !self.save(ws) {
            self.popup = Some(Popup::Form(form));
            return Vec::new();
        }
        self.selected[tab.index()] = index;
        let mut msg = format!("Saved to {}", self.ws_path.display());
        if renamed > 0 {
            msg.push_str(&format!(
                "; {renamed} job reference{} updated to the new name",
                if renamed == 1 { "" } else { "s" }
            ));
        }
        self.message = Some((Level::Info, msg));
        vec![Effect::WorkspaceSaved]
    }

    /// Asks the engine for the source table's columns: the source network is the
    /// one a job using this schema reads from, else the first network.
    fn fill_columns(&mut self) -> Vec<Effect> {
        let Some(Popup::Form(form)) = &mut self.popup else {
            return Vec::new();
        };
        let schema_name = form.fields[0].value.trim().to_string();
        let table = form
            .fields
            .iter()
            .find(|f| f.key == "source_table")
            .map(|f| f.value.trim().to_string());
        let network = self
            .ws
            .jobs
            .iter()
            .find(|j| j.schema == schema_name)
            .map(|j| j.source.clone())
            .or_else(|| self.ws.networks.first().map(|n| n.name.clone()));
        match (network, table.filter(|t| !t.is_empty())) {
            (Some(network), Some(table)) => {
                form.note = Some(format!("Reading the columns of {table} on \"{network}\"…"));
                vec![Effect::Introspect { network, table }]
            }
            (None, _) => {
                form.note =
                    Some("Add a network first: columns are read from the source table".into());
                Vec::new()
            }
            (_, None) => {
                form.note = Some("Type the source table first".into());
                Vec::new()
            }
        }
    }

    fn run_selected(&mut self) -> Vec<Effect> {
        let Some(job) = self.selected_job().map(|j| j.name.clone()) else {
            return Vec::new();
        };
        let view = self.jobs.entry(job.clone()).or_default();
        if view.running {
            self.message = Some((Level::Warn, format!("job \"{job}\" is already running")));
            return Vec::new();
        }
        view.restart();
        self.message = None;
        vec![Effect::RunJob(job)]
    }

    /// The loop hands back the run's cancel token once it has started the run.
    pub fn set_cancel(&mut self, job: &str, token: CancellationToken) {
        self.jobs.entry(job.to_string()).or_default().cancel = Some(token);
    }

    fn cancel_selected(&mut self) {
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
                } else {
                    self.message = Some((
                        Level::Warn,
                        format!("\"{job}\" was started by the schedule; it stops when DSP quits"),
                    ));
                }
            }
            _ => self.message = Some((Level::Info, format!("job \"{job}\" is not running"))),
        }
    }

    fn open_runs(&mut self) {
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
        }));
    }

    fn on_runs_key(&mut self, mut r: RunsView, command: Option<Command>) {
        let runs = self.jobs.get(&r.job).map(|v| v.history.len()).unwrap_or(0);
        let Some(command) = command else {
            self.popup = Some(Popup::Runs(r));
            return;
        };
        match (&mut r.open, command) {
            (None, Command::Back) => return,
            (Some(_), Command::Back) => r.open = None,
            (None, Command::Down) => r.selected = (r.selected + 1).min(runs.saturating_sub(1)),
            (None, Command::Up) => r.selected = r.selected.saturating_sub(1),
            (None, Command::Open) => r.open = Some((r.selected, 0)),
            (Some((_, scroll)), Command::Down) => *scroll += 1,
            (Some((_, scroll)), Command::Up) => *scroll = scroll.saturating_sub(1),
            (Some((_, scroll)), Command::PageDown) => *scroll += 10,
            (Some((_, scroll)), Command::PageUp) => *scroll = scroll.saturating_sub(10),
            (Some((_, scroll)), Command::Top) => *scroll = 0,
            _ => {}
        }
        self.popup = Some(Popup::Runs(r));
    }

    fn scroll_log(&mut self, command: Command) {
        let Some(job) = self.selected_job().map(|j| j.name.clone()) else {
            return;
        };
        let view = self.jobs.entry(job).or_default();
        let max = view.log.len();
        const PAGE: usize = 10;
        view.scroll = match command {
            Command::PageUp => Some((view.scroll.unwrap_or(0) + PAGE).min(max)),
            Command::PageDown => view
                .scroll
                .and_then(|s| s.checked_sub(PAGE))
                .filter(|s| *s > 0),
            Command::Top => Some(max),
            _ => None,
        };
    }

    pub fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Engine(ev) => self.on_engine(ev),
            Msg::Tested { network, result } => {
                self.tested.insert(network, result);
            }
            Msg::Introspected(result) => {
                if let Some(Popup::Form(form)) = &mut self.popup
                    && form.is_schema()
                {
                    match result {
                        Ok(cols) if cols.is_empty() => {
                            form.note = Some("The source table has no columns".into())
                        }
                        Ok(cols) => {
                            form.fill_columns(&cols);
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

    /// Once a second while jobs run: the throughput sample for the sparkline.
    pub fn sample(&mut self) {
        for view in self.jobs.values_mut().filter(|v| v.running) {
            let delta = view.done.saturating_sub(view.sampled_done);
            view.sampled_done = view.done;
            if view.samples.len() >= SPARK_SECONDS {
                view.samples.pop_front();
            }
            view.samples.push_back(delta);
        }
    }
}
