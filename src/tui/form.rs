//! Add/edit forms for networks, schemas and jobs: fields, validation as the user
//! types (the workspace's own rules, so the form and `dsp check` agree), and the
//! conversion to and from the model.

use crate::workspace::validate::{self, Kind};
use crate::workspace::{
    ColumnMap, ColumnType, DEFAULT_TIMEZONE, EngineKind, Job, Network, Schema, Secret, SslMode,
    StateStore, SyncMode, Workspace, fields,
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
    pub(crate) fn cycle(&mut self, step: isize) {
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

/// The choices of the Network form's "Password from" field.
pub const PASSWORD_FROM_ENV: &str = "environment variable";
pub const PASSWORD_IN_FILE: &str = "clear text in the file";

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
    /// The values as the form opened, to tell whether Esc would lose an edit.
    pub opened_with: Vec<String>,
    /// Choice fields the entry left out, shown at their default: saved
    /// unchanged, they stay out of the file.
    pub defaulted: Vec<&'static str>,
}

/// The model entry a valid form produces.
pub(crate) enum Entry {
    Network(Network),
    Schema(Schema),
    Job(Job),
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| name(i).to_string()).collect()
}

impl Form {
    /// Whether field `i` applies to the entry as filled in: a SQLite network
    /// has no host, port, user, password or SSL; only an incremental job has a
    /// lookback, only a full one the guards against emptying the target.
    pub fn shown(&self, i: usize) -> bool {
        let Some(field) = self.fields.get(i) else {
            return false;
        };
        match self.kind {
            FormKind::Network => {
                let server = [
                    "host",
                    "port",
                    "username",
                    "password_from",
                    "password_env",
                    "password",
                    "ssl_mode",
                ];
                let unused = match field.key {
                    "password_env" => self.get("password_from") != PASSWORD_FROM_ENV,
                    "password" => self.get("password_from") != PASSWORD_IN_FILE,
                    _ => false,
                };
                let sqlite_only =
                    self.get("type") == EngineKind::Sqlite.as_str() && server.contains(&field.key);
                !(unused || sqlite_only)
            }
            FormKind::Job => match field.key {
                "lookback" => self.get("mode") == SyncMode::Incremental.as_str(),
                "allow_empty" | "max_delete_percent" | "full_copy" | "read_ranges" => {
                    self.get("mode") == SyncMode::Full.as_str()
                }
                _ => true,
            },
            FormKind::Schema => true,
        }
    }

    /// The next field shown after the focused one (`step` 1) or before it
    /// (`step` -1); the focused one at either end.
    pub(crate) fn step_focus(&self, step: isize) -> usize {
        let mut i = self.focus as isize;
        loop {
            i += step;
            if i < 0 || i as usize >= self.fields.len() {
                return self.focus;
            }
            if self.shown(i as usize) {
                return i as usize;
            }
        }
    }

    /// Remembers the values now shown as the unedited state.
    pub(crate) fn mark_unedited(&mut self) {
        self.opened_with = self.fields.iter().map(|f| f.value.clone()).collect();
    }

    /// Whether any value differs from the one the form opened with.
    /// A network form about to save a clear-text password: asks first.
    pub fn saves_clear_password(&self) -> bool {
        self.kind == FormKind::Network
            && self.get("type") != EngineKind::Sqlite.as_str()
            && self.get("password_from") == PASSWORD_IN_FILE
            && !self.get("password").is_empty()
    }

    pub fn is_edited(&self) -> bool {
        !self
            .fields
            .iter()
            .map(|f| &f.value)
            .eq(self.opened_with.iter())
    }

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
            // One of the two is used (issue 17 #11): the choice says which.
            Field::choice(
                "password_from",
                "Password from",
                vec![PASSWORD_FROM_ENV.into(), PASSWORD_IN_FILE.into()],
                if n.password.is_some() && n.password_env.is_none() {
                    PASSWORD_IN_FILE
                } else {
                    PASSWORD_FROM_ENV
                },
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
            Field::text(
                "stall_timeout",
                "Stall timeout",
                n.stall_timeout.clone().unwrap_or_default(),
            ),
            state_field(n.state),
        ];
        Form {
            kind: FormKind::Network,
            editing,
            fields,
            focus: 0,
            note: None,
            opened_with: Vec::new(),
            defaulted: if n.ssl_mode.is_none() {
                vec!["ssl_mode"]
            } else {
                Vec::new()
            },
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
            opened_with: Vec::new(),
            defaulted: Vec::new(),
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
            Field::text(
                "on_failure",
                "On failure (command)",
                j.alerts.on_failure.clone().unwrap_or_default(),
            ),
            Field::text(
                "on_success",
                "On success (command)",
                j.alerts.on_success.clone().unwrap_or_default(),
            ),
            Field::text(
                "webhook",
                "Webhook URL",
                j.alerts.webhook.clone().unwrap_or_default(),
            ),
            state_field(j.state),
            Field::choice(
                "full_copy",
                "Always copy every row",
                vec!["false".into(), "true".into()],
                if j.full_copy() { "true" } else { "false" },
            ),
            Field::text("read_ranges", "Key ranges at once", num(j.read_ranges)),
        ];
        Form {
            kind: FormKind::Job,
            editing,
            fields,
            focus: 0,
            note: None,
            opened_with: Vec::new(),
            defaulted: Vec::new(),
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

    pub(crate) fn is_schema(&self) -> bool {
        self.kind == FormKind::Schema
    }

    pub fn add_column_row(&mut self) {
        self.fields
            .extend(Self::column_row("", "", ColumnType::String));
        self.focus = self.fields.len() - 3;
    }

    /// Deletes the column row holding the focus (the last row stays).
    pub(crate) fn delete_column_row(&mut self) {
        let start = self.columns_start();
        if self.focus < start || self.fields.len() - start <= 3 {
            return;
        }
        let row = start + (self.focus - start) / 3 * 3;
        self.fields.drain(row..row + 3);
        self.focus = self.focus.min(self.fields.len() - 1);
    }

    /// Replaces the column rows with the source table's columns.
    pub(crate) fn fill_columns(&mut self, columns: &[(String, ColumnType)]) {
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
    /// parse; `None` when any field is wrong. Each field is read by the same
    /// rule the loader applies, so a form that builds always saves a file that
    /// loads, and a refusal gives the loader's own reason.
    fn build(&mut self) -> Option<Entry> {
        for f in &mut self.fields {
            f.error = None;
        }
        let name = self.read("name", fields::required_text);
        let entry = match self.kind {
            FormKind::Network => self.build_network().map(Entry::Network),
            FormKind::Schema => self.build_schema().map(Entry::Schema),
            FormKind::Job => self.build_job().map(Entry::Job),
        };
        name.and(entry)
    }

    /// Parses one field with `parse`, recording its error beside the field.
    fn read<T>(&mut self, key: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        match parse(self.get(key)) {
            Ok(v) => Some(v),
            Err(e) => {
                self.set_error(key, e);
                None
            }
        }
    }

    fn build_network(&mut self) -> Option<Network> {
        let kind = EngineKind::parse(self.get("type")).unwrap_or(EngineKind::Postgres);
        let database = self.read("database", fields::required_text);
        let host = self.read("host", |t| match fields::optional_text(t) {
            None if kind != EngineKind::Sqlite => Err(format!("is required for a {kind} network")),
            host => Ok(host),
        });
        let port = self.read("port", |t| fields::PORT.parse_text(t));
        let timezone = self.read("timezone", |t| {
            fields::optional_text(t)
                .map(|tz| fields::timezone(&tz).map(|_| tz))
                .transpose()
        });
        let stall_timeout = self.read("stall_timeout", |t| {
            fields::optional_text(t)
                .map(|d| fields::stall_timeout(&d).map(|_| d))
                .transpose()
        });
        // Only the source chosen is saved: the form never keeps both.
        let from_env = self.get("password_from") != PASSWORD_IN_FILE;
        let password = if from_env { "" } else { self.get("password") };
        let password_env = if from_env {
            fields::optional_text(self.get("password_env"))
        } else {
            None
        };
        Some(Network {
            name: self.get("name").trim().to_string(),
            kind,
            host: host?,
            port: port?.map(|p| p as u16),
            database: database?,
            username: fields::optional_text(self.get("username")),
            password_env,
            password: (!password.is_empty()).then(|| Secret::new(password)),
            ssl_mode: (kind != EngineKind::Sqlite)
                .then(|| SslMode::parse(self.get("ssl_mode")))
                .flatten()
                .filter(|m| !(self.defaulted.contains(&"ssl_mode") && *m == SslMode::default())),
            timezone: timezone?,
            stall_timeout: stall_timeout?,
            state: StateStore::parse(self.get("state")),
        })
    }

    fn build_schema(&mut self) -> Option<Schema> {
        let source_table = self.read("source_table", fields::required_text);
        let target_table = self.read("target_table", fields::required_text);
        let primary_key = self.read("primary_key", fields::primary_key_text);
        let columns = self.column_maps();
        if columns.is_empty() {
            let start = self.columns_start();
            if let Some(f) = self.fields.get_mut(start) {
                f.error = Some(fields::NO_COLUMNS.into());
            }
        }
        Some(Schema {
            name: self.get("name").trim().to_string(),
            source_table: source_table?,
            target_table: target_table?,
            primary_key: primary_key?,
            cursor_column: fields::optional_text(self.get("cursor_column")),
            columns: (!columns.is_empty()).then_some(columns)?,
        })
    }

    /// The column rows that say something; a row left blank is skipped, and a
    /// blank target writes to a column of the source's name.
    fn column_maps(&self) -> Vec<ColumnMap> {
        let start = self.columns_start();
        let mut columns = Vec::new();
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
        columns
    }

    fn build_job(&mut self) -> Option<Job> {
        let mut refs_ok = true;
        for (key, what) in [
            ("source", "network"),
            ("target", "network"),
            ("schema", "schema"),
        ] {
            if self.get(key).is_empty() {
                self.set_error(key, format!("add a {what} first"));
                refs_ok = false;
            }
        }
        let schedule = self.read("schedule", |t| {
            fields::optional_text(t)
                .map(|s| fields::schedule(&s).map(|_| s))
                .transpose()
        });
        let batch_size = self.read("batch_size", |t| fields::BATCH_SIZE.parse_text(t));
        let max_failed = self.read("max_failed", |t| fields::MAX_FAILED.parse_text(t));
        let read_ranges = self.read("read_ranges", |t| fields::READ_RANGES.parse_text(t));
        let max_delete_percent = self.read("max_delete_percent", |t| {
            fields::MAX_DELETE_PERCENT.parse_text(t)
        });
        let lookback = self.read("lookback", |t| {
            fields::optional_text(t)
                .map(|l| fields::lookback(&l).map(|_| l))
                .transpose()
        });
        let webhook = self.read("webhook", |t| {
            fields::optional_text(t)
                .map(|u| fields::webhook(&u).map(|_| u))
                .transpose()
        });
        let job = Job {
            name: self.get("name").trim().to_string(),
            source: self.get("source").to_string(),
            target: self.get("target").to_string(),
            schema: self.get("schema").to_string(),
            mode: SyncMode::parse(self.get("mode")).unwrap_or_default(),
            schedule: schedule?,
            // The ranges start at 0 or above, so the conversions cannot lose a sign.
            batch_size: batch_size?.map(|n| n as u64),
            max_failed: max_failed?.map(|n| n as u64),
            allow_empty: (self.get("allow_empty") == "true").then_some(true),
            max_delete_percent: max_delete_percent?,
            lookback: lookback?,
            alerts: crate::workspace::Alerts {
                on_failure: fields::optional_text(self.get("on_failure")),
                on_success: fields::optional_text(self.get("on_success")),
                webhook: webhook?,
            },
            state: StateStore::parse(self.get("state")),
            full_copy: (self.get("full_copy") == "true").then_some(true),
            read_ranges: read_ranges?.map(|n| n as u64),
        };
        refs_ok.then_some(job)
    }

    /// What an empty field means, shown in its place: the default the program
    /// applies when the key is left out.
    pub(crate) fn default_hint(&self, index: usize) -> Option<String> {
        let field = self.fields.get(index)?;
        if !field.value.is_empty() || field.is_choice() {
            return None;
        }
        let shown = match (self.kind, field.key) {
            (FormKind::Network, "port") => EngineKind::parse(self.get("type"))
                .and_then(EngineKind::default_port)?
                .to_string(),
            (FormKind::Network, "timezone") => DEFAULT_TIMEZONE.to_string(),
            (FormKind::Network, "stall_timeout") => {
                format!("{}m", fields::DEFAULT_STALL_TIMEOUT.as_secs() / 60)
            }
            (FormKind::Job, "batch_size") => fields::BATCH_SIZE.default?.to_string(),
            (FormKind::Job, "max_failed") => fields::MAX_FAILED.default?.to_string(),
            (FormKind::Job, "read_ranges") => "chosen by DSP".to_string(),
            (FormKind::Job, "max_delete_percent") => {
                fields::MAX_DELETE_PERCENT.default?.to_string()
            }
            _ => return None,
        };
        Some(format!("default {shown}"))
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
            Entry::Job(mut j) => {
                if let Some(old) = self.editing.and_then(|i| ws.jobs.get(i)) {
                    keep_alerts_off(&mut j.alerts, &old.alerts);
                }
                (Kind::Job, place(&mut candidate.jobs, self.editing, j))
            }
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
}

/// An empty alert field in the form means "the workspace's default"; a job
/// whose file turned the default off (`on_failure = ""`) keeps it off.
fn keep_alerts_off(new: &mut crate::workspace::Alerts, old: &crate::workspace::Alerts) {
    for (new, old) in [
        (&mut new.on_failure, &old.on_failure),
        (&mut new.on_success, &old.on_success),
        (&mut new.webhook, &old.webhook),
    ] {
        if new.is_none() && old.as_deref() == Some("") {
            *new = Some(String::new());
        }
    }
}

/// Where the entry keeps its jobs' state: `default` leaves the key out (a
/// job then follows its target network, a network the data dir).
fn state_field(state: Option<StateStore>) -> Field {
    let options = ["default", "data_dir", "target"].map(String::from).to_vec();
    let now = state.map(StateStore::as_str).unwrap_or("default");
    Field::choice("state", "State kept in", options, now)
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
