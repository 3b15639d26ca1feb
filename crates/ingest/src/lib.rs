//! Ingest: raw input (NDJSON lines in liucun's, PostHog's or Segment's shape, CSV and Parquet files, persons
//! imports) becomes validated [`EventBatch`]es plus rejections, following events.md.
//!
//! The crate is pure: it reads bytes and returns batches, and knows nothing of the WAL or the store. One bad event
//! never fails its batch; only whole-file problems (a missing column, an unreadable file) are errors.

mod canonical;
mod csv_import;
mod decimal;
mod error;
pub mod http;
mod ndjson;
mod parquet_import;
mod payment;
mod person;
mod scan;
mod shape;
mod timestamp;
mod validate;

pub use canonical::{NAMESPACE, canonical_json, event_digest};
pub use csv_import::csv_file;
pub use decimal::decimal_sum;
pub use error::{FileError, SinkError};
pub use ndjson::ndjson_chunk;
pub use parquet_import::parquet_file;
pub use person::persons_ndjson;
pub use validate::is_placeholder;

use model::Timestamp;

/// Checks, for the `properties` fuzz target, that the fast canonicalisation of a properties text agrees with the
/// general one. Returns whether the fast path took the text.
///
/// # Panics
/// When the two paths disagree.
#[doc(hidden)]
pub fn fuzz_properties(text: &str) -> bool {
    match scan::check_agreement(text) {
        Ok(fast) => fast,
        Err(divergence) => panic!("{divergence}"),
    }
}

/// Settings of one import.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Config {
    /// The import start: `received_at` of every event and the reference of the future check (now + 23 h).
    pub now: Timestamp,
    /// The per-event size limit (events.md §2.4.4).
    pub max_event_bytes: usize,
}

impl Config {
    /// The default limit of 1 MiB per event.
    pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

    /// A config with the default size limit.
    pub fn new(now: Timestamp) -> Config {
        Config {
            now,
            max_event_bytes: Config::DEFAULT_MAX_EVENT_BYTES,
        }
    }
}

/// What a CSV or Parquet import read.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct FileSummary {
    /// Data rows read, accepted or rejected.
    pub rows: u64,
    /// Remarks for the user, such as a column that overrides a key inside `properties` (once per column).
    pub notes: Vec<String>,
}
