//! Tests of the retention charts: structure, escaping, gaps and zoom. Their exact bytes are pinned by
//! `tests/svg_golden.rs`.

use super::*;
use crate::params::RetentionParams;
use crate::retention::{Mean, Provenance, Row, WindowInfo};

/// A report with one mean per `(project, rates)` and a one-row triangle behind each.
pub(crate) fn report(series: &[(&str, &[Option<f64>])]) -> RetentionReport {
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
            ends_before_as_of: false,
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
                beyond_data: rates.iter().map(|r| r.map(|_| false)).collect(),
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
    let svg = heatmap(&r, None);
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
    assert_eq!(heatmap(&r, None), heatmap(&r.clone(), None));
}

#[test]
fn names_are_escaped() {
    let mut r = report(&[("a<b&\"c\"", A)]);
    r.mean[0].breakdown_value = Some("x'>y".to_string());
    r.rows[0].breakdown_value = Some("x'>y".to_string());
    for svg in [curves(&r), heatmap(&r, None)] {
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
    // Day 0 is not drawn; days 1 and 3 are two runs with no line across the missing day 2.
    assert_eq!(d.matches('M').count(), 2, "{d}");
    assert_eq!(d.matches('L').count(), 0, "{d}");
    // Two markers, none at the missing column.
    let markers = svg.split("class=\"markers\"").nth(1).unwrap();
    assert_eq!(
        markers
            .split("</g>")
            .next()
            .unwrap()
            .matches("<circle")
            .count(),
        2
    );
}

#[test]
fn the_y_axis_fits_the_data_after_day_0() {
    let small: &[Option<f64>] = &[Some(1.0), Some(0.06), Some(0.04), Some(0.03)];
    let svg = curves(&report(&[("qiuyue", small)]));
    assert!(svg.contains(">15%</text>"), "{svg}");
    assert!(!svg.contains(">20%</text>"), "{svg}");
    assert!(svg.contains("Day 0 = 100%, not drawn"));
    // Rates up to 40% (45% with the band): an axis to 50%, never to 100%.
    let svg = curves(&report(&[("qiuyue", A)]));
    assert!(svg.contains(">50%</text>"), "{svg}");
    assert!(!svg.contains(">100%</text>"), "{svg}");
}

#[test]
fn the_legend_follows_the_curves_last_values_and_lines_are_labelled_at_their_end() {
    let low: &[Option<f64>] = &[Some(1.0), Some(0.2), Some(0.1), Some(0.05)];
    let high: &[Option<f64>] = &[Some(1.0), Some(0.5), Some(0.4), Some(0.35)];
    let svg = curves(&report(&[("low", low), ("high", high)]));
    let legend = svg.split("class=\"legend\"").nth(1).unwrap_or(&svg);
    let (h, l) = (
        legend.find(">high<").unwrap(),
        legend.find(">low<").unwrap(),
    );
    assert!(h < l, "high ends higher, so it comes first");
    // The first in that order takes the palette's first colour.
    assert!(
        svg.contains("stroke=\"#0072B2\"><title>high</title>"),
        "{svg}"
    );
    let labels = svg.split("class=\"end-labels\"").nth(1).unwrap();
    assert!(
        labels.contains("high <tspan") && labels.contains("35.0%"),
        "{labels}"
    );
}

#[test]
fn end_labels_never_overlap() {
    let ys = curves::spread(&[100.0, 101.0, 102.0, 300.0], 13.0, 50.0, 400.0);
    let mut sorted = ys.clone();
    sorted.sort_by(f64::total_cmp);
    assert!(
        sorted.windows(2).all(|w| w[1] - w[0] >= 13.0 - 1e-9),
        "{ys:?}"
    );
    assert_eq!(ys[3], 300.0);
    // Crowded at the bottom: pushed back up inside the plot.
    let ys = curves::spread(&[399.0, 399.5, 400.0], 13.0, 50.0, 400.0);
    assert!(ys.iter().all(|&y| (50.0..=400.0).contains(&y)), "{ys:?}");
}

#[test]
fn an_empty_report_still_draws() {
    let r = report(&[]);
    for svg in [curves(&r), heatmap(&r, None)] {
        assert_well_formed(&svg);
        assert!(svg.contains("No cohorts in this window"));
    }
}
