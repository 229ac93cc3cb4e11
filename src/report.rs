//! The headless client: prints engine events as the log lines of docs/SPEC.md §4,
//! or as JSON Lines (`json`), with a live progress line on a terminal (`live`).

pub(crate) mod json;
mod live;

use std::io::{IsTerminal, Write};

use tokio::sync::mpsc;

use crate::engine::progress::{Level, ProgressEvent};

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

/// How a headless command writes what runs report.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Output {
    /// Log lines; `live` adds the progress line on stderr.
    Text { style: Style, live: bool },
    /// One JSON object per line.
    Json,
}

impl Output {
    /// Where stdout goes decides: on a terminal the seed's lines (with the time
    /// if `DSP_LOG_TIME` is set) and, if stderr is a terminal too, a live
    /// progress line; elsewhere (a file, journald, cron mail) every line
    /// starts with its time and the job's name. The daemon always prefixes,
    /// its jobs' lines interleave.
    pub(crate) fn detect(json: bool, daemon: bool) -> Output {
        if json {
            return Output::Json;
        }
        let terminal = std::io::stdout().is_terminal();
        if daemon || !terminal {
            let style = Style {
                time: true,
                job: true,
            };
            return Output::Text { style, live: false };
        }
        let style = Style {
            time: std::env::var_os("DSP_LOG_TIME").is_some(),
            job: false,
        };
        let live = std::io::stderr().is_terminal();
        Output::Text { style, live }
    }
}

fn print_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Prints a command's own line (not a job's), such as the daemon's start.
pub(crate) fn say(output: Output, level: Level, text: &str) {
    match output {
        Output::Json => print_line(&json::own_line(level, text).to_string()),
        Output::Text { .. } => {
            let tag = match level {
                Level::Info => String::new(),
                l => format!("[{}] ", l.as_str()),
            };
            let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
            print_line(&format!("{now} {tag}{text}"));
        }
    }
}

/// Prints events until the sender side closes. Stdout errors (a closed pipe)
/// do not stop the run; the lines are still in the run history.
pub(crate) async fn print_events(mut rx: mpsc::UnboundedReceiver<ProgressEvent>, output: Output) {
    let mut objects = json::JsonEvents::default();
    let mut progress = live::LiveLine::default();
    while let Some(ev) = rx.recv().await {
        match output {
            Output::Json => {
                if let Some(obj) = objects.object(&ev) {
                    print_line(&obj.to_string());
                }
            }
            Output::Text { style, live } => {
                let redraw = live && progress.update(&ev);
                if let Some(text) = line_for(&ev, style) {
                    progress.clear();
                    print_line(&text);
                    if live {
                        progress.draw();
                    }
                } else if redraw {
                    progress.draw();
                }
            }
        }
    }
    progress.clear();
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
