//! The canonical text of a value, and the hashes `dsp verify` builds on it.
//!
//! Two values are the same exactly when their canonical texts are: integers
//! as decimal text, decimals without insignificant zeros, timestamps as UTC
//! instants with microseconds, booleans as 0/1, JSON in jsonb's text form.
//! A row's text encodes each column as `~0` (NULL) or its text with every
//! `~` doubled and `~;` after it, so NULL and '' differ and no column's text
//! can run into the next (and a server evaluates each column once for it).
//! PostgreSQL and MySQL build the same text in SQL where they can
//! (`Checksums::canon_expr`); what a server cannot, DSP hashes as rows stream.

use sha2::{Digest, Sha256};

use crate::engine::types::{Value, date_text, hex_encode, instant_text, time_text};

/// The canonical text of a value; `None` for NULL.
pub fn text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float(*f),
        Value::Decimal(s) => decimal(s),
        Value::Text(s) => s.clone(),
        Value::Bool(b) => if *b { "1" } else { "0" }.into(),
        Value::Timestamp(t) => instant_text(t),
        Value::Date(d) => date_text(d),
        Value::Time(t) => time_text(t),
        Value::Json(s) => json(s),
        Value::Uuid(u) => u.to_string(),
        Value::Bytes(b) => hex_encode(b),
        Value::Special(s) => s.text().to_string(),
    })
}

/// One column's field of a row's text, in pieces handed to `emit` (the
/// field of a value's text and of a value written in place alike, see
/// `push_value`).
fn field(text: Option<&str>, mut emit: impl FnMut(&str)) {
    match text {
        None => emit("~0"),
        Some(t) => {
            if t.contains('~') {
                emit(&t.replace('~', "~~"));
            } else {
                emit(t);
            }
            emit("~;");
        }
    }
}

/// Appends one column's field to a row's text.
pub fn push_field(out: &mut String, text: Option<&str>) {
    field(text, |piece| out.push_str(piece));
}

/// `push_field(out, text(v))` without the copy `text` makes of the common
/// kinds (text, integers, booleans): a side DSP hashes a million rows
/// through here. Returns whether the value was NULL.
pub fn push_value(out: &mut String, v: &Value) -> bool {
    use std::fmt::Write as _;
    match v {
        Value::Null => {
            out.push_str("~0");
            return true;
        }
        Value::Text(s) => field(Some(s), |piece| out.push_str(piece)),
        Value::Int(i) => {
            let _ = write!(out, "{i}~;");
        }
        Value::Bool(b) => out.push_str(if *b { "1~;" } else { "0~;" }),
        other => push_field(out, text(other).as_deref()),
    }
    false
}

/// The fields of `values`, in order, as one text.
pub fn row_text<'a>(values: impl IntoIterator<Item = &'a Option<String>>) -> String {
    let mut out = String::new();
    for v in values {
        push_field(&mut out, v.as_deref());
    }
    out
}

/// The first 60 bits of the SHA-256 of `text` (its first 15 hex digits), as
/// the servers compute them: `sha256(convert_to(t, 'UTF8'))` on PostgreSQL,
/// `CONV(SUBSTRING(SHA2(t, 256), 1, 15), 16, 10)` on MySQL. SHA-256 rather
/// than MD5 because MariaDB's `MD5()` costs several times its `SHA2()` (0.73 s
/// against 0.12 s over a million rows' text) and PostgreSQL's two cost alike.
pub fn hash60(text: &str) -> u64 {
    first60(&Sha256::digest(text.as_bytes()))
}

fn first60(d: &[u8]) -> u64 {
    let mut v = 0u64;
    for b in &d[..8] {
        v = (v << 8) | u64::from(*b);
    }
    v >> 4
}

/// A float's shortest exact text (`0.1`, `1e300` as digits); NaN and the
/// infinities by name.
fn float(f: f64) -> String {
    if f == 0.0 {
        // 0 and -0 are one value.
        "0".into()
    } else {
        format!("{f}")
    }
}

/// A decimal without insignificant zeros: `1.50` and `1.5` are one value,
/// `-0.00` is `0`. Text that is not plain digits (`NaN`, an exponent) stays
/// as it is.
pub fn decimal(s: &str) -> String {
    let t = s.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let plain = !body.is_empty()
        && body.chars().all(|c| c.is_ascii_digit() || c == '.')
        && body.matches('.').count() <= 1;
    if !plain {
        return t.to_string();
    }
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let int = match int.trim_start_matches('0') {
        "" => "0",
        i => i,
    };
    let frac = frac.trim_end_matches('0');
    let mut out = String::with_capacity(t.len());
    if neg && !(int == "0" && frac.is_empty()) {
        out.push('-');
    }
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// JSON in PostgreSQL's `jsonb` text form: object keys sorted shorter
/// first, then bytewise, `", "` and `": "` between items, numbers exactly as
/// written (never through a float, which would make 0.30000000000000001 and
/// 0.3 one value). Equal documents stored with other spacing or key order
/// (MySQL, SQLite) compare equal. Text that does not parse is compared as it is.
fn json(s: &str) -> String {
    let Some(tagged) = tag_tokens(s) else {
        return s.to_string();
    };
    match serde_json::from_str::<serde_json::Value>(&tagged) {
        Ok(v) => {
            let mut out = String::with_capacity(s.len() + 16);
            write_json(&mut out, &v);
            out
        }
        Err(_) => s.to_string(),
    }
}

/// Rewrites every string token `"x"` as `"sx"` and every number `1.50` as the
/// string `"n1.50"`, so that parsing keeps each number's digits and a string
/// can never pass for a number.
fn tag_tokens(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len() + 16);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push_str("\"s");
                loop {
                    let c = chars.next()?;
                    out.push(c);
                    match c {
                        '\\' => out.push(chars.next()?),
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '-' | '0'..='9' => {
                out.push_str("\"n");
                out.push(c);
                while let Some(&d) = chars.peek() {
                    if !matches!(d, '0'..='9' | '.' | 'e' | 'E' | '+' | '-') {
                        break;
                    }
                    out.push(d);
                    chars.next();
                }
                out.push('"');
            }
            _ => out.push(c),
        }
    }
    Some(out)
}

fn write_json(out: &mut String, v: &serde_json::Value) {
    use serde_json::Value as J;
    let untag = |s: &str| s.get(1..).unwrap_or("").to_string();
    match v {
        J::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| (a.len(), a.as_bytes()).cmp(&(b.len(), b.as_bytes())));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&J::String(untag(k)).to_string());
                out.push_str(": ");
                write_json(out, &map[k]);
            }
            out.push('}');
        }
        J::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(out, item);
            }
            out.push(']');
        }
        J::String(t) if t.starts_with('n') => out.push_str(&t[1..]),
        J::String(t) => out.push_str(&J::String(untag(t)).to_string()),
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn push_value_is_push_field_of_text() {
        let values = [
            Value::Null,
            Value::Text(String::new()),
            Value::Text("a~b~;~0".into()),
            Value::Text("日本 ".into()),
            Value::Int(-42),
            Value::Int(i64::MAX),
            Value::Bool(true),
            Value::Bool(false),
            Value::Decimal("10.500".into()),
            Value::Float(0.1),
            Value::Json(r#"{"b": 1, "a": "~"}"#.into()),
        ];
        for v in &values {
            let (mut a, mut b) = (String::from("x~;"), String::from("x~;"));
            let null = push_value(&mut a, v);
            push_field(&mut b, text(v).as_deref());
            assert_eq!(a, b, "{v:?}");
            assert_eq!(null, *v == Value::Null, "{v:?}");
        }
    }

    use super::*;

    #[test]
    fn decimals_lose_only_insignificant_zeros() {
        assert_eq!(decimal("1.50"), "1.5");
        assert_eq!(decimal("10.00"), "10");
        assert_eq!(decimal("0010"), "10");
        assert_eq!(decimal("-0.00"), "0");
        assert_eq!(decimal("-0.50"), "-0.5");
        assert_eq!(decimal(".5"), "0.5");
        assert_eq!(
            decimal("1.2345678901234567890123"),
            "1.2345678901234567890123"
        );
        assert_eq!(decimal("NaN"), "NaN");
        assert_ne!(decimal("1.01"), decimal("1.1"));
    }

    #[test]
    fn null_and_empty_text_differ_and_fields_cannot_run_together() {
        let null = row_text(&[None, Some("a".into())]);
        let empty = row_text(&[Some(String::new()), Some("a".into())]);
        assert_ne!(null, empty);
        let a = row_text(&[Some("ab".into()), Some("c".into())]);
        let b = row_text(&[Some("a".into()), Some("bc".into())]);
        assert_ne!(a, b);
        assert_eq!(row_text(&[Some("é~".into()), None]), "é~~~;~0");
        let a = row_text(&[Some("~".into()), Some(";".into())]);
        let b = row_text(&[Some("~;".into())]);
        assert_ne!(a, b);
    }

    #[test]
    fn json_ignores_key_order_and_spacing_but_not_values() {
        assert_eq!(
            json(r#"{"b":1,"a":[1,2]}"#),
            json(r#"{"a": [1, 2], "b": 1}"#)
        );
        assert_ne!(json(r#"{"a": 1}"#), json(r#"{"a": 2}"#));
        // PostgreSQL's jsonb text: shorter keys first, its spacing.
        assert_eq!(
            json(r#"{"tags":["a"],"age":5,"ab":{"y":null,"x":true}}"#),
            r#"{"ab": {"x": true, "y": null}, "age": 5, "tags": ["a"]}"#
        );
        // Digits a float would lose, and a string that looks like a number.
        assert_ne!(json("[0.30000000000000001]"), json("[0.3]"));
        assert_ne!(json(r#"["n5"]"#), json("[5]"));
        assert_eq!(json(r#"["a\"b",-1.50e3]"#), r#"["a\"b", -1.50e3]"#);
    }

    /// The same digits the servers take: `sha256('abc')` is ba7816bf8f01cfea
    /// 414140de5dae2223b00361a396177a9cb410ff61f20015ad, its first 15 hex
    /// digits ba7816bf8f01cfe.

    #[test]
    fn hash60_is_the_first_fifteen_hex_digits_of_sha256() {
        assert_eq!(hash60("abc"), 0xba7816bf8f01cfe);
    }
}
