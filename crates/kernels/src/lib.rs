//! Pure kernels over event columns. They take whole columns (equal-length slices) and return counts; they do no IO
//! and know nothing of files, JSON or time zones (periods arrive as a precomputed [`PeriodGrid`]).

pub mod activity;
pub mod grid;
pub mod growth;
pub mod retention;
mod sets;
pub mod sticky;

pub use grid::{Locate, PeriodGrid};
pub use retention::{
    BucketMode, CohortCounts, Mode, RetentionColumns, RetentionConfig, retention, retention_24h,
};
pub use sets::{PeriodSets, Side};
