//! Time zones: zone-less timestamps are read, and written, in their network's
//! `timezone`.

use dsp::paths::DataDir;
use dsp::workspace::ColumnType;

use crate::support;
use crate::support::end::{End, Kind};
use crate::support::run::run_and_collect;
use crate::typed::*;

/// Timestamps stored without a zone are read in the source network's
/// `timezone`: the target holds the instants they mean.
async fn naive_in_zone(source: Kind) {
    let test = format!("naive timestamps from {source:?}");
    let dir = support::temp_dir();
    let Some(src) = End::new(source, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, &format!("{test} (target)"), &dir, "target").await else {
        return;
    };
    let (ddl, zone) = match source {
        Kind::Pg => (
            "CREATE TABLE t (id BIGINT PRIMARY KEY, at TIMESTAMP(6))",
            "Asia/Kolkata",
        ),
        Kind::My => (
            "CREATE TABLE t (id BIGINT PRIMARY KEY, at DATETIME(6))",
            "America/New_York",
        ),
        Kind::Lite => (
            "CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT)",
            "Europe/Berlin",
        ),
    };
    src.exec(ddl).await;
    // (wall clock in the zone, the UTC instant it means)
    let rows: &[(&str, &str)] = match source {
        Kind::Pg => &[
            ("2024-01-15 05:30:00.000001", "2024-01-15 00:00:00.000001"),
            ("2024-07-01 00:00:00", "2024-06-30 18:30:00"),
        ],
        Kind::My => &[
            ("2024-01-15 07:00:00.250000", "2024-01-15 12:00:00.25"),
            // Daylight saving: UTC-4 in summer.
            ("2024-07-01 20:00:00", "2024-07-02 00:00:00"),
        ],
        Kind::Lite => &[
            ("2024-01-15T01:00:00.999999", "2024-01-15 00:00:00.999999"),
            ("2024-07-01 02:00:00", "2024-07-01 00:00:00"),
        ],
    };
    for (i, (wall, _)) in rows.iter().enumerate() {
        src.exec(&format!("INSERT INTO t (id, at) VALUES ({i}, '{wall}')"))
            .await;
    }
    let text = src
        .network_toml("Source")
        .replace("type = ", &format!("timezone = \"{zone}\"\ntype = "))
        + "\n"
        + &tgt.network_toml("Target")
        + r#"
[[schema]]
name = "S"
source_table = "t"
target_table = "t_utc"
primary_key = "id"
columns = [
  { source = "id", target = "id", type = "integer" },
  { source = "at", target = "at", type = "timestamp" },
]

[[job]]
name = "J"
source = "Source"
target = "Target"
schema = "S"
"#;
    let ws = dsp::workspace::load_str(&text, &dir.path().join("workspace.toml"))
        .unwrap_or_else(|e| panic!("{test}: {e}\n{text}"));
    let data = DataDir::new(dir.path().join("data"));
    let (s, lines) = run_and_collect(&ws, "J", &data).await.into_parts();
    assert_succeeded(&s, &lines, rows.len() as u64, &test);
    let mut want: Vec<Vec<Norm>> = rows
        .iter()
        .enumerate()
        .map(|(i, (_, utc))| vec![Norm::Int(i as i64), Norm::Ts(norm_ts(utc))])
        .collect();
    want.sort_by_key(|r| format!("{r:?}"));
    let got = tgt
        .rows(
            "t_utc",
            &cols(&["id", "at"], &[ColumnType::Integer, ColumnType::Timestamp]),
        )
        .await;
    compare(&test, &want, &got);
}

#[tokio::test]
async fn naive_pg_timestamps_are_read_in_the_network_zone() {
    naive_in_zone(Kind::Pg).await;
}

#[tokio::test]
async fn naive_mysql_datetimes_are_read_in_the_network_zone() {
    naive_in_zone(Kind::My).await;
}

#[tokio::test]
async fn naive_sqlite_timestamps_are_read_in_the_network_zone() {
    naive_in_zone(Kind::Lite).await;
}

/// A network's `timezone` governs its zone-less columns both ways: instants
/// written into a MySQL DATETIME or PostgreSQL `timestamp` column of a
/// network in Europe/Berlin hold Berlin wall-clock time, and reading them
/// back through the same network gives the same instants.
async fn zoned_round_trip(via: Kind) {
    let test = format!("round trip through a zoned {via:?} network");
    let dir = support::temp_dir();
    let Some(src) = End::new(Kind::Pg, &test, &dir, "source").await else {
        return;
    };
    let Some(mid) = End::new(via, &format!("{test} (middle)"), &dir, "middle").await else {
        return;
    };
    src.exec(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, at TIMESTAMPTZ); \
         INSERT INTO t VALUES (1, '2024-01-01 12:00:00.000001+00'), (2, '2024-07-01 12:00:00+00'), (3, NULL)",
    )
    .await;
    // An existing zone-less column in the middle.
    mid.exec(match via {
        Kind::My => "CREATE TABLE t_mid (id BIGINT PRIMARY KEY, at DATETIME(6))",
        _ => "CREATE TABLE t_mid (id BIGINT PRIMARY KEY, at TIMESTAMP WITHOUT TIME ZONE)",
    })
    .await;
    let text = src.network_toml("Source")
        + "\n"
        + &mid
            .network_toml("Middle")
            .replace("type = ", "timezone = \"Europe/Berlin\"\ntype = ")
        + r#"
[[schema]]
name = "There"
source_table = "t"
target_table = "t_mid"
primary_key = "id"
columns = [
  { source = "id", target = "id", type = "integer" },
  { source = "at", target = "at", type = "timestamp" },
]

[[schema]]
name = "Back"
source_table = "t_mid"
target_table = "t_back"
primary_key = "id"
columns = [
  { source = "id", target = "id", type = "integer" },
  { source = "at", target = "at", type = "timestamp" },
]

[[job]]
name = "there"
source = "Source"
target = "Middle"
schema = "There"

[[job]]
name = "back"
source = "Middle"
target = "Source"
schema = "Back"
"#;
    let ws = dsp::workspace::load_str(&text, &dir.path().join("workspace.toml")).unwrap();
    let data = DataDir::new(dir.path().join("data"));
    for job in ["there", "back"] {
        let (s, lines) = run_and_collect(&ws, job, &data).await.into_parts();
        assert_succeeded(&s, &lines, 3, &format!("{test}: {job}"));
    }
    // The middle holds Berlin wall clock (UTC+1 in winter, +2 in summer).
    let wall: Vec<Vec<Norm>> = mid
        .rows(
            "t_mid",
            &cols(&["id", "at"], &[ColumnType::Integer, ColumnType::Timestamp]),
        )
        .await;
    let ts = |s: &str| Norm::Ts(norm_ts(s));
    let mut want_wall = vec![
        vec![Norm::Int(1), ts("2024-01-01 13:00:00.000001")],
        vec![Norm::Int(2), ts("2024-07-01 14:00:00")],
        vec![Norm::Int(3), Norm::Null],
    ];
    want_wall.sort_by_key(|r| format!("{r:?}"));
    compare(
        &format!("{test}: wall clock in the middle"),
        &want_wall,
        &wall,
    );
    let tc = cols(&["id", "at"], &[ColumnType::Integer, ColumnType::Timestamp]);
    compare(
        &format!("{test}: instants after the round trip"),
        &src.rows("t", &tc).await,
        &src.rows("t_back", &tc).await,
    );
}

#[tokio::test]
async fn a_zoned_mysql_network_writes_and_reads_datetime_in_its_zone() {
    zoned_round_trip(Kind::My).await;
}

#[tokio::test]
async fn a_zoned_pg_network_writes_and_reads_naive_timestamps_in_its_zone() {
    zoned_round_trip(Kind::Pg).await;
}
