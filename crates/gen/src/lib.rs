//! Seeded synthetic event streams for several AI chat apps: users who sign up over a window, chat with models
//! (`$ai_generation` with tokens, latency and cache reads), log in (`$identify`), pay and renew (`payment`), and
//! come back with app-specific, heavy-tailed retention. It feeds `liucun gen`, `liucun demo`, tests and
//! benchmarks.
//!
//! [`write_files`] writes one NDJSON or Parquet file per app; [`Generator`] hands out events in memory. Both stop
//! at exactly [`GenConfig::events`] events, split between apps by their shares. [`write_persons`] writes an app's
//! persons file (properties and a few merges) for `liucun import --persons`.
//!
//! # Stability
//!
//! The output is a pure function of the [`GenConfig`], seed included, and it is meant to stay so forever: the same
//! config gives byte-identical files on every platform, Rust release and thread count. Randomness comes from a
//! hand-written xoshiro256** seeded with SplitMix64, and the floating-point functions are written out with basic
//! arithmetic, which IEEE 754 rounds identically everywhere. Each user has their own random stream, keyed by the
//! seed, the project name and the user's index, so neither chunk sizes nor parallelism can change a byte.
//! Anything that changes the output for an existing config must bump [`GEN_VERSION`], which every file records.
//! NDJSON bytes depend on nothing else; Parquet files also embed the zstd and parquet library versions' choices,
//! so their bytes are identical for one build, and their decoded rows are identical across builds.
//!
//! # Shape of the data
//!
//! Within an app's file, events come user by user, each user's in time order. A visit is a `$pageview`, then 1..n
//! `chat_message` events, each followed by the `$ai_generation` that answered it. Users start as `anon-<hex>`; some
//! log in with `$identify` (`distinct_id` `u-<n>`, `$anon_distinct_id` the anonymous id) and use `u-<n>` from then
//! on. Some identified users pay: a `new` payment, monthly (or plan-period) `renewal`s while they stay active, and
//! now and then a `refund`.

mod app;
mod config;
mod error;
mod generator;
mod json;
mod persons;
mod rng;
mod writer;

pub use config::{AppProfile, GenConfig, ModelShare, Plan, RetentionProfile};
pub use error::Error;
pub use generator::{GenEvent, Generator};
pub use persons::{persons_path, write_persons};
pub use writer::{
    Format, GenFile, ROW_GROUP_ROWS, output_paths, parquet_schema, sidecar_path, write_files,
};

/// Version of the generation algorithm; it changes whenever the output for an existing config changes.
pub const GEN_VERSION: u32 = 1;
