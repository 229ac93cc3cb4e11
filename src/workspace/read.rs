//! The reading machinery of the loader: a file's text with the problems found in
//! it, and one entry's fields read one by one, each problem recorded with its line.

use std::path::Path;

use toml_edit::{Item, TableLike, Value};

use super::fields;
use super::load::{Diagnostic, LoadError};
use super::validate;

/// A table of the file and the line it starts on.
pub(super) type Located<'d> = (&'d dyn TableLike, Option<usize>);

/// The file being read and the problems found so far.
pub(super) struct Reader<'a> {
    file: String,
    src: &'a str,
    diags: Vec<Diagnostic>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(file: &Path, src: &'a str) -> Self {
        Reader {
            file: file.display().to_string(),
            src,
            diags: Vec::new(),
        }
    }

    pub(super) fn is_clean(&self) -> bool {
        self.diags.is_empty()
    }

    pub(super) fn into_error(self) -> LoadError {
        LoadError {
            diagnostics: self.diags,
        }
    }

    pub(super) fn line_of(&self, offset: usize) -> usize {
        self.src.as_bytes()[..offset.min(self.src.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    pub(super) fn item_line(&self, item: &Item) -> Option<usize> {
        let span = match item {
            Item::Table(t) => t.span(),
            Item::ArrayOfTables(a) => a.iter().next().and_then(|t| t.span()),
            other => other.span(),
        };
        span.map(|s| self.line_of(s.start))
    }

    pub(super) fn push(
        &mut self,
        line: Option<usize>,
        entry: Option<String>,
        field: Option<String>,
        message: String,
    ) {
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line,
            entry,
            field,
            message,
        });
    }

    /// The entries of one kind: `[[job]]` tables or an inline `job = [{...}]` array.
    pub(super) fn entries<'d>(&mut self, key: &str, item: &'d Item) -> Vec<Located<'d>> {
        match item {
            Item::ArrayOfTables(a) => a
                .iter()
                .map(|t| (t as &dyn TableLike, t.span().map(|s| self.line_of(s.start))))
                .collect(),
            Item::Value(Value::Array(a)) => {
                let mut out = Vec::new();
                for v in a.iter() {
                    match v.as_inline_table() {
                        Some(t) => {
                            out.push((t as &dyn TableLike, v.span().map(|s| self.line_of(s.start))))
                        }
                        None => {
                            let line = v.span().map(|s| self.line_of(s.start));
                            self.push(
                                line,
                                None,
                                None,
                                format!("`{key}` entries must be tables; write [[{key}]]"),
                            );
                        }
                    }
                }
                out
            }
            other => {
                let line = self.item_line(other);
                self.push(
                    line,
                    None,
                    None,
                    format!("`{key}` must be a list of entries; write [[{key}]] for each"),
                );
                Vec::new()
            }
        }
    }
}

/// Reads one entry's fields, recording a diagnostic for each problem.
pub(super) struct Fields<'r, 'a, 'd> {
    pub(super) r: &'r mut Reader<'a>,
    pub(super) table: &'d dyn TableLike,
    pub(super) line: Option<usize>,
    pub(super) label: String,
    /// Line of each field present, for later cross-entry diagnostics.
    lines: Vec<(String, usize)>,
}

impl<'r, 'a, 'd> Fields<'r, 'a, 'd> {
    pub(super) fn new(
        r: &'r mut Reader<'a>,
        table: &'d dyn TableLike,
        line: Option<usize>,
        label: String,
    ) -> Self {
        Fields {
            r,
            table,
            line,
            label,
            lines: Vec::new(),
        }
    }

    pub(super) fn into_lines(self) -> validate::EntryLines {
        validate::EntryLines {
            entry: self.line,
            fields: self.lines,
        }
    }

    pub(super) fn field_line(&self, key: &str) -> Option<usize> {
        let (k, item) = self.table.get_key_value(key)?;
        let span = k.span().or_else(|| item.span())?;
        Some(self.r.line_of(span.start))
    }

    pub(super) fn error(&mut self, key: &str, message: String) {
        let line = self.field_line(key).or(self.line);
        self.r.push(
            line,
            Some(self.label.clone()),
            Some(key.to_string()),
            message,
        );
    }

    pub(super) fn check_keys(&mut self, allowed: &[&str]) {
        let unknown: Vec<String> = self
            .table
            .iter()
            .map(|(k, _)| k.to_string())
            .filter(|k| !allowed.contains(&k.as_str()))
            .collect();
        for key in &unknown {
            self.error(
                key,
                format!("unknown key; expected one of: {}", allowed.join(", ")),
            );
        }
        for key in allowed {
            if let Some(line) = self.field_line(key) {
                self.lines.push((key.to_string(), line));
            }
        }
    }

    pub(super) fn value(&self, key: &str) -> Option<&Value> {
        self.table.get(key).and_then(Item::as_value)
    }

    pub(super) fn present(&self, key: &str) -> bool {
        self.table.get(key).is_some()
    }

    pub(super) fn str_opt(&mut self, key: &str) -> Result<Option<String>, ()> {
        if !self.present(key) {
            return Ok(None);
        }
        match self.value(key).and_then(Value::as_str) {
            Some(s) => Ok(Some(s.to_string())),
            None => {
                self.error(key, "must be a string in quotes".into());
                Err(())
            }
        }
    }

    pub(super) fn str_req(&mut self, key: &str) -> Result<String, ()> {
        match self.str_opt(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => {
                self.error(key, fields::EMPTY.into());
                Err(())
            }
            None => {
                let line = self.line;
                self.r.push(
                    line,
                    Some(self.label.clone()),
                    Some(key.to_string()),
                    fields::REQUIRED.into(),
                );
                Err(())
            }
        }
    }

    pub(super) fn whole(&mut self, key: &str, range: fields::Whole) -> Result<Option<i64>, ()> {
        if !self.present(key) {
            return Ok(None);
        }
        match self.value(key).and_then(Value::as_integer) {
            Some(n) => range.check(n).map(Some).map_err(|e| self.error(key, e)),
            None => {
                self.error(key, "must be a whole number without quotes".into());
                Err(())
            }
        }
    }

    pub(super) fn decimal(&mut self, key: &str, range: fields::Decimal) -> Result<Option<f64>, ()> {
        if !self.present(key) {
            return Ok(None);
        }
        let v = self.value(key);
        let n = v
            .and_then(Value::as_float)
            .or_else(|| v.and_then(Value::as_integer).map(|i| i as f64));
        match n {
            Some(n) => range.check(n).map(Some).map_err(|e| self.error(key, e)),
            None => {
                self.error(key, "must be a number without quotes".into());
                Err(())
            }
        }
    }

    pub(super) fn bool_opt(&mut self, key: &str) -> Result<Option<bool>, ()> {
        if !self.present(key) {
            return Ok(None);
        }
        match self.value(key).and_then(Value::as_bool) {
            Some(b) => Ok(Some(b)),
            None => {
                self.error(key, "must be true or false, without quotes".into());
                Err(())
            }
        }
    }

    pub(super) fn choice<T>(
        &mut self,
        key: &str,
        parse: fn(&str) -> Option<T>,
        options: &str,
    ) -> Result<Option<T>, ()> {
        match self.str_opt(key)? {
            None => Ok(None),
            Some(s) => match parse(&s) {
                Some(v) => Ok(Some(v)),
                None => {
                    self.error(key, fields::not_one_of(&s, options));
                    Err(())
                }
            },
        }
    }

    /// A column name or a list of them (composite keys).
    pub(super) fn names(&mut self, key: &str) -> Result<Vec<String>, ()> {
        if !self.present(key) {
            let line = self.line;
            self.r.push(
                line,
                Some(self.label.clone()),
                Some(key.into()),
                fields::REQUIRED.into(),
            );
            return Err(());
        }
        let v = self.value(key);
        if let Some(s) = v.and_then(Value::as_str) {
            return Ok(vec![s.to_string()]);
        }
        if let Some(a) = v.and_then(Value::as_array) {
            let names: Option<Vec<String>> =
                a.iter().map(|x| x.as_str().map(str::to_string)).collect();
            if let Some(names) = names.filter(|n| !n.is_empty()) {
                return Ok(names);
            }
        }
        self.error(key, fields::PRIMARY_KEY_SHAPE.into());
        Err(())
    }
}
