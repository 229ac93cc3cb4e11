//! PostgreSQL to PostgreSQL between columns of the very same types: a whole
//! copy moves the source's binary COPY tuples into the target's COPY as they
//! are. The rows must read back exactly as the source holds them, the
//! extremes and odd values of every type included; a row the target refuses
//! must still fail alone, named by its key, as on the converting path.

use sqlx::Row;

use crate::small_job::schema_job;
use crate::support::cli::*;
use crate::support::end::{End, Kind};

const DDL: &str = "(id BIGINT PRIMARY KEY, i2 SMALLINT, i4 INTEGER, d DOUBLE PRECISION, \
     n NUMERIC, n2 NUMERIC(12,2), t TEXT, vc VARCHAR(5), j JSON, jb JSONB, b BOOLEAN, \
     tz TIMESTAMPTZ, ts TIMESTAMP, dt DATE, tm TIME, u UUID, by BYTEA)";

const COLS: &str = r#"  { source = "id", target = "id", type = "integer" },
  { source = "i2", target = "i2", type = "integer" },
  { source = "i4", target = "i4", type = "integer" },
  { source = "d", target = "d", type = "float" },
  { source = "n", target = "n", type = "decimal" },
  { source = "n2", target = "n2", type = "decimal" },
  { source = "t", target = "t", type = "string" },
  { source = "vc", target = "vc", type = "string" },
  { source = "j", target = "j", type = "json" },
  { source = "jb", target = "jb", type = "json" },
  { source = "b", target = "b", type = "boolean" },
  { source = "tz", target = "tz", type = "timestamp" },
  { source = "ts", target = "ts", type = "timestamp" },
  { source = "dt", target = "dt", type = "date" },
  { source = "tm", target = "tm", type = "time" },
  { source = "u", target = "u", type = "uuid" },
  { source = "by", target = "by", type = "bytes" },"#;

const PASSED: &str = "rows are copied in the source's binary form";

/// Each row of `table` as PostgreSQL prints the whole record, in key order.
async fn records(end: &End, table: &str) -> Vec<String> {
    let sql = format!("SELECT x::text FROM {table} x ORDER BY id");
    sqlx::query(&sql)
        .fetch_all(pool(end))
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
}

async fn pair(test: &str, env: &Env) -> Option<(End, End)> {
    let src = End::new(Kind::Pg, &format!("{test} (source)"), &env.dir, "").await?;
    let tgt = End::new(Kind::Pg, &format!("{test} (target)"), &env.dir, "").await?;
    Some((src, tgt))
}

/// Job `J` copying `src` into `dst` with `cols`, in batches of `batch`.
fn workspace(src: &End, tgt: &End, cols: &str, batch: u64, max_failed: u64) -> String {
    src.network_toml("Source")
        + "\n"
        + &tgt.network_toml("Target")
        + &schema_job("src", "dst", batch, cols)
        + &format!("max_failed = {max_failed}\n")
}

/// The PostgreSQL end's pool.
fn pool(end: &End) -> &sqlx::PgPool {
    let End::Pg(_, p) = end else {
        panic!("a PostgreSQL end");
    };
    p
}

#[tokio::test]
async fn identical_columns_pass_through_and_read_back_exactly() {
    let test = "PostgreSQL pass-through of every type";
    let env = Env::new();
    let Some((src, tgt)) = pair(test, &env).await else {
        return;
    };
    src.exec(&format!("CREATE TABLE src {DDL}")).await;
    tgt.exec(&format!("CREATE TABLE dst {DDL}")).await;
    src.exec(
        r#"INSERT INTO src VALUES
        (1, -32768, -2147483648, 'NaN', 'NaN', -9999999999.99,
         E'tab\there \\ back ''quote'' \u00e9 \U0001F600 \u05e9\u05dc', 'ééééé',
         '{"b": 1,   "a": [1, 2]}', '{"z": null, "a": "\u00e9"}', true,
         '-infinity', '4713-01-01 00:00:00 BC', '-infinity', '00:00:00',
         '00000000-0000-0000-0000-000000000000', '\x00ff0a5c'),
        (2, 32767, 2147483647, 1.7976931348623157e308,
         '123456789012345678901234567890.123456789012345678901234567890', 9999999999.99,
         '', '', '[]', '{}', false, 'infinity', '9999-12-31 23:59:59.999999',
         'infinity', '24:00:00', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '\x'),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL, NULL),
        (4, 0, -1, 0.1, '-0.000000001000', 0.01, 'NULL', 'null', 'null',
         '"text"', true, '2024-02-29 12:34:56.789012+05:30', '1999-12-31 23:59:59.999999',
         '0044-03-15 BC', '23:59:59.999999', '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
         '\x0000'),
        (9223372036854775807, 1, 1, '-Infinity', 'Infinity', 0, 'last', 'z',
         '1e400', '[1.5e10, -0]', false, '1970-01-01 00:00:00+00', '2000-01-01',
         '2000-02-29', '12:00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\xdeadbeef')"#,
    )
    .await;
    env.write(&workspace(&src, &tgt, COLS, 2, 0));

    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(test);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    assert!(
        out.stdout.contains(PASSED),
        "{test}: not passed through\n{}",
        out.all()
    );
    assert!(
        out.stdout.contains("Total: 5, Success: 5, Failed: 0"),
        "{test}\n{}",
        out.all()
    );
    let want = records(&src, "src").await;
    assert_eq!(want.len(), 5);
    assert_eq!(records(&tgt, "dst").await, want, "{test}");

    let verified = env.dsp(&["verify", "J"], &[]);
    assert_eq!(verified.code, 0, "{test}: verify\n{}", verified.all());

    // A target column of another type (numeric(12,2) -> numeric(14,2))
    // converts again, with the same rows as the outcome.
    tgt.exec("DROP TABLE dst").await;
    tgt.exec(&format!(
        "CREATE TABLE dst {}",
        DDL.replace("n2 NUMERIC(12,2)", "n2 NUMERIC(14,2)")
    ))
    .await;
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: converting\n{}", out.all());
    assert!(
        !out.stdout.contains(PASSED),
        "{test}: passed through\n{}",
        out.all()
    );
    assert_eq!(records(&tgt, "dst").await, want, "{test}: converting");

    // Target columns without the source's modifiers hold every value as it
    // is: passed through again.
    tgt.exec("DROP TABLE dst").await;
    tgt.exec(&format!(
        "CREATE TABLE dst {}",
        DDL.replace("n2 NUMERIC(12,2)", "n2 NUMERIC")
            .replace("vc VARCHAR(5)", "vc TEXT")
    ))
    .await;
    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: unconstrained\n{}", out.all());
    assert!(
        out.stdout.contains(PASSED),
        "{test}: unconstrained\n{}",
        out.all()
    );
    assert_eq!(records(&tgt, "dst").await, want, "{test}: unconstrained");
}

/// Rows the target refuses (a CHECK the source lacks) and a row whose key
/// is NULL fail alone on the pass-through path, named by key; the other
/// rows arrive.
#[tokio::test]
async fn refused_and_keyless_rows_fail_alone_when_passed_through() {
    let test = "PostgreSQL pass-through with refused rows";
    let env = Env::new();
    let Some((src, tgt)) = pair(test, &env).await else {
        return;
    };
    let table = "(id BIGINT UNIQUE, v TEXT, n INTEGER)";
    src.exec(&format!("CREATE TABLE src {table}")).await;
    src.exec(
        "INSERT INTO src SELECT g, 'v' || g, g % 100 FROM generate_series(1, 3000) g; \
         INSERT INTO src VALUES (NULL, 'no key', 5)",
    )
    .await;
    tgt.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY, v TEXT, n INTEGER, CHECK (id <> 1234 AND id <> 2999))")
        .await;
    let cols = r#"  { source = "id", target = "id", type = "integer" },
  { source = "v", target = "v", type = "string" },
  { source = "n", target = "n", type = "integer" },"#;
    env.write(&workspace(&src, &tgt, cols, 500, 3));
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(test);
    assert_eq!(out.code, 0, "{test}\n{}", out.all());
    assert!(
        out.stdout.contains(PASSED),
        "{test}: not passed through\n{}",
        out.all()
    );
    assert!(
        out.stdout
            .contains("Total: 3,001, Success: 2,998, Failed: 3"),
        "{test}\n{}",
        out.all()
    );
    for key in [
        "Row id=1234 of src failed",
        "Row id=2999 of src failed",
        "id=NULL",
    ] {
        assert!(
            out.log_lines()
                .iter()
                .any(|l| l.starts_with("[WARN]") && l.contains(key)),
            "{test}: {key} not named\n{}",
            out.all()
        );
    }
    let p = pool(&tgt);
    let (rows, sum): (i64, i64) = sqlx::query_as("SELECT count(*), sum(id)::bigint FROM dst")
        .fetch_one(p)
        .await
        .unwrap();
    assert_eq!(rows, 2998);
    assert_eq!(sum, 3000 * 3001 / 2 - 1234 - 2999);
    let bad: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dst WHERE v <> 'v' || id OR n <> id % 100")
            .fetch_one(p)
            .await
            .unwrap();
    assert_eq!(bad, 0, "{test}: values moved between rows");
}

/// A SIGKILL while tuples pass through leaves the empty target empty (the
/// copy is one transaction); the next run copies everything.
#[tokio::test]
async fn sigkill_mid_pass_through_leaves_the_target_empty() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let test = "SIGKILL during a PostgreSQL pass-through";
    let env = Env::new();
    let Some((src, tgt)) = pair(test, &env).await else {
        return;
    };
    let table = "(id BIGINT PRIMARY KEY, v TEXT, at TIMESTAMPTZ)";
    src.exec(&format!("CREATE TABLE src {table}")).await;
    src.exec(
        // About 1 MB a batch: by batch 5 the target's COPY has data.
        "INSERT INTO src SELECT g, repeat('x', 1500 + g % 500), \
         timestamptz '2024-01-01 00:00:00+00' + g * interval '1 ms' \
         FROM generate_series(1, 20000) g",
    )
    .await;
    tgt.exec(&format!("CREATE TABLE dst {table}")).await;
    let cols = r#"  { source = "id", target = "id", type = "integer" },
  { source = "v", target = "v", type = "string" },
  { source = "at", target = "at", type = "timestamp" },"#;
    env.write(&workspace(&src, &tgt, cols, 500, 0));
    let mut child = env
        .command(&["run", "J"], &[("DSP_PACE_MS", "50")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let out = child.stdout.take().unwrap();
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("Processing batch 5/"))
    {
        assert!(
            Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "{test}: the run ended or stalled before batch 5: {:#?}",
            lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    assert!(
        lines.lock().unwrap().iter().any(|l| l.contains(PASSED)),
        "{test}: not passed through: {:#?}",
        lines.lock().unwrap()
    );
    assert!(
        records(&tgt, "dst").await.is_empty(),
        "{test}: the killed copy left rows"
    );

    let out = env.dsp(&["run", "J"], &[]);
    assert_eq!(out.code, 0, "{test}: the run after\n{}", out.all());
    assert!(
        out.stdout
            .contains("Total: 20,000, Success: 20,000, Failed: 0"),
        "{}",
        out.all()
    );
    assert_eq!(records(&tgt, "dst").await, records(&src, "src").await);
}

/// A target trigger that silently drops rows (a BEFORE INSERT returning
/// NULL) must fail the run, not let it report success with rows missing:
/// the server's tally of the copy is checked against the rows sent, and
/// nothing is committed.
#[tokio::test]
async fn rows_a_target_trigger_swallows_fail_the_run() {
    let test = "a trigger swallowing rows";
    let env = Env::new();
    let Some((src, tgt)) = pair(test, &env).await else {
        return;
    };
    let table = "(id BIGINT PRIMARY KEY, v TEXT)";
    src.exec(&format!("CREATE TABLE src {table}")).await;
    src.exec("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 1000) g")
        .await;
    tgt.exec(&format!("CREATE TABLE dst {table}")).await;
    tgt.exec(
        "CREATE FUNCTION swallow() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN IF NEW.id % 100 = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER swallow BEFORE INSERT ON dst FOR EACH ROW EXECUTE FUNCTION swallow()",
    )
    .await;
    let cols = r#"  { source = "id", target = "id", type = "integer" },
  { source = "v", target = "v", type = "string" },"#;
    env.write(&workspace(&src, &tgt, cols, 100, 0));
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(test);
    assert_ne!(out.code, 0, "{test}: reported success\n{}", out.all());
    assert!(
        out.all().contains("1,000 rows were read but 990 arrived"),
        "{test}\n{}",
        out.all()
    );
    assert!(
        records(&tgt, "dst").await.is_empty(),
        "{test}: rows committed"
    );
}
