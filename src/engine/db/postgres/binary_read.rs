//! Reading PostgreSQL in binary. The driver asks for every result column in
//! binary, so a column selected as itself arrives as the server stores it:
//! eight bytes for a bigint or a timestamp, base-10000 digits for a numeric.
//! Selecting `col::text` instead made the server print every value and DSP
//! parse it back (1.7 s of DSP's CPU per 1,000,000 rows of the benchmark's
//! table, and the server's printing on top). Columns whose mapped type is the
//! natural one for their native type are read in binary; any other pairing,
//! and the cursor (whose text becomes the watermark as the server spells
//! it), is still read as text.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use futures::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{Row, ValueRef};

use super::binary::{PG_EPOCH_DATE, PG_EPOCH_MICROS, base_type};
use crate::engine::db::dialect::Dialect;
use crate::engine::db::plan::{Plan, ReadColumn};
use crate::engine::db::read::{BatchBuilder, convert_row, row_failure};
use crate::engine::error::Result;
use crate::engine::types::{Raw, Special, Value, hex_decode};
use crate::workspace::ColumnType;

/// How one selected column's bytes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decode {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    /// text, varchar, json: UTF-8.
    Utf8,
    /// A version byte, then the text.
    Jsonb,
    Bool,
    Timestamptz,
    Timestamp,
    Date,
    Time,
    Uuid,
    Bytea,
    /// Selected as text by the dialect's read expression (`::text`, or hex
    /// for binary storage).
    AsText {
        hex: bool,
    },
}

/// How column `i` of `plan` is selected and read.
pub(super) fn decode_of(plan: &Plan, i: usize) -> Decode {
    let r: &ReadColumn = &plan.read[i];
    let as_text = Decode::AsText {
        hex: r.native.binary,
    };
    if plan.cursor_read == Some(i) {
        return as_text;
    }
    match (r.convert.ty, base_type(&r.native.type_name).as_str()) {
        (ColumnType::Integer, "smallint") => Decode::Int2,
        (ColumnType::Integer, "integer") => Decode::Int4,
        (ColumnType::Integer, "bigint") => Decode::Int8,
        (ColumnType::Float, "real") => Decode::Float4,
        (ColumnType::Float, "double precision") => Decode::Float8,
        (ColumnType::Decimal, "numeric") => Decode::Numeric,
        // Not `character(n)`: its binary form keeps the padding that its
        // text (what DSP has always read) drops.
        (ColumnType::String, "text" | "character varying") => Decode::Utf8,
        (ColumnType::Json, "json") => Decode::Utf8,
        (ColumnType::Json, "jsonb") => Decode::Jsonb,
        (ColumnType::Boolean, "boolean") => Decode::Bool,
        (ColumnType::Timestamp, "timestamp with time zone") => Decode::Timestamptz,
        (ColumnType::Timestamp, "timestamp without time zone") => Decode::Timestamp,
        (ColumnType::Date, "date") => Decode::Date,
        (ColumnType::Time, "time without time zone") => Decode::Time,
        (ColumnType::Uuid, "uuid") => Decode::Uuid,
        (ColumnType::Bytes, "bytea") => Decode::Bytea,
        _ => as_text,
    }
}

/// The select list: binary-read columns as themselves, the rest through the
/// dialect's read expression, aliased so that `ORDER BY "col"` still sorts
/// by the column and not by its text.
pub(super) fn select_list(d: &dyn Dialect, plan: &Plan) -> String {
    plan.read
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let ident = d.ident(&r.name);
            match decode_of(plan, i) {
                Decode::AsText { .. } => match d.read_expr(&ident, &r.native) {
                    Some(expr) => format!("{expr} AS dsp_c{i}"),
                    None => ident,
                },
                _ => ident,
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Streams rows selected by [`select_list`] into `b`.
pub(super) async fn push_rows<S>(mut rows: S, b: &mut BatchBuilder) -> Result<()>
where
    S: futures::Stream<Item = std::result::Result<PgRow, sqlx::Error>> + Unpin + Send,
{
    let plan = b.plan();
    let decodes: Vec<Decode> = (0..plan.read.len()).map(|i| decode_of(plan, i)).collect();
    let names: Vec<String> = plan.read.iter().map(|r| r.name.clone()).collect();
    while let Some(row) = rows.try_next().await? {
        let mut raws = Vec::with_capacity(decodes.len());
        for (i, d) in decodes.iter().enumerate() {
            let v = row.try_get_raw(i)?;
            if v.is_null() {
                raws.push(Raw::Null);
                continue;
            }
            let bytes = v.as_bytes().map_err(|e| e.to_string())?;
            raws.push(decode(bytes, *d).map_err(|why| {
                format!(
                    "column {} could not be read ({why}); please report this",
                    names[i]
                )
            })?);
        }
        b.push(raws).await?;
    }
    Ok(())
}

/// Whether rows can go from this PostgreSQL source to a PostgreSQL target
/// as the source encodes them: every column read in binary, written to a
/// column that takes its binary form as it is (see [`takes_as_is`]), and
/// nothing for DSP to convert on the way (a zone-less timestamp moves
/// between zones unless both networks are in UTC).
pub(super) fn wire_ok(plan: &Plan) -> bool {
    plan.read.len() == plan.targets.len()
        && plan.read.iter().enumerate().all(|(i, r)| {
            let same_type = plan.targets[i]
                .native
                .as_deref()
                .is_some_and(|t| takes_as_is(&r.native.type_name, t));
            let unconverted = match decode_of(plan, i) {
                Decode::AsText { .. } => false,
                Decode::Timestamp => {
                    let utc = chrono_tz::Tz::UTC;
                    r.convert.tz == utc && r.convert.write_tz.is_none_or(|z| z == utc)
                }
                _ => true,
            };
            same_type && unconverted
        })
}

/// Whether a `target` column holds every value of a `source` column in the
/// same binary form: the same type, or the same type without a modifier
/// (`numeric(12,2)` into `numeric`, `varchar(20)` into `varchar`), or
/// `varchar` into `text`. A modifier on the target could round or refuse a
/// value, so it must be the source's own.
fn takes_as_is(source: &str, target: &str) -> bool {
    if source == target {
        return true;
    }
    let (from, to) = (base_type(source), base_type(target));
    (from == to && to == target) || (from == "character varying" && target == "text")
}

/// Streams `sql` as binary COPY tuples, passed to `b` untouched; a row with
/// a NULL key is decoded instead, for the builder to fail it by name.
pub(super) async fn stream_wire(
    conn: &mut sqlx::PgConnection,
    sql: &str,
    b: &mut BatchBuilder,
) -> Result<()> {
    let mut tuples = CopyTuples::new(b.plan());
    let mut out = conn
        .copy_out_raw(&format!("COPY ({sql}) TO STDOUT (FORMAT binary)"))
        .await?;
    while let Some(msg) = out.try_next().await? {
        tuples.take(&msg, b).await?;
    }
    tuples.end()
}

/// One binary COPY stream on its way into a [`BatchBuilder`]: its messages
/// are cut into tuples, each passed through (`push_wire`) when the builder
/// takes them so and its key is whole, else decoded (`push`).
pub(super) struct CopyTuples {
    n: usize,
    keys: Vec<usize>,
    decodes: Vec<Decode>,
    /// Bytes of a tuple split across messages (the server sends one tuple
    /// per message, which nothing promises).
    carry: Vec<u8>,
    header: bool,
    ended: bool,
}

impl CopyTuples {
    pub(super) fn new(plan: &Plan) -> Self {
        let n = plan.read.len();
        CopyTuples {
            n,
            keys: plan.key_read.clone(),
            decodes: (0..n).map(|i| decode_of(plan, i)).collect(),
            carry: Vec::new(),
            header: true,
            ended: false,
        }
    }

    /// Takes the stream's next message.
    pub(super) async fn take(&mut self, msg: &[u8], b: &mut BatchBuilder) -> Result<()> {
        let mut carry = std::mem::take(&mut self.carry);
        let data: &[u8] = if carry.is_empty() {
            msg
        } else {
            carry.extend_from_slice(msg);
            &carry
        };
        let mut at = 0;
        if self.header {
            match header_len(data)? {
                Some(len) => {
                    at = len;
                    self.header = false;
                }
                None => {
                    self.carry = data.to_vec();
                    return Ok(());
                }
            }
        }
        let wire = b.wants_wire();
        while !self.ended && at < data.len() {
            let Some(frame) = tuple(&data[at..], self.n, &self.keys)? else {
                break;
            };
            match frame {
                Frame::End => {
                    self.ended = true;
                    at += 2;
                }
                Frame::Row { len, null_key } => {
                    let bytes = &data[at..at + len];
                    if wire && !null_key {
                        b.push_wire(bytes).await?;
                    } else {
                        b.push(raws(bytes, &self.decodes)?).await?;
                    }
                    at += len;
                }
            }
        }
        self.carry = data[at..].to_vec();
        Ok(())
    }

    /// Whether the stream ended where a COPY ends: after its trailer.
    pub(super) fn end(&self) -> Result<()> {
        if !self.ended || !self.carry.is_empty() {
            return Err("the source's COPY stream ended in the middle of a row".into());
        }
        Ok(())
    }
}

/// The length of COPY's file header, once `data` holds all of it.
fn header_len(data: &[u8]) -> Result<Option<usize>> {
    let fixed_len = super::binary::HEADER.len();
    if data.len() < fixed_len {
        return Ok(None);
    }
    if !data.starts_with(&super::binary::HEADER[..11]) {
        return Err("the source's COPY stream does not start with a binary COPY header".into());
    }
    let ext = u32::from_be_bytes(data[15..19].try_into().unwrap_or_default()) as usize;
    Ok((data.len() >= fixed_len + ext).then_some(fixed_len + ext))
}

enum Frame {
    End,
    Row { len: usize, null_key: bool },
}

/// The tuple at the start of `data`, or `None` while it is incomplete.
fn tuple(data: &[u8], n: usize, keys: &[usize]) -> Result<Option<Frame>> {
    let Some(count) = data.get(..2) else {
        return Ok(None);
    };
    let count = i16::from_be_bytes([count[0], count[1]]);
    if count == -1 {
        return Ok(Some(Frame::End));
    }
    if count as usize != n {
        return Err(format!("the source sent a row of {count} columns where {n} were read").into());
    }
    let mut at = 2;
    let mut null_key = false;
    for i in 0..n {
        let Some(len) = data.get(at..at + 4) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        at += 4;
        if len < 0 {
            null_key |= keys.contains(&i);
        } else {
            at += len as usize;
        }
    }
    Ok((data.len() >= at).then_some(Frame::Row { len: at, null_key }))
}

/// One complete tuple's values, decoded.
fn raws(tuple: &[u8], decodes: &[Decode]) -> Result<Vec<Raw>> {
    let mut at = 2;
    let mut out = Vec::with_capacity(decodes.len());
    for d in decodes {
        let len = i32::from_be_bytes(fixed(&tuple[at..at + 4])?);
        at += 4;
        if len < 0 {
            out.push(Raw::Null);
        } else {
            let end = at + len as usize;
            out.push(decode(&tuple[at..end], *d)?);
            at = end;
        }
    }
    Ok(out)
}

/// The rows of passed-through tuples (see [`stream_wire`]) as values, for a
/// writer that must isolate a refused one; a row that does not convert comes
/// with its failure's sentence (and NULL where a value did not convert).
pub fn wire_values(plan: &Plan, wire: &[u8]) -> Result<Vec<(Vec<Value>, Option<String>)>> {
    let n = plan.read.len();
    let decodes: Vec<Decode> = (0..n).map(|i| decode_of(plan, i)).collect();
    let mut out = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let Some(Frame::Row { len, .. }) = tuple(&wire[at..], n, &[])? else {
            return Err("a passed-through row was cut short".into());
        };
        let (row, failure) = convert_row(plan, raws(&wire[at..at + len], &decodes)?);
        let failure = failure.map(|why| row_failure(plan, &row, &why));
        out.push((row, failure));
        at += len;
    }
    Ok(out)
}

fn fixed<const N: usize>(b: &[u8]) -> std::result::Result<[u8; N], String> {
    b.try_into()
        .map_err(|_| format!("{} bytes where {N} were expected", b.len()))
}

fn utf8(b: &[u8]) -> std::result::Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "text is not valid UTF-8".to_string())
}

/// One binary value as the [`Raw`] its text would have converted from.
fn decode(b: &[u8], d: Decode) -> std::result::Result<Raw, String> {
    Ok(match d {
        Decode::Int2 => Raw::Int(i16::from_be_bytes(fixed(b)?).into()),
        Decode::Int4 => Raw::Int(i32::from_be_bytes(fixed(b)?).into()),
        Decode::Int8 => Raw::Int(i64::from_be_bytes(fixed(b)?)),
        Decode::Float4 => Raw::Float(f32::from_be_bytes(fixed(b)?).into()),
        Decode::Float8 => Raw::Float(f64::from_be_bytes(fixed(b)?)),
        Decode::Numeric => Raw::Text(numeric_text(b)?),
        Decode::Utf8 => Raw::Text(utf8(b)?),
        Decode::Jsonb => match b.split_first() {
            Some((1, rest)) => Raw::Text(utf8(rest)?),
            _ => return Err("jsonb of an unknown version".into()),
        },
        Decode::Bool => Raw::Int(i64::from(fixed::<1>(b)?[0] != 0)),
        Decode::Timestamptz => match micros(b)? {
            Err(sp) => Raw::Special(sp),
            Ok(t) => Raw::Instant(t),
        },
        Decode::Timestamp => match micros(b)? {
            Err(sp) => Raw::Special(sp),
            Ok(t) => Raw::Wall(t.naive_utc()),
        },
        Decode::Date => match i32::from_be_bytes(fixed(b)?) {
            i32::MAX => Raw::Special(Special::Infinity),
            i32::MIN => Raw::Special(Special::NegInfinity),
            days => Raw::Day(
                PG_EPOCH_DATE
                    .checked_add_signed(Duration::days(days.into()))
                    .ok_or_else(|| format!("day {days} is past the calendar DSP can hold"))?,
            ),
        },
        Decode::Time => match i64::from_be_bytes(fixed(b)?) {
            86_400_000_000 => Raw::Special(Special::EndOfDay),
            us => {
                let secs = u32::try_from(us.div_euclid(1_000_000))
                    .map_err(|_| format!("{us} µs is not a time of day"))?;
                let nanos = (us.rem_euclid(1_000_000) * 1000) as u32;
                Raw::Clock(
                    NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)
                        .ok_or_else(|| format!("{us} µs is not a time of day"))?,
                )
            }
        },
        Decode::Uuid => Raw::Bytes(fixed::<16>(b)?.to_vec()),
        Decode::Bytea => Raw::Bytes(b.to_vec()),
        Decode::AsText { hex: false } => Raw::Text(utf8(b)?),
        Decode::AsText { hex: true } => Raw::Bytes(hex_decode(
            std::str::from_utf8(b).map_err(|_| "hex text is not valid UTF-8".to_string())?,
        )?),
    })
}

/// A timestamp's microseconds since 2000-01-01 as an instant, or the
/// infinity it stands for.
fn micros(b: &[u8]) -> std::result::Result<std::result::Result<DateTime<Utc>, Special>, String> {
    Ok(match i64::from_be_bytes(fixed(b)?) {
        i64::MAX => Err(Special::Infinity),
        i64::MIN => Err(Special::NegInfinity),
        us => Ok(us
            .checked_add(PG_EPOCH_MICROS)
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(|| format!("{us} µs after 2000 is past the calendar DSP can hold"))?),
    })
}

/// A numeric's binary form as the text PostgreSQL prints for it: every
/// digit of its display scale, no exponent.
fn numeric_text(b: &[u8]) -> std::result::Result<String, String> {
    let short = || "a numeric shorter than its header".to_string();
    let word = |at: usize| -> std::result::Result<u16, String> {
        Ok(u16::from_be_bytes(fixed(
            b.get(at..at + 2).ok_or_else(short)?,
        )?))
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = usize::from(word(6)?);
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        0x0000 | 0x4000 => {}
        other => return Err(format!("a numeric of unknown sign {other:#x}")),
    }
    let digits = (0..ndigits)
        .map(|k| word(8 + 2 * k))
        .collect::<std::result::Result<Vec<u16>, String>>()?;
    // Digit k counts 10000^(weight - k).
    let digit = |k: i64| -> u16 {
        usize::try_from(k)
            .ok()
            .and_then(|k| digits.get(k).copied())
            .unwrap_or(0)
    };
    let mut s = String::with_capacity(ndigits * 4 + dscale + 3);
    if sign == 0x4000 {
        s.push('-');
    }
    if weight < 0 {
        s.push('0');
    } else {
        for k in 0..=weight {
            push_group(&mut s, digit(k), k == 0);
        }
    }
    if dscale > 0 {
        s.push('.');
        let start = s.len();
        let mut k = weight + 1;
        while s.len() - start < dscale {
            push_group(&mut s, digit(k), false);
            k += 1;
        }
        s.truncate(start + dscale);
    }
    Ok(s)
}

/// One base-10000 digit as four decimal digits (`lead`: without leading zeros).
fn push_group(s: &mut String, group: u16, lead: bool) {
    let digits = [group / 1000, group / 100 % 10, group / 10 % 10, group % 10];
    let skip = if lead {
        digits.iter().take(3).take_while(|&&d| d == 0).count()
    } else {
        0
    };
    for &d in &digits[skip..] {
        s.push(char::from(b'0' + d as u8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: &[u16], weight: i16, sign: u16, dscale: u16) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(ndigits.len() as u16).to_be_bytes());
        b.extend_from_slice(&weight.to_be_bytes());
        b.extend_from_slice(&sign.to_be_bytes());
        b.extend_from_slice(&dscale.to_be_bytes());
        for d in ndigits {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    #[test]
    fn numerics_read_as_postgresql_prints_them() {
        let cases: &[(&[u16], i16, u16, u16, &str)] = &[
            (&[], 0, 0, 0, "0"),
            (&[], 0, 0, 2, "0.00"),
            (&[12, 3400], 0, 0, 2, "12.34"),
            (&[12, 3400], 0, 0x4000, 4, "-12.3400"),
            (&[1, 0, 5], 2, 0, 0, "100000005"),
            (&[5], -2, 0, 8, "0.00000005"),
            (&[1234, 5678], 1, 0, 3, "12345678.000"),
            (&[1], 3, 0, 0, "1000000000000"),
            (&[], 0, 0xC000, 0, "NaN"),
            (&[], 0, 0xF000, 0, "-Infinity"),
        ];
        for (d, w, s, scale, want) in cases {
            assert_eq!(numeric_text(&numeric(d, *w, *s, *scale)).unwrap(), *want);
        }
        assert!(numeric_text(&[0, 1]).is_err());
    }

    #[test]
    fn only_targets_that_hold_every_source_value_take_it_as_is() {
        for (source, target, takes) in [
            ("numeric(12,2)", "numeric(12,2)", true),
            ("numeric(12,2)", "numeric", true),
            ("numeric", "numeric(12,2)", false),
            ("numeric(12,2)", "numeric(14,2)", false),
            ("character varying(5)", "text", true),
            ("character varying(5)", "character varying", true),
            ("text", "character varying(5)", false),
            (
                "timestamp(3) with time zone",
                "timestamp with time zone",
                true,
            ),
            (
                "timestamp with time zone",
                "timestamp(3) with time zone",
                false,
            ),
            ("jsonb", "json", false),
            ("integer", "bigint", false),
        ] {
            assert_eq!(takes_as_is(source, target), takes, "{source} -> {target}");
        }
    }

    #[test]
    fn timestamps_dates_and_times_keep_their_edges() {
        assert_eq!(
            decode(&i64::MAX.to_be_bytes(), Decode::Timestamptz).unwrap(),
            Raw::Special(Special::Infinity)
        );
        assert_eq!(
            decode(&i32::MIN.to_be_bytes(), Decode::Date).unwrap(),
            Raw::Special(Special::NegInfinity)
        );
        assert_eq!(
            decode(&86_400_000_000i64.to_be_bytes(), Decode::Time).unwrap(),
            Raw::Special(Special::EndOfDay)
        );
        let t = decode(&1_500_000i64.to_be_bytes(), Decode::Timestamptz).unwrap();
        assert_eq!(t.display(), "2000-01-01T00:00:01.500+00:00");
        let before = decode(&(-1i64).to_be_bytes(), Decode::Timestamp).unwrap();
        assert_eq!(before.display(), "1999-12-31 23:59:59.999999");
        assert!(decode(&[0; 4], Decode::Int8).is_err());
    }
}
