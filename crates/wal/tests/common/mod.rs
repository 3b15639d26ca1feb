//! Shared test helpers: proptest strategies for arbitrary records and small fixed records.
//!
//! Every integration test binary includes this module; not all of them use every helper.

#![allow(dead_code, unreachable_pub)]

use model::{
    Digest, Event, EventBatch, EventText, Merge, MergeSource, Payment, PaymentKind, PersonBatch,
    PersonRecord, Project, Record, RejectReason, Rejection, Timestamp, TypedProps, Uuid,
};
use proptest::prelude::*;

/// Any text, including multi-byte characters and empty strings.
pub fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

pub fn project() -> impl Strategy<Value = Project> {
    "[a-z0-9][a-z0-9_-]{0,20}"
        .prop_map(|name| Project::new(&name).expect("strategy yields valid names"))
}

pub fn timestamp() -> impl Strategy<Value = Timestamp> {
    any::<i64>().prop_map(Timestamp)
}

pub fn payment() -> impl Strategy<Value = Payment> {
    (
        any::<i64>(),
        "[A-Z]{3}",
        prop::sample::select(PaymentKind::ALL.to_vec()),
        any::<i64>(),
        any::<i64>(),
        prop::option::of(text()),
        prop::option::of(text()),
    )
        .prop_map(
            |(amount_minor, currency, kind, tax_minor, fee_minor, product, external_id)| Payment {
                amount_minor,
                currency,
                kind,
                tax_minor,
                fee_minor,
                product,
                external_id,
            },
        )
}

pub fn typed() -> impl Strategy<Value = TypedProps> {
    (
        (prop::option::of(text()), prop::option::of(text())),
        prop::array::uniform5(prop::option::of(any::<i64>())),
        any::<bool>(),
        prop::option::of(payment()),
        any::<bool>(),
    )
        .prop_map(
            |((ai_model, ai_provider), ints, ai_usage_invalid, payment, personless)| TypedProps {
                ai_model,
                ai_provider,
                ai_input_tokens: ints[0],
                ai_output_tokens: ints[1],
                ai_cache_read_tokens: ints[2],
                ai_cache_write_tokens: ints[3],
                ai_cost_nusd: ints[4],
                ai_usage_invalid,
                payment: payment.map(Box::new),
                personless,
            },
        )
}

pub fn merge() -> impl Strategy<Value = Merge> {
    (
        text(),
        text(),
        prop::sample::select(MergeSource::ALL.to_vec()),
    )
        .prop_map(|(kept, merged, source)| Merge {
            kept,
            merged,
            source,
        })
}

pub fn event() -> impl Strategy<Value = Event> {
    (
        (
            any::<[u8; 16]>(),
            text(),
            text(),
            timestamp(),
            text(),
            any::<[u8; 32]>(),
        ),
        (
            typed(),
            prop::option::of(merge()),
            timestamp(),
            text(),
            text(),
        ),
    )
        .prop_map(
            |(
                (uuid, distinct_id, event, timestamp, properties, digest),
                (typed, merge, received_at, source, meta),
            )| {
                Event {
                    uuid: Uuid(uuid),
                    timestamp,
                    digest: Digest(digest),
                    typed,
                    merge: merge.map(Box::new),
                    received_at,
                    text: EventText::new(&distinct_id, &event, &properties, &source, &meta),
                }
            },
        )
}

pub fn rejection() -> impl Strategy<Value = Rejection> {
    (
        prop::sample::select(RejectReason::ALL.to_vec()),
        text(),
        prop::collection::vec(any::<u8>(), 0..24),
        text(),
        timestamp(),
    )
        .prop_map(|(reason, detail, raw, source, received_at)| Rejection {
            reason,
            detail,
            raw,
            source,
            received_at,
        })
}

pub fn person() -> impl Strategy<Value = PersonRecord> {
    (
        prop::collection::vec(text(), 0..4),
        text(),
        prop::option::of(timestamp()),
        timestamp(),
        text(),
    )
        .prop_map(
            |(distinct_ids, properties, created_at, updated_at, source)| PersonRecord {
                distinct_ids,
                properties,
                created_at,
                updated_at,
                source,
            },
        )
}

pub fn event_batch() -> impl Strategy<Value = EventBatch> {
    (
        project(),
        prop::collection::vec(event(), 0..4),
        prop::collection::vec(rejection(), 0..3),
    )
        .prop_map(|(project, events, rejections)| EventBatch::new(project, events, rejections))
}

pub fn person_batch() -> impl Strategy<Value = PersonBatch> {
    (
        project(),
        prop::collection::vec(person(), 0..4),
        prop::collection::vec(rejection(), 0..3),
    )
        .prop_map(|(project, persons, rejections)| PersonBatch {
            project,
            persons,
            rejections,
        })
}

pub fn record() -> impl Strategy<Value = Record> {
    prop_oneof![3 => event_batch().prop_map(Record::Events), 1 => person_batch().prop_map(Record::Persons)]
}

/// A small deterministic record, distinguishable by `n`.
pub fn small_record(n: u64) -> Record {
    let project = Project::new("app").expect("valid name");
    let event = Event {
        uuid: Uuid(u128::from(n).to_be_bytes()),
        timestamp: Timestamp(1_700_000_000_000_000 + n as i64),
        digest: Digest([n as u8; 32]),
        typed: TypedProps::default(),
        merge: None,
        received_at: Timestamp(1_700_000_000_000_000),
        text: EventText::new(
            &format!("user-{n}"),
            "chat",
            "{}",
            &format!("test:{n}"),
            "{}",
        ),
    };
    Record::Events(EventBatch::new(project, vec![event], Vec::new()))
}

/// The event of [`small_record`] `n`, carrying a merge.
fn merge_event(n: u64, kept: String, merged: String, source: MergeSource) -> Event {
    let Record::Events(batch) = small_record(n) else {
        unreachable!("small_record is an events record")
    };
    let mut event = batch.events()[0].clone();
    event.merge = Some(Box::new(Merge {
        kept,
        merged,
        source,
    }));
    event
}

/// The records in `tests/data/v1/`, a log written by the version-1 format (before the Sensors merge sources).
///
/// Every merge source version 1 knows appears once, and so do a persons record and a rejection.
pub fn v1_records() -> Vec<Record> {
    let project = Project::new("app").expect("valid name");
    let v1_sources = [
        MergeSource::Identify,
        MergeSource::CreateAlias,
        MergeSource::MergeDangerously,
        MergeSource::SegmentIds,
        MergeSource::SegmentAlias,
    ];
    let merges = v1_sources
        .into_iter()
        .enumerate()
        .map(|(i, source)| {
            merge_event(
                10 + i as u64,
                format!("user-{i}"),
                format!("anon-{i}"),
                source,
            )
        })
        .collect();
    let rejection = Rejection {
        reason: RejectReason::ALL[0],
        detail: "detail".into(),
        raw: b"{}".to_vec(),
        source: "test".into(),
        received_at: Timestamp(1_700_000_000_000_000),
    };
    let persons = PersonBatch {
        project: project.clone(),
        persons: vec![PersonRecord {
            distinct_ids: vec!["user-0".into(), "anon-0".into()],
            properties: r#"{"plan":"pro"}"#.into(),
            created_at: Some(Timestamp(1_700_000_000_000_000)),
            updated_at: Timestamp(1_700_000_000_000_001),
            source: "test".into(),
        }],
        rejections: vec![rejection.clone()],
    };
    vec![
        small_record(1),
        Record::Events(EventBatch::new(project, merges, vec![rejection])),
        Record::Persons(persons),
    ]
}

/// An events record whose events carry the Sensors merge sources, new in format version 2.
pub fn sensors_record(n: u64) -> Record {
    let project = Project::new("app").expect("valid name");
    let events = [
        MergeSource::SensorsIds,
        MergeSource::SensorsBind,
        MergeSource::SensorsUnbind,
    ]
    .into_iter()
    .map(|source| {
        merge_event(
            n,
            format!("login-{n}"),
            format!("anon-{n}\u{1f}device-{n}"),
            source,
        )
    })
    .collect();
    Record::Events(EventBatch::new(project, events, Vec::new()))
}
