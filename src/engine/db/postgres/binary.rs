//! COPY's binary format. The server parses a text COPY value by value
//! (timestamps and numerics are the costly ones); in binary it copies fixed-size
//! fields, which took a third off the server's side of a million-row load
//! (1.7 s to 1.15 s for the benchmark's table). Binary values must match the
//! column's exact type, so it is used only when every target column is of a
//! type listed here; otherwise the writer sends text.

use chrono::{NaiveDate, Timelike};

use super::super::plan::TargetColumn;
use crate::engine::types::{DecimalText, Special, Value};
use crate::workspace::ColumnType;

/// The file header: signature, flags, header extension length.
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The end-of-data marker: a tuple with -1 fields.
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// 2000-01-01 00:00:00 UTC, PostgreSQL's epoch, in Unix microseconds...
pub const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// ...and as a date.
pub const PG_EPOCH_DATE: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();

/// How one target column's values are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Int8,
    Int4,
    Int2,
    Float8,
    Numeric,
    /// text, varchar(n), char(n), json: the UTF-8 bytes.
    Text,
    /// A version byte, then the text.
    Jsonb,
    Bool,
    /// timestamp with or without time zone: microseconds since 2000-01-01.
    Timestamp,
    Date,
    Time,
    Uuid,
    Bytea,
}

/// The binary field kind of each column, or `None` when any column's type is
/// one the writer does not encode (then the whole COPY goes as text).
pub fn fields(targets: &[TargetColumn]) -> Option<Vec<Field>> {
    targets
        .iter()
        .map(|t| field(t.ty, t.native.as_deref()?))
        .collect()
}

/// A type name without its modifier: `numeric(12,2)` -> `numeric`,
/// `timestamp(3) with time zone` -> `timestamp with time zone`.
pub fn base_type(native: &str) -> String {
    let base = match (native.find('('), native.find(')')) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &native[..a], &native[b + 1..]),
        _ => native.to_string(),
    };
    base.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn field(ty: ColumnType, native: &str) -> Option<Field> {
    Some(match (ty, base_type(native).as_str()) {
        (ColumnType::Integer, "bigint") => Field::Int8,
        (ColumnType::Integer, "integer") => Field::Int4,
        (ColumnType::Integer, "smallint") => Field::Int2,
        (ColumnType::Float, "double precision") => Field::Float8,
        (ColumnType::Decimal, "numeric") => Field::Numeric,
        (ColumnType::String, "text" | "character varying" | "character") => Field::Text,
        (ColumnType::Json, "json") => Field::Text,
        (ColumnType::Json, "jsonb") => Field::Jsonb,
        (ColumnType::Boolean, "boolean") => Field::Bool,
        (ColumnType::Timestamp, "timestamp with time zone" | "timestamp without time zone") => {
            Field::Timestamp
        }
        (ColumnType::Date, "date") => Field::Date,
        (ColumnType::Time, "time without time zone") => Field::Time,
        (ColumnType::Uuid, "uuid") => Field::Uuid,
        (ColumnType::Bytes, "bytea") => Field::Bytea,
        _ => return None,
    })
}

/// Appends one tuple. On error nothing of the row stays in `buf`.
pub fn encode_row(
    buf: &mut Vec<u8>,
    row: &[Value],
    fields: &[Field],
    names: &[String],
) -> Result<(), String> {
    let start = buf.len();
    buf.extend_from_slice(&(row.len() as i16).to_be_bytes());
    for (i, v) in row.iter().enumerate() {
        if let Err(why) = encode(buf, v, fields[i]) {
            buf.truncate(start);
            return Err(format!("column {}: {why}", names[i]));
        }
    }
    Ok(())
}

fn encode(buf: &mut Vec<u8>, v: &Value, f: Field) -> Result<(), String> {
    if *v == Value::Null {
        buf.extend_from_slice(&(-1i32).to_be_bytes());
        return Ok(());
    }
    let fixed = |buf: &mut Vec<u8>, bytes: &[u8]| {
        buf.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        buf.extend_from_slice(bytes);
    };
    match (f, v) {
        (Field::Int8, Value::Int(i)) => fixed(buf, &i.to_be_bytes()),
        (Field::Int4, Value::Int(i)) => {
            let i = i32::try_from(*i).map_err(|_| format!("{i} does not fit an integer"))?;
            fixed(buf, &i.to_be_bytes())
        }
        (Field::Int2, Value::Int(i)) => {
            let i = i16::try_from(*i).map_err(|_| format!("{i} does not fit a smallint"))?;
            fixed(buf, &i.to_be_bytes())
        }
        (Field::Float8, Value::Float(x)) => fixed(buf, &x.to_bits().to_be_bytes()),
        (Field::Numeric, Value::Decimal(s)) => numeric(buf, s)?,
        (Field::Text, Value::Text(s) | Value::Json(s)) => fixed(buf, s.as_bytes()),
        (Field::Jsonb, Value::Json(s)) => {
            buf.extend_from_slice(&(s.len() as i32 + 1).to_be_bytes());
            buf.push(1);
            buf.extend_from_slice(s.as_bytes());
        }
        (Field::Bool, Value::Bool(b)) => fixed(buf, &[u8::from(*b)]),
        (Field::Timestamp, Value::Timestamp(t)) => {
            fixed(buf, &(t.timestamp_micros() - PG_EPOCH_MICROS).to_be_bytes())
        }
        (Field::Date, Value::Date(d)) => {
            let days = i32::try_from((*d - PG_EPOCH_DATE).num_days())
                .map_err(|_| format!("{d} is out of range for a date"))?;
            fixed(buf, &days.to_be_bytes())
        }
        (Field::Time, Value::Time(t)) => {
            let micros = i64::from(t.num_seconds_from_midnight()) * 1_000_000
                + i64::from(t.nanosecond() / 1_000);
            fixed(buf, &micros.to_be_bytes())
        }
        (Field::Timestamp | Field::Date | Field::Time, Value::Special(s)) => special(buf, f, *s)?,
        (Field::Uuid, Value::Uuid(u)) => fixed(buf, u.as_bytes()),
        (Field::Bytea, Value::Bytes(b)) => fixed(buf, b),
        (f, v) => return Err(format!("a {v:?} value cannot be sent as {f:?}")),
    }
    Ok(())
}

/// PostgreSQL's own encodings: the infinities are the extremes of a
/// timestamp's microseconds and a date's days; `24:00:00` is a full day of
/// microseconds.
fn special(buf: &mut Vec<u8>, f: Field, s: Special) -> Result<(), String> {
    let mut fixed = |bytes: &[u8]| {
        buf.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        buf.extend_from_slice(bytes);
    };
    match (f, s) {
        (Field::Timestamp, Special::Infinity) => fixed(&i64::MAX.to_be_bytes()),
        (Field::Timestamp, Special::NegInfinity) => fixed(&i64::MIN.to_be_bytes()),
        (Field::Date, Special::Infinity) => fixed(&i32::MAX.to_be_bytes()),
        (Field::Date, Special::NegInfinity) => fixed(&i32::MIN.to_be_bytes()),
        (Field::Time, Special::EndOfDay) => fixed(&86_400_000_000i64.to_be_bytes()),
        (f, s) => return Err(format!("{} cannot be sent as {f:?}", s.text())),
    }
    Ok(())
}

/// A decimal text (`-12.50`, `1.5e2`; checked by `types::is_decimal_text`) as
/// PostgreSQL's numeric: base-10000 digits, the weight of the first one, a
/// sign, and the display scale the text input would have given it.
fn numeric(buf: &mut Vec<u8>, s: &str) -> Result<(), String> {
    // No digits, and the sign word says which special value.
    let special = match s {
        "NaN" => Some(0xC000u16),
        "Infinity" => Some(0xD000),
        "-Infinity" => Some(0xF000),
        _ => None,
    };
    if let Some(sign) = special {
        buf.extend_from_slice(&8i32.to_be_bytes());
        buf.extend_from_slice(&[0, 0, 0, 0]);
        buf.extend_from_slice(&sign.to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        return Ok(());
    }
    let too_big = || format!("{s} is out of range for a numeric");
    let d = DecimalText::parse(s.trim()).ok_or_else(too_big)?;
    // As numeric_in: the scale is the digits written after the point, less
    // the exponent.
    let dscale = (d.frac.len() as i64 - d.exp).max(0);
    if dscale > 0x3FFF || d.exp.abs() > 1_000_000 {
        return Err(too_big());
    }
    let mut groups: Vec<i16> = Vec::new();
    let mut weight = 0i64;
    if let Some((lead, len, point)) = d.significant() {
        // Significant digit i stands for 10^(point - 1 - i); group g holds
        // 10^(4g..4g+3).
        weight = (point - 1).div_euclid(4);
        let last = (point - len as i64).div_euclid(4);
        if weight > i64::from(i16::MAX) || last < i64::from(i16::MIN) {
            return Err(too_big());
        }
        groups = vec![0; (weight - last + 1) as usize];
        for (i, digit) in d.digits().skip(lead).take(len).enumerate() {
            let power = point - 1 - i as i64;
            let g = power.div_euclid(4);
            groups[(weight - g) as usize] += i16::from(digit) * 10i16.pow((power - 4 * g) as u32);
        }
    }
    let sign: u16 = if d.negative && !groups.is_empty() {
        0x4000
    } else {
        0
    };
    let len = 8 + 2 * groups.len();
    buf.extend_from_slice(&(len as i32).to_be_bytes());
    buf.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    buf.extend_from_slice(&(weight as i16).to_be_bytes());
    buf.extend_from_slice(&sign.to_be_bytes());
    buf.extend_from_slice(&(dscale as u16).to_be_bytes());
    for g in groups {
        buf.extend_from_slice(&g.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (ndigits, weight, sign, dscale, digits) of an encoded numeric.
    fn parts(s: &str) -> (i16, i16, u16, u16, Vec<i16>) {
        let mut b = Vec::new();
        numeric(&mut b, s).unwrap();
        let n = i32::from_be_bytes(b[0..4].try_into().unwrap()) as usize;
        assert_eq!(n, b.len() - 4);
        let w = |i: usize| i16::from_be_bytes(b[4 + i..6 + i].try_into().unwrap());
        let nd = w(0);
        let digits = (0..nd as usize).map(|k| w(8 + 2 * k)).collect();
        (nd, w(2), w(4) as u16, w(6) as u16, digits)
    }

    #[test]
    fn numerics_encode_as_postgres_does() {
        // Values checked against `SELECT numeric_send('...')` on PostgreSQL 15.
        assert_eq!(parts("0"), (0, 0, 0, 0, vec![]));
        assert_eq!(parts("NaN"), (0, 0, 0xC000, 0, vec![]));
        assert_eq!(parts("Infinity"), (0, 0, 0xD000, 0, vec![]));
        assert_eq!(parts("-Infinity"), (0, 0, 0xF000, 0, vec![]));
        assert_eq!(parts("0.00"), (0, 0, 0, 2, vec![]));
        assert_eq!(parts("-0.00"), (0, 0, 0, 2, vec![]));
        assert_eq!(parts("1"), (1, 0, 0, 0, vec![1]));
        assert_eq!(parts("12.50"), (2, 0, 0, 2, vec![12, 5000]));
        assert_eq!(parts("-12345.678"), (3, 1, 0x4000, 3, vec![1, 2345, 6780]));
        assert_eq!(parts("10000"), (1, 1, 0, 0, vec![1]));
        assert_eq!(parts("0.0001"), (1, -1, 0, 4, vec![1]));
        assert_eq!(parts("0.00001"), (1, -2, 0, 5, vec![1000]));
        assert_eq!(parts("1.5e2"), (1, 0, 0, 0, vec![150]));
        assert_eq!(parts("1.5e-3"), (1, -1, 0, 4, vec![15]));
        assert_eq!(
            parts("99999999999999999999.99"),
            (6, 4, 0, 2, vec![9999, 9999, 9999, 9999, 9999, 9900])
        );
        assert_eq!(parts("+007.0"), (1, 0, 0, 1, vec![7]));
        let mut b = Vec::new();
        assert!(numeric(&mut b, "1e99999999").is_err());
    }

    #[test]
    fn only_known_column_types_go_binary() {
        let col = |ty, native: &str| TargetColumn {
            name: "c".into(),
            ty,
            key: false,
            cursor: false,
            native: Some(native.into()),
        };
        let f = |ty, native| fields(&[col(ty, native)]).map(|v| v[0]);
        assert_eq!(
            f(ColumnType::Decimal, "numeric(12,2)"),
            Some(Field::Numeric)
        );
        assert_eq!(
            f(ColumnType::Timestamp, "timestamp(3) with time zone"),
            Some(Field::Timestamp)
        );
        assert_eq!(
            f(ColumnType::String, "character varying(255)"),
            Some(Field::Text)
        );
        assert_eq!(f(ColumnType::Integer, "integer"), Some(Field::Int4));
        // A type the writer does not encode sends the whole COPY as text.
        assert_eq!(f(ColumnType::String, "citext"), None);
        assert_eq!(f(ColumnType::Float, "real"), None);
        assert_eq!(f(ColumnType::Integer, "numeric(5,0)"), None);
    }
}
