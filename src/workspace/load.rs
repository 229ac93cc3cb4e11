//! Reading the workspace file, with diagnostics that name the file, line, entry and field.
//!
//! The file is read field by field from a span-keeping `toml_edit` document rather
//! than through serde, so that every problem in the file is reported at once, each
//! with its line, instead of stopping at the first.

use std::fmt;
use std::path::Path;

use toml_edit::Item;

use super::model::Workspace;
use super::read::{Fields, Reader};
use super::validate;

/// One problem found in a workspace file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: String,
    pub line: Option<usize>,
    /// e.g. `job "Sync Users"`
    pub entry: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ":")?;
        if let Some(entry) = &self.entry {
            write!(f, " {}", one_line(entry))?;
        }
        if let Some(field) = &self.field {
            write!(f, " field `{field}`")?;
        }
        if self.entry.is_some() || self.field.is_some() {
            write!(f, ":")?;
        }
        write!(f, " {}", one_line(&self.message))
    }
}

/// A diagnostic is one line even when it quotes a value (or an entry name)
/// holding a line break or another control character: those are written
/// escaped, as TOML would write them.
fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    s.chars()
        .map(|c| match c {
            '\n' => "\\n".to_string(),
            '\r' => "\\r".to_string(),
            '\t' => "\\t".to_string(),
            c if c.is_control() => format!("\\u{:04X}", u32::from(c)),
            c => c.to_string(),
        })
        .collect::<String>()
        .into()
}

/// Everything wrong with a file; nothing is half-loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// A workspace file larger than this is not one: a hand-written file of
/// hundreds of jobs is a few hundred KiB.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Loads the workspace at `path`; a missing file is an empty workspace.
pub fn load(path: &Path) -> Result<Workspace, LoadError> {
    let refuse = |message: String| LoadError {
        diagnostics: vec![Diagnostic {
            file: path.display().to_string(),
            line: None,
            entry: None,
            field: None,
            message,
        }],
    };
    match read_limited(path) {
        Ok(text) => load_str(&text, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Workspace {
            path: Some(path.to_path_buf()),
            ..Workspace::default()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Err(refuse(e.to_string())),
        Err(e) => Err(refuse(format!("cannot read the workspace file: {e}"))),
    }
}

/// The file's text, refusing what cannot be a workspace before reading it: a
/// device, pipe or directory (`/dev/zero` would be read until memory runs
/// out) or a file past `MAX_FILE_BYTES`. Such refusals are `InvalidInput`.
fn read_limited(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
    // `metadata` follows links: a symlink to a regular file is fine.
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(invalid(
            "is not a regular file; pass the path of a workspace .toml file".into(),
        ));
    }
    let too_big = || {
        invalid(format!(
            "is larger than {} MiB, too large for a workspace file; check the path",
            MAX_FILE_BYTES / (1024 * 1024)
        ))
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut text = String::new();
    // The file may grow between the look and the read.
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(text)
}

/// Parses workspace text; `file` names it in diagnostics (and anchors relative
/// SQLite paths).
pub fn load_str(text: &str, file: &Path) -> Result<Workspace, LoadError> {
    let mut r = Reader::new(file, text);
    let doc = match toml_edit::Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let line = e.span().map(|s| r.line_of(s.start));
            let message = format!("invalid TOML: {}", e.message().trim_end());
            r.push(line, None, None, message);
            return Err(r.into_error());
        }
    };
    let mut ws = Workspace {
        path: Some(file.to_path_buf()),
        ..Workspace::default()
    };
    let mut loaded = Loaded::default();
    for (key, item) in doc.as_table().iter() {
        match key {
            "network" | "schema" | "job" => read_section(&mut r, &mut ws, &mut loaded, key, item),
            "alerts" => read_alerts(&mut r, &mut ws, item),
            other => {
                let line = r.item_line(item);
                r.push(line, None, None, format!(
                    "unknown section `{other}`; a workspace holds only [[network]], [[schema]] and [[job]] entries and an [alerts] table"
                ));
            }
        }
    }
    report_cross_entry(&mut r, &ws, &loaded);
    if r.is_clean() {
        Ok(ws)
    } else {
        Err(r.into_error())
    }
}

/// What reading the entries leaves for the cross-entry rules.
#[derive(Default)]
struct Loaded {
    lines: validate::Lines,
    /// Names of entries that failed to load, so references to them are not
    /// reported a second time as dangling.
    broken: Vec<String>,
}

/// Reads every entry of one kind into `ws`.
fn read_section(r: &mut Reader, ws: &mut Workspace, loaded: &mut Loaded, key: &str, item: &Item) {
    let entries = r.entries(key, item);
    for (index, (table, line)) in entries.into_iter().enumerate() {
        let name = table.get("name").and_then(Item::as_str).map(str::to_string);
        let label = match &name {
            Some(name) => format!("{key} \"{name}\""),
            None => format!("{key} #{}", index + 1),
        };
        let mut f = Fields::new(r, table, line, label);
        match key {
            "network" => match f.network() {
                Some(n) => {
                    ws.networks.push(n);
                    loaded.lines.networks.push(f.into_lines());
                }
                None => loaded.broken.extend(name),
            },
            "schema" => match f.schema() {
                Some(s) => {
                    ws.schemas.push(s);
                    loaded.lines.schemas.push(f.into_lines());
                }
                None => loaded.broken.extend(name),
            },
            _ => {
                if let Some(j) = f.job() {
                    ws.jobs.push(j);
                    loaded.lines.jobs.push(f.into_lines());
                }
            }
        }
    }
}

/// The `[alerts]` table, every job's default hooks and webhook.
fn read_alerts(r: &mut Reader, ws: &mut Workspace, item: &Item) {
    let line = r.item_line(item);
    let Some(table) = item.as_table_like() else {
        r.push(
            line,
            None,
            Some("alerts".into()),
            "must be a table; write [alerts] with on_failure, on_success, webhook or timeout"
                .into(),
        );
        return;
    };
    let mut f = Fields::new(r, table, line, "[alerts]".into());
    if let Some(alerts) = f.workspace_alerts() {
        ws.alerts = alerts;
    }
}

/// The rules across entries (unique names, references), each at its line.
fn report_cross_entry(r: &mut Reader, ws: &Workspace, loaded: &Loaded) {
    for problem in validate::validate(ws) {
        if refers_to_broken(&problem, ws, &loaded.broken) {
            continue;
        }
        let line = loaded.lines.find(&problem);
        r.push(line, Some(problem.entry), problem.field, problem.message);
    }
}

/// A job naming an entry that is itself broken has that entry's error already;
/// "no network is named" would only mislead.
fn refers_to_broken(problem: &validate::Problem, ws: &Workspace, broken: &[String]) -> bool {
    problem.kind == validate::Kind::Job
        && ws
            .jobs
            .get(problem.index)
            .is_some_and(|j| match problem.field.as_deref() {
                Some("source") => broken.contains(&j.source),
                Some("target") => broken.contains(&j.target),
                Some("schema") => broken.contains(&j.schema),
                _ => false,
            })
}
