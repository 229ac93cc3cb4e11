//! Running a job in-process the way the app does, and collecting what it reported.

use dsp::engine::progress::{ProgressEvent, Reporter, RunSummary};
use dsp::engine::runner::run_job;
use dsp::paths::DataDir;
use dsp::workspace::Workspace;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A finished run: its summary and every event it sent, in order.
pub struct Collected {
    pub summary: RunSummary,
    pub events: Vec<ProgressEvent>,
}

impl Collected {
    /// The log lines the run reported, as the operator reads them.
    pub fn lines(&self) -> Vec<String> {
        log_lines(&self.events)
    }

    /// The summary and the log lines, the pair most assertions need.
    pub fn into_parts(self) -> (RunSummary, Vec<String>) {
        let lines = self.lines();
        (self.summary, lines)
    }
}

/// The log lines among `events`.
pub fn log_lines(events: &[ProgressEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|ev| match ev {
            ProgressEvent::Log { line, .. } => Some(line.to_string()),
            _ => None,
        })
        .collect()
}

/// Runs `job` of `ws` to its end (never cancelled) and collects its events.
pub async fn run_and_collect(ws: &Workspace, job: &str, data: &DataDir) -> Collected {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let summary = run_job(
        ws,
        job,
        data,
        CancellationToken::new(),
        Reporter::new(job, tx),
    )
    .await;
    let mut events = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        events.push(ev);
    }
    Collected { summary, events }
}

/// Starts `job` on its own task under `cancel`, for a test that watches the
/// events as they come (to cancel mid-run, say) before awaiting the summary.
pub fn spawn_run(
    ws: &Workspace,
    job: &str,
    data: &DataDir,
    cancel: CancellationToken,
) -> (
    JoinHandle<RunSummary>,
    mpsc::UnboundedReceiver<ProgressEvent>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (ws, data, job) = (ws.clone(), data.clone(), job.to_string());
    let handle =
        tokio::spawn(
            async move { run_job(&ws, &job, &data, cancel, Reporter::new(&job, tx)).await },
        );
    (handle, rx)
}
