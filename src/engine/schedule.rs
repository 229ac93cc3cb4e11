//! Cron schedules (SPEC §5). Operators write the 5-field crontab form; the `cron`
//! crate wants seconds first, so the 5-field form is translated here.

use std::str::FromStr;

/// Parses a 5-field crontab expression or the 6-field form with seconds first.
pub fn parse(expr: &str) -> Result<cron::Schedule, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let six = match fields.len() {
        5 => format!("0 {}", fields.join(" ")),
        6 => fields.join(" "),
        n => {
            return Err(format!(
                "\"{expr}\" has {n} fields; write 5 (minute hour day month weekday) or 6 (seconds first)"
            ));
        }
    };
    cron::Schedule::from_str(&six)
        .map_err(|e| format!("\"{expr}\" is not a valid cron expression: {e}"))
}
