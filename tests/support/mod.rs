//! Shared by every integration-test binary (each declares `mod support;`):
//! per-test databases and the skip rule (`db`), one end of a sync on any engine
//! (`end`), running a job and collecting what it reported (`run`), running the
//! `dsp` binary (`cli`), building workspaces (`workspace`), and a TCP proxy
//! that stalls or cuts a connection on demand (`proxy`).
//!
//! Not every binary uses every part, hence the blanket allowance.
#![allow(dead_code, unused_imports)]

pub mod cli;
pub mod db;
pub mod end;
pub mod proxy;
pub mod run;
pub mod workspace;

pub use db::*;
