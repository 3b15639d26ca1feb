//! Growth milestones (activity.md §4) through the engine: day 0, C(d) with merged persons, launch dates, the `mau`
//! metric, personless persons, incomplete days, a naive reference on random data, `verify`, and validation errors.

mod fixture;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use liucun::Engine;
use liucun::model::Timestamp;
use proptest::prelude::*;
use report::{Kind, Request};
use serde_json::{Value, json};

/// One NDJSON event at an RFC 3339 instant.
fn ev(n: u64, who: &str, name: &str, at: &str, props: Value) -> String {
    json!({
        "uuid": format!("00000000-0000-4000-8000-{n:012x}"),
        "distinct_id": who, "event": name, "timestamp": at, "properties": props,
    })
    .to_string()
}

/// An engine holding `lines` per project.
fn engine_with(dir: &Path, projects: &[(&str, Vec<String>)]) -> Engine {
    let engine = fixture::open(&dir.join("data"));
    for (project, lines) in projects {
        for chunk in lines.chunks(2000) {
            let text = chunk.join("\n") + "\n";
            engine.import_batch(fixture::batch(project, &text)).unwrap();
        }
    }
    engine.flush().unwrap();
    engine
}

fn request(params: &Value) -> Request {
    Request::from_json(Kind::Growth, params).unwrap()
}

/// The growth report's JSON.
#[track_caller]
fn growth(engine: &Engine, params: Value) -> Value {
    engine
        .report(request(&params), Timestamp(0))
        .unwrap()
        .to_json()
}

/// The day `n` days after `start`, at 10:00 UTC.
fn at(start: &str, n: i64) -> String {
    let d: jiff::civil::Date = start.parse().unwrap();
    format!(
        "{}T10:00:00Z",
        d.checked_add(jiff::Span::new().days(n)).unwrap()
    )
}

/// `count` new persons spread evenly over `days` days from `start`, ids from `*next`.
fn arrivals(
    out: &mut Vec<String>,
    next: &mut u64,
    prefix: &str,
    start: &str,
    days: i64,
    count: u64,
) {
    for i in 0..count {
        let day = (i as i64 * days) / count as i64;
        *next += 1;
        out.push(ev(
            *next,
            &format!("{prefix}{next}"),
            "$pageview",
            &at(start, day),
            json!({}),
        ));
    }
}

/// The spec's example: A from 2024-01-15 reaches 1,000 on 02-03 (19 days) and stands at 6,412; B from 2024-03-01
/// reaches 1,000 on 03-08 (7 days). as_of is 04-01 12:00 UTC, so 03-31 is the last complete day.
fn spec_example(dir: &Path) -> Engine {
    let mut a = Vec::new();
    let mut n = 0;
    arrivals(&mut a, &mut n, "a", "2024-01-15", 19, 999);
    arrivals(&mut a, &mut n, "a", "2024-02-03", 1, 1);
    arrivals(&mut a, &mut n, "a", "2024-02-04", 57, 5412);
    // Returning visits and bookkeeping events add no person.
    a.push(ev(
        90_001,
        "a1",
        "$pageview",
        &at("2024-03-20", 0),
        json!({}),
    ));
    a.push(ev(
        90_002,
        "never-active",
        "$set",
        &at("2024-01-10", 0),
        json!({}),
    ));
    // Arrivals on as_of's own day show in the curve's last, incomplete point but not in `current`.
    arrivals(&mut a, &mut n, "a", "2024-04-01", 1, 10);
    // After as_of: ignored.
    a.push(ev(
        90_003,
        "late",
        "$pageview",
        "2024-04-01T13:00:00Z",
        json!({}),
    ));
    let mut b = Vec::new();
    arrivals(&mut b, &mut n, "b", "2024-03-01", 7, 999);
    arrivals(&mut b, &mut n, "b", "2024-03-08", 1, 1);
    engine_with(dir, &[("a", a), ("b", b)])
}

fn milestones(r: &Value, project: usize) -> Vec<Value> {
    r["projects"][project]["milestones"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn spec_example_two_projects_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = spec_example(tmp.path());
    let r = growth(
        &engine,
        json!({"projects": ["a", "b"], "milestones": [1000, 10000], "as_of": "2024-04-01T12:00:00Z"}),
    );
    assert_eq!(r["kind"], "growth");
    assert_eq!(r["metric"], "cumulative_persons");
    assert_eq!(
        r["window"],
        json!({"timezone": "UTC", "as_of": "2024-04-01T12:00:00Z", "last_complete_day": "2024-03-31"})
    );
    let a = &r["projects"][0];
    assert_eq!(a["project"], "a");
    assert_eq!(a["day0"], "2024-01-15");
    assert_eq!(a["launch_date"], Value::Null);
    assert_eq!(
        milestones(&r, 0),
        vec![
            json!({"n": 1000, "reached_on": "2024-02-03", "days": 19, "current": null}),
            json!({"n": 10000, "reached_on": null, "days": null, "current": 6412}),
        ]
    );
    assert_eq!(a["current"], 6412);
    let curve = a["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 78, "2024-01-15 ..= 2024-04-01");
    assert_eq!(
        curve[0],
        json!({"day": "2024-01-15", "days_since_d0": 0, "value": curve[0]["value"], "incomplete": false})
    );
    assert_eq!(curve[18]["value"], 999);
    assert_eq!(curve[19]["value"], 1000);
    assert_eq!(curve[76]["value"], 6412);
    assert_eq!(
        curve[77],
        json!({"day": "2024-04-01", "days_since_d0": 77, "value": 6422, "incomplete": true})
    );
    let b = &r["projects"][1];
    assert_eq!(b["day0"], "2024-03-01");
    assert_eq!(
        milestones(&r, 1),
        vec![
            json!({"n": 1000, "reached_on": "2024-03-08", "days": 7, "current": null}),
            json!({"n": 10000, "reached_on": null, "days": null, "current": 1000}),
        ]
    );
    // Each project carries its own fingerprint; the report's combines them.
    let fa = a["provenance"]["data_fingerprint"].as_str().unwrap();
    let fb = b["provenance"]["data_fingerprint"].as_str().unwrap();
    assert_ne!(fa, fb);
    assert_eq!(r["provenance"]["projects"][0]["data_fingerprint"], fa);
    assert_ne!(r["provenance"]["data_fingerprint"], fa);

    let report = engine
        .report(
            request(&json!({"projects": ["a", "b"], "milestones": [1000, 10000],
                            "as_of": "2024-04-01T12:00:00Z"})),
            Timestamp(0),
        )
        .unwrap();
    let table = report.to_table(report::render::Color::Plain);
    assert!(table.contains("19 d"), "{table}");
    assert!(table.contains("- (now 6412)"), "{table}");
    let csv = report.to_csv();
    assert!(csv.contains("a,milestone,1000,2024-02-03,19,,"), "{csv}");
    assert!(csv.contains("b,curve,,2024-03-08,7,1000,false"), "{csv}");
    for chart in ["curves", "milestones"] {
        assert!(report.to_svg(Some(chart)).unwrap().starts_with("<svg"));
    }
    assert!(report.to_svg(Some("heatmap")).is_err());
}

#[test]
fn verify_recomputes_the_same_report() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = spec_example(tmp.path());
    let r = growth(
        &engine,
        json!({"projects": ["a", "b"], "milestones": [1000], "metric": "mau",
               "launch_date": {"b": "2024-02-20"}, "as_of": "2024-04-01T12:00:00Z"}),
    );
    let v = engine.verify(&r).unwrap();
    assert!(v.matches, "{:?}", v.differences);
    // Without as_of the echo still records it.
    let r = growth(&engine, json!({"projects": ["b"]}));
    assert!(r["parameters"]["as_of"].is_string());
    assert!(engine.verify(&r).unwrap().matches);
}

#[test]
fn a_launch_date_moves_day_0_and_earlier_persons_still_count() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = spec_example(tmp.path());
    let r = growth(
        &engine,
        json!({"projects": ["a", "b"], "milestones": [500, 1000],
               "launch_date": {"a": "2024-01-25", "b": "2024-02-25"}, "as_of": "2024-04-01T12:00:00Z"}),
    );
    let a = &r["projects"][0];
    assert_eq!(a["day0"], "2024-01-25");
    assert_eq!(a["launch_date"], "2024-01-25");
    // A had passed 500 persons before its launch date: reaching N on day 0 gives 0.
    assert_eq!(milestones(&r, 0)[0]["days"], 0);
    assert_eq!(milestones(&r, 0)[0]["reached_on"], "2024-01-25");
    assert_eq!(milestones(&r, 0)[1]["days"], 9);
    assert_eq!(a["curve"][0]["days_since_d0"], 0);
    assert!(a["curve"][0]["value"].as_u64().unwrap() > 500);
    // B's launch date lies before its first event: the curve starts at zero.
    let b = &r["projects"][1];
    assert_eq!(b["day0"], "2024-02-25");
    assert_eq!(b["curve"][0]["value"], 0);
    assert_eq!(milestones(&r, 1)[1]["days"], 12);
    // The echo writes launch dates as an object; one project also takes a plain date.
    assert_eq!(r["parameters"]["launch_date"]["b"], "2024-02-25");
    let r = growth(
        &engine,
        json!({"projects": ["b"], "milestones": [1000], "launch_date": "2024-03-02",
               "as_of": "2024-04-01T12:00:00Z"}),
    );
    assert_eq!(milestones(&r, 0)[0]["days"], 6);
    assert_eq!(r["parameters"]["launch_date"], json!({"b": "2024-03-02"}));
}

#[test]
fn mau_counts_persons_active_in_the_last_30_days() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for (i, who) in ["p", "q", "r"].iter().enumerate() {
        lines.push(ev(
            i as u64 + 1,
            who,
            "chat",
            "2025-03-01T10:00:00Z",
            json!({}),
        ));
    }
    lines.push(ev(10, "p", "chat", "2025-03-20T10:00:00Z", json!({})));
    lines.push(ev(11, "s", "chat", "2025-04-15T10:00:00Z", json!({})));
    let engine = engine_with(tmp.path(), &[("m", lines)]);
    let params = |metric: &str| {
        json!({"projects": ["m"], "milestones": [3, 4], "metric": metric,
               "as_of": "2025-04-20T00:00:00Z"})
    };
    let r = growth(&engine, params("mau"));
    assert_eq!(r["metric"], "mau");
    assert!(r["definition"].as_str().unwrap().contains("30 local days"));
    let value = |day: u64| {
        r["projects"][0]["curve"][day as usize]["value"]
            .as_u64()
            .unwrap()
    };
    // Day 29 (03-30) still holds 03-01; day 30 (03-31) does not, but p returned on 03-20.
    assert_eq!(value(0), 3);
    assert_eq!(value(29), 3);
    assert_eq!(value(30), 1);
    assert_eq!(value(48), 2, "04-18: p (03-20) and s");
    assert_eq!(value(49), 1, "04-19: only s");
    assert_eq!(
        milestones(&r, 0),
        vec![
            json!({"n": 3, "reached_on": "2025-03-01", "days": 0, "current": null}),
            json!({"n": 4, "reached_on": null, "days": null, "current": 1}),
        ]
    );
    let r = growth(&engine, params("cumulative_persons"));
    assert_eq!(milestones(&r, 0)[1]["reached_on"], "2025-04-15");
    assert_eq!(r["projects"][0]["current"], 4);
}

#[test]
fn a_merge_lowers_past_counts_and_changes_the_fingerprint() {
    let tmp = tempfile::tempdir().unwrap();
    let before = vec![
        ev(1, "a-17", "$pageview", "2025-05-01T10:00:00Z", json!({})),
        ev(2, "u-9", "$pageview", "2025-05-02T10:00:00Z", json!({})),
    ];
    let engine = engine_with(tmp.path(), &[("p", before)]);
    let params = json!({"projects": ["p"], "milestones": [2], "as_of": "2025-05-10T00:00:00Z"});
    let r1 = growth(&engine, params.clone());
    assert_eq!(milestones(&r1, 0)[0]["days"], 1);
    assert_eq!(r1["projects"][0]["current"], 2);
    let merge = ev(
        3,
        "u-9",
        "$identify",
        "2025-05-03T10:00:00Z",
        json!({"$anon_distinct_id": "a-17"}),
    );
    engine
        .import_batch(fixture::batch("p", &(merge + "\n")))
        .unwrap();
    let r2 = growth(&engine, params);
    // One person from 05-01: the milestone of 2 is no longer reached, and no past day counts 2.
    assert_eq!(
        milestones(&r2, 0)[0],
        json!({"n": 2, "reached_on": null, "days": null, "current": 1})
    );
    assert!(
        r2["projects"][0]["curve"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["value"] == 1)
    );
    assert_ne!(
        r1["projects"][0]["provenance"]["data_fingerprint"],
        r2["projects"][0]["provenance"]["data_fingerprint"]
    );
}

#[test]
fn personless_persons_are_excluded_unless_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = vec![
        ev(1, "known", "$pageview", "2025-05-01T10:00:00Z", json!({})),
        ev(
            2,
            "anon",
            "$pageview",
            "2025-05-02T10:00:00Z",
            json!({"$process_person_profile": false}),
        ),
    ];
    let engine = engine_with(tmp.path(), &[("p", lines)]);
    let r = growth(
        &engine,
        json!({"projects": ["p"], "milestones": [2], "as_of": "2025-05-10T00:00:00Z"}),
    );
    assert_eq!(r["projects"][0]["current"], 1);
    assert_eq!(
        r["projects"][0]["provenance"]["excluded"]["personless_persons"],
        1
    );
    let r = growth(
        &engine,
        json!({"projects": ["p"], "milestones": [2], "personless": "include",
               "as_of": "2025-05-10T00:00:00Z"}),
    );
    assert_eq!(r["projects"][0]["current"], 2);
    assert_eq!(milestones(&r, 0)[0]["days"], 1);
}

#[test]
fn entity_and_filters_choose_who_arrives() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = vec![
        ev(1, "x", "$pageview", "2025-05-01T10:00:00Z", json!({})),
        ev(
            2,
            "x",
            "signup",
            "2025-05-03T10:00:00Z",
            json!({"plan": "pro"}),
        ),
        ev(
            3,
            "y",
            "signup",
            "2025-05-02T10:00:00Z",
            json!({"plan": "free"}),
        ),
    ];
    let engine = engine_with(tmp.path(), &[("p", lines)]);
    let r = growth(
        &engine,
        json!({"projects": ["p"], "milestones": [1], "entity": {"event": "signup"},
               "properties": [{"type": "event", "key": "plan", "operator": "eq", "value": "pro"}],
               "as_of": "2025-05-10T00:00:00Z"}),
    );
    assert_eq!(r["projects"][0]["day0"], "2025-05-03");
    assert_eq!(r["projects"][0]["current"], 1);
    assert!(r["definition"].as_str().unwrap().contains("`signup`"));
}

#[test]
fn the_curve_thins_to_weekly_points_past_two_years() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = vec![
        ev(1, "x", "chat", "2020-01-01T10:00:00Z", json!({})),
        ev(2, "y", "chat", "2023-01-01T10:00:00Z", json!({})),
    ];
    let engine = engine_with(tmp.path(), &[("p", lines)]);
    let r = growth(
        &engine,
        json!({"projects": ["p"], "milestones": [2], "as_of": "2023-06-01T00:00:00Z"}),
    );
    let curve = r["projects"][0]["curve"].as_array().unwrap();
    let since: Vec<u64> = curve
        .iter()
        .map(|c| c["days_since_d0"].as_u64().unwrap())
        .collect();
    assert_eq!(since[730], 730);
    assert_eq!(since[731], 737);
    // The last complete day and as_of's day are always shown.
    let last = since.len() - 1;
    assert_eq!(since[last], 1247);
    assert_eq!(since[last - 1], 1246);
    assert!(curve[last]["incomplete"].as_bool().unwrap());
    assert_eq!(milestones(&r, 0)[0]["days"], 1096);
}

#[test]
fn a_project_without_matching_events_has_no_day_0() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = engine_with(
        tmp.path(),
        &[(
            "p",
            vec![ev(1, "x", "$set", "2025-05-01T10:00:00Z", json!({}))],
        )],
    );
    let r = growth(
        &engine,
        json!({"projects": ["p"], "milestones": [1], "as_of": "2025-05-10T00:00:00Z"}),
    );
    assert_eq!(r["projects"][0]["day0"], Value::Null);
    assert_eq!(r["projects"][0]["curve"], json!([]));
    assert_eq!(milestones(&r, 0)[0]["current"], 0);
}

#[test]
fn validation_errors_name_the_field() {
    let cases = [
        (json!({"projects": ["p"], "milestones": [0]}), "milestones"),
        (
            json!({"projects": ["p"], "milestones": "1000"}),
            "milestones",
        ),
        (json!({"projects": ["p"], "metric": "wau"}), "metric"),
        (
            json!({"projects": ["p"], "launch_date": "2025-02-30"}),
            "launch_date",
        ),
        (
            json!({"projects": ["p", "q"], "launch_date": "2025-02-01"}),
            "launch_date",
        ),
        (
            json!({"projects": ["p"], "launch_date": {"q": "2025-02-01"}}),
            "launch_date",
        ),
        (json!({"projects": ["p"], "date_from": "-30d"}), "date_from"),
        (
            json!({"projects": ["p"], "week_start": "monday"}),
            "week_start",
        ),
        (json!({"projects": ["p"], "entity": {"event": 3}}), "entity"),
        (json!({"projects": ["p"], "milestone": [5]}), "milestone"),
        (json!({"projects": ["p"], "as_of": "yesterday"}), "as_of"),
        (
            json!({"projects": ["p"], "timezone": "Mars/Olympus"}),
            "timezone",
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let engine = engine_with(tmp.path(), &[]);
    for (params, field) in cases {
        let err = match Request::from_json(Kind::Growth, &params) {
            Err(e) => e.to_string(),
            Ok(r) => engine.report(r, Timestamp(0)).unwrap_err().to_string(),
        };
        assert!(err.contains(&format!("`{field}")), "{params}: {err}");
    }
}

#[test]
fn days_of_history_are_bounded_naming_as_of() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = liucun::EngineConfig::default();
    config.report_limits.max_cells = 100;
    let engine = fixture::open_with(&tmp.path().join("data"), config);
    let lines = ev(1, "x", "chat", "2025-01-01T10:00:00Z", json!({})) + "\n";
    engine.import_batch(fixture::batch("p", &lines)).unwrap();
    let err = engine
        .report(
            request(&json!({"projects": ["p"], "as_of": "2025-06-01T00:00:00Z"})),
            Timestamp(0),
        )
        .unwrap_err();
    assert!(err.to_string().contains("`as_of`"), "{err}");
}

/// The reference: per distinct id (no merges in the generated data), the local day of its first activity event.
fn naive(events: &[(u8, u8, u32)], tz: &str, as_of: i64) -> BTreeMap<String, u64> {
    let tz = jiff::tz::TimeZone::get(tz).unwrap();
    let day = |us: i64| {
        jiff::Timestamp::from_microsecond(us)
            .unwrap()
            .to_zoned_datetime(tz.clone())
            .date()
    };
    let mut first: BTreeMap<u8, jiff::civil::Date> = BTreeMap::new();
    for &(who, name, offset_h) in events {
        let us = BASE_US + i64::from(offset_h) * 3_600_000_000;
        if name == 2 || us > as_of {
            continue;
        }
        let d = day(us);
        first
            .entry(who)
            .and_modify(|f| *f = (*f).min(d))
            .or_insert(d);
    }
    let Some(&d0) = first.values().min() else {
        return BTreeMap::new();
    };
    let last = day(as_of);
    let mut out = BTreeMap::new();
    let mut d = d0;
    while d <= last {
        let n = first.values().filter(|&&f| f <= d).count() as u64;
        out.insert(d.to_string(), n);
        d = d.tomorrow().unwrap();
    }
    out
}

const BASE_US: i64 = 1_740_787_200_000_000; // 2025-03-01T00:00:00Z
const NAMES: [&str; 3] = ["$pageview", "signup", "$set"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn matches_a_naive_count(
        events in proptest::collection::vec((0u8..6, 0u8..3, 0u32..24 * 20), 0..30),
        tz in proptest::sample::select(vec!["UTC", "Asia/Shanghai", "America/New_York"]),
        as_of_h in 24u32..24 * 22,
        ms in proptest::collection::vec(1u64..8, 1..4),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let lines: Vec<String> = events
            .iter()
            .enumerate()
            .map(|(i, &(who, name, h))| {
                let ts = jiff::Timestamp::from_microsecond(BASE_US + i64::from(h) * 3_600_000_000).unwrap();
                ev(i as u64 + 1, &format!("d{who}"), NAMES[name as usize], &ts.to_string(), json!({}))
            })
            .collect();
        let engine = engine_with(tmp.path(), &[("p", lines)]);
        let as_of = BASE_US + i64::from(as_of_h) * 3_600_000_000 + 1_800_000_000;
        let r = growth(&engine, json!({
            "projects": ["p"], "milestones": ms, "timezone": tz,
            "as_of": jiff::Timestamp::from_microsecond(as_of).unwrap().to_string(),
        }));
        let want = naive(&events, tz, as_of);
        let got: BTreeMap<String, u64> = r["projects"][0]["curve"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["day"].as_str().unwrap().to_string(), c["value"].as_u64().unwrap()))
            .collect();
        prop_assert_eq!(&got, &want);
        let days: Vec<&String> = want.keys().collect();
        let last_complete = if days.len() >= 2 { want[days[days.len() - 2]] } else { 0 };
        for m in milestones(&r, 0) {
            let n = m["n"].as_u64().unwrap();
            match want.iter().position(|(_, &v)| v >= n) {
                Some(i) => {
                    prop_assert_eq!(m["days"].as_u64(), Some(i as u64));
                    prop_assert_eq!(m["reached_on"].as_str(), Some(days[i].as_str()));
                }
                None => {
                    prop_assert_eq!(&m["days"], &Value::Null);
                    prop_assert_eq!(m["current"].as_u64(), Some(last_complete));
                }
            }
        }
        let distinct: BTreeSet<u8> = events.iter().filter(|e| e.1 != 2).map(|e| e.0).collect();
        prop_assert!(r["projects"][0]["current"].as_u64().unwrap() <= distinct.len() as u64);
    }
}
