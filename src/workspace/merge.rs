//! Saving one edit into the file as it is *now*, not as it was loaded: the
//! entries the edit changed are written into the current file's tables and
//! everything else stays byte-for-byte (a hand edit made meanwhile, comments,
//! `mariadb`, key order). An entry that changed on disk since it was loaded
//! is not written over unless the operator says so.

use std::path::Path;

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

use super::model::*;
use super::save::{Fields, job_fields, network_fields, schema_fields, set_field, write_atomic};

/// Why an edit was not saved.
#[derive(Debug, Clone, PartialEq)]
pub enum SaveError {
    /// The entry edited (e.g. `job "Nightly"`) changed on disk since it was
    /// loaded; saving anyway needs the operator's word.
    Conflict(String),
    /// The file cannot be read, does not load, or would not load afterwards.
    Failed(String),
}

/// A saved edit.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    /// The file as now written, loaded.
    pub workspace: Workspace,
    /// The file had changed on disk; those changes were kept.
    pub merged: bool,
}

/// Writes the difference between `base` (the workspace as loaded) and
/// `edited` into the file at `path`. With `force`, an entry that changed on
/// disk is overwritten instead of refused.
pub fn save_edit(
    base: &Workspace,
    edited: &Workspace,
    path: &Path,
    force: bool,
) -> Result<Saved, SaveError> {
    let text = read(path)?;
    let disk = super::load_str(&text, path).map_err(|e| {
        SaveError::Failed(format!(
            "{} on disk does not load, so nothing was saved; fix it first: {}",
            path.display(),
            e.first_reason()
        ))
    })?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| SaveError::Failed(e.message().trim().to_string()))?;

    let name = |n: &Network| n.name.clone();
    apply(
        &mut doc,
        "network",
        diff(&base.networks, &edited.networks, name),
        &disk.networks,
        name,
        network_fields,
        force,
    )?;
    let name = |s: &Schema| s.name.clone();
    apply(
        &mut doc,
        "schema",
        diff(&base.schemas, &edited.schemas, name),
        &disk.schemas,
        name,
        schema_fields,
        force,
    )?;
    let name = |j: &Job| j.name.clone();
    apply(
        &mut doc,
        "job",
        diff(&base.jobs, &edited.jobs, name),
        &disk.jobs,
        name,
        job_fields,
        force,
    )?;

    let new_text = doc.to_string();
    // What nothing can load is never written (the same loader as `dsp check`).
    let workspace = super::load_str(&new_text, path)
        .map_err(|e| SaveError::Failed(format!("the file would not load: {}", e.first_reason())))?;
    // A write between our read and now would be lost: read once more.
    if read(path)? != text {
        return Err(SaveError::Failed(format!(
            "{} changed while saving; save again",
            path.display()
        )));
    }
    write_atomic(path, new_text.as_bytes())
        .map_err(|e| SaveError::Failed(format!("could not save {}: {e}", path.display())))?;
    let merged = !same_entries(&disk, base);
    Ok(Saved { workspace, merged })
}

fn read(path: &Path) -> Result<String, SaveError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(SaveError::Failed(format!(
            "could not read {}: {e}",
            path.display()
        ))),
    }
}

impl super::LoadError {
    /// The first problem, with how many more there are: one line for a
    /// status line or a form.
    pub fn first_reason(&self) -> String {
        let mut s = self
            .diagnostics
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        if self.diagnostics.len() > 1 {
            s.push_str(&format!(" (and {} more)", self.diagnostics.len() - 1));
        }
        s
    }
}

fn same_entries(a: &Workspace, b: &Workspace) -> bool {
    a.networks == b.networks && a.schemas == b.schemas && a.jobs == b.jobs
}

/// One entry the edit changed: `(before, after)`; `None` before is an
/// added entry, `None` after a deleted one, different names a rename.
type Change<'a, T> = (Option<&'a T>, Option<&'a T>);

/// Pairs entries by name; an unpaired old one and an unpaired new one, in
/// order, are a rename (as the form does it).
fn diff<'a, T: PartialEq>(
    base: &'a [T],
    edited: &'a [T],
    name: impl Fn(&T) -> String,
) -> Vec<Change<'a, T>> {
    let mut changes = Vec::new();
    let mut gone = Vec::new();
    for b in base {
        match edited.iter().find(|e| name(e) == name(b)) {
            Some(e) if e == b => {}
            Some(e) => changes.push((Some(b), Some(e))),
            None => gone.push(b),
        }
    }
    let mut added = edited
        .iter()
        .filter(|e| !base.iter().any(|b| name(b) == name(e)));
    for b in gone {
        changes.push((Some(b), added.next()));
    }
    changes.extend(added.map(|e| (None, Some(e))));
    changes
}

fn apply<T: PartialEq>(
    doc: &mut DocumentMut,
    kind: &str,
    changes: Vec<Change<'_, T>>,
    disk: &[T],
    name: impl Fn(&T) -> String,
    fields: impl Fn(&T) -> Fields,
    force: bool,
) -> Result<(), SaveError> {
    for (before, after) in changes {
        if !force {
            let on_disk = |n: &str| disk.iter().find(|d| name(d) == n);
            if let Some(b) = before
                && on_disk(&name(b)) != Some(b)
            {
                let what = match on_disk(&name(b)) {
                    Some(_) => "changed",
                    None => "was deleted",
                };
                return Err(SaveError::Conflict(format!(
                    "{kind} \"{}\" {what} on disk since it was loaded",
                    name(b)
                )));
            }
            if let Some(a) = after
                && before.is_none_or(|b| name(b) != name(a))
                && on_disk(&name(a)).is_some()
            {
                return Err(SaveError::Conflict(format!(
                    "a {kind} named \"{}\" was added on disk since the file was loaded",
                    name(a)
                )));
            }
        }
        let tables = tables(doc, kind);
        let at = before.and_then(|b| {
            tables
                .iter()
                .position(|t| t.get("name").and_then(Item::as_str) == Some(&name(b)))
        });
        match (at, after) {
            (Some(i), Some(a)) => {
                if let Some(t) = tables.get_mut(i) {
                    for (key, value) in fields(a) {
                        set_field(t, key, value);
                    }
                }
            }
            (Some(i), None) => {
                tables.remove(i);
            }
            (None, Some(a)) => {
                let mut t = Table::new();
                t.decor_mut().set_prefix("\n");
                for (key, value) in fields(a) {
                    set_field(&mut t, key, value);
                }
                tables.push(t);
            }
            (None, None) => {}
        }
    }
    if tables(doc, kind).is_empty() {
        doc.remove(kind);
    }
    Ok(())
}

fn tables<'d>(doc: &'d mut DocumentMut, kind: &str) -> &'d mut ArrayOfTables {
    if !matches!(doc.get(kind), Some(Item::ArrayOfTables(_))) {
        doc.insert(kind, Item::ArrayOfTables(ArrayOfTables::new()));
    }
    match doc.get_mut(kind) {
        Some(Item::ArrayOfTables(a)) => a,
        _ => unreachable!("inserted just above"),
    }
}
