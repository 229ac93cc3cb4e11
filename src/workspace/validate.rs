//! Rules across entries: unique names, references that resolve, key and
//! cursor columns that the mapping holds. Also used by the TUI's forms, so it works
//! on the model, not on the file.

use std::collections::HashSet;

use super::model::{ColumnType, EngineKind, Job, Schema, SyncMode, Workspace};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Network,
    Schema,
    Job,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Schema => "schema",
            Kind::Job => "job",
        }
    }
}

/// One rule broken by one entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub kind: Kind,
    /// Position among the entries of its kind.
    pub index: usize,
    /// e.g. `job "Sync Users"`
    pub entry: String,
    pub field: Option<String>,
    pub message: String,
}

/// Lines of an entry and its fields, for turning a problem into a diagnostic.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntryLines {
    pub entry: Option<usize>,
    pub fields: Vec<(String, usize)>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Lines {
    pub networks: Vec<EntryLines>,
    pub schemas: Vec<EntryLines>,
    pub jobs: Vec<EntryLines>,
}

impl Lines {
    pub fn find(&self, p: &Problem) -> Option<usize> {
        let list = match p.kind {
            Kind::Network => &self.networks,
            Kind::Schema => &self.schemas,
            Kind::Job => &self.jobs,
        };
        let e = list.get(p.index)?;
        p.field
            .as_deref()
            .and_then(|f| e.fields.iter().find(|(k, _)| k == f).map(|(_, l)| *l))
            .or(e.entry)
    }
}

/// Every cross-entry problem of the workspace.
pub fn validate(ws: &Workspace) -> Vec<Problem> {
    let mut out = Problems::default();
    unique_names(ws, &mut out);
    schema_rules(ws, &mut out);
    network_rules(ws, &mut out);
    job_rules(ws, &mut out);
    out.0
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, kind: Kind, index: usize, name: &str, field: &str, message: String) {
        self.0.push(Problem {
            kind,
            index,
            entry: format!("{} \"{name}\"", kind.as_str()),
            field: Some(field.to_string()),
            message,
        });
    }
}

/// Positions of the names that an earlier entry already has.
fn duplicates<'a>(names: impl Iterator<Item = &'a str>) -> Vec<usize> {
    let mut seen = HashSet::new();
    names
        .enumerate()
        .filter(|(_, n)| !seen.insert(*n))
        .map(|(i, _)| i)
        .collect()
}

/// Names are unique within each kind, since entries refer to each other by name.
fn unique_names(ws: &Workspace, out: &mut Problems) {
    let kinds: [(Kind, Vec<&str>); 3] = [
        (
            Kind::Network,
            ws.networks.iter().map(|n| n.name.as_str()).collect(),
        ),
        (
            Kind::Schema,
            ws.schemas.iter().map(|s| s.name.as_str()).collect(),
        ),
        (Kind::Job, ws.jobs.iter().map(|j| j.name.as_str()).collect()),
    ];
    for (kind, names) in kinds {
        for i in duplicates(names.iter().copied()) {
            out.push(
                kind,
                i,
                names[i],
                "name",
                format!(
                    "another {} has the same name; names must be unique",
                    kind.as_str()
                ),
            );
        }
    }
}

/// Key columns are mapped (the target is matched by key), and no source or
/// target column appears twice.
fn schema_rules(ws: &Workspace, out: &mut Problems) {
    for (i, s) in ws.schemas.iter().enumerate() {
        for key in &s.primary_key {
            match s.column(key) {
                None => out.push(
                    Kind::Schema,
                    i,
                    &s.name,
                    "primary_key",
                    format!(
                        "key column \"{key}\" is not in `columns`; map it so the target can be matched by key"
                    ),
                ),
                // No engine compares JSON documents as keys.
                Some(c) if c.ty == ColumnType::Json => out.push(
                    Kind::Schema,
                    i,
                    &s.name,
                    "primary_key",
                    format!(
                        "key column \"{key}\" is mapped as json, which no database can match rows by; map it as string or choose another key"
                    ),
                ),
                Some(_) => {}
            }
        }
        let mut sources = HashSet::new();
        let mut targets = HashSet::new();
        for c in &s.columns {
            if !sources.insert(c.source.as_str()) {
                out.push(
                    Kind::Schema,
                    i,
                    &s.name,
                    "columns",
                    format!("source column \"{}\" is mapped twice", c.source),
                );
            }
            if !targets.insert(c.target.as_str()) {
                out.push(
                    Kind::Schema,
                    i,
                    &s.name,
                    "columns",
                    format!("target column \"{}\" is written twice", c.target),
                );
            }
        }
    }
}

/// A SQLite network is a file: a host or port on one is a mistake.
fn network_rules(ws: &Workspace, out: &mut Problems) {
    for (i, n) in ws.networks.iter().enumerate() {
        if n.kind == EngineKind::Sqlite && (n.host.is_some() || n.port.is_some()) {
            out.push(
                Kind::Network,
                i,
                &n.name,
                "host",
                "a sqlite network has no host or port; `database` is the file's path".into(),
            );
        }
    }
}

/// A job's networks and schema exist, an incremental job has a cursor, and a job
/// does not copy a table onto itself.
fn job_rules(ws: &Workspace, out: &mut Problems) {
    for (i, j) in ws.jobs.iter().enumerate() {
        for (field, name) in [("source", &j.source), ("target", &j.target)] {
            if ws.network(name).is_none() {
                out.push(
                    Kind::Job,
                    i,
                    &j.name,
                    field,
                    format!("no network is named \"{name}\""),
                );
            }
        }
        match ws.schema(&j.schema) {
            None => out.push(
                Kind::Job,
                i,
                &j.name,
                "schema",
                format!("no schema is named \"{}\"", j.schema),
            ),
            Some(s) if j.mode == SyncMode::Incremental && s.cursor_column.is_none() => out.push(
                Kind::Job,
                i,
                &j.name,
                "mode",
                format!(
                    "incremental mode needs a cursor_column in schema \"{}\"",
                    s.name
                ),
            ),
            Some(_) => {}
        }
        if let (Some(s), Some(t)) = (ws.schema(&j.schema), ws.network(&j.target)) {
            target_name_rules(i, j, s, t.kind, out);
        }
        if j.source == j.target
            && let Some(s) = ws.schema(&j.schema)
            && s.source_table == s.target_table
        {
            out.push(
                Kind::Job,
                i,
                &j.name,
                "target",
                "source and target are the same table on the same network".into(),
            );
        }
    }
}

/// Names the target engine cannot hold as the schema spells them: MySQL and
/// SQLite column names ignore case (`Name` and `name` are one column), and
/// MySQL identifiers hold no character outside the Basic Multilingual Plane
/// (an emoji). The run would fail creating the table; `dsp check` says so first.
fn target_name_rules(i: usize, j: &Job, s: &Schema, target: EngineKind, out: &mut Problems) {
    if target == EngineKind::Postgres {
        return;
    }
    let mut seen: Vec<&str> = Vec::new();
    for c in &s.columns {
        if let Some(other) = seen.iter().find(|n| n.eq_ignore_ascii_case(&c.target)) {
            out.push(
                Kind::Job,
                i,
                &j.name,
                "target",
                format!(
                    "schema \"{}\" maps to target columns \"{other}\" and \"{}\", which a {target} database treats as one column; rename one",
                    s.name, c.target
                ),
            );
        }
        seen.push(&c.target);
    }
    if target == EngineKind::Mysql {
        let names = std::iter::once(&s.target_table).chain(s.columns.iter().map(|c| &c.target));
        for name in names.filter(|n| n.chars().any(|c| u32::from(c) > 0xFFFF)) {
            out.push(
                Kind::Job,
                i,
                &j.name,
                "target",
                format!(
                    "the target name \"{name}\" of schema \"{}\" has a character MySQL and MariaDB names cannot hold (such as an emoji); rename it",
                    s.name
                ),
            );
        }
    }
}

/// Warnings only `dsp check` gives: about a setting an operator may have
/// left on purpose, so neither every run nor every start of the TUI repeats
/// them.
pub(crate) fn check_warnings(ws: &Workspace) -> Vec<String> {
    // The default stays none (docs/SPEC.md §4); "0s" says so explicitly.
    ws.jobs
        .iter()
        .filter(|j| j.mode == SyncMode::Incremental && j.lookback.is_none())
        .map(|j| {
            format!(
                "job \"{}\" is incremental without a lookback, so rows committed late with an older cursor than the watermark are missed; set e.g. lookback = \"1m\", or lookback = \"0s\" to say none on purpose",
                j.name
            )
        })
        .collect()
}

/// What is allowed but deserves a warning (`dsp check`, the TUI).
pub(crate) fn warnings(ws: &Workspace) -> Vec<String> {
    let mut out = Vec::new();
    for n in &ws.networks {
        // Valid as written, but every run on this network would fail to log in.
        if let Err(unset) = n.resolve_password() {
            out.push(unset);
        }
        if n.password.is_some() {
            out.push(format!(
                "network \"{}\": the password is stored in clear in the workspace file; prefer password_env = \"VARIABLE\"",
                n.name
            ));
            if n.password_env.is_some() {
                out.push(format!(
                    "network \"{}\": both password and password_env are set; password_env is used",
                    n.name
                ));
            }
        }
    }
    out
}
