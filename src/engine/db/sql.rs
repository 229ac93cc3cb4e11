//! SQL text helpers the dialects share: table names and MySQL's escaping.
//! Quoting itself is each dialect's (`Dialect::ident`, `Dialect::literal`).

/// `schema.table` → (Some(schema), table); `table` → (None, table).
pub fn split_table(name: &str) -> (Option<&str>, &str) {
    match name.split_once('.') {
        Some((s, t)) if !s.is_empty() && !t.is_empty() => (Some(s), t),
        _ => (None, name),
    }
}

/// Appends `s` escaped for a single-quoted MySQL literal.
pub fn push_mysql_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{1a}' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::dialect::Dialect;
    use super::super::mysql::MYSQL;
    use super::super::postgres::POSTGRES;
    use super::super::sqlite::SQLITE;

    #[test]
    fn quoting() {
        assert_eq!(POSTGRES.table("public.users"), "\"public\".\"users\"");
        assert_eq!(MYSQL.ident("a`b"), "`a``b`");
        assert_eq!(POSTGRES.ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(MYSQL.literal("it's \\"), "'it\\'s \\\\'");
        assert_eq!(SQLITE.literal("it's"), "'it''s'");
    }
}
