//! Running the real `dsp` binary against a workspace file in a temp dir, and
//! reading what it printed and how it exited.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A temp dir holding the workspace file, the data dir and any SQLite files.
pub struct Env {
    pub dir: tempfile::TempDir,
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Out {
    pub fn all(&self) -> String {
        format!(
            "--- stdout ---\n{}--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }

    /// The log lines on stdout as the seed writes them (`[INFO] ...`), without
    /// the time and job prefix a run not on a terminal puts before each.
    pub fn log_lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .map(|l| split_prefixed(l).map_or(l, |(_, _, seed)| seed))
            .collect()
    }

    /// No Rust panic or backtrace text, whatever happened.
    pub fn assert_no_panic(&self, what: &str) {
        for bad in [
            "panicked",
            "RUST_BACKTRACE",
            "stack backtrace",
            "internal error in DSP",
        ] {
            assert!(
                !self.stdout.contains(bad) && !self.stderr.contains(bad),
                "{what}: output contains {bad:?}\n{}",
                self.all()
            );
        }
    }

    /// The run failed with exit 1 and said so in an `[ERROR]` line or on stderr,
    /// mentioning every one of `names`.
    pub fn assert_failed_naming(&self, what: &str, names: &[&str]) {
        self.assert_no_panic(what);
        assert_eq!(self.code, 1, "{what}: exit status\n{}", self.all());
        let said: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| l.contains("[ERROR]"))
            .chain(self.stderr.lines().filter(|l| !l.trim().is_empty()))
            .collect();
        assert!(
            !said.is_empty(),
            "{what}: no error was printed\n{}",
            self.all()
        );
        for n in names {
            assert!(
                said.iter().any(|l| l.contains(n)),
                "{what}: no error line names {n:?}\n{}",
                self.all()
            );
        }
    }
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: super::temp_dir(),
        }
    }
    pub fn ws(&self) -> PathBuf {
        self.dir.path().join("workspace.toml")
    }
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    pub fn sqlite(&self, name: &str) -> PathBuf {
        super::sqlite_path(&self.dir, name)
    }
    pub fn write(&self, toml: &str) {
        std::fs::write(self.ws(), toml).unwrap();
    }

    pub fn command(&self, args: &[&str], envs: &[(&str, &str)]) -> Command {
        let mut c = Command::new(super::dsp_bin());
        c.arg("--workspace")
            .arg(self.ws())
            .arg("--data-dir")
            .arg(self.data())
            .args(args)
            // A backtrace must not appear even when the operator asked for one.
            .env("RUST_BACKTRACE", "1")
            .env_remove("DSP_WORKSPACE")
            .env_remove("DSP_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            c.env(k, v);
        }
        c
    }

    /// Runs `dsp` to its end (killed, and the test failed, after 120 s).
    pub fn dsp(&self, args: &[&str], envs: &[(&str, &str)]) -> Out {
        let start = Instant::now();
        let mut child = self.command(args, envs).spawn().expect("start dsp");
        let out = drain(&mut child);
        let deadline = start + Duration::from_secs(120);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("dsp {args:?} did not finish within 120 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = start.elapsed();
        let (stdout, stderr) = out.join().unwrap();
        Out {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
            elapsed,
        }
    }

    /// Every file under the data dir, for secret scanning.
    pub fn data_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(p: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            let Ok(rd) = std::fs::read_dir(p) else {
                return;
            };
            for e in rd.flatten() {
                let path = e.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    out.push((path, bytes));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data(), &mut out);
        out
    }

    /// `secret` is in no output and no file under the data dir.
    pub fn assert_secret_kept(&self, out: &Out, secret: &str, what: &str) {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{what}: the password {secret:?} was printed\n{}",
            out.all()
        );
        let files = self.data_files();
        for (path, bytes) in &files {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{what}: the password {secret:?} was written to {}",
                path.display()
            );
        }
    }
}

/// A log line of `dsp run` whose stdout is not a terminal, split into its
/// time, its job's name and the seed's line (`[INFO] ...`); `None` if the line
/// lacks that prefix.
pub fn split_prefixed(line: &str) -> Option<(chrono::DateTime<chrono::Utc>, &str, &str)> {
    let (time, rest) = line.split_once(' ')?;
    let at = chrono::DateTime::parse_from_rfc3339(time).ok()?.to_utc();
    let rest = rest.strip_prefix('[')?;
    let (job, seed) = rest.split_once("] [")?;
    Some((at, job, &line[line.len() - seed.len() - 1..]))
}

/// Reads a child's stdout and stderr on threads, so that neither pipe fills.
pub fn drain(child: &mut Child) -> std::thread::JoinHandle<(String, String)> {
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = se.read_to_string(&mut s);
            s
        });
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        (s, err.join().unwrap_or_default())
    })
}

// ---------------------------------------------------------------------------
// Databases

/// Starts `dsp run J` and returns once its first batch line is printed, with
/// the lines so far and a reader for the rest.
pub fn start_until_first_batch(
    env: &Env,
) -> (Child, Vec<String>, BufReader<std::process::ChildStdout>) {
    start_until_batch(env, 1)
}

/// Starts `dsp run J` and returns once its `k`th batch line is printed.
// The running child is handed back; every caller kills or waits for it.
pub fn start_until_batch(
    env: &Env,
    k: usize,
) -> (Child, Vec<String>, BufReader<std::process::ChildStdout>) {
    start_until_batch_with(env, k, &[])
}

/// `start_until_batch` with environment variables for `dsp`.
#[allow(clippy::zombie_processes)]
pub fn start_until_batch_with(
    env: &Env,
    k: usize,
    vars: &[(&str, &str)],
) -> (Child, Vec<String>, BufReader<std::process::ChildStdout>) {
    let mut child = env.command(&["run", "J"], vars).spawn().expect("start dsp");
    let mut lines = Vec::new();
    let mut seen = 0;
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut l = String::new();
        if reader.read_line(&mut l).unwrap() == 0 {
            let _ = child.kill();
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            let status = child.wait();
            panic!(
                "dsp ended ({status:?}) before its batch {k}:\n{}\n{err}",
                lines.join("")
            );
        }
        if l.contains("Processing batch") {
            seen += 1;
        }
        lines.push(l);
        if seen == k {
            return (child, lines, reader);
        }
    }
}

/// Waits (at most 60 s) for a started `dsp` to end and collects all it printed.
pub fn finish(
    mut child: Child,
    lines: Vec<String>,
    mut reader: BufReader<std::process::ChildStdout>,
) -> Out {
    let start = Instant::now();
    let mut se = child.stderr.take().unwrap();
    let rest = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = reader.read_to_string(&mut out);
        let mut err = String::new();
        let _ = se.read_to_string(&mut err);
        (out, err)
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!(
                "dsp did not end within 60 s; it printed:\n{}",
                lines.join("")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = rest.join().unwrap();
    Out {
        code: status.code().unwrap_or(-1),
        stdout: lines.join("") + &out,
        stderr: err,
        elapsed: start.elapsed(),
    }
}
