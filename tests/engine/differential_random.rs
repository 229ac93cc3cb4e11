//! Random rows and random changes, on both sides, between pairs of engines:
//! before each run, verify must count exactly the differences this test
//! finds by reading both tables itself; the run must report exactly those
//! inserts, updates and deletes; afterwards both tables must read the same
//! and verify must find them identical. The values are hostile on purpose:
//! the checksums' own separators (`~`, `~;`, `~0`), quotes, backslashes,
//! trailing spaces, emoji, NULL beside '', microseconds, a decimal's last
//! digit, JSON, sparse and negative keys. Each pair has its own fixed seed,
//! so a failure replays; `DSP_RANDOM_SEED=n` explores others. Composite keys
//! of hostile text, and incremental runs over tied cursors, likewise.

use std::collections::BTreeMap;

use dsp::engine::progress::{Changes, RunStatus};
use dsp::engine::verify::Outcome;
use dsp::paths::DataDir;
use dsp::workspace::{Job, SyncMode, Workspace};
use sqlx::Row as _;

use crate::support;
use crate::support::end::{End, Kind};
use crate::support::run::run_and_collect;
use crate::verify::{ddl, schema, two, verify};

/// splitmix64: small, fixed, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The seed of a test: its own, or one derived from `DSP_RANDOM_SEED=n` to
/// explore others (a failure names the seed it ran with).
fn seeded(seed: u64) -> u64 {
    std::env::var("DSP_RANDOM_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(seed, |base| base.wrapping_mul(16) + seed)
}

/// One row's values as SQL-free data; `None` is NULL.
#[derive(Clone, Debug)]
struct Values {
    name: Option<String>,
    /// Decimal text with up to four digits after the point.
    amount: Option<String>,
    /// Seconds since 1970 and microseconds, UTC.
    at: Option<(i64, u32)>,
    doc: Option<serde_json::Value>,
    note: Option<String>,
}

const PIECES: &[&str] = &[
    "a", "Z", "~", "~;", "~0", ";", "'", "\"", "\\", " ", "\t", "\n", "é", "日本", "😀", "%", "_",
    "NULL", "0", "x y",
];

fn text(r: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..r.below(6) {
        let piece: &&str = r.pick(PIECES);
        s.push_str(piece);
    }
    if r.chance(10) {
        s.push(' ');
    }
    s
}

fn opt<T>(r: &mut Rng, f: impl FnOnce(&mut Rng) -> T) -> Option<T> {
    match r.chance(12) {
        true => None,
        false => Some(f(r)),
    }
}

fn amount(r: &mut Rng) -> String {
    let cents = r.below(2 * 999_999_999_999) as i64 - 999_999_999_999;
    let (sign, abs) = (if cents < 0 { "-" } else { "" }, cents.unsigned_abs());
    match r.below(3) {
        0 => format!("{sign}{}.{:04}", abs / 10_000, abs % 10_000),
        1 => format!("{sign}{}", abs / 10_000),
        _ => format!("{sign}{}.{}", abs / 10_000, abs % 10),
    }
}

fn instant(r: &mut Rng) -> (i64, u32) {
    // 1971 to 2037: every engine's DATETIME and timestamptz holds these.
    (
        31_536_000 + r.below(2_100_000_000) as i64,
        r.below(1_000_000) as u32,
    )
}

fn doc(r: &mut Rng) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for _ in 0..r.below(4) {
        let key = ["a", "b", "~", "k;", "é"][r.below(5) as usize].to_string();
        let v = match r.below(5) {
            0 => serde_json::json!(r.below(1000) as i64 - 500),
            1 => serde_json::json!(text(r)),
            2 => serde_json::json!(r.chance(50)),
            3 => serde_json::Value::Null,
            _ => serde_json::json!([r.below(10), text(r)]),
        };
        m.insert(key, v);
    }
    serde_json::Value::Object(m)
}

fn values(r: &mut Rng) -> Values {
    Values {
        name: opt(r, |r| text(r).chars().take(100).collect()),
        amount: opt(r, amount),
        at: opt(r, instant),
        doc: opt(r, doc),
        note: opt(r, text),
    }
}

/// A string literal for `kind` (MySQL reads backslashes as escapes).
fn lit(kind: Kind, s: &str) -> String {
    let s = s.replace('\'', "''");
    match kind {
        Kind::My => format!("'{}'", s.replace('\\', "\\\\")),
        _ => format!("'{s}'"),
    }
}

fn at_lit(kind: Kind, (secs, us): (i64, u32)) -> String {
    let t = chrono::DateTime::from_timestamp(secs, us * 1000).unwrap();
    let text = t.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    match kind {
        Kind::Pg => format!("'{text}+00'"),
        // DSP's own spelling in a SQLite file: a value spelled otherwise
        // (no `T`, no `Z`) is the same instant to verify, but a run rewrites
        // it in this spelling and counts the row as updated.
        Kind::Lite => format!("'{}'", t.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
        Kind::My => format!("'{text}'"),
    }
}

fn sql_values(kind: Kind, id: i64, v: &Values) -> String {
    let null = || "NULL".to_string();
    let s = |x: &Option<String>| x.as_ref().map_or_else(null, |t| lit(kind, t));
    format!(
        "({id}, {}, {}, {}, {}, {})",
        s(&v.name),
        v.amount.as_ref().map_or_else(null, |a| match kind {
            Kind::Lite => format!("'{a}'"),
            _ => a.clone(),
        }),
        v.at.map_or_else(null, |a| at_lit(kind, a)),
        v.doc
            .as_ref()
            .map_or_else(null, |d| lit(kind, &d.to_string())),
        s(&v.note)
    )
}

async fn insert(end: &End, id: i64, v: &Values) {
    end.exec(&format!(
        "INSERT INTO items (id, name, amount, at, doc, note) VALUES {}",
        sql_values(end.kind(), id, v)
    ))
    .await;
}

async fn update(end: &End, id: i64, v: &Values) {
    let kind = end.kind();
    end.exec(&format!("DELETE FROM items WHERE id = {id}"))
        .await;
    end.exec(&format!(
        "INSERT INTO items (id, name, amount, at, doc, note) VALUES {}",
        sql_values(kind, id, v)
    ))
    .await;
}

/// A row as this test compares it: each value in one spelling whatever the
/// engine (decimals without insignificant zeros, instants in UTC with six
/// digits, JSON as a value).
type Read = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<serde_json::Value>,
    Option<String>,
);

fn decimal(s: &str) -> String {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let mut d = digits.trim_start_matches('0').to_string();
    if d.contains('.') {
        d = d.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    if d.is_empty() || d.starts_with('.') {
        d.insert(0, '0');
    }
    match neg && d != "0" {
        true => format!("-{d}"),
        false => d,
    }
}

fn timestamp(s: &str) -> String {
    let t = s.trim().trim_end_matches('Z').trim_end_matches("+00:00");
    let t = t.trim_end_matches("+00").replacen('T', " ", 1);
    let parsed = chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f")
        .unwrap_or_else(|e| panic!("timestamp {s:?}: {e}"));
    parsed.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

async fn read(end: &End) -> BTreeMap<i64, Read> {
    let sql = match end.kind() {
        Kind::Pg => {
            "SELECT id, name, amount::text, \
             to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), doc::text, note FROM items"
        }
        Kind::My => {
            "SELECT id, name, CAST(amount AS CHAR), DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s.%f'), \
             CAST(doc AS CHAR), note FROM items"
        }
        Kind::Lite => {
            "SELECT id, name, CAST(amount AS TEXT), CAST(at AS TEXT), CAST(doc AS TEXT), note \
             FROM items"
        }
    };
    macro_rules! rows {
        ($pool:expr) => {
            sqlx::query(sql)
                .fetch_all($pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .iter()
                .map(|r| {
                    let s = |i: usize| r.try_get::<Option<String>, _>(i).unwrap();
                    let id: i64 = r.try_get(0).unwrap();
                    let values: Read = (
                        s(1),
                        s(2).map(|a| decimal(&a)),
                        s(3).map(|t| timestamp(&t)),
                        s(4).map(|d| serde_json::from_str(&d).unwrap()),
                        s(5),
                    );
                    (id, values)
                })
                .collect()
        };
    }
    match end {
        End::Pg(_, p) => rows!(p),
        End::My(_, p) => rows!(p),
        End::Lite(_, p) => rows!(p),
    }
}

/// What a sync must change to make `t` the mirror of `s`.
fn expected<K: Ord, V: PartialEq>(s: &BTreeMap<K, V>, t: &BTreeMap<K, V>) -> Changes {
    let both = s.keys().filter(|k| t.contains_key(k)).count() as u64;
    let updated = s
        .iter()
        .filter(|(k, v)| t.get(k).is_some_and(|w| w != *v))
        .count() as u64;
    Changes {
        inserted: s.len() as u64 - both,
        updated,
        deleted: t.len() as u64 - both,
        unchanged: both - updated,
    }
}

/// Keys: a dense run (key ranges) and sparse ones, negative included.
fn first_keys(r: &mut Rng) -> Vec<i64> {
    let mut keys: Vec<i64> = (1..=900).collect();
    for _ in 0..300 {
        keys.push(r.below(2_000_000_000_000) as i64 - 1_000_000_000_000);
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Changes one end: rows replaced with new values, one value nudged the
/// least it can be (a microsecond, a decimal's last digit, NULL for '',
/// a JSON member, a trailing space), rows deleted and new keys inserted.
async fn churn(r: &mut Rng, end: &End, keys: &mut Vec<i64>, n: usize) {
    let kind = end.kind();
    let at = |us: u32| at_lit(kind, (1_904_619_905, us));
    for _ in 0..n {
        let id = *r.pick(keys);
        let sql = match r.below(9) {
            0 => {
                update(end, id, &values(r)).await;
                continue;
            }
            1 => format!("UPDATE items SET at = {} WHERE id = {id}", at(1)),
            2 => format!("UPDATE items SET at = {} WHERE id = {id}", at(2)),
            3 => format!("UPDATE items SET amount = '12345.6781' WHERE id = {id}"),
            4 => format!("UPDATE items SET amount = '12345.6782' WHERE id = {id}"),
            5 => match r.chance(50) {
                true => format!("UPDATE items SET note = '' WHERE id = {id}"),
                false => format!("UPDATE items SET note = NULL WHERE id = {id}"),
            },
            6 => format!(
                "UPDATE items SET doc = {} WHERE id = {id}",
                lit(kind, &serde_json::json!({"a": r.below(3)}).to_string())
            ),
            7 => format!(
                "UPDATE items SET name = {} WHERE id = {id}",
                lit(kind, "~; ")
            ),
            _ => {
                let pos = keys.iter().position(|k| *k == id).unwrap();
                keys.swap_remove(pos);
                format!("DELETE FROM items WHERE id = {id}")
            }
        };
        end.exec(&sql).await;
    }
    for _ in 0..n / 3 {
        let id = r.below(4_000_000_000_000) as i64 - 2_000_000_000_000;
        if !keys.contains(&id) {
            insert(end, id, &values(r)).await;
            keys.push(id);
        }
    }
}

async fn pair(source: Kind, target: Kind, seed: u64) {
    let seed = seeded(seed);
    let test = format!("random differential {source:?} -> {target:?} (seed {seed})");
    let dir = support::temp_dir();
    let Some((src, tgt)) = two((source, target), &test, &dir).await else {
        return;
    };
    let mut r = Rng(seed);
    src.exec(ddl(source)).await;
    let mut src_keys = first_keys(&mut r);
    for chunk in src_keys.chunks(200) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|&id| sql_values(source, id, &values(&mut r)))
            .collect();
        src.exec(&format!(
            "INSERT INTO items (id, name, amount, at, doc, note) VALUES {}",
            rows.join(", ")
        ))
        .await;
    }
    let ws = Workspace {
        path: None,
        networks: vec![src.network("Src"), tgt.network("Tgt")],
        schemas: vec![schema("all", true)],
        jobs: vec![{
            let mut j = Job::new("All", "Src", "Tgt", "all", SyncMode::Full);
            j.max_delete_percent = Some(100.0);
            j
        }],
        ..Default::default()
    };
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "All", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
    let mut tgt_keys = src_keys.clone();

    // Few changes (only their segments are read) and many (most segments
    // differ: the whole table is copied), with the target changed as well
    // in one round of each.
    let mut differential = 0;
    for (round, (n_src, n_tgt)) in [(10, 0), (40, 15), (8, 6), (60, 0)].into_iter().enumerate() {
        let test = format!("{test}, round {round}");
        churn(&mut r, &src, &mut src_keys, n_src).await;
        churn(&mut r, &tgt, &mut tgt_keys, n_tgt).await;
        let (s, t) = (read(&src).await, read(&tgt).await);
        let want = expected(&s, &t);

        let v = verify(&ws, "All", &data).await;
        assert_eq!(v.outcome, Outcome::Different, "{test}: {v:#?}");
        assert_eq!(
            (v.only_in_source, v.only_in_target, v.differing),
            (want.inserted, want.deleted, want.updated),
            "{test}: verify's counts against this test's own reading: {v:#?}"
        );

        let (summary, lines) = run_and_collect(&ws, "All", &data).await.into_parts();
        assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
        assert_eq!(summary.changes, Some(want), "{test}: {lines:#?}");
        if lines.iter().any(|l| l.contains("Differential full sync: ")) {
            differential += 1;
        }
        let (s2, t2) = (read(&src).await, read(&tgt).await);
        assert_eq!(s2.len(), t2.len(), "{test}");
        for (k, v) in &s2 {
            assert_eq!(Some(v), t2.get(k), "{test}: key {k}");
        }
        let v = verify(&ws, "All", &data).await;
        assert_eq!(v.outcome, Outcome::Identical, "{test}: {v:#?}");
        tgt_keys = src_keys.clone();
    }
    // MariaDB keeps JSON as written: against another engine every segment
    // of a job that maps a JSON column differs, and the table is copied
    // whole and compared row by row (slower, never wrong).
    if source != Kind::My || target == Kind::My {
        assert!(
            differential >= 1,
            "{test}: no round read only the differing segments"
        );
    }
}

#[tokio::test]
async fn random_changes_pg_to_pg() {
    pair(Kind::Pg, Kind::Pg, 1).await;
}

#[tokio::test]
async fn random_changes_mysql_to_pg() {
    pair(Kind::My, Kind::Pg, 2).await;
}

#[tokio::test]
async fn random_changes_pg_to_mysql() {
    pair(Kind::Pg, Kind::My, 3).await;
}

#[tokio::test]
async fn random_changes_mysql_to_mysql() {
    pair(Kind::My, Kind::My, 4).await;
}

#[tokio::test]
async fn random_changes_sqlite_to_pg() {
    pair(Kind::Lite, Kind::Pg, 5).await;
}

#[tokio::test]
async fn random_changes_pg_to_sqlite() {
    pair(Kind::Pg, Kind::Lite, 6).await;
}

/// A composite key of hostile text and a small number: rows are bucketed
/// by the hash of their key's canonical text and matched by it, so a key
/// holding the separators (`~`, `~;`, `~0`) or differing from another by a
/// trailing space, case or accent must stay a key of its own.
async fn composite(source: Kind, target: Kind, seed: u64) {
    let seed = seeded(seed);
    let test = format!("random composite keys {source:?} -> {target:?} (seed {seed})");
    let dir = support::temp_dir();
    let Some((src, tgt)) = two((source, target), &test, &dir).await else {
        return;
    };
    let ddl = |kind: Kind| match kind {
        // NO PAD and binary: 'a', 'A' and 'a ' are three keys, as elsewhere.
        Kind::My => {
            "CREATE TABLE pairs (code VARCHAR(100) COLLATE utf8mb4_nopad_bin, n BIGINT, v TEXT, \
             PRIMARY KEY (code, n)) DEFAULT CHARSET=utf8mb4"
        }
        _ => "CREATE TABLE pairs (code TEXT, n BIGINT, v TEXT, PRIMARY KEY (code, n))",
    };
    src.exec(ddl(source)).await;
    if target == Kind::My {
        tgt.exec(ddl(target)).await;
    }
    let mut r = Rng(seed);
    let key = |r: &mut Rng| {
        (
            text(r).chars().take(100).collect::<String>(),
            r.below(3) as i64,
        )
    };
    let row = |kind: Kind, (code, n): &(String, i64), v: &Option<String>| {
        let v = v.as_ref().map_or("NULL".to_string(), |v| lit(kind, v));
        format!("({}, {n}, {v})", lit(kind, code))
    };
    let mut keys: Vec<(String, i64)> = Vec::new();
    // Over `DIFFERENTIAL_MIN_ROWS` (1,000): a smaller target is copied whole.
    while keys.len() < 1_500 {
        let k = key(&mut r);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for chunk in keys.chunks(250) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|k| row(source, k, &opt(&mut r, text)))
            .collect();
        src.exec(&format!(
            "INSERT INTO pairs (code, n, v) VALUES {}",
            rows.join(", ")
        ))
        .await;
    }
    let mut schema = schema("p", false);
    schema.source_table = "pairs".into();
    schema.target_table = "pairs".into();
    schema.primary_key = vec!["code".into(), "n".into()];
    schema.cursor_column = None;
    schema.columns = vec![
        crate::seed::col("code", "code", dsp::workspace::ColumnType::String),
        crate::seed::col("n", "n", dsp::workspace::ColumnType::Integer),
        crate::seed::col("v", "v", dsp::workspace::ColumnType::String),
    ];
    let ws = Workspace {
        path: None,
        networks: vec![src.network("Src"), tgt.network("Tgt")],
        schemas: vec![schema],
        jobs: vec![{
            let mut j = Job::new("P", "Src", "Tgt", "p", SyncMode::Full);
            j.max_delete_percent = Some(100.0);
            j
        }],
        ..Default::default()
    };
    let data = DataDir::new(dir.path().join("data"));
    let (summary, lines) = run_and_collect(&ws, "P", &data).await.into_parts();
    assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");

    async fn read(end: &End) -> BTreeMap<(String, i64), Option<String>> {
        let sql = "SELECT CONVERT(code USING utf8mb4), CAST(n AS SIGNED), v FROM pairs";
        let lite = "SELECT code, n, v FROM pairs";
        let pg = "SELECT code, n, v FROM pairs";
        macro_rules! rows {
            ($pool:expr, $sql:expr) => {
                sqlx::query($sql)
                    .fetch_all($pool)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| {
                        let code: String = r.try_get(0).unwrap();
                        let n: i64 = r.try_get(1).unwrap();
                        let v: Option<String> = r.try_get(2).unwrap();
                        ((code, n), v)
                    })
                    .collect()
            };
        }
        match end {
            End::Pg(_, p) => rows!(p, pg),
            End::My(_, p) => rows!(p, sql),
            End::Lite(_, p) => rows!(p, lite),
        }
    }
    let mut tgt_keys = keys.clone();
    let mut differential = 0;
    for (round, (n_src, n_tgt)) in [(8, 0), (10, 6), (30, 0)].into_iter().enumerate() {
        let test = format!("{test}, round {round}");
        for (end, keys, n) in [(&src, &mut keys, n_src), (&tgt, &mut tgt_keys, n_tgt)] {
            let kind = end.kind();
            for _ in 0..n {
                let i = r.below(keys.len() as u64) as usize;
                let (code, n) = keys[i].clone();
                let sql = match r.below(3) {
                    0 => {
                        keys.swap_remove(i);
                        format!(
                            "DELETE FROM pairs WHERE code = {} AND n = {n}",
                            lit(kind, &code)
                        )
                    }
                    1 => {
                        let v = opt(&mut r, text).map_or("NULL".to_string(), |v| lit(kind, &v));
                        format!(
                            "UPDATE pairs SET v = {v} WHERE code = {} AND n = {n}",
                            lit(kind, &code)
                        )
                    }
                    _ => {
                        // A key next to an existing one: a trailing space,
                        // another case, or a separator more.
                        let near = match r.below(3) {
                            0 => format!("{code} "),
                            1 => code.to_uppercase(),
                            _ => format!("{code}~;"),
                        };
                        let k = (near.chars().take(100).collect::<String>(), n);
                        if keys.contains(&k) {
                            continue;
                        }
                        let sql = format!(
                            "INSERT INTO pairs (code, n, v) VALUES {}",
                            row(kind, &k, &opt(&mut r, text))
                        );
                        keys.push(k);
                        sql
                    }
                };
                end.exec(&sql).await;
            }
        }
        let (s, t) = (read(&src).await, read(&tgt).await);
        let want = expected(&s, &t);
        let v = verify(&ws, "P", &data).await;
        assert_eq!(
            (v.only_in_source, v.only_in_target, v.differing),
            (want.inserted, want.deleted, want.updated),
            "{test}: verify's counts against this test's own reading: {v:#?}"
        );
        let (summary, lines) = run_and_collect(&ws, "P", &data).await.into_parts();
        assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
        assert_eq!(summary.changes, Some(want), "{test}: {lines:#?}");
        if lines.iter().any(|l| l.contains("Differential full sync: ")) {
            differential += 1;
        }
        assert_eq!(read(&src).await, read(&tgt).await, "{test}: not a mirror");
        let v = verify(&ws, "P", &data).await;
        assert_eq!(v.outcome, Outcome::Identical, "{test}: {v:#?}");
        tgt_keys = keys.clone();
    }
    assert!(
        differential >= 1,
        "{test}: no round read only the differing segments"
    );
}

#[tokio::test]
async fn random_composite_keys_pg_to_pg() {
    composite(Kind::Pg, Kind::Pg, 11).await;
}

#[tokio::test]
async fn random_composite_keys_pg_to_mysql() {
    composite(Kind::Pg, Kind::My, 12).await;
}

#[tokio::test]
async fn random_composite_keys_mysql_to_pg() {
    composite(Kind::My, Kind::Pg, 13).await;
}

#[tokio::test]
async fn random_composite_keys_sqlite_to_pg() {
    composite(Kind::Lite, Kind::Pg, 14).await;
}

#[tokio::test]
async fn random_composite_keys_pg_to_sqlite() {
    composite(Kind::Pg, Kind::Lite, 15).await;
}

/// Incremental runs in batches of 7 over cursors that tie: every change
/// carries one of three instants, the first of them the watermark itself,
/// so ties straddle batch and commit-group boundaries and the watermark.
/// After each run the target must hold exactly the source's rows, and
/// verify must find nothing unsynced or different.
async fn incremental(source: Kind, target: Kind, seed: u64) {
    let seed = seeded(seed);
    let test = format!("random incremental {source:?} -> {target:?} (seed {seed})");
    let dir = support::temp_dir();
    let Some((src, tgt)) = two((source, target), &test, &dir).await else {
        return;
    };
    let mut r = Rng(seed);
    src.exec(ddl(source)).await;
    // A cursor from a few instants, never NULL (a NULL cursor is left out
    // by design, and said so).
    let mut clock: i64 = 1_700_000_000;
    let pick = |r: &mut Rng, clock: i64| (clock + r.below(3) as i64, 250_000u32);
    let mut keys: Vec<i64> = (1..=300).collect();
    let mut rows = Vec::new();
    for &id in &keys {
        let mut v = values(&mut r);
        v.at = Some(pick(&mut r, clock));
        rows.push(sql_values(source, id, &v));
    }
    src.exec(&format!(
        "INSERT INTO items (id, name, amount, at, doc, note) VALUES {}",
        rows.join(", ")
    ))
    .await;
    let ws = Workspace {
        path: None,
        networks: vec![src.network("Src"), tgt.network("Tgt")],
        schemas: vec![schema("all", true)],
        jobs: vec![{
            let mut j = Job::new("Inc", "Src", "Tgt", "all", SyncMode::Incremental);
            j.batch_size = Some(7);
            j
        }],
        ..Default::default()
    };
    let data = DataDir::new(dir.path().join("data"));
    for round in 0..5 {
        let test = format!("{test}, round {round}");
        let (summary, lines) = run_and_collect(&ws, "Inc", &data).await.into_parts();
        assert_eq!(summary.status, RunStatus::Succeeded, "{test}: {lines:#?}");
        let (s, t) = (read(&src).await, read(&tgt).await);
        assert_eq!(s.len(), t.len(), "{test}: {lines:#?}");
        for (k, v) in &s {
            assert_eq!(Some(v), t.get(k), "{test}: key {k}");
        }
        if round > 0 {
            // Past the watermark only: the changed rows and the watermark's ties.
            assert!(
                summary.total >= 25 && summary.total < s.len() as u64,
                "{test}: read {} of {}: {lines:#?}",
                summary.total,
                s.len()
            );
        }
        let v = verify(&ws, "Inc", &data).await;
        assert_eq!(v.outcome, Outcome::Identical, "{test}: {v:#?}");
        assert_eq!(v.not_yet_synced, 0, "{test}: {v:#?}");

        // The next changes: the newest instant so far (the watermark) and
        // two after it, on rows old and new.
        let newest = clock + 2;
        clock = newest;
        for _ in 0..25 {
            let id = *r.pick(&keys);
            let mut v = values(&mut r);
            v.at = Some(pick(&mut r, newest));
            update(&src, id, &v).await;
        }
        for _ in 0..10 {
            let id = 1_000 + r.below(1_000_000) as i64;
            if !keys.contains(&id) {
                let mut v = values(&mut r);
                v.at = Some(pick(&mut r, newest));
                insert(&src, id, &v).await;
                keys.push(id);
            }
        }
    }
}

#[tokio::test]
async fn random_incremental_pg_to_pg() {
    incremental(Kind::Pg, Kind::Pg, 21).await;
}

#[tokio::test]
async fn random_incremental_mysql_to_pg() {
    incremental(Kind::My, Kind::Pg, 22).await;
}

#[tokio::test]
async fn random_incremental_pg_to_mysql() {
    incremental(Kind::Pg, Kind::My, 23).await;
}

#[tokio::test]
async fn random_incremental_sqlite_to_pg() {
    incremental(Kind::Lite, Kind::Pg, 24).await;
}

#[tokio::test]
async fn random_incremental_pg_to_sqlite() {
    incremental(Kind::Pg, Kind::Lite, 25).await;
}
