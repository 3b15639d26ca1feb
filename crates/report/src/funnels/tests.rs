//! The worked examples of funnels.md, through the whole kind (parameters, plan, run, JSON).

use serde_json::{Map, Value, json};

use crate::kind::{Kind, Limits, Request};
use crate::table::EventTable;

/// (person, "MM-DD HH:MM" in June 2025 UTC, event, properties)
type Row<'a> = (&'a str, &'a str, &'a str, Value);

fn us(when: &str) -> i64 {
    let t: jiff::Timestamp = format!("2025-{}:00Z", when.replace(' ', "T"))
        .parse()
        .expect("a test time");
    t.as_microsecond()
}

fn table(rows: &[Row<'_>]) -> EventTable {
    let mut t = EventTable {
        project: "p".to_string(),
        ..EventTable::default()
    };
    let mut persons: Vec<String> = Vec::new();
    for (i, (person, when, event, props)) in rows.iter().enumerate() {
        let p = match persons.iter().position(|x| x == person) {
            Some(p) => p,
            None => {
                persons.push(person.to_string());
                persons.len() - 1
            }
        };
        let n = match t.names.iter().position(|x| x == event) {
            Some(n) => n,
            None => {
                t.names.push(event.to_string());
                t.names.len() - 1
            }
        };
        t.person.push(p as u32);
        t.ts.push(us(when));
        t.uuid.push(i as u128 + 1);
        t.name.push(n as u32);
        t.properties.push(match props {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        });
    }
    t.n_persons = persons.len();
    t.person_ids = persons.iter().map(|p| vec![p.clone()]).collect();
    t
}

fn report(rows: &[Row<'_>], params: Value) -> Value {
    let t = table(rows);
    let request = Request::from_json(Kind::Funnels, &params).expect("valid parameters");
    let planned = request.plan(0, &Limits::default()).expect("a plan");
    planned
        .run(&[&t], &Limits::default())
        .expect("a report")
        .to_json()
}

fn base(steps: &[&str], window: Value) -> Value {
    json!({
        "projects": ["p"],
        "steps": steps.iter().map(|s| json!({"event": s})).collect::<Vec<_>>(),
        "conversion_window": window,
        "date_from": "2025-06-01",
        "date_to": "2025-06-07",
        "as_of": "2025-07-01T00:00:00Z",
    })
}

fn counts(r: &Value, series: usize) -> Vec<u64> {
    r["series"][series]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["count"].as_u64().expect("a count"))
        .collect()
}

fn example_a() -> Vec<Row<'static>> {
    vec![
        ("ana", "06-01 09:00", "signup", json!({})),
        ("ana", "06-01 09:20", "chat_message", json!({})),
        ("ana", "06-01 10:00", "upgrade", json!({})),
        ("ben", "06-01 10:00", "signup", json!({})),
        ("ben", "06-03 10:00", "signup", json!({})),
        ("ben", "06-03 12:00", "chat_message", json!({})),
        ("cai", "06-02 08:00", "chat_message", json!({})),
        ("cai", "06-02 09:00", "signup", json!({})),
        ("dee", "06-02 12:00", "signup", json!({})),
        ("dee", "06-02 12:30", "chat_message", json!({})),
        ("dee", "06-03 13:00", "upgrade", json!({})),
        ("eve", "06-05 23:00", "signup", json!({})),
        ("eve", "06-08 01:00", "chat_message", json!({})),
    ]
}

#[test]
fn example_a_counts_rates_and_times() {
    let r = report(
        &example_a(),
        base(
            &["signup", "chat_message", "upgrade"],
            json!({"value": 1, "unit": "day"}),
        ),
    );
    assert_eq!(r["kind"], "funnels");
    let steps = &r["series"][0]["steps"];
    assert_eq!(counts(&r, 0), vec![5, 3, 1]);
    assert_eq!(steps[1]["rate_from_first"], json!(0.6));
    assert_eq!(steps[1]["ci95_from_first"], json!([0.230724, 0.882379]));
    assert_eq!(steps[2]["ci95_from_first"], json!([0.036224, 0.624465]));
    assert_eq!(steps[2]["rate_from_previous"], json!(0.333333));
    assert_eq!(steps[2]["ci95_from_previous"], json!([0.061492, 0.79234]));
    assert_eq!(steps[1]["dropped_off"], json!(2));
    assert_eq!(steps[1]["average_time_s"], json!(3400.0));
    assert_eq!(steps[1]["median_time_s"], json!(1800.0));
    assert_eq!(steps[2]["average_time_s"], json!(2400.0));
    assert_eq!(steps[0]["ci95_from_first"], Value::Null);
    assert_eq!(
        r["window"]["full_window_entries_until"],
        "2025-06-06T23:59:59.999999+00:00"
    );
    assert_eq!(r["window"]["conversion_window_s"], 86400);
    assert!(r["definition"].as_str().unwrap().contains("in this order"));
}

#[test]
fn example_c_strict_reads_activity_but_not_bookkeeping() {
    let rows = vec![
        ("kim", "06-01 09:00", "signup", json!({})),
        ("kim", "06-01 09:01", "$pageview", json!({})),
        ("kim", "06-01 09:02", "chat_message", json!({})),
        ("lou", "06-01 09:00", "signup", json!({})),
        ("lou", "06-01 09:01", "$set", json!({})),
        ("lou", "06-01 09:02", "chat_message", json!({})),
    ];
    let mut p = base(
        &["signup", "chat_message"],
        json!({"value": 1, "unit": "day"}),
    );
    assert_eq!(counts(&report(&rows, p.clone()), 0), vec![2, 2]);
    p["order"] = json!("strict");
    assert_eq!(counts(&report(&rows, p), 0), vec![2, 1]);
}

#[test]
fn example_d_unordered_against_ordered() {
    let rows = vec![
        ("lia", "06-01 10:00", "C", json!({})),
        ("lia", "06-01 10:20", "A", json!({})),
        ("lia", "06-01 10:40", "B", json!({})),
        ("max", "06-01 10:00", "A", json!({})),
        ("max", "06-01 11:30", "B", json!({})),
        ("ned", "06-01 10:00", "B", json!({})),
        ("ned", "06-01 10:10", "X", json!({})),
        ("ned", "06-01 10:20", "A", json!({})),
    ];
    let mut p = base(&["A", "B", "C"], json!({"value": 1, "unit": "hour"}));
    p["exclusions"] = json!([{"event": "X", "from_step": 1, "to_step": 3}]);
    p["order"] = json!("unordered");
    let r = report(&rows, p.clone());
    assert_eq!(counts(&r, 0), vec![3, 1, 1]);
    assert_eq!(r["series"][0]["steps"][1]["label"], "Completed 2 steps");
    assert_eq!(r["series"][0]["steps"][1]["median_time_s"], json!(1200.0));
    p["order"] = json!("ordered");
    assert_eq!(counts(&report(&rows, p), 0), vec![3, 1, 0]);
}

#[test]
fn example_e_attributions() {
    let rows = vec![
        ("one", "06-01 09:00", "signup", json!({"plan": "free"})),
        ("one", "06-01 10:00", "upgrade", json!({"plan": "pro"})),
    ];
    let run = |attribution: &str, step: Option<u64>| {
        let mut p = base(&["signup", "upgrade"], json!({"value": 1, "unit": "day"}));
        p["breakdown"] = json!({"type": "event", "property": "plan", "attribution": attribution});
        if let Some(s) = step {
            p["breakdown"]["attribution_step"] = json!(s);
        }
        let r = report(&rows, p);
        r["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["breakdown_value"].as_str().unwrap_or("").to_string(),
                    s["steps"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x["count"].as_u64().unwrap())
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run("first_touch", None), vec![("free".into(), vec![1, 1])]);
    assert_eq!(run("last_touch", None), vec![("pro".into(), vec![1, 1])]);
    assert_eq!(run("all_events", None), vec![("free".into(), vec![1, 0])]);
    assert_eq!(run("step", Some(2)), vec![("pro".into(), vec![1, 1])]);
}

#[test]
fn ranking_puts_the_last_step_first_and_merges_the_rest_into_other() {
    // x: 3 reach step 2; z: 3; w: 1; y: 4 only step 1.
    let mut rows = Vec::new();
    let names = [
        "x1", "x2", "x3", "z1", "z2", "z3", "w1", "y1", "y2", "y3", "y4",
    ];
    for (i, who) in names.iter().enumerate() {
        let value = &who[..1];
        let _ = i;
        rows.push((*who, "06-01 09:00", "signup", json!({"v": value})));
        if !who.starts_with('y') {
            rows.push((*who, "06-01 09:30", "upgrade", json!({"v": value})));
        }
    }
    let mut p = base(&["signup", "upgrade"], json!({"value": 1, "unit": "day"}));
    p["breakdown"] = json!({"type": "event", "property": "v", "limit": 2});
    let r = report(&rows, p);
    assert_eq!(r["breakdown_values"], json!(["x", "z", "$other"]));
    assert_eq!(counts(&r, 2), vec![5, 1]);
    assert_eq!(r["series"][2]["is_other"], json!(true));
}

#[test]
fn example_f_trends() {
    let rows = vec![
        ("oli", "06-01 10:00", "signup", json!({})),
        ("oli", "06-01 11:00", "upgrade", json!({})),
        ("oli", "06-02 09:00", "signup", json!({})),
        ("pia", "06-01 23:00", "signup", json!({})),
        ("pia", "06-02 20:00", "upgrade", json!({})),
    ];
    let mut p = base(&["signup", "upgrade"], json!({"value": 1, "unit": "day"}));
    p["date_to"] = json!("2025-06-03");
    p["viz"] = json!("trends");
    let r = report(&rows, p);
    let periods = &r["trends"][0]["periods"];
    assert_eq!(periods.as_array().unwrap().len(), 3);
    assert_eq!(periods[0]["entered"], 2);
    assert_eq!(periods[0]["converted"], 2);
    assert_eq!(periods[0]["conversion_rate"], json!(1.0));
    assert_eq!(periods[0]["ci95"], json!([0.34238, 1.0]));
    assert_eq!(
        (
            periods[1]["entered"].clone(),
            periods[1]["converted"].clone()
        ),
        (json!(1), json!(0))
    );
    assert_eq!(periods[2]["conversion_rate"], Value::Null);
    assert!(r["series"].is_null());
}

#[test]
fn example_g_time_to_convert_bins() {
    let rows = vec![
        ("a", "06-01 09:00", "signup", json!({})),
        ("a", "06-01 09:01", "upgrade", json!({})),
        ("b", "06-01 09:00", "signup", json!({})),
        ("b", "06-01 09:10", "upgrade", json!({})),
        ("c", "06-01 09:00", "signup", json!({})),
        ("c", "06-01 09:50", "upgrade", json!({})),
    ];
    let mut p = base(&["signup", "upgrade"], json!({"value": 1, "unit": "day"}));
    p["viz"] = json!("time_to_convert");
    let r = report(&rows, p.clone());
    let t = &r["time_to_convert"];
    assert_eq!(t["persons"], 3);
    assert_eq!(t["average_s"], json!(1220.0));
    assert_eq!(t["median_s"], json!(600.0));
    assert_eq!(
        t["bins"],
        json!([
            {"from_s": 60.0, "to_s": 1530.0, "count": 2},
            {"from_s": 1530.0, "to_s": 3000.0, "count": 0},
            {"from_s": 3000.0, "to_s": 4470.0, "count": 1},
        ])
    );
    p["bin_count"] = json!(4);
    let r = report(&rows, p);
    let bins = r["time_to_convert"]["bins"].as_array().unwrap();
    assert_eq!(bins.len(), 5);
    assert_eq!(bins[4]["count"], 1);
}

#[test]
fn first_time_steps_match_only_the_anchor() {
    let rows = vec![
        // The first chat is before the range: chatting "for the first time" in the range is impossible.
        ("old", "05-20 09:00", "chat_message", json!({})),
        ("old", "06-01 09:00", "signup", json!({})),
        ("old", "06-01 09:10", "chat_message", json!({})),
        ("new", "06-01 09:00", "signup", json!({})),
        ("new", "06-01 09:10", "chat_message", json!({})),
        ("new", "06-01 09:20", "chat_message", json!({})),
    ];
    let mut p = base(
        &["signup", "chat_message"],
        json!({"value": 1, "unit": "day"}),
    );
    assert_eq!(counts(&report(&rows, p.clone()), 0), vec![2, 2]);
    p["steps"][1]["occurrence"] = json!("first_time");
    let r = report(&rows, p);
    assert_eq!(counts(&r, 0), vec![2, 1]);
}

#[test]
fn persons_listing_matches_the_counts() {
    let rows = example_a();
    let p = base(
        &["signup", "chat_message", "upgrade"],
        json!({"value": 1, "unit": "day"}),
    );
    let t = table(&rows);
    let list = |step: i64| {
        let mut q = p.clone();
        q["step"] = json!(step);
        let (params, sel) = super::params::split_persons(&q).expect("valid");
        let crate::kind::Planned::Funnels(plan) = Request::Funnels(params)
            .plan(0, &Limits::default())
            .expect("plan")
        else {
            panic!("a funnel plan")
        };
        super::persons::list(&plan, &[&t], &sel, &Limits::default())
            .expect("a listing")
            .to_json()
    };
    let reached = list(2);
    assert_eq!(reached["total"], 3);
    assert_eq!(reached["persons"][0]["distinct_ids"], json!(["ana"]));
    assert_eq!(reached["persons"][0]["steps_completed"], 3);
    let dropped = list(-3);
    assert_eq!(dropped["total"], 2);
    let names: Vec<&str> = dropped["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["distinct_ids"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["ben", "dee"]
            .into_iter()
            .filter(|n| *n != "dee")
            .chain(["dee"])
            .collect::<Vec<_>>()
    );
}

#[test]
fn hostile_parameters_are_refused_by_name() {
    let rows = example_a();
    let t = table(&rows);
    let check = |patch: Value, field: &str| {
        let mut p = base(&["signup", "upgrade"], json!({"value": 1, "unit": "day"}));
        for (k, v) in patch.as_object().unwrap() {
            p[k] = v.clone();
        }
        let err = Request::from_json(Kind::Funnels, &p)
            .and_then(|r| r.plan(0, &Limits::default()))
            .and_then(|pl| pl.run(&[&t], &Limits::default()));
        match err {
            Err(crate::Error::Invalid { field: f, .. }) => assert_eq!(f, field, "{patch}"),
            other => panic!("{patch}: expected an error naming {field}, got {other:?}"),
        }
    };
    check(json!({"steps": [{"event": "a"}]}), "steps");
    check(
        json!({"conversion_window": {"value": 0, "unit": "day"}}),
        "conversion_window.value",
    );
    check(
        json!({"conversion_window": {"value": u64::MAX, "unit": "month"}}),
        "conversion_window.value",
    );
    check(
        json!({"exclusions": [{"event": "signup", "from_step": 1, "to_step": 2}]}),
        "exclusions[0]",
    );
    check(
        json!({"exclusions": [{"event": "x", "from_step": 2, "to_step": 2}]}),
        "exclusions[0].from_step",
    );
    check(
        json!({"exclusions": [{"event": "x", "from_step": 1, "to_step": 9}]}),
        "exclusions[0].to_step",
    );
    check(json!({"from_step": 2, "to_step": 2}), "from_step");
    check(json!({"bin_count": 0}), "bin_count");
    check(
        json!({"breakdown": {"property": "v", "attribution": "step"}}),
        "breakdown.attribution_step",
    );
    check(
        json!({"breakdown": {"property": "v", "attribution_step": 1}}),
        "breakdown.attribution_step",
    );
    check(json!({"date_to": "all"}), "date_to");
    check(
        json!({"date_from": "2025-07-01", "date_to": "2025-06-01"}),
        "date_from",
    );
    check(json!({"viz": "pie"}), "viz");
    check(
        json!({"breakdown": {"property": [], "type": "event"}}),
        "breakdown.property",
    );
    check(
        json!({"interval": "hour", "date_from": "1900-01-01", "viz": "trends"}),
        "date_from",
    );
}
