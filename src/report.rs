//! The headless client: prints engine events as the log lines of docs/SPEC.md §4.

use std::io::Write;

use tokio::sync::mpsc;

use crate::engine::progress::ProgressEvent;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Style {
    /// Prefix each line with its UTC time (`2024-05-01T12:00:00Z [INFO] ...`).
    pub time: bool,
    /// Prefix each line with the job's name in brackets (after the time): for
    /// output where several jobs' lines interleave, as the daemon's do.
    pub job: bool,
}

/// The text `dsp run` prints for an event, if any: only log lines are
/// printed; starts, batches and the finish are already log lines too.
pub(crate) fn line_for(event: &ProgressEvent, style: Style) -> Option<String> {
    match event {
        ProgressEvent::Log { job, line } => {
            let mut text = String::new();
            if style.time {
                text.push_str(&format!("{} ", line.at.format("%Y-%m-%dT%H:%M:%SZ")));
            }
            if style.job {
                text.push_str(&format!("[{job}] "));
            }
            text.push_str(&line.to_string());
            Some(text)
        }
        _ => None,
    }
}

/// Prints events until the sender side closes. Stdout errors (a closed pipe)
/// do not stop the run; the lines are still in the run history.
pub(crate) async fn print_events(mut rx: mpsc::UnboundedReceiver<ProgressEvent>, style: Style) {
    while let Some(ev) = rx.recv().await {
        if let Some(text) = line_for(&ev, style) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::progress::{Level, LogLine};

    #[test]
    fn prints_log_lines_only() {
        let ev = ProgressEvent::Log {
            job: "j".into(),
            line: LogLine::new(Level::Info, "Total records: 50,000"),
        };
        assert_eq!(
            line_for(&ev, Style::default()).as_deref(),
            Some("[INFO] Total records: 50,000")
        );
        let started = ProgressEvent::Started {
            job: "j".into(),
            total: 1,
            batches: 1,
        };
        assert_eq!(line_for(&started, Style::default()), None);
    }
}
