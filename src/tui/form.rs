//! Add/edit forms for networks, schemas and jobs: fields, validation as the user
//! types (the workspace's own rules, so the form and `dsp check` agree), and the
//! conversion to and from the model.

use crate::workspace::validate::{self, Kind};
use crate::workspace::{
    ColumnMap, ColumnType, EngineKind, Job, Network, Schema, Secret, SslMode, SyncMode, Workspace,
};

#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Text,
    /// Typed like text, drawn as `*`.
    Secret,
    Choice(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The workspace key it edits (`col_source` etc. for column rows).
    pub key: &'static str,
    pub label: String,
    pub kind: FieldKind,
    pub value: String,
    pub error: Option<String>,
}

impl Field {
    fn text(key: &'static str, label: &str, value: impl Into<String>) -> Self {
        Field {
            key,
            label: label.into(),
            kind: FieldKind::Text,
            value: value.into(),
            error: None,
        }
    }
    fn choice(key: &'static str, label: &str, options: Vec<String>, value: &str) -> Self {
        let value = if options.iter().any(|o| o == value) {
            value.to_string()
        } else {
            options.first().cloned().unwrap_or_default()
        };
        Field {
            key,
            label: label.into(),
            kind: FieldKind::Choice(options),
            value,
            error: None,
        }
    }
    /// Moves a choice field by `step` (wrapping).
    pub fn cycle(&mut self, step: isize) {
        if let FieldKind::Choice(options) = &self.kind
            && !options.is_empty()
        {
            let i = options.iter().position(|o| *o == self.value).unwrap_or(0) as isize;
            let n = options.len() as isize;
            self.value = options[((i + step).rem_euclid(n)) as usize].clone();
        }
    }
    pub fn is_choice(&self) -> bool {
        matches!(self.kind, FieldKind::Choice(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    Network,
    Schema,
    Job,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub kind: FormKind,
    /// Index of the entry being edited; `None` adds a new one.
    pub editing: Option<usize>,
    pub fields: Vec<Field>,
    pub focus: usize,
    /// A note shown under the form (e.g. the result of filling columns).
    pub note: Option<String>,
}

/// The model entry a valid form produces.
pub enum Entry {
    Network(Network),
    Schema(Schema),
    Job(Job),
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| name(i).to_string()).collect()
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl Form {
    pub fn title(&self) -> String {
        let what = match self.kind {
            FormKind::Network => "network",
            FormKind::Schema => "schema",
            FormKind::Job => "job",
        };
        if self.editing.is_some() {
            format!("Edit {what}")
        } else {
            format!("Add {what}")
        }
    }

    pub fn network(n: Option<&Network>, editing: Option<usize>) -> Self {
        let d = Network::new("", EngineKind::Postgres, "");
        let n = n.unwrap_or(&d);
        let kinds = EngineKind::ALL
            .iter()
            .map(|k| k.as_str().to_string())
            .collect();
        let ssl = SslMode::ALL
            .iter()
            .map(|m| m.as_str().to_string())
            .collect();
        let fields = vec![
            Field::text("name", "Name", n.name.clone()),
            Field::choice("type", "Type", kinds, n.kind.as_str()),
            Field::text("host", "Host", n.host.clone().unwrap_or_default()),
            Field::text(
                "port",
                "Port",
                n.port.map(|p| p.to_string()).unwrap_or_default(),
            ),
            Field::text("database", "Database", n.database.clone()),
            Field::text(
                "username",
                "Username",
                n.username.clone().unwrap_or_default(),
            ),
            Field::text(
                "password_env",
                "Password env var",
                n.password_env.clone().unwrap_or_default(),
            ),
            Field {
                kind: FieldKind::Secret,
                ..Field::text(
                    "password",
                    "Password",
                    n.password
                        .as_ref()
                        .map(|p| p.expose().to_string())
                        .unwrap_or_default(),
                )
            },
            Field::choice("ssl_mode", "SSL mode", ssl, n.ssl().as_str()),
            Field::text(
                "timezone",
                "Time zone",
                n.timezone.clone().unwrap_or_default(),
            ),
        ];
        Form {
            kind: FormKind::Network,
            editing,
            fields,
            focus: 0,
            note: None,
        }
    }

    pub fn schema(s: Option<&Schema>, editing: Option<usize>) -> Self {
        let mut fields = vec![
            Field::text(
                "name",
                "Name",
                s.map(|s| s.name.clone()).unwrap_or_default(),
            ),
            Field::text(
                "source_table",
                "Source table",
                s.map(|s| s.source_table.clone()).unwrap_or_default(),
            ),
            Field::text(
                "target_table",
                "Target table",
                s.map(|s| s.target_table.clone()).unwrap_or_default(),
            ),
            Field::text(
                "primary_key",
                "Primary key",
                s.map(|s| s.primary_key.join(", ")).unwrap_or_default(),
            ),
            Field::text(
                "cursor_column",
                "Cursor column",
                s.and_then(|s| s.cursor_column.clone()).unwrap_or_default(),
            ),
        ];
        let mut form = Form {
            kind: FormKind::Schema,
            editing,
            fields: Vec::new(),
            focus: 0,
            note: None,
        };
        match s {
            Some(s) if !s.columns.is_empty() => {
                for c in &s.columns {
                    fields.extend(Self::column_row(&c.source, &c.target, c.ty));
                }
            }
            _ => fields.extend(Self::column_row("", "", ColumnType::String)),
        }
        form.fields = fields;
        form
    }

    fn column_row(source: &str, target: &str, ty: ColumnType) -> [Field; 3] {
        let types = ColumnType::ALL
            .iter()
            .map(|t| t.as_str().to_string())
            .collect();
        [
            Field::text("col_source", "  source column", source),
            Field::text("col_target", "  target column", target),
            Field::choice("col_type", "  type", types, ty.as_str()),
        ]
    }

    pub fn job(j: Option<&Job>, ws: &Workspace, editing: Option<usize>) -> Self {
        let nets = names(&ws.networks, |n| &n.name);
        let schemas = names(&ws.schemas, |s| &s.name);
        let modes = vec!["full".to_string(), "incremental".to_string()];
        let d = Job::new("", "", "", "", SyncMode::Full);
        let j = j.unwrap_or(&d);
        let num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
        let fields = vec![
            Field::text("name", "Name", j.name.clone()),
            Field::choice("source", "Source network", nets.clone(), &j.source),
            // A new job most likely writes to a network other than its source.
            Field::choice(
                "target",
                "Target network",
                nets.clone(),
                if j.target.is_empty() {
                    nets.get(1).map(String::as_str).unwrap_or("")
                } else {
                    &j.target
                },
            ),
            Field::choice("schema", "Schema", schemas, &j.schema),
            Field::choice("mode", "Sync mode", modes, j.mode.as_str()),
            Field::text(
                "schedule",
                "Schedule (cron)",
                j.schedule.clone().unwrap_or_default(),
            ),
            Field::text("batch_size", "Batch size", num(j.batch_size)),
            Field::text("max_failed", "Max failed rows", num(j.max_failed)),
            Field::choice(
                "allow_empty",
                "Allow empty source",
                vec!["false".into(), "true".into()],
                if j.allow_empty() { "true" } else { "false" },
            ),
            Field::text(
                "max_delete_percent",
                "Max delete %",
                j.max_delete_percent
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
            ),
            Field::text(
                "lookback",
                "Lookback",
                j.lookback.clone().unwrap_or_default(),
            ),
        ];
        Form {
            kind: FormKind::Job,
            editing,
            fields,
            focus: 0,
            note: None,
        }
    }

    fn get(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|f| f.key == key)
            .map(|f| f.value.as_str())
            .unwrap_or("")
    }

    fn set_error(&mut self, key: &str, msg: String) {
        if let Some(f) = self
            .fields
            .iter_mut()
            .find(|f| f.key == key && f.error.is_none())
        {
            f.error = Some(msg);
        }
    }

    /// Index of the first field of column rows (schema forms).
    pub fn columns_start(&self) -> usize {
        self.fields
            .iter()
            .position(|f| f.key == "col_source")
            .unwrap_or(self.fields.len())
    }

    pub fn is_schema(&self) -> bool {
        self.kind == FormKind::Schema
    }

    pub fn add_column_row(&mut self) {
        self.fields
            .extend(Self::column_row("", "", ColumnType::String));
        self.focus = self.fields.len() - 3;
    }

    /// Deletes the column row holding the focus (the last row stays).
    pub fn delete_column_row(&mut self) {
        let start = self.columns_start();
        if self.focus < start || self.fields.len() - start <= 3 {
            return;
        }
        let row = start + (self.focus - start) / 3 * 3;
        self.fields.drain(row..row + 3);
        self.focus = self.focus.min(self.fields.len() - 1);
    }

    /// Replaces the column rows with the source table's columns.
    pub fn fill_columns(&mut self, columns: &[(String, ColumnType)]) {
        if columns.is_empty() {
            return;
        }
        let start = self.columns_start();
        self.fields.truncate(start);
        for (name, ty) in columns {
            self.fields.extend(Self::column_row(name, name, *ty));
        }
        self.focus = self.focus.min(self.fields.len() - 1);
        self.note = Some(format!(
            "{} columns filled from the source table; edit as needed",
            columns.len()
        ));
    }

    /// Builds the entry, recording a field error for everything that does not
    /// parse; `None` when any field is wrong.
    fn build(&mut self) -> Option<Entry> {
        for f in &mut self.fields {
            f.error = None;
        }
        let mut ok = true;
        let mut require = |form: &mut Form, key: &'static str| {
            if form.get(key).trim().is_empty() {
                form.set_error(key, "required".into());
                ok = false;
            }
        };
        require(self, "name");
        match self.kind {
            FormKind::Network => {
                require(self, "database");
                let kind = EngineKind::parse(self.get("type")).unwrap_or(EngineKind::Postgres);
                if kind != EngineKind::Sqlite {
                    require(self, "host");
                }
                let port = match opt(self.get("port")) {
                    None => None,
                    Some(p) => match p.parse::<u16>() {
                        Ok(n) if n > 0 => Some(n),
                        _ => {
                            self.set_error("port", "a number from 1 to 65535".into());
                            ok = false;
                            None
                        }
                    },
                };
                let timezone = opt(self.get("timezone"));
                if let Some(tz) = &timezone
                    && tz.parse::<chrono_tz::Tz>().is_err()
                {
                    self.set_error(
                        "timezone",
                        "not an IANA zone such as UTC or Asia/Jakarta".into(),
                    );
                    ok = false;
                }
                let net = Network {
                    name: self.get("name").trim().to_string(),
                    kind,
                    host: opt(self.get("host")),
                    port,
                    database: self.get("database").trim().to_string(),
                    username: opt(self.get("username")),
                    password_env: opt(self.get("password_env")),
                    password: (!self.get("password").is_empty())
                        .then(|| Secret::new(self.get("password"))),
                    ssl_mode: (kind != EngineKind::Sqlite)
                        .then(|| SslMode::parse(self.get("ssl_mode")))
                        .flatten(),
                    timezone,
                };
                ok.then_some(Entry::Network(net))
            }
            FormKind::Schema => {
                require(self, "source_table");
                require(self, "target_table");
                require(self, "primary_key");
                let mut columns = Vec::new();
                let start = self.columns_start();
                for row in self.fields[start..].chunks(3) {
                    let (s, t) = (row[0].value.trim(), row[1].value.trim());
                    if s.is_empty() && t.is_empty() {
                        continue;
                    }
                    let ty = ColumnType::parse(&row[2].value).unwrap_or(ColumnType::String);
                    columns.push(ColumnMap {
                        source: s.to_string(),
                        target: if t.is_empty() { s } else { t }.to_string(),
                        ty,
                    });
                }
                if columns.is_empty() {
                    if let Some(f) = self.fields.get_mut(start) {
                        f.error = Some("map at least one column".into());
                    }
                    ok = false;
                }
                let schema = Schema {
                    name: self.get("name").trim().to_string(),
                    source_table: self.get("source_table").trim().to_string(),
                    target_table: self.get("target_table").trim().to_string(),
                    primary_key: self.get("primary_key").split(',').filter_map(opt).collect(),
                    cursor_column: opt(self.get("cursor_column")),
                    columns,
                };
                ok.then_some(Entry::Schema(schema))
            }
            FormKind::Job => {
                for key in ["source", "target", "schema"] {
                    if self.get(key).is_empty() {
                        self.set_error(
                            key,
                            format!(
                                "add a {} first",
                                if key == "schema" { "schema" } else { "network" }
                            ),
                        );
                        ok = false;
                    }
                }
                let schedule = opt(self.get("schedule"));
                if let Some(s) = &schedule
                    && let Err(e) = crate::engine::schedule::parse(s)
                {
                    self.set_error("schedule", e);
                    ok = false;
                }
                let mut number = |form: &mut Form, key: &'static str, min: u64| -> Option<u64> {
                    let v = opt(form.get(key))?;
                    match v.parse::<u64>() {
                        Ok(n) if n >= min => Some(n),
                        _ => {
                            form.set_error(key, format!("a whole number of at least {min}"));
                            ok = false;
                            None
                        }
                    }
                };
                let batch_size = number(self, "batch_size", 1);
                let max_failed = number(self, "max_failed", 0);
                let max_delete_percent = match opt(self.get("max_delete_percent")) {
                    None => None,
                    Some(v) => match v.parse::<f64>() {
                        Ok(p) if (0.0..=100.0).contains(&p) => Some(p),
                        _ => {
                            self.set_error("max_delete_percent", "a number from 0 to 100".into());
                            ok = false;
                            None
                        }
                    },
                };
                let lookback = opt(self.get("lookback"));
                if let Some(l) = &lookback
                    && let Err(e) = crate::workspace::duration::parse(l)
                {
                    self.set_error("lookback", e);
                    ok = false;
                }
                let job = Job {
                    name: self.get("name").trim().to_string(),
                    source: self.get("source").to_string(),
                    target: self.get("target").to_string(),
                    schema: self.get("schema").to_string(),
                    mode: SyncMode::parse(self.get("mode")).unwrap_or_default(),
                    schedule,
                    batch_size,
                    max_failed,
                    allow_empty: (self.get("allow_empty") == "true").then_some(true),
                    max_delete_percent,
                    lookback,
                };
                ok.then_some(Entry::Job(job))
            }
        }
    }

    /// Validates as the user types: field errors, then the workspace's own rules
    /// for this entry. Returns the workspace with the entry in place when valid.
    pub fn validate(&mut self, ws: &Workspace) -> Option<Workspace> {
        let entry = self.build()?;
        let mut candidate = ws.clone();
        let (kind, index) = match entry {
            Entry::Network(n) => (
                Kind::Network,
                place(&mut candidate.networks, self.editing, n),
            ),
            Entry::Schema(s) => (Kind::Schema, place(&mut candidate.schemas, self.editing, s)),
            Entry::Job(j) => (Kind::Job, place(&mut candidate.jobs, self.editing, j)),
        };
        let mut ok = true;
        for p in validate::validate(&candidate) {
            if p.kind != kind || p.index != index {
                continue;
            }
            let key = match p.field.as_deref() {
                Some("columns") => "col_source",
                Some(f) => self
                    .fields
                    .iter()
                    .find(|x| x.key == f)
                    .map(|x| x.key)
                    .unwrap_or("name"),
                None => "name",
            };
            self.set_error(key, p.message);
            ok = false;
        }
        ok.then_some(candidate)
    }

    pub fn has_errors(&self) -> bool {
        self.fields.iter().any(|f| f.error.is_some())
    }
}

fn place<T>(list: &mut Vec<T>, editing: Option<usize>, item: T) -> usize {
    match editing {
        Some(i) if i < list.len() => {
            list[i] = item;
            i
        }
        _ => {
            list.push(item);
            list.len() - 1
        }
    }
}
