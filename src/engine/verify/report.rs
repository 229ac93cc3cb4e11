//! What a verification found, for people and for scripts.

use serde::Serialize;

use crate::engine::progress::thousands;

/// Keys listed per kind of difference.
pub const LISTED: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Identical,
    Different,
    Failed,
}

/// A differing row: its key and the first mapped column that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Differing {
    pub key: String,
    pub column: String,
}

/// The result of verifying one job.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub job: String,
    pub outcome: Outcome,
    /// Why it failed (`outcome` Failed), one sentence.
    pub error: Option<String>,
    pub source_rows: u64,
    pub target_rows: u64,
    pub only_in_source: u64,
    pub only_in_target: u64,
    pub differing: u64,
    /// Source rows past the incremental watermark: not synced yet, which is
    /// no difference.
    pub not_yet_synced: u64,
    /// Rows that could not be read or converted.
    pub unreadable: u64,
    pub first_only_in_source: Vec<String>,
    pub first_only_in_target: Vec<String>,
    pub first_differing: Vec<Differing>,
    pub first_not_yet_synced: Vec<String>,
    pub first_unreadable: Vec<String>,
    /// Buckets the rows were split into, and those whose checksums differed.
    pub buckets: u64,
    pub buckets_differing: u64,
    /// Whether each side's checksums ran on its server (else DSP hashed its rows).
    pub source_checksums_on_server: bool,
    pub target_checksums_on_server: bool,
    /// Whether both servers hashed their native values (one engine, columns
    /// that hash alike) rather than canonical text.
    pub native_checksums: bool,
    /// Whether rows were hashed as PostgreSQL's `hashtextextended` hashes
    /// their canonical text (DSP beside a PostgreSQL server) rather than by
    /// SHA-256.
    pub pg_text_hash: bool,
    /// Table rows read into DSP (both sides), and roughly their bytes.
    pub rows_fetched: u64,
    pub bytes_fetched: u64,
    pub seconds: f64,
}

impl Verified {
    pub fn failed(job: &str, error: String, seconds: f64) -> Self {
        Verified {
            job: job.to_string(),
            outcome: Outcome::Failed,
            error: Some(error),
            source_rows: 0,
            target_rows: 0,
            only_in_source: 0,
            only_in_target: 0,
            differing: 0,
            not_yet_synced: 0,
            unreadable: 0,
            first_only_in_source: Vec::new(),
            first_only_in_target: Vec::new(),
            first_differing: Vec::new(),
            first_not_yet_synced: Vec::new(),
            first_unreadable: Vec::new(),
            buckets: 0,
            buckets_differing: 0,
            source_checksums_on_server: false,
            target_checksums_on_server: false,
            native_checksums: false,
            pg_text_hash: false,
            rows_fetched: 0,
            bytes_fetched: 0,
            seconds,
        }
    }

    /// The one-line verdict.
    pub fn headline(&self) -> String {
        match self.outcome {
            Outcome::Failed => format!(
                "Verify of job \"{}\" failed: {}",
                self.job,
                self.error.as_deref().unwrap_or("no reason given")
            ),
            Outcome::Identical => {
                let pending = if self.not_yet_synced > 0 {
                    format!(
                        " ({} source rows past the watermark not yet synced)",
                        thousands(self.not_yet_synced)
                    )
                } else {
                    String::new()
                };
                format!(
                    "Job \"{}\": source and target are identical: {} rows{pending}",
                    self.job,
                    thousands(self.source_rows)
                )
            }
            Outcome::Different => format!(
                "Job \"{}\": {} only in source, {} only in target, {} differing{}{}",
                self.job,
                thousands(self.only_in_source),
                thousands(self.only_in_target),
                thousands(self.differing),
                if self.unreadable > 0 {
                    format!(", {} unreadable", thousands(self.unreadable))
                } else {
                    String::new()
                },
                if self.not_yet_synced > 0 {
                    format!(", {} not yet synced", thousands(self.not_yet_synced))
                } else {
                    String::new()
                }
            ),
        }
    }

    /// The verdict, the first keys of each kind and the work done, one line each.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![self.headline()];
        if self.outcome == Outcome::Failed {
            return out;
        }
        let list = |out: &mut Vec<String>, what: &str, total: u64, keys: &[String]| {
            if total == 0 {
                return;
            }
            let more = total.saturating_sub(keys.len() as u64);
            let more = if more > 0 {
                format!(" (and {} more)", thousands(more))
            } else {
                String::new()
            };
            out.push(format!("  {what}: {}{more}", keys.join("; ")));
        };
        list(
            &mut out,
            "only in source",
            self.only_in_source,
            &self.first_only_in_source,
        );
        list(
            &mut out,
            "only in target",
            self.only_in_target,
            &self.first_only_in_target,
        );
        let differing: Vec<String> = self
            .first_differing
            .iter()
            .map(|d| format!("{} (column {})", d.key, d.column))
            .collect();
        list(&mut out, "differing", self.differing, &differing);
        list(
            &mut out,
            "not yet synced",
            self.not_yet_synced,
            &self.first_not_yet_synced,
        );
        list(
            &mut out,
            "unreadable",
            self.unreadable,
            &self.first_unreadable,
        );
        let side = |server: bool| if server { "server" } else { "DSP" };
        let native = match (self.native_checksums, self.pg_text_hash) {
            (true, _) => ", of native values",
            (_, true) => ", text hashed as PostgreSQL's hashtextextended",
            _ => "",
        };
        out.push(format!(
            "  {} source rows, {} target rows; {} buckets checked ({} differing; checksums by source {}, target {}{native}); \
             {} rows ({} bytes) fetched; {:.2}s",
            thousands(self.source_rows),
            thousands(self.target_rows),
            thousands(self.buckets),
            thousands(self.buckets_differing),
            side(self.source_checksums_on_server),
            side(self.target_checksums_on_server),
            thousands(self.rows_fetched),
            thousands(self.bytes_fetched),
            self.seconds
        ));
        out
    }
}
