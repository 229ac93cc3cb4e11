//! Turning a stream of source rows into converted batches for the writer. The
//! dialect modules decode each row into [`Raw`] values and push them here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::plan::Plan;
use crate::engine::error::Result;
use crate::engine::types::{Raw, Special, Value, convert};

/// Rows per message at most: a batch of `batch_size` rows travels as
/// several chunks, so memory stays bounded whatever the batch size...
pub const CHUNK_ROWS: usize = 5_000;
/// ...and whatever the width of the rows.
pub const CHUNK_BYTES: usize = 4 << 20;

/// Roughly what a value occupies once converted.
fn raw_size(r: &Raw) -> usize {
    32 + match r {
        Raw::Text(s) => s.len(),
        Raw::Bytes(b) => b.len(),
        _ => 0,
    }
}

/// One chunk of a batch of source rows, converted.
#[derive(Debug, Default)]
pub struct Batch {
    /// Rows in target column order.
    pub rows: Vec<Vec<Value>>,
    /// Rows read from the source in this chunk, converted or not.
    pub read: u64,
    /// The batch (1-based) this chunk belongs to.
    pub index: u64,
    /// Rows read in the whole batch so far, this chunk included.
    pub batch_read: u64,
    /// This chunk ends its batch.
    pub last: bool,
    /// One sentence per row that could not be converted: its key and why.
    pub failures: Vec<String>,
    /// For each failed row whose key could be read: the key, as a row with
    /// NULL in every other column. A full sync must not delete the target's
    /// copy of a row it could not read.
    pub kept: Vec<Vec<Value>>,
    /// The cursor value of the last row read that had one, as the source wrote
    /// it (rows past the source's clock excepted, see `Cutoff`).
    pub last_cursor: Option<String>,
    /// Rows whose cursor is past the source's clock.
    pub future: u64,
    /// Rows passed through as the source encoded them (PostgreSQL's binary
    /// COPY tuples, for a target whose column types are the source's own).
    pub wire: Vec<u8>,
    /// How many tuples `wire` holds.
    pub wire_rows: usize,
}

/// The source's clock when its snapshot was taken. A watermark must never
/// pass it: a row dated in the future (`9999-12-31`, `infinity`) would pin
/// the watermark there, and every later change would fall behind it unread.
/// Such rows are read and written, but leave the cursor where it was, so
/// every run reads them again.
#[derive(Debug, Clone, Copy)]
pub struct Cutoff {
    pub now: chrono::DateTime<chrono::Utc>,
    /// The zone the cursor's zone-less text is read in.
    pub tz: chrono_tz::Tz,
}

impl Cutoff {
    /// Whether a cursor value is past the clock: `infinity`, or a timestamp
    /// or date after it (year 12000 too). Numbers and text that is no
    /// timestamp are not times: never past it.
    fn passes(&self, cursor: &Raw) -> bool {
        let Raw::Text(t) = cursor else {
            return false;
        };
        if Special::infinity(t) == Some(Special::Infinity) {
            return true;
        }
        crate::engine::types::parse_timestamp(t, self.tz).is_ok_and(|at| at > self.now)
    }
}

/// What the reader sends: a batch, or why reading stopped.
pub type ReadMsg = std::result::Result<Batch, String>;

pub struct BatchBuilder {
    plan: Arc<Plan>,
    batch_size: usize,
    tx: mpsc::Sender<ReadMsg>,
    cancel: CancellationToken,
    cur: Batch,
    chunk: usize,
    /// Approximate size of the values in `cur`.
    cur_bytes: usize,
    cutoff: Option<Cutoff>,
    /// The reader may pass rows through untouched (`push_wire`).
    pass_through: bool,
    /// Rows whose cursor is NULL are counted here and left out (a read past
    /// a watermark that returns them only to count them).
    null_cursors: Option<Arc<AtomicU64>>,
}

impl BatchBuilder {
    pub fn new(
        plan: Arc<Plan>,
        batch_size: usize,
        tx: mpsc::Sender<ReadMsg>,
        cancel: CancellationToken,
        cutoff: Option<Cutoff>,
    ) -> Self {
        BatchBuilder {
            plan,
            batch_size: batch_size.max(1),
            tx,
            cancel,
            cur: Batch {
                index: 1,
                ..Batch::default()
            },
            chunk: batch_size.clamp(1, CHUNK_ROWS),
            cur_bytes: 0,
            cutoff,
            pass_through: false,
            null_cursors: None,
        }
    }

    /// Rows whose cursor is NULL are counted in `n` and left out: neither
    /// read nor written.
    pub fn skip_null_cursors(&mut self, n: Arc<AtomicU64>) {
        self.null_cursors = Some(n);
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Lets the reader hand over rows in the source's encoding, for a writer
    /// that takes them as they are.
    pub fn pass_through(&mut self) {
        self.pass_through = true;
    }

    pub fn wants_wire(&self) -> bool {
        self.pass_through
    }

    /// Takes one row as the source encoded it, counted like a converted one.
    pub async fn push_wire(&mut self, tuple: &[u8]) -> Result<()> {
        self.cur.read += 1;
        self.cur.batch_read += 1;
        self.cur.wire.extend_from_slice(tuple);
        self.cur.wire_rows += 1;
        self.cur_bytes += tuple.len();
        self.sent_if_full().await
    }

    /// Converts one source row (values in `plan.read` order) and sends the batch
    /// when it is full. `Err` means stop reading (cancelled or nobody listens).
    pub async fn push(&mut self, raws: Vec<Raw>) -> Result<()> {
        let plan = &self.plan;
        if let (Some(n), Some(ci)) = (&self.null_cursors, plan.cursor_read)
            && raws.get(ci).is_none_or(|r| *r == Raw::Null)
        {
            n.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.cur.read += 1;
        self.cur.batch_read += 1;
        if let Some(ci) = plan.cursor_read
            && let Some(r) = raws.get(ci)
            && *r != Raw::Null
        {
            if self.cutoff.is_some_and(|c| c.passes(r)) {
                self.cur.future += 1;
            } else {
                self.cur.last_cursor = Some(r.display());
            }
        }
        self.cur_bytes += raws.iter().map(raw_size).sum::<usize>();
        let (row, mut failure) = convert_row(plan, raws);
        if failure.is_none()
            && let Some(&k) = plan.key_read.iter().find(|&&k| row[k] == Value::Null)
        {
            failure = Some(format!(
                "key column {} is NULL, so the row cannot be matched in the target",
                plan.read[k].name
            ));
        }
        match failure {
            None => self.cur.rows.push(row),
            Some(why) => {
                self.cur.kept.extend(key_only(plan, &row));
                self.cur.failures.push(row_failure(plan, &row, &why));
            }
        }
        self.sent_if_full().await
    }

    async fn sent_if_full(&mut self) -> Result<()> {
        if self.cur.batch_read as usize >= self.batch_size {
            self.cur.last = true;
            self.send().await?;
        } else if self.cur.read as usize >= self.chunk || self.cur_bytes >= CHUNK_BYTES {
            self.send().await?;
        }
        Ok(())
    }

    /// Boxed: keeps the spawned reader's future provably `Send`.
    fn send(&mut self) -> futures::future::BoxFuture<'_, Result<()>> {
        let next = Batch {
            index: self.cur.index + u64::from(self.cur.last),
            batch_read: if self.cur.last {
                0
            } else {
                self.cur.batch_read
            },
            ..Batch::default()
        };
        let batch = std::mem::replace(&mut self.cur, next);
        self.cur_bytes = 0;
        Box::pin(async move {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => Err("cancelled".into()),
                r = self.tx.send(Ok(batch)) => r.map_err(|_| "the writer stopped".into()),
            }
        })
    }

    /// Sends the last, partial batch.
    pub async fn finish(mut self) -> Result<()> {
        if self.cur.batch_read > 0 {
            self.cur.last = true;
            self.send().await?;
        }
        Ok(())
    }

    /// Reports why reading failed.
    pub fn fail(self, why: String) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = self.tx.send(Err(why)).await;
        })
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// One source row (values in `plan.read` order) converted to the target's
/// columns, with why the first value that did not convert failed (NULL in
/// its place).
pub fn convert_row(plan: &Plan, raws: Vec<Raw>) -> (Vec<Value>, Option<String>) {
    let n = plan.targets.len();
    let mut row = Vec::with_capacity(n);
    let mut failure = None;
    for (i, raw) in raws.into_iter().take(n).enumerate() {
        let col = &plan.read[i];
        match convert(raw, &col.convert) {
            Ok(v) => row.push(v),
            Err(why) => {
                failure.get_or_insert(format!("column {} ({}): {why}", col.name, col.convert.ty));
                row.push(Value::Null);
            }
        }
    }
    (row, failure)
}

/// A failed row's line for the log: its key (named as the source names it)
/// and why. `row` is in target column order.
pub fn row_failure(plan: &Plan, row: &[Value], why: &str) -> String {
    let key = plan
        .key_read
        .iter()
        .map(|&k| {
            let v = row.get(k).map_or_else(|| "?".into(), show);
            format!("{}={v}", plan.read[k].name)
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("Row {key} of {} failed: {why}", plan.source_table)
}

/// A failed row's key, NULL in every other column: staged so that a full
/// sync keeps the target's copy of a row it could not write. `None` when a
/// key value is missing (such a row matches nothing in the target).
pub fn key_only(plan: &Plan, row: &[Value]) -> Option<Vec<Value>> {
    if plan
        .key_read
        .iter()
        .any(|&k| row.get(k).is_none_or(|v| *v == Value::Null))
    {
        return None;
    }
    let n = plan.targets.len();
    Some(
        (0..n)
            .map(|i| match row.get(i) {
                Some(v) if plan.key_read.contains(&i) => v.clone(),
                _ => Value::Null,
            })
            .collect(),
    )
}

/// A key's text as a log line or a report shows it: as it is when that
/// reads unambiguously, else quoted with escapes (`"a "`, `""`, `"NULL"`,
/// `"x, y=1"`, `"tab\there"`, `"e\u{301}"`), so that a trailing space, an
/// empty string, a separator or a combining accent inside a value cannot
/// pass for something else (`é` decomposed looks like `é` composed).
pub fn shown_key_text(s: &str) -> std::borrow::Cow<'_, str> {
    let plain = !s.is_empty()
        && s != "NULL"
        && !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !s.contains(", ")
        && !s.contains(['=', '"'])
        && !s.chars().any(|c| c.is_control() || combining(c));
    if plain {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\'' => out.push('\''),
            c if combining(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.extend(c.escape_debug()),
        }
    }
    out.push('"');
    std::borrow::Cow::Owned(out)
}

/// The combining marks a key may hide behind a letter.
fn combining(c: char) -> bool {
    matches!(c as u32, 0x300..=0x36F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Text(s) => shown_key_text(s).into_owned(),
        Value::Decimal(s) | Value::Json(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Timestamp(t) => t.to_rfc3339(),
        Value::Date(d) => d.to_string(),
        Value::Time(t) => t.to_string(),
        Value::Uuid(u) => u.to_string(),
        Value::Bytes(b) => format!("0x{}", crate::engine::types::hex_encode(b)),
        Value::Special(s) => s.text().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::shown_key_text;

    #[test]
    fn ambiguous_key_texts_are_quoted() {
        assert_eq!(shown_key_text("abc"), "abc");
        assert_eq!(shown_key_text("日本"), "日本");
        assert_eq!(shown_key_text("a "), "\"a \"");
        assert_eq!(shown_key_text(""), "\"\"");
        assert_eq!(shown_key_text("NULL"), "\"NULL\"");
        assert_eq!(shown_key_text("x, y=1"), "\"x, y=1\"");
        assert_eq!(shown_key_text("tab\there"), "\"tab\\there\"");
        assert_eq!(shown_key_text("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(shown_key_text("e\u{301}"), "\"e\\u{301}\"");
        assert_eq!(shown_key_text("\u{e9}"), "é");
        assert_eq!(shown_key_text("it's "), "\"it's \"");
    }
}
