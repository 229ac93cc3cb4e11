//! Dates and times past the ordinary calendar that PostgreSQL stores:
//! `infinity` and `-infinity` of a date or timestamp, `24:00:00` of a time,
//! years before Christ (`0044-03-15 BC`) and after 9999 (`12000-01-01`).
//! A same-engine pair carries them; a target that cannot hold one fails that
//! row alone, saying what the value is and why.

use chrono::{Datelike, NaiveDate};

use crate::workspace::ColumnType;

/// A date, timestamp or time value with no calendar equivalent. Which of the
/// three it is comes from the column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// After every date (PostgreSQL's `infinity`).
    Infinity,
    /// Before every date (`-infinity`).
    NegInfinity,
    /// `24:00:00`: the end of a day, which PostgreSQL's and MySQL's `time` hold.
    EndOfDay,
}

impl Special {
    /// The value as PostgreSQL spells it, which is also what DSP writes to
    /// SQLite: `infinity` sorts after, `-infinity` before, every ISO date
    /// text, and `24:00:00` after every other time of day.
    pub fn text(self) -> &'static str {
        match self {
            Special::Infinity => "infinity",
            Special::NegInfinity => "-infinity",
            Special::EndOfDay => "24:00:00",
        }
    }

    /// `infinity`, `+infinity`, `-infinity` of a date or timestamp column.
    pub(crate) fn infinity(text: &str) -> Option<Self> {
        let t = text.trim();
        if t.len() > 9 {
            return None;
        }
        if t.eq_ignore_ascii_case("infinity") || t.eq_ignore_ascii_case("+infinity") {
            Some(Special::Infinity)
        } else if t.eq_ignore_ascii_case("-infinity") {
            Some(Special::NegInfinity)
        } else {
            None
        }
    }

    /// `24:00`, `24:00:00`, `24:00:00.000000` of a time column.
    pub(crate) fn end_of_day(text: &str) -> Option<Self> {
        let t = text.trim();
        let rest = t.strip_prefix("24:00")?;
        let rest = match rest.strip_prefix(":00") {
            Some(r) => r,
            None if rest.is_empty() => rest,
            None => return None,
        };
        let zeros = match rest.strip_prefix('.') {
            Some(f) => !f.is_empty() && f.bytes().all(|b| b == b'0'),
            None => rest.is_empty(),
        };
        zeros.then_some(Special::EndOfDay)
    }
}

/// What a target's date and time types hold past the ordinary calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    /// Dates and timestamps may be `infinity` or `-infinity`.
    pub infinities: bool,
    /// A time may be `24:00:00`.
    pub end_of_day: bool,
    /// The years (astronomical: 0 is 1 BC) a date or timestamp may have.
    pub years: Option<(i32, i32)>,
    /// The target as a message names it.
    pub engine: &'static str,
}

impl Default for Calendar {
    /// The ordinary calendar only: no infinities, no `24:00:00`.
    fn default() -> Self {
        Calendar {
            infinities: false,
            end_of_day: false,
            years: None,
            engine: "the target database",
        }
    }
}

impl Calendar {
    /// A special value of a `ty` column, or why the target cannot hold it.
    pub(crate) fn special(&self, s: Special, ty: ColumnType) -> Result<Special, String> {
        let held = match s {
            Special::Infinity | Special::NegInfinity => self.infinities,
            Special::EndOfDay => self.end_of_day,
        };
        if held {
            return Ok(s);
        }
        Err(match s {
            Special::Infinity => format!(
                "{ty} infinity (after every date) has no equivalent in {}",
                self.engine
            ),
            Special::NegInfinity => format!(
                "{ty} -infinity (before every date) has no equivalent in {}",
                self.engine
            ),
            Special::EndOfDay => format!("time 24:00:00 has no equivalent in {}", self.engine),
        })
    }

    /// Whether a date's year is one the target holds.
    pub(crate) fn check_year(&self, date: NaiveDate, ty: ColumnType) -> Result<(), String> {
        let Some((lo, hi)) = self.years else {
            return Ok(());
        };
        let y = date.year();
        if (lo..=hi).contains(&y) {
            return Ok(());
        }
        Err(format!(
            "{ty} {} is outside the years {} stores ({} to {})",
            date_pg(date),
            self.engine,
            year_pg(lo),
            year_pg(hi)
        ))
    }
}

/// A year as people write it: `44 BC`, `2024`.
fn year_pg(y: i32) -> String {
    if y <= 0 {
        format!("{} BC", 1 - i64::from(y))
    } else {
        y.to_string()
    }
}

/// A date as PostgreSQL writes it: `0044-03-15 BC`, `12000-01-01`.
pub(crate) fn date_pg(d: NaiveDate) -> String {
    let (year, bc) = pg_year(d.year());
    let tail = if bc { " BC" } else { "" };
    format!("{year:04}-{:02}-{:02}{tail}", d.month(), d.day())
}

/// PostgreSQL counts no year 0: astronomical year 0 is 1 BC, -43 is 44 BC.
pub(crate) fn pg_year(y: i32) -> (i64, bool) {
    if y <= 0 {
        (1 - i64::from(y), true)
    } else {
        (i64::from(y), false)
    }
}

/// A date or timestamp text whose year is not four plain digits:
/// PostgreSQL's `0044-03-15 12:00:00+00 BC` and `12000-01-01`, ISO 8601's
/// signed `-0043-03-15` and `+12000-01-01` (what DSP writes to SQLite, and
/// chrono prints). Returns the text with year 2000 in place of the real one
/// (a leap year, so that February 29 parses) and the real year,
/// astronomical; `None` for an ordinary text.
pub(crate) fn far_year(text: &str) -> Option<(String, i32)> {
    let t = text.trim();
    let (t, bc) = match t.strip_suffix(" BC") {
        Some(rest) => (rest.trim_end(), true),
        None => (t, false),
    };
    let (negative, signed, body) = match t.as_bytes().first()? {
        b'-' => (true, true, &t[1..]),
        b'+' => (false, true, &t[1..]),
        _ => (false, false, t),
    };
    let dash = body.find('-')?;
    let digits = &body[..dash];
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !bc && !signed && digits.len() == 4 {
        return None;
    }
    let y: i32 = digits.parse().ok()?;
    let year = match (bc, negative) {
        // There is no year 0 BC, nor a BC year with a sign.
        (true, false) if y > 0 && !signed => 1 - y,
        (true, _) => return None,
        (false, true) => -y,
        (false, false) => y,
    };
    Some((format!("2000{}", &body[dash..]), year))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_years_are_found_and_ordinary_ones_left_alone() {
        let f = |t| far_year(t);
        assert_eq!(f("2024-07-01 12:00:00+00"), None);
        assert_eq!(f("2024-07-01"), None);
        assert_eq!(
            f("0044-03-15 12:00:00+00 BC"),
            Some(("2000-03-15 12:00:00+00".into(), -43))
        );
        assert_eq!(f("0001-01-01 BC"), Some(("2000-01-01".into(), 0)));
        assert_eq!(f("12000-01-01"), Some(("2000-01-01".into(), 12000)));
        assert_eq!(
            f("-0043-03-15T12:00:00.000000Z"),
            Some(("2000-03-15T12:00:00.000000Z".into(), -43))
        );
        assert_eq!(f("+12000-02-29"), Some(("2000-02-29".into(), 12000)));
        for bad in [
            "0000-01-01 BC",
            "-0044-01-01 BC",
            "12a00-01-01",
            "infinity",
            "BC",
        ] {
            assert_eq!(f(bad), None, "{bad}");
        }
    }

    #[test]
    fn specials_are_read_in_their_spellings() {
        assert_eq!(Special::infinity("infinity"), Some(Special::Infinity));
        assert_eq!(Special::infinity(" -Infinity "), Some(Special::NegInfinity));
        assert_eq!(Special::infinity("+infinity"), Some(Special::Infinity));
        assert_eq!(Special::infinity("infinityx"), None);
        for ok in ["24:00", "24:00:00", "24:00:00.000000"] {
            assert_eq!(Special::end_of_day(ok), Some(Special::EndOfDay), "{ok}");
        }
        for bad in ["24:00:01", "24:00:00.5", "24:00:00.", "24:01", "23:59:59"] {
            assert_eq!(Special::end_of_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_are_named_as_postgres_writes_them() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(date_pg(d(-43, 3, 15)), "0044-03-15 BC");
        assert_eq!(date_pg(d(0, 1, 1)), "0001-01-01 BC");
        assert_eq!(date_pg(d(12000, 1, 1)), "12000-01-01");
        let my = Calendar {
            years: Some((1, 9999)),
            engine: "MySQL/MariaDB",
            ..Calendar::default()
        };
        let e = my.check_year(d(-43, 3, 15), ColumnType::Date).unwrap_err();
        assert_eq!(
            e,
            "date 0044-03-15 BC is outside the years MySQL/MariaDB stores (1 to 9999)"
        );
        assert!(my.check_year(d(9999, 12, 31), ColumnType::Date).is_ok());
    }
}
