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

/// One batch item: its text as sent (kept verbatim if it is quarantined) and its parsed value.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    /// The item's JSON text, verbatim from the decoded payload.
    pub raw: &'a str,
    /// The parsed item, or why it cannot be read.
    value: Result<Value, Reject>,
}

impl Item<'_> {
    fn parse(raw: &RawValue) -> Item<'_> {
        let value = serde_json::from_str::<Value>(raw.get()).map_err(|e| {
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
        });
        Item {
            raw: raw.get(),
            value,
        }
    }

    fn object(&self) -> Option<&Map<String, Value>> {
        self.value.as_ref().ok().and_then(Value::as_object)
    }
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
    /// The path it came in on.
    kind: BodyKind,
}

#[derive(Debug, Clone, Copy)]
enum BodyKind {
    Posthog(PosthogPath),
    Segment,
}

/// ingest.md §2.1: finds and decodes a PostHog payload into JSON text (parsed by [`posthog_body`]).
///
/// # Errors
/// 400 for an unreadable payload (missing, bad form, base64, gzip or UTF-8), 413 past the limits.
pub fn posthog_payload(req: &WireRequest<'_>, path: PosthogPath) -> Result<String, WireError> {
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
        req.body.to_vec()
    };
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
        payload = base64_decode(&payload)?;
    }
    let mut text = decode_text(payload, hint)?;
    if matches!(path, PosthogPath::Legacy | PosthogPath::Engage) && looks_base64(text.as_bytes()) {
        let inner = base64_decode(text.as_bytes())?;
        text = decode_text(inner, Hint::None)?;
    }
    Ok(text)
}

/// ingest.md §3.1: decodes a Segment body (gzip by header or magic bytes) into JSON text.
///
/// # Errors
/// 400 for bad gzip or UTF-8; 413 past the limits.
pub fn segment_payload(req: &WireRequest<'_>) -> Result<String, WireError> {
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
    decode_text(req.body.to_vec(), hint)
}

/// ingest.md §2.2 and §2.4: parses and classifies a PostHog payload and finds its token.
///
/// # Errors
/// 400 `invalid_json` or `unknown_shape`; 401 for a missing, malformed or inconsistent token.
pub fn posthog_body(text: &str, path: PosthogPath) -> Result<CaptureBody<'_>, WireError> {
    let mut meta = Map::new();
    let mut sent_at = None;
    let mut envelope_token = None;
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let items: Vec<Item<'_>> = match trimmed.as_bytes().first() {
        Some(b'[') => {
            let raw: Vec<&RawValue> = parse_json(trimmed)?;
            raw.into_iter().map(Item::parse).collect()
        }
        Some(b'{') => {
            let mut top: HashMap<String, &RawValue> = parse_json(trimmed)?;
            if let Some(batch) = top.remove("batch") {
                let raw: Vec<&RawValue> = serde_json::from_str(batch.get()).map_err(|_| {
                    WireError::bad(
                        "unknown_shape",
                        format!("`batch` must be an array, got {}", raw_kind(batch)),
                    )
                })?;
                for key in ["api_key", "token"] {
                    if let Some(v) = top.get(key).map(|r| value_of(r)).filter(|v| !v.is_null()) {
                        envelope_token.get_or_insert(v);
                    }
                }
                sent_at = top.get("sent_at").and_then(|r| parse_sent_at(&value_of(r)));
                if let Some(h) = top.get("historical_migration") {
                    meta.insert("historical_migration".to_string(), value_of(h));
                }
                raw.into_iter().map(Item::parse).collect()
            } else {
                let whole: &RawValue = parse_json(trimmed)?;
                let mut item = Item::parse(whole);
                if path == PosthogPath::Engage
                    && let Ok(Value::Object(obj)) = &mut item.value
                    && !obj.contains_key("event")
                {
                    // An old person update: it becomes an `$identify` with its `$set` / `$set_once`.
                    obj.insert("event".to_string(), Value::String("$identify".to_string()));
                }
                vec![item]
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
            for obj in items.iter().filter_map(Item::object) {
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
        kind: BodyKind::Posthog(path),
    })
}

/// ingest.md §3.1: parses and classifies a Segment body, merging a batch's `context` and `integrations` into each
/// item.
///
/// # Errors
/// 400 `invalid_json` or `unknown_shape` (not an object, or a batch that is not an array); 401 for a malformed
/// `writeKey`.
pub fn segment_body(text: &str, path: SegmentPath) -> Result<CaptureBody<'_>, WireError> {
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
    let items = match path {
        SegmentPath::Single(ty) => {
            let whole: &RawValue = parse_json(trimmed)?;
            let mut item = Item::parse(whole);
            if let Ok(Value::Object(obj)) = &mut item.value {
                obj.remove("writeKey");
                obj.insert("type".to_string(), Value::String(ty.to_string()));
            }
            vec![item]
        }
        SegmentPath::Batch => {
            let batch = top
                .get("batch")
                .ok_or_else(|| WireError::bad("unknown_shape", "`batch` is missing"))?;
            let raw: Vec<&RawValue> = serde_json::from_str(batch.get()).map_err(|_| {
                WireError::bad(
                    "unknown_shape",
                    format!("`batch` must be an array, got {}", raw_kind(batch)),
                )
            })?;
            let shared: Vec<(&str, Value)> = ["context", "integrations"]
                .into_iter()
                .filter_map(|k| top.get(k).map(|r| (k, value_of(r))))
                .filter(|(_, v)| v.is_object())
                .collect();
            let sent_at = top.get("sentAt").map(|r| value_of(r));
            raw.into_iter()
                .map(|r| {
                    let mut item = Item::parse(r);
                    if let Ok(Value::Object(m)) = &mut item.value {
                        for (k, v) in &shared {
                            merge_under(m, k, v);
                        }
                        if let Some(s) = &sent_at
                            && !m.contains_key("sentAt")
                        {
                            m.insert("sentAt".to_string(), s.clone());
                        }
                    }
                    item
                })
                .collect()
        }
    };
    Ok(CaptureBody {
        items,
        token: write_key,
        sent_at: None,
        meta: Map::new(),
        kind: BodyKind::Segment,
    })
}

/// A raw JSON value parsed (it was already checked as JSON by the enclosing parse).
fn value_of(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// The JSON kind of a raw value, for messages.
fn raw_kind(raw: &RawValue) -> &'static str {
    match raw.get().trim_start().as_bytes().first() {
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
/// 401 `invalid_api_key` for an empty, long, non-ASCII or NUL-bearing token, or a PostHog personal key.
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
    if t.len() > MAX_TOKEN_CHARS || !t.is_ascii() || t.contains('\0') {
        return Err(WireError::auth(
            "invalid_api_key",
            format!(
                "the token is not a project token (at most {MAX_TOKEN_CHARS} ASCII characters)"
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
    mut body: CaptureBody<'_>,
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
    let items = std::mem::take(&mut body.items);
    for (index, item) in items.into_iter().enumerate() {
        let source = format!("{} #{index}", ctx.source);
        let result = if item.raw.len() > max_event_bytes {
            Err(validate::too_large(item.raw.len(), &cfg))
        } else {
            item.value.and_then(|v| {
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
        let mut parsed = Item::parse(&item);
        if let (Some(SegmentPath::Single(ty)), Ok(Value::Object(obj))) = (kind.1, &mut parsed.value)
        {
            obj.insert("type".to_string(), Value::String(ty.to_string()));
        }
        let body = CaptureBody {
            items: Vec::new(),
            token: None,
            sent_at: None,
            meta: Map::new(),
            kind: kind.0,
        };
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
        let result = parsed.value.and_then(|v| {
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
fn decode_text(payload: Vec<u8>, hint: Hint) -> Result<String, WireError> {
    let bytes = if hint == Hint::Gzip || payload.starts_with(&[0x1f, 0x8b, 0x08]) {
        gunzip(&payload)?
    } else if hint == Hint::LzString {
        let text = std::str::from_utf8(&payload).map_err(|_| {
            WireError::bad("invalid_lz_string", "the LZ-string payload is not text")
        })?;
        let units = lz_string_base64(text.trim(), MAX_PAYLOAD_BYTES)?;
        let s = String::from_utf16(&units).map_err(|_| {
            WireError::bad(
                "invalid_lz_string",
                "the LZ-string payload is not valid UTF-16",
            )
        })?;
        if s.len() > MAX_PAYLOAD_BYTES {
            return Err(payload_too_large());
        }
        return Ok(s);
    } else {
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
fn lz_string_base64(text: &str, max_units: usize) -> Result<Vec<u16>, WireError> {
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
        if let Some(unit) = new_unit {
            out.push(unit);
        } else if let Some(&(s, n)) = dict.get(code) {
            out.extend_from_within(s..s + n);
        } else if code == dict.len() {
            // The entry being defined: the previous one plus its own first unit.
            out.extend_from_within(w.0..w.0 + w.1);
            out.push(out[w.0]);
        } else {
            return Err(invalid());
        }
        if out.len() > max_units {
            return Err(payload_too_large());
        }
        // The previous entry plus the first unit of this one, which follows it in `out`.
        dict.push((w.0, w.1 + 1));
        enlarge_in -= 1;
        w = (start, out.len() - start);
        if enlarge_in == 0 {
            enlarge_in = 1 << num_bits;
            num_bits += 1;
        }
    }
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).min(MAX_PAYLOAD_BYTES));
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes).take(MAX_PAYLOAD_BYTES as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| {
        WireError::bad(
            "invalid_gzip",
            format!("the gzip payload cannot be read: {e}"),
        )
    })?;
    if out.len() > MAX_PAYLOAD_BYTES {
        return Err(payload_too_large());
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

fn payload_too_large() -> WireError {
    WireError::too_large(format!(
        "the decompressed payload is over the limit of {MAX_PAYLOAD_BYTES} bytes"
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
        let text = posthog_payload(&req(&body), PosthogPath::Batch).unwrap();
        let b = posthog_body(&text, PosthogPath::Batch).unwrap();
        assert_eq!(b.items[0].object().unwrap()["event"], "x");
    }

    #[test]
    fn truncated_gzip_is_a_bad_request() {
        let body = gzip(br#"{"event":"x","distinct_id":"u","api_key":"t"}"#);
        let err = posthog_payload(&req(&body[..body.len() / 2]), PosthogPath::Batch).unwrap_err();
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
        let text = posthog_payload(&r, PosthogPath::Legacy).unwrap();
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
            assert_eq!(posthog_payload(&r, PosthogPath::Legacy), Ok(json), "{lz}");
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
        let units = lz_string_base64(&bomb, usize::MAX).unwrap();
        assert_eq!(units.len(), 1 + 3000 + 3000 * 3001 / 2);
        assert!(units.iter().all(|&u| u == u16::from(b'a')));
        // 4.5 million units from 6 KB: refused once past the limit, before the rest is decoded.
        let err = lz_string_base64(&bomb, 1_000_000).unwrap_err();
        assert_eq!((err.status, err.code), (413, "payload_too_large"));
    }

    proptest::proptest! {
        #[test]
        fn lz_string_decodes_what_lz_string_encodes(s in "\\PC{0,200}") {
            let lz = lz_str::compress_to_base64(s.as_str());
            let units = lz_string_base64(&lz, MAX_PAYLOAD_BYTES).unwrap();
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
            let err = posthog_payload(&req(body), PosthogPath::Batch)
                .and_then(|text| posthog_body(&text, PosthogPath::Batch).map(|_| ()))
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
        let err = posthog_body(&two.to_string(), PosthogPath::Legacy).unwrap_err();
        assert_eq!((err.status, err.code), (401, "inconsistent_api_key"));
        let phx = serde_json::json!({"api_key": "phx_abc", "batch": []});
        assert_eq!(
            posthog_body(&phx.to_string(), PosthogPath::Batch)
                .unwrap_err()
                .code,
            "invalid_api_key"
        );
        let none = serde_json::json!({"batch": [{"event": "a", "distinct_id": "u"}]});
        assert_eq!(
            posthog_body(&none.to_string(), PosthogPath::Batch)
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
        let b = capture_batch(&p, posthog_body(&text, PosthogPath::Batch).unwrap(), &ctx);
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
        let b = capture_batch(&p, posthog_body(&text, PosthogPath::Batch).unwrap(), &ctx);
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
        let b = capture_batch(&p, posthog_body(text, PosthogPath::Batch).unwrap(), &ctx);
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
        let b = capture_batch(&p, posthog_body(&text, PosthogPath::Batch).unwrap(), &ctx);
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
        let b = segment_body(&text, SegmentPath::Batch).unwrap();
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
}
