//! The OpenAPI document describes every report kind's parameters and output as they are: each kind's echoed
//! parameters hold exactly the documented keys, and every key of a report (at any depth) is documented, with the
//! type the schema names. A field added to a report without its documentation fails here.

mod fixture;

use liucun::model::Timestamp;
use report::{Kind, Request};
use serde_json::{Map, Value, json};

const OPENAPI: &str = include_str!("../../server/src/openapi.json");

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["components"]["schemas"]
        .get(name)
        .unwrap_or_else(|| panic!("schema {name} is documented"))
}

fn resolve<'a>(doc: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => schema(
            doc,
            r.strip_prefix("#/components/schemas/")
                .expect("a local ref"),
        ),
        None => s,
    }
}

/// Why `v` does not fit schema `s` (an empty list when it fits).
fn misfits(doc: &Value, s: &Value, v: &Value, at: &str) -> Vec<String> {
    let s = resolve(doc, s);
    if let Some(options) = s.get("anyOf").and_then(Value::as_array) {
        let tried: Vec<Vec<String>> = options.iter().map(|o| misfits(doc, o, v, at)).collect();
        return if tried.iter().any(Vec::is_empty) {
            Vec::new()
        } else {
            tried.into_iter().flatten().collect()
        };
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        return if options.contains(v) {
            Vec::new()
        } else {
            vec![format!("{at}: {v} is not one of {options:?}")]
        };
    }
    let ty = s.get("type").and_then(Value::as_str);
    let fits = match (ty, v) {
        (None, _) => true,
        (Some("null"), Value::Null) => true,
        (Some("string"), Value::String(_)) => true,
        (Some("boolean"), Value::Bool(_)) => true,
        (Some("integer"), Value::Number(n)) => n.is_i64() || n.is_u64(),
        (Some("number"), Value::Number(_)) => true,
        (Some("array"), Value::Array(_)) => true,
        (Some("object"), Value::Object(_)) => true,
        _ => false,
    };
    if !fits {
        return vec![format!("{at}: {v} is not of type {}", ty.unwrap_or("?"))];
    }
    let mut out = Vec::new();
    match v {
        Value::Array(items) => {
            if let Some(item) = s.get("items") {
                for (i, x) in items.iter().enumerate() {
                    out.extend(misfits(doc, item, x, &format!("{at}[{i}]")));
                }
            }
        }
        Value::Object(m) => {
            let props = s.get("properties").and_then(Value::as_object);
            let extra = s.get("additionalProperties");
            for (k, x) in m {
                let path = format!("{at}.{k}");
                match (props.and_then(|p| p.get(k)), extra) {
                    (Some(p), _) => out.extend(misfits(doc, p, x, &path)),
                    (None, Some(Value::Bool(false))) => {
                        out.push(format!("{path} is not documented"))
                    }
                    (None, Some(e @ Value::Object(_))) => out.extend(misfits(doc, e, x, &path)),
                    (None, _) => {}
                }
            }
        }
        _ => {}
    }
    out
}

fn engine(dir: &std::path::Path) -> liucun::Engine {
    let engine = fixture::open(dir);
    let mut text = String::new();
    for i in 0..400u64 {
        let event = ["signup", "chat", "chat", "payment"][(i % 4) as usize];
        text += &json!({"uuid": format!("00000000-0000-4000-8000-{:012x}", i + 1), "distinct_id": format!("u{}", i % 23),
                        "event": event, "timestamp": format!("2025-06-{:02}T10:00:00Z", 1 + i % 14),
                        "properties": {"model": format!("m{}", i % 3), "latency_ms": i % 50}})
        .to_string();
        text.push('\n');
    }
    engine
        .import_batch(fixture::batch("p", &text))
        .expect("import");
    engine.flush().expect("flush");
    engine
}

#[test]
fn every_report_kind_is_documented_as_it_is() {
    let doc: Value = serde_json::from_str(OPENAPI).expect("the OpenAPI document parses");
    let tmp = tempfile::tempdir().expect("tempdir");
    let engine = engine(&tmp.path().join("data"));
    let window = json!({"projects": ["p"], "date_from": "2025-06-01", "date_to": "2025-06-14",
                        "as_of": "2025-06-20T00:00:00Z"});
    let cases = [
        (
            Kind::Retention,
            json!({"breakdown": {"property": "model", "limit": 2}, "target": {"event": "signup"}}),
        ),
        (
            Kind::Trends,
            json!({"breakdown": {"property": "model", "limit": 2},
                   "series": [{"entity": {"event": "chat"}, "math": "p95", "math_property": "latency_ms"},
                              {"entity": {"event": null}, "math": "dau_mau"},
                              {"entity": {"event": null}, "math": "total"}]}),
        ),
        (Kind::Stickiness, json!({})),
        (Kind::Lifecycle, json!({})),
        (
            Kind::Growth,
            json!({"date_from": null, "date_to": null, "milestones": [1, 10, 1000]}),
        ),
        (
            Kind::Funnels,
            json!({"steps": [{"event": "signup"}, {"event": "chat"}, {"event": "payment"}],
                   "breakdown": {"property": "model", "limit": 2}}),
        ),
        (
            Kind::Funnels,
            json!({"steps": [{"event": "signup"}, {"event": "payment"}], "viz": "trends"}),
        ),
        (
            Kind::Funnels,
            json!({"steps": [{"event": "signup"}, {"event": "payment"}], "viz": "time_to_convert"}),
        ),
        (
            Kind::Economics,
            json!({"period": "week", "total_intervals": 2, "target": {"event": "signup"},
                   "acquisition_spend": [{"period_start": "2025-06-02", "amount": "10"}],
                   "other_costs": {"per_active_user": "0.01", "per_event": {"chat": "0.001"}}}),
        ),
    ];
    let mut problems = Vec::new();
    for (kind, own) in cases {
        let mut params: Map<String, Value> = window.as_object().expect("object").clone();
        for (k, v) in own.as_object().expect("object") {
            if v.is_null() {
                params.remove(k);
            } else {
                params.insert(k.clone(), v.clone());
            }
        }
        let request = Request::from_json(kind, &Value::Object(params)).expect("valid parameters");
        let report = engine
            .report(request, Timestamp(0))
            .expect("report")
            .to_json();
        let name = {
            let k = kind.name();
            k[..1].to_uppercase() + &k[1..]
        };
        problems.extend(misfits(
            &doc,
            schema(&doc, &format!("{name}Report")),
            &report,
            kind.name(),
        ));
        // The echo holds every parameter the kind takes, so the documented keys must be exactly its keys.
        let documented: Vec<&String> = schema(&doc, &format!("{name}Parameters"))["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect();
        let echoed: Vec<&String> = report["parameters"]
            .as_object()
            .expect("parameters")
            .keys()
            .collect();
        if documented != echoed {
            problems.push(format!(
                "{}: documented parameters {documented:?}, echoed {echoed:?}",
                kind.name()
            ));
        }
        let path = format!("/api/v1/projects/{{project}}/reports/{}", kind.name());
        for method in ["get", "post"] {
            if doc["paths"][&path][method]["responses"]["200"].is_null() {
                problems.push(format!("{method} {path} is not documented"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `lang: zh-CN` changes a report's words and nothing else: every kind's definition and notes are Chinese, and the
/// rest of the report (numbers, notes' codes, provenance) equals the English one.
#[test]
fn a_report_in_chinese_differs_only_in_its_words() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let engine = engine(&tmp.path().join("data"));
    let base = json!({"projects": ["p"], "date_from": "2025-06-01", "date_to": "2025-06-14",
                      "as_of": "2025-06-20T00:00:00Z", "properties": [{"key": "model", "operator": "neq", "value": "m9"}]});
    let cases = [
        (
            Kind::Retention,
            json!({"target": {"event": "signup"}, "cumulative": true}),
        ),
        (
            Kind::Trends,
            json!({"series": [{"entity": {"event": "chat"}, "math": "p95", "math_property": "latency_ms"},
                                        {"entity": {"event": null}, "math": "dau"}]}),
        ),
        (Kind::Stickiness, json!({})),
        (Kind::Lifecycle, json!({})),
        (
            Kind::Growth,
            json!({"date_from": null, "date_to": null, "milestones": [1, 10]}),
        ),
        (
            Kind::Funnels,
            json!({"steps": [{"event": "signup"}, {"event": "chat"}],
                               "exclusions": [{"event": "payment", "from_step": 1, "to_step": 2}]}),
        ),
        (
            Kind::Economics,
            json!({"period": "week", "total_intervals": 2, "target": {"event": "signup"},
                   "acquisition_spend": [{"period_start": "2024-01-01", "amount": "10"}]}),
        ),
    ];
    for (kind, own) in cases {
        let mut params: Map<String, Value> = base.as_object().expect("object").clone();
        for (k, v) in own.as_object().expect("object") {
            if v.is_null() {
                params.remove(k);
            } else {
                params.insert(k.clone(), v.clone());
            }
        }
        let run = |lang: &str| {
            let mut p = params.clone();
            p.insert("lang".into(), json!(lang));
            let request = Request::from_json(kind, &Value::Object(p)).expect("valid parameters");
            engine
                .report(request, Timestamp(0))
                .expect("report")
                .to_json()
        };
        let (en, zh) = (run("en"), run("zh-CN"));
        let definition = zh["definition"].as_str().expect("a definition");
        assert!(
            definition
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{}: {definition}",
            kind.name()
        );
        assert!(definition.ends_with('。'), "{}: {definition}", kind.name());
        assert_ne!(en["definition"], zh["definition"]);
        assert_eq!(zh["parameters"]["lang"], "zh-CN");
        if kind == Kind::Economics {
            assert!(
                !zh["provenance"]["notes"].as_array().unwrap().is_empty(),
                "{zh:#}"
            );
        }
        for note in zh["provenance"]["notes"].as_array().into_iter().flatten() {
            let text = note["text"].as_str().unwrap_or_default();
            assert!(
                text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{}: note {text}",
                kind.name()
            );
        }
        let strip = |mut v: Value| {
            v["definition"] = Value::Null;
            v["parameters"]["lang"] = Value::Null;
            for note in v["provenance"]["notes"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                note["text"] = Value::Null;
            }
            // Economics also lists its notes' texts at the top.
            if v.get("notes").is_some() {
                v["notes"] = Value::Null;
            }
            v
        };
        assert_eq!(strip(en), strip(zh), "{}", kind.name());
    }
}
