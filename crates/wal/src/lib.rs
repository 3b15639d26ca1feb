//! liucun's write-ahead log: every accepted [`model::Record`] is appended here, fsynced, and only then acknowledged.
//!
//! The engine appends with [`Wal::append`], replays what [`Wal::open`] returns into its in-memory tail after a
//! restart, flushes records into Parquet segments, and then calls [`Wal::truncate_through`] with the last flushed
//! lsn. The log knows nothing about segments, cohorts or reports: it stores records and hands them back in order.
//!
//! - `codec`: the hand-written encoding of one record.
//! - `frame`: the file header, checksummed frames and the torn-tail rule.
//! - `wal`: files on disk, group commit, rotation and truncation.
//!
//! The byte layout and the recovery rules are specified in `docs/formats/wal.md`.

pub mod codec;
mod error;
mod frame;
mod wal;

pub use error::{Damage, Error};
pub use frame::{FORMAT_VERSION, HEADER_LEN, MAGIC, OLDEST_FORMAT_VERSION};
pub use wal::{Replay, TornTail, Wal, WalConfig, WalFileState, WalState};
