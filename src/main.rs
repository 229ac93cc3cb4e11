use std::process::ExitCode;

use clap::Parser;

/// Rows are allocated by the reader task and freed by the writer task on
/// another thread; glibc's allocator spent a quarter of a sync's CPU on that
/// hand-over (bench/README.md), mimalloc a fraction of it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    no_huge_pages();
    install_panic_message();
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

/// mimalloc asks for transparent huge pages, and each first touch of one
/// makes the kernel zero 2 MB: a third of a differential run's CPU went to
/// zeroing pages whose memory was barely used before it was freed and
/// touched again (`perf`, bench/README.md). Small pages cost less here, and
/// a smaller peak. Failure changes nothing, so it is not reported.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// A bug must still read as one sentence, not as a Rust backtrace. (The TUI adds
/// its own hook in front of this one to restore the terminal first.)
fn install_panic_message() {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error in DSP ({what}{place}); this is a bug, please report it");
    }));
}
