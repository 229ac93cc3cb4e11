//! Why a run stops early, and the one way a run waits on anything that can
//! fail or be cancelled.

use std::fmt::Display;

use tokio_util::sync::CancellationToken;

/// Why a run stopped early.
pub(super) enum Stop {
    Failed(String),
    Cancelled(String),
}

/// Every failure the engine words as a sentence fails the run with it, so
/// `?` works on them inside the phases.
impl From<String> for Stop {
    fn from(s: String) -> Self {
        Stop::Failed(s)
    }
}

impl Stop {
    /// The operator's cancel, the only cancel a run knows.
    pub(super) fn by_operator() -> Self {
        Stop::Cancelled("cancelled by the operator".into())
    }
}

/// Awaits `fut` unless the run is cancelled first. The cancel wins a tie, so
/// that a cancelled run never starts its next step.
pub(super) async fn or_cancel<T, E: Display>(
    cancel: &CancellationToken,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, Stop> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(Stop::by_operator()),
        r = fut => r.map_err(|e| Stop::Failed(e.to_string())),
    }
}
