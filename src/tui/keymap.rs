//! Every key binding as data: the key events, the action each one triggers,
//! the label, where it applies and whether the footer shows it. Handlers ask
//! [`action`] what a key means instead of matching key codes, and the footer
//! and the `?` popup are built from the same table, so none of the three can
//! drift from the others.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;
use super::app::Tab;

/// Where a binding applies. Several apply at once (a text field in a schema
/// form is `Form`, `TextField` and `SchemaForm`); see `App::contexts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// The lists of all three tabs, with no popup open.
    Global,
    Network,
    Schema,
    Jobs,
    Form,
    /// The focused form field is free text.
    TextField,
    /// The focused form field is a choice among fixed values.
    ChoiceField,
    SchemaForm,
    Confirm,
    /// The past runs popup, choosing a run.
    Runs,
    /// The past runs popup, showing one run's log.
    RunLog,
    Help,
    /// The one-line `/` filter or log search prompt (its text is typed as
    /// in a `TextField`, which applies with it).
    Prompt,
}

/// A key event a binding answers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// This key, whatever modifiers the terminal reports with it: terminals
    /// differ in whether `?` comes with Shift, and a stray modifier should not
    /// make a key do nothing.
    Is(KeyCode),
    /// This letter with Ctrl held.
    Ctrl(char),
    /// Any character typed without Ctrl.
    Typed,
    /// Any key at all.
    Any,
}

impl Key {
    fn matches(self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match self {
            Key::Is(code) => key.code == code,
            Key::Ctrl(c) => ctrl && key.code == KeyCode::Char(c),
            Key::Typed => !ctrl && matches!(key.code, KeyCode::Char(_)),
            Key::Any => true,
        }
    }

    /// The more specific pattern wins: Ctrl-C quits even on the Jobs tab,
    /// where `c` alone cancels, and a named key beats plain typing.
    fn rank(self) -> u8 {
        match self {
            Key::Ctrl(_) => 0,
            Key::Is(_) => 1,
            Key::Typed => 2,
            Key::Any => 3,
        }
    }
}

/// Whether the footer shows a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Footer {
    /// Only in `?`.
    Hidden,
    /// In the footer while it fits; the first to go on a narrow terminal.
    IfRoom,
    /// Always in the footer (`?`, `q`, and how to leave a form or popup).
    Always,
}

/// One line of the `?` popup and, if it fits, one item of the footer.
pub struct Binding {
    pub context: Context,
    /// The keys as the footer and `?` name them.
    pub keys: &'static str,
    /// What the binding does, in words (the [`Action`] is in `events`).
    pub action: &'static str,
    pub footer: Footer,
    /// The key events and the action each one triggers.
    pub events: &'static [(Key, Action)],
}

const fn b(
    context: Context,
    keys: &'static str,
    action: &'static str,
    footer: Footer,
    events: &'static [(Key, Action)],
) -> Binding {
    Binding {
        context,
        keys,
        action,
        footer,
        events,
    }
}

use Action as C;
use Context::*;
use Footer::{Always, Hidden, IfRoom};
use Key::{Any, Ctrl, Is, Typed};
use KeyCode::{BackTab, Backspace, Char, End, Enter, Esc, Home, Left, PageDown, PageUp, Right};
const DOWN: Key = Is(KeyCode::Down);
const UP: Key = Is(KeyCode::Up);
const TAB: Key = Is(KeyCode::Tab);

// One binding a line reads as a table; rustfmt would spread each over seven.
#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    b(Global, "1 2 3 Tab/S-Tab", "switch tab", Hidden, &[
        (Is(Char('1')), C::ShowTab(Tab::Network)),
        (Is(Char('2')), C::ShowTab(Tab::Schema)),
        (Is(Char('3')), C::ShowTab(Tab::Jobs)),
        (TAB, C::NextTab), (Is(BackTab), C::PrevTab),
    ]),
    b(Global, "j/k ↑/↓", "move", Hidden, &[
        (Is(Char('j')), C::Down), (DOWN, C::Down), (Is(Char('k')), C::Up), (UP, C::Up),
    ]),
    b(Global, "a", "add", IfRoom, &[(Is(Char('a')), C::Add)]),
    b(Global, "e/Enter", "edit", IfRoom, &[(Is(Char('e')), C::Edit), (Is(Enter), C::Edit)]),
    b(Global, "d", "delete", IfRoom, &[(Is(Char('d')), C::Delete)]),
    // One line for both: the help popup has no row to spare at 80x24.
    b(Global, "/ Esc", "filter list / clear", Hidden, &[(Is(Char('/')), C::Filter), (Is(Esc), C::DismissMessage)]),
    b(Global, "?", "help", Always, &[(Is(Char('?')), C::Help)]),
    b(Global, "q", "quit", Always, &[(Is(Char('q')), C::Quit)]),
    b(Global, "Ctrl-C", "quit", Hidden, &[(Ctrl('c'), C::Quit)]),
    b(Network, "t", "test connection", IfRoom, &[(Is(Char('t')), C::TestConnection)]),
    b(Schema, "f", "fill columns from source", IfRoom, &[(Is(Char('f')), C::FillColumns)]),
    b(Jobs, "r", "run now", IfRoom, &[(Is(Char('r')), C::RunNow)]),
    b(Jobs, "c", "cancel", IfRoom, &[(Is(Char('c')), C::CancelRun)]),
    b(Jobs, "p", "preview a run (dry run)", IfRoom, &[(Is(Char('p')), C::Preview)]),
    b(Jobs, "h", "past runs and their logs", IfRoom, &[(Is(Char('h')), C::PastRuns)]),
    b(Jobs, "v", "verify target vs source", IfRoom, &[(Is(Char('v')), C::Verify)]),
    b(Jobs, "PgUp/PgDn Ctrl-U/Ctrl-D", "scroll log", IfRoom, &[
        (Is(PageUp), C::PageUp), (Is(PageDown), C::PageDown),
        (Ctrl('u'), C::HalfPageUp), (Ctrl('d'), C::HalfPageDown),
    ]),
    b(Jobs, "Home/End g/G", "log top / follow tail", Hidden, &[
        (Is(Home), C::Top), (Is(End), C::Bottom), (Is(Char('g')), C::Top), (Is(Char('G')), C::Bottom),
    ]),
    b(Jobs, "Ctrl-F n/N", "find in log, next ↑/↓", IfRoom, &[
        (Ctrl('f'), C::FindInLog), (Is(Char('n')), C::NextMatch), (Is(Char('N')), C::PrevMatch),
    ]),
    b(Form, "Tab/S-Tab ↑/↓", "next/previous field", IfRoom, &[
        (TAB, C::NextField), (DOWN, C::NextField), (Is(BackTab), C::PrevField), (UP, C::PrevField),
    ]),
    b(Form, "Ctrl-S", "save", Always, &[(Ctrl('s'), C::Save)]),
    b(Form, "Ctrl-R", "load the entry from disk", Hidden, &[(Ctrl('r'), C::ReloadEntry)]),
    b(Form, "Enter", "next field, save on last", Hidden, &[(Is(Enter), C::NextOrSave)]),
    b(Form, "Esc", "cancel", Always, &[(Is(Esc), C::Cancel)]),
    b(ChoiceField, "←/→ Space", "change choice", IfRoom, &[
        (Is(Left), C::ChoicePrev), (Is(Right), C::ChoiceNext), (Is(Char(' ')), C::ChoiceNext),
    ]),
    b(TextField, "a-z…/Backspace", "type or erase text", Hidden, &[(Typed, C::Type), (Is(Backspace), C::Erase)]),
    b(Prompt, "Enter/Esc", "prompt: keep / clear", Always, &[(Is(Enter), C::PromptDone), (Is(Esc), C::PromptClear)]),
    b(SchemaForm, "Ctrl-N", "add column", IfRoom, &[(Ctrl('n'), C::AddColumn)]),
    b(SchemaForm, "Ctrl-D", "delete this column row", Hidden, &[(Ctrl('d'), C::DeleteColumn)]),
    b(SchemaForm, "Ctrl-F", "fill from source", IfRoom, &[(Ctrl('f'), C::FillColumns)]),
    // One line for both: the help popup has no row to spare at 80x24.
    b(Runs, "j/k ↑/↓ Enter", "choose, open its log", IfRoom, &[
        (Is(Char('j')), C::Down), (DOWN, C::Down), (Is(Char('k')), C::Up), (UP, C::Up),
        (Is(Enter), C::Open),
    ]),
    b(Runs, "Esc/q/h", "back", Always, &[(Is(Esc), C::Back), (Is(Char('q')), C::Back), (Is(Char('h')), C::Back)]),
    b(RunLog, "j/k ↑/↓ PgUp/PgDn", "scroll", IfRoom, &[
        (Is(Char('j')), C::Down), (DOWN, C::Down), (Is(Char('k')), C::Up), (UP, C::Up),
        (Is(PageDown), C::PageDown), (Is(PageUp), C::PageUp),
    ]),
    b(RunLog, "Home/End g/G", "top / end of the log", Hidden, &[
        (Is(Home), C::Top), (Is(End), C::Bottom), (Is(Char('g')), C::Top), (Is(Char('G')), C::Bottom),
    ]),
    // The live log's keys; a past log is read from the top, so n goes down.
    b(RunLog, "/ Ctrl-F n/N", "find, next ↓/↑", IfRoom, &[
        (Is(Char('/')), C::FindInLog), (Ctrl('f'), C::FindInLog),
        (Is(Char('n')), C::NextMatch), (Is(Char('N')), C::PrevMatch),
    ]),
    b(RunLog, "Esc/q", "back to the runs", Always, &[(Is(Esc), C::Back), (Is(Char('q')), C::Back)]),
    // Every confirmation destroys or interrupts something: No is the default,
    // so Enter (pressed out of habit) answers no.
    b(Confirm, "y", "yes", Always, &[(Is(Char('y')), C::Yes), (Is(Char('Y')), C::Yes)]),
    b(Confirm, "n/Esc/Enter", "no", Always, &[(Is(Char('n')), C::No), (Is(Char('N')), C::No), (Is(Esc), C::No), (Is(Enter), C::No)]),
    // Named in the help popup's title rather than in a column of its own.
    b(Help, "any key", "closes", Hidden, &[(Any, C::CloseHelp)]),
];

/// The `?` popup: two columns of sections, each a heading and the contexts
/// listed under it. Every context but `Help` appears once.
pub(crate) const HELP_COLUMNS: [&[(&str, &[Context])]; 2] = [
    &[
        ("Everywhere", &[Global]),
        ("Network tab", &[Network]),
        ("Schema tab", &[Schema]),
        ("Jobs tab", &[Jobs]),
    ],
    &[
        (
            "Forms and the / prompt",
            &[Form, ChoiceField, TextField, Prompt],
        ),
        ("Schema form", &[SchemaForm]),
        ("Past runs", &[Runs, RunLog]),
        ("Confirmation", &[Confirm]),
    ],
];

/// The binding a key triggers where `contexts` apply (listed general first,
/// as `App::contexts` does), and the action it triggers.
pub fn binding(contexts: &[Context], key: KeyEvent) -> Option<(&'static Binding, Action)> {
    (0..=3).find_map(|rank| {
        contexts.iter().rev().find_map(|c| {
            BINDINGS.iter().filter(|b| b.context == *c).find_map(|b| {
                b.events
                    .iter()
                    .find(|(k, _)| k.rank() == rank && k.matches(&key))
                    .map(|(_, action)| (b, *action))
            })
        })
    })
}

/// What a key asks for where `contexts` apply; `None` if nothing there binds it.
pub fn action(contexts: &[Context], key: KeyEvent) -> Option<Action> {
    binding(contexts, key).map(|(_, action)| action)
}

/// The footer for the contexts that apply now, the most specific first. When
/// it is wider than `width`, the optional keys go from the end (the general
/// list keys first), so `?`, `q` and the way out of a popup always stay.
pub fn footer(contexts: &[Context], width: usize) -> String {
    let mut items: Vec<(&Binding, String)> = contexts
        .iter()
        .rev()
        .flat_map(|c| {
            BINDINGS
                .iter()
                .filter(move |b| b.footer != Hidden && b.context == *c)
        })
        .map(|b| (b, format!("{} {}", b.keys, b.action)))
        .collect();
    let len = |items: &[(&Binding, String)]| {
        items.iter().map(|(_, s)| s.chars().count()).sum::<usize>()
            + 2 * items.len().saturating_sub(1)
    };
    while len(&items) > width {
        let Some(i) = items.iter().rposition(|(b, _)| b.footer == IfRoom) else {
            break;
        };
        items.remove(i);
    }
    items
        .into_iter()
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join("  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn every_context_but_help_is_in_the_help_popup_once() {
        let listed: Vec<Context> = HELP_COLUMNS
            .iter()
            .flat_map(|col| col.iter().flat_map(|(_, cs)| cs.iter().copied()))
            .collect();
        for b in BINDINGS.iter().filter(|b| b.context != Help) {
            assert_eq!(
                listed.iter().filter(|c| **c == b.context).count(),
                1,
                "{:?}",
                b.context
            );
        }
    }

    #[test]
    fn ctrl_c_quits_even_where_c_cancels() {
        let ctrl_c = key(Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action(&[Global, Jobs], ctrl_c), Some(C::Quit));
        let c = key(Char('c'), KeyModifiers::NONE);
        assert_eq!(action(&[Global, Jobs], c), Some(C::CancelRun));
    }

    #[test]
    fn q_in_a_text_field_is_a_letter_and_esc_never_quits() {
        let q = key(Char('q'), KeyModifiers::NONE);
        assert_eq!(action(&[Form, TextField, SchemaForm], q), Some(C::Type));
        let esc = key(Esc, KeyModifiers::NONE);
        for contexts in [
            &[Global, Network][..],
            &[Form, TextField],
            &[Confirm],
            &[Runs],
            &[RunLog],
        ] {
            assert_ne!(action(contexts, esc), Some(C::Quit), "{contexts:?}");
        }
    }

    #[test]
    fn space_changes_a_choice_but_types_into_text() {
        let space = key(Char(' '), KeyModifiers::NONE);
        assert_eq!(action(&[Form, ChoiceField], space), Some(C::ChoiceNext));
        assert_eq!(action(&[Form, TextField], space), Some(C::Type));
    }

    #[test]
    fn a_narrow_footer_drops_optional_keys_first() {
        let wide = footer(&[Global, Jobs], 500);
        assert!(
            wide.starts_with("r run now") && wide.ends_with("? help  q quit"),
            "{wide}"
        );
        let narrow = footer(&[Global, Jobs], 40);
        assert!(
            narrow.contains("? help") && narrow.contains("q quit"),
            "{narrow}"
        );
        assert!(narrow.chars().count() <= 40, "{narrow}");
        assert!(
            narrow.starts_with("r run now"),
            "specific keys stay longest: {narrow}"
        );
    }
}
