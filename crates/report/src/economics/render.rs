//! The economics report's output (economics.md §8): rows per cohort with their cells, the pooled row, the
//! unattributed line, totals, unconverted amounts, notes and the costing provenance; JSON, table, CSV and SVG.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::cost::Coster;
use super::money::{PICO, Rates, div_half_even, format_pico, parse_decimal, utc_day};
use super::params::{EconomicsParams, FeeTreatment};
use super::{Cell, Costing, MeanAcc, Money, Plan, ProjectEconomics};
use crate::error::Result;
use crate::kind::Output;
use crate::params::PropertyKind;
use crate::provenance::{Note, Provenance};
use crate::render::{ChartOptions, TableOptions, csv_field};
use crate::stats::{round6, wilson};
use crate::table::EventTable;

/// A computed economics report.
#[derive(Debug, Clone, PartialEq)]
pub struct EconomicsReport {
    /// One sentence saying what is counted.
    pub definition: String,
    /// The resolved parameters.
    pub params: EconomicsParams,
    /// The whole JSON body but `provenance` (rows, pooled row, unattributed, totals, …).
    pub body: Value,
    /// Column labels.
    pub columns: Vec<String>,
    /// Where the numbers came from.
    pub provenance: Provenance,
}

struct Fmt {
    minor: u32,
    fee: FeeTreatment,
}

impl Fmt {
    fn revenue(&self, v: i128) -> Value {
        Value::from(format_pico(v, self.minor))
    }

    fn cost(&self, v: i128) -> Value {
        Value::from(format_pico(v, 6))
    }

    fn money(&self, m: &Money) -> serde_json::Map<String, Value> {
        let mut o = serde_json::Map::new();
        o.insert("gross_revenue".into(), self.revenue(m.gross_revenue));
        o.insert("refunds".into(), self.revenue(m.refunds));
        o.insert("net_revenue".into(), self.revenue(m.net_revenue(self.fee)));
        o.insert("inference_cost".into(), self.cost(m.inference_cost));
        o.insert("fees".into(), self.cost(m.fees));
        o.insert("fees_paid".into(), self.cost(m.fees_paid));
        o.insert(
            "other_variable_cost".into(),
            self.cost(m.other_variable_cost),
        );
        o.insert("gross_profit".into(), self.cost(m.gross_profit(self.fee)));
        o
    }

    fn mean(&self, acc: &MeanAcc) -> Value {
        let (mean, ci, heavy) = acc.stats();
        json!({
            "mean": mean.map(|m| format_pico(m, 6)),
            "ci95": ci.map(|(a, b)| json!([format!("{a:.6}"), format!("{b:.6}")])),
            "heavy_tail": heavy,
        })
    }
}

fn ratio(a: i128, b: i128) -> Option<f64> {
    (b != 0).then(|| round6(a as f64 / b as f64))
}

fn per(v: i128, n: u64) -> Option<i128> {
    (n > 0).then(|| div_half_even(v, i128::from(n)))
}

/// Acquisition spend per cohort period, converted at the UTC day the period starts; `None` for a cohort without.
fn spend(plan: &Plan, rates: &Rates, notes: &mut Vec<String>) -> Vec<Option<i128>> {
    let p = &plan.params;
    let zh = p.common.lang == crate::params::Lang::ZhCn;
    let grid = &plan.window.grid;
    let mut out: Vec<Option<i128>> = vec![None; grid.len()];
    for s in p.acquisition_spend.iter().flatten() {
        let Ok(at) =
            crate::window::resolve_date("acquisition_spend", &s.period_start, &plan.tz, plan.as_of)
        else {
            continue;
        };
        let kernels::grid::Locate::In(k) = grid.locate(at) else {
            notes.push(if zh {
                format!("{} 的获客花费不在窗口的用户群之内，未使用", s.period_start)
            } else {
                format!(
                    "acquisition spend for {} falls outside the window's cohorts and is not used",
                    s.period_start
                )
            });
            continue;
        };
        let cur = s.currency.as_deref().unwrap_or(&p.currency);
        let Some(v) = parse_decimal(&s.amount).and_then(|d| d.to_pico()) else {
            continue;
        };
        match rates.convert(v, cur, &p.currency, utc_day(grid.start(k as usize))) {
            Some(v) => *out[k as usize].get_or_insert(0) += v,
            None => notes.push(if zh {
                format!(
                    "{} 的获客花费 {} {cur} 没有换算成 {} 的汇率，未计入",
                    s.period_start, s.amount, p.currency
                )
            } else {
                format!(
                    "acquisition spend of {} {cur} for {} has no rate into {} and is left out",
                    s.amount, s.period_start, p.currency
                )
            }),
        }
    }
    out
}

// Cohort, age and person indexes address several parallel arrays at once.
#[allow(clippy::needless_range_loop)]
pub(super) fn build(
    plan: &Plan,
    tables: &[&EventTable],
    projects: Vec<ProjectEconomics>,
    coster: &Coster<'_>,
    rates: &Rates,
) -> Result<EconomicsReport> {
    let p = &plan.params;
    let f = Fmt {
        minor: model::currency_exponent(&p.currency).unwrap_or(2),
        fee: p.fee_treatment,
    };
    let grid = &plan.window.grid;
    let ages = p.total_intervals as usize;
    let mut notes: Vec<String> = Vec::new();
    let zh = p.common.lang == crate::params::Lang::ZhCn;
    let spends = spend(plan, rates, &mut notes);
    let cac_const = p
        .cac_per_user
        .as_deref()
        .and_then(parse_decimal)
        .and_then(|d| d.to_pico());
    let incomplete = |ci: usize, k: usize| grid.end_of(ci + k) > plan.as_of;
    let mut rows = Vec::new();
    let mut all = Vec::new();
    let mut unattributed = Vec::new();
    let mut totals = Vec::new();
    let mut unconverted = Vec::new();
    let mut costing = Costing::default();
    let mode = p.common.breakdown.as_ref().map(|b| b.kind);
    match mode {
        Some(PropertyKind::Person) if p.acquisition_spend.is_some() => notes.push(if zh {
            "按用户属性拆分时，每行使用其整个同期群的获客成本（获客花费 ÷ 同期群全部用户）；花费本身不拆分".to_string()
        } else {
            "with a person breakdown each row uses its whole cohort's CAC (acquisition spend ÷ every cohort user); \
             the spend itself is not split"
                .to_string()
        }),
        Some(PropertyKind::Event) => notes.push(if zh {
            "按事件属性拆分时只拆分金额：用户数是整个同期群的，获客成本、回本期与 LTV/CAC 不适用；按活跃用户计的其他成本归入空值"
                .to_string()
        } else {
            "an event breakdown splits the money only: user counts are the whole cohort's, CAC, payback and LTV/CAC \
             do not apply, and per-active-user costs go to the empty value"
                .to_string()
        }),
        _ => {}
    }
    let mut kept_values = Vec::new();
    for pe in &projects {
        // The project's pooled CAC: Σ spend ÷ Σ U₀ over cohorts with users, only when each has a spend (§9.12).
        let mut pooled_spend: (i128, bool, u64) = (0, true, 0);
        for (ci, &u0) in pe.users.iter().enumerate() {
            if u0 > 0 {
                pooled_spend.0 += spends[ci].unwrap_or(0);
                pooled_spend.1 &= spends[ci].is_some();
                pooled_spend.2 += u0;
            }
        }
        let pooled_cac = match (mode, cac_const) {
            (Some(PropertyKind::Event), _) => None,
            (_, Some(c)) => Some(c),
            _ if pooled_spend.1 && pooled_spend.2 > 0 && p.acquisition_spend.is_some() => {
                per(pooled_spend.0, pooled_spend.2)
            }
            _ => None,
        };
        kept_values.push(json!({
            "project": pe.project,
            "values": pe.groups.iter().map(|g| g.value.clone()).collect::<Vec<_>>(),
        }));
        for g in &pe.groups {
            // Pooled per age over complete cells (§2.3).
            let mut pooled: Vec<(Cell, u64, u64)> =
                (0..ages).map(|_| (Cell::default(), 0, 0)).collect();
            for ci in 0..grid.len() {
                let u0 = g.users[ci];
                let spend = spends[ci];
                let cac = match (mode, spend, cac_const) {
                    (Some(PropertyKind::Event), _, _) => None,
                    (_, _, Some(c)) => Some(c),
                    (_, Some(s), None) => per(s, pe.users[ci]),
                    (_, None, None) => None,
                };
                let mut cells = Vec::new();
                let (mut payback, mut last_complete): (Option<usize>, Option<(usize, i128)>) =
                    (None, None);
                for k in 0..ages {
                    let Some(cell) = g.cells[ci][k].as_ref() else {
                        cells.push(Value::Null);
                        continue;
                    };
                    let inc = incomplete(ci, k);
                    let ltv = per(cell.ltv.sum, u0);
                    if let (Some(c), Some(l), None) = (cac, ltv, payback)
                        && l >= c
                    {
                        payback = Some(k);
                    }
                    if !inc && let Some(l) = ltv {
                        last_complete = Some((k, l));
                    }
                    if !inc && u0 > 0 {
                        let pc = &mut pooled[k];
                        pc.0.money.add(&cell.money);
                        pc.0.active += cell.active;
                        pc.0.paying += cell.paying;
                        pc.0.ever_paid += cell.ever_paid;
                        pc.0.unpriced += cell.unpriced;
                        pc.0.ltv.sum += cell.ltv.sum;
                        pc.0.ltv_revenue.sum += cell.ltv_revenue.sum;
                        pc.1 += u0;
                        pc.2 += 1;
                    }
                    cells.push(cell_json(&f, cell, u0, ci + k, inc, plan, k));
                }
                let (ltv_to_cac, ltv_to_cac_age) = match (cac, last_complete) {
                    (Some(c), Some((k, l))) if c > 0 => (ratio(l, c), Some(k)),
                    _ => (None, None),
                };
                rows.push(json!({
                    "project": pe.project,
                    "breakdown_value": g.value,
                    "is_other": g.is_other,
                    "label": crate::activity::period_label(grid.start(ci), p.period, &plan.tz),
                    "cohort_start": crate::window::format_local(grid.start(ci), &plan.tz),
                    "cohort_users": u0,
                    "acquisition_spend": spend.filter(|_| mode.is_none()).map(|s| format_pico(s, f.minor)),
                    "cac": cac.map(|c| format_pico(c, 6)),
                    "payback_age": payback,
                    "payback_incomplete": payback.map(|k| incomplete(ci, k)),
                    "ltv_to_cac": ltv_to_cac,
                    "ltv_to_cac_age": ltv_to_cac_age,
                    "cells": cells,
                }));
            }
            let mut payback = None;
            let mut last: Option<(usize, i128)> = None;
            let pooled_cells: Vec<Value> = pooled
                .iter()
                .enumerate()
                .map(|(k, (cell, u0, used))| {
                    if *used == 0 {
                        return Value::Null;
                    }
                    let ltv = per(cell.ltv.sum, *u0);
                    if let (Some(c), Some(l), None) = (pooled_cac, ltv, payback)
                        && l >= c
                    {
                        payback = Some(k);
                    }
                    if let Some(l) = ltv {
                        last = Some((k, l));
                    }
                    let mut v = pooled_json(&f, cell, *u0, k);
                    v["cohorts_used"] = json!(used);
                    v
                })
                .collect();
            all.push(json!({
                "project": pe.project,
                "breakdown_value": g.value,
                "is_other": g.is_other,
                "cohort_users": pooled.first().map_or(0, |x| x.1),
                "cac": pooled_cac.map(|c| format_pico(c, 6)),
                "payback_age": payback,
                "ltv_to_cac": match (pooled_cac, last) { (Some(c), Some((_, l))) if c > 0 => ratio(l, c), _ => None },
                "ltv_to_cac_age": last.map(|x| x.0),
                "cells": pooled_cells,
            }));
        }
        for (i, u) in pe.unattributed.iter().enumerate() {
            let mut o = f.money(&u.money);
            o.insert("project".into(), json!(pe.project));
            o.insert(
                "period_start".into(),
                json!(crate::window::format_local(grid.start(i), &plan.tz)),
            );
            o.insert("incomplete".into(), json!(grid.end_of(i) > plan.as_of));
            o.insert("persons".into(), json!(u.persons));
            o.insert("events".into(), json!(u.events));
            unattributed.push(Value::Object(o));
        }
        let mut t = f.money(&pe.totals);
        t.insert("project".into(), json!(pe.project));
        totals.push(Value::Object(t));
        for (cur, u) in &pe.unconverted {
            let exp = model::currency_exponent(cur).unwrap_or(2);
            unconverted.push(json!({
                "project": pe.project,
                "currency": cur,
                "events": u.events,
                "gross_revenue": format_pico(u.gross_revenue, exp),
                "refunds": format_pico(u.refunds, exp),
                "fees_paid": format_pico(u.fees_paid, 6),
                "inference_cost": format_pico(u.inference_cost, 6),
            }));
            notes.push(if zh {
                format!(
                    "项目 {:?} 的 {} 个 {cur} 事件没有换算成 {} 的汇率，不计入任何合计",
                    pe.project, u.events, p.currency
                )
            } else {
                format!(
                    "{} events of project {:?} in {cur} have no exchange rate into {} and are left out of every \
                     total",
                    u.events, pe.project, p.currency
                )
            });
        }
        for (k, v) in &pe.costing.by_source {
            *costing.by_source.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &pe.costing.versions {
            let e = costing.versions.entry(k.clone()).or_default();
            e.0 += v.0;
            e.1 += v.1;
        }
        for (k, v) in &pe.costing.unpriced {
            *costing.unpriced.entry(k.clone()).or_default() += v;
        }
        costing.partially_priced += pe.costing.partially_priced;
    }
    let unpriced_total: u64 = costing.unpriced.values().sum();
    if unpriced_total > 0 {
        notes.push(if zh {
            format!(
                "{unpriced_total} 个 AI 事件没有价格，不计推理成本；见 provenance.costing.unpriced"
            )
        } else {
            format!(
                "{unpriced_total} AI events have no price and count no inference cost; see \
                 provenance.costing.unpriced"
            )
        });
    }
    let mut provenance = Provenance::of(plan.as_of, tables, p.common.lang);
    for n in &notes {
        provenance.notes.push(Note {
            code: "economics",
            project: String::new(),
            text: n.clone(),
        });
    }
    let costing_json = json!({
        "by_source": costing.by_source,
        "price_versions": costing.versions.iter().map(|(k, (n, c))| json!({"version": k, "events": n, "cost": format_pico(*c, 6)})).collect::<Vec<_>>(),
        "unpriced": costing.unpriced.iter().map(|((m, r), n)| json!({"model": m, "reason": r, "events": n})).collect::<Vec<_>>(),
        "partially_priced": costing.partially_priced,
        "price_tables": coster.tables().iter().map(|(n, d)| json!({"name": n, "sha256": d})).collect::<Vec<_>>(),
        "fx_rates": rates.len(),
    });
    let columns: Vec<String> = (0..ages)
        .map(|k| format!("{} {k}", p.period.title()))
        .collect();
    let body = json!({
        "window": {
            "first_period": crate::window::format_local(plan.window.first, &plan.tz),
            "last_period": crate::window::format_local(plan.window.last, &plan.tz),
            "end_exclusive": crate::window::format_local(plan.window.end, &plan.tz),
            "rows": grid.len(),
            "columns": ages,
        },
        "columns": columns,
        "currency": p.currency,
        "rows": rows,
        "all_cohorts": all,
        "breakdown_values": p.common.breakdown.as_ref().map(|_| kept_values),
        "unattributed": unattributed,
        "totals": totals,
        "unconverted": unconverted,
        "notes": notes,
        "costing": costing_json,
    });
    Ok(EconomicsReport {
        definition: definition(p),
        params: p.clone(),
        body,
        columns,
        provenance,
    })
}

fn cell_json(
    f: &Fmt,
    c: &Cell,
    u0: u64,
    period: usize,
    incomplete: bool,
    plan: &Plan,
    k: usize,
) -> Value {
    let net = c.money.net_revenue(f.fee);
    let gp = c.money.gross_profit(f.fee);
    let (conv, conv_ci) = match wilson(c.ever_paid, u0) {
        Some((a, b)) => (
            Some(round6(c.ever_paid as f64 / u0 as f64)),
            Some(json!([round6(a), round6(b)])),
        ),
        None => (None, None),
    };
    let mut o = f.money(&c.money);
    let extra = json!({
        "age": k,
        "period_start": crate::window::format_local(plan.window.grid.start(period), &plan.tz),
        "incomplete": incomplete,
        "active_users": c.active,
        "paying_users": c.paying,
        "ever_paid_to_date": c.ever_paid,
        "conversion_to_date": conv,
        "conversion_to_date_ci95": conv_ci,
        "gross_margin": if net > 0 { ratio(gp, net) } else { None },
        "revenue_per_user": f.mean(&c.revenue),
        "cost_per_user": f.mean(&c.cost),
        "gross_profit_per_user": f.mean(&c.profit),
        "ltv_to_date": f.mean(&c.ltv),
        "revenue_per_active_user": per(net, c.active).map(|v| format_pico(v, 6)),
        "cost_per_active_user": per(c.money.inference_cost, c.active).map(|v| format_pico(v, 6)),
        "ltv_revenue_to_date": per(c.ltv_revenue.sum, u0).map(|v| format_pico(v, 6)),
        "unpriced_ai_events": c.unpriced,
    });
    if let Value::Object(m) = extra {
        o.extend(m);
    }
    Value::Object(o)
}

fn pooled_json(f: &Fmt, c: &Cell, u0: u64, k: usize) -> Value {
    let net = c.money.net_revenue(f.fee);
    let gp = c.money.gross_profit(f.fee);
    let (conv, conv_ci) = match wilson(c.ever_paid, u0) {
        Some((a, b)) => (
            Some(round6(c.ever_paid as f64 / u0 as f64)),
            Some(json!([round6(a), round6(b)])),
        ),
        None => (None, None),
    };
    let mean = |v: i128| json!({"mean": per(v, u0).map(|x| format_pico(x, 6)), "ci95": null, "heavy_tail": null});
    let mut o = f.money(&c.money);
    let extra = json!({
        "age": k,
        "cohort_users": u0,
        "active_users": c.active,
        "paying_users": c.paying,
        "ever_paid_to_date": c.ever_paid,
        "conversion_to_date": conv,
        "conversion_to_date_ci95": conv_ci,
        "gross_margin": if net > 0 { ratio(gp, net) } else { None },
        "revenue_per_user": mean(net),
        "cost_per_user": mean(c.money.inference_cost),
        "gross_profit_per_user": mean(gp),
        "ltv_to_date": mean(c.ltv.sum),
        "revenue_per_active_user": per(net, c.active).map(|v| format_pico(v, 6)),
        "cost_per_active_user": per(c.money.inference_cost, c.active).map(|v| format_pico(v, 6)),
        "ltv_revenue_to_date": per(c.ltv_revenue.sum, u0).map(|v| format_pico(v, 6)),
        "unpriced_ai_events": c.unpriced,
    });
    if let Value::Object(m) = extra {
        o.extend(m);
    }
    Value::Object(o)
}

fn definition(p: &EconomicsParams) -> String {
    if p.common.lang == crate::params::Lang::ZhCn {
        use crate::lang;
        let fee = match p.fee_treatment {
            FeeTreatment::Cogs => "手续费计入成本",
            FeeTreatment::ContraRevenue => "手续费冲减收入",
        };
        let target = lang::first_of(&p.target);
        let unit = lang::period(p.period);
        return format!(
            "按首次{target}所在{unit}划分的同期群，自进入起每{unit}的净收入、推理成本与毛利（{}，{fee}），仅计已实现的金额，不作预测（{}）{}。",
            p.currency,
            p.common.timezone(),
            lang::global(&p.common)
        );
    }
    let fee = match p.fee_treatment {
        FeeTreatment::Cogs => "fees as a cost",
        FeeTreatment::ContraRevenue => "fees subtracted from revenue",
    };
    let target = match p.target.event.names() {
        None if p.target.properties.is_empty() => "activity event".to_string(),
        _ => crate::retention::entity_text(&p.target),
    };
    format!(
        "Per {} cohort of persons by their first {}{}: net revenue, inference cost, {fee} and gross profit per age in {}, realised only (no projections) ({}).",
        p.period.noun(),
        target,
        crate::retention::global_text(&p.common),
        p.currency,
        p.common.timezone()
    )
}

impl Output for EconomicsReport {
    fn to_json(&self) -> Value {
        let mut out = json!({
            "kind": "economics",
            "definition": self.definition,
            "parameters": self.params.to_json(),
            "provenance": self.provenance.to_json(),
        });
        if let (Value::Object(o), Value::Object(b)) = (&mut out, &self.body) {
            for (k, v) in b {
                if k == "costing" {
                    o["provenance"]["costing"] = v.clone();
                } else {
                    o.insert(k.clone(), v.clone());
                }
            }
        }
        out
    }

    fn to_table(&self, _opts: &TableOptions) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.definition);
        let _ = writeln!(
            out,
            "as of {}  fingerprint {}",
            self.provenance.as_of, self.provenance.data_fingerprint
        );
        let cur = self.body["currency"].as_str().unwrap_or("");
        for row in self.body["rows"].as_array().into_iter().flatten() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "{}{} {}: {} users{}{}",
                row["project"].as_str().unwrap_or(""),
                group_name(row),
                row["label"].as_str().unwrap_or(""),
                row["cohort_users"],
                row["cac"]
                    .as_str()
                    .map_or(String::new(), |c| format!(", CAC {c} {cur}")),
                match (row["payback_age"].as_u64(), row["cac"].is_string()) {
                    (Some(k), _) => format!(
                        ", payback at age {k}{}",
                        if row["payback_incomplete"] == json!(true) {
                            " (incomplete)"
                        } else {
                            ""
                        }
                    ),
                    (None, true) => ", not paid back yet".to_string(),
                    _ => String::new(),
                }
            );
            let _ = writeln!(
                out,
                "  {:<5} {:>7} {:>7} {:>12} {:>12} {:>12} {:>8} {:>12}",
                "age",
                "active",
                "paying",
                "net revenue",
                "inference",
                "gross profit",
                "margin",
                "LTV to date"
            );
            for c in row["cells"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| !c.is_null())
            {
                let _ = writeln!(
                    out,
                    "  {:<5} {:>7} {:>7} {:>12} {:>12} {:>12} {:>8} {:>12}{}",
                    c["age"].to_string(),
                    c["active_users"].to_string(),
                    c["paying_users"].to_string(),
                    c["net_revenue"].as_str().unwrap_or("-"),
                    short(c["inference_cost"].as_str()),
                    short(c["gross_profit"].as_str()),
                    c["gross_margin"]
                        .as_f64()
                        .map_or("-".to_string(), |m| format!("{:.1}%", m * 100.0)),
                    short(c["ltv_to_date"]["mean"].as_str()),
                    if c["incomplete"] == json!(true) {
                        "  *"
                    } else {
                        ""
                    }
                );
            }
        }
        let _ = writeln!(out);
        for t in self.body["totals"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "{} totals: net revenue {} {cur}, inference cost {}, gross profit {}",
                t["project"].as_str().unwrap_or(""),
                t["net_revenue"].as_str().unwrap_or("-"),
                short(t["inference_cost"].as_str()),
                short(t["gross_profit"].as_str())
            );
        }
        let _ = writeln!(out, "* the age has not ended at as_of");
        out
    }

    fn to_csv(&self) -> String {
        let mut out = String::from(
            "project,breakdown_value,is_other,cohort_start,cohort_users,age,incomplete,active_users,paying_users,gross_revenue,refunds,net_revenue,inference_cost,fees,other_variable_cost,gross_profit,gross_margin,ltv_to_date\n",
        );
        for row in self.body["rows"].as_array().into_iter().flatten() {
            for c in row["cells"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| !c.is_null())
            {
                let s = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    csv_field(row["project"].as_str().unwrap_or("")),
                    csv_field(row["breakdown_value"].as_str().unwrap_or("")),
                    row["is_other"] == json!(true),
                    s(&row["cohort_start"]),
                    row["cohort_users"],
                    c["age"],
                    c["incomplete"],
                    c["active_users"],
                    c["paying_users"],
                    s(&c["gross_revenue"]),
                    s(&c["refunds"]),
                    s(&c["net_revenue"]),
                    s(&c["inference_cost"]),
                    s(&c["fees"]),
                    s(&c["other_variable_cost"]),
                    s(&c["gross_profit"]),
                    c["gross_margin"]
                        .as_f64()
                        .map_or(String::new(), |m| m.to_string()),
                    c["ltv_to_date"]["mean"].as_str().unwrap_or(""),
                );
            }
        }
        out
    }

    fn charts(&self) -> &'static [&'static str] {
        &["ltv", "revenue_cost"]
    }

    fn to_svg(&self, chart: &str, _opts: &ChartOptions) -> Option<String> {
        let footer = crate::svg::Footer {
            scope: format!(
                "cohorts {} to {}",
                self.body["window"]["first_period"].as_str().unwrap_or(""),
                self.body["window"]["last_period"].as_str().unwrap_or("")
            ),
            as_of: self.provenance.as_of.clone(),
            fingerprint: self.provenance.data_fingerprint.clone(),
            engine: self.provenance.engine.clone(),
        };
        let cur = self.body["currency"].as_str().unwrap_or("").to_string();
        let num = |v: &Value| v.as_str().and_then(|s| s.parse::<f64>().ok());
        match chart {
            "ltv" => {
                // Cumulative gross profit per acquired user by age, one line per cohort (and the pooled row); where
                // a line crosses its CAC is payback.
                let mut series = Vec::new();
                for row in self.body["all_cohorts"].as_array().into_iter().flatten() {
                    series.push(crate::svg::Series {
                        name: format!(
                            "{}{} · all cohorts",
                            row["project"].as_str().unwrap_or(""),
                            group_name(row)
                        ),
                        values: row["cells"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|c| num(&c["ltv_to_date"]["mean"]))
                            .collect(),
                        band: None,
                    });
                    let cac_name = format!("{} · CAC", row["project"].as_str().unwrap_or(""));
                    // Every breakdown value of a project shares its CAC: one line.
                    if let Some(cac) = num(&row["cac"])
                        && !series.iter().any(|s| s.name == cac_name)
                    {
                        series.push(crate::svg::Series {
                            name: cac_name,
                            values: vec![Some(cac); self.columns.len()],
                            band: None,
                        });
                    }
                }
                Some(crate::svg::lines(&crate::svg::LineChart {
                    title: format!("LTV to date per acquired user ({cur})"),
                    definition: self.definition.clone(),
                    labels: self.columns.clone(),
                    x_label: "Age".to_string(),
                    y_label: format!("Gross profit per user, {cur}"),
                    series,
                    incomplete: Vec::new(),
                    format: crate::svg::ValueFormat::Number,
                    footer,
                }))
            }
            "revenue_cost" => {
                let mut labels = Vec::new();
                let mut revenue: Vec<Option<f64>> = Vec::new();
                let mut cost: Vec<Option<f64>> = Vec::new();
                // Per period over every project: cells of that period plus the unattributed line.
                let mut by_period: std::collections::BTreeMap<String, (f64, f64)> =
                    Default::default();
                for row in self.body["rows"].as_array().into_iter().flatten() {
                    for c in row["cells"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|c| !c.is_null())
                    {
                        let e = by_period
                            .entry(c["period_start"].as_str().unwrap_or("").to_string())
                            .or_default();
                        e.0 += num(&c["net_revenue"]).unwrap_or(0.0);
                        e.1 += num(&c["inference_cost"]).unwrap_or(0.0);
                    }
                }
                for u in self.body["unattributed"].as_array().into_iter().flatten() {
                    let e = by_period
                        .entry(u["period_start"].as_str().unwrap_or("").to_string())
                        .or_default();
                    e.0 += num(&u["net_revenue"]).unwrap_or(0.0);
                    e.1 += num(&u["inference_cost"]).unwrap_or(0.0);
                }
                for (p, (r, c)) in by_period {
                    labels.push(p.chars().take(10).collect());
                    revenue.push(Some(r));
                    cost.push(Some(c));
                }
                Some(crate::svg::bars(&crate::svg::BarChart {
                    title: format!("Net revenue and inference cost per period ({cur})"),
                    definition: self.definition.clone(),
                    labels,
                    x_label: "Period".to_string(),
                    y_label: cur.clone(),
                    series: vec![
                        crate::svg::Series {
                            name: "net revenue".to_string(),
                            values: revenue,
                            band: None,
                        },
                        crate::svg::Series {
                            name: "inference cost".to_string(),
                            values: cost,
                            band: None,
                        },
                    ],
                    mode: crate::svg::BarMode::Grouped,
                    incomplete: Vec::new(),
                    format: crate::svg::ValueFormat::Number,
                    footer,
                }))
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

/// " · value" of a breakdown row (" · Other" for the folded values); empty without a breakdown.
fn group_name(row: &Value) -> String {
    match (&row["breakdown_value"], row["is_other"] == json!(true)) {
        (_, true) => " · Other".to_string(),
        (Value::String(v), _) if v.is_empty() => " · (none)".to_string(),
        (Value::String(v), _) => format!(" · {v}"),
        _ => String::new(),
    }
}

fn short(v: Option<&str>) -> String {
    match v.and_then(|s| s.parse::<f64>().ok()) {
        Some(x) => format!("{x:.2}"),
        None => "-".to_string(),
    }
}

#[allow(dead_code)]
const _: i128 = PICO;
