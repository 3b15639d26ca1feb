//! Project settings (retention.md §2, §5.3, §5.4) through the engine: a project's time zone, week start,
//! non-activity events and test-account filters apply to every report kind that names none, are echoed in the
//! report's parameters, and `verify` re-derives a report after the settings changed.

mod fixture;

use liucun::Engine;
use liucun::model::Timestamp;
use liucun::settings;
use report::settings::ProjectSettings;
use report::{Kind, Request};
use serde_json::{Value, json};

fn run(engine: &Engine, kind: Kind, params: &Value) -> Result<Value, String> {
    let request = Request::from_json(kind, params).map_err(|e| e.to_string())?;
    engine
        .report(request, Timestamp(0))
        .map(|r| r.to_json())
        .map_err(|e| e.to_string())
}

/// Daily event totals of "any activity event" in project `p`, 2025-06-01 … 06-04.
fn daily_totals(report: &Value) -> Vec<u64> {
    report["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_u64().unwrap())
        .collect()
}

fn trends_params(extra: Value) -> Value {
    let mut p = json!({"projects": ["p"], "series": [{"entity": {"event": null}, "math": "total"}],
                       "interval": "day", "date_from": "2025-06-01", "date_to": "2025-06-04",
                       "as_of": "2025-06-10T00:00:00Z"});
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

fn engine(dir: &std::path::Path) -> Engine {
    let engine = fixture::open(dir);
    fixture::import_rows(
        &engine,
        "p",
        &[
            // 23:30 UTC on June 2 is 07:30 on June 3 in Shanghai.
            ("a", "$pageview", "2025-06-02T23:30:00Z", json!({})),
            (
                "b",
                "$pageview",
                "2025-06-02T10:00:00Z",
                json!({"internal": true}),
            ),
            ("c", "$set", "2025-06-02T10:00:00Z", json!({})),
        ],
    );
    engine
}

#[test]
fn each_setting_applies_is_echoed_and_verifies_after_it_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let engine = engine(&dir);

    let plain = run(&engine, Kind::Trends, &trends_params(json!({}))).unwrap();
    assert_eq!(
        daily_totals(&plain),
        [0, 2, 0, 0],
        "UTC, $set is not activity"
    );
    assert_eq!(plain["parameters"]["timezone"], "UTC");
    assert_eq!(plain["parameters"]["week_start"], "monday");
    assert_eq!(
        plain["parameters"]["project_settings"]["p"]["non_activity_events"][0],
        "$set"
    );

    settings::update(&dir, "p", |s| {
        s.timezone = Some("Asia/Shanghai".into());
        s.non_activity_events = Some(vec![]);
        s.test_account_filters = vec![
            serde_json::from_value(json!({"key": "internal", "operator": "is_not_set"})).unwrap(),
        ];
    })
    .unwrap();
    let zoned = run(&engine, Kind::Trends, &trends_params(json!({}))).unwrap();
    assert_eq!(zoned["parameters"]["timezone"], "Asia/Shanghai");
    assert_eq!(
        daily_totals(&zoned),
        [0, 2, 1, 0],
        "Shanghai days; $set counts with an empty non-activity list; test accounts stay without the flag"
    );
    let filtered = run(
        &engine,
        Kind::Trends,
        &trends_params(json!({"filter_test_accounts": true})),
    )
    .unwrap();
    assert_eq!(daily_totals(&filtered), [0, 1, 1, 0], "b is a test account");
    assert!(
        filtered["definition"]
            .as_str()
            .unwrap()
            .contains("leaving out test accounts"),
        "{}",
        filtered["definition"]
    );
    // A request that names its own time zone keeps it.
    let utc = run(
        &engine,
        Kind::Trends,
        &trends_params(json!({"timezone": "UTC"})),
    )
    .unwrap();
    assert_eq!(daily_totals(&utc), [0, 3, 0, 0]);

    // The settings change again; the published reports still verify from their own parameters.
    settings::update(&dir, "p", |s| *s = ProjectSettings::default()).unwrap();
    for published in [&plain, &zoned, &filtered] {
        let v = engine.verify(published).unwrap();
        assert!(v.matches, "{:?}", v.differences);
    }
    assert_eq!(
        daily_totals(&run(&engine, Kind::Trends, &trends_params(json!({}))).unwrap()),
        [0, 2, 0, 0]
    );
}

#[test]
fn every_kind_applies_the_test_account_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let engine = engine(&dir);
    settings::update(&dir, "p", |s| {
        s.test_account_filters = vec![
            serde_json::from_value(json!({"key": "internal", "operator": "is_not_set"})).unwrap(),
        ];
    })
    .unwrap();
    let window = json!({"projects": ["p"], "date_from": "2025-06-01", "date_to": "2025-06-04",
                        "as_of": "2025-06-10T00:00:00Z"});
    let cases = [
        (
            Kind::Retention,
            json!({"period": "day", "total_intervals": 3}),
        ),
        (Kind::Stickiness, json!({})),
        (Kind::Lifecycle, json!({})),
        (
            Kind::Growth,
            json!({"date_from": null, "date_to": null, "milestones": [1]}),
        ),
    ];
    for (kind, own) in cases {
        let mut with = window.clone();
        for (k, v) in own.as_object().unwrap() {
            if v.is_null() {
                with.as_object_mut().unwrap().remove(k);
            } else {
                with[k] = v.clone();
            }
        }
        let without = run(&engine, kind, &with).unwrap();
        with["filter_test_accounts"] = json!(true);
        let filtered = run(&engine, kind, &with).unwrap();
        assert_ne!(
            persons_counted(&without),
            persons_counted(&filtered),
            "{kind:?}: the test account b must leave the counts"
        );
        assert_eq!(
            filtered["parameters"]["project_settings"]["p"]["test_account_filters"][0]["key"],
            "internal"
        );
        let v = engine.verify(&filtered).unwrap();
        assert!(v.matches, "{kind:?}: {:?}", v.differences);
    }
}

/// A fingerprint of a report's numbers: every integer in its data, outside parameters and provenance.
fn persons_counted(report: &Value) -> Vec<u64> {
    fn walk(v: &Value, out: &mut Vec<u64>) {
        match v {
            Value::Number(n) => out.extend(n.as_u64()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (k, v) in report.as_object().unwrap() {
        if k != "parameters" && k != "provenance" {
            walk(v, &mut out);
        }
    }
    out
}

#[test]
fn projects_that_disagree_must_name_the_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let engine = engine(&dir);
    fixture::import_rows(
        &engine,
        "q",
        &[("z", "$pageview", "2025-06-02T10:00:00Z", json!({}))],
    );
    settings::update(&dir, "q", |s| s.timezone = Some("Europe/Berlin".into())).unwrap();
    let both = trends_params(json!({"projects": ["p", "q"]}));
    let e = run(&engine, Kind::Trends, &both).unwrap_err();
    assert!(
        e.contains("timezone") && e.contains("Europe/Berlin") && e.contains("UTC"),
        "{e}"
    );
    // Growth over several projects is in UTC (activity.md §4.1); over one, in the project's zone.
    let growth = |projects: Value| {
        run(
            &engine,
            Kind::Growth,
            &json!({"projects": projects, "milestones": [1], "as_of": "2025-06-10T00:00:00Z"}),
        )
        .unwrap()["parameters"]["timezone"]
            .clone()
    };
    assert_eq!(growth(json!(["p", "q"])), "UTC");
    assert_eq!(growth(json!(["q"])), "Europe/Berlin");
    let named = trends_params(json!({"projects": ["p", "q"], "timezone": "UTC"}));
    assert!(run(&engine, Kind::Trends, &named).is_ok());
    // Settings for a project the report does not hold are refused, naming the key.
    let stray = trends_params(json!({"project_settings": {"zz": {}}}));
    let e = run(&engine, Kind::Trends, &stray).unwrap_err();
    assert!(e.contains("project_settings.zz"), "{e}");
}
