//! The application around the engine: the workspace file and `dsp check`, the
//! scheduler and `dsp daemon`, and the terminal UI (in a test backend, and the
//! release binary in a real terminal).

#[path = "../support/mod.rs"]
mod support;

mod alerts_file;
mod assets;
#[cfg(feature = "tui")]
mod daemon_view;
#[cfg(feature = "tui")]
mod form_fields;
mod fuzz_workspace;
#[cfg(feature = "tui")]
mod keys;
mod scheduler;
#[cfg(feature = "tui")]
mod tui;
mod tui_daemon_e2e;
mod tui_e2e;
#[cfg(feature = "tui")]
mod tui_file;
#[cfg(feature = "tui")]
mod tui_file_e2e;
#[cfg(feature = "tui")]
mod tui_fit;
mod tui_screen_e2e;
#[cfg(feature = "tui")]
mod tui_search;
mod workspace_file;
