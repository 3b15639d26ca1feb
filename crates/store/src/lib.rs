//! liucun-store.
