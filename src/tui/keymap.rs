//! Every key binding in one table: the footer shows the ones that apply now and
//! the `?` popup lists them all, so neither can drift from what the keys do.

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Global,
    Network,
    Schema,
    Jobs,
    Form,
    SchemaForm,
    Confirm,
    Runs,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Network => "Network tab",
            Context::Schema => "Schema tab",
            Context::Jobs => "Jobs tab",
            Context::Form => "Forms",
            Context::SchemaForm => "Schema form",
            Context::Confirm => "Confirmation",
            Context::Runs => "Past runs",
        }
    }
}

pub struct Binding {
    pub context: Context,
    pub keys: &'static str,
    pub action: &'static str,
    /// Shown in the footer (the rest only in `?`).
    pub footer: bool,
}

const fn b(context: Context, keys: &'static str, action: &'static str, footer: bool) -> Binding {
    Binding {
        context,
        keys,
        action,
        footer,
    }
}

pub const BINDINGS: &[Binding] = &[
    b(Context::Global, "1 2 3", "switch tab", false),
    b(Context::Global, "Tab/S-Tab", "next/previous tab", false),
    b(Context::Global, "j/k ↑/↓", "move", false),
    b(Context::Global, "a", "add", true),
    b(Context::Global, "e/Enter", "edit", true),
    b(Context::Global, "d", "delete", true),
    b(Context::Global, "?", "help", true),
    b(Context::Global, "q", "quit", true),
    b(Context::Network, "t", "test connection", true),
    b(Context::Schema, "f", "fill columns from source", true),
    b(Context::Jobs, "r", "run now", true),
    b(Context::Jobs, "c", "cancel", true),
    b(Context::Jobs, "h", "past runs and their logs", true),
    b(Context::Jobs, "PgUp/PgDn", "scroll log", true),
    b(Context::Jobs, "Home/End", "log top / follow tail", false),
    b(Context::Form, "Tab/S-Tab", "next/previous field", true),
    b(Context::Form, "←/→", "change choice", true),
    b(Context::Form, "Ctrl-S", "save", true),
    b(Context::Form, "Enter", "next field, save on last", false),
    b(Context::Form, "Esc", "cancel", true),
    b(Context::SchemaForm, "Ctrl-N", "add column", true),
    b(
        Context::SchemaForm,
        "Ctrl-D",
        "delete this column row",
        false,
    ),
    b(Context::SchemaForm, "Ctrl-F", "fill from source", true),
    b(Context::Runs, "j/k", "choose a run / scroll", true),
    b(Context::Runs, "Enter", "show its full log", true),
    b(Context::Runs, "Esc", "back", true),
    b(Context::Confirm, "y/Enter", "yes", true),
    b(Context::Confirm, "n/Esc", "no", true),
];

/// The footer text for the contexts that apply now, the most specific first so
/// that a narrow terminal cuts the general keys, not the ones for this screen.
pub fn footer(contexts: &[Context]) -> String {
    contexts
        .iter()
        .rev()
        .flat_map(|c| BINDINGS.iter().filter(move |b| b.footer && b.context == *c))
        .map(|b| format!("{} {}", b.keys, b.action))
        .collect::<Vec<_>>()
        .join("  ")
}
