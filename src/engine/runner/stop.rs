//! Why a run stops early, and the one way a run waits on anything that can
//! fail or be cancelled.

use tokio_util::sync::CancellationToken;

use crate::engine::error::Error;

/// Why a run stopped early.
pub(super) enum Stop {
    /// The run failed; the error's sentence is what the operator reads.
    Failed(Error),
    Cancelled(String),
}

/// An engine error fails the run with it, so `?` works on them inside the
/// phases; a sentence the runner writes itself goes through `Stop::failed`.
impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

impl Stop {
    /// A failure the runner words itself.
    pub(super) fn failed(why: impl Into<Error>) -> Self {
        Stop::Failed(why.into())
    }

    /// The operator's cancel, the only cancel a run knows.
    pub(super) fn by_operator() -> Self {
        Stop::Cancelled("cancelled by the operator".into())
    }
}

/// Awaits `fut` unless the run is cancelled first. The cancel wins a tie, so
/// that a cancelled run never starts its next step.
pub(super) async fn or_cancel<T, E: Into<Error>>(
    cancel: &CancellationToken,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, Stop> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(Stop::by_operator()),
        r = fut => r.map_err(|e| Stop::Failed(e.into())),
    }
}
