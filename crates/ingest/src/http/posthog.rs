//! PostHog's capture paths (ingest.md §2): where the payload is in the request, and the body shapes (an event, a
//! list, a `batch` envelope, `/engage` person updates) with the token they carry.

use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::transport::body_too_large;
use super::transport::{
    Hint, base64_decode, compression_hint, decode_text, looks_base64, parse_form, parse_json,
    query_value, restore_plus,
};
use super::{
    BodyKind, CaptureBody, DecodeLimits, Item, MAX_BODY_BYTES, Patch, Reserve, WireError,
    WireRequest, check_token, parse_item, parse_items, parse_sent_at, raw_kind, value_of,
};
use crate::validate;

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
