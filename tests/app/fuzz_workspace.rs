//! The workspace loader against hostile files: mutations of the seed example
//! and random field values. Whatever the text, loading never panics, never
//! half-loads, and every problem is one line naming the file; a file that
//! loads holds only values inside their ranges.
//!
//! Bounded: `PROPTEST_CASES` (default below) cases per property, each a parse
//! of a small text, so the whole file runs in seconds.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::RngSeed;

const SEED: &str = include_str!("../../examples/seed.toml");
const CASES: u32 = 3000;

/// Pieces of TOML that tend to break parsers and validators.
const TOKENS: &[&str] = &[
    "[[network]]",
    "[[schema]]",
    "[[job]]",
    "[",
    "]",
    "{",
    "}",
    "=",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    ",",
    "#",
    "\n",
    "\\",
    "\\u0000",
    "\u{0}",
    "\u{feff}",
    "é",
    "😀",
    "\r\n",
    "name",
    "type",
    "batch_size",
    "9223372036854775808",
    "-1",
    "0",
    "1e309",
    "nan",
    "inf",
    "true",
    "[]",
    "{}",
    "1979-05-27T07:32:00Z",
    "postgresql",
    "mysql",
    "sqlite",
    "mariadb",
    "* * * * *",
    "61 * * * *",
    "columns = [",
    "primary_key = []",
    "max_delete_percent = 101",
    "lookback = \"99999999999d\"",
];

/// Random inputs on a developer's machine, to find what nobody thought of; a
/// fixed seed in CI, so that a landing never hangs on a draw of luck (a new
/// finding shows on a developer's run, with its input, and becomes a test).
/// `PROPTEST_RNG_SEED` replays any run.
fn config() -> ProptestConfig {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let rng_seed = match env("PROPTEST_RNG_SEED") {
        Some(seed) => RngSeed::Fixed(seed),
        None if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") => {
            RngSeed::Fixed(20_261_126)
        }
        None => RngSeed::Random,
    };
    ProptestConfig {
        cases: env("PROPTEST_CASES").map_or(CASES, |n| n as u32),
        failure_persistence: None,
        rng_seed,
        ..ProptestConfig::default()
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, token: usize },
    DuplicateLine { line: usize },
    FlipByte { at: usize, bit: u8 },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), any::<usize>()).prop_map(|(at, token)| Edit::Insert { at, token }),
        any::<usize>().prop_map(|line| Edit::DuplicateLine { line }),
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Edit::FlipByte { at, bit }),
    ]
}

/// Applies edits to the seed's bytes; the result may not be UTF-8, as a
/// damaged file may not be.
fn mutate(edits: &[Edit]) -> Vec<u8> {
    let mut bytes = SEED.as_bytes().to_vec();
    for e in edits {
        let n = bytes.len().max(1);
        match *e {
            Edit::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
            Edit::Insert { at, token } => {
                let at = at % (bytes.len() + 1);
                let t = TOKENS[token % TOKENS.len()].as_bytes();
                bytes.splice(at..at, t.iter().copied());
            }
            Edit::DuplicateLine { line } => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let i = line % lines.len();
                    lines.insert(i, lines[i]);
                }
                bytes = lines.join("\n").into_bytes();
            }
            Edit::FlipByte { at, bit } => {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] ^= 1 << bit;
                }
            }
        }
    }
    bytes
}

/// Loads through the file path, as `dsp check` does.
fn load_bytes(bytes: &[u8]) -> Result<dsp::workspace::Workspace, dsp::workspace::LoadError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workspace.toml");
    std::fs::write(&path, bytes).unwrap();
    dsp::workspace::load(&path)
}

fn assert_sane(result: Result<dsp::workspace::Workspace, dsp::workspace::LoadError>) {
    match result {
        Ok(ws) => {
            for job in &ws.jobs {
                assert!((1..=1_000_000).contains(&job.batch_size()), "{job:?}");
                let pct = job.max_delete_percent();
                assert!((0.0..=100.0).contains(&pct), "{job:?}");
                assert!(
                    job.read_ranges.is_none_or(|n| (1..=8).contains(&n)),
                    "{job:?}"
                );
                assert!(ws.network(&job.source).is_some(), "{job:?}");
                assert!(ws.network(&job.target).is_some(), "{job:?}");
                assert!(ws.schema(&job.schema).is_some(), "{job:?}");
            }
            for s in &ws.schemas {
                assert!(!s.primary_key.is_empty(), "{s:?}");
            }
        }
        Err(e) => {
            assert!(!e.diagnostics.is_empty(), "an error with no diagnostic");
            for d in &e.diagnostics {
                let text = d.to_string();
                assert!(text.contains("workspace.toml"), "names the file: {text}");
                assert!(!text.contains('\n'), "one line: {text:?}");
                assert!(text.len() < 2000, "short: {text}");
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_damaged_seed_file_never_panics_or_half_loads(edits in prop::collection::vec(edit(), 1..6)) {
        assert_sane(load_bytes(&mutate(&edits)));
    }

    #[test]
    fn any_value_of_any_job_field_loads_in_range_or_is_refused(
        key in prop::sample::select(vec![
            "batch_size", "max_failed", "max_delete_percent", "allow_empty", "lookback",
            "schedule", "mode", "source", "target", "schema", "name", "read_ranges",
        ]),
        value in prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
            "[ -~]{0,30}".prop_map(|s| format!("{s:?}")),
            Just("true".to_string()),
            Just("[1, 2]".to_string()),
            Just("{ a = 1 }".to_string()),
        ],
    ) {
        let text = format!("{SEED}{key} = {value}\n");
        // The seed's job sets batch_size and schedule already: a second one
        // is a duplicate key, which must be refused too.
        assert_sane(load_bytes(text.as_bytes()));
    }
}

/// Found by the fuzz test: a value holding a line break (`"stri\ng"`, an
/// escape TOML allows) made its diagnostic two lines.
#[test]
fn a_diagnostic_quoting_a_line_break_stays_one_line() {
    let text = SEED
        .replacen(r#"type = "string""#, r#"type = "stri\ng""#, 1)
        .replacen(
            r#"name = "Sync Users to Analytics""#,
            r#"name = "Sync\nUsers""#,
            1,
        );
    let e = dsp::workspace::load_str(&text, Path::new("workspace.toml")).unwrap_err();
    for d in &e.diagnostics {
        let line = d.to_string();
        assert!(!line.contains('\n'), "{line:?}");
    }
    assert!(e.to_string().contains(r#""stri\ng""#), "{e}");
}

#[test]
fn the_seed_itself_loads() {
    let ws = dsp::workspace::load_str(SEED, Path::new("seed.toml")).expect("seed loads");
    assert_eq!(ws.jobs.len(), 1);
}

/// `dsp check` on what is not a workspace file: a device that never ends, a
/// directory, a pipe nobody writes, a file of 20 MiB. Each is refused at once
/// with exit 2 and one sentence naming the path, instead of reading until the
/// machine runs out of memory (or waiting forever on the pipe).
#[test]
fn hostile_workspace_paths_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; 20 * 1024 * 1024]).unwrap();
    let fifo = dir.path().join("fifo.toml");
    let made_fifo = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let mut paths = vec![
        std::path::PathBuf::from("/dev/zero"),
        dir.path().to_path_buf(),
        big,
    ];
    if made_fifo {
        paths.push(fifo);
    }
    for path in paths {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dsp"))
            .arg("--workspace")
            .arg(&path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("check")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("dsp check {} did not return", path.display());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
        assert!(
            err.contains(&path.display().to_string())
                && (err.contains("not a regular file") || err.contains("too large")),
            "{}: {err}",
            path.display()
        );
        assert!(err.lines().count() <= 3, "{err}");
    }
}

/// A workspace reached through a symlink (dotfiles kept in a repository) is
/// saved through it: the real file changes, the link stays a link.
#[test]
fn saving_through_a_symlink_updates_the_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("dotfiles").join("workspace.toml");
    std::fs::create_dir_all(real.parent().unwrap()).unwrap();
    std::fs::write(&real, SEED).unwrap();
    let link = dir.path().join("workspace.toml");
    std::os::unix::fs::symlink("dotfiles/workspace.toml", &link).unwrap();

    let mut ws = dsp::workspace::load(&link).unwrap();
    ws.jobs[0].batch_size = Some(500);
    dsp::workspace::save::save(&ws, &link).unwrap();

    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let reloaded = dsp::workspace::load(&real).unwrap();
    assert_eq!(reloaded.jobs[0].batch_size, Some(500));
    // The hand-written comments of the real file are still there.
    assert!(
        std::fs::read_to_string(&real)
            .unwrap()
            .contains("# daily at midnight")
    );
}
