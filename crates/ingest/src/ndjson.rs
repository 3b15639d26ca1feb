//! NDJSON event import: a chunk of complete lines is validated in parallel, one event per line.

use std::borrow::Cow;

use rayon::prelude::*;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use model::{Event, EventBatch, Project, RejectReason, Rejection};

use crate::Config;
use crate::validate::{self, Reject};

/// Lines per rayon task; small chunks cost more in scheduling than they gain in balance.
const MIN_LINES_PER_TASK: usize = 512;

/// Validates one NDJSON chunk made of complete lines.
///
/// Lines are numbered from `first_line` (1-based) and sources are `"{file}:{line}"`. Each line may be liucun's
/// shape, PostHog's export shape or a Segment message (events.md §10.1). Blank lines are skipped. Lines are
/// validated in parallel; the output keeps input order.
pub fn ndjson_chunk(
    project: &Project,
    data: &[u8],
    file: &str,
    first_line: u64,
    cfg: &Config,
) -> EventBatch {
    let lines = split_lines(data, first_line);
    // An indexed collect writes every result in place; partitioning afterwards moves each event once.
    let mut results: Vec<Result<Event, Rejection>> = Vec::with_capacity(lines.len());
    lines
        .par_iter()
        .with_min_len(MIN_LINES_PER_TASK)
        .map(|&(n, line)| {
            validate_line(project, line, cfg, line_source(file, n))
                .map_err(|r| r.into_rejection(line, line_source(file, n), cfg))
        })
        .collect_into_vec(&mut results);
    let (events, rejections) = split_results(results);
    let batch = EventBatch::new(project.clone(), events, rejections);
    tracing::debug!(
        file,
        first_line,
        n_events = batch.events().len(),
        n_rejected = batch.rejections().len(),
        "validated ndjson chunk"
    );
    batch
}

/// `"{file}:{line}"`, allocated once at its final size (one per event: `format!` costs more than the rest).
pub(crate) fn line_source(file: &str, line: u64) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(line);
    let mut s = String::with_capacity(file.len() + 1 + digits.len());
    s.push_str(file);
    s.push(':');
    s.push_str(digits);
    s
}

/// Splits per-input results into accepted events and rejections, keeping input order.
pub(crate) fn split_results(
    results: Vec<Result<Event, Rejection>>,
) -> (Vec<Event>, Vec<Rejection>) {
    let n_rejected = results.iter().filter(|r| r.is_err()).count();
    let mut events = Vec::with_capacity(results.len() - n_rejected);
    let mut rejections = Vec::with_capacity(n_rejected);
    for r in results {
        match r {
            Ok(e) => events.push(e),
            Err(r) => rejections.push(r),
        }
    }
    (events, rejections)
}

/// Non-blank lines with their numbers, without the line terminator (`\n` or `\r\n`).
pub(crate) fn split_lines(data: &[u8], first_line: u64) -> Vec<(u64, &[u8])> {
    fn push<'a>(out: &mut Vec<(u64, &'a [u8])>, n: u64, mut line: &'a [u8]) {
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            out.push((n, line));
        }
    }
    let mut out = Vec::with_capacity(data.len() / 128 + 1);
    let mut start = 0;
    let mut n = first_line;
    for end in memchr::memchr_iter(b'\n', data) {
        push(&mut out, n, &data[start..end]);
        start = end + 1;
        n += 1;
    }
    if start < data.len() {
        push(&mut out, n, &data[start..]);
    }
    out
}

/// The top-level entries of a JSON object, in input order, with keys borrowed from the line when they contain no
/// escapes. Reading into a list instead of a map saves a tree and a key allocation per field on the hot path.
pub(crate) type Entries<'a> = Vec<(Cow<'a, str>, Value)>;

/// Parses one line as a JSON object; any failure here is `malformed_event` (or `event_too_large`).
pub(crate) fn parse_object<'a>(line: &'a [u8], cfg: &Config) -> Result<Entries<'a>, Reject> {
    let (mut entries, properties) = parse_event_object(line, cfg)?;
    if let Some(raw) = properties {
        entries.push(("properties".into(), raw_value(raw)?));
    }
    Ok(entries)
}

/// A raw field as a value. The parser has already checked it is JSON; only the nesting limit can still fail.
pub(crate) fn raw_value(raw: &RawValue) -> Result<Value, Reject> {
    serde_json::from_str(raw.get()).map_err(|_| {
        Reject::new(
            RejectReason::InvalidProperties,
            "`properties` is nested deeper than 64 levels".to_string(),
        )
    })
}

/// Parses one line as a JSON object, leaving its `properties` as raw text for the fast path of [`crate::scan`].
/// Any failure here is `malformed_event` (or `event_too_large`).
fn parse_event_object<'a>(
    line: &'a [u8],
    cfg: &Config,
) -> Result<(Entries<'a>, Option<&'a RawValue>), Reject> {
    if line.len() > cfg.max_event_bytes {
        return Err(validate::too_large(line.len(), cfg));
    }
    let text = std::str::from_utf8(line).map_err(|e| {
        Reject::new(
            RejectReason::MalformedEvent,
            format!("line is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })?;
    match serde_json::from_str::<EventObject<'a>>(text) {
        Ok(o) => Ok((o.entries, o.properties)),
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => Err(Reject::new(
            RejectReason::InvalidProperties,
            "`properties` is nested deeper than 64 levels".to_string(),
        )),
        Err(e) => match serde_json::from_str::<Value>(text) {
            Ok(other) => Err(Reject::new(
                RejectReason::MalformedEvent,
                format!("line is {}, not an object", validate::kind(&other)),
            )),
            Err(_) => Err(Reject::new(
                RejectReason::MalformedEvent,
                format!("line is not JSON: {e}"),
            )),
        },
    }
}

/// An event line: its entries, except `properties`, which stays raw (the last one wins, as in a map).
struct EventObject<'a> {
    entries: Entries<'a>,
    properties: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for EventObject<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EventObject<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<EventObject<'de>, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
                let mut properties = None;
                while let Some(Key(k)) = map.next_key()? {
                    if k == "properties" {
                        properties = Some(map.next_value::<&'de RawValue>()?);
                    } else {
                        entries.push((k, map.next_value()?));
                    }
                }
                Ok(EventObject {
                    entries,
                    properties,
                })
            }
        }
        d.deserialize_map(V)
    }
}

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

pub(crate) fn validate_line(
    project: &Project,
    line: &[u8],
    cfg: &Config,
    source: String,
) -> Result<Event, Reject> {
    let (obj, properties) = parse_event_object(line, cfg)?;
    let draft = crate::shape::draft(obj, properties)?;
    validate::finish(project, cfg, draft, source)
}
