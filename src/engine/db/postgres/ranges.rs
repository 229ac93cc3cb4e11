//! One snapshot read in key ranges at once. Every connection has imported the
//! read transaction's snapshot (`share_snapshot`), so the ranges together are
//! exactly the rows one connection would have read; each runs its own binary
//! `COPY`, and their streams meet in the one [`BatchBuilder`] of the run, so
//! batches, their log lines and the writer see one read as before.

use futures::TryStreamExt;
use sqlx::{Executor, PgConnection};
use tokio::sync::mpsc;

use super::binary_read::CopyTuples;
use super::{export_snapshot, import_snapshot};
use crate::engine::db::read::BatchBuilder;
use crate::engine::db::session::{Conn, RangePiece};
use crate::engine::error::Result;

/// Bytes of COPY data a range gathers before handing them over: one message
/// per tuple through the channel would cost a wake-up per row.
const PIECE_BYTES: usize = 256 << 10;

/// Exports this session's snapshot and imports it into `others`, each then
/// inside a read-only transaction that sees exactly what this one sees.
/// Returns the sessions that joined; one that could not is closed.
pub(super) async fn share_snapshot(
    main: &mut PgConnection,
    others: Vec<Conn>,
) -> Result<Vec<Conn>> {
    let mut joined = Vec::new();
    let id = export_snapshot(main).await?;
    for mut o in others {
        match &id {
            Some(id) if import_snapshot(&mut o, id).await => joined.push(o),
            _ => o.close().await,
        }
    }
    Ok(joined)
}

/// Reads `sql` on `main` and each `(session, sql)` of `others` at once, all
/// into `b`. The first failure of any range ends the read with its error;
/// the other ranges are then dropped where they are (their connections
/// close, and their servers roll back).
pub(super) async fn stream_ranges(
    main: &mut PgConnection,
    sql: &str,
    others: Vec<(Conn, String)>,
    b: &mut BatchBuilder,
) -> Result<()> {
    let mut tuples: Vec<CopyTuples> = (0..=others.len())
        .map(|_| CopyTuples::new(b.plan()))
        .collect();
    let (tx, rx) = mpsc::channel::<RangePiece>(2 * tuples.len());
    // Held, not read: dropping it aborts the ranges still sending when the
    // merge ends early.
    let mut ranges = tokio::task::JoinSet::new();
    for (i, (conn, sql)) in others.into_iter().enumerate() {
        ranges.spawn(conn.copy_range(sql, i + 1, tx.clone()));
    }
    let first = async move {
        if let Err(e) = forward(main, sql, 0, &tx).await {
            let _ = tx.send(RangePiece::Failed(e.to_string())).await;
        }
    };
    let merge = async {
        // Owned here: once the merge ends, on a failure too, every range's
        // next send fails and it stops.
        let mut rx = rx;
        while let Some(piece) = rx.recv().await {
            match piece {
                RangePiece::Data(i, bytes) => tuples[i].take(&bytes, b).await?,
                RangePiece::Failed(why) => return Err(why.into()),
            }
        }
        tuples.iter().try_for_each(CopyTuples::end)
    };
    // Every range sends until it is done or fails, so `merge` ends once
    // all have ended; it may end first, on a failure, dropping the rest.
    let (_, merged) = tokio::join!(first, merge);
    merged
}

/// Sends `sql`'s binary COPY data, in pieces, as range `id`.
pub(super) async fn forward(
    conn: &mut PgConnection,
    sql: &str,
    id: usize,
    tx: &mpsc::Sender<RangePiece>,
) -> Result<()> {
    let mut out = conn
        .copy_out_raw(&format!("COPY ({sql}) TO STDOUT (FORMAT binary)"))
        .await?;
    let mut piece = Vec::with_capacity(PIECE_BYTES);
    while let Some(msg) = out.try_next().await? {
        piece.extend_from_slice(&msg);
        if piece.len() >= PIECE_BYTES {
            let full = std::mem::replace(&mut piece, Vec::with_capacity(PIECE_BYTES));
            send(tx, id, full).await?;
        }
    }
    send(tx, id, piece).await
}

async fn send(tx: &mpsc::Sender<RangePiece>, id: usize, bytes: Vec<u8>) -> Result<()> {
    tx.send(RangePiece::Data(id, bytes))
        .await
        .map_err(|_| "the read of the other key ranges stopped".into())
}

/// Range `id` on a session of its own: sends its rows, then ends the
/// snapshot and closes; a failure is sent as the range's last piece.
pub(super) async fn copy_range(
    mut conn: PgConnection,
    sql: String,
    id: usize,
    tx: mpsc::Sender<RangePiece>,
) {
    if let Err(e) = forward(&mut conn, &sql, id, &tx).await {
        let _ = tx.send(RangePiece::Failed(e.to_string())).await;
        return;
    }
    let _ = conn.execute("ROLLBACK").await;
    crate::engine::db::session::close_quietly(conn).await;
}
