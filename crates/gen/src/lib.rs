//! liucun-gen.
