//! Canonical values and conversions between engines (docs/SPEC.md §1 column types, §4 Types).
//!
//! Every dialect reads a source value as a [`Raw`] (mostly the database's own text
//! rendering, so that decimals and timestamps arrive without loss), and
//! [`convert`] turns it into the [`Value`] of the column's mapped type. Writers
//! only ever see `Value`s.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::workspace::ColumnType;

mod calendar;
pub use calendar::{Calendar, Special};
pub(crate) use calendar::{date_pg, pg_year};

/// A source value as the driver handed it over, before conversion.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bytes(Vec<u8>),
    /// A zoned timestamp a driver decoded from its binary form.
    Instant(DateTime<Utc>),
    /// A zone-less timestamp decoded from its binary form: a wall clock, read
    /// in the source's zone as its text would be.
    Wall(NaiveDateTime),
    Day(NaiveDate),
    Clock(NaiveTime),
    /// `infinity`, `-infinity` or `24:00:00`, decoded from binary.
    Special(Special),
}

impl Raw {
    /// The value as it reads in a log line (row keys, cursor values).
    pub fn display(&self) -> String {
        match self {
            Raw::Null => "NULL".into(),
            Raw::Text(s) => s.clone(),
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
            Raw::Bytes(b) => format!("0x{}", hex_encode(b)),
            Raw::Instant(t) => t.to_rfc3339(),
            Raw::Wall(t) => t.to_string(),
            Raw::Day(d) => d.to_string(),
            Raw::Clock(t) => t.to_string(),
            Raw::Special(s) => s.text().to_string(),
        }
    }
}

/// A value of one of the canonical column types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    /// Exact decimal text (`-123.4500`); never routed through a float, because
    /// `decimal(38,10)` does not fit any fixed-size Rust type.
    Decimal(String),
    Text(String),
    Bool(bool),
    /// An instant, microsecond precision.
    Timestamp(DateTime<Utc>),
    Date(NaiveDate),
    Time(NaiveTime),
    /// JSON text exactly as the source holds it.
    Json(String),
    Uuid(uuid::Uuid),
    Bytes(Vec<u8>),
    /// A date's or timestamp's `infinity`, a time's `24:00:00`: PostgreSQL
    /// stores them, no calendar type of chrono does.
    Special(Special),
}

/// How one source column converts: the mapped type plus what the source says
/// about timestamps without a zone and what the target can hold.
#[derive(Debug, Clone)]
pub struct Convert {
    pub ty: ColumnType,
    /// Zone of naive timestamps (the source network's `timezone`).
    pub tz: Tz,
    /// The source stores instants rendered in the session zone (UTC) without an
    /// offset, e.g. MySQL TIMESTAMP: read as UTC, not in `tz`.
    pub naive_is_utc: bool,
    /// Longest string the target column accepts, in characters.
    pub max_chars: Option<usize>,
    /// Longest text the target column accepts, in UTF-8 bytes (MySQL TEXT).
    pub max_bytes: Option<usize>,
    /// Smallest and largest integer the target column accepts.
    pub int_range: Option<(i64, i64)>,
    /// Digits a target decimal column keeps (PostgreSQL/MySQL would round or
    /// refuse the statement otherwise).
    pub decimal: Option<DecimalLimit>,
    /// Fraction and range a target timestamp column keeps.
    pub timestamp: Option<TimestampLimit>,
    /// The target column holds wall-clock times without a zone, in this zone
    /// (the target network's `timezone`): instants are written as its local
    /// time, as the same network's reads interpret them.
    pub write_tz: Option<Tz>,
    /// The target cannot store NaN or infinities (MySQL).
    pub finite_floats: bool,
    /// The target cannot store a NUL character in text (PostgreSQL).
    pub no_nul: bool,
    /// The source column is a 32-bit float read as double-precision text.
    pub single: bool,
    /// The target's decimals hold NaN and the infinities (PostgreSQL).
    pub special_numerics: bool,
    /// What the target's dates and times hold past the ordinary calendar.
    pub calendar: Calendar,
}

impl Convert {
    pub fn new(ty: ColumnType) -> Self {
        Convert {
            ty,
            tz: Tz::UTC,
            naive_is_utc: false,
            max_chars: None,
            max_bytes: None,
            int_range: None,
            decimal: None,
            timestamp: None,
            write_tz: None,
            finite_floats: false,
            no_nul: false,
            single: false,
            special_numerics: false,
            calendar: Calendar::default(),
        }
    }
}

/// A `decimal(precision, scale)` target column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalLimit {
    pub precision: u32,
    pub scale: u32,
    pub unsigned: bool,
}

impl DecimalLimit {
    /// `numeric(10,2)`, `decimal(10,2) unsigned`; `None` for an unconstrained
    /// numeric or a form whose rounding rules differ (negative scale, or a
    /// scale above the precision).
    pub fn parse(type_name: &str) -> Option<Self> {
        let t = type_name.trim().to_ascii_lowercase();
        let rest = t
            .strip_prefix("numeric")
            .or_else(|| t.strip_prefix("decimal"))?;
        let (args, after) = rest.strip_prefix('(')?.split_once(')')?;
        let (p, s) = args.split_once(',').unwrap_or((args, "0"));
        let precision: u32 = p.trim().parse().ok()?;
        let scale: u32 = s.trim().parse().ok()?;
        if scale > precision {
            return None;
        }
        Some(DecimalLimit {
            precision,
            scale,
            unsigned: after.contains("unsigned"),
        })
    }

    /// Whether the exact decimal text `s` is stored without rounding.
    pub fn check(&self, s: &str) -> Result<(), String> {
        let d = DecimalText::parse(s.trim());
        // A value of a thousand digits is named by its first ones: the log
        // line is for a person.
        let t = clip(s.trim());
        let d = d.ok_or_else(|| format!("{t} is out of range for a decimal"))?;
        let Some((_, sig_len, point)) = d.significant() else {
            return Ok(());
        };
        // Digits left of the point, and right of it, once zeros are trimmed.
        let int_digits = point.max(0);
        let frac_digits = (sig_len as i64 - point).max(0);
        let kind = || format!("decimal({},{})", self.precision, self.scale);
        if frac_digits > i64::from(self.scale) {
            return Err(format!(
                "{t} has {frac_digits} decimal places; the target column is {} and would round it",
                kind()
            ));
        }
        if int_digits > i64::from(self.precision - self.scale) {
            return Err(format!(
                "{t} is too large for the target column's {}",
                kind()
            ));
        }
        if self.unsigned && d.negative {
            return Err(format!(
                "{t} is negative; the target column is {} unsigned",
                kind()
            ));
        }
        Ok(())
    }
}

/// A decimal text (`-12.50`, `1.5e2`, as `is_decimal_text` accepts) taken
/// apart without allocating: the target-limit check and PostgreSQL's binary
/// numeric both work on its digits, for every decimal value of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecimalText<'a> {
    pub negative: bool,
    /// Digits before the point, as written.
    pub int: &'a str,
    /// Digits after the point, as written.
    pub frac: &'a str,
    pub exp: i64,
}

impl<'a> DecimalText<'a> {
    /// `None` when there is no exponent after an `e`, or it does not fit an `i64`.
    pub fn parse(t: &'a str) -> Option<Self> {
        let negative = t.starts_with('-');
        let body = t.strip_prefix(['+', '-']).unwrap_or(t);
        let (mant, exp) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], body[i + 1..].parse::<i64>().ok()?),
            None => (body, 0),
        };
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        Some(DecimalText {
            negative,
            int,
            frac,
            exp,
        })
    }

    /// The digits of `int` then `frac`, as numbers 0-9.
    pub fn digits(&self) -> impl DoubleEndedIterator<Item = u8> + 'a {
        self.int.bytes().chain(self.frac.bytes()).map(|b| b - b'0')
    }

    /// Where the significant digits start in `digits()`, how many there are,
    /// and the power of ten their point stands at (the value is
    /// 0.d1d2... x 10^point); `None` for zero.
    pub(crate) fn significant(&self) -> Option<(usize, usize, i64)> {
        let total = self.int.len() + self.frac.len();
        let lead = self.digits().take_while(|&d| d == 0).count();
        if lead == total {
            return None;
        }
        let trail = self.digits().rev().take_while(|&d| d == 0).count();
        let point = self.int.len() as i64 + self.exp - lead as i64;
        Some((lead, total - lead - trail, point))
    }
}

/// What an existing target timestamp column keeps: PostgreSQL and MySQL
/// round or cut the fraction silently, and MySQL refuses the whole statement
/// for a value outside its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampLimit {
    /// Fractional-second digits kept, 0 to 6.
    pub fsp: u32,
    /// The instants the column holds, inclusive.
    pub range: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl TimestampLimit {
    /// From the column's type name: `timestamp(0) with time zone`,
    /// `datetime`, `timestamp(3)`. MySQL's fraction defaults to 0 digits,
    /// PostgreSQL's to 6. `None` when the column keeps every value.
    pub fn parse(type_name: &str, mysql: bool) -> Option<Self> {
        let t = type_name.trim().to_ascii_lowercase();
        let timestamp = t.starts_with("timestamp");
        if !timestamp && !t.starts_with("datetime") {
            return None;
        }
        let fsp: u32 = match t.split_once('(') {
            Some((_, rest)) => rest.split(')').next()?.trim().parse().ok()?,
            None if mysql => 0,
            None => 6,
        };
        let at = |secs: i64, micros: u32| DateTime::from_timestamp(secs, micros * 1000);
        let range = match (mysql, timestamp) {
            // TIMESTAMP: 1970-01-01 00:00:01 to 2038-01-19 03:14:07.999999 UTC.
            (true, true) => Some((at(1, 0)?, at(i64::from(i32::MAX), 999_999)?)),
            // DATETIME: years 1 to 9999.
            (true, false) => Some((at(-62_135_596_800, 0)?, at(253_402_300_799, 999_999)?)),
            (false, _) => None,
        };
        if fsp >= 6 && range.is_none() {
            return None;
        }
        Some(TimestampLimit {
            fsp: fsp.min(6),
            range,
        })
    }

    /// Whether `t` is stored as it is.
    pub fn check(&self, t: &DateTime<Utc>) -> Result<(), String> {
        let shown = || t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let unit = 10u32.pow(6 - self.fsp);
        if !t.timestamp_subsec_micros().is_multiple_of(unit)
            || !t.timestamp_subsec_nanos().is_multiple_of(1000)
        {
            return Err(format!(
                "{} has more fractional digits than the target column keeps ({}); widen the column (e.g. to 6 digits)",
                shown(),
                self.fsp
            ));
        }
        if let Some((lo, hi)) = self.range
            && (*t < lo || *t > hi)
        {
            return Err(format!(
                "{} is outside what the target column can hold ({} to {})",
                shown(),
                lo.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                hi.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        Ok(())
    }
}

/// Parses an IANA zone name; the workspace loader rejects bad names, but a
/// workspace built in code may still carry one.
pub(crate) fn parse_tz(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!("\"{name}\" is not a known time zone; use an IANA name such as \"Europe/Berlin\"")
    })
}

/// Converts a source value to the mapped canonical type, or says why it cannot.
pub(crate) fn convert(raw: Raw, c: &Convert) -> Result<Value, String> {
    if raw == Raw::Null {
        return Ok(Value::Null);
    }
    let raw = if c.single { single_text(raw) } else { raw };
    let v = match c.ty {
        ColumnType::Integer => match to_int(raw)? {
            Value::Int(i) if c.int_range.is_some_and(|(lo, hi)| i < lo || i > hi) => {
                let (lo, hi) = c.int_range.unwrap_or_default();
                return Err(format!(
                    "{i} is outside the target column's range {lo} to {hi}"
                ));
            }
            // An integer into a decimal(p,0) column.
            Value::Int(i) if c.decimal.is_some() => {
                if let Some(limit) = c.decimal {
                    limit.check(&i.to_string())?;
                }
                Value::Int(i)
            }
            v => v,
        },
        ColumnType::Float => match to_float(raw)? {
            Value::Float(f) if c.finite_floats && !f.is_finite() => {
                return Err(format!("{f} cannot be stored by the target database"));
            }
            v => v,
        },
        ColumnType::Decimal => decimal_for(raw, c)?,
        ColumnType::String => {
            let s = match raw {
                Raw::Text(s) => s,
                Raw::Int(i) => i.to_string(),
                Raw::Float(f) => f.to_string(),
                Raw::Bytes(b) => String::from_utf8(b)
                    .map_err(|_| "binary value is not valid UTF-8 text".to_string())?,
                Raw::Null => return Ok(Value::Null),
                other => return Err(cannot(&other, "text")),
            };
            check_text(&s, c)?;
            Value::Text(s)
        }
        ColumnType::Boolean => to_bool(raw)?,
        ColumnType::Timestamp => timestamp_for(raw, c)?,
        ColumnType::Date => match raw {
            Raw::Day(d) => {
                c.calendar.check_year(d, c.ty)?;
                Value::Date(d)
            }
            Raw::Special(sp) => Value::Special(c.calendar.special(sp, c.ty)?),
            Raw::Text(s) => match parse_date(&s) {
                Ok(d) => {
                    c.calendar.check_year(d, c.ty)?;
                    Value::Date(d)
                }
                Err(why) => match Special::infinity(&s) {
                    Some(sp) => Value::Special(c.calendar.special(sp, c.ty)?),
                    None => return Err(why),
                },
            },
            other => return Err(cannot(&other, "a date")),
        },
        ColumnType::Time => match raw {
            Raw::Clock(t) => Value::Time(t),
            Raw::Special(sp) => Value::Special(c.calendar.special(sp, c.ty)?),
            Raw::Text(s) => match parse_time(&s) {
                Ok(t) => Value::Time(t),
                Err(why) => match Special::end_of_day(&s) {
                    Some(sp) => Value::Special(c.calendar.special(sp, c.ty)?),
                    None => return Err(why),
                },
            },
            other => return Err(cannot(&other, "a time")),
        },
        ColumnType::Json => {
            let s = match raw {
                Raw::Text(s) => s,
                Raw::Int(i) => i.to_string(),
                Raw::Float(f) => f.to_string(),
                Raw::Bytes(b) => String::from_utf8(b)
                    .map_err(|_| "binary value is not valid UTF-8 JSON".to_string())?,
                Raw::Null => return Ok(Value::Null),
                other => return Err(cannot(&other, "JSON")),
            };
            if serde_json::from_str::<serde::de::IgnoredAny>(&s).is_err() {
                return Err(format!("\"{}\" is not valid JSON", clip(&s)));
            }
            check_text(&s, c)?;
            Value::Json(s)
        }
        ColumnType::Uuid => match raw {
            Raw::Text(s) => Value::Uuid(
                uuid::Uuid::parse_str(s.trim())
                    .map_err(|_| format!("\"{}\" is not a UUID", clip(&s)))?,
            ),
            Raw::Bytes(b) if b.len() == 16 => {
                Value::Uuid(uuid::Uuid::from_slice(&b).map_err(|e| e.to_string())?)
            }
            other => return Err(cannot(&other, "a UUID")),
        },
        ColumnType::Bytes => match raw {
            Raw::Bytes(b) => Value::Bytes(b),
            Raw::Text(s) => Value::Bytes(s.into_bytes()),
            other => return Err(cannot(&other, "bytes")),
        },
    };
    Ok(v)
}

/// A timestamp the target column can hold as it is, or why not.
fn timestamp_for(raw: Raw, c: &Convert) -> Result<Value, String> {
    if let Raw::Special(sp) = raw {
        return Ok(Value::Special(c.calendar.special(sp, c.ty)?));
    }
    let mut t = match to_timestamp(&raw, c) {
        Ok(t) => t,
        Err(why) => {
            return match &raw {
                Raw::Text(s) => match Special::infinity(s) {
                    Some(sp) => Ok(Value::Special(c.calendar.special(sp, c.ty)?)),
                    None => Err(why),
                },
                _ => Err(why),
            };
        }
    };
    c.calendar.check_year(t.naive_utc().date(), c.ty)?;
    if let Some(tz) = c.write_tz {
        // Writers spell a value's UTC wall clock; give them the zone's.
        t = t.with_timezone(&tz).naive_local().and_utc();
    }
    if let Some(limit) = c.timestamp {
        limit.check(&t)?;
    }
    Ok(Value::Timestamp(t))
}

/// What the target column can hold of a text.
fn check_text(s: &str, c: &Convert) -> Result<(), String> {
    if let Some(max) = c.max_chars {
        let n = s.chars().count();
        if n > max {
            return Err(format!(
                "text of {n} characters is longer than the target column's {max}"
            ));
        }
    }
    if let Some(max) = c.max_bytes
        && s.len() > max
    {
        return Err(format!(
            "text of {} bytes is longer than the target column's {max}",
            s.len()
        ));
    }
    if c.no_nul && s.contains('\0') {
        return Err("text contains a NUL character, which the target database cannot store".into());
    }
    Ok(())
}

/// A 32-bit float read as the exact double text of its value
/// (`1.0000001192092896`), as the shortest text that reads back as the same
/// single (`1.0000001`): the number an operator stored.
fn single_text(raw: Raw) -> Raw {
    match raw {
        Raw::Text(t) => match t.trim().parse::<f64>() {
            Ok(d) if d.is_finite() => Raw::Text((d as f32).to_string()),
            _ => Raw::Text(t),
        },
        Raw::Float(d) if d.is_finite() => Raw::Text((d as f32).to_string()),
        other => other,
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 60 {
        let head: String = s.chars().take(57).collect();
        format!("{head}...")
    } else {
        s.to_string()
    }
}

fn cannot(raw: &Raw, what: &str) -> String {
    format!("\"{}\" cannot be read as {what}", clip(&raw.display()))
}

fn to_int(raw: Raw) -> Result<Value, String> {
    match raw {
        Raw::Int(i) => Ok(Value::Int(i)),
        Raw::Float(f) => {
            if f.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f)
            {
                Ok(Value::Int(f as i64))
            } else {
                Err(format!("{f} is not a 64-bit integer"))
            }
        }
        Raw::Text(s) => {
            let t = s.trim();
            if let Ok(i) = t.parse::<i64>() {
                return Ok(Value::Int(i));
            }
            // `12.000` (a decimal column holding whole numbers) is still an integer.
            if is_decimal_text(t)
                && let Some((int, frac)) = t.split_once('.')
                && frac.chars().all(|c| c == '0')
                && !t.contains(['e', 'E'])
                && let Ok(i) = int.parse::<i64>()
            {
                return Ok(Value::Int(i));
            }
            if is_decimal_text(t) && !t.contains('.') {
                return Err(format!(
                    "{t} does not fit a 64-bit signed integer; map the column as decimal"
                ));
            }
            Err(format!("\"{}\" is not an integer", clip(&s)))
        }
        other => Err(cannot(&other, "an integer")),
    }
}

fn to_float(raw: Raw) -> Result<Value, String> {
    match raw {
        Raw::Int(i) => Ok(Value::Float(i as f64)),
        Raw::Float(f) => Ok(Value::Float(f)),
        Raw::Text(s) => {
            let t = s.trim();
            let f = match t.to_ascii_lowercase().as_str() {
                "nan" => f64::NAN,
                "infinity" | "inf" | "+infinity" => f64::INFINITY,
                "-infinity" | "-inf" => f64::NEG_INFINITY,
                _ => t
                    .parse::<f64>()
                    .map_err(|_| format!("\"{}\" is not a number", clip(&s)))?,
            };
            Ok(Value::Float(f))
        }
        other => Err(cannot(&other, "a number")),
    }
}

/// `-12`, `3.50`, `.5`, `1e-3`: what every engine accepts as an exact decimal.
pub(crate) fn is_decimal_text(s: &str) -> bool {
    let digits = |x: &str| x.bytes().all(|c| c.is_ascii_digit());
    // An exponent too large for an i64 is not a number any target stores.
    DecimalText::parse(s).is_some_and(|d| {
        digits(d.int) && digits(d.frac) && !(d.int.is_empty() && d.frac.is_empty())
    })
}

/// A decimal the target column can hold as it is, or why not.
fn decimal_for(raw: Raw, c: &Convert) -> Result<Value, String> {
    if let Some(s) = special_numeric(&raw) {
        if !c.special_numerics {
            return Err(format!("{s} cannot be stored by the target database"));
        }
        if s != "NaN"
            && let Some(limit) = c.decimal
        {
            return Err(format!(
                "{s} does not fit the target column's decimal({},{}); only an unconstrained numeric holds it",
                limit.precision, limit.scale
            ));
        }
        return Ok(Value::Decimal(s.to_string()));
    }
    let v = to_decimal(raw)?;
    if let (Some(limit), Value::Decimal(s)) = (c.decimal, &v) {
        limit.check(s)?;
    }
    Ok(v)
}

/// PostgreSQL's numeric NaN and infinities, as its text output spells them.
fn special_numeric(raw: &Raw) -> Option<&'static str> {
    match raw {
        Raw::Text(t) => match t.trim() {
            "NaN" => Some("NaN"),
            "Infinity" => Some("Infinity"),
            "-Infinity" => Some("-Infinity"),
            _ => None,
        },
        _ => None,
    }
}

fn to_decimal(raw: Raw) -> Result<Value, String> {
    match raw {
        Raw::Int(i) => Ok(Value::Decimal(i.to_string())),
        Raw::Float(f) if f.is_finite() => Ok(Value::Decimal(f.to_string())),
        Raw::Text(s) => {
            let t = s.trim();
            if is_decimal_text(t) {
                Ok(Value::Decimal(t.to_string()))
            } else {
                Err(format!("\"{}\" is not a decimal number", clip(&s)))
            }
        }
        other => Err(cannot(&other, "a decimal number")),
    }
}

fn to_bool(raw: Raw) -> Result<Value, String> {
    match raw {
        Raw::Int(i) => Ok(Value::Bool(i != 0)),
        Raw::Float(f) => Ok(Value::Bool(f != 0.0)),
        Raw::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "1" | "y" | "yes" | "on" => Ok(Value::Bool(true)),
            "f" | "false" | "0" | "n" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("\"{}\" is not a boolean", clip(&s))),
        },
        Raw::Bytes(b) if b.len() == 1 => Ok(Value::Bool(b[0] != 0)),
        other => Err(cannot(&other, "a boolean")),
    }
}

fn to_timestamp(raw: &Raw, c: &Convert) -> Result<DateTime<Utc>, String> {
    match *raw {
        // Numbers in a timestamp column are Unix seconds (SQLite's usual choice).
        Raw::Int(i) => DateTime::from_timestamp(i, 0)
            .ok_or_else(|| format!("{i} is out of range for a timestamp")),
        Raw::Float(f) => {
            let secs = f.floor();
            let micros = ((f - secs) * 1e6).round() as u32;
            DateTime::from_timestamp(secs as i64, micros * 1000)
                .ok_or_else(|| format!("{f} is out of range for a timestamp"))
        }
        Raw::Text(ref s) => parse_timestamp(s, if c.naive_is_utc { Tz::UTC } else { c.tz }),
        Raw::Instant(t) => Ok(t),
        Raw::Wall(n) => in_zone(
            n,
            if c.naive_is_utc { Tz::UTC } else { c.tz },
            &n.to_string(),
        ),
        ref other => Err(cannot(other, "a timestamp")),
    }
}

/// Parses the timestamp spellings of all three engines, and PostgreSQL's
/// years before Christ and after 9999; one without an offset is read in `tz`.
pub(crate) fn parse_timestamp(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let t = s.trim();
    let parts = match fast_timestamp(t) {
        Some(parts) => Some(parts),
        None => match calendar::far_year(t) {
            // The rest of the text parsed in year 2000, then moved to its own
            // year before an offset or zone applies (both depend on the date).
            Some((shifted, year)) => general_timestamp(&shifted)
                .and_then(|(naive, offset)| Some((naive.with_year(year)?, offset))),
            None => general_timestamp(t),
        },
    };
    let (naive, offset) = parts.ok_or_else(|| format!("\"{}\" is not a timestamp", clip(s)))?;
    match offset {
        Some(secs) => Ok(DateTime::<Utc>::from_naive_utc_and_offset(
            naive - chrono::Duration::seconds(i64::from(secs)),
            Utc,
        )),
        None => in_zone(naive, tz, s),
    }
}

/// The wall-clock time and the offset (seconds east of UTC), if written, of
/// the timestamp spellings `fast_timestamp` leaves to chrono.
fn general_timestamp(t: &str) -> Option<(NaiveDateTime, Option<i32>)> {
    if let Some(parts) = fast_timestamp(t) {
        return Some(parts);
    }
    let mut norm = t.to_string();
    if norm.len() > 10 && norm.as_bytes()[10] == b'T' {
        norm.replace_range(10..11, " ");
    }
    if let Some(stripped) = norm.strip_suffix(['Z', 'z']) {
        norm = format!("{stripped}+00:00");
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f %#z"] {
        if let Ok(dt) = DateTime::parse_from_str(&norm, f) {
            return Some((dt.naive_local(), Some(dt.offset().local_minus_utc())));
        }
    }
    let naive = NaiveDateTime::parse_from_str(&norm, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(&norm, "%Y-%m-%d %H:%M"))
        .or_else(|_| {
            NaiveDate::parse_from_str(&norm, "%Y-%m-%d").map(|d| d.and_time(NaiveTime::MIN))
        })
        .ok()?;
    Some((naive, None))
}

/// A wall-clock time in `tz` as an instant.
fn in_zone(naive: NaiveDateTime, tz: Tz, s: &str) -> Result<DateTime<Utc>, String> {
    if tz == Tz::UTC {
        return Ok(DateTime::<Utc>::from_naive_utc_and_offset(naive, Utc));
    }
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(dt) => Ok(dt.with_timezone(&Utc)),
        // A wall-clock time that happens twice (clocks going back): the first.
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
        chrono::LocalResult::None => Err(format!(
            "\"{}\" does not exist in time zone {tz} (skipped by a daylight-saving change)",
            clip(s)
        )),
    }
}

/// `2024-07-01`, and PostgreSQL's `0044-03-15 BC` and `12000-01-01`.
pub(crate) fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let t = s.trim();
    let ymd = |t: &str| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok();
    // The common form first: a far year is rare.
    let date = ymd(t).or_else(|| {
        let (shifted, year) = calendar::far_year(t)?;
        ymd(&shifted)?.with_year(year)
    });
    date.ok_or_else(|| format!("\"{}\" is not a date", clip(s)))
}

pub(crate) fn parse_time(s: &str) -> Result<NaiveTime, String> {
    let t = s.trim();
    NaiveTime::parse_from_str(t, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
        .map_err(|_| format!("\"{}\" is not a time of day", clip(s)))
}

pub(crate) fn hex_encode(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 15) as usize] as char);
    }
    s
}

pub(crate) fn hex_decode(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return Err("binary value has an odd number of hex digits".into());
    }
    let val = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err("binary value is not hex".to_string()),
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Ok(val(p[0])? << 4 | val(p[1])?))
        .collect()
}

/// Timestamp text for the writers: UTC, always six fractional digits so that
/// text comparisons (SQLite) order like instants. Hand-written: chrono's
/// formatter was a third of a large run's CPU time.
pub(crate) fn ts_text(t: &DateTime<Utc>, sep: char, suffix: &str) -> String {
    use chrono::Timelike;
    let n = t.naive_utc();
    let year = n.year();
    if !(0..=9999).contains(&year) {
        return format!(
            "{}{sep}{}{suffix}",
            n.format("%Y-%m-%d"),
            n.format("%H:%M:%S%.6f")
        );
    }
    let mut out = String::with_capacity(26 + suffix.len());
    push_date(&mut out, &n.date());
    out.push(sep);
    // A leap second shows as nanoseconds >= 1e9; keep it within the field.
    push_clock(&mut out, &n.time(), (n.nanosecond() / 1000).min(999_999));
    out.push_str(suffix);
    out
}

/// `YYYY-MM-DD` of a year within 0..=9999.
fn push_date(out: &mut String, d: &NaiveDate) {
    push_digits(out, d.year() as u32, 4);
    out.push('-');
    push_digits(out, d.month(), 2);
    out.push('-');
    push_digits(out, d.day(), 2);
}

/// `HH:MM:SS.ffffff`, with `micros` as the fraction.
fn push_clock(out: &mut String, t: &NaiveTime, micros: u32) {
    use chrono::Timelike;
    push_digits(out, t.hour(), 2);
    out.push(':');
    push_digits(out, t.minute(), 2);
    out.push(':');
    push_digits(out, t.second(), 2);
    out.push('.');
    push_digits(out, micros, 6);
}

fn push_digits(out: &mut String, v: u32, width: u32) {
    let mut div = 10u32.pow(width - 1);
    while div > 0 {
        out.push(char::from(b'0' + ((v / div) % 10) as u8));
        div /= 10;
    }
}

/// The common timestamp shapes, parsed without chrono's format machinery:
/// `YYYY-MM-DD[ T]HH:MM:SS[.f][Z|+HH[:MM]]`. `None` means "not this shape"
/// (the general parser then decides); `Some(offset)` is the offset in seconds
/// if one was written.
fn fast_timestamp(s: &str) -> Option<(NaiveDateTime, Option<i32>)> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b' ' || b[10] == b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut nanos = 0u32;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = num(start..i)? * 10u32.pow((9 - digits) as u32);
    }
    let time = NaiveTime::from_hms_nano_opt(h, mi, sec, nanos)?;
    let rest = &s[i..];
    let offset = match rest {
        "" => None,
        "Z" | "z" | "+00" | "+00:00" | "-00" | "-00:00" => Some(0),
        _ => {
            let rb = rest.as_bytes();
            let sign = match rb[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let body = &rest[1..];
            let (hh, mm) = match body.len() {
                2 => (body.parse::<i32>().ok()?, 0),
                4 => (
                    body[..2].parse::<i32>().ok()?,
                    body[2..].parse::<i32>().ok()?,
                ),
                5 if body.as_bytes()[2] == b':' => (
                    body[..2].parse::<i32>().ok()?,
                    body[3..].parse::<i32>().ok()?,
                ),
                _ => return None,
            };
            Some(sign * (hh * 3600 + mm * 60))
        }
    };
    Some((NaiveDateTime::new(date, time), offset))
}

/// `HH:MM:SS.ffffff`, as chrono's `%H:%M:%S%.6f` prints it (which a leap
/// second is left to).
pub(crate) fn time_text(t: &NaiveTime) -> String {
    use chrono::Timelike;
    if t.nanosecond() >= 1_000_000_000 {
        return t.format("%H:%M:%S%.6f").to_string();
    }
    let mut out = String::with_capacity(15);
    push_clock(&mut out, t, t.nanosecond() / 1000);
    out
}

/// `YYYY-MM-DD`, as chrono's `%Y-%m-%d` prints it (which years past four
/// digits, or before year 0, are left to).
pub(crate) fn date_text(d: &NaiveDate) -> String {
    let year = d.year();
    if !(0..=9999).contains(&year) {
        return d.format("%Y-%m-%d").to_string();
    }
    let mut out = String::with_capacity(10);
    push_date(&mut out, d);
    out
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, exactly as chrono's
/// `%Y-%m-%d %H:%M:%S%.6f` prints it (`ts_text` keeps a leap second within
/// the field; this one leaves it to chrono).
pub(crate) fn instant_text(t: &DateTime<Utc>) -> String {
    use chrono::Timelike;
    if t.nanosecond() >= 1_000_000_000 {
        return t.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    }
    ts_text(t, ' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(raw: Raw, ty: ColumnType) -> Result<Value, String> {
        convert(raw, &Convert::new(ty))
    }

    #[test]
    fn a_failing_decimal_is_named_by_its_first_digits() {
        let limit = DecimalLimit::parse("decimal(10,2)").unwrap();
        let huge = "9".repeat(1100);
        let e = limit.check(&huge).unwrap_err();
        assert!(e.len() < 200, "{} characters: {e}", e.len());
        assert!(e.starts_with("99999") && e.contains("..."), "{e}");
    }

    #[test]
    fn integers_and_decimals_are_exact() {
        assert_eq!(
            conv(Raw::Text("42".into()), ColumnType::Integer),
            Ok(Value::Int(42))
        );
        assert_eq!(
            conv(Raw::Text("12.000".into()), ColumnType::Integer),
            Ok(Value::Int(12))
        );
        let e = conv(
            Raw::Text("18446744073709551615".into()),
            ColumnType::Integer,
        )
        .unwrap_err();
        assert!(e.contains("map the column as decimal"), "{e}");
        assert!(conv(Raw::Text("abc".into()), ColumnType::Integer).is_err());
        let big = "1234567890123456789012345678.0123456789";
        assert_eq!(
            conv(Raw::Text(big.into()), ColumnType::Decimal),
            Ok(Value::Decimal(big.into()))
        );
        assert!(conv(Raw::Text("NaN".into()), ColumnType::Decimal).is_err());
    }

    #[test]
    fn timestamps_read_in_the_network_zone() {
        let mut c = Convert::new(ColumnType::Timestamp);
        c.tz = parse_tz("Europe/Berlin").unwrap();
        let v = convert(Raw::Text("2024-07-01 12:00:00.123456".into()), &c).unwrap();
        assert_eq!(
            v,
            Value::Timestamp("2024-07-01T10:00:00.123456Z".parse().unwrap())
        );
        let v = convert(Raw::Text("2024-07-01 12:00:00+00".into()), &c).unwrap();
        assert_eq!(v, Value::Timestamp("2024-07-01T12:00:00Z".parse().unwrap()));
        let v = convert(Raw::Text("2024-07-01T12:00:00Z".into()), &c).unwrap();
        assert_eq!(v, Value::Timestamp("2024-07-01T12:00:00Z".parse().unwrap()));
        c.naive_is_utc = true;
        let v = convert(Raw::Text("2024-07-01 12:00:00".into()), &c).unwrap();
        assert_eq!(v, Value::Timestamp("2024-07-01T12:00:00Z".parse().unwrap()));
    }

    #[test]
    fn fast_paths_agree_with_chrono() {
        let utc = Tz::UTC;
        for (text, want) in [
            ("2024-07-01 12:00:00", "2024-07-01T12:00:00Z"),
            ("2024-07-01T12:00:00.5Z", "2024-07-01T12:00:00.5Z"),
            (
                "2024-07-01 12:00:00.123456+02",
                "2024-07-01T10:00:00.123456Z",
            ),
            ("2024-07-01 12:00:00-05:30", "2024-07-01T17:30:00Z"),
            ("2024-07-01 12:00:00+0100", "2024-07-01T11:00:00Z"),
            ("2024-07-01", "2024-07-01T00:00:00Z"),
        ] {
            let got = parse_timestamp(text, utc).unwrap();
            assert_eq!(got, want.parse::<DateTime<Utc>>().unwrap(), "{text}");
        }
        assert!(parse_timestamp("2024-02-30 00:00:00", utc).is_err());
        let t: DateTime<Utc> = "2024-07-01T02:03:04.000005Z".parse().unwrap();
        assert_eq!(ts_text(&t, ' ', "+00"), "2024-07-01 02:03:04.000005+00");
        assert_eq!(ts_text(&t, 'T', "Z"), "2024-07-01T02:03:04.000005Z");
    }

    #[test]
    fn postgres_far_years_and_specials_are_read() {
        let utc = Tz::UTC;
        let at = |y, mo, d, h, mi, s, us| {
            NaiveDate::from_ymd_opt(y, mo, d)
                .and_then(|d| d.and_hms_micro_opt(h, mi, s, us))
                .unwrap()
                .and_utc()
        };
        for (text, want) in [
            ("0044-03-15 12:00:00+00 BC", at(-43, 3, 15, 12, 0, 0, 0)),
            (
                "0044-03-15 12:00:00.5 BC",
                at(-43, 3, 15, 12, 0, 0, 500_000),
            ),
            ("0001-01-01 00:00:00 BC", at(0, 1, 1, 0, 0, 0, 0)),
            ("12000-01-01 00:00:00+00", at(12000, 1, 1, 0, 0, 0, 0)),
            ("12000-02-29 01:00:00-02", at(12000, 2, 29, 3, 0, 0, 0)),
            ("-0043-03-15T12:00:00.000000Z", at(-43, 3, 15, 12, 0, 0, 0)),
            ("+12000-01-01T00:00:00.000000Z", at(12000, 1, 1, 0, 0, 0, 0)),
        ] {
            assert_eq!(parse_timestamp(text, utc), Ok(want), "{text}");
        }
        // 1 BC (year 0) was a leap year, 2 BC not.
        assert!(parse_timestamp("0001-02-29 00:00:00 BC", utc).is_ok());
        assert!(parse_timestamp("0002-02-29 00:00:00 BC", utc).is_err());
        // A zone applies to the date in its own year (Berlin's 1800 LMT).
        let berlin = parse_tz("Europe/Berlin").unwrap();
        assert_eq!(
            parse_timestamp("1800-01-01 00:00:00", berlin),
            Ok(at(1799, 12, 31, 23, 6, 32, 0))
        );
        assert_eq!(
            parse_date("0044-03-15 BC"),
            Ok(NaiveDate::from_ymd_opt(-43, 3, 15).unwrap())
        );
        assert_eq!(
            parse_date("+12000-01-01"),
            Ok(NaiveDate::from_ymd_opt(12000, 1, 1).unwrap())
        );

        let mut c = Convert::new(ColumnType::Timestamp);
        let e = convert(Raw::Text("infinity".into()), &c).unwrap_err();
        assert_eq!(
            e,
            "timestamp infinity (after every date) has no equivalent in the target database"
        );
        c.calendar.infinities = true;
        assert_eq!(
            convert(Raw::Text("-infinity".into()), &c),
            Ok(Value::Special(Special::NegInfinity))
        );
        let mut c = Convert::new(ColumnType::Time);
        assert!(convert(Raw::Text("24:00:00".into()), &c).is_err());
        c.calendar.end_of_day = true;
        assert_eq!(
            convert(Raw::Text("24:00:00".into()), &c),
            Ok(Value::Special(Special::EndOfDay))
        );
        assert!(convert(Raw::Text("24:00:01".into()), &c).is_err());
    }

    #[test]
    fn strings_respect_the_target_length() {
        let mut c = Convert::new(ColumnType::String);
        c.max_chars = Some(3);
        assert!(convert(Raw::Text("äöü".into()), &c).is_ok());
        assert!(convert(Raw::Text("abcd".into()), &c).is_err());
    }

    #[test]
    fn booleans_json_and_bytes() {
        assert_eq!(
            conv(Raw::Text("1".into()), ColumnType::Boolean),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            conv(Raw::Text("f".into()), ColumnType::Boolean),
            Ok(Value::Bool(false))
        );
        assert!(conv(Raw::Text("{\"a\":".into()), ColumnType::Json).is_err());
        assert_eq!(
            hex_decode(&hex_encode(&[0, 255, 16])).unwrap(),
            vec![0, 255, 16]
        );
    }

    #[test]
    fn decimal_limits_refuse_what_the_column_would_round() {
        let p = |t| DecimalLimit::parse(t);
        let l = p("numeric(10,2)").unwrap();
        assert_eq!((l.precision, l.scale, l.unsigned), (10, 2, false));
        assert!(p("decimal(10,2) unsigned").unwrap().unsigned);
        assert_eq!(p("numeric(5)").map(|l| l.scale), Some(0));
        assert_eq!(p("numeric"), None);
        assert_eq!(p("numeric(3,5)"), None);
        assert_eq!(p("numeric(2,-3)"), None);
        assert_eq!(p("text"), None);
        for ok in [
            "1.23",
            "1.2300000",
            "-99999999.99",
            "99999999",
            "0",
            "0.000",
            "-0.00",
            "1.5e2",
            "12345678.9e-1",
            "00012.50",
        ] {
            assert_eq!(l.check(ok), Ok(()), "{ok}");
        }
        for bad in ["1.005", "100000000", "0.001", "1e-3", "1e8", "-123456789.1"] {
            assert!(l.check(bad).is_err(), "{bad}");
        }
        let u = p("decimal(10,2) unsigned").unwrap();
        assert!(u.check("-1").is_err());
        assert_eq!(u.check("-0.00"), Ok(()));
    }

    #[test]
    fn decimal_texts_are_plain_or_exponent_numbers() {
        for ok in ["0", "-1", "+1.5", ".5", "5.", "1e3", "1.5E-3", "-2e+4"] {
            assert!(is_decimal_text(ok), "{ok}");
        }
        // An exponent past i64 is no number a target stores; it used to pass
        // here and be read as exponent 0 by the target-limit check.
        for bad in [
            "",
            "+",
            ".",
            "+-1",
            "--1",
            "1e",
            "1e+",
            "1.2.3",
            "1,5",
            "NaN",
            "1e99999999999999999999",
        ] {
            assert!(!is_decimal_text(bad), "{bad}");
        }
    }

    /// The hand-written texts print what chrono's formats print, at the
    /// edges too: year 0 and 9999, years chrono signs, microsecond
    /// truncation of nanoseconds, a leap second.
    #[test]
    fn hand_written_date_and_time_texts_equal_chronos() {
        use chrono::{NaiveDate, NaiveTime, TimeZone};
        let dates = [
            (0, 1, 1),
            (1, 2, 3),
            (999, 12, 31),
            (2024, 2, 29),
            (9999, 12, 31),
            (10000, 1, 1),
            (-1, 6, 15),
        ];
        let times = [
            (0, 0, 0, 0),
            (23, 59, 59, 999_999_999),
            (12, 34, 56, 1_000),
            (1, 2, 3, 999),
            (23, 59, 59, 1_500_000_000),
        ];
        for &(y, m, d) in &dates {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            assert_eq!(date_text(&date), date.format("%Y-%m-%d").to_string());
            for &(h, mi, sec, n) in &times {
                let time = NaiveTime::from_hms_nano_opt(h, mi, sec, n).unwrap();
                assert_eq!(time_text(&time), time.format("%H:%M:%S%.6f").to_string());
                let at = Utc.from_utc_datetime(&date.and_time(time));
                assert_eq!(
                    instant_text(&at),
                    at.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
                );
            }
        }
    }
}
