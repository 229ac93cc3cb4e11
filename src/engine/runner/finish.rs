//! The last phase: how the run ended, in its closing log line and its summary,
//! and the run in the history.

use chrono::{DateTime, Utc};

use super::report::Report;
use super::stop::Stop;
use crate::engine::preview::Preview;
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
    let changes = report.changes.unwrap_or_default();
    report.changes = Some(changes);
    report.log(Level::Info, format!("Changes: {}", changes.words()));
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

/// Sends the run's alerts (`engine::alert`), logs what they said, and adds
/// it to the run's history record, a failed alert as a note.
pub(super) async fn alert(
    report: &mut Report,
    ws: &crate::workspace::Workspace,
    data: &DataDir,
    summary: &RunSummary,
    trigger: crate::engine::progress::Trigger,
) {
    let sent = crate::engine::alert::send(ws, summary, trigger).await;
    let first = report.lines.len();
    for (level, message) in sent.lines {
        report.log(level, message);
    }
    if let Err(e) = state::amend_run(data, summary, &sent.notes, &report.lines[first..]) {
        report.log(
            Level::Warn,
            format!(
                "could not add the alerts to this run's history under {}: {e}",
                data.root().display()
            ),
        );
    }
}

/// Logs what a dry run found and returns it. A guard that would stop the run
/// makes the dry run fail the same way, with the counts it had by then.
pub(super) fn preview(
    report: &mut Report,
    job: &str,
    mode: SyncMode,
    outcome: Result<(), Stop>,
) -> Preview {
    report.end_count();
    let (status, error) = match outcome {
        Ok(()) => (RunStatus::Succeeded, None),
        Err(Stop::Cancelled(why)) => (RunStatus::Cancelled, Some(why)),
        Err(Stop::Failed(why)) => (RunStatus::Failed, Some(why.to_string())),
    };
    let p = Preview {
        job: job.to_string(),
        mode,
        status: Some(status),
        error,
        create_target: report.create_target,
        read: report.read,
        failed: report.failed,
        changes: report.changes,
        first: std::mem::take(&mut report.first),
    };
    if p.changes.is_some() {
        report.log(Level::Info, format!("Dry run: the run {}", p.words()));
        for line in p.key_lines() {
            report.log(Level::Info, line);
        }
    }
    match (&p.status, &p.error) {
        (Some(RunStatus::Succeeded), _) => report.log(
            Level::Info,
            format!(
                "Dry run completed; nothing was written. Read: {}, Failed: {}",
                thousands(p.read),
                thousands(p.failed)
            ),
        ),
        (Some(RunStatus::Cancelled), Some(why)) => {
            report.log(Level::Warn, format!("Dry run cancelled: {why}"))
        }
        (_, why) => report.log(
            Level::Error,
            format!(
                "Dry run: the run would fail: {}",
                why.as_deref().unwrap_or("no reason given")
            ),
        ),
    }
    p
}
