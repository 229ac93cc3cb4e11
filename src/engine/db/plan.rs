//! What a run moves, resolved against the real tables: which source columns are
//! read (and how each converts), which target columns are written, the key and
//! the cursor. Built once per run, before any row moves.

use crate::engine::error::Result;
use crate::engine::types::{Convert, parse_tz};
use crate::workspace::{ColumnType, Network, Schema};

/// A column as a database describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeColumn {
    pub name: String,
    /// The database's type name, lower case, e.g. `character varying(20)`.
    pub type_name: String,
    /// Longest text the column holds, in characters, when it is limited.
    pub max_chars: Option<usize>,
    /// Longest text the column holds, in bytes, when it is limited (MySQL TEXT).
    pub max_bytes: Option<usize>,
    /// Integer range of a column narrower than 64 bits (or unsigned).
    pub int_range: Option<(i64, i64)>,
    /// Binary storage: read as hex so that no driver reinterprets the bytes.
    pub binary: bool,
    /// An instant stored without offset in the session zone (MySQL TIMESTAMP).
    pub naive_is_utc: bool,
    /// Text whose stored bytes are already UTF-8 (MySQL `utf8mb4`, `utf8mb3`,
    /// `ascii`), so a checksum needs no conversion of it.
    pub utf8_text: bool,
}

/// How much text an existing target column holds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limit {
    pub max_chars: Option<usize>,
    pub max_bytes: Option<usize>,
    pub int_range: Option<(i64, i64)>,
    pub decimal: Option<crate::engine::types::DecimalLimit>,
    pub timestamp: Option<crate::engine::types::TimestampLimit>,
    /// Zone of a target column that stores wall-clock times without one.
    pub write_tz: Option<chrono_tz::Tz>,
}

/// Values the target database cannot store at all, whatever the column.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TargetRules {
    pub finite_floats: bool,
    pub no_nul: bool,
    /// Decimals may be NaN or infinite (PostgreSQL's numeric).
    pub special_numerics: bool,
    /// What dates and times hold past the ordinary calendar.
    pub calendar: crate::engine::types::Calendar,
}

impl TargetRules {
    pub fn of(d: &dyn super::dialect::Dialect) -> Self {
        d.target_rules()
    }

    /// Everything some engine stores (NaN, infinities, `24:00:00`, any
    /// year): how `verify` reads both sides, so that a value both sides hold
    /// is compared rather than refused as unreadable.
    pub fn anything() -> Self {
        TargetRules {
            finite_floats: false,
            no_nul: false,
            special_numerics: true,
            calendar: crate::engine::types::Calendar {
                infinities: true,
                end_of_day: true,
                years: None,
                engine: "any database",
            },
        }
    }
}

/// A column of the target table as the mapping defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetColumn {
    pub name: String,
    pub ty: ColumnType,
    pub key: bool,
    pub cursor: bool,
    /// The existing column's type name, once the table is known.
    pub native: Option<String>,
}

/// A source column in the select list.
#[derive(Debug, Clone)]
pub struct ReadColumn {
    /// The name as the source spells it.
    pub name: String,
    pub native: NativeColumn,
    pub convert: Convert,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub source_table: String,
    pub target_table: String,
    /// Mapped columns first, in mapping order (index i writes `targets[i]`),
    /// then the cursor column when it is read but not written.
    pub read: Vec<ReadColumn>,
    pub targets: Vec<TargetColumn>,
    /// Indexes into `read` of the primary key columns.
    pub key_read: Vec<usize>,
    pub cursor_read: Option<usize>,
}

impl Plan {
    /// A run that does not read by the cursor neither tracks it nor reads
    /// it where it is not mapped (its value would be read only to be
    /// thrown away, and a column read as itself reads faster than one whose
    /// text is kept for a watermark).
    pub fn forget_cursor(&mut self) {
        if let Some(c) = self.cursor_read.take()
            && c >= self.targets.len()
        {
            self.read.truncate(self.targets.len());
        }
    }

    /// The key's column in `read` when the key is one column mapped as an
    /// integer: such a key is split into ranges (verify's buckets, a run's
    /// parallel read) rather than hashed.
    pub fn int_key(&self) -> Option<usize> {
        match self.key_read[..] {
            [k] if self.targets.get(k)?.ty == ColumnType::Integer => Some(k),
            _ => None,
        }
    }

    pub fn target_names(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.name.clone()).collect()
    }
    pub fn key_names(&self) -> Vec<String> {
        key_names(&self.targets)
    }
    pub fn non_key_names(&self) -> Vec<String> {
        self.targets
            .iter()
            .filter(|t| !t.key)
            .map(|t| t.name.clone())
            .collect()
    }
}

/// The names of the key columns among `targets`.
pub fn key_names(targets: &[TargetColumn]) -> Vec<String> {
    targets
        .iter()
        .filter(|t| t.key)
        .map(|t| t.name.clone())
        .collect()
}

/// The target columns the schema defines, in mapping order.
pub fn target_columns(schema: &Schema) -> Vec<TargetColumn> {
    schema
        .columns
        .iter()
        .map(|c| TargetColumn {
            name: c.target.clone(),
            ty: c.ty,
            key: schema.primary_key.contains(&c.source),
            cursor: schema.cursor_column.as_deref() == Some(c.source.as_str()),
            native: None,
        })
        .collect()
}

/// Finds `name` among `cols`: exactly, or else by a unique case-insensitive match
/// (MySQL and unquoted PostgreSQL names are often spelled differently by hand).
pub fn find<'a>(cols: &'a [NativeColumn], name: &str) -> Option<&'a NativeColumn> {
    if let Some(c) = cols.iter().find(|c| c.name == name) {
        return Some(c);
    }
    let mut it = cols.iter().filter(|c| c.name.eq_ignore_ascii_case(name));
    match (it.next(), it.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// Checks an existing target table against the mapping, before any row moves.
/// The dialect judges whether a native type can hold a canonical one.
pub fn check_target(
    net: &Network,
    table: &str,
    targets: &mut [TargetColumn],
    natives: &[NativeColumn],
    dialect: &dyn super::dialect::Dialect,
) -> Result<Vec<Limit>> {
    let mut limits: Vec<Limit> = Vec::with_capacity(targets.len());
    for t in targets.iter_mut() {
        let Some(n) = find(natives, &t.name) else {
            return Err(format!(
                "target table {table} on network \"{}\" has no column {}; add it or fix the schema's mapping",
                net.name, t.name
            ).into());
        };
        if !dialect.compatible(t.ty, n) {
            return Err(format!(
                "target column {table}.{} on network \"{}\" is {}, which cannot hold {} values; change the column or the mapped type",
                n.name, net.name, n.type_name, t.ty
            ).into());
        }
        t.name = n.name.clone();
        t.native = Some(n.type_name.clone());
        limits.push(Limit {
            max_chars: n.max_chars,
            max_bytes: n.max_bytes,
            int_range: n.int_range,
            decimal: None,
            timestamp: None,
            write_tz: None,
        });
    }
    Ok(limits)
}

/// Resolves the schema against the source table's columns.
pub fn resolve(
    schema: &Schema,
    source: &Network,
    natives: &[NativeColumn],
    targets: Vec<TargetColumn>,
    limits: &[Limit],
    rules: TargetRules,
) -> Result<Plan> {
    let tz = parse_tz(source.timezone_name())
        .map_err(|e| format!("network \"{}\": timezone {e}", source.name))?;
    let missing = |col: &str| {
        format!(
            "source table {} on network \"{}\" has no column {col}; fix the schema \"{}\"",
            schema.source_table, source.name, schema.name
        )
    };
    let mut read = Vec::new();
    for (i, c) in schema.columns.iter().enumerate() {
        let n = find(natives, &c.source).ok_or_else(|| missing(&c.source))?;
        let mut convert = Convert::new(c.ty);
        convert.tz = tz;
        convert.naive_is_utc = n.naive_is_utc;
        convert.single = super::dialect_of(source.kind).single_precision(n);
        let limit = limits.get(i).copied().unwrap_or_default();
        convert.max_chars = limit.max_chars;
        convert.max_bytes = limit.max_bytes;
        convert.int_range = limit.int_range;
        convert.decimal = limit.decimal;
        convert.timestamp = limit.timestamp;
        convert.write_tz = limit.write_tz;
        convert.finite_floats = rules.finite_floats;
        convert.special_numerics = rules.special_numerics;
        convert.calendar = rules.calendar;
        convert.no_nul = rules.no_nul;
        read.push(ReadColumn {
            name: n.name.clone(),
            native: n.clone(),
            convert,
        });
    }
    let mut key_read = Vec::new();
    for k in &schema.primary_key {
        let i = schema
            .columns
            .iter()
            .position(|c| &c.source == k)
            .ok_or_else(|| {
                format!(
                    "schema \"{}\": primary key column {k} is not in the column mapping; map it",
                    schema.name
                )
            })?;
        key_read.push(i);
    }
    if key_read.is_empty() {
        return Err(format!(
            "schema \"{}\" has no primary key; set primary_key",
            schema.name
        )
        .into());
    }
    let cursor_read = match &schema.cursor_column {
        None => None,
        Some(cur) => match schema.columns.iter().position(|c| &c.source == cur) {
            Some(i) => Some(i),
            None => {
                let n = find(natives, cur).ok_or_else(|| missing(cur))?;
                let mut convert = Convert::new(ColumnType::String);
                convert.tz = tz;
                read.push(ReadColumn {
                    name: n.name.clone(),
                    native: n.clone(),
                    convert,
                });
                Some(read.len() - 1)
            }
        },
    };
    Ok(Plan {
        source_table: schema.source_table.clone(),
        target_table: schema.target_table.clone(),
        read,
        targets,
        key_read,
        cursor_read,
    })
}
