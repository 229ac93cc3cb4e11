//! Finding a line in a past run's log (the past runs popup), with the keys of
//! the live log: `/` or Ctrl-F types the text, Enter finds it from the line at
//! the top down, `n`/`N` the next match down or up, Esc drops the search.

use crossterm::event::KeyEvent;

use super::search::{self, Prompted};
use super::{App, Found, RunsView};
use crate::tui::action::Action;
use crate::tui::ui::{runs, text};

impl App {
    /// How many log lines the popup shows: the screen less the frame and the
    /// popup's borders.
    pub(super) fn run_log_page(&self) -> usize {
        self.screen_rows.saturating_sub(4).max(1) as usize
    }

    /// The top line that puts the log's last line at the bottom, its lines
    /// wrapped as the popup draws them; scrolling never goes past it.
    pub(super) fn run_log_last_top(&self, job: &str, run: usize) -> usize {
        let Some(record) = self.jobs.get(job).and_then(|v| v.history.get(run)) else {
            return 0;
        };
        let texts: Vec<String> = record.log.iter().map(runs::log_text).collect();
        text::last_top(
            &texts,
            runs::log_width(self.screen_cols),
            self.run_log_page(),
        )
    }

    /// Keys while the find prompt is open in the log.
    pub(super) fn on_run_log_prompt(
        &mut self,
        r: &mut RunsView,
        action: Option<Action>,
        key: KeyEvent,
    ) {
        let Some(mut text) = r.find.take() else {
            return;
        };
        match search::edit_prompt(&mut text, action, key) {
            Prompted::Cleared => r.found = None,
            Prompted::Done if !text.is_empty() => {
                let from = r.open.map_or(0, |(_, top)| top);
                self.find_in_run_log(r, text, from, true);
            }
            Prompted::Done => {}
            Prompted::Editing => r.find = Some(text),
        }
    }

    /// `n` (down) or `N` (up): the next match after the one found last.
    pub(super) fn next_in_run_log(&mut self, r: &mut RunsView, down: bool) {
        let Some(Found { query, line }) = r.found.clone() else {
            return;
        };
        let top = r.open.map_or(0, |(_, top)| top);
        let from = match (line, down) {
            (Some(l), true) => l + 1,
            // Up from the first line wraps to the last.
            (Some(l), false) => l.checked_sub(1).unwrap_or(usize::MAX),
            (None, _) => top,
        };
        self.find_in_run_log(r, query, from, down);
    }

    /// Scrolls the open log to the first line from `from` (down or up,
    /// wrapping at the ends) that holds `query`, case-insensitive.
    fn find_in_run_log(&mut self, r: &mut RunsView, query: String, from: usize, down: bool) {
        let Some((run, scroll)) = r.open.as_mut() else {
            return;
        };
        let texts: Vec<String> = self
            .jobs
            .get(&r.job)
            .and_then(|v| v.history.get(*run))
            .map(|h| h.log.iter().map(|l| l.to_string()).collect())
            .unwrap_or_default();
        let line = search::find_line(&texts, &query, Some(from), down);
        if let Some(l) = line {
            *scroll = l.min(self.run_log_last_top(&r.job, *run));
        }
        r.found = Some(Found { query, line });
    }
}
