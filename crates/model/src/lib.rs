//! The vocabulary every stage of liucun shares: events, validated batches, rejections, identity merges, and the
//! newtypes for ids and units.
//!
//! Nothing here knows about JSON, files, the WAL or Parquet. Types deliberately do not derive `Serialize`, so a
//! renamed field can never silently change a file format or an API.

mod batch;
mod cost;
mod currency;
mod event;
mod ids;
mod time;

pub use batch::{EventBatch, PersonBatch, PersonRecord, Record, RejectReason, Rejection};
pub use cost::{CostKey, RowCosts};
pub use currency::currency_exponent;
pub use event::{Event, EventText, Merge, MergeSource, Payment, PaymentKind, TypedProps};
pub use ids::{Digest, Lsn, Project, ProjectError, Uuid, UuidError};
pub use time::{Day, MICROS_PER_DAY, Timestamp};
