//! Logging in: wrong passwords and unreachable servers are failed runs naming
//! the network, passwords never reach the output or the data dir, and a
//! least-privilege login is enough.

use std::time::Duration;

use dsp::engine::progress::RunStatus;
use dsp::paths::DataDir;
use dsp::workspace::{ColumnType, SyncMode};

use crate::seed::*;
use crate::small_job::*;
use crate::support;
use crate::support::cli::*;
use crate::support::end::{End, Kind};
use crate::support::workspace::{SchemaJob, WorkspaceToml};

/// A MariaDB/MySQL user with a password, dropped with the guard.
struct MyUser {
    name: String,
}

impl MyUser {
    async fn create(db: &support::TestDb, password: &str) -> MyUser {
        let name = support::unique_name("dsp_u")
            .chars()
            .take(32)
            .collect::<String>();
        let mut c =
            <sqlx::MySqlConnection as sqlx::Connection>::connect(&support::mysql_admin_url())
                .await
                .unwrap();
        for sql in [
            format!("CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"),
            format!("GRANT ALL ON `{}`.* TO '{name}'@'%'", db.name),
        ] {
            sqlx::raw_sql(&sql).execute(&mut c).await.unwrap();
        }
        MyUser { name }
    }
}

impl MyUser {
    /// A user that may only read `table`.
    async fn create_select_only(db: &support::TestDb, password: &str, table: &str) -> MyUser {
        Self::create_with(password, &format!("SELECT ON `{}`.`{table}`", db.name)).await
    }

    /// A user that may only read and change the rows of `table`.
    async fn create_dml_only(db: &support::TestDb, password: &str, table: &str) -> MyUser {
        Self::create_with(
            password,
            &format!("SELECT, INSERT, UPDATE, DELETE ON `{}`.`{table}`", db.name),
        )
        .await
    }

    async fn create_with(password: &str, grant: &str) -> MyUser {
        let name = support::unique_name("dsp_u")
            .chars()
            .take(32)
            .collect::<String>();
        let mut c =
            <sqlx::MySqlConnection as sqlx::Connection>::connect(&support::mysql_admin_url())
                .await
                .unwrap();
        for sql in [
            format!("CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"),
            format!("GRANT {grant} TO '{name}'@'%'"),
        ] {
            sqlx::raw_sql(&sql).execute(&mut c).await.unwrap();
        }
        MyUser { name }
    }
}

impl Drop for MyUser {
    fn drop(&mut self) {
        let sql = format!("DROP USER IF EXISTS '{}'@'%'", self.name);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let mut c = <sqlx::MySqlConnection as sqlx::Connection>::connect(
                    &support::mysql_admin_url(),
                )
                .await
                .ok()?;
                sqlx::raw_sql(&sql).execute(&mut c).await.ok()
            })
        })
        .join();
    }
}

/// The network TOML of a MySQL test database, logging in as `user`.
fn my_network_as(db: &support::TestDb, name: &str, user: &str, auth: &str) -> String {
    db.network_toml(name).replace(
        &format!("username = \"{}\"", db.username),
        &format!("username = \"{user}\""),
    ) + auth
        + "\n"
}

#[tokio::test]
async fn a_wrong_password_is_a_failed_run_naming_the_network() {
    let env = Env::new();
    let Some(src) = End::new(Kind::My, "wrong password", &env.dir, "").await else {
        return;
    };
    let End::My(db, _) = &src else { unreachable!() };
    small_source(&src).await;
    let user = MyUser::create(db, "SuperSecret123!").await;
    let wrong = "WrongPassword987!";
    let text = WorkspaceToml::new()
        .entry(&my_network_as(
            db,
            "Source",
            &user.name,
            &format!("password = \"{wrong}\""),
        ))
        .sqlite("Target", &env.sqlite("t"))
        .schema_job(&SchemaJob::new("src", "dst"))
        .build();
    env.write(&text);
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_failed_naming("wrong password", &["\"Source\""]);
    let lower = out.all().to_lowercase();
    assert!(
        lower.contains("denied") || lower.contains("password") || lower.contains("authentic"),
        "wrong password: the error does not say the login was refused\n{}",
        out.all()
    );
    env.assert_secret_kept(&out, wrong, "wrong password");
    drop(user);
}

#[tokio::test]
async fn an_unreachable_port_fails_quickly_naming_the_network() {
    for kind in ["postgresql", "mysql"] {
        let env = Env::new();
        let dead = format!(
            "[[network]]\nname = \"Dead {kind}\"\ntype = \"{kind}\"\nhost = \"127.0.0.1\"\nport = 1\n\
             database = \"nothing\"\nusername = \"nobody\"\nssl_mode = \"disable\"\n"
        );
        let text = WorkspaceToml::new()
            .entry(&dead)
            .sqlite("Target", &env.sqlite("t"))
            .schema_job(&SchemaJob::new("src", "dst").source(&format!("Dead {kind}")))
            .build();
        env.write(&text);
        let out = env.dsp(&["run", "J"], &[]);
        out.assert_failed_naming(&format!("unreachable {kind}"), &[&format!("Dead {kind}")]);
        assert!(
            out.elapsed < Duration::from_secs(15),
            "unreachable {kind}: took {:?}",
            out.elapsed
        );
    }
}

/// Three ways of not reaching a server, each said as what it is (all three
/// once read "connection lost", or a driver's internals): a port where nothing
/// listens, a host name that does not resolve, and the port of another kind
/// of database.
#[tokio::test]
async fn a_refused_port_an_unknown_host_and_a_foreign_server_each_say_so() {
    let free_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mysql_port = support::mysql_admin_url()
        .rsplit_once(':')
        .and_then(|(_, p)| p.split('/').next()?.parse::<u16>().ok())
        .unwrap_or(3306);
    let cases = [
        (
            "refused",
            "127.0.0.1",
            free_port,
            "the connection was refused: nothing listens",
        ),
        (
            "no such host",
            "no-such-host.invalid",
            5432,
            "the host name no-such-host.invalid cannot be resolved",
        ),
        (
            "mysql port",
            "127.0.0.1",
            mysql_port,
            "did not answer as a postgresql server",
        ),
    ];
    for (what, host, port, says) in cases {
        let env = Env::new();
        let net = format!(
            "[[network]]\nname = \"Far\"\ntype = \"postgresql\"\nhost = \"{host}\"\nport = {port}\n\
             database = \"nothing\"\nusername = \"nobody\"\nssl_mode = \"disable\"\n"
        );
        let text = WorkspaceToml::new()
            .entry(&net)
            .sqlite("Target", &env.sqlite("t"))
            .schema_job(&SchemaJob::new("src", "dst").source("Far"))
            .build();
        env.write(&text);
        let out = env.dsp(&["run", "J"], &[]);
        out.assert_failed_naming(what, &["Far"]);
        assert!(out.stderr.contains(says), "{what}:\n{}", out.all());
        assert!(
            !out.all().contains("connection lost") && !out.all().contains("sqlx"),
            "{what}:\n{}",
            out.all()
        );
    }
}

#[tokio::test]
async fn an_unreachable_source_is_a_failed_run_naming_the_network() {
    let (src, tgt, _s, t) = dbs!("an_unreachable_source_is_a_failed_run_naming_the_network");
    let mut ws = seed_workspace(&src, &tgt, SyncMode::Full);
    ws.networks[0].port = Some(1);
    ws.networks[0].password = Some(dsp::workspace::Secret::new("hunter2-secret"));
    let dir = support::temp_dir();
    let data = DataDir::new(dir.path());
    let (summary, lines) = run(&ws, &data).await;
    assert_eq!(summary.status, RunStatus::Failed);
    let err = summary.error.unwrap();
    assert!(err.contains("Production DB (Source)"), "{err}");
    assert!(err.contains(":***@"), "{err}");
    assert!(!lines.join("\n").contains("hunter2"), "{lines:#?}");
    // Nothing was created on the target either.
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('dim_users') IS NOT NULL")
        .fetch_one(&t)
        .await
        .unwrap();
    assert!(!exists);
}

#[tokio::test]
async fn secrets_never_reach_output_or_the_data_dir() {
    let env = Env::new();
    let Some(src) = End::new(Kind::My, "secrets (source)", &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::My, "secrets (target)", &env.dir, "").await else {
        return;
    };
    let (End::My(sdb, _), End::My(tdb, _)) = (&src, &tgt) else {
        unreachable!()
    };
    small_source(&src).await;
    let literal = "SuperSecret123!lit";
    let from_env = "SuperSecret123!env";
    let su = MyUser::create(sdb, literal).await;
    let tu = MyUser::create(tdb, from_env).await;
    let var = "DSP_TEST_TARGET_PASSWORD";
    let good = my_network_as(
        sdb,
        "Source",
        &su.name,
        &format!("password = \"{literal}\""),
    ) + "\n"
        + &my_network_as(
            tdb,
            "Target",
            &tu.name,
            &format!("password_env = \"{var}\""),
        )
        + &schema_job("src", "dst", 2, COLS);

    // A run that works.
    env.write(&good);
    let out = env.dsp(&["run", "J"], &[(var, from_env)]);
    out.assert_no_panic("secrets: good run");
    assert_eq!(out.code, 0, "secrets: good run\n{}", out.all());
    assert_eq!(tgt.dump("dst").await, src.dump("src").await);
    // The scan below must have the run history to look at.
    assert!(
        env.data_files().iter().any(|(_, b)| !b.is_empty()),
        "secrets: the data dir holds no run history to scan"
    );
    for s in [literal, from_env] {
        env.assert_secret_kept(&out, s, "secrets: good run");
    }
    let out = env.dsp(&["check", "--connect"], &[(var, from_env)]);
    out.assert_no_panic("secrets: check --connect");
    for s in [literal, from_env] {
        env.assert_secret_kept(&out, s, "secrets: check --connect");
    }

    // The same secrets when the servers cannot be reached.
    // The source on a dead port, the target still reachable (it is opened first).
    let dead = my_network_as(
        sdb,
        "Source",
        &su.name,
        &format!("password = \"{literal}\""),
    )
    .replace(&format!("port = {}", sdb.port), "port = 1")
        + "\n"
        + &my_network_as(
            tdb,
            "Target",
            &tu.name,
            &format!("password_env = \"{var}\""),
        )
        + &schema_job("src", "dst", 2, COLS);
    env.write(&dead);
    let out = env.dsp(&["run", "J"], &[(var, from_env)]);
    out.assert_failed_naming("secrets: unreachable", &["\"Source\""]);
    for s in [literal, from_env] {
        env.assert_secret_kept(&out, s, "secrets: unreachable");
    }

    // A wrong password through the environment is refused and not echoed.
    env.write(&good);
    let wrong = "SuperSecret123!wrong";
    let out = env.dsp(&["run", "J"], &[(var, wrong)]);
    out.assert_failed_naming("secrets: wrong env password", &["\"Target\""]);
    for s in [literal, from_env, wrong] {
        env.assert_secret_kept(&out, s, "secrets: wrong env password");
    }

    // A literal password that is refused is not echoed either.
    let wrong_lit = "SuperSecret123!badlit";
    env.write(&good.replace(literal, wrong_lit));
    let out = env.dsp(&["run", "J"], &[(var, from_env)]);
    out.assert_failed_naming("secrets: wrong literal password", &["\"Source\""]);
    for s in [literal, from_env, wrong_lit] {
        env.assert_secret_kept(&out, s, "secrets: wrong literal password");
    }
    drop((su, tu));
}

/// A password full of URL syntax still logs in (no URL is built from it) and
/// is never echoed, whether the login works or not.
#[tokio::test]
async fn a_password_with_url_syntax_logs_in_and_stays_secret() {
    let env = Env::new();
    let Some(src) = End::new(Kind::My, "URL-syntax password", &env.dir, "").await else {
        return;
    };
    let End::My(db, _) = &src else { unreachable!() };
    small_source(&src).await;
    let secret = "p@ss:w/rd?#%20&x=y;\\\"'é";
    // As a MySQL string literal: backslash and quote escaped.
    let sql_literal = secret.replace('\\', "\\\\").replace('\'', "\\'");
    let user = MyUser::create(db, &sql_literal).await;
    let var = "DSP_TEST_URL_PASSWORD";
    env.write(
        &WorkspaceToml::new()
            .entry(&my_network_as(
                db,
                "Source",
                &user.name,
                &format!("password_env = \"{var}\""),
            ))
            .sqlite("Target", &env.sqlite("t"))
            .schema_job(&SchemaJob::new("src", "dst"))
            .build(),
    );
    let out = env.dsp(&["run", "J"], &[(var, secret)]);
    out.assert_no_panic("URL-syntax password");
    assert_eq!(out.code, 0, "URL-syntax password\n{}", out.all());
    env.assert_secret_kept(&out, secret, "URL-syntax password");
    for part in ["p@ss:w/rd", "%20&x=y"] {
        assert!(
            !out.all().contains(part),
            "a part of the password was printed\n{}",
            out.all()
        );
    }

    let wrong = format!("{secret}-wrong");
    let out = env.dsp(&["run", "J"], &[(var, &wrong)]);
    out.assert_failed_naming("URL-syntax password, wrong", &["\"Source\""]);
    env.assert_secret_kept(&out, &wrong, "URL-syntax password, wrong");
    for part in ["p@ss:w/rd", "%20&x=y"] {
        assert!(
            !out.all().contains(part),
            "a part of the password was printed\n{}",
            out.all()
        );
    }
    drop(user);
}

/// A source login that may only SELECT the table is enough: the source is
/// used read-only.
#[tokio::test]
async fn a_select_only_source_login_is_enough() {
    for kind in [Kind::Pg, Kind::My] {
        let test = format!("SELECT-only {kind:?} source");
        let env = Env::new();
        let Some(src) = End::new(kind, &test, &env.dir, "").await else {
            return;
        };
        small_source(&src).await;
        let role = support::unique_name("dsp_ro")
            .chars()
            .take(30)
            .collect::<String>();
        let (network, _guard) = match &src {
            End::Pg(db, _) => {
                src.exec(&format!(
                    "CREATE ROLE {role} LOGIN; GRANT CONNECT ON DATABASE \"{}\" TO {role}; \
                     GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT ON src TO {role}",
                    db.name
                ))
                .await;
                let n = db.network_toml("Source").replace(
                    &format!("username = \"{}\"", db.username),
                    &format!("username = \"{role}\""),
                );
                (n, None)
            }
            End::My(db, _) => {
                let user = MyUser::create_select_only(db, "ro-Secret-1", "src").await;
                let n = my_network_as(db, "Source", &user.name, "password = \"ro-Secret-1\"");
                (n, Some(user))
            }
            End::Lite(..) => unreachable!(),
        };
        env.write(
            &WorkspaceToml::new()
                .entry(&network)
                .sqlite("Target", &env.sqlite("t"))
                .schema_job(&SchemaJob::new("src", "dst").batch_size(2))
                .build(),
        );
        let out = env.dsp(&["run", "J"], &[]);
        out.assert_no_panic(&test);
        assert_eq!(out.code, 0, "{test}\n{}", out.all());
        if let End::Pg(..) = &src {
            // The role must go before the database can be dropped.
            src.exec(&format!(
                "REVOKE ALL ON src FROM {role}; REVOKE ALL ON SCHEMA public FROM {role}"
            ))
            .await;
            if let End::Pg(db, _) = &src {
                let mut c =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&support::pg_admin_url())
                        .await
                        .unwrap();
                let _ = sqlx::raw_sql(&format!(
                    "REVOKE ALL ON DATABASE \"{}\" FROM {role}",
                    db.name
                ))
                .execute(&mut c)
                .await;
                src.exec(&format!("DROP OWNED BY {role}")).await;
                let _ = sqlx::raw_sql(&format!("DROP ROLE IF EXISTS {role}"))
                    .execute(&mut c)
                    .await;
            }
        }
    }
}

/// A target login with only SELECT, INSERT, UPDATE and DELETE on an existing
/// table either syncs or says which privilege to grant.
#[tokio::test]
async fn a_dml_only_mysql_target_login_syncs_or_names_the_privilege() {
    let test = "DML-only MySQL target";
    let env = Env::new();
    let Some(src) = End::new(Kind::Pg, test, &env.dir, "").await else {
        return;
    };
    let Some(tgt) = End::new(Kind::My, test, &env.dir, "").await else {
        return;
    };
    small_source(&src).await;
    tgt.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY, v TEXT, n BIGINT)")
        .await;
    tgt.exec("INSERT INTO dst VALUES (1, 'old', 0)").await;
    let End::My(db, _) = &tgt else { unreachable!() };
    let user = MyUser::create_dml_only(db, "dml-Secret-1", "dst").await;
    env.write(
        &(src.network_toml("Source")
            + "\n"
            + &my_network_as(db, "Target", &user.name, "password = \"dml-Secret-1\"")
            + &schema_job("src", "dst", 2, COLS)),
    );
    let before = tgt.dump("dst").await;
    let out = env.dsp(&["run", "J"], &[]);
    out.assert_no_panic(test);
    if out.code == 0 {
        assert_eq!(tgt.dump("dst").await, src.dump("src").await, "{test}");
    } else {
        out.assert_failed_naming(test, &["\"Target\""]);
        let lower = out.all().to_lowercase();
        assert!(
            lower.contains("create temporary tables"),
            "{test}: the error does not say which privilege to grant\n{}",
            out.all()
        );
        assert_eq!(tgt.dump("dst").await, before, "{test}: the target changed");
    }
    drop(user);
}

#[tokio::test]
async fn connection_test_introspection_and_job_check() {
    use dsp::engine::db;
    let (src, tgt, s, _t) = dbs!("connection_test_introspection_and_job_check");
    create_users(&s, 1).await;
    let ws = seed_workspace(&src, &tgt, SyncMode::Full);
    let v = db::test_connection(&ws, &ws.networks[0]).await.unwrap();
    assert!(v.starts_with("PostgreSQL "), "{v}");
    let cols = db::introspect_columns(&ws, &ws.networks[0], "users")
        .await
        .unwrap();
    assert_eq!(
        cols,
        vec![
            ("id".to_string(), ColumnType::Integer),
            ("email".into(), ColumnType::String),
            ("name".into(), ColumnType::String),
            ("created_at".into(), ColumnType::Timestamp),
            ("updated_at".into(), ColumnType::Timestamp),
            ("score".into(), ColumnType::String),
        ]
    );
    let err = db::introspect_columns(&ws, &ws.networks[0], "nope")
        .await
        .unwrap_err();
    assert!(
        err.contains("nope") && err.contains("Production DB (Source)"),
        "{err}"
    );
    // The target table does not exist yet: the first run creates it.
    assert_eq!(db::check_job(&ws, &ws.jobs[0]).await, Vec::<String>::new());
    let mut bad = ws.clone();
    bad.schemas[0].columns[1].source = "mail".into();
    let problems = db::check_job(&bad, &bad.jobs[0]).await;
    assert!(
        problems.len() == 1 && problems[0].contains("no column mail"),
        "{problems:?}"
    );
}
