//! Funnel reports against funnels.md: a naive oracle (`funnels/oracle.rs`) checked on the spec's worked examples,
//! then compared with the engine on random small datasets for every order mode, window, exclusions, occurrences,
//! breakdown attributions, merges, late events, trends and time to convert; the worked examples end to end; and
//! output that does not depend on ingest order, flushes or compaction.

mod fixture;
#[path = "funnels/oracle.rs"]
mod oracle;

use std::path::Path;

use liucun::Engine;
use liucun::model::{Record, Timestamp};
use proptest::prelude::*;
use report::{Kind, Request};
use serde_json::{Map, Value, json};

use oracle::{
    Attribution, Breakdown, Ev, Exclusion, Filt, Funnel, Interval, Occurrence, Op, Order, Params,
    Step, Unit, Viz,
};

// ---------------------------------------------------------------------------------------------------------------
// Helpers: events to NDJSON, ingest, the report as JSON.

const UUID_BASE: u128 = 0x0000_0000_0000_4000_8000_0000_0000_0000;

fn uuid_text(u: u128) -> String {
    let h = format!("{u:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn ts_text(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us).unwrap().to_string()
}

fn us(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_microsecond()
}

fn ndjson(e: &Ev) -> String {
    json!({
        "uuid": uuid_text(e.uuid),
        "distinct_id": e.distinct_id,
        "event": e.name,
        "timestamp": ts_text(e.ts),
        "properties": Value::Object(e.props.clone()),
    })
    .to_string()
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn ev(n: u64, who: &str, name: &str, at: &str, props: Value) -> Ev {
    Ev {
        distinct_id: who.into(),
        name: name.into(),
        ts: us(at),
        uuid: UUID_BASE | u128::from(n),
        props: obj(props),
    }
}

/// How the events of one scenario reach the engine: a permutation, cut into chunks, each imported in bulk or
/// appended to the WAL, with a flush or a compaction after some of them.
#[derive(Debug, Clone)]
struct IngestPlan {
    order: Vec<usize>,
    /// (chunk length, through the WAL, compact after)
    chunks: Vec<(usize, bool, bool)>,
}

fn in_order(n: usize) -> IngestPlan {
    IngestPlan {
        order: (0..n).collect(),
        chunks: vec![(n, false, false)],
    }
}

fn ingest(dir: &Path, events: &[Ev], plan: &IngestPlan) -> Engine {
    let engine = fixture::open(dir);
    let mut rest = plan.order.clone();
    let mut chunks = plan.chunks.clone();
    chunks.push((usize::MAX, false, false));
    for (len, wal, compact) in chunks {
        let take: Vec<usize> = rest.drain(..len.min(rest.len())).collect();
        let text: String = take.iter().map(|&i| ndjson(&events[i]) + "\n").collect();
        if !text.is_empty() {
            let batch = fixture::batch("p", &text);
            assert!(batch.rejections().is_empty(), "{:?}", batch.rejections());
            if wal {
                engine.append(Record::Events(batch)).unwrap();
            } else {
                engine.import_batch(batch).unwrap();
            }
        }
        if compact {
            engine.compact().unwrap();
        }
        if rest.is_empty() {
            break;
        }
    }
    engine.flush().unwrap();
    engine
}

fn engine_with(dir: &Path, events: &[Ev]) -> Engine {
    ingest(dir, events, &in_order(events.len()))
}

fn kind(name: &str) -> Kind {
    Kind::parse(name).unwrap_or_else(|| panic!("the engine has no report kind {name:?}"))
}

/// Runs a report of kind `name` from its JSON parameters; the output as JSON.
#[track_caller]
fn run(engine: &Engine, name: &str, params: &Value) -> Value {
    let request = Request::from_json(kind(name), params)
        .unwrap_or_else(|e| panic!("{name} parameters refused: {e}\n{params:#}"));
    let report = engine
        .report(request, Timestamp(0))
        .unwrap_or_else(|e| panic!("{name} report failed: {e}\n{params:#}"));
    let out = report.to_json();
    assert_eq!(out["kind"], name, "{out:#}");
    out
}

/// The persons listing (§12) from its JSON parameters.
#[track_caller]
fn persons(engine: &Engine, params: &Value) -> Value {
    let out = engine
        .funnel_persons(params, Timestamp(0), None)
        .unwrap_or_else(|e| panic!("funnel_persons failed: {e}\n{params:#}"));
    assert_eq!(out["kind"], "funnel_persons", "{out:#}");
    out
}

#[track_caller]
fn funnels(engine: &Engine, params: &Value) -> Value {
    run(engine, "funnels", params)
}

/// Every number as an f64, so that `3` and `3.0` compare equal; `period_start` instants as µs.
fn norm(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.iter().map(norm).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("period_start", Value::String(s)) => json!(
                            s.parse::<jiff::Timestamp>()
                                .unwrap_or_else(|e| panic!("period_start {s:?}: {e}"))
                                .as_microsecond() as f64
                        ),
                        _ => norm(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The listed keys of an object (a missing key shows as `"<missing>"`).
fn pick(v: &Value, keys: &[&str]) -> Value {
    Value::Object(
        keys.iter()
            .map(|k| {
                (
                    (*k).to_string(),
                    v.get(*k).cloned().unwrap_or_else(|| json!("<missing>")),
                )
            })
            .collect(),
    )
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a list, got {v}"))
        .clone()
}

const STEP_KEYS: [&str; 8] = [
    "count",
    "rate_from_first",
    "ci95_from_first",
    "rate_from_previous",
    "ci95_from_previous",
    "dropped_off",
    "average_time_s",
    "median_time_s",
];

fn pair(p: Option<(f64, f64)>) -> Value {
    p.map_or(Value::Null, |(a, b)| json!([a, b]))
}

/// The part of the engine's output that the oracle predicts for the parameters' `viz`.
fn engine_view(out: &Value, viz: Viz) -> Value {
    match viz {
        Viz::Steps => Value::Array(
            list(&out["series"])
                .iter()
                .map(|s| {
                    json!({
                        "breakdown_value": s["breakdown_value"],
                        "is_other": s["is_other"],
                        "steps": list(&s["steps"]).iter().map(|st| pick(st, &STEP_KEYS)).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        ),
        Viz::TimeToConvert => {
            let t = &out["time_to_convert"];
            json!({
                "persons": t["persons"],
                "average_s": t["average_s"],
                "median_s": t["median_s"],
                "bins": list(&t["bins"]).iter().map(|b| pick(b, &["from_s", "to_s", "count"])).collect::<Vec<_>>(),
            })
        }
        Viz::Trends => Value::Array(
            list(&out["trends"])
                .iter()
                // With a breakdown, values nobody entered carry no information and the spec does not say whether
                // they are listed; the oracle lists none.
                .filter(|s| {
                    s["breakdown_value"].is_null()
                        || list(&s["periods"])
                            .iter()
                            .any(|p| p["entered"].as_u64() != Some(0))
                })
                .map(|s| {
                    json!({
                        "breakdown_value": s["breakdown_value"],
                        "periods": list(&s["periods"]).iter()
                            .map(|p| pick(p, &["period_start", "entered", "converted", "conversion_rate", "ci95", "incomplete"]))
                            .collect::<Vec<_>>(),
                    })
                })
                .collect(),
        ),
    }
}

/// The oracle's answer in the shape of [`engine_view`].
fn oracle_view(f: &Funnel, viz: Viz) -> Value {
    match viz {
        Viz::Steps => Value::Array(
            f.series
                .iter()
                .map(|s| {
                    json!({
                        "breakdown_value": s.breakdown_value,
                        "is_other": s.is_other,
                        "steps": s.steps.iter().map(|st| json!({
                            "count": st.count,
                            "rate_from_first": st.rate_from_first,
                            "ci95_from_first": pair(st.ci95_from_first),
                            "rate_from_previous": st.rate_from_previous,
                            "ci95_from_previous": pair(st.ci95_from_previous),
                            "dropped_off": st.dropped_off,
                            "average_time_s": st.average_time_s,
                            "median_time_s": st.median_time_s,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        ),
        Viz::TimeToConvert => {
            let t = &f.time_to_convert;
            json!({
                "persons": t.persons,
                "average_s": t.average_s,
                "median_s": t.median_s,
                "bins": t.bins.iter().map(|b| json!({"from_s": b.from_s, "to_s": b.to_s, "count": b.count})).collect::<Vec<_>>(),
            })
        }
        Viz::Trends => Value::Array(
            f.trends
                .iter()
                .map(|s| {
                    json!({
                        "breakdown_value": s.breakdown_value,
                        "periods": s.periods.iter().map(|p| json!({
                            "period_start": ts_text(p.start),
                            "entered": p.entered,
                            "converted": p.converted,
                            "conversion_rate": p.conversion_rate,
                            "ci95": pair(p.ci95),
                            "incomplete": p.incomplete,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        ),
    }
}

/// A readable dump of a scenario for failure messages: events by distinct id, then the parameters.
fn describe(events: &[Ev], p: &Params) -> String {
    let mut sorted: Vec<&Ev> = events.iter().collect();
    sorted.sort_by(|a, b| (&a.distinct_id, a.ts, a.uuid).cmp(&(&b.distinct_id, b.ts, b.uuid)));
    let mut out = String::new();
    for e in sorted {
        out += &format!(
            "  {:>4} {:<6} {} {:<10} {}\n",
            e.uuid & 0xffff,
            e.distinct_id,
            ts_text(e.ts),
            e.name,
            Value::Object(e.props.clone())
        );
    }
    out + &format!("params: {}\n", p.to_json())
}

/// Runs the engine and the oracle on the same data and compares what `viz` shows.
#[track_caller]
fn assert_matches_oracle(engine: &Engine, events: &[Ev], p: &Params) -> Value {
    let out = funnels(engine, &p.to_json());
    let want = oracle::funnel(events, p);
    let got = norm(&engine_view(&out, p.viz));
    let expected = norm(&oracle_view(&want, p.viz));
    assert!(
        got == expected,
        "engine and oracle differ\n{}\nengine: {}\noracle: {}",
        describe(events, p),
        serde_json::to_string_pretty(&got).unwrap(),
        serde_json::to_string_pretty(&expected).unwrap()
    );
    // §13.4: the shown values in order, then "$other" when Other is shown.
    if p.viz == Viz::Steps && p.breakdown.is_some() {
        let mut values: Vec<Value> = want
            .series
            .iter()
            .filter(|s| !s.is_other)
            .map(|s| s.breakdown_value.clone())
            .collect();
        if want.series.iter().any(|s| s.is_other) {
            values.push(json!("$other"));
        }
        assert_eq!(
            out["breakdown_values"],
            Value::Array(values),
            "breakdown_values\n{}",
            describe(events, p)
        );
    }
    // The window (§13.5), instants compared as instants.
    let instant = |v: &Value| -> Value {
        v.as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or_else(
                || json!(format!("not an instant: {v}")),
                |t| json!(t.as_microsecond()),
            )
    };
    let w = &out["window"];
    let got = json!({
        "from": instant(&w["from"]),
        "to_inclusive": instant(&w["to_inclusive"]),
        "conversion_window_s": w["conversion_window_s"],
        "full_window_entries_until": instant(&w["full_window_entries_until"]),
        "incomplete": w["incomplete"],
    });
    let w_s = p.window.0 * p.window.1.seconds();
    let expected = json!({
        "from": want.lower,
        "to_inclusive": want.upper,
        "conversion_window_s": w_s,
        "full_window_entries_until": want.upper.min(p.as_of) - w_s * 1_000_000,
        "incomplete": want.upper > p.as_of,
    });
    assert_eq!(
        norm(&got),
        norm(&expected),
        "window\n{}",
        describe(events, p)
    );
    // The other two results are null (§13.2).
    for (key, viz) in [
        ("series", Viz::Steps),
        ("time_to_convert", Viz::TimeToConvert),
        ("trends", Viz::Trends),
    ] {
        if viz != p.viz {
            assert_eq!(out[key], Value::Null, "{key} with viz {:?}", p.viz);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Parameters for the worked examples.

fn step(name: &str) -> Step {
    Step {
        event: Some(vec![name.to_string()]),
        filters: Vec::new(),
        occurrence: Occurrence::Any,
    }
}

fn params(steps: &[&str]) -> Params {
    Params {
        steps: steps.iter().map(|s| step(s)).collect(),
        order: Order::Ordered,
        window: (1, Unit::Day),
        exclusions: Vec::new(),
        date_from: "2025-06-01".into(),
        date_to: "2025-06-07".into(),
        interval: Interval::Day,
        timezone: "UTC".into(),
        week_start_sunday: false,
        properties: Vec::new(),
        breakdown: None,
        viz: Viz::Steps,
        from_step: 1,
        to_step: steps.len(),
        bin_count: None,
        as_of: us("2025-07-01T00:00:00Z"),
    }
}

fn exclusion(name: &str, from_step: usize, to_step: usize) -> Exclusion {
    Exclusion {
        event: Some(vec![name.to_string()]),
        filters: Vec::new(),
        from_step,
        to_step,
    }
}

fn counts(f: &Funnel, series: usize) -> Vec<u64> {
    f.series[series].steps.iter().map(|s| s.count).collect()
}

/// Builds events from `(distinct id, name, time, properties)` rows, uuids numbered from 1.
fn rows(rows: &[(&str, &str, &str, Value)]) -> Vec<Ev> {
    rows.iter()
        .enumerate()
        .map(|(i, (who, name, at, props))| ev(i as u64 + 1, who, name, at, props.clone()))
        .collect()
}

fn example_a() -> Vec<Ev> {
    let t = |s: &str| format!("2025-{s}:00Z");
    rows(&[
        ("ana", "signup", &t("06-01T09:00"), json!({})),
        ("ana", "chat_message", &t("06-01T09:20"), json!({})),
        ("ana", "upgrade", &t("06-01T10:00"), json!({})),
        ("ben", "signup", &t("06-01T10:00"), json!({})),
        ("ben", "signup", &t("06-03T10:00"), json!({})),
        ("ben", "chat_message", &t("06-03T12:00"), json!({})),
        ("cai", "chat_message", &t("06-02T08:00"), json!({})),
        ("cai", "signup", &t("06-02T09:00"), json!({})),
        ("dee", "signup", &t("06-02T12:00"), json!({})),
        ("dee", "chat_message", &t("06-02T12:30"), json!({})),
        ("dee", "upgrade", &t("06-03T13:00"), json!({})),
        ("eve", "signup", &t("06-05T23:00"), json!({})),
        ("eve", "chat_message", &t("06-08T01:00"), json!({})),
    ])
}

fn example_a_params() -> Params {
    params(&["signup", "chat_message", "upgrade"])
}

fn example_b() -> (Vec<Ev>, Params) {
    let t = |s: &str| format!("2025-06-{s}:00Z");
    let events = rows(&[
        ("fay", "signup", &t("02T09:00"), json!({})),
        ("fay", "cancel", &t("02T09:30"), json!({})),
        ("fay", "upgrade", &t("02T10:00"), json!({})),
        ("gus", "signup", &t("02T09:00"), json!({})),
        ("gus", "cancel", &t("02T09:30"), json!({})),
        ("hal", "signup", &t("02T09:00"), json!({})),
        ("hal", "cancel", &t("03T10:00"), json!({})),
        ("ivy", "signup", &t("02T09:00"), json!({})),
        ("ivy", "cancel", &t("02T09:30"), json!({})),
        ("ivy", "signup", &t("02T12:00"), json!({})),
        ("ivy", "upgrade", &t("02T13:00"), json!({})),
        ("jon", "signup", &t("02T09:00"), json!({})),
        ("jon", "upgrade", &t("02T09:10"), json!({})),
        ("jon", "cancel", &t("02T09:20"), json!({})),
    ]);
    let mut p = params(&["signup", "upgrade"]);
    p.exclusions = vec![exclusion("cancel", 1, 2)];
    (events, p)
}

fn example_c() -> Vec<Ev> {
    let t = |s: &str| format!("2025-06-02T{s}:00Z");
    rows(&[
        ("kim", "signup", &t("10:00"), json!({})),
        ("kim", "$pageview", &t("10:05"), json!({})),
        ("kim", "chat_message", &t("10:10"), json!({})),
        ("lou", "signup", &t("10:00"), json!({})),
        (
            "lou",
            "$set",
            &t("10:05"),
            json!({"$set": {"tier": "gold"}}),
        ),
        ("lou", "chat_message", &t("10:10"), json!({})),
    ])
}

fn example_d() -> (Vec<Ev>, Params) {
    let t = |s: &str| format!("2025-06-02T{s}:00Z");
    let events = rows(&[
        ("lia", "C", &t("10:00"), json!({})),
        ("lia", "A", &t("10:20"), json!({})),
        ("lia", "B", &t("10:40"), json!({})),
        ("max", "A", &t("10:00"), json!({})),
        ("max", "B", &t("11:30"), json!({})),
        ("ned", "B", &t("10:00"), json!({})),
        ("ned", "X", &t("10:10"), json!({})),
        ("ned", "A", &t("10:20"), json!({})),
    ]);
    let mut p = params(&["A", "B", "C"]);
    p.order = Order::Unordered;
    p.window = (1, Unit::Hour);
    p.exclusions = vec![exclusion("X", 1, 3)];
    (events, p)
}

fn example_e() -> Vec<Ev> {
    rows(&[
        (
            "one",
            "signup",
            "2025-06-02T09:00:00Z",
            json!({"plan": "free"}),
        ),
        (
            "one",
            "upgrade",
            "2025-06-02T10:00:00Z",
            json!({"plan": "pro"}),
        ),
    ])
}

fn plan_breakdown(attribution: Attribution) -> Breakdown {
    Breakdown {
        person: false,
        properties: vec!["plan".into()],
        is_list: false,
        limit: 25,
        attribution,
    }
}

fn example_f() -> (Vec<Ev>, Params) {
    let t = |s: &str| format!("2025-06-{s}:00Z");
    let events = rows(&[
        ("oli", "signup", &t("01T10:00"), json!({})),
        ("oli", "upgrade", &t("01T11:00"), json!({})),
        ("oli", "signup", &t("02T09:00"), json!({})),
        ("pia", "signup", &t("01T23:00"), json!({})),
        ("pia", "upgrade", &t("02T20:00"), json!({})),
    ]);
    let mut p = params(&["signup", "upgrade"]);
    p.date_to = "2025-06-03".into();
    p.viz = Viz::Trends;
    (events, p)
}

fn example_g() -> (Vec<Ev>, Params) {
    let t = |s: &str| format!("2025-06-02T{s}Z");
    let events = rows(&[
        ("a", "signup", &t("10:00:00"), json!({})),
        ("a", "upgrade", &t("10:01:00"), json!({})),
        ("b", "signup", &t("10:00:00"), json!({})),
        ("b", "upgrade", &t("10:10:00"), json!({})),
        ("c", "signup", &t("10:00:00"), json!({})),
        ("c", "upgrade", &t("10:50:00"), json!({})),
    ]);
    let mut p = params(&["signup", "upgrade"]);
    p.viz = Viz::TimeToConvert;
    (events, p)
}

// ---------------------------------------------------------------------------------------------------------------
// The oracle on the spec's worked examples, so that it can be trusted.

#[test]
fn oracle_example_a_ordered_counts_rates_and_times() {
    let f = oracle::funnel(&example_a(), &example_a_params());
    assert_eq!(counts(&f, 0), [5, 3, 1]);
    let s = &f.series[0].steps;
    assert_eq!(
        s.iter().map(|s| s.rate_from_first).collect::<Vec<_>>(),
        [Some(1.0), Some(0.6), Some(0.2)]
    );
    assert_eq!(s[1].ci95_from_first, Some((0.230724, 0.882379)));
    assert_eq!(s[2].ci95_from_first, Some((0.036224, 0.624465)));
    assert_eq!(
        s.iter().map(|s| s.rate_from_previous).collect::<Vec<_>>(),
        [Some(1.0), Some(0.6), Some(0.333333)]
    );
    assert_eq!(s[2].ci95_from_previous, Some((0.061492, 0.79234)));
    assert_eq!(
        s.iter().map(|s| s.dropped_off).collect::<Vec<_>>(),
        [None, Some(2), Some(2)]
    );
    assert_eq!(
        (s[1].average_time_s, s[1].median_time_s),
        (Some(3400.0), Some(1800.0))
    );
    assert_eq!(
        (s[2].average_time_s, s[2].median_time_s),
        (Some(2400.0), Some(2400.0))
    );
    assert_eq!(
        f.persons["ben"],
        oracle::Outcome::Level(
            2,
            vec![us("2025-06-03T10:00:00Z"), us("2025-06-03T12:00:00Z")]
        )
    );
    assert_eq!(oracle::level(&f.persons["eve"]), 1);
}

#[test]
fn oracle_example_b_exclusions_remove_hit_persons() {
    let (events, p) = example_b();
    let f = oracle::funnel(&events, &p);
    assert_eq!(counts(&f, 0), [3, 2]);
    assert_eq!(f.series[0].steps[1].average_time_s, Some(2100.0));
    assert_eq!(f.persons["fay"], oracle::Outcome::Removed);
    assert_eq!(f.persons["gus"], oracle::Outcome::Removed);
    assert_eq!(oracle::level(&f.persons["hal"]), 1);
    assert_eq!(oracle::level(&f.persons["ivy"]), 2);
    assert_eq!(oracle::level(&f.persons["jon"]), 2);
}

#[test]
fn oracle_example_c_strict_is_broken_by_activity_only() {
    let mut p = params(&["signup", "chat_message"]);
    assert_eq!(counts(&oracle::funnel(&example_c(), &p), 0), [2, 2]);
    p.order = Order::Strict;
    let f = oracle::funnel(&example_c(), &p);
    assert_eq!(counts(&f, 0), [2, 1]);
    assert_eq!(oracle::level(&f.persons["kim"]), 1);
    assert_eq!(oracle::level(&f.persons["lou"]), 2);
}

#[test]
fn oracle_example_d_unordered() {
    let (events, mut p) = example_d();
    let f = oracle::funnel(&events, &p);
    assert_eq!(counts(&f, 0), [3, 1, 1]);
    assert_eq!(
        f.persons["lia"],
        oracle::Outcome::Level(
            3,
            vec![
                us("2025-06-02T10:00:00Z"),
                us("2025-06-02T10:20:00Z"),
                us("2025-06-02T10:40:00Z")
            ]
        )
    );
    assert_eq!(f.series[0].steps[1].average_time_s, Some(1200.0));
    assert_eq!(f.series[0].steps[2].average_time_s, Some(1200.0));
    assert_eq!(oracle::level(&f.persons["max"]), 1);
    assert_eq!(oracle::level(&f.persons["ned"]), 1);
    p.order = Order::Ordered;
    p.exclusions.clear();
    assert_eq!(counts(&oracle::funnel(&events, &p), 0), [3, 1, 0]);
}

#[test]
fn oracle_example_e_attributions() {
    let mut p = params(&["signup", "upgrade"]);
    let series = |p: &Params| -> Vec<(Value, Vec<u64>)> {
        let f = oracle::funnel(&example_e(), p);
        (0..f.series.len())
            .map(|i| (f.series[i].breakdown_value.clone(), counts(&f, i)))
            .collect()
    };
    p.breakdown = Some(plan_breakdown(Attribution::FirstTouch));
    assert_eq!(series(&p), [(json!("free"), vec![1, 1])]);
    p.breakdown = Some(plan_breakdown(Attribution::LastTouch));
    assert_eq!(series(&p), [(json!("pro"), vec![1, 1])]);
    p.breakdown = Some(plan_breakdown(Attribution::AllEvents));
    assert_eq!(series(&p), [(json!("free"), vec![1, 0])]);
    p.breakdown = Some(plan_breakdown(Attribution::Step(2)));
    assert_eq!(series(&p), [(json!("pro"), vec![1, 1])]);
}

/// §9.3: x and z reach step 2 three times each, w once, y has four entries only; with limit 2 Other is w and y.
fn ranking_events() -> Vec<Ev> {
    let mut rows_ = Vec::new();
    let mut who = Vec::new();
    for (value, persons, converts) in [
        ("x", 3, true),
        ("z", 3, true),
        ("w", 1, true),
        ("y", 4, false),
    ] {
        for i in 0..persons {
            who.push((format!("{value}{i}"), value, converts));
        }
    }
    for (id, value, converts) in &who {
        rows_.push((
            id.clone(),
            "signup",
            "2025-06-02T09:00:00Z",
            json!({"plan": value}),
        ));
        if *converts {
            rows_.push((
                id.clone(),
                "upgrade",
                "2025-06-02T10:00:00Z",
                json!({"plan": value}),
            ));
        }
    }
    let borrowed: Vec<(&str, &str, &str, Value)> = rows_
        .iter()
        .map(|(a, b, c, d)| (a.as_str(), *b, *c, d.clone()))
        .collect();
    rows(&borrowed)
}

#[test]
fn oracle_ranks_by_the_last_step_first_and_puts_other_last() {
    let mut p = params(&["signup", "upgrade"]);
    p.breakdown = Some(Breakdown {
        limit: 2,
        ..plan_breakdown(Attribution::FirstTouch)
    });
    let f = oracle::funnel(&ranking_events(), &p);
    let got: Vec<(Value, bool, Vec<u64>)> = (0..f.series.len())
        .map(|i| {
            (
                f.series[i].breakdown_value.clone(),
                f.series[i].is_other,
                counts(&f, i),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (json!("x"), false, vec![3, 3]),
            (json!("z"), false, vec![3, 3]),
            (Value::Null, true, vec![5, 1]),
        ]
    );
    p.breakdown = Some(plan_breakdown(Attribution::FirstTouch));
    let f = oracle::funnel(&ranking_events(), &p);
    let order: Vec<Value> = f.series.iter().map(|s| s.breakdown_value.clone()).collect();
    assert_eq!(order, [json!("x"), json!("z"), json!("w"), json!("y")]);
}

#[test]
fn oracle_example_f_trends() {
    let (events, p) = example_f();
    let f = oracle::funnel(&events, &p);
    assert_eq!(f.trends.len(), 1);
    let got: Vec<(String, u64, u64, Option<f64>)> = f.trends[0]
        .periods
        .iter()
        .map(|q| (ts_text(q.start), q.entered, q.converted, q.conversion_rate))
        .collect();
    assert_eq!(
        got,
        [
            ("2025-06-01T00:00:00Z".to_string(), 2, 2, Some(1.0)),
            ("2025-06-02T00:00:00Z".to_string(), 1, 0, Some(0.0)),
            ("2025-06-03T00:00:00Z".to_string(), 0, 0, None),
        ]
    );
    assert_eq!(oracle::wilson(2, 2), (0.34238, 1.0));
}

#[test]
fn oracle_example_g_time_to_convert_bins() {
    let t = oracle::time_to_convert(&[60.0, 600.0, 3000.0], None);
    let bins: Vec<(f64, f64, u64)> = t.bins.iter().map(|b| (b.from_s, b.to_s, b.count)).collect();
    assert_eq!(
        bins,
        [(60.0, 1530.0, 2), (1530.0, 3000.0, 0), (3000.0, 4470.0, 1)]
    );
    assert_eq!((t.average_s, t.median_s), (Some(1220.0), Some(600.0)));
    let t = oracle::time_to_convert(&[60.0, 600.0, 3000.0], Some(4));
    let bins: Vec<(f64, u64)> = t.bins.iter().map(|b| (b.from_s, b.count)).collect();
    assert_eq!(
        bins,
        [(60.0, 2), (795.0, 0), (1530.0, 0), (2265.0, 0), (3000.0, 1)]
    );
    let empty = oracle::time_to_convert(&[], None);
    assert_eq!(
        (empty.persons, empty.average_s, empty.bins.len()),
        (0, None, 0)
    );
    // The same through the funnel: example G's three conversions.
    let (events, p) = example_g();
    let f = oracle::funnel(&events, &p);
    assert_eq!(f.time_to_convert.persons, 3);
    assert_eq!(f.time_to_convert.bins[0].count, 2);
    assert_eq!(f.time_to_convert.bins[2].count, 1);
}

#[test]
fn oracle_same_instant_steps_convert_in_funnel_order() {
    // §5.6: signup and purchase at the same microsecond convert; reading the mixed group in uuid order would not.
    let events = rows(&[
        ("a", "purchase", "2025-06-02T10:00:00Z", json!({})),
        ("a", "signup", "2025-06-02T10:00:00Z", json!({})),
    ]);
    let f = oracle::funnel(&events, &params(&["signup", "purchase"]));
    assert_eq!(counts(&f, 0), [1, 1]);
    // One event cannot fill two steps of one attempt, even in a mixed group.
    let events = rows(&[
        ("a", "view", "2025-06-02T10:00:00Z", json!({})),
        ("a", "other", "2025-06-02T10:00:00Z", json!({})),
    ]);
    let f = oracle::funnel(&events, &params(&["view", "view"]));
    assert_eq!(counts(&f, 0), [1, 0]);
}

// ---------------------------------------------------------------------------------------------------------------
// The worked examples through the engine.

#[test]
fn same_instant_steps_convert_end_to_end() {
    let events = rows(&[
        ("a", "purchase", "2025-06-02T10:00:00Z", json!({})),
        ("a", "signup", "2025-06-02T10:00:00Z", json!({})),
        ("b", "view", "2025-06-02T10:00:00Z", json!({})),
        ("b", "other", "2025-06-02T10:00:00Z", json!({})),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let engine = engine_with(tmp.path(), &events);
    let out = assert_matches_oracle(&engine, &events, &params(&["signup", "purchase"]));
    assert_eq!(out["series"][0]["steps"][1]["count"], 1);
    assert_eq!(out["series"][0]["steps"][1]["average_time_s"], json!(0.0));
    let out = assert_matches_oracle(&engine, &events, &params(&["view", "view"]));
    assert_eq!(out["series"][0]["steps"][1]["count"], 0);
    let mut p = params(&["signup", "purchase"]);
    p.order = Order::Strict;
    assert_matches_oracle(&engine, &events, &p);
}

#[test]
fn example_a_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = engine_with(tmp.path(), &example_a());
    let out = funnels(&engine, &example_a_params().to_json());
    let want = json!([{ "breakdown_value": null, "is_other": false, "steps": [
        { "step": 1, "label": "signup", "count": 5, "rate_from_first": 1.0, "ci95_from_first": null,
          "rate_from_previous": 1.0, "ci95_from_previous": null, "dropped_off": null,
          "average_time_s": null, "median_time_s": null },
        { "step": 2, "label": "chat_message", "count": 3, "rate_from_first": 0.6, "ci95_from_first": [0.230724, 0.882379],
          "rate_from_previous": 0.6, "ci95_from_previous": [0.230724, 0.882379], "dropped_off": 2,
          "average_time_s": 3400.0, "median_time_s": 1800.0 },
        { "step": 3, "label": "upgrade", "count": 1, "rate_from_first": 0.2, "ci95_from_first": [0.036224, 0.624465],
          "rate_from_previous": 0.333333, "ci95_from_previous": [0.061492, 0.79234], "dropped_off": 2,
          "average_time_s": 2400.0, "median_time_s": 2400.0 } ] }]);
    // Each series also names its project (liucun reports can compare projects); the rest is §13 verbatim.
    let series: Vec<Value> = list(&out["series"])
        .iter()
        .map(|s| {
            assert_eq!(s["project"], "p");
            pick(s, &["breakdown_value", "is_other", "steps"])
        })
        .collect();
    assert_eq!(norm(&Value::Array(series)), norm(&want), "{out:#}");
    assert_eq!(
        out["window"],
        json!({ "from": "2025-06-01T00:00:00+00:00", "to_inclusive": "2025-06-07T23:59:59.999999+00:00",
                "conversion_window_s": 86400, "full_window_entries_until": "2025-06-06T23:59:59.999999+00:00",
                "incomplete": false })
    );
    assert_eq!(out["time_to_convert"], Value::Null);
    assert_eq!(out["trends"], Value::Null);
    assert_eq!(out["breakdown_values"], Value::Null);
    let echoed = &out["parameters"];
    for (key, want) in [
        ("order", json!("ordered")),
        ("conversion_window", json!({"value": 1, "unit": "day"})),
        ("viz", json!("steps")),
        ("from_step", json!(1)),
        ("to_step", json!(3)),
        ("bin_count", Value::Null),
        ("interval", json!("day")),
        ("personless", json!("exclude")),
    ] {
        assert_eq!(echoed[key], want, "parameters.{key}: {echoed:#}");
    }
    assert_matches_oracle(&engine, &example_a(), &example_a_params());
    let f = oracle::funnel(&example_a(), &example_a_params());
    assert_eq!(f.lower, us("2025-06-01T00:00:00Z"));
    assert_eq!(f.upper, us("2025-06-07T23:59:59.999999Z"));
}

#[test]
fn examples_b_to_g_end_to_end() {
    let check = |events: &[Ev], p: &Params| {
        let tmp = tempfile::tempdir().unwrap();
        let engine = engine_with(tmp.path(), events);
        assert_matches_oracle(&engine, events, p)
    };
    let (events, p) = example_b();
    let out = check(&events, &p);
    assert_eq!(out["series"][0]["steps"][1]["count"], 2);
    assert_eq!(
        out["definition"].as_str().map(|d| d.contains("cancel")),
        Some(true),
        "{}",
        out["definition"]
    );
    let mut p = params(&["signup", "chat_message"]);
    check(&example_c(), &p);
    p.order = Order::Strict;
    let out = check(&example_c(), &p);
    assert_eq!(out["series"][0]["steps"][1]["count"], 1);
    let (events, p) = example_d();
    let out = check(&events, &p);
    let labels: Vec<Value> = list(&out["series"][0]["steps"])
        .iter()
        .map(|s| s["label"].clone())
        .collect();
    assert_eq!(
        labels,
        [
            json!("Completed 1 step"),
            json!("Completed 2 steps"),
            json!("Completed 3 steps")
        ]
    );
    let mut p = params(&["signup", "upgrade"]);
    for a in [
        Attribution::FirstTouch,
        Attribution::LastTouch,
        Attribution::AllEvents,
        Attribution::Step(2),
    ] {
        p.breakdown = Some(plan_breakdown(a));
        let out = check(&example_e(), &p);
        assert_eq!(out["series"][0]["is_other"], false);
    }
    let (events, p) = example_f();
    let out = check(&events, &p);
    assert_eq!(
        norm(&out["trends"][0]["periods"][0]["ci95"]),
        norm(&json!([0.34238, 1.0]))
    );
    assert_eq!(
        out["trends"][0]["periods"][2]["conversion_rate"],
        Value::Null
    );
    let (events, mut p) = example_g();
    let out = check(&events, &p);
    assert_eq!(
        out["time_to_convert"]["bins"].as_array().map(Vec::len),
        Some(3)
    );
    p.bin_count = Some(4);
    let out = check(&events, &p);
    assert_eq!(out["time_to_convert"]["bins"][4]["count"], 1);
    let mut p = params(&["signup", "upgrade"]);
    p.breakdown = Some(Breakdown {
        limit: 2,
        ..plan_breakdown(Attribution::FirstTouch)
    });
    let out = check(&ranking_events(), &p);
    assert_eq!(out["breakdown_values"], json!(["x", "z", "$other"]));
}

// ---------------------------------------------------------------------------------------------------------------
// Random scenarios. A seeded generator builds each one, so a failing case prints its events and parameters.

/// SplitMix64: small, seeded, and independent of any crate the engine uses.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn range(&mut self, lo: usize, hi_inclusive: usize) -> usize {
        lo + self.below(hi_inclusive - lo + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

/// All events fall between 2025-03-27 and 2025-04-04, across Europe's spring clock change (03-30); as_of is
/// 2025-04-03T12:00Z, so the last days hold late events that every report must ignore.
const AS_OF: &str = "2025-04-03T12:00:00Z";

/// Events of 2–6 persons whose names come mostly from `vocabulary` (the funnel's step names), so that attempts
/// often go somewhere.
fn random_events(rng: &mut Rng, vocabulary: &[String], dense: bool) -> Vec<Ev> {
    let base = us("2025-03-27T00:00:00Z");
    let hour = 3_600_000_000i64;
    let persons = rng.range(2, 6);
    let mut events = Vec::new();
    let mut uuid = 0u64;
    let mut next_uuid = |rng: &mut Rng| {
        // Uuids are not in time order, so ties are broken by something else than arrival.
        uuid += 1;
        UUID_BASE | (u128::from(rng.next() % 0xffff) << 16) | u128::from(uuid)
    };
    for i in 0..persons {
        // Each person is active around a day of their own, so that attempts often fit in the window.
        let home = if dense { rng.range(1, 5) } else { rng.below(8) } as i64;
        let n = if dense {
            rng.pick(&[3, 5, 7, 9, 12])
        } else {
            rng.pick(&[0, 3, 5, 7, 9, 12])
        };
        for _ in 0..n {
            let (day, h) = if dense {
                (
                    home + rng.pick(&[0i64, 0, 0, 1]),
                    rng.pick(&[9i64, 9, 10, 10, 11]),
                )
            } else {
                (
                    (home + rng.pick(&[0i64, 0, 0, 1, 1, 2, -1])).clamp(0, 8),
                    rng.pick(&[0i64, 9, 9, 10, 10, 11, 12, 23]),
                )
            };
            let quarter = rng.below(2) as i64;
            let ts = base + day * 24 * hour + h * hour + quarter * hour / 4;
            let name = if rng.chance(if dense { 75 } else { 65 }) && !vocabulary.is_empty() {
                rng.pick(vocabulary)
            } else if dense {
                rng.pick(&["x", "x", "$pageview"]).to_string()
            } else {
                rng.pick(&["a", "b", "c", "x", "x", "$pageview", "$set"])
                    .to_string()
            };
            let name = name.as_str();
            let mut props = Map::new();
            if name == "$set" {
                props.insert(
                    "$set".into(),
                    json!({"tier": rng.pick(&["gold", "silver"])}),
                );
            } else {
                if let Some(plan) = rng.pick(&[Some("free"), Some("pro"), None]) {
                    props.insert("plan".into(), json!(plan));
                }
                if let Some(src) = rng.pick(&[Some("ad"), Some("seo"), None, None]) {
                    props.insert("src".into(), json!(src));
                }
            }
            let who = if rng.chance(35) {
                format!("anon{i}")
            } else {
                format!("u{i}")
            };
            events.push(Ev {
                distinct_id: who,
                name: name.to_string(),
                ts,
                uuid: next_uuid(rng),
                props,
            });
        }
        // A merge of an anonymous id into the person (sometimes another person's id), sometimes after as_of.
        if rng.chance(60) {
            let anon = if rng.chance(20) {
                rng.below(persons)
            } else {
                i
            };
            let day = rng.below(9) as i64;
            events.push(Ev {
                distinct_id: format!("u{i}"),
                name: "$identify".into(),
                ts: base + day * 24 * hour + 12 * hour,
                uuid: next_uuid(rng),
                props: obj(json!({"$anon_distinct_id": format!("anon{anon}")})),
            });
        }
    }
    events
}

fn random_filter(rng: &mut Rng) -> Filt {
    match rng.below(4) {
        0 => Filt {
            person: false,
            key: "plan".into(),
            op: Op::Eq,
            value: Some("free".into()),
        },
        1 => Filt {
            person: false,
            key: "src".into(),
            op: Op::IsSet,
            value: None,
        },
        2 => Filt {
            person: false,
            key: "plan".into(),
            op: Op::Neq,
            value: Some("pro".into()),
        },
        _ => Filt {
            person: true,
            key: "tier".into(),
            op: Op::Eq,
            value: Some("gold".into()),
        },
    }
}

fn random_params(rng: &mut Rng) -> Params {
    let n = rng.range(2, 4);
    let order = rng.pick(&[
        Order::Ordered,
        Order::Ordered,
        Order::Strict,
        Order::Unordered,
    ]);
    let with_exclusions = rng.chance(35);
    let steps: Vec<Step> = (0..n)
        .map(|_| {
            let event = match rng.below(10) {
                0 if !with_exclusions => None,
                1 => Some(vec!["a".to_string(), "b".to_string()]),
                _ => Some(vec![rng.pick(&["a", "b", "c"]).to_string()]),
            };
            let filters = if rng.chance(12) {
                vec![random_filter(rng)]
            } else {
                Vec::new()
            };
            let occurrence = match rng.below(10) {
                0 => Occurrence::FirstEver,
                1 => Occurrence::FirstTime,
                _ => Occurrence::Any,
            };
            Step {
                event,
                filters,
                occurrence,
            }
        })
        .collect();
    let exclusions = if with_exclusions {
        let (from_step, to_step) = if order == Order::Unordered {
            (1, n)
        } else {
            let a = rng.range(1, n - 1);
            (a, rng.range(a + 1, n))
        };
        let filters = if rng.chance(30) {
            vec![Filt {
                person: false,
                key: "plan".into(),
                op: Op::Eq,
                value: Some("pro".into()),
            }]
        } else {
            Vec::new()
        };
        vec![Exclusion {
            event: Some(vec!["x".into()]),
            filters,
            from_step,
            to_step,
        }]
    } else {
        Vec::new()
    };
    let window = rng.pick(&[
        (30, Unit::Minute),
        (1, Unit::Day),
        (3, Unit::Day),
        (1, Unit::Hour),
        (3, Unit::Hour),
        (1, Unit::Day),
        (2, Unit::Day),
        (1, Unit::Week),
        (1, Unit::Month),
        (5400, Unit::Second),
    ]);
    let breakdown = if rng.chance(45) {
        let (person, properties, is_list) = match rng.below(5) {
            0 => (true, vec!["tier".to_string()], false),
            1 => (false, vec!["src".to_string()], false),
            2 => (false, vec!["plan".to_string(), "src".to_string()], true),
            _ => (false, vec!["plan".to_string()], false),
        };
        let attribution = match rng.below(4) {
            0 => Attribution::FirstTouch,
            1 => Attribution::LastTouch,
            2 => Attribution::AllEvents,
            _ if order == Order::Unordered => Attribution::Step(1),
            _ => Attribution::Step(rng.range(1, n)),
        };
        Some(Breakdown {
            person,
            properties,
            is_list,
            limit: rng.pick(&[1, 2, 3, 25]),
            attribution,
        })
    } else {
        None
    };
    let viz = match rng.below(5) {
        0 => Viz::TimeToConvert,
        1 | 2 => Viz::Trends,
        _ => Viz::Steps,
    };
    let (from_step, to_step) = if rng.chance(30) {
        let a = rng.range(1, n - 1);
        (a, rng.range(a + 1, n))
    } else {
        (1, n)
    };
    let properties = if rng.chance(15) {
        vec![random_filter(rng)]
    } else {
        Vec::new()
    };
    let interval = if viz == Viz::Trends {
        rng.pick(&[Interval::Day, Interval::Day, Interval::Week, Interval::Hour])
    } else {
        rng.pick(&[
            Interval::Day,
            Interval::Week,
            Interval::Hour,
            Interval::Month,
        ])
    };
    Params {
        steps,
        order,
        window,
        exclusions,
        date_from: rng.pick(&["2025-03-27", "2025-03-28", "2025-03-30"]).into(),
        date_to: rng
            .pick(&["2025-04-01", "2025-04-02", "2025-04-03", "2025-04-05"])
            .into(),
        interval,
        timezone: rng
            .pick(&["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
            .into(),
        week_start_sunday: rng.chance(50),
        properties,
        breakdown,
        viz,
        from_step,
        to_step,
        bin_count: if rng.chance(30) {
            Some(rng.range(1, 6))
        } else {
            None
        },
        as_of: us(AS_OF),
    }
}

fn random_plan(rng: &mut Rng, n: usize) -> IngestPlan {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let chunks = (0..rng.below(4))
        .map(|_| (rng.range(1, n.max(1)), rng.chance(50), rng.chance(40)))
        .collect();
    IngestPlan { order, chunks }
}

fn scenario(seed: u64) -> (Vec<Ev>, Params, IngestPlan) {
    let mut rng = Rng(seed);
    let p = random_params(&mut rng);
    let events = random_events(&mut rng, &vocabulary(&p), false);
    let plan = random_plan(&mut rng, events.len());
    (events, p, plan)
}

/// The first name of each step with names.
fn vocabulary(p: &Params) -> Vec<String> {
    p.steps
        .iter()
        .filter_map(|s| s.event.as_ref().map(|names| names[0].clone()))
        .collect()
}

/// A scenario where most persons go far: distinct step names without filters, windows of an hour or more, each
/// person's events within two mornings, exclusion events and page views in between. Exclusion hits, removals,
/// same-instant groups and conversions are common here.
fn dense_scenario(seed: u64) -> (Vec<Ev>, Params, IngestPlan) {
    let mut rng = Rng(seed);
    let mut p = random_params(&mut rng);
    let mut names = ["a", "b", "c", "d"];
    for i in (1..names.len()).rev() {
        names.swap(i, rng.below(i + 1));
    }
    for (k, st) in p.steps.iter_mut().enumerate() {
        st.event = Some(vec![names[k].to_string()]);
        st.filters.clear();
        if rng.chance(80) {
            st.occurrence = Occurrence::Any;
        }
    }
    p.window = rng.pick(&[
        (1, Unit::Hour),
        (90, Unit::Minute),
        (1, Unit::Day),
        (2, Unit::Day),
    ]);
    p.properties.clear();
    p.date_from = rng.pick(&["2025-03-27", "2025-03-28"]).into();
    p.date_to = rng.pick(&["2025-04-02", "2025-04-03"]).into();
    if rng.chance(60) && p.exclusions.is_empty() {
        let n = p.steps.len();
        let (from_step, to_step) = if p.order == Order::Unordered {
            (1, n)
        } else {
            let a = rng.range(1, n - 1);
            (a, rng.range(a + 1, n))
        };
        p.exclusions.push(Exclusion {
            event: Some(vec!["x".into()]),
            filters: Vec::new(),
            from_step,
            to_step,
        });
    }
    let events = random_events(&mut rng, &vocabulary(&p), true);
    let plan = random_plan(&mut rng, events.len());
    (events, p, plan)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn engine_report_equals_the_oracle(seed in any::<u64>()) {
        let (events, p, plan) = scenario(seed);
        let tmp = tempfile::tempdir().unwrap();
        let engine = ingest(tmp.path(), &events, &plan);
        assert_matches_oracle(&engine, &events, &p);
    }

    #[test]
    fn engine_report_equals_the_oracle_on_dense_scenarios(seed in any::<u64>()) {
        let (events, p, plan) = dense_scenario(seed);
        let tmp = tempfile::tempdir().unwrap();
        let engine = ingest(tmp.path(), &events, &plan);
        assert_matches_oracle(&engine, &events, &p);
    }
}

// The same scenarios, each mode forced in turn, so that no mode depends on the draw.
proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_order_mode_equals_the_oracle(seed in any::<u64>()) {
        let (events, mut p, plan) = dense_scenario(seed);
        let tmp = tempfile::tempdir().unwrap();
        let engine = ingest(tmp.path(), &events, &plan);
        for order in [Order::Ordered, Order::Strict, Order::Unordered] {
            p.order = order;
            if order == Order::Unordered {
                for x in &mut p.exclusions {
                    (x.from_step, x.to_step) = (1, p.steps.len());
                }
                if let Some(b) = &mut p.breakdown && matches!(b.attribution, Attribution::Step(_)) {
                    b.attribution = Attribution::Step(1);
                }
            }
            assert_matches_oracle(&engine, &events, &p);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    /// §12: for `step: k` the persons listing holds the persons with level ≥ k (its `total` is count(k)), for
    /// `step: -k` those with level k − 1 (dropped_off(k)), sorted by their smallest distinct id, each with the step
    /// times of the reported attempt; `limit` and `offset` page that list.
    #[test]
    fn persons_listing_matches_the_oracle(seed in any::<u64>()) {
        let (events, mut p, plan) = scenario(seed);
        p.breakdown = None;
        p.viz = Viz::Steps;
        let tmp = tempfile::tempdir().unwrap();
        let engine = ingest(tmp.path(), &events, &plan);
        let want = oracle::funnel(&events, &p);
        let f = &want.series[0].steps;
        for k in 1..=p.steps.len() {
            let mut signed = vec![(k as i64, f[k - 1].count)];
            if k >= 2 {
                signed.push((-(k as i64), f[k - 1].dropped_off.unwrap()));
            }
            for (step, total) in signed {
                let expected: Vec<Value> = want
                    .persons
                    .iter()
                    .filter(|(_, o)| {
                        let l = oracle::level(o);
                        if step > 0 { l >= k } else { l == k - 1 }
                    })
                    .map(|(id, o)| {
                        let times = match o {
                            oracle::Outcome::Level(_, t) => t.clone(),
                            _ => Vec::new(),
                        };
                        json!({"first_id": id, "steps_completed": oracle::level(o), "step_times": times})
                    })
                    .collect();
                let mut params = p.to_json();
                params["step"] = json!(step);
                params["limit"] = json!(100);
                let out = persons(&engine, &params);
                prop_assert_eq!(
                    out["total"].as_u64(), Some(total),
                    "step {}\n{}\n{:#}", step, describe(&events, &p), out
                );
                let got: Vec<Value> = list(&out["persons"])
                    .iter()
                    .map(|person| {
                        let times: Vec<i64> = list(&person["step_times"])
                            .iter()
                            .map(|t| t.as_str().unwrap().parse::<jiff::Timestamp>().unwrap().as_microsecond())
                            .collect();
                        json!({"first_id": person["distinct_ids"][0], "steps_completed": person["steps_completed"],
                               "step_times": times})
                    })
                    .collect();
                prop_assert_eq!(
                    &got, &expected,
                    "step {}\n{}", step, describe(&events, &p)
                );
                params["limit"] = json!(2);
                params["offset"] = json!(1);
                let page = persons(&engine, &params);
                prop_assert_eq!(page["total"].as_u64(), Some(total));
                let firsts: Vec<Value> = list(&page["persons"]).iter().map(|x| x["distinct_ids"][0].clone()).collect();
                let want_page: Vec<Value> = expected.iter().skip(1).take(2).map(|x| x["first_id"].clone()).collect();
                prop_assert_eq!(firsts, want_page);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Reports do not depend on storage history: two ingest plans, then compaction and a reopen, give the same bytes.
    #[test]
    fn output_bytes_do_not_depend_on_ingest_order_or_storage(seed in any::<u64>()) {
        let (events, p, plan_a) = scenario(seed);
        let plan_b = random_plan(&mut Rng(seed ^ 0x5555), events.len());
        let render = |plan: &IngestPlan| {
            let tmp = tempfile::tempdir().unwrap();
            let engine = ingest(tmp.path(), &events, plan);
            let first = funnels(&engine, &p.to_json()).to_string();
            engine.compact().unwrap();
            drop(engine);
            let engine = fixture::open(tmp.path());
            let again = funnels(&engine, &p.to_json()).to_string();
            assert_eq!(first, again, "compaction and a reopen changed the report");
            first
        };
        prop_assert_eq!(render(&plan_a), render(&plan_b));
    }
}

/// A late `$identify` (after as_of) merges nothing, and an event after as_of is ignored, whatever the range says.
#[test]
fn events_and_merges_after_as_of_are_ignored() {
    let events = rows(&[
        ("anon", "signup", "2025-06-02T09:00:00Z", json!({})),
        ("u", "upgrade", "2025-06-02T10:00:00Z", json!({})),
        (
            "u",
            "$identify",
            "2025-06-05T10:00:00Z",
            json!({"$anon_distinct_id": "anon"}),
        ),
        ("anon", "upgrade", "2025-06-05T09:30:00Z", json!({})),
    ]);
    let mut p = params(&["signup", "upgrade"]);
    p.window = (7, Unit::Day);
    let tmp = tempfile::tempdir().unwrap();
    let engine = engine_with(tmp.path(), &events);
    // Before the merge and the late upgrade: anon entered, u never did.
    p.as_of = us("2025-06-04T00:00:00Z");
    let out = assert_matches_oracle(&engine, &events, &p);
    assert_eq!(out["series"][0]["steps"][0]["count"], 1);
    assert_eq!(out["series"][0]["steps"][1]["count"], 0);
    // After the merge: one person who converted at 10:00 on the 2nd.
    p.as_of = us("2025-07-01T00:00:00Z");
    let out = assert_matches_oracle(&engine, &events, &p);
    assert_eq!(out["series"][0]["steps"][1]["count"], 1);
    assert_eq!(
        out["series"][0]["steps"][1]["average_time_s"],
        json!(3600.0)
    );
}

/// A funnel of named steps reads only those events: steps that never occur are named in the notes, and the
/// window is not called empty while other events fill it; strict order, which needs every event, still sees the
/// activity between two steps.
#[test]
fn named_steps_read_only_their_events_and_the_notes_still_tell_the_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = engine_with(tmp.path(), &example_a());
    let base = json!({"projects": ["p"], "date_from": "2025-06-01", "date_to": "2025-06-10",
                      "as_of": "2025-06-20T00:00:00Z", "conversion_window": {"value": 14, "unit": "day"}});
    let mut missing = base.clone();
    missing["steps"] = json!([{"event": "signup"}, {"event": "refund"}]);
    let out = funnels(&engine, &missing);
    let codes: Vec<Value> = list(&out["provenance"]["notes"])
        .iter()
        .map(|n| n["code"].clone())
        .collect();
    assert!(codes.contains(&json!("event_not_found")), "{out:#}");
    assert!(!codes.contains(&json!("empty_window")), "{out:#}");
    // Strict order: ana's chat_message between signup and upgrade breaks a signup → upgrade attempt.
    let mut strict = base.clone();
    strict["steps"] = json!([{"event": "signup"}, {"event": "upgrade"}]);
    let ordered = funnels(&engine, &strict);
    strict["order"] = json!("strict");
    let strict = funnels(&engine, &strict);
    let reached = |v: &Value| v["series"][0]["steps"][1]["count"].as_u64();
    assert_eq!(reached(&ordered), Some(2), "{ordered:#}");
    assert_eq!(reached(&strict), Some(0), "{strict:#}");
}
