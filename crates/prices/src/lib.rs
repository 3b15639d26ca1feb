//! Prices of LLM usage and the cost of one AI event (economics.md §3–§4, events.md §6.1–6.2).
//!
//! A [`PriceTable`] is one validated price file; [`Pricing`] searches override tables before the built-in one and
//! turns an event's properties into a [`Costing`]. Money is exact: prices are decimals read from text and costs
//! are integer nano-units, rounded half-even once per bucket. The crate does no IO; callers hand in file text.
//!
//! [`train`] estimates what one final training run costs (economics.md §7) from a hardware table of peak FLOP/s; it
//! is an order-of-magnitude estimate in `f64`, the one place in the crate with floats.

mod currency;
mod decimal;
mod error;
mod genai;
mod import;
mod pricing;
mod table;
mod time;
pub mod train;
mod usage;

pub use error::{Error, Problem};
pub use genai::{GENAI_PRICES_SOURCE, import_genai_prices};
pub use import::{ImportSummary, LITELLM_SOURCE, import_litellm, import_litellm_filtered};
pub use pricing::{BucketCost, Costing, Lookup, LookupVariant, Options, Pricing, Source};
pub use table::{Candidate, PriceTable, Stage};
pub use time::parse_instant;
pub use usage::{Bucket, Usage, UsageInvalid, buckets};
