//! Rendering a growth report: JSON, a text table with the projects side by side (milestone → days), CSV rows for
//! the milestones and the curves, and two charts: the curves aligned by days since day 0, and days to each
//! milestone as grouped bars.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::growth::{GrowthReport, Metric, ProjectGrowth};
use crate::kind::Output;
use crate::provenance::Provenance;
use crate::render::{ChartOptions, TableOptions, csv_field};
use crate::svg::{BarChart, BarMode, Footer, LineChart, Series, ValueFormat};

impl Output for GrowthReport {
    fn to_json(&self) -> Value {
        to_json(self)
    }

    fn to_table(&self, _opts: &TableOptions) -> String {
        to_table(self)
    }

    fn to_csv(&self) -> String {
        to_csv(self)
    }

    fn charts(&self) -> &'static [&'static str] {
        &["curves", "milestones"]
    }

    fn to_svg(&self, chart: &str, _opts: &ChartOptions) -> Option<String> {
        match chart {
            "curves" => Some(crate::svg::lines(&curves(self))),
            "milestones" => Some(crate::svg::bars(&milestones(self))),
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

fn project_json(g: &ProjectGrowth) -> Value {
    let pp = &g.provenance;
    json!({
        "project": g.project,
        "day0": g.day0,
        "launch_date": g.launch_date,
        "milestones": g.milestones.iter().map(|m| json!({
            "n": m.n, "reached_on": m.reached_on, "days": m.days, "current": m.current,
        })).collect::<Vec<_>>(),
        "curve": g.curve.iter().map(|c| json!({
            "day": c.day, "days_since_d0": c.days_since_d0, "value": c.value, "incomplete": c.incomplete,
        })).collect::<Vec<_>>(),
        "current": g.current,
        "provenance": {
            "data_fingerprint": pp.data_fingerprint,
            "data_days": pp.data_days.as_ref().map(|(a, b)| json!({"from": a, "to": b})),
            "events_in_scope": pp.events_in_scope,
            "identity_digest": pp.identity_digest,
            "excluded": {"personless_persons": pp.personless_persons, "personless_events": pp.personless_events},
        },
    })
}

fn to_json(r: &GrowthReport) -> Value {
    json!({
        "kind": "growth",
        "definition": r.definition,
        "parameters": r.params.to_json(),
        "window": {
            "timezone": r.timezone,
            "as_of": r.as_of,
            "last_complete_day": r.last_complete_day,
        },
        "metric": r.metric.name(),
        "projects": r.projects.iter().map(project_json).collect::<Vec<_>>(),
        "provenance": r.provenance.to_json(),
    })
}

/// Milestones down, projects across: the days each took, or `- (now N)` when not reached.
fn to_table(r: &GrowthReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", r.definition);
    let _ = writeln!(
        out,
        "as of {}  last complete day {}  fingerprint {}",
        r.as_of, r.last_complete_day, r.provenance.data_fingerprint
    );
    let cell = |g: &ProjectGrowth, i: usize| {
        let m = &g.milestones[i];
        match (m.days, m.current) {
            (Some(d), _) => format!("{d} d"),
            (None, Some(c)) => format!("- (now {c})"),
            (None, None) => "-".to_string(),
        }
    };
    let n_milestones = r.projects.first().map_or(0, |g| g.milestones.len());
    let mut w = 12usize;
    for g in &r.projects {
        w = w.max(g.project.len());
        for i in 0..n_milestones {
            w = w.max(cell(g, i).len());
        }
    }
    let _ = writeln!(out);
    let _ = write!(out, "{:<12}", "milestone");
    for g in &r.projects {
        let _ = write!(out, " {:>w$}", g.project);
    }
    let _ = writeln!(out);
    let _ = write!(out, "{:<12}", "day 0");
    for g in &r.projects {
        let _ = write!(out, " {:>w$}", g.day0.as_deref().unwrap_or("-"));
    }
    let _ = writeln!(out);
    for i in 0..n_milestones {
        let _ = write!(out, "{:<12}", r.projects[0].milestones[i].n);
        for g in &r.projects {
            let _ = write!(out, " {:>w$}", cell(g, i));
        }
        let _ = writeln!(out);
    }
    let _ = write!(out, "{:<12}", "current");
    for g in &r.projects {
        let _ = write!(out, " {:>w$}", g.current);
    }
    let _ = writeln!(out);
    out
}

/// One line per milestone, then one per curve point.
fn to_csv(r: &GrowthReport) -> String {
    let mut out = String::from("project,row,milestone,day,days_since_d0,value,incomplete\n");
    for g in &r.projects {
        let p = csv_field(&g.project);
        for m in &g.milestones {
            let _ = writeln!(
                out,
                "{p},milestone,{},{},{},{},",
                m.n,
                m.reached_on.as_deref().unwrap_or(""),
                m.days.map_or(String::new(), |d| d.to_string()),
                m.current.map_or(String::new(), |c| c.to_string()),
            );
        }
        for c in &g.curve {
            let _ = writeln!(
                out,
                "{p},curve,,{},{},{},{}",
                c.day, c.days_since_d0, c.value, c.incomplete
            );
        }
    }
    out
}

fn footer(r: &GrowthReport) -> Footer {
    Footer {
        scope: format!("Up to {}", r.last_complete_day),
        as_of: r.as_of.clone(),
        fingerprint: r.provenance.data_fingerprint.clone(),
        engine: r.provenance.engine.clone(),
    }
}

fn y_label(r: &GrowthReport) -> String {
    match r.metric {
        Metric::CumulativePersons => "Persons arrived".to_string(),
        Metric::Mau => "Monthly active persons".to_string(),
    }
}

/// C(d) by days since day 0, one line per project.
fn curves(r: &GrowthReport) -> LineChart {
    let days: BTreeSet<u64> = r
        .projects
        .iter()
        .flat_map(|g| g.curve.iter().map(|c| c.days_since_d0))
        .collect();
    let days: Vec<u64> = days.into_iter().collect();
    let incomplete = days
        .iter()
        .map(|d| {
            r.projects.iter().any(|g| {
                g.curve
                    .iter()
                    .any(|c| c.days_since_d0 == *d && c.incomplete)
            })
        })
        .collect();
    let series = r
        .projects
        .iter()
        .map(|g| Series {
            name: g.project.clone(),
            values: days
                .iter()
                .map(|d| {
                    g.curve
                        .binary_search_by_key(d, |c| c.days_since_d0)
                        .ok()
                        .map(|i| g.curve[i].value as f64)
                })
                .collect(),
            band: None,
        })
        .collect();
    LineChart {
        title: format!("{} by days since day 0, {}", y_label(r), r.timezone),
        definition: r.definition.clone(),
        labels: days.iter().map(u64::to_string).collect(),
        x_label: "Days since day 0".to_string(),
        y_label: y_label(r),
        series,
        incomplete,
        format: ValueFormat::Number,
        footer: footer(r),
    }
}

/// Days to each milestone, one bar per project; a milestone not reached draws no bar.
fn milestones(r: &GrowthReport) -> BarChart {
    let labels = r
        .projects
        .first()
        .map(|g| g.milestones.iter().map(|m| m.n.to_string()).collect())
        .unwrap_or_default();
    BarChart {
        title: format!("Days to each milestone ({})", y_label(r).to_lowercase()),
        definition: r.definition.clone(),
        labels,
        x_label: "Milestone".to_string(),
        y_label: "Days since day 0".to_string(),
        series: r
            .projects
            .iter()
            .map(|g| Series {
                name: g.project.clone(),
                values: g
                    .milestones
                    .iter()
                    .map(|m| m.days.map(|d| d as f64))
                    .collect(),
                band: None,
            })
            .collect(),
        mode: BarMode::Grouped,
        incomplete: Vec::new(),
        format: ValueFormat::Number,
        footer: footer(r),
    }
}
