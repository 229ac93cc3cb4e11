//! What the keys ask for, named apart from the keys themselves: the keymap
//! turns a key event into an [`Action`] and the screen in front carries it out.

use super::app::Tab;

/// What a key asks for. The handler of the screen in front decides what it
/// means there (`Down` moves a list selection or scrolls a log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ShowTab(Tab),
    NextTab,
    PrevTab,
    Up,
    Down,
    PageUp,
    PageDown,
    HalfPageUp,
    HalfPageDown,
    Top,
    /// The end of the log, following new lines again.
    Bottom,
    Add,
    Edit,
    Delete,
    DismissMessage,
    Help,
    Quit,
    TestConnection,
    FillColumns,
    RunNow,
    CancelRun,
    PastRuns,
    Verify,
    Preview,
    NextField,
    PrevField,
    /// Enter in a form: the next field, or save on the last one.
    NextOrSave,
    Save,
    /// In a form: the entry as it is on disk now, dropping the form's edits.
    ReloadEntry,
    Cancel,
    ChoiceNext,
    ChoicePrev,
    /// Appends the typed character to the focused text field.
    Type,
    Erase,
    AddColumn,
    DeleteColumn,
    Open,
    Back,
    Yes,
    No,
    CloseHelp,
    /// `/`: the prompt that filters the tab's list.
    Filter,
    /// The prompt that finds a line in the selected job's log.
    FindInLog,
    /// The next match of the log search: up the live log (read from its
    /// tail), down a past run's log (read from its top).
    NextMatch,
    /// The next match the other way.
    PrevMatch,
    /// Enter in the prompt: keep the filter, or find the text.
    PromptDone,
    /// Esc in the prompt: clear the filter or the search.
    PromptClear,
}
