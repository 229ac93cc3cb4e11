//! Reading a SQLite source by stepping the statement on sqlx's own connection
//! handle. sqlx-sqlite hands every row from its worker thread through a channel
//! and copies each value on the way; for a million-row table that hand-off, not
//! SQLite, was most of the read's cost. Here the reader task steps the statement
//! itself, inside the read transaction the connection already holds, and builds
//! [`Raw`] values straight from the column memory.

use std::ffi::{CStr, c_int};
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;
use sqlx::SqliteConnection;

use super::super::read::BatchBuilder;
use crate::engine::error::Result;
use crate::engine::types::Raw;

/// A prepared statement, finalized when dropped — also when the reading future
/// is dropped at an await (a cancelled run), before the connection lock it
/// borrows is released.
struct Stmt {
    db: NonNull<ffi::sqlite3>,
    stmt: NonNull<ffi::sqlite3_stmt>,
}

// SAFETY: the handle and the statement are only touched by the task holding
// the connection's lock (`LockedSqliteHandle`), which outlives this value;
// SQLite connections may move between threads (sqlx opens them serialized).
unsafe impl Send for Stmt {}

impl Stmt {
    fn prepare(db: NonNull<ffi::sqlite3>, sql: &str) -> Result<Stmt> {
        let len = c_int::try_from(sql.len()).map_err(|_| "the query is too long")?;
        let mut stmt = ptr::null_mut();
        // SAFETY: `db` is an open connection we hold the lock of; `sql` is
        // valid for `len` bytes (no NUL terminator needed when a length is given).
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db.as_ptr(),
                sql.as_ptr().cast(),
                len,
                0,
                &mut stmt,
                ptr::null_mut(),
            )
        };
        match NonNull::new(stmt) {
            Some(stmt) if rc == ffi::SQLITE_OK => Ok(Stmt { db, stmt }),
            Some(stmt) => {
                drop(Stmt { db, stmt });
                Err(errmsg(db).into())
            }
            None if rc == ffi::SQLITE_OK => Err("the query is empty".into()),
            None => Err(errmsg(db).into()),
        }
    }

    /// `Ok(true)` when a row is ready to read.
    fn step(&mut self) -> Result<bool> {
        // SAFETY: a live statement on a connection we hold.
        match unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            _ => Err(errmsg(self.db).into()),
        }
    }

    /// Column `i` of the current row, with the type SQLite stored it as.
    fn raw(&self, i: usize) -> Raw {
        let s = self.stmt.as_ptr();
        let i = i as c_int;
        // SAFETY: `step` returned a row and `i` is below the column count
        // (checked by the caller). The text and blob pointers stay valid until
        // the next step; their length is read after the pointer, as SQLite's
        // documentation requires, and the bytes are copied out at once.
        unsafe {
            match ffi::sqlite3_column_type(s, i) {
                ffi::SQLITE_NULL => Raw::Null,
                ffi::SQLITE_INTEGER => Raw::Int(ffi::sqlite3_column_int64(s, i)),
                ffi::SQLITE_FLOAT => Raw::Float(ffi::sqlite3_column_double(s, i)),
                ffi::SQLITE_BLOB => {
                    let p = ffi::sqlite3_column_blob(s, i).cast::<u8>();
                    let n = ffi::sqlite3_column_bytes(s, i).max(0) as usize;
                    Raw::Bytes(if p.is_null() {
                        Vec::new()
                    } else {
                        std::slice::from_raw_parts(p, n).to_vec()
                    })
                }
                _ => {
                    let p = ffi::sqlite3_column_text(s, i);
                    let n = ffi::sqlite3_column_bytes(s, i).max(0) as usize;
                    let bytes = if p.is_null() {
                        &[][..]
                    } else {
                        std::slice::from_raw_parts(p, n)
                    };
                    // SQLite keeps whatever bytes it was given as TEXT. Invalid
                    // UTF-8 travels as bytes: a text or JSON column then fails
                    // that row, named by its key, and a bytes column keeps it.
                    match std::str::from_utf8(bytes) {
                        Ok(text) => Raw::Text(text.to_owned()),
                        Err(_) => Raw::Bytes(bytes.to_vec()),
                    }
                }
            }
        }
    }

    fn columns(&self) -> usize {
        // SAFETY: a live statement.
        unsafe { ffi::sqlite3_column_count(self.stmt.as_ptr()) }.max(0) as usize
    }
}

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: finalized once, while the connection lock is still held
        // (declared after the lock, so dropped before it).
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

fn errmsg(db: NonNull<ffi::sqlite3>) -> String {
    // SAFETY: SQLite returns a NUL-terminated message owned by the connection.
    unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db.as_ptr())) }
        .to_string_lossy()
        .into_owned()
}

/// Runs `sql` on `c` and pushes every row into `b`. Boxed so that the spawned
/// reader's future is `Send`.
pub(super) fn stream<'a>(
    c: &'a mut SqliteConnection,
    sql: &'a str,
    b: &'a mut BatchBuilder,
) -> futures::future::BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        let n = b.plan().read.len();
        // Order matters: the statement must be finalized before the lock goes.
        let mut lock = c.lock_handle().await?;
        let mut stmt = Stmt::prepare(lock.as_raw_handle(), sql)?;
        if stmt.columns() < n {
            return Err(format!(
                "the query returned {} columns where {n} were expected",
                stmt.columns()
            )
            .into());
        }
        while stmt.step()? {
            let mut raws = Vec::with_capacity(n);
            for i in 0..n {
                raws.push(stmt.raw(i));
            }
            b.push(raws).await?;
        }
        drop(stmt);
        drop(lock);
        Ok(())
    })
}
