//! Reading the workspace file, with diagnostics that name the file, line, entry and field.

use std::fmt;
use std::path::Path;

use super::model::Workspace;

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
            write!(f, " {entry}")?;
        }
        if let Some(field) = &self.field {
            write!(f, " field `{field}`")?;
        }
        if self.entry.is_some() || self.field.is_some() {
            write!(f, ":")?;
        }
        write!(f, " {}", self.message)
    }
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

/// Loads the workspace at `path`; a missing file is an empty workspace.
pub fn load(path: &Path) -> Result<Workspace, LoadError> {
    let _ = path;
    todo!("foundation")
}

/// Parses workspace text; `file` names it in diagnostics.
pub fn load_str(text: &str, file: &Path) -> Result<Workspace, LoadError> {
    let _ = (text, file);
    todo!("foundation")
}
