//! The TUI's forms and the workspace loader agree on every field: each field of
//! each form (network, schema, job) is fed valid, boundary and malformed values.
//! Whenever the form accepts, the file it saves loads and carries the same entry;
//! whenever the loader refuses the value written in a file, the form refuses it
//! too, beside that field and with the loader's own sentence.

use std::path::PathBuf;

use crate::tui::{demo_app, key, screen, type_text};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dsp::tui::app::{Popup, Tab};
use dsp::tui::form::{FieldKind, Form, FormKind};
use dsp::workspace::{
    self, ColumnMap, ColumnType, EngineKind, LoadError, Network, Schema, Workspace,
};

/// Valid values, the edges of each range and beyond, blanks, non-numbers and
/// unicode; each is typed into every text field.
fn probes() -> Vec<String> {
    let mut p: Vec<String> = [
        "",
        " ",
        "\t",
        "0",
        "1",
        "-1",
        "+5",
        "-0",
        "50",
        "99.5",
        "100",
        "101",
        "12.5",
        "100.0001",
        "1e2",
        "1_000",
        "0x10",
        "65535",
        "65536",
        "1000000",
        "1000001",
        "2000000",
        "9223372036854775807",
        "9223372036854775808",
        "99999999999999999999999",
        "nan",
        "inf",
        "abc",
        "5a",
        "\"5\"",
        "true",
        "[1]",
        "١٢",
        "５",
        "ü",
        "名前",
        "🙂",
        " 42 ",
        "5m",
        "30s",
        "1d",
        "5 m",
        "999999999999999999d",
        "UTC",
        "Europe/Berlin",
        "Mars/Olympus",
        "utc",
        "0 0 * * *",
        "*/5 * * * * *",
        "61 * * * *",
        "* * *",
        "id",
        "name",
        "org_id, id",
        "id, name",
        ",",
        " , ",
        "a\"b",
        "back\\slash",
        "line\nbreak",
        "localhost",
        "p.db",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    p.push("x".repeat(300));
    p
}

/// Two SQLite networks and a schema for jobs to name.
fn base() -> Workspace {
    let col = |s: &str, ty| ColumnMap {
        source: s.into(),
        target: s.into(),
        ty,
    };
    Workspace {
        path: None,
        networks: vec![
            Network::new("A", EngineKind::Sqlite, "a.db"),
            Network::new("B", EngineKind::Sqlite, "b.db"),
        ],
        schemas: vec![Schema {
            name: "S".into(),
            source_table: "users".into(),
            target_table: "users_copy".into(),
            primary_key: vec!["id".into()],
            cursor_column: Some("updated_at".into()),
            columns: vec![
                col("id", ColumnType::Integer),
                col("name", ColumnType::String),
                col("updated_at", ColumnType::Timestamp),
            ],
        }],
        jobs: Vec::new(),
        ..Default::default()
    }
}

fn set(form: &mut Form, key: &str, value: &str) {
    let f = form
        .fields
        .iter_mut()
        .find(|f| f.key == key)
        .unwrap_or_else(|| panic!("the form has no field `{key}`"));
    f.value = value.to_string();
}

/// The forms to probe, each filled with valid values.
fn baselines(ws: &Workspace) -> Vec<(&'static str, Form)> {
    let mut postgres = Form::network(None, None);
    for (k, v) in [
        ("name", "Probe"),
        ("type", "postgresql"),
        ("host", "localhost"),
        ("database", "db"),
    ] {
        set(&mut postgres, k, v);
    }
    let mut sqlite = Form::network(None, None);
    for (k, v) in [("name", "Probe"), ("type", "sqlite"), ("database", "p.db")] {
        set(&mut sqlite, k, v);
    }
    let mut schema = Form::schema(None, None);
    for (k, v) in [
        ("name", "Probe"),
        ("source_table", "orders"),
        ("target_table", "orders_copy"),
        ("primary_key", "id"),
    ] {
        set(&mut schema, k, v);
    }
    schema.add_column_row();
    let start = schema.columns_start();
    for (i, v) in ["id", "id", "integer", "name", "name", "string"]
        .iter()
        .enumerate()
    {
        schema.fields[start + i].value = v.to_string();
    }
    let mut job = Form::job(None, ws, None);
    set(&mut job, "name", "Probe");
    vec![
        ("postgresql network", postgres),
        ("sqlite network", sqlite),
        ("schema", schema),
        ("job", job),
    ]
}

fn text(form: &Form, key: &str) -> String {
    form.fields
        .iter()
        .find(|f| f.key == key)
        .map(|f| f.value.clone())
        .unwrap_or_default()
}

fn quoted(s: &str) -> String {
    toml_edit::Value::from(s).to_string()
}

/// How an operator writes the form's entry by hand: blank keys left out, text
/// trimmed and quoted, numbers bare when they read as a TOML value.
fn entry_toml(form: &Form) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k} = {v}\n"));
    let string = |key: &str| {
        let t = text(form, key);
        let t = t.trim();
        (!t.is_empty()).then(|| quoted(t))
    };
    let number = |key: &str| {
        let t = text(form, key);
        let t = t.trim();
        match t.parse::<toml_edit::Value>() {
            _ if t.is_empty() => None,
            Ok(_) => Some(t.to_string()),
            Err(_) => Some(quoted(t)),
        }
    };
    let header = match form.kind {
        FormKind::Network => "network",
        FormKind::Schema => "schema",
        FormKind::Job => "job",
    };
    let mut body: Vec<(&str, Option<String>)> = vec![("name", string("name"))];
    match form.kind {
        FormKind::Network => {
            let password = text(form, "password");
            body.extend([
                ("type", string("type")),
                ("host", string("host")),
                ("port", number("port")),
                ("database", string("database")),
                ("username", string("username")),
                ("password_env", string("password_env")),
                (
                    "password",
                    (!password.is_empty()).then(|| quoted(&password)),
                ),
                ("ssl_mode", string("ssl_mode")),
                ("timezone", string("timezone")),
                ("stall_timeout", string("stall_timeout")),
            ]);
        }
        FormKind::Schema => {
            let pk = text(form, "primary_key");
            let names: Vec<String> = pk
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(quoted)
                .collect();
            let pk = match names.len() {
                _ if pk.trim().is_empty() => None,
                1 => Some(names[0].clone()),
                _ => Some(format!("[{}]", names.join(", "))),
            };
            let start = form.columns_start();
            let mut cols = Vec::new();
            for row in form.fields[start..].chunks(3) {
                let (s, t) = (row[0].value.trim(), row[1].value.trim());
                if s.is_empty() && t.is_empty() {
                    continue;
                }
                let t = if t.is_empty() { s } else { t };
                cols.push(format!(
                    "{{ source = {}, target = {}, type = {} }}",
                    quoted(s),
                    quoted(t),
                    quoted(&row[2].value)
                ));
            }
            body.extend([
                ("source_table", string("source_table")),
                ("target_table", string("target_table")),
                ("primary_key", pk),
                ("cursor_column", string("cursor_column")),
                ("columns", Some(format!("[{}]", cols.join(", ")))),
            ]);
        }
        FormKind::Job => body.extend([
            ("source", string("source")),
            ("target", string("target")),
            ("schema", string("schema")),
            ("mode", string("mode")),
            ("schedule", string("schedule")),
            ("batch_size", number("batch_size")),
            ("max_failed", number("max_failed")),
            (
                "allow_empty",
                (text(form, "allow_empty") == "true").then(|| "true".to_string()),
            ),
            ("max_delete_percent", number("max_delete_percent")),
            ("lookback", string("lookback")),
            ("on_failure", string("on_failure")),
            ("on_success", string("on_success")),
            ("webhook", string("webhook")),
            ("read_ranges", number("read_ranges")),
        ]),
    }
    for (k, v) in body {
        if let Some(v) = v {
            line(k, v);
        }
    }
    format!("\n[[{header}]]\n{out}")
}

/// The form keys a loader diagnostic's field stands for.
fn form_keys(field: &str) -> Vec<&'static str> {
    if field.starts_with("columns") {
        return vec!["col_source", "col_target", "col_type"];
    }
    let keys: &[&'static str] = &[
        "name",
        "type",
        "host",
        "port",
        "database",
        "username",
        "password_env",
        "password",
        "ssl_mode",
        "timezone",
        "stall_timeout",
        "source_table",
        "target_table",
        "primary_key",
        "cursor_column",
        "source",
        "target",
        "schema",
        "mode",
        "schedule",
        "batch_size",
        "max_failed",
        "allow_empty",
        "max_delete_percent",
        "lookback",
        "on_failure",
        "on_success",
        "webhook",
        "read_ranges",
    ];
    keys.iter().copied().filter(|k| *k == field).collect()
}

/// Sentences about how a value is spelled in the file (quotes, TOML syntax),
/// which have no counterpart in a form where everything is typed as text.
fn about_file_syntax(message: &str) -> bool {
    message.starts_with("must be a whole number without quotes")
        || message.starts_with("must be a number without quotes")
        || message.starts_with("invalid TOML")
}

fn entry_of(ws: &Workspace, kind: FormKind) -> String {
    match kind {
        FormKind::Network => format!("{:?}", ws.networks.last()),
        FormKind::Schema => format!("{:?}", ws.schemas.last()),
        FormKind::Job => format!("{:?}", ws.jobs.last()),
    }
}

struct Probe<'a> {
    ws: &'a Workspace,
    base_text: String,
    path: PathBuf,
}

impl Probe<'_> {
    /// One form state: the form's verdict against the loader's.
    fn check(&self, what: &str, form: &mut Form) {
        let saved = form.validate(self.ws);
        let text = format!("{}{}", self.base_text, entry_toml(form));
        let loaded = workspace::load_str(&text, &self.path);
        match (saved, loaded) {
            (Some(candidate), Ok(_)) => self.round_trip(what, form.kind, &candidate),
            (None, Err(e)) => same_reasons(what, form, &e),
            (Some(_), Err(e)) => {
                panic!("{what}: the form accepts what the loader refuses:\n{text}\n{e}")
            }
            (None, Ok(_)) => panic!(
                "{what}: the form refuses what the loader loads:\n{text}\n{:?}",
                form.fields
                    .iter()
                    .filter_map(|f| f.error.as_ref().map(|e| (f.key, e)))
                    .collect::<Vec<_>>()
            ),
        }
    }

    /// What the form saves loads back as the same entry.
    fn round_trip(&self, what: &str, kind: FormKind, candidate: &Workspace) {
        let _ = std::fs::remove_file(&self.path);
        workspace::save(candidate, &self.path).unwrap();
        let back = workspace::load(&self.path).unwrap_or_else(|e| {
            panic!(
                "{what}: the saved file does not load:\n{}\n{e}",
                std::fs::read_to_string(&self.path).unwrap_or_default()
            )
        });
        assert_eq!(
            entry_of(&back, kind),
            entry_of(candidate, kind),
            "{what}: the saved entry loads with other values"
        );
    }
}

/// Every field the loader names is marked in the form, with the loader's sentence
/// unless that sentence is about the file's syntax.
fn same_reasons(what: &str, form: &Form, e: &LoadError) {
    for d in &e.diagnostics {
        let Some(field) = d.field.as_deref() else {
            continue;
        };
        let keys = form_keys(field);
        let errors: Vec<&str> = form
            .fields
            .iter()
            .filter(|f| keys.contains(&f.key))
            .filter_map(|f| f.error.as_deref())
            .collect();
        assert!(
            !errors.is_empty(),
            "{what}: the loader refuses `{field}` ({}) but the form marks nothing there",
            d.message
        );
        if !about_file_syntax(&d.message) && !field.starts_with("columns") {
            assert!(
                errors.contains(&d.message.as_str()),
                "{what}: the loader says `{field}`: {}; the form says {errors:?}",
                d.message
            );
        }
    }
}

/// Every field of every form, with every probe (text) or every option (choices).
#[test]
fn the_form_accepts_exactly_what_the_loader_loads() {
    let dir = tempfile::tempdir().unwrap();
    let ws = base();
    let path = dir.path().join("workspace.toml");
    workspace::save(&ws, &path).unwrap();
    let probe = Probe {
        ws: &ws,
        base_text: std::fs::read_to_string(&path).unwrap(),
        path: path.clone(),
    };
    workspace::load(&path).expect("the base workspace loads");
    let probes = probes();
    for (name, baseline) in baselines(&ws) {
        probe.check(&format!("{name} as filled in"), &mut baseline.clone());
        for i in 0..baseline.fields.len() {
            let values: Vec<String> = match &baseline.fields[i].kind {
                FieldKind::Choice(options) => options.clone(),
                FieldKind::Text | FieldKind::Secret => probes.clone(),
            };
            for v in values {
                let mut form = baseline.clone();
                form.fields[i].value = v.clone();
                let what = format!("{name}, field {} = {v:?}", form.fields[i].key);
                probe.check(&what, &mut form);
            }
        }
    }
}

/// Every key the loader knows for an entry is a field of its form (columns are
/// rows of the schema form).
#[test]
fn every_workspace_key_has_a_form_field() {
    let ws = base();
    let forms = [
        (
            Form::network(None, None),
            &workspace::fields::NETWORK_KEYS[..],
        ),
        (
            Form::schema(None, None),
            &workspace::fields::SCHEMA_KEYS[..],
        ),
        (Form::job(None, &ws, None), &workspace::fields::JOB_KEYS[..]),
    ];
    for (form, keys) in forms {
        for key in keys.iter().filter(|k| **k != "columns") {
            assert!(
                form.fields.iter().any(|f| f.key == *key),
                "{}: no field for `{key}`",
                form.title()
            );
        }
    }
}

/// The reported case: a batch size of 2000000 used to be saved by the form and
/// then refused by `dsp check`, `dsp run` and the TUI itself.
#[tokio::test]
async fn a_batch_size_the_loader_refuses_is_refused_in_the_form_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = demo_app(dir.path()).await;
    let before = std::fs::read_to_string(&app.ws_path).unwrap();
    app.on_key(key(KeyCode::Char('3')));
    assert_eq!(app.tab, Tab::Jobs);
    app.on_key(key(KeyCode::Char('a')));
    let s = screen(&app, 80, 24);
    assert!(s.contains("(default 1000)"), "the default is shown:\n{s}");
    assert!(s.contains("(default 50)"), "the default is shown:\n{s}");
    type_text(&mut app, "Nightly");
    for _ in 0..6 {
        app.on_key(key(KeyCode::Tab));
    }
    type_text(&mut app, "2000000");
    for (w, h) in [(80, 24), (120, 40)] {
        let s = screen(&app, w, h);
        assert!(
            s.contains("✗ 2000000 is out of range; use 1 to 1000000"),
            "{s}"
        );
    }
    app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert!(matches!(app.popup, Some(Popup::Form(_))), "form stays open");
    assert_eq!(std::fs::read_to_string(&app.ws_path).unwrap(), before);

    // The largest batch the loader takes is saved, and the file loads.
    for _ in 0..7 {
        app.on_key(key(KeyCode::Backspace));
    }
    type_text(&mut app, "1000000");
    app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert!(app.popup.is_none(), "{}", screen(&app, 80, 24));
    let ws = workspace::load(&app.ws_path).expect("the saved file loads");
    assert_eq!(ws.job("Nightly").unwrap().batch_size, Some(1_000_000));
}
