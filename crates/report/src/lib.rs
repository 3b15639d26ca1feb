//! liucun's reports: validated parameters, windows in any IANA time zone, property filters, statistics, and the
//! retention report with its provenance. Pure: the engine hands in event tables, this crate hands back plain data.

pub mod error;
pub mod filter;
pub mod params;
pub mod render;
pub mod retention;
pub mod stats;
pub mod svg;
pub mod verify;
pub mod window;

pub use error::{Error, Result};
pub use params::RetentionParams;
pub use retention::RetentionReport;
