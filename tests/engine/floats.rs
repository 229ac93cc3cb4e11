//! 32-bit floats keep every digit they hold. MariaDB renders a FLOAT as text
//! with 6 significant digits, so 1.0000001 arrived as 1 and 16777217 (stored
//! as 16777216) as 16777200, reported as success.

use dsp::engine::progress::RunStatus;
use dsp::paths::DataDir;
use dsp::workspace::{ColumnMap, ColumnType, Job, Schema, SyncMode, Workspace};

use crate::support::end::{End, Kind};
use crate::support::run::run_and_collect;

/// What each stored single reads as: the shortest text of the same float.
const VALUES: &[(i64, &str, &str)] = &[
    (1, "1.0000001", "1.0000001"),
    (2, "3.14159265", "3.1415927"),
    (3, "16777217", "16777216"),
    (4, "123456.789", "123456.79"),
    (5, "-0.000123456789", "-0.00012345679"),
    (6, "1", "1"),
];

async fn floats_arrive_whole(source: Kind, float_type: &str) {
    let test = format!("floats_arrive_whole {source:?}");
    let dir = crate::support::temp_dir();
    let Some(src) = End::new(source, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, &test, &dir, "target").await else {
        return;
    };
    let rows: Vec<String> = VALUES
        .iter()
        .map(|(id, v, _)| format!("({id}, {v})"))
        .collect();
    src.exec(&format!(
        "CREATE TABLE readings (id bigint PRIMARY KEY, f {float_type})"
    ))
    .await;
    src.exec(&format!("INSERT INTO readings VALUES {}", rows.join(", ")))
        .await;
    let col = |s: &str, ty| ColumnMap {
        source: s.into(),
        target: s.into(),
        ty,
    };
    let ws = Workspace {
        path: None,
        networks: vec![src.network("S"), tgt.network("T")],
        schemas: vec![Schema {
            name: "R".into(),
            source_table: "readings".into(),
            target_table: "readings".into(),
            primary_key: vec!["id".into()],
            cursor_column: None,
            columns: vec![col("id", ColumnType::Integer), col("f", ColumnType::Float)],
        }],
        jobs: vec![Job::new("J", "S", "T", "R", SyncMode::Full)],
        ..Default::default()
    };
    let data = DataDir::new(dir.path().join("data"));
    let c = run_and_collect(&ws, "J", &data).await;
    assert_eq!(
        c.summary.status,
        RunStatus::Succeeded,
        "{test}: {:#?}",
        c.lines()
    );
    let End::Pg(_, pool) = &tgt else {
        unreachable!()
    };
    let got: Vec<(i64, String)> = sqlx::query_as("SELECT id, f::text FROM readings ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap();
    let want: Vec<(i64, String)> = VALUES
        .iter()
        .map(|(id, _, r)| (*id, r.to_string()))
        .collect();
    assert_eq!(got, want, "{test}");
}

#[tokio::test]
async fn a_mariadb_float_arrives_with_every_digit_it_holds() {
    floats_arrive_whole(Kind::My, "FLOAT").await;
}

#[tokio::test]
async fn a_postgres_real_arrives_with_every_digit_it_holds() {
    floats_arrive_whole(Kind::Pg, "real").await;
}

/// PostgreSQL's numeric holds NaN and the infinities: PostgreSQL to
/// PostgreSQL carries them (each failed its row); into MariaDB, which has no
/// such decimals, only those rows fail, named by key.
#[tokio::test]
async fn numeric_nan_and_infinities_cross_to_postgres_and_fail_only_their_rows_elsewhere() {
    for target in [Kind::Pg, Kind::My] {
        let test = format!("numeric specials into {target:?}");
        let dir = crate::support::temp_dir();
        let Some(src) = End::new(Kind::Pg, &test, &dir, "source").await else {
            return;
        };
        let Some(tgt) = End::new(target, &test, &dir, "target").await else {
            return;
        };
        src.exec(
            "CREATE TABLE readings (id bigint PRIMARY KEY, f numeric);
             INSERT INTO readings VALUES (1, 'NaN'), (2, 'Infinity'), (3, '-Infinity'), (4, 1.50);",
        )
        .await;
        let col = |s: &str, ty| ColumnMap {
            source: s.into(),
            target: s.into(),
            ty,
        };
        let mut job = Job::new("J", "S", "T", "R", SyncMode::Full);
        job.max_failed = Some(3);
        let ws = Workspace {
            path: None,
            networks: vec![src.network("S"), tgt.network("T")],
            schemas: vec![Schema {
                name: "R".into(),
                source_table: "readings".into(),
                target_table: "readings".into(),
                primary_key: vec!["id".into()],
                cursor_column: None,
                columns: vec![
                    col("id", ColumnType::Integer),
                    col("f", ColumnType::Decimal),
                ],
            }],
            jobs: vec![job],
            ..Default::default()
        };
        let data = DataDir::new(dir.path().join("data"));
        let c = run_and_collect(&ws, "J", &data).await;
        assert_eq!(
            c.summary.status,
            RunStatus::Succeeded,
            "{test}: {:#?}",
            c.lines()
        );
        match &tgt {
            End::Pg(_, pool) => {
                let got: Vec<(i64, String)> =
                    sqlx::query_as("SELECT id, f::text FROM readings ORDER BY id")
                        .fetch_all(pool)
                        .await
                        .unwrap();
                let want = [(1, "NaN"), (2, "Infinity"), (3, "-Infinity"), (4, "1.50")];
                let want: Vec<(i64, String)> =
                    want.iter().map(|(i, v)| (*i, v.to_string())).collect();
                assert_eq!(got, want, "{test}");
                assert_eq!(c.summary.failed, 0, "{test}");
            }
            _ => {
                assert_eq!(c.summary.failed, 3, "{test}: {:#?}", c.lines());
                let lines = c.lines().join("\n");
                for id in 1..=3 {
                    assert!(
                        lines.contains(&format!("Row id={id} of readings failed")),
                        "{test}: {lines}"
                    );
                }
                assert!(
                    lines.contains("cannot be stored by the target database"),
                    "{test}: {lines}"
                );
            }
        }
    }
}
