//! Every source/target engine pair moves the hard values faithfully: 64-bit
//! extremes, decimal(38,10) at full precision, booleans (MySQL TINYINT(1)),
//! timestamps with microseconds and zones, NULLs, emoji/CJK/RTL text and JSON,
//! plus a composite key whose text part differs only by case, accent or a
//! trailing space. Target and source are read back independently and compared
//! value by value after normalising each engine's spelling; a second run
//! mirrors updates, deletes and inserts. Also: qualified and oddly named
//! tables, existing targets of another layout, and multi-megabyte values.

use dsp::paths::DataDir;
use dsp::workspace::ColumnType;

use crate::support;
use crate::support::end::{End, Kind};
use crate::support::run::run_and_collect;
use crate::typed::*;

async fn matrix(source: Kind, target: Kind) {
    let test = format!("engine_matrix {source:?} -> {target:?}");
    let dir = support::temp_dir();
    let Some(src) = End::new(source, &format!("{test} (source)"), &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &dir, "target").await else {
        return;
    };
    let cases = cases();
    create_source(&src, &cases).await;
    create_multi(&src).await;

    let ws_path = dir.path().join("workspace.toml");
    let text = workspace_toml(&src, &tgt);
    let ws = dsp::workspace::load_str(&text, &ws_path)
        .unwrap_or_else(|e| panic!("{test}: workspace does not load: {e}\n{text}"));
    let data = DataDir::new(dir.path().join("data"));

    let src_cols = cols(&SRC_COLS, &TYPES);
    let tgt_cols = cols(&TGT_COLS, &TYPES);
    let want = expected(&cases);
    // The source itself reads back as written, so a match below is not two
    // equal misreadings.
    assert_eq!(
        src.rows("src_types", &src_cols).await,
        want,
        "{test}: source as written"
    );

    let (s, lines) = run_and_collect(&ws, "types", &data).await.into_parts();
    assert_succeeded(&s, &lines, cases.len() as u64, &test);
    compare(&test, &want, &tgt.rows("dst_types", &tgt_cols).await);

    let multi_src = cols(&["org_id", "code", "note"], &MULTI_TYPES);
    let multi_tgt = cols(&["org", "code_s", "note_s"], &MULTI_TYPES);
    let multi_want = src.rows("src_multi", &multi_src).await;
    assert_eq!(
        multi_want.len(),
        MULTI.len(),
        "{test}: composite source rows"
    );
    let (s, lines) = run_and_collect(&ws, "multi", &data).await.into_parts();
    assert_succeeded(&s, &lines, MULTI.len() as u64, &format!("{test} composite"));
    compare(
        &format!("{test} composite key"),
        &multi_want,
        &tgt.rows("dst_multi", &multi_tgt).await,
    );

    // Reserved words, spaces and mixed case in table and column names.
    let q = |i: &str| src.quote(i);
    src.exec(&format!(
        "CREATE TABLE {} ({} BIGINT PRIMARY KEY, {} TEXT, {} TEXT, {} BIGINT)",
        q("Order Items"),
        q("order"),
        q("User Name"),
        q("select"),
        q("CamelCase")
    ))
    .await;
    src.exec(&format!(
        "INSERT INTO {} ({}, {}, {}, {}) VALUES (1, 'Ann', 'x', 10), (2, NULL, 'y''z', -3)",
        q("Order Items"),
        q("order"),
        q("User Name"),
        q("select"),
        q("CamelCase")
    ))
    .await;
    let names_types = [
        ColumnType::Integer,
        ColumnType::String,
        ColumnType::String,
        ColumnType::Integer,
    ];
    let names_want = src
        .rows(
            "Order Items",
            &cols(&["order", "User Name", "select", "CamelCase"], &names_types),
        )
        .await;
    let (s, lines) = run_and_collect(&ws, "names", &data).await.into_parts();
    assert_succeeded(&s, &lines, 2, &format!("{test} names"));
    compare(
        &format!("{test} quoted names"),
        &names_want,
        &tgt.rows(
            "Dst Items",
            &cols(&["group", "Full Name", "from", "MixedCase"], &names_types),
        )
        .await,
    );

    // A second run mirrors an update, a delete and an insert in the source.
    let k = src.kind();
    src.exec(&format!(
        "UPDATE src_types SET label = {}, amount = {}, big = NULL WHERE id = 0",
        lit(k, Some("changed ☃")),
        lit(k, Some("-12345678901234567890.1234567891"))
    ))
    .await;
    src.exec("DELETE FROM src_types WHERE id = -1").await;
    src.exec(&format!(
        "INSERT INTO src_types (id, label) VALUES (100, {})",
        lit(k, Some("new row"))
    ))
    .await;
    src.exec(&format!(
        "UPDATE src_multi SET note = {} WHERE org_id = 1 AND code = {}",
        lit(k, Some("changed upper")),
        lit(k, Some("A"))
    ))
    .await;
    let want = src.rows("src_types", &src_cols).await;
    assert_eq!(want.len(), cases.len(), "{test}: source after changes");
    let (s, lines) = run_and_collect(&ws, "types", &data).await.into_parts();
    assert_succeeded(
        &s,
        &lines,
        cases.len() as u64,
        &format!("{test} second run"),
    );
    compare(
        &format!("{test} after update/delete/insert"),
        &want,
        &tgt.rows("dst_types", &tgt_cols).await,
    );
    let multi_want = src.rows("src_multi", &multi_src).await;
    let (s, lines) = run_and_collect(&ws, "multi", &data).await.into_parts();
    assert_succeeded(
        &s,
        &lines,
        MULTI.len() as u64,
        &format!("{test} composite second run"),
    );
    compare(
        &format!("{test} composite key after update"),
        &multi_want,
        &tgt.rows("dst_multi", &multi_tgt).await,
    );
}

#[tokio::test]
async fn pg_to_pg() {
    matrix(Kind::Pg, Kind::Pg).await;
}

#[tokio::test]
async fn pg_to_mysql() {
    matrix(Kind::Pg, Kind::My).await;
}

#[tokio::test]
async fn pg_to_sqlite() {
    matrix(Kind::Pg, Kind::Lite).await;
}

#[tokio::test]
async fn mysql_to_pg() {
    matrix(Kind::My, Kind::Pg).await;
}

#[tokio::test]
async fn mysql_to_mysql() {
    matrix(Kind::My, Kind::My).await;
}

#[tokio::test]
async fn mysql_to_sqlite() {
    matrix(Kind::My, Kind::Lite).await;
}

#[tokio::test]
async fn sqlite_to_pg() {
    matrix(Kind::Lite, Kind::Pg).await;
}

#[tokio::test]
async fn sqlite_to_mysql() {
    matrix(Kind::Lite, Kind::My).await;
}

#[tokio::test]
async fn sqlite_to_sqlite() {
    matrix(Kind::Lite, Kind::Lite).await;
}

/// `schema.table` names on PostgreSQL, source and target, outside `public`.
#[tokio::test]
async fn schema_qualified_pg_tables() {
    let test = "schema-qualified PG tables";
    let dir = support::temp_dir();
    let Some(src) = End::new(Kind::Pg, test, &dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, test, &dir, "").await else {
        return;
    };
    src.exec("CREATE SCHEMA sales; CREATE TABLE sales.orders (id BIGINT PRIMARY KEY, v TEXT)")
        .await;
    src.exec("INSERT INTO sales.orders VALUES (1, 'a'), (2, 'b')")
        .await;
    // The same table name in `public` must not be read instead.
    src.exec("CREATE TABLE public.orders (id BIGINT PRIMARY KEY, v TEXT); INSERT INTO public.orders VALUES (99, 'wrong')")
        .await;
    tgt.exec("CREATE SCHEMA analytics; CREATE TABLE public.orders_copy (id BIGINT PRIMARY KEY, v TEXT); INSERT INTO public.orders_copy VALUES (7, 'untouched')")
        .await;
    let text = src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + r#"
[[schema]]
name = "S"
source_table = "sales.orders"
target_table = "analytics.orders_copy"
primary_key = "id"
columns = [
  { source = "id", target = "id", type = "integer" },
  { source = "v", target = "v", type = "string" },
]

[[job]]
name = "J"
source = "Source"
target = "Target"
schema = "S"
"#;
    let ws = dsp::workspace::load_str(&text, &dir.path().join("workspace.toml")).unwrap();
    let data = DataDir::new(dir.path().join("data"));
    for round in 0..2 {
        let (s, lines) = run_and_collect(&ws, "J", &data).await.into_parts();
        assert_succeeded(&s, &lines, 2, &format!("{test} round {round}"));
        let c = cols(&["id", "v"], &[ColumnType::Integer, ColumnType::String]);
        compare(
            test,
            &src.rows("sales.orders", &c).await,
            &tgt.rows("analytics.orders_copy", &c).await,
        );
        compare(
            &format!("{test}: public.orders_copy"),
            &[vec![Norm::Int(7), Norm::Text("untouched".into())]],
            &tgt.rows("public.orders_copy", &c).await,
        );
    }
}

/// An existing target whose columns are in another order, with an extra
/// column the mapping does not write, fed from a view: values land in their
/// own columns and the extra column keeps its values.
async fn existing_target_layout(target: Kind) {
    let test = format!("existing {target:?} target, other column order");
    let dir = support::temp_dir();
    let Some(src) = End::new(Kind::Pg, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &dir, "target").await else {
        return;
    };
    src.exec(
        "CREATE TABLE base (id BIGINT PRIMARY KEY, a TEXT, b BIGINT, hidden TEXT); \
         INSERT INTO base VALUES (1, 'one', 10, 'h'), (2, 'two', 20, 'h'), (3, NULL, NULL, 'h'); \
         CREATE VIEW v_src AS SELECT id, a, b FROM base WHERE id < 100",
    )
    .await;
    let q = |i: &str| tgt.quote(i);
    tgt.exec(&format!(
        "CREATE TABLE dst ({} TEXT, {} BIGINT, note TEXT DEFAULT 'dflt', {} BIGINT NOT NULL PRIMARY KEY)",
        q("b_text"),
        q("a_num"),
        q("key")
    ))
    .await;
    tgt.exec(&format!(
        "INSERT INTO dst ({}, {}, note, {}) VALUES ('old', 0, 'kept', 1), ('gone', 0, 'x', 50)",
        q("b_text"),
        q("a_num"),
        q("key")
    ))
    .await;
    let text = src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + r#"
[[schema]]
name = "S"
source_table = "v_src"
target_table = "dst"
primary_key = "id"
columns = [
  { source = "id", target = "key", type = "integer" },
  { source = "b", target = "a_num", type = "integer" },
  { source = "a", target = "b_text", type = "string" },
]

[[job]]
name = "J"
source = "Source"
target = "Target"
schema = "S"
max_delete_percent = 100
"#;
    let ws = dsp::workspace::load_str(&text, &dir.path().join("workspace.toml")).unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let (s, lines) = run_and_collect(&ws, "J", &data).await.into_parts();
    assert_succeeded(&s, &lines, 3, &test);
    let types = [
        ColumnType::Integer,
        ColumnType::Integer,
        ColumnType::String,
        ColumnType::String,
    ];
    let got = tgt
        .rows("dst", &cols(&["key", "a_num", "b_text", "note"], &types))
        .await;
    let t = |s: &str| Norm::Text(s.into());
    let mut want = vec![
        vec![Norm::Int(1), Norm::Int(10), t("one"), t("kept")],
        vec![Norm::Int(2), Norm::Int(20), t("two"), t("dflt")],
        vec![Norm::Int(3), Norm::Null, Norm::Null, t("dflt")],
    ];
    want.sort_by_key(|r| format!("{r:?}"));
    compare(&test, &want, &got);
}

#[tokio::test]
async fn existing_pg_target_with_other_column_order_and_extra_column() {
    existing_target_layout(Kind::Pg).await;
}

#[tokio::test]
async fn existing_mysql_target_with_other_column_order_and_extra_column() {
    existing_target_layout(Kind::My).await;
}

#[tokio::test]
async fn existing_sqlite_target_with_other_column_order_and_extra_column() {
    existing_target_layout(Kind::Lite).await;
}

/// Multi-megabyte text and JSON values cross every engine whole.
async fn large_values(source: Kind, target: Kind) {
    let test = format!("large values {source:?} -> {target:?}");
    let dir = support::temp_dir();
    let Some(src) = End::new(source, &test, &dir, "source").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &dir, "target").await else {
        return;
    };
    let ddl = match source {
        Kind::Pg => "CREATE TABLE t (id BIGINT PRIMARY KEY, body TEXT, doc JSONB)",
        Kind::My => {
            "CREATE TABLE t (id BIGINT PRIMARY KEY, body LONGTEXT CHARACTER SET utf8mb4, doc JSON)"
        }
        Kind::Lite => "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT, doc TEXT)",
    };
    src.exec(ddl).await;
    // ~3 MB of 4-byte characters and quotes, ~1 MB of JSON; several such rows
    // so that a writer must split its statements.
    let body: String = "😀'\\\"漢 ".repeat(300_000);
    let items: Vec<String> = (0..60_000)
        .map(|i| format!("{{\"i\":{i},\"s\":\"é\"}}"))
        .collect();
    let doc = format!("[{}]", items.join(","));
    for id in 1..=6 {
        src.exec(&format!(
            "INSERT INTO t (id, body, doc) VALUES ({id}, {}, {})",
            lit(source, Some(&format!("{id}{body}"))),
            lit(source, Some(&doc))
        ))
        .await;
    }
    let text = src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + r#"
[[schema]]
name = "S"
source_table = "t"
target_table = "t_copy"
primary_key = "id"
columns = [
  { source = "id", target = "id", type = "integer" },
  { source = "body", target = "body", type = "string" },
  { source = "doc", target = "doc", type = "json" },
]

[[job]]
name = "J"
source = "Source"
target = "Target"
schema = "S"
batch_size = 4
"#;
    let ws = dsp::workspace::load_str(&text, &dir.path().join("workspace.toml")).unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let (s, lines) = run_and_collect(&ws, "J", &data).await.into_parts();
    assert_succeeded(&s, &lines, 6, &test);
    let types = [ColumnType::Integer, ColumnType::String, ColumnType::Json];
    let c = cols(&["id", "body", "doc"], &types);
    let want = src.rows("t", &c).await;
    let got = tgt.rows("t_copy", &c).await;
    assert_eq!(want.len(), 6);
    // Not through compare(): a failure message must not print megabytes.
    for (w, g) in want.iter().zip(&got) {
        assert!(w == g, "{test}: row {:?} differs", w[0]);
    }
    assert_eq!(got.len(), 6, "{test}: row count");
}

#[tokio::test]
async fn large_values_pg_to_mysql() {
    large_values(Kind::Pg, Kind::My).await;
}

#[tokio::test]
async fn large_values_mysql_to_pg() {
    large_values(Kind::My, Kind::Pg).await;
}

#[tokio::test]
async fn large_values_sqlite_to_sqlite() {
    large_values(Kind::Lite, Kind::Lite).await;
}
