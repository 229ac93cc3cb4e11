//! `dsp completions SHELL`: the shell's completion script for every command
//! and flag, generated from the same clap definition the parser uses.

use clap::CommandFactory;

use crate::cli::Cli;

use super::EXIT_OK;

pub fn print(shell: clap_complete::Shell) -> u8 {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "dsp", &mut std::io::stdout());
    EXIT_OK
}
