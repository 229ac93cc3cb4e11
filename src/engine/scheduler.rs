//! The one scheduler (docs/SPEC.md §5), used by the TUI and by `dsp daemon`: it starts
//! due jobs in background tasks, never starts a job whose previous run is still
//! going (the skipped fire is logged), survives failed runs, and follows
//! workspace edits without a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::engine::progress::{Level, LogLine, ProgressEvent, Reporter, RunSummary};
use crate::engine::schedule::{self, Zone};
use crate::paths::DataDir;
use crate::workspace::Workspace;

/// Where "now" comes from, so tests can move time without waiting.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Wall time that advances with tokio's clock from a fixed start: under
/// `tokio::time::pause` it jumps exactly as far as the scheduler sleeps.
pub struct TokioClock {
    start_utc: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(start_utc: DateTime<Utc>) -> Self {
        TokioClock {
            start_utc,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().duration_since(self.start);
        self.start_utc + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }
}

/// Starts one run of a job: `(workspace, job name, cancel, reporter)`.
pub type RunFn = Arc<
    dyn Fn(Arc<Workspace>, String, CancellationToken, Reporter) -> BoxFuture<'static, RunSummary>
        + Send
        + Sync,
>;

/// The real engine as a `RunFn`.
pub(crate) fn engine_runner(data: DataDir) -> RunFn {
    Arc::new(move |ws, job, cancel, reporter| {
        let reporter = reporter.paced_by_env();
        let data = data.clone();
        Box::pin(async move {
            let options = crate::engine::runner::RunOptions {
                trigger: crate::engine::progress::Trigger::Schedule,
                full_refresh: false,
                dry_run: false,
            };
            crate::engine::runner::run_job_with(&ws, &job, &data, cancel, reporter, options).await
        })
    })
}

pub struct Scheduler {
    /// The current workspace; send a new one to change schedules.
    pub workspace: watch::Receiver<Arc<Workspace>>,
    pub run: RunFn,
    pub clock: Arc<dyn Clock>,
    pub zone: Zone,
    /// Every run's events, and the scheduler's own lines (skipped fires).
    pub events: mpsc::UnboundedSender<ProgressEvent>,
    /// How long a shutdown waits for cancelled runs to roll back.
    pub grace: Duration,
}

struct Planned {
    expr: String,
    at: Option<DateTime<Utc>>,
}

impl Scheduler {
    /// Runs until `shutdown` is cancelled; then cancels the runs it started and
    /// waits up to `grace` for them to finish cleanly.
    pub async fn run(self, shutdown: CancellationToken) {
        self.run_while(shutdown, || true).await
    }

    /// `run`, firing only while `firing()` says this process holds the
    /// schedule lease (`engine::lease`); a fire due while another process
    /// holds it is that process's, and is passed over without a word.
    pub async fn run_while(
        mut self,
        shutdown: CancellationToken,
        firing: impl Fn() -> bool + Send,
    ) {
        let mut plan: HashMap<String, Planned> = HashMap::new();
        let mut running: HashMap<String, (CancellationToken, JoinHandle<()>)> = HashMap::new();
        let mut watching = true;
        loop {
            let ws = self.workspace.borrow_and_update().clone();
            let now = self.clock.now();
            self.replan(&ws, &mut plan, now);
            running.retain(|_, (_, handle)| !handle.is_finished());

            for (job, planned) in plan.iter_mut() {
                let Some(at) = planned.at.filter(|at| *at <= now) else {
                    continue;
                };
                if !firing() {
                    // Another process fires this one.
                } else if running.contains_key(job) {
                    let line = LogLine::new(
                        Level::Warn,
                        format!(
                            "Skipped the scheduled run of {}: the previous run is still going",
                            self.zone.format(at)
                        ),
                    );
                    let _ = self.events.send(ProgressEvent::Log {
                        job: job.clone(),
                        line,
                    });
                } else {
                    let cancel = shutdown.child_token();
                    let reporter = Reporter::new(job.clone(), self.events.clone());
                    let fut = (self.run)(ws.clone(), job.clone(), cancel.clone(), reporter);
                    running.insert(
                        job.clone(),
                        (
                            cancel,
                            tokio::spawn(async move {
                                fut.await;
                            }),
                        ),
                    );
                }
                // From now, not from `at`: a machine that slept does not replay a
                // burst of missed fires.
                planned.at = schedule::parse(&planned.expr)
                    .ok()
                    .and_then(|s| self.zone.next_after(&s, now));
            }

            let wake = plan.values().filter_map(|p| p.at).min();
            let sleep = wake
                .map(|w| (w - self.clock.now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(sleep) => {}
                changed = self.workspace.changed(), if watching => {
                    // The sender is gone: keep the last workspace and stop watching.
                    if changed.is_err() {
                        watching = false;
                    }
                }
            }
        }
        for (cancel, _) in running.values() {
            cancel.cancel();
        }
        let all = futures::future::join_all(running.into_values().map(|(_, h)| h));
        let _ = tokio::time::timeout(self.grace, all).await;
    }

    /// Brings the plan in line with the workspace: new and changed schedules get
    /// their next time from now, removed ones are dropped.
    fn replan(&self, ws: &Workspace, plan: &mut HashMap<String, Planned>, now: DateTime<Utc>) {
        plan.retain(|name, _| ws.job(name).is_some_and(|j| j.schedule.is_some()));
        for job in &ws.jobs {
            let Some(expr) = &job.schedule else { continue };
            if plan.get(&job.name).is_some_and(|p| &p.expr == expr) {
                continue;
            }
            let at = schedule::parse(expr)
                .ok()
                .and_then(|s| self.zone.next_after(&s, now));
            plan.insert(
                job.name.clone(),
                Planned {
                    expr: expr.clone(),
                    at,
                },
            );
        }
    }
}
