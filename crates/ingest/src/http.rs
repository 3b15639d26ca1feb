//! HTTP capture wire formats (ingest.md): locating and decoding a PostHog payload, classifying PostHog and Segment
//! bodies, finding the token, and turning each item into an event or a quarantined rejection with its batch index.
//!
//! Everything here is pure: the server hands in the request's parts and gets back either a [`WireError`] (the whole
//! request is refused with its status) or the items and token of the body, then a [`CaptureBatch`].

use std::collections::HashMap;
use std::io::Read;

use base64::Engine as _;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use model::{Event, EventBatch, Project, RejectReason, Rejection, Timestamp};

use crate::Config;
use crate::shape;
use crate::timestamp;
use crate::validate::{self, Clock, Reject, UuidRule};

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

/// Which PostHog capture path a request came in on; it changes the legacy unwrap, `/engage` and the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PosthogPath {
    /// `/batch`, `/i/v0/e`.
    Batch,
    /// `/e`, `/capture`, `/track`: legacy paths with the second base64 unwrap.
    Legacy,
    /// `/engage`: legacy, and an object without `event` is a person update.
    Engage,
    /// `/i/v0/ai/batch`: the AI lane, with 8 MiB events.
    Ai,
}

impl PosthogPath {
    /// Every PostHog capture path (without a trailing slash) and its kind.
    pub const ALL: [(&'static str, PosthogPath); 7] = [
        ("/batch", PosthogPath::Batch),
        ("/e", PosthogPath::Legacy),
        ("/i/v0/e", PosthogPath::Batch),
        ("/capture", PosthogPath::Legacy),
        ("/track", PosthogPath::Legacy),
        ("/engage", PosthogPath::Engage),
        ("/i/v0/ai/batch", PosthogPath::Ai),
    ];

    /// The kind of a capture path, with or without a trailing slash.
    pub fn from_path(path: &str) -> Option<PosthogPath> {
        let p = path.strip_suffix('/').unwrap_or(path);
        PosthogPath::ALL
            .iter()
            .find(|(name, _)| *name == p)
            .map(|(_, kind)| *kind)
    }
}

/// A Segment Tracking API path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentPath {
    /// `/v1/batch`.
    Batch,
    /// `/v1/{track,identify,page,screen,group,alias}`: one message of this type.
    Single(&'static str),
}

impl SegmentPath {
    /// The path's last component (`batch`, `track`, …) as a Segment path, if it is one.
    pub fn parse(name: &str) -> Option<SegmentPath> {
        Some(match name {
            "batch" => SegmentPath::Batch,
            "track" => SegmentPath::Single("track"),
            "identify" => SegmentPath::Single("identify"),
            "page" => SegmentPath::Single("page"),
            "screen" => SegmentPath::Single("screen"),
            "group" => SegmentPath::Single("group"),
            "alias" => SegmentPath::Single("alias"),
            _ => return None,
        })
    }
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

/// ingest.md §2.1: finds and decodes a PostHog payload into JSON text (parsed by [`posthog_body`]).
///
/// Every buffer the decode fills is announced to `reserve` as it grows, so that decompression stops when the
/// server's decode memory is in use, using memory in proportion to what was actually decoded.
///
/// # Errors
/// 400 for an unreadable payload (missing, bad form, base64, gzip or UTF-8), 413 past the limits; whatever
/// `reserve` answers.
pub fn posthog_payload(
    req: &WireRequest<'_>,
    path: PosthogPath,
    limits: &DecodeLimits,
    reserve: &mut Reserve<'_>,
) -> Result<String, WireError> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(body_too_large(req.body.len()));
    }
    let query = parse_form(req.query.unwrap_or("").as_bytes());
    let is_form = req.content_type.is_some_and(|t| {
        t.trim()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    // A form-typed body that is plainly JSON (as `curl -d` sends) is read as the raw payload.
    let is_form = is_form && !matches!(req.body.trim_ascii_start().first(), Some(b'{' | b'['));
    let form = if is_form && query_value(&query, "data").is_none() {
        let text = std::str::from_utf8(req.body)
            .map_err(|_| WireError::bad("invalid_form", "the form body is not valid UTF-8"))?;
        if !text.is_empty() && !text.contains('=') {
            return Err(WireError::bad(
                "invalid_form",
                "the form body has no `name=value` field",
            ));
        }
        // The decoded form is at most the body's size.
        reserve(req.body.len())?;
        parse_form(text.as_bytes())
    } else {
        Vec::new()
    };
    let hint = query_value(&query, "compression")
        .or_else(|| query_value(&form, "compression"))
        .or(req.content_encoding)
        .map(compression_hint)
        .unwrap_or(Hint::None);
    let mut payload: Vec<u8> = if let Some(data) = query_value(&query, "data") {
        restore_plus(data).into_bytes()
    } else if is_form {
        match query_value(&form, "data") {
            Some(d) => restore_plus(d).into_bytes(),
            None => Vec::new(),
        }
    } else {
        reserve(req.body.len())?;
        req.body.to_vec()
    };
    drop(form);
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Err(WireError::bad(
            "missing_payload",
            "the request carries no payload (no `data` field and an empty body)",
        ));
    }
    // LZ-string text is base64 of its own (with padding, so it passes the sniff) and is read by `decode_text`.
    // A bare JSON literal such as `true`, `null` or `1234` is also made of base64 characters; it stays JSON, so it
    // is answered as the wrong shape rather than as undecodable bytes.
    let sniffed = hint != Hint::LzString
        && looks_base64(&payload)
        && serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_err();
    if hint == Hint::Base64 || sniffed {
        reserve(payload.len())?;
        payload = base64_decode(&payload)?;
    }
    let mut text = decode_text(payload, hint, limits, reserve)?;
    if matches!(path, PosthogPath::Legacy | PosthogPath::Engage) && looks_base64(text.as_bytes()) {
        reserve(text.len())?;
        let inner = base64_decode(text.as_bytes())?;
        text = decode_text(inner, Hint::None, limits, reserve)?;
    }
    Ok(text)
}

/// ingest.md §3.1: decodes a Segment body (gzip by header or magic bytes) into JSON text.
///
/// # Errors
/// 400 for bad gzip or UTF-8; 413 past the limits; whatever `reserve` answers.
pub fn segment_payload(
    req: &WireRequest<'_>,
    limits: &DecodeLimits,
    reserve: &mut Reserve<'_>,
) -> Result<String, WireError> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(body_too_large(req.body.len()));
    }
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(WireError::bad(
            "missing_payload",
            "the request body is empty",
        ));
    }
    let hint = req
        .content_encoding
        .map(compression_hint)
        .filter(|h| *h == Hint::Gzip)
        .unwrap_or(Hint::None);
    reserve(req.body.len())?;
    decode_text(req.body.to_vec(), hint, limits, reserve)
}

/// ingest.md §2.2 and §2.4: parses and classifies a PostHog payload and finds its token.
///
/// # Errors
/// 400 `invalid_json` or `unknown_shape`; 401 for a missing, malformed or inconsistent token; 413
/// `too_many_items` past `limits.max_items`.
pub fn posthog_body<'a>(
    text: &'a str,
    path: PosthogPath,
    limits: &DecodeLimits,
) -> Result<CaptureBody<'a>, WireError> {
    let mut meta = Map::new();
    let mut sent_at = None;
    let mut envelope_token = None;
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let items: Vec<Item<'_>> = match trimmed.as_bytes().first() {
        Some(b'[') => parse_items(trimmed, limits.max_items, "the payload")?
            .into_iter()
            .map(|r| Item::new(r, Patch::None))
            .collect(),
        Some(b'{') => {
            let mut top: HashMap<String, &RawValue> = parse_json(trimmed)?;
            if let Some(batch) = top.remove("batch") {
                if raw_kind(batch) != "an array" {
                    return Err(WireError::bad(
                        "unknown_shape",
                        format!("`batch` must be an array, got {}", raw_kind(batch)),
                    ));
                }
                let raw = parse_items(batch.get(), limits.max_items, "`batch`")?;
                for key in ["api_key", "token"] {
                    if let Some(v) = top.get(key).map(|r| value_of(r)).filter(|v| !v.is_null()) {
                        envelope_token.get_or_insert(v);
                    }
                }
                sent_at = top.get("sent_at").and_then(|r| parse_sent_at(&value_of(r)));
                if let Some(h) = top.get("historical_migration") {
                    meta.insert("historical_migration".to_string(), value_of(h));
                }
                raw.into_iter().map(|r| Item::new(r, Patch::None)).collect()
            } else {
                let whole: &RawValue = parse_json(trimmed)?;
                let patch = if path == PosthogPath::Engage {
                    Patch::Engage
                } else {
                    Patch::None
                };
                vec![Item::new(whole, patch)]
            }
        }
        _ => {
            let v: Value = parse_json(trimmed)?;
            return Err(WireError::bad(
                "unknown_shape",
                format!(
                    "the payload is {}, not an event, an array of events or a batch",
                    validate::kind(&v)
                ),
            ));
        }
    };
    let token = match envelope_token {
        Some(v) => Some(check_token(&v)?),
        None => {
            let mut found: Option<String> = None;
            // Each item is parsed on its own and dropped before the next, so the search holds one item at a time.
            for item in items.iter().filter(|i| !i.is_trivially_invalid()) {
                let Ok(Value::Object(obj)) = parse_item(item.raw) else {
                    continue;
                };
                let v = ["token", "$token", "api_key"]
                    .iter()
                    .find_map(|k| obj.get(*k).filter(|v| !v.is_null()))
                    .or_else(|| {
                        obj.get("properties")
                            .and_then(|p| p.get("token"))
                            .filter(|v| !v.is_null())
                    });
                if let Some(v) = v {
                    let t = check_token(v)?;
                    match &found {
                        Some(f) if *f != t => {
                            return Err(WireError::auth(
                                "inconsistent_api_key",
                                "the batch carries two different tokens",
                            ));
                        }
                        Some(_) => {}
                        None => found = Some(t),
                    }
                }
            }
            found
        }
    };
    Ok(CaptureBody {
        items,
        token,
        sent_at,
        meta,
        shared: Vec::new(),
        batch_sent_at: None,
        kind: BodyKind::Posthog(path),
    })
}

/// ingest.md §3.1: parses and classifies a Segment body; a batch's `context` and `integrations` are merged into
/// each item as it is validated.
///
/// # Errors
/// 400 `invalid_json` or `unknown_shape` (not an object, or a batch that is not an array); 401 for a malformed
/// `writeKey`; 413 `too_many_items` past `limits.max_items`.
pub fn segment_body<'a>(
    text: &'a str,
    path: SegmentPath,
    limits: &DecodeLimits,
) -> Result<CaptureBody<'a>, WireError> {
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if trimmed.as_bytes().first() != Some(&b'{') {
        let v: Value = parse_json(trimmed)?;
        return Err(WireError::bad(
            "unknown_shape",
            format!("the body is {}, not an object", validate::kind(&v)),
        ));
    }
    let top: HashMap<String, &RawValue> = parse_json(trimmed)?;
    let write_key = match top
        .get("writeKey")
        .map(|r| value_of(r))
        .filter(|v| !v.is_null())
    {
        Some(v) => Some(check_token(&v)?),
        None => None,
    };
    let mut shared = Vec::new();
    let mut batch_sent_at = None;
    let items = match path {
        SegmentPath::Single(ty) => {
            let whole: &RawValue = parse_json(trimmed)?;
            vec![Item::new(whole, Patch::SegmentType(ty))]
        }
        SegmentPath::Batch => {
            let batch = top
                .get("batch")
                .ok_or_else(|| WireError::bad("unknown_shape", "`batch` is missing"))?;
            if raw_kind(batch) != "an array" {
                return Err(WireError::bad(
                    "unknown_shape",
                    format!("`batch` must be an array, got {}", raw_kind(batch)),
                ));
            }
            let raw = parse_items(batch.get(), limits.max_items, "`batch`")?;
            shared = ["context", "integrations"]
                .into_iter()
                .filter_map(|k| top.get(k).map(|r| (k, value_of(r))))
                .filter(|(_, v)| v.is_object())
                .collect();
            batch_sent_at = top.get("sentAt").map(|r| value_of(r));
            raw.into_iter()
                .map(|r| Item::new(r, Patch::SegmentBatch))
                .collect()
        }
    };
    Ok(CaptureBody {
        items,
        token: write_key,
        sent_at: None,
        meta: Map::new(),
        shared,
        batch_sent_at,
        kind: BodyKind::Segment,
    })
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

/// A top-level `context`/`integrations` object under an item's own; the item's keys win.
fn merge_under(item: &mut Map<String, Value>, key: &str, shared: &Value) {
    let Value::Object(shared) = shared else {
        return;
    };
    match item.get_mut(key) {
        Some(Value::Object(own)) => {
            for (k, v) in shared {
                if !own.contains_key(k) {
                    own.insert(k.clone(), v.clone());
                }
            }
        }
        Some(_) => {}
        None => {
            item.insert(key.to_string(), Value::Object(shared.clone()));
        }
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

/// The time of one HTTP request, for skew correction and the receive-time fields.
#[derive(Debug, Clone)]
pub struct CaptureContext {
    /// The server receive time.
    pub now: Timestamp,
    /// The query's `sent_at` or `_` (epoch ms); ignored when before 2021.
    pub query_sent_at: Option<Timestamp>,
    /// Event sources are `"{source} #{index}"`, such as `http /batch req-7f3a #2`.
    pub source: String,
}

impl CaptureContext {
    /// Reads `sent_at` or `_` from a raw query string.
    pub fn query_sent_at(query: Option<&str>) -> Option<Timestamp> {
        let pairs = parse_form(query.unwrap_or("").as_bytes());
        let raw = query_value(&pairs, "sent_at").or_else(|| query_value(&pairs, "_"))?;
        let ms: i64 = raw.trim().parse().ok()?;
        let ts = Timestamp(ms.checked_mul(1000)?);
        // 2021-01-01T00:00:00Z: an earlier value is not a send time.
        (ts.0 >= 1_609_459_200_000_000).then_some(ts)
    }
}

/// One quarantined item of a capture, as listed in the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// Position in the batch.
    pub index: usize,
    /// Why.
    pub reason: RejectReason,
    /// Names the field and, when short, the value.
    pub detail: String,
}

/// A validated capture: the batch to append to the WAL, and what was quarantined, by batch index.
#[derive(Debug)]
pub struct CaptureBatch {
    /// Accepted events and rejections, ready for the WAL.
    pub batch: EventBatch,
    /// Every rejection with its batch index, in order.
    pub quarantined: Vec<Quarantined>,
}

impl CaptureBatch {
    /// Events accepted.
    pub fn accepted(&self) -> usize {
        self.batch.events().len()
    }
}

/// Validates each item of a body for `project`: events.md rules with HTTP skew correction and fresh v7 uuids.
pub fn capture_batch(
    project: &Project,
    body: CaptureBody<'_>,
    ctx: &CaptureContext,
) -> CaptureBatch {
    let max_event_bytes = match body.kind {
        BodyKind::Posthog(PosthogPath::Ai) => MAX_AI_EVENT_BYTES,
        _ => Config::DEFAULT_MAX_EVENT_BYTES,
    };
    let cfg = Config {
        now: ctx.now,
        max_event_bytes,
    };
    let mut events: Vec<Event> = Vec::with_capacity(body.items.len());
    let mut rejections: Vec<Rejection> = Vec::new();
    let mut quarantined = Vec::new();
    let n_trivial = body
        .items
        .iter()
        .filter(|i| i.is_trivially_invalid())
        .count();
    // Past a few, items that are not objects share one quarantine record: a JSON array of them as sent.
    let mut trivial: Option<(usize, String)> = None;
    for (index, item) in body.items.iter().enumerate() {
        let source = format!("{} #{index}", ctx.source);
        let result = if item.is_trivially_invalid() {
            Err(Reject::new(
                RejectReason::MalformedEvent,
                format!("batch item is {}, not an object", text_kind(item.raw)),
            ))
        } else if item.raw.len() > max_event_bytes {
            Err(validate::too_large(item.raw.len(), &cfg))
        } else {
            item.value(&body).and_then(|v| {
                capture_item(
                    project,
                    v,
                    &body,
                    ctx,
                    &cfg,
                    source.clone(),
                    UuidRule::Fresh,
                )
            })
        };
        match result {
            Ok(e) => events.push(e),
            Err(r) if n_trivial > MAX_TRIVIAL_RECORDS && item.is_trivially_invalid() => {
                let (_, raw) = trivial.get_or_insert_with(|| (index, "[".to_string()));
                if raw.len() > 1 {
                    raw.push(',');
                }
                raw.push_str(item.raw);
                quarantined.push(Quarantined {
                    index,
                    reason: r.reason,
                    detail: r.detail,
                });
            }
            Err(r) => {
                quarantined.push(Quarantined {
                    index,
                    reason: r.reason,
                    detail: r.detail.clone(),
                });
                rejections.push(r.into_rejection(item.raw.as_bytes(), source, &cfg));
            }
        }
    }
    if let Some((first, mut raw)) = trivial {
        raw.push(']');
        rejections.push(Rejection {
            reason: RejectReason::MalformedEvent,
            detail: format!(
                "{n_trivial} batch items are not objects; kept together as one JSON array, the first at index {first}"
            ),
            raw: raw.into_bytes(),
            source: format!("{} #{first} and {} more", ctx.source, n_trivial - 1),
            received_at: cfg.now,
        });
    }
    CaptureBatch {
        batch: EventBatch::new(project.clone(), events, rejections),
        quarantined,
    }
}

fn capture_item(
    project: &Project,
    item: Value,
    body: &CaptureBody<'_>,
    ctx: &CaptureContext,
    cfg: &Config,
    source: String,
    absent_uuid: UuidRule,
) -> Result<Event, Reject> {
    let Value::Object(mut obj) = item else {
        return Err(Reject::new(
            RejectReason::MalformedEvent,
            format!("batch item is {}, not an object", validate::kind(&item)),
        ));
    };
    let mut draft = match body.kind {
        BodyKind::Posthog(_) => {
            let offset = obj.remove("offset");
            for key in ["token", "$token", "api_key"] {
                obj.remove(key);
            }
            let mut d = shape::posthog(obj.into_iter().map(|(k, v)| (k.into(), v)).collect())?;
            // Other top-level keys are ignored, as PostHog does; the envelope's metadata is kept.
            d.meta = body.meta.clone();
            d.clock = Some(Clock {
                now: ctx.now,
                sent_at: body.sent_at.or(ctx.query_sent_at),
                offset,
            });
            d
        }
        BodyKind::Segment => {
            let sent_at = obj
                .get("sentAt")
                .and_then(parse_sent_at)
                .or(ctx.query_sent_at);
            let mut d = shape::segment(obj)?;
            d.clock = Some(Clock {
                now: ctx.now,
                sent_at,
                offset: None,
            });
            d
        }
    };
    if matches!(draft.uuid_rule, UuidRule::Content) {
        draft.uuid_rule = absent_uuid;
    }
    validate::finish(project, cfg, draft, source)
}

/// What re-validating a quarantined input under today's rules gave (events.md §9).
#[derive(Debug)]
pub enum Replayed {
    /// It passes now.
    Accepted(Box<Event>),
    /// It is still refused.
    Rejected {
        /// Why.
        reason: RejectReason,
        /// Names the field.
        detail: String,
    },
    /// Its form cannot be re-validated from the quarantine: re-import the file instead.
    NotReplayable(String),
}

/// Re-validates one quarantined input, as it was first read: HTTP items with their path's rules and the receive
/// time as the clock, NDJSON lines with the file rules.
///
/// An HTTP item without a uuid gets UUIDv5 of `project ␟ "replay" ␟ source`, so replaying twice stores it once.
pub fn replay(project: &Project, raw: &[u8], source: &str, received_at: Timestamp) -> Replayed {
    let rejected = |r: Reject| Replayed::Rejected {
        reason: r.reason,
        detail: r.detail,
    };
    let Ok(text) = std::str::from_utf8(raw) else {
        return rejected(Reject::new(
            RejectReason::MalformedEvent,
            "the stored bytes are not UTF-8".to_string(),
        ));
    };
    if let Some(rest) = source.strip_prefix("http ") {
        let path = rest.split_whitespace().next().unwrap_or("");
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let kind = if let Some(name) = trimmed.strip_prefix("/v1/") {
            match SegmentPath::parse(name) {
                Some(p) => (BodyKind::Segment, Some(p)),
                None => return Replayed::NotReplayable(format!("unknown capture path {path}")),
            }
        } else {
            match PosthogPath::from_path(path) {
                Some(p) => (BodyKind::Posthog(p), None),
                None => return Replayed::NotReplayable(format!("unknown capture path {path}")),
            }
        };
        let item = match RawValue::from_string(text.to_string()) {
            Ok(r) => r,
            Err(e) => {
                return rejected(Reject::new(
                    RejectReason::MalformedEvent,
                    format!("the event is not JSON: {e}"),
                ));
            }
        };
        let patch = match kind.1 {
            Some(SegmentPath::Single(ty)) => Patch::SegmentType(ty),
            _ => Patch::None,
        };
        let body = CaptureBody {
            items: Vec::new(),
            token: None,
            sent_at: None,
            meta: Map::new(),
            shared: Vec::new(),
            batch_sent_at: None,
            kind: kind.0,
        };
        let parsed = Item::new(&item, patch).value(&body);
        let max_event_bytes = match kind.0 {
            BodyKind::Posthog(PosthogPath::Ai) => MAX_AI_EVENT_BYTES,
            _ => Config::DEFAULT_MAX_EVENT_BYTES,
        };
        let cfg = Config {
            now: received_at,
            max_event_bytes,
        };
        let ctx = CaptureContext {
            now: received_at,
            query_sent_at: None,
            source: source.to_string(),
        };
        if text.len() > max_event_bytes {
            return rejected(validate::too_large(text.len(), &cfg));
        }
        let result = parsed.and_then(|v| {
            capture_item(
                project,
                v,
                &body,
                &ctx,
                &cfg,
                source.to_string(),
                UuidRule::Replay(source.to_string()),
            )
        });
        return match result {
            Ok(e) => Replayed::Accepted(Box::new(e)),
            Err(r) => rejected(r),
        };
    }
    if text.trim_start().starts_with('{') {
        let cfg = Config::new(received_at);
        return match crate::ndjson::validate_line(project, raw, &cfg, source.to_string()) {
            Ok(e) => Replayed::Accepted(Box::new(e)),
            Err(r) => rejected(r),
        };
    }
    Replayed::NotReplayable(
        "CSV and Parquet rows are re-validated by importing their file again".to_string(),
    )
}

/// A `sent_at`/`sentAt` value as a timestamp, when it parses.
fn parse_sent_at(v: &Value) -> Option<Timestamp> {
    if v.is_null() {
        return None;
    }
    timestamp::from_value(v, "sent_at").ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    None,
    Gzip,
    Base64,
    LzString,
}

fn compression_hint(v: &str) -> Hint {
    match v.trim().to_ascii_lowercase().as_str() {
        "gzip" | "gzip-js" => Hint::Gzip,
        "base64" | "b64" => Hint::Base64,
        "lz64" | "lz-string" => Hint::LzString,
        _ => Hint::None,
    }
}

fn parse_form(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first non-empty value of `key`.
fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// URL decoding turned `+` into a space; base64 text gets its `+` back.
fn restore_plus(data: &str) -> String {
    let candidate = data.replace(' ', "+");
    if looks_base64(candidate.trim().as_bytes()) {
        candidate.trim().to_string()
    } else {
        data.to_string()
    }
}

/// Made only of strict base64 characters with correct padding.
fn looks_base64(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() || !trimmed.len().is_multiple_of(4) {
        return false;
    }
    let body = trimmed
        .strip_suffix(b"==")
        .or_else(|| trimmed.strip_suffix(b"="))
        .unwrap_or(trimmed);
    body.iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fn base64_decode(bytes: &[u8]) -> Result<Vec<u8>, WireError> {
    base64::engine::general_purpose::STANDARD
        .decode(bytes.trim_ascii())
        .map_err(|e| {
            WireError::bad(
                "invalid_base64",
                format!("the payload is not valid base64: {e}"),
            )
        })
}

/// Decompresses (gzip by hint or magic bytes, LZ-string by hint) and checks UTF-8.
fn decode_text(
    payload: Vec<u8>,
    hint: Hint,
    limits: &DecodeLimits,
    reserve: &mut Reserve<'_>,
) -> Result<String, WireError> {
    let max = limits.max_payload_bytes;
    let bytes = if hint == Hint::Gzip || payload.starts_with(&[0x1f, 0x8b, 0x08]) {
        gunzip(&payload, max, reserve)?
    } else if hint == Hint::LzString {
        let text = std::str::from_utf8(&payload).map_err(|_| {
            WireError::bad("invalid_lz_string", "the LZ-string payload is not text")
        })?;
        let units = lz_string_base64(text.trim(), max, reserve)?;
        // The UTF-8 text is at most 3 bytes per unit.
        reserve(units.len().saturating_mul(3))?;
        let s = String::from_utf16(&units).map_err(|_| {
            WireError::bad(
                "invalid_lz_string",
                "the LZ-string payload is not valid UTF-16",
            )
        })?;
        if s.len() > max {
            return Err(payload_too_large(max));
        }
        return Ok(s);
    } else {
        if payload.len() > max {
            return Err(payload_too_large(max));
        }
        payload
    };
    String::from_utf8(bytes).map_err(|e| {
        WireError::bad(
            "invalid_utf8",
            format!(
                "the payload is not valid UTF-8 (at byte {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// The base64 digits of LZ-string, in value order.
const LZ_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// LZ-string's `decompressFromBase64` (posthog-js's `lz64`) into UTF-16 code units, refused with 413 as soon as the
/// output passes `max_units`.
///
/// LZ-string output can grow quadratically with its input (each code may repeat the previous entry plus one unit),
/// so a payload of a few hundred kilobytes can expand to gigabytes: the limit is checked while decoding, not after.
/// Each dictionary entry is kept as a range of the output, where it always appears whole, so memory stays linear
/// in the output. A space counts as `+` (form decoding turns `+` into a space); other characters outside the
/// alphabet are skipped, and `=` is a zero.
fn lz_string_base64(
    text: &str,
    max_units: usize,
    reserve: &mut Reserve<'_>,
) -> Result<Vec<u16>, WireError> {
    /// The input as a bit stream: 6 bits per character, most significant first.
    struct Bits<I> {
        sextets: I,
        value: u8,
        mask: u8,
    }
    impl<I: Iterator<Item = u8>> Bits<I> {
        /// `n` bits, least significant first.
        fn read(&mut self, n: u32) -> Option<u32> {
            let mut out = 0;
            for i in 0..n {
                if self.mask == 0 {
                    self.value = self.sextets.next()?;
                    self.mask = 1 << 5;
                }
                if self.value & self.mask != 0 {
                    out |= 1 << i;
                }
                self.mask >>= 1;
            }
            Some(out)
        }
    }
    let invalid = || {
        WireError::bad(
            "invalid_lz_string",
            "the payload is not valid LZ-string base64",
        )
    };
    let sextet = |b: u8| match b {
        b' ' => Some(62),
        b'=' => Some(0),
        _ => LZ_ALPHABET.iter().position(|&a| a == b).map(|i| i as u8),
    };
    let mut bits = Bits {
        sextets: text.bytes().filter_map(sextet).peekable(),
        value: 0,
        mask: 0,
    };
    if bits.sextets.peek().is_none() {
        return Ok(Vec::new());
    }
    // Codes 0 and 1 announce an 8- or 16-bit literal and 2 ends the stream; entries start at 3.
    let literal = |bits: &mut Bits<_>, code: usize| -> Result<u16, WireError> {
        let n = if code == 0 { 8 } else { 16 };
        bits.read(n).map(|c| c as u16).ok_or_else(invalid)
    };
    let mut out: Vec<u16> = Vec::new();
    ensure_room(&mut out, 1, max_units, reserve)?;
    let first = match bits.read(2).ok_or_else(invalid)? as usize {
        code @ (0 | 1) => literal(&mut bits, code)?,
        2 => return Ok(out),
        _ => return Err(invalid()),
    };
    out.push(first);
    // (start, length) of each entry in `out`.
    let mut dict: Vec<(usize, usize)> = vec![(0, 0), (0, 0), (0, 0), (0, 1)];
    let mut w = (0, 1);
    let mut num_bits = 3;
    let mut enlarge_in: u64 = 4;
    loop {
        let mut code = bits.read(num_bits).ok_or_else(invalid)? as usize;
        let mut new_unit = None;
        match code {
            0 | 1 => {
                new_unit = Some(literal(&mut bits, code)?);
                ensure_room(&mut dict, 1, usize::MAX, reserve)?;
                dict.push((out.len(), 1));
                code = dict.len() - 1;
                enlarge_in -= 1;
            }
            2 => return Ok(out),
            _ => {}
        }
        if enlarge_in == 0 {
            enlarge_in = 1 << num_bits;
            num_bits += 1;
        }
        let start = out.len();
        let adds = match (new_unit, dict.get(code)) {
            (Some(_), _) => 1,
            (None, Some(&(_, n))) => n,
            (None, None) if code == dict.len() => w.1 + 1,
            (None, None) => return Err(invalid()),
        };
        // Checked before the output grows, which it may do by as much as it already holds.
        if out.len() + adds > max_units {
            return Err(payload_too_large(max_units));
        }
        ensure_room(&mut out, adds, max_units, reserve)?;
        if let Some(unit) = new_unit {
            out.push(unit);
        } else if let Some(&(s, n)) = dict.get(code) {
            out.extend_from_within(s..s + n);
        } else {
            // The entry being defined: the previous one plus its own first unit.
            out.extend_from_within(w.0..w.0 + w.1);
            out.push(out[w.0]);
        }
        // The previous entry plus the first unit of this one, which follows it in `out`.
        ensure_room(&mut dict, 1, usize::MAX, reserve)?;
        dict.push((w.0, w.1 + 1));
        enlarge_in -= 1;
        w = (start, out.len() - start);
        if enlarge_in == 0 {
            enlarge_in = 1 << num_bits;
            num_bits += 1;
        }
    }
}

/// Makes room for `extra` more elements, reserving what a growth adds first (doubling, so a few copies in all).
///
/// A growth is reserved twice over: moving to the new buffer holds the old one too, and an allocator keeps what
/// is freed for later, so what the process holds follows the sum of the buffers rather than the last one.
/// The buffer never grows past `cap` elements unless `extra` needs it.
fn ensure_room<T>(
    out: &mut Vec<T>,
    extra: usize,
    cap: usize,
    reserve: &mut Reserve<'_>,
) -> Result<(), WireError> {
    let need = out.len() + extra;
    if need <= out.capacity() {
        return Ok(());
    }
    let want = (out.capacity() * 2).max(64).min(cap).max(need);
    reserve(
        (want - out.capacity())
            .saturating_mul(std::mem::size_of::<T>())
            .saturating_mul(2),
    )?;
    out.reserve_exact(want - out.len());
    Ok(())
}

/// Inflates gzip into reserved buffers, stopping as soon as the output passes `max`: a bomb costs the limit (or what
/// `reserve` allows), never what it would inflate to.
///
/// The gzip trailer states the (last member's) size, and when it is within `max` the output buffer is sized from it
/// once. It is only a hint (a truncated stream ends in arbitrary bytes, and a sender can lie): otherwise the output
/// is gathered in blocks of one size and joined once its length is known. Blocks of one size are what an allocator
/// reuses best from one request to the next, where a buffer grown by doubling leaves freed buffers of every size
/// behind, which kept the process's memory well above what requests held at once.
fn gunzip(bytes: &[u8], max: usize, reserve: &mut Reserve<'_>) -> Result<Vec<u8>, WireError> {
    const BLOCK: usize = 1 << 20;
    let stated = bytes
        .len()
        .checked_sub(4)
        .and_then(|at| bytes.get(at..))
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map(|t| u32::from_le_bytes(t) as usize)
        .filter(|n| *n <= max);
    let invalid = |e: std::io::Error| {
        WireError::bad(
            "invalid_gzip",
            format!("the gzip payload cannot be read: {e}"),
        )
    };
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes);
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut total = 0usize;
    // One byte more than the stated size: a block that is not filled tells the end of the stream without another.
    let mut first = stated.map_or(BLOCK, |n| n + 1);
    loop {
        let size = std::mem::replace(&mut first, BLOCK);
        reserve(size)?;
        let mut block = vec![0u8; size];
        let mut filled = 0;
        while filled < size {
            let n = decoder.read(&mut block[filled..]).map_err(invalid)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        total += filled;
        if total > max {
            return Err(payload_too_large(max));
        }
        block.truncate(filled);
        let ended = filled < size;
        blocks.push(block);
        if ended {
            break;
        }
    }
    if blocks.len() == 1 {
        return Ok(blocks.pop().unwrap_or_default());
    }
    reserve(total)?;
    let mut out = Vec::with_capacity(total);
    for b in blocks {
        out.extend_from_slice(&b);
    }
    Ok(out)
}

fn parse_json<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Result<T, WireError> {
    serde_json::from_str(text).map_err(|e| {
        if e.to_string().starts_with("recursion limit exceeded") {
            WireError::bad(
                "invalid_json",
                "the payload is nested deeper than 128 levels",
            )
        } else {
            WireError::bad("invalid_json", format!("the payload is not JSON: {e}"))
        }
    })
}

fn body_too_large(n: usize) -> WireError {
    WireError::too_large(format!(
        "the body is {n} bytes, the limit is {MAX_BODY_BYTES} bytes"
    ))
}

fn payload_too_large(max: usize) -> WireError {
    WireError::too_large(format!(
        "the decompressed payload is over the limit of {max} bytes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: &[u8]) -> WireRequest<'_> {
        WireRequest {
            body,
            ..WireRequest::default()
        }
    }

    fn no_reserve(_: usize) -> Result<(), WireError> {
        Ok(())
    }

    fn payload(r: &WireRequest<'_>, path: PosthogPath) -> Result<String, WireError> {
        posthog_payload(r, path, &DecodeLimits::default(), &mut no_reserve)
    }

    fn parse_body(text: &str, path: PosthogPath) -> Result<CaptureBody<'_>, WireError> {
        posthog_body(text, path, &DecodeLimits::default())
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn base64_detection_never_matches_json() {
        assert!(looks_base64(b"eyJhIjoxfQ=="));
        assert!(!looks_base64(b"{\"a\":1}"));
        assert!(!looks_base64(b"[]"));
        assert!(!looks_base64(b"abc"));
    }

    #[test]
    fn gzip_is_sniffed_without_a_header() {
        let body = gzip(br#"{"event":"x","distinct_id":"u","api_key":"t"}"#);
        let text = payload(&req(&body), PosthogPath::Batch).unwrap();
        let b = parse_body(&text, PosthogPath::Batch).unwrap();
        assert_eq!(b.items[0].value(&b).unwrap()["event"], "x");
    }

    #[test]
    fn truncated_gzip_is_a_bad_request() {
        let body = gzip(br#"{"event":"x","distinct_id":"u","api_key":"t"}"#);
        let err = payload(&req(&body[..body.len() / 2]), PosthogPath::Batch).unwrap_err();
        assert_eq!((err.status, err.code), (400, "invalid_gzip"));
    }

    #[test]
    fn form_data_with_plus_signs_decodes() {
        // `{"a":">>>"}` encodes with a `+` that form decoding turns into a space.
        let b64 = base64::engine::general_purpose::STANDARD.encode(br#"{"event":">>>","x":"?>?"}"#);
        assert!(b64.contains('+') || b64.contains('/'));
        let body = format!("data={}", b64.replace('/', "%2F"));
        let r = WireRequest {
            content_type: Some("application/x-www-form-urlencoded"),
            body: body.as_bytes(),
            ..WireRequest::default()
        };
        let text = payload(&r, PosthogPath::Legacy).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["event"], ">>>");
    }

    #[test]
    fn lz64_payloads_decode_whatever_their_padding() {
        // compressToBase64 pads to a multiple of 4, so most LZ-string payloads also look like plain base64.
        let mut paddings = std::collections::BTreeSet::new();
        for n in 0..12 {
            let json = format!(
                r#"{{"event":"e{}","distinct_id":"u","token":"t"}}"#,
                "x".repeat(n)
            );
            let lz = lz_str::compress_to_base64(json.as_str());
            paddings.insert(lz.len() - lz.trim_end_matches('=').len());
            // A form field whose `+` was left raw, so that form decoding turns it into a space.
            let body = format!("data={}", lz.replace('/', "%2F").replace('=', "%3D"));
            let r = WireRequest {
                query: Some("compression=lz64"),
                content_type: Some("application/x-www-form-urlencoded"),
                body: body.as_bytes(),
                ..WireRequest::default()
            };
            assert_eq!(payload(&r, PosthogPath::Legacy), Ok(json), "{lz}");
        }
        assert_eq!(paddings.len(), 4, "{paddings:?}");
    }

    /// LZ-string base64 of a literal `a` then `n` codes that each name the entry being defined: it decodes to
    /// `1 + n + n(n+1)/2` units.
    fn lz_bomb(n: usize) -> String {
        fn put(bits: &mut Vec<bool>, value: usize, width: u32) {
            bits.extend((0..width).map(|i| value >> i & 1 == 1));
        }
        let mut bits = Vec::new();
        put(&mut bits, 0, 2);
        put(&mut bits, usize::from(b'a'), 8);
        let (mut size, mut width, mut enlarge_in) = (4, 3, 4);
        for _ in 0..n {
            put(&mut bits, size, width);
            size += 1;
            enlarge_in -= 1;
            if enlarge_in == 0 {
                enlarge_in = 1 << width;
                width += 1;
            }
        }
        put(&mut bits, 2, width);
        bits.chunks(6)
            .map(|c| {
                let v = c.iter().fold(0, |acc, &b| acc << 1 | usize::from(b)) << (6 - c.len());
                char::from(LZ_ALPHABET[v])
            })
            .collect()
    }

    #[test]
    fn lz_string_output_is_bounded_while_decoding() {
        let bomb = lz_bomb(3000);
        assert!(bomb.len() < 6000, "{}", bomb.len());
        let units = lz_string_base64(&bomb, usize::MAX, &mut no_reserve).unwrap();
        assert_eq!(units.len(), 1 + 3000 + 3000 * 3001 / 2);
        assert!(units.iter().all(|&u| u == u16::from(b'a')));
        // 4.5 million units from 6 KB: refused once past the limit, before the rest is decoded.
        let err = lz_string_base64(&bomb, 1_000_000, &mut no_reserve).unwrap_err();
        assert_eq!((err.status, err.code), (413, "payload_too_large"));
    }

    proptest::proptest! {
        #[test]
        fn lz_string_decodes_what_lz_string_encodes(s in "\\PC{0,200}") {
            let lz = lz_str::compress_to_base64(s.as_str());
            let units = lz_string_base64(&lz, MAX_PAYLOAD_BYTES, &mut no_reserve).unwrap();
            proptest::prop_assert_eq!(String::from_utf16(&units).unwrap(), s);
        }
    }

    #[test]
    fn bad_json_and_utf8_and_empty_are_400() {
        for (body, code) in [
            (&b"{nope"[..], "invalid_json"),
            (&b"\xff\xfe{}"[..], "invalid_utf8"),
            (&b""[..], "missing_payload"),
            (&b"42.5"[..], "unknown_shape"),
            (&b"null"[..], "unknown_shape"),
            (&b"true"[..], "unknown_shape"),
            (&b"1234"[..], "unknown_shape"),
        ] {
            let err = payload(&req(body), PosthogPath::Batch)
                .and_then(|text| parse_body(&text, PosthogPath::Batch).map(|_| ()))
                .unwrap_err();
            assert_eq!((err.status, err.code), (400, code), "{body:?}");
        }
    }

    #[test]
    fn tokens_are_checked_for_shape_and_consistency() {
        let two = serde_json::json!([
            {"event": "a", "properties": {"token": "t1", "distinct_id": "u"}},
            {"event": "b", "properties": {"token": "t2", "distinct_id": "u"}}
        ]);
        let err = parse_body(&two.to_string(), PosthogPath::Legacy).unwrap_err();
        assert_eq!((err.status, err.code), (401, "inconsistent_api_key"));
        let phx = serde_json::json!({"api_key": "phx_abc", "batch": []});
        assert_eq!(
            parse_body(&phx.to_string(), PosthogPath::Batch)
                .unwrap_err()
                .code,
            "invalid_api_key"
        );
        for bad in ["a\nb", "a b", "a\u{7f}", "\u{e9}t"] {
            let err = check_token(&Value::String(bad.to_string())).unwrap_err();
            assert_eq!(err.code, "invalid_api_key", "{bad:?}");
        }
        let none = serde_json::json!({"batch": [{"event": "a", "distinct_id": "u"}]});
        assert_eq!(
            parse_body(&none.to_string(), PosthogPath::Batch)
                .unwrap()
                .token,
            None
        );
    }

    #[test]
    fn skew_is_corrected_from_sent_at_and_offset() {
        let p = Project::new("p").unwrap();
        let now = Timestamp(1_750_000_000_000_000);
        let hour = 3_600_000_000;
        let body = serde_json::json!({
            "api_key": "t",
            "sent_at": "2025-06-15T16:06:40Z",
            "batch": [
                {"event": "a", "distinct_id": "u", "timestamp": "2025-06-15T16:06:30Z"},
                {"event": "b", "distinct_id": "u", "offset": 1500},
                {"event": "c", "distinct_id": "u"}
            ]
        });
        // The client's clock says 16:06:40 at send; the server's says `now` (1 h later).
        assert_eq!(now.0 - hour, 1_749_996_400_000_000);
        let ctx = CaptureContext {
            now,
            query_sent_at: None,
            source: "http /batch".to_string(),
        };
        let text = body.to_string();
        let b = capture_batch(&p, parse_body(&text, PosthogPath::Batch).unwrap(), &ctx);
        let ts: Vec<i64> = b.batch.events().iter().map(|e| e.timestamp.0).collect();
        assert_eq!(ts, vec![now.0 - 10_000_000, now.0 - 1_500_000, now.0]);
        assert!(b.quarantined.is_empty());
    }

    #[test]
    fn items_that_fail_are_quarantined_by_index() {
        let p = Project::new("p").unwrap();
        let body = serde_json::json!({"api_key": "t", "batch": [
            {"event": "a", "distinct_id": "u"},
            {"event": "b"},
            7,
            {"event": "c", "distinct_id": "u", "uuid": "nope"}
        ]});
        let ctx = CaptureContext {
            now: Timestamp(1_750_000_000_000_000),
            query_sent_at: None,
            source: "http /batch".to_string(),
        };
        let text = body.to_string();
        let b = capture_batch(&p, parse_body(&text, PosthogPath::Batch).unwrap(), &ctx);
        assert_eq!(b.accepted(), 1);
        let got: Vec<(usize, &str)> = b
            .quarantined
            .iter()
            .map(|q| (q.index, q.reason.code()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "missing_distinct_id"),
                (2, "malformed_event"),
                (3, "invalid_uuid")
            ]
        );
        assert_eq!(b.batch.rejections()[1].raw, b"7");
    }

    #[test]
    fn quarantined_items_keep_their_bytes_as_sent() {
        let p = Project::new("p").unwrap();
        let text = r#"{"api_key":"t","batch":[ {"uuid":"x",  "event":"e","distinct_id":"u","properties":{"b":1.50,"a":2}} ]}"#;
        let ctx = CaptureContext {
            now: Timestamp(1_750_000_000_000_000),
            query_sent_at: None,
            source: "http /batch".to_string(),
        };
        let b = capture_batch(&p, parse_body(text, PosthogPath::Batch).unwrap(), &ctx);
        assert_eq!(
            std::str::from_utf8(&b.batch.rejections()[0].raw).unwrap(),
            r#"{"uuid":"x",  "event":"e","distinct_id":"u","properties":{"b":1.50,"a":2}}"#
        );
    }

    #[test]
    fn a_deeply_nested_item_is_quarantined_alone() {
        let p = Project::new("p").unwrap();
        let deep = format!("{}1{}", "[".repeat(3000), "]".repeat(3000));
        let text = format!(
            r#"{{"api_key":"t","batch":[{{"event":"e","distinct_id":"u","properties":{{"x":{deep}}}}},{{"event":"ok","distinct_id":"u"}}]}}"#
        );
        let ctx = CaptureContext {
            now: Timestamp(1_750_000_000_000_000),
            query_sent_at: None,
            source: "http /batch".to_string(),
        };
        let b = capture_batch(&p, parse_body(&text, PosthogPath::Batch).unwrap(), &ctx);
        assert_eq!(b.accepted(), 1);
        assert_eq!(b.quarantined[0].reason, RejectReason::InvalidProperties);
    }

    #[test]
    fn segment_batch_context_merges_and_type_is_required() {
        let p = Project::new("p").unwrap();
        let body = serde_json::json!({
            "writeKey": "k",
            "sentAt": "2025-06-15T17:06:40Z",
            "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
            "batch": [
                {"type": "track", "event": "E", "userId": "u", "anonymousId": "a",
                 "messageId": "m-1", "timestamp": "2025-06-15T17:06:39Z"},
                {"event": "no type", "userId": "u"}
            ]
        });
        let text = body.to_string();
        let b = segment_body(&text, SegmentPath::Batch, &DecodeLimits::default()).unwrap();
        assert_eq!(b.token.as_deref(), Some("k"));
        let ctx = CaptureContext {
            now: Timestamp(1_750_007_200_000_000),
            query_sent_at: None,
            source: "http /v1/batch".to_string(),
        };
        let b = capture_batch(&p, b, &ctx);
        assert_eq!(b.accepted(), 1);
        let e = &b.batch.events()[0];
        assert!(e.properties().contains("\"$lib\":\"analytics-python\""));
        assert!(e.merge.is_some());
        assert_eq!(e.timestamp.0, 1_750_007_200_000_000 - 1_000_000);
        assert_eq!(b.quarantined[0].reason, RejectReason::InvalidSegmentType);
    }

    #[test]
    fn issue_18_a_batch_past_the_item_limit_is_413_naming_it() {
        let limits = DecodeLimits {
            max_items: 3,
            ..DecodeLimits::default()
        };
        for text in ["[1,2,3,4]", r#"{"api_key":"t","batch":[{},{},{},{}]}"#] {
            let err = posthog_body(text, PosthogPath::Batch, &limits).unwrap_err();
            assert_eq!((err.status, err.code), (413, "too_many_items"), "{text}");
            assert!(err.detail.contains("more than 3 items"), "{}", err.detail);
        }
        let seg = r#"{"writeKey":"k","batch":[{},{},{},{}]}"#;
        let err = segment_body(seg, SegmentPath::Batch, &limits).unwrap_err();
        assert_eq!(err.code, "too_many_items");
        assert_eq!(
            posthog_body("[1,2,3]", PosthogPath::Batch, &limits)
                .unwrap()
                .items
                .len(),
            3
        );
        let not_array = posthog_body(r#"{"batch":{"a":1}}"#, PosthogPath::Batch, &limits);
        assert_eq!(not_array.unwrap_err().code, "unknown_shape");
    }

    #[test]
    fn issue_18_gzip_stops_at_the_limit_and_at_the_reservation() {
        let bomb = gzip(&vec![b' '; 8 << 20]);
        let limits = DecodeLimits {
            max_payload_bytes: 1 << 20,
            ..DecodeLimits::default()
        };
        let mut reserved = 0usize;
        let err = posthog_payload(&req(&bomb), PosthogPath::Batch, &limits, &mut |n| {
            reserved += n;
            Ok(())
        })
        .unwrap_err();
        assert_eq!((err.status, err.code), (413, "payload_too_large"));
        assert!(err.detail.contains("1048576"), "{}", err.detail);
        // The body, a chunk and a buffer that grew to the limit: never the 8 MiB the bomb inflates to.
        assert!(
            reserved <= bomb.len() + (64 << 10) + (4 << 20),
            "{reserved}"
        );
        // A bomb whose trailer lies is inflated up to the limit only.
        let mut liar = bomb.clone();
        let at = liar.len() - 4;
        liar[at..].copy_from_slice(&100u32.to_le_bytes());
        reserved = 0;
        let err = posthog_payload(&req(&liar), PosthogPath::Batch, &limits, &mut |n| {
            reserved += n;
            Ok(())
        })
        .unwrap_err();
        assert_eq!((err.status, err.code), (413, "payload_too_large"));
        assert!(
            reserved <= liar.len() + (64 << 10) + 100 + (4 << 20),
            "{reserved}"
        );
        // A reservation that runs out stops the decode with its own answer.
        let mut left = 256usize << 10;
        let err = posthog_payload(
            &req(&liar),
            PosthogPath::Batch,
            &DecodeLimits::default(),
            &mut |n| {
                left = left.checked_sub(n).ok_or(WireError {
                    status: 503,
                    code: "capture_memory_full",
                    detail: String::new(),
                })?;
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(err.code, "capture_memory_full");
    }

    #[test]
    fn issue_18_items_that_are_not_objects_share_one_quarantine_record() {
        let p = Project::new("p").unwrap();
        let ctx = CaptureContext {
            now: Timestamp(1_750_000_000_000_000),
            query_sent_at: None,
            source: "http /batch r".to_string(),
        };
        let many = format!(
            r#"{{"api_key":"t","batch":[{},{{"event":"b"}}]}}"#,
            vec!["1"; 50].join(",")
        );
        let b = capture_batch(&p, parse_body(&many, PosthogPath::Batch).unwrap(), &ctx);
        assert_eq!(b.quarantined.len(), 51);
        let r = b.batch.rejections();
        assert_eq!(
            r.len(),
            2,
            "one record for the 50 numbers, one for the event"
        );
        let combined = r.iter().find(|r| r.raw.starts_with(b"[")).unwrap();
        assert_eq!(
            combined.raw,
            format!("[{}]", vec!["1"; 50].join(",")).as_bytes()
        );
        assert_eq!(combined.source, "http /batch r #0 and 49 more");
        // A few stay one record each, as sent.
        let few = r#"{"api_key":"t","batch":[1,"x"]}"#;
        let b = capture_batch(&p, parse_body(few, PosthogPath::Batch).unwrap(), &ctx);
        let raws: Vec<&[u8]> = b.batch.rejections().iter().map(|r| &r.raw[..]).collect();
        assert_eq!(raws, vec![&b"1"[..], &b"\"x\""[..]]);
    }
}
