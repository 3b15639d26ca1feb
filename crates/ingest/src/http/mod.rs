//! HTTP capture wire formats (ingest.md, ingest-sensors.md): decoding a request's payload, classifying its body,
//! finding the token, and turning each item into an event or a quarantined rejection with its batch index.
//!
//! Everything here is pure: the server hands in the request's parts and gets back either a [`WireError`] (the whole
//! request is refused with its status) or the items and token of the body, then a [`CaptureBatch`].
//!
//! - `transport`: the encodings every family shares (form fields, base64, gzip, LZ-string), within the limits of
//!   [`DecodeLimits`] and with every buffer growth announced to a [`Reserve`].
//! - `posthog` and `segment`: one module per SDK family, from the request to a [`CaptureBody`].
//! - `capture`: the items of a body to a [`CaptureBatch`]; `replay`: one quarantined item re-validated.

mod capture;
mod posthog;
mod replay;
mod segment;
mod sensors;
mod transport;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use model::{RejectReason, Timestamp};

use crate::timestamp;
use crate::validate::{self, Reject};
use segment::merge_under;

pub use capture::{CaptureBatch, CaptureContext, Quarantined, capture_batch};
pub use posthog::{PosthogPath, posthog_body, posthog_payload};
pub use replay::{Replayed, replay};
pub use segment::{SegmentPath, segment_body, segment_payload};
pub use sensors::{SensorsPath, SensorsPayload, sensors_body, sensors_payload};

/// Largest wire body on a capture path (ingest.md §4).
pub const MAX_BODY_BYTES: usize = 20 << 20;
/// Largest decompressed payload (ingest.md §4).
pub const MAX_PAYLOAD_BYTES: usize = 100 << 20;
/// Largest encoded event on `/i/v0/ai/batch`.
pub const MAX_AI_EVENT_BYTES: usize = 8 << 20;
/// Longest token, in ASCII characters.
pub const MAX_TOKEN_CHARS: usize = 64;
/// Quarantine entries listed in a capture response.
pub const MAX_LISTED: usize = 100;
/// Default largest number of items in one capture body (ingest.md §4); past it the request is refused with 413
/// `too_many_items` before any item is parsed.
pub const DEFAULT_MAX_ITEMS: usize = 10_000;
/// Batch items that are not JSON objects are kept in the quarantine as one record per request once there are more
/// than this many, rather than one record each: they can never become events, and a body of millions of `1,` would
/// otherwise cost a quarantine line (source, reason, framing) per two bytes sent.
const MAX_TRIVIAL_RECORDS: usize = 10;

/// Accounts for memory a decode is about to hold: called with the bytes a buffer grows by; an `Err` (such as 503
/// when the server's decode memory is in use) stops the decode.
pub type Reserve<'r> = dyn FnMut(usize) -> Result<(), WireError> + 'r;

/// What one request may cost while it is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest decompressed payload; past it, 413 `payload_too_large`.
    pub max_payload_bytes: usize,
    /// Most items in one body; past it, 413 `too_many_items`.
    pub max_items: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_payload_bytes: MAX_PAYLOAD_BYTES,
            max_items: DEFAULT_MAX_ITEMS,
        }
    }
}

/// A request refused as a whole, with the HTTP status and the stable error code of ingest.md §5.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct WireError {
    /// 400, 401 or 413.
    pub status: u16,
    /// A stable snake_case code, such as `invalid_json`.
    pub code: &'static str,
    /// What was wrong, naming the field.
    pub detail: String,
}

impl WireError {
    fn bad(code: &'static str, detail: impl Into<String>) -> WireError {
        WireError {
            status: 400,
            code,
            detail: detail.into(),
        }
    }

    fn auth(code: &'static str, detail: impl Into<String>) -> WireError {
        WireError {
            status: 401,
            code,
            detail: detail.into(),
        }
    }

    fn too_large(detail: impl Into<String>) -> WireError {
        WireError {
            status: 413,
            code: "payload_too_large",
            detail: detail.into(),
        }
    }
}

/// The parts of an HTTP request that decoding reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireRequest<'a> {
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The `Content-Encoding` header.
    pub content_encoding: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// One batch item: its text as sent (kept verbatim if it is quarantined).
///
/// Items are parsed one at a time while the batch is validated, so a request holds one item's tree of JSON values
/// at a time, never a tree per item.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    /// The item's JSON text, verbatim from the decoded payload.
    pub raw: &'a str,
    /// What the path adds to the parsed item.
    patch: Patch,
}

/// A change the request's path or envelope makes to an item once it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Patch {
    None,
    /// `/engage`: an object without `event` is a person update, read as `$identify`.
    Engage,
    /// A single-message Segment path: the type comes from the path, and `writeKey` is not a field.
    SegmentType(&'static str),
    /// A Segment batch item: the batch's `context`, `integrations` and `sentAt` go under the item's own.
    SegmentBatch,
}

impl<'a> Item<'a> {
    fn new(raw: &'a RawValue, patch: Patch) -> Item<'a> {
        Item {
            raw: raw.get(),
            patch,
        }
    }

    /// Whether the item is plainly not an event: a JSON value other than an object.
    fn is_trivially_invalid(&self) -> bool {
        self.raw.as_bytes().first() != Some(&b'{')
    }

    /// The parsed item with its path's changes, or why it cannot be read.
    fn value(&self, body: &CaptureBody<'_>) -> Result<Value, Reject> {
        let mut value = parse_item(self.raw)?;
        if let Value::Object(obj) = &mut value {
            match self.patch {
                Patch::None => {}
                Patch::Engage => {
                    if !obj.contains_key("event") {
                        // An old person update: it becomes an `$identify` with its `$set` / `$set_once`.
                        obj.insert("event".to_string(), Value::String("$identify".to_string()));
                    }
                }
                Patch::SegmentType(ty) => {
                    obj.remove("writeKey");
                    obj.insert("type".to_string(), Value::String(ty.to_string()));
                }
                Patch::SegmentBatch => {
                    for (k, v) in &body.shared {
                        merge_under(obj, k, v);
                    }
                    if let Some(s) = &body.batch_sent_at
                        && !obj.contains_key("sentAt")
                    {
                        obj.insert("sentAt".to_string(), s.clone());
                    }
                }
            }
        }
        Ok(value)
    }
}

fn parse_item(raw: &str) -> Result<Value, Reject> {
    serde_json::from_str::<Value>(raw).map_err(|e| {
        if e.to_string().starts_with("recursion limit exceeded") {
            Reject::new(
                RejectReason::InvalidProperties,
                "the event is nested deeper than 128 levels".to_string(),
            )
        } else {
            Reject::new(
                RejectReason::MalformedEvent,
                format!("the event is not JSON: {e}"),
            )
        }
    })
}

/// A decoded capture body: its items in order, and the envelope fields that apply to all of them.
#[derive(Debug, Clone)]
pub struct CaptureBody<'a> {
    /// The batch items.
    pub items: Vec<Item<'a>>,
    /// The token or write key found in the body, already checked for shape; `None` when the body carries none.
    pub token: Option<String>,
    /// The envelope's send time, when it parses (events.md §3.2).
    pub sent_at: Option<Timestamp>,
    /// Envelope metadata kept on each event (`historical_migration`).
    pub meta: Map<String, Value>,
    /// A Segment batch's `context` and `integrations`, merged under each item's own.
    shared: Vec<(&'static str, Value)>,
    /// A Segment batch's `sentAt`, for items without their own.
    batch_sent_at: Option<Value>,
    /// The path it came in on.
    kind: BodyKind,
}

#[derive(Debug, Clone, Copy)]
enum BodyKind {
    Posthog(PosthogPath),
    Segment,
    Sensors,
}

/// The marker of the error [`ItemsSeed`] stops with, so the caller can tell it from a JSON error.
const TOO_MANY_ITEMS: &str = "liucun: too many batch items";

/// Reads a JSON array of items, stopping at the first item past `max`: the count is checked while reading, so a
/// body of millions of tiny items costs no more than `max` of them.
struct ItemsSeed {
    max: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for ItemsSeed {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ItemsSeed {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.max));
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            if out.len() == self.max {
                return Err(serde::de::Error::custom(TOO_MANY_ITEMS));
            }
            out.push(item);
        }
        Ok(out)
    }
}

/// The items of a JSON array, at most `max`.
///
/// # Errors
/// 413 `too_many_items` past `max`; `not_array` (400 `unknown_shape`, naming `what`) for anything but an array.
fn parse_items<'a>(text: &'a str, max: usize, what: &str) -> Result<Vec<&'a RawValue>, WireError> {
    use serde::de::DeserializeSeed as _;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = ItemsSeed { max }
        .deserialize(&mut de)
        .and_then(|items| de.end().map(|()| items));
    parsed.map_err(|e| {
        if e.to_string().starts_with(TOO_MANY_ITEMS) {
            too_many_items(max)
        } else if e.to_string().starts_with("recursion limit exceeded") {
            WireError::bad(
                "invalid_json",
                "the payload is nested deeper than 128 levels",
            )
        } else if e.is_syntax() || e.is_eof() {
            WireError::bad("invalid_json", format!("the payload is not JSON: {e}"))
        } else {
            WireError::bad("unknown_shape", format!("{what} must be an array"))
        }
    })
}

fn too_many_items(max: usize) -> WireError {
    WireError {
        status: 413,
        code: "too_many_items",
        detail: format!(
            "the batch has more than {max} items, the limit per request; send smaller batches"
        ),
    }
}

/// A raw JSON value parsed (it was already checked as JSON by the enclosing parse).
fn value_of(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// The JSON kind of a raw value, for messages.
fn raw_kind(raw: &RawValue) -> &'static str {
    text_kind(raw.get())
}

/// The JSON kind of a JSON text, for messages.
fn text_kind(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// ingest.md §2.4.2: a token's shape.
///
/// # Errors
/// 401 `invalid_api_key` for an empty or long token, one with a character outside printable ASCII (a space or a
/// control character included), or a PostHog personal key.
pub fn check_token(v: &Value) -> Result<String, WireError> {
    let Value::String(s) = v else {
        return Err(WireError::auth(
            "invalid_api_key",
            format!("the token must be a string, got {}", validate::kind(v)),
        ));
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(WireError::auth("invalid_api_key", "the token is empty"));
    }
    // Printable ASCII only: a token is logged (by prefix) and compared, and a control character in it could forge a
    // log line.
    if t.len() > MAX_TOKEN_CHARS || !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(WireError::auth(
            "invalid_api_key",
            format!(
                "the token is not a project token (at most {MAX_TOKEN_CHARS} printable ASCII characters, no spaces)"
            ),
        ));
    }
    if t.starts_with("phx_") {
        return Err(WireError::auth(
            "invalid_api_key",
            "a personal API key (phx_) cannot capture; use the project's write token",
        ));
    }
    Ok(t.to_string())
}

/// A `sent_at`/`sentAt` value as a timestamp, when it parses.
fn parse_sent_at(v: &Value) -> Option<Timestamp> {
    if v.is_null() {
        return None;
    }
    timestamp::from_value(v, "sent_at").ok()
}

#[cfg(test)]
mod tests;
