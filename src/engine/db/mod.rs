//! Each database dialect's SQL, reads and bulk writes, one module per engine.
//!
//! OWNER: engine helper. Contract used by the TUI:
//! - `test_connection` (Network tab `t`): the server version or an error sentence.
//! - `introspect_columns` (Schema tab): the source table's columns with a guessed
//!   canonical type.

use crate::workspace::{ColumnType, Network, Workspace};

/// Connects to the network and returns the server's version string.
pub async fn test_connection(_workspace: &Workspace, _network: &Network) -> Result<String, String> {
    Err("connection test is not built yet".into())
}

/// The columns of `table` on `network`, in table order, with their canonical type.
pub async fn introspect_columns(
    _workspace: &Workspace,
    _network: &Network,
    _table: &str,
) -> Result<Vec<(String, ColumnType)>, String> {
    Err("introspection is not built yet".into())
}

/// Connects to the job's source and target and checks the tables and columns
/// its schema names; each problem is one sentence, none means ready.
pub async fn check_job(_workspace: &Workspace, _job: &crate::workspace::Job) -> Vec<String> {
    vec!["checking tables over a connection is not built yet".into()]
}
