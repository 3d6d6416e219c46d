//! Why a dump could not be read.

use std::path::PathBuf;

/// A dump file that could not be read at all. Damage that still leaves something to triage is
/// not an error: it becomes a warning on the report.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("{path}: cannot read the file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a crash dump (no PAGEDU64, PAGEDUMP or MDMP signature)")]
    NotADump { path: PathBuf },
    #[error("{path}: {problem}")]
    Malformed { path: PathBuf, problem: String },
    /// A reader bug (a panic) caught at the per-file boundary: it costs this file, not the
    /// batch, and `inspect` and `scan` report it the same way.
    #[error("{path}: internal error while reading (please report): {what}")]
    Internal { path: PathBuf, what: String },
}

impl DumpError {
    pub fn malformed(path: impl Into<PathBuf>, problem: impl Into<String>) -> DumpError {
        DumpError::Malformed {
            path: path.into(),
            problem: problem.into(),
        }
    }
}
