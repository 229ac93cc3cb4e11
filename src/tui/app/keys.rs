//! Keys: the keymap names the action, and the screen in front carries it out.

use crossterm::event::{KeyCode, KeyEvent};

use super::{App, Confirm, Effect, Popup, RunsView, Tab, Target};
use crate::engine::progress::Level;
use crate::tui::action::Action;
use crate::tui::form::Form;
use crate::tui::keymap;

impl App {
    /// Asks the keymap what `key` means here and lets the screen in front act
    /// on it; a key the keymap does not bind changes nothing.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let action = keymap::action(&self.contexts(), key);
        match self.popup.take() {
            Some(Popup::Help) => {
                if action != Some(Action::CloseHelp) {
                    self.popup = Some(Popup::Help);
                }
                Vec::new()
            }
            Some(Popup::Confirm(c)) => self.on_confirm_key(c, action),
            Some(Popup::Runs(r)) => {
                self.on_runs_key(r, action, key);
                Vec::new()
            }
            Some(Popup::Form(f)) => self.on_form_key(f, action, key),
            None if self.search.prompt.is_some() => {
                self.on_prompt_key(action, key);
                Vec::new()
            }
            None => match action {
                Some(action) => self.on_list_key(action),
                None => Vec::new(),
            },
        }
    }

    fn on_confirm_key(&mut self, c: Confirm, action: Option<Action>) -> Vec<Effect> {
        match action {
            Some(Action::Yes) => match c {
                Confirm::Delete { tab, index, name } => self.delete(tab, index, &name),
                Confirm::Quit { .. } => {
                    self.quit_now();
                    Vec::new()
                }
                Confirm::Discard(_) => {
                    self.message = Some((Level::Info, "Discarded; nothing was saved".into()));
                    Vec::new()
                }
                Confirm::ClearPassword(form) => self.submit(*form),
            },
            Some(Action::No) => {
                if let Confirm::Discard(form) | Confirm::ClearPassword(form) = c {
                    self.popup = Some(Popup::Form(*form));
                }
                Vec::new()
            }
            _ => {
                self.popup = Some(Popup::Confirm(c));
                Vec::new()
            }
        }
    }

    fn quit_now(&mut self) {
        self.quitting = true;
        let running = self.running();
        if running > 0 {
            // Shown while the runs roll back, so the wait is not a silent one.
            self.message = Some((
                Level::Info,
                format!(
                    "Cancelling {running} job{}… targets keep their last consistent state",
                    if running == 1 { "" } else { "s" }
                ),
            ));
        }
        self.cancel_all();
    }

    /// Tells every run started here (by Run Now or the schedule) to stop.
    pub fn cancel_all(&mut self) {
        for view in self.jobs.values() {
            if let Some(c) = &view.cancel {
                c.cancel();
            }
        }
    }

    fn on_list_key(&mut self, action: Action) -> Vec<Effect> {
        // What a filter hides cannot be acted on.
        let n = self.visible(self.tab).len();
        match action {
            Action::Quit => return self.ask_quit(),
            Action::Help => self.popup = Some(Popup::Help),
            Action::DismissMessage => {
                self.clear_any_search();
                self.message = None;
            }
            Action::Filter => self.open_prompt(Target::List),
            Action::FindInLog if self.tab == Tab::Jobs && n > 0 => self.open_prompt(Target::Log),
            Action::NextMatch if self.tab == Tab::Jobs => self.next_match(true),
            Action::PrevMatch if self.tab == Tab::Jobs => self.next_match(false),
            Action::NextTab => self.switch(Tab::ALL[(self.tab.index() + 1) % 3]),
            Action::PrevTab => self.switch(Tab::ALL[(self.tab.index() + 2) % 3]),
            Action::ShowTab(tab) => self.switch(tab),
            Action::Down => self.step_visible(1),
            Action::Up => self.step_visible(-1),
            Action::Add => self.open_form(None),
            Action::Edit if n > 0 => self.open_form(Some(self.selection())),
            Action::Delete if n > 0 => self.ask_delete(),
            Action::TestConnection if self.tab == Tab::Network && n > 0 => {
                let name = self.ws.networks[self.selection()].name.clone();
                // In progress, not a pass: the old result goes until the new one comes.
                self.tested.remove(&name);
                self.testing.insert(name.clone());
                return vec![Effect::TestConnection(name)];
            }
            Action::FillColumns if self.tab == Tab::Schema && n > 0 => {
                self.open_form(Some(self.selection()));
                return self.fill_columns();
            }
            Action::RunNow if self.tab == Tab::Jobs && n > 0 => return self.run_selected(),
            Action::CancelRun if self.tab == Tab::Jobs && n > 0 => self.cancel_selected(),
            Action::PastRuns if self.tab == Tab::Jobs && n > 0 => self.open_runs(),
            Action::Preview if self.tab == Tab::Jobs && n > 0 => return self.preview_selected(),
            Action::Verify if self.tab == Tab::Jobs && n > 0 => return self.verify_selected(),
            Action::PageUp
            | Action::PageDown
            | Action::HalfPageUp
            | Action::HalfPageDown
            | Action::Top
            | Action::Bottom
                if self.tab == Tab::Jobs =>
            {
                self.scroll_log(action)
            }
            _ => {}
        }
        Vec::new()
    }

    fn switch(&mut self, tab: Tab) {
        self.tab = tab;
        self.after_move();
    }

    pub(super) fn after_move(&mut self) {
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

    /// Saves the form, asking first when it would write a clear password.
    fn ask_submit(&mut self, mut form: Form) -> Vec<Effect> {
        if form.saves_clear_password() && form.validate(&self.ws).is_some() {
            self.popup = Some(Popup::Confirm(Confirm::ClearPassword(Box::new(form))));
            return Vec::new();
        }
        self.submit(form)
    }

    /// `key` is still needed for the character a `Type` action types.
    fn on_form_key(
        &mut self,
        mut form: Form,
        action: Option<Action>,
        key: KeyEvent,
    ) -> Vec<Effect> {
        let choice = form.fields.get(form.focus).is_some_and(|f| f.is_choice());
        match action {
            Some(Action::Cancel) if form.is_edited() => {
                self.popup = Some(Popup::Confirm(Confirm::Discard(Box::new(form))));
                return Vec::new();
            }
            Some(Action::Cancel) => {
                self.message = Some((Level::Info, "Cancelled; nothing was saved".into()));
                return Vec::new();
            }
            Some(Action::Save) => return self.ask_submit(form),
            Some(Action::ReloadEntry) => return self.reload_entry(form),
            Some(Action::AddColumn) if form.is_schema() => form.add_column_row(),
            Some(Action::DeleteColumn) if form.is_schema() => form.delete_column_row(),
            Some(Action::FillColumns) if form.is_schema() => {
                self.popup = Some(Popup::Form(form));
                return self.fill_columns();
            }
            Some(Action::NextOrSave) if form.step_focus(1) == form.focus => {
                return self.ask_submit(form);
            }
            Some(Action::NextOrSave | Action::NextField) => form.focus = form.step_focus(1),
            Some(Action::PrevField) => form.focus = form.step_focus(-1),
            Some(Action::ChoicePrev) if choice => form.fields[form.focus].cycle(-1),
            Some(Action::ChoiceNext) if choice => form.fields[form.focus].cycle(1),
            Some(Action::Erase) if !choice => {
                form.fields[form.focus].value.pop();
            }
            Some(Action::Type) if !choice => {
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

    fn on_runs_key(&mut self, mut r: RunsView, action: Option<Action>, key: KeyEvent) {
        if r.find.is_some() {
            self.on_run_log_prompt(&mut r, action, key);
            self.popup = Some(Popup::Runs(r));
            return;
        }
        let history = self.jobs.get(&r.job).map(|v| v.history.as_slice());
        let runs = history.map_or(0, |h| h.len());
        let Some(action) = action else {
            self.popup = Some(Popup::Runs(r));
            return;
        };
        let page = self.run_log_page();
        match (&mut r.open, action) {
            (None, Action::Back) => return,
            // Esc drops the search first, then leaves the log.
            (Some(_), Action::Back) if r.found.is_some() => r.found = None,
            (Some(_), Action::Back) => r.open = None,
            (Some(_), Action::FindInLog) => r.find = Some(String::new()),
            (Some(_), Action::NextMatch) => self.next_in_run_log(&mut r, true),
            (Some(_), Action::PrevMatch) => self.next_in_run_log(&mut r, false),
            (None, Action::Down) => r.selected = (r.selected + 1).min(runs.saturating_sub(1)),
            (None, Action::Up) => r.selected = r.selected.saturating_sub(1),
            (None, Action::Open) => r.open = Some((r.selected, 0)),
            (Some((i, scroll)), action) => {
                let max = self.run_log_last_top(&r.job, *i);
                *scroll = match action {
                    Action::Down => *scroll + 1,
                    Action::Up => scroll.saturating_sub(1),
                    Action::PageDown => *scroll + page,
                    Action::PageUp => scroll.saturating_sub(page),
                    Action::Top => 0,
                    Action::Bottom => max,
                    _ => *scroll,
                }
                .min(max);
            }
            _ => {}
        }
        self.popup = Some(Popup::Runs(r));
    }

    fn scroll_log(&mut self, action: Action) {
        let Some(job) = self.selected_job().map(|j| j.name.clone()) else {
            return;
        };
        let view = self.jobs.entry(job).or_default();
        const PAGE: usize = 10;
        match action {
            Action::PageUp => view.scroll_up(PAGE),
            Action::HalfPageUp => view.scroll_up(PAGE / 2),
            Action::PageDown => view.scroll_down(PAGE),
            Action::HalfPageDown => view.scroll_down(PAGE / 2),
            Action::Top => view.scroll = Some(0),
            _ => view.scroll = None,
        }
    }
}
