//! From a decoded body to a [`CaptureBatch`]: each item validated on its own (events.md with the HTTP clock rules),
//! and each one that fails quarantined with its reason and its batch index.

use serde_json::Value;

use model::{Event, EventBatch, Project, RejectReason, Rejection, Timestamp};

use super::transport::{parse_form, query_value};
use super::{
    BodyKind, CaptureBody, MAX_AI_EVENT_BYTES, MAX_TRIVIAL_RECORDS, PosthogPath, parse_sent_at,
    text_kind,
};
use crate::validate::{self, Clock, Reject, UuidRule};
use crate::{Config, shape};

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

pub(super) fn capture_item(
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
        BodyKind::Sensors => {
            let mut d = super::sensors::draft(obj, ctx.now)?;
            for (k, v) in &body.meta {
                d.meta.insert(k.clone(), v.clone());
            }
            d
        }
    };
    if matches!(draft.uuid_rule, UuidRule::Content) {
        draft.uuid_rule = absent_uuid;
    }
    validate::finish(project, cfg, draft, source)
}
