//! Adding, editing and deleting networks, schemas and jobs: the forms, the
//! confirmation, and writing the workspace file.

use super::{App, Confirm, Effect, Popup, Tab};
use crate::engine::progress::Level;
use crate::tui::form::{Form, FormKind};
use crate::workspace::Workspace;
use crate::workspace::merge::{self, SaveError};

impl App {
    pub(super) fn ask_delete(&mut self) {
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

    pub(super) fn delete(&mut self, tab: Tab, index: usize, name: &str) -> Vec<Effect> {
        let mut ws = self.ws.clone();
        match tab {
            Tab::Network => drop(ws.networks.remove(index)),
            Tab::Schema => drop(ws.schemas.remove(index)),
            Tab::Jobs => drop(ws.jobs.remove(index)),
        }
        if self.save(ws).is_ok() {
            self.message = Some((Level::Info, format!("Deleted {} \"{name}\"", tab.noun())));
            let len = self.len(tab);
            let sel = &mut self.selected[tab.index()];
            *sel = sel.saturating_sub(usize::from(*sel >= len));
            return vec![Effect::WorkspaceSaved];
        }
        Vec::new()
    }

    /// Writes what changed from the workspace as loaded into the file as it
    /// is now (a hand edit made meanwhile stays) and takes the file as
    /// written; on failure keeps the old one and says why. `Ok(true)`: the
    /// file had changed on disk and those changes were kept.
    fn save(&mut self, ws: Workspace) -> Result<bool, String> {
        let force = self.file.overwrite;
        match merge::save_edit(&self.ws, &ws, &self.ws_path, force) {
            Ok(saved) => {
                self.ws = saved.workspace;
                self.file.saved(&self.ws_path);
                Ok(saved.merged)
            }
            Err(SaveError::Conflict(why)) => {
                // Told once; the next Ctrl-S is the operator's word.
                self.file.overwrite = true;
                let why =
                    format!("{why}: Ctrl-R loads it (drops your edits), Ctrl-S saves over it");
                self.message = Some((Level::Warn, why.clone()));
                Err(why)
            }
            Err(SaveError::Failed(why)) => {
                self.message = Some((Level::Error, why.clone()));
                Err(why)
            }
        }
    }

    pub(super) fn open_form(&mut self, index: Option<usize>) {
        let mut form = match self.tab {
            Tab::Network => Form::network(index.map(|i| &self.ws.networks[i]), index),
            Tab::Schema => Form::schema(index.map(|i| &self.ws.schemas[i]), index),
            Tab::Jobs => Form::job(index.map(|i| &self.ws.jobs[i]), &self.ws, index),
        };
        if index.is_some() {
            form.validate(&self.ws);
        }
        self.file.overwrite = false;
        form.mark_unedited();
        self.popup = Some(Popup::Form(form));
    }

    /// Saves a valid form; renaming a network or schema also updates the jobs
    /// that name it, so no reference is left dangling.
    pub(super) fn submit(&mut self, mut form: Form) -> Vec<Effect> {
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
        let saved_name = match form.kind {
            FormKind::Network => ws.networks[index].name.clone(),
            FormKind::Schema => ws.schemas[index].name.clone(),
            FormKind::Job => ws.jobs[index].name.clone(),
        };
        let merged = match self.save(ws) {
            Ok(merged) => merged,
            Err(why) => {
                form.note = Some(why);
                self.popup = Some(Popup::Form(form));
                return Vec::new();
            }
        };
        // The file may hold entries added by hand meanwhile: find it by name.
        let at = match form.kind {
            FormKind::Network => self.ws.networks.iter().position(|n| n.name == saved_name),
            FormKind::Schema => self.ws.schemas.iter().position(|s| s.name == saved_name),
            FormKind::Job => self.ws.jobs.iter().position(|j| j.name == saved_name),
        };
        self.selected[tab.index()] = at.unwrap_or(index);
        let mut msg = format!("Saved to {}", self.ws_path.display());
        if merged {
            msg.push_str(" (the changes made on disk meanwhile were kept)");
        }
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
    pub(super) fn fill_columns(&mut self) -> Vec<Effect> {
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
}
