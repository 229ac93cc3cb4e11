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
    }
    if failed { EXIT_RUN_FAILED } else { EXIT_OK }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
