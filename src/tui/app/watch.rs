//! The workspace file is the truth: the TUI looks at it once a second (a
//! `stat`, as cheap as an idle wake-up gets) and reloads it when nothing is
//! being edited. An open form whose entry changed on disk says so and lets
//! the operator load the entry or save over it knowingly.
//!
//! A poll rather than inotify: no new crate to build, and it sees the file
//! behind a symlink and after an editor's atomic rename (which an inotify
//! watch on the file itself loses), as `dsp daemon` already does.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::{App, Confirm, Effect, Popup, Tab};
use crate::engine::progress::Level;
use crate::tui::form::{Form, FormKind};
use crate::workspace::Workspace;

/// What tells one version of the file from another without reading it: an
/// atomic save changes the inode, an edit in place the time or size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp {
            modified: m.modified().ok(),
            len: m.len(),
            inode: m.ino(),
        })
    }
}

/// What the TUI knows about the file on disk.
#[derive(Debug, Default)]
pub struct FileWatch {
    seen: Option<Stamp>,
    /// The file changed while a form or a dialog was open: reload once it closes.
    pending: bool,
    /// The operator was told the form's entry changed on disk: Ctrl-S saves over it.
    pub overwrite: bool,
    /// The status line's message and when this tick first saw it.
    message_since: Option<(String, Instant)>,
}

impl FileWatch {
    pub fn new(path: &Path) -> Self {
        FileWatch {
            seen: Stamp::of(path),
            ..Default::default()
        }
    }

    /// The app's own save: the file on disk is the app's workspace.
    pub(super) fn saved(&mut self, path: &Path) {
        self.seen = Stamp::of(path);
        self.pending = false;
        self.overwrite = false;
    }
}

fn same_entries(a: &Workspace, b: &Workspace) -> bool {
    a.networks == b.networks && a.schemas == b.schemas && a.jobs == b.jobs
}

impl App {
    /// Once a second: has the file changed on disk? `None` when nothing
    /// happened (so an idle screen is not redrawn).
    pub fn check_file(&mut self) -> Option<Vec<Effect>> {
        let aged = self.age_message();
        let now = Stamp::of(&self.ws_path);
        let changed = now != self.file.seen;
        let editing = matches!(self.popup, Some(Popup::Form(_) | Popup::Confirm(_)));
        if !changed && (!self.file.pending || editing) {
            return aged.then(Vec::new);
        }
        self.file.seen = now;
        if editing {
            self.file.pending = true;
            self.note_entry_on_disk();
            return Some(Vec::new());
        }
        self.file.pending = false;
        Some(self.reload())
    }

    /// The status line clears by itself (issue 17 #12): news after a few
    /// seconds, a warning or an error after long enough to read it twice.
    /// True when it was cleared.
    fn age_message(&mut self) -> bool {
        // Quitting shows its progress until the end.
        if self.quitting {
            return false;
        }
        let Some((level, text)) = &self.message else {
            self.file.message_since = None;
            return false;
        };
        let shown_for = match &self.file.message_since {
            Some((seen, since)) if seen == text => since.elapsed(),
            _ => {
                self.file.message_since = Some((text.clone(), Instant::now()));
                return false;
            }
        };
        let keep = match level {
            Level::Info => Duration::from_secs(5),
            _ => Duration::from_secs(15),
        };
        if shown_for < keep {
            return false;
        }
        self.message = None;
        self.file.message_since = None;
        true
    }

    fn reload(&mut self) -> Vec<Effect> {
        let file = self.ws_path.display().to_string();
        match crate::workspace::load(&self.ws_path) {
            Ok(ws) if same_entries(&ws, &self.ws) => Vec::new(),
            Ok(ws) => {
                self.ws = ws;
                let new: Vec<String> = (self.ws.jobs.iter())
                    .filter(|j| !self.jobs.contains_key(&j.name))
                    .map(|j| j.name.clone())
                    .collect();
                for job in new {
                    self.load_history_of(&job);
                }
                self.message = Some((Level::Info, format!("{file} changed on disk; reloaded")));
                vec![Effect::WorkspaceSaved]
            }
            Err(e) => {
                self.message = Some((
                    Level::Error,
                    format!(
                        "{file} changed on disk and does not load; keeping the last good workspace: {}",
                        e.first_reason()
                    ),
                ));
                Vec::new()
            }
        }
    }

    /// The name of the entry an open form edits, as loaded.
    fn form_entry(&self, form: &Form) -> Option<String> {
        let i = form.editing?;
        match form.kind {
            FormKind::Network => self.ws.networks.get(i).map(|n| n.name.clone()),
            FormKind::Schema => self.ws.schemas.get(i).map(|s| s.name.clone()),
            FormKind::Job => self.ws.jobs.get(i).map(|j| j.name.clone()),
        }
    }

    /// Tells an open form that its entry changed on disk.
    fn note_entry_on_disk(&mut self) {
        let disk = crate::workspace::load(&self.ws_path);
        let form = match &self.popup {
            Some(Popup::Form(f)) => f,
            Some(Popup::Confirm(Confirm::Discard(f))) => f.as_ref(),
            _ => return,
        };
        let Some(name) = self.form_entry(form) else {
            return;
        };
        let noun = tab_of(form.kind).noun();
        let note = match &disk {
            Err(e) => format!(
                "{} changed on disk and does not load: {}",
                self.ws_path.display(),
                e.first_reason()
            ),
            Ok(disk) => {
                let same = match form.kind {
                    FormKind::Network => disk.network(&name) == self.ws.network(&name),
                    FormKind::Schema => disk.schema(&name) == self.ws.schema(&name),
                    FormKind::Job => disk.job(&name) == self.ws.job(&name),
                };
                if same {
                    return;
                }
                self.file.overwrite = true;
                format!(
                    "{noun} \"{name}\" changed on disk: Ctrl-R loads it (drops your edits), Ctrl-S saves over it"
                )
            }
        };
        match &mut self.popup {
            Some(Popup::Form(f)) => f.note = Some(note),
            Some(Popup::Confirm(Confirm::Discard(f))) => f.note = Some(note),
            _ => {}
        }
    }

    /// Ctrl-R in a form: the entry as it is on disk now, the form's edits dropped.
    pub(super) fn reload_entry(&mut self, mut form: Form) -> Vec<Effect> {
        let name = self.form_entry(&form);
        let disk = match crate::workspace::load(&self.ws_path) {
            Ok(ws) => ws,
            Err(e) => {
                form.note = Some(format!(
                    "{} does not load: {}",
                    self.ws_path.display(),
                    e.first_reason()
                ));
                self.popup = Some(Popup::Form(form));
                return Vec::new();
            }
        };
        self.ws = disk;
        self.file.saved(&self.ws_path);
        let tab = tab_of(form.kind);
        self.tab = tab;
        let Some(name) = name else {
            // A new entry has nothing on disk to load: the rest of the file is fresh.
            self.popup = Some(Popup::Form(form));
            return vec![Effect::WorkspaceSaved];
        };
        let index = match tab {
            Tab::Network => self.ws.networks.iter().position(|n| n.name == name),
            Tab::Schema => self.ws.schemas.iter().position(|s| s.name == name),
            Tab::Jobs => self.ws.jobs.iter().position(|j| j.name == name),
        };
        match index {
            Some(i) => {
                self.selected[tab.index()] = i;
                self.open_form(Some(i));
                self.message = Some((
                    Level::Info,
                    format!("Loaded {} \"{name}\" from disk", tab.noun()),
                ));
            }
            None => {
                self.message = Some((
                    Level::Warn,
                    format!("{} \"{name}\" was deleted on disk", tab.noun()),
                ));
            }
        }
        vec![Effect::WorkspaceSaved]
    }
}

fn tab_of(kind: FormKind) -> Tab {
    match kind {
        FormKind::Network => Tab::Network,
        FormKind::Schema => Tab::Schema,
        FormKind::Job => Tab::Jobs,
    }
}
