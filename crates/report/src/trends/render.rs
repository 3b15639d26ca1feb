//! Rendering a trends report: the JSON of activity.md §1.3, a table of periods by series, CSV, and line charts.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::kind::Output;
use crate::provenance::Provenance;
use crate::render::{ChartOptions, TableOptions, csv_field};
use crate::svg::{self, Footer, LineChart, Series, ValueFormat};
use crate::trends::{Math, Point, PointValue, SeriesOut, TrendsReport};

impl Output for TrendsReport {
    fn to_json(&self) -> Value {
        json!({
            "kind": "trends",
            "definition": self.definition,
            "parameters": self.params.to_json(),
            "window": {
                "first_period": self.window.first_period,
                "last_period": self.window.last_period,
                "end_exclusive": self.window.end_exclusive,
                "periods": self.window.periods,
            },
            "series": self.series.iter().map(|s| series_json(self, s)).collect::<Vec<_>>(),
            "breakdown_values": self.breakdown_values.as_ref().map(|v| {
                v.iter().map(|(p, vals)| json!({"project": p, "values": vals})).collect::<Vec<_>>()
            }),
            "provenance": self.provenance.to_json(),
        })
    }

    fn to_table(&self, _opts: &TableOptions) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.definition);
        let _ = writeln!(
            out,
            "as of {}  fingerprint {}",
            self.provenance.as_of, self.provenance.data_fingerprint
        );
        let _ = writeln!(out);
        let several = self.provenance.projects.len() > 1;
        for (i, s) in self.series.iter().enumerate() {
            let _ = writeln!(out, "[{}] {}", i + 1, title(s, several));
        }
        let width = 12;
        let _ = write!(out, "\n{:<16}", "period");
        for i in 0..self.series.len() {
            let _ = write!(out, " {:>width$}", format!("[{}]", i + 1));
        }
        let _ = writeln!(out);
        for k in 0..self.window.periods {
            let start = self
                .series
                .first()
                .map_or("", |s| s.points[k].period_start.as_str());
            let short = start.get(..16).unwrap_or(start).replace('T', " ");
            let short = short.trim_end_matches(" 00:00").to_string();
            let _ = write!(out, "{short:<16}");
            let mut incomplete = false;
            for s in &self.series {
                let pt = &s.points[k];
                incomplete |= pt.incomplete;
                let _ = write!(out, " {:>width$}", value_text(pt));
            }
            let _ = writeln!(out, "{}", if incomplete { " *" } else { "" });
        }
        for s in self.series.iter().filter(|s| s.math == Math::DauMau) {
            if let Some(a) = s.average {
                let _ = writeln!(out, "average DAU/MAU over complete days ({}): {a}", s.label);
            }
        }
        let _ = writeln!(out, "\n* incomplete: the period has not ended at as_of.");
        out
    }

    fn to_csv(&self) -> String {
        let mut out = String::from(
            "project,series,label,math,math_property,breakdown_value,is_other,period_start,value,incomplete,count,missing,dau,mau,ci95_low,ci95_high\n",
        );
        let opt = |v: Option<u64>| v.map_or(String::new(), |x| x.to_string());
        for s in &self.series {
            for pt in &s.points {
                let (lo, hi) = pt.ci95.map_or((String::new(), String::new()), |(a, b)| {
                    (a.to_string(), b.to_string())
                });
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    csv_field(&s.project),
                    s.series,
                    csv_field(&s.label),
                    s.math.name(),
                    csv_field(s.math_property.as_deref().unwrap_or("")),
                    csv_field(s.breakdown_value.as_deref().unwrap_or("")),
                    s.is_other,
                    pt.period_start,
                    value_json(pt.value).to_string().replace("null", ""),
                    pt.incomplete,
                    opt(pt.count),
                    opt(pt.missing),
                    opt(pt.dau),
                    opt(pt.mau),
                    lo,
                    hi
                );
            }
        }
        out
    }

    fn charts(&self) -> &'static [&'static str] {
        &["lines"]
    }

    fn to_svg(&self, chart: &str, _opts: &ChartOptions) -> Option<String> {
        (chart == "lines").then(|| lines(self))
    }

    fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    fn provenance_mut(&mut self) -> &mut Provenance {
        &mut self.provenance
    }
}

fn series_json(r: &TrendsReport, s: &SeriesOut) -> Value {
    let mut v = json!({
        "project": s.project,
        "label": s.label,
        "math": s.math.name(),
        "breakdown_value": s.breakdown_value,
        "points": s.points.iter().map(point_json).collect::<Vec<_>>(),
    });
    if let Some(k) = &s.math_property {
        v["math_property"] = json!(k);
    }
    if r.breakdown_values.is_some() {
        v["is_other"] = json!(s.is_other);
    }
    if s.math == Math::DauMau {
        v["average"] = json!(s.average);
    }
    v
}

fn point_json(pt: &Point) -> Value {
    let mut v = json!({
        "period_start": pt.period_start,
        "value": value_json(pt.value),
        "incomplete": pt.incomplete,
    });
    if let Some(c) = pt.count {
        v["count"] = json!(c);
    }
    if let Some(m) = pt.missing {
        v["missing"] = json!(m);
    }
    if pt.dau.is_some() {
        v["dau"] = json!(pt.dau);
        v["mau"] = json!(pt.mau);
        v["ci95"] = pt.ci95.map_or(Value::Null, |(a, b)| json!([a, b]));
    }
    v
}

fn value_json(v: PointValue) -> Value {
    match v {
        PointValue::Count(n) => json!(n),
        PointValue::Ratio(r) => json!(r),
        PointValue::Number(n) => n.map_or(Value::Null, |n| n.to_json()),
    }
}

fn value_text(pt: &Point) -> String {
    match pt.value {
        PointValue::Count(n) => n.to_string(),
        PointValue::Ratio(Some(r)) => format!("{:.1}%", r * 100.0),
        PointValue::Number(Some(n)) => n.text(),
        PointValue::Ratio(None) | PointValue::Number(None) => "-".to_string(),
    }
}

fn title(s: &SeriesOut, several: bool) -> String {
    let mut t = s.label.clone();
    if s.is_other {
        t += " · Other";
    } else if let Some(v) = &s.breakdown_value {
        t += &format!(" · {}", if v.is_empty() { "(none)" } else { v });
    }
    if several {
        t = format!("{} · {t}", s.project);
    }
    t
}

/// One line per series (and breakdown value); DAU/MAU with its interval band.
fn lines(r: &TrendsReport) -> String {
    let several = r.provenance.projects.len() > 1;
    let ratios = !r.series.is_empty() && r.series.iter().all(|s| s.math == Math::DauMau);
    let one_series = r.params.series.len() == 1;
    let labels: Vec<String> = r
        .series
        .first()
        .map(|s| {
            s.points
                .iter()
                .map(|p| {
                    let t = p
                        .period_start
                        .get(..16)
                        .unwrap_or(&p.period_start)
                        .replace('T', " ");
                    t.trim_end_matches(" 00:00").to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    let incomplete = r
        .series
        .first()
        .map(|s| s.points.iter().map(|p| p.incomplete).collect())
        .unwrap_or_default();
    svg::lines(&LineChart {
        title: "Trends".to_string(),
        definition: r.definition.clone(),
        labels,
        x_label: r.params.interval.title().to_string(),
        y_label: if ratios {
            "DAU/MAU".into()
        } else {
            "value".into()
        },
        series: r
            .series
            .iter()
            .map(|s| Series {
                name: if one_series && several {
                    // The subtitle names the one series; the legend only tells the projects apart.
                    let t = title(s, false);
                    match t.strip_prefix(&s.label) {
                        Some(rest) => format!("{}{rest}", s.project),
                        None => format!("{} · {t}", s.project),
                    }
                } else {
                    title(s, several)
                },
                values: s.points.iter().map(|p| p.value.as_f64()).collect(),
                band: (s.math == Math::DauMau).then(|| s.points.iter().map(|p| p.ci95).collect()),
            })
            .collect(),
        incomplete,
        format: if ratios {
            ValueFormat::Percent
        } else {
            ValueFormat::Number
        },
        footer: Footer {
            scope: format!(
                "{} to {}",
                r.window.first_period.get(..10).unwrap_or_default(),
                r.window.last_period.get(..10).unwrap_or_default()
            ),
            as_of: r.provenance.as_of.clone(),
            fingerprint: r.provenance.data_fingerprint.clone(),
            engine: r.provenance.engine.clone(),
        },
    })
}
