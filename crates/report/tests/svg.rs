//! The SVG charts drawn from a report as published in JSON.
//!
//! `LIUCUN_SVG_REPORT=report.json cargo test -p liucun-report --test svg` also writes `report.curves.svg` and
//! `report.heatmap.svg` next to that file, to look at the charts of real data.

use liucun_report::params::RetentionParams;
use liucun_report::retention::{Mean, Provenance, RetentionReport, Row, WindowInfo};
use liucun_report::svg::{self, ChartKind};
use serde_json::{Value, json};

#[test]
fn charts_of_a_published_report() {
    let report = report_from_json(&published());
    let curves = svg::chart(&report, ChartKind::Curves);
    let heat = svg::chart(&report, ChartKind::Heatmap);
    assert_eq!(curves, svg::curves(&report));
    assert_eq!(heat, svg::heatmap(&report, None));
    for text in [&curves, &heat] {
        assert!(text.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(text.ends_with("</svg>\n"));
        assert!(text.contains("lc1:sha256:9f2c0d1e…0a1b2c"));
    }
    // Two cohorts, three columns: the row of 01-02 has no cell in column 2.
    assert_eq!(heat.matches("<title>2025-01-0").count(), 5);
    // Three incomplete cells and the key.
    assert_eq!(heat.matches("url(#lc-hatch)").count(), 3 + 1);
}

#[test]
fn writes_the_charts_of_a_report_file() {
    let Some(path) = std::env::var_os("LIUCUN_SVG_REPORT") else {
        return;
    };
    let path = std::path::PathBuf::from(path);
    let text = std::fs::read_to_string(&path).expect("reading LIUCUN_SVG_REPORT");
    let report = report_from_json(&serde_json::from_str(&text).expect("report JSON"));
    for (kind, name) in [
        (ChartKind::Curves, "curves"),
        (ChartKind::Heatmap, "heatmap"),
    ] {
        let out = path.with_extension(format!("{name}.svg"));
        std::fs::write(&out, svg::chart(&report, kind)).expect("writing the chart");
    }
}

fn published() -> Value {
    json!({
        "definition": "Of persons whose first `signup` happened in a day (UTC), the share who did any activity event in each later day.",
        "parameters": {"projects": ["demo"], "period": "day", "retention_type": "first_time", "target": {"event": "signup"}},
        "window": {"first_period": "2025-01-01T00:00:00+00:00", "last_period": "2025-01-02T00:00:00+00:00",
                   "end_exclusive": "2025-01-03T00:00:00+00:00", "rows": 2, "columns": 3},
        "columns": ["Day 0", "Day 1", "Day 2"],
        "rows": [
            {"project": "demo", "breakdown_value": null, "is_other": false, "label": "Day 0",
             "cohort_start": "2025-01-01T00:00:00+00:00", "size": 50, "counts": [50, 10, 4],
             "rates": [1.0, 0.2, 0.08], "ci95": [null, [0.112437, 0.330371], [0.031, 0.188]],
             "incomplete": [false, false, true]},
            {"project": "demo", "breakdown_value": null, "is_other": false, "label": "Day 1",
             "cohort_start": "2025-01-02T00:00:00+00:00", "size": 20, "counts": [20, 0, null],
             "rates": [1.0, 0.0, null], "ci95": [null, [0.0, 0.161], null],
             "incomplete": [true, true, null]}
        ],
        "mean": [{"project": "demo", "breakdown_value": null, "is_other": false,
                  "rates": [1.0, 0.2, null], "ci95": [null, [0.112437, 0.330371], null],
                  "rows_used": [1, 1, 0], "persons": [50, 50, 0]}],
        "provenance": {"engine": "liucun 0.0.0", "as_of": "2025-01-03T12:00:00Z",
                       "data_fingerprint": "lc1:sha256:9f2c0d1e00000000000000000000000000000000000000000000000000a1b2c"}
    })
}

/// Reads back the parts of a published report that the charts use.
fn report_from_json(v: &Value) -> RetentionReport {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let rates = |v: &Value| -> Vec<Option<f64>> { list(v).iter().map(Value::as_f64).collect() };
    let ci = |v: &Value| -> Vec<Option<(f64, f64)>> {
        list(v)
            .iter()
            .map(|c| Some((c.get(0)?.as_f64()?, c.get(1)?.as_f64()?)))
            .collect()
    };
    let ints = |v: &Value| -> Vec<u64> { list(v).iter().filter_map(Value::as_u64).collect() };
    let w = &v["window"];
    RetentionReport {
        definition: s(&v["definition"]),
        params: RetentionParams::from_json(&v["parameters"]).expect("parameters"),
        window: WindowInfo {
            first_period: s(&w["first_period"]),
            last_period: s(&w["last_period"]),
            end_exclusive: s(&w["end_exclusive"]),
            rows: w["rows"].as_u64().unwrap_or(0) as usize,
            columns: w["columns"].as_u64().unwrap_or(0) as usize,
            ends_before_as_of: w["ends_before_as_of"].as_bool().unwrap_or(false),
        },
        columns: list(&v["columns"]).iter().map(s).collect(),
        rows: list(&v["rows"])
            .iter()
            .map(|r| Row {
                project: s(&r["project"]),
                breakdown_value: r["breakdown_value"].as_str().map(str::to_string),
                is_other: r["is_other"].as_bool().unwrap_or(false),
                label: s(&r["label"]),
                cohort_start: s(&r["cohort_start"]),
                size: r["size"].as_u64().unwrap_or(0),
                counts: list(&r["counts"]).iter().map(Value::as_u64).collect(),
                rates: rates(&r["rates"]),
                ci95: ci(&r["ci95"]),
                incomplete: list(&r["incomplete"]).iter().map(Value::as_bool).collect(),
                beyond_data: list(&r["beyond_data"]).iter().map(Value::as_bool).collect(),
            })
            .collect(),
        mean: list(&v["mean"])
            .iter()
            .map(|m| Mean {
                project: s(&m["project"]),
                breakdown_value: m["breakdown_value"].as_str().map(str::to_string),
                is_other: m["is_other"].as_bool().unwrap_or(false),
                rates: rates(&m["rates"]),
                ci95: ci(&m["ci95"]),
                rows_used: ints(&m["rows_used"]),
                persons: ints(&m["persons"]),
            })
            .collect(),
        breakdown_values: None,
        provenance: Provenance {
            engine: s(&v["provenance"]["engine"]),
            as_of: s(&v["provenance"]["as_of"]),
            data_fingerprint: s(&v["provenance"]["data_fingerprint"]),
            projects: Vec::new(),
            notes: Vec::new(),
        },
    }
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}
