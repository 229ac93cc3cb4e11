//! Rows into the target, a row the server refuses failing alone. Rows go in
//! units of a few MB: before a unit the transaction's state is marked (a
//! savepoint, or the BEGIN itself while nothing is written yet) and the
//! unit's rows are held until the server has taken them. When it refuses the
//! unit for its data ([`DbErrorKind::Rejected`]: a value the column cannot
//! store, a constraint, a row over the packet limit), the unit is undone and
//! written again in halves, recursively, until each refused row stands alone:
//! that row fails, named by its key with the server's reason, and every other
//! row of the unit is written. Any other error (a lost connection, a refused
//! grant) still fails the run. The fast path pays one savepoint per unit.
//!
//! An incremental batch staged in one unit keeps its rows until it is
//! applied: should the upsert from the stage be refused (a constraint the
//! stage does not have), the batch is rolled back and staged and applied
//! again in halves the same way.
//!
//! Refused rows are collected in `failures`, for the caller to count and log
//! (`Report::fail_rows`); past `max_failed` of them the writer stops
//! isolating, and the caller's count fails the run.

use super::super::setup::Setup;
use super::super::stop::Stop;
use crate::engine::DbErrorKind;
use crate::engine::db::Writer;
use crate::engine::db::plan::Plan;
use crate::engine::db::read::{key_only, row_failure};
use crate::engine::error::Error;
use crate::engine::progress::Changes;
use crate::engine::types::Value;

/// A unit ends once it holds this many rows...
const UNIT_ROWS: usize = 10_000;
/// ...or values of about this many bytes (what it keeps in memory).
const UNIT_BYTES: usize = 4 << 20;
/// Rows passed through untouched are held as the bytes sent, far more
/// compactly than values: their unit ends at this many bytes, whatever the
/// rows. Each unit is its own COPY statement and savepoint; at 10,000 rows a
/// million-row copy spent ~0.4 s of the target's time starting and ending
/// a hundred of them.
const WIRE_UNIT_BYTES: usize = 16 << 20;
/// The server's reason is cut to this many characters in a row's line.
const REASON_CHARS: usize = 200;

/// What undoing the current unit takes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mark {
    /// No transaction yet: the first write begins it.
    NotBegun,
    /// The transaction has just begun: undo by rolling it back and
    /// beginning again (no savepoint needed).
    Begun,
    /// A savepoint marks the current state.
    Clean,
    /// Rows were written since the last mark; `savepoint`: one exists, to be
    /// released when the next is set.
    Stale { savepoint: bool },
}

/// Writes rows into the staging table (`stage`) or the target, isolating the
/// rows the server refuses.
pub(super) struct RowWriter<'a> {
    w: &'a mut Writer,
    plan: &'a Plan,
    stage: bool,
    held: Vec<Vec<Value>>,
    /// Tuples passed through from the source since the mark, as sent.
    held_wire: Vec<u8>,
    held_wire_rows: usize,
    held_bytes: usize,
    mark: Mark,
    /// Each part written while isolating is also upserted from the stage
    /// (`Some(unchanged_likely)`), the stage emptied after.
    apply: Option<bool>,
    /// The transaction's rows when they all went in its first unit and
    /// none was refused (`beginning` only): enough to apply them again.
    whole: Option<Vec<Vec<Value>>>,
    max_failed: u64,
    /// Rows the server has taken.
    pub(super) written: u64,
    /// One line per refused row: its key and the server's reason.
    pub(super) failures: Vec<String>,
    /// What the upserts of parts changed (`apply` only).
    pub(super) changes: Changes,
    /// Refused rows so far, whether or not `failures` was drained.
    refused: u64,
    /// The keys of refused rows, NULL elsewhere: a full sync keeps the
    /// target's copies of rows it could not write.
    pub(super) kept: Vec<Vec<Value>>,
}

impl<'a> RowWriter<'a> {
    /// Inside a transaction that has already done work.
    pub(super) fn within(w: &'a mut Writer, plan: &'a Plan, stage: bool, s: &Setup) -> Self {
        Self::new(w, plan, stage, Mark::Stale { savepoint: false }, s)
    }

    /// Begins the transaction with the first row written.
    pub(super) fn beginning(w: &'a mut Writer, plan: &'a Plan, stage: bool, s: &Setup) -> Self {
        Self::new(w, plan, stage, Mark::NotBegun, s)
    }

    fn new(w: &'a mut Writer, plan: &'a Plan, stage: bool, mark: Mark, s: &Setup) -> Self {
        RowWriter {
            w,
            plan,
            stage,
            held: Vec::new(),
            held_wire: Vec::new(),
            held_wire_rows: 0,
            held_bytes: 0,
            mark,
            apply: None,
            whole: None,
            max_failed: s.job.max_failed(),
            written: 0,
            failures: Vec::new(),
            refused: 0,
            changes: Changes::default(),
            kept: Vec::new(),
        }
    }

    /// The transaction's rows, if they all went in its first unit and none
    /// was refused.
    pub(super) fn into_whole(self) -> Option<Vec<Vec<Value>>> {
        self.whole
    }

    /// The upsert of the batch `rows`, staged on `w` in one unit, was refused
    /// (`e`): rolls the batch back, then stages and upserts it again in
    /// halves until each refused row is alone. The transaction stays open.
    pub(super) async fn reapply(
        w: &'a mut Writer,
        plan: &'a Plan,
        s: &Setup<'_>,
        rows: Vec<Vec<Value>>,
        unchanged_likely: bool,
        e: Error,
    ) -> Result<Self, Stop> {
        let mut rw = Self::new(w, plan, true, Mark::Begun, s);
        rw.apply = Some(unchanged_likely);
        rw.undo(s).await?;
        rw.isolate(s, rows, e).await?;
        Ok(rw)
    }

    /// Whether a transaction was begun (by `beginning`'s first row).
    pub(super) fn began(&self) -> bool {
        self.mark != Mark::NotBegun
    }

    /// Rows written so far, whether or not the server has them yet.
    pub(super) fn rows(&self) -> u64 {
        self.written + self.held.len() as u64
    }

    /// Whether `more` rows like those held so far would still go in the
    /// transaction's first unit: an incremental commit group grows only while
    /// it does, so that its rows stay at hand should its upsert be refused.
    pub(super) fn can_hold(&self, more: usize) -> bool {
        let first_unit = matches!(self.mark, Mark::NotBegun | Mark::Begun);
        let per_row = self.held_bytes / self.held.len().max(1);
        first_unit
            && self.held.len() + more <= UNIT_ROWS
            && self.held_bytes + per_row * more <= UNIT_BYTES
    }

    /// Writes rows; a full unit is sent and settled.
    pub(super) async fn write(&mut self, s: &Setup<'_>, rows: Vec<Vec<Value>>) -> Result<(), Stop> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.holds_nothing() {
            self.set_mark(s).await?;
        }
        let stage = self.stage;
        let r = s
            .target
            .op(s.cancel, async {
                Ok::<_, Error>(self.w.write(&rows, stage).await)
            })
            .await?;
        self.held_bytes += rows.iter().map(|r| row_bytes(r)).sum::<usize>();
        if self.held.is_empty() {
            self.held = rows;
        } else {
            self.held.extend(rows);
        }
        self.settle_write(s, r).await
    }

    /// Writes `rows` tuples a source passed through untouched (`wire`).
    pub(super) async fn write_wire(
        &mut self,
        s: &Setup<'_>,
        wire: Vec<u8>,
        rows: usize,
    ) -> Result<(), Stop> {
        if rows == 0 {
            return Ok(());
        }
        if self.holds_nothing() {
            self.set_mark(s).await?;
        }
        let stage = self.stage;
        let r = s
            .target
            .op(s.cancel, async {
                Ok::<_, Error>(self.w.write_wire(&wire, stage).await)
            })
            .await?;
        if self.held_wire.is_empty() {
            self.held_wire = wire;
        } else {
            self.held_wire.extend_from_slice(&wire);
        }
        self.held_wire_rows += rows;
        self.settle_write(s, r).await
    }

    fn holds_nothing(&self) -> bool {
        self.held.is_empty() && self.held_wire_rows == 0
    }

    /// After a write: a refusal is isolated, a full unit is sent.
    async fn settle_write(&mut self, s: &Setup<'_>, r: Result<(), Error>) -> Result<(), Stop> {
        match r {
            Err(e) => self.recover(s, e).await,
            Ok(())
                if self.held.len() >= UNIT_ROWS
                    || self.held_bytes >= UNIT_BYTES
                    || self.held_wire.len() >= WIRE_UNIT_BYTES =>
            {
                self.flush(s).await
            }
            Ok(()) => Ok(()),
        }
    }

    /// Sends what the writer still holds and settles the unit.
    pub(super) async fn flush(&mut self, s: &Setup<'_>) -> Result<(), Stop> {
        if self.holds_nothing() {
            return Ok(());
        }
        let r = s
            .target
            .op(s.cancel, async { Ok::<_, Error>(self.w.flush().await) })
            .await?;
        match r {
            Ok(()) => {
                let rows = std::mem::take(&mut self.held);
                let wire_rows = std::mem::take(&mut self.held_wire_rows);
                self.held_wire.clear();
                self.held_bytes = 0;
                // The first unit of a transaction begun here is kept; a
                // later one means the batch spans several units.
                let first = self.mark == Mark::Begun && wire_rows == 0;
                self.taken(rows.len() + wire_rows);
                self.whole = first.then_some(rows);
                Ok(())
            }
            Err(e) => self.recover(s, e).await,
        }
    }

    /// The server took `rows` rows since the last mark.
    fn taken(&mut self, rows: usize) {
        self.written += rows as u64;
        self.mark = match self.mark {
            Mark::Clean | Mark::Stale { savepoint: true } => Mark::Stale { savepoint: true },
            _ => Mark::Stale { savepoint: false },
        };
    }

    /// Marks the current state, if rows were written since the last mark.
    async fn set_mark(&mut self, s: &Setup<'_>) -> Result<(), Stop> {
        match self.mark {
            Mark::NotBegun => {
                s.target.op(s.cancel, self.w.begin()).await?;
                self.mark = Mark::Begun;
            }
            Mark::Stale { savepoint } => {
                s.target.op(s.cancel, self.w.savepoint(savepoint)).await?;
                self.mark = Mark::Clean;
            }
            Mark::Begun | Mark::Clean => {}
        }
        Ok(())
    }

    /// Undoes what was written since the mark.
    async fn undo(&mut self, s: &Setup<'_>) -> Result<(), Stop> {
        let (t, cancel) = (&s.target, s.cancel);
        match self.mark {
            Mark::Begun => {
                self.w.discard().await;
                self.w.rollback().await;
                t.op(cancel, self.w.begin()).await
            }
            Mark::Clean => t.op(cancel, self.w.rollback_to_savepoint()).await,
            // Every write is preceded by a mark: not reached.
            Mark::NotBegun | Mark::Stale { .. } => Err(Stop::failed(
                "a refused write could not be undone on its own; nothing was committed",
            )),
        }
    }

    /// The unit held failed with `e`: a refusal of its data is isolated to
    /// its rows, anything else fails the run.
    async fn recover(&mut self, s: &Setup<'_>, e: Error) -> Result<(), Stop> {
        if e.kind() != DbErrorKind::Rejected {
            return Err(s.target.fail(e));
        }
        let mut rows = std::mem::take(&mut self.held);
        let wire = std::mem::take(&mut self.held_wire);
        self.held_wire_rows = 0;
        self.held_bytes = 0;
        self.whole = None;
        self.undo(s).await?;
        // Passed-through rows are decoded now, to be written one by one.
        if !wire.is_empty() {
            let decoded =
                crate::engine::db::wire_values(self.plan, &wire).map_err(|e| s.source.fail(e))?;
            for (row, failure) in decoded {
                match failure {
                    None => rows.push(row),
                    Some(line) => {
                        self.kept.extend(key_only(self.plan, &row));
                        self.failures.push(line);
                        self.refused += 1;
                    }
                }
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        self.isolate(s, rows, e).await
    }

    /// Writes `rows`, refused as a whole with `e` and undone, in halves until
    /// each refused row is alone. Parts go in their order, each settled
    /// before the next.
    async fn isolate(
        &mut self,
        s: &Setup<'_>,
        mut rows: Vec<Vec<Value>>,
        e: Error,
    ) -> Result<(), Stop> {
        if rows.len() == 1 {
            self.refuse(&rows[0], &e);
            return Ok(());
        }
        // A stack whose top is the next part in order.
        let right = rows.split_off(rows.len() / 2);
        let mut todo = vec![right, rows];
        while let Some(mut part) = todo.pop() {
            // Past max_failed the run fails anyway: no use going on.
            if self.refused > self.max_failed {
                break;
            }
            self.set_mark(s).await?;
            match self.attempt(s, &part).await? {
                Ok(()) => self.taken(part.len()),
                Err(e) if e.kind() == DbErrorKind::Rejected => {
                    self.undo(s).await?;
                    if part.len() == 1 {
                        self.refuse(&part[0], &e);
                    } else {
                        let right = part.split_off(part.len() / 2);
                        todo.push(right);
                        todo.push(part);
                    }
                }
                Err(e) => return Err(s.target.fail(e)),
            }
        }
        Ok(())
    }

    /// Writes and sends one part; the outer error is the run's (a cancel, a
    /// stall), the inner the server's answer.
    async fn attempt(
        &mut self,
        s: &Setup<'_>,
        part: &[Vec<Value>],
    ) -> Result<Result<(), Error>, Stop> {
        let (w, stage, apply) = (&mut *self.w, self.stage, self.apply);
        let changes = &mut self.changes;
        s.target
            .op(s.cancel, async move {
                let r = async {
                    w.write(part, stage).await?;
                    w.flush().await?;
                    if let Some(unchanged_likely) = apply {
                        changes.add(w.upsert(unchanged_likely, part.len() as u64).await?);
                        w.empty_stage().await?;
                    }
                    Ok(())
                };
                Ok::<_, Error>(r.await)
            })
            .await
    }

    /// One row the server refused, named by its key with the server's
    /// reason.
    fn refuse(&mut self, row: &[Value], e: &Error) {
        let why = format!(
            "not written to the target table {}: {}",
            self.plan.target_table,
            clip(&e.to_string())
        );
        self.kept.extend(key_only(self.plan, row));
        self.failures.push(row_failure(self.plan, row, &why));
        self.refused += 1;
    }
}

/// Roughly what a row occupies in memory.
fn row_bytes(row: &[Value]) -> usize {
    row.iter()
        .map(|v| {
            32 + match v {
                Value::Decimal(s) | Value::Text(s) | Value::Json(s) => s.len(),
                Value::Bytes(b) => b.len(),
                _ => 0,
            }
        })
        .sum()
}

/// A server's reason on one line and at most `REASON_CHARS` long (a value
/// it quotes could be megabytes).
fn clip(reason: &str) -> String {
    let one_line: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= REASON_CHARS {
        return one_line;
    }
    let head: String = one_line.chars().take(REASON_CHARS - 3).collect();
    format!("{head}...")
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn a_reason_stays_one_short_line() {
        assert_eq!(clip("bad\nvalue"), "bad value");
        let long = clip(&"x".repeat(1000));
        assert_eq!(long.chars().count(), 200);
        assert!(long.ends_with("..."));
    }
}
