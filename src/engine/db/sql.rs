//! SQL text shared by the dialects: identifier quoting, table names, literals,
//! and turning driver errors into one readable sentence.

/// Which SQL dialect a statement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Mysql,
    Sqlite,
}

impl Dialect {
    /// A quoted identifier; the quote character inside a name is doubled, so a
    /// name can never end the quoting.
    pub fn ident(self, name: &str) -> String {
        match self {
            Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
            Dialect::Postgres | Dialect::Sqlite => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// A possibly schema-qualified table name (`public.users`), quoted part by part.
    pub fn table(self, name: &str) -> String {
        let (schema, table) = split_table(name);
        match schema {
            Some(s) => format!("{}.{}", self.ident(s), self.ident(table)),
            None => self.ident(table),
        }
    }

    /// A string literal. MySQL sessions run with backslash escapes on (the
    /// connection pins sql_mode), so backslashes are escaped there too.
    pub fn literal(self, s: &str) -> String {
        match self {
            Dialect::Mysql => {
                let mut out = String::with_capacity(s.len() + 2);
                out.push('\'');
                push_mysql_escaped(&mut out, s);
                out.push('\'');
                out
            }
            Dialect::Postgres | Dialect::Sqlite => format!("'{}'", s.replace('\'', "''")),
        }
    }

    /// A comma-separated list of quoted identifiers, each optionally prefixed.
    pub fn idents(self, names: &[String], prefix: &str) -> String {
        names
            .iter()
            .map(|n| format!("{prefix}{}", self.ident(n)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

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

/// The database's own words for an error, without sqlx's wrapping.
pub fn db_err(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => {
            // PostgreSQL puts the useful part (which key, which value) in DETAIL.
            let detail = d
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .and_then(|pg| pg.detail());
            match detail {
                Some(detail) => format!("{} ({detail})", d.message()),
                None => d.message().to_string(),
            }
        }
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".into(),
        sqlx::Error::Io(io) => format!("connection lost ({io})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(
            Dialect::Postgres.table("public.users"),
            "\"public\".\"users\""
        );
        assert_eq!(Dialect::Mysql.ident("a`b"), "`a``b`");
        assert_eq!(Dialect::Postgres.ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(Dialect::Mysql.literal("it's \\"), "'it\\'s \\\\'");
        assert_eq!(Dialect::Sqlite.literal("it's"), "'it''s'");
    }
}
