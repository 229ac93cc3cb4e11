//! `dsp reset JOB [--yes]`: forgets an incremental job's watermark, so that
//! its next run reads every row again. It asks first on a terminal (the
//! default answer is No); without a terminal it needs `--yes`, so that a
//! script never forgets a watermark by accident. The reset is recorded in
//! the job's history (trigger `reset`).

use std::io::{BufRead, IsTerminal, Write};

use chrono::Utc;

use crate::engine::progress::{Level, LogLine, RunStatus, RunSummary, Trigger};
use crate::engine::{state, target_state};
use crate::paths::{DataDir, Paths};
use crate::workspace::Job;

use super::{EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE};

pub async fn run(paths: &Paths, name: &str, yes: bool) -> u8 {
    let Ok(ws) = super::load_workspace(paths, true) else {
        return EXIT_USAGE;
    };
    let Some(job) = ws.job(name) else {
        super::no_such_job(paths, name);
        return EXIT_USAGE;
    };
    let data = paths.data();
    // With `state = "target"` the watermark lives in the target's table.
    let in_target = target_state::in_target(&ws, job);
    let stored = if in_target {
        match target_state::stored_watermark(&ws, job).await {
            Ok(Some(v)) => Ok(Some(v)),
            Ok(None) => state::read_watermark(&data, name),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_RUN_FAILED;
            }
        }
    } else {
        state::read_watermark(&data, name)
    };
    let value = match stored {
        Ok(Some(v)) => v,
        Ok(None) => {
            println!("job \"{name}\" has no watermark; there is nothing to forget");
            return EXIT_OK;
        }
        // A corrupt file is exactly what a reset is for.
        Err(_) => "(unreadable)".to_string(),
    };
    if !yes && !confirm(name, &value) {
        return EXIT_USAGE;
    }
    // Not while the job runs: its next batch would write the watermark again.
    let lock = match state::lock_job(&data, name) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_RUN_FAILED;
        }
    };
    if in_target && let Err(e) = target_state::forget_watermark(&ws, job).await {
        eprintln!("error: {e}");
        return EXIT_RUN_FAILED;
    }
    let code = forget(&data, job, &value);
    drop(lock);
    code
}

/// Asks on the terminal; without one, refuses and says how to go on.
fn confirm(name: &str, value: &str) -> bool {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        eprintln!(
            "error: dsp reset asks for a confirmation, and there is no terminal to ask on; \
             pass --yes to forget the watermark of job \"{name}\""
        );
        return false;
    }
    eprint!(
        "Forget the watermark {value} of job \"{name}\"? Its next run reads every row again. [y/N] "
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if stdin.lock().read_line(&mut answer).is_err() || !is_yes(&answer) {
        eprintln!("dsp reset: nothing changed");
        return false;
    }
    true
}

/// Only an explicit yes counts; Enter alone (the default) is No.
fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}

fn forget(data: &DataDir, job: &Job, value: &str) -> u8 {
    if let Err(e) = state::forget_watermark(data, &job.name) {
        eprintln!(
            "error: cannot delete the watermark of job \"{}\" under {}: {e}",
            job.name,
            data.job_dir(&job.name).display()
        );
        return EXIT_RUN_FAILED;
    }
    let message =
        format!("Watermark {value} forgotten (dsp reset); the next run reads every row again");
    println!("job \"{}\": {message}", job.name);
    let now = Utc::now();
    let summary = RunSummary {
        job: job.name.clone(),
        mode: job.mode,
        status: RunStatus::Succeeded,
        started: now,
        ended: now,
        total: 0,
        success: 0,
        failed: 0,
        error: None,
        changes: None,
    };
    let how = state::RunNote {
        trigger: Trigger::Reset,
        note: Some(format!("watermark {value} forgotten")),
    };
    let log = [LogLine::new(Level::Info, message)];
    if let Err(e) = state::record_run_as(data, &summary, &log, &how) {
        eprintln!("warning: the reset is done but could not be recorded in the history: {e}");
    }
    EXIT_OK
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_an_explicit_yes_confirms() {
        for yes in ["y\n", "Y", " yes \n", "YES"] {
            assert!(super::is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yep", "1"] {
            assert!(!super::is_yes(no), "{no:?}");
        }
    }
}
