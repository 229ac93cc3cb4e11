//! The command line of docs/SPEC.md §3.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "dsp",
    version,
    about = "Synchronize tables between databases from a terminal",
    long_about = "Synchronize tables between databases from a terminal.\n\n\
        Without a command, opens the terminal UI on the workspace."
)]
pub struct Cli {
    #[command(flatten)]
    pub locations: Locations,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Accepted before or after the subcommand.
#[derive(Debug, Args, Clone, Default)]
pub struct Locations {
    /// The workspace file [default: ~/.config/dsp/workspace.toml]
    #[arg(long, global = true, env = "DSP_WORKSPACE", value_name = "FILE")]
    pub workspace: Option<PathBuf>,
    /// Where runs keep state, history and locks [default: ~/.local/share/dsp]
    #[arg(long, global = true, env = "DSP_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the named jobs headless, in order, printing their log to stdout
    Run {
        /// Job names, as in the workspace file
        #[arg(required = true, value_name = "JOB")]
        jobs: Vec<String>,
        /// Say what each run would insert, update and delete, and whether a
        /// guard would stop it; write nothing
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: print one JSON object per job instead of the log
        #[arg(long, requires = "dry_run")]
        json: bool,
    },
    /// Validate the workspace file
    Check {
        /// Also connect to every network and check every job's tables and columns
        #[arg(long)]
        connect: bool,
    },
    /// Run scheduled jobs headless until SIGINT or SIGTERM
    Daemon,
    /// Compare each job's mapped source rows with its target, read-only; lists
    /// rows only in the source, only in the target, and differing, by key
    Verify {
        /// Job names, as in the workspace file
        #[arg(required = true, value_name = "JOB")]
        jobs: Vec<String>,
        /// One JSON object per job instead of text
        #[arg(long)]
        json: bool,
    },
    /// Create a demo workspace on SQLite (if absent) and open the UI on it
    Demo,
}
