//! `state = "target"` (issue 16): the watermark, the run lock and the last
//! run kept in the target's `_dsp_state` table. Two processes with separate
//! data dirs never run one job at once; a SIGKILL anywhere leaves the rows
//! and the watermark agreeing; a fresh data dir resumes from the target.

use std::time::Duration;

use sqlx::Row;

use crate::small_job::*;
use crate::support::cli::*;
use crate::support::end::{End, Kind, lite_pool};

/// The job `J` of `schema_job`, incremental on the cursor `n`, its state in
/// the target.
fn incremental_in_target(text: &str) -> String {
    text.replace(
        "primary_key = \"id\"",
        "primary_key = \"id\"\ncursor_column = \"n\"",
    )
    .replace(
        "mode = \"full\"",
        "mode = \"incremental\"\nstate = \"target\"",
    )
}

/// The job `J` of `schema_job` with its state in the target (mode kept).
pub(crate) fn in_target(text: &str) -> String {
    text.replace("mode = \"full\"", "mode = \"full\"\nstate = \"target\"")
}

/// A second environment running the same workspace with its own data dir:
/// another host.
fn other_host(text: &str) -> Env {
    let env = Env::new();
    env.write(text);
    env
}

/// `dsp run J` once the server has freed a killed holder's lock: a server
/// busy with the dead session's last statement (or its rollback) notices the
/// closed connection only after it, and until then the run is refused.
pub(crate) fn run_once_free(env: &Env) -> Out {
    for _ in 0..120 {
        let out = env.dsp(&["run", "J"], &[]);
        if !(out.code == 1 && out.all().contains("another DSP")) {
            return out;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("the lock of a killed run was not freed within a minute");
}

/// One text value of the job's row in `_dsp_state`, if any. A run killed
/// before it first wrote its state has no table yet: no value either.
async fn state_field(tgt: &End, column: &str) -> Option<String> {
    let sql = format!("SELECT CAST({column} AS CHAR(200)) FROM _dsp_state WHERE job = 'J'");
    let pg = format!("SELECT CAST({column} AS TEXT) FROM _dsp_state WHERE job = 'J'");
    let r = match tgt {
        End::Pg(_, p) => {
            sqlx::query_scalar::<_, Option<String>>(&pg)
                .fetch_optional(p)
                .await
        }
        End::My(_, p) => {
            sqlx::query_scalar::<_, Option<String>>(&sql)
                .fetch_optional(p)
                .await
        }
        End::Lite(path, _) => {
            let p = lite_pool(path).await;
            let v = sqlx::query_scalar::<_, Option<String>>(&pg)
                .fetch_optional(&p)
                .await;
            p.close().await;
            v
        }
    };
    match r {
        Ok(v) => v.flatten(),
        Err(e) if no_table(&e) => None,
        Err(e) => panic!("reading _dsp_state: {e}"),
    }
}

/// Whether a query failed because `_dsp_state` does not exist (yet).
fn no_table(e: &sqlx::Error) -> bool {
    let text = e.to_string();
    text.contains("no such table")
        || text.contains("does not exist")
        || text.contains("doesn't exist")
}

async fn refused_while_held_then_free_after_sigkill(target: Kind) {
    let test = format!("target lock on {target:?}");
    let env = Env::new();
    let Some((src, tgt, text)) = big_setup(&test, &env, target).await else {
        return;
    };
    let text = in_target(&text);
    env.write(&text);
    let (mut first, lines, _reader) = start_until_first_batch(&env);
    let host = other_host(&text);
    let second = host.dsp(&["run", "J"], &[]);
    second.assert_failed_naming(
        &test,
        &["already running", "\"J\"", "another DSP", "Target"],
    );
    assert!(
        second.all().contains("pid "),
        "{test}: the refusal does not say which host holds the lock\n{}",
        second.all()
    );
    first.kill().expect("SIGKILL dsp");
    first.wait().unwrap();
    assert!(
        !lines.iter().any(|l| l.contains("Sync completed")),
        "{test}: the first run finished before the second was refused"
    );
    // The server freed the dead holder's lock: the other host runs now.
    let out = run_once_free(&host);
    out.assert_no_panic(&test);
    assert_eq!(out.code, 0, "{test}: run after the kill\n{}", out.all());
    assert!(
        tgt.dump("big_copy").await == src.dump("big").await,
        "{test}: target does not mirror the source"
    );
    assert_eq!(
        state_field(&tgt, "run_status").await.as_deref(),
        Some("succeeded")
    );
}

#[tokio::test]
async fn a_second_host_is_refused_by_the_pg_lock_until_the_holder_dies() {
    refused_while_held_then_free_after_sigkill(Kind::Pg).await;
}

#[tokio::test]
async fn a_second_host_is_refused_by_the_mysql_lock_until_the_holder_dies() {
    refused_while_held_then_free_after_sigkill(Kind::My).await;
}

#[tokio::test]
async fn a_second_host_is_refused_by_the_sqlite_lock_until_the_holder_dies() {
    refused_while_held_then_free_after_sigkill(Kind::Lite).await;
}

/// A source `inc (id, v, n)` with `n = id` as its cursor, and a target table
/// `inc_copy` whose every row written is logged by a trigger into `applied`.
async fn counted_setup(test: &str, env: &Env, target: Kind) -> Option<(End, End, String)> {
    let src = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await?;
    let tgt = End::new(target, &format!("{test} (target)"), &env.dir, "target").await?;
    src.exec("CREATE TABLE inc (id BIGINT PRIMARY KEY, v TEXT, n BIGINT)")
        .await;
    src.exec("CREATE INDEX inc_n ON inc (n)").await;
    let table = "CREATE TABLE inc_copy (id BIGINT PRIMARY KEY, v TEXT, n BIGINT); \
                 CREATE TABLE applied (id BIGINT)";
    tgt.exec(table).await;
    match target {
        Kind::Pg => {
            tgt.exec(
                "CREATE FUNCTION log_apply() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN INSERT INTO applied VALUES (NEW.id); RETURN NEW; END $$; \
                 CREATE TRIGGER counted AFTER INSERT OR UPDATE ON inc_copy \
                 FOR EACH ROW EXECUTE FUNCTION log_apply()",
            )
            .await
        }
        Kind::My => {
            tgt.exec(
                "CREATE TRIGGER counted_i AFTER INSERT ON inc_copy FOR EACH ROW \
                 INSERT INTO applied VALUES (NEW.id)",
            )
            .await;
            tgt.exec(
                "CREATE TRIGGER counted_u AFTER UPDATE ON inc_copy FOR EACH ROW \
                 INSERT INTO applied VALUES (NEW.id)",
            )
            .await
        }
        Kind::Lite => {
            tgt.exec(
                "CREATE TRIGGER counted_i AFTER INSERT ON inc_copy BEGIN \
                 INSERT INTO applied VALUES (NEW.id); END; \
                 CREATE TRIGGER counted_u AFTER UPDATE ON inc_copy BEGIN \
                 INSERT INTO applied VALUES (NEW.id); END",
            )
            .await
        }
    }
    let text = src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + &incremental_in_target(&schema_job("inc", "inc_copy", 100, COLS));
    Some((src, tgt, text))
}

async fn add_rows(src: &End, from: i64, to: i64) {
    src.exec(&format!(
        "INSERT INTO inc SELECT g, 'row ' || g, g FROM generate_series({from}, {to}) g"
    ))
    .await;
}

async fn count(end: &End, table: &str) -> i64 {
    let sql = format!("SELECT CAST(COUNT(*) AS SIGNED) FROM {table}");
    let pg = format!("SELECT COUNT(*) FROM {table}");
    match end {
        End::Pg(_, p) => sqlx::query(&pg).fetch_one(p).await.unwrap().get(0),
        End::My(_, p) => sqlx::query(&sql).fetch_one(p).await.unwrap().get(0),
        End::Lite(path, _) => {
            let p = lite_pool(path).await;
            let n = sqlx::query(&pg).fetch_one(&p).await.unwrap().get(0);
            p.close().await;
            n
        }
    }
}

/// What the target holds agrees with its watermark: exactly the source rows
/// up to it (a batch's rows and its watermark commit together).
/// A killed client's last COMMIT may still land while this reads, so the
/// watermark is read before and after the rows until both agree: then no
/// batch committed in between.
async fn rows_agree_with_watermark(test: &str, tgt: &End, trial: usize) {
    let watermark = || async {
        state_field(tgt, "watermark")
            .await
            .map(|w| w.parse::<i64>().unwrap())
            .unwrap_or(0)
    };
    let (mut wm, mut ids);
    let mut tries = 0;
    loop {
        wm = watermark().await;
        ids = tgt
            .dump("inc_copy")
            .await
            .iter()
            .map(|r| r.0)
            .collect::<Vec<i64>>();
        tries += 1;
        if watermark().await == wm || tries == 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let want: Vec<i64> = (1..=wm).collect();
    assert!(
        ids == want,
        "{test}, trial {trial}: the target holds {} rows (up to {:?}) but the watermark is {wm}",
        ids.len(),
        ids.last()
    );
}

/// A pseudo-random number below `below` (no crate for it: the time's
/// nanoseconds stirred).
fn random_below(below: u64, salt: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let mut x = nanos ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x % below
}

async fn sigkill_trials(target: Kind, trials: usize) {
    let test = format!("SIGKILL trials into {target:?}");
    let env = Env::new();
    let Some((src, tgt, text)) = counted_setup(&test, &env, target).await else {
        return;
    };
    env.write(&text);
    let per_trial = 3_000;
    let mut rows = 0;
    let mut runs = 0;
    for trial in 0..trials {
        add_rows(&src, rows + 1, rows + per_trial).await;
        rows += per_trial;
        // A fresh pod: nothing of the last run's data dir is left.
        let _ = std::fs::remove_dir_all(env.data());
        let mut child = env.command(&["run", "J"], &[]).spawn().expect("start dsp");
        let _out = drain(&mut child);
        std::thread::sleep(Duration::from_millis(random_below(1_500, trial as u64)));
        child.kill().expect("SIGKILL dsp");
        child.wait().unwrap();
        runs += 1;
        rows_agree_with_watermark(&test, &tgt, trial).await;
    }
    let _ = std::fs::remove_dir_all(env.data());
    let out = run_once_free(&env);
    out.assert_no_panic(&test);
    assert_eq!(
        out.code,
        0,
        "{test}: the run after the kills\n{}",
        out.all()
    );
    runs += 1;
    assert!(
        tgt.dump("inc_copy").await == src.dump("inc").await,
        "{test}: target does not mirror the source"
    );
    // Each row needed once; a resumed run re-reads (and rewrites) only the
    // row at its watermark (`n >= watermark`). A batch applied twice would
    // show as a hundred more.
    let applied = count(&tgt, "applied").await;
    assert!(
        applied >= rows && applied <= rows + runs,
        "{test}: {applied} rows written for {rows} rows over {runs} runs"
    );
}

#[tokio::test]
async fn sigkill_anywhere_in_incremental_runs_into_pg_never_applies_a_batch_twice() {
    sigkill_trials(Kind::Pg, 20).await;
}

#[tokio::test]
async fn sigkill_in_an_incremental_run_into_mysql_never_applies_a_batch_twice() {
    sigkill_trials(Kind::My, 2).await;
}

#[tokio::test]
async fn sigkill_in_an_incremental_run_into_sqlite_never_applies_a_batch_twice() {
    sigkill_trials(Kind::Lite, 2).await;
}

/// Every run in a fresh empty data dir (a Kubernetes pod): the second reads
/// only the rows added since the first.
#[tokio::test]
async fn a_fresh_data_dir_resumes_from_the_watermark_in_the_target() {
    let test = "fresh data dir";
    let env = Env::new();
    let Some((src, tgt, text)) = counted_setup(test, &env, Kind::Pg).await else {
        return;
    };
    add_rows(&src, 1, 1_000).await;
    env.write(&text);
    let first = env.dsp(&["run", "J"], &[]);
    assert_eq!(first.code, 0, "{}", first.all());
    assert!(first.stdout.contains("Total: 1,000,"), "{}", first.all());
    assert_eq!(
        state_field(&tgt, "watermark").await.as_deref(),
        Some("1000")
    );
    add_rows(&src, 1_001, 1_010).await;
    let pod = other_host(&text);
    let second = pod.dsp(&["run", "J"], &[]);
    assert_eq!(second.code, 0, "{}", second.all());
    // The row at the watermark and the ten new ones.
    assert!(second.stdout.contains("Total: 11,"), "{}", second.all());
    assert!(tgt.dump("inc_copy").await == src.dump("inc").await);
    assert_eq!(
        state_field(&tgt, "watermark").await.as_deref(),
        Some("1010")
    );
    assert_eq!(state_field(&tgt, "run_total").await.as_deref(), Some("11"));
    // A dry run in yet another fresh dir reads from the target too, and
    // writes nothing there.
    let before = state_field(&tgt, "updated_at").await;
    let dry = other_host(&text).dsp(&["run", "--dry-run", "J"], &[]);
    assert_eq!(dry.code, 0, "{}", dry.all());
    assert!(dry.all().contains(">= 1010"), "{}", dry.all());
    assert_eq!(state_field(&tgt, "updated_at").await, before);
}

/// A job switched from the data dir carries its watermark over; `dsp reset`
/// forgets it in the target too; a dry run against a target without the
/// state table creates nothing.
#[tokio::test]
async fn switching_to_target_state_carries_the_watermark_and_reset_clears_it() {
    let test = "carry-over and reset";
    let env = Env::new();
    let Some((src, tgt, text)) = counted_setup(test, &env, Kind::Pg).await else {
        return;
    };
    add_rows(&src, 1, 500).await;
    let in_data_dir = text.replace("state = \"target\"\n", "");
    env.write(&in_data_dir);
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!tgt.tables().await.iter().any(|t| t.ends_with("_dsp_state")));

    add_rows(&src, 501, 520).await;
    env.write(&text);
    let dry = env.dsp(&["run", "--dry-run", "J"], &[]);
    assert_eq!(dry.code, 0, "{}", dry.all());
    assert!(
        !tgt.tables().await.iter().any(|t| t.ends_with("_dsp_state")),
        "a dry run created the state table"
    );
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .contains("Carried the watermark 500 of job \"J\" over"),
        "{}",
        out.all()
    );
    assert!(out.stdout.contains("Total: 21,"), "{}", out.all());
    assert_eq!(state_field(&tgt, "watermark").await.as_deref(), Some("520"));

    let reset = env.dsp(&["reset", "--yes", "J"], &[]);
    assert_eq!(reset.code, 0, "{}", reset.all());
    assert!(reset.stdout.contains("520"), "{}", reset.all());
    assert_eq!(state_field(&tgt, "watermark").await, None);
    let out = other_host(&text).dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("Total: 520,"), "{}", out.all());
}

#[test]
fn a_state_other_than_data_dir_or_target_is_refused() {
    let env = Env::new();
    let ws = crate::support::workspace::WorkspaceToml::new()
        .sqlite("Source", &env.sqlite("s"))
        .sqlite("Target", &env.sqlite("t"))
        .schema_job(&crate::support::workspace::SchemaJob::new("src", "dst"))
        .build()
        .replace("mode = \"full\"", "mode = \"full\"\nstate = \"database\"");
    env.write(&ws);
    let out = env.dsp(&["check"], &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("state") && out.stderr.contains("data_dir, target"),
        "{}",
        out.all()
    );
}

/// `dsp verify` beside a run of the job, on this host (the data dir's lock)
/// and on another (the target's lock, asked without taking it): it says the
/// job is running instead of listing rows the run is about to change. A
/// SIGKILLed run's stale `running` row does not stop it afterwards.
async fn verify_beside_a_run(target: Kind) {
    let test = format!("verify beside a run on {target:?}");
    let env = Env::new();
    let Some((_src, _tgt, text)) = big_setup(&test, &env, target).await else {
        return;
    };
    let text = in_target(&text);
    env.write(&text);
    let (mut first, _lines, _reader) = start_until_first_batch(&env);
    let here = env.dsp(&["verify", "J"], &[]);
    let host = other_host(&text);
    let there = host.dsp(&["verify", "J"], &[]);
    first.kill().expect("SIGKILL dsp");
    first.wait().unwrap();
    here.assert_no_panic(&test);
    assert_eq!(here.code, 1, "{test}: this host\n{}", here.all());
    assert!(
        here.all()
            .contains("job \"J\" is running; its target is changing"),
        "{test}: this host\n{}",
        here.all()
    );
    there.assert_no_panic(&test);
    assert_eq!(there.code, 1, "{test}: another host\n{}", there.all());
    assert!(
        there.all().contains("another DSP (on ") && there.all().contains("verify it when"),
        "{test}: another host\n{}",
        there.all()
    );
    // The holder died: its row still says running, but the lock is free.
    let out = run_once_free(&host);
    assert_eq!(out.code, 0, "{test}: run after the kill\n{}", out.all());
    let v = host.dsp(&["verify", "J"], &[]);
    assert_eq!(v.code, 0, "{test}: verify after the run\n{}", v.all());
}

#[tokio::test]
async fn verify_beside_a_run_on_a_pg_target() {
    verify_beside_a_run(Kind::Pg).await;
}

#[tokio::test]
async fn verify_beside_a_run_on_a_mysql_target() {
    verify_beside_a_run(Kind::My).await;
}
