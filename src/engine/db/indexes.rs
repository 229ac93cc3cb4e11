//! Whether the columns a job reads by have an index in the source (issue
//! 15): without one every incremental run scans the whole table to find the
//! few rows past its watermark. Only ever a warning, naming the statement
//! that would fix it; a catalog that cannot be asked says nothing.

use super::connect::{Role, connect};
use super::{Conn, columns, job_parts, plan};
use crate::workspace::{Job, Network, SyncMode, Workspace};

/// The source columns a read goes by, each with what it is to the job: the
/// cursor (incremental jobs only) and the primary key's first column.
pub(crate) fn read_by<'a>(
    mode: SyncMode,
    cursor: Option<&'a str>,
    first_key: Option<&'a str>,
) -> Vec<(&'a str, &'static str)> {
    let mut cols = Vec::new();
    if mode == SyncMode::Incremental
        && let Some(c) = cursor
    {
        cols.push((c, CURSOR));
    }
    if let Some(k) = first_key
        && !cols.iter().any(|(c, _)| c.eq_ignore_ascii_case(k))
    {
        cols.push((k, "primary key"));
    }
    cols
}

/// One sentence for each of `cols` that no index of `table` starts with,
/// with the column's role.
pub(crate) async fn unindexed<'r>(
    conn: &mut Conn,
    net: &Network,
    table: &str,
    cols: &[(&str, &'r str)],
) -> Vec<(&'r str, String)> {
    let d = conn.dialect();
    let mut out = Vec::new();
    for &(col, role) in cols {
        if let Ok(0) = conn.scalar(&d.leading_index_sql(table, col)).await {
            out.push((
                role,
                format!(
                    "source table {table} on network \"{}\" has no index starting with {col}, the \
                 job's {role}, so each run scans the whole table; create one: {}",
                    net.name,
                    d.create_index_sql(table, col)
                ),
            ));
        }
    }
    out
}

/// The role `read_by` gives an incremental job's cursor.
pub(crate) const CURSOR: &str = "cursor column";

/// `dsp check --connect`'s warnings for a job: the columns its reads go by
/// that have no index in the source.
pub async fn check_job(ws: &Workspace, job: &Job) -> Vec<String> {
    let Ok((schema, source, _)) = job_parts(ws, job) else {
        return Vec::new();
    };
    let Ok(mut conn) = connect(ws, source, Role::Source).await else {
        return Vec::new();
    };
    let table = &schema.source_table;
    let mut out = Vec::new();
    // The source's own spelling of each column (a missing table or column
    // is `check_job`'s problem to report, not this one's).
    if let Ok(Some(natives)) = columns(&mut conn, table).await {
        let name = |c: Option<&String>| {
            c.and_then(|c| plan::find(&natives, c))
                .map(|n| n.name.clone())
        };
        let (cursor, key) = (
            name(schema.cursor_column.as_ref()),
            name(schema.primary_key.first()),
        );
        let cols = read_by(job.mode, cursor.as_deref(), key.as_deref());
        out = unindexed(&mut conn, source, table, &cols)
            .await
            .into_iter()
            .map(|(_, w)| w)
            .collect();
    }
    conn.close().await;
    out
}
