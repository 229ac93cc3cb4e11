//! A run never waits forever. A server or network that stops answering in
//! the middle of a conversation (no packets, no reset) leaves a socket that
//! neither errors nor delivers; without a bound the run, its source snapshot
//! and its job lock would be held until someone restarts DSP, and a daemon
//! would skip every later fire of the job.
//!
//! The run says what it is waiting for (`waiting_for`: which end, and that
//! end's `stall_timeout`) and reports every sign of life (`beat`: rows
//! received, a statement answered). `stalled` resolves once nothing was heard
//! for longer than allowed; the runner then drops the whole run, which closes
//! its connections (a server rolls back what they had not committed).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// How long the watchdog sleeps at most before it looks again.
const RECHECK: Duration = Duration::from_secs(1);

pub(crate) struct Liveness {
    start: Instant,
    /// Milliseconds after `start` of the last sign of life.
    last: AtomicU64,
    waiting: Mutex<Waiting>,
}

struct Waiting {
    /// Who is silent, for the operator: `source network "S" (...), table t`.
    who: String,
    /// For what: `rows`, `answer`.
    what: &'static str,
    limit: Duration,
}

impl Liveness {
    pub(crate) fn new(who: String, limit: Duration) -> Self {
        Liveness {
            start: Instant::now(),
            last: AtomicU64::new(0),
            waiting: Mutex::new(Waiting {
                who,
                what: "answer",
                limit,
            }),
        }
    }

    /// Something answered.
    pub(crate) fn beat(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last.fetch_max(now, Ordering::Relaxed);
    }

    /// From now on the run waits on `who` for `what`, for at most `limit` of
    /// silence.
    pub(crate) fn waiting_for(&self, who: &str, what: &'static str, limit: Duration) {
        if let Ok(mut w) = self.waiting.lock() {
            if w.who != who {
                w.who = who.to_string();
            }
            w.what = what;
            w.limit = limit;
        }
        self.beat();
    }

    /// Resolves, with the operator's sentence, once nothing was heard for
    /// longer than the end waited on allows.
    pub(crate) async fn stalled(&self) -> String {
        loop {
            let limit = self.waiting.lock().map(|w| w.limit).unwrap_or_default();
            let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
            let silent = self.start.elapsed().saturating_sub(last);
            if silent >= limit {
                return self.sentence(limit);
            }
            // A later wait may allow less (a source's 2s after connecting
            // with the target's 5m): look again within a second.
            tokio::time::sleep((limit - silent).min(RECHECK)).await;
        }
    }

    fn sentence(&self, limit: Duration) -> String {
        let (who, what) = self
            .waiting
            .lock()
            .map(|w| (w.who.clone(), w.what))
            .unwrap_or_default();
        let limit = short(limit);
        let unknown = if what.contains("COMMIT") {
            "; whether its COMMIT took effect is unknown, and running the job again is safe"
        } else {
            ""
        };
        format!(
            "{who}: no {what} for {limit}, so the connection was given up (the server or the network \
             stopped answering); the target keeps its last committed state. If the server is only \
             slow, raise the network's stall_timeout (now {limit}){unknown}"
        )
    }
}

/// `300s` → `5m`, `90s` → `90s`: durations as the workspace file writes them.
pub(super) fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn silence_past_the_limit_of_the_end_waited_on_is_a_stall() {
        let live = Liveness::new("target network \"T\"".into(), Duration::from_secs(60));
        live.waiting_for("source network \"S\"", "rows", Duration::from_secs(5));
        let watch = live.stalled();
        tokio::pin!(watch);
        // Beats keep it quiet.
        for _ in 0..4 {
            tokio::select! {
                _ = &mut watch => panic!("fired while rows arrived"),
                _ = tokio::time::sleep(Duration::from_secs(3)) => live.beat(),
            }
        }
        let started = tokio::time::Instant::now();
        let why = watch.await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert!(
            why.starts_with("source network \"S\": no rows for 5s")
                && why.contains("stall_timeout"),
            "{why}"
        );
    }

    /// The watchdog started while the run connected (the longest limit of
    /// both ends) must not sleep through a shorter limit set later: a source
    /// of 2s beside a target of 5m once failed its stalls after 305s.
    #[tokio::test(start_paused = true)]
    async fn a_shorter_limit_set_later_is_kept() {
        let live = Liveness::new("both networks".into(), Duration::from_secs(305));
        let watch = live.stalled();
        tokio::pin!(watch);
        tokio::select! {
            _ = &mut watch => panic!("fired while connecting"),
            _ = tokio::time::sleep(Duration::from_secs(3)) => {}
        }
        live.waiting_for("source network \"S\"", "rows", Duration::from_secs(2));
        let started = tokio::time::Instant::now();
        let why = watch.await;
        assert!(
            started.elapsed() <= Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(
            why.starts_with("source network \"S\": no rows for 2s"),
            "{why}"
        );
    }

    #[test]
    fn durations_read_as_written() {
        assert_eq!(short(Duration::from_secs(300)), "5m");
        assert_eq!(short(Duration::from_secs(90)), "90s");
        assert_eq!(short(Duration::from_secs(7200)), "2h");
        assert_eq!(short(Duration::from_secs(86_400)), "1d");
    }
}
