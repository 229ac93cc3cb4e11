//! `dsp verify` between every pair of engines: identical after a full sync,
//! then each kind of change found and named by key, and nothing else.

use dsp::engine::progress::RunStatus;
use dsp::engine::verify::{Differing, Outcome, Verified, verify_job};
use dsp::paths::DataDir;
use dsp::workspace::{ColumnType, Job, Schema, SyncMode, Workspace};
use tokio_util::sync::CancellationToken;

use crate::seed::col;
use crate::support;
use crate::support::end::{End, Kind};
use crate::support::run::run_and_collect;

const ROWS: i64 = 300;

pub(crate) fn ddl(kind: Kind) -> &'static str {
    match kind {
        Kind::Pg => {
            "CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT, amount NUMERIC(12,4), \
             at TIMESTAMPTZ(6), doc JSONB, note TEXT)"
        }
        Kind::My => {
            "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(100), amount DECIMAL(12,4), \
             at DATETIME(6), doc JSON, note TEXT) DEFAULT CHARSET=utf8mb4"
        }
        Kind::Lite => {
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, amount TEXT, at TEXT, \
             doc TEXT, note TEXT)"
        }
    }
}

/// A timestamp literal of second `s` and microsecond `us` on 2024-01-01 (UTC).
fn at(kind: Kind, s: i64, us: i64) -> String {
    let zone = if kind == Kind::Pg { "+00" } else { "" };
    format!(
        "'2024-01-01 10:{:02}:{:02}.{us:06}{zone}'",
        (s / 60) % 60,
        s % 60
    )
}

fn row(kind: Kind, i: i64) -> String {
    let note = if i % 5 == 0 {
        "NULL".to_string()
    } else {
        format!("'note {i}'")
    };
    format!(
        "({i}, 'name {i}', {}.{:04}, {}, '{{\"b\": \"x\", \"a\": {i}}}', {note})",
        i * 3,
        (i * 37) % 10000,
        at(kind, i, i)
    )
}

pub(crate) fn insert(kind: Kind, ids: impl Iterator<Item = i64>) -> String {
    let rows: Vec<String> = ids.map(|i| row(kind, i)).collect();
    format!("INSERT INTO items VALUES {}", rows.join(", "))
}

pub(crate) fn schema(name: &str, with_json: bool) -> Schema {
    use ColumnType::*;
    let mut columns = vec![
        col("id", "id", Integer),
        col("name", "name", String),
        col("amount", "amount", Decimal),
        col("at", "at", Timestamp),
        col("note", "note", String),
    ];
    if with_json {
        columns.push(col("doc", "doc", Json));
    }
    Schema {
        name: name.into(),
        source_table: "items".into(),
        target_table: "items".into(),
        primary_key: vec!["id".into()],
        cursor_column: Some("at".into()),
        columns,
    }
}

/// Two jobs over the same tables: every column (JSON, hashed by DSP), and all
/// but the JSON column (checksummed by PostgreSQL and MySQL themselves).
fn workspace(src: &End, tgt: &End) -> Workspace {
    Workspace {
        path: None,
        networks: vec![src.network("Src"), tgt.network("Tgt")],
        schemas: vec![schema("all", true), schema("plain", false)],
        jobs: vec![
            Job::new("All", "Src", "Tgt", "all", SyncMode::Full),
            Job::new("Plain", "Src", "Tgt", "plain", SyncMode::Full),
        ],
        ..Default::default()
    }
}

pub(crate) async fn verify(ws: &Workspace, job: &str, data: &DataDir) -> Verified {
    verify_job(ws, job, data, &CancellationToken::new()).await
}

fn ids(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| format!("id={k}")).collect()
}

fn differing(list: &[(&str, &str)]) -> Vec<Differing> {
    list.iter()
        .map(|(k, c)| Differing {
            key: format!("id={k}"),
            column: c.to_string(),
        })
        .collect()
}

async fn pair(source: Kind, target: Kind) {
    let test = format!("verify {source:?} -> {target:?}");
    let dir = support::temp_dir();
    let Some(src) = End::new(source, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(target, &test, &dir, "target").await else {
        return;
    };
    src.exec(ddl(source)).await;
    src.exec(&insert(source, 1..=ROWS)).await;
    let ws = workspace(&src, &tgt);
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "All", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");

    for job in ["All", "Plain"] {
        let v = verify(&ws, job, &data).await;
        assert_eq!(v.outcome, Outcome::Identical, "{test} {job}: {:#?}", v);
        assert_eq!((v.source_rows, v.target_rows), (300, 300), "{test}");
    }
    let plain = verify(&ws, "Plain", &data).await;
    assert_eq!(
        (
            plain.source_checksums_on_server,
            plain.target_checksums_on_server
        ),
        (source != Kind::Lite, target != Kind::Lite),
        "{test}: which sides checksum on their server"
    );
    // A side hashed by DSP is read once; identical buckets fetch no row more.
    let hashed_by_dsp = 300
        * [source, target]
            .iter()
            .filter(|k| **k == Kind::Lite)
            .count() as u64;
    assert_eq!(plain.rows_fetched, hashed_by_dsp, "{test}");
    // DSP beside a PostgreSQL server hashes each row's text as the server's
    // `hashtextextended` does, and the two agree on every bucket.
    let lite_pg = [source, target].contains(&Kind::Lite) && [source, target].contains(&Kind::Pg);
    assert_eq!(plain.pg_text_hash, lite_pg, "{test}: {plain:#?}");
    assert_eq!(plain.buckets_differing, 0, "{test}: {plain:#?}");

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
    src.exec("DELETE FROM items WHERE id = 50").await;
    tgt.exec("DELETE FROM items WHERE id = 60").await;
    src.exec(&insert(source, 2000..=2000)).await;
    tgt.exec("INSERT INTO items (id, name) VALUES (1000, 'extra')")
        .await;

    let v = verify(&ws, "All", &data).await;
    assert_eq!(v.outcome, Outcome::Different, "{test}: {v:#?}");
    assert_eq!(v.first_only_in_source, ids(&["60", "2000"]), "{test}");
    assert_eq!(v.first_only_in_target, ids(&["50", "1000"]), "{test}");
    assert_eq!(
        v.first_differing,
        differing(&[
            ("10", "at"),
            ("20", "amount"),
            ("30", "doc"),
            ("40", "note")
        ]),
        "{test}"
    );
    assert_eq!((v.only_in_source, v.only_in_target, v.differing), (2, 2, 4));
    assert_eq!((v.unreadable, v.not_yet_synced), (0, 0), "{test}: {v:#?}");

    let v = verify(&ws, "Plain", &data).await;
    assert_eq!(
        v.first_differing,
        differing(&[("10", "at"), ("20", "amount"), ("40", "note")]),
        "{test}: the JSON column is not mapped by this job"
    );
    assert_eq!((v.only_in_source, v.only_in_target), (2, 2), "{test}");
    assert!(
        v.rows_fetched - hashed_by_dsp < 300,
        "{test}: only the differing buckets are read: {v:#?}"
    );

    // A full sync mends every difference.
    let (summary, lines) = run_and_collect(&ws, "All", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    let v = verify(&ws, "All", &data).await;
    assert_eq!(v.outcome, Outcome::Identical, "{test}: {v:#?}");
}

#[tokio::test]
async fn pg_to_pg() {
    pair(Kind::Pg, Kind::Pg).await;
}

#[tokio::test]
async fn pg_to_mysql() {
    pair(Kind::Pg, Kind::My).await;
}

#[tokio::test]
async fn mysql_to_pg() {
    pair(Kind::My, Kind::Pg).await;
}

#[tokio::test]
async fn mysql_to_mysql() {
    pair(Kind::My, Kind::My).await;
}

#[tokio::test]
async fn sqlite_to_pg() {
    pair(Kind::Lite, Kind::Pg).await;
}

#[tokio::test]
async fn pg_to_sqlite() {
    pair(Kind::Pg, Kind::Lite).await;
}

#[tokio::test]
async fn mysql_to_sqlite() {
    pair(Kind::My, Kind::Lite).await;
}

/// A job `K` over table `t` with `columns` and key `key`, from `src` to `tgt`.
pub(crate) fn small(
    src: &End,
    tgt: &End,
    key: &[&str],
    columns: &[(&str, ColumnType)],
) -> Workspace {
    Workspace {
        path: None,
        networks: vec![src.network("Src"), tgt.network("Tgt")],
        schemas: vec![Schema {
            name: "k".into(),
            source_table: "t".into(),
            target_table: "t".into(),
            primary_key: key.iter().map(|k| k.to_string()).collect(),
            cursor_column: None,
            columns: columns.iter().map(|(c, ty)| col(c, c, *ty)).collect(),
        }],
        jobs: vec![Job::new("K", "Src", "Tgt", "k", SyncMode::Full)],
        ..Default::default()
    }
}

pub(crate) async fn two(
    kinds: (Kind, Kind),
    test: &str,
    dir: &tempfile::TempDir,
) -> Option<(End, End)> {
    let src = End::new(kinds.0, test, dir, "source").await?;
    let tgt = End::new(kinds.1, test, dir, "target").await?;
    Some((src, tgt))
}

#[tokio::test]
async fn a_composite_key_names_both_columns() {
    let dir = support::temp_dir();
    let Some((src, tgt)) = two((Kind::Pg, Kind::My), "verify composite", &dir).await else {
        return;
    };
    src.exec(
        "CREATE TABLE t (org INT, id INT, v TEXT, PRIMARY KEY (org, id)); \
         INSERT INTO t SELECT o, i, 'v' || o || '-' || i FROM generate_series(1, 3) o, generate_series(1, 50) i",
    )
    .await;
    use ColumnType::*;
    let ws = small(
        &src,
        &tgt,
        &["org", "id"],
        &[("org", Integer), ("id", Integer), ("v", String)],
    );
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!(verify(&ws, "K", &data).await.outcome, Outcome::Identical);

    tgt.exec("UPDATE t SET v = 'changed' WHERE org = 2 AND id = 5")
        .await;
    src.exec("DELETE FROM t WHERE org = 1 AND id = 1").await;
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Different, "{v:#?}");
    assert_eq!(v.first_only_in_target, vec!["org=1, id=1".to_string()]);
    assert_eq!(
        v.first_differing,
        vec![Differing {
            key: "org=2, id=5".into(),
            column: "v".into()
        }]
    );
    assert_eq!((v.only_in_source, v.only_in_target, v.differing), (0, 1, 1));
}

#[tokio::test]
async fn empty_tables_are_identical_and_an_emptied_source_lists_the_target_rows() {
    let dir = support::temp_dir();
    let Some((src, tgt)) = two((Kind::My, Kind::Pg), "verify empty", &dir).await else {
        return;
    };
    src.exec("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
        .await;
    use ColumnType::*;
    let ws = small(&src, &tgt, &["id"], &[("id", Integer), ("v", String)]);
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Identical, "{v:#?}");
    assert_eq!((v.source_rows, v.target_rows), (0, 0));

    tgt.exec("INSERT INTO t SELECT i, 'x' FROM generate_series(1, 25) i")
        .await;
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Different, "{v:#?}");
    assert_eq!(v.only_in_target, 25);
    assert_eq!(v.first_only_in_target.len(), 10, "the first ten are listed");
    assert_eq!(v.first_only_in_target[0], "id=1");
}

#[tokio::test]
async fn a_missing_target_table_is_one_sentence_naming_it() {
    let dir = support::temp_dir();
    let Some((src, tgt)) = two((Kind::Pg, Kind::Lite), "verify missing target", &dir).await else {
        return;
    };
    src.exec("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
        .await;
    use ColumnType::*;
    let ws = small(&src, &tgt, &["id"], &[("id", Integer), ("v", String)]);
    let data = DataDir::new(dir.path().join("data"));
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Failed);
    let e = v.error.unwrap_or_default();
    assert!(
        e.contains("target table t does not exist") && e.contains("\"Tgt\""),
        "{e}"
    );
    assert_eq!(
        tgt.tables().await,
        Vec::<std::string::String>::new(),
        "verify creates nothing"
    );
}

#[tokio::test]
async fn source_rows_with_a_null_or_repeated_key_are_reported() {
    let dir = support::temp_dir();
    let Some((src, tgt)) = two((Kind::Pg, Kind::Pg), "verify null key", &dir).await else {
        return;
    };
    src.exec("CREATE TABLE t (id INT, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (NULL, 'c'), (2, 'b')")
        .await;
    tgt.exec(
        "CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b')",
    )
    .await;
    use ColumnType::*;
    let ws = small(&src, &tgt, &["id"], &[("id", Integer), ("v", String)]);
    let data = DataDir::new(dir.path().join("data"));
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Different, "{v:#?}");
    assert_eq!(
        (
            v.unreadable,
            v.only_in_source,
            v.only_in_target,
            v.differing
        ),
        (2, 0, 0, 0)
    );
    let said = v.first_unreadable.join("\n");
    assert!(said.contains("key column id is NULL"), "{said}");
    assert!(
        said.contains("key id=2 stands in more than one row"),
        "{said}"
    );
}

#[tokio::test]
async fn an_incremental_job_tells_rows_past_the_watermark_from_differences() {
    let (source, target) = (Kind::Pg, Kind::Pg);
    let test = "verify incremental";
    let dir = support::temp_dir();
    let Some((src, tgt)) = two((source, target), test, &dir).await else {
        return;
    };
    src.exec(ddl(source)).await;
    src.exec(&insert(source, 1..=ROWS)).await;
    let mut ws = workspace(&src, &tgt);
    ws.jobs[0].mode = SyncMode::Incremental;
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "All", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!(verify(&ws, "All", &data).await.outcome, Outcome::Identical);

    // Later rows and a later change: not synced yet. An old row changed in
    // the target: a difference.
    src.exec(&insert(source, 3000..=3001)).await;
    src.exec("UPDATE items SET name = 'renamed', at = '2024-06-01 00:00:00+00' WHERE id = 5")
        .await;
    tgt.exec("UPDATE items SET name = 'wrong' WHERE id = 7")
        .await;
    let v = verify(&ws, "All", &data).await;
    assert_eq!(
        v.first_not_yet_synced,
        ids(&["5", "3000", "3001"]),
        "{v:#?}"
    );
    assert_eq!(v.first_differing, differing(&[("7", "name")]), "{v:#?}");
    assert_eq!((v.only_in_source, v.only_in_target), (0, 0), "{v:#?}");
    assert_eq!(v.outcome, Outcome::Different);

    // The next run syncs them; then only the target's own change remains.
    let (summary, lines) = run_and_collect(&ws, "All", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    let v = verify(&ws, "All", &data).await;
    assert_eq!(v.not_yet_synced, 0, "{v:#?}");
    assert_eq!(v.first_differing, differing(&[("7", "name")]), "{v:#?}");
}

/// `dsp verify` as a script meets it: exit 0 identical, 1 different, 2 an
/// unknown job; text by default, one JSON object per job with `--json`.
#[tokio::test]
async fn dsp_verify_exits_by_outcome_and_speaks_json() {
    use crate::support::cli::Env;
    use crate::support::workspace::{SchemaJob, WorkspaceToml};
    let env = Env::new();
    let (src, tgt) = (env.sqlite("src"), env.sqlite("tgt"));
    let p = crate::support::end::lite_pool(&src).await;
    sqlx::raw_sql(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n INTEGER); \
         WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 500) \
         INSERT INTO t SELECT i, 'v' || i, i * 2 FROM g",
    )
    .execute(&p)
    .await
    .unwrap();
    env.write(
        &WorkspaceToml::new()
            .sqlite("Source", &src)
            .sqlite("Target", &tgt)
            .schema_job(&SchemaJob::new("t", "t"))
            .build(),
    );
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());

    let out = env.dsp(&["verify", "J"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("identical: 500 rows"), "{}", out.all());

    sqlx::raw_sql("UPDATE t SET n = 0 WHERE id = 42")
        .execute(&p)
        .await
        .unwrap();
    p.close().await;
    let out = env.dsp(&["verify", "J"], &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("id=42 (column n)"), "{}", out.all());

    let out = env.dsp(&["verify", "--json", "J"], &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("one JSON object");
    assert_eq!(v["outcome"], "different");
    assert_eq!(v["differing"], 1);
    assert_eq!(v["first_differing"][0]["key"], "id=42");

    let out = env.dsp(&["verify", "J", "Nope"], &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("no job named \"Nope\""),
        "{}",
        out.all()
    );
    out.assert_no_panic("unknown job");
}

/// `(id, 'v<id>')` rows as one INSERT that every engine reads.
fn values(ids: impl Iterator<Item = i64>) -> String {
    let rows: Vec<String> = ids.map(|i| format!("({i}, 'v{i}')")).collect();
    format!("INSERT INTO t (id, v) VALUES {}", rows.join(", "))
}

/// One integer key puts rows in key-range buckets on both servers: negative
/// keys, gaps, the lowest and highest key, a row in a gap and one below the
/// old least key are each found, and nothing else.
async fn ranges(kinds: (Kind, Kind)) {
    let test = format!("verify ranges {kinds:?}");
    let dir = support::temp_dir();
    let Some((src, tgt)) = two(kinds, &test, &dir).await else {
        return;
    };
    src.exec("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR(40))")
        .await;
    src.exec(&values((-2000..=-1001).chain((1..3000).step_by(3))))
        .await;
    use ColumnType::*;
    let ws = small(&src, &tgt, &["id"], &[("id", Integer), ("v", String)]);
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Identical, "{test}: {v:#?}");
    // A side DSP hashes (SQLite) is read whole in the first pass.
    let on_server = v.source_checksums_on_server && v.target_checksums_on_server;
    if on_server {
        assert_eq!(v.rows_fetched, 0, "{test}: identical tables fetch no row");
    }
    // Ranges of 16 keys over -2000..=2998, not 2,000 rows / 16 hash buckets.
    assert_eq!(v.buckets, 313, "{test}: bucketed by key range: {v:#?}");

    tgt.exec("DELETE FROM t WHERE id = -2000").await;
    tgt.exec("UPDATE t SET v = 'x' WHERE id IN (2998, -1001)")
        .await;
    tgt.exec("INSERT INTO t (id, v) VALUES (2, 'gap')").await;
    src.exec("INSERT INTO t (id, v) VALUES (-3000, 'low')")
        .await;
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Different, "{test}: {v:#?}");
    let sorted = |mut l: Vec<std::string::String>| {
        l.sort();
        l
    };
    assert_eq!(
        sorted(v.first_only_in_source.clone()),
        ids(&["-2000", "-3000"]),
        "{test}"
    );
    assert_eq!(v.first_only_in_target, ids(&["2"]), "{test}");
    let mut d = v.first_differing.clone();
    d.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(d, differing(&[("-1001", "v"), ("2998", "v")]), "{test}");
    assert_eq!((v.only_in_source, v.only_in_target, v.differing), (2, 1, 2));
    assert!(
        !on_server || v.rows_fetched < 400,
        "{test}: only the differing ranges are read, not {} rows",
        v.rows_fetched
    );
}

#[tokio::test]
async fn integer_keys_with_gaps_and_negatives_pg_to_mysql() {
    ranges((Kind::Pg, Kind::My)).await;
}

#[tokio::test]
async fn integer_keys_with_gaps_and_negatives_mysql_to_pg() {
    ranges((Kind::My, Kind::Pg)).await;
}

/// A side DSP hashes is bucketed by key range as well (its peer's server
/// then computes no key hash), and agrees with its peer on every bucket.
#[tokio::test]
async fn integer_keys_with_gaps_and_negatives_sqlite_to_pg() {
    ranges((Kind::Lite, Kind::Pg)).await;
}

#[tokio::test]
async fn integer_keys_with_gaps_and_negatives_pg_to_sqlite() {
    ranges((Kind::Pg, Kind::Lite)).await;
}

/// Keys far apart (which would crowd key ranges) fall back to hash
/// buckets, and a change is still found.
#[tokio::test]
async fn sparse_integer_keys_are_compared_by_hash_buckets() {
    let dir = support::temp_dir();
    let Some((src, tgt)) = two((Kind::Pg, Kind::My), "verify sparse", &dir).await else {
        return;
    };
    src.exec("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR(40))")
        .await;
    src.exec(&values(
        (0..200)
            .map(|i| i * 1_000_003)
            .chain([i64::MIN + 1, i64::MAX]),
    ))
    .await;
    use ColumnType::*;
    let ws = small(&src, &tgt, &["id"], &[("id", Integer), ("v", String)]);
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    assert_eq!(verify(&ws, "K", &data).await.outcome, Outcome::Identical);
    tgt.exec("UPDATE t SET v = 'x' WHERE id = 9223372036854775807")
        .await;
    let v = verify(&ws, "K", &data).await;
    assert_eq!(
        v.first_differing,
        differing(&[("9223372036854775807", "v")]),
        "{v:#?}"
    );
    assert_eq!((v.only_in_source, v.only_in_target, v.differing), (0, 0, 1));
}

/// PostgreSQL on both ends with columns of one hash family (int and
/// bigint, varchar and text, json and jsonb, numeric of any scale) is
/// checksummed by native values: equal values are identical whatever their
/// text, a microsecond or a last digit is still found, and a column pair of
/// two families (a zone-less timestamp against an instant) goes back to
/// canonical text with the same answer.
#[tokio::test]
async fn pg_columns_of_one_family_are_hashed_natively() {
    let dir = support::temp_dir();
    let Some((src, tgt)) = two((Kind::Pg, Kind::Pg), "verify native", &dir).await else {
        return;
    };
    src.exec(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40), amount NUMERIC(12,2), doc JSON, \
         at TIMESTAMPTZ, flag BOOLEAN); \
         INSERT INTO t SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE 'v~' || i END, i * 1.25, \
         ('{\"a\": ' || i || ', \"b\": [1, 2]}')::json, \
         timestamptz '2024-01-01 00:00:00+00' + i * interval '1.000001 second', i % 2 = 0 \
         FROM generate_series(1, 400) i",
    )
    .await;
    tgt.exec(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT, amount NUMERIC(20,6), doc JSONB, \
         at TIMESTAMPTZ, flag BOOLEAN)",
    )
    .await;
    use ColumnType::*;
    let columns = [
        ("id", Integer),
        ("v", String),
        ("amount", Decimal),
        ("doc", Json),
        ("at", Timestamp),
        ("flag", Boolean),
    ];
    let ws = small(&src, &tgt, &["id"], &columns);
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");
    // The same document spaced and ordered otherwise is the same value.
    src.exec(r#"UPDATE t SET doc = '{"b":[1,2],   "a":3}' WHERE id = 3"#)
        .await;
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Identical, "{v:#?}");
    assert!(v.native_checksums, "{v:#?}");
    assert_eq!(v.rows_fetched, 0, "{v:#?}");

    tgt.exec("UPDATE t SET amount = amount + 0.000001 WHERE id = 7")
        .await;
    tgt.exec("UPDATE t SET at = at + interval '1 microsecond' WHERE id = 11")
        .await;
    src.exec("UPDATE t SET v = '' WHERE id = 14").await;
    let v = verify(&ws, "K", &data).await;
    assert!(v.native_checksums, "{v:#?}");
    assert_eq!(
        v.first_differing,
        differing(&[("7", "amount"), ("11", "at"), ("14", "v")]),
        "{v:#?}"
    );
    assert_eq!((v.only_in_source, v.only_in_target, v.differing), (0, 0, 3));

    tgt.exec(
        "UPDATE t SET amount = amount - 0.000001 WHERE id = 7; \
         ALTER TABLE t ALTER COLUMN at TYPE TIMESTAMP USING at AT TIME ZONE 'UTC'",
    )
    .await;
    let v = verify(&ws, "K", &data).await;
    assert!(!v.native_checksums, "two families: canonical text: {v:#?}");
    assert_eq!(
        v.first_differing,
        differing(&[("11", "at"), ("14", "v")]),
        "{v:#?}"
    );
    assert_eq!((v.only_in_source, v.only_in_target, v.differing), (0, 0, 2));
}

/// A run holding the job's lock is changing its target: verify says so
/// instead of reporting its half-written rows as differences.
#[tokio::test]
async fn verify_beside_a_run_of_the_job_says_it_is_running() {
    let dir = support::temp_dir();
    let Some((src, tgt)) = two((Kind::Lite, Kind::Lite), "verify beside a run", &dir).await else {
        return;
    };
    src.exec(
        "CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b')",
    )
    .await;
    use ColumnType::*;
    let ws = small(&src, &tgt, &["id"], &[("id", Integer), ("v", String)]);
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "K", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines:#?}");

    let lock = dsp::engine::state::lock_job(&data, "K").expect("the job's lock is free");
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Failed, "{v:#?}");
    let e = v.error.unwrap_or_default();
    assert!(
        e.contains("job \"K\" is running") && e.contains("when the run ends"),
        "{e}"
    );
    drop(lock);

    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Identical, "{v:#?}");
    assert_eq!(v.source_rows, 2);
}

/// A key that would read as another one (a trailing space, a decomposed
/// accent, an empty string) is shown quoted, with escapes.
#[tokio::test]
async fn ambiguous_text_keys_are_shown_quoted() {
    let dir = support::temp_dir();
    let Some((src, tgt)) = two((Kind::Lite, Kind::Lite), "verify quoted keys", &dir).await else {
        return;
    };
    src.exec(
        "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT); \
         INSERT INTO t VALUES ('a', '1'), ('a ', '2'), ('e' || char(769), '3'), ('', '4')",
    )
    .await;
    tgt.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT); INSERT INTO t VALUES ('a', '1')")
        .await;
    use ColumnType::*;
    let ws = small(&src, &tgt, &["k"], &[("k", String), ("v", String)]);
    let data = DataDir::new(dir.path().join("data"));
    let v = verify(&ws, "K", &data).await;
    assert_eq!(v.outcome, Outcome::Different, "{v:#?}");
    let mut listed = v.first_only_in_source.clone();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            "k=\"\"".to_string(),
            "k=\"a \"".to_string(),
            "k=\"e\\u{301}\"".to_string()
        ],
        "{v:#?}"
    );
}
