//! The generator's error type: an invalid [`GenConfig`](crate::GenConfig) or an output file that could not be
//! written.

use std::path::PathBuf;

/// Everything that can go wrong configuring the generator or writing its files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config lists no apps.
    #[error("generator config lists no apps")]
    NoApps,
    /// The config covers zero days.
    #[error("generator config covers zero days; days must be at least 1")]
    NoDays,
    /// An app's project name is not a valid liucun project.
    #[error("app {project:?}: {source}")]
    InvalidProject {
        /// The name as given.
        project: String,
        /// Why it is not a project name.
        source: model::ProjectError,
    },
    /// Two apps share one project name, so their files would collide.
    #[error("app {0:?} is listed twice")]
    DuplicateProject(String),
    /// A share, weight or probability of an app is out of its range.
    #[error("app {project:?}: {field} = {value} is outside {range}")]
    OutOfRange {
        /// The app.
        project: String,
        /// The field, as named in [`AppProfile`](crate::AppProfile) (dotted for nested fields).
        field: &'static str,
        /// The value given.
        value: f64,
        /// The allowed range, as text.
        range: &'static str,
    },
    /// An app has an empty model or plan list.
    #[error("app {project:?}: {field} is empty")]
    Empty {
        /// The app.
        project: String,
        /// `models` or `plans`.
        field: &'static str,
    },
    /// A plan's amount is not a decimal string with two fractional digits, or its currency is not three letters.
    #[error(
        "app {project:?}: plan {product:?} has price {amount:?} {currency:?}; expected like \"19.99\" \"USD\""
    )]
    InvalidPrice {
        /// The app.
        project: String,
        /// The plan's product name.
        product: String,
        /// The amount as given.
        amount: String,
        /// The currency as given.
        currency: String,
    },
    /// The output path's extension names no format this crate writes.
    #[error("{0}: unknown output format; use a .parquet, .ndjson or .jsonl extension")]
    UnknownFormat(PathBuf),
    /// A generated file names an app the config does not list.
    #[error("app {0:?} is not in the generator config")]
    UnknownApp(String),
    /// The operating system refused to create or write a file.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The Parquet writer failed.
    #[error("parquet file {path}: {source}")]
    Parquet {
        /// The file being written.
        path: PathBuf,
        /// The Parquet error.
        source: parquet::errors::ParquetError,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn parquet(
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(parquet::errors::ParquetError) -> Error {
        let path = path.into();
        move |source| Error::Parquet { path, source }
    }
}
