//! NDJSON import through the public API: one test per rejection reason, the worked examples of events.md, the
//! three shapes of §10.1 and idempotence of content-derived uuids.

use expect_test::{Expect, expect};

use liucun_ingest::{Config, ndjson_chunk, persons_ndjson};
use model::{EventBatch, MergeSource, PaymentKind, Project, RejectReason, Timestamp};

/// 2025-03-01T12:00:00Z, the import start of every test.
const NOW: Timestamp = Timestamp(1_740_830_400_000_000);

fn project() -> Project {
    Project::new("chat-app").unwrap()
}

fn import(ndjson: &str) -> EventBatch {
    ndjson_chunk(
        &project(),
        ndjson.as_bytes(),
        "events.ndjson",
        1,
        &Config::new(NOW),
    )
}

/// Imports one line that must be rejected and renders `reason: detail`.
#[track_caller]
fn assert_rejected(line: &str, want: Expect) {
    let batch = import(line);
    assert!(batch.events().is_empty(), "accepted: {:?}", batch.events());
    let [r] = batch.rejections() else {
        panic!("want one rejection, got {:?}", batch.rejections())
    };
    assert_eq!(r.raw, line.as_bytes());
    assert_eq!(r.source, "events.ndjson:1");
    assert_eq!(r.received_at, NOW);
    want.assert_eq(&format!("{}: {}", r.reason, r.detail));
}

/// Imports one line that must be accepted and renders its fields.
#[track_caller]
fn assert_accepted(line: &str, want: Expect) {
    let batch = import(line);
    assert!(
        batch.rejections().is_empty(),
        "rejected: {:?}",
        batch.rejections()
    );
    let [e] = batch.events() else {
        panic!("want one event")
    };
    let merge = e.merge.as_ref().map_or("-".to_string(), |m| {
        format!("{} <- {} ({})", m.kept, m.merged, m.source.as_str())
    });
    want.assert_eq(&format!(
        "distinct_id={} event={} ts={}\nproperties={}\nmeta={}\nmerge={merge}\n",
        e.distinct_id(),
        e.event(),
        e.timestamp.0,
        e.properties(),
        e.meta()
    ));
}

const OK: &str = r#""event":"signup","timestamp":"2025-03-01T10:00:00Z""#;

#[test]
fn missing_distinct_id() {
    assert_rejected(
        &format!("{{{OK}}}"),
        expect!["missing_distinct_id: `distinct_id` is missing"],
    );
    assert_rejected(
        &format!(r#"{{"distinct_id":"  ",{OK}}}"#),
        expect!["missing_distinct_id: `distinct_id` is empty"],
    );
}

#[test]
fn invalid_distinct_id() {
    assert_rejected(
        &format!(r#"{{"distinct_id":true,{OK}}}"#),
        expect!["invalid_distinct_id: `distinct_id` must be a string or a number, got a boolean"],
    );
}

#[test]
fn distinct_id_too_long() {
    let long = "x".repeat(201);
    assert_rejected(
        &format!(r#"{{"distinct_id":"{long}",{OK}}}"#),
        expect!["distinct_id_too_long: `distinct_id` has 201 characters, the limit is 200"],
    );
}

#[test]
fn placeholder_distinct_id() {
    assert_rejected(
        &format!(r#"{{"distinct_id":" 'Guest' ",{OK}}}"#),
        expect![[r#"placeholder_distinct_id: `distinct_id` " 'Guest' " is a placeholder id"#]],
    );
}

#[test]
fn missing_event_name() {
    assert_rejected(
        r#"{"distinct_id":"u-1","timestamp":"2025-03-01T10:00:00Z"}"#,
        expect!["missing_event_name: `event` is missing"],
    );
}

#[test]
fn empty_event_name() {
    assert_rejected(
        r#"{"distinct_id":"u-1","event":" ","timestamp":"2025-03-01T10:00:00Z"}"#,
        expect![[r#"empty_event_name: `event` " " is empty"#]],
    );
}

#[test]
fn event_name_too_long() {
    let long = "e".repeat(300);
    assert_rejected(
        &format!(r#"{{"distinct_id":"u-1","event":"{long}","timestamp":"2025-03-01T10:00:00Z"}}"#),
        expect!["event_name_too_long: `event` has 300 characters, the limit is 200"],
    );
}

#[test]
fn invalid_uuid() {
    assert_rejected(
        &format!(r#"{{"uuid":"not-a-uuid","distinct_id":"u-1",{OK}}}"#),
        expect![[r#"invalid_uuid: `uuid` "not-a-uuid" is not a hyphenated hex UUID"#]],
    );
}

#[test]
fn missing_timestamp() {
    assert_rejected(
        r#"{"distinct_id":"u-1","event":"signup"}"#,
        expect!["missing_timestamp: `timestamp` is missing"],
    );
}

#[test]
fn invalid_timestamp() {
    assert_rejected(
        r#"{"distinct_id":"u-1","event":"signup","timestamp":"last tuesday"}"#,
        expect![[r#"invalid_timestamp: `timestamp` "last tuesday" is not a timestamp"#]],
    );
}

#[test]
fn timestamp_too_old() {
    assert_rejected(
        r#"{"distinct_id":"u-1","event":"signup","timestamp":"1999-12-31T23:59:59Z"}"#,
        expect![
            "timestamp_too_old: `timestamp` 1999-12-31T23:59:59Z is before 2000-01-01T00:00:00Z"
        ],
    );
}

#[test]
fn timestamp_in_future() {
    // 23 h after the import start is the last accepted instant.
    assert_eq!(
        import(r#"{"distinct_id":"u-1","event":"e","timestamp":"2025-03-02T11:00:00Z"}"#)
            .events()
            .len(),
        1
    );
    assert_rejected(
        r#"{"distinct_id":"u-1","event":"signup","timestamp":"2025-03-02T11:00:00.000001Z"}"#,
        expect![
            "timestamp_in_future: `timestamp` 2025-03-02T11:00:00.000001Z is more than 23 h after the import start 2025-03-01T12:00:00Z"
        ],
    );
}

#[test]
fn invalid_properties() {
    assert_rejected(
        &format!(r#"{{"distinct_id":"u-1",{OK},"properties":[1]}}"#),
        expect!["invalid_properties: `properties` must be an object, got an array"],
    );
    let deep = format!("{}1{}", "[".repeat(64), "]".repeat(64));
    assert_rejected(
        &format!(r#"{{"distinct_id":"u-1",{OK},"properties":{{"a":{deep}}}}}"#),
        expect!["invalid_properties: `properties` is nested deeper than 64 levels"],
    );
    let ok = format!("{}1{}", "[".repeat(63), "]".repeat(63));
    assert_eq!(
        import(&format!(
            r#"{{"distinct_id":"u-1",{OK},"properties":{{"a":{ok}}}}}"#
        ))
        .events()
        .len(),
        1
    );
}

#[test]
fn event_too_large() {
    let big = "x".repeat(1 << 20);
    let line = format!(r#"{{"distinct_id":"u-1",{OK},"properties":{{"blob":"{big}"}}}}"#);
    let batch = import(&line);
    let r = &batch.rejections()[0];
    assert_eq!(r.reason, RejectReason::EventTooLarge);
    assert_eq!(r.raw.len(), line.len());
    expect!["event is 1048674 bytes, the limit is 1048576 bytes"].assert_eq(&r.detail);
}

#[test]
fn invalid_payment() {
    let pay = |props: &str| {
        format!(
            r#"{{"distinct_id":"u-1","event":"payment",{},"properties":{props}}}"#,
            &OK[17..]
        )
    };
    assert_rejected(
        &pay(r#"{"amount":"23.999","currency":"usd"}"#),
        expect![[
            r#"invalid_payment: `amount` "23.999" has more than 2 fraction digits, the limit for USD"#
        ]],
    );
    assert_rejected(
        &pay(r#"{"amount":"5","currency":"XYZ"}"#),
        expect![[r#"invalid_payment: `currency` "XYZ" is not a known ISO 4217 code"#]],
    );
    assert_rejected(
        &pay(r#"{"amount":-5,"currency":"EUR"}"#),
        expect!["invalid_payment: `amount` -5 is negative"],
    );
    assert_rejected(
        &pay(r#"{"amount":"5","currency":"EUR","kind":"gift"}"#),
        expect![[
            r#"invalid_payment: `kind` "gift" is not one of new, renewal, one_time, usage, refund, chargeback"#
        ]],
    );
    assert_rejected(
        &pay(r#"{"amount":"5","currency":"EUR","tax":"6"}"#),
        expect![[r#"invalid_payment: `tax` "6" is greater than `amount` "5""#]],
    );
    assert_rejected(
        &pay(r#"{"currency":"EUR"}"#),
        expect!["invalid_payment: `amount` is missing"],
    );
    assert_rejected(
        &pay(r#"{"amount":"100.5","currency":"JPY"}"#),
        expect![[
            r#"invalid_payment: `amount` "100.5" has more than 0 fraction digits, the limit for JPY"#
        ]],
    );
}

#[test]
fn invalid_segment_type() {
    assert_rejected(
        r#"{"type":"screenview","userId":"u-1","timestamp":"2025-03-01T10:00:00Z"}"#,
        expect![[
            r#"invalid_segment_type: `type` "screenview" is not one of track, identify, page, screen, group, alias"#
        ]],
    );
    assert_rejected(
        r#"{"userId":"u-1","event":"x","timestamp":"2025-03-01T10:00:00Z"}"#,
        expect!["invalid_segment_type: `type` is missing"],
    );
}

#[test]
fn unsupported_event_type() {
    assert_rejected(
        r#"{"distinct_id":"u-1","event":"$performance_event","timestamp":"2025-03-01T10:00:00Z"}"#,
        expect![[r#"unsupported_event_type: `event` "$performance_event" is not supported"#]],
    );
}

#[test]
fn malformed_event() {
    assert_rejected(
        "[1,2]",
        expect!["malformed_event: line is an array, not an object"],
    );
    assert_rejected(
        r#"{"distinct_id":"u-1""#,
        expect![
            "malformed_event: line is not JSON: EOF while parsing an object at line 1 column 20"
        ],
    );
}

#[test]
fn invalid_utf8_rejects_only_its_line() {
    let mut data = Vec::new();
    data.extend_from_slice(
        b"{\"distinct_id\":\"u-1\",\"event\":\"a\",\"timestamp\":\"2025-03-01\"}\n\n",
    );
    let bad = b"{\"distinct_id\":\"u-\xff\",\"event\":\"b\",\"timestamp\":\"2025-03-01\"}";
    data.extend_from_slice(bad);
    data.extend_from_slice(
        b"\r\n{\"distinct_id\":\"u-3\",\"event\":\"c\",\"timestamp\":\"2025-03-01\"}\n",
    );
    let batch = ndjson_chunk(&project(), &data, "f.ndjson", 10, &Config::new(NOW));
    let names: Vec<(&str, &str)> = batch
        .events()
        .iter()
        .map(|e| (e.event(), e.source()))
        .collect();
    assert_eq!(names, [("a", "f.ndjson:10"), ("c", "f.ndjson:13")]);
    let [r] = batch.rejections() else { panic!() };
    assert_eq!(
        (r.reason, r.source.as_str(), r.raw.as_slice()),
        (RejectReason::MalformedEvent, "f.ndjson:12", &bad[..])
    );
    expect!["line is not valid UTF-8 (at byte 18)"].assert_eq(&r.detail);
}

#[test]
fn timestamp_forms_of_the_spec() {
    let forms = [
        r#""2025-03-01T10:00:00Z""#,
        r#""2025-03-01T18:00:00+08:00""#,
        r#""2025-03-01T18:00:00+0800""#,
        r#""2025-03-01T18:00:00+08""#,
        r#""2025-03-01T10:00:00""#,
        r#""2025-03-01 10:00:00.000""#,
        "1740823200",
        "1740823200000",
        "1740823200000000",
    ];
    for f in forms {
        let batch = import(&format!(
            r#"{{"distinct_id":"u-1","event":"e","timestamp":{f}}}"#
        ));
        assert_eq!(
            batch.events()[0].timestamp,
            Timestamp(1_740_823_200_000_000),
            "{f}"
        );
    }
    let date_only = import(r#"{"distinct_id":"u-1","event":"e","timestamp":"2025-03-01"}"#);
    assert_eq!(
        date_only.events()[0].timestamp,
        Timestamp(1_740_787_200_000_000)
    );
}

#[test]
fn numbers_become_distinct_ids_and_nul_is_replaced() {
    assert_accepted(
        r#"{"distinct_id":23,"event":"e","timestamp":"2025-03-01","properties":{"price":1.50,"n":1e3}}"#,
        expect![[r#"
            distinct_id=23 event=e ts=1740787200000000
            properties={"n":1e+3,"price":1.50}
            meta={}
            merge=-
        "#]],
    );
    let batch = import(r#"{"distinct_id":"a\u0000b","event":"e","timestamp":"2025-03-01"}"#);
    assert_eq!(batch.events()[0].distinct_id(), "a\u{fffd}b");
}

#[test]
fn posthog_export_fields_go_to_meta_and_set_merges() {
    assert_accepted(
        r#"{"uuid":"0190A6B2-7C3D-7E4F-8A1B-2C3D4E5F6A7B","event":"$identify","distinct_id":"u-1","timestamp":"2025-03-01T10:00:00Z","properties":{"$anon_distinct_id":"anon-9","$set":{"plan":"free","a":1}},"$set":{"plan":"pro"},"$set_once":{"first":"x"},"elements_chain":"","person_id":"p-1","created_at":"2025-03-01T10:00:01Z"}"#,
        expect![[r#"
            distinct_id=u-1 event=$identify ts=1740823200000000
            properties={"$anon_distinct_id":"anon-9","$set":{"a":1,"plan":"pro"},"$set_once":{"first":"x"}}
            meta={"created_at":"2025-03-01T10:00:01Z","elements_chain":"","person_id":"p-1"}
            merge=u-1 <- anon-9 (identify)
        "#]],
    );
    let b = import(
        r#"{"uuid":"0190A6B2-7C3D-7E4F-8A1B-2C3D4E5F6A7B","event":"e","distinct_id":"u","timestamp":"2025-03-01"}"#,
    );
    assert_eq!(
        b.events()[0].uuid.to_string(),
        "0190a6b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b"
    );
}

#[test]
fn merges_with_placeholders_or_equal_ids_only_identify() {
    // A merge that cannot be applied still identifies the kept id (events.md §5.3.2), so it is handed on as a merge
    // with itself, or with the placeholder text for the identity log; `$merge_dangerously` then asks for nothing.
    let cases = [
        (
            "$identify",
            "$anon_distinct_id",
            "\"undefined\"",
            Some("undefined"),
        ),
        ("$identify", "$anon_distinct_id", "\"u-1\"", Some("u-1")),
        ("$identify", "$anon_distinct_id", "null", Some("u-1")),
        ("$create_alias", "alias", "\"guest\"", Some("guest")),
        ("$create_alias", "alias", "\"u-1\"", Some("u-1")),
        ("$merge_dangerously", "alias", "\"undefined\"", None),
        ("$merge_dangerously", "alias", "null", None),
        ("$merge_dangerously", "alias", "7", Some("7")),
    ];
    for (event, prop, other, want) in cases {
        let line = format!(
            r#"{{"distinct_id":"u-1","event":"{event}","timestamp":"2025-03-01","properties":{{"{prop}":{other}}}}}"#
        );
        let batch = import(&line);
        let merge = batch.events()[0].merge.as_ref();
        assert_eq!(merge.map(|m| m.merged.as_str()), want, "{line}");
        assert!(merge.is_none_or(|m| m.kept == "u-1"));
    }
    let m = import(
        r#"{"distinct_id":"u-1","event":"$merge_dangerously","timestamp":"2025-03-01","properties":{"alias":7}}"#,
    );
    assert_eq!(
        m.events()[0].merge.as_ref().map(|m| m.source),
        Some(MergeSource::MergeDangerously)
    );
}

#[test]
fn segment_messages() {
    assert_accepted(
        r#"{"type":"track","event":"Report Exported","userId":"u-42","anonymousId":"a-9c1","messageId":"msg-1","timestamp":"2025-03-01T08:15:00.250+00:00","properties":{"format":"pdf"},"context":{"library":{"name":"analytics-python","version":"2.4.0"}},"integrations":{},"sentAt":"2025-03-01T08:15:01Z"}"#,
        expect![[r#"
            distinct_id=u-42 event=Report Exported ts=1740816900250000
            properties={"$lib":"analytics-python","$lib_version":"2.4.0","$segment_context":{"library":{"name":"analytics-python","version":"2.4.0"}},"$segment_integrations":{},"$segment_message_id":"msg-1","format":"pdf"}
            meta={"sent_at":"2025-03-01T08:15:01Z"}
            merge=u-42 <- a-9c1 (segment_ids)
        "#]],
    );
    assert_accepted(
        r#"{"type":"identify","userId":"u-42","traits":{"plan":"pro"},"originalTimestamp":"2025-03-01"}"#,
        expect![[r#"
            distinct_id=u-42 event=$identify ts=1740787200000000
            properties={"$set":{"plan":"pro"}}
            meta={}
            merge=u-42 <- u-42 (segment_ids)
        "#]],
    );
    assert_accepted(
        r#"{"type":"page","anonymousId":"a-1","userId":null,"name":"Home","properties":{"url":"https://app.example/"},"timestamp":"2025-03-01"}"#,
        expect![[r#"
            distinct_id=a-1 event=$pageview ts=1740787200000000
            properties={"$current_url":"https://app.example/","name":"Home","url":"https://app.example/"}
            meta={}
            merge=-
        "#]],
    );
    assert_accepted(
        r#"{"type":"screen","userId":"u-1","name":"Chat","timestamp":"2025-03-01"}"#,
        expect![[r#"
            distinct_id=u-1 event=$screen ts=1740787200000000
            properties={"$screen_name":"Chat"}
            meta={}
            merge=u-1 <- u-1 (segment_ids)
        "#]],
    );
    assert_accepted(
        r#"{"type":"group","userId":"u-1","groupId":"org-7","traits":{"name":"Acme"},"timestamp":"2025-03-01"}"#,
        expect![[r#"
            distinct_id=u-1 event=$groupidentify ts=1740787200000000
            properties={"$group_key":"org-7","$group_set":{"name":"Acme"},"$group_type":"segment_group"}
            meta={}
            merge=u-1 <- u-1 (segment_ids)
        "#]],
    );
    assert_accepted(
        r#"{"type":"alias","userId":"u-1","previousId":"a-1","timestamp":"2025-03-01"}"#,
        expect![[r#"
            distinct_id=u-1 event=$create_alias ts=1740787200000000
            properties={"alias":"a-1"}
            meta={}
            merge=u-1 <- a-1 (segment_alias)
        "#]],
    );
    assert_rejected(
        r#"{"type":"track","event":"x","userId":"guest","timestamp":"2025-03-01"}"#,
        expect![[r#"placeholder_distinct_id: `userId` "guest" is a placeholder id"#]],
    );
    assert_rejected(
        r#"{"type":"track","event":"","userId":"u-1","timestamp":"2025-03-01"}"#,
        expect![[r#"empty_event_name: `event` "" is empty"#]],
    );
}

#[test]
fn segment_message_ids_give_uuids() {
    let line = |id: &str| {
        format!(
            r#"{{"type":"track","event":"x","userId":"u-1","messageId":"{id}","timestamp":"2025-03-01"}}"#
        )
    };
    let a = import(&line("0D2F0000-0000-4000-8000-000000000001")).events()[0].uuid;
    assert_eq!(a.to_string(), "0d2f0000-0000-4000-8000-000000000001");
    let b1 = import(&line("ajs-123")).events()[0].uuid;
    let b2 = import(&line("ajs-123")).events()[0].uuid;
    let c = import(&line("ajs-124")).events()[0].uuid;
    assert_eq!(b1, b2);
    assert_ne!(b1, c);
}

#[test]
fn ai_usage_and_cost() {
    let batch = import(
        r#"{"distinct_id":"u-1","event":"$ai_generation","timestamp":"2025-03-01","properties":{"$ai_model":"gpt-4o","$ai_provider":"openai","$ai_input_tokens":120,"$ai_output_tokens":"35","$ai_cache_read_input_tokens":0,"$ai_total_cost_usd":0.00123,"$process_person_profile":false}}"#,
    );
    let t = &batch.events()[0].typed;
    assert_eq!(
        (t.ai_model.as_deref(), t.ai_provider.as_deref()),
        (Some("gpt-4o"), Some("openai"))
    );
    assert_eq!(
        (
            t.ai_input_tokens,
            t.ai_output_tokens,
            t.ai_cache_read_tokens,
            t.ai_cache_write_tokens
        ),
        (Some(120), Some(35), Some(0), None)
    );
    assert_eq!(t.ai_cost_nusd, Some(1_230_000));
    assert!(t.personless && !t.ai_usage_invalid);
    let bad = import(
        r#"{"distinct_id":"u-1","event":"$ai_generation","timestamp":"2025-03-01","properties":{"$ai_input_tokens":-3,"$ai_reasoning_tokens":1.5}}"#,
    );
    let t = &bad.events()[0].typed;
    assert!(t.ai_usage_invalid);
    assert_eq!(t.ai_input_tokens, None);
}

#[test]
fn payment_examples() {
    let line = |kind: &str, uuid: &str| {
        format!(
            r#"{{"distinct_id":"u-1","event":"payment","timestamp":"2025-03-01",{uuid}"properties":{{"amount":"23.99","tax":"4.00","currency":"usd","kind":"{kind}","external_id":"ch_1","fee":1}}}}"#
        )
    };
    let new = import(&line(
        "new",
        r#""uuid":"0190a6b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b","#,
    ));
    let e = &new.events()[0];
    let p = e.typed.payment.as_ref().unwrap();
    assert_eq!(
        (
            p.amount_minor,
            p.tax_minor,
            p.fee_minor,
            p.currency.as_str(),
            p.kind
        ),
        (2399, 400, 100, "USD", PaymentKind::New)
    );
    assert_eq!(p.amount_minor - p.tax_minor, 1999);
    expect![[r#"{"replaced_uuid":"0190a6b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b"}"#]].assert_eq(e.meta());
    // The payment uuid depends only on the project, kind and external id.
    assert_eq!(import(&line("new", "")).events()[0].uuid, e.uuid);
    let refund = import(&line("refund", ""));
    let r = &refund.events()[0];
    assert!(r.typed.payment.as_ref().unwrap().kind.is_negative());
    assert_ne!(r.uuid, e.uuid);
    let yen = import(
        r#"{"distinct_id":"u-1","event":"payment","timestamp":"2025-03-01","properties":{"amount":1200,"currency":"JPY"}}"#,
    );
    let p = yen.events()[0].typed.payment.clone().unwrap();
    assert_eq!((p.amount_minor, p.kind), (1200, PaymentKind::OneTime));
    let dinar = import(
        r#"{"distinct_id":"u-1","event":"payment","timestamp":"2025-03-01","properties":{"amount":"1.005","currency":"kwd"}}"#,
    );
    assert_eq!(
        dinar.events()[0]
            .typed
            .payment
            .as_ref()
            .unwrap()
            .amount_minor,
        1005
    );
}

#[test]
fn importing_twice_gives_the_same_uuids_and_digests() {
    let data = "{\"distinct_id\":\"u-1\",\"event\":\"a\",\"timestamp\":\"2025-03-01\",\"properties\":{\"b\":1,\"a\":2}}\n\
                {\"distinct_id\":\"u-1\",\"event\":\"a\",\"timestamp\":\"2025-03-01\",\"properties\":{\"a\":2,\"b\":1}}\n\
                {\"distinct_id\":\"u-2\",\"event\":\"a\",\"timestamp\":\"2025-03-01\"}\n";
    let ids = |b: &EventBatch| {
        b.events()
            .iter()
            .map(|e| (e.uuid, e.digest))
            .collect::<Vec<_>>()
    };
    let first = ids(&import(data));
    let later = Config::new(Timestamp(NOW.0 + 3_600_000_000));
    let second = ids(&ndjson_chunk(
        &project(),
        data.as_bytes(),
        "other-name.ndjson",
        1,
        &later,
    ));
    assert_eq!(first, second);
    // Identical content (up to key order) collapses to one uuid; different content does not.
    assert_eq!(first[0], first[1]);
    assert_ne!(first[0].0, first[2].0);
}

#[test]
fn persons_import() {
    let data = r#"{"distinct_ids": ["u-1", "web-7f3"], "properties": {"plan": "pro"}, "created_at": "2024-02-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"}
{"distinct_ids": ["u-2", "guest"]}
{"distinct_ids": [5]}
not json
"#;
    let batch = persons_ndjson(
        &project(),
        data.as_bytes(),
        "persons.ndjson",
        &Config::new(NOW),
    );
    let persons: Vec<String> = batch
        .persons
        .iter()
        .map(|p| {
            format!(
                "{:?} {} {:?} {} {}",
                p.distinct_ids,
                p.properties,
                p.created_at.map(|t| t.0),
                p.updated_at.0,
                p.source
            )
        })
        .collect();
    let rejections: Vec<String> = batch
        .rejections
        .iter()
        .map(|r| format!("{} {}: {}", r.source, r.reason, r.detail))
        .collect();
    expect![[r#"
        ["[\"u-1\", \"web-7f3\"] {\"plan\":\"pro\"} Some(1706745600000000) 1735689600000000 persons.ndjson:1", "[\"5\"] {} None 1740830400000000 persons.ndjson:3"]
        ["persons.ndjson:2 placeholder_distinct_id: `distinct_ids[1]` \"guest\" is a placeholder id", "persons.ndjson:4 invalid_person: line is not JSON: expected ident at line 1 column 2"]
    "#]]
    .assert_eq(&format!("{persons:?}\n{rejections:?}\n"));
}
