//! liucun's event store: immutable Parquet segments partitioned by project and UTC day, NDJSON side files for the
//! quarantine and persons imports, and a manifest replaced atomically that makes them visible.
//!
//! The store knows events and files; it knows nothing of the WAL (the facade passes the checkpoint in) nor of
//! reports. Formats are documented in `docs/formats/`.

pub mod costs;
mod error;
mod fsutil;
pub mod ids;
pub mod manifest;
pub mod segment;
pub mod sidefile;
mod store;

pub use error::{Error, Result};
pub use fsutil::write_atomic;
pub use manifest::{Manifest, SegmentEntry, SideFile, SideKind};
pub use store::{
    COMPACT_BELOW_ROWS, FlushInput, FlushStats, SPLIT_ROWS, ScanFilter, SegmentFailure,
    SegmentRead, Store,
};
