//! The last phase: how the run ended, in its closing log line and its summary,
//! and the run in the history.

use chrono::{DateTime, Utc};

use super::report::Report;
use super::stop::Stop;
use crate::engine::progress::{Level, RunStatus, RunSummary, thousands};
use crate::engine::state;
use crate::paths::DataDir;
use crate::workspace::SyncMode;

/// Logs how the run ended and returns its summary.
pub(super) fn summarize(
    report: &mut Report,
    mode: SyncMode,
    started: DateTime<Utc>,
    outcome: Result<(), Stop>,
) -> RunSummary {
    // A run that stopped before its count came back does not know its total.
    let total_known = report.end_count();
    match outcome {
        Ok(()) => succeeded(report, mode, started),
        Err(Stop::Cancelled(why)) => cancelled(report, mode, started, why, total_known),
        Err(Stop::Failed(why)) => {
            report.log(Level::Error, format!("Sync failed: {why}"));
            report.summary(mode, RunStatus::Failed, started, Some(why.to_string()))
        }
    }
}

fn succeeded(report: &mut Report, mode: SyncMode, started: DateTime<Utc>) -> RunSummary {
    if mode == SyncMode::Incremental && report.failed > 0 {
        report.log(
            Level::Warn,
            format!(
                "the {} failed rows are behind the watermark now: later incremental runs read them \
                 again only if their cursor changes; fix them in the source or run a full sync",
                thousands(report.failed)
            ),
        );
    }
    report.log(
        Level::Info,
        format!(
            "Sync completed. Total: {}, Success: {}, Failed: {}",
            thousands(report.read),
            thousands(report.committed),
            thousands(report.failed)
        ),
    );
    report.summary(mode, RunStatus::Succeeded, started, None)
}

/// A cancelled run says how far it got, and what the target keeps of it.
fn cancelled(
    report: &mut Report,
    mode: SyncMode,
    started: DateTime<Utc>,
    why: String,
    total_known: bool,
) -> RunSummary {
    let kept = match mode {
        SyncMode::Full => "the target was left unchanged".to_string(),
        SyncMode::Incremental => format!(
            "the {} records committed before stay, and the next run resumes from there",
            thousands(report.committed)
        ),
    };
    let of = if total_known {
        format!(" of {}", thousands(report.total))
    } else {
        String::new()
    };
    let why = format!("{why} after {}{of} records; {kept}", thousands(report.read));
    report.log(Level::Warn, format!("Sync cancelled: {why}"));
    report.summary(mode, RunStatus::Cancelled, started, Some(why))
}

/// What the history says of how the run came about.
pub(super) fn note_of(options: super::RunOptions, mode: SyncMode) -> state::RunNote {
    let note = (options.full_refresh && mode == SyncMode::Incremental)
        .then(|| "full refresh: the stored watermark was ignored".to_string());
    state::RunNote {
        trigger: options.trigger,
        note,
    }
}

/// Records the run in the history. A history that cannot be written is
/// worth a warning, not the run's failure: the target already has the rows.
pub(super) fn record(
    report: &mut Report,
    data: &DataDir,
    summary: &RunSummary,
    how: &state::RunNote,
) {
    if let Err(e) = state::record_run_as(data, summary, &report.lines, how) {
        report.log(
            Level::Warn,
            format!(
                "could not record this run in the history under {}: {e}",
                data.root().display()
            ),
        );
    }
}
