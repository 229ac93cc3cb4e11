//! One parser and one range per workspace field, shared by the loader (which
//! reads TOML values) and the TUI form (which reads what the operator types), so
//! that a value the form saves always loads and both give the same reason for
//! refusing one.
//!
//! Every `Err` is one sentence written to follow the field's name, as in
//! ``field `batch_size`: 0 is out of range; use 1 to 1000000``.

// The parsers of typed text (`parse_text`, `*_text`) serve the TUI's forms;
// a build without the UI has only the loader's half.
#![cfg_attr(not(feature = "tui"), allow(dead_code))]

use std::time::Duration;

use toml_edit::Value;

use super::model::{ColumnType, DEFAULT_BATCH_SIZE, DEFAULT_MAX_DELETE_PERCENT};

/// The keys a `[[network]]` entry may hold, in the order they are written.
pub const NETWORK_KEYS: [&str; 12] = [
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
    "state",
];

/// The keys a `[[schema]]` entry may hold.
pub const SCHEMA_KEYS: [&str; 6] = [
    "name",
    "source_table",
    "target_table",
    "primary_key",
    "cursor_column",
    "columns",
];

/// The keys a `[[job]]` entry may hold.
pub const JOB_KEYS: [&str; 17] = [
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
    "on_failure",
    "on_success",
    "webhook",
    "state",
    "full_copy",
    "read_ranges",
];

/// The keys of the top-level `[alerts]` table.
pub const ALERTS_KEYS: [&str; 4] = ["on_failure", "on_success", "webhook", "timeout"];

/// The keys of one column mapping.
pub(crate) const COLUMN_KEYS: [&str; 3] = ["source", "target", "type"];

/// Spellings accepted for `type`, as listed to the operator.
pub(crate) const ENGINE_OPTIONS: &str = "postgresql, mysql, mariadb, sqlite";
pub(crate) const SSL_OPTIONS: &str = "disable, prefer, require, verify-ca, verify-full";
pub(crate) const MODE_OPTIONS: &str = "full, incremental";
pub(crate) const STATE_OPTIONS: &str = "data_dir, target";

pub(crate) const REQUIRED: &str = "is required";
pub(crate) const EMPTY: &str = "must not be empty";
pub(crate) const PRIMARY_KEY_SHAPE: &str =
    "must be a column name or a list of column names, such as \"id\" or [\"org_id\", \"id\"]";
pub(crate) const NO_COLUMNS: &str = "is empty: list at least one column to copy";

/// The sentence for a choice outside its options.
pub(crate) fn not_one_of(value: &str, options: &str) -> String {
    format!("\"{value}\" is not one of {options}")
}

/// The sentence for a column type outside [`ColumnType::ALL`].
pub(crate) fn unknown_column_type(ty: &str) -> String {
    let all: Vec<&str> = ColumnType::ALL.iter().map(|t| t.as_str()).collect();
    format!("type \"{ty}\" is not one of {}", all.join(", "))
}

/// A whole-number field and the values it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whole {
    pub min: i64,
    pub max: i64,
    /// What an absent key means, for the form to show.
    pub default: Option<i64>,
}

pub const PORT: Whole = Whole {
    min: 1,
    max: 65535,
    default: None,
};
pub(crate) const BATCH_SIZE: Whole = Whole {
    min: 1,
    max: 1_000_000,
    default: Some(DEFAULT_BATCH_SIZE as i64),
};
pub(crate) const READ_RANGES: Whole = Whole {
    min: 1,
    max: 8,
    default: None,
};
pub(crate) const MAX_FAILED: Whole = Whole {
    min: 0,
    max: i64::MAX,
    default: Some(0),
};

impl Whole {
    /// The loader's check of a TOML integer.
    pub fn check(self, n: i64) -> Result<i64, String> {
        if (self.min..=self.max).contains(&n) {
            Ok(n)
        } else {
            Err(self.out_of_range(n))
        }
    }

    fn out_of_range(self, n: impl std::fmt::Display) -> String {
        format!("{n} is out of range; use {} to {}", self.min, self.max)
    }

    /// What the operator typed, read as the same number would be in the file;
    /// blank means the key is left out.
    pub(crate) fn parse_text(self, text: &str) -> Result<Option<i64>, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        match toml_value(t).as_ref().and_then(Value::as_integer) {
            Some(n) => self.check(n).map(Some),
            // Digits too many for any integer are out of range, like any other
            // number beyond the limits.
            None if is_digits(t) => Err(self.out_of_range(t)),
            None => Err(format!(
                "\"{t}\" is not a whole number; use {} to {}",
                self.min, self.max
            )),
        }
    }
}

/// Text as a TOML value, the way it would read written after `key = `.
fn toml_value(text: &str) -> Option<Value> {
    text.parse::<Value>().ok()
}

/// An optional sign and ASCII digits only.
fn is_digits(t: &str) -> bool {
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A decimal field (an integer is accepted too) and the values it allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decimal {
    pub min: f64,
    pub max: f64,
    pub default: Option<f64>,
}

pub(crate) const MAX_DELETE_PERCENT: Decimal = Decimal {
    min: 0.0,
    max: 100.0,
    default: Some(DEFAULT_MAX_DELETE_PERCENT),
};

impl Decimal {
    /// The loader's check of a TOML number.
    pub fn check(self, n: f64) -> Result<f64, String> {
        if n >= self.min && n <= self.max {
            Ok(n)
        } else {
            Err(format!(
                "{n} is out of range; use {} to {}",
                self.min, self.max
            ))
        }
    }

    /// What the operator typed; blank means the key is left out.
    pub(crate) fn parse_text(self, text: &str) -> Result<Option<f64>, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        let v = toml_value(t);
        let n = v
            .as_ref()
            .and_then(Value::as_float)
            .or_else(|| v.as_ref().and_then(Value::as_integer).map(|i| i as f64));
        match n {
            Some(n) => self.check(n).map(Some),
            None => Err(format!(
                "\"{t}\" is not a number; use {} to {}",
                self.min, self.max
            )),
        }
    }
}

/// A required text field as typed: blank is refused.
pub(crate) fn required_text(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() {
        Err(REQUIRED.into())
    } else {
        Ok(t.to_string())
    }
}

/// An optional text field as typed: blank leaves the key out.
pub(crate) fn optional_text(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// `timezone`: an IANA zone name.
pub fn timezone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.parse::<chrono_tz::Tz>().map_err(|_| {
        format!("\"{name}\" is not an IANA time zone name such as \"UTC\" or \"Europe/Berlin\"")
    })
}

/// A run that hears nothing from a server for this long gives up on it: long
/// enough for a large statement to finish, short enough that a dead network
/// does not hold a job (and its schedule) for hours.
pub(crate) const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(300);

/// `stall_timeout`: a duration of at least one second and at most a day.
pub fn stall_timeout(text: &str) -> Result<Duration, String> {
    let d = super::duration::parse(text)?;
    if d.is_zero() || d > Duration::from_secs(86_400) {
        return Err(format!("\"{}\" is out of range; use 1s to 1d", text.trim()));
    }
    Ok(d)
}

/// A hook that runs longer than this is killed: long enough for a mail or a
/// curl to a chat, short enough that a hung one does not hold `dsp run`.
pub(crate) const DEFAULT_ALERT_TIMEOUT: Duration = Duration::from_secs(30);

/// `[alerts] timeout`: how long a hook may run, at least a second and at most an hour.
pub fn alert_timeout(text: &str) -> Result<Duration, String> {
    let d = super::duration::parse(text)?;
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err(format!("\"{}\" is out of range; use 1s to 1h", text.trim()));
    }
    Ok(d)
}

/// `webhook`: an http:// or https:// URL with a host (empty turns it off).
pub fn webhook(text: &str) -> Result<(), String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(());
    }
    let rest = t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    let host = host.map(|h| h.rsplit('@').next().unwrap_or(""));
    match host {
        Some(h) if !h.is_empty() && !t.chars().any(char::is_whitespace) => Ok(()),
        Some(_) => Err("is not a URL with a host; write it as https://host/path".into()),
        None => Err(format!(
            "\"{}\" is not an http:// or https:// URL; a webhook is POSTed to over HTTP",
            crate::engine::alert::masked_url(t)
        )),
    }
}

/// `schedule`: a crontab expression, 5 fields or 6 with seconds first.
pub fn schedule(expr: &str) -> Result<(), String> {
    crate::engine::schedule::parse(expr).map(|_| ())
}

/// `lookback`: a number and a unit, such as `5m`.
pub fn lookback(text: &str) -> Result<Duration, String> {
    let d = super::duration::parse(text)?;
    // Far past any real late commit, and past it the timestamp arithmetic of
    // the read's lower bound leaves the range every engine can store.
    if d > MAX_LOOKBACK {
        return Err(format!(
            "\"{}\" is too long a lookback; use at most 3650d",
            text.trim()
        ));
    }
    Ok(d)
}

/// Ten years.
const MAX_LOOKBACK: Duration = Duration::from_secs(3650 * 86_400);

/// `primary_key` as typed: column names separated by commas.
pub(crate) fn primary_key_text(text: &str) -> Result<Vec<String>, String> {
    if text.trim().is_empty() {
        return Err(REQUIRED.into());
    }
    let names: Vec<String> = text.split(',').filter_map(optional_text).collect();
    if names.is_empty() {
        Err(PRIMARY_KEY_SHAPE.into())
    } else {
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookback_past_ten_years_is_refused() {
        assert_eq!(lookback("3650d"), Ok(Duration::from_secs(3650 * 86_400)));
        assert_eq!(
            lookback("100000000d"),
            Err("\"100000000d\" is too long a lookback; use at most 3650d".into())
        );
    }

    #[test]
    fn whole_numbers_from_text() {
        assert_eq!(BATCH_SIZE.parse_text(" 500 "), Ok(Some(500)));
        assert_eq!(BATCH_SIZE.parse_text("  "), Ok(None));
        assert_eq!(
            BATCH_SIZE.parse_text("0"),
            Err("0 is out of range; use 1 to 1000000".into())
        );
        assert_eq!(
            BATCH_SIZE.parse_text("2000000"),
            Err("2000000 is out of range; use 1 to 1000000".into())
        );
        assert_eq!(
            MAX_FAILED.parse_text("99999999999999999999"),
            Err("99999999999999999999 is out of range; use 0 to 9223372036854775807".into())
        );
        assert_eq!(
            PORT.parse_text("5432a"),
            Err("\"5432a\" is not a whole number; use 1 to 65535".into())
        );
        assert!(PORT.parse_text("-").is_err());
        // The file's own spellings of a number are accepted, and only those.
        assert_eq!(BATCH_SIZE.parse_text("1_000"), Ok(Some(1000)));
        assert_eq!(PORT.parse_text("0x10"), Ok(Some(16)));
        assert_eq!(PORT.parse_text("+5"), Ok(Some(5)));
        assert!(PORT.parse_text("5.0").is_err());
        assert!(PORT.parse_text("5 # five").is_err());
        assert!(PORT.parse_text("\"5\"").is_err());
        assert!(PORT.parse_text("٣").is_err());
    }

    #[test]
    fn decimals_from_text() {
        assert_eq!(MAX_DELETE_PERCENT.parse_text("12.5"), Ok(Some(12.5)));
        assert_eq!(
            MAX_DELETE_PERCENT.parse_text("150"),
            Err("150 is out of range; use 0 to 100".into())
        );
        assert_eq!(MAX_DELETE_PERCENT.parse_text("1e2"), Ok(Some(100.0)));
        assert_eq!(
            MAX_DELETE_PERCENT.parse_text("nan"),
            Err("NaN is out of range; use 0 to 100".into())
        );
        assert!(MAX_DELETE_PERCENT.parse_text("NaN").is_err());
        assert!(MAX_DELETE_PERCENT.parse_text("half").is_err());
    }

    #[test]
    fn primary_keys_from_text() {
        assert_eq!(
            primary_key_text("org_id, id"),
            Ok(vec!["org_id".to_string(), "id".to_string()])
        );
        assert_eq!(primary_key_text(" "), Err(REQUIRED.into()));
        assert_eq!(primary_key_text(" , "), Err(PRIMARY_KEY_SHAPE.into()));
    }
}
