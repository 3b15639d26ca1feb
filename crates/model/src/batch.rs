//! Validated batches as they travel from ingest to the WAL and the store, and the rejections that travel with them.

use crate::{Event, Project, Timestamp};

/// A validated batch of events for one project, with the rejections from the same request or file chunk.
///
/// Rejections travel with the accepted events so that both become durable together (events.md §9.2).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EventBatch {
    project: Project,
    events: Vec<Event>,
    rejections: Vec<Rejection>,
}

impl EventBatch {
    /// Wraps events that already passed validation.
    ///
    /// Only `ingest` (which validates) and the decoders of liucun's own durable formats (which read back what
    /// `ingest` produced) should call this.
    pub fn new(project: Project, events: Vec<Event>, rejections: Vec<Rejection>) -> EventBatch {
        EventBatch {
            project,
            events,
            rejections,
        }
    }

    /// The project every event belongs to.
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// The accepted events.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The rejected inputs.
    pub fn rejections(&self) -> &[Rejection] {
        &self.rejections
    }

    /// Splits the batch into its parts.
    pub fn into_parts(self) -> (Project, Vec<Event>, Vec<Rejection>) {
        (self.project, self.events, self.rejections)
    }

    /// Whether the batch holds neither events nor rejections.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.rejections.is_empty()
    }
}

/// One input that failed validation, kept verbatim with its reason (events.md §9).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Rejection {
    /// Why it was rejected.
    pub reason: RejectReason,
    /// Names the field and, when short, the value.
    pub detail: String,
    /// The raw bytes: the event's JSON, or the file line.
    pub raw: Vec<u8>,
    /// Where it came from: `file.ndjson:12`, `http /batch req-… #3`.
    pub source: String,
    /// When liucun received it.
    pub received_at: Timestamp,
}

/// The quarantine reason codes of events.md §4, plus the persons-import ones.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum RejectReason {
    /// `missing_distinct_id`
    MissingDistinctId,
    /// `invalid_distinct_id`
    InvalidDistinctId,
    /// `distinct_id_too_long`
    DistinctIdTooLong,
    /// `placeholder_distinct_id`
    PlaceholderDistinctId,
    /// `missing_event_name`
    MissingEventName,
    /// `empty_event_name`
    EmptyEventName,
    /// `event_name_too_long`
    EventNameTooLong,
    /// `invalid_uuid`
    InvalidUuid,
    /// `missing_timestamp`
    MissingTimestamp,
    /// `invalid_timestamp`
    InvalidTimestamp,
    /// `timestamp_too_old`
    TimestampTooOld,
    /// `timestamp_in_future`
    TimestampInFuture,
    /// `invalid_properties`
    InvalidProperties,
    /// `event_too_large`
    EventTooLarge,
    /// `invalid_payment`
    InvalidPayment,
    /// `invalid_segment_type`
    InvalidSegmentType,
    /// `unsupported_event_type`
    UnsupportedEventType,
    /// `invalid_sensors_type`: a Sensors message whose `type` is missing or unknown.
    InvalidSensorsType,
    /// `malformed_event`: not JSON, not an object, not UTF-8, or a row that cannot be read.
    MalformedEvent,
    /// `invalid_person`: a persons-import record that cannot be read.
    InvalidPerson,
}

impl RejectReason {
    /// Every reason, in declaration order.
    pub const ALL: [RejectReason; 20] = [
        RejectReason::MissingDistinctId,
        RejectReason::InvalidDistinctId,
        RejectReason::DistinctIdTooLong,
        RejectReason::PlaceholderDistinctId,
        RejectReason::MissingEventName,
        RejectReason::EmptyEventName,
        RejectReason::EventNameTooLong,
        RejectReason::InvalidUuid,
        RejectReason::MissingTimestamp,
        RejectReason::InvalidTimestamp,
        RejectReason::TimestampTooOld,
        RejectReason::TimestampInFuture,
        RejectReason::InvalidProperties,
        RejectReason::EventTooLarge,
        RejectReason::InvalidPayment,
        RejectReason::InvalidSegmentType,
        RejectReason::UnsupportedEventType,
        RejectReason::InvalidSensorsType,
        RejectReason::MalformedEvent,
        RejectReason::InvalidPerson,
    ];

    /// The stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::MissingDistinctId => "missing_distinct_id",
            RejectReason::InvalidDistinctId => "invalid_distinct_id",
            RejectReason::DistinctIdTooLong => "distinct_id_too_long",
            RejectReason::PlaceholderDistinctId => "placeholder_distinct_id",
            RejectReason::MissingEventName => "missing_event_name",
            RejectReason::EmptyEventName => "empty_event_name",
            RejectReason::EventNameTooLong => "event_name_too_long",
            RejectReason::InvalidUuid => "invalid_uuid",
            RejectReason::MissingTimestamp => "missing_timestamp",
            RejectReason::InvalidTimestamp => "invalid_timestamp",
            RejectReason::TimestampTooOld => "timestamp_too_old",
            RejectReason::TimestampInFuture => "timestamp_in_future",
            RejectReason::InvalidProperties => "invalid_properties",
            RejectReason::EventTooLarge => "event_too_large",
            RejectReason::InvalidPayment => "invalid_payment",
            RejectReason::InvalidSegmentType => "invalid_segment_type",
            RejectReason::UnsupportedEventType => "unsupported_event_type",
            RejectReason::InvalidSensorsType => "invalid_sensors_type",
            RejectReason::MalformedEvent => "malformed_event",
            RejectReason::InvalidPerson => "invalid_person",
        }
    }

    /// Reads a code back.
    pub fn from_code(code: &str) -> Option<RejectReason> {
        RejectReason::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A persons-import record (events.md §5.5).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PersonRecord {
    /// The ids merged into one identified person, in file order.
    pub distinct_ids: Vec<String>,
    /// Properties applied as a `$set` at `updated_at`, as canonical JSON.
    pub properties: String,
    /// Overrides the first-event rule of lifecycle when given.
    pub created_at: Option<Timestamp>,
    /// When the properties take effect; defaults to the import time.
    pub updated_at: Timestamp,
    /// File and line.
    pub source: String,
}

/// Validated persons-import records for one project, with the lines that failed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PersonBatch {
    /// The project the persons belong to.
    pub project: Project,
    /// Records in file order.
    pub persons: Vec<PersonRecord>,
    /// Records that failed validation.
    pub rejections: Vec<Rejection>,
}

/// What one WAL record carries.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Record {
    /// Events and rejections from one request or file chunk.
    Events(EventBatch),
    /// A persons import.
    Persons(PersonBatch),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_round_trip() {
        for r in RejectReason::ALL {
            assert_eq!(RejectReason::from_code(r.code()), Some(r));
        }
    }
}
