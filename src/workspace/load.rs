//! Reading the workspace file, with diagnostics that name the file, line, entry and field.
//!
//! The file is read field by field from a span-keeping `toml_edit` document rather
//! than through serde, so that every problem in the file is reported at once, each
//! with its line, instead of stopping at the first.

use std::fmt;
use std::path::Path;

use toml_edit::{Item, TableLike, Value};

use super::model::*;
use super::secret::Secret;
use super::validate;

/// One problem found in a workspace file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: String,
    pub line: Option<usize>,
    /// e.g. `job "Sync Users"`
    pub entry: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ":")?;
        if let Some(entry) = &self.entry {
            write!(f, " {entry}")?;
        }
        if let Some(field) = &self.field {
            write!(f, " field `{field}`")?;
        }
        if self.entry.is_some() || self.field.is_some() {
            write!(f, ":")?;
        }
        write!(f, " {}", self.message)
    }
}

/// Everything wrong with a file; nothing is half-loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Loads the workspace at `path`; a missing file is an empty workspace.
pub fn load(path: &Path) -> Result<Workspace, LoadError> {
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(&text, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Workspace {
            path: Some(path.to_path_buf()),
            ..Workspace::default()
        }),
        Err(e) => Err(LoadError {
            diagnostics: vec![Diagnostic {
                file: path.display().to_string(),
                line: None,
                entry: None,
                field: None,
                message: format!("cannot read the workspace file: {e}"),
            }],
        }),
    }
}

/// Parses workspace text; `file` names it in diagnostics (and anchors relative
/// SQLite paths).
pub fn load_str(text: &str, file: &Path) -> Result<Workspace, LoadError> {
    let mut r = Reader {
        file: file.display().to_string(),
        src: text,
        diags: Vec::new(),
    };
    let doc = match toml_edit::Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let line = e.span().map(|s| r.line_of(s.start));
            let message = format!("invalid TOML: {}", e.message().trim_end());
            r.diags.push(Diagnostic {
                file: r.file.clone(),
                line,
                entry: None,
                field: None,
                message,
            });
            return Err(LoadError {
                diagnostics: r.diags,
            });
        }
    };
    let mut ws = Workspace {
        path: Some(file.to_path_buf()),
        ..Workspace::default()
    };
    let mut lines = validate::Lines::default();
    // Names of entries that failed to load, so references to them are not
    // reported a second time as dangling.
    let mut broken: Vec<String> = Vec::new();
    for (key, item) in doc.as_table().iter() {
        let entries = match key {
            "network" | "schema" | "job" => r.entries(key, item),
            other => {
                let line = r.item_line(item);
                r.push(line, None, None, format!(
                    "unknown section `{other}`; a workspace holds only [[network]], [[schema]] and [[job]] entries"
                ));
                continue;
            }
        };
        for (index, (table, line)) in entries.into_iter().enumerate() {
            let mut f = Fields {
                r: &mut r,
                table,
                line,
                label: String::new(),
                lines: Vec::new(),
            };
            let name = f
                .table
                .get("name")
                .and_then(Item::as_str)
                .map(str::to_string);
            f.label = match &name {
                Some(name) => format!("{key} \"{name}\""),
                None => format!("{key} #{}", index + 1),
            };
            match key {
                "network" => {
                    if let Some(n) = f.network() {
                        ws.networks.push(n);
                        lines.networks.push(f.into_lines());
                    } else {
                        broken.extend(name);
                    }
                }
                "schema" => {
                    if let Some(s) = f.schema() {
                        ws.schemas.push(s);
                        lines.schemas.push(f.into_lines());
                    } else {
                        broken.extend(name);
                    }
                }
                _ => {
                    if let Some(j) = f.job() {
                        ws.jobs.push(j);
                        lines.jobs.push(f.into_lines());
                    }
                }
            }
        }
    }
    for problem in validate::validate(&ws) {
        // A job naming an entry that is itself broken has that entry's error
        // already; "no network is named" would only mislead.
        let refers_to_broken = problem.kind == validate::Kind::Job
            && ws
                .jobs
                .get(problem.index)
                .is_some_and(|j| match problem.field.as_deref() {
                    Some("source") => broken.contains(&j.source),
                    Some("target") => broken.contains(&j.target),
                    Some("schema") => broken.contains(&j.schema),
                    _ => false,
                });
        if refers_to_broken {
            continue;
        }
        let line = lines.find(&problem);
        r.push(line, Some(problem.entry), problem.field, problem.message);
    }
    if r.diags.is_empty() {
        Ok(ws)
    } else {
        Err(LoadError {
            diagnostics: r.diags,
        })
    }
}

struct Reader<'a> {
    file: String,
    src: &'a str,
    diags: Vec<Diagnostic>,
}

impl<'a> Reader<'a> {
    fn line_of(&self, offset: usize) -> usize {
        self.src.as_bytes()[..offset.min(self.src.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn item_line(&self, item: &Item) -> Option<usize> {
        let span = match item {
            Item::Table(t) => t.span(),
            Item::ArrayOfTables(a) => a.iter().next().and_then(|t| t.span()),
            other => other.span(),
        };
        span.map(|s| self.line_of(s.start))
    }

    fn push(
        &mut self,
        line: Option<usize>,
        entry: Option<String>,
        field: Option<String>,
        message: String,
    ) {
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line,
            entry,
            field,
            message,
        });
    }

    /// The entries of one kind: `[[job]]` tables or an inline `job = [{...}]` array.
    fn entries<'d>(
        &mut self,
        key: &str,
        item: &'d Item,
    ) -> Vec<(&'d dyn TableLike, Option<usize>)> {
        match item {
            Item::ArrayOfTables(a) => a
                .iter()
                .map(|t| (t as &dyn TableLike, t.span().map(|s| self.line_of(s.start))))
                .collect(),
            Item::Value(Value::Array(a)) => {
                let mut out = Vec::new();
                for v in a.iter() {
                    match v.as_inline_table() {
                        Some(t) => {
                            out.push((t as &dyn TableLike, v.span().map(|s| self.line_of(s.start))))
                        }
                        None => {
                            let line = v.span().map(|s| self.line_of(s.start));
                            self.push(
                                line,
                                None,
                                None,
                                format!("`{key}` entries must be tables; write [[{key}]]"),
                            );
                        }
                    }
                }
                out
            }
            other => {
                let line = self.item_line(other);
                self.push(
                    line,
                    None,
                    None,
                    format!("`{key}` must be a list of entries; write [[{key}]] for each"),
                );
                Vec::new()
            }
        }
    }
}

/// Reads one entry's fields, recording a diagnostic for each problem.
struct Fields<'r, 'a, 'd> {
    r: &'r mut Reader<'a>,
    table: &'d dyn TableLike,
    line: Option<usize>,
    label: String,
    /// Line of each field present, for later cross-entry diagnostics.
    lines: Vec<(String, usize)>,
}

impl Fields<'_, '_, '_> {
    fn into_lines(self) -> validate::EntryLines {
        validate::EntryLines {
            entry: self.line,
            fields: self.lines,
        }
    }

    fn field_line(&self, key: &str) -> Option<usize> {
        let (k, item) = self.table.get_key_value(key)?;
        let span = k.span().or_else(|| item.span())?;
        Some(self.r.line_of(span.start))
    }

    fn error(&mut self, key: &str, message: String) {
        let line = self.field_line(key).or(self.line);
        self.r.push(
            line,
            Some(self.label.clone()),
            Some(key.to_string()),
            message,
        );
    }

    fn check_keys(&mut self, allowed: &[&str]) {
        let unknown: Vec<String> = self
            .table
            .iter()
            .map(|(k, _)| k.to_string())
            .filter(|k| !allowed.contains(&k.as_str()))
            .collect();
        for key in &unknown {
            self.error(
                key,
                format!("unknown key; expected one of: {}", allowed.join(", ")),
            );
        }
        for key in allowed {
            if let Some(line) = self.field_line(key) {
                self.lines.push((key.to_string(), line));
            }
        }
    }

    fn value(&self, key: &str) -> Option<&Value> {
        self.table.get(key).and_then(Item::as_value)
    }

    fn present(&self, key: &str) -> bool {
        self.table.get(key).is_some()
    }

    fn str_opt(&mut self, key: &str) -> Result<Option<String>, ()> {
        if !self.present(key) {
            return Ok(None);
        }
        match self.value(key).and_then(Value::as_str) {
            Some(s) => Ok(Some(s.to_string())),
            None => {
                self.error(key, "must be a string in quotes".into());
                Err(())
            }
        }
    }

    fn str_req(&mut self, key: &str) -> Result<String, ()> {
        match self.str_opt(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => {
                self.error(key, "must not be empty".into());
                Err(())
            }
            None => {
                let line = self.line;
                self.r.push(
                    line,
                    Some(self.label.clone()),
                    Some(key.to_string()),
                    "is required".into(),
                );
                Err(())
            }
        }
    }

    fn int_opt(&mut self, key: &str, min: i64, max: i64) -> Result<Option<i64>, ()> {
        if !self.present(key) {
            return Ok(None);
        }
        match self.value(key).and_then(Value::as_integer) {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Some(n) => {
                self.error(key, format!("{n} is out of range; use {min} to {max}"));
                Err(())
            }
            None => {
                self.error(key, "must be a whole number without quotes".into());
                Err(())
            }
        }
    }

    fn float_opt(&mut self, key: &str, min: f64, max: f64) -> Result<Option<f64>, ()> {
        if !self.present(key) {
            return Ok(None);
        }
        let v = self.value(key);
        let n = v
            .and_then(Value::as_float)
            .or_else(|| v.and_then(Value::as_integer).map(|i| i as f64));
        match n {
            Some(n) if n >= min && n <= max => Ok(Some(n)),
            Some(n) => {
                self.error(key, format!("{n} is out of range; use {min} to {max}"));
                Err(())
            }
            None => {
                self.error(key, "must be a number without quotes".into());
                Err(())
            }
        }
    }

    fn bool_opt(&mut self, key: &str) -> Result<Option<bool>, ()> {
        if !self.present(key) {
            return Ok(None);
        }
        match self.value(key).and_then(Value::as_bool) {
            Some(b) => Ok(Some(b)),
            None => {
                self.error(key, "must be true or false, without quotes".into());
                Err(())
            }
        }
    }

    fn choice<T>(
        &mut self,
        key: &str,
        parse: fn(&str) -> Option<T>,
        options: &str,
    ) -> Result<Option<T>, ()> {
        match self.str_opt(key)? {
            None => Ok(None),
            Some(s) => match parse(&s) {
                Some(v) => Ok(Some(v)),
                None => {
                    self.error(key, format!("\"{s}\" is not one of {options}"));
                    Err(())
                }
            },
        }
    }

    /// A column name or a list of them (composite keys).
    fn names(&mut self, key: &str) -> Result<Vec<String>, ()> {
        if !self.present(key) {
            let line = self.line;
            self.r.push(
                line,
                Some(self.label.clone()),
                Some(key.into()),
                "is required".into(),
            );
            return Err(());
        }
        let v = self.value(key);
        if let Some(s) = v.and_then(Value::as_str) {
            return Ok(vec![s.to_string()]);
        }
        if let Some(a) = v.and_then(Value::as_array) {
            let names: Option<Vec<String>> =
                a.iter().map(|x| x.as_str().map(str::to_string)).collect();
            if let Some(names) = names.filter(|n| !n.is_empty()) {
                return Ok(names);
            }
        }
        self.error(key, "must be a column name or a list of column names, such as \"id\" or [\"org_id\", \"id\"]".into());
        Err(())
    }

    fn network(&mut self) -> Option<Network> {
        let keys = [
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
        ];
        self.check_keys(&keys);
        let name = self.str_req("name");
        let kind = match self.choice(
            "type",
            EngineKind::parse,
            "postgresql, mysql, mariadb, sqlite",
        ) {
            Ok(Some(k)) => Ok(k),
            Ok(None) => {
                let _ = self.str_req("type");
                Err(())
            }
            Err(()) => Err(()),
        };
        let host = self.str_opt("host");
        let port = self.int_opt("port", 1, 65535);
        let database = self.str_req("database");
        let username = self.str_opt("username");
        let password_env = self.str_opt("password_env");
        let password = self.str_opt("password");
        let ssl_mode = self.choice(
            "ssl_mode",
            SslMode::parse,
            "disable, prefer, require, verify-ca, verify-full",
        );
        let timezone = self.str_opt("timezone");
        if let Ok(Some(tz)) = &timezone
            && tz.parse::<chrono_tz::Tz>().is_err()
        {
            self.error(
                "timezone",
                format!(
                    "\"{tz}\" is not an IANA time zone name such as \"UTC\" or \"Europe/Berlin\""
                ),
            );
        }
        if let (Ok(k), Ok(None)) = (&kind, &host)
            && *k != EngineKind::Sqlite
        {
            let line = self.line;
            self.r.push(
                line,
                Some(self.label.clone()),
                Some("host".into()),
                format!("is required for a {k} network"),
            );
        }
        Some(Network {
            name: name.ok()?,
            kind: kind.ok()?,
            host: host.unwrap_or(None),
            port: port.unwrap_or(None).map(|p| p as u16),
            database: database.ok()?,
            username: username.unwrap_or(None),
            password_env: password_env.unwrap_or(None),
            password: password.unwrap_or(None).map(Secret::new),
            ssl_mode: ssl_mode.unwrap_or(None),
            timezone: timezone.unwrap_or(None),
        })
    }

    fn schema(&mut self) -> Option<Schema> {
        let keys = [
            "name",
            "source_table",
            "target_table",
            "primary_key",
            "cursor_column",
            "columns",
        ];
        self.check_keys(&keys);
        let name = self.str_req("name");
        let source_table = self.str_req("source_table");
        let target_table = self.str_req("target_table");
        let primary_key = self.names("primary_key");
        let cursor_column = self.str_opt("cursor_column");
        let columns = self.columns();
        Some(Schema {
            name: name.ok()?,
            source_table: source_table.ok()?,
            target_table: target_table.ok()?,
            primary_key: primary_key.ok()?,
            cursor_column: cursor_column.unwrap_or(None),
            columns: columns.ok()?,
        })
    }

    /// `columns = [{ source = "id", target = "user_id", type = "integer" }, ...]`
    /// or `[[schema.columns]]` tables.
    fn columns(&mut self) -> Result<Vec<ColumnMap>, ()> {
        let mut rows: Vec<(&dyn TableLike, Option<usize>)> = Vec::new();
        match self.table.get("columns") {
            None => {
                let line = self.line;
                self.r.push(
                    line,
                    Some(self.label.clone()),
                    Some("columns".into()),
                    "is required: list the columns to copy".into(),
                );
                return Err(());
            }
            Some(Item::Value(Value::Array(a))) => {
                for v in a.iter() {
                    let line = v.span().map(|s| self.r.line_of(s.start));
                    match v.as_inline_table() {
                        Some(t) => rows.push((t, line)),
                        None => {
                            self.error("columns", "each column must be written { source = \"...\", target = \"...\", type = \"...\" }".into());
                            return Err(());
                        }
                    }
                }
            }
            Some(Item::ArrayOfTables(a)) => {
                for t in a.iter() {
                    rows.push((t, t.span().map(|s| self.r.line_of(s.start))));
                }
            }
            Some(_) => {
                self.error(
                    "columns",
                    "must be a list of { source, target, type } tables".into(),
                );
                return Err(());
            }
        }
        if rows.is_empty() {
            self.error(
                "columns",
                "is empty: list at least one column to copy".into(),
            );
            return Err(());
        }
        let mut out = Vec::new();
        let mut failed = false;
        for (i, (t, line)) in rows.into_iter().enumerate() {
            let field = format!("columns[{}]", i + 1);
            let push = |r: &mut Reader, msg: String| {
                r.push(
                    line.or(self.line),
                    Some(self.label.clone()),
                    Some(field.clone()),
                    msg,
                );
            };
            for (k, _) in t.iter() {
                if !["source", "target", "type"].contains(&k) {
                    push(
                        self.r,
                        format!("unknown key `{k}`; a column has source, target and type"),
                    );
                    failed = true;
                }
            }
            let get = |k: &str| t.get(k).and_then(Item::as_str).map(str::to_string);
            let (Some(source), Some(target), Some(ty)) =
                (get("source"), get("target"), get("type"))
            else {
                push(
                    self.r,
                    "needs source, target and type, each a string".into(),
                );
                failed = true;
                continue;
            };
            match ColumnType::parse(&ty) {
                Some(ty) => out.push(ColumnMap { source, target, ty }),
                None => {
                    let all: Vec<&str> = ColumnType::ALL.iter().map(|t| t.as_str()).collect();
                    push(
                        self.r,
                        format!("type \"{ty}\" is not one of {}", all.join(", ")),
                    );
                    failed = true;
                }
            }
        }
        if failed { Err(()) } else { Ok(out) }
    }

    fn job(&mut self) -> Option<Job> {
        let keys = [
            "name",
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
        ];
        self.check_keys(&keys);
        let name = self.str_req("name");
        let source = self.str_req("source");
        let target = self.str_req("target");
        let schema = self.str_req("schema");
        let mode = self.choice("mode", SyncMode::parse, "full, incremental");
        let schedule = self.str_opt("schedule");
        if let Ok(Some(expr)) = &schedule
            && let Err(e) = crate::engine::schedule::parse(expr)
        {
            self.error("schedule", e);
        }
        let batch_size = self.int_opt("batch_size", 1, 1_000_000);
        let max_failed = self.int_opt("max_failed", 0, i64::MAX);
        let allow_empty = self.bool_opt("allow_empty");
        let max_delete_percent = self.float_opt("max_delete_percent", 0.0, 100.0);
        let lookback = self.str_opt("lookback");
        if let Ok(Some(l)) = &lookback
            && let Err(e) = super::duration::parse(l)
        {
            self.error("lookback", e);
        }
        Some(Job {
            name: name.ok()?,
            source: source.ok()?,
            target: target.ok()?,
            schema: schema.ok()?,
            mode: mode.unwrap_or(None).unwrap_or_default(),
            schedule: schedule.unwrap_or(None),
            batch_size: batch_size.unwrap_or(None).map(|n| n as u64),
            max_failed: max_failed.unwrap_or(None).map(|n| n as u64),
            allow_empty: allow_empty.unwrap_or(None),
            max_delete_percent: max_delete_percent.unwrap_or(None),
            lookback: lookback.unwrap_or(None),
        })
    }
}
