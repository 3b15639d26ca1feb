//! Tests of the retention charts: structure, escaping, gaps and zoom. Their exact bytes are pinned by
//! `tests/svg_golden.rs`.

use super::*;
use crate::params::RetentionParams;
use crate::retention::{Mean, Provenance, Row, WindowInfo};

/// A report with one mean per `(project, rates)` and a one-row triangle behind each.
fn report(series: &[(&str, &[Option<f64>])]) -> RetentionReport {
    let n = series.first().map_or(0, |s| s.1.len());
    let ci = |rates: &[Option<f64>]| -> Vec<Option<(f64, f64)>> {
        rates
            .iter()
            .enumerate()
            .map(|(j, r)| r.filter(|_| j > 0).map(|v| ((v - 0.05).max(0.0), v + 0.05)))
            .collect()
    };
    RetentionReport {
        definition: "Of persons whose first `signup` happened in a day (UTC), the share who did any activity event in each later day.".to_string(),
        params: RetentionParams::default(),
        window: WindowInfo {
            first_period: "2025-01-01T00:00:00+00:00".to_string(),
            last_period: "2025-01-01T00:00:00+00:00".to_string(),
            end_exclusive: "2025-01-02T00:00:00+00:00".to_string(),
            rows: 1,
            columns: n,
        },
        columns: (0..n).map(|j| format!("Day {j}")).collect(),
        rows: series
            .iter()
            .map(|(p, rates)| Row {
                project: p.to_string(),
                breakdown_value: None,
                is_other: false,
                label: "Day 0".to_string(),
                cohort_start: "2025-01-01T00:00:00+00:00".to_string(),
                size: 100,
                counts: rates.iter().map(|r| r.map(|v| (v * 100.0) as u64)).collect(),
                rates: rates.to_vec(),
                ci95: ci(rates),
                incomplete: rates.iter().map(|r| r.map(|_| false)).collect(),
            })
            .collect(),
        mean: series
            .iter()
            .map(|(p, rates)| Mean {
                project: p.to_string(),
                breakdown_value: None,
                is_other: false,
                rates: rates.to_vec(),
                ci95: ci(rates),
                rows_used: rates.iter().map(|r| u64::from(r.is_some())).collect(),
                persons: rates.iter().map(|r| if r.is_some() { 100 } else { 0 }).collect(),
            })
            .collect(),
        breakdown_values: None,
        provenance: Provenance {
            engine: "liucun 0.0.0".to_string(),
            as_of: "2025-02-01T00:00:00Z".to_string(),
            data_fingerprint: format!("lc1:sha256:9f2c{}ab12", "0".repeat(56)),
            projects: Vec::new(),
            notes: Vec::new(),
        },
    }
}

const A: &[Option<f64>] = &[Some(1.0), Some(0.4), Some(0.3), Some(0.25)];
const GAP: &[Option<f64>] = &[Some(1.0), Some(0.35), None, Some(0.2)];

#[track_caller]
fn assert_well_formed(svg: &str) {
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.ends_with("</svg>\n"));
    assert_eq!(svg.matches("<svg").count(), 1);
    let open = |tag: &str| {
        svg.matches(&format!("<{tag} ")).count() + svg.matches(&format!("<{tag}>")).count()
    };
    for tag in ["g", "text", "tspan", "title", "path", "rect", "circle"] {
        let selfclosed = svg
            .split(&format!("<{tag} "))
            .skip(1)
            .filter(|rest| rest.split('>').next().is_some_and(|t| t.ends_with('/')))
            .count();
        assert_eq!(
            open(tag) - selfclosed,
            svg.matches(&format!("</{tag}>")).count(),
            "<{tag}> not balanced"
        );
    }
    assert!(!svg.contains("NaN"));
}

#[test]
fn curves_are_well_formed_with_one_line_per_series() {
    let r = report(&[("lanting", A), ("baicao", GAP), ("moxi", A)]);
    let svg = curves(&r);
    assert_well_formed(&svg);
    assert_eq!(svg.matches("class=\"line\"").count(), 3);
    assert_eq!(svg.matches("class=\"band\"").count(), 3);
    assert!(svg.contains("<title>Day-N retention, recurring, UTC</title>"));
    assert!(svg.contains("lc1:sha256:9f2c0000…00ab12"));
    assert!(svg.contains("as of 2025-02-01T00:00:00Z"));
}

#[test]
fn heatmap_is_well_formed() {
    let r = report(&[("lanting", A), ("baicao", GAP)]);
    let svg = heatmap(&r);
    assert_well_formed(&svg);
    assert_eq!(svg.matches("class=\"block\"").count(), 2);
    // Four cells in the first row, three in the second (one outside the window).
    assert_eq!(svg.matches("<title>2025-01-01, Day").count(), 7);
    assert_eq!(chart(&r, ChartKind::Heatmap), svg);
}

#[test]
fn output_is_deterministic() {
    let r = report(&[("lanting", A), ("baicao", GAP)]);
    assert_eq!(curves(&r), curves(&r.clone()));
    assert_eq!(heatmap(&r), heatmap(&r.clone()));
}

#[test]
fn names_are_escaped() {
    let mut r = report(&[("a<b&\"c\"", A)]);
    r.mean[0].breakdown_value = Some("x'>y".to_string());
    r.rows[0].breakdown_value = Some("x'>y".to_string());
    for svg in [curves(&r), heatmap(&r)] {
        assert_well_formed(&svg);
        assert!(
            svg.contains("a&lt;b&amp;&quot;c&quot; · x&#39;&gt;y"),
            "{svg}"
        );
        assert!(!svg.contains("a<b") && !svg.contains("\"c\""));
    }
}

#[test]
fn a_missing_mean_is_a_gap_not_a_zero() {
    let svg = curves(&report(&[("baicao", GAP)]));
    let line = svg
        .lines()
        .find(|l| l.contains("class=\"line\""))
        .expect("a line");
    let d = line
        .split("d=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(d.matches('M').count(), 2, "{d}");
    assert_eq!(d.matches('L').count(), 1, "{d}");
    // Three markers, none at the missing column.
    let markers = svg.split("class=\"markers\"").nth(1).unwrap();
    assert_eq!(
        markers
            .split("</g>")
            .next()
            .unwrap()
            .matches("<circle")
            .count(),
        3
    );
}

#[test]
fn small_rates_zoom_the_y_axis() {
    let small: &[Option<f64>] = &[Some(1.0), Some(0.06), Some(0.04), Some(0.03)];
    let svg = curves(&report(&[("qiuyue", small)]));
    assert!(svg.contains("zoomed to 0–15%"), "{svg}");
    assert!(svg.contains("Day 0 = 100%, not drawn"));
    let svg = curves(&report(&[("qiuyue", A)]));
    assert!(!svg.contains("zoomed"));
}

#[test]
fn an_empty_report_still_draws() {
    let r = report(&[]);
    for svg in [curves(&r), heatmap(&r)] {
        assert_well_formed(&svg);
        assert!(svg.contains("No cohorts in this window"));
    }
}
