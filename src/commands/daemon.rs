//! `dsp daemon` (OWNER: scheduler helper).

use crate::paths::Paths;

pub async fn run(_paths: &Paths) -> u8 {
    eprintln!("error: `dsp daemon` is not built yet");
    super::EXIT_USAGE
}
