//! liucun reports.
