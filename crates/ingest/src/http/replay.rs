//! Re-validating one quarantined input under today's rules (events.md §9), as it was first read.

use serde_json::Map;
use serde_json::value::RawValue;

use model::{Event, Project, RejectReason, Timestamp};

use super::capture::{CaptureContext, capture_item};
use super::{
    BodyKind, CaptureBody, Item, MAX_AI_EVENT_BYTES, Patch, PosthogPath, SegmentPath, SensorsPath,
};
use crate::Config;
use crate::validate::{self, Reject, UuidRule};

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
        } else if SensorsPath::from_path(path).is_some() {
            (BodyKind::Sensors, None)
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
