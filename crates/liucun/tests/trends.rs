//! The trends report (activity.md §1) end to end: the spec's worked examples, property math, breakdowns with
//! Other, several projects, a naive reference compared on random data, and `verify` round trips.

mod fixture;

use std::collections::{BTreeMap, BTreeSet};

use liucun::Engine;
use liucun::model::Timestamp;
use proptest::prelude::*;
use report::trends::{PointValue, TrendsReport};
use report::{Kind, Report, Request};
use serde_json::{Value, json};

/// Runs a trends report from its JSON parameters, and checks that `verify` re-derives it.
#[track_caller]
fn trends(engine: &Engine, params: Value) -> TrendsReport {
    let request = Request::from_json(Kind::Trends, &params).unwrap();
    let Report::Trends(r) = engine.report(request, Timestamp(0)).unwrap() else {
        panic!("a trends report")
    };
    let v = engine.verify(&Report::Trends(r.clone()).to_json()).unwrap();
    assert!(v.matches, "{:?}", v.differences);
    r
}

fn values(r: &TrendsReport, series: usize) -> Vec<String> {
    r.series[series]
        .points
        .iter()
        .map(|p| match p.value {
            PointValue::Count(n) => n.to_string(),
            PointValue::Ratio(v) => v.map_or("-".into(), |v| v.to_string()),
            PointValue::Number(n) => n.map_or("-".into(), |n| n.text()),
        })
        .collect()
}

#[test]
fn the_rolling_windows_of_the_spec_example() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = fixture::open(&tmp.path().join("data"));
    let at = |d: u32| format!("2025-06-{d:02}T10:00:00Z");
    fixture::import_rows(
        &engine,
        "p",
        &[
            ("p", "chat", &at(1), json!({})),
            ("p", "chat", &at(5), json!({})),
            ("q", "chat", &at(5), json!({})),
            ("r", "chat", &at(7), json!({})),
        ],
    );
    let r = trends(
        &engine,
        json!({"projects": ["p"], "date_from": "2025-06-01", "date_to": "2025-06-07",
               "as_of": "2025-07-01T00:00:00Z",
               "series": [{"math": "dau"}, {"math": "wau"}, {"math": "mau"}, {"math": "dau_mau"},
                          {"math": "total"}, {"math": "unique_persons"}]}),
    );
    assert_eq!(values(&r, 0), ["1", "0", "0", "0", "2", "0", "1"]);
    assert_eq!(values(&r, 1), ["1", "1", "1", "1", "2", "2", "3"]);
    assert_eq!(values(&r, 2)[6], "3");
    assert_eq!(values(&r, 3)[6], "0.333333");
    assert_eq!(r.series[3].points[6].ci95, Some((0.061492, 0.79234)));
    assert_eq!(values(&r, 4), ["1", "0", "0", "0", "2", "0", "1"]);
    assert_eq!(r.series[3].label, "any activity · DAU/MAU");
    let json = Report::Trends(r).to_json();
    assert_eq!(json["kind"], "trends");
    assert_eq!(json["window"]["periods"], 7);
    assert_eq!(json["series"][3]["points"][6]["dau"], 1);
    assert_eq!(json["series"][3]["points"][6]["mau"], 3);
}

#[test]
fn property_math_is_exact_and_counts_missing_values() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = fixture::open(&tmp.path().join("data"));
    let t = "2025-06-01T10:00:00Z";
    fixture::import_rows(
        &engine,
        "p",
        &[
            (
                "a",
                "$ai_generation",
                t,
                json!({"$ai_latency": 0.5, "$ai_model": "gpt"}),
            ),
            (
                "b",
                "$ai_generation",
                t,
                json!({"$ai_latency": 2, "$ai_model": "gpt"}),
            ),
            (
                "c",
                "$ai_generation",
                t,
                json!({"$ai_latency": "n/a", "$ai_model": "qwen"}),
            ),
            (
                "c",
                "$ai_generation",
                "2025-06-02T10:00:00Z",
                json!({"$ai_latency": 0.1, "$ai_model": "qwen"}),
            ),
            (
                "c",
                "$ai_generation",
                "2025-06-02T11:00:00Z",
                json!({"$ai_latency": "0.2", "$ai_model": "qwen"}),
            ),
        ],
    );
    let series = |math: &str| json!({"entity": {"event": "$ai_generation"}, "math": math, "math_property": "$ai_latency"});
    let r = trends(
        &engine,
        json!({"projects": ["p"], "date_from": "2025-06-01", "date_to": "2025-06-03",
               "as_of": "2025-07-01T00:00:00Z",
               "series": [series("sum"), series("median"), series("p90"), series("avg"), series("min"), series("max")]}),
    );
    assert_eq!(values(&r, 0), ["2.5", "0.3", "-"]);
    assert_eq!(values(&r, 1), ["1.25", "0.15", "-"]);
    assert_eq!(values(&r, 2), ["1.85", "0.19", "-"]);
    assert_eq!(values(&r, 3), ["1.25", "0.15", "-"]);
    assert_eq!(values(&r, 4), ["0.5", "0.1", "-"]);
    assert_eq!(r.series[0].points[0].count, Some(2));
    assert_eq!(r.series[0].points[0].missing, Some(1));
    assert_eq!(r.series[0].points[2].missing, Some(0));
    assert_eq!(r.series[2].label, "$ai_generation · p90 of $ai_latency");
    // "output tokens per day by model": a breakdown by an event property, top 1 and Other.
    let r = trends(
        &engine,
        json!({"projects": ["p"], "date_from": "2025-06-01", "date_to": "2025-06-02",
               "as_of": "2025-07-01T00:00:00Z", "breakdown": {"property": "$ai_model", "limit": 1},
               "series": [series("sum")]}),
    );
    assert_eq!(r.series.len(), 2);
    assert_eq!(r.series[0].breakdown_value.as_deref(), Some("gpt"));
    assert_eq!(values(&r, 0), ["2.5", "-"]);
    assert!(r.series[1].is_other);
    assert_eq!(values(&r, 1), ["-", "0.3"]);
    let json = Report::Trends(r).to_json();
    assert_eq!(json["breakdown_values"][0]["values"], json!(["gpt", null]));
}

#[test]
fn invalid_series_are_refused_naming_the_field() {
    let bad = [
        (
            json!({"projects": ["p"], "series": [{"math": "p95"}]}),
            "series[0].math_property",
        ),
        (
            json!({"projects": ["p"], "series": [{"math": "total", "math_property": "x"}]}),
            "series[0].math_property",
        ),
        (
            json!({"projects": ["p"], "interval": "week", "series": [{"math": "dau"}]}),
            "series[0].math",
        ),
        (json!({"projects": ["p"], "series": []}), "series"),
        (
            json!({"projects": ["p"], "series": [{"math": "p42"}]}),
            "series[0].math",
        ),
        (json!({"projects": ["p"], "period": "day"}), "period"),
    ];
    for (params, field) in bad {
        let err = Request::from_json(Kind::Trends, &params)
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{params}: {err}");
    }
}

#[test]
fn a_table_without_uuids_is_not_reused_for_a_report_that_needs_them() {
    // One person with two distinct ids and two events at the same instant. Segments keep rows in
    // (distinct_id, timestamp, uuid) order, so scan order puts `a`'s signup (uuid ffff…) before `b`'s chat
    // (uuid 0000…), while first-ever retention breaks the tie by uuid: the chat is the anchor, it fails the target
    // filter, and the person joins no cohort. A table loaded without uuids (by a first-time report over the same
    // window) must not be reused for it.
    let tmp = tempfile::tempdir().unwrap();
    let engine = fixture::open(&tmp.path().join("data"));
    let t = "2025-06-01T10:00:00Z";
    let rows = [
        json!({"uuid": "00000000-0000-4000-8000-00000000000a", "distinct_id": "b", "event": "$identify",
               "timestamp": "2025-05-01T10:00:00Z", "properties": {"$anon_distinct_id": "a"}}),
        json!({"uuid": "ffffffff-0000-4000-8000-000000000001", "distinct_id": "a", "event": "signup",
               "timestamp": t, "properties": {"src": "ad"}}),
        json!({"uuid": "00000000-0000-4000-8000-000000000002", "distinct_id": "b", "event": "chat",
               "timestamp": t}),
        json!({"uuid": "00000000-0000-4000-8000-000000000003", "distinct_id": "a", "event": "chat",
               "timestamp": "2025-06-02T10:00:00Z"}),
    ];
    let text: String = rows.iter().map(|r| r.to_string() + "\n").collect();
    engine.import_batch(fixture::batch("p", &text)).unwrap();
    engine.flush().unwrap();
    let run = |ty: &str| {
        let request = Request::from_json(
            Kind::Retention,
            &json!({"projects": ["p"], "retention_type": ty,
                    "target": {"event": ["signup", "chat"], "properties": [{"key": "src", "operator": "eq", "value": "ad"}]},
                    "date_from": "2025-06-01", "date_to": "2025-06-02", "total_intervals": 2,
                    "as_of": "2025-07-01T00:00:00Z"}),
        )
        .unwrap();
        engine.report(request, Timestamp(0)).unwrap().to_json()
    };
    let cohort = |r: &Value| r["rows"][0]["size"].clone();
    let first_time = run("first_time");
    assert_eq!(cohort(&first_time), 1, "first-time: the signup matches");
    let warm = run("first_ever");
    assert_eq!(
        cohort(&warm),
        0,
        "first-ever after first-time: the uuid-first event is the anchor"
    );
}

/// The naive reference of trends' counting maths (§1.1–1.2) for one project, days in UTC.
fn naive(events: &[(u8, u32, bool)], days: u32, math: &str) -> Vec<u64> {
    let mut by_day: BTreeMap<u32, BTreeSet<u8>> = BTreeMap::new();
    let mut count: BTreeMap<u32, u64> = BTreeMap::new();
    for &(who, day, matches) in events {
        if matches {
            by_day.entry(day).or_default().insert(who);
            *count.entry(day).or_default() += 1;
        }
    }
    let window = |d: u32, w: u32| -> u64 {
        let mut set: BTreeSet<u8> = BTreeSet::new();
        for day in d.saturating_sub(w - 1)..=d {
            set.extend(by_day.get(&day).into_iter().flatten());
        }
        set.len() as u64
    };
    // Days 30.. are shown; 0..30 are look-back only.
    (30..30 + days)
        .map(|d| match math {
            "total" => count.get(&d).copied().unwrap_or(0),
            "unique_persons" | "dau" => window(d, 1),
            "wau" => window(d, 7),
            _ => window(d, 30),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn counting_maths_match_a_naive_reference(
        events in prop::collection::vec((0u8..8, 0u32..45, any::<bool>()), 0..60),
        flush_every in 1usize..20,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let engine = fixture::open(&tmp.path().join("data"));
        let day = |d: u32| jiff::Timestamp::from_second(1_748_736_000 + i64::from(d) * 86_400 + 3600).unwrap().to_string();
        for (n, chunk) in events.chunks(flush_every).enumerate() {
            let mut text = String::new();
            for (i, &(who, d, matches)) in chunk.iter().enumerate() {
                let uuid = format!("00000000-0000-4000-8000-{:012x}", n * 1000 + i + 1);
                let name = if matches { "chat" } else { "$set" };
                text += &json!({"uuid": uuid, "distinct_id": format!("u{who}"), "event": name, "timestamp": day(d)}).to_string();
                text.push('\n');
            }
            engine.import_batch(fixture::batch("p", &text)).unwrap();
            engine.flush().unwrap();
        }
        let from = day(30)[..10].to_string();
        let to = day(44)[..10].to_string();
        let maths = ["total", "unique_persons", "dau", "wau", "mau"];
        let series: Vec<Value> = maths.iter().map(|m| json!({"math": m})).collect();
        let request = Request::from_json(Kind::Trends, &json!({"projects": ["p"], "date_from": from, "date_to": to,
            "as_of": "2026-01-01T00:00:00Z", "series": series})).unwrap();
        let Report::Trends(r) = engine.report(request, Timestamp(0)).unwrap() else { panic!() };
        for (i, m) in maths.iter().enumerate() {
            let got: Vec<u64> = r.series[i].points.iter().map(|p| match p.value { PointValue::Count(n) => n, _ => u64::MAX }).collect();
            prop_assert_eq!(got, naive(&events, 15, m), "{}", m);
        }
    }
}

#[test]
fn a_report_past_its_deadline_stops_and_caches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = fixture::open(&tmp.path().join("data"));
    let rows: Vec<(String, String)> = (0..50)
        .map(|i| {
            (
                format!("u{i}"),
                format!("2025-06-{:02}T10:00:00Z", 1 + i % 9),
            )
        })
        .collect();
    let rows: Vec<(&str, &str, &str, Value)> = rows
        .iter()
        .map(|(u, t)| (u.as_str(), "chat", t.as_str(), json!({})))
        .collect();
    fixture::import_rows(&engine, "p", &rows);
    let params = json!({"projects": ["p"], "date_from": "2025-06-01", "date_to": "2025-06-09",
                        "as_of": "2025-06-20T00:00:00Z", "series": [{"entity": {"event": null}, "math": "dau"}]});
    for kind_params in [
        (Kind::Trends, params.clone()),
        (
            Kind::Retention,
            json!({"projects": ["p"], "date_from": "2025-06-01", "as_of": "2025-06-20T00:00:00Z"}),
        ),
    ] {
        let request = Request::from_json(kind_params.0, &kind_params.1).unwrap();
        let e = engine
            .report_within(request, Timestamp(0), Some(std::time::Instant::now()))
            .unwrap_err();
        assert!(
            matches!(e, liucun::Error::Report(report::Error::TimedOut)),
            "{e}"
        );
    }
    // Nothing half-loaded was kept: the same report without a deadline counts every event.
    let r = trends(&engine, params);
    let total: u64 = values(&r, 0)
        .iter()
        .map(|v| v.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 50);
}

#[test]
fn notes_say_when_the_window_is_empty_the_data_ends_early_or_an_event_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = fixture::open(&tmp.path().join("data"));
    fixture::import_rows(
        &engine,
        "p",
        &[("a", "chat", "2025-03-01T10:00:00Z", json!({}))],
    );
    let codes = |params: Value| -> Vec<String> {
        let r = engine
            .report(
                Request::from_json(Kind::Trends, &params).unwrap(),
                Timestamp(0),
            )
            .unwrap();
        let table = r.to_table(report::render::Color::Plain);
        let notes = &r.provenance().notes;
        for n in notes {
            assert!(table.contains(&n.text), "the table prints {:?}", n.text);
        }
        notes.iter().map(|n| n.code.to_string()).collect()
    };
    let series = json!([{"entity": {"event": "chat"}, "math": "total"}]);
    // The README's mistake: no dates, as_of long after the data.
    assert_eq!(
        codes(json!({"projects": ["p"], "series": series, "as_of": "2026-12-01T00:00:00Z"})),
        ["empty_window"]
    );
    assert_eq!(
        codes(
            json!({"projects": ["p"], "series": series, "date_from": "2025-02-25",
                     "date_to": "2025-03-10", "as_of": "2026-12-01T00:00:00Z"})
        ),
        ["data_ends_before_window"]
    );
    assert_eq!(
        codes(
            json!({"projects": ["p"], "date_from": "2025-02-25", "date_to": "2025-03-01",
                     "series": [{"entity": {"event": "chta"}, "math": "total"}],
                     "as_of": "2025-03-01T12:00:00Z"})
        ),
        ["event_not_found"]
    );
    assert_eq!(
        codes(json!({"projects": ["nope"], "series": series, "as_of": "2025-03-02T00:00:00Z"})),
        ["no_data"]
    );
    assert!(
        codes(
            json!({"projects": ["p"], "series": series, "date_from": "2025-02-25",
                     "date_to": "2025-03-01", "as_of": "2025-03-01T12:00:00Z"})
        )
        .is_empty()
    );
}
