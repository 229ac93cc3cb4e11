//! The sync engine: no UI here. The TUI and the headless commands are its clients.

pub mod alert;
pub mod db;
pub mod error;
pub mod lease;
pub mod live_status;
pub mod preview;
pub mod progress;
pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod state;
pub mod target_state;
pub mod types;
pub mod verify;

pub use error::{DbErrorKind, Error};
pub use preview::Preview;
pub use progress::{
    Changes, Level, LogLine, ProgressEvent, Reporter, RunStatus, RunSummary, Trigger,
};
