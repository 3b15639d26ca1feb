//! Rendering a retention report: JSON (the documented shape of retention.md §13), a terminal table, CSV, and its
//! two charts.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::kind::Output;
use crate::params::Period;
use crate::provenance::Provenance;
use crate::render::{ChartOptions, TableOptions, csv_field, shade, visible_len};
use crate::retention::{Mean, RetentionReport, Row};

impl Output for RetentionReport {
    fn to_json(&self) -> Value {
        to_json(self)
    }

    fn to_table(&self, opts: &TableOptions) -> String {
        to_table(self, opts)
    }

    fn to_csv(&self) -> String {
        to_csv(self)
    }

    fn charts(&self) -> &'static [&'static str] {
        &["curves", "heatmap"]
    }

    fn to_svg(&self, chart: &str, opts: &ChartOptions) -> Option<String> {
        match chart {
            "curves" => Some(crate::svg::curves(self)),
            "heatmap" => Some(crate::svg::heatmap(self, opts.color_max)),
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
            "beyond_data": row.beyond_data,
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
            "ends_before_as_of": r.window.ends_before_as_of,
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

/// The triangle as a table: one block per project and breakdown value, sizes and percentages, then the mean with
/// the cohorts and persons each column's mean rests on. Fitted to `opts.width` by showing the columns that matter.
pub(crate) fn to_table(r: &RetentionReport, opts: &TableOptions) -> String {
    let color = opts.color;
    let mut out = String::new();
    let _ = writeln!(out, "{}", r.definition);
    let _ = writeln!(
        out,
        "as of {}  fingerprint {}",
        r.provenance.as_of, r.provenance.data_fingerprint
    );
    let w = r.columns.iter().map(|c| c.len()).max().unwrap_or(7).max(7);
    let shown = shown_columns(r, opts, w);
    let cut = r.window.ends_before_as_of;
    let mut marks = Marks::default();
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
        for &j in &shown {
            let _ = write!(out, " {:>w$}", r.columns[j]);
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
            for &j in &shown {
                let beyond = row.beyond_data.get(j).copied().flatten() == Some(true);
                let cell = match (row.rates[j], row.incomplete[j]) {
                    (None, Some(_)) => "-".to_string(),
                    (None, None) if cut => {
                        marks.cut = true;
                        "·".to_string()
                    }
                    (None, None) => String::new(),
                    (Some(rate), inc) => {
                        let mark = if inc == Some(true) {
                            marks.incomplete = true;
                            "*"
                        } else if beyond {
                            marks.beyond = true;
                            "~"
                        } else {
                            ""
                        };
                        shade(&format!("{:.1}%{mark}", rate * 100.0), rate, color)
                    }
                };
                let pad = w.saturating_sub(visible_len(&cell));
                let _ = write!(out, " {}{cell}", " ".repeat(pad));
            }
            let _ = writeln!(out);
            i += 1;
        }
        let persons = |j: usize| m.persons.get(j).copied().unwrap_or(0);
        let rows_used = |j: usize| m.rows_used.get(j).copied().unwrap_or(0);
        let _ = write!(out, "{:<12} {:>8}", "mean", persons(0));
        for &j in &shown {
            let cell = m.rates[j].map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0));
            let _ = write!(out, " {cell:>w$}");
        }
        let _ = writeln!(out);
        let _ = write!(out, "{:<12} {:>8}", "  95% CI", "");
        for &j in &shown {
            let cell = m.ci95[j].map_or("-".to_string(), |(a, b)| {
                format!("{:.0}-{:.0}", a * 100.0, b * 100.0)
            });
            let _ = write!(out, " {cell:>w$}");
        }
        let _ = writeln!(out);
        // What each column's mean rests on: complete cells only, so later columns rest on fewer cohorts.
        let _ = write!(out, "{:<12} {:>8}", "  cohorts", rows_used(0));
        for &j in &shown {
            let _ = write!(out, " {:>w$}", rows_used(j));
        }
        let _ = writeln!(out);
        let _ = write!(out, "{:<12} {:>8}", "  persons", "");
        for &j in &shown {
            let _ = write!(out, " {:>w$}", persons(j));
        }
        let _ = writeln!(out);
    }
    let mut legend = vec![
        "mean: cohort-size-weighted over the complete cells of each column; `cohorts` and `persons` say what it \
         rests on."
            .to_string(),
    ];
    if marks.incomplete {
        legend.push(
            "* incomplete: the period has not ended at as_of; not used in the mean.".to_string(),
        );
    }
    if marks.beyond {
        let last = r
            .provenance
            .projects
            .iter()
            .filter_map(|p| p.last_event.as_deref())
            .max()
            .unwrap_or("");
        legend.push(format!(
            "~ the period ends after the data's last event ({last}), so the data may not cover it; {}",
            if r.params.exclude_partial_periods {
                "not used in the mean."
            } else {
                "used in the mean (--exclude-partial-periods leaves it out)."
            }
        ));
    }
    if marks.cut {
        legend.push(format!(
            "· after the window's end ({}, date_to): returning events after it are not counted; a later --to \
             counts them.",
            r.window.end_exclusive
        ));
    }
    let total = r.columns.len().saturating_sub(1);
    if shown.len() < total {
        let labels: Vec<&str> = shown.iter().map(|&j| r.columns[j].as_str()).collect();
        legend.push(format!(
            "showing {} of {total} columns ({}){}; --all-columns shows every one, --columns 1,7,30 picks them.",
            shown.len(),
            labels.join(", "),
            opts.width
                .filter(|_| opts.columns.is_none())
                .map_or(String::new(), |w| format!(" to fit {w} characters"))
        ));
    }
    let _ = writeln!(out);
    for line in legend {
        match opts.width {
            Some(w) => {
                for (n, part) in crate::svg::text::wrap(&line, w.saturating_sub(2))
                    .iter()
                    .enumerate()
                {
                    let _ = writeln!(out, "{}{part}", if n == 0 { "" } else { "  " });
                }
            }
            None => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

/// Which markers a table used, so its legend explains exactly those.
#[derive(Debug, Default)]
struct Marks {
    incomplete: bool,
    beyond: bool,
    cut: bool,
}

/// The period columns (index ≥ 1) a table shows: the picked ones, else every one that fits the width, else the
/// columns that matter most (periods 1, 2, 3, then the usual milestones and the last) as far as they fit.
fn shown_columns(r: &RetentionReport, opts: &TableOptions, w: usize) -> Vec<usize> {
    let n = r.columns.len();
    if let Some(pick) = &opts.columns {
        let mut out: Vec<usize> = pick.iter().copied().filter(|&j| j >= 1 && j < n).collect();
        out.sort_unstable();
        out.dedup();
        return out;
    }
    let all: Vec<usize> = (1..n).collect();
    let Some(width) = opts.width else {
        return all;
    };
    // Period 1 always shows, however narrow the width.
    let fits = |k: usize| k <= 1 || 21 + k * (w + 1) <= width;
    if fits(all.len()) {
        return all;
    }
    let milestones: &[usize] = if r.params.custom_brackets.is_some() {
        &[]
    } else {
        match r.params.period {
            Period::Hour => &[6, 12, 24, 48, 72, 168],
            Period::Day => &[7, 14, 30, 60, 90, 180, 365],
            Period::Week => &[4, 8, 12, 26, 52],
            Period::Month => &[6, 12, 24, 36],
        }
    };
    let priority = [1, 2, 3]
        .iter()
        .chain(milestones)
        .copied()
        .chain(std::iter::once(n - 1))
        .chain(4..n)
        .filter(|&j| j >= 1 && j < n);
    let mut out: Vec<usize> = Vec::new();
    for j in priority {
        if !fits(out.len() + 1) {
            break;
        }
        if !out.contains(&j) {
            out.push(j);
        }
    }
    out.sort_unstable();
    out
}

/// One CSV line per cell: project, breakdown, cohort, size, column, count, rate, bounds, incomplete.
pub(crate) fn to_csv(r: &RetentionReport) -> String {
    let mut out = String::from(
        "project,breakdown_value,is_other,cohort_start,size,column,count,rate,ci95_low,ci95_high,incomplete,beyond_data\n",
    );
    for row in &r.rows {
        for j in 0..r.columns.len() {
            let Some(count) = row.counts[j] else { continue };
            let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
            let (lo, hi) = row.ci95[j].map_or((None, None), |(a, b)| (Some(a), Some(b)));
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{}",
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
                row.incomplete[j].unwrap_or(false),
                row.beyond_data.get(j).copied().flatten().unwrap_or(false)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wide() -> RetentionReport {
        let rates: Vec<Option<f64>> = (0..31).map(|j| Some(1.0 / (1.0 + j as f64))).collect();
        crate::svg::tests::report(&[("chat", &rates)])
    }

    fn header(table: &str) -> &str {
        table
            .lines()
            .find(|l| l.starts_with("cohort"))
            .unwrap_or("")
    }

    #[test]
    fn a_wide_table_fits_the_width_with_the_columns_that_matter() {
        let r = wide();
        let opts = TableOptions {
            width: Some(80),
            ..TableOptions::default()
        };
        assert_eq!(shown_columns(&r, &opts, 7), vec![1, 2, 3, 4, 7, 14, 30]);
        let table = to_table(&r, &opts);
        assert!(
            table.lines().skip(2).all(|l| l.chars().count() <= 80),
            "{table}"
        );
        assert!(header(&table).chars().count() <= 80, "{table}");
        assert!(table.contains("showing 7 of 30 columns"), "{table}");
        // Narrower still: periods 1, 2, 3 first.
        let narrow = TableOptions {
            width: Some(50),
            ..TableOptions::default()
        };
        assert_eq!(shown_columns(&r, &narrow, 7), vec![1, 2, 3]);
        // No width: every column; picked columns: exactly those in range.
        assert_eq!(shown_columns(&r, &TableOptions::default(), 7).len(), 30);
        let picked = TableOptions {
            width: Some(40),
            columns: Some(vec![30, 7, 0, 99, 7]),
            ..TableOptions::default()
        };
        assert_eq!(shown_columns(&r, &picked, 7), vec![7, 30]);
        assert!(!to_table(&r, &TableOptions::default()).contains("showing"));
    }

    #[test]
    fn the_mean_says_how_many_cohorts_and_persons_each_column_rests_on() {
        let table = to_table(&wide(), &TableOptions::default());
        let cohorts = table.lines().find(|l| l.starts_with("  cohorts")).unwrap();
        let persons = table.lines().find(|l| l.starts_with("  persons")).unwrap();
        assert_eq!(cohorts.split_whitespace().nth(1), Some("1"));
        assert_eq!(persons.split_whitespace().nth(1), Some("100"));
    }
}
