//! Saving the workspace: atomic (temp file, fsync, rename), mode 0600, and
//! faithful to a hand-edited file — comments, ordering and formatting of the
//! entries and values that did not change are kept (`toml_edit`).

use std::io::Write;
use std::path::Path;

use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use super::model::*;

/// Writes `workspace` to `path`, merging it into the file already there.
pub fn save(workspace: &Workspace, path: &Path) -> std::io::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut doc: DocumentMut = existing.parse().map_err(|e: toml_edit::TomlError| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} is not valid TOML ({}); fix it by hand before saving from DSP",
                path.display(),
                e.message().trim_end()
            ),
        )
    })?;
    sync_kind(
        &mut doc,
        "network",
        workspace.networks.iter().map(network_fields).collect(),
    );
    sync_kind(
        &mut doc,
        "schema",
        workspace.schemas.iter().map(schema_fields).collect(),
    );
    sync_kind(
        &mut doc,
        "job",
        workspace.jobs.iter().map(job_fields).collect(),
    );
    sync_alerts(&mut doc, &workspace.alerts);
    write_atomic(path, doc.to_string().as_bytes())
}

/// Writes a file so that a crash leaves either the old or the new content, never
/// a mix, readable only by its owner. A symlink is written through: its target
/// is replaced and the link stays (replacing the link itself would leave the
/// real file silently stale).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let path = &through_links(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".dsp-save-")
        .tempfile_in(&dir)?;
    tmp.write_all(bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename is durable only once the directory is synced.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The file a chain of symlinks ends at (which may not exist yet); `path`
/// itself when it is no link.
fn through_links(path: &Path) -> std::io::Result<std::path::PathBuf> {
    let mut path = path.to_path_buf();
    // The kernel's own limit on links followed in one lookup.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)?;
                path = match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(std::io::Error::other(format!(
        "{} is a chain of too many symlinks",
        path.display()
    )))
}

pub(super) type Fields = Vec<(&'static str, Option<Value>)>;

fn s(v: &str) -> Option<Value> {
    Some(Value::from(v))
}

fn opt_s(v: &Option<String>) -> Option<Value> {
    v.as_deref().map(Value::from)
}

pub(super) fn network_fields(n: &Network) -> Fields {
    vec![
        ("name", s(&n.name)),
        ("type", s(n.kind.as_str())),
        ("host", opt_s(&n.host)),
        ("port", n.port.map(|p| Value::from(i64::from(p)))),
        ("database", s(&n.database)),
        ("username", opt_s(&n.username)),
        ("password_env", opt_s(&n.password_env)),
        (
            "password",
            n.password.as_ref().map(|p| Value::from(p.expose())),
        ),
        ("ssl_mode", n.ssl_mode.map(|m| Value::from(m.as_str()))),
        ("timezone", opt_s(&n.timezone)),
        ("stall_timeout", opt_s(&n.stall_timeout)),
        ("state", n.state.map(|m| Value::from(m.as_str()))),
    ]
}

pub(super) fn schema_fields(sc: &Schema) -> Fields {
    let pk = if sc.primary_key.len() == 1 {
        Value::from(sc.primary_key[0].as_str())
    } else {
        Value::Array(sc.primary_key.iter().map(String::as_str).collect())
    };
    let mut columns = Array::new();
    for c in &sc.columns {
        let mut t = InlineTable::new();
        t.insert("source", Value::from(c.source.as_str()));
        t.insert("target", Value::from(c.target.as_str()));
        t.insert("type", Value::from(c.ty.as_str()));
        let mut v = Value::InlineTable(t);
        v.decor_mut().set_prefix("\n  ");
        columns.push_formatted(v);
    }
    columns.set_trailing_comma(true);
    columns.set_trailing("\n");
    vec![
        ("name", s(&sc.name)),
        ("source_table", s(&sc.source_table)),
        ("target_table", s(&sc.target_table)),
        ("primary_key", Some(pk)),
        ("cursor_column", opt_s(&sc.cursor_column)),
        ("columns", Some(Value::Array(columns))),
    ]
}

pub(super) fn job_fields(j: &Job) -> Fields {
    vec![
        ("name", s(&j.name)),
        ("source", s(&j.source)),
        ("target", s(&j.target)),
        ("schema", s(&j.schema)),
        ("mode", s(j.mode.as_str())),
        ("schedule", opt_s(&j.schedule)),
        ("batch_size", j.batch_size.map(|n| Value::from(n as i64))),
        ("max_failed", j.max_failed.map(|n| Value::from(n as i64))),
        ("allow_empty", j.allow_empty.map(Value::from)),
        ("full_copy", j.full_copy.map(Value::from)),
        ("read_ranges", j.read_ranges.map(|n| Value::from(n as i64))),
        (
            "max_delete_percent",
            j.max_delete_percent.map(|p| {
                if p.fract() == 0.0 {
                    Value::from(p as i64)
                } else {
                    Value::from(p)
                }
            }),
        ),
        ("lookback", opt_s(&j.lookback)),
        ("on_failure", opt_s(&j.alerts.on_failure)),
        ("on_success", opt_s(&j.alerts.on_success)),
        ("webhook", opt_s(&j.alerts.webhook)),
        ("state", j.state.map(|m| Value::from(m.as_str()))),
    ]
}

/// The `[alerts]` table: its values set in place (keeping the comments and
/// order the operator wrote), the table gone when no value is left.
fn sync_alerts(doc: &mut DocumentMut, alerts: &WorkspaceAlerts) {
    let d = &alerts.defaults;
    let fields: Fields = vec![
        ("on_failure", opt_s(&d.on_failure)),
        ("on_success", opt_s(&d.on_success)),
        ("webhook", opt_s(&d.webhook)),
        ("timeout", opt_s(&alerts.timeout)),
    ];
    if fields.iter().all(|(_, v)| v.is_none()) {
        doc.remove("alerts");
        return;
    }
    if !matches!(doc.get("alerts"), Some(Item::Table(_))) {
        let mut t = Table::new();
        if doc.iter().next().is_some() {
            t.decor_mut().set_prefix("\n");
        }
        doc.insert("alerts", Item::Table(t));
    }
    if let Some(Item::Table(table)) = doc.get_mut("alerts") {
        for (key, value) in fields {
            set_field(table, key, value);
        }
    }
}

/// Rebuilds `[[kind]]` in the model's order, reusing the file's table for each
/// entry (matched by name; an unmatched one takes an unmatched table in order, which
/// is what a rename looks like) so that its comments and untouched values stay.
fn sync_kind(doc: &mut DocumentMut, kind: &str, entries: Vec<Fields>) {
    let mut old: Vec<Option<Table>> = match doc.get(kind) {
        Some(Item::ArrayOfTables(a)) => a.iter().cloned().map(Some).collect(),
        _ => Vec::new(),
    };
    if entries.is_empty() {
        doc.remove(kind);
        return;
    }
    let name_of = |t: &Table| t.get("name").and_then(Item::as_str).map(str::to_string);
    let names: Vec<&str> = entries
        .iter()
        .map(|f| f[0].1.as_ref().and_then(Value::as_str).unwrap_or(""))
        .collect();
    let mut matched: Vec<Option<Table>> = names
        .iter()
        .map(|n| {
            let pos = old
                .iter()
                .position(|t| t.as_ref().and_then(name_of).as_deref() == Some(n))?;
            old[pos].take()
        })
        .collect();
    let mut leftovers = old.into_iter().flatten().filter(|t| {
        let n = name_of(t);
        !names.iter().any(|m| Some(*m) == n.as_deref())
    });
    for m in matched.iter_mut().filter(|m| m.is_none()) {
        *m = leftovers.next();
    }

    let had_content = doc.iter().next().is_some();
    let mut aot = ArrayOfTables::new();
    for (i, (fields, table)) in entries.into_iter().zip(matched).enumerate() {
        let mut table = table.unwrap_or_else(|| {
            let mut t = Table::new();
            if had_content || i > 0 {
                t.decor_mut().set_prefix("\n");
            }
            t
        });
        for (key, value) in fields {
            set_field(&mut table, key, value);
        }
        aot.push(table);
    }
    doc.insert(kind, Item::ArrayOfTables(aot));
}

pub(super) fn set_field(table: &mut Table, key: &str, new: Option<Value>) {
    let Some(mut new) = new else {
        table.remove(key);
        return;
    };
    match table.get_mut(key) {
        Some(Item::Value(old)) => {
            if same(old, &new) || key == "type" && same_engine(old, &new) {
                return;
            }
            // Keep the spacing and the trailing comment the user wrote after it.
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        Some(item) => *item = Item::Value(new),
        None => {
            table.insert(key, Item::Value(new));
        }
    }
}

/// `type = "mariadb"` and the model's `mysql` are one engine: the operator's
/// word stays.
fn same_engine(a: &Value, b: &Value) -> bool {
    let kind = |v: &Value| v.as_str().and_then(crate::workspace::EngineKind::parse);
    kind(a).is_some() && kind(a) == kind(b)
}

/// Equal in meaning, whatever the quoting or spacing.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.value() == y.value(),
        (Value::Integer(x), Value::Integer(y)) => x.value() == y.value(),
        (Value::Float(x), Value::Float(y)) => x.value() == y.value(),
        (Value::Boolean(x), Value::Boolean(y)) => x.value() == y.value(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| same(p, q))
        }
        (Value::InlineTable(x), Value::InlineTable(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => false,
    }
}
