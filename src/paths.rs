//! Where the workspace file and the data directory live (docs/SPEC.md §1, §2), and the
//! overrides that move them.

use std::path::{Path, PathBuf};

/// The two locations every command works with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub workspace: PathBuf,
    pub data_dir: PathBuf,
}

impl Paths {
    /// Resolves the locations: an explicit value (flag or its environment variable,
    /// which clap has already merged) wins, then the platform default.
    pub(crate) fn resolve(
        workspace: Option<PathBuf>,
        data_dir: Option<PathBuf>,
    ) -> Result<Self, String> {
        let dirs = || {
            directories::ProjectDirs::from("", "", "dsp").ok_or_else(|| {
                "cannot find a home directory for the default locations; pass --workspace and --data-dir".to_string()
            })
        };
        let workspace = match workspace {
            Some(p) => p,
            None => dirs()?.config_dir().join("workspace.toml"),
        };
        let data_dir = match data_dir {
            Some(p) => p,
            None => dirs()?.data_dir().to_path_buf(),
        };
        Ok(Paths {
            workspace,
            data_dir,
        })
    }

    pub fn data(&self) -> DataDir {
        DataDir::new(&self.data_dir)
    }
}

/// The data directory: what runs produce, never the user's workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// Per-job state: watermark, lock and run history live under here.
    pub fn job_dir(&self, job: &str) -> PathBuf {
        self.root.join("jobs").join(job_slug(job))
    }
    /// The demo's workspace and SQLite files.
    pub(crate) fn demo_dir(&self) -> PathBuf {
        self.root.join("demo")
    }
    /// Creates a directory, and any missing parent, readable only by the user
    /// (job names and watermarks are nobody else's business). A directory that
    /// already exists keeps its mode: `--data-dir` may name a shared one.
    pub(crate) fn ensure(dir: &Path) -> std::io::Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)
    }
    /// A job's state directory, created 0700 like `jobs/` above it; both are
    /// DSP's own, so an older, wider mode is narrowed too.
    pub(crate) fn ensure_job_dir(&self, job: &str) -> std::io::Result<PathBuf> {
        let dir = self.job_dir(job);
        Self::ensure(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for d in [self.root.join("jobs"), dir.clone()] {
                std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        Ok(dir)
    }
}

/// A file-name-safe, collision-free name for a job: the readable part keeps
/// letters and digits, the hash keeps "A b" and "A_b" apart.
pub(crate) fn job_slug(job: &str) -> String {
    let readable: String = job
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let readable = readable.trim_matches('-');
    let readable: String = readable.chars().take(40).collect();
    // FNV-1a: stable across Rust versions, unlike DefaultHasher.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in job.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{readable}-{:08x}", h as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_safe_and_distinct() {
        let a = job_slug("Sync Users to Analytics");
        assert!(a.starts_with("sync-users-to-analytics-"), "{a}");
        assert_ne!(job_slug("A b"), job_slug("A_b"));
        assert!(!job_slug("../../etc").contains('/'));
    }

    #[test]
    fn explicit_paths_win() {
        let p = Paths::resolve(Some("/w.toml".into()), Some("/d".into())).unwrap();
        assert_eq!(p.workspace, std::path::Path::new("/w.toml"));
        assert_eq!(p.data_dir, std::path::Path::new("/d"));
    }
}
