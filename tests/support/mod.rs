//! Shared by every integration-test binary (each declares `mod support;`):
//! per-test databases and the skip rule (`db`), one end of a sync on any engine
//! (`end`), running a job and collecting what it reported (`run`), running the
//! `dsp` binary (`cli`), and building workspaces (`workspace`).
//!
//! Not every binary uses every part, hence the blanket allowance.
#![allow(dead_code, unused_imports)]

pub mod cli;
pub mod db;
pub mod end;
pub mod run;
pub mod workspace;

pub use db::*;
