//! The rules every event passes, whatever its source: distinct id, name, uuid, timestamp, properties, payments,
//! typed properties and identity merges (events.md §2–§8).
//!
//! Each input shape (liucun/PostHog JSON, Segment messages, CSV rows, Parquet rows) first becomes a [`Draft`];
//! [`finish`] then turns a draft into an [`Event`] or a [`Reject`].

use serde_json::{Map, Value};

use model::{
    Event, EventText, Merge, MergeSource, Project, RejectReason, Rejection, Timestamp, TypedProps,
    Uuid,
};

use crate::canonical::{canonical_object, content_uuid, event_digest, named_uuid};
use crate::{Config, payment, timestamp};

/// Longest distinct id or event name, in characters.
const MAX_ID_CHARS: usize = 200;

/// Deepest nesting allowed inside `properties`, counting the properties object itself as level 1.
const MAX_DEPTH: usize = 64;

/// Values longer than this many characters are not quoted in details.
const SHOW_CHARS: usize = 64;

/// A rejection before it is given its raw bytes and source.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Reject {
    pub(crate) reason: RejectReason,
    pub(crate) detail: String,
}

impl Reject {
    pub(crate) fn new(reason: RejectReason, detail: String) -> Reject {
        Reject { reason, detail }
    }

    pub(crate) fn into_rejection(self, raw: &[u8], source: String, cfg: &Config) -> Rejection {
        Rejection {
            reason: self.reason,
            detail: self.detail,
            raw: raw.to_vec(),
            source,
            received_at: cfg.now,
        }
    }
}

/// An event as read from one input shape, before the common rules.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    /// The distinct id, already chosen and checked (Segment), or the raw value and the field it came from.
    pub(crate) distinct_id: DistinctId,
    pub(crate) event: Option<Value>,
    pub(crate) uuid: Option<Value>,
    pub(crate) timestamp: Ts,
    pub(crate) properties: Map<String, Value>,
    /// The properties already in canonical form (the fast path of [`crate::scan`]); `properties` then holds only
    /// the top-level keys validation reads.
    pub(crate) canonical: Option<String>,
    pub(crate) meta: Map<String, Value>,
    /// How to name the event when it carries no uuid.
    pub(crate) uuid_rule: UuidRule,
    /// Merges follow the PostHog event-name conventions, or were decided by the shape (Segment).
    pub(crate) merge: MergeRule,
    /// The receive clock of an HTTP capture, for skew correction (events.md §3.2); `None` for files.
    pub(crate) clock: Option<Clock>,
}

/// What HTTP capture knows about time besides the event's own timestamp (events.md §3.2).
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    /// The server receive time.
    pub(crate) now: Timestamp,
    /// The client send time, when the request carried one that parses.
    pub(crate) sent_at: Option<Timestamp>,
    /// The event's `offset` field: milliseconds before the send.
    pub(crate) offset: Option<Value>,
}

#[derive(Debug, Default)]
pub(crate) enum DistinctId {
    #[default]
    Absent,
    Raw(Value, &'static str),
    Checked(String),
}

#[derive(Debug, Default)]
pub(crate) enum Ts {
    #[default]
    Absent,
    Value(Value, &'static str),
    Micros(Timestamp),
}

#[derive(Debug, Default)]
pub(crate) enum UuidRule {
    /// UUIDv5 of the project and the canonical content (file import).
    #[default]
    Content,
    /// A Segment `messageId`: itself when it is a UUID, else UUIDv5 of `project ␟ "segment" ␟ messageId`.
    SegmentMessage(String),
    /// A UUIDv7 taken at receive time (HTTP capture).
    Fresh,
    /// UUIDv5 of `project ␟ "replay" ␟ source`: a quarantined HTTP item replayed (idempotent).
    Replay(String),
    /// UUIDv5 of `project ␟ parts…`: a name the wire gives (a Sensors `_track_id`, ingest-sensors.md §4.5).
    Named(Vec<String>),
}

#[derive(Debug, Default)]
pub(crate) enum MergeRule {
    #[default]
    EventName,
    Fixed(Option<Merge>),
}

/// Applies events.md §2–§8 to a draft.
pub(crate) fn finish(
    project: &Project,
    cfg: &Config,
    d: Draft,
    source: String,
) -> Result<Event, Reject> {
    let distinct_id = match d.distinct_id {
        DistinctId::Checked(s) => s,
        DistinctId::Raw(Value::String(s), field) => check_id(s, field)?,
        DistinctId::Raw(v, field) => distinct_id(Some(&v), field)?,
        DistinctId::Absent => distinct_id(None, "distinct_id")?,
    };
    let event = event_name(d.event)?;
    if event == "$performance_event" {
        return Err(Reject::new(
            RejectReason::UnsupportedEventType,
            "`event` \"$performance_event\" is not supported".to_string(),
        ));
    }
    let supplied_uuid = uuid(d.uuid.as_ref())?;
    if let Some(v) = d.properties.get("$cookieless_mode")
        && !v.is_boolean()
    {
        return Err(Reject::new(
            RejectReason::InvalidProperties,
            format!("`$cookieless_mode` must be a boolean, got {}", kind(v)),
        ));
    }
    let ts = match (d.clock, d.timestamp) {
        (Some(clock), ts) => corrected_time(clock, ts, &d.properties)?,
        (None, Ts::Absent) => {
            return Err(Reject::new(
                RejectReason::MissingTimestamp,
                "`timestamp` is missing".to_string(),
            ));
        }
        (None, Ts::Value(v, field)) => {
            timestamp::check_range(timestamp::from_value(&v, field)?, cfg.now, field)?
        }
        (None, Ts::Micros(ts)) => timestamp::check_range(ts, cfg.now, "timestamp")?,
    };
    let mut props = d.properties;
    if let Some(text) = &d.canonical
        && event == "payment"
    {
        // A payment reads more keys than the fast path keeps.
        props = properties_text(text)?;
    }
    if d.canonical.is_none() && props.values().any(|v| depth(v) >= MAX_DEPTH) {
        return Err(Reject::new(
            RejectReason::InvalidProperties,
            format!("`properties` is nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let mut typed = typed_props(&props);
    if event == "payment" {
        typed.payment = Some(Box::new(payment::parse(&props)?));
    }
    let properties = match d.canonical {
        Some(text) => text,
        None => canonical_object(&props),
    };
    let size = properties.len() + distinct_id.len() + event.len();
    if size > cfg.max_event_bytes {
        return Err(too_large(size, cfg));
    }
    let mut meta = d.meta;
    let payment_uuid = typed.payment.as_ref().and_then(|p| {
        p.external_id
            .as_deref()
            .map(|x| named_uuid(project, &["payment", p.kind.as_str(), x]))
    });
    let uuid = match (payment_uuid, supplied_uuid) {
        (Some(derived), Some(supplied)) => {
            if derived != supplied {
                meta.insert(
                    "replaced_uuid".to_string(),
                    Value::String(supplied.to_string()),
                );
            }
            derived
        }
        (Some(derived), None) => derived,
        (None, Some(supplied)) => supplied,
        (None, None) => match &d.uuid_rule {
            UuidRule::SegmentMessage(id) => {
                Uuid::parse(id).unwrap_or_else(|_| named_uuid(project, &["segment", id.as_str()]))
            }
            UuidRule::Content => content_uuid(project, &distinct_id, &event, ts, &properties),
            UuidRule::Fresh => Uuid(*::uuid::Uuid::now_v7().as_bytes()),
            UuidRule::Replay(source) => named_uuid(project, &["replay", source.as_str()]),
            UuidRule::Named(parts) => {
                let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
                named_uuid(project, &parts)
            }
        },
    };
    let merge = match d.merge {
        MergeRule::Fixed(m) => m,
        MergeRule::EventName => name_merge(&event, &distinct_id, &props),
    };
    let digest = event_digest(&uuid, &distinct_id, &event, ts, &properties);
    let meta = if meta.is_empty() {
        std::borrow::Cow::Borrowed("{}")
    } else {
        std::borrow::Cow::Owned(canonical_object(&meta))
    };
    Ok(Event {
        uuid,
        timestamp: ts,
        digest,
        typed,
        merge: merge.map(Box::new),
        received_at: cfg.now,
        text: EventText::new(&distinct_id, &event, &properties, &source, &meta),
    })
}

/// events.md §3.2: the event time of an HTTP capture, then the range checks of §3.3 against the receive time.
fn corrected_time(clock: Clock, ts: Ts, props: &Map<String, Value>) -> Result<Timestamp, Reject> {
    let ignore_sent_at = props.get("$ignore_sent_at") == Some(&Value::Bool(true));
    let sent_at = clock.sent_at.filter(|_| !ignore_sent_at);
    if let Some(offset) = clock.offset.filter(|v| !v.is_null()) {
        let ms = offset
            .as_f64()
            .filter(|ms| ms.is_finite() && ms.abs() < 1e13)
            .ok_or_else(|| {
                Reject::new(
                    RejectReason::InvalidTimestamp,
                    format!("`offset` {} is not a number of milliseconds", show(&offset)),
                )
            })?;
        let at = Timestamp(clock.now.0 - (ms * 1000.0).round() as i64);
        return timestamp::check_range(at, clock.now, "offset");
    }
    let (at, field) = match ts {
        Ts::Absent => return Ok(clock.now),
        Ts::Value(v, field) => (timestamp::from_value(&v, field)?, field),
        Ts::Micros(t) => (t, "timestamp"),
    };
    let at = match sent_at {
        Some(sent) => Timestamp(clock.now.0.saturating_add(at.0.saturating_sub(sent.0))),
        None => at,
    };
    timestamp::check_range(at, clock.now, field)
}

pub(crate) fn too_large(size: usize, cfg: &Config) -> Reject {
    Reject::new(
        RejectReason::EventTooLarge,
        format!(
            "event is {size} bytes, the limit is {} bytes",
            cfg.max_event_bytes
        ),
    )
}

/// events.md §2.1: the distinct id read from `field`.
pub(crate) fn distinct_id(v: Option<&Value>, field: &str) -> Result<String, Reject> {
    let text = match v {
        None | Some(Value::Null) => {
            return Err(Reject::new(
                RejectReason::MissingDistinctId,
                format!("`{field}` is missing"),
            ));
        }
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Number(n)) => n.as_str(),
        Some(other) => {
            return Err(Reject::new(
                RejectReason::InvalidDistinctId,
                format!(
                    "`{field}` must be a string or a number, got {}",
                    kind(other)
                ),
            ));
        }
    };
    check_id(text.to_string(), field)
}

/// The string rules of events.md §2.1.2–4.
pub(crate) fn check_id(text: String, field: &str) -> Result<String, Reject> {
    if text.trim().is_empty() {
        return Err(Reject::new(
            RejectReason::MissingDistinctId,
            format!("`{field}` is empty"),
        ));
    }
    let id = if text.contains('\0') {
        text.replace('\0', "\u{fffd}")
    } else {
        text
    };
    let n_chars = id.chars().count();
    if n_chars > MAX_ID_CHARS {
        return Err(Reject::new(
            RejectReason::DistinctIdTooLong,
            format!("`{field}` has {n_chars} characters, the limit is {MAX_ID_CHARS}"),
        ));
    }
    if is_placeholder(&id) {
        return Err(Reject::new(
            RejectReason::PlaceholderDistinctId,
            format!("`{field}` {} is a placeholder id", show_str(&id)),
        ));
    }
    Ok(id)
}

/// events.md §2.1.4, checked after trimming whitespace and removing one pair of surrounding quotes.
pub fn is_placeholder(id: &str) -> bool {
    const FOLDED: [&str; 10] = [
        "anonymous",
        "guest",
        "distinctid",
        "distinct_id",
        "id",
        "not_authenticated",
        "email",
        "undefined",
        "true",
        "false",
    ];
    const EXACT: [&str; 6] = ["null", "None", "none", "NaN", "[object Object]", "-1"];
    let t = id.trim();
    let t = match t.as_bytes() {
        [b'"', .., b'"'] | [b'\'', .., b'\''] if t.len() >= 2 => &t[1..t.len() - 1],
        _ => t,
    };
    t.is_empty()
        || FOLDED.iter().any(|p| t.eq_ignore_ascii_case(p))
        || EXACT.contains(&t)
        || t.bytes().all(|b| b == b'0' || b == b'-')
}

/// events.md §2.2.
fn event_name(v: Option<Value>) -> Result<String, Reject> {
    match v {
        None | Some(Value::Null) => Err(Reject::new(
            RejectReason::MissingEventName,
            "`event` is missing".to_string(),
        )),
        Some(Value::String(s)) if s.trim().is_empty() => Err(Reject::new(
            RejectReason::EmptyEventName,
            format!("`event` {} is empty", show_str(&s)),
        )),
        Some(Value::String(s)) => {
            let n_chars = s.chars().count();
            if n_chars > MAX_ID_CHARS {
                return Err(Reject::new(
                    RejectReason::EventNameTooLong,
                    format!("`event` has {n_chars} characters, the limit is {MAX_ID_CHARS}"),
                ));
            }
            Ok(s)
        }
        Some(other) => Err(Reject::new(
            RejectReason::MissingEventName,
            format!("`event` must be a string, got {}", kind(&other)),
        )),
    }
}

/// events.md §2.3.1: `""` and `null` count as absent.
fn uuid(v: Option<&Value>) -> Result<Option<Uuid>, Reject> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Uuid::parse(s).map(Some).map_err(|_| {
            Reject::new(
                RejectReason::InvalidUuid,
                format!("`uuid` {} is not a hyphenated hex UUID", show_str(s)),
            )
        }),
        Some(other) => Err(Reject::new(
            RejectReason::InvalidUuid,
            format!("`uuid` must be a string, got {}", kind(other)),
        )),
    }
}

/// Nesting depth of a value: 0 for scalars, 1 + the deepest child for arrays and objects.
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Token-count properties that must be non-negative integers (events.md §6.1.3).
const TOKEN_COUNTS: [&str; 12] = [
    "$ai_input_tokens",
    "$ai_output_tokens",
    "$ai_total_tokens",
    "$ai_cache_read_input_tokens",
    "$ai_cache_creation_input_tokens",
    "$ai_cache_creation_5m_input_tokens",
    "$ai_cache_creation_1h_input_tokens",
    "$ai_reasoning_tokens",
    "$ai_audio_output_tokens",
    "$ai_image_output_tokens",
    "$ai_text_output_tokens",
    "$ai_web_search_count",
];

/// Whether validation reads the top-level property `key` of an event that is not a payment: the keys of
/// [`typed_props`], the `$cookieless_mode` check, `$ignore_sent_at` (events.md §3.2) and the merge fields of §5.2.
pub(crate) fn is_read(key: &str) -> bool {
    TOKEN_COUNTS.contains(&key)
        || matches!(
            key,
            "$ai_model"
                | "$ai_provider"
                | "$ai_total_cost_usd"
                | "$process_person_profile"
                | "$cookieless_mode"
                | "$ignore_sent_at"
                | "$anon_distinct_id"
                | "alias"
        )
}

/// Reads the well-known properties; the payment is read separately because it can reject the event.
fn typed_props(props: &Map<String, Value>) -> TypedProps {
    let mut t = TypedProps {
        personless: matches!(
            props.get("$process_person_profile"),
            Some(Value::Bool(false))
        ),
        ..TypedProps::default()
    };
    if !props.keys().any(|k| k.starts_with("$ai_")) {
        return t;
    }
    t.ai_model = props
        .get("$ai_model")
        .and_then(Value::as_str)
        .map(str::to_string);
    t.ai_provider = props
        .get("$ai_provider")
        .and_then(Value::as_str)
        .map(str::to_string);
    for key in TOKEN_COUNTS {
        let Some(v) = props.get(key) else { continue };
        let count = match token_count(v) {
            Ok(c) => c,
            Err(()) => {
                t.ai_usage_invalid = true;
                None
            }
        };
        match key {
            "$ai_input_tokens" => t.ai_input_tokens = count,
            "$ai_output_tokens" => t.ai_output_tokens = count,
            "$ai_cache_read_input_tokens" => t.ai_cache_read_tokens = count,
            "$ai_cache_creation_input_tokens" => t.ai_cache_write_tokens = count,
            _ => {}
        }
    }
    t.ai_cost_nusd = props.get("$ai_total_cost_usd").and_then(cost_nusd);
    t
}

/// A non-negative integer as a JSON number or a string; `null` is absent.
fn token_count(v: &Value) -> Result<Option<i64>, ()> {
    let text = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_str(),
        Value::String(s) => s.as_str(),
        _ => return Err(()),
    };
    let d = crate::decimal::Decimal::parse(text).ok_or(())?;
    match d.to_scaled(0) {
        Ok(n) if n >= 0 => Ok(Some(n)),
        _ => Err(()),
    }
}

/// USD in nano-dollars, read exactly from the decimal text; digits below 10⁻⁹ are dropped.
fn cost_nusd(v: &Value) -> Option<i64> {
    let text = match v {
        Value::Number(n) => n.as_str(),
        Value::String(s) => s.as_str(),
        _ => return None,
    };
    crate::decimal::Decimal::parse(text)?
        .to_scaled_truncated(9)
        .ok()
}

/// Merges of events.md §5.2 that follow from PostHog event names.
fn name_merge(event: &str, distinct_id: &str, props: &Map<String, Value>) -> Option<Merge> {
    let (field, source) = match event {
        "$identify" => ("$anon_distinct_id", MergeSource::Identify),
        "$create_alias" => ("alias", MergeSource::CreateAlias),
        "$merge_dangerously" => ("alias", MergeSource::MergeDangerously),
        _ => return None,
    };
    merge_with(distinct_id, props.get(field), source)
}

/// The merge that `kept` asks for with `other` (events.md §5.2–§5.3).
///
/// When `other` is missing, invalid, a placeholder or equal to `kept`, nothing is merged, but the request still
/// identifies `kept` (§5.3.2), so it is kept as a merge of `kept` with itself, or with the placeholder text so the
/// identity log can say why it was not applied. An unguarded `$merge_dangerously` without a valid alias asks for
/// nothing.
pub(crate) fn merge_with(kept: &str, other: Option<&Value>, source: MergeSource) -> Option<Merge> {
    let merged = match distinct_id(other, "") {
        Ok(merged) => merged,
        Err(_) if source == MergeSource::MergeDangerously => return None,
        Err(_) => match other {
            Some(Value::String(s)) if is_placeholder(s) => s.clone(),
            _ => kept.to_string(),
        },
    };
    if merged == kept && source == MergeSource::MergeDangerously {
        return None;
    }
    Some(Merge {
        kept: kept.to_string(),
        merged,
        source,
    })
}

/// Parses a `properties` cell holding JSON text: it must be an object.
pub(crate) fn properties_text(text: &str) -> Result<Map<String, Value>, Reject> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(Reject::new(
            RejectReason::InvalidProperties,
            format!("`properties` must be an object, got {}", kind(&other)),
        )),
        Err(e) => Err(Reject::new(
            RejectReason::InvalidProperties,
            format!("`properties` is not JSON: {e}"),
        )),
    }
}

/// A value for a detail: quoted when short, else its kind and size.
pub(crate) fn show(v: &Value) -> String {
    match v {
        Value::String(s) => show_str(s),
        Value::Number(n) if n.as_str().len() <= SHOW_CHARS => n.as_str().to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        other => kind(other).to_string(),
    }
}

pub(crate) fn canonical_text(v: &Value) -> String {
    crate::canonical::canonical_json(v)
}

pub(crate) fn show_str(s: &str) -> String {
    let n = s.chars().count();
    if n <= SHOW_CHARS {
        format!("{s:?}")
    } else {
        format!("({n} characters)")
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_list() {
        let rejected = [
            "anonymous",
            "Anonymous",
            "GUEST",
            "distinctid",
            "Distinct_ID",
            "id",
            "ID",
            "not_authenticated",
            "email",
            "undefined",
            "TRUE",
            "false",
            "null",
            "None",
            "none",
            "NaN",
            "[object Object]",
            "-1",
            "0",
            "000",
            "00000000-0000-0000-0000-000000000000",
            "  guest  ",
            "'null'",
            "\"undefined\"",
            " \"0\" ",
            "''",
        ];
        for id in rejected {
            assert!(is_placeholder(id), "{id:?} should be a placeholder");
        }
        let kept = [
            "NULL",
            "nan",
            "NONE",
            "[object object]",
            "-2",
            "10",
            "u-1",
            "'guest",
            "\"'guest'\"",
            "guest1",
        ];
        for id in kept {
            assert!(!is_placeholder(id), "{id:?} should be kept");
        }
    }

    #[test]
    fn token_counts() {
        let n = |t: &str| token_count(&serde_json::from_str(t).unwrap());
        assert_eq!(n("120"), Ok(Some(120)));
        assert_eq!(n("\"120\""), Ok(Some(120)));
        assert_eq!(n("120.0"), Ok(Some(120)));
        assert_eq!(n("null"), Ok(None));
        assert_eq!(n("-1"), Err(()));
        assert_eq!(n("1.5"), Err(()));
        assert_eq!(n("\"many\""), Err(()));
        assert_eq!(n("true"), Err(()));
    }

    #[test]
    fn costs_in_nano_dollars() {
        let c = |t: &str| cost_nusd(&serde_json::from_str(t).unwrap());
        assert_eq!(c("0.0042"), Some(4_200_000));
        assert_eq!(c("\"1.25\""), Some(1_250_000_000));
        assert_eq!(c("1.2e-05"), Some(12_000));
        assert_eq!(c("\"abc\""), None);
    }
}
