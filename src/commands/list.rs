//! `dsp list [--json]`: the workspace's jobs, in the file's order, with their
//! last run (from the history in the data dir) and next scheduled run;
//! `dsp history JOB [--json]`: a job's past runs, newest first.
//!
//! The JSON forms are one array each (a finished document, unlike `dsp run
//! --json`'s stream of events), with times in UTC (RFC 3339); the tables give
//! times in the schedule's zone (`DSP_TZ`/`TZ`, else local).

use chrono::Utc;
use serde_json::{Value, json};

use crate::engine::progress::{Trigger, thousands};
use crate::engine::schedule::{self, Zone};
use crate::engine::state::{self, RunRecord};
use crate::paths::{DataDir, Paths};
use crate::report::json::time;
use crate::workspace::Job;

use super::{EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE};

pub fn list(paths: &Paths, json: bool) -> u8 {
    let Ok(ws) = super::load_workspace(paths, true) else {
        return EXIT_USAGE;
    };
    let Some(zone) = zone() else {
        return EXIT_USAGE;
    };
    let data = paths.data();
    let mut rows = Vec::new();
    for job in &ws.jobs {
        match job_row(&data, job, &zone) {
            Ok(row) => rows.push(row),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_RUN_FAILED;
            }
        }
    }
    if json {
        println!("{}", Value::Array(rows));
        return EXIT_OK;
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let when = |k: &str| r[k].as_str().map(|t| local(t, &zone)).unwrap_or("-".into());
            vec![
                text(&r["job"]),
                text(&r["mode"]),
                match r["running_pid"].as_u64() {
                    Some(pid) => format!("running (pid {pid})"),
                    None => r["last_status"].as_str().unwrap_or("never run").into(),
                },
                when("last_run"),
                when("next_run"),
            ]
        })
        .collect();
    print_table(
        &["JOB", "MODE", "LAST STATUS", "LAST RUN", "NEXT RUN"],
        &table,
    );
    EXIT_OK
}

/// One job of `dsp list`. A reset is recorded in the history but is no run,
/// so the last status is that of the last real run.
fn job_row(data: &DataDir, job: &Job, zone: &Zone) -> Result<Value, String> {
    let runs = read_history(data, &job.name)?;
    let last = runs.iter().find(|r| r.trigger != Some(Trigger::Reset));
    let next = schedule::next_run(job, zone, Utc::now());
    Ok(json!({
        "job": job.name,
        "mode": job.mode.as_str(),
        "schedule": job.schedule,
        "last_status": last.map(|r| r.summary.status.as_str()),
        "last_run": last.map(|r| time(r.summary.started)),
        "last_ended": last.map(|r| time(r.summary.ended)),
        "next_run": next.map(time),
        // A run going on now, in any DSP process.
        "running_pid": crate::engine::live_status::of(data, &job.name).map(|s| s.pid),
    }))
}

fn read_history(data: &DataDir, job: &str) -> Result<Vec<RunRecord>, String> {
    state::history(data, job).map_err(|e| {
        format!(
            "cannot read the history of job \"{job}\" under {}: {e}",
            data.job_dir(job).display()
        )
    })
}

pub fn history(paths: &Paths, job: &str, json: bool) -> u8 {
    let Ok(ws) = super::load_workspace(paths, true) else {
        return EXIT_USAGE;
    };
    if ws.job(job).is_none() {
        super::no_such_job(paths, job);
        return EXIT_USAGE;
    }
    let runs = match read_history(&paths.data(), job) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_RUN_FAILED;
        }
    };
    if json {
        println!("{}", Value::Array(runs.iter().map(run_object).collect()));
        return EXIT_OK;
    }
    if runs.is_empty() {
        println!("job \"{job}\" has not run yet");
        return EXIT_OK;
    }
    let Some(zone) = zone() else {
        return EXIT_USAGE;
    };
    let table: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let o = run_object(r);
            let mut note = text(&o["note"]);
            if let Some(e) = o["error"].as_str() {
                note = if note.is_empty() {
                    e.into()
                } else {
                    format!("{note}; {e}")
                };
            }
            vec![
                zone.format(r.summary.started),
                text(&o["mode"]),
                text(&o["status"]),
                thousands(r.summary.total),
                thousands(r.summary.success),
                thousands(r.summary.failed),
                r.summary
                    .changes
                    .map(|c| c.short())
                    .unwrap_or_else(|| "-".into()),
                format!("{:.1}s", o["duration_seconds"].as_f64().unwrap_or(0.0)),
                o["trigger"].as_str().unwrap_or("-").into(),
                note,
            ]
        })
        .collect();
    let head = [
        "STARTED", "MODE", "STATUS", "TOTAL", "SUCCESS", "FAILED", "CHANGES", "DURATION",
        "TRIGGER", "NOTE",
    ];
    print_table(&head, &table);
    EXIT_OK
}

/// A past run as `dsp history --json` gives it: the fields of its history
/// file without the log (`dsp history` is a list; the file keeps the log).
fn run_object(r: &RunRecord) -> Value {
    let s = &r.summary;
    let seconds = (s.ended - s.started).num_milliseconds().max(0) as f64 / 1000.0;
    json!({
        "job": s.job,
        "started": time(s.started),
        "ended": time(s.ended),
        "duration_seconds": seconds,
        "mode": s.mode.as_str(),
        "status": s.status.as_str(),
        "total": s.total,
        "success": s.success,
        "failed": s.failed,
        "error": s.error,
        "changes": s.changes.map(crate::report::json::changes),
        "trigger": r.trigger.map(|t| t.as_str()),
        "note": r.note,
    })
}

/// The zone times are shown in (`DSP_TZ`/`TZ`); a wrong one is said once.
fn zone() -> Option<Zone> {
    Zone::from_env().map_err(|e| eprintln!("error: {e}")).ok()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An RFC 3339 time of the JSON form, in the schedule's zone.
fn local(t: &str, zone: &Zone) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| zone.format(t.to_utc()))
        .unwrap_or_else(|_| t.to_string())
}

/// Columns padded to their widest cell; the last is left ragged.
fn print_table(head: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    c.to_string()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(head.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
