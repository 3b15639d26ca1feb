//! Fuzzes the HTTP capture chain of `liucun_ingest::http` end to end: payload decoding, body classification and
//! token lookup, then validation of every item into a `CaptureBatch`, on each PostHog, Segment and Sensors path.
//!
//! Input layout (see `make_corpus.py`, which writes the seed corpus in the same layout):
//!
//! | byte | meaning |
//! |---|---|
//! | 0 | path: an index into [`PATHS`], modulo its length |
//! | 1 | `Content-Type`: an index into [`CONTENT_TYPES`], modulo its length |
//! | 2 | `Content-Encoding`: an index into [`CONTENT_ENCODINGS`], modulo its length |
//! | 3 | `q`: 0 for no query string, else the query is the next `q - 1` bytes (lossy UTF-8) |
//! | … | the body, every remaining byte |
//!
//! Besides "no panic", the target asserts what the server relies on: a refusal is a 400, 401 or 413; every item is
//! either accepted or quarantined under its own index, in order, with one rejection each that keeps the item's
//! bytes; and an accepted event has a valid distinct id, name and timestamp.

#![no_main]

use ingest::http::{
    self, CaptureBody, CaptureContext, MAX_TOKEN_CHARS, PosthogPath, SegmentPath, SensorsPath,
    WireError, WireRequest,
};
use libfuzzer_sys::fuzz_target;
use model::{Project, Timestamp};

/// The server receive time of every request: 2025-06-15T15:06:40Z.
const NOW: Timestamp = Timestamp(1_750_000_000_000_000);
/// 2000-01-01T00:00:00Z, the earliest accepted event time (events.md §3.3).
const MIN_TS: i64 = 946_684_800_000_000;
/// How far past the receive time an event may lie (events.md §3.3).
const FUTURE_SLACK_MICROS: i64 = 23 * 3_600_000_000;
/// Longest distinct id or event name, in characters (events.md §2.1, §2.2).
const MAX_ID_CHARS: usize = 200;

/// A capture path, as the server routes it.
#[derive(Debug, Clone, Copy)]
enum Path {
    Posthog(PosthogPath),
    Segment(SegmentPath),
    Sensors(SensorsPath),
}

/// Every capture path kind; the order is part of the input layout.
const PATHS: [Path; 13] = [
    Path::Posthog(PosthogPath::Batch),
    Path::Posthog(PosthogPath::Legacy),
    Path::Posthog(PosthogPath::Engage),
    Path::Posthog(PosthogPath::Ai),
    Path::Segment(SegmentPath::Batch),
    Path::Segment(SegmentPath::Single("track")),
    Path::Segment(SegmentPath::Single("identify")),
    Path::Segment(SegmentPath::Single("page")),
    Path::Segment(SegmentPath::Single("screen")),
    Path::Segment(SegmentPath::Single("group")),
    Path::Segment(SegmentPath::Single("alias")),
    Path::Sensors(SensorsPath::Capture),
    Path::Sensors(SensorsPath::Debug),
];

/// `Content-Type` headers that change decoding (only the form type does), in the forms clients send them.
const CONTENT_TYPES: [Option<&str>; 6] = [
    None,
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("text/plain"),
    Some("application/x-www-form-urlencoded; charset=UTF-8"),
    Some(" Application/X-WWW-Form-Urlencoded "),
];

/// `Content-Encoding` headers: each compression hint of ingest.md §2.1, in several spellings, and unknown ones.
const CONTENT_ENCODINGS: [Option<&str>; 9] = [
    None,
    Some("gzip"),
    Some("gzip-js"),
    Some("base64"),
    Some("b64"),
    Some("lz64"),
    Some("lz-string"),
    Some("br"),
    Some(" GZIP "),
];

/// One fuzz input, split by the layout above.
#[derive(Debug)]
struct Input<'a> {
    path: Path,
    content_type: Option<&'static str>,
    content_encoding: Option<&'static str>,
    query: Option<String>,
    body: &'a [u8],
}

impl<'a> Input<'a> {
    /// `None` when the header is incomplete.
    fn decode(data: &'a [u8]) -> Option<Input<'a>> {
        let (&[path, content_type, content_encoding, q], rest) = data.split_first_chunk::<4>()?;
        let (query, body) = match usize::from(q) {
            0 => (None, rest),
            q => {
                let (query, body) = rest.split_at((q - 1).min(rest.len()));
                (Some(String::from_utf8_lossy(query).into_owned()), body)
            }
        };
        Some(Input {
            path: PATHS[usize::from(path) % PATHS.len()],
            content_type: CONTENT_TYPES[usize::from(content_type) % CONTENT_TYPES.len()],
            content_encoding: CONTENT_ENCODINGS
                [usize::from(content_encoding) % CONTENT_ENCODINGS.len()],
            query,
            body,
        })
    }

    fn request(&self) -> WireRequest<'_> {
        WireRequest {
            query: self.query.as_deref(),
            content_type: self.content_type,
            content_encoding: self.content_encoding,
            body: self.body,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::decode(data) else {
        return;
    };
    if let Err(e) = capture(input.path, &input.request()) {
        check_refusal(input.path, &e);
    }
});

/// The server's capture chain for one request: payload, body, then the validated batch, which is checked.
fn capture(path: Path, req: &WireRequest<'_>) -> Result<(), WireError> {
    let limits = http::DecodeLimits::default();
    // No memory budget beyond the decoder's own caps: the fuzzer checks the decoder, not the server's accounting.
    let mut reserve = |_bytes: usize| Ok(());
    match path {
        Path::Posthog(p) => {
            let text = http::posthog_payload(req, p, &limits, &mut reserve)?;
            check_capture(path, http::posthog_body(&text, p, &limits)?, req.query);
        }
        Path::Segment(p) => {
            let text = http::segment_payload(req, &limits, &mut reserve)?;
            check_capture(path, http::segment_body(&text, p, &limits)?, req.query);
        }
        // `/sa`, `/sa.gif` and `/debug` decode alike (ingest-sensors.md §3.1).
        Path::Sensors(kind) => {
            assert!(SensorsPath::ALL.iter().any(|(_, k)| *k == kind));
            let payload = http::sensors_payload(req, &limits, &mut reserve)?;
            check_capture(path, http::sensors_body(&payload, &limits)?, req.query);
        }
    }
    Ok(())
}

/// A whole-request refusal carries one of the statuses of ingest.md §5 and a stable code.
fn check_refusal(path: Path, e: &WireError) {
    assert!(
        matches!(e.status, 400 | 401 | 413),
        "{path:?}: refused with status {}: {e}",
        e.status
    );
    assert!(
        !e.code.is_empty()
            && e.code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "{path:?}: error code {:?} is not snake_case",
        e.code
    );
}

/// Validates a decoded body and checks the batch against the items it came from.
fn check_capture(path: Path, body: CaptureBody<'_>, query: Option<&str>) {
    if let Some(token) = &body.token {
        // ingest.md §2.4.2: a token that passed the shape check.
        assert!(
            !token.is_empty()
                && token.len() <= MAX_TOKEN_CHARS
                && token.is_ascii()
                && token.trim() == token
                && !token.contains('\0')
                && !token.starts_with("phx_"),
            "{path:?}: token {token:?} passed the shape check"
        );
    }
    let raws: Vec<&str> = body.items.iter().map(|item| item.raw).collect();
    let items = raws.len();
    let project = Project::new("fuzz").expect("a valid project name");
    let ctx = CaptureContext {
        now: NOW,
        query_sent_at: CaptureContext::query_sent_at(query),
        source: "http fuzz".to_string(),
    };
    let out = http::capture_batch(&project, body, &ctx);

    assert_eq!(
        out.accepted() + out.quarantined.len(),
        items,
        "{path:?}: {} accepted and {} quarantined out of {items} items",
        out.accepted(),
        out.quarantined.len()
    );
    let rejections = out.batch.rejections();
    assert_eq!(
        rejections.len(),
        out.quarantined.len(),
        "{path:?}: one rejection per quarantined item"
    );
    let mut previous: Option<usize> = None;
    for (q, r) in out.quarantined.iter().zip(rejections) {
        assert!(
            q.index < items,
            "{path:?}: quarantined index {} of {items} items",
            q.index
        );
        assert!(
            previous.is_none_or(|p| p < q.index),
            "{path:?}: quarantined index {} after {previous:?}",
            q.index
        );
        previous = Some(q.index);
        assert_eq!(
            q.reason, r.reason,
            "{path:?}: item {} listed and stored with different reasons",
            q.index
        );
        assert_eq!(
            r.received_at, NOW,
            "{path:?}: rejection {} received_at",
            q.index
        );
        // The quarantine keeps the item's bytes as sent, so that it can be replayed.
        assert_eq!(
            r.raw,
            raws[q.index].as_bytes(),
            "{path:?}: rejection {} is not the item as sent",
            q.index
        );
    }

    for e in out.batch.events() {
        for (field, text) in [("distinct_id", e.distinct_id()), ("event", e.event())] {
            let chars = text.chars().count();
            assert!(
                (1..=MAX_ID_CHARS).contains(&chars) && !text.trim().is_empty(),
                "{path:?}: accepted {field} {text:?} ({chars} characters)"
            );
        }
        assert!(
            (MIN_TS..=NOW.0 + FUTURE_SLACK_MICROS).contains(&e.timestamp.0),
            "{path:?}: accepted timestamp {} outside [2000-01-01, now + 23 h]",
            e.timestamp.0
        );
        assert_eq!(e.received_at, NOW, "{path:?}: event received_at");
    }
}
