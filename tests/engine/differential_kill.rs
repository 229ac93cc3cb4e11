//! Issue 15: a SIGKILL anywhere in a differential full sync leaves the target
//! exactly as it was (its one transaction never commits half), or — when the
//! kill came after the commit — exactly the source; never anything between.
//! A killed run's sessions, locks and open transaction end with its
//! connections, so the next run goes through.
//!
//! The kill points are chosen by a seeded generator (the seed is printed; set
//! `DSP_KILL_SEED` to replay one) around the run's own log lines: while both
//! ends are checksummed, while the differing segments are fetched (slowed by
//! `DSP_PACE_MS`), once the last batch is read (the upsert and deletes), and
//! right after the deletes, when the commit is on its way.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::cli::*;
use crate::support::end::{End, Kind, lite_pool};
use crate::support::workspace::SchemaJob;
use crate::target_state::{in_target, run_once_free};
use crate::verify::{ddl, insert};

const ROWS: i64 = 5_000;
/// Ids `i % GAP < ROUNDS` are left out of the first fill: round `r` inserts
/// those with `i % GAP == r`, scattered over the whole key range.
const GAP: i64 = 250;
const ROUNDS: i64 = 10;
const TRIALS: usize = 8;

const COLUMNS: &str = r#"  { source = "id", target = "id", type = "integer" },
  { source = "name", target = "name", type = "string" },
  { source = "amount", target = "amount", type = "decimal" },
  { source = "at", target = "at", type = "timestamp" },
  { source = "note", target = "note", type = "string" },"#;

/// splitmix64: reproducible from the printed seed, no crate needed.
struct Rng(u64);

impl Rng {
    fn seeded() -> (Rng, u64) {
        let seed = std::env::var("DSP_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        (Rng(seed), seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (x ^ (x >> 31)) % n.max(1)
    }
}

/// Where in the run a trial kills it.
#[derive(Debug, Clone, Copy)]
enum Point {
    /// A random moment while the differing segments are fetched.
    Fetching,
    /// A random moment while both ends are checksummed (or just after).
    Checksumming,
    /// Just after the last batch was read: staging, upsert, deletes.
    Applying,
    /// Right after the deletes were logged: the commit is being sent.
    Committing,
}

/// The first calibrates how long the checksums take.
const POINTS: [Point; 4] = [
    Point::Fetching,
    Point::Checksumming,
    Point::Applying,
    Point::Committing,
];

async fn fill(src: &End, kind: Kind) {
    src.exec(ddl(kind)).await;
    let ids: Vec<i64> = (1..=ROWS).filter(|i| i % GAP >= ROUNDS).collect();
    for chunk in ids.chunks(500) {
        src.exec(&insert(kind, chunk.iter().copied())).await;
    }
}

/// Round `round`'s changes on the source, scattered over the key range:
/// updates of text, decimal, timestamp and NULL, deletes and inserts.
async fn plant(src: &End, kind: Kind, round: i64) {
    assert!(round < ROUNDS, "out of planted rounds");
    let zone = if kind == Kind::Pg { "+00" } else { "" };
    src.exec(&format!(
        "UPDATE items SET name = 'changed {round}', note = NULL WHERE id % 151 = {round}"
    ))
    .await;
    src.exec(&format!(
        "UPDATE items SET amount = '1.{round:04}', \
         at = '2025-06-01 12:00:00.{round:06}{zone}' WHERE id % 173 = {}",
        round + 20
    ))
    .await;
    src.exec(&format!("DELETE FROM items WHERE id % 401 = {round}"))
        .await;
    src.exec(&insert(kind, (1..=ROWS).filter(|i| i % GAP == round)))
        .await;
}

/// Every row of `items` as one text, ordered by key, in a form that is the
/// same on every engine (timestamps in UTC to the microsecond; `\N` NULL).
async fn rows(end: &End) -> Vec<String> {
    match end {
        End::Pg(_, p) => sqlx::query_scalar(
            "SELECT concat_ws('|', id, coalesce(name, '\\N'), coalesce(amount::text, '\\N'), \
             coalesce(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), '\\N'), \
             coalesce(note, '\\N')) FROM items ORDER BY id",
        )
        .fetch_all(p)
        .await
        .unwrap(),
        End::My(_, p) => sqlx::query_scalar(
            "SELECT CONVERT(CONCAT_WS('|', id, COALESCE(name, '\\\\N'), \
             COALESCE(CAST(amount AS CHAR), '\\\\N'), \
             COALESCE(DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s.%f'), '\\\\N'), \
             COALESCE(note, '\\\\N')) USING utf8mb4) FROM items ORDER BY id",
        )
        .fetch_all(p)
        .await
        .unwrap(),
        End::Lite(path, _) => {
            // A fresh connection, as the next run would open it (it rolls
            // back what a killed writer left in the journal).
            let p = lite_pool(path).await;
            let r = sqlx::query_scalar(
                "SELECT id || '|' || coalesce(name, '\\N') || '|' || coalesce(amount, '\\N') \
                 || '|' || coalesce(replace(replace(at, 'T', ' '), 'Z', ''), '\\N') || '|' || coalesce(note, '\\N') \
                 FROM items ORDER BY id",
            )
            .fetch_all(&p)
            .await
            .unwrap();
            p.close().await;
            r
        }
    }
}

/// A connection of its own on the target's server, to watch its sessions:
/// a pool would open new ones while it waits, looking like the run's.
enum Watcher {
    Pg(sqlx::PgConnection),
    My(sqlx::MySqlConnection),
    None,
}

impl Watcher {
    async fn on(end: &End) -> Watcher {
        use sqlx::Connection;
        match end {
            End::Pg(db, _) => Watcher::Pg(sqlx::PgConnection::connect(&db.url).await.unwrap()),
            End::My(db, _) => Watcher::My(sqlx::MySqlConnection::connect(&db.url).await.unwrap()),
            End::Lite(..) => Watcher::None,
        }
    }

    /// The sessions on the database other than this one.
    async fn sessions(&mut self) -> HashSet<i64> {
        let ids: Vec<i64> = match self {
            Watcher::Pg(c) => sqlx::query_scalar(
                "SELECT pid::bigint FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .fetch_all(c)
            .await
            .unwrap(),
            Watcher::My(c) => sqlx::query_scalar(
                "SELECT CAST(id AS SIGNED) FROM information_schema.processlist \
                 WHERE db = DATABASE() AND id <> CONNECTION_ID()",
            )
            .fetch_all(c)
            .await
            .unwrap(),
            Watcher::None => Vec::new(),
        };
        ids.into_iter().collect()
    }

    /// What each session does, for a failure message.
    async fn describe(&mut self) -> Vec<String> {
        match self {
            Watcher::Pg(c) => sqlx::query_scalar(
                "SELECT concat_ws(' | ', pid, application_name, state, wait_event_type, \
                 wait_event, backend_xid, query) FROM pg_stat_activity \
                 WHERE datname = current_database()",
            )
            .fetch_all(c)
            .await
            .unwrap(),
            Watcher::My(c) => sqlx::query_scalar(
                "SELECT CONVERT(CONCAT_WS(' | ', id, command, time, state, info) USING utf8mb4) \
                 FROM information_schema.processlist WHERE db = DATABASE()",
            )
            .fetch_all(c)
            .await
            .unwrap(),
            Watcher::None => Vec::new(),
        }
    }

    /// Waits until the server has ended every session that was not there
    /// before the killed run (`ours`): its transaction is then committed or
    /// rolled back for good, and its lock freed.
    async fn settle(&mut self, test: &str, ours: &HashSet<i64>) -> Duration {
        let start = Instant::now();
        loop {
            let left: Vec<i64> = self.sessions().await.difference(ours).copied().collect();
            if left.is_empty() {
                return start.elapsed();
            }
            if start.elapsed() > Duration::from_secs(60) {
                panic!(
                    "{test}: the killed run's sessions {left:?} were still open after a minute: {:#?}",
                    self.describe().await
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A started `dsp run J` whose stdout lines are collected as they come.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stdout: std::thread::JoinHandle<()>,
    stderr: std::thread::JoinHandle<String>,
}

impl Running {
    fn start(env: &Env, pace_ms: u64) -> Running {
        let pace = pace_ms.to_string();
        let mut child = env
            .command(&["run", "J"], &[("DSP_PACE_MS", &pace)])
            .spawn()
            .expect("start dsp");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = BufReader::new(child.stdout.take().unwrap());
        let sink = lines.clone();
        let stdout = std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Running {
            child,
            lines,
            stdout,
            stderr,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn ended(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits for a line holding `what`, or for the run to end.
    fn wait_for(&mut self, what: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.lines().iter().any(|l| what(l)) && !self.ended() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "dsp printed no awaited line in a minute: {:#?}",
                    self.lines()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGKILLs the run (if it still runs); its lines, its stderr, and
    /// whether it had ended by itself.
    fn kill(mut self) -> (Vec<String>, String, bool) {
        let ended = self.ended();
        if !ended {
            self.child.kill().expect("SIGKILL dsp");
        }
        self.child.wait().unwrap();
        // Both pipes close with the process: every line it wrote is read.
        self.stdout.join().unwrap();
        let err = self.stderr.join().unwrap();
        let lines = self.lines.lock().unwrap().clone();
        (lines, err, ended)
    }
}

fn is_last_batch(line: &str) -> bool {
    line.split("Processing batch ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|k| k.split_once('/'))
        .is_some_and(|(i, n)| i == n)
}

/// The line after which the run checksums both ends.
const FETCHING: &str = "Fetching records from source";

/// Lets the run reach `point`, plus a random part of the phase, and kills it.
/// `checksum_ms` is how long the checksums took when last seen.
fn kill_at(
    mut run: Running,
    point: Point,
    rng: &mut Rng,
    (pace_ms, fetch_ms): (u64, u64),
    checksum_ms: &mut u64,
) -> (Vec<String>, String, bool, u64) {
    let delay = match point {
        Point::Checksumming => {
            run.wait_for(|l| l.contains(FETCHING));
            rng.below(*checksum_ms + 10)
        }
        Point::Fetching => {
            run.wait_for(|l| l.contains(FETCHING));
            let start = Instant::now();
            run.wait_for(|l| l.contains("Differential full sync:"));
            *checksum_ms = start.elapsed().as_millis() as u64;
            rng.below(fetch_ms)
        }
        Point::Applying => {
            run.wait_for(is_last_batch);
            pace_ms + rng.below(40)
        }
        Point::Committing => {
            run.wait_for(|l| l.contains("rows no longer in the source"));
            rng.below(5)
        }
    };
    std::thread::sleep(Duration::from_millis(delay));
    let (lines, err, ended) = run.kill();
    (lines, err, ended, delay)
}

/// The first rows where two dumps differ, for a readable failure.
fn first_differences(a: &[String], b: &[String]) -> String {
    let mut out = format!("{} rows vs {} rows\n", a.len(), b.len());
    let (sa, sb): (HashSet<&String>, HashSet<&String>) = (a.iter().collect(), b.iter().collect());
    for r in a.iter().filter(|r| !sb.contains(r)).take(5) {
        out += &format!("  only in the target: {r}\n");
    }
    for r in b.iter().filter(|r| !sa.contains(r)).take(5) {
        out += &format!("  expected: {r}\n");
    }
    out
}

async fn trials(source: Kind, target: Kind, pace_ms: u64, fetch_ms: u64) {
    let test = format!("differential SIGKILL {source:?} -> {target:?}");
    let env = Env::new();
    let Some(src) = End::new(source, &format!("{test} (source)"), &env.dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &env.dir, "target").await else {
        return;
    };
    let (mut rng, seed) = Rng::seeded();
    eprintln!("{test}: seed {seed} (DSP_KILL_SEED={seed} replays it)");
    fill(&src, source).await;
    tgt.exec(ddl(target)).await;
    let in_data_dir = src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + &SchemaJob::new("items", "items")
            .batch_size(50)
            .columns(COLUMNS)
            .toml();
    env.write(&in_data_dir);
    let first = env.dsp(&["run", "J"], &[]);
    assert_eq!(first.code, 0, "{test}: first copy\n{}", first.all());
    let (copied, wanted) = (rows(&tgt).await, rows(&src).await);
    assert!(
        copied == wanted,
        "{test}: first copy\n{}\n{}",
        first_differences(&copied, &wanted),
        first.all()
    );

    let mut round = 0;
    plant(&src, source, round).await;
    let mut before = rows(&tgt).await;
    let mut source_rows = rows(&src).await;
    let mut watcher = Watcher::on(&tgt).await;
    let mut checksum_ms = 50;
    for trial in 0..TRIALS {
        // Every other run keeps its state (and its lock) in the target.
        if trial % 2 == 1 {
            env.write(&in_target(&in_data_dir));
        } else {
            env.write(&in_data_dir);
        }
        let point = POINTS[trial % POINTS.len()];
        let ours = watcher.sessions().await;
        let run = Running::start(&env, pace_ms);
        let (lines, err, ended, delay) =
            kill_at(run, point, &mut rng, (pace_ms, fetch_ms), &mut checksum_ms);
        let what = format!("{test}, seed {seed}, trial {trial} ({point:?} + {delay} ms)");
        let said = lines.join("\n") + "\n" + &err;
        for bad in ["panicked", "Full copy:", "[ERROR]", "another DSP"] {
            assert!(!said.contains(bad), "{what}: dsp said {bad:?}\n{said}");
        }
        if !matches!(point, Point::Checksumming) {
            assert!(
                said.contains("Differential full sync:"),
                "{what}: not a differential run\n{said}"
            );
        }
        let waited = watcher.settle(&what, &ours).await;
        let now = rows(&tgt).await;
        let committed = now == source_rows;
        assert!(
            committed || now == before,
            "{what}: the target is neither as before nor the source\n{}\nvs before:\n{}\n{said}",
            first_differences(&now, &source_rows),
            first_differences(&now, &before),
        );
        if said.contains("Sync completed") {
            assert!(committed, "{what}: a completed run did not commit");
        }
        eprintln!(
            "{what}: {}{}, sessions gone in {waited:?}; its last line: {}",
            if committed { "committed" } else { "as before" },
            if ended { " (ended by itself)" } else { "" },
            lines
                .last()
                .map_or("", |l| split_prefixed(l).map_or(l.as_str(), |p| p.2))
        );
        if committed {
            round += 1;
            plant(&src, source, round).await;
            before = now;
            source_rows = rows(&src).await;
        }
    }

    // Killed once more, its lock in the target, and run again at once as an
    // operator would: the server ends the dead run's sessions by itself and
    // its lock goes with them, so the next run is refused a moment at most,
    // then goes the differential way and mirrors the source.
    env.write(&in_target(&in_data_dir));
    let run = Running::start(&env, pace_ms);
    kill_at(
        run,
        Point::Fetching,
        &mut rng,
        (pace_ms, fetch_ms),
        &mut checksum_ms,
    );
    let out = run_once_free(&env);
    out.assert_no_panic(&test);
    assert_eq!(
        out.code,
        0,
        "{test}: the run after the kills\n{}",
        out.all()
    );
    eprintln!(
        "{test}: the run right after the last kill took {:?}",
        out.elapsed
    );
    assert!(
        out.stdout.contains("Differential full sync:"),
        "{test}\n{}",
        out.all()
    );
    let now = rows(&tgt).await;
    assert!(
        now == source_rows,
        "{test}: the target does not mirror the source\n{}",
        first_differences(&now, &source_rows)
    );
    let verify = env.dsp(&["verify", "J"], &[]);
    assert_eq!(verify.code, 0, "{test}: dsp verify\n{}", verify.all());
}

#[tokio::test]
async fn sigkill_in_a_differential_sync_pg_to_pg_leaves_the_target_whole() {
    trials(Kind::Pg, Kind::Pg, 40, 600).await;
}

#[tokio::test]
async fn sigkill_in_a_differential_sync_mysql_to_pg_leaves_the_target_whole() {
    trials(Kind::My, Kind::Pg, 40, 600).await;
}

#[tokio::test]
async fn sigkill_in_a_differential_sync_pg_to_mysql_leaves_the_target_whole() {
    trials(Kind::Pg, Kind::My, 40, 600).await;
}

#[tokio::test]
async fn sigkill_in_a_differential_sync_mysql_to_mysql_leaves_the_target_whole() {
    trials(Kind::My, Kind::My, 40, 600).await;
}

#[tokio::test]
async fn sigkill_in_a_differential_sync_sqlite_to_sqlite_leaves_the_target_whole() {
    trials(Kind::Lite, Kind::Lite, 5, 400).await;
}
