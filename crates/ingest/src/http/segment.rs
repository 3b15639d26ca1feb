//! Segment's Tracking API (ingest.md §3): the body (gzip by header or magic bytes), the single-message paths and
//! the batch envelope whose `context` and `integrations` go under each item's own.

use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::transport::{Hint, body_too_large, compression_hint, decode_text, parse_json};
use super::{
    BodyKind, CaptureBody, DecodeLimits, Item, MAX_BODY_BYTES, Patch, Reserve, WireError,
    WireRequest, check_token, parse_items, raw_kind, value_of,
};
use crate::validate;

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

/// A top-level `context`/`integrations` object under an item's own; the item's keys win.
pub(super) fn merge_under(item: &mut Map<String, Value>, key: &str, shared: &Value) {
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
