//! Cron schedules (docs/SPEC.md §5) and the time zone they are read in.
//!
//! Operators write the 5-field crontab form; the `cron` crate wants seconds first
//! and numbers weekdays 1-7 from Sunday, where crontab uses 0-7 with 0 and 7 both
//! Sunday. Both differences are translated here, so `0 0 * * 0` means Sunday
//! midnight as every crontab reader expects.

use std::str::FromStr;

use chrono::{DateTime, Utc};

const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Parses a 5-field crontab expression or the 6-field form with seconds first.
pub fn parse(expr: &str) -> Result<cron::Schedule, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let mut six: Vec<String> = match fields.len() {
        5 => std::iter::once("0")
            .chain(fields.iter().copied())
            .map(String::from)
            .collect(),
        6 => fields.iter().map(|s| s.to_string()).collect(),
        n => {
            return Err(format!(
                "\"{expr}\" has {n} field{}; write 5 (minute hour day month weekday) or 6 (seconds first)",
                if n == 1 { "" } else { "s" }
            ));
        }
    };
    six[5] = crontab_weekdays(&six[5]).map_err(|why| format!("\"{expr}\": {why}"))?;
    cron::Schedule::from_str(&six.join(" ")).map_err(|e| {
        // The crate's message spans several lines with a caret; its last line says why.
        let text = e.to_string();
        let why = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        format!("\"{expr}\" is not a valid cron expression: {why}")
    })
}

/// Rewrites a crontab weekday field (0-7, 0 and 7 = Sunday, ranges, lists, steps)
/// as day names, which the `cron` crate reads unambiguously.
fn crontab_weekdays(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" || !field.chars().any(|c| c.is_ascii_digit()) {
        return Ok(field.to_string());
    }
    if field.chars().any(|c| c.is_ascii_alphabetic()) {
        return Err(format!(
            "weekday field \"{field}\" mixes numbers and names; use one or the other"
        ));
    }
    let bad = || {
        format!(
            "weekday field \"{field}\" is not valid; use 0-7 (0 and 7 are Sunday), ranges like 1-5, lists and steps"
        )
    };
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<usize>().map_err(|_| bad())?),
            None => (item, 1),
        };
        if step == 0 {
            return Err(bad());
        }
        let (lo, hi) = match range {
            "*" => (0, 6),
            r => match r.split_once('-') {
                Some((a, b)) => (
                    a.parse::<usize>().map_err(|_| bad())?,
                    b.parse::<usize>().map_err(|_| bad())?,
                ),
                None => {
                    let n = r.parse::<usize>().map_err(|_| bad())?;
                    (n, if item.contains('/') { 7 } else { n })
                }
            },
        };
        if lo > 7 || hi > 7 || lo > hi {
            return Err(bad());
        }
        for d in (lo..=hi).step_by(step) {
            days[d % 7] = true;
        }
    }
    let names: Vec<&str> = (0..7).filter(|d| days[*d]).map(|d| DAYS[d]).collect();
    Ok(names.join(","))
}

/// The zone schedules are read in: local time unless `DSP_TZ` or `TZ` names an
/// IANA zone.
#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    Local,
    Named {
        tz: chrono_tz::Tz,
        from: &'static str,
    },
}

impl Zone {
    /// The zone in force for this process. An unknown `DSP_TZ` is an error (the
    /// operator asked for it explicitly); an unusual `TZ` (`:/etc/localtime`) is
    /// left to the system's local time.
    pub fn from_env() -> Result<Zone, String> {
        if let Ok(v) = std::env::var("DSP_TZ")
            && !v.is_empty()
        {
            return v.parse::<chrono_tz::Tz>().map(|tz| Zone::Named { tz, from: "DSP_TZ" }).map_err(|_| {
                format!("DSP_TZ=\"{v}\" is not an IANA time zone name such as \"UTC\" or \"Asia/Jakarta\"")
            });
        }
        if let Ok(v) = std::env::var("TZ")
            && let Ok(tz) = v.trim_start_matches(':').parse::<chrono_tz::Tz>()
        {
            return Ok(Zone::Named { tz, from: "TZ" });
        }
        Ok(Zone::Local)
    }

    /// For the UI and `dsp check`: "Asia/Jakarta (from DSP_TZ)" or "local time (UTC+07:00)".
    pub(crate) fn describe(&self) -> String {
        match self {
            Zone::Named { tz, from } => format!("{} (from {from})", tz.name()),
            Zone::Local => format!("local time (UTC{})", chrono::Local::now().format("%:z")),
        }
    }

    /// The first time the schedule fires strictly after `after`.
    pub(crate) fn next_after(
        &self,
        schedule: &cron::Schedule,
        after: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Zone::Local => schedule
                .after(&after.with_timezone(&chrono::Local))
                .next()
                .map(|t| t.to_utc()),
            Zone::Named { tz, .. } => schedule
                .after(&after.with_timezone(tz))
                .next()
                .map(|t| t.to_utc()),
        }
    }

    /// Month, day, hour and minute in this zone, for narrow lists.
    pub fn format_short(&self, t: DateTime<Utc>) -> String {
        match self {
            Zone::Local => t
                .with_timezone(&chrono::Local)
                .format("%m-%d %H:%M")
                .to_string(),
            Zone::Named { tz, .. } => t.with_timezone(tz).format("%m-%d %H:%M").to_string(),
        }
    }

    /// Formats an instant in this zone for display.
    pub fn format(&self, t: DateTime<Utc>) -> String {
        match self {
            Zone::Local => t
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            Zone::Named { tz, .. } => t
                .with_timezone(tz)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string(),
        }
    }
}

/// When a job's schedule next fires after `now`; `None` for an unscheduled job
/// (or an expression that never fires again).
pub(crate) fn next_run(
    job: &crate::workspace::Job,
    zone: &Zone,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let schedule = parse(job.schedule.as_deref()?).ok()?;
    zone.next_after(&schedule, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike};

    fn utc() -> Zone {
        Zone::Named {
            tz: chrono_tz::UTC,
            from: "test",
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn next(expr: &str, after: &str) -> DateTime<Utc> {
        utc().next_after(&parse(expr).unwrap(), at(after)).unwrap()
    }

    #[test]
    fn five_fields_are_crontab() {
        assert_eq!(
            next("0 0 * * *", "2026-11-24T10:00:00Z"),
            at("2026-11-25T00:00:00Z")
        );
        assert_eq!(
            next("*/15 * * * *", "2026-11-24T10:01:00Z"),
            at("2026-11-24T10:15:00Z")
        );
    }

    #[test]
    fn six_fields_start_with_seconds() {
        assert_eq!(
            next("* * * * * *", "2026-11-24T10:00:00Z"),
            at("2026-11-24T10:00:01Z")
        );
        assert_eq!(
            next("30 0 0 * * *", "2026-11-24T10:00:00Z"),
            at("2026-11-25T00:00:30Z")
        );
    }

    #[test]
    fn weekdays_count_from_sunday_zero_or_seven() {
        // 2026-11-24 is a Tuesday.
        for expr in ["0 0 * * 0", "0 0 * * 7", "0 0 * * SUN", "0 0 0 * * 0"] {
            let t = next(expr, "2026-11-24T10:00:00Z");
            assert_eq!(t.weekday(), chrono::Weekday::Sun, "{expr}");
            assert_eq!(t, at("2026-11-29T00:00:00Z"), "{expr}");
        }
        let t = next("0 9 * * 1-5", "2026-11-27T10:00:00Z"); // Friday after 9
        assert_eq!(t, at("2026-11-30T09:00:00Z")); // Monday
        assert_eq!(t.hour(), 9);
        assert_eq!(
            next("0 0 * * 5-7", "2026-11-28T10:00:00Z"),
            at("2026-11-29T00:00:00Z")
        );
    }

    #[test]
    fn invalid_expressions_say_why() {
        for (expr, says) in [
            ("61 * * * *", "61 * * * *"),
            ("* * * *", "4 fields"),
            ("0 0 0 * * * 2030", "7 fields"),
            ("0 0 * * 8", "weekday field"),
            ("0 0 * * 1-MON", "mixes numbers and names"),
            ("", "0 fields"),
        ] {
            let e = parse(expr).unwrap_err();
            assert!(e.contains(says), "{expr}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn next_run_of_a_job() {
        let mut job =
            crate::workspace::Job::new("J", "a", "b", "s", crate::workspace::SyncMode::Full);
        assert_eq!(next_run(&job, &utc(), at("2026-11-24T10:00:00Z")), None);
        job.schedule = Some("0 0 * * *".into());
        assert_eq!(
            next_run(&job, &utc(), at("2026-11-24T10:00:00Z")),
            Some(at("2026-11-25T00:00:00Z"))
        );
        let jakarta = Zone::Named {
            tz: chrono_tz::Asia::Jakarta,
            from: "DSP_TZ",
        };
        assert_eq!(
            next_run(&job, &jakarta, at("2026-11-24T10:00:00Z")),
            Some(at("2026-11-24T17:00:00Z"))
        );
        assert_eq!(jakarta.describe(), "Asia/Jakarta (from DSP_TZ)");
    }
}
