//! Whole-file refusals of CSV and Parquet import. Per-event problems are never errors: they become rejections.

/// What the caller's batch sink may fail with; it is handed back unchanged in [`FileError::Sink`].
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Why a whole file was refused or its import stopped.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A required column (`distinct_id`, `event` or `timestamp`) is absent.
    #[error("{file}: missing column `{column}`")]
    MissingColumn {
        /// The file name as given.
        file: String,
        /// The column that is required.
        column: String,
    },
    /// Reading the file failed.
    #[error("{file}: read failed")]
    Io {
        /// The file name as given.
        file: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a readable CSV or Parquet file, or a column has a type liucun cannot read.
    #[error("{file}: unreadable: {reason}")]
    Unreadable {
        /// The file name as given.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The sink refused a batch; import stopped there.
    #[error("batch sink failed")]
    Sink(#[source] SinkError),
}
