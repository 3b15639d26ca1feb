//! Rendering a retention report: JSON (the documented shape of retention.md §13), a terminal table, and CSV.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::retention::{Mean, RetentionReport, Row};

/// The report as JSON (see `docs/report-json.md`).
pub fn to_json(r: &RetentionReport) -> Value {
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
    let prov = &r.provenance;
    let first = prov.projects.first();
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
        "provenance": {
            "engine": prov.engine,
            "project": if prov.projects.len() == 1 { first.map(|p| Value::from(p.project.clone())) } else { None },
            "as_of": prov.as_of,
            "data_fingerprint": prov.data_fingerprint,
            "data_days": if prov.projects.len() == 1 { first.and_then(|p| p.data_days.as_ref()).map(|(a, b)| json!({"from": a, "to": b})) } else { None },
            "events_in_scope": prov.projects.iter().map(|p| p.events_in_scope).sum::<u64>(),
            "identity_digest": if prov.projects.len() == 1 { first.map(|p| Value::from(p.identity_digest.clone())) } else { None },
            "excluded": {
                "personless_persons": prov.projects.iter().map(|p| p.personless_persons).sum::<u64>(),
                "personless_events": prov.projects.iter().map(|p| p.personless_events).sum::<u64>(),
            },
            "projects": prov.projects.iter().map(|p| json!({
                "project": p.project,
                "data_fingerprint": p.data_fingerprint,
                "data_days": p.data_days.as_ref().map(|(a, b)| json!({"from": a, "to": b})),
                "events_in_scope": p.events_in_scope,
                "identity_digest": p.identity_digest,
                "excluded": {"personless_persons": p.personless_persons, "personless_events": p.personless_events},
            })).collect::<Vec<_>>(),
        },
    })
}

/// How to draw a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// ANSI background shades by rate.
    Ansi,
    /// Plain text (golden-testable).
    Plain,
}

/// The triangle as a table: one block per project and breakdown value, sizes and percentages, then the mean.
pub fn to_table(r: &RetentionReport, color: Color) -> String {
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

fn shade(text: &str, rate: f64, color: Color) -> String {
    match color {
        Color::Plain => text.to_string(),
        Color::Ansi => {
            // Five blue shades from the 256-colour palette, darker for higher rates.
            let palette = [255, 153, 117, 75, 33];
            let idx = ((rate.clamp(0.0, 1.0) * 4.0).round()) as usize;
            let fg = if idx >= 3 { 15 } else { 16 };
            format!("\x1b[48;5;{}m\x1b[38;5;{fg}m{text}\x1b[0m", palette[idx])
        }
    }
}

fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (false, _) => n += 1,
            _ => {}
        }
    }
    n
}

/// One CSV line per cell: project, breakdown, cohort, size, column, count, rate, bounds, incomplete.
pub fn to_csv(r: &RetentionReport) -> String {
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

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
