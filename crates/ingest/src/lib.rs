//! liucun-ingest.
