//! The workspace as the program sees it: networks, schemas and jobs.
//!
//! Optional keys stay `Option` so that a save writes back only what the user wrote;
//! the accessors apply the defaults of the spec.

use std::fmt;
use std::path::{Path, PathBuf};

use super::secret::Secret;

pub(crate) const DEFAULT_BATCH_SIZE: u64 = 1000;
pub(crate) const DEFAULT_MAX_DELETE_PERCENT: f64 = 50.0;
/// The zone of a network's timestamps stored without one, unless it names another.
pub(crate) const DEFAULT_TIMEZONE: &str = "UTC";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workspace {
    /// The file this workspace was loaded from (or will be saved to).
    pub path: Option<PathBuf>,
    pub networks: Vec<Network>,
    pub schemas: Vec<Schema>,
    pub jobs: Vec<Job>,
    /// The top-level `[alerts]` table: what every job's alerts default to.
    pub alerts: WorkspaceAlerts,
}

impl Workspace {
    pub fn network(&self, name: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.name == name)
    }
    pub fn schema(&self, name: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.name == name)
    }
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name == name)
    }

    /// Directory that relative SQLite paths are resolved against.
    pub(crate) fn base_dir(&self) -> PathBuf {
        self.path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The SQLite database file of a network, resolved relative to the workspace file.
    /// Where a job keeps its watermark and lock: the job's own `state`, else
    /// its target network's, else the data dir.
    pub fn state_of(&self, job: &Job) -> StateStore {
        job.state
            .or_else(|| self.network(&job.target).and_then(|n| n.state))
            .unwrap_or_default()
    }

    pub fn sqlite_path(&self, network: &Network) -> PathBuf {
        let p = Path::new(&network.database);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir().join(p)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineKind {
    Postgres,
    Mysql,
    Sqlite,
}

impl EngineKind {
    pub const ALL: [EngineKind; 3] = [EngineKind::Postgres, EngineKind::Mysql, EngineKind::Sqlite];

    /// The spelling used in the workspace file.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Postgres => "postgresql",
            EngineKind::Mysql => "mysql",
            EngineKind::Sqlite => "sqlite",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "postgresql" | "postgres" => Some(EngineKind::Postgres),
            "mysql" | "mariadb" => Some(EngineKind::Mysql),
            "sqlite" => Some(EngineKind::Sqlite),
            _ => None,
        }
    }

    pub(crate) fn default_port(self) -> Option<u16> {
        match self {
            EngineKind::Postgres => Some(5432),
            EngineKind::Mysql => Some(3306),
            EngineKind::Sqlite => None,
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub const ALL: [SslMode; 5] = [
        SslMode::Disable,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        SslMode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub name: String,
    pub kind: EngineKind,
    pub host: Option<String>,
    pub port: Option<u16>,
    /// Database name; for SQLite the path of the database file.
    pub database: String,
    pub username: Option<String>,
    /// Name of the environment variable that holds the password (preferred).
    pub password_env: Option<String>,
    /// A password stored in clear in the workspace file (allowed, warned about).
    pub password: Option<Secret>,
    pub ssl_mode: Option<SslMode>,
    /// IANA zone of timestamps stored without one; default UTC.
    pub timezone: Option<String>,
    /// How long a run waits for this server to answer before it gives up on a
    /// connection that went silent (a duration such as `5m`).
    pub stall_timeout: Option<String>,
    /// Where the jobs writing to this network keep their state (a job's own wins).
    pub state: Option<StateStore>,
}

impl Network {
    pub fn new(name: impl Into<String>, kind: EngineKind, database: impl Into<String>) -> Self {
        Network {
            name: name.into(),
            kind,
            host: None,
            port: None,
            database: database.into(),
            username: None,
            password_env: None,
            password: None,
            ssl_mode: None,
            timezone: None,
            stall_timeout: None,
            state: None,
        }
    }

    pub fn effective_port(&self) -> Option<u16> {
        self.port.or(self.kind.default_port())
    }

    pub(crate) fn ssl(&self) -> SslMode {
        self.ssl_mode.unwrap_or_default()
    }

    /// How long a run waits for an answer from this network (the loader has
    /// checked the text).
    pub fn stall_timeout(&self) -> std::time::Duration {
        self.stall_timeout
            .as_deref()
            .and_then(|t| crate::workspace::fields::stall_timeout(t).ok())
            .unwrap_or(crate::workspace::fields::DEFAULT_STALL_TIMEOUT)
    }

    pub(crate) fn timezone_name(&self) -> &str {
        self.timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE)
    }

    /// The password to connect with: the environment variable named by `password_env`
    /// wins over a literal `password`. `Err` names the variable that is unset.
    pub(crate) fn resolve_password(&self) -> Result<Option<Secret>, String> {
        if let Some(var) = &self.password_env {
            return match std::env::var(var) {
                Ok(v) => Ok(Some(Secret::new(v))),
                Err(_) => Err(format!(
                    "network \"{}\": environment variable {} (password_env) is not set; export it before running",
                    self.name, var
                )),
            };
        }
        Ok(self.password.clone())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Integer,
    Float,
    Decimal,
    String,
    Boolean,
    Timestamp,
    Date,
    Time,
    Json,
    Uuid,
    Bytes,
}

impl ColumnType {
    pub const ALL: [ColumnType; 11] = [
        ColumnType::Integer,
        ColumnType::Float,
        ColumnType::Decimal,
        ColumnType::String,
        ColumnType::Boolean,
        ColumnType::Timestamp,
        ColumnType::Date,
        ColumnType::Time,
        ColumnType::Json,
        ColumnType::Uuid,
        ColumnType::Bytes,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Float => "float",
            ColumnType::Decimal => "decimal",
            ColumnType::String => "string",
            ColumnType::Boolean => "boolean",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Date => "date",
            ColumnType::Time => "time",
            ColumnType::Json => "json",
            ColumnType::Uuid => "uuid",
            ColumnType::Bytes => "bytes",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        ColumnType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMap {
    pub source: String,
    pub target: String,
    pub ty: ColumnType,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub name: String,
    /// May be schema-qualified: `public.users`.
    pub source_table: String,
    pub target_table: String,
    /// Source column names; more than one for a composite key.
    pub primary_key: Vec<String>,
    /// Source timestamp column; required by incremental jobs.
    pub cursor_column: Option<String>,
    pub columns: Vec<ColumnMap>,
}

impl Schema {
    /// The mapping of a source column, if the schema writes it.
    pub fn column(&self, source: &str) -> Option<&ColumnMap> {
        self.columns.iter().find(|c| c.source == source)
    }
}

/// Where a job's watermark, lock and last run record live (`state = ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateStore {
    /// The data dir of the host that runs it.
    #[default]
    DataDir,
    /// A DSP table in the target database, so any host can resume the job.
    Target,
}

impl StateStore {
    pub fn as_str(self) -> &'static str {
        match self {
            StateStore::DataDir => "data_dir",
            StateStore::Target => "target",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "data_dir" => Some(StateStore::DataDir),
            "target" => Some(StateStore::Target),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    #[default]
    Full,
    Incremental,
}

impl SyncMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Full => "full",
            SyncMode::Incremental => "incremental",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(SyncMode::Full),
            "incremental" => Some(SyncMode::Incremental),
            _ => None,
        }
    }
}

impl fmt::Display for SyncMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub name: String,
    /// Network names.
    pub source: String,
    pub target: String,
    pub schema: String,
    pub mode: SyncMode,
    /// Crontab expression, 5 fields or 6 with seconds first.
    pub schedule: Option<String>,
    pub batch_size: Option<u64>,
    pub max_failed: Option<u64>,
    pub allow_empty: Option<bool>,
    pub max_delete_percent: Option<f64>,
    /// Written as `"5m"`; see [`crate::workspace::duration`].
    pub lookback: Option<String>,
    /// This job's own hooks and webhook; each overrides the workspace's.
    pub alerts: Alerts,
    /// Where this job keeps its state; see [`Workspace::state_of`].
    pub state: Option<StateStore>,
    /// Full sync: always copy every row, never compare segments first.
    pub full_copy: Option<bool>,
    /// Key ranges a whole-table read from PostgreSQL is split into, read at
    /// once on one snapshot; `None`: DSP chooses (see `runner::key_ranges`).
    pub read_ranges: Option<u64>,
}

impl Job {
    pub fn new(
        name: impl Into<String>,
        source: impl Into<String>,
        target: impl Into<String>,
        schema: impl Into<String>,
        mode: SyncMode,
    ) -> Self {
        Job {
            name: name.into(),
            source: source.into(),
            target: target.into(),
            schema: schema.into(),
            mode,
            schedule: None,
            batch_size: None,
            max_failed: None,
            allow_empty: None,
            max_delete_percent: None,
            lookback: None,
            alerts: Alerts::default(),
            state: None,
            full_copy: None,
            read_ranges: None,
        }
    }
    pub fn batch_size(&self) -> u64 {
        self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE)
    }
    pub fn max_failed(&self) -> u64 {
        self.max_failed.unwrap_or(0)
    }
    pub fn full_copy(&self) -> bool {
        self.full_copy.unwrap_or(false)
    }
    pub fn allow_empty(&self) -> bool {
        self.allow_empty.unwrap_or(false)
    }
    pub fn max_delete_percent(&self) -> f64 {
        self.max_delete_percent
            .unwrap_or(DEFAULT_MAX_DELETE_PERCENT)
    }
    /// The lookback as a duration; a malformed value was rejected when loading.
    pub fn lookback(&self) -> Option<std::time::Duration> {
        self.lookback
            .as_deref()
            .and_then(|s| super::duration::parse(s).ok())
    }
}

/// What tells someone how a run ended: a shell command per outcome and a URL
/// that receives the run's summary as JSON. On a job, an empty string turns
/// the workspace's default off for that job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alerts {
    /// Run with `sh -c` after a run that failed or was cancelled.
    pub on_failure: Option<String>,
    /// Run with `sh -c` after a run that succeeded.
    pub on_success: Option<String>,
    /// An http(s) URL that receives every finished run's summary (POST, JSON).
    pub webhook: Option<String>,
}

impl Alerts {
    pub fn is_empty(&self) -> bool {
        self.on_failure.is_none() && self.on_success.is_none() && self.webhook.is_none()
    }
}

/// The workspace-wide `[alerts]` table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkspaceAlerts {
    pub defaults: Alerts,
    /// How long a hook may run before it is killed (a duration such as `30s`).
    pub timeout: Option<String>,
}

impl Workspace {
    /// A job's alerts: its own values, else the workspace's; empty means none.
    pub fn alerts_of(&self, job: &Job) -> Alerts {
        let pick = |own: &Option<String>, default: &Option<String>| {
            own.clone()
                .or_else(|| default.clone())
                .filter(|s| !s.trim().is_empty())
        };
        let d = &self.alerts.defaults;
        Alerts {
            on_failure: pick(&job.alerts.on_failure, &d.on_failure),
            on_success: pick(&job.alerts.on_success, &d.on_success),
            webhook: pick(&job.alerts.webhook, &d.webhook),
        }
    }

    /// How long a hook may run; the loader has checked the text.
    pub fn alert_timeout(&self) -> std::time::Duration {
        self.alerts
            .timeout
            .as_deref()
            .and_then(|t| crate::workspace::fields::alert_timeout(t).ok())
            .unwrap_or(crate::workspace::fields::DEFAULT_ALERT_TIMEOUT)
    }
}
