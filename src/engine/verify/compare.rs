//! DSP's own row comparison, the final word of a verification: rows of the
//! differing buckets matched by key, column by column, in canonical text.

use std::collections::HashMap;

use chrono_tz::Tz;

use super::Stats;
use super::report::{Differing, LISTED, Outcome, Verified};
use super::side::Row;
use crate::engine::types::{Value, parse_timestamp};

/// An incremental job's stored watermark: source rows past it are not synced
/// yet, which is no difference.
pub struct Watermark {
    pub value: String,
    /// The zone the watermark's zone-less text is read in.
    pub tz: Tz,
}

impl Watermark {
    /// Whether a cursor value lies past the watermark.
    fn passes(&self, v: &Value) -> bool {
        let w = self.value.trim();
        let ts = |s: &str| parse_timestamp(s, self.tz).ok();
        match v {
            Value::Int(i) => w.parse::<i64>().is_ok_and(|w| *i > w),
            Value::Timestamp(t) => ts(w).is_some_and(|w| *t > w),
            Value::Date(d) => d.to_string().as_str() > w,
            Value::Text(s) | Value::Decimal(s) => {
                let s = s.trim();
                match (s.parse::<f64>(), w.parse::<f64>()) {
                    (Ok(a), Ok(b)) => a > b,
                    _ => match (ts(s), ts(w)) {
                        (Some(a), Some(b)) => a > b,
                        _ => s > w,
                    },
                }
            }
            _ => false,
        }
    }
}

/// Rows seen so far on each side whose key the other side has not shown yet.
pub struct Tally {
    names: Vec<String>,
    only_source: HashMap<String, Row>,
    only_target: HashMap<String, Row>,
    /// Differing rows: the source row's key, cursor, and the first column.
    differing: Vec<(String, Option<Value>, String)>,
    unreadable: Vec<String>,
}

impl Tally {
    pub fn new(names: Vec<String>) -> Self {
        Tally {
            names,
            only_source: HashMap::new(),
            only_target: HashMap::new(),
            differing: Vec::new(),
            unreadable: Vec::new(),
        }
    }

    pub fn source_row(&mut self, r: Row) {
        // A key that stands twice on one side (a source table without a
        // unique key) must not hide one of its rows.
        if self.only_source.contains_key(&r.key) {
            self.twice("source", &r);
            return;
        }
        match self.only_target.remove(&r.key) {
            Some(t) => self.compare(r, &t),
            None => {
                self.only_source.insert(r.key.clone(), r);
            }
        }
    }

    pub fn target_row(&mut self, t: Row) {
        if self.only_target.contains_key(&t.key) {
            self.twice("target", &t);
            return;
        }
        match self.only_source.remove(&t.key) {
            Some(s) => self.compare(s, &t),
            None => {
                self.only_target.insert(t.key.clone(), t);
            }
        }
    }

    fn twice(&mut self, side: &str, r: &Row) {
        self.unreadable.push(format!(
            "{side}: key {} stands in more than one row; a primary_key must be unique",
            r.shown
        ));
    }

    fn compare(&mut self, s: Row, t: &Row) {
        if let Some(i) = (0..self.names.len()).find(|&i| s.cols[i] != t.cols[i]) {
            self.differing
                .push((s.shown, s.cursor, self.names[i].clone()));
        }
    }

    /// Rows a side could not read or convert (`side` names it).
    pub fn unreadable(&mut self, rows: Vec<String>, side: &str) {
        self.unreadable
            .extend(rows.into_iter().map(|r| format!("{side}: {r}")));
    }

    pub fn into_report(self, job: &str, stats: Stats, wm: Option<&Watermark>) -> Verified {
        let past = |c: &Option<Value>| matches!((wm, c), (Some(w), Some(v)) if w.passes(v));
        let mut only_source = Vec::new();
        let mut not_synced = Vec::new();
        for r in self.only_source.into_values() {
            if past(&r.cursor) {
                not_synced.push(r.shown);
            } else {
                only_source.push(r.shown);
            }
        }
        let mut differing = Vec::new();
        for (key, cursor, column) in self.differing {
            if past(&cursor) {
                not_synced.push(key);
            } else {
                differing.push(Differing { key, column });
            }
        }
        let mut only_target: Vec<String> =
            self.only_target.into_values().map(|r| r.shown).collect();
        for keys in [&mut only_source, &mut only_target, &mut not_synced] {
            keys.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
        }
        differing.sort_by(|a, b| (a.key.len(), &a.key).cmp(&(b.key.len(), &b.key)));
        let mut v = Verified::failed(job, String::new(), 0.0);
        v.error = None;
        v.only_in_source = only_source.len() as u64;
        v.only_in_target = only_target.len() as u64;
        v.differing = differing.len() as u64;
        v.not_yet_synced = not_synced.len() as u64;
        v.unreadable = self.unreadable.len() as u64;
        v.outcome = if v.only_in_source + v.only_in_target + v.differing + v.unreadable == 0 {
            Outcome::Identical
        } else {
            Outcome::Different
        };
        v.first_only_in_source = first(only_source);
        v.first_only_in_target = first(only_target);
        v.first_not_yet_synced = first(not_synced);
        v.first_unreadable = first(self.unreadable);
        differing.truncate(LISTED);
        v.first_differing = differing;
        v.source_rows = stats.source_rows;
        v.target_rows = stats.target_rows;
        v.buckets = stats.buckets;
        v.buckets_differing = stats.differing;
        (v.source_checksums_on_server, v.target_checksums_on_server) = stats.on_server;
        v.native_checksums = stats.hashing == super::RowHashing::Native;
        v.pg_text_hash = stats.hashing == super::RowHashing::PgText;
        v.rows_fetched = stats.rows_fetched;
        v.bytes_fetched = stats.bytes_fetched;
        v
    }
}

fn first(mut keys: Vec<String>) -> Vec<String> {
    keys.truncate(LISTED);
    keys
}
