//! Atomic, comment-keeping save of the workspace file.

use std::path::Path;

use super::model::Workspace;

pub fn save(workspace: &Workspace, path: &Path) -> std::io::Result<()> {
    let _ = (workspace, path);
    todo!("foundation")
}
