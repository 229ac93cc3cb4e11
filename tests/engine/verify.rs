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

fn ddl(kind: Kind) -> &'static str {
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

fn insert(kind: Kind, ids: impl Iterator<Item = i64>) -> String {
    let rows: Vec<String> = ids.map(|i| row(kind, i)).collect();
    format!("INSERT INTO items VALUES {}", rows.join(", "))
}

fn schema(name: &str, with_json: bool) -> Schema {
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
    let hashed_by_dsp = 300 * [source, target].iter().filter(|k| **k == Kind::Lite).count() as u64;
    assert_eq!(plain.rows_fetched, hashed_by_dsp, "{test}");

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
        differing(&[("10", "at"), ("20", "amount"), ("30", "doc"), ("40", "note")]),
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
