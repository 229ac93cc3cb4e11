//! The engine's error: a sentence for the operator, plus, for a database's
//! refusal, what kind of refusal it was, read from the SQLSTATE or the MySQL
//! error number rather than from the message text (which servers word
//! differently across versions and locales).

/// What a database error means to the engine: the few cases some caller
/// answers differently, and everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// The login may not do this (a missing grant, a wrong password).
    AccessDenied,
    /// A statement met the same row twice: two staged rows share a key.
    Cardinality,
    /// The statement names a table that does not exist.
    UndefinedTable,
    /// The connection broke underneath the statement.
    ConnectionLost,
    /// Nothing listens at the host and port (the connection was refused).
    Refused,
    /// The server answered in another protocol: the port of another kind of
    /// database, or not a database at all.
    Protocol,
    /// The server refused the data of a row it was sent (a value it cannot
    /// store, a constraint it breaks), not the statement: the other rows of
    /// the same statement may well be fine.
    Rejected,
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A database failed a statement; the message is its own words.
    #[error("{message}")]
    Database { kind: DbErrorKind, message: String },
    /// A sentence written by the engine.
    #[error("{0}")]
    Message(String),
    /// Another error, prefixed by where it happened (`network "x"`).
    #[error("{context}: {source}")]
    Context { context: String, source: Box<Error> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The database's kind of failure; `Other` for the engine's own sentences.
    pub fn kind(&self) -> DbErrorKind {
        match self {
            Error::Database { kind, .. } => *kind,
            Error::Message(_) => DbErrorKind::Other,
            Error::Context { source, .. } => source.kind(),
        }
    }

    /// Prefixes the sentence with `context` and ": ", keeping the kind.
    pub fn context(self, context: impl Into<String>) -> Error {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error::Message(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error::Message(s.to_string())
    }
}

/// For the callers that report errors as plain sentences (the UI, `dsp check`).
impl From<Error> for String {
    fn from(e: Error) -> Self {
        e.to_string()
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Database {
            kind: classify(&e),
            message: db_message(&e),
        }
    }
}

fn classify(e: &sqlx::Error) -> DbErrorKind {
    match e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            DbErrorKind::Refused
        }
        sqlx::Error::Io(_) => DbErrorKind::ConnectionLost,
        sqlx::Error::Protocol(_) => DbErrorKind::Protocol,
        sqlx::Error::Database(d) => {
            if let Some(my) = d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                match mysql_kind(my.number()) {
                    DbErrorKind::Other if data_sqlstate(my.code()) => DbErrorKind::Rejected,
                    kind => kind,
                }
            } else if let Some(pg) = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                pg_kind(pg.code())
            } else if let Some(lite) = d.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                sqlite_kind(sqlx::error::DatabaseError::code(lite).as_deref())
            } else {
                DbErrorKind::Other
            }
        }
        _ => DbErrorKind::Other,
    }
}

/// PostgreSQL's SQLSTATE classes and codes.
fn pg_kind(sqlstate: &str) -> DbErrorKind {
    match sqlstate {
        "21000" => DbErrorKind::Cardinality,
        "42P01" => DbErrorKind::UndefinedTable,
        "42501" | "28000" | "28P01" => DbErrorKind::AccessDenied,
        s if s.starts_with("08") => DbErrorKind::ConnectionLost,
        // 54000 program_limit_exceeded: a value too large for an index.
        s if data_sqlstate(Some(s)) || s == "54000" => DbErrorKind::Rejected,
        _ => DbErrorKind::Other,
    }
}

/// SQLSTATE class 22 (data exception: a value the column cannot take) and 23
/// (integrity constraint violation: NOT NULL, unique, foreign key, CHECK)
/// are about the rows sent, not the statement. (Class 42 is left out: it is
/// mostly the statement's own fault, a syntax error or a missing column, and
/// splitting the rows would only fail each of them.)
fn data_sqlstate(sqlstate: Option<&str>) -> bool {
    sqlstate.is_some_and(|s| s.starts_with("22") || s.starts_with("23"))
}

/// SQLite's extended result code: its primary code is the low byte.
fn sqlite_kind(code: Option<&str>) -> DbErrorKind {
    let Some(code) = code.and_then(|c| c.parse::<i32>().ok()) else {
        return DbErrorKind::Other;
    };
    match code & 0xff {
        // SQLITE_TOOBIG, SQLITE_CONSTRAINT, SQLITE_MISMATCH
        18..=20 => DbErrorKind::Rejected,
        _ => DbErrorKind::Other,
    }
}

/// MySQL/MariaDB error numbers (their SQLSTATE 42000 covers syntax errors too).
fn mysql_kind(number: u16) -> DbErrorKind {
    match number {
        // ER_DBACCESS_DENIED, ER_ACCESS_DENIED, ER_TABLEACCESS_DENIED,
        // ER_COLUMNACCESS_DENIED, ER_SPECIFIC_ACCESS_DENIED,
        // ER_PROCACCESS_DENIED, ER_ACCESS_DENIED_NO_PASSWORD
        1044 | 1045 | 1142 | 1143 | 1227 | 1370 | 1698 => DbErrorKind::AccessDenied,
        // ER_NO_SUCH_TABLE
        1146 => DbErrorKind::UndefinedTable,
        // ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED
        1053 | 1927 => DbErrorKind::ConnectionLost,
        // Data refusals filed under the general SQLSTATE HY000:
        // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD, ER_INVALID_CHARACTER_STRING,
        // ER_CHECK_CONSTRAINT_VIOLATED (MySQL 8), ER_INVALID_JSON_TEXT.
        1366 | 1300 | 3819 | 3140 => DbErrorKind::Rejected,
        _ => DbErrorKind::Other,
    }
}

/// The database's own words for an error, without sqlx's wrapping.
fn db_message(e: &sqlx::Error) -> String {
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
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "the connection was refused: nothing listens at that host and port; check the port and that the server runs".into()
        }
        sqlx::Error::Io(io) => format!("connection lost ({io})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_sentence_and_the_kind() {
        let e = Error::Database {
            kind: DbErrorKind::AccessDenied,
            message: "permission denied for table t".into(),
        }
        .context("network \"N\"");
        assert_eq!(
            e.to_string(),
            "network \"N\": permission denied for table t"
        );
        assert_eq!(e.kind(), DbErrorKind::AccessDenied);
        assert_eq!(Error::from("plain").kind(), DbErrorKind::Other);
    }

    #[test]
    fn codes_not_words_decide_the_kind() {
        assert_eq!(pg_kind("21000"), DbErrorKind::Cardinality);
        assert_eq!(pg_kind("42P01"), DbErrorKind::UndefinedTable);
        assert_eq!(pg_kind("23505"), DbErrorKind::Rejected);
        assert_eq!(pg_kind("22P05"), DbErrorKind::Rejected);
        assert_eq!(pg_kind("42601"), DbErrorKind::Other);
        assert_eq!(mysql_kind(1142), DbErrorKind::AccessDenied);
        assert_eq!(mysql_kind(1064), DbErrorKind::Other);
        assert_eq!(mysql_kind(1366), DbErrorKind::Rejected);
        assert!(data_sqlstate(Some("23000")) && !data_sqlstate(Some("42000")));
        assert_eq!(sqlite_kind(Some("1299")), DbErrorKind::Rejected);
        assert_eq!(sqlite_kind(Some("1")), DbErrorKind::Other);
    }
}
