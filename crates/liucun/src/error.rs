//! The engine's error type: the stage errors, plus invalid requests.

use std::path::PathBuf;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The write-ahead log failed or is damaged.
    #[error(transparent)]
    Wal(#[from] wal::Error),
    /// The segment store failed or is damaged.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// A whole input file was refused (missing column, unreadable format).
    #[error(transparent)]
    File(#[from] ingest::FileError),
    /// Reading an input file failed.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Too many appended events wait to be written to segments: the append was refused and nothing was written.
    #[error("{waiting} events wait to be written to segments (limit {limit}); retry shortly")]
    Overloaded {
        /// Events in the tail when the append was refused.
        waiting: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A report request is invalid or past a limit (the caller's mistake); names the parameter.
    #[error(transparent)]
    Report(#[from] report::Error),
    /// The request itself is invalid (the caller's mistake).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Whether another process holds the data directory for writing (`liucun serve`, an import): opening it for
    /// writing failed, and [`crate::Engine::open_read_only`] can still read it.
    pub fn is_locked(&self) -> bool {
        matches!(
            self,
            Error::Store(store::Error::Locked(_)) | Error::Wal(wal::Error::Locked { .. })
        )
    }
}

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
