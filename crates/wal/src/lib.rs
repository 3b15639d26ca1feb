//! liucun-wal.
