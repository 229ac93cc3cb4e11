//! The commands of docs/SPEC.md §3, each a thin client of the engine. Each returns the
//! process exit status: 0 success, 1 a run failed, 2 usage or workspace error.

pub mod check;
pub mod completions;
pub mod daemon;
pub mod demo;
pub mod list;
pub mod reset;
pub mod run;
pub mod verify;

use crate::cli::{Cli, Command};
use std::path::Path;

use crate::paths::Paths;
use crate::workspace::{self, Workspace};

pub(crate) const EXIT_OK: u8 = 0;
pub(crate) const EXIT_RUN_FAILED: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;

/// Loads the workspace for a command, printing every diagnostic as an
/// `error:` line; `Err` carries how many there were. With `must_exist` (a
/// command asked about a given file: `check`, `run`), a missing file is more
/// likely a wrong path than an intentionally empty workspace (which is all
/// `load` would make of it), so it is named instead (`Err(0)`).
fn load_workspace(paths: &Paths, must_exist: bool) -> Result<Workspace, usize> {
    load_workspace_at(&paths.workspace, must_exist)
}

fn load_workspace_at(file: &Path, must_exist: bool) -> Result<Workspace, usize> {
    if must_exist && !file.exists() {
        eprintln!(
            "error: no workspace file at {}; pass --workspace FILE (or set DSP_WORKSPACE) or create it from the TUI",
            file.display()
        );
        return Err(0);
    }
    workspace::load(file).map_err(|e| {
        for d in &e.diagnostics {
            eprintln!("error: {d}");
        }
        e.diagnostics.len()
    })
}

/// Says that `job` is not in the workspace (a usage error, exit 2).
fn no_such_job(paths: &Paths, job: &str) {
    eprintln!(
        "error: there is no job named \"{job}\" in {}; `dsp list` lists the jobs",
        paths.workspace.display()
    );
}

/// Resolves on the first SIGINT or SIGTERM (Ctrl-C where there are no Unix
/// signals): how headless commands learn they should stop.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        // No way to learn of a signal: never resolve rather than stop at once.
        std::future::pending::<()>().await;
    }
}

pub async fn dispatch(cli: Cli) -> u8 {
    let paths = match Paths::resolve(
        cli.locations.workspace.clone(),
        cli.locations.data_dir.clone(),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    match cli.command {
        None => demo::open_tui(&paths).await,
        Some(Command::Demo) => demo::run(&paths).await,
        Some(Command::Run(args)) => run::run(&paths, &args).await,
        Some(Command::Check { connect }) => check::run(&paths, connect).await,
        Some(Command::Daemon { json }) => daemon::run(&paths, json).await,
        Some(Command::List { json }) => list::list(&paths, json),
        Some(Command::History { job, json }) => list::history(&paths, &job, json),
        Some(Command::Reset { job, yes }) => reset::run(&paths, &job, yes).await,
        Some(Command::Completions { shell }) => completions::print(shell),
        Some(Command::Verify { jobs, json }) => verify::run(&paths, &jobs, json).await,
    }
}
