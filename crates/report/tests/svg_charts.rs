//! The generic charts every report kind draws with: `svg::lines` and `svg::bars`, checked for well-formed XML and
//! pinned as golden files.
//!
//! `UPDATE_EXPECT=1 cargo test -p liucun-report --test svg_charts` rewrites `golden/svg/*.svg`;
//! `LIUCUN_SVG_PNG=dir` also writes each chart there as SVG, to convert and look at.

use expect_test::expect_file;
use liucun_report::svg::{self, BarChart, BarMode, Footer, LineChart, Series, ValueFormat};

#[test]
fn trends_lines_with_a_gap_and_an_incomplete_last_day() {
    let labels = days(30);
    let mut dau = Series {
        name: "lanting".to_string(),
        values: wave(30, 1800.0, 400.0, 1),
        band: None,
    };
    dau.values[11] = None;
    let chart = LineChart {
        title: "Daily active persons, UTC".to_string(),
        definition: "Per day (UTC), the persons who did any activity event, in each project."
            .to_string(),
        incomplete: incomplete_last(30),
        series: vec![
            dau,
            Series {
                name: "baicao".to_string(),
                values: wave(30, 950.0, 250.0, 2),
                band: None,
            },
            Series {
                name: "moxi <beta> & \"friends\"".to_string(),
                values: wave(30, 120.0, 60.0, 3),
                band: None,
            },
        ],
        ..line_chart(labels, "Day (UTC)", "Persons")
    };
    check_lines("trends_dau", &chart);
}

#[test]
fn dau_over_mau_with_interval_bands_in_percent() {
    let labels = weeks(12);
    let band = |values: &[Option<f64>]| {
        values
            .iter()
            .map(|v| v.map(|v| (v - 0.02, v + 0.025)))
            .collect()
    };
    let a: Vec<Option<f64>> = wave(12, 0.31, 0.05, 4);
    let b: Vec<Option<f64>> = wave(12, 0.18, 0.04, 5);
    let chart = LineChart {
        title: "DAU/MAU by week, Asia/Shanghai".to_string(),
        definition: "Per week, the mean over its days of daily active persons divided by the persons active in the 30 days up to that day, with a 95% interval.".to_string(),
        incomplete: incomplete_last(12),
        format: ValueFormat::Percent,
        series: vec![
            Series {
                name: "lanting".to_string(),
                band: Some(band(&a)),
                values: a,
            },
            Series {
                name: "baicao".to_string(),
                band: Some(band(&b)),
                values: b,
            },
        ],
        ..line_chart(labels, "Week starting (Asia/Shanghai)", "DAU/MAU")
    };
    check_lines("trends_dau_mau", &chart);
}

#[test]
fn a_year_of_days_thins_labels_and_markers() {
    let chart = LineChart {
        title: "p95 latency of $ai_generation per day, by $ai_model".to_string(),
        definition: "Per day (UTC), the 95th percentile of $ai_latency over $ai_generation events, by $ai_model (top 3 and Other).".to_string(),
        incomplete: incomplete_last(365),
        series: ["gpt-4o", "claude-3-5-sonnet", "o1-mini", "Other"]
            .iter()
            .enumerate()
            .map(|(i, name)| Series {
                name: name.to_string(),
                values: wave(365, 1.2 + i as f64 * 0.8, 0.5, 10 + i as u64)
                    .into_iter()
                    .map(|v| v.map(|v| (v * 100.0).round() / 100.0))
                    .collect(),
                band: None,
            })
            .collect(),
        ..line_chart(days(365), "Day (UTC)", "Seconds")
    };
    check_lines("trends_latency_year", &chart);
}

#[test]
fn stickiness_as_grouped_bars_with_whiskers() {
    let labels: Vec<String> = (1..=7)
        .map(|d| format!("{d} day{}", if d == 1 { "" } else { "s" }))
        .collect();
    let share = |top: f64| -> Vec<Option<f64>> {
        (0..7).map(|d| Some(top / (1.0 + d as f64 * 0.9))).collect()
    };
    let band =
        |v: &[Option<f64>]| Some(v.iter().map(|v| v.map(|v| (v * 0.85, v * 1.15))).collect());
    let (a, b) = (share(0.46), share(0.38));
    let chart = BarChart {
        title: "Stickiness, days active per week".to_string(),
        definition: "Of persons active in a week (UTC), the share active on exactly N of its days."
            .to_string(),
        format: ValueFormat::Percent,
        series: vec![
            Series {
                name: "lanting".to_string(),
                band: band(&a),
                values: a,
            },
            Series {
                name: "baicao".to_string(),
                band: band(&b),
                values: b,
            },
        ],
        ..bar_chart(labels, "Days active in the week", "Share of active persons")
    };
    check_bars("stickiness", &chart);
}

#[test]
fn lifecycle_as_stacked_bars_with_dormant_below_zero() {
    let n = 12;
    let chart = BarChart {
        title: "Lifecycle by week, UTC".to_string(),
        definition: "Per week, active persons split into new, returning and resurrecting, and the persons active the week before but not this one as dormant, below zero.".to_string(),
        mode: BarMode::Stacked,
        incomplete: incomplete_last(n),
        series: vec![
            Series {
                name: "new".to_string(),
                values: wave(n, 420.0, 90.0, 20),
                band: None,
            },
            Series {
                name: "returning".to_string(),
                values: wave(n, 1300.0, 200.0, 21),
                band: None,
            },
            Series {
                name: "resurrecting".to_string(),
                values: wave(n, 160.0, 50.0, 22),
                band: None,
            },
            Series {
                name: "dormant".to_string(),
                values: wave(n, -520.0, 120.0, 23),
                band: None,
            },
        ],
        ..bar_chart(weeks(n), "Week starting (UTC)", "Persons")
    };
    check_bars("lifecycle", &chart);
}

#[test]
fn growth_milestones_side_by_side() {
    let labels: Vec<String> = [
        "first event",
        "10 persons",
        "100 persons",
        "1,000 persons",
        "10,000 persons",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let chart = BarChart {
        title: "Growth milestones, days since first event".to_string(),
        definition: "Per project, the days from its first event until it first reached each number of persons.".to_string(),
        series: vec![
            Series {
                name: "lanting".to_string(),
                values: vec![Some(0.0), Some(2.0), Some(19.0), Some(64.0), Some(212.0)],
                band: None,
            },
            Series {
                name: "baicao".to_string(),
                values: vec![Some(0.0), Some(5.0), Some(41.0), Some(150.0), None],
                band: None,
            },
            Series {
                name: "moxi".to_string(),
                values: vec![Some(0.0), Some(1.0), Some(9.0), None, None],
                band: None,
            },
        ],
        ..bar_chart(labels, "Milestone", "Days since first event")
    };
    check_bars("growth", &chart);
}

#[test]
fn empty_and_degenerate_charts_still_draw() {
    let lines = LineChart {
        title: "Nothing".to_string(),
        ..line_chart(Vec::new(), "Day", "Persons")
    };
    let svg = svg::lines(&lines);
    assert_well_formed(&svg);
    assert!(svg.contains("No data in this window"));
    let bars = BarChart {
        title: "Nothing".to_string(),
        series: vec![Series {
            name: "a".to_string(),
            values: vec![None, Some(f64::NAN), Some(f64::INFINITY)],
            band: Some(vec![Some((f64::NEG_INFINITY, 1.0))]),
        }],
        ..bar_chart(days(3), "Day", "Persons")
    };
    let svg = svg::bars(&bars);
    assert_well_formed(&svg);
    assert!(svg.contains("No data in this window"));
    // One label, one value; values and labels of different lengths.
    let one = LineChart {
        series: vec![Series {
            name: "a".to_string(),
            values: vec![Some(3.0), Some(4.0), Some(5.0)],
            band: Some(vec![]),
        }],
        incomplete: vec![true, true, true, true],
        ..line_chart(days(1), "Day", "Persons")
    };
    let svg = svg::lines(&one);
    assert_well_formed(&svg);
    assert_eq!(
        svg.matches("<circle").count(),
        3,
        "the point, the legend sample and the incomplete key"
    );
    let flat = BarChart {
        series: vec![Series {
            name: "a".to_string(),
            values: vec![Some(0.0); 3],
            band: None,
        }],
        mode: BarMode::Stacked,
        ..bar_chart(days(3), "Day", "Persons")
    };
    assert_well_formed(&svg::bars(&flat));
}

#[track_caller]
fn check_lines(name: &str, chart: &LineChart) {
    let svg = svg::lines(chart);
    assert_well_formed(&svg);
    write_for_viewing(name, &svg);
    expect_file![format!("golden/svg/{name}.lines.svg")].assert_eq(&svg);
}

#[track_caller]
fn check_bars(name: &str, chart: &BarChart) {
    let svg = svg::bars(chart);
    assert_well_formed(&svg);
    write_for_viewing(name, &svg);
    expect_file![format!("golden/svg/{name}.bars.svg")].assert_eq(&svg);
}

fn write_for_viewing(name: &str, svg: &str) {
    if let Some(dir) = std::env::var_os("LIUCUN_SVG_PNG") {
        let path = std::path::Path::new(&dir).join(format!("{name}.svg"));
        std::fs::write(path, svg).expect("writing the chart");
    }
}

/// A small XML check: one root `<svg>`, every tag closed in order, attributes quoted, no raw `<` or `&` in text,
/// and no `NaN` or `inf` coordinates.
#[track_caller]
fn assert_well_formed(svg: &str) {
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.ends_with("</svg>\n"));
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = svg;
    let mut roots = 0;
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open]);
        let end = rest[open..].find('>').expect("an unterminated tag") + open;
        let tag = &rest[open + 1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop(),
                Some(name),
                "</{name}> closes the wrong element"
            );
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, attrs) = tag.split_once(' ').unwrap_or((tag, ""));
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "bad tag name in <{tag}>"
        );
        check_attributes(attrs);
        if stack.is_empty() {
            roots += 1;
        }
        if !self_closing {
            stack.push(name);
        }
    }
    check_text(rest.trim_end());
    assert!(stack.is_empty(), "unclosed {stack:?}");
    assert_eq!(roots, 1);
}

#[track_caller]
fn check_text(text: &str) {
    assert!(!text.contains('>'), "raw > in {text:?}");
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                .iter()
                .any(|e| entity.starts_with(e)),
            "raw & in {text:?}"
        );
    }
}

#[track_caller]
fn check_attributes(mut attrs: &str) {
    loop {
        attrs = attrs.trim_start();
        if attrs.is_empty() {
            return;
        }
        let (name, after) = attrs
            .split_once("=\"")
            .expect("an attribute without a quoted value");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
            "bad attribute name {name:?}"
        );
        let (value, after) = after.split_once('"').expect("an unterminated attribute");
        check_text(value);
        assert!(!value.contains('<'), "raw < in attribute {value:?}");
        attrs = after;
    }
}

fn line_chart(labels: Vec<String>, x: &str, y: &str) -> LineChart {
    LineChart {
        title: "Chart".to_string(),
        definition: String::new(),
        labels,
        x_label: x.to_string(),
        y_label: y.to_string(),
        series: Vec::new(),
        incomplete: Vec::new(),
        format: ValueFormat::Number,
        footer: footer(),
    }
}

fn bar_chart(labels: Vec<String>, x: &str, y: &str) -> BarChart {
    BarChart {
        title: "Chart".to_string(),
        definition: String::new(),
        labels,
        x_label: x.to_string(),
        y_label: y.to_string(),
        series: Vec::new(),
        mode: BarMode::Grouped,
        incomplete: Vec::new(),
        format: ValueFormat::Number,
        footer: footer(),
    }
}

fn footer() -> Footer {
    Footer {
        scope: "Days 2025-01-01 to 2025-01-30".to_string(),
        as_of: "2025-01-30T12:00:00Z".to_string(),
        fingerprint: format!("lc1:sha256:3a7c{}9e0f11", "1".repeat(54)),
        engine: "liucun 0.0.0".to_string(),
    }
}

fn days(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (m, d) = month_day(i);
            format!("2025-{m:02}-{d:02}")
        })
        .collect()
}

fn weeks(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (m, d) = month_day(5 + 7 * i);
            format!("2025-{m:02}-{d:02}")
        })
        .collect()
}

/// Month and day of the `i`-th day of 2025.
fn month_day(mut i: usize) -> (usize, usize) {
    const LEN: [usize; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    for (m, len) in LEN.iter().enumerate() {
        if i < *len {
            return (m + 1, i + 1);
        }
        i -= len;
    }
    (12, 31)
}

fn incomplete_last(n: usize) -> Vec<bool> {
    (0..n).map(|i| i + 1 == n).collect()
}

/// A weekly rhythm with a slow drift and a little deterministic noise.
fn wave(n: usize, mid: f64, swing: f64, seed: u64) -> Vec<Option<f64>> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let noise = (s % 1000) as f64 / 1000.0 - 0.5;
            let weekly = ((i % 7) as f64 / 7.0 * std::f64::consts::TAU).sin();
            let v =
                mid + swing * (0.6 * weekly + 0.3 * noise) + swing * 0.4 * (i as f64 / n as f64);
            Some(if mid.abs() >= 10.0 { v.round() } else { v })
        })
        .collect()
}
