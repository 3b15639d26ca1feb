//! liucun's tables in ClickHouse (docs/clickhouse.md gives the reasoning): the events as the segments hold them, and
//! the identity map as a timeline with its log, the persons imports, and the person properties as a timeline.

use crate::{Error, Result};

/// Every stored event.
pub const EVENTS: &str = "liucun_events";
/// Each distinct id's person and merge flag over time (`liucun::export::IdentityChange`).
pub const IDENTITY: &str = "liucun_identity";
/// Every merge request with its outcome, in application order (the identity digest hashes it).
pub const IDENTITY_LOG: &str = "liucun_identity_log";
/// Every persons import record, in import order.
pub const PERSONS: &str = "liucun_persons";
/// Each person's properties over time (`liucun::export::PropertiesChange`).
pub const PERSON_PROPERTIES: &str = "liucun_person_properties";

/// The statements that create the database and the tables (each runs alone).
pub fn ddl(database: &str) -> Vec<String> {
    vec![
        format!("CREATE DATABASE IF NOT EXISTS `{database}`"),
        format!(
            "CREATE TABLE IF NOT EXISTS `{database}`.{EVENTS} (
    project LowCardinality(String),
    uuid UUID,
    distinct_id String,
    event LowCardinality(String),
    timestamp DateTime64(6, 'UTC'),
    properties String,
    digest UInt256,
    personless Bool,
    ai_model LowCardinality(Nullable(String)),
    ai_provider LowCardinality(Nullable(String)),
    ai_input_tokens Nullable(Int64),
    ai_output_tokens Nullable(Int64),
    ai_cache_read_tokens Nullable(Int64),
    ai_cache_write_tokens Nullable(Int64),
    ai_cost_nusd Nullable(Int64),
    ai_usage_invalid Bool,
    payment_amount_minor Nullable(Int64),
    payment_tax_minor Nullable(Int64),
    payment_fee_minor Nullable(Int64),
    payment_currency LowCardinality(Nullable(String)),
    payment_kind LowCardinality(Nullable(String)),
    payment_product Nullable(String),
    payment_external_id Nullable(String),
    merge_kept Nullable(String),
    merge_from Nullable(String),
    merge_source LowCardinality(Nullable(String)),
    received_at DateTime64(6, 'UTC'),
    source String,
    segment LowCardinality(String) DEFAULT ''
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project, toDate(timestamp), distinct_id, timestamp, uuid)"
        ),
        // Tables of an earlier version lack the segment each event came from.
        format!(
            "ALTER TABLE `{database}`.{EVENTS} ADD COLUMN IF NOT EXISTS segment LowCardinality(String) DEFAULT ''"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS `{database}`.{IDENTITY} (
    project LowCardinality(String),
    distinct_id String,
    valid_from Int64,
    person String,
    in_merge Bool
)
ENGINE = MergeTree
ORDER BY (project, distinct_id, valid_from)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS `{database}`.{IDENTITY_LOG} (
    project LowCardinality(String),
    seq UInt64,
    valid_from Int64,
    kept String,
    merged String,
    source LowCardinality(String),
    applied Bool,
    reason LowCardinality(String),
    entry String
)
ENGINE = MergeTree
ORDER BY (project, seq)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS `{database}`.{PERSONS} (
    project LowCardinality(String),
    seq UInt64,
    distinct_ids Array(String),
    created_at Nullable(Int64),
    updated_at Int64,
    properties String,
    source String
)
ENGINE = MergeTree
ORDER BY (project, seq)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS `{database}`.{PERSON_PROPERTIES} (
    project LowCardinality(String),
    person String,
    valid_from Int64,
    properties String
)
ENGINE = MergeTree
ORDER BY (project, person, valid_from)"
        ),
    ]
}

/// Refuses a name that is not a plain identifier (a database name is part of the SQL text, so it cannot be bound).
///
/// # Errors
/// [`Error::Invalid`] naming `field`.
pub fn check_identifier(field: &'static str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid {
            field,
            message: format!(
                "{name:?} is not a plain identifier (letters, digits and `_`, not starting with a digit, at most 64)"
            ),
        })
    }
}
