//! `dsp run JOB...` (OWNER: engine helper).

use crate::paths::Paths;

pub async fn run(_paths: &Paths, _jobs: &[String]) -> u8 {
    eprintln!("error: `dsp run` is not built yet");
    super::EXIT_USAGE
}
