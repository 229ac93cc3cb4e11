//! A run never waits forever: a server that stops answering mid-run (no
//! packets, no reset — a TCP proxy on 127.0.0.1 that stops forwarding) fails
//! the run within the network's `stall_timeout`, naming the network and what
//! the run waited for; the target keeps its last consistent state, and the
//! next run, once the network is back, leaves the target equal to the source.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dsp::engine::progress::{ProgressEvent, RunStatus, RunSummary};
use dsp::paths::DataDir;
use dsp::workspace::{Job, SyncMode, Workspace};
use tokio_util::sync::CancellationToken;

use crate::seed::*;
use crate::support::end::{End, Kind};
use crate::support::proxy::Proxy;
use crate::support::run::{run_and_collect, spawn_run};

/// Far below the default, so that a stall shows in seconds.
const STALL: &str = "2s";
/// A run that outlives this has hung: the test fails instead of waiting.
const HUNG: Duration = Duration::from_secs(60);

fn upstream(end: &End) -> SocketAddr {
    match end {
        End::Pg(db, _) | End::My(db, _) => {
            let host = db.host.replace("localhost", "127.0.0.1");
            format!("{host}:{}", db.port).parse().expect("host:port")
        }
        End::Lite(..) => unreachable!("SQLite has no network"),
    }
}

/// The seed's job between `src` and `tgt`, one of them reached through `proxy`.
fn workspace(src: &End, tgt: &End, proxied: &str, proxy: &Proxy, mode: SyncMode) -> Workspace {
    let mut networks = vec![
        src.network("Production DB (Source)"),
        tgt.network("Analytics DB (Target)"),
    ];
    for n in &mut networks {
        n.stall_timeout = Some(STALL.into());
        if n.name == proxied {
            n.host = Some("127.0.0.1".into());
            n.port = Some(proxy.addr.port());
        }
    }
    let mut job = Job::new(
        JOB,
        "Production DB (Source)",
        "Analytics DB (Target)",
        "Users Sync Schema",
        mode,
    );
    job.batch_size = Some(1000);
    Workspace {
        path: None,
        networks,
        schemas: seed_workspace_schema(),
        jobs: vec![job],
        ..Default::default()
    }
}

/// Source and target with `rows` users in the source; `None` when a server
/// is missing (the test has said it skipped).
async fn ends(
    test: &str,
    dir: &tempfile::TempDir,
    source: Kind,
    target: Kind,
    rows: i64,
) -> Option<(End, End, Mirror)> {
    let src = End::new(source, test, dir, "source").await?;
    let tgt = End::new(target, test, dir, "target").await?;
    src.exec(users_ddl(source)).await;
    let (sql, expect) = users_insert(1, rows, "2024-01-01 00:00:00");
    // Only MySQL reads backslashes in literals as escapes.
    let sql = if source == Kind::My {
        sql
    } else {
        sql.replace("\\\\", "\\")
    };
    src.exec(&sql).await;
    Some((src, tgt, expect))
}

async fn bounded(run: impl Future<Output = RunSummary>) -> (RunSummary, Duration) {
    let t = Instant::now();
    let summary = tokio::time::timeout(HUNG, run)
        .await
        .expect("the run hung past its stall_timeout");
    (summary, t.elapsed())
}

/// With the network back, the next run succeeds and leaves the target equal
/// to the source.
async fn next_run_mirrors(test: &str, ws: &Workspace, data: &DataDir, tgt: &End, expect: &Mirror) {
    let c = run_and_collect(ws, JOB, data).await;
    assert_eq!(
        c.summary.status,
        RunStatus::Succeeded,
        "{test}: {:#?}",
        c.lines()
    );
    assert_eq!(&tgt.target_rows().await, expect, "{test}");
}

/// The network is back: old connections are gone, new ones go through.
fn network_back(proxy: &Proxy) {
    proxy.cut();
    proxy.forward();
}

async fn source_stalls_mid_read(source: Kind) {
    let test = format!("source_stalls_mid_read {source:?}");
    let dir = crate::support::temp_dir();
    let Some((src, tgt, expect)) = ends(&test, &dir, source, Kind::Pg, 20_000).await else {
        return;
    };
    let proxy = Proxy::start(upstream(&src)).await;
    let ws = workspace(&src, &tgt, "Production DB (Source)", &proxy, SyncMode::Full);
    let data = DataDir::new(dir.path().join("data"));

    // Past the handshake and the introspection, inside the rows.
    proxy.fault_after(300_000, false);
    let (summary, took) = bounded(async { run_and_collect(&ws, JOB, &data).await.summary }).await;
    assert_eq!(summary.status, RunStatus::Failed, "{test}: {summary:?}");
    let why = summary.error.unwrap_or_default();
    assert!(
        why.starts_with("source network \"Production DB (Source)\"")
            && why.contains("no rows for 2s")
            && why.contains("stall_timeout"),
        "{test}: {why}"
    );
    assert!(took < Duration::from_secs(30), "{test}: took {took:?}");
    assert_eq!(
        tgt.target_rows().await,
        Vec::new(),
        "{test}: all or nothing"
    );

    network_back(&proxy);
    next_run_mirrors(&test, &ws, &data, &tgt, &expect).await;
}

#[tokio::test]
async fn a_pg_source_that_stops_answering_mid_read_fails_the_run() {
    source_stalls_mid_read(Kind::Pg).await;
}

#[tokio::test]
async fn a_mysql_source_that_stops_answering_mid_read_fails_the_run() {
    source_stalls_mid_read(Kind::My).await;
}

async fn target_stalls_mid_write(target: Kind, mode: SyncMode) {
    let test = format!("target_stalls_mid_write {target:?} {mode:?}");
    let dir = crate::support::temp_dir();
    let Some((src, tgt, expect)) = ends(&test, &dir, Kind::Pg, target, 20_000).await else {
        return;
    };
    let proxy = Proxy::start(upstream(&tgt)).await;
    let ws = workspace(&src, &tgt, "Analytics DB (Target)", &proxy, mode);
    let data = DataDir::new(dir.path().join("data"));

    let (handle, mut events) = spawn_run(&ws, JOB, &data, CancellationToken::new());
    let t = Instant::now();
    let stall = async {
        // The first batch is written: from here the target hears nothing.
        while let Some(ev) = events.recv().await {
            if matches!(ev, ProgressEvent::Batch { .. }) {
                proxy.stall();
                break;
            }
        }
        // Keep draining, so the run never waits on its listener.
        while events.recv().await.is_some() {}
    };
    let (summary, _) = tokio::join!(async { tokio::time::timeout(HUNG, handle).await }, stall);
    let summary = summary
        .expect("the run hung past its stall_timeout")
        .expect("run task");
    assert_eq!(summary.status, RunStatus::Failed, "{test}: {summary:?}");
    let why = summary.error.unwrap_or_default();
    assert!(
        why.starts_with("target network \"Analytics DB (Target)\"")
            && why.contains("no answer for 2s"),
        "{test}: {why}"
    );
    assert!(t.elapsed() < Duration::from_secs(30), "{test}");

    network_back(&proxy);
    next_run_mirrors(&test, &ws, &data, &tgt, &expect).await;
}

#[tokio::test]
async fn a_pg_target_that_stops_answering_mid_full_sync_fails_the_run() {
    target_stalls_mid_write(Kind::Pg, SyncMode::Full).await;
}

#[tokio::test]
async fn a_mysql_target_that_stops_answering_mid_incremental_sync_fails_the_run() {
    target_stalls_mid_write(Kind::My, SyncMode::Incremental).await;
}

/// A server that accepts the connection and then says nothing at all.
#[tokio::test]
async fn a_server_silent_from_the_first_byte_fails_the_run() {
    let test = "a_server_silent_from_the_first_byte_fails_the_run";
    let dir = crate::support::temp_dir();
    let Some((src, tgt, _)) = ends(test, &dir, Kind::Pg, Kind::Pg, 10).await else {
        return;
    };
    let proxy = Proxy::start(upstream(&src)).await;
    proxy.stall();
    let ws = workspace(&src, &tgt, "Production DB (Source)", &proxy, SyncMode::Full);
    let data = DataDir::new(dir.path().join("data"));
    let (summary, took) = bounded(async { run_and_collect(&ws, JOB, &data).await.summary }).await;
    assert_eq!(summary.status, RunStatus::Failed, "{summary:?}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let why = summary.error.unwrap_or_default();
    assert!(
        why.contains("network \"Production DB (Source)\"")
            && why.contains("no answer for 2s")
            && why.contains("stall_timeout"),
        "{why}"
    );
}

/// The connection to the target breaks right after COMMIT left DSP, before
/// the server could answer: the server committed, and DSP cannot know. The
/// run says the outcome is unknown (not "failed" of a target that was in
/// fact updated), and running it again converges.
async fn commit_outcome_unknown(target: Kind, commit: &[u8]) {
    let test = format!("commit_outcome_unknown {target:?}");
    let dir = crate::support::temp_dir();
    let Some((src, tgt, expect)) = ends(&test, &dir, Kind::Pg, target, 3_000).await else {
        return;
    };
    let proxy = Proxy::start(upstream(&tgt)).await;
    let ws = workspace(&src, &tgt, "Analytics DB (Target)", &proxy, SyncMode::Full);
    let data = DataDir::new(dir.path().join("data"));
    proxy.cut_after_sending(commit);

    let (summary, _) = bounded(async { run_and_collect(&ws, JOB, &data).await.summary }).await;
    assert_eq!(summary.status, RunStatus::Failed, "{test}: {summary:?}");
    let why = summary.error.unwrap_or_default();
    assert!(
        why.starts_with("target network \"Analytics DB (Target)\"")
            && why.contains("whether this run's changes were committed is unknown")
            && why.contains("running the job again is safe"),
        "{test}: {why}"
    );
    // The server did commit.
    assert_eq!(tgt.target_rows().await, expect, "{test}");

    network_back(&proxy);
    proxy.cut_after_sending(b"\0never\0");
    next_run_mirrors(&test, &ws, &data, &tgt, &expect).await;
}

#[tokio::test]
async fn a_pg_commit_whose_answer_is_lost_is_reported_as_unknown() {
    // A simple-protocol query: 'Q', its length, the text and a NUL.
    commit_outcome_unknown(Kind::Pg, b"COMMIT\0").await;
}

#[tokio::test]
async fn a_mysql_commit_whose_answer_is_lost_is_reported_as_unknown() {
    // COM_QUERY (0x03) followed by the text.
    commit_outcome_unknown(Kind::My, b"\x03COMMIT").await;
}

/// The source's rows in the shape `End::target_rows` reads the target's.
async fn source_mirror(src: &End) -> Mirror {
    match src {
        End::Pg(_, p) => sqlx::query_as(
            "SELECT id, email, name, \
             to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), score::bigint \
             FROM users ORDER BY id",
        )
        .fetch_all(p)
        .await
        .unwrap(),
        End::My(_, p) => sqlx::query_as(
            "SELECT id, email, name, \
             CAST(DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%f') AS CHAR), \
             CAST(score AS SIGNED) FROM users ORDER BY id",
        )
        .fetch_all(p)
        .await
        .unwrap(),
        End::Lite(..) => unreachable!("the trials run between servers"),
    }
}

/// A small, seeded generator: the trials are random but can be replayed
/// from the seed they print.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Five runs of one pair and mode, each hit at a random moment by a stall or
/// a cut of a random end; between them the source changes. Whatever a fault
/// left, the next run with the network back leaves the target equal to the
/// source, and a full sync never leaves it half-applied.
async fn random_faults(source: Kind, target: Kind, mode: SyncMode, seed: u64) {
    let test = format!("random_faults {source:?}->{target:?} {mode:?} seed {seed}");
    let dir = crate::support::temp_dir();
    let Some((src, tgt, _)) = ends(&test, &dir, source, target, 20_000).await else {
        return;
    };
    let src_proxy = Proxy::start(upstream(&src)).await;
    let tgt_proxy = Proxy::start(upstream(&tgt)).await;
    let mut ws = workspace(&src, &tgt, "Production DB (Source)", &src_proxy, mode);
    let t = ws
        .networks
        .iter_mut()
        .find(|n| n.name == "Analytics DB (Target)")
        .unwrap();
    t.host = Some("127.0.0.1".into());
    t.port = Some(tgt_proxy.addr.port());
    let data = DataDir::new(dir.path().join("data"));
    let mut rng = Lcg(seed);
    let mut before = tgt_mirror_or_empty(&tgt).await;
    for trial in 1..=5 {
        let what = format!("{test} trial {trial}");
        // Change a seventh of the rows, past any watermark.
        src.exec(&format!(
            "UPDATE users SET score = '{trial}', updated_at = '2024-02-0{trial} 00:00:00' \
             WHERE id % 7 = {}",
            trial % 7
        ))
        .await;
        let proxy = if rng.below(2) == 0 {
            &src_proxy
        } else {
            &tgt_proxy
        };
        let cut = rng.below(2) == 0;
        // Within the run: a re-sync of this table takes about half a second,
        // an incremental run over a seventh of it a fraction of that.
        let span = if mode == SyncMode::Full { 500 } else { 150 };
        let delay = Duration::from_millis(rng.below(span));
        let (handle, mut events) = spawn_run(&ws, JOB, &data, CancellationToken::new());
        let fault = async {
            tokio::time::sleep(delay).await;
            if cut { proxy.cut() } else { proxy.stall() }
        };
        let drain = async { while events.recv().await.is_some() {} };
        let (summary, _, _) = tokio::join!(
            async { tokio::time::timeout(HUNG, handle).await },
            fault,
            drain
        );
        let summary = summary
            .expect("hung past its stall_timeout")
            .expect("run task");
        eprintln!(
            "{what}: {} {} after {delay:?}: {:?}",
            if cut { "cut" } else { "stall" },
            if std::ptr::eq(proxy, &src_proxy) {
                "source"
            } else {
                "target"
            },
            summary.status
        );
        let after = tgt_mirror_or_empty(&tgt).await;
        // A connection cut while the COMMIT was on its way leaves the outcome
        // unknown, and the run says so: the server may have committed. Even
        // then the target is all or nothing, as before or the whole source.
        let commit_unknown = summary
            .error
            .as_deref()
            .is_some_and(|e| e.contains("whether this run's changes were committed is unknown"));
        if mode == SyncMode::Full && summary.status != RunStatus::Succeeded {
            if commit_unknown && after != before {
                assert_eq!(
                    after,
                    source_mirror(&src).await,
                    "{what}: a full sync whose COMMIT was cut left the target half-written: {summary:?}"
                );
            } else {
                assert_eq!(
                    after, before,
                    "{what}: a failed full sync changed the target: {summary:?}"
                );
            }
        }
        network_back(&src_proxy);
        network_back(&tgt_proxy);
        let c = run_and_collect(&ws, JOB, &data).await;
        assert_eq!(
            c.summary.status,
            RunStatus::Succeeded,
            "{what}: {:#?}",
            c.lines()
        );
        before = tgt_mirror_or_empty(&tgt).await;
        assert_eq!(before, source_mirror(&src).await, "{what}");
    }
}

/// The target's rows, or none while its table does not exist yet.
async fn tgt_mirror_or_empty(tgt: &End) -> Mirror {
    if tgt.tables().await.iter().any(|t| t.ends_with("dim_users")) {
        tgt.target_rows().await
    } else {
        Vec::new()
    }
}

fn seed() -> u64 {
    let seed = std::env::var("DSP_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        });
    eprintln!("fault trials seed {seed} (replay with DSP_FAULT_SEED={seed})");
    seed
}

#[tokio::test]
async fn random_faults_during_pg_to_mysql_runs_converge() {
    let seed = seed();
    random_faults(Kind::Pg, Kind::My, SyncMode::Full, seed).await;
    random_faults(Kind::Pg, Kind::My, SyncMode::Incremental, seed ^ 1).await;
}

#[tokio::test]
async fn random_faults_during_mysql_to_pg_runs_converge() {
    let seed = seed();
    random_faults(Kind::My, Kind::Pg, SyncMode::Full, seed).await;
    random_faults(Kind::My, Kind::Pg, SyncMode::Incremental, seed ^ 1).await;
}

/// `dsp verify` is bound by the same watchdog: a target that stops
/// answering in the middle of its checksums fails the verification within
/// its `stall_timeout`, naming the network.
async fn verify_target_stalls(target: Kind) {
    let test = format!("verify_target_stalls {target:?}");
    let dir = crate::support::temp_dir();
    let Some((src, tgt, _)) = ends(&test, &dir, Kind::Pg, target, 40_000).await else {
        return;
    };
    let proxy = Proxy::start(upstream(&tgt)).await;
    let ws = workspace(&src, &tgt, "Analytics DB (Target)", &proxy, SyncMode::Full);
    let data = DataDir::new(dir.path().join("data"));
    let c = run_and_collect(&ws, JOB, &data).await;
    assert_eq!(c.summary.status, RunStatus::Succeeded, "{test}");

    // Past the handshake and the introspection, inside the per-bucket
    // answer (thousands of rows) or the rows themselves.
    proxy.fault_after(40_000, false);
    let t = Instant::now();
    let cancel = CancellationToken::new();
    let v = tokio::time::timeout(
        HUNG,
        dsp::engine::verify::verify_job(&ws, JOB, &data, &cancel),
    )
    .await
    .expect("verify hung past its stall_timeout");
    let took = t.elapsed();
    assert_eq!(
        v.outcome,
        dsp::engine::verify::Outcome::Failed,
        "{test}: {v:?}"
    );
    let why = v.error.unwrap_or_default();
    assert!(
        why.starts_with("target: network \"Analytics DB (Target)\": no ")
            && why.contains("for 2s")
            && why.contains("stall_timeout"),
        "{test}: {why}"
    );
    assert!(took < Duration::from_secs(30), "{test}: took {took:?}");

    // With the network back the same verification succeeds (with room for a
    // loaded machine: a checksum query answers only once it has read every row).
    network_back(&proxy);
    let mut ws = ws;
    for n in &mut ws.networks {
        n.stall_timeout = Some("60s".into());
    }
    let cancel = CancellationToken::new();
    let v = dsp::engine::verify::verify_job(&ws, JOB, &data, &cancel).await;
    assert_eq!(
        v.outcome,
        dsp::engine::verify::Outcome::Identical,
        "{test}: {v:?}"
    );
}

#[tokio::test]
async fn verify_fails_within_the_stall_timeout_when_a_pg_target_stops_answering() {
    verify_target_stalls(Kind::Pg).await;
}

/// A job whose state is in its target: verify first asks the target whether
/// another host runs the job. A target that stops answering then still ends
/// the verification within its `stall_timeout`, naming the network.
#[tokio::test]
async fn verify_of_a_job_with_state_in_a_stalled_target_ends() {
    let test = "verify_state_in_stalled_target";
    let dir = crate::support::temp_dir();
    let Some((src, tgt, _)) = ends(test, &dir, Kind::Pg, Kind::Pg, 2_000).await else {
        return;
    };
    let proxy = Proxy::start(upstream(&tgt)).await;
    let mut ws = workspace(&src, &tgt, "Analytics DB (Target)", &proxy, SyncMode::Full);
    ws.jobs[0].state = Some(dsp::workspace::StateStore::Target);
    let data = DataDir::new(dir.path().join("data"));
    let c = run_and_collect(&ws, JOB, &data).await;
    assert_eq!(c.summary.status, RunStatus::Succeeded, "{test}");

    proxy.stall();
    let cancel = CancellationToken::new();
    let v = tokio::time::timeout(
        HUNG,
        dsp::engine::verify::verify_job(&ws, JOB, &data, &cancel),
    )
    .await
    .expect("verify hung on a stalled target");
    assert_eq!(
        v.outcome,
        dsp::engine::verify::Outcome::Failed,
        "{test}: {v:?}"
    );
    let why = v.error.unwrap_or_default();
    assert!(why.contains("Analytics DB (Target)"), "{test}: {why}");

    network_back(&proxy);
    let v = dsp::engine::verify::verify_job(&ws, JOB, &data, &cancel).await;
    assert_eq!(
        v.outcome,
        dsp::engine::verify::Outcome::Identical,
        "{test}: {v:?}"
    );
}
