//! `dsp demo` and the bare `dsp` that opens the TUI (OWNER: TUI helper).

use crate::paths::Paths;

pub async fn run(_paths: &Paths) -> u8 {
    eprintln!("error: `dsp demo` is not built yet");
    super::EXIT_USAGE
}

pub async fn open_tui(_paths: &Paths) -> u8 {
    eprintln!("error: the terminal UI is not built yet");
    super::EXIT_USAGE
}
