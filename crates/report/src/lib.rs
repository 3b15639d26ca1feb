//! liucun's reports: validated parameters, windows in any IANA time zone, property filters, statistics, and every
//! report kind with its provenance. Pure: the engine hands in event tables, this crate hands back plain data.
//!
//! Every kind goes through one pipeline ([`kind`]): parameters ([`params::Params`]), a plan with its [`Scan`], the
//! engine's [`EventTable`]s, and a [`Report`] rendered as JSON, a table, CSV or SVG.

mod activity;
pub mod breakdown;
pub mod economics;
pub mod error;
pub mod filter;
pub mod funnels;
pub mod growth;
pub mod kind;
mod lang;
pub mod lifecycle;
pub mod numeric;
pub mod params;
pub mod provenance;
pub mod render;
pub mod retention;
pub mod settings;
pub mod stats;
pub mod stickiness;
pub mod svg;
pub mod table;
pub mod trends;
pub mod verify;
pub mod window;

pub use error::{Error, Result};
pub use kind::{Kind, Limits, Output, Planned, Report, ReportKind, Request};
pub use params::{Common, Params, RetentionParams};
pub use provenance::Provenance;
pub use retention::RetentionReport;
pub use table::{EventTable, Scan};
