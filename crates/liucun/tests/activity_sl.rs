//! Stickiness and lifecycle (activity.md §2, §3) through the engine: the spec's worked examples, time zones with
//! clock changes, validation errors naming the field, a `verify` round trip, and a naive reference implementation
//! written from the spec compared with the engine on random small event sets.

mod fixture;

use std::collections::{BTreeMap, BTreeSet};

use liucun::Engine;
use liucun::model::Timestamp;
use report::{Kind, Request};
use serde_json::{Value, json};

/// An engine holding these (distinct_id, event, RFC 3339 instant) events in project `p`.
fn engine_with(dir: &std::path::Path, events: &[(&str, &str, String)]) -> Engine {
    let engine = fixture::open(&dir.join("data"));
    let mut text = String::new();
    for (n, (who, name, ts)) in events.iter().enumerate() {
        text += &format!(
            r#"{{"uuid":"00000000-0000-4000-8000-{n:012x}","distinct_id":"{who}","event":"{name}","timestamp":"{ts}"}}"#
        );
        text.push('\n');
    }
    if !text.is_empty() {
        engine.import_batch(fixture::batch("p", &text)).unwrap();
    }
    engine.flush().unwrap();
    engine
}

fn report(engine: &Engine, kind: Kind, params: Value) -> Value {
    let mut params = params;
    params["projects"] = json!(["p"]);
    engine
        .report(Request::from_json(kind, &params).unwrap(), Timestamp(0))
        .unwrap()
        .to_json()
}

fn error(kind: Kind, params: Value) -> String {
    let mut params = params;
    params["projects"] = json!(["p"]);
    Request::from_json(kind, &params).unwrap_err().to_string()
}

/// Noon in Berlin (summer) on 2025-06-DD.
fn june(day: u32) -> String {
    format!("2025-06-{day:02}T10:00:00Z")
}

#[test]
fn stickiness_spec_example_in_berlin() {
    let tmp = tempfile::tempdir().unwrap();
    let mut events = vec![("q", "$pageview", june(5))];
    for d in [2, 4, 6] {
        events.push(("p", "$pageview", june(d)));
    }
    for d in [3, 5, 8] {
        events.push(("s", "$pageview", june(d)));
    }
    for d in 2..=8 {
        events.push(("r", "$pageview", june(d)));
    }
    // Outside the range, and a non-activity event.
    events.push(("q", "$pageview", june(1)));
    events.push(("q", "$set", june(6)));
    let engine = engine_with(tmp.path(), &events);
    let base = json!({"date_from": "2025-06-02", "date_to": "2025-06-08", "timezone": "Europe/Berlin",
                      "as_of": "2025-06-20T00:00:00Z"});
    let r = report(&engine, Kind::Stickiness, base.clone());
    assert_eq!(r["kind"], "stickiness");
    assert_eq!(
        r["definition"],
        "Persons by the number of days (Europe/Berlin) in which they did any activity event."
    );
    assert_eq!(
        r["window"],
        json!({"from": "2025-06-02T00:00:00+02:00", "to_inclusive": "2025-06-08T23:59:59.999999+02:00",
               "first_period": "2025-06-02T00:00:00+02:00", "last_period": "2025-06-08T00:00:00+02:00",
               "periods": 7, "buckets": 7})
    );
    assert_eq!(r["label"], "any activity");
    assert_eq!(r["data"], json!([1, 0, 2, 0, 0, 0, 1]));
    assert_eq!(
        r["labels"],
        json!([
            "1 day", "2 days", "3 days", "4 days", "5 days", "6 days", "7 days"
        ])
    );
    assert_eq!(r["count"], 4);
    assert_eq!(r["share"], json!([0.25, 0.0, 0.5, 0.0, 0.0, 0.0, 0.25]));
    assert_eq!(r["ci95"][0], json!([0.045587, 0.699358]));
    assert_eq!(r["ci95"][1], json!([0.0, 0.489891]));
    assert_eq!(r["ci95"][2], json!([0.150039, 0.849961]));
    assert_eq!(r["incomplete"], false);
    assert_eq!(r["parameters"]["interval"], "day");

    let mut cumulative = base.clone();
    cumulative["cumulative"] = json!(true);
    let r = report(&engine, Kind::Stickiness, cumulative);
    assert_eq!(r["data"], json!([4, 3, 3, 1, 1, 1, 1]));
    assert_eq!(r["labels"][2], "3 days or more");

    let mut k3 = base.clone();
    k3["interval_count"] = json!(3);
    let r = report(&engine, Kind::Stickiness, k3);
    // Buckets {06-08, 06-07, 06-06}, {06-05, 06-04, 06-03}, {06-02}: p 3, q 1, r 3, s 2.
    assert_eq!(r["window"]["buckets"], 3);
    assert_eq!(r["data"], json!([1, 1, 2]));
    assert_eq!(
        r["labels"],
        json!(["1 × 3-day period", "2 × 3-day periods", "3 × 3-day periods"])
    );

    // Criteria: only r's... every person has one event per day; gte 2 makes no bucket active.
    let mut gte = base.clone();
    gte["criteria"] = json!({"operator": "gte", "value": 2});
    let r = report(&engine, Kind::Stickiness, gte);
    assert_eq!(r["count"], 0);
    assert_eq!(r["share"][0], Value::Null);
    assert_eq!(r["ci95"][0], Value::Null);

    // Incomplete while 06-08 has not ended at as_of.
    let mut open = base;
    open["as_of"] = json!("2025-06-08T12:00:00Z");
    let r = report(&engine, Kind::Stickiness, open);
    assert_eq!(r["incomplete"], true);
}

#[test]
fn stickiness_weeks_start_at_date_from_s_day() {
    let tmp = tempfile::tempdir().unwrap();
    // a: Tue 06-03 (before the bound) and Fri 06-06; b: Mon 06-02, Wed 06-11 and Tue 06-17.
    let events = vec![
        ("a", "x", june(3)),
        ("a", "x", june(6)),
        ("b", "x", june(2)),
        ("b", "x", june(11)),
        ("b", "x", june(17)),
    ];
    let engine = engine_with(tmp.path(), &events);
    let r = report(
        &engine,
        Kind::Stickiness,
        json!({"interval": "week", "date_from": "2025-06-05", "date_to": "2025-06-22",
               "as_of": "2025-07-01T00:00:00Z"}),
    );
    assert_eq!(r["window"]["periods"], 3);
    assert_eq!(r["window"]["from"], "2025-06-05T00:00:00+00:00");
    assert_eq!(r["window"]["first_period"], "2025-06-02T00:00:00+00:00");
    assert_eq!(r["data"], json!([1, 1, 0]));
}

#[test]
fn stickiness_relative_bounds_and_hours() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = engine_with(tmp.path(), &[]);
    // `-2d` moves to local midnight even with hours; `-6h` stays exact; no date_to is as_of exactly.
    let r = report(
        &engine,
        Kind::Stickiness,
        json!({"interval": "hour", "date_from": "-2d", "timezone": "Europe/Berlin",
               "as_of": "2025-06-10T10:30:00Z"}),
    );
    assert_eq!(r["window"]["from"], "2025-06-08T00:00:00+02:00");
    assert_eq!(r["window"]["to_inclusive"], "2025-06-10T12:30:00+02:00");
    assert_eq!(r["window"]["periods"], 61);
    let r = report(
        &engine,
        Kind::Stickiness,
        json!({"interval": "hour", "date_from": "-6h", "as_of": "2025-06-10T10:30:00Z"}),
    );
    assert_eq!(r["window"]["from"], "2025-06-10T04:30:00+00:00");
    assert_eq!(r["window"]["first_period"], "2025-06-10T04:00:00+00:00");
    assert_eq!(r["window"]["periods"], 7);
    // The default `-30d` moves to midnight too, and day ranges end at the end of date_to's day.
    let r = report(
        &engine,
        Kind::Stickiness,
        json!({"as_of": "2025-06-10T10:30:00Z"}),
    );
    assert_eq!(r["parameters"]["date_from"], "-30d");
    assert_eq!(r["window"]["from"], "2025-05-11T00:00:00+00:00");
    assert_eq!(
        r["window"]["to_inclusive"],
        "2025-06-10T23:59:59.999999+00:00"
    );
    assert_eq!(r["window"]["periods"], 31);
    assert_eq!(r["incomplete"], true);
}

#[test]
fn stickiness_across_a_clock_change() {
    let tmp = tempfile::tempdir().unwrap();
    // New York springs forward on 2025-03-09: that day has 23 hours. Events at local 23:30 on 03-08 and 03-09.
    let events = vec![
        ("a", "x", "2025-03-09T04:30:00Z".to_string()),
        ("a", "x", "2025-03-10T03:30:00Z".to_string()),
        ("b", "x", "2025-03-10T04:30:00Z".to_string()),
    ];
    let engine = engine_with(tmp.path(), &events);
    let r = report(
        &engine,
        Kind::Stickiness,
        json!({"date_from": "2025-03-08", "date_to": "2025-03-10", "timezone": "America/New_York",
               "as_of": "2025-04-01T00:00:00Z"}),
    );
    assert_eq!(r["window"]["from"], "2025-03-08T00:00:00-05:00");
    assert_eq!(
        r["window"]["to_inclusive"],
        "2025-03-10T23:59:59.999999-04:00"
    );
    assert_eq!(r["data"], json!([1, 1, 0]));
}

#[test]
fn stickiness_validation_names_the_field() {
    let e = error(
        Kind::Stickiness,
        json!({"criteria": {"operator": "gt", "value": 3}}),
    );
    assert!(e.contains("criteria.operator"), "{e}");
    let e = error(
        Kind::Stickiness,
        json!({"criteria": {"operator": "gte", "value": -1}}),
    );
    assert!(e.contains("criteria.value"), "{e}");
    let e = error(
        Kind::Stickiness,
        json!({"criteria": {"operator": "gte", "value": 1.5}}),
    );
    assert!(e.contains("criteria.value"), "{e}");
    let e = error(Kind::Stickiness, json!({"interval_count": 0}));
    assert!(e.contains("interval_count"), "{e}");
    let e = error(Kind::Stickiness, json!({"intervall": "day"}));
    assert!(e.contains("intervall"), "{e}");
    let e = error(
        Kind::Stickiness,
        json!({"breakdown": {"type": "event", "property": "x"}}),
    );
    assert!(e.contains("breakdown"), "{e}");
    // `lte 0` is accepted and makes no bucket active.
    let mut ok = json!({"criteria": {"operator": "lte", "value": 0}});
    ok["projects"] = json!(["p"]);
    Request::from_json(Kind::Stickiness, &ok).unwrap();
}

#[test]
fn stickiness_verify_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = engine_with(tmp.path(), &[("a", "x", june(3)), ("b", "x", june(4))]);
    let r = report(
        &engine,
        Kind::Stickiness,
        json!({"timezone": "Europe/Berlin", "as_of": "2025-06-10T00:00:00Z"}),
    );
    let v = engine.verify(&r).unwrap();
    assert!(v.matches, "{:?}", v.differences);
    let mut params = r["parameters"].clone();
    params["projects"] = json!(["p"]);
    let report = engine
        .report(
            Request::from_json(Kind::Stickiness, &params).unwrap(),
            Timestamp(0),
        )
        .unwrap();
    assert!(report.to_svg(None).unwrap().starts_with("<svg"));
    assert!(report.to_csv().starts_with("label,"));
    assert!(
        report
            .to_table(report::render::Color::Plain)
            .contains("1 day")
    );
}

// ---- a naive reference from the spec, on random small event sets ----

const DAY_US: i64 = 86_400_000_000;
const HOUR_US: i64 = 3_600_000_000;
/// 2025-06-02T00:00:00Z, a Monday.
const BASE_US: i64 = 1_748_822_400_000_000;

#[derive(Debug, Clone, Copy)]
enum Unit {
    Hour,
    Day,
    Week,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Hour => "hour",
            Unit::Day => "day",
            Unit::Week => "week",
        }
    }
    fn len(self) -> i64 {
        match self {
            Unit::Hour => HOUR_US,
            Unit::Day => DAY_US,
            Unit::Week => 7 * DAY_US,
        }
    }
}

fn rfc(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us).unwrap().to_string()
}

/// Random events: (person index, offset in hours from BASE, name index). Persons 0..5, names a/b/$set.
type Ev = (u8, u32, u8);

const NAMES: [&str; 3] = ["a", "b", "$set"];

fn build(dir: &std::path::Path, events: &[Ev], merge: Option<(u8, u8)>) -> Engine {
    let mut list: Vec<(String, &str, String)> = events
        .iter()
        .map(|&(p, h, n)| {
            (
                format!("u{p}"),
                NAMES[n as usize],
                rfc(BASE_US + i64::from(h) * HOUR_US + 60_000_000),
            )
        })
        .collect();
    let mut text = String::new();
    if let Some((a, b)) = merge {
        // u{b} becomes u{a}'s person (an `$identify`, itself an activity event).
        text += &format!(
            r#"{{"uuid":"00000000-0000-4000-8000-ffffffffffff","distinct_id":"u{a}","event":"$identify","timestamp":"{}","properties":{{"$anon_distinct_id":"u{b}"}}}}"#,
            rfc(BASE_US)
        );
        text.push('\n');
    }
    for (n, (who, name, ts)) in list.drain(..).enumerate() {
        text += &format!(
            r#"{{"uuid":"00000000-0000-4000-8000-{n:012x}","distinct_id":"{who}","event":"{name}","timestamp":"{ts}"}}"#
        );
        text.push('\n');
    }
    let engine = fixture::open(&dir.join("data"));
    engine.import_batch(fixture::batch("p", &text)).unwrap();
    engine.flush().unwrap();
    engine
}

/// (person key, instant, name) after merging.
fn naive_events(events: &[Ev], merge: Option<(u8, u8)>) -> Vec<(u8, i64, &'static str)> {
    let person = |p: u8| match merge {
        Some((a, b)) if p == b => a,
        _ => p,
    };
    let mut out: Vec<(u8, i64, &'static str)> = events
        .iter()
        .map(|&(p, h, n)| {
            (
                person(p),
                BASE_US + i64::from(h) * HOUR_US + 60_000_000,
                NAMES[n as usize],
            )
        })
        .collect();
    if let Some((a, _)) = merge {
        out.push((a, BASE_US, "$identify"));
    }
    out
}

fn naive_stickiness(
    events: &[(u8, i64, &str)],
    unit: Unit,
    k: i64,
    from: i64,
    to_inclusive: i64,
    as_of: i64,
) -> Vec<u64> {
    let len = unit.len();
    let period = |t: i64| (t - BASE_US).div_euclid(len);
    let last = period(to_inclusive);
    let first = period(from);
    let n_buckets = (last - first + 1 + k - 1) / k;
    let mut active: BTreeMap<u8, BTreeSet<i64>> = BTreeMap::new();
    for &(p, t, name) in events {
        if name == "$set" || t < from || t > to_inclusive || t > as_of {
            continue;
        }
        active.entry(p).or_default().insert((last - period(t)) / k);
    }
    let mut out = vec![0u64; n_buckets as usize];
    for b in active.values() {
        out[b.len() - 1] += 1;
    }
    out
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    #[test]
    fn stickiness_matches_a_naive_reference(
        events in proptest::collection::vec((0u8..5, 0u32..24 * 21, 0u8..3), 0..30),
        unit in 0u8..3,
        k in 1i64..4,
        merge in proptest::option::of((0u8..5, 0u8..5)),
    ) {
        let merge = merge.filter(|(a, b)| a != b);
        let unit = [Unit::Hour, Unit::Day, Unit::Week][unit as usize];
        let tmp = tempfile::tempdir().unwrap();
        let engine = build(tmp.path(), &events, merge);
        // UTC, absolute bounds on period starts: from day 2 to day 15 (day and week end at day's end; hour exact).
        let from = BASE_US + match unit { Unit::Week => 0, _ => 2 * DAY_US };
        let date_to = BASE_US + 15 * DAY_US;
        let to_inclusive = match unit { Unit::Hour => date_to, _ => date_to + DAY_US - 1 };
        let as_of = BASE_US + 14 * DAY_US + 5 * HOUR_US;
        let r = report(&engine, Kind::Stickiness, json!({
            "interval": unit.name(), "interval_count": k, "date_from": rfc(from), "date_to": rfc(date_to),
            "as_of": rfc(as_of)}));
        let want = naive_stickiness(&naive_events(&events, merge), unit, k, from, to_inclusive, as_of);
        proptest::prop_assert_eq!(r["data"].clone(), json!(want));
    }
}

// ---- lifecycle ----

fn july(day: u32) -> String {
    format!("2025-07-{day:02}T10:00:00Z")
}

#[test]
fn lifecycle_spec_example_in_berlin() {
    let tmp = tempfile::tempdir().unwrap();
    let mut events = Vec::new();
    for d in [10, 11, 13] {
        events.push(("ada", "chat", july(d)));
    }
    // bo and cy were created on 07-01 (their first event, of any kind).
    for d in [1, 5, 9, 10] {
        events.push(("bo", "chat", july(d)));
    }
    events.push(("cy", "$set", july(1)));
    for d in [8, 11] {
        events.push(("cy", "chat", july(d)));
    }
    events.push(("eve", "chat", july(9)));
    let engine = engine_with(tmp.path(), &events);
    let r = report(
        &engine,
        Kind::Lifecycle,
        json!({"date_from": "2025-07-10", "date_to": "2025-07-13", "timezone": "Europe/Berlin",
               "as_of": "2025-07-20T00:00:00Z"}),
    );
    assert_eq!(r["kind"], "lifecycle");
    assert_eq!(
        r["definition"],
        "Persons who did any activity event, classified per day (Europe/Berlin) as new, returning, resurrecting or dormant."
    );
    assert_eq!(
        r["window"],
        json!({"first_period": "2025-07-10T00:00:00+02:00", "last_period": "2025-07-13T00:00:00+02:00",
               "end_exclusive": "2025-07-14T00:00:00+02:00", "periods": 4,
               "read_from": "2025-07-09T00:00:00+02:00", "read_until_exclusive": "2025-07-14T00:00:00+02:00"})
    );
    assert_eq!(
        r["periods"],
        json!([{"period_start": "2025-07-10T00:00:00+02:00", "incomplete": false, "quick_ratio": 1.0},
               {"period_start": "2025-07-11T00:00:00+02:00", "incomplete": false, "quick_ratio": 1.0},
               {"period_start": "2025-07-12T00:00:00+02:00", "incomplete": false, "quick_ratio": 0.0},
               {"period_start": "2025-07-13T00:00:00+02:00", "incomplete": false, "quick_ratio": null}])
    );
    let labels = json!(["2025-07-10", "2025-07-11", "2025-07-12", "2025-07-13"]);
    assert_eq!(
        r["series"],
        json!([
            {"status": "new", "label": "any activity · new", "data": [1, 0, 0, 0], "labels": labels, "count": 1},
            {"status": "returning", "label": "any activity · returning", "data": [1, 1, 0, 0], "labels": labels, "count": 2},
            {"status": "resurrecting", "label": "any activity · resurrecting", "data": [0, 1, 0, 1], "labels": labels, "count": 2},
            {"status": "dormant", "label": "any activity · dormant", "data": [-1, -1, -2, 0], "labels": labels, "count": -4},
        ])
    );
    assert!(r["parameters"].get("personless").is_none());
    let v = engine.verify(&r).unwrap();
    assert!(v.matches, "{:?}", v.differences);

    // Incomplete periods, and `all` starting at the earliest matching event's day (07-01: bo).
    let r = report(
        &engine,
        Kind::Lifecycle,
        json!({"date_from": "all", "date_to": "2025-07-13", "timezone": "Europe/Berlin",
               "as_of": "2025-07-13T12:00:00Z"}),
    );
    assert_eq!(r["parameters"]["date_from"], "all");
    assert_eq!(r["window"]["first_period"], "2025-07-01T00:00:00+02:00");
    assert_eq!(r["window"]["periods"], 13);
    assert_eq!(r["periods"][12]["incomplete"], true);
    assert_eq!(r["periods"][11]["incomplete"], false);
    // bo is new on 07-01.
    assert_eq!(r["series"][0]["data"][0], 1);
    let v = engine.verify(&r).unwrap();
    assert!(v.matches, "{:?}", v.differences);
}

#[test]
fn lifecycle_hours_across_a_clock_change() {
    let tmp = tempfile::tempdir().unwrap();
    // Berlin falls back on 2025-10-26: 02:00–03:00 local happens twice (00:00Z and 01:00Z are both 02:xx).
    let events = vec![
        ("a", "x", "2025-10-26T00:30:00Z".to_string()),
        ("a", "x", "2025-10-26T01:30:00Z".to_string()),
        ("b", "x", "2025-10-26T01:10:00Z".to_string()),
    ];
    let engine = engine_with(tmp.path(), &events);
    let r = report(
        &engine,
        Kind::Lifecycle,
        json!({"interval": "hour", "date_from": "2025-10-26T02:00:00", "date_to": "2025-10-26T03:00:00",
               "timezone": "Europe/Berlin", "as_of": "2025-11-01T00:00:00Z"}),
    );
    // 02:00 (+02), 02:00 (+01), 03:00 (+01): the repeated hour makes two periods.
    assert_eq!(
        r["series"][0]["labels"],
        json!(["2025-10-26 02:00", "2025-10-26 02:00", "2025-10-26 03:00"])
    );
    assert_eq!(r["series"][0]["data"], json!([1, 1, 0]));
    assert_eq!(r["series"][1]["data"], json!([0, 1, 0]));
    assert_eq!(r["series"][3]["data"], json!([0, 0, -2]));
}

#[test]
fn lifecycle_validation_names_the_field() {
    let e = error(Kind::Lifecycle, json!({"personless": "include"}));
    assert!(e.contains("personless"), "{e}");
    let e = error(
        Kind::Lifecycle,
        json!({"breakdown": {"type": "event", "property": "x"}}),
    );
    assert!(e.contains("breakdown"), "{e}");
    let e = error(Kind::Lifecycle, json!({"interval_count": 2}));
    assert!(e.contains("interval_count"), "{e}");
    let e = error(Kind::Lifecycle, json!({"interval": "year"}));
    assert!(e.contains("interval"), "{e}");
}

fn naive_lifecycle(
    events: &[(u8, i64, &str)],
    unit: Unit,
    first: i64,
    n_shown: i64,
    as_of: i64,
) -> [Vec<i64>; 4] {
    let len = unit.len();
    let period = |t: i64| (t - BASE_US).div_euclid(len);
    let p0 = period(first);
    let mut created: BTreeMap<u8, i64> = BTreeMap::new();
    let mut active: BTreeMap<u8, BTreeSet<i64>> = BTreeMap::new();
    for &(p, t, name) in events {
        if t > as_of {
            continue;
        }
        let c = created.entry(p).or_insert(t);
        *c = (*c).min(t);
        let k = period(t);
        if name != "$set" && k >= p0 - 1 && k < p0 + n_shown {
            active.entry(p).or_default().insert(k);
        }
    }
    let mut out: [Vec<i64>; 4] = std::array::from_fn(|_| vec![0; n_shown as usize]);
    let mut add = |s: usize, k: i64, v: i64| {
        if k >= p0 && k < p0 + n_shown {
            out[s][(k - p0) as usize] += v;
        }
    };
    for (p, set) in &active {
        let first = *set.iter().next().unwrap();
        for &k in set {
            let s = if k == first && k == period(created[p]) {
                0
            } else if k != first && set.contains(&(k - 1)) {
                1
            } else {
                2
            };
            add(s, k, 1);
            if !set.contains(&(k + 1)) {
                add(3, k + 1, -1);
            }
        }
    }
    out
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    #[test]
    fn lifecycle_matches_a_naive_reference(
        events in proptest::collection::vec((0u8..5, 0u32..24 * 21, 0u8..3), 0..30),
        unit in 0u8..3,
        merge in proptest::option::of((0u8..5, 0u8..5)),
    ) {
        let merge = merge.filter(|(a, b)| a != b);
        let unit = [Unit::Hour, Unit::Day, Unit::Week][unit as usize];
        let tmp = tempfile::tempdir().unwrap();
        let engine = build(tmp.path(), &events, merge);
        let (first, n_shown) = match unit {
            Unit::Hour => (BASE_US + 3 * DAY_US, 30),
            Unit::Day => (BASE_US + 3 * DAY_US, 12),
            Unit::Week => (BASE_US + 7 * DAY_US, 2),
        };
        let last = first + (n_shown - 1) * unit.len();
        let as_of = BASE_US + 10 * DAY_US + 5 * HOUR_US;
        let r = report(&engine, Kind::Lifecycle, json!({
            "interval": unit.name(), "date_from": rfc(first), "date_to": rfc(last), "as_of": rfc(as_of)}));
        let want = naive_lifecycle(&naive_events(&events, merge), unit, first, n_shown, as_of);
        for s in 0..4 {
            proptest::prop_assert_eq!(r["series"][s]["data"].clone(), json!(want[s]), "status {}", s);
        }
    }
}

#[test]
fn stickiness_and_lifecycle_describe_one_project() {
    for kind in [Kind::Stickiness, Kind::Lifecycle] {
        let e = Request::from_json(kind, &json!({"projects": ["p", "q"]}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("projects") && e.contains("one project"), "{e}");
    }
}
