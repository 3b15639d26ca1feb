//! No parameter can crash or exhaust a report: every report kind runs over a corpus of hostile parameter objects —
//! every field of a full parameters object (and every nested field) replaced in turn by extreme, mistyped and
//! oversized values, plus the combinations reviews found — and each must end in a report or a refusal naming a
//! field, never a panic, an internal error, or memory past a bound.
//!
//! One test in its own binary, so the process's peak resident memory is this corpus's alone.

mod fixture;

use std::panic::AssertUnwindSafe;

use liucun::model::Timestamp;
use liucun::{Engine, EngineConfig};
use report::{Kind, Request};
use serde_json::{Value, json};

/// Peak resident memory the whole corpus may reach.
const PEAK_BOUND_MIB: u64 = 1024;

fn hostile_values() -> Vec<Value> {
    let mut v = vec![
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(1),
        json!(2.5),
        json!(-1e308),
        json!(1e308),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1_000_000_000),
        json!(""),
        json!(" "),
        json!("x"),
        json!("\u{0}"),
        json!("日本語"),
        json!("-99999999d"),
        json!("-7304485d"),
        json!("-99999999m"),
        json!("-99999h"),
        json!("+99999999d"),
        json!("9999-12-30"),
        json!("9999-12-31T23:59:59Z"),
        json!("0000-01-01"),
        json!("-009999-01-01T00:00:00Z"),
        json!("2025-02-30"),
        json!("1970-01-01T00:00:00Z"),
        json!("2025-06-03T02:30:00"),
        json!("NaN"),
        json!("hour"),
        json!("month"),
        json!("p99"),
        json!("24h"),
        json!("Mars/Olympus_Mons"),
        json!([]),
        json!([null]),
        json!(["p"]),
        json!([0, -1, 1_000_000]),
        json!({}),
        json!({"event": "chat"}),
        json!({"type": "person", "property": "plan", "limit": 1_000_000_000}),
        json!({"type": "event", "key": "model", "operator": "regex", "value": "(a+)+$"}),
        json!([{"key": "x", "operator": "nope"}]),
        json!([{"entity": {"event": null}, "math": "p95", "math_property": "latency_ms"}]),
    ];
    v.push(Value::String("x".repeat(100_000)));
    v.push(Value::Array((0..10_000).map(|i| json!(i)).collect()));
    v.push(Value::Array(
        (0..10_000).map(|i| json!(format!("e{i}"))).collect(),
    ));
    v
}

/// One full parameters object per kind: every shared and own field set, most away from their defaults.
fn bases() -> Vec<(Kind, Value)> {
    let shared = json!({
        "projects": ["p"], "date_from": "2025-06-01", "date_to": "2025-06-10", "timezone": "Europe/Berlin",
        "week_start": "sunday", "properties": [{"key": "plan", "operator": "neq", "value": "free"}],
        "filter_test_accounts": true, "personless": "include", "as_of": "2025-06-20T00:00:00Z", "lang": "zh-CN",
    });
    let with = |kind: Kind, own: Value| {
        let mut p = shared.clone();
        for (k, v) in own.as_object().expect("object") {
            p[k] = v.clone();
        }
        // Drop the shared keys this kind does not take (growth has no dates, lifecycle no personless).
        while let Err(report::Error::Invalid { field, message }) = Request::from_json(kind, &p) {
            if !message.contains("is not a parameter of") {
                break;
            }
            p.as_object_mut().expect("object").remove(&field);
        }
        (kind, p)
    };
    vec![
        with(
            Kind::Retention,
            json!({"period": "day", "total_intervals": 5, "retention_type": "first_time",
                   "exclude_partial_periods": true,
                   "target": {"event": "signup", "properties": [{"key": "model", "operator": "is_set"}]},
                   "returning": {"event": null},
                   "breakdown": {"type": "event", "property": "model", "limit": 3}}),
        ),
        with(
            Kind::Trends,
            json!({"interval": "day",
                   "series": [{"entity": {"event": "chat"}, "math": "p95", "math_property": "latency_ms"},
                              {"entity": {"event": null}, "math": "dau_mau"}],
                   "breakdown": {"type": "person", "property": "plan", "limit": 2}}),
        ),
        with(
            Kind::Stickiness,
            json!({"series": {"event": "chat", "properties": [{"key": "model", "operator": "eq", "value": "m1"}]}}),
        ),
        with(Kind::Lifecycle, json!({"series": {"event": "chat"}})),
        with(
            Kind::Growth,
            json!({"milestones": [1, 5, 100], "entity": {"event": "chat"}}),
        ),
        with(
            Kind::Funnels,
            json!({"steps": [{"event": "signup", "properties": [{"key": "model", "operator": "is_set"}]},
                             {"event": "chat", "occurrence": "first_time", "name": "first chat"},
                             {"event": ["chat", "payment"]}],
                   "order": "ordered", "conversion_window": {"value": 3, "unit": "day"},
                   "exclusions": [{"event": "refund", "from_step": 1, "to_step": 2}],
                   "breakdown": {"type": "event", "property": ["model", "plan"], "limit": 3,
                                 "attribution": "step", "attribution_step": 2},
                   "viz": "trends", "interval": "day", "from_step": 1, "to_step": 3, "bin_count": 5}),
        ),
        with(
            Kind::Economics,
            json!({"period": "week", "total_intervals": 3, "target": {"event": "signup", "properties": [{"key": "model", "operator": "is_set"}]},
                   "currency": "CNY", "fee_treatment": "contra_revenue",
                   "other_costs": {"per_active_user": "0.05", "per_event": {"chat": "0.01"}},
                   "acquisition_spend": [{"period_start": "2025-06-02", "amount": "100", "currency": "USD"}],
                   "fx_rates": [{"date": "2025-01-01", "from": "USD", "to": "CNY", "rate": "7.1", "source": "test"}],
                   "prices": []}),
        ),
    ]
}

/// Every path into a JSON value: object keys and array indexes, outer before inner.
fn paths(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(Step::Key(k.clone()));
                out.push(at.clone());
                paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate().take(3) {
                at.push(Step::Index(i));
                out.push(at.clone());
                paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn set(v: &mut Value, path: &[Step], new: Value) {
    let mut cur = v;
    for (i, step) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        cur = match step {
            Step::Key(k) => {
                if last {
                    cur[k.as_str()] = new;
                    return;
                }
                &mut cur[k.as_str()]
            }
            Step::Index(n) => {
                if last {
                    cur[*n] = new;
                    return;
                }
                &mut cur[*n]
            }
        };
    }
}

/// The cases reviews found, beside the field-by-field corpus.
fn combinations() -> Vec<(Kind, Value)> {
    vec![
        // A breakdown on a high-cardinality property with hourly periods (the count matrix sized before the limit).
        (
            Kind::Retention,
            json!({"projects": ["p"], "period": "hour", "total_intervals": 1000, "date_from": "-99999h",
                   "breakdown": {"type": "event", "property": "session", "limit": 1000}}),
        ),
        (
            Kind::Trends,
            json!({"projects": ["p"], "interval": "hour", "date_from": "-100y",
                   "series": [{"entity": {"event": null}, "math": "mau"}],
                   "breakdown": {"property": "session", "limit": 1000}}),
        ),
        (
            Kind::Trends,
            json!({"projects": ["p"], "interval": "day", "date_from": "all",
                   "series": [{"entity": {"event": null}, "math": "total"}]}),
        ),
        (
            Kind::Stickiness,
            json!({"projects": ["p"], "interval": "hour", "date_from": "-99999999d"}),
        ),
        (
            Kind::Lifecycle,
            json!({"projects": ["p"], "interval": "hour", "date_from": "-7304485d", "date_to": "9999-12-30"}),
        ),
        (
            Kind::Growth,
            json!({"projects": ["p"], "milestones": [u64::MAX], "as_of": "9999-12-31T23:59:59Z"}),
        ),
        (
            Kind::Funnels,
            json!({"projects": ["p"], "interval": "hour", "date_from": "all", "viz": "trends",
                   "steps": [{"event": null}, {"event": null}], "conversion_window": {"value": 1000000, "unit": "month"}}),
        ),
        (
            Kind::Funnels,
            json!({"projects": ["p"], "order": "unordered", "date_from": "-99999999d",
                   "steps": [{"event": null}, {"event": null}, {"event": null}],
                   "breakdown": {"property": "session", "limit": 1000, "attribution": "all_events"}}),
        ),
        (
            Kind::Economics,
            json!({"projects": ["p"], "period": "hour", "total_intervals": 120, "date_from": "-99999999d",
                   "cac_per_user": "99999999999999999999999999.99"}),
        ),
    ]
}

/// An engine over a small project with every property the bases read: plans, models, sessions of high
/// cardinality, latencies, a persons' `$set`, and a test account.
fn engine(dir: &std::path::Path) -> Engine {
    let config = EngineConfig {
        report_limits: report::Limits {
            max_cells: 2_000_000,
            ..Default::default()
        },
        ..EngineConfig::default()
    };
    let engine = fixture::open_with(dir, config);
    let mut text = String::new();
    for i in 0..3_000u64 {
        let who = format!("u{}", i % 97);
        let day = 1 + i % 19;
        let event = ["signup", "chat", "chat", "$set", "payment"][(i % 5) as usize];
        let plan = ["free", "pro"][(i % 2) as usize];
        let props = json!({"model": format!("m{}", i % 4), "session": format!("s{i}"), "latency_ms": i % 1000,
                           "$set": {"plan": plan}});
        text += &json!({"uuid": format!("00000000-0000-4000-8000-{:012x}", i + 1), "distinct_id": who,
                        "event": event, "timestamp": format!("2025-06-{day:02}T{:02}:00:00Z", i % 24),
                        "properties": props})
        .to_string();
        text.push('\n');
    }
    engine
        .import_batch(fixture::batch("p", &text))
        .expect("import");
    engine.flush().expect("flush");
    liucun::settings::update(dir, "p", |s| {
        s.test_account_filters = vec![
            serde_json::from_value(json!({"key": "model", "operator": "neq", "value": "m3"}))
                .expect("filter"),
        ];
    })
    .expect("settings");
    engine
}

/// Runs one case; `Err` describes a failure of the rule (a panic, an internal error, an unnamed refusal).
fn run(engine: &Engine, kind: Kind, params: &Value) -> Result<(), String> {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let request = match Request::from_json(kind, params) {
            Ok(r) => r,
            Err(e) => return Err(liucun::Error::Report(e)),
        };
        engine
            .report(request, Timestamp(1_750_000_000_000_000))
            .map(|r| {
                // Every renderer must cope with whatever the report holds.
                let _ = r.to_json();
                let _ = r.to_table(report::render::Color::Plain);
                let _ = r.to_csv();
                for chart in r.charts() {
                    let _ = r.to_svg(Some(chart));
                }
            })
    }));
    match outcome {
        Err(_) => Err("panicked".into()),
        Ok(Ok(())) => Ok(()),
        Ok(Err(liucun::Error::Report(
            report::Error::Invalid { field, .. } | report::Error::TooLarge { field, .. },
        ))) if !field.is_empty() => Ok(()),
        Ok(Err(liucun::Error::Invalid(m))) if !m.is_empty() => Ok(()),
        Ok(Err(e)) => Err(format!("not a refusal naming a field: {e}")),
    }
}

#[test]
fn no_parameter_of_any_kind_crashes_or_exhausts_a_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let engine = engine(&dir);
    // Quiet the default hook: the corpus reports panics itself, with the case.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    let mut cases = 0usize;
    let values = hostile_values();
    for (kind, base) in bases() {
        if let Err(e) = run(&engine, kind, &base) {
            failures.push(format!("{kind:?} base {base}: {e}"));
            continue;
        }
        if let Err(e) = Request::from_json(kind, &base) {
            failures.push(format!("{kind:?}: the base parameters are invalid: {e}"));
        }
        let mut all = Vec::new();
        paths(&base, &mut Vec::new(), &mut all);
        for path in &all {
            for value in &values {
                let mut p = base.clone();
                set(&mut p, path, value.clone());
                cases += 1;
                if let Err(e) = run(&engine, kind, &p) {
                    let shown: String = value.to_string().chars().take(60).collect();
                    failures.push(format!("{kind:?} {path:?} = {shown}: {e}"));
                }
            }
        }
    }
    for (kind, p) in combinations() {
        cases += 1;
        if let Err(e) = run(&engine, kind, &p) {
            failures.push(format!("{kind:?} {p}: {e}"));
        }
    }
    std::panic::set_hook(hook);
    assert!(
        failures.is_empty(),
        "{} of {cases} cases broke the rule:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases > 5_000, "the corpus ran {cases} cases");
    if let Some(peak) = peak_rss_mib() {
        eprintln!("{cases} hostile cases; peak resident memory {peak} MiB");
        assert!(
            peak < PEAK_BOUND_MIB,
            "peak resident memory {peak} MiB over {cases} cases"
        );
    }
}

/// The process's peak resident memory (Linux `VmHWM`), if the system reports it.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}
