//! Durations written as a number and a unit: `30s`, `5m`, `2h`, `1d`.

use std::time::Duration;

pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || {
        format!("\"{s}\" is not a duration; write a number and a unit s, m, h or d, such as \"5m\"")
    };
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    // A count too large for seconds to hold is refused, not wrapped around.
    let secs = n
        .checked_mul(unit_secs)
        .ok_or_else(|| format!("\"{s}\" is too long a duration"))?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert!(parse("5").is_err());
        assert!(parse("m").is_err());
        assert!(parse("5 minutes").is_err());
        assert!(parse("999999999999999999d").is_err());
    }
}
