//! Workspaces for tests, as TOML text (for tests that run the `dsp` binary or
//! check what a file says) or as the model (for tests that call the engine).

use std::path::Path;

use dsp::workspace::{Job, Network, Schema, Workspace};

/// A `[[network]]` entry for the SQLite file at `path`.
pub fn sqlite_network_toml(name: &str, path: &Path) -> String {
    format!(
        "[[network]]\nname = \"{name}\"\ntype = \"sqlite\"\ndatabase = \"{}\"\n",
        path.display()
    )
}

/// The `(id, v, n)` mapping most failure tests copy: an integer key, a text and
/// an integer column, each under its own name.
pub const ID_V_N: &str = r#"  { source = "id", target = "id", type = "integer" },
  { source = "v", target = "v", type = "string" },
  { source = "n", target = "n", type = "integer" },"#;

/// A schema `S` keyed on `id` and a full job `J` that copies it from network
/// `Source` (unless told otherwise) to network `Target`.
pub struct SchemaJob {
    source: String,
    source_table: String,
    target_table: String,
    batch_size: u64,
    columns: String,
}

impl SchemaJob {
    /// `source_table` into `target_table` in batches of 1000, mapping `(id, v, n)`.
    pub fn new(source_table: &str, target_table: &str) -> SchemaJob {
        SchemaJob {
            source: "Source".into(),
            source_table: source_table.into(),
            target_table: target_table.into(),
            batch_size: 1000,
            columns: ID_V_N.into(),
        }
    }

    /// The job reads from the network named `network`.
    pub fn source(mut self, network: &str) -> SchemaJob {
        self.source = network.into();
        self
    }

    pub fn batch_size(mut self, rows: u64) -> SchemaJob {
        self.batch_size = rows;
        self
    }

    /// The lines inside `columns = [ ... ]`.
    pub fn columns(mut self, columns: &str) -> SchemaJob {
        self.columns = columns.into();
        self
    }

    pub fn toml(&self) -> String {
        let SchemaJob {
            source,
            source_table,
            target_table,
            batch_size,
            columns,
        } = self;
        format!(
            r#"
[[schema]]
name = "S"
source_table = "{source_table}"
target_table = "{target_table}"
primary_key = "id"
columns = [
{columns}
]

[[job]]
name = "J"
source = "{source}"
target = "Target"
schema = "S"
mode = "full"
batch_size = {batch_size}
"#
        )
    }
}

/// Workspace text assembled from its entries in order, each entry's TOML
/// separated from the previous one by a blank line.
#[derive(Clone, Default)]
pub struct WorkspaceToml {
    text: String,
}

impl WorkspaceToml {
    pub fn new() -> WorkspaceToml {
        WorkspaceToml::default()
    }

    /// Any entry, already rendered (a `[[network]]` from a test database, say).
    pub fn entry(mut self, toml: &str) -> WorkspaceToml {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(toml);
        self
    }

    pub fn sqlite(self, name: &str, path: &Path) -> WorkspaceToml {
        self.entry(&sqlite_network_toml(name, path))
    }

    /// The schema and job, right after the last entry (their text opens with
    /// its own blank line).
    pub fn schema_job(mut self, sj: &SchemaJob) -> WorkspaceToml {
        self.text.push_str(&sj.toml());
        self
    }

    pub fn build(self) -> String {
        self.text
    }
}

/// A workspace model with no file behind it.
pub fn model(networks: Vec<Network>, schemas: Vec<Schema>, jobs: Vec<Job>) -> Workspace {
    Workspace {
        path: None,
        networks,
        schemas,
        jobs,
        ..Default::default()
    }
}
