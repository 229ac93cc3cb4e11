//! What a dry run (`dsp run --dry-run`, the TUI's `p`) found: everything the
//! run would do, with nothing written.

use crate::engine::progress::{Changes, RunStatus, thousands};
use crate::workspace::SyncMode;

/// Keys listed of each kind of change.
pub const FIRST_KEYS: u64 = 10;

/// The outcome of a dry run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Preview {
    pub job: String,
    pub mode: SyncMode,
    /// Succeeded: the run would go through. Failed: a guard or an error
    /// would stop it (`error` says why); Cancelled: the dry run was.
    pub status: Option<RunStatus>,
    pub error: Option<String>,
    /// The target table does not exist: the run would create it.
    pub create_target: bool,
    /// Rows the run would read (for an incremental job: past the watermark).
    pub read: u64,
    /// Rows that would fail to convert.
    pub failed: u64,
    /// What the run would change, once the dry run got that far.
    pub changes: Option<Changes>,
    /// The first keys (in key order) of the rows to insert, update, delete.
    pub first: FirstKeys,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FirstKeys {
    pub insert: Vec<String>,
    pub update: Vec<String>,
    pub delete: Vec<String>,
}

impl Preview {
    /// Whether the run would go through.
    pub fn would_succeed(&self) -> bool {
        self.status == Some(RunStatus::Succeeded)
    }

    /// `would insert 12, update 3, delete 1 (49,984 unchanged)`.
    pub fn words(&self) -> String {
        match self.changes {
            Some(c) => format!(
                "would insert {}, update {}, delete {} ({} unchanged)",
                thousands(c.inserted),
                thousands(c.updated),
                thousands(c.deleted),
                thousands(c.unchanged)
            ),
            None => "the changes are unknown".into(),
        }
    }

    /// Lines naming the first keys of each kind of change, as
    /// `First keys to insert: 101, 102`; none for kinds without rows.
    pub fn key_lines(&self) -> Vec<String> {
        let c = self.changes.unwrap_or_default();
        [
            ("insert", &self.first.insert, c.inserted),
            ("update", &self.first.update, c.updated),
            ("delete", &self.first.delete, c.deleted),
        ]
        .into_iter()
        .filter(|(_, keys, _)| !keys.is_empty())
        .map(|(what, keys, n)| {
            let more = if n > keys.len() as u64 { ", ..." } else { "" };
            format!("First keys to {what}: {}{more}", keys.join("; "))
        })
        .collect()
    }
}
