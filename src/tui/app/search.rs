//! `/` filters the list of a tab, `Ctrl-F` finds a line in the selected job's
//! log (`n`/`N` for the next match up or down). Both are case-insensitive and
//! typed into a one-line prompt in the status line.

use crossterm::event::{KeyCode, KeyEvent};

use super::{App, Tab};
use crate::engine::progress::Level;
use crate::tui::action::Action;

/// What the prompt being typed does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Filters the tab's list as it is typed.
    List,
    /// Finds the text in the log on Enter.
    Log,
}

/// A log line found: which job's log, the text looked for and the line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogHit {
    pub job: String,
    pub query: String,
    pub line: usize,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Search {
    /// The prompt open in the status line, and its text.
    pub prompt: Option<(Target, String)>,
    /// Each tab's list filter; empty shows everything.
    pub filters: [String; 3],
    /// The log line found last, highlighted until Esc.
    pub hit: Option<LogHit>,
}

fn matches(text: &str, query: &str) -> bool {
    text.to_lowercase().contains(&query.to_lowercase())
}

/// The first line of `texts` holding `query` (any case) from line `at` on,
/// going down or up and wrapping at the ends; without `at`, from the top
/// going down or from the bottom going up.
pub(super) fn find_line(
    texts: &[String],
    query: &str,
    at: Option<usize>,
    down: bool,
) -> Option<usize> {
    let n = texts.len();
    let hit = |i: &usize| matches(&texts[*i], query);
    if down {
        let start = at.unwrap_or(0).min(n);
        (start..n).find(hit).or_else(|| (0..start).find(hit))
    } else {
        let start = at.map_or(n, |a| a.saturating_add(1).min(n));
        (0..start)
            .rev()
            .find(hit)
            .or_else(|| (start..n).rev().find(hit))
    }
}

/// What a key did to an open prompt's text.
pub(super) enum Prompted {
    /// Typed, erased, or left alone: the prompt stays open.
    Editing,
    /// Enter.
    Done,
    /// Esc.
    Cleared,
}

/// Typing and erasing edit a prompt's `text`; Enter is done, Esc clears.
pub(super) fn edit_prompt(text: &mut String, action: Option<Action>, key: KeyEvent) -> Prompted {
    match action {
        Some(Action::Type) => {
            if let KeyCode::Char(c) = key.code {
                text.push(c);
            }
        }
        Some(Action::Erase) => {
            text.pop();
        }
        Some(Action::PromptClear) => return Prompted::Cleared,
        Some(Action::PromptDone) => return Prompted::Done,
        _ => {}
    }
    Prompted::Editing
}

impl App {
    fn names(&self, tab: Tab) -> Vec<&str> {
        match tab {
            Tab::Network => self.ws.networks.iter().map(|n| n.name.as_str()).collect(),
            Tab::Schema => self.ws.schemas.iter().map(|s| s.name.as_str()).collect(),
            Tab::Jobs => self.ws.jobs.iter().map(|j| j.name.as_str()).collect(),
        }
    }

    /// The indices of the entries the tab's filter lets through.
    pub fn visible(&self, tab: Tab) -> Vec<usize> {
        let filter = &self.search.filters[tab.index()];
        self.names(tab)
            .iter()
            .enumerate()
            .filter(|(_, name)| matches(name, filter))
            .map(|(i, _)| i)
            .collect()
    }

    /// The list's title, with its filter (`Jobs /user`).
    pub fn list_title(&self, tab: Tab, title: &str) -> String {
        match self.search.filters[tab.index()].as_str() {
            "" => title.to_string(),
            filter => format!("{title} /{filter}"),
        }
    }

    /// The selected entry's row among the visible ones.
    pub fn visible_row(&self, tab: Tab) -> usize {
        let selected = self.selected[tab.index()];
        self.visible(tab)
            .iter()
            .position(|i| *i == selected)
            .unwrap_or(0)
    }

    /// Moves the tab's selection `step` visible entries down (or up).
    pub(super) fn step_visible(&mut self, step: isize) {
        let visible = self.visible(self.tab);
        if visible.is_empty() {
            return;
        }
        let row = self.visible_row(self.tab) as isize + step;
        let row = row.clamp(0, visible.len() as isize - 1) as usize;
        self.selected[self.tab.index()] = visible[row];
        self.after_move();
    }

    /// Keeps the selection on a visible entry while the filter changes.
    fn keep_selection_visible(&mut self) {
        let visible = self.visible(self.tab);
        let ti = self.tab.index();
        if !visible.contains(&self.selected[ti])
            && let Some(first) = visible.first()
        {
            self.selected[ti] = *first;
            self.after_move();
        }
    }

    pub(super) fn open_prompt(&mut self, target: Target) {
        let text = match target {
            Target::List => self.search.filters[self.tab.index()].clone(),
            Target::Log => String::new(),
        };
        self.search.prompt = Some((target, text));
    }

    /// Keys while the prompt is open: typing edits it, Enter keeps the filter
    /// or finds the text, Esc clears either.
    pub(super) fn on_prompt_key(&mut self, action: Option<Action>, key: KeyEvent) {
        let Some((target, mut text)) = self.search.prompt.take() else {
            return;
        };
        match edit_prompt(&mut text, action, key) {
            Prompted::Cleared => {
                self.clear_search(target);
                return;
            }
            Prompted::Done => {
                match target {
                    Target::List if !text.is_empty() && self.visible(self.tab).is_empty() => {
                        self.message = Some((Level::Warn, format!("no match for '{text}'")));
                    }
                    Target::List => {}
                    Target::Log => self.find_in_log(&text),
                }
                return;
            }
            Prompted::Editing => {}
        }
        if target == Target::List {
            self.search.filters[self.tab.index()] = text.clone();
            self.keep_selection_visible();
        }
        self.search.prompt = Some((target, text));
    }

    /// Esc: the log search if there is one (the log follows its tail again),
    /// else the list filter.
    pub(super) fn clear_search(&mut self, target: Target) {
        match target {
            Target::Log => self.clear_hit(),
            Target::List => self.search.filters[self.tab.index()].clear(),
        }
    }

    /// Esc on the lists: the log search first, then the filter.
    pub(super) fn clear_any_search(&mut self) {
        if self.search.hit.is_some() {
            self.clear_hit();
        } else {
            self.search.filters[self.tab.index()].clear();
        }
    }

    fn clear_hit(&mut self) {
        if let Some(hit) = self.search.hit.take()
            && let Some(view) = self.jobs.get_mut(&hit.job)
        {
            view.scroll = None;
        }
    }

    /// Enter in the log prompt: the nearest match at or above the view.
    fn find_in_log(&mut self, query: &str) {
        if query.is_empty() {
            return;
        }
        let Some(job) = self.selected_job().map(|j| j.name.clone()) else {
            return;
        };
        let from = self.jobs.get(&job).and_then(|v| v.scroll);
        self.jump(job, query.to_string(), from, true);
    }

    /// `n` the next match up the log, `N` down; after a search only.
    pub(super) fn next_match(&mut self, up: bool) {
        let Some(hit) = self.search.hit.clone() else {
            return;
        };
        let Some(job) = self.selected_job().map(|j| j.name.clone()) else {
            return;
        };
        let from = if hit.job == job {
            if up {
                hit.line.checked_sub(1)
            } else {
                Some(hit.line + 1)
            }
        } else {
            None
        };
        self.jump(job, hit.query, from, up);
    }

    /// Scrolls the job's log to the first line matching `query` from line
    /// `from` (the tail when `None`) going up or down, wrapping at the ends.
    fn jump(&mut self, job: String, query: String, from: Option<usize>, up: bool) {
        let view = self.jobs.entry(job.clone()).or_default();
        let texts: Vec<String> = view.log.iter().map(|l| l.to_string()).collect();
        match find_line(&texts, &query, from, !up) {
            Some(line) => {
                view.scroll = Some(line);
                self.search.hit = Some(LogHit { job, query, line });
            }
            None => {
                self.clear_hit();
                self.message = Some((Level::Warn, format!("no match for '{query}'")));
            }
        }
    }

    /// The log line to highlight in `job`'s log: none once the pane follows
    /// the tail again (End, or a new run).
    pub fn log_hit(&self, job: &str) -> Option<&LogHit> {
        let scrolled = self.jobs.get(job).is_some_and(|v| v.scroll.is_some());
        self.search
            .hit
            .as_ref()
            .filter(|h| h.job == job && scrolled)
    }

    /// The prompt as the status line shows it.
    pub fn prompt_line(&self) -> Option<String> {
        self.search
            .prompt
            .as_ref()
            .map(|(target, text)| match target {
                Target::List => format!("Filter {}: /{text}▏", self.tab.title()),
                Target::Log => format!("Find in log: {text}▏"),
            })
    }
}
