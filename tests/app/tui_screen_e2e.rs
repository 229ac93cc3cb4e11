//! Issue 17 as a new user saw it, in a real terminal (tmux, 80x24, the
//! release binary): each numbered defect reproduced and the fixed behaviour
//! asserted on the screen (and the file or history where it matters).
//! #1, #2, #11 are in tui_file_e2e.rs, #4 in tui_daemon_e2e.rs, #6 and #13 in
//! tui_e2e.rs. Also: idle, the TUI uses next to no CPU.

use std::path::Path;

use dsp::engine::progress::{Level, LogLine};
use dsp::engine::{RunStatus, RunSummary, state};
use dsp::paths::DataDir;
use dsp::workspace::SyncMode;

use crate::support;
use crate::tui_daemon_e2e::{history, sources, wait_until, workspace};
use crate::tui_e2e::{Tmux, assert_whole, dsp_pid, open_demo_in, start, ws_args};

const FULL_JOB: &str = "Sync Users to Analytics";
const INCR_JOB: &str = "Sync Users (Incremental)";
const SUMMARY: &str = "Sync completed. Total: 50,000, Success: 50,000, Failed: 0";

/// The rows of the job pane's log, inside its borders (between ` Log` and
/// ` Last runs `).
fn log_pane(s: &str) -> Vec<String> {
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.iter().position(|l| l.contains("│ Log")).unwrap() + 1;
    let end = lines
        .iter()
        .position(|l| l.contains(" Last runs "))
        .unwrap();
    lines[start..end]
        .iter()
        .map(|l| {
            let cells: Vec<char> = l.chars().collect();
            let right: String = cells[31..].iter().collect();
            right
                .trim_matches(|c: char| c == '│' || c == ' ')
                .to_string()
        })
        .collect()
}

/// The row under ` Last runs `, inside the pane's borders.
fn last_run_row(s: &str) -> String {
    let row = s
        .lines()
        .skip_while(|l| !l.contains(" Last runs "))
        .nth(1)
        .unwrap_or_default();
    let cells: Vec<char> = row.chars().collect();
    cells[31..]
        .iter()
        .collect::<String>()
        .trim_matches(|c: char| c == '│' || c == ' ')
        .to_string()
}

/// `hh:mm:ss` somewhere in `s`: a time that kept its seconds.
fn has_seconds(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(8).any(|w| {
        w[2] == b':' && w[5] == b':' && [0, 1, 3, 4, 6, 7].iter().all(|&i| w[i].is_ascii_digit())
    })
}

/// #7, #9, #12, #13: the demo's run, then everything about it read at 80x24 —
/// the footer keeps `?` and `q`, the last runs row and the history rows end in
/// whole words, times keep their seconds, the log pane's top is its first line
/// with no blank rows, End in the history viewer reaches the summary, a form's
/// error reads to its end, and Esc on an edited form asks first.
#[test]
fn a_demo_run_reads_whole_at_80x24() {
    let test = "a_demo_run_reads_whole_at_80x24";
    let dir = support::temp_dir();
    let Some(tmux) = open_demo_in(test, dir.path(), 80, 24) else {
        return;
    };
    tmux.keys("r");
    // The paced run is seen moving before it ends (#13).
    let mid = tmux.wait_for(
        "the run part-way",
        |s| s.contains("rec/s · elapsed") && s.contains(" / 50,000"),
        30,
    );
    assert!(!mid.contains("✓ last run succeeded"), "{mid}");
    let done = tmux.wait_for(
        "the run's end",
        |s| s.contains("✓ Sync Users to Analytics") && s.contains("Failed: 0"),
        60,
    );
    let footer = done.lines().last().unwrap();
    assert!(
        footer.starts_with("r run now") && footer.trim_end().ends_with("? help  q quit"),
        "{done}"
    );
    assert_whole(&done, &format!("[INFO] {SUMMARY}"));
    let row = last_run_row(&done);
    assert!(
        row.contains("✓ succeeded") && row.ends_with(" full") && has_seconds(&row),
        "the last runs row fits: {row}\n{done}"
    );
    // The job list's last and next run, and the schedule line, with seconds.
    let list_rows: Vec<String> = done.lines().map(|l| l.chars().take(30).collect()).collect();
    let row = list_rows
        .iter()
        .find(|l| l.contains(" → "))
        .expect("the last → next row");
    assert!(has_seconds(row), "{done}");
    assert!(
        done.contains("· next ") && done.contains(" 00:00:00"),
        "{done}"
    );

    // #9: the log's top is its first line, and no blank rows follow it.
    tmux.keys("g");
    let top = tmux.wait_for("the log's top", |s| s.contains("scrolled; End follows"), 10);
    let pane = log_pane(&top);
    assert!(
        pane[0].starts_with("[INFO] Starting sync job"),
        "{pane:?}\n{top}"
    );
    assert!(pane.iter().all(|r| !r.is_empty()), "{top}");
    for _ in 0..8 {
        tmux.keys("PageDown");
    }
    let bottom = tmux.screen();
    let pane = log_pane(&bottom);
    assert!(pane.iter().all(|r| !r.is_empty()), "{bottom}");
    assert_whole(&bottom, SUMMARY);

    // #7 and #12: the past runs and the full log of the run, End to its end.
    tmux.keys("h");
    let runs = tmux.wait_for("the past runs", |s| s.contains("past runs"), 10);
    let row = runs
        .lines()
        .find(|l| l.contains("✓ succeeded"))
        .expect("the run's row");
    assert!(
        row.contains("total    50,000") && has_seconds(row),
        "{runs}"
    );
    tmux.keys("Enter");
    tmux.wait_for("the run's log", |s| s.contains("(Esc back"), 10);
    tmux.keys("End");
    let end = tmux.wait_for("the log's end", |s| s.contains(SUMMARY), 10);
    assert_whole(
        &end,
        "Changes: 50,000 inserted, 0 updated, 0 deleted, 0 unchanged",
    );
    tmux.keys("PageDown");
    assert_eq!(tmux.screen(), end, "PgDn past the end changes nothing");
    // Finding a line in it, as in the live log.
    tmux.keys("/");
    tmux.keys("batch 7/");
    tmux.keys("Enter");
    let found = tmux.wait_for("the line found", |s| s.contains("'batch 7/' at line"), 10);
    assert!(found.contains("Processing batch 7/50"), "{found}");
    tmux.keys("Escape");
    tmux.keys("Escape");
    tmux.keys("Escape");
    tmux.wait_for("the Jobs tab", |s| s.contains("r run now"), 10);

    // #7: a form's error reads to its end; #12: Esc on an edited form asks.
    tmux.keys("a");
    tmux.wait_for("the job form", |s| s.contains("Ctrl-S"), 10);
    let form = tmux.screen();
    assert!(form.contains("(default 50)"), "defaults shown:\n{form}");
    for _ in 0..5 {
        tmux.keys("Tab");
    }
    tmux.keys("61 * * * *");
    let err = tmux.wait_for("the cron error", |s| s.contains("cron expression"), 10);
    assert_whole(&err, "\"61 * * * *\" is not a valid cron expression:");
    assert!(
        err.contains("Minutes"),
        "the reason reads to its end:\n{err}"
    );
    tmux.keys("Escape");
    tmux.wait_for("the question", |s| s.contains("discard your changes?"), 10);
    tmux.keys("Enter");
    let back = tmux.wait_for("the form again", |s| s.contains("Ctrl-S"), 10);
    assert!(back.contains("61 * * * *"), "Enter kept the edits:\n{back}");
    tmux.keys("Escape");
    tmux.wait_for("the question", |s| s.contains("discard your changes?"), 10);
    tmux.keys("y");
    tmux.wait_for(
        "the lists",
        |s| s.contains("Discarded; nothing was saved"),
        10,
    );
    // The status line clears with Esc.
    tmux.keys("Escape");
    let cleared = tmux.screen();
    assert!(!cleared.contains("Discarded"), "{cleared}");

    tmux.keys("q");
    let after = tmux.wait_for("the shell", |s| s.contains("DSP-EXITED-"), 20);
    assert!(after.contains("DSP-EXITED-0"), "{after}");
}

fn run(job: &str, status: RunStatus, ago: i64, error: Option<&str>) -> RunSummary {
    let started = chrono::Utc::now() - chrono::Duration::seconds(ago);
    RunSummary {
        job: job.into(),
        mode: SyncMode::Full,
        status,
        started,
        ended: started + chrono::Duration::seconds(4),
        total: 50_000,
        success: 12_000,
        failed: 0,
        changes: None,
        error: error.map(str::to_string),
    }
}

/// The demo's data dir as a restart finds it: the full job failed last (its
/// log recorded), the incremental one was cancelled.
fn seed_history(dir: &Path) {
    let data = DataDir::new(dir.join("data"));
    let log: Vec<LogLine> = (1..=12)
        .map(|i| {
            LogLine::new(
                Level::Info,
                format!("Processing batch {i}/50 (1000 records)"),
            )
        })
        .chain([LogLine::new(
            Level::Error,
            "Sync failed: the target went away",
        )])
        .collect();
    let failed = run(
        FULL_JOB,
        RunStatus::Failed,
        60,
        Some("the target went away"),
    );
    state::record_run(&data, &failed, &log).unwrap();
    let cancelled = run(
        INCR_JOB,
        RunStatus::Cancelled,
        120,
        Some("cancelled by the operator"),
    );
    state::record_run(&data, &cancelled, &[]).unwrap();
}

/// The colour (SGR parameters) the first `symbol` on the screen is drawn in.
fn sgr_before(tmux: &Tmux, symbol: &str) -> String {
    let s = tmux.run(&["capture-pane", "-p", "-e", "-t", "e2e"]);
    let at = s
        .find(symbol)
        .unwrap_or_else(|| panic!("no {symbol}:\n{s}"));
    let before = &s[..at];
    match before.rfind("\x1b[") {
        Some(esc) => before[esc + 2..]
            .split('m')
            .next()
            .unwrap_or("")
            .to_string(),
        None => String::new(),
    }
}

/// #8 and #10: after a restart every job shows its last status with a symbol
/// and a colour, the selected failed job its error and last log (not `idle`
/// and a full bar); with NO_COLOR the symbols still tell them apart.
#[test]
fn after_a_restart_each_job_shows_its_last_status_in_colour() {
    let test = "after_a_restart_each_job_shows_its_last_status_in_colour";
    let dir = support::temp_dir();
    seed_history(dir.path());
    let Some(tmux) = open_demo_in(test, dir.path(), 80, 24) else {
        return;
    };
    let s = tmux.wait_for("the statuses", |s| s.contains("✗ Sync Users to"), 10);
    assert!(s.contains("⊘ Sync Users (Incr"), "every job's status:\n{s}");
    assert!(s.contains("failed · 24%"), "{s}");
    assert!(!s.contains("idle") && !s.contains("100%"), "{s}");
    assert!(s.contains("Log of the last run"), "{s}");
    assert!(
        s.contains("[ERROR] Sync failed: the target went away"),
        "{s}"
    );
    // Red for failed, yellow for cancelled (SGR 31/91 and 33/93 or 256-colour).
    let red = sgr_before(&tmux, "✗");
    assert!(
        ["31", "91", "38;5;1", "38;5;9"]
            .iter()
            .any(|c| red.contains(c)),
        "✗ in {red:?}"
    );
    let yellow = sgr_before(&tmux, "⊘");
    assert!(
        ["33", "93", "38;5;3", "38;5;11"]
            .iter()
            .any(|c| yellow.contains(c)),
        "⊘ in {yellow:?}"
    );
    tmux.keys("j");
    let s = tmux.wait_for(
        "the cancelled job",
        |s| s.contains("⊘ last run cancelled"),
        10,
    );
    assert!(s.contains("cancelled by the operator"), "{s}");
    tmux.keys("q");
    tmux.wait_for("the shell", |s| s.contains("DSP-EXITED-0"), 20);
    drop(tmux);

    let args = format!("demo --data-dir '{}'", dir.path().join("data").display());
    let Some(plain) = start(test, 80, 24, "NO_COLOR=1", &args) else {
        return;
    };
    let s = plain.wait_for("the statuses", |s| s.contains("✗ Sync Users to"), 60);
    assert!(s.contains("⊘ Sync Users (Incr"), "{s}");
    let sgr = sgr_before(&plain, "✗");
    assert!(
        !sgr.contains("31") && !sgr.contains("38;5"),
        "no colour: {sgr:?}"
    );
}

/// #5: Enter on a delete question answers No (the file keeps every byte);
/// `y` deletes.
#[test]
fn enter_on_a_delete_question_keeps_the_entry() {
    let test = "enter_on_a_delete_question_keeps_the_entry";
    let dir = support::temp_dir();
    let Some(tmux) = open_demo_in(test, dir.path(), 80, 24) else {
        return;
    };
    let file = dir.path().join("data/demo/workspace.toml");
    let before = std::fs::read(&file).unwrap();
    tmux.keys("j");
    tmux.keys("d");
    let q = tmux.wait_for("the question", |s| s.contains("Delete job"), 10);
    assert!(q.contains(INCR_JOB), "{q}");
    tmux.keys("Enter");
    let s = tmux.wait_for("the question gone", |s| !s.contains("Delete job"), 10);
    assert!(s.contains(INCR_JOB), "{s}");
    assert_eq!(std::fs::read(&file).unwrap(), before, "Enter deleted");
    tmux.keys("d");
    tmux.wait_for("the question", |s| s.contains("Delete job"), 10);
    tmux.keys("y");
    let s = tmux.wait_for("the job gone", |s| !s.contains("Sync Users (Incr"), 10);
    assert!(s.contains(FULL_JOB), "{s}");
    let now = std::fs::read_to_string(&file).unwrap();
    assert!(!now.contains(INCR_JOB) && now.contains(FULL_JOB), "{now}");
}

/// #3: a run the TUI's own schedule started is cancelled by `c` at once (not
/// "when DSP quits"), recorded as cancelled, and quitting afterwards is quick.
#[test]
fn c_cancels_a_scheduled_run_at_once() {
    let test = "c_cancels_a_scheduled_run_at_once";
    let dir = support::temp_dir();
    let ws = dir.path().join("workspace.toml");
    std::fs::write(&ws, workspace(dir.path())).unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(sources(dir.path()));
    let data_path = dir.path().join("data");
    let args = ws_args(&ws, &data_path);
    let Some(tmux) = start(test, 80, 24, "DSP_TZ=UTC DSP_PACE_MS=50", &args) else {
        return;
    };
    tmux.wait_for("the TUI", |s| s.contains("schedules: this TUI"), 60);
    tmux.keys("3");
    tmux.keys("j");
    tmux.wait_for(
        "the schedule's run of Slow",
        |s| s.contains("> ▶ Slow") && s.contains("/ 20,000") && s.contains("elapsed"),
        40,
    );
    tmux.keys("c");
    let s = tmux.wait_for(
        "the cancelled run",
        |s| s.contains("⊘ Slow") && s.contains("cancelled"),
        10,
    );
    assert!(!s.contains("when DSP quits"), "{s}");
    let data = DataDir::new(&data_path);
    wait_until("the run in the history", 10, || {
        history(&data, "Slow")
            .first()
            .is_some_and(|r| r.summary.status == RunStatus::Cancelled)
    });
    tmux.keys("q");
    // Tick (every 3 s, 10 rows) may be under way: then the question comes.
    let s = tmux.wait_for(
        "the quit",
        |s| s.contains("DSP-EXITED-") || s.contains("Quit and cancel"),
        10,
    );
    if s.contains("Quit and cancel") {
        tmux.keys("y");
    }
    let end = tmux.wait_for("the shell", |s| s.contains("DSP-EXITED-"), 15);
    assert!(end.contains("DSP-EXITED-0"), "{end}");
}

/// The CPU time (user + system, in clock ticks) process `pid` has used.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after `)`.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Idle, with the file watcher and the lease and live-status look-ups on, the
/// TUI uses next to no CPU: at most 1% of a core over five quiet seconds
/// (it measures 0 ticks here; a loop that polls without waiting would not).
#[test]
fn idle_the_tui_uses_almost_no_cpu() {
    let test = "idle_the_tui_uses_almost_no_cpu";
    if !Path::new("/proc/self/stat").exists() {
        support::skip(test, "no /proc to read CPU time from");
        return;
    }
    let dir = support::temp_dir();
    let Some(tmux) = open_demo_in(test, dir.path(), 80, 24) else {
        return;
    };
    let pid = dsp_pid(&tmux);
    // Past the start-up work (the first history reads, the first look-ups).
    std::thread::sleep(std::time::Duration::from_secs(1));
    let ticks_per_sec: u64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100);
    let before = cpu_ticks(&pid);
    let quiet = std::time::Duration::from_secs(5);
    std::thread::sleep(quiet);
    let used = cpu_ticks(&pid) - before;
    let allowed = ticks_per_sec * quiet.as_secs() / 100;
    assert!(
        used <= allowed,
        "{used} ticks of CPU in {quiet:?} idle (allowed {allowed}, {ticks_per_sec}/s)"
    );
    tmux.keys("q");
    tmux.wait_for("the shell", |s| s.contains("DSP-EXITED-0"), 20);
}

/// #10 and #12: `t` on a network whose server never answers shows the test
/// in progress (not a ✓); on one whose port nothing listens on it says the
/// connection was refused (not "connection lost"), whole, with ✗.
#[test]
fn a_connection_test_shows_progress_then_refused_whole() {
    let test = "a_connection_test_shows_progress_then_refused_whole";
    let dir = support::temp_dir();
    // A port that was free a moment ago: nothing listens there.
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A listener that never answers: the test stays in progress.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let network = |name: &str, port: u16| {
        format!(
            "[[network]]\nname = \"{name}\"\ntype = \"postgres\"\nhost = \"127.0.0.1\"\n\
             port = {port}\ndatabase = \"x\"\nusername = \"postgres\"\n\n"
        )
    };
    let ws = dir.path().join("workspace.toml");
    let text =
        network("Warehouse", refused) + &network("Silent", silent.local_addr().unwrap().port());
    std::fs::write(&ws, text).unwrap();
    let args = ws_args(&ws, &dir.path().join("data"));
    let Some(tmux) = start(test, 80, 24, "", &args) else {
        return;
    };
    tmux.wait_for("the TUI", |s| s.contains("> Warehouse"), 60);
    tmux.keys("t");
    let s = tmux.wait_for("the test's result", |s| s.contains("✗ cannot connect"), 20);
    assert_whole(
        &s,
        "the connection was refused: nothing listens at that host and port; check the port and that the server runs",
    );
    assert!(!s.contains("connection lost"), "{s}");

    tmux.keys("j");
    tmux.keys("t");
    let s = tmux.wait_for("the test in progress", |s| s.contains("… testing"), 10);
    assert!(!s.contains("✓") && !s.contains("✗"), "{s}");
    drop(silent);
}

/// #12: an unchanged save keeps the file byte for byte (`mariadb` stays
/// `mariadb`, no `ssl_mode` appears), and the form shows only the fields of
/// the network's kind.
#[test]
fn an_unchanged_save_keeps_mariadb_and_every_byte() {
    let test = "an_unchanged_save_keeps_mariadb_and_every_byte";
    let dir = support::temp_dir();
    let text = "# by hand\n[[network]]\nname = \"Shop\"\ntype = \"mariadb\"   # the operator's word\n\
                host = \"db.internal\"\ndatabase = \"shop\"\nusername = \"reader\"\n\
                password_env = \"SHOP_PW\"\n\n[[network]]\nname = \"Local\"\ntype = \"sqlite\"\n\
                database = \"local.db\"\n";
    let ws = dir.path().join("workspace.toml");
    std::fs::write(&ws, text).unwrap();
    let args = ws_args(&ws, &dir.path().join("data"));
    let Some(tmux) = start(test, 80, 24, "", &args) else {
        return;
    };
    tmux.wait_for("the TUI", |s| s.contains("> Shop"), 60);
    tmux.keys("e");
    tmux.wait_for("the form", |s| s.contains("Ctrl-S"), 10);
    tmux.keys("C-s");
    tmux.wait_for("the save", |s| !s.contains("Ctrl-S save"), 10);
    assert_eq!(std::fs::read_to_string(&ws).unwrap(), text);
    // A SQLite network's form has no host, user, password or SSL.
    tmux.keys("j");
    tmux.keys("e");
    let form = tmux.wait_for("the SQLite form", |s| s.contains("‹ sqlite ›"), 10);
    for hidden in ["Host", "Username", "Password", "SSL mode"] {
        assert!(!form.contains(hidden), "{hidden} shown for SQLite:\n{form}");
    }
}
