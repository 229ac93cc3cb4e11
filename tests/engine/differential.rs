//! A differential full sync between every pair of engines: after a first
//! copy, every kind of change `dsp verify` finds (on either side) is applied
//! by reading only the segments that differ, the counts are exact, and the
//! target mirrors the source; `full_copy = true` keeps the whole copy.

use dsp::engine::progress::{Changes, RunStatus};
use dsp::engine::verify::Outcome;
use dsp::paths::DataDir;
use dsp::workspace::{Job, SyncMode, Workspace};

use crate::support;
use crate::support::end::{End, Kind};
use crate::support::run::run_and_collect;
use crate::verify::{ddl, insert, schema, small, two, verify};

const ROWS: i64 = 2_000;

fn workspace(src: &End, tgt: &End) -> Workspace {
    let mut whole = Job::new("Whole", "Src", "Tgt", "all", SyncMode::Full);
    whole.full_copy = Some(true);
    Workspace {
        path: None,
        networks: vec![src.network("Src"), tgt.network("Tgt")],
        schemas: vec![schema("all", true), schema("plain", false)],
        jobs: vec![
            Job::new("All", "Src", "Tgt", "all", SyncMode::Full),
            Job::new("Plain", "Src", "Tgt", "plain", SyncMode::Full),
            whole,
        ],
        ..Default::default()
    }
}

async fn fill(end: &End, kind: Kind) {
    end.exec(ddl(kind)).await;
    for start in (1..=ROWS).step_by(500) {
        end.exec(&insert(kind, start..=(start + 499).min(ROWS)))
            .await;
    }
}

fn has(lines: &[String], text: &str) -> bool {
    lines.iter().any(|l| l.contains(text))
}

/// The number on the `Total records:` line.
fn total(lines: &[String]) -> u64 {
    lines
        .iter()
        .find_map(|l| l.split("Total records: ").nth(1))
        .map(|n| n.replace(',', "").trim().parse().unwrap())
        .expect("a Total records line")
}

/// The source filtered by segment: only the differing ones were read.
fn assert_fetched_few(test: &str, lines: &[String], summary_total: u64) {
    let fetched = total(lines);
    assert!(
        fetched > 0 && fetched < ROWS as u64 / 10,
        "{test}: fetched {fetched}: {lines:#?}"
    );
    assert_eq!(summary_total, fetched, "{test}");
}

async fn pair(source: Kind, target: Kind) {
    let test = format!("differential {source:?} -> {target:?}");
    let dir = support::temp_dir();
    let Some(src) = End::new(source, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(target, &test, &dir, "target").await else {
        return;
    };
    fill(&src, source).await;
    let ws = workspace(&src, &tgt);
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "All", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert!(has(&lines, "Full copy: target empty"), "{test}: {lines:#?}");

    // Unchanged: nothing differs, nothing is read or written.
    let (summary, lines) = run_and_collect(&ws, "All", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    // Across engines the servers may spell JSON differently: every segment
    // of a job that maps it differs then, and the whole table is copied and
    // compared row by row (slower, never wrong).
    let json_agrees = has(&lines, "Differential full sync: 0 of ");
    assert!(
        json_agrees || has(&lines, "Full copy: 125 of 125 segments differ"),
        "{test}: {lines:#?}"
    );
    if source == target {
        assert!(json_agrees, "{test}: {lines:#?}");
    }
    let unchanged = Changes {
        unchanged: ROWS as u64,
        ..Changes::default()
    };
    assert_eq!(summary.changes, Some(unchanged), "{test}");

    // One change of each kind, on either side.
    let tz = if target == Kind::Pg { "+00" } else { "" };
    tgt.exec(&format!(
        "UPDATE items SET at = '2024-01-01 10:00:10.000011{tz}' WHERE id = 10"
    ))
    .await;
    src.exec("UPDATE items SET amount = '60.0741' WHERE id = 20")
        .await;
    tgt.exec(r#"UPDATE items SET doc = '{"a": 30, "b": "y"}' WHERE id = 30"#)
        .await;
    tgt.exec("UPDATE items SET note = '' WHERE id = 40").await;
    src.exec("UPDATE items SET name = 'edited' WHERE id = 45")
        .await;
    src.exec("DELETE FROM items WHERE id = 50").await;
    tgt.exec("DELETE FROM items WHERE id = 60").await;
    src.exec(&insert(source, 5000..=5000)).await;
    tgt.exec("INSERT INTO items (id, name) VALUES (7000, 'extra')")
        .await;

    let (summary, lines) = run_and_collect(&ws, "All", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert_eq!(
        has(&lines, "Differential full sync: "),
        json_agrees,
        "{test}: {lines:#?}"
    );
    let expected = Changes {
        inserted: 2,
        updated: 5,
        deleted: 2,
        unchanged: ROWS as u64 - 7,
    };
    assert_eq!(summary.changes, Some(expected), "{test}: {lines:#?}");
    if json_agrees && source != Kind::Lite {
        assert_fetched_few(&test, &lines, summary.total);
    }

    // The target mirrors the source: by checksum and row by row (verify),
    // and by the target's own comparison of every row (a whole copy finds
    // nothing to change).
    for job in ["All", "Plain"] {
        let v = verify(&ws, job, &data).await;
        assert_eq!(v.outcome, Outcome::Identical, "{test} {job}: {v:#?}");
    }
    // Without the JSON column every server checksums alike: a change is
    // found by reading its segment only.
    src.exec("UPDATE items SET name = 'again' WHERE id = 70")
        .await;
    let (summary, lines) = run_and_collect(&ws, "Plain", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert!(
        has(&lines, "Differential full sync: "),
        "{test}: {lines:#?}"
    );
    if source != Kind::Lite && target != Kind::Lite {
        assert!(
            has(&lines, ", 1 of their rows by row hash"),
            "{test}: both servers hash rows, so one row is fetched: {lines:#?}"
        );
        assert_eq!(total(&lines), 1, "{test}: {lines:#?}");
    }
    let expected = Changes {
        updated: 1,
        unchanged: ROWS as u64 - 1,
        ..Changes::default()
    };
    assert_eq!(summary.changes, Some(expected), "{test}: {lines:#?}");
    if source != Kind::Lite {
        assert_fetched_few(&test, &lines, summary.total);
    }
    assert_eq!(
        summary.success + summary.failed,
        summary.total,
        "{test}: every row read is a success or a failure: {lines:#?}"
    );

    let (summary, lines) = run_and_collect(&ws, "Whole", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert!(
        has(&lines, "Full copy: the job sets full_copy = true"),
        "{test}: {lines:#?}"
    );
    assert_eq!(total(&lines), ROWS as u64, "{test}: a whole copy reads all");
    let c = summary.changes.unwrap();
    assert_eq!(
        (c.inserted, c.updated, c.deleted),
        (0, 0, 0),
        "{test}: {lines:#?}"
    );

    // The guards: deleting over max_delete_percent is refused, nothing written.
    let mut ws = ws;
    ws.jobs[1].max_delete_percent = Some(1.0);
    src.exec("DELETE FROM items WHERE id % 50 = 7").await;
    let (summary, lines) = run_and_collect(&ws, "Plain", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Failed, "{test}: {lines:#?}");
    assert!(
        has(&lines, "Differential full sync: "),
        "{test}: {lines:#?}"
    );
    let err = summary.error.unwrap();
    assert!(
        err.contains("would delete 40 of 2,000 rows"),
        "{test}: {err}"
    );
    let v = verify(&ws, "All", &data).await;
    assert_eq!(
        v.target_rows, ROWS as u64,
        "{test}: the target kept its rows"
    );
    // Most segments differing, the whole table is copied; an empty source
    // is refused there.
    src.exec("UPDATE items SET name = 'all new'").await;
    let (summary, lines) = run_and_collect(&ws, "All", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert!(
        lines.iter().any(|l| l.starts_with("[INFO] Full copy: ")
            && l.ends_with("segments differ, holding most of the target's rows")),
        "{test}: {lines:#?}"
    );
    src.exec("DELETE FROM items").await;
    let (summary, lines) = run_and_collect(&ws, "All", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Failed, "{test}: {lines:#?}");
    assert!(summary.error.unwrap().contains("allow_empty"), "{test}");
    let v = verify(&ws, "All", &data).await;
    assert_eq!(v.target_rows, 1_960, "{test}: the target kept its rows");
}

#[tokio::test]
async fn pg_to_pg() {
    pair(Kind::Pg, Kind::Pg).await;
}

#[tokio::test]
async fn mysql_to_pg() {
    pair(Kind::My, Kind::Pg).await;
}

#[tokio::test]
async fn pg_to_mysql() {
    pair(Kind::Pg, Kind::My).await;
}

#[tokio::test]
async fn sqlite_to_pg() {
    pair(Kind::Lite, Kind::Pg).await;
}

#[tokio::test]
async fn sqlite_to_sqlite() {
    pair(Kind::Lite, Kind::Lite).await;
}

#[tokio::test]
async fn mysql_to_mysql() {
    pair(Kind::My, Kind::My).await;
}

/// A two-column key with text in it (hash buckets, no key list): the rows
/// that differ are still told apart by their row hashes, fetched by
/// segment and kept by key, and every kind of change lands.
async fn composite(source: Kind, target: Kind) {
    use dsp::workspace::ColumnType;
    let test = format!("differential composite {source:?} -> {target:?}");
    let dir = support::temp_dir();
    let Some(src) = End::new(source, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(target, &test, &dir, "target").await else {
        return;
    };
    src.exec("CREATE TABLE t (org INT NOT NULL, code VARCHAR(20) NOT NULL, v TEXT, PRIMARY KEY (org, code))")
        .await;
    let rows: Vec<String> = (1..=1500)
        .map(|i| format!("({}, 'c~{i}', 'v {i}')", i % 7))
        .collect();
    src.exec(&format!("INSERT INTO t VALUES {}", rows.join(", ")))
        .await;
    let (int, text) = (ColumnType::Integer, ColumnType::String);
    let columns = [("org", int), ("code", text), ("v", text)];
    let ws = small(&src, &tgt, &["org", "code"], &columns);
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");

    src.exec("UPDATE t SET v = 'edited' WHERE org = 3 AND code = 'c~10'")
        .await;
    src.exec("DELETE FROM t WHERE org = 4 AND code = 'c~11'")
        .await;
    src.exec("INSERT INTO t VALUES (9, 'new', NULL)").await;
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert!(
        has(&lines, ", 2 of their rows by row hash"),
        "{test}: {lines:#?}"
    );
    let expected = Changes {
        inserted: 1,
        updated: 1,
        deleted: 1,
        unchanged: 1498,
    };
    assert_eq!(summary.changes, Some(expected), "{test}: {lines:#?}");
    // Rows of the differing segments read and found equal count as a whole
    // copy counts them: Total = Success + Failed.
    assert_eq!(
        (summary.success + summary.failed, summary.failed),
        (summary.total, 0),
        "{test}: {lines:#?}"
    );
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Identical, "{test}: {v:#?}");
}

#[tokio::test]
async fn composite_key_pg_to_mysql() {
    composite(Kind::Pg, Kind::My).await;
}

#[tokio::test]
async fn composite_key_mysql_to_pg() {
    composite(Kind::My, Kind::Pg).await;
}

/// Values the servers spell differently (MariaDB keeps a JSON document as
/// written, PostgreSQL as jsonb) make their rows' hashes differ though the
/// rows are equal: those rows are fetched and compared, and found
/// unchanged; a real change beside them is still applied. A checksum that
/// cannot tell is never a reason to skip a row.
#[tokio::test]
async fn rows_whose_hashes_differ_but_values_agree_are_compared_not_skipped() {
    use dsp::workspace::ColumnType;
    let test = "differential spelled otherwise";
    let dir = support::temp_dir();
    let Some(src) = End::new(Kind::My, test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, test, &dir, "target").await else {
        return;
    };
    src.exec("CREATE TABLE t (id INT PRIMARY KEY, doc JSON)")
        .await;
    let rows: Vec<String> = (1..=1500)
        .map(|i| match i {
            100 | 700 | 1300 => format!("({i}, '{{\"b\":{i},   \"a\":1}}')"),
            _ => format!("({i}, JSON_OBJECT('a', {i}))"),
        })
        .collect();
    src.exec(&format!("INSERT INTO t VALUES {}", rows.join(", ")))
        .await;
    let ws = small(
        &src,
        &tgt,
        &["id"],
        &[("id", ColumnType::Integer), ("doc", ColumnType::Json)],
    );
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");

    src.exec(r#"UPDATE t SET doc = '{"a": 6}' WHERE id = 5"#)
        .await;
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert!(
        has(&lines, ", 4 of their rows by row hash"),
        "{test}: the three spelled otherwise and the changed one: {lines:#?}"
    );
    let expected = Changes {
        updated: 1,
        unchanged: 1499,
        ..Changes::default()
    };
    assert_eq!(summary.changes, Some(expected), "{test}: {lines:#?}");
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Identical, "{test}: {v:#?}");
}

/// Scattered changes leave one differing row in most segments: the
/// segment's sums name that row's key, whose rows alone are then read on
/// both ends. A segment holding several changes names none and is listed
/// whole; every change of both kinds of segment lands.
async fn located(source: Kind, target: Kind) {
    use dsp::workspace::ColumnType;
    let test = format!("differential located {source:?} -> {target:?}");
    let dir = support::temp_dir();
    let Some((src, tgt)) = two((source, target), &test, &dir).await else {
        return;
    };
    src.exec("CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT)")
        .await;
    let rows: Vec<String> = (1..=3000).map(|i| format!("({i}, 'v {i}')")).collect();
    src.exec(&format!("INSERT INTO t VALUES {}", rows.join(", ")))
        .await;
    let columns = [("id", ColumnType::Integer), ("v", ColumnType::String)];
    let ws = small(&src, &tgt, &["id"], &columns);
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");

    // Alone in their segments (of 16 keys): an update on each end, a
    // delete, an insert. Crowded in one segment: three updates.
    src.exec("UPDATE t SET v = 'new' WHERE id IN (100, 500, 1601, 1602, 1605)")
        .await;
    tgt.exec("UPDATE t SET v = 'drifted' WHERE id = 2000").await;
    src.exec("DELETE FROM t WHERE id = 900").await;
    src.exec("INSERT INTO t VALUES (3001, 'added')").await;
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert!(
        has(
            &lines,
            "6 of 188 segments differ, 7 of their rows by row hash (5 segments located by their sums)"
        ),
        "{test}: {lines:#?}"
    );
    let expected = Changes {
        inserted: 1,
        updated: 6,
        deleted: 1,
        unchanged: 2993,
    };
    assert_eq!(summary.changes, Some(expected), "{test}: {lines:#?}");
    assert_eq!(
        total(&lines),
        7,
        "{test}: only the rows that differ: {lines:#?}"
    );
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Identical, "{test}: {v:#?}");

    // After a run that changed nothing the sums are not weighted (a pass
    // the cheaper): a change is then found by listing its segment.
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.changes.map(|c| c.unchanged), Some(3000), "{test}");
    src.exec("UPDATE t SET v = 'later' WHERE id = 1234").await;
    let (summary, lines2) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert!(
        has(
            &lines2,
            "1 of 188 segments differ, 1 of their rows by row hash"
        ) && !has(&lines2, "located by their sums"),
        "{test}: {lines:#?} {lines2:#?}"
    );
    assert_eq!(summary.changes.map(|c| c.updated), Some(1), "{test}");
}

#[tokio::test]
async fn scattered_changes_are_located_by_sums_pg_to_pg() {
    located(Kind::Pg, Kind::Pg).await;
}

#[tokio::test]
async fn scattered_changes_are_located_by_sums_mysql_to_pg() {
    located(Kind::My, Kind::Pg).await;
}

#[tokio::test]
async fn scattered_changes_are_located_by_sums_pg_to_mysql() {
    located(Kind::Pg, Kind::My).await;
}

/// Tables of more than `ESTIMATE_FROM` rows are sized by the planner's
/// estimate, not a `COUNT(*)`; the counts that decide anything come from
/// the checksum pass. Here the estimate is stale on purpose (120,000 rows
/// analyzed, then every source row deleted, autovacuum off): verify still
/// counts 0 source rows, and the run still stops at the empty-source guard
/// with the target whole, where taking the estimate for a count would
/// have gone on to delete it.
async fn stale_estimate(source: Kind) {
    use dsp::workspace::ColumnType;
    const BIG: u64 = 120_000;
    let test = format!("differential stale estimate {source:?} -> Pg");
    let dir = support::temp_dir();
    let Some(src) = End::new(source, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, &test, &dir, "target").await else {
        return;
    };
    match source {
        Kind::Pg => {
            src.exec(
                "CREATE TABLE t (id bigint PRIMARY KEY, v text) WITH (autovacuum_enabled = false)",
            )
            .await;
            src.exec(&format!(
                "INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, {BIG}) AS i"
            ))
            .await;
            src.exec("ANALYZE t").await;
        }
        _ => {
            src.exec("CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT) STATS_AUTO_RECALC = 0")
                .await;
            src.exec(&format!(
                "INSERT INTO t WITH d(n) AS (SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 \
                 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 \
                 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) \
                 SELECT i, CONCAT('v', i) FROM (SELECT 1 + a.n + 10 * b.n + 100 * c.n + 1000 * e.n \
                 + 10000 * f.n + 100000 * g.n AS i FROM d a, d b, d c, d e, d f, d g) s WHERE i <= {BIG}"
            ))
            .await;
            src.exec("ANALYZE TABLE t").await;
        }
    }
    let ws = small(
        &src,
        &tgt,
        &["id"],
        &[("id", ColumnType::Integer), ("v", ColumnType::String)],
    );
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");

    src.exec("UPDATE t SET v = 'edited' WHERE id IN (7, 70000)")
        .await;
    src.exec("DELETE FROM t WHERE id = 119999").await;
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    assert!(
        has(&lines, "Differential full sync: "),
        "{test}: {lines:#?}"
    );
    let expected = Changes {
        updated: 2,
        deleted: 1,
        unchanged: BIG - 3,
        ..Changes::default()
    };
    assert_eq!(summary.changes, Some(expected), "{test}: {lines:#?}");
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Identical, "{test}: {v:#?}");
    assert_eq!((v.source_rows, v.target_rows), (BIG - 1, BIG - 1), "{test}");

    src.exec("DELETE FROM t").await;
    let v = verify(&ws, "K", &data).await;
    assert_eq!((v.source_rows, v.target_rows), (0, BIG - 1), "{test}");
    assert_eq!(v.only_in_target, BIG - 1, "{test}");
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Failed, "{test}: {lines:#?}");
    assert!(summary.error.unwrap().contains("allow_empty"), "{test}");
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.target_rows, BIG - 1, "{test}: the target kept its rows");
}

#[tokio::test]
async fn a_stale_row_estimate_never_stands_for_a_count_pg_to_pg() {
    stale_estimate(Kind::Pg).await;
}

#[tokio::test]
async fn a_stale_row_estimate_never_stands_for_a_count_mysql_to_pg() {
    stale_estimate(Kind::My).await;
}
