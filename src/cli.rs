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
    Run(RunArgs),
    /// Validate the workspace file
    Check {
        /// Also connect to every network and check every job's tables and columns
        #[arg(long)]
        connect: bool,
    },
    /// Run scheduled jobs headless until SIGINT or SIGTERM
    Daemon {
        /// Print one JSON object per event (JSON Lines) instead of log lines
        #[arg(long)]
        json: bool,
    },
    /// List the jobs with their last status, last run and next run
    List {
        /// Print a JSON array instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show a job's past runs, newest first
    History {
        /// The job's name, as in the workspace file
        #[arg(value_name = "JOB")]
        job: String,
        /// Print a JSON array instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Forget an incremental job's watermark: its next run reads every row again
    Reset {
        /// The job's name, as in the workspace file
        #[arg(value_name = "JOB")]
        job: String,
        /// Do not ask for a confirmation (needed without a terminal)
        #[arg(long)]
        yes: bool,
    },
    /// Print shell completions for bash, zsh or fish to stdout
    Completions {
        /// The shell: bash, zsh, fish (also elvish, powershell)
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
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

/// `dsp run`'s arguments.
#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    /// Job names, as in the workspace file
    #[arg(required_unless_present = "all", value_name = "JOB")]
    pub jobs: Vec<String>,
    /// Run every job of the workspace, in the file's order
    #[arg(long, conflicts_with = "jobs")]
    pub all: bool,
    /// Incremental jobs ignore their watermark this once: every row is read
    /// and upserted, and the watermark is then set from this run
    #[arg(long)]
    pub full_refresh: bool,
    /// Print one JSON object per event (JSON Lines) instead of log lines;
    /// with --dry-run, one JSON object per job
    #[arg(long)]
    pub json: bool,
    /// Say what each run would insert, update and delete, and whether a
    /// guard would stop it; write nothing
    #[arg(long, conflicts_with = "full_refresh")]
    pub dry_run: bool,
}
