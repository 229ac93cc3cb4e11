//! `dsp check [--connect]`: validates the workspace file, and with `--connect`
//! also reaches every network and checks each job's tables and columns.

use crate::paths::Paths;
use crate::workspace::validate;

use super::{EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE};

pub async fn run(paths: &Paths, connect: bool) -> u8 {
    let file = &paths.workspace;
    let ws = match super::load_workspace(paths, true) {
        Ok(ws) => ws,
        Err(0) => return EXIT_USAGE,
        Err(n) => {
            eprintln!("{n} problem{} found; nothing was loaded", plural(n));
            return EXIT_USAGE;
        }
    };
    for w in validate::warnings(&ws)
        .into_iter()
        .chain(validate::check_warnings(&ws))
    {
        eprintln!("warning: {w}");
    }
    println!(
        "{}: valid ({} network{}, {} schema{}, {} job{})",
        file.display(),
        ws.networks.len(),
        plural(ws.networks.len()),
        ws.schemas.len(),
        plural(ws.schemas.len()),
        ws.jobs.len(),
        plural(ws.jobs.len()),
    );
    for job in &ws.jobs {
        if let Some(alerts) = alerts_line(&ws, job) {
            println!("job \"{}\": {alerts}", job.name);
        }
    }
    if !connect {
        return EXIT_OK;
    }
    let mut failed = false;
    for network in &ws.networks {
        match crate::engine::db::test_connection(&ws, network).await {
            Ok(version) => println!("network \"{}\": ok: {version}", network.name),
            Err(e) => {
                failed = true;
                eprintln!("error: {e}");
            }
        }
    }
    for job in &ws.jobs {
        let problems = crate::engine::db::check_job(&ws, job).await;
        if problems.is_empty() {
            println!(
                "job \"{}\": source and target tables and columns are ready",
                job.name
            );
        }
        for p in problems {
            failed = true;
            eprintln!("error: job \"{}\": {p}", job.name);
        }
        for w in crate::engine::db::indexes::check_job(&ws, job).await {
            eprintln!("warning: job \"{}\": {w}", job.name);
        }
    }
    if failed { EXIT_RUN_FAILED } else { EXIT_OK }
}

/// A job's alerts without their secrets: a hook's program (its arguments may
/// hold a token) and a webhook's scheme and host.
fn alerts_line(ws: &crate::workspace::Workspace, job: &crate::workspace::Job) -> Option<String> {
    let a = ws.alerts_of(job);
    if a.is_empty() {
        return None;
    }
    let program = |c: &str| {
        let mut words = c.split_whitespace();
        let first = words.next().unwrap_or("");
        let more = if words.next().is_some() { " …" } else { "" };
        format!("\"{first}{more}\"")
    };
    let mut parts = Vec::new();
    if let Some(c) = &a.on_failure {
        parts.push(format!("on_failure runs {}", program(c)));
    }
    if let Some(c) = &a.on_success {
        parts.push(format!("on_success runs {}", program(c)));
    }
    if let Some(u) = &a.webhook {
        parts.push(format!(
            "webhook to {}",
            crate::engine::alert::masked_url(u)
        ));
    }
    Some(format!(
        "alerts: {} (hooks time out after {}s)",
        parts.join(", "),
        ws.alert_timeout().as_secs()
    ))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
