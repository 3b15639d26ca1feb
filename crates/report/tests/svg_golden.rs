//! Golden SVG charts of retention reports: the bytes of `svg::curves` and `svg::heatmap` for reports that reach
//! every branch of their layout (zoomed axis, breakdowns with Other and an empty value, hourly and monthly
//! periods, custom brackets, many columns, gaps, long names, no cohorts).
//!
//! `UPDATE_EXPECT=1 cargo test -p liucun-report --test svg_golden` rewrites `golden/svg/*.svg`.

use expect_test::expect_file;
use liucun_report::RetentionParams;
use liucun_report::params::Period;
use liucun_report::retention::{Mean, Provenance, RetentionReport, Row, WindowInfo};
use liucun_report::svg;
use serde_json::{Value, json};

#[test]
fn daily_first_time() {
    let r = build(&Case {
        series: &[("lanting", None, false)],
        ..Case::default()
    });
    check("daily_first_time", &r);
}

#[test]
fn weekly_breakdown_with_other_and_none() {
    let r = build(&Case {
        period: Period::Week,
        columns: 9,
        rows: 9,
        series: &[
            ("lanting", Some("gpt-4o"), false),
            ("lanting", Some(""), false),
            ("lanting", None, true),
            (
                "baicao",
                Some("claude-3-5-sonnet-20241022 with a long suffix"),
                false,
            ),
        ],
        params: json!({
            "breakdown": {"property": "$ai_model", "limit": 3},
            "cumulative": true,
            "timezone": "Asia/Kolkata",
        }),
        ..Case::default()
    });
    check("weekly_breakdown", &r);
}

#[test]
fn hourly_small_rates_zoom() {
    let r = build(&Case {
        period: Period::Hour,
        columns: 25,
        rows: 6,
        scale: 0.08,
        series: &[("qiuyue", None, false), ("moxi", None, false)],
        ..Case::default()
    });
    check("hourly_zoomed", &r);
}

#[test]
fn monthly_custom_brackets_first_ever() {
    let mut r = build(&Case {
        period: Period::Month,
        columns: 4,
        rows: 5,
        series: &[("lanting", None, false)],
        params: json!({"retention_type": "first_ever", "custom_brackets": [1, 2, 3]}),
        ..Case::default()
    });
    r.columns = vec![
        "Month 0".into(),
        "Month 1".into(),
        "Month 2-3".into(),
        "Month 4-6".into(),
    ];
    check("monthly_brackets", &r);
}

#[test]
fn many_daily_columns_with_gaps_and_nine_series() {
    let names: Vec<(String, Option<&str>, bool)> =
        (0..9).map(|i| (format!("app-{i}"), None, false)).collect();
    let series: Vec<(&str, Option<&str>, bool)> =
        names.iter().map(|(n, v, o)| (n.as_str(), *v, *o)).collect();
    let mut r = build(&Case {
        columns: 61,
        rows: 12,
        series: &series,
        ..Case::default()
    });
    r.mean[2].rates[5] = None;
    r.mean[2].rates[6] = None;
    r.mean[3].rates[40] = None;
    r.definition = "Of persons whose first `$ai_generation` with `$ai_model` in [\"gpt-4o\", \"o1\"] happened in a day (Europe/Berlin), the share who did `$ai_generation` or `message_sent` at least twice in each later day, counted on or after that day, excluding test accounts & internal <staff>.".to_string();
    check("many_columns", &r);
}

#[test]
fn no_cohorts() {
    let r = build(&Case {
        series: &[],
        ..Case::default()
    });
    check("empty", &r);
}

#[track_caller]
fn check(name: &str, r: &RetentionReport) {
    expect_file![format!("golden/svg/{name}.curves.svg")].assert_eq(&svg::curves(r));
    expect_file![format!("golden/svg/{name}.heatmap.svg")].assert_eq(&svg::heatmap(r, None));
}

struct Case<'a> {
    period: Period,
    columns: usize,
    rows: usize,
    /// Rate after column 0 is at most about this.
    scale: f64,
    /// Project, breakdown value, is Other.
    series: &'a [(&'a str, Option<&'a str>, bool)],
    /// Parameters besides the period, as published.
    params: Value,
}

impl Default for Case<'_> {
    fn default() -> Self {
        Case {
            period: Period::Day,
            columns: 8,
            rows: 8,
            scale: 0.6,
            series: &[],
            params: json!({}),
        }
    }
}

/// A deterministic report: a decaying curve per series with a little noise, the triangle's lower right outside
/// the window, and the last complete-able cells incomplete.
fn build(c: &Case<'_>) -> RetentionReport {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 1000) as f64 / 1000.0
    };
    let title = c.period.title();
    let start = |k: usize| match c.period {
        Period::Hour => format!("2025-01-01T{k:02}:00:00+00:00"),
        Period::Day => format!("2025-01-{:02}T00:00:00+00:00", k + 1),
        Period::Week => format!("2025-01-{:02}T00:00:00+05:30", 6 + 7 * (k % 3)),
        Period::Month => format!("2025-{:02}-01T00:00:00+00:00", k + 1),
    };
    let mut rows = Vec::new();
    let mut mean = Vec::new();
    for (s, &(project, value, is_other)) in c.series.iter().enumerate() {
        let mut sums = vec![(0u64, 0u64, 0u64); c.columns];
        for k in 0..c.rows {
            let size = 20 + (noise() * 3000.0) as u64 + 40 * s as u64;
            let mut r = Row {
                project: project.to_string(),
                breakdown_value: value.map(str::to_string),
                is_other,
                label: format!("{title} {k}"),
                cohort_start: start(k),
                size,
                counts: Vec::new(),
                rates: Vec::new(),
                ci95: Vec::new(),
                incomplete: Vec::new(),
                beyond_data: Vec::new(),
            };
            for (j, sum) in sums.iter_mut().enumerate() {
                if k + j >= c.rows.max(c.columns) {
                    r.counts.push(None);
                    r.rates.push(None);
                    r.ci95.push(None);
                    r.incomplete.push(None);
                    r.beyond_data.push(None);
                    continue;
                }
                let rate = if j == 0 {
                    1.0
                } else {
                    c.scale * (0.55 + 0.45 * noise()) / (1.0 + 0.6 * j as f64)
                };
                let x = (rate * size as f64).round() as u64;
                let rate = x as f64 / size as f64;
                r.counts.push(Some(x));
                r.rates.push(Some(rate));
                r.ci95
                    .push((j > 0).then(|| ((rate - 0.04).max(0.0), (rate + 0.05).min(1.0))));
                let incomplete = k + j + 1 >= c.rows.max(c.columns);
                r.incomplete.push(Some(incomplete));
                r.beyond_data.push(Some(false));
                if !incomplete {
                    sum.0 += x;
                    sum.1 += size;
                    sum.2 += 1;
                }
            }
            rows.push(r);
        }
        let rates: Vec<Option<f64>> = sums
            .iter()
            .map(|&(x, n, _)| (n > 0).then(|| x as f64 / n as f64))
            .collect();
        mean.push(Mean {
            project: project.to_string(),
            breakdown_value: value.map(str::to_string),
            is_other,
            ci95: rates
                .iter()
                .enumerate()
                .map(|(j, r)| r.filter(|_| j > 0).map(|v| ((v - 0.03).max(0.0), v + 0.03)))
                .collect(),
            rates,
            rows_used: sums.iter().map(|s| s.2).collect(),
            persons: sums.iter().map(|s| s.1).collect(),
        });
    }
    let mut params =
        json!({"projects": ["lanting"], "retention_type": "first_time", "period": c.period.noun()});
    params
        .as_object_mut()
        .expect("an object")
        .extend(c.params.as_object().expect("an object").clone());
    let params = RetentionParams::from_json(&params).expect("parameters");
    RetentionReport {
        definition: format!(
            "Of persons whose first `signup` happened in a {} (UTC), the share who did any activity event in each later {}.",
            title.to_lowercase(),
            title.to_lowercase()
        ),
        params,
        window: WindowInfo {
            first_period: start(0),
            last_period: start(c.rows.saturating_sub(1)),
            end_exclusive: start(c.rows),
            rows: c.rows,
            columns: c.columns,
            ends_before_as_of: false,
        },
        columns: (0..c.columns).map(|j| format!("{title} {j}")).collect(),
        rows,
        mean,
        breakdown_values: None,
        provenance: Provenance {
            engine: "liucun 0.0.0".to_string(),
            as_of: "2025-03-01T00:00:00Z".to_string(),
            data_fingerprint: format!("lc1:sha256:5e1d{}c0ffee", "7".repeat(54)),
            projects: Vec::new(),
            notes: Vec::new(),
        },
    }
}
