//! The write side of a run ([`Target`]): bulk loads into a staging table (or
//! the target), the merge, and the transaction, with what the engines share
//! as default methods. Called once per statement or batch; encoding and
//! binding rows stays in each engine's writer.

use futures::future::BoxFuture;

use super::dialect::Dialect;
use super::plan::Plan;
use super::session::Connection;
use super::sql::split_table;
use crate::engine::error::Result;
use crate::engine::progress::Changes;
use crate::engine::types::Value;

/// The quoted names a writer's statements use.
pub struct TargetNames {
    pub dialect: &'static dyn Dialect,
    /// The target table, quoted.
    pub table: String,
    /// The mapped columns, quoted and comma-separated.
    pub cols: String,
    pub names: Vec<String>,
    pub keys: Vec<String>,
    pub non_keys: Vec<String>,
    /// This writer's staging table as statements name it: in the session's
    /// temporary schema, where the engine has one.
    pub stage: String,
    /// The staging table's bare name, and its index's, for creating them.
    pub stage_name: String,
    pub stage_key: String,
}

impl TargetNames {
    pub fn new(dialect: &'static dyn Dialect, plan: &Plan) -> Self {
        let stage_name = stage_name(&plan.target_table);
        TargetNames {
            dialect,
            stage: match dialect.temp_schema() {
                Some(schema) => format!("{schema}.{stage_name}"),
                None => stage_name.clone(),
            },
            stage_key: format!("{stage_name}_key"),
            stage_name,
            table: dialect.table(&plan.target_table),
            cols: dialect.idents(&plan.target_names(), ""),
            names: plan.target_names(),
            keys: plan.key_names(),
            non_keys: plan.non_key_names(),
        }
    }

    /// `a.k = b.k AND ...` over the key columns.
    pub fn key_match(&self, a: &str, b: &str) -> String {
        self.keys
            .iter()
            .map(|k| format!("{a}.{k} = {b}.{k}", k = self.dialect.ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The staging table, or the target.
    pub fn dest(&self, stage: bool) -> &str {
        if stage { &self.stage } else { &self.table }
    }
}

/// A staging table name for a writer into `target`. A temporary table hides
/// a permanent one of the same name from unqualified references, so a stage
/// named like the user's table would silently take its rows: the name is
/// random per writer, and never the target's own (nor its index's).
fn stage_name(target: &str) -> String {
    let (_, bare) = split_table(target);
    loop {
        let name = format!("dsp_stage_{:016x}", random_u64());
        let key = format!("{name}_key");
        if !name.eq_ignore_ascii_case(bare) && !key.eq_ignore_ascii_case(bare) {
            return name;
        }
    }
}

/// 64 random bits: std's hasher keys are seeded randomly and differ between
/// instances.
fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
}

/// Which rows `Target::first_keys` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySet {
    Insert,
    Update,
    Delete,
}

/// The write side of a run: bulk loads into a staging table (or the target),
/// the merge, and the transaction.
pub trait Target: Send {
    fn names(&self) -> &TargetNames;

    /// The session underneath, once any bulk load in progress has ended.
    fn session(&mut self) -> BoxFuture<'_, Result<&mut dyn Connection>>;

    /// Runs one or more statements; returns the rows they affected.
    fn exec<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move { self.session().await?.exec(sql).await })
    }

    /// Runs a `SELECT count(*)`.
    fn count_rows<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move { self.session().await?.count(sql).await })
    }

    /// Creates the session's staging table (outside any transaction).
    fn create_stage(&mut self) -> BoxFuture<'_, Result<()>>;

    fn begin(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let sql = self.names().dialect.begin_sql();
            self.exec(sql).await.map(|_| ())
        })
    }

    fn commit(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.exec("COMMIT").await.map(|_| ()) })
    }

    fn rollback(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.exec("ROLLBACK").await;
        })
    }

    /// Marks the transaction's state so that a write the server refuses can
    /// be undone alone (`again`: the mark set before is released first, so
    /// marks do not pile up). The three engines share the syntax.
    fn savepoint(&mut self, again: bool) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let sql = if again {
                "RELEASE SAVEPOINT dsp_rows; SAVEPOINT dsp_rows"
            } else {
                "SAVEPOINT dsp_rows"
            };
            self.exec(sql).await.map(|_| ())
        })
    }

    /// Drops whatever `write` still holds, then undoes the transaction back
    /// to the last `savepoint` (which stays set).
    fn rollback_to_savepoint(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.discard().await;
            self.exec("ROLLBACK TO SAVEPOINT dsp_rows")
                .await
                .map(|_| ())
        })
    }

    /// Forgets rows `write` holds and has not sent (they are about to be
    /// undone, or written again in parts).
    fn discard(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Rows in the staging table (`stage`) or the target table.
    fn count(&mut self, stage: bool) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let sql = format!("SELECT count(*) FROM {}", self.names().dest(stage));
            self.count_rows(&sql).await
        })
    }

    /// Queues rows for the staging table (`stage`) or straight for the target.
    fn write<'a>(&'a mut self, rows: &'a [Vec<Value>], stage: bool) -> BoxFuture<'a, Result<()>>;

    /// Rows this transaction's bulk loads stored straight into the target
    /// table, as the server reported them, where the writer knows (once
    /// flushed; a load a savepoint undid is never counted, as only loads
    /// the server completed are, and the isolation never undoes those).
    fn copied(&self) -> Option<u64> {
        None
    }

    /// Whether `write_wire` takes tuples in the binary form of the target's
    /// own column types.
    fn takes_wire(&self) -> bool {
        false
    }

    /// Queues tuples a source passed through (see `Connection::sends_wire`).
    fn write_wire<'a>(&'a mut self, _wire: &'a [u8], _stage: bool) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Err("this target cannot take rows in the source's encoding".into()) })
    }

    /// Sends whatever `write` still holds.
    fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Deletes target rows whose key is not staged; returns how many.
    fn delete_missing(&mut self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let n = self.names();
            let sql = format!(
                "DELETE FROM {} AS t WHERE NOT EXISTS (SELECT 1 FROM {} AS s WHERE {})",
                n.table,
                n.stage,
                n.key_match("s", "t")
            );
            self.exec(&sql).await
        })
    }

    /// Deletes target rows whose key is staged; returns how many.
    fn delete_staged(&mut self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let n = self.names();
            let sql = format!(
                "DELETE FROM {} AS t WHERE EXISTS (SELECT 1 FROM {} AS s WHERE {})",
                n.table,
                n.stage,
                n.key_match("s", "t")
            );
            self.exec(&sql).await
        })
    }

    /// The engine's statement that inserts new and updates changed target
    /// rows from the staging table; returns the rows it affected, as the
    /// engine counts them (see `updated_of`). `unchanged_likely` when many
    /// staged rows may already be in the target as they are.
    fn upsert_rows(&mut self, unchanged_likely: bool) -> BoxFuture<'_, Result<u64>>;

    /// The updated rows among `affected` (from `upsert_rows`) of `staged`
    /// rows, `inserted` of them new. By default each row inserted or updated
    /// counts once and an unchanged one not at all (SQLite's `changes()`).
    fn updated_of(&self, affected: u64, inserted: u64, _staged: u64) -> u64 {
        affected.saturating_sub(inserted)
    }

    /// Staged rows whose key the target already holds.
    fn count_existing(&mut self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let n = self.names();
            let sql = format!(
                "SELECT count(*) FROM {} s JOIN {} t ON {}",
                n.stage,
                n.table,
                n.key_match("s", "t")
            );
            self.count_rows(&sql).await
        })
    }

    /// Inserts new and updates changed target rows from the staging table,
    /// which holds `staged` rows; returns what changed. An unchanged row is
    /// not rewritten.
    fn upsert(&mut self, unchanged_likely: bool, staged: u64) -> BoxFuture<'_, Result<Changes>> {
        Box::pin(async move {
            // Counted before: afterwards every staged key is in the target.
            let existing = self.count_existing().await?;
            let affected = self.upsert_rows(unchanged_likely).await?;
            let inserted = staged.saturating_sub(existing);
            let updated = self.updated_of(affected, inserted, staged);
            Ok(Changes::of_written(staged, inserted, updated))
        })
    }

    /// Applies the whole stage (`staged` rows) to a target that held `before`
    /// rows: inserts new rows, updates changed ones, deletes those not
    /// staged. Returns what changed and the rows in the target afterwards.
    fn merge(&mut self, before: u64, staged: u64) -> BoxFuture<'_, Result<(Changes, u64)>> {
        Box::pin(async move {
            let affected = self.upsert_rows(true).await?;
            let deleted = self.delete_missing().await?;
            let after = self.count(false).await?;
            // Every row the target holds now was kept, updated or inserted.
            let inserted = (after + deleted).saturating_sub(before);
            let updated = self.updated_of(affected, inserted, staged);
            let mut changes = Changes::of_written(staged, inserted, updated);
            changes.deleted = deleted;
            Ok((changes, after))
        })
    }

    /// `a`'s mapped values differ from `b`'s (NULL differs from any value),
    /// for the rows whose keys match.
    fn differs(&self, a: &str, b: &str) -> String {
        let n = self.names();
        if n.non_keys.is_empty() {
            return "1 = 0".into();
        }
        n.non_keys
            .iter()
            .map(|c| {
                let c = n.dialect.ident(c);
                format!("{a}.{c} IS DISTINCT FROM {b}.{c}")
            })
            .collect::<Vec<_>>()
            .join(" OR ")
    }

    /// The first `limit` keys, in key order, of the staged rows the target
    /// lacks (`Insert`), holds with other values (`Update`), or holds but the
    /// stage lacks (`Delete`). Asked before the stage is applied.
    fn first_keys(&mut self, which: KeySet, limit: u64) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(async move {
            let n = self.names();
            let (from, other, prefix, filter) = match which {
                KeySet::Insert => (&n.stage, &n.table, "s.", "NOT EXISTS"),
                KeySet::Delete => (&n.table, &n.stage, "s.", "NOT EXISTS"),
                KeySet::Update => (&n.stage, &n.table, "s.", "EXISTS"),
            };
            let changed = match which {
                KeySet::Update => format!(" AND ({})", self.differs("o", "s")),
                _ => String::new(),
            };
            let sql = format!(
                "SELECT {key} FROM {from} s WHERE {filter} (SELECT 1 FROM {other} o WHERE {on}{changed}) \
                 ORDER BY {order} LIMIT {limit}",
                key = n.dialect.key_text(&n.keys, prefix),
                on = n.key_match("o", "s"),
                order = n.dialect.idents(&n.keys, prefix),
            );
            self.session().await?.texts(&sql).await
        })
    }

    /// Empties the staging table for the next batch.
    fn clear_stage(&mut self) -> BoxFuture<'_, Result<()>> {
        self.empty_stage()
    }

    /// Empties the staging table now, inside the transaction (where
    /// `clear_stage` may leave it to the COMMIT).
    fn empty_stage(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let sql = format!("DELETE FROM {}", self.names().stage);
            self.exec(&sql).await.map(|_| ())
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

#[cfg(test)]
mod tests {
    use super::stage_name;

    /// Each writer its own stage, never named like the target or its index.
    #[test]
    fn stage_names_are_fresh_and_never_the_target() {
        let a = stage_name("dsp_stage");
        let b = stage_name("s.DSP_STAGE_KEY");
        assert!(a.starts_with("dsp_stage_") && a.len() == "dsp_stage_".len() + 16);
        assert_ne!(a, b);
        for t in [&a, &b] {
            assert!(!t.eq_ignore_ascii_case("dsp_stage"));
            assert!(!t.eq_ignore_ascii_case("dsp_stage_key"));
        }
    }
}
