//! One accepted event, its typed well-known properties, and the identity merge it may carry.

use crate::{Digest, Timestamp, Uuid};

/// An event that passed validation (events.md §1–§3).
///
/// The content fields (`uuid`, `distinct_id`, `event`, `timestamp`, `properties`) define the event and its
/// [`Digest`]. The rest is either derived from the content (`typed`, `merge`) or ingest metadata
/// (`received_at`, `source`, `meta`), which never changes a report or a fingerprint. The text fields live in one
/// allocation ([`EventText`]), read through [`Event::distinct_id`] and its siblings.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Event {
    /// Dedup key together with the project.
    pub uuid: Uuid,
    /// When the event happened (after clock-skew correction for HTTP capture).
    pub timestamp: Timestamp,
    /// SHA-256 content digest of events.md §8.
    pub digest: Digest,
    /// Well-known properties, parsed once at ingest.
    pub typed: TypedProps,
    /// The identity merge this event asks for, if any.
    pub merge: Option<Box<Merge>>,
    /// When liucun received the event.
    pub received_at: Timestamp,
    /// The distinct id, event name, properties, source and meta.
    pub text: EventText,
}

impl Event {
    /// The distinct id as sent, 1–200 characters.
    pub fn distinct_id(&self) -> &str {
        self.text.distinct_id()
    }

    /// The event name, 1–200 characters.
    pub fn event(&self) -> &str {
        self.text.event()
    }

    /// The properties object as canonical JSON (RFC 8785 key order, numbers kept as sent).
    pub fn properties(&self) -> &str {
        self.text.properties()
    }

    /// Where it came from: `file.ndjson:12`, `file.parquet:rg0:row17`, `http /batch req-… #3`.
    pub fn source(&self) -> &str {
        self.text.source()
    }

    /// Other ingest metadata as a JSON object (`sent_at`, library, replaced uuid, export-only fields).
    pub fn meta(&self) -> &str {
        self.text.meta()
    }
}

/// The text fields of an event in one allocation: an event is otherwise five small strings scattered over the
/// heap, and writing segments visits millions of them in an order unrelated to where they sit.
#[derive(Clone, PartialEq, Eq)]
pub struct EventText {
    /// `distinct_id`, `event`, `properties`, `source` and `meta`, back to back.
    buf: Box<str>,
    /// Where each of the first four ends in `buf`; `meta` runs to the end. An event is at most a few MiB.
    ends: [u32; 4],
}

impl EventText {
    /// Puts the five fields together.
    pub fn new(
        distinct_id: &str,
        event: &str,
        properties: &str,
        source: &str,
        meta: &str,
    ) -> EventText {
        let parts = [distinct_id, event, properties, source, meta];
        let mut buf = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0; 4];
        for (i, p) in parts.iter().enumerate() {
            buf.push_str(p);
            if let Some(end) = ends.get_mut(i) {
                *end = u32::try_from(buf.len()).expect("event text is smaller than 4 GiB");
            }
        }
        EventText {
            buf: buf.into_boxed_str(),
            ends,
        }
    }

    fn part(&self, i: usize) -> &str {
        let [start, end] = self.bounds(i);
        &self.buf[start..end]
    }

    fn bounds(&self, i: usize) -> [usize; 2] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let end = self.ends.get(i).map_or(self.buf.len(), |&e| e as usize);
        [start, end]
    }

    /// The byte lengths of the five fields, in the order of [`EventText::new`], read without touching the text
    /// itself (sizing buffers for millions of events should not visit each one's heap block).
    pub fn lens(&self) -> [usize; 5] {
        std::array::from_fn(|i| {
            let [start, end] = self.bounds(i);
            end - start
        })
    }

    /// The distinct id.
    pub fn distinct_id(&self) -> &str {
        self.part(0)
    }

    /// The event name.
    pub fn event(&self) -> &str {
        self.part(1)
    }

    /// The canonical properties object.
    pub fn properties(&self) -> &str {
        self.part(2)
    }

    /// Where the event came from.
    pub fn source(&self) -> &str {
        self.part(3)
    }

    /// Ingest metadata as a JSON object.
    pub fn meta(&self) -> &str {
        self.part(4)
    }
}

impl std::fmt::Debug for EventText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventText")
            .field("distinct_id", &self.distinct_id())
            .field("event", &self.event())
            .field("properties", &self.properties())
            .field("source", &self.source())
            .field("meta", &self.meta())
            .finish()
    }
}

/// Well-known properties that reports read, with their types resolved.
///
/// The same values stay in [`Event::properties`]; these are copies in a form kernels can scan.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TypedProps {
    /// `$ai_model`.
    pub ai_model: Option<String>,
    /// `$ai_provider`.
    pub ai_provider: Option<String>,
    /// `$ai_input_tokens`.
    pub ai_input_tokens: Option<i64>,
    /// `$ai_output_tokens`.
    pub ai_output_tokens: Option<i64>,
    /// `$ai_cache_read_input_tokens`.
    pub ai_cache_read_tokens: Option<i64>,
    /// `$ai_cache_creation_input_tokens`.
    pub ai_cache_write_tokens: Option<i64>,
    /// `$ai_total_cost_usd` in nano-dollars (10⁻⁹ USD), when the client supplied a cost.
    pub ai_cost_nusd: Option<i64>,
    /// A token count was present but not a non-negative integer (events.md §6.1.3).
    pub ai_usage_invalid: bool,
    /// The payment carried by a `payment` event.
    pub payment: Option<Box<Payment>>,
    /// `$process_person_profile: false` (events.md §5.6).
    pub personless: bool,
}

/// A validated payment (events.md §7). Amounts are integers in the currency's minor units.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Payment {
    /// Gross amount including tax, ≥ 0.
    pub amount_minor: i64,
    /// ISO 4217 code, uppercase.
    pub currency: String,
    /// What the payment is.
    pub kind: PaymentKind,
    /// Tax contained in the amount.
    pub tax_minor: i64,
    /// Processor or store fee.
    pub fee_minor: i64,
    /// Plan or SKU.
    pub product: Option<String>,
    /// The processor's id.
    pub external_id: Option<String>,
}

/// The kind of a payment; refunds and chargebacks subtract.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PaymentKind {
    /// First payment of a subscription.
    New,
    /// A subscription renewal.
    Renewal,
    /// A one-off purchase (the default).
    OneTime,
    /// Metered usage.
    Usage,
    /// Money returned to the user.
    Refund,
    /// Money taken back by the card network.
    Chargeback,
}

impl PaymentKind {
    /// All kinds, in declaration order.
    pub const ALL: [PaymentKind; 6] = [
        PaymentKind::New,
        PaymentKind::Renewal,
        PaymentKind::OneTime,
        PaymentKind::Usage,
        PaymentKind::Refund,
        PaymentKind::Chargeback,
    ];

    /// The wire name: `new`, `renewal`, `one_time`, `usage`, `refund`, `chargeback`.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentKind::New => "new",
            PaymentKind::Renewal => "renewal",
            PaymentKind::OneTime => "one_time",
            PaymentKind::Usage => "usage",
            PaymentKind::Refund => "refund",
            PaymentKind::Chargeback => "chargeback",
        }
    }

    /// Reads a wire name.
    pub fn parse(text: &str) -> Option<PaymentKind> {
        PaymentKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether this kind subtracts from revenue.
    pub fn is_negative(self) -> bool {
        matches!(self, PaymentKind::Refund | PaymentKind::Chargeback)
    }
}

/// An identity merge asked for by an event (events.md §5.2): `merged` joins the person of `kept`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Merge {
    /// The id that stays (D).
    pub kept: String,
    /// The id that joins (A).
    pub merged: String,
    /// Which convention produced the merge.
    pub source: MergeSource,
}

/// Where a merge came from; decides whether it is guarded and what it marks as identified.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MergeSource {
    /// `$identify` with `$anon_distinct_id`.
    Identify,
    /// `$create_alias` with `alias`.
    CreateAlias,
    /// `$merge_dangerously` with `alias` (unguarded).
    MergeDangerously,
    /// A Segment message carrying both `userId` and `anonymousId`.
    SegmentIds,
    /// A Segment `alias` message (`userId` keeps, `previousId` joins).
    SegmentAlias,
    /// A Sensors message whose kept id is identified (ingest-sensors.md §5): `merged` lists the joining ids,
    /// separated by U+001F, or is the kept id alone when the message only identifies it.
    SensorsIds,
    /// A Sensors `track_id_bind` without a login identity: guarded like the others, but its kept id is not thereby
    /// identified. `merged` lists the joining ids as for [`MergeSource::SensorsIds`].
    SensorsBind,
    /// A Sensors `track_id_unbind` (ingest-sensors.md §5.4): the message's `distinct_id` is kept and `merged` lists
    /// the ids of its identities (or is the kept id alone). Persons are never split, so it is never applied; the
    /// identity log records it with the reason `unbind_not_applied`, and it identifies nobody.
    SensorsUnbind,
}

impl MergeSource {
    /// All sources, in declaration order.
    pub const ALL: [MergeSource; 8] = [
        MergeSource::Identify,
        MergeSource::CreateAlias,
        MergeSource::MergeDangerously,
        MergeSource::SegmentIds,
        MergeSource::SegmentAlias,
        MergeSource::SensorsIds,
        MergeSource::SensorsBind,
        MergeSource::SensorsUnbind,
    ];

    /// Stable name used on disk and in `inspect`.
    pub fn as_str(self) -> &'static str {
        match self {
            MergeSource::Identify => "identify",
            MergeSource::CreateAlias => "create_alias",
            MergeSource::MergeDangerously => "merge_dangerously",
            MergeSource::SegmentIds => "segment_ids",
            MergeSource::SegmentAlias => "segment_alias",
            MergeSource::SensorsIds => "sensors_ids",
            MergeSource::SensorsBind => "sensors_bind",
            MergeSource::SensorsUnbind => "sensors_unbind",
        }
    }

    /// Reads a stable name.
    pub fn parse(text: &str) -> Option<MergeSource> {
        MergeSource::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Separates the merged ids of a Sensors merge, which may join several ids at once.
    pub const ID_SEPARATOR: char = '\u{1f}';

    /// Whether the kept id of such a merge is an identified user (events.md §5.3.2).
    pub fn identifies_kept(self) -> bool {
        !matches!(
            self,
            MergeSource::MergeDangerously | MergeSource::SensorsBind | MergeSource::SensorsUnbind
        )
    }

    /// Guarded merges are refused when the merged id already belongs to another identified person.
    pub fn is_guarded(self) -> bool {
        !matches!(self, MergeSource::MergeDangerously)
    }
}

#[cfg(test)]
mod tests {
    use super::{Event, EventText};

    #[test]
    fn an_event_stays_small() {
        // Imports hold millions of events and move each several times; rare parts (payments, merges) are boxed.
        assert!(
            size_of::<Event>() <= 256,
            "Event is {} bytes",
            size_of::<Event>()
        );
    }

    #[test]
    fn text_fields_come_back_as_given_empty_or_not() {
        let cases = [
            ["u1", "$pageview", "{\"a\":1}", "f.ndjson:3", "{}"],
            ["", "", "", "", ""],
            ["用户", "", "{}", "", "{\"sent_at\":\"x\"}"],
            ["a", "b", "c", "d", ""],
        ];
        for [d, e, p, s, m] in cases {
            let t = EventText::new(d, e, p, s, m);
            assert_eq!(
                [
                    t.distinct_id(),
                    t.event(),
                    t.properties(),
                    t.source(),
                    t.meta()
                ],
                [d, e, p, s, m]
            );
            assert_eq!(t.lens(), [d, e, p, s, m].map(str::len));
            // Equal fields, equal texts; a boundary moved between fields, different texts.
            assert_eq!(t, EventText::new(d, e, p, s, m));
        }
        assert_ne!(
            EventText::new("ab", "c", "", "", ""),
            EventText::new("a", "bc", "", "", "")
        );
    }
}
