use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = dsp::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(dsp::commands::dispatch(cli));
    // Background tasks (a cancelled run's cleanup, idle pool connections) must not
    // hold the process open after the command is done.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    ExitCode::from(code)
}
