//! Reading each kind of entry from its TOML table: which keys it holds and how
//! each is parsed, through the field rules the TUI form shares.

use toml_edit::{Item, TableLike, Value};

use super::fields;
use super::model::*;
use super::read::{Fields, Located, Reader};
use super::secret::Secret;

impl<'d> Fields<'_, '_, 'd> {
    pub(super) fn network(&mut self) -> Option<Network> {
        self.check_keys(&fields::NETWORK_KEYS);
        let name = self.str_req("name");
        let kind = match self.choice("type", EngineKind::parse, fields::ENGINE_OPTIONS) {
            Ok(Some(k)) => Ok(k),
            Ok(None) => {
                let _ = self.str_req("type");
                Err(())
            }
            Err(()) => Err(()),
        };
        let host = self.str_opt("host");
        let port = self.whole("port", fields::PORT);
        let database = self.str_req("database");
        let username = self.str_opt("username");
        let password_env = self.str_opt("password_env");
        let password = self.str_opt("password");
        let ssl_mode = self.choice("ssl_mode", SslMode::parse, fields::SSL_OPTIONS);
        let timezone = self.str_opt("timezone");
        if let Ok(Some(tz)) = &timezone
            && let Err(e) = fields::timezone(tz)
        {
            self.error("timezone", e);
        }
        let stall_timeout = self.str_opt("stall_timeout");
        if let Ok(Some(t)) = &stall_timeout
            && let Err(e) = fields::stall_timeout(t)
        {
            self.error("stall_timeout", e);
        }
        let state = self.choice("state", StateStore::parse, fields::STATE_OPTIONS);
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
            stall_timeout: stall_timeout.unwrap_or(None),
            state: state.unwrap_or(None),
        })
    }

    pub(super) fn schema(&mut self) -> Option<Schema> {
        self.check_keys(&fields::SCHEMA_KEYS);
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
        let rows = self.column_rows()?;
        if rows.is_empty() {
            self.error("columns", fields::NO_COLUMNS.into());
            return Err(());
        }
        let mut out = Vec::new();
        let mut failed = false;
        for (i, (table, line)) in rows.into_iter().enumerate() {
            match self.column(i, table, line) {
                Some(c) => out.push(c),
                None => failed = true,
            }
        }
        if failed { Err(()) } else { Ok(out) }
    }

    /// The tables of `columns` with their lines, whichever way they are written.
    fn column_rows(&mut self) -> Result<Vec<Located<'d>>, ()> {
        let mut rows: Vec<Located<'d>> = Vec::new();
        let table: &'d dyn TableLike = self.table;
        match table.get("columns") {
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
        Ok(rows)
    }

    /// The `i`th column mapping; every problem in it is recorded, and any makes it `None`.
    fn column(&mut self, i: usize, t: &dyn TableLike, line: Option<usize>) -> Option<ColumnMap> {
        let field = format!("columns[{}]", i + 1);
        let (label, line) = (self.label.clone(), line.or(self.line));
        let push = |r: &mut Reader, msg: String| {
            r.push(line, Some(label.clone()), Some(field.clone()), msg);
        };
        let mut failed = false;
        for (k, _) in t.iter() {
            if !fields::COLUMN_KEYS.contains(&k) {
                push(
                    self.r,
                    format!("unknown key `{k}`; a column has source, target and type"),
                );
                failed = true;
            }
        }
        let get = |k: &str| t.get(k).and_then(Item::as_str).map(str::to_string);
        let (Some(source), Some(target), Some(ty)) = (get("source"), get("target"), get("type"))
        else {
            push(
                self.r,
                "needs source, target and type, each a string".into(),
            );
            return None;
        };
        match ColumnType::parse(&ty) {
            Some(ty) if !failed => Some(ColumnMap { source, target, ty }),
            Some(_) => None,
            None => {
                push(self.r, fields::unknown_column_type(&ty));
                None
            }
        }
    }

    pub(super) fn job(&mut self) -> Option<Job> {
        self.check_keys(&fields::JOB_KEYS);
        let name = self.str_req("name");
        let source = self.str_req("source");
        let target = self.str_req("target");
        let schema = self.str_req("schema");
        let mode = self.choice("mode", SyncMode::parse, fields::MODE_OPTIONS);
        let schedule = self.str_opt("schedule");
        if let Ok(Some(expr)) = &schedule
            && let Err(e) = fields::schedule(expr)
        {
            self.error("schedule", e);
        }
        let batch_size = self.whole("batch_size", fields::BATCH_SIZE);
        let max_failed = self.whole("max_failed", fields::MAX_FAILED);
        let allow_empty = self.bool_opt("allow_empty");
        let max_delete_percent = self.decimal("max_delete_percent", fields::MAX_DELETE_PERCENT);
        let full_copy = self.bool_opt("full_copy");
        let read_ranges = self.whole("read_ranges", fields::READ_RANGES);
        let lookback = self.str_opt("lookback");
        if let Ok(Some(l)) = &lookback
            && let Err(e) = fields::lookback(l)
        {
            self.error("lookback", e);
        }
        let alerts = self.alerts();
        let state = self.choice("state", StateStore::parse, fields::STATE_OPTIONS);
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
            full_copy: full_copy.unwrap_or(None),
            read_ranges: read_ranges.unwrap_or(None).map(|n| n as u64),
            state: state.unwrap_or(None),
            alerts: alerts.ok()?,
        })
    }

    /// `on_failure`, `on_success` and `webhook`, of a job or of `[alerts]`.
    fn alerts(&mut self) -> Result<Alerts, ()> {
        let on_failure = self.str_opt("on_failure");
        let on_success = self.str_opt("on_success");
        let webhook = self.str_opt("webhook");
        if let Ok(Some(url)) = &webhook
            && let Err(e) = fields::webhook(url)
        {
            self.error("webhook", e);
            return Err(());
        }
        Ok(Alerts {
            on_failure: on_failure?,
            on_success: on_success?,
            webhook: webhook?,
        })
    }

    /// The top-level `[alerts]` table: every job's defaults.
    pub(super) fn workspace_alerts(&mut self) -> Option<WorkspaceAlerts> {
        self.check_keys(&fields::ALERTS_KEYS);
        let defaults = self.alerts();
        let timeout = self.str_opt("timeout");
        if let Ok(Some(t)) = &timeout
            && let Err(e) = fields::alert_timeout(t)
        {
            self.error("timeout", e);
            return None;
        }
        Some(WorkspaceAlerts {
            defaults: defaults.ok()?,
            timeout: timeout.ok()?,
        })
    }
}
