//! Alerts: after a run ends, the job's hook command (`on_success`, or
//! `on_failure` for a failed or cancelled run) and its webhook, which
//! receives the run's summary as JSON.
//!
//! An alert never changes the run: its status, exit code and history stay
//! what the run made them. Each alert is bounded in time (a hook is killed,
//! with everything it started, after `[alerts] timeout`; a webhook tries
//! three times within its own timeouts), and what went wrong with one is a
//! `[WARN]` line of the run's log and a note in its history record.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::engine::progress::{Level, RunStatus, RunSummary, Trigger};
use crate::workspace::{Alerts, Workspace};

/// How many lines of a hook's output the run's log keeps.
const OUTPUT_LINES: usize = 5;
/// How much of a hook's output is read at most; the rest is discarded.
const OUTPUT_BYTES: usize = 64 * 1024;
/// A webhook attempt gives up after this (or the hook timeout, if shorter).
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// The pauses before the webhook's second and third attempts.
const WEBHOOK_BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];
/// After a hook exits, how long its output is still read: a process it left
/// in the background may hold the pipe open for good.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// What the alerts of one run said: lines for the run's log and, for each
/// alert that failed, a note for its history record.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    pub lines: Vec<(Level, String)>,
    pub notes: Vec<String>,
}

impl Sent {
    fn info(&mut self, message: String) {
        self.lines.push((Level::Info, message));
    }
    fn warn(&mut self, message: String, note: String) {
        self.lines.push((Level::Warn, message));
        self.notes.push(note);
    }
}

/// Runs the alerts `summary` calls for, the hook and the webhook at once, and
/// waits for both (each bounded by its timeout).
pub(crate) async fn send(ws: &Workspace, summary: &RunSummary, trigger: Trigger) -> Sent {
    let Some(job) = ws.job(&summary.job) else {
        return Sent::default();
    };
    let alerts: Alerts = ws.alerts_of(job);
    let hook = match summary.status {
        RunStatus::Succeeded => alerts.on_success.map(|c| ("on_success", c)),
        RunStatus::Failed | RunStatus::Cancelled => alerts.on_failure.map(|c| ("on_failure", c)),
    };
    let timeout = ws.alert_timeout();
    let hook = async {
        match hook {
            Some((key, command)) => Some(run_hook(key, &command, summary, trigger, timeout).await),
            None => None,
        }
    };
    let webhook = async {
        match alerts.webhook {
            Some(url) => Some(post_webhook(url, summary, trigger, timeout).await),
            None => None,
        }
    };
    let (hook, webhook) = tokio::join!(hook, webhook);
    let mut sent = Sent::default();
    for part in [hook, webhook].into_iter().flatten() {
        sent.lines.extend(part.lines);
        sent.notes.extend(part.notes);
    }
    sent
}

/// The variables a hook finds in its environment.
pub(crate) fn hook_env(summary: &RunSummary, trigger: Trigger) -> Vec<(&'static str, String)> {
    let time = crate::report::json::time;
    let changes = summary.changes;
    // Unknown counts (a run that failed before writing) are empty, not 0.
    let count = |f: fn(&crate::engine::progress::Changes) -> u64| {
        changes
            .as_ref()
            .map(|c| f(c).to_string())
            .unwrap_or_default()
    };
    let seconds = (summary.ended - summary.started).num_milliseconds().max(0) as f64 / 1000.0;
    vec![
        ("DSP_JOB", summary.job.clone()),
        ("DSP_STATUS", summary.status.as_str().to_string()),
        ("DSP_MODE", summary.mode.as_str().to_string()),
        ("DSP_TOTAL", summary.total.to_string()),
        ("DSP_SUCCESS", summary.success.to_string()),
        ("DSP_FAILED", summary.failed.to_string()),
        ("DSP_INSERTED", count(|c| c.inserted)),
        ("DSP_UPDATED", count(|c| c.updated)),
        ("DSP_DELETED", count(|c| c.deleted)),
        ("DSP_UNCHANGED", count(|c| c.unchanged)),
        ("DSP_ERROR", summary.error.clone().unwrap_or_default()),
        ("DSP_DURATION_SECS", seconds.to_string()),
        ("DSP_STARTED", time(summary.started)),
        ("DSP_FINISHED", time(summary.ended)),
        ("DSP_TRIGGER", trigger.as_str().to_string()),
    ]
}

/// Runs one hook with `sh -c`, in its own process group so that a timeout
/// kills whatever it started too.
async fn run_hook(
    key: &str,
    command: &str,
    summary: &RunSummary,
    trigger: Trigger,
    timeout: Duration,
) -> Sent {
    let mut sent = Sent::default();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .envs(hook_env(summary, trigger))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            sent.warn(
                format!("the {key} hook could not be started: {e}"),
                format!("{key} hook not started: {e}"),
            );
            return sent;
        }
    };
    let out = tokio::spawn(read_capped(child.stdout.take()));
    let err = tokio::spawn(read_capped(child.stderr.take()));
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    if waited.is_err() {
        kill_group(&child);
        let _ = child.kill().await;
    }
    let mut output = Vec::new();
    for reader in [out, err] {
        if let Ok(Ok(bytes)) = tokio::time::timeout(OUTPUT_GRACE, reader).await {
            output.extend(bytes);
        }
    }
    let text = String::from_utf8_lossy(&output);
    let first: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(OUTPUT_LINES)
        .collect();
    let shown = if first.is_empty() {
        String::new()
    } else {
        format!(": {}", first.join(" | "))
    };
    match waited {
        Err(_) => sent.warn(
            format!(
                "the {key} hook did not finish within {}s and was killed{shown}",
                timeout.as_secs_f64()
            ),
            format!("{key} hook killed after {}s", timeout.as_secs_f64()),
        ),
        Ok(Err(e)) => sent.warn(
            format!("the {key} hook could not be waited for: {e}"),
            format!("{key} hook lost: {e}"),
        ),
        Ok(Ok(status)) if status.success() => sent.info(format!("The {key} hook ran{shown}")),
        Ok(Ok(status)) => {
            let how = match status.code() {
                // `sh` says 127 for a command it cannot find.
                Some(127) => "exited with status 127 (command not found)".to_string(),
                Some(code) => format!("exited with status {code}"),
                None => "was stopped by a signal".to_string(),
            };
            sent.warn(
                format!("the {key} hook {how}{shown}"),
                format!("{key} hook {how}"),
            );
        }
    }
    sent
}

/// Reads a pipe to its end, keeping the first `OUTPUT_BYTES`.
async fn read_capped(pipe: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else {
        return kept;
    };
    let mut buf = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = OUTPUT_BYTES.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    kept
}

/// Kills the hook's process group: `sh` and everything it started.
fn kill_group(child: &tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: killpg only sends a signal; the group is the hook's own
        // (process_group(0) made its pid the group id).
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = child;
}

/// POSTs the summary to the webhook: up to three attempts, again after a
/// network error or a 5xx answer, on a blocking thread (the HTTP client is
/// synchronous).
async fn post_webhook(
    url: String,
    summary: &RunSummary,
    trigger: Trigger,
    timeout: Duration,
) -> Sent {
    let mut body = crate::report::json::finished(summary);
    body["trigger"] = trigger.as_str().into();
    let body = body.to_string();
    let shown = masked_url(&url);
    let limit = timeout.min(WEBHOOK_TIMEOUT);
    let result = tokio::task::spawn_blocking(move || post_with_retries(&url, &body, limit)).await;
    let mut sent = Sent::default();
    match result {
        Ok(Ok(status)) => sent.info(format!("The webhook {shown} answered {status}")),
        Ok(Err(why)) => sent.warn(
            format!("the webhook {shown} failed: {why}"),
            format!("webhook {shown} failed: {why}"),
        ),
        Err(e) => sent.warn(
            format!("the webhook {shown} failed: {e}"),
            format!("webhook {shown} failed: {e}"),
        ),
    }
    sent
}

/// The answer's status, or why the last attempt failed.
fn post_with_retries(url: &str, body: &str, timeout: Duration) -> Result<u16, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut last = String::new();
    for attempt in 0..=WEBHOOK_BACKOFF.len() {
        if attempt > 0 {
            std::thread::sleep(WEBHOOK_BACKOFF[attempt - 1]);
        }
        match agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body)
        {
            Ok(response) => {
                let status = response.status().as_u16();
                match status {
                    200..=399 => return Ok(status),
                    500..=599 => last = format!("it answered {status}"),
                    // The receiver refuses this request; sending it again will not help.
                    _ => return Err(format!("it answered {status}")),
                }
            }
            Err(e) => last = error_words(&e),
        }
    }
    Err(format!(
        "{last} (after {} attempts)",
        WEBHOOK_BACKOFF.len() + 1
    ))
}

/// An HTTP client's error in words, without the URL (which may hold a secret).
fn error_words(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "it did not answer in time".into(),
        ureq::Error::HostNotFound => "its host was not found".into(),
        ureq::Error::ConnectionFailed => "the connection failed".into(),
        ureq::Error::Io(io) => format!("the connection failed ({})", io.kind()),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => "the TLS handshake failed".into(),
        other => other.to_string(),
    }
}

/// A webhook URL as logs may show it: scheme and host only. The user and
/// password, the path (chat webhooks carry their token there) and the query
/// are secrets as often as not.
pub fn masked_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s, r),
        None => return "(a URL)".into(),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let mut out = format!("{scheme}://");
    if authority.contains('@') {
        out.push_str("***@");
    }
    out.push_str(host);
    if rest.len() > authority.len() {
        out.push_str("/***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_in_a_log_shows_its_host_only() {
        assert_eq!(
            masked_url("https://user:pw@hooks.example.com:8443/services/T0/B0/secret?token=x"),
            "https://***@hooks.example.com:8443/***"
        );
        assert_eq!(masked_url("http://127.0.0.1:9"), "http://127.0.0.1:9");
        assert_eq!(masked_url("http://h?key=s"), "http://h/***");
        assert_eq!(masked_url("ftp:nothing"), "(a URL)");
    }
}
