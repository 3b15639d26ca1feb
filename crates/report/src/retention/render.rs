//! Rendering a retention report: JSON (the documented shape of retention.md §13), a terminal table, CSV, and its
//! two charts.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::kind::Output;
use crate::provenance::Provenance;
use crate::render::{Color, csv_field, shade, visible_len};
use crate::retention::{Mean, RetentionReport, Row};

impl Output for RetentionReport {
    fn to_json(&self) -> Value {
        to_json(self)
    }

    fn to_table(&self, color: Color) -> String {
        to_table(self, color)
    }

    fn to_csv(&self) -> String {
        to_csv(self)
    }

    fn charts(&self) -> &'static [&'static str] {
        &["curves", "heatmap"]
    }

    fn to_svg(&self, chart: &str) -> Option<String> {
        match chart {
            "curves" => Some(crate::svg::curves(self)),
            "heatmap" => Some(crate::svg::heatmap(self)),
            _ => None,
        }
    }

    fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    fn provenance_mut(&mut self) -> &mut Provenance {
        &mut self.provenance
    }
}

/// The report as JSON (see `docs/report-json.md`).
pub(crate) fn to_json(r: &RetentionReport) -> Value {
    let pair = |c: &Option<(f64, f64)>| c.map_or(Value::Null, |(a, b)| json!([a, b]));
    let row = |row: &Row| {
        json!({
            "project": row.project,
            "breakdown_value": row.breakdown_value,
            "is_other": row.is_other,
            "label": row.label,
            "cohort_start": row.cohort_start,
            "size": row.size,
            "counts": row.counts,
            "rates": row.rates,
            "ci95": row.ci95.iter().map(pair).collect::<Vec<_>>(),
            "incomplete": row.incomplete,
        })
    };
    let mean = |m: &Mean| {
        json!({
            "project": m.project,
            "breakdown_value": m.breakdown_value,
            "is_other": m.is_other,
            "rates": m.rates,
            "ci95": m.ci95.iter().map(pair).collect::<Vec<_>>(),
            "rows_used": m.rows_used,
            "persons": m.persons,
        })
    };
    json!({
        "kind": "retention",
        "definition": r.definition,
        "parameters": serde_json::to_value(&r.params).expect("parameters serialize"),
        "window": {
            "first_period": r.window.first_period,
            "last_period": r.window.last_period,
            "end_exclusive": r.window.end_exclusive,
            "rows": r.window.rows,
            "columns": r.window.columns,
        },
        "columns": r.columns,
        "rows": r.rows.iter().map(row).collect::<Vec<_>>(),
        "mean": r.mean.iter().map(mean).collect::<Vec<_>>(),
        "breakdown_values": r.breakdown_values.as_ref().map(|v| {
            v.iter().map(|(p, vals)| json!({"project": p, "values": vals})).collect::<Vec<_>>()
        }),
        "provenance": r.provenance.to_json(),
    })
}

/// The triangle as a table: one block per project and breakdown value, sizes and percentages, then the mean.
pub(crate) fn to_table(r: &RetentionReport, color: Color) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", r.definition);
    let _ = writeln!(
        out,
        "as of {}  fingerprint {}",
        r.provenance.as_of, r.provenance.data_fingerprint
    );
    let w = r.columns.iter().map(|c| c.len()).max().unwrap_or(7).max(7);
    let mut i = 0;
    for m in &r.mean {
        let title = match (&m.breakdown_value, m.is_other) {
            (_, true) => format!("{} · Other", m.project),
            (Some(v), _) => format!(
                "{} · {}",
                m.project,
                if v.is_empty() { "(none)" } else { v }
            ),
            (None, _) => m.project.clone(),
        };
        let _ = writeln!(out);
        let _ = writeln!(out, "{title}");
        let _ = write!(out, "{:<12} {:>8}", "cohort", "size");
        for c in r.columns.iter().skip(1) {
            let _ = write!(out, " {c:>w$}");
        }
        let _ = writeln!(out);
        while i < r.rows.len()
            && r.rows[i].project == m.project
            && r.rows[i].breakdown_value == m.breakdown_value
            && r.rows[i].is_other == m.is_other
        {
            let row = &r.rows[i];
            let _ = write!(
                out,
                "{:<12} {:>8}",
                &row.cohort_start[..10.min(row.cohort_start.len())],
                row.size
            );
            for j in 1..r.columns.len() {
                let cell = match (row.rates[j], row.incomplete[j]) {
                    (None, Some(_)) => "-".to_string(),
                    (None, None) => String::new(),
                    (Some(rate), inc) => {
                        let text = format!(
                            "{:.1}%{}",
                            rate * 100.0,
                            if inc == Some(true) { "*" } else { "" }
                        );
                        shade(&text, rate, color)
                    }
                };
                let pad = w.saturating_sub(visible_len(&cell));
                let _ = write!(out, " {}{cell}", " ".repeat(pad));
            }
            let _ = writeln!(out);
            i += 1;
        }
        let _ = write!(
            out,
            "{:<12} {:>8}",
            "mean",
            m.persons.first().copied().unwrap_or(0)
        );
        for j in 1..r.columns.len() {
            let cell = m.rates[j].map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0));
            let _ = write!(out, " {cell:>w$}");
        }
        let _ = writeln!(out);
        let _ = write!(out, "{:<12} {:>8}", "  95% CI", "");
        for j in 1..r.columns.len() {
            let cell = m.ci95[j].map_or("-".to_string(), |(a, b)| {
                format!("{:.0}-{:.0}", a * 100.0, b * 100.0)
            });
            let _ = write!(out, " {cell:>w$}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "* incomplete: the period has not ended at as_of; not used in the mean."
    );
    out
}

/// One CSV line per cell: project, breakdown, cohort, size, column, count, rate, bounds, incomplete.
pub(crate) fn to_csv(r: &RetentionReport) -> String {
    let mut out = String::from(
        "project,breakdown_value,is_other,cohort_start,size,column,count,rate,ci95_low,ci95_high,incomplete\n",
    );
    for row in &r.rows {
        for j in 0..r.columns.len() {
            let Some(count) = row.counts[j] else { continue };
            let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
            let (lo, hi) = row.ci95[j].map_or((None, None), |(a, b)| (Some(a), Some(b)));
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{}",
                csv_field(&row.project),
                csv_field(row.breakdown_value.as_deref().unwrap_or("")),
                row.is_other,
                row.cohort_start,
                row.size,
                j,
                count,
                opt(row.rates[j]),
                opt(lo),
                opt(hi),
                row.incomplete[j].unwrap_or(false)
            );
        }
    }
    out
}
