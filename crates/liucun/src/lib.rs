//! liucun engine facade.
