//! Issue 15: a source cursor without an index makes every incremental run
//! scan the whole table. `dsp check --connect` and the run's log name the
//! column with the `CREATE INDEX` that fixes it, and say nothing once it
//! exists; the run itself is unchanged (the target equals the source).

use dsp::engine::progress::RunStatus;
use dsp::paths::DataDir;
use dsp::workspace::{ColumnMap, ColumnType, Job, Schema, SyncMode, Workspace};

use crate::support;
use crate::support::end::{End, Kind};
use crate::support::run::run_and_collect;

const WARNING: &str = "has no index starting with updated_at";

/// `items (id, v, n, updated_at)` without an index on `updated_at`.
async fn source(kind: Kind, test: &str, dir: &tempfile::TempDir) -> Option<End> {
    let src = End::new(kind, test, dir, "src.db").await?;
    let ts = match kind {
        Kind::Pg => "TIMESTAMP",
        Kind::My => "DATETIME(6)",
        Kind::Lite => "TEXT",
    };
    src.exec(&format!(
        "CREATE TABLE items (id BIGINT PRIMARY KEY, v TEXT, n BIGINT, updated_at {ts})"
    ))
    .await;
    src.exec(
        "INSERT INTO items (id, v, n, updated_at) VALUES (1, 'one', 10, '2024-01-01 00:00:00'), \
         (2, 'two', 20, '2024-01-02 00:00:00'), (3, NULL, NULL, '2024-01-03 00:00:00')",
    )
    .await;
    Some(src)
}

/// An incremental job `J` from `items` on `src` into `dst` on a SQLite file.
fn workspace(src: &End, tgt: &End) -> Workspace {
    let col = |name: &str, ty| ColumnMap {
        source: name.into(),
        target: name.into(),
        ty,
    };
    support::workspace::model(
        vec![src.network("Source"), tgt.network("Target")],
        vec![Schema {
            name: "S".into(),
            source_table: "items".into(),
            target_table: "dst".into(),
            primary_key: vec!["id".into()],
            cursor_column: Some("updated_at".into()),
            columns: vec![
                col("id", ColumnType::Integer),
                col("v", ColumnType::String),
                col("n", ColumnType::Integer),
            ],
        }],
        vec![Job::new(
            "J",
            "Source",
            "Target",
            "S",
            SyncMode::Incremental,
        )],
    )
}

fn create_index(kind: Kind) -> &'static str {
    match kind {
        Kind::Pg | Kind::Lite => {
            r#"CREATE INDEX IF NOT EXISTS "items_updated_at_idx" ON "items" ("updated_at")"#
        }
        Kind::My => "CREATE INDEX `items_updated_at_idx` ON `items` (`updated_at`)",
    }
}

#[tokio::test]
async fn check_names_the_missing_cursor_index_until_it_exists() {
    for kind in [Kind::Pg, Kind::My, Kind::Lite] {
        let dir = support::temp_dir();
        let test = &format!("check names the missing cursor index ({kind:?})");
        let Some(src) = source(kind, test, &dir).await else {
            return;
        };
        let tgt = End::new(Kind::Lite, test, &dir, "tgt.db").await.unwrap();
        let ws = workspace(&src, &tgt);

        let warnings = dsp::engine::db::indexes::check_job(&ws, &ws.jobs[0]).await;
        assert_eq!(warnings.len(), 1, "{kind:?}: {warnings:#?}");
        let w = &warnings[0];
        assert!(
            w.starts_with(
                "source table items on network \"Source\" has no index starting with updated_at"
            ),
            "{kind:?}: {w}"
        );
        assert!(w.ends_with(create_index(kind)), "{kind:?}: {w}");
        // The primary key has its index: only the cursor is named.
        assert!(!w.contains("primary key"), "{kind:?}: {w}");

        // The statement it names is the fix.
        src.exec(create_index(kind)).await;
        let warnings = dsp::engine::db::indexes::check_job(&ws, &ws.jobs[0]).await;
        assert_eq!(warnings, Vec::<String>::new(), "{kind:?}");
    }
}

#[tokio::test]
async fn check_connect_prints_the_warning_and_still_succeeds() {
    let dir = support::temp_dir();
    let test = "check --connect prints the missing index";
    let Some(src) = source(Kind::Pg, test, &dir).await else {
        return;
    };
    let tgt = End::new(Kind::Lite, test, &dir, "tgt.db").await.unwrap();
    let env = support::cli::Env::new();
    let toml = support::workspace::WorkspaceToml::new()
        .entry(&src.network_toml("Source"))
        .entry(&tgt.network_toml("Target"))
        .entry(
            "[[schema]]\nname = \"S\"\nsource_table = \"items\"\ntarget_table = \"dst\"\n\
             primary_key = [\"id\"]\ncursor_column = \"updated_at\"\n\
             columns = [{ source = \"id\", target = \"id\", type = \"integer\" }]\n\n\
             [[job]]\nname = \"J\"\nsource = \"Source\"\ntarget = \"Target\"\nschema = \"S\"\n\
             mode = \"incremental\"\n",
        )
        .build();
    env.write(&toml);
    let out = env.dsp(&["check", "--connect"], &[]);
    out.assert_no_panic("check --connect");
    assert_eq!(out.code, 0, "{}", out.all());
    let line = format!(
        "warning: job \"J\": source table items on network \"Source\" {WARNING}, the job's \
         cursor column, so each run scans the whole table; create one: {}",
        create_index(Kind::Pg)
    );
    assert!(out.all().lines().any(|l| l == line), "{}", out.all());
}

#[tokio::test]
async fn a_run_warns_once_before_the_total_and_copies_every_row() {
    for kind in [Kind::Pg, Kind::My, Kind::Lite] {
        let dir = support::temp_dir();
        let test = &format!("a run warns of the missing cursor index ({kind:?})");
        let Some(src) = source(kind, test, &dir).await else {
            return;
        };
        let tgt = End::new(Kind::Lite, test, &dir, "tgt.db").await.unwrap();
        let ws = workspace(&src, &tgt);
        let data = DataDir::new(dir.path().join("data"));

        let (s, log) = run_and_collect(&ws, "J", &data).await.into_parts();
        assert_eq!(s.status, RunStatus::Succeeded, "{kind:?}: {log:#?}");
        let warned: Vec<usize> = (0..log.len())
            .filter(|&i| log[i].starts_with("[WARN]") && log[i].contains(WARNING))
            .collect();
        assert_eq!(warned.len(), 1, "{kind:?}: {log:#?}");
        assert!(
            log[warned[0]].ends_with(create_index(kind)),
            "{kind:?}: {log:#?}"
        );
        let total = log.iter().position(|l| l == "[INFO] Total records: 3");
        assert!(total.is_some_and(|t| t > warned[0]), "{kind:?}: {log:#?}");
        assert_eq!(tgt.dump("dst").await, src.dump("items").await, "{kind:?}");

        // With the index, the next run (past its watermark) says nothing.
        src.exec(create_index(kind)).await;
        src.exec("UPDATE items SET v = 'changed', updated_at = '2024-02-01 00:00:00' WHERE id = 2")
            .await;
        let (s, log) = run_and_collect(&ws, "J", &data).await.into_parts();
        assert_eq!(s.status, RunStatus::Succeeded, "{kind:?}: {log:#?}");
        assert!(
            !log.iter().any(|l| l.contains(WARNING)),
            "{kind:?}: {log:#?}"
        );
        assert_eq!(tgt.dump("dst").await, src.dump("items").await, "{kind:?}");
    }
}

/// Without a cursor index, counting the rows whose cursor is NULL would scan
/// the whole table once more: the run's read takes them too, counts them
/// and leaves them out. What the run says and does is what it says and does
/// with the index: the same warning, the same total, those rows unsynced.
#[tokio::test]
async fn without_a_cursor_index_the_read_itself_counts_the_null_cursors() {
    for kind in [Kind::Pg, Kind::My, Kind::Lite] {
        let dir = support::temp_dir();
        let test = &format!("null cursors counted by the read ({kind:?})");
        let Some(src) = source(kind, test, &dir).await else {
            return;
        };
        src.exec(
            "INSERT INTO items (id, v, n, updated_at) VALUES (4, 'four', 40, NULL), \
             (5, NULL, NULL, NULL)",
        )
        .await;
        let tgt = End::new(Kind::Lite, test, &dir, "tgt.db").await.unwrap();
        let ws = workspace(&src, &tgt);
        let data = DataDir::new(dir.path().join("data"));
        let (s, log) = run_and_collect(&ws, "J", &data).await.into_parts();
        assert_eq!(s.status, RunStatus::Succeeded, "{kind:?}: {log:#?}");
        assert_eq!(tgt.dump("dst").await, src.dump("items").await, "{kind:?}");

        src.exec("UPDATE items SET v = 'changed', updated_at = '2024-02-01 00:00:00' WHERE id = 2")
            .await;
        src.exec("UPDATE items SET v = 'late' WHERE id = 4").await;
        let (s, log) = run_and_collect(&ws, "J", &data).await.into_parts();
        assert_eq!(s.status, RunStatus::Succeeded, "{kind:?}: {log:#?}");
        let nulls = "[WARN] 2 rows of items have a NULL updated_at; incremental runs do not read \
                     them (a full sync does)";
        assert_eq!(
            log.iter().filter(|l| *l == nulls).count(),
            1,
            "{kind:?}: {log:#?}"
        );
        // Row 3 on the watermark and row 2 past it; not the NULL ones.
        assert!(
            log.iter().any(|l| l == "[INFO] Total records: 2"),
            "{kind:?}: {log:#?}"
        );
        assert_eq!((s.total, s.success), (2, 2), "{kind:?}");
        let mut want = src.dump("items").await;
        want[3].1 = Some("four".into());
        assert_eq!(tgt.dump("dst").await, want, "{kind:?}");
    }
}
