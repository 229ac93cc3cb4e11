//! Rows that convert well but that the target server refuses (PostgreSQL
//! jsonb holding `\u0000`, MariaDB JSON nested past its depth limit, a row
//! over MariaDB's `max_allowed_packet`) fail alone, named by key with the
//! server's reason; the other rows of their batch arrive. Beyond `max_failed`
//! the run fails and the target is left as it was.

use sqlx::Row;

use crate::small_job::schema_job;
use crate::support::cli::*;
use crate::support::end::{End, Kind, lite_pool};

const ROWS: i64 = 1000;

/// `id, v, j` with `j` mapped as JSON.
const COLS: &str = r#"  { source = "id", target = "id", type = "integer" },
  { source = "v", target = "v", type = "string" },
  { source = "j", target = "j", type = "json" },"#;

/// JSON nested deeper than MariaDB's limit (32 levels).
fn deep_json() -> String {
    format!("{}1{}", "[".repeat(40), "]".repeat(40))
}

/// A PostgreSQL source `src (id, v, j json, at)` of ROWS rows; the rows
/// `bad` hold `bad_json` in `j` (a `json` column keeps any text as given).
async fn source(src: &End, bad: &[i64], bad_json: &str) {
    src.exec("CREATE TABLE src (id BIGINT PRIMARY KEY, v TEXT, j JSON, at TIMESTAMPTZ)")
        .await;
    src.exec(&format!(
        "INSERT INTO src SELECT g, 'v' || g, json_build_object('n', g), \
         timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' \
         FROM generate_series(1, {ROWS}) g"
    ))
    .await;
    if bad.is_empty() {
        return;
    }
    let ids: Vec<String> = bad.iter().map(i64::to_string).collect();
    src.exec(&format!(
        "UPDATE src SET j = '{bad_json}' WHERE id IN ({})",
        ids.join(", ")
    ))
    .await;
}

/// Job `J` copying `src` into `dst` in batches of 100 (`mode`: full or
/// incremental on `at`), failing beyond `max_failed` rows.
fn workspace(src: &End, tgt: &End, mode: &str, max_failed: u64) -> String {
    src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + &schema_job("src", "dst", 100, COLS)
            .replace(
                "primary_key = \"id\"",
                "primary_key = \"id\"\ncursor_column = \"at\"",
            )
            .replace("mode = \"full\"", &format!("mode = \"{mode}\""))
        + &format!("max_failed = {max_failed}\n")
}

/// `(id, v)` of every row of `table`, in key order.
async fn ids_and_values(end: &End, table: &str) -> Vec<(i64, Option<String>)> {
    let sql = format!("SELECT id, v FROM {table} ORDER BY id");
    let rows = match end {
        End::Pg(_, p) => sqlx::query(&sql).fetch_all(p).await.unwrap(),
        End::My(_, p) => {
            let sql = format!("SELECT id, CONVERT(v USING utf8mb4) FROM {table} ORDER BY id");
            let rows = sqlx::query(&sql).fetch_all(p).await.unwrap();
            return rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        }
        End::Lite(path, _) => {
            // A fresh connection, as the next DSP run would open it.
            let p = lite_pool(path).await;
            let rows = sqlx::query(&sql).fetch_all(&p).await.unwrap();
            p.close().await;
            return rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        }
    };
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// The run succeeded with `bad` rows failed, each named by key in a
/// warning, and the target holds every other source row as it is now.
async fn assert_only_bad_rows_failed(
    what: &str,
    out: &Out,
    src: &End,
    tgt: &End,
    bad: &[i64],
    reason: &str,
) {
    out.assert_no_panic(what);
    assert_eq!(out.code, 0, "{what}\n{}", out.all());
    let summary = format!("Failed: {}", bad.len());
    assert!(
        out.stdout.contains(&summary),
        "{what}: want {summary}\n{}",
        out.all()
    );
    for id in bad {
        let key = format!("Row id={id} of src failed");
        assert!(
            out.log_lines()
                .into_iter()
                .any(|l| l.starts_with("[WARN]") && l.contains(&key) && l.contains(reason)),
            "{what}: row {id} not named with {reason:?}\n{}",
            out.all()
        );
    }
    let want: Vec<(i64, Option<String>)> = ids_and_values(src, "src")
        .await
        .into_iter()
        .filter(|(id, _)| !bad.contains(id))
        .collect();
    assert_eq!(want.len(), ROWS as usize - bad.len());
    assert!(
        ids_and_values(tgt, "dst").await == want,
        "{what}: the target is not the source without rows {bad:?}"
    );
}

/// PostgreSQL jsonb cannot hold `\u0000`: that row fails alone into an empty
/// target (rows copied straight in), a filled one (rows staged first), and
/// incrementally; the other 999 arrive each time.
#[tokio::test]
async fn a_jsonb_nul_escape_fails_only_its_row_full_and_incremental() {
    let test = "jsonb \\u0000 into PostgreSQL";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, &format!("{test} (target)"), &env.dir, "").await else {
        return;
    };
    let bad = [500];
    source(&src, &bad, r#"{"a": "x\u0000y"}"#).await;
    tgt.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY, v TEXT, j JSONB)")
        .await;
    let reason = "unsupported Unicode escape sequence";

    env.write(&workspace(&src, &tgt, "full", 1));
    let out = env.dsp(&["run", "J"], &[]);
    assert_only_bad_rows_failed("full, empty target", &out, &src, &tgt, &bad, reason).await;
    assert!(out.stdout.contains("Total: 1,000, Success: 999, Failed: 1"));

    src.exec("UPDATE src SET v = v || ' again'").await;
    let out = env.dsp(&["run", "J"], &[]);
    assert_only_bad_rows_failed("full, filled target", &out, &src, &tgt, &bad, reason).await;

    src.exec("UPDATE src SET v = v || ' and again'").await;
    env.write(&workspace(&src, &tgt, "incremental", 1));
    let out = env.dsp(&["run", "J"], &[]);
    assert_only_bad_rows_failed("incremental", &out, &src, &tgt, &bad, reason).await;
    assert!(out.stdout.contains("Total: 1,000, Success: 999, Failed: 1"));
}

/// Several refused rows scattered over the batches, first and last rows
/// among them: each fails alone, named; with `max_failed = 0` the run fails
/// and the target is left exactly as it was.
#[tokio::test]
async fn scattered_refused_rows_each_fail_and_max_failed_still_holds() {
    let test = "scattered refused rows";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::Pg, &format!("{test} (target)"), &env.dir, "").await else {
        return;
    };
    let bad = [1, 2, 333, 334, 601, 999, 1000];
    source(&src, &bad, r#"{"a": "\u0000"}"#).await;
    tgt.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY, v TEXT, j JSONB)")
        .await;

    // max_failed = 0: nothing is written into the empty target.
    env.write(&workspace(&src, &tgt, "full", 0));
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming(test, &["max_failed", "id=1"]);
    assert!(ids_and_values(&tgt, "dst").await.is_empty(), "{test}");

    env.write(&workspace(&src, &tgt, "full", 7));
    let out = env.dsp(&["run", "J"], &[]);
    assert_only_bad_rows_failed(test, &out, &src, &tgt, &bad, "Unicode").await;

    // A row the target holds, refused now: its last good copy is kept, not
    // deleted as if it had left the source.
    src.exec(r#"UPDATE src SET j = '{"a": "\u0000"}', v = 'refused' WHERE id = 500"#)
        .await;
    env.write(&workspace(&src, &tgt, "full", 8));
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: filled target\n{}", out.all());
    assert!(
        out.stdout.contains("Success: 992, Failed: 8"),
        "{}",
        out.all()
    );
    let kept = ids_and_values(&tgt, "dst").await;
    assert!(
        kept.contains(&(500, Some("v500".into()))),
        "{test}: row 500's last good copy is gone"
    );
    assert_eq!(kept.len(), 993, "{test}");

    // max_failed = 0 into a filled target: it stays as it was.
    let before = ids_and_values(&tgt, "dst").await;
    src.exec("UPDATE src SET v = 'changed'").await;
    env.write(&workspace(&src, &tgt, "full", 0));
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming(test, &["max_failed"]);
    assert!(ids_and_values(&tgt, "dst").await == before, "{test}");
}

/// MariaDB refuses JSON nested past its depth limit (the JSON column's
/// CHECK): that row fails alone, into an empty target, a filled one (the
/// stage checks as the target does) and incrementally.
#[tokio::test]
async fn mariadb_json_nested_past_its_limit_fails_only_its_row() {
    let test = "deep JSON into MariaDB";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::My, &format!("{test} (target)"), &env.dir, "").await else {
        return;
    };
    let bad = [7, 450, 451];
    source(&src, &bad, &deep_json()).await;
    tgt.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY, v TEXT, j JSON)")
        .await;

    env.write(&workspace(&src, &tgt, "full", 3));
    let out = env.dsp(&["run", "J"], &[]);
    assert_only_bad_rows_failed("full, empty target", &out, &src, &tgt, &bad, "`dst`").await;

    src.exec("UPDATE src SET v = v || ' again'").await;
    let out = env.dsp(&["run", "J"], &[]);
    assert_only_bad_rows_failed("full, filled target", &out, &src, &tgt, &bad, "`dst`").await;

    src.exec("UPDATE src SET v = v || ' and again'").await;
    env.write(&workspace(&src, &tgt, "incremental", 3));
    let out = env.dsp(&["run", "J"], &[]);
    assert_only_bad_rows_failed("incremental", &out, &src, &tgt, &bad, "`dst`").await;
}

/// A row larger than MariaDB's `max_allowed_packet` (read from the server,
/// 16 MB by default) fails alone with the limit named, instead of the server
/// dropping the connection; the rows beside it arrive.
#[tokio::test]
async fn a_row_over_max_allowed_packet_fails_alone_naming_the_limit() {
    let test = "row over max_allowed_packet";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::My, &format!("{test} (target)"), &env.dir, "").await else {
        return;
    };
    let End::My(_, pool) = &tgt else {
        unreachable!()
    };
    let packet: i64 = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS SIGNED)")
        .fetch_one(pool)
        .await
        .unwrap();
    let bad = [42];
    source(&src, &[], "{}").await;
    src.exec(&format!(
        "UPDATE src SET v = repeat('x', {}) WHERE id = 42",
        packet + 1
    ))
    .await;
    tgt.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY, v LONGTEXT, j JSON)")
        .await;
    env.write(&workspace(&src, &tgt, "full", 1));
    let out = env.dsp(&["run", "J"], &[]);
    let limit = format!("max_allowed_packet = {packet} bytes");
    assert_only_bad_rows_failed(test, &out, &src, &tgt, &bad, &limit).await;
    assert!(
        !out.all().contains("reset"),
        "{test}: the connection was dropped\n{}",
        out.all()
    );
}

/// A constraint the staging table does not carry (a PostgreSQL CHECK, a
/// MariaDB NOT NULL) refuses rows only when an incremental batch is upserted
/// into the target: the batch is applied again without them, each named,
/// and the rest of the batch arrives.
async fn refused_by_the_upsert(target: Kind, column: &str, bad_value: &str, reason: &str) {
    let test = format!("refused by the upsert into {target:?}");
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(target, &format!("{test} (target)"), &env.dir, "t").await else {
        return;
    };
    let bad = [3, 250, 251, 1000];
    source(&src, &[], "{}").await;
    src.exec(&format!(
        "UPDATE src SET v = {bad_value} WHERE id IN (3, 250, 251, 1000)"
    ))
    .await;
    tgt.exec(&format!(
        "CREATE TABLE dst (id BIGINT PRIMARY KEY, v {column}, j JSON)"
    ))
    .await;
    env.write(&workspace(&src, &tgt, "incremental", 4));
    let out = env.dsp(&["run", "J"], &[]);
    assert_only_bad_rows_failed(&test, &out, &src, &tgt, &bad, reason).await;
    assert!(out.stdout.contains("Total: 1,000, Success: 996, Failed: 4"));

    // Beyond max_failed the batch is not committed, the watermark not moved.
    src.exec("UPDATE src SET v = 'later', at = at + interval '1 day' WHERE id IN (1, 2, 3)")
        .await;
    env.write(&workspace(&src, &tgt, "incremental", 0));
    let before = ids_and_values(&tgt, "dst").await;
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming(&test, &["max_failed"]);
    assert!(ids_and_values(&tgt, "dst").await == before, "{test}");
}

#[tokio::test]
async fn a_pg_check_constraint_refuses_rows_at_the_incremental_upsert_alone() {
    let check = "TEXT CHECK (v <> 'bad')";
    refused_by_the_upsert(Kind::Pg, check, "'bad'", "check constraint").await;
}

#[tokio::test]
async fn a_mariadb_not_null_column_refuses_rows_at_the_incremental_upsert_alone() {
    refused_by_the_upsert(Kind::My, "TEXT NOT NULL", "NULL", "cannot be null").await;
}

#[tokio::test]
async fn a_sqlite_not_null_column_refuses_rows_at_the_incremental_upsert_alone() {
    refused_by_the_upsert(
        Kind::Lite,
        "TEXT NOT NULL",
        "NULL",
        "NOT NULL constraint failed",
    )
    .await;
}
