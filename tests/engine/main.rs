//! The sync engine against real servers, one module per theme. Each test gets
//! private databases (see `support`); without a server it says it skipped.
//!
//! Fixtures shared by several themes: `seed` (the seed example's job between
//! PostgreSQL databases), `typed` (hard values of every type, compared after
//! normalising), `small_job` (a small table and job `J` for the failure tests).

#[path = "../support/mod.rs"]
mod support;

#[macro_use]
mod seed;
mod small_job;
mod typed;

mod alerts;
mod calendar;
mod changes;
mod cli;
mod connections;
mod cross_engine;
mod differential;
mod differential_kill;
mod differential_random;
mod dry_run;
mod duplicate_keys;
mod failed_rows;
mod floats;
mod full_sync;
mod guards;
mod incremental;
mod indexes;
mod internal_names;
mod interrupted;
mod key_ranges;
mod ops;
mod others;
mod pass_through;
mod rejected_rows;
mod stalls;
mod target_state;
mod types;
mod values;
mod verify;
mod watermark;
mod zones;
