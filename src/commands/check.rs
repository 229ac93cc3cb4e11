//! `dsp check [--connect]`.

use crate::paths::Paths;

pub async fn run(_paths: &Paths, _connect: bool) -> u8 {
    todo!("foundation")
}
