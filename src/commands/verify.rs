//! `dsp verify JOB... [--json]`: compares each job's mapped source rows with
//! its target (see `engine::verify`) and prints what differs, as text or one
//! JSON object per job. Exit status: 0 every job identical, 1 a difference or
//! a failure, 2 the workspace or a job name is wrong (nothing was read).

use tokio_util::sync::CancellationToken;

use crate::engine::verify::{Outcome, verify_job};
use crate::paths::Paths;

use super::{EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE};

pub async fn run(paths: &Paths, jobs: &[String], json: bool) -> u8 {
    let Ok(ws) = super::load_workspace(paths, true) else {
        return EXIT_USAGE;
    };
    let unknown: Vec<&String> = jobs.iter().filter(|j| ws.job(j).is_none()).collect();
    if !unknown.is_empty() {
        for j in unknown {
            super::no_such_job(paths, j);
        }
        return EXIT_USAGE;
    }
    let data = paths.data();
    let cancel = CancellationToken::new();
    let signals = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            super::interrupted().await;
            eprintln!("dsp: interrupted; stopping the verification");
            cancel.cancel();
        }
    });
    let mut code = EXIT_OK;
    for name in jobs {
        let v = verify_job(&ws, name, &data, &cancel).await;
        if json {
            match serde_json::to_string(&v) {
                Ok(line) => println!("{line}"),
                Err(e) => {
                    eprintln!("error: cannot write the result of job \"{name}\" as JSON: {e}")
                }
            }
        } else {
            for line in v.lines() {
                println!("{line}");
            }
        }
        match v.outcome {
            Outcome::Identical => {}
            Outcome::Different => code = EXIT_RUN_FAILED,
            Outcome::Failed => {
                code = EXIT_RUN_FAILED;
                if json {
                    eprintln!("error: {}", v.headline());
                }
            }
        }
    }
    signals.abort();
    code
}
