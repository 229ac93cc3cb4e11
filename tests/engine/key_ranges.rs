//! A whole-table read from PostgreSQL split into key ranges read at once on
//! sessions sharing one snapshot (`DSP_READ_RANGES` forces it on this small
//! machine). The ranges together must be exactly the table: every row once,
//! the NULL key still failed by name, the extremes of bigint in place; a
//! range whose session dies fails the run and leaves the target as it was;
//! a MySQL source, which cannot share a snapshot, reads on one session.

use sqlx::Row;

use crate::small_job::schema_job;
use crate::support::cli::*;
use crate::support::end::{End, Kind};

const DDL: &str = "(id BIGINT, t TEXT, n NUMERIC(12,3), ts TIMESTAMPTZ, j JSONB)";
const COLS: &str = r#"  { source = "id", target = "id", type = "integer" },
  { source = "t", target = "t", type = "string" },
  { source = "n", target = "n", type = "decimal" },
  { source = "ts", target = "ts", type = "timestamp" },
  { source = "j", target = "j", type = "json" },"#;
const THREE: &[(&str, &str)] = &[("DSP_READ_RANGES", "3")];
const RANGES: &str = "in 3 ranges of id at once";

/// Rows with keys from -60,000 to 60,000 in steps of 7, so that each of
/// three ranges holds some; hostile text, NULLs, and one NULL key.
async fn fill(src: &End, table: &str) {
    src.exec(&format!("CREATE TABLE {table} {DDL}")).await;
    src.exec(&format!(
        "INSERT INTO {table} SELECT g, CASE g % 5 WHEN 0 THEN NULL WHEN 1 THEN '' \
         ELSE E'r\\t' || g || ' é 😀 ''q''' END, g / 1000.0, \
         '2024-01-01 00:00:00+00'::timestamptz + g * interval '1.000001 second', \
         jsonb_build_object('g', g, 'a', jsonb_build_array(g, 'x')) \
         FROM generate_series(-60000, 60000, 7) g; \
         INSERT INTO {table} (id, t) VALUES (NULL, 'no key')"
    ))
    .await;
}

/// Each row of `table` as PostgreSQL prints the whole record, in key order,
/// without the NULL key (which no target can hold).
async fn records(end: &End, table: &str) -> Vec<String> {
    let End::Pg(_, p) = end else {
        panic!("a PostgreSQL end");
    };
    let sql = format!("SELECT x::text FROM {table} x WHERE id IS NOT NULL ORDER BY id");
    sqlx::query(&sql)
        .fetch_all(p)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
}

/// A PostgreSQL source and target for `test`; `None` when the server is
/// missing (the test has said it skipped).
async fn pg_pair(test: &str, env: &Env) -> Option<(End, End)> {
    let src = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await?;
    let tgt = End::new(Kind::Pg, &format!("{test} (target)"), &env.dir, "").await?;
    Some((src, tgt))
}

/// The target table, of the source's very types (rows pass through).
const TARGET: &str = "CREATE TABLE dst (id BIGINT PRIMARY KEY, t TEXT, n NUMERIC(12,3), \
                      ts TIMESTAMPTZ, j JSONB)";

fn workspace(src: &End, tgt: &End, extra: &str) -> String {
    src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + &schema_job("src", "dst", 500, COLS)
        + extra
}

#[tokio::test]
async fn key_ranges_read_every_row_once_passed_through_or_converted() {
    let test = "PostgreSQL read in key ranges";
    let env = Env::new();
    let Some((src, tgt)) = pg_pair(test, &env).await else {
        return;
    };
    fill(&src, "src").await;
    let want = records(&src, "src").await;
    assert_eq!(want.len(), 17_143);

    // The same column types: tuples go through as the source encoded them.
    tgt.exec(TARGET).await;
    env.write(&workspace(&src, &tgt, "max_failed = 1\n"));
    let out = env.dsp(&["run", "J"], THREE);
    out.assert_no_panic(test);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    for said in [
        RANGES,
        "rows are copied in the source's binary form",
        "Total: 17,144, Success: 17,143, Failed: 1",
        "key column id is NULL",
    ] {
        assert!(out.stdout.contains(said), "{test}: {said:?}\n{}", out.all());
    }
    assert_eq!(records(&tgt, "dst").await, want, "{test}: passed through");

    // A target whose text column is varchar: every value is decoded and
    // converted, from the same ranges.
    tgt.exec(
        "DROP TABLE dst; CREATE TABLE dst (id BIGINT PRIMARY KEY, t VARCHAR(100), \
              n NUMERIC(12,3), ts TIMESTAMPTZ, j JSONB)",
    )
    .await;
    let out = env.dsp(&["run", "J"], THREE);
    assert_eq!(out.code, 0, "{test}: converted\n{}", out.all());
    assert!(out.stdout.contains(RANGES), "{test}\n{}", out.all());
    assert!(!out.stdout.contains("binary form"), "{test}\n{}", out.all());
    assert_eq!(records(&tgt, "dst").await, want, "{test}: converted");

    // The extremes of bigint: the ranges' boundaries must not overflow, and
    // the rows at both ends must be read.
    src.exec(
        "DELETE FROM src WHERE id IS NULL; INSERT INTO src (id, t) VALUES \
              (-9223372036854775808, 'min'), (9223372036854775807, 'max')",
    )
    .await;
    tgt.exec("TRUNCATE dst").await;
    let out = env.dsp(&["run", "J"], THREE);
    assert_eq!(out.code, 0, "{test}: extremes\n{}", out.all());
    assert!(out.stdout.contains(RANGES), "{test}\n{}", out.all());
    assert!(
        out.stdout.contains("Total: 17,145, Success: 17,145"),
        "{test}\n{}",
        out.all()
    );
    assert_eq!(
        records(&tgt, "dst").await,
        records(&src, "src").await,
        "{test}: extremes"
    );
    let verified = env.dsp(&["verify", "J"], &[]);
    assert_eq!(verified.code, 0, "{test}: verify\n{}", verified.all());
}

/// The session of one range is killed while the rows stream: the run fails,
/// naming the source, and the target keeps the copy it held.
#[tokio::test]
async fn a_range_whose_session_dies_fails_the_run_and_keeps_the_target() {
    let test = "PostgreSQL key range cut";
    let env = Env::new();
    let Some((src, tgt)) = pg_pair(test, &env).await else {
        return;
    };
    // Larger than what the run buffers (its channels and sockets), so that
    // the ranges' sessions are still sending when one is killed.
    src.exec(&format!(
        "CREATE TABLE src {DDL}; INSERT INTO src SELECT g, 'row ' || g, g / 7.0, \
         '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second', \
         jsonb_build_object('g', g) FROM generate_series(1, 300000) g"
    ))
    .await;
    tgt.exec(TARGET).await;
    // `full_copy`: a target holding rows is otherwise compared by segments,
    // which reads only the rows that differ.
    // The job's own `read_ranges` asks for the ranges here.
    env.write(&workspace(
        &src,
        &tgt,
        "full_copy = true\nread_ranges = 3\n",
    ));
    let first = env.dsp(&["run", "J"], &[]);
    assert_eq!(first.code, 0, "{test}: first copy\n{}", first.all());
    let before = records(&tgt, "dst").await;
    src.exec("UPDATE src SET t = 'changed'").await;

    let (child, lines, reader) = start_until_batch_with(&env, 1, &[("DSP_PACE_MS", "20")]);
    assert!(lines.concat().contains(RANGES), "{test}: {lines:?}");
    let End::Pg(_, pool) = &src else {
        unreachable!()
    };
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'COPY (%\"id\" >= %' \
         AND pid <> pg_backend_pid()",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let out = finish(child, lines, reader);
    out.assert_no_panic(test);
    if killed == 0 {
        // The ranges' sessions were done already: the run must then be whole.
        assert_eq!(out.code, 0, "{test}\n{}", out.all());
        assert_eq!(records(&tgt, "dst").await, records(&src, "src").await);
        panic!("{test}: no range session was left to kill; make the table larger");
    }
    out.assert_failed_naming(test, &["Source"]);
    assert!(
        !out.stdout.contains("Sync completed"),
        "{test}\n{}",
        out.all()
    );
    assert_eq!(records(&tgt, "dst").await, before, "{test}: target changed");
}

#[tokio::test]
async fn a_mysql_source_reads_on_one_session() {
    let test = "MySQL source, ranges asked";
    let env = Env::new();
    let Some(src) = End::new(Kind::My, &format!("{test} (source)"), &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, &format!("{test} (target)"), &env.dir, "").await else {
        return;
    };
    src.exec("CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, n BIGINT)")
        .await;
    src.exec("INSERT INTO src SELECT seq, CONCAT('v', seq), seq * 2 FROM seq_1_to_40000")
        .await;
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 5000, crate::small_job::COLS)),
    );
    let out = env.dsp(&["run", "J"], THREE);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    assert!(
        !out.stdout.contains("ranges of id"),
        "{test}\n{}",
        out.all()
    );
    assert!(
        out.stdout.contains("Total: 40,000, Success: 40,000"),
        "{test}\n{}",
        out.all()
    );
    assert_eq!(tgt.dump("dst").await, src.dump("src").await, "{test}");

    // Asked for by the job itself, the run says why it reads on one session.
    tgt.exec("DROP TABLE dst").await;
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &tgt.network_toml("Target")
            + &schema_job("src", "dst", 5000, crate::small_job::COLS)
            + "read_ranges = 3\n"),
    );
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    let why = "src is read on one session: this source's sessions cannot share a snapshot";
    assert!(out.stdout.contains(why), "{test}\n{}", out.all());
    assert_eq!(tgt.dump("dst").await, src.dump("src").await, "{test}");
}

/// The source stops answering (a proxy that stops forwarding, sockets open)
/// while the ranges stream: the run fails within the network's
/// `stall_timeout`, naming it, and the target stays empty.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_range_fails_the_run_within_the_stall_timeout() {
    let test = "PostgreSQL key ranges, source stalls";
    let env = Env::new();
    let Some((src, tgt)) = pg_pair(test, &env).await else {
        return;
    };
    fill(&src, "src").await;
    tgt.exec(TARGET).await;
    let End::Pg(db, _) = &src else { unreachable!() };
    let upstream = format!("{}:{}", db.host.replace("localhost", "127.0.0.1"), db.port);
    let proxy = crate::support::proxy::Proxy::start(upstream.parse().unwrap()).await;
    let via_proxy = src
        .network_toml("Source")
        .replace(
            &format!("port = {}", db.port),
            &format!("port = {}", proxy.addr.port()),
        )
        .replace(&format!("host = \"{}\"", db.host), "host = \"127.0.0.1\"")
        + "stall_timeout = \"2s\"\n";
    env.write(
        &(via_proxy + "\n" + &tgt.network_toml("Target") + &schema_job("src", "dst", 500, COLS)),
    );
    // Past the connections, the catalog and the ranges' set-up, inside the rows.
    proxy.fault_after(200_000, false);
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        let out = env.dsp(&["run", "J"], THREE);
        (out, env)
    });
    let (out, _env) = tokio::time::timeout(std::time::Duration::from_secs(60), out)
        .await
        .expect("the run hung past its stall_timeout")
        .unwrap();
    out.assert_failed_naming(test, &["Source", "stall_timeout"]);
    assert!(
        out.stdout.contains(RANGES),
        "{test}: not read in ranges\n{}",
        out.all()
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{test}"
    );
    assert_eq!(
        records(&tgt, "dst").await,
        Vec::<String>::new(),
        "{test}: all or nothing"
    );
}

/// `read_ranges` outside 1–8 is refused by the loader, naming the key.
#[test]
fn read_ranges_out_of_range_is_refused_by_name() {
    let env = Env::new();
    let path = env.sqlite("a.db");
    for bad in ["0", "9", "\"4\""] {
        env.write(
            &(crate::support::workspace::sqlite_network_toml("Source", &path)
                + &schema_job("src", "dst", 500, crate::small_job::COLS)
                + &format!("read_ranges = {bad}\n")),
        );
        let out = env.dsp(&["check"], &[]);
        out.assert_no_panic("read_ranges");
        assert_eq!(out.code, 2, "read_ranges = {bad}\n{}", out.all());
        assert!(
            out.stderr.contains("read_ranges"),
            "read_ranges = {bad}\n{}",
            out.all()
        );
    }
}
