//! `dsp run JOB...`: runs jobs headless, in order,
//! printing their log lines to stdout (prefixed with the UTC time when
//! `DSP_LOG_TIME` is set); SIGINT/SIGTERM cancel the running job cleanly.
//! Exit status: 0 all succeeded, 1 a job failed or was cancelled, 2 the
//! workspace or a job name is wrong (nothing was run).

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::engine::progress::{Reporter, RunStatus};
use crate::engine::runner::run_job;
use crate::paths::Paths;
use crate::report::{self, Style};

use super::{EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE};

pub async fn run(paths: &Paths, jobs: &[String]) -> u8 {
    let Ok(ws) = super::load_workspace(paths, true) else {
        return EXIT_USAGE;
    };
    // Every name is checked before the first job touches a database.
    let unknown: Vec<&String> = jobs.iter().filter(|j| ws.job(j).is_none()).collect();
    if !unknown.is_empty() {
        for j in unknown {
            eprintln!(
                "error: there is no job named \"{j}\" in {}; `dsp check` lists the workspace",
                paths.workspace.display()
            );
        }
        return EXIT_USAGE;
    }
    let data = paths.data();
    let cancel = CancellationToken::new();
    let signals = tokio::spawn(cancel_on_signal(cancel.clone()));
    let style = Style {
        time: std::env::var_os("DSP_LOG_TIME").is_some(),
        job: false,
    };
    let mut code = EXIT_OK;
    for name in jobs {
        if cancel.is_cancelled() {
            eprintln!("error: job \"{name}\" was not started: the run was interrupted");
            code = EXIT_RUN_FAILED;
            continue;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let printer = tokio::spawn(report::print_events(rx, style));
        let summary = run_job(&ws, name, &data, cancel.clone(), Reporter::new(name, tx)).await;
        let _ = printer.await;
        if summary.status != RunStatus::Succeeded {
            code = EXIT_RUN_FAILED;
            let why = summary.error.as_deref().unwrap_or("no reason given");
            eprintln!("error: job \"{name}\" {}: {why}", summary.status.as_str());
        }
    }
    signals.abort();
    code
}

/// Cancels the running job on SIGINT or SIGTERM.
async fn cancel_on_signal(cancel: CancellationToken) {
    super::interrupted().await;
    eprintln!("dsp: interrupted; cancelling the running job and rolling back");
    cancel.cancel();
}
