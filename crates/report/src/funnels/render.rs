//! The funnel report's output (funnels.md §13): built from the aggregated runs, then written as JSON, a table, CSV
//! or SVG.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::params::{Attribution, FunnelParams, Order, Viz};
use super::{Aggregate, Plan, StepAcc, average_median, histogram, rate};
use crate::activity::{format_local_us, label};
use crate::error::Result;
use crate::kind::Output;
use crate::params::{Period, PropertyKind};
use crate::provenance::Provenance;
use crate::render::{ChartOptions, TableOptions, csv_field};
use crate::table::EventTable;
use crate::window::Window;

/// One step of a series (§8).
#[derive(Debug, Clone, PartialEq)]
pub struct StepRow {
    /// count(k).
    pub count: u64,
    /// count(k) / count(1).
    pub rate_from_first: Option<f64>,
    /// Its Wilson interval (k ≥ 2).
    pub ci95_from_first: Option<(f64, f64)>,
    /// count(k) / count(k − 1).
    pub rate_from_previous: Option<f64>,
    /// Its Wilson interval (k ≥ 2).
    pub ci95_from_previous: Option<(f64, f64)>,
    /// count(k − 1) − count(k) (k ≥ 2).
    pub dropped_off: Option<u64>,
    /// Average conversion time from step k − 1, s.
    pub average_time_s: Option<f64>,
    /// Median conversion time from step k − 1, s.
    pub median_time_s: Option<f64>,
}

/// A series of `viz = steps`: the whole funnel, one breakdown value, or Other, of one project.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSeries {
    /// The project.
    pub project: String,
    /// The breakdown value (a string, or a list for a list of properties); `None` without a breakdown and for Other.
    pub breakdown_value: Option<Value>,
    /// Whether this is the Other series.
    pub is_other: bool,
    /// One row per step.
    pub steps: Vec<StepRow>,
}

/// The histogram of `viz = time_to_convert` (§11).
#[derive(Debug, Clone, PartialEq)]
pub struct TimeToConvert {
    /// The entering step.
    pub from_step: usize,
    /// The converting step.
    pub to_step: usize,
    /// Persons who converted.
    pub persons: u64,
    /// Their average time, s.
    pub average_s: Option<f64>,
    /// Their median time, s.
    pub median_s: Option<f64>,
    /// `[from_s, to_s)` and the count.
    pub bins: Vec<(f64, f64, u64)>,
}

/// One entry period of `viz = trends` (§10.4).
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPeriod {
    /// The period start, local.
    pub period_start: String,
    /// Persons who entered in it.
    pub entered: u64,
    /// Of them, those who converted.
    pub converted: u64,
    /// converted / entered.
    pub conversion_rate: Option<f64>,
    /// Its Wilson interval.
    pub ci95: Option<(f64, f64)>,
    /// Whether more conversions can still arrive.
    pub incomplete: bool,
}

/// A series of `viz = trends`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendSeries {
    /// The project.
    pub project: String,
    /// The breakdown value, if any.
    pub breakdown_value: Option<Value>,
    /// One entry per period.
    pub periods: Vec<TrendPeriod>,
}

/// A computed funnel report.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelReport {
    /// One sentence saying what is counted.
    pub definition: String,
    /// The resolved parameters.
    pub params: FunnelParams,
    /// `window.from`.
    pub from: String,
    /// `window.to_inclusive`.
    pub to_inclusive: String,
    /// W in seconds.
    pub conversion_window_s: i64,
    /// Entries after this instant had less than W inside the range.
    pub full_window_entries_until: String,
    /// Whether the upper bound is after as_of.
    pub incomplete: bool,
    /// Step labels.
    pub labels: Vec<String>,
    /// `viz = steps`.
    pub series: Option<Vec<StepSeries>>,
    /// `viz = time_to_convert`.
    pub time_to_convert: Option<TimeToConvert>,
    /// `viz = trends`.
    pub trends: Option<Vec<TrendSeries>>,
    /// The shown breakdown values, then `$other` when Other is shown.
    pub breakdown_values: Option<Vec<Value>>,
    /// Where the numbers came from.
    pub provenance: Provenance,
}

/// A value as output: a string, or a list of strings for a list of properties.
pub(super) fn value_json(plan: &Plan, v: &[String]) -> Value {
    match plan.params.breakdown.as_ref().map(|b| &b.property) {
        Some(super::params::PropertyNames::Many(_)) => json!(v),
        _ => Value::from(v.first().cloned().unwrap_or_default()),
    }
}

/// Step labels (§13.3).
fn labels(p: &FunnelParams) -> Vec<String> {
    p.steps
        .iter()
        .enumerate()
        .map(|(i, s)| match (p.order, &s.name) {
            (Order::Unordered, _) => {
                format!("Completed {} step{}", i + 1, if i == 0 { "" } else { "s" })
            }
            (_, Some(name)) => name.clone(),
            (_, None) => label(&s.entity()),
        })
        .collect()
}

fn step_rows(acc: &StepAcc) -> Vec<StepRow> {
    let counts = acc.counts();
    let first = counts[0];
    (0..counts.len())
        .map(|k| {
            if k == 0 {
                let r = (first > 0).then_some(1.0);
                return StepRow {
                    count: first,
                    rate_from_first: r,
                    ci95_from_first: None,
                    rate_from_previous: r,
                    ci95_from_previous: None,
                    dropped_off: None,
                    average_time_s: None,
                    median_time_s: None,
                };
            }
            let (rf, cf) = rate(counts[k], first);
            let (rp, cp) = rate(counts[k], counts[k - 1]);
            let mut times = acc.times[k].clone();
            let (average, median) = average_median(&mut times);
            StepRow {
                count: counts[k],
                rate_from_first: rf,
                ci95_from_first: cf,
                rate_from_previous: rp,
                ci95_from_previous: cp,
                dropped_off: Some(counts[k - 1] - counts[k]),
                average_time_s: average,
                median_time_s: median,
            }
        })
        .collect()
}

/// The values of one project ranked by §9.3: by count(n), …, count(1) descending, then by value.
pub(super) fn rank_steps<'a>(
    values: &'a [Vec<String>],
    rows: &'a std::collections::HashMap<u32, StepAcc>,
) -> Vec<(u32, Vec<u64>)> {
    let mut ranked: Vec<(u32, Vec<u64>)> = rows
        .iter()
        .map(|(&v, acc)| (v, acc.counts()))
        .filter(|(_, c)| c[0] > 0)
        .collect();
    ranked.sort_by(|a, b| {
        b.1.iter()
            .rev()
            .cmp(a.1.iter().rev())
            .then_with(|| values[a.0 as usize].cmp(&values[b.0 as usize]))
    });
    ranked
}

/// The values of one project's trends ranked by §10.4: total entered descending, then value.
pub(super) fn rank_trends(
    values: &[Vec<String>],
    rows: &std::collections::HashMap<u32, Vec<(u64, u64)>>,
) -> Vec<u32> {
    let mut ranked: Vec<(u32, u64)> = rows
        .iter()
        .map(|(&v, r)| (v, r.iter().map(|c| c.0).sum::<u64>()))
        .filter(|(_, entered)| *entered > 0)
        .collect();
    ranked.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| values[a.0 as usize].cmp(&values[b.0 as usize]))
    });
    ranked.into_iter().map(|(v, _)| v).collect()
}

pub(super) fn build(
    plan: &Plan,
    from: i64,
    trend_window: Option<&Window>,
    tables: &[&EventTable],
    projects: Vec<Aggregate>,
) -> Result<FunnelReport> {
    let p = &plan.params;
    let mut series = Vec::new();
    let mut trends = Vec::new();
    let mut time_to_convert = None;
    let mut shown: Vec<Value> = Vec::new();
    let mut other_shown = false;
    for (t, agg) in tables.iter().zip(projects) {
        match agg {
            Aggregate::Steps { values, rows } => {
                if p.viz == Viz::TimeToConvert {
                    let acc = rows.get(&0).cloned().unwrap_or_else(|| StepAcc::new(plan));
                    time_to_convert = Some(ttc(plan, &acc));
                    continue;
                }
                if plan.breakdown().is_none() {
                    let acc = rows.get(&0).cloned().unwrap_or_else(|| StepAcc::new(plan));
                    series.push(StepSeries {
                        project: t.project.clone(),
                        breakdown_value: None,
                        is_other: false,
                        steps: step_rows(&acc),
                    });
                    continue;
                }
                let limit = plan.breakdown().map_or(usize::MAX, |b| b.limit);
                let ranked = rank_steps(&values, &rows);
                for (v, _) in ranked.iter().take(limit) {
                    let value = value_json(plan, &values[*v as usize]);
                    if !shown.contains(&value) {
                        shown.push(value.clone());
                    }
                    series.push(StepSeries {
                        project: t.project.clone(),
                        breakdown_value: Some(value),
                        is_other: false,
                        steps: step_rows(&rows[v]),
                    });
                }
                if ranked.len() > limit {
                    let mut acc = StepAcc::new(plan);
                    for (v, _) in &ranked[limit..] {
                        acc.merge(&rows[v]);
                    }
                    other_shown = true;
                    series.push(StepSeries {
                        project: t.project.clone(),
                        breakdown_value: None,
                        is_other: true,
                        steps: step_rows(&acc),
                    });
                }
            }
            Aggregate::Trends { values, rows } => {
                let Some(w) = trend_window else {
                    continue;
                };
                let periods = |row: Option<&Vec<(u64, u64)>>| -> Vec<TrendPeriod> {
                    (0..w.grid.len())
                        .map(|i| {
                            let (entered, converted) = row.map_or((0, 0), |r| r[i]);
                            let (conversion_rate, ci95) = rate(converted, entered);
                            let last = w.grid.end_of(i) - 1;
                            TrendPeriod {
                                period_start: crate::window::format_local(
                                    w.grid.start(i),
                                    &plan.tz,
                                ),
                                entered,
                                converted,
                                conversion_rate,
                                ci95,
                                incomplete: last.saturating_add(plan.w).min(plan.to_inclusive)
                                    > plan.as_of,
                            }
                        })
                        .collect()
                };
                match plan.breakdown() {
                    None => trends.push(TrendSeries {
                        project: t.project.clone(),
                        breakdown_value: None,
                        periods: periods(rows.get(&0)),
                    }),
                    Some(b) => {
                        for v in rank_trends(&values, &rows).into_iter().take(b.limit) {
                            let value = value_json(plan, &values[v as usize]);
                            if !shown.contains(&value) {
                                shown.push(value.clone());
                            }
                            trends.push(TrendSeries {
                                project: t.project.clone(),
                                breakdown_value: Some(value),
                                periods: periods(rows.get(&v)),
                            });
                        }
                    }
                }
            }
        }
    }
    if other_shown {
        shown.push(Value::from("$other"));
    }
    let end = plan.to_inclusive.min(plan.as_of);
    Ok(FunnelReport {
        definition: definition(p),
        params: p.clone(),
        from: format_local_us(from, &plan.tz),
        to_inclusive: format_local_us(plan.to_inclusive, &plan.tz),
        conversion_window_s: plan.w / 1_000_000,
        full_window_entries_until: format_local_us(end.saturating_sub(plan.w), &plan.tz),
        incomplete: plan.to_inclusive > plan.as_of,
        labels: labels(p),
        series: (p.viz == Viz::Steps).then_some(series),
        time_to_convert,
        trends: (p.viz == Viz::Trends).then_some(trends),
        breakdown_values: (plan.breakdown().is_some() && p.viz != Viz::TimeToConvert)
            .then_some(shown),
        provenance: Provenance::of(plan.as_of, tables, p.common.lang),
    })
}

/// §11 over the runs that reached `to_step`.
fn ttc(plan: &Plan, acc: &StepAcc) -> TimeToConvert {
    let p = &plan.params;
    let (from, to) = (p.from_step(), p.to_step());
    let mut micros: Vec<i64> = acc.spans.clone();
    let seconds: Vec<f64> = micros.iter().map(|&t| t as f64 / 1e6).collect();
    let (average_s, median_s) = average_median(&mut micros);
    TimeToConvert {
        from_step: from,
        to_step: to,
        persons: micros.len() as u64,
        average_s,
        median_s,
        bins: histogram(&seconds, p.bin_count),
    }
}

/// The one-sentence definition (§13.7), in the report's language.
pub(super) fn definition(p: &FunnelParams) -> String {
    if p.common.lang == crate::params::Lang::ZhCn {
        return definition_zh(p);
    }
    let names: Vec<String> = p
        .steps
        .iter()
        .map(|s| {
            let e = crate::retention::entity_text(&s.entity());
            match s.occurrence {
                super::params::Occurrence::Any => e,
                super::params::Occurrence::FirstEver => format!("{e} (their first ever)"),
                super::params::Occurrence::FirstTime => format!("{e} (for the first time)"),
            }
        })
        .collect();
    let steps = match p.order {
        Order::Ordered => format!("did {} in this order", names.join(", then ")),
        Order::Strict => format!(
            "did {} in this order with no other activity in between",
            names.join(", then ")
        ),
        Order::Unordered => format!("did any of {} in any order", names.join(", ")),
    };
    let mut out = format!(
        "Persons who {steps}, all within {}",
        p.conversion_window.text()
    );
    for x in &p.exclusions {
        let e = crate::retention::entity_text(&crate::params::Entity {
            event: x.event.clone(),
            properties: x.properties.clone(),
        });
        let _ = write!(
            out,
            ", excluding anyone who did {e} between step {} and step {}",
            x.from_step, x.to_step
        );
    }
    if let Some(b) = &p.breakdown {
        let side = match b.kind {
            PropertyKind::Event => "event",
            PropertyKind::Person => "person",
        };
        let attribution = match b.attribution {
            Attribution::FirstTouch => "first touch".to_string(),
            Attribution::LastTouch => "last touch".to_string(),
            Attribution::AllEvents => "all events".to_string(),
            Attribution::Step => format!("step {}", b.attribution_step.unwrap_or(1)),
        };
        let _ = write!(
            out,
            ", broken down by {side} property {} ({attribution})",
            b.property.names().join(", ")
        );
    }
    let _ = write!(
        out,
        "{}{} ({}).",
        crate::retention::global_text(&p.common),
        match p.common.personless {
            crate::params::Personless::Exclude => "",
            crate::params::Personless::Include => ", personless persons included",
        },
        p.common.timezone()
    );
    out
}

fn definition_zh(p: &FunnelParams) -> String {
    use crate::lang;
    let names: Vec<String> = p
        .steps
        .iter()
        .map(|s| {
            let e = lang::entity(&s.entity());
            match s.occurrence {
                super::params::Occurrence::Any => e,
                super::params::Occurrence::FirstEver => format!("{e}（史上首次）"),
                super::params::Occurrence::FirstTime => format!("{e}（首次）"),
            }
        })
        .collect();
    let steps = match p.order {
        Order::Ordered => format!("依次做过 {} ", names.join(" → ")),
        Order::Strict => format!("依次做过 {} 且中间没有其他活动", names.join(" → ")),
        Order::Unordered => format!("以任意顺序做过{}", names.join("、")),
    };
    let w = &p.conversion_window;
    let unit = match w.unit {
        super::params::WindowUnit::Second => "秒",
        super::params::WindowUnit::Minute => "分钟",
        super::params::WindowUnit::Hour => "小时",
        super::params::WindowUnit::Day => "天",
        super::params::WindowUnit::Week => "周",
        super::params::WindowUnit::Month => "个月",
    };
    let mut out = format!("在 {} {unit}内{steps}的用户", w.value);
    for x in &p.exclusions {
        let e = lang::entity(&crate::params::Entity {
            event: x.event.clone(),
            properties: x.properties.clone(),
        });
        let _ = write!(
            out,
            "，排除在第 {} 步与第 {} 步之间做过{e}的用户",
            x.from_step, x.to_step
        );
    }
    if let Some(b) = &p.breakdown {
        let side = match b.kind {
            PropertyKind::Event => "事件",
            PropertyKind::Person => "用户",
        };
        let attribution = match b.attribution {
            Attribution::FirstTouch => "首次触达".to_string(),
            Attribution::LastTouch => "末次触达".to_string(),
            Attribution::AllEvents => "全部事件".to_string(),
            Attribution::Step => format!("第 {} 步", b.attribution_step.unwrap_or(1)),
        };
        let _ = write!(
            out,
            "，按{side}属性 {} 细分（{attribution}）",
            b.property.names().join("、")
        );
    }
    let _ = write!(
        out,
        "{}{}（{}）。",
        lang::global(&p.common),
        lang::personless(&p.common),
        p.common.timezone()
    );
    out
}

fn ci_json(c: Option<(f64, f64)>) -> Value {
    c.map_or(Value::Null, |(a, b)| json!([a, b]))
}

fn percent(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |x| format!("{:.1}%", x * 100.0))
}

fn duration(v: Option<f64>) -> String {
    let Some(s) = v else {
        return "-".to_string();
    };
    if s < 60.0 {
        format!("{s:.0}s")
    } else if s < 3600.0 {
        format!("{:.1}m", s / 60.0)
    } else if s < 86_400.0 {
        format!("{:.1}h", s / 3600.0)
    } else {
        format!("{:.1}d", s / 86_400.0)
    }
}

impl FunnelReport {
    fn series_name(&self, project: &str, value: &Option<Value>, is_other: bool) -> String {
        let several = self.params.common.projects.len() > 1;
        let value = if is_other {
            Some("Other".to_string())
        } else {
            value.as_ref().map(|v| match v {
                Value::String(s) if s.is_empty() => "(none)".to_string(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        match (several, value) {
            (true, Some(v)) => format!("{project} · {v}"),
            (true, None) => project.to_string(),
            (false, Some(v)) => v,
            (false, None) => "all persons".to_string(),
        }
    }

    fn footer(&self) -> crate::svg::Footer {
        crate::svg::Footer {
            scope: format!("{} to {}", self.from, self.to_inclusive),
            as_of: self.provenance.as_of.clone(),
            fingerprint: self.provenance.data_fingerprint.clone(),
            engine: self.provenance.engine.clone(),
        }
    }
}

impl Output for FunnelReport {
    fn to_json(&self) -> Value {
        json!({
            "kind": "funnels",
            "definition": self.definition,
            "parameters": self.params.to_json(),
            "window": {
                "from": self.from,
                "to_inclusive": self.to_inclusive,
                "conversion_window_s": self.conversion_window_s,
                "full_window_entries_until": self.full_window_entries_until,
                "incomplete": self.incomplete,
            },
            "series": self.series.as_ref().map(|all| all.iter().map(|s| json!({
                "project": s.project,
                "breakdown_value": s.breakdown_value,
                "is_other": s.is_other,
                "steps": s.steps.iter().enumerate().map(|(k, r)| json!({
                    "step": k + 1,
                    "label": self.labels[k],
                    "count": r.count,
                    "rate_from_first": r.rate_from_first,
                    "ci95_from_first": ci_json(r.ci95_from_first),
                    "rate_from_previous": r.rate_from_previous,
                    "ci95_from_previous": ci_json(r.ci95_from_previous),
                    "dropped_off": r.dropped_off,
                    "average_time_s": r.average_time_s,
                    "median_time_s": r.median_time_s,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>()),
            "time_to_convert": self.time_to_convert.as_ref().map(|t| json!({
                "from_step": t.from_step,
                "to_step": t.to_step,
                "persons": t.persons,
                "average_s": t.average_s,
                "median_s": t.median_s,
                "bins": t.bins.iter().map(|b| json!({"from_s": b.0, "to_s": b.1, "count": b.2})).collect::<Vec<_>>(),
            })),
            "trends": self.trends.as_ref().map(|all| all.iter().map(|s| json!({
                "project": s.project,
                "breakdown_value": s.breakdown_value,
                "periods": s.periods.iter().map(|p| json!({
                    "period_start": p.period_start,
                    "entered": p.entered,
                    "converted": p.converted,
                    "conversion_rate": p.conversion_rate,
                    "ci95": ci_json(p.ci95),
                    "incomplete": p.incomplete,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>()),
            "breakdown_values": self.breakdown_values,
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
        let _ = writeln!(
            out,
            "entries from {} to {}; full {}-second window for entries until {}",
            self.from, self.to_inclusive, self.conversion_window_s, self.full_window_entries_until
        );
        if let Some(all) = &self.series {
            let w = self
                .labels
                .iter()
                .map(|l| l.chars().count())
                .max()
                .unwrap_or(4)
                .clamp(4, 40);
            for s in all {
                let _ = writeln!(out);
                let _ = writeln!(
                    out,
                    "{}",
                    self.series_name(&s.project, &s.breakdown_value, s.is_other)
                );
                let _ = writeln!(
                    out,
                    "  {:<3} {:<w$} {:>9} {:>8} {:>15} {:>8} {:>9} {:>9} {:>9}",
                    "#",
                    "step",
                    "persons",
                    "of first",
                    "95% CI",
                    "of prev",
                    "dropped",
                    "avg time",
                    "median"
                );
                for (k, r) in s.steps.iter().enumerate() {
                    let ci = r.ci95_from_first.map_or("-".to_string(), |(a, b)| {
                        format!("{:.1}-{:.1}%", a * 100.0, b * 100.0)
                    });
                    let label: String = self.labels[k].chars().take(w).collect();
                    let _ = writeln!(
                        out,
                        "  {:<3} {label:<w$} {:>9} {:>8} {ci:>15} {:>8} {:>9} {:>9} {:>9}",
                        k + 1,
                        r.count,
                        percent(r.rate_from_first),
                        percent(r.rate_from_previous),
                        r.dropped_off.map_or("-".to_string(), |d| d.to_string()),
                        duration(r.average_time_s),
                        duration(r.median_time_s),
                    );
                }
            }
        }
        if let Some(t) = &self.time_to_convert {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "time from step {} to step {}: {} persons, average {}, median {}",
                t.from_step,
                t.to_step,
                t.persons,
                duration(t.average_s),
                duration(t.median_s)
            );
            let most = t.bins.iter().map(|b| b.2).max().unwrap_or(0).max(1);
            for b in &t.bins {
                let bar = "#".repeat(((b.2 * 40).div_ceil(most)) as usize);
                let _ = writeln!(
                    out,
                    "  {:>9} - {:<9} {:>8}  {bar}",
                    duration(Some(b.0)),
                    duration(Some(b.1)),
                    b.2
                );
            }
        }
        if let Some(all) = &self.trends {
            for s in all {
                let _ = writeln!(out);
                let _ = writeln!(
                    out,
                    "{}",
                    self.series_name(&s.project, &s.breakdown_value, false)
                );
                let _ = writeln!(
                    out,
                    "  {:<25} {:>9} {:>9} {:>8} {:>15}",
                    "entry period", "entered", "converted", "rate", "95% CI"
                );
                for p in &s.periods {
                    let ci = p.ci95.map_or("-".to_string(), |(a, b)| {
                        format!("{:.1}-{:.1}%", a * 100.0, b * 100.0)
                    });
                    let _ = writeln!(
                        out,
                        "  {:<25} {:>9} {:>9} {:>8} {ci:>15}{}",
                        p.period_start,
                        p.entered,
                        p.converted,
                        percent(p.conversion_rate),
                        if p.incomplete { "  (incomplete)" } else { "" }
                    );
                }
            }
        }
        if self.incomplete {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "incomplete: the range ends after as_of; more events can still arrive."
            );
        }
        out
    }

    fn to_csv(&self) -> String {
        let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
        let lo = |c: Option<(f64, f64)>| opt(c.map(|x| x.0));
        let hi = |c: Option<(f64, f64)>| opt(c.map(|x| x.1));
        let value = |v: &Option<Value>| match v {
            None => String::new(),
            Some(Value::String(s)) => csv_field(s),
            Some(other) => csv_field(&other.to_string()),
        };
        let mut out = String::new();
        if let Some(all) = &self.series {
            out.push_str("project,breakdown_value,is_other,step,label,count,rate_from_first,ci95_from_first_low,ci95_from_first_high,rate_from_previous,ci95_from_previous_low,ci95_from_previous_high,dropped_off,average_time_s,median_time_s\n");
            for s in all {
                for (k, r) in s.steps.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                        csv_field(&s.project),
                        value(&s.breakdown_value),
                        s.is_other,
                        k + 1,
                        csv_field(&self.labels[k]),
                        r.count,
                        opt(r.rate_from_first),
                        lo(r.ci95_from_first),
                        hi(r.ci95_from_first),
                        opt(r.rate_from_previous),
                        lo(r.ci95_from_previous),
                        hi(r.ci95_from_previous),
                        r.dropped_off.map_or(String::new(), |d| d.to_string()),
                        opt(r.average_time_s),
                        opt(r.median_time_s),
                    );
                }
            }
        }
        if let Some(t) = &self.time_to_convert {
            out.push_str("from_s,to_s,count\n");
            for b in &t.bins {
                let _ = writeln!(out, "{},{},{}", b.0, b.1, b.2);
            }
        }
        if let Some(all) = &self.trends {
            out.push_str("project,breakdown_value,period_start,entered,converted,conversion_rate,ci95_low,ci95_high,incomplete\n");
            for s in all {
                for p in &s.periods {
                    let _ = writeln!(
                        out,
                        "{},{},{},{},{},{},{},{},{}",
                        csv_field(&s.project),
                        value(&s.breakdown_value),
                        p.period_start,
                        p.entered,
                        p.converted,
                        opt(p.conversion_rate),
                        lo(p.ci95),
                        hi(p.ci95),
                        p.incomplete
                    );
                }
            }
        }
        out
    }

    fn charts(&self) -> &'static [&'static str] {
        match self.params.viz {
            Viz::Steps => &["steps"],
            Viz::TimeToConvert => &["time_to_convert"],
            Viz::Trends => &["trends"],
        }
    }

    fn to_svg(&self, chart: &str, _opts: &ChartOptions) -> Option<String> {
        match (chart, &self.series, &self.time_to_convert, &self.trends) {
            ("steps", Some(all), _, _) => Some(crate::svg::funnel(&crate::svg::FunnelChart {
                title: format!(
                    "Funnel · {} → {}",
                    self.labels.first().map_or("", String::as_str),
                    self.labels.last().map_or("", String::as_str)
                ),
                definition: self.definition.clone(),
                steps: self.labels.clone(),
                series: all
                    .iter()
                    .map(|s| crate::svg::FunnelSeries {
                        name: self.series_name(&s.project, &s.breakdown_value, s.is_other),
                        counts: s.steps.iter().map(|r| r.count).collect(),
                        rates: s.steps.iter().map(|r| r.rate_from_first).collect(),
                        bands: s.steps.iter().map(|r| r.ci95_from_first).collect(),
                        median_s: s.steps.iter().map(|r| r.median_time_s).collect(),
                    })
                    .collect(),
                footer: self.footer(),
            })),
            ("time_to_convert", _, Some(t), _) => {
                let chart = crate::svg::BarChart {
                    title: format!(
                        "Time to convert · step {} to step {}",
                        t.from_step, t.to_step
                    ),
                    definition: self.definition.clone(),
                    labels: t
                        .bins
                        .iter()
                        .map(|b| format!("{}–{}", duration(Some(b.0)), duration(Some(b.1))))
                        .collect(),
                    x_label: "Time to convert".to_string(),
                    y_label: "Persons".to_string(),
                    series: vec![crate::svg::Series {
                        name: "persons".to_string(),
                        values: t.bins.iter().map(|b| Some(b.2 as f64)).collect(),
                        band: None,
                    }],
                    mode: crate::svg::BarMode::Grouped,
                    incomplete: Vec::new(),
                    format: crate::svg::ValueFormat::Number,
                    footer: self.footer(),
                };
                Some(crate::svg::bars(&chart))
            }
            ("trends", _, _, Some(all)) => {
                let first = all.first();
                let chart = crate::svg::LineChart {
                    title: format!(
                        "Conversion by entry {} · step {} to step {}",
                        self.params.interval.noun(),
                        self.params.from_step(),
                        self.params.to_step()
                    ),
                    definition: self.definition.clone(),
                    labels: first.map_or_else(Vec::new, |s| {
                        s.periods
                            .iter()
                            .map(|p| short_period(&p.period_start, self.params.interval))
                            .collect()
                    }),
                    x_label: format!(
                        "{} ({})",
                        self.params.interval.title(),
                        self.params.common.timezone()
                    ),
                    y_label: "Conversion".to_string(),
                    series: all
                        .iter()
                        .map(|s| crate::svg::Series {
                            name: self.series_name(&s.project, &s.breakdown_value, false),
                            values: s.periods.iter().map(|p| p.conversion_rate).collect(),
                            band: Some(s.periods.iter().map(|p| p.ci95).collect()),
                        })
                        .collect(),
                    incomplete: first.map_or_else(Vec::new, |s| {
                        s.periods.iter().map(|p| p.incomplete).collect()
                    }),
                    format: crate::svg::ValueFormat::Percent,
                    footer: self.footer(),
                };
                Some(crate::svg::lines(&chart))
            }
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

/// `2025-06-01` or `2025-06-01 09:00` from an RFC 3339 period start.
fn short_period(start: &str, interval: Period) -> String {
    match interval {
        Period::Hour if start.len() >= 16 => format!("{} {}", &start[..10], &start[11..16]),
        _ => start.chars().take(10).collect(),
    }
}
