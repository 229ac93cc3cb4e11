//! DSP synchronizes tables between databases.
//!
//! `workspace` and `engine` have no UI dependency; the terminal UI (feature `tui`)
//! and the headless commands are clients of them.

pub mod cli;
pub mod commands;
pub mod engine;
pub mod paths;
pub mod report;
pub mod workspace;

#[cfg(feature = "tui")]
pub mod tui;
