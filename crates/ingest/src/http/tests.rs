//! Tests of the capture wire formats: transport decoding, PostHog and Segment bodies, capture and quarantine.

use base64::Engine as _;
use serde_json::Value;

use model::{Project, RejectReason, Timestamp};

use super::transport::{LZ_ALPHABET, looks_base64, lz_string_base64};
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

/// A Sensors request: `fields` form-encoded into the body, `query` as the query string.
fn sensors(query: &str, fields: &[(&str, &str)]) -> Result<SensorsPayload, WireError> {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let r = WireRequest {
        query: Some(query),
        content_type: Some("application/x-www-form-urlencoded"),
        body: body.as_bytes(),
        ..WireRequest::default()
    };
    sensors_payload(&r, &DecodeLimits::default(), &mut no_reserve)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

const TOKEN: &str = "lcw_SensorsFixtureToken0000000000000";

#[test]
fn sensors_payload_forms_and_their_refusals() {
    let msg = br#"{"type":"track","event":"E","distinct_id":"u-1","time":1796454801357,"properties":{"a":">>>?"}}"#;
    let q = format!("project={TOKEN}");
    let code = |r: Result<SensorsPayload, WireError>| r.map(|_| ()).map_err(|e| (e.status, e.code));
    // `+` turned into spaces, and missing padding, still decode.
    let spaced = b64(msg).replace('+', " ").trim_end_matches('=').to_string();
    assert!(spaced.contains(' '), "{spaced}");
    assert_eq!(code(sensors(&q, &[("data", &spaced)])), Ok(()));
    // gzip without the flag is sniffed; the flag without gzip is refused.
    assert_eq!(
        code(sensors(&q, &[("data_list", &b64(&gzip(msg)))])),
        Ok(())
    );
    assert_eq!(
        code(sensors(&q, &[("data", &b64(msg)), ("gzip", "1")])),
        Err((400, "invalid_gzip"))
    );
    for (fields, want) in [
        (vec![("data", "x"), ("gzip", "9")], "encrypted_payload"),
        (vec![("data", "x"), ("gzip", "13")], "encrypted_payload"),
        (vec![("data", "x"), ("gzip", "2")], "invalid_gzip_flag"),
        (
            vec![("data", "eA=="), ("data_list", "eA==")],
            "ambiguous_payload",
        ),
        (vec![("crc", "1")], "missing_payload"),
        (vec![("data", "!!!")], "invalid_base64"),
    ] {
        assert_eq!(code(sensors(&q, &fields)), Err((400, want)), "{fields:?}");
    }
    let bad_form = WireRequest {
        query: Some(&q),
        body: b"data=%zz",
        ..WireRequest::default()
    };
    let err = sensors_payload(&bad_form, &DecodeLimits::default(), &mut no_reserve).unwrap_err();
    assert_eq!(err.code, "invalid_form");
    // A wrong checksum is reported, not refused.
    let p = sensors(&q, &[("data", &b64(msg)), ("crc", "12345")]).unwrap();
    assert!(p.checksum_mismatch.is_some());
    let text = b64(msg);
    let h = text
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let ext = format!("crc={h}");
    let p = sensors(&q, &[("data", &text), ("ext", &ext)]).unwrap();
    assert_eq!(p.checksum_mismatch, None);
}

#[test]
fn sensors_tokens_follow_the_request_then_the_messages() {
    let track = |extra: &str| {
        format!(r#"{{"type":"track","event":"E","distinct_id":"u","time":1796454801357{extra}}}"#)
    };
    let token_of = |query: &str, msg: &str| {
        let p = sensors(query, &[("data", &b64(msg.as_bytes()))]).unwrap();
        sensors_body(&p, &DecodeLimits::default())
            .map(|b| (b.token, b.meta.get("sensors_project").cloned()))
            .map_err(|e| (e.status, e.code))
    };
    assert_eq!(token_of("", &track("")), Ok((None, None)));
    assert_eq!(
        token_of("", &track(&format!(r#","project":"{TOKEN}""#))),
        Ok((Some(TOKEN.to_string()), None))
    );
    assert_eq!(
        token_of(&format!("project={TOKEN}"), &track(r#","project":"other""#)),
        Err((401, "inconsistent_api_key"))
    );
    assert_eq!(
        token_of(
            &format!("project=production&token={TOKEN}"),
            &track(r#","project":"x""#)
        ),
        Ok((
            Some(TOKEN.to_string()),
            Some(Value::String("production".to_string()))
        ))
    );
    let envelope = r#"{"pkv":1,"ekey":"k","payloads":["x"],"flush_time":1}"#;
    assert_eq!(token_of("", envelope), Err((400, "encrypted_payload")));
    assert_eq!(token_of("", "42"), Err((400, "unknown_shape")));
    // The borrowed read of the token fields agrees with a full parse: a null key is still present, a repeated key
    // counts by its last value, and a null token is no token.
    let envelope = r#"{"ekey":null,"payloads":null}"#;
    assert_eq!(token_of("", envelope), Err((400, "encrypted_payload")));
    assert_eq!(
        token_of(
            "",
            &track(&format!(r#","project":"other","project":"{TOKEN}""#))
        ),
        Ok((Some(TOKEN.to_string()), None))
    );
    assert_eq!(token_of("", &track(r#","token":null"#)), Ok((None, None)));
}

#[test]
fn sensors_items_and_bad_profiles_are_quarantined_with_their_reason() {
    let p = Project::new("p").unwrap();
    let list = r#"[
        {"type":"track","event":"A","distinct_id":"u","time":1796454801357},
        {"type":"item_set","item_type":"book","item_id":"1","time":1796454801357,"properties":{}},
        {"type":"track","event":"B","distinct_id":"u","time":1796454801357},
        {"type":"profile_increment","distinct_id":"u","time":1796454801357,"properties":{"n":"3"}},
        {"type":"profile_append","distinct_id":"u","time":1796454801357,"properties":{"l":[1]}},
        {"type":"whatever","distinct_id":"u","time":1796454801357},
        {"event":"no type","distinct_id":"u","time":1796454801357},
        {"type":"track","event":"C","distinct_id":"null","time":1796454801357}
    ]"#;
    let payload = sensors("", &[("data_list", &b64(list.as_bytes()))]).unwrap();
    let body = sensors_body(&payload, &DecodeLimits::default()).unwrap();
    let ctx = CaptureContext {
        now: Timestamp(1_796_454_900_000_000),
        query_sent_at: None,
        source: "http /sa r".to_string(),
    };
    let b = capture_batch(&p, body, &ctx);
    assert_eq!(b.accepted(), 2);
    let got: Vec<(usize, &str)> = b
        .quarantined
        .iter()
        .map(|q| (q.index, q.reason.code()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "unsupported_event_type"),
            (3, "invalid_properties"),
            (4, "invalid_properties"),
            (5, "invalid_sensors_type"),
            (6, "invalid_sensors_type"),
            (7, "placeholder_distinct_id"),
        ]
    );
}

#[test]
fn sensors_flush_time_corrects_the_clock() {
    let p = Project::new("p").unwrap();
    let now_ms: i64 = 1_796_454_900_000;
    let hour = 3_600_000;
    let msg = format!(
        r#"[{{"type":"track","event":"E","distinct_id":"u","time":{t},"_track_id":1,"_flush_time":{f}}},
            {{"type":"track","event":"E","distinct_id":"u","time":{t},"_flush_time":{f},"time_free":true}}]"#,
        t = now_ms + hour - 5000,
        f = now_ms + hour
    );
    let payload = sensors("", &[("data_list", &b64(msg.as_bytes()))]).unwrap();
    let body = sensors_body(&payload, &DecodeLimits::default()).unwrap();
    let ctx = CaptureContext {
        now: Timestamp(now_ms * 1000),
        query_sent_at: None,
        source: "http /sa r".to_string(),
    };
    let b = capture_batch(&p, body, &ctx);
    let ts: Vec<i64> = b
        .batch
        .events()
        .iter()
        .map(|e| e.timestamp.0 / 1000)
        .collect();
    assert_eq!(ts, vec![now_ms - 5000, now_ms + hour - 5000]);
}
