//! The commands of SPEC §3, each a thin client of the engine. Each returns the
//! process exit status: 0 success, 1 a run failed, 2 usage or workspace error.

pub mod check;
pub mod daemon;
pub mod demo;
pub mod run;

use crate::cli::{Cli, Command};
use crate::paths::Paths;

pub const EXIT_OK: u8 = 0;
pub const EXIT_RUN_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// For commands asked about a given file (`check`, `run`): a missing one is
/// more likely a wrong path than an intentionally empty workspace (which is
/// all `load` would make of it), so it is named. Prints why and returns false.
fn workspace_file_exists(paths: &Paths) -> bool {
    if paths.workspace.exists() {
        return true;
    }
    eprintln!(
        "error: no workspace file at {}; pass --workspace FILE (or set DSP_WORKSPACE) or create it from the TUI",
        paths.workspace.display()
    );
    false
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
        Some(Command::Run { jobs }) => run::run(&paths, &jobs).await,
        Some(Command::Check { connect }) => check::run(&paths, connect).await,
        Some(Command::Daemon) => daemon::run(&paths).await,
    }
}
