//! The store's error type.

use std::path::PathBuf;

/// Everything that can go wrong reading or writing the data directory.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused a read, write, fsync or rename.
    #[error("{path}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A file of ours failed its checksum or cannot be decoded.
    #[error("{path}: corrupt at offset {offset}: {reason}")]
    Corruption {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damage, when known (0 otherwise).
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A file was written by a newer liucun.
    #[error(
        "{path}: format version {version} is not supported (this build reads up to {supported})"
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        version: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A Parquet segment could not be written or read.
    #[error("segment {path}")]
    Parquet {
        /// The segment file.
        path: PathBuf,
        /// The Parquet or Arrow error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The data directory does not exist or holds no manifest.
    #[error(
        "{0} is not a liucun data directory (no MANIFEST); import some events first, or pass --data"
    )]
    NotADataDir(PathBuf),
    /// The data directory is already in use by another process.
    #[error("{0} is locked by another liucun process")]
    Locked(PathBuf),
    /// A write was asked of a store opened read-only.
    #[error("{0} is open read-only; writing needs the process that holds it")]
    ReadOnly(PathBuf),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn parquet<E: std::error::Error + Send + Sync + 'static>(
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(E) -> Error {
        let path = path.into();
        move |source| Error::Parquet {
            path,
            source: Box::new(source),
        }
    }
}

/// Result alias for the store.
pub type Result<T, E = Error> = std::result::Result<T, E>;
