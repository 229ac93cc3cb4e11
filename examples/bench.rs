//! DSP benchmark (SPEC §7): times `dsp run` against the plain command-line
//! pipe a DBA would write for the same move, on the same data, in the same run.
//!
//! ```text
//! cargo run --release --example bench -- --rows 1000000
//! cargo run --release --example bench -- --rows 10000 --runs 1      # quick (CI)
//! cargo run --release --example bench -- --paths pg-pg-full,pg-pg-incr
//! ```
//!
//! Needs local servers (PostgreSQL 127.0.0.1:5432 user postgres, trust;
//! MariaDB/MySQL 127.0.0.1:3306 root without password; override with
//! BENCH_PG_HOST/PORT/USER and BENCH_MY_HOST/PORT/USER) and the `psql`,
//! `mariadb` and `sqlite3` clients. It creates and drops its own databases
//! `dsp_bench_src` and `dsp_bench_dst` on both servers (another prefix than
//! `dsp_bench` with BENCH_DB) and a SQLite file in a temporary directory.
//! Data is generated server-side.
//!
//! DSP runs as a child process of the release binary (built first with
//! `cargo build --release --bin dsp` unless DSP_BIN names one), from a
//! generated workspace and data directory; its peak RSS and CPU time come from
//! wait4(2). Each path runs once untimed (warm-up), then `--runs` times with
//! the pipe and DSP alternating, the first of the pair switching every run so
//! that neither always runs on a warmer cache; medians are reported.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

type Res<T> = Result<T, String>;

const PATHS: [&str; 12] = [
    "pg-pg-full",
    "pg-pg-full-bin",
    "pg-pg-full-b100k",
    "pg-pg-resync",
    "pg-pg-resync-1pct",
    "mysql-pg",
    "mysql-pg-resync",
    "sqlite-pg",
    "sqlite-pg-resync",
    "pg-mysql",
    "pg-pg-incr",
    "pg-pg-incr-noindex",
];

const COLS: &str = "id, email, name, created_at, updated_at, score, active, profile";
const MEMORY_LIMIT_MB: f64 = 200.0;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

struct Opts {
    rows: u64,
    runs: usize,
    warmup: usize,
    paths: Vec<String>,
    pipe_only: bool,
    keep: bool,
    /// Also time `dsp verify` against the full sync (PG→PG, MySQL→PG).
    verify: bool,
}

fn usage() -> String {
    format!(
        "usage: bench [--rows N] [--runs K] [--warmup W] [--paths a,b,..] [--pipe-only] [--keep]\n\
         paths: {}\n\
         --rows N      rows in the users table (default 1000000)\n\
         --runs K      timed runs per command and path; medians are reported (default 3)\n\
         --warmup W    untimed runs per command before timing (default 1)\n\
         --pipe-only   time only the pipes (when dsp run is not available)\n\
         --keep        keep the benchmark databases afterwards (for profiling)\n\
         --verify      also time dsp verify of the synced table (identical, then 100 rows\n\
                       changed) against the full sync, for pg-pg-full and mysql-pg",
        PATHS.join(", ")
    )
}

fn parse_opts() -> Res<Opts> {
    let mut o = Opts {
        rows: 1_000_000,
        runs: 3,
        warmup: 1,
        paths: PATHS.iter().map(|s| s.to_string()).collect(),
        pipe_only: false,
        keep: false,
        verify: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--rows" => {
                let v = value("--rows")?.replace(['_', ','], "");
                o.rows = v.parse().map_err(|_| format!("--rows {v}: not a number"))?;
            }
            "--runs" => {
                let v = value("--runs")?;
                o.runs = v.parse().map_err(|_| format!("--runs {v}: not a number"))?;
            }
            "--warmup" => {
                let v = value("--warmup")?;
                o.warmup = v
                    .parse()
                    .map_err(|_| format!("--warmup {v}: not a number"))?;
            }
            "--paths" => {
                let v = value("--paths")?;
                o.paths = Vec::new();
                for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    if !PATHS.contains(&p) {
                        return Err(format!("unknown path {p}; one of {}", PATHS.join(", ")));
                    }
                    o.paths.push(p.to_string());
                }
            }
            "--pipe-only" => o.pipe_only = true,
            "--keep" => o.keep = true,
            "--verify" => o.verify = true,
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    if o.rows < 100 || o.runs == 0 {
        return Err("--rows must be at least 100 and --runs at least 1".into());
    }
    Ok(o)
}

// ---------------------------------------------------------------- clients

struct Servers {
    pg_host: String,
    pg_port: String,
    pg_user: String,
    my_host: String,
    my_port: String,
    my_user: String,
}

impl Servers {
    fn from_env() -> Self {
        Servers {
            pg_host: env_or("BENCH_PG_HOST", "127.0.0.1"),
            pg_port: env_or("BENCH_PG_PORT", "5432"),
            pg_user: env_or("BENCH_PG_USER", "postgres"),
            my_host: env_or("BENCH_MY_HOST", "127.0.0.1"),
            my_port: env_or("BENCH_MY_PORT", "3306"),
            my_user: env_or("BENCH_MY_USER", "root"),
        }
    }

    /// `psql` on `db`, quiet, unaligned, stopping at the first error; `extra`
    /// are more arguments (e.g. several `-c`).
    fn psql(&self, db: &str, extra: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = [
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            &self.pg_host,
            "-p",
            &self.pg_port,
            "-U",
            &self.pg_user,
            "-d",
            db,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }

    fn mariadb(&self, db: Option<&str>, extra: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = [
            "mariadb",
            "-h",
            &self.my_host,
            "-P",
            &self.my_port,
            "-u",
            &self.my_user,
            "--batch",
            "--skip-column-names",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        if let Some(db) = db {
            v.push(db.to_string());
        }
        v
    }

    /// Runs one SQL text on PostgreSQL and returns its output.
    fn pg(&self, db: &str, sql: &str) -> Res<String> {
        output(&self.psql(db, &["-c", sql]))
    }

    fn my(&self, db: Option<&str>, sql: &str) -> Res<String> {
        output(&self.mariadb(db, &["-e", sql]))
    }
}

fn command(argv: &[String]) -> Command {
    let mut c = Command::new(&argv[0]);
    // Naive timestamps (MySQL DATETIME, SQLite text) are UTC on both sides.
    c.args(&argv[1..]).env("PGTZ", "UTC");
    c
}

fn output(argv: &[String]) -> Res<String> {
    let out = command(argv)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", argv[0]))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            argv[0],
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn sqlite(file: &Path, sql: &str) -> Res<String> {
    output(&[
        "sqlite3".to_string(),
        file.display().to_string(),
        sql.to_string(),
    ])
}

fn read_log(p: &Path) -> String {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// `a | b`, timed; fails if either side fails.
fn pipeline(a: &[String], b: &[String], log: &Path) -> Res<f64> {
    let err = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err2 = err.try_clone().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut first = command(a)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", a[0]))?;
    let out = first.stdout.take().ok_or("no stdout")?;
    let mut second = command(b)
        .stdin(Stdio::from(out))
        .stdout(Stdio::null())
        .stderr(err2)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", b[0]))?;
    let s2 = second.wait().map_err(|e| e.to_string())?;
    let s1 = first.wait().map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    if !s1.success() || !s2.success() {
        return Err(format!(
            "pipe {} | {} failed:\n{}",
            a[0],
            b[0],
            read_log(log)
        ));
    }
    Ok(secs)
}

// ---------------------------------------------------------------- dsp child

struct DspRun {
    secs: f64,
    /// Peak resident set size of the child, MB.
    peak_mb: Option<f64>,
    cpu_secs: Option<f64>,
}

/// Waits for the child and reads its resource usage (wait4 on Linux).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn wait_usage(child: &mut std::process::Child) -> Res<(ExitStatus, Option<f64>, Option<f64>)> {
    use std::os::unix::process::ExitStatusExt;
    #[repr(C)]
    #[derive(Default)]
    struct Timeval {
        sec: i64,
        usec: i64,
    }
    // struct rusage on 64-bit Linux: two timevals, then 14 longs.
    #[repr(C)]
    #[derive(Default)]
    struct Rusage {
        utime: Timeval,
        stime: Timeval,
        maxrss: i64,
        rest: [i64; 13],
    }
    unsafe extern "C" {
        fn wait4(pid: i32, status: *mut i32, options: i32, usage: *mut Rusage) -> i32;
    }
    let mut status = 0i32;
    let mut ru = Rusage::default();
    let pid = child.id() as i32;
    loop {
        // SAFETY: `status` and `ru` are valid for writes and sized as the
        // kernel expects; `pid` is our own unreaped child.
        let r = unsafe { wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("wait4: {e}"));
        }
    }
    let _ = ru.rest;
    let cpu = ru.utime.sec as f64
        + ru.utime.usec as f64 / 1e6
        + ru.stime.sec as f64
        + ru.stime.usec as f64 / 1e6;
    Ok((
        ExitStatus::from_raw(status),
        Some(ru.maxrss as f64 / 1024.0),
        Some(cpu),
    ))
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn wait_usage(child: &mut std::process::Child) -> Res<(ExitStatus, Option<f64>, Option<f64>)> {
    Ok((child.wait().map_err(|e| e.to_string())?, None, None))
}

// ---------------------------------------------------------------- the bench

struct Bench {
    o: Opts,
    s: Servers,
    dir: PathBuf,
    lite: PathBuf,
    dsp: Option<PathBuf>,
}

/// The benchmark's databases, `dsp_bench_src` and `dsp_bench_dst` unless
/// BENCH_DB names another prefix (two benchmarks on one server at once).
fn src() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| format!("{}_src", env_or("BENCH_DB", "dsp_bench")))
}

fn dst() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| format!("{}_dst", env_or("BENCH_DB", "dsp_bench")))
}

fn pg_users_ddl(table: &str) -> String {
    format!(
        "CREATE TABLE {table} (id bigint PRIMARY KEY, email text, name text, created_at timestamptz, \
         updated_at timestamptz, score numeric(12,2), active boolean, profile jsonb)"
    )
}

fn my_users_ddl(table: &str) -> String {
    format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, email VARCHAR(255), name VARCHAR(255), \
         created_at DATETIME(6), updated_at DATETIME(6), score DECIMAL(12,2), active TINYINT(1), \
         profile JSON) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    )
}

impl Bench {
    fn needs(&self, engine: &str) -> bool {
        self.o.paths.iter().any(|p| p.contains(engine))
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    fn setup(&self) -> Res<()> {
        let n = self.o.rows;
        let t = Instant::now();
        for db in [src(), dst()] {
            self.s.pg(
                "postgres",
                &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            )?;
            self.s.pg("postgres", &format!("CREATE DATABASE {db}"))?;
        }
        self.s.pg(src(), &pg_users_ddl("users"))?;
        self.s.pg(
            src(),
            &format!(
                "INSERT INTO users SELECT i, 'user' || i || '@example.com', 'User ' || i, \
                 timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second', \
                 timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' + (i % 997) * interval '1 microsecond', \
                 (i % 1000000) / 100.0, i % 3 <> 0, \
                 jsonb_build_object('age', i % 90, 'city', 'City ' || (i % 500), 'tags', jsonb_build_array('a', 'b')) \
                 FROM generate_series(1, {n}) AS i"
            ),
        )?;
        self.s.pg(
            src(),
            "CREATE INDEX users_updated_at_idx ON users (updated_at)",
        )?;
        self.s.pg(src(), "VACUUM (FREEZE, ANALYZE) users")?;
        if self.needs("noindex") {
            // The same rows, without the cursor index.
            self.s.pg(src(), &pg_users_ddl("users_noidx"))?;
            self.s
                .pg(src(), "INSERT INTO users_noidx SELECT * FROM users")?;
            self.s.pg(src(), "VACUUM (FREEZE, ANALYZE) users_noidx")?;
        }
        for t in [
            "users_pipe",
            "users_dsp",
            "users_resync",
            "users_resync1",
            "users_my_resync",
            "users_lite_resync",
            "users_inc_pipe",
            "users_inc_dsp",
            "users_incx_pipe",
            "users_incx_dsp",
        ] {
            self.s.pg(dst(), &pg_users_ddl(t))?;
        }
        if self.needs("mysql") {
            for db in [src(), dst()] {
                self.s.my(None, &format!("DROP DATABASE IF EXISTS {db}"))?;
                self.s.my(None, &format!("CREATE DATABASE {db}"))?;
            }
            self.s.my(Some(src()), &my_users_ddl("users"))?;
            self.s.my(
                Some(src()),
                &format!(
                    "INSERT INTO users SELECT seq, concat('user', seq, '@example.com'), concat('User ', seq), \
                     timestamp('2024-01-01') + interval seq second, \
                     timestamp('2024-01-01') + interval seq second + interval (seq % 997) microsecond, \
                     (seq % 1000000) / 100, seq % 3 <> 0, \
                     json_object('age', seq % 90, 'city', concat('City ', seq % 500), 'tags', json_array('a', 'b')) \
                     FROM seq_1_to_{n}"
                ),
            )?;
            self.s.my(Some(src()), "ANALYZE TABLE users")?;
            for t in ["users_pipe", "users_dsp"] {
                self.s.my(Some(dst()), &my_users_ddl(t))?;
            }
        }
        if self.needs("sqlite") {
            let _ = std::fs::remove_file(&self.lite);
            sqlite(
                &self.lite,
                &format!(
                    "PRAGMA journal_mode = WAL; \
                     CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT, created_at TEXT, \
                     updated_at TEXT, score NUMERIC(12,2), active BOOLEAN, profile JSON); \
                     WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) \
                     INSERT INTO users SELECT i, 'user' || i || '@example.com', 'User ' || i, \
                     datetime('2024-01-01', '+' || i || ' seconds'), \
                     printf('%s.%06d', datetime('2024-01-01', '+' || i || ' seconds'), i % 997), \
                     (i % 1000000) / 100.0, i % 3 <> 0, \
                     json_object('age', i % 90, 'city', 'City ' || (i % 500), 'tags', json_array('a', 'b')) FROM s;"
                ),
            )?;
        }
        eprintln!(
            "bench: generated {n} rows per engine in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        self.write_workspace()
    }

    fn teardown(&self) {
        for db in [src(), dst()] {
            let _ = self.s.pg(
                "postgres",
                &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            );
            if self.needs("mysql") {
                let _ = self.s.my(None, &format!("DROP DATABASE IF EXISTS {db}"));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn write_workspace(&self) -> Res<()> {
        let s = &self.s;
        let mut w = String::new();
        let net = |w: &mut String,
                   name: &str,
                   kind: &str,
                   host: &str,
                   port: &str,
                   user: &str,
                   db: &str| {
            w.push_str(&format!(
                "[[network]]\nname = \"{name}\"\ntype = \"{kind}\"\nhost = \"{host}\"\nport = {port}\n\
                 database = \"{db}\"\nusername = \"{user}\"\nssl_mode = \"disable\"\n\n"
            ));
        };
        net(
            &mut w,
            "pg_src",
            "postgresql",
            &s.pg_host,
            &s.pg_port,
            &s.pg_user,
            src(),
        );
        net(
            &mut w,
            "pg_dst",
            "postgresql",
            &s.pg_host,
            &s.pg_port,
            &s.pg_user,
            dst(),
        );
        net(
            &mut w,
            "my_src",
            "mysql",
            &s.my_host,
            &s.my_port,
            &s.my_user,
            src(),
        );
        net(
            &mut w,
            "my_dst",
            "mysql",
            &s.my_host,
            &s.my_port,
            &s.my_user,
            dst(),
        );
        w.push_str(&format!(
            "[[network]]\nname = \"lite_src\"\ntype = \"sqlite\"\ndatabase = \"{}\"\n\n",
            self.lite.display()
        ));
        let cols = "columns = [\n  { source = \"id\", target = \"id\", type = \"integer\" },\n  \
             { source = \"email\", target = \"email\", type = \"string\" },\n  \
             { source = \"name\", target = \"name\", type = \"string\" },\n  \
             { source = \"created_at\", target = \"created_at\", type = \"timestamp\" },\n  \
             { source = \"updated_at\", target = \"updated_at\", type = \"timestamp\" },\n  \
             { source = \"score\", target = \"score\", type = \"decimal\" },\n  \
             { source = \"active\", target = \"active\", type = \"boolean\" },\n  \
             { source = \"profile\", target = \"profile\", type = \"json\" },\n]\n\n";
        for (source, target) in [
            ("users", "users_dsp"),
            ("users", "users_resync"),
            ("users", "users_resync1"),
            ("users", "users_my_resync"),
            ("users", "users_lite_resync"),
            ("users", "users_inc_dsp"),
            ("users_noidx", "users_incx_dsp"),
        ] {
            w.push_str(&format!(
                "[[schema]]\nname = \"to_{target}\"\nsource_table = \"{source}\"\ntarget_table = \"{target}\"\n\
                 primary_key = \"id\"\ncursor_column = \"updated_at\"\n{cols}"
            ));
        }
        let jobs: [(&str, &str, &str, &str, &str, u64); 12] = [
            (
                "pg-pg-full-bin",
                "pg_src",
                "pg_dst",
                "to_users_dsp",
                "full",
                1000,
            ),
            (
                "mysql-pg-resync",
                "my_src",
                "pg_dst",
                "to_users_my_resync",
                "full",
                1000,
            ),
            (
                "sqlite-pg-resync",
                "lite_src",
                "pg_dst",
                "to_users_lite_resync",
                "full",
                1000,
            ),
            (
                "pg-pg-resync-1pct",
                "pg_src",
                "pg_dst",
                "to_users_resync1",
                "full",
                1000,
            ),
            (
                "pg-pg-full",
                "pg_src",
                "pg_dst",
                "to_users_dsp",
                "full",
                1000,
            ),
            (
                "pg-pg-full-b100k",
                "pg_src",
                "pg_dst",
                "to_users_dsp",
                "full",
                100_000,
            ),
            (
                "pg-pg-resync",
                "pg_src",
                "pg_dst",
                "to_users_resync",
                "full",
                1000,
            ),
            ("mysql-pg", "my_src", "pg_dst", "to_users_dsp", "full", 1000),
            (
                "sqlite-pg",
                "lite_src",
                "pg_dst",
                "to_users_dsp",
                "full",
                1000,
            ),
            ("pg-mysql", "pg_src", "my_dst", "to_users_dsp", "full", 1000),
            (
                "pg-pg-incr",
                "pg_src",
                "pg_dst",
                "to_users_inc_dsp",
                "incremental",
                1000,
            ),
            (
                "pg-pg-incr-noindex",
                "pg_src",
                "pg_dst",
                "to_users_incx_dsp",
                "incremental",
                1000,
            ),
        ];
        for (name, src, dst, schema, mode, batch) in jobs {
            w.push_str(&format!(
                "[[job]]\nname = \"{name}\"\nsource = \"{src}\"\ntarget = \"{dst}\"\nschema = \"{schema}\"\n\
                 mode = \"{mode}\"\nbatch_size = {batch}\n\n"
            ));
        }
        std::fs::write(self.dir.join("workspace.toml"), w).map_err(|e| e.to_string())
    }

    fn run_dsp(&self, job: &str) -> Res<DspRun> {
        let dsp = self.dsp.as_ref().ok_or("no dsp binary")?;
        let log = self.log(&format!("dsp-{job}"));
        let out = File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let start = Instant::now();
        let mut child = Command::new(dsp)
            .arg("--workspace")
            .arg(self.dir.join("workspace.toml"))
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .arg("run")
            .arg(job)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", dsp.display()))?;
        let (status, peak_mb, cpu_secs) = wait_usage(&mut child)?;
        let secs = start.elapsed().as_secs_f64();
        if !status.success() {
            return Err(format!(
                "dsp run {job} failed ({status}):\n{}",
                read_log(&log)
            ));
        }
        Ok(DspRun {
            secs,
            peak_mb,
            cpu_secs,
        })
    }

    fn pg_count(&self, db: &str, table: &str) -> Res<u64> {
        self.s
            .pg(db, &format!("SELECT count(*) FROM {table}"))?
            .parse()
            .map_err(|e| format!("count of {table}: {e}"))
    }

    fn my_count(&self, table: &str) -> Res<u64> {
        self.s
            .my(Some(dst()), &format!("SELECT count(*) FROM {table}"))?
            .parse()
            .map_err(|e| format!("count of {table}: {e}"))
    }

    fn expect(&self, what: &str, got: u64, want: u64) -> Res<()> {
        if got != want {
            return Err(format!("{what}: {got} rows, expected {want}"));
        }
        Ok(())
    }

    /// Rows that differ between the pipe's and DSP's copies (PostgreSQL target).
    fn pg_diff(&self, a: &str, b: &str) -> Res<u64> {
        let cols: Vec<String> = COLS
            .split(", ")
            .skip(1)
            .map(|c| format!("a.{c} IS DISTINCT FROM b.{c}"))
            .collect();
        self.s
            .pg(
                dst(),
                &format!(
                    "SELECT count(*) FROM {a} a FULL JOIN {b} b USING (id) WHERE a.id IS NULL OR b.id IS NULL OR {}",
                    cols.join(" OR ")
                ),
            )?
            .parse()
            .map_err(|e| format!("diff: {e}"))
    }

    fn my_diff(&self, a: &str, b: &str) -> Res<u64> {
        let cols: Vec<String> = COLS
            .split(", ")
            .skip(1)
            .map(|c| format!("NOT (a.{c} <=> b.{c})"))
            .collect();
        let missing: u64 = self
            .s
            .my(
                Some(dst()),
                &format!(
                    "SELECT count(*) FROM {a} a LEFT JOIN {b} b ON b.id = a.id WHERE b.id IS NULL OR {}",
                    cols.join(" OR ")
                ),
            )?
            .parse()
            .map_err(|e| format!("diff: {e}"))?;
        let extra = self.my_count(b)?.saturating_sub(self.my_count(a)?);
        Ok(missing + extra)
    }
}

/// Builds the pipe's two command lines (argv of each side).
type PipeFn<'a> = Box<dyn Fn() -> Res<(Vec<String>, Vec<String>)> + 'a>;

/// How one path is measured.
struct Case<'a> {
    name: &'a str,
    /// Rows each run moves.
    rows: u64,
    /// The issue's limit on DSP time / pipe time.
    limit: f64,
    /// Before each pair of runs (not timed), with the run's number.
    each_pair: Box<dyn Fn(usize) -> Res<()> + 'a>,
    before_pipe: Box<dyn Fn() -> Res<()> + 'a>,
    /// The pipe's two commands, built after `before_pipe`.
    pipe: PipeFn<'a>,
    after_pipe: Box<dyn Fn() -> Res<()> + 'a>,
    before_dsp: Box<dyn Fn() -> Res<()> + 'a>,
    /// Checks DSP's result; may return a note for the report.
    after_dsp: Box<dyn Fn() -> Res<Option<String>> + 'a>,
    /// After all runs: rows where DSP's target differs from the pipe's.
    diff: Box<dyn Fn() -> Res<u64> + 'a>,
}

struct Outcome {
    name: String,
    rows: u64,
    limit: f64,
    pipe: Vec<f64>,
    dsp: Vec<f64>,
    peak_mb: Vec<f64>,
    cpu: Vec<f64>,
    notes: Vec<String>,
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}

fn max(v: &[f64]) -> Option<f64> {
    v.iter().copied().reduce(f64::max)
}

fn measure(b: &Bench, c: &Case) -> Res<Outcome> {
    let mut out = Outcome {
        name: c.name.to_string(),
        rows: c.rows,
        limit: c.limit,
        pipe: Vec::new(),
        dsp: Vec::new(),
        peak_mb: Vec::new(),
        cpu: Vec::new(),
        notes: Vec::new(),
    };
    let with_dsp = !b.o.pipe_only;
    for i in 0..b.o.warmup + b.o.runs {
        let timed = i >= b.o.warmup;
        (c.each_pair)(i)?;
        let dsp_first = i % 2 == 1;
        for step in 0..2 {
            if (step == 0) != dsp_first {
                (c.before_pipe)()?;
                let (x, y) = (c.pipe)()?;
                let secs = pipeline(&x, &y, &b.log(&format!("pipe-{}", c.name)))?;
                (c.after_pipe)()?;
                if timed {
                    out.pipe.push(secs);
                }
            } else if with_dsp {
                (c.before_dsp)()?;
                let r = b.run_dsp(c.name)?;
                let note = (c.after_dsp)()?;
                if timed {
                    out.dsp.push(r.secs);
                    out.peak_mb.extend(r.peak_mb);
                    out.cpu.extend(r.cpu_secs);
                    if let Some(n) = note
                        && !out.notes.contains(&n)
                    {
                        out.notes.push(n);
                    }
                }
            }
        }
        eprintln!(
            "bench: {} run {}/{}{}: pipe {} dsp {}",
            c.name,
            i + 1,
            b.o.warmup + b.o.runs,
            if timed { "" } else { " (warm-up)" },
            fmt_opt(out.pipe.last().filter(|_| timed).copied(), "s"),
            fmt_opt(out.dsp.last().filter(|_| timed && with_dsp).copied(), "s"),
        );
    }
    if with_dsp {
        let d = (c.diff)()?;
        if d != 0 {
            return Err(format!(
                "{}: DSP's target differs from the pipe's in {d} rows",
                c.name
            ));
        }
        out.notes.push("DSP target == pipe target".into());
    }
    Ok(out)
}

fn fmt_opt(v: Option<f64>, unit: &str) -> String {
    v.map(|v| format!("{v:.2}{unit}"))
        .unwrap_or_else(|| "-".into())
}

fn thousands(n: f64) -> String {
    let s = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A re-sync path: DSP's target keeps the previous run's rows, so every
/// timed run is a re-sync of an identical table, checked to write nothing.
/// The source's change before pair `i` of `pg-pg-resync-1pct`: 1% of the
/// rows updated, the keys `≡ d (mod 1000)` deleted (0.1%), and those the
/// pair before deleted inserted again with new values (pair 0: as many new
/// keys past `n`).
fn churn_1pct(n: u64, i: usize) -> String {
    let d = |i: usize| 1 + (i * 7) % 999;
    let values = "'again' || g || '@example.com', 'User ' || g || ' again', \
                  timestamptz '2024-06-01 00:00:00+00' + g * interval '1 second', \
                  timestamptz '2024-06-01 00:00:00+00' + g * interval '1 second', \
                  (g % 1000) / 10.0, g % 2 = 0, jsonb_build_object('again', g)";
    let insert = match i {
        0 => format!(
            "INSERT INTO users SELECT g, {values} FROM generate_series({}, {n} + \
             (SELECT count(*) FROM users WHERE id <= {n} AND id % 1000 = {})) AS g",
            n + 1,
            d(0)
        ),
        _ => format!(
            "INSERT INTO users SELECT g, {values} FROM generate_series({}, {n}, 1000) AS g",
            d(i - 1)
        ),
    };
    // Pair 0 counts the rows it is about to delete before deleting them.
    format!(
        "UPDATE users SET score = score + 1 WHERE id % 100 = {}; {insert}; \
         DELETE FROM users WHERE id <= {n} AND id % 1000 = {}",
        (i + 37) % 100,
        d(i)
    )
}

fn resync<'a>(b: &'a Bench, name: &'a str, table: &'static str, pipe: PipeFn<'a>) -> Case<'a> {
    let (n, s) = (b.o.rows, &b.s);
    let xid = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let (x1, x2) = (xid.clone(), xid.clone());
    Case {
        name,
        rows: n,
        limit: if name == "pg-pg-resync" { 0.3 } else { 0.5 },
        each_pair: Box::new(move |i| {
            if i == 0 && !b.o.pipe_only {
                s.pg(dst(), &format!("TRUNCATE {table}"))?;
                b.run_dsp(name)?;
            }
            Ok(())
        }),
        before_pipe: Box::new(move || s.pg(dst(), "TRUNCATE users_pipe").map(|_| ())),
        pipe,
        after_pipe: Box::new(move || {
            b.expect("PostgreSQL users_pipe", b.pg_count(dst(), "users_pipe")?, n)
        }),
        before_dsp: Box::new(move || {
            let x: u64 = s
                .pg(dst(), "SELECT txid_current() % 4294967296")?
                .parse()
                .map_err(|e| format!("txid: {e}"))?;
            x1.set(x);
            Ok(())
        }),
        after_dsp: Box::new(move || {
            b.expect(&format!("PostgreSQL {table}"), b.pg_count(dst(), table)?, n)?;
            // Rows inserted or updated since carry a newer xmin (no
            // wraparound within a benchmark run).
            let written: u64 = s
                .pg(
                    dst(),
                    &format!(
                        "SELECT count(*) FROM {table} WHERE xmin::text::bigint > {}",
                        x2.get()
                    ),
                )?
                .parse()
                .map_err(|e| format!("xmin: {e}"))?;
            if written > 0 {
                return Err(format!("{name}: DSP rewrote {written} unchanged rows"));
            }
            Ok(Some("re-sync wrote 0 rows (xmin check)".into()))
        }),
        diff: Box::new(move || b.pg_diff("users_pipe", table)),
    }
}

/// An incremental path: 1% of `source`'s rows change before each pair; the
/// hand-written incremental reads past the watermark it finds in its target,
/// stages and upserts in one transaction, into `pipe_t`; DSP into `dsp_t`.
fn incremental<'a>(
    b: &'a Bench,
    name: &'a str,
    source: &'static str,
    (pipe_t, dsp_t): (&'static str, &'static str),
) -> Case<'a> {
    let (n, s) = (b.o.rows, &b.s);
    let changed = n / 100;
    let wm = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    let (w1, w2) = (wm.clone(), wm.clone());
    let sets: Vec<String> = COLS
        .split(", ")
        .skip(1)
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect();
    let upsert = format!(
        "INSERT INTO {pipe_t} ({COLS}) SELECT {COLS} FROM stage \
         ON CONFLICT (id) DO UPDATE SET {}",
        sets.join(", ")
    );
    let count = move |t: &'static str| {
        move || b.expect(&format!("PostgreSQL {t}"), b.pg_count(dst(), t)?, n)
    };
    Case {
        name,
        rows: changed,
        limit: 1.5,
        each_pair: Box::new(move |i| {
            if i == 0 {
                // The starting point: both targets hold the whole table
                // (DSP's first incremental run loads everything).
                s.pg(dst(), &format!("TRUNCATE {pipe_t}, {dsp_t}"))?;
                pipeline(
                    &s.psql(src(), &["-c", &format!("\\copy {source} to pstdout")]),
                    &s.psql(
                        dst(),
                        &["-c", &format!("\\copy {pipe_t} ({COLS}) from pstdin")],
                    ),
                    &b.log("pipe-initial"),
                )?;
                if !b.o.pipe_only {
                    b.run_dsp(name)?;
                }
            }
            s.pg(
                src(),
                &format!(
                    "UPDATE {source} SET updated_at = clock_timestamp(), score = score + 1 \
                     WHERE id % 100 = {}",
                    i % 100
                ),
            )
            .map(|_| ())
        }),
        before_pipe: Box::new(move || {
            *w1.borrow_mut() = s.pg(dst(), &format!("SELECT max(updated_at) FROM {pipe_t}"))?;
            Ok(())
        }),
        pipe: Box::new(move || {
            let wm = w2.borrow().clone();
            Ok((
                s.psql(
                    src(),
                    &[
                        "-c",
                        &format!(
                            "\\copy (SELECT {COLS} FROM {source} WHERE updated_at > '{wm}') to pstdout"
                        ),
                    ],
                ),
                s.psql(
                    dst(),
                    &[
                        "-1",
                        "-c",
                        &format!("CREATE TEMP TABLE stage (LIKE {pipe_t}) ON COMMIT DROP"),
                        "-c",
                        &format!("\\copy stage ({COLS}) from pstdin"),
                        "-c",
                        &upsert,
                    ],
                ),
            ))
        }),
        after_pipe: Box::new(count(pipe_t)),
        before_dsp: Box::new(|| Ok(())),
        after_dsp: Box::new(move || count(dsp_t)().map(|_| None)),
        diff: Box::new(move || b.pg_diff(pipe_t, dsp_t)),
    }
}

fn cases(b: &Bench) -> Vec<Case<'_>> {
    let n = b.o.rows;
    let s = &b.s;
    let ok = || -> Res<()> { Ok(()) };
    let noop = move |_: usize| -> Res<()> { Ok(()) };
    let truncate_pg =
        move |t: &'static str| move || s.pg(dst(), &format!("TRUNCATE {t}")).map(|_| ());
    let count_pg = move |t: &'static str, want: u64| {
        move || -> Res<()> { b.expect(&format!("PostgreSQL {t}"), b.pg_count(dst(), t)?, want) }
    };
    let copy_out_pg = move || s.psql(src(), &["-c", "\\copy users to pstdout"]);
    let copy_in_pg = move |t: &str, csv: bool| {
        let with = if csv { " with (format csv)" } else { "" };
        s.psql(
            dst(),
            &["-c", &format!("\\copy {t} ({COLS}) from pstdin{with}")],
        )
    };
    let mysql_out = move || {
        s.mariadb(
            Some(src()),
            &["--quick", "-e", &format!("SELECT {COLS} FROM users")],
        )
    };
    let sqlite_out = move || {
        vec![
            "sqlite3".into(),
            "-csv".into(),
            b.lite.display().to_string(),
            format!("SELECT {COLS} FROM users"),
        ]
    };
    let mut v = Vec::new();
    for name in &b.o.paths {
        let case = match name.as_str() {
            "pg-pg-full" | "pg-pg-full-b100k" => Case {
                name,
                rows: n,
                limit: 1.25,
                each_pair: Box::new(noop),
                before_pipe: Box::new(truncate_pg("users_pipe")),
                pipe: Box::new(move || Ok((copy_out_pg(), copy_in_pg("users_pipe", false)))),
                after_pipe: Box::new(count_pg("users_pipe", n)),
                before_dsp: Box::new(truncate_pg("users_dsp")),
                after_dsp: Box::new(move || count_pg("users_dsp", n)().map(|_| None)),
                diff: Box::new(move || b.pg_diff("users_pipe", "users_dsp")),
            },
            // Issue 15: a first copy at most the binary COPY pipe's time.
            "pg-pg-full-bin" => {
                Case {
                    name,
                    rows: n,
                    limit: 1.0,
                    each_pair: Box::new(noop),
                    before_pipe: Box::new(truncate_pg("users_pipe")),
                    pipe: Box::new(move || {
                        Ok((
                        s.psql(src(), &["-c", "\\copy users to pstdout with (format binary)"]),
                        s.psql(
                            dst(),
                            &[
                                "-c",
                                &format!("\\copy users_pipe ({COLS}) from pstdin with (format binary)"),
                            ],
                        ),
                    ))
                    }),
                    after_pipe: Box::new(count_pg("users_pipe", n)),
                    before_dsp: Box::new(truncate_pg("users_dsp")),
                    after_dsp: Box::new(move || count_pg("users_dsp", n)().map(|_| None)),
                    diff: Box::new(move || b.pg_diff("users_pipe", "users_dsp")),
                }
            }
            "pg-pg-resync" => resync(
                b,
                name,
                "users_resync",
                Box::new(move || Ok((copy_out_pg(), copy_in_pg("users_pipe", false)))),
            ),
            "mysql-pg-resync" => resync(
                b,
                name,
                "users_my_resync",
                Box::new(move || Ok((mysql_out(), copy_in_pg("users_pipe", false)))),
            ),
            "sqlite-pg-resync" => resync(
                b,
                name,
                "users_lite_resync",
                Box::new(move || Ok((sqlite_out(), copy_in_pg("users_pipe", true)))),
            ),
            "pg-pg-resync-1pct" => {
                // Before each pair, scattered over the source: 1% of the rows
                // change, 0.1% are deleted, and the 0.1% deleted the pair
                // before come back with new values (the first pair adds new
                // keys instead), so the table keeps its n rows. DSP's target
                // holds the previous run's rows; the pipe copies the whole
                // table as always.
                Case {
                    name,
                    rows: n,
                    limit: 0.5,
                    each_pair: Box::new(move |i| {
                        if i == 0 && !b.o.pipe_only {
                            s.pg(dst(), "TRUNCATE users_resync1")?;
                            b.run_dsp(name)?;
                        }
                        s.pg(src(), &churn_1pct(n, i)).map(|_| ())
                    }),
                    before_pipe: Box::new(truncate_pg("users_pipe")),
                    pipe: Box::new(move || Ok((copy_out_pg(), copy_in_pg("users_pipe", false)))),
                    after_pipe: Box::new(count_pg("users_pipe", n)),
                    before_dsp: Box::new(ok),
                    after_dsp: Box::new(move || {
                        count_pg("users_resync1", n)()?;
                        // The full outer join against the pipe's copy is
                        // `diff`; DSP's own verify must agree.
                        let (_, v) = b.run_verify(name)?;
                        match v["outcome"] == "identical" {
                            true => Ok(None),
                            false => Err(format!("verify {name} after its run: {v}")),
                        }
                    }),
                    diff: Box::new(move || b.pg_diff("users_pipe", "users_resync1")),
                }
            }
            "mysql-pg" => Case {
                name,
                rows: n,
                limit: 1.25,
                each_pair: Box::new(noop),
                before_pipe: Box::new(truncate_pg("users_pipe")),
                pipe: Box::new(move || Ok((mysql_out(), copy_in_pg("users_pipe", false)))),
                after_pipe: Box::new(count_pg("users_pipe", n)),
                before_dsp: Box::new(truncate_pg("users_dsp")),
                after_dsp: Box::new(move || count_pg("users_dsp", n)().map(|_| None)),
                diff: Box::new(move || b.pg_diff("users_pipe", "users_dsp")),
            },
            "sqlite-pg" => Case {
                name,
                rows: n,
                limit: 1.25,
                each_pair: Box::new(noop),
                before_pipe: Box::new(truncate_pg("users_pipe")),
                pipe: Box::new(move || Ok((sqlite_out(), copy_in_pg("users_pipe", true)))),
                after_pipe: Box::new(count_pg("users_pipe", n)),
                before_dsp: Box::new(truncate_pg("users_dsp")),
                after_dsp: Box::new(move || count_pg("users_dsp", n)().map(|_| None)),
                diff: Box::new(move || b.pg_diff("users_pipe", "users_dsp")),
            },
            "pg-mysql" => Case {
                name,
                rows: n,
                limit: 1.5,
                each_pair: Box::new(noop),
                before_pipe: Box::new(move || s.my(Some(dst()), "TRUNCATE users_pipe").map(|_| ())),
                pipe: Box::new(move || {
                    // DATETIME takes naive UTC text and TINYINT takes 0/1; COPY's
                    // text escaping is LOAD DATA's default.
                    Ok((
                        s.psql(
                            src(),
                            &[
                                "-c",
                                "\\copy (SELECT id, email, name, created_at AT TIME ZONE 'UTC', \
                                 updated_at AT TIME ZONE 'UTC', score, active::int, profile FROM users) to pstdout",
                            ],
                        ),
                        s.mariadb(
                            Some(dst()),
                            &[
                                "--local-infile=1",
                                "-e",
                                &format!(
                                    "LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE users_pipe \
                                     CHARACTER SET utf8mb4 ({COLS})"
                                ),
                            ],
                        ),
                    ))
                }),
                after_pipe: Box::new(move || {
                    b.expect("MySQL users_pipe", b.my_count("users_pipe")?, n)
                }),
                before_dsp: Box::new(move || s.my(Some(dst()), "TRUNCATE users_dsp").map(|_| ())),
                after_dsp: Box::new(move || {
                    b.expect("MySQL users_dsp", b.my_count("users_dsp")?, n)?;
                    Ok(None)
                }),
                diff: Box::new(move || b.my_diff("users_pipe", "users_dsp")),
            },
            "pg-pg-incr" => incremental(b, name, "users", ("users_inc_pipe", "users_inc_dsp")),
            "pg-pg-incr-noindex" => incremental(
                b,
                name,
                "users_noidx",
                ("users_incx_pipe", "users_incx_dsp"),
            ),
            _ => continue,
        };
        v.push(case);
    }
    v
}

fn print_table(b: &Bench, outcomes: &[Outcome]) {
    let header = [
        "path",
        "rows",
        "pipe s",
        "pipe rows/s",
        "dsp s",
        "dsp rows/s",
        "dsp/pipe",
        "limit",
        "dsp peak MB",
        "dsp cpu s",
        "verdict",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for o in outcomes {
        let p = median(&o.pipe);
        let d = median(&o.dsp);
        let peak = max(&o.peak_mb);
        let ratio = match (p, d) {
            (Some(p), Some(d)) if p > 0.0 => Some(d / p),
            _ => None,
        };
        let verdict = match (ratio, peak) {
            (Some(r), Some(m)) if r <= o.limit && m < MEMORY_LIMIT_MB => "ok".to_string(),
            (Some(r), Some(m)) => {
                let mut why = Vec::new();
                if r > o.limit {
                    why.push("slow");
                }
                if m >= MEMORY_LIMIT_MB {
                    why.push("memory");
                }
                format!("MISS ({})", why.join(", "))
            }
            (Some(r), None) if r <= o.limit => "ok".to_string(),
            (Some(_), None) => "MISS (slow)".to_string(),
            _ => "-".to_string(),
        };
        let rate = |t: Option<f64>| {
            t.filter(|t| *t > 0.0)
                .map(|t| thousands(o.rows as f64 / t))
                .unwrap_or_else(|| "-".into())
        };
        rows.push(vec![
            o.name.clone(),
            thousands(o.rows as f64),
            fmt_opt(p, ""),
            rate(p),
            fmt_opt(d, ""),
            rate(d),
            ratio
                .map(|r| format!("{r:.2}x"))
                .unwrap_or_else(|| "-".into()),
            format!("{:.2}x", o.limit),
            peak.map(|m| format!("{m:.1}"))
                .unwrap_or_else(|| "-".into()),
            fmt_opt(median(&o.cpu), ""),
            verdict,
        ]);
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 || i == cells.len() - 1 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    println!(
        "\nDSP benchmark: {} rows, median of {} run(s) after {} warm-up, pipe and dsp alternating",
        thousands(b.o.rows as f64),
        b.o.runs,
        b.o.warmup
    );
    line(header.iter().map(|s| s.to_string()).collect());
    line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for r in rows {
        line(r);
    }
    println!();
    for o in outcomes {
        for n in &o.notes {
            println!("  {}: {n}", o.name);
        }
        if o.pipe.len() > 1 || o.dsp.len() > 1 {
            let all = |v: &[f64]| {
                v.iter()
                    .map(|x| format!("{x:.2}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            println!(
                "  {}: runs pipe [{}] dsp [{}]",
                o.name,
                all(&o.pipe),
                all(&o.dsp)
            );
        }
    }
    let full = outcomes
        .iter()
        .find(|o| o.name == "pg-pg-full")
        .and_then(|o| median(&o.dsp));
    // Issue 15's limits: < 5% of the full sync with a cursor index in the
    // source, < 10% without one.
    for (path, limit, what) in [
        ("pg-pg-incr", 5.0, "with a cursor index"),
        ("pg-pg-incr-noindex", 10.0, "without a cursor index"),
    ] {
        let incr = outcomes
            .iter()
            .find(|o| o.name == path)
            .and_then(|o| median(&o.dsp));
        if let (Some(f), Some(i)) = (full, incr) {
            let pct = i * 100.0 / f;
            println!(
                "  {path}: DSP incremental (1% changed, {what}) takes {pct:.1}% of DSP's full sync \
                 (limit < {limit}%): {}",
                if pct < limit { "ok" } else { "MISS" }
            );
        }
    }
}

// ---------------------------------------------------------------- verify

/// `dsp verify` of one job's synced table against its full sync.
struct VerifyOutcome {
    job: &'static str,
    rows: u64,
    sync: Vec<f64>,
    identical: Vec<f64>,
    identical_fetched: u64,
    changed: Vec<f64>,
    changed_fetched: u64,
    found: u64,
}

impl Bench {
    /// Runs `dsp verify --json job`: its time and its JSON object.
    fn run_verify(&self, job: &str) -> Res<(f64, serde_json::Value)> {
        let dsp = self.dsp.as_ref().ok_or("no dsp binary")?;
        let start = Instant::now();
        let out = Command::new(dsp)
            .arg("--workspace")
            .arg(self.dir.join("workspace.toml"))
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .args(["verify", "--json", job])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot start {}: {e}", dsp.display()))?;
        let secs = start.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(text.trim()).map_err(|e| {
            format!(
                "dsp verify {job}: not one JSON object ({e}): {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        Ok((secs, v))
    }
}

/// Full sync into the emptied target, then verify of the identical tables;
/// then 100 scattered target rows changed, verified, and synced back.
fn verify_bench(b: &Bench, job: &'static str) -> Res<VerifyOutcome> {
    let n = b.o.rows;
    let mut o = VerifyOutcome {
        job,
        rows: n,
        sync: Vec::new(),
        identical: Vec::new(),
        identical_fetched: 0,
        changed: Vec::new(),
        changed_fetched: 0,
        found: 0,
    };
    let num = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or(u64::MAX);
    let step = (n / 100).max(1);
    for i in 0..b.o.warmup + b.o.runs {
        let timed = i >= b.o.warmup;
        b.s.pg(dst(), "TRUNCATE users_dsp")?;
        let sync = b.run_dsp(job)?.secs;
        let (identical, v) = b.run_verify(job)?;
        if v["outcome"] != "identical" {
            return Err(format!("verify {job} after a full sync: {v}"));
        }
        b.s.pg(
            dst(),
            &format!(
                "UPDATE users_dsp SET name = name || '!' WHERE id % {step} = 0 AND id <= {}",
                step * 100
            ),
        )?;
        let (changed, w) = b.run_verify(job)?;
        if timed {
            o.sync.push(sync);
            o.identical.push(identical);
            o.identical_fetched = o.identical_fetched.max(num(&v, "rows_fetched"));
            o.changed.push(changed);
            o.changed_fetched = o.changed_fetched.max(num(&w, "rows_fetched"));
            o.found = num(&w, "differing");
        }
        eprintln!(
            "bench: verify {job} run {}/{}: sync {sync:.2}s, verify identical {identical:.2}s, \
             with 100 changed {changed:.2}s ({} differing)",
            i + 1,
            b.o.warmup + b.o.runs,
            num(&w, "differing")
        );
    }
    Ok(o)
}

fn print_verify_table(b: &Bench, outcomes: &[VerifyOutcome]) {
    if outcomes.is_empty() {
        return;
    }
    println!();
    println!(
        "dsp verify vs dsp run (full sync into an empty target), {} rows, median of {} run(s)",
        thousands(b.o.rows as f64),
        b.o.runs
    );
    println!(
        "| path | full sync | verify identical | ratio (≤ 0.5) | rows fetched (< 1%) | verify, 100 rows changed | ratio (< 2) | rows fetched | found |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for o in outcomes {
        let (Some(sync), Some(same), Some(changed)) =
            (median(&o.sync), median(&o.identical), median(&o.changed))
        else {
            continue;
        };
        let pct = |f: u64| 100.0 * f as f64 / o.rows as f64;
        println!(
            "| {} | {sync:.2}s | {same:.2}s | {:.2} {} | {} ({:.3}%) | {changed:.2}s | {:.2} {} | {} ({:.3}%) | {} |",
            o.job,
            same / sync,
            if same <= 0.5 * sync { "ok" } else { "MISS" },
            thousands(o.identical_fetched as f64),
            pct(o.identical_fetched),
            changed / sync,
            if changed < 2.0 * sync { "ok" } else { "MISS" },
            thousands(o.changed_fetched as f64),
            pct(o.changed_fetched),
            o.found
        );
    }
}

/// The release `dsp` binary: DSP_BIN, else built by cargo next to this example.
fn dsp_binary() -> Res<PathBuf> {
    if let Ok(p) = std::env::var("DSP_BIN") {
        return Ok(PathBuf::from(p));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    eprintln!("bench: cargo build --release --bin dsp");
    let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "--bin", "dsp"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !st.success() {
        return Err("cargo build --release --bin dsp failed".into());
    }
    // target/release/examples/bench -> target/release/dsp
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let guess = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("dsp"))
        .filter(|p| p.exists() && p.parent().is_some_and(|d| d.ends_with("release")));
    Ok(guess.unwrap_or_else(|| root.join("target/release/dsp")))
}

fn main() {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!(
            "bench: note: this is a debug build of the bench; DSP itself runs from its release binary"
        );
    }
    let dir = std::env::temp_dir().join(format!("dsp_bench_{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(dir.join("data")) {
        eprintln!("bench: cannot create {}: {e}", dir.display());
        std::process::exit(1);
    }
    let dsp = if o.pipe_only {
        None
    } else {
        match dsp_binary() {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("bench: {e}");
                std::process::exit(1);
            }
        }
    };
    let b = Bench {
        s: Servers::from_env(),
        lite: dir.join("src.sqlite"),
        dir,
        dsp,
        o,
    };
    let result = b.setup().and_then(|_| {
        let mut outcomes = Vec::new();
        for c in cases(&b) {
            outcomes.push(measure(&b, &c)?);
        }
        let mut verified = Vec::new();
        if b.o.verify && !b.o.pipe_only {
            for job in ["pg-pg-full", "mysql-pg"] {
                if b.o.paths.iter().any(|p| p == job) {
                    verified.push(verify_bench(&b, job)?);
                }
            }
        }
        Ok((outcomes, verified))
    });
    let code = match result {
        Ok((outcomes, verified)) => {
            print_table(&b, &outcomes);
            print_verify_table(&b, &verified);
            0
        }
        Err(e) => {
            eprintln!("bench: {e}");
            1
        }
    };
    if b.o.keep {
        eprintln!(
            "bench: kept databases {}/{} and {}",
            src(),
            dst(),
            b.dir.display()
        );
    } else {
        b.teardown();
    }
    std::process::exit(code);
}
