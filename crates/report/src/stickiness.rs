//! The stickiness report (activity.md §2): for each person, the number of buckets of k periods in the range in which
//! they were active, and the distribution of those numbers, with shares and Wilson intervals.
//!
//! The bounds follow §2.2 rules 1–2 (`date_to` to the end of its local day except for hours, `-Nd` to local
//! midnight, weeks from `date_from`'s day); the counting is [`kernels::sticky::stickiness`].

use std::fmt::Write as _;

use jiff::tz::TimeZone;
use kernels::activity::NONE;
use kernels::grid::Locate;
use kernels::sticky::{self, CountRule};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::activity::{entity_text, format_local_us, label, matching, zone_text};
use crate::error::{Error, Result};
use crate::kind::{Limits, Output, ReportKind};
use crate::params::{Common, Entity, KindParams, Params, Period, Personless, check_filters};
use crate::provenance::Provenance;
use crate::render::{ChartOptions, TableOptions, csv_field};
use crate::stats::{round6, wilson};
use crate::table::{EventTable, Scan};
use crate::window::{self, Window};

/// The stickiness report kind.
#[derive(Debug, Clone, Copy)]
pub struct Stickiness;

/// Every parameter of a stickiness report.
pub type StickinessParams = Params<Fields>;

/// The comparison of `criteria`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CriteriaOperator {
    /// At least n events in the bucket.
    Gte,
    /// At most n (and at least one).
    Lte,
    /// Exactly n.
    Exact,
}

/// How many matching events make a bucket active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// The comparison.
    pub operator: CriteriaOperator,
    /// An integer ≥ 0.
    pub value: u64,
}

/// Stickiness's own fields; the shared ones are in [`Common`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    /// Period length.
    #[serde(default)]
    pub interval: Period,
    /// Periods per bucket (k ≥ 1).
    #[serde(default = "one")]
    pub interval_count: u32,
    /// The entity counted.
    #[serde(default)]
    pub series: Entity,
    /// Events a bucket needs.
    #[serde(default)]
    pub criteria: Option<Criteria>,
    /// Persons with n or more active buckets.
    #[serde(default)]
    pub cumulative: bool,
}

fn one() -> u32 {
    1
}

impl KindParams for Fields {
    const KIND: &'static str = "stickiness";
    const COMMON: &'static [&'static str] = crate::params::KEYS_WITHOUT_BREAKDOWN;

    fn validate(&self, common: &Common) -> Result<()> {
        crate::activity::one_project(common, Self::KIND)?;
        if self.interval_count == 0 || self.interval_count as usize > window::MAX_PERIODS {
            return Err(Error::invalid(
                "interval_count",
                format!("must be between 1 and {}", window::MAX_PERIODS),
            ));
        }
        check_filters("series.properties", &self.series.properties)
    }
}

/// A resolved stickiness request.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Parameters with defaults resolved.
    pub params: StickinessParams,
    /// The query time zone.
    pub tz: TimeZone,
    /// The periods from `date_from`'s to `date_to`'s.
    pub window: Window,
    /// Lower bound (inclusive), UTC µs.
    pub from: i64,
    /// Upper bound (inclusive), UTC µs.
    pub to_inclusive: i64,
    /// The moment the report describes.
    pub as_of: i64,
}

/// A computed stickiness report.
#[derive(Debug, Clone, PartialEq)]
pub struct StickinessReport {
    /// One sentence saying what is counted.
    pub definition: String,
    /// The resolved parameters.
    pub params: StickinessParams,
    /// `window.from`.
    pub from: String,
    /// `window.to_inclusive`.
    pub to_inclusive: String,
    /// Start of the first period.
    pub first_period: String,
    /// Start of the last period.
    pub last_period: String,
    /// P.
    pub periods: usize,
    /// N.
    pub buckets: usize,
    /// The entity label.
    pub label: String,
    /// Persons per number of active buckets (suffix sums in cumulative mode).
    pub data: Vec<u64>,
    /// `1 day`, `2 days`, …
    pub labels: Vec<String>,
    /// Persons with at least one active bucket.
    pub count: u64,
    /// data / count.
    pub share: Vec<Option<f64>>,
    /// Wilson intervals on (data, count).
    pub ci95: Vec<Option<(f64, f64)>>,
    /// Whether `date_to`'s period has not ended by as_of.
    pub incomplete: bool,
    /// Where the numbers came from.
    pub provenance: Provenance,
}

impl ReportKind for Stickiness {
    type Fields = Fields;
    type Plan = Plan;
    type Output = StickinessReport;

    fn plan(mut params: StickinessParams, now_us: i64, limits: &Limits) -> Result<Plan> {
        params.validate()?;
        if params.common.date_from.is_none() {
            params.common.date_from = Some("-30d".to_string());
        }
        let r = params.common.resolve(now_us)?;
        let (tz, as_of) = (r.tz.clone(), r.as_of);
        let ws = params.common.week_start();
        let interval = params.interval;
        let date_to = r.date_to.unwrap_or(as_of);
        // Rule 1: to the end of date_to's local day, except for hours.
        let to_inclusive = match interval {
            Period::Hour => date_to,
            _ => {
                let day = window::period_start("date_to", date_to, Period::Day, &tz, ws)?;
                window::next_period("date_to", day, Period::Day, &tz)? - 1
            }
        };
        // Rule 2: `-Nd` to local midnight, then the start of the period (of the day for weeks; exact for a
        // relative date with hours).
        let mut date_from = r.date_from.unwrap_or(as_of);
        if r.from_relative == Some('d') {
            date_from = window::period_start("date_from", date_from, Period::Day, &tz, ws)?;
        }
        let from = match interval {
            Period::Hour if r.from_relative.is_some() => date_from,
            Period::Week => window::period_start("date_from", date_from, Period::Day, &tz, ws)?,
            _ => window::period_start("date_from", date_from, interval, &tz, ws)?,
        };
        if from > to_inclusive {
            return Err(Error::invalid("date_from", "is later than date_to"));
        }
        let window = window::resolve_window(interval, &tz, ws, 1, Some(from), to_inclusive)?;
        let k = params.interval_count as u64;
        let buckets = (window.grid.len() as u64).div_ceil(k);
        limits.check_cells("date_from", window.grid.len() as u64 * buckets)?;
        Ok(Plan {
            params,
            tz,
            window,
            from,
            to_inclusive,
            as_of,
        })
    }

    fn params(plan: &Plan) -> &StickinessParams {
        &plan.params
    }

    fn scan(plan: &Plan) -> Scan {
        let all = plan
            .params
            .common
            .all_global_filters()
            .chain(&plan.params.series.properties);
        let (ev, pers): (Vec<_>, Vec<_>) = all
            .map(|f| f.kind)
            .partition(|k| *k == crate::params::PropertyKind::Event);
        Scan {
            from: Some(plan.from),
            to: plan.to_inclusive.min(plan.as_of).saturating_add(1),
            as_of: plan.as_of,
            uuid: false,
            event_properties: !ev.is_empty(),
            property_keys: None,
            property_events: None,
            person_properties: !pers.is_empty(),
            numeric: Vec::new(),
            created_at: false,
            person_ids: false,
            payments: false,
            events: None,
            personless: plan.params.common.personless,
            // Active buckets need only which hours a person was active in, unless criteria count the events.
            hour_grain: ev.is_empty()
                && plan.params.criteria.is_none()
                && plan.window.grid.aligned(crate::table::HOUR_US),
            periods: plan.period_scan(),
            costs: None,
        }
    }

    fn event_names(plan: &Plan) -> Vec<String> {
        crate::kind::entity_names([&plan.params.series])
    }

    fn run(plan: &Plan, tables: &[&EventTable], limits: &Limits) -> Result<StickinessReport> {
        let mut exact = vec![0u64; plan.buckets()];
        for t in tables {
            limits.check_time()?;
            for (acc, n) in exact.iter_mut().zip(count(plan, t)?) {
                *acc += n;
            }
        }
        from_counts(plan, tables, exact)
    }
}

impl Plan {
    /// N: the buckets of `interval_count` periods, counted back from the last period.
    pub fn buckets(&self) -> usize {
        self.window
            .grid
            .len()
            .div_ceil(self.params.interval_count as usize)
    }

    /// Per-period person sets answer this report when a bucket is active with any matching event and nothing
    /// filters the events: one set per bucket (its periods from the first one's start), and a person's active
    /// buckets are the sets that hold them.
    pub fn period_scan(&self) -> Option<crate::table::PeriodScan> {
        let c = &self.params.common;
        let non_activity = c.non_activity_events(c.projects.first()?);
        let plain = self.params.criteria.is_none()
            && self.params.series.properties.is_empty()
            && c.projects.iter().all(|project| {
                c.global_filters(project).is_empty()
                    && c.non_activity_events(project) == non_activity
            });
        let grid = &self.window.grid;
        let (n, per) = (grid.len(), self.params.interval_count.max(1) as usize);
        // Bucket b holds periods n - (b + 1) * per .. n - b * per (from period 0 for the earliest).
        let starts = (0..self.buckets())
            .rev()
            .map(|b| grid.start(n.saturating_sub((b + 1) * per)))
            .collect();
        plain.then(|| crate::table::PeriodScan {
            starts,
            end: grid.end(),
            start_events: self.params.series.event.names().map(|names| {
                let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
                names.sort();
                names.dedup();
                names
            }),
            returning_events: Some(Vec::new()),
            non_activity,
        })
    }

    /// Whether a bucket with `events` matching events (≥ 1) is active under `criteria`.
    pub fn rule(&self) -> CountRule {
        match self.params.criteria {
            None => CountRule::Any,
            Some(c) => match c.operator {
                CriteriaOperator::Gte => CountRule::Gte(c.value),
                CriteriaOperator::Lte => CountRule::Lte(c.value),
                CriteriaOperator::Exact => CountRule::Exact(c.value),
            },
        }
    }
}

/// One table's persons per exact number of active buckets (`out[i]`: i + 1 buckets).
fn count(plan: &Plan, t: &EventTable) -> Result<Vec<u64>> {
    let p = &plan.params;
    let n_periods = plan.window.grid.len();
    if let Some(sets) = &t.sets {
        // The engine built the sets this plan's scan asked for, one per bucket.
        return plan
            .period_scan()
            .filter(|_| sets.periods() == plan.buckets())
            .map(|_| sets.histogram(kernels::Side::Starts))
            .ok_or_else(|| {
                Error::invalid(
                    "series",
                    "the table's period sets do not answer these parameters",
                )
            });
    }
    let keep = matching(
        t,
        &p.series,
        &p.common,
        plan.from,
        plan.to_inclusive.saturating_add(1),
        plan.as_of,
    )?;
    let period: Vec<u32> = (0..t.ts.len())
        .map(|i| match (keep[i], plan.window.grid.locate(t.ts[i])) {
            (true, Locate::In(k)) => k,
            _ => NONE,
        })
        .collect();
    Ok(sticky::stickiness(
        t.by_person(),
        &period,
        n_periods,
        p.interval_count as usize,
        plan.rule(),
    ))
}

/// The report from the persons per exact number of active buckets (`exact[i]`: i + 1 buckets, [`Plan::buckets`]
/// long), however they were counted; `tables` give the provenance.
///
/// # Errors
/// [`Error::Invalid`] when `exact` is not [`Plan::buckets`] long.
pub fn from_counts(
    plan: &Plan,
    tables: &[&EventTable],
    exact: Vec<u64>,
) -> Result<StickinessReport> {
    let p = &plan.params;
    let n_periods = plan.window.grid.len();
    let k = p.interval_count as usize;
    let n_buckets = plan.buckets();
    if exact.len() != n_buckets {
        return Err(Error::invalid(
            "interval_count",
            format!("{} counts for {n_buckets} buckets", exact.len()),
        ));
    }
    let count: u64 = exact.iter().sum();
    let data: Vec<u64> = if p.cumulative {
        let mut suffix = exact.clone();
        for i in (0..n_buckets.saturating_sub(1)).rev() {
            suffix[i] += suffix[i + 1];
        }
        suffix
    } else {
        exact
    };
    let share = data
        .iter()
        .map(|&x| (count > 0).then(|| round6(x as f64 / count as f64)))
        .collect();
    let ci95 = data
        .iter()
        .map(|&x| wilson(x, count).map(|(a, b)| (round6(a), round6(b))))
        .collect();
    let noun = p.interval.noun();
    let labels = (1..=n_buckets)
        .map(|n| {
            let base = if k == 1 {
                format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
            } else {
                format!("{n} × {k}-{noun} period{}", if n == 1 { "" } else { "s" })
            };
            if p.cumulative {
                format!("{base} or more")
            } else {
                base
            }
        })
        .collect();
    Ok(StickinessReport {
        definition: definition(p),
        params: p.clone(),
        from: format_local_us(plan.from, &plan.tz),
        to_inclusive: format_local_us(plan.to_inclusive, &plan.tz),
        first_period: window::format_local(plan.window.first, &plan.tz),
        last_period: window::format_local(plan.window.last, &plan.tz),
        periods: n_periods,
        buckets: n_buckets,
        label: label(&p.series),
        data,
        labels,
        count,
        share,
        ci95,
        incomplete: plan.window.end > plan.as_of,
        provenance: Provenance::of(plan.as_of, tables, p.common.lang),
    })
}

/// The one-sentence definition, in the report's language.
pub fn definition(p: &StickinessParams) -> String {
    if p.common.lang == crate::params::Lang::ZhCn {
        return definition_zh(p);
    }
    let noun = p.interval.noun();
    let unit = if p.interval_count == 1 {
        format!("{noun}s")
    } else {
        format!("{}-{noun} periods", p.interval_count)
    };
    let times = match p.criteria {
        None => String::new(),
        Some(c) => {
            let op = match c.operator {
                CriteriaOperator::Gte => "at least",
                CriteriaOperator::Lte => "at most",
                CriteriaOperator::Exact => "exactly",
            };
            format!(
                " {op} {} time{}",
                c.value,
                if c.value == 1 { "" } else { "s" }
            )
        }
    };
    let persons = match p.common.personless {
        Personless::Exclude => "",
        Personless::Include => ", personless persons included",
    };
    let cumulative = if p.cumulative {
        ", cumulative (that number or more)"
    } else {
        ""
    };
    format!(
        "Persons by the number of {unit} {} in which they did {}{times}{cumulative}{persons}.",
        zone_text(p.interval, p.common.week_start(), p.common.timezone()),
        entity_text(&p.series, &p.common),
    )
}

fn definition_zh(p: &StickinessParams) -> String {
    use crate::lang;
    let noun = lang::period(p.interval);
    let unit = if p.interval_count == 1 {
        noun.to_string()
    } else {
        format!("{} {noun}周期", p.interval_count)
    };
    let times = match p.criteria {
        None => String::new(),
        Some(c) => {
            let op = match c.operator {
                CriteriaOperator::Gte => "至少",
                CriteriaOperator::Lte => "至多",
                CriteriaOperator::Exact => "恰好",
            };
            format!("{op} {} 次", c.value)
        }
    };
    let cumulative = if p.cumulative {
        "，累计（该数量或更多）"
    } else {
        ""
    };
    format!(
        "按做过{}{times}的{unit}数{}划分的用户{}{cumulative}{}。",
        lang::entity(&p.series),
        lang::zone(p.interval, p.common.week_start(), p.common.timezone()),
        lang::global(&p.common),
        lang::personless(&p.common),
    )
}

impl Output for StickinessReport {
    fn to_json(&self) -> Value {
        json!({
            "kind": "stickiness",
            "definition": self.definition,
            "parameters": self.params.to_json(),
            "window": {
                "from": self.from,
                "to_inclusive": self.to_inclusive,
                "first_period": self.first_period,
                "last_period": self.last_period,
                "periods": self.periods,
                "buckets": self.buckets,
            },
            "label": self.label,
            "data": self.data,
            "labels": self.labels,
            "count": self.count,
            "share": self.share,
            "ci95": self.ci95.iter().map(|c| c.map_or(Value::Null, |(a, b)| json!([a, b]))).collect::<Vec<_>>(),
            "incomplete": self.incomplete,
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
        let _ = writeln!(out, "from {} to {}", self.from, self.to_inclusive);
        let w = self
            .labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<w$} {:>10} {:>8} {:>15}",
            "active", "persons", "share", "95% CI"
        );
        for i in 0..self.data.len() {
            let share = self.share[i].map_or("-".to_string(), |s| format!("{:.1}%", s * 100.0));
            let ci = self.ci95[i].map_or("-".to_string(), |(a, b)| {
                format!("{:.1}-{:.1}%", a * 100.0, b * 100.0)
            });
            let _ = writeln!(
                out,
                "{:<w$} {:>10} {share:>8} {ci:>15}",
                self.labels[i], self.data[i]
            );
        }
        let _ = writeln!(out, "{:<w$} {:>10}", "persons", self.count);
        if self.incomplete {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "incomplete: the last period has not ended at as_of; persons can still move up."
            );
        }
        out
    }

    fn to_csv(&self) -> String {
        let mut out = String::from("label,active,persons,share,ci95_low,ci95_high,incomplete\n");
        for i in 0..self.data.len() {
            let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
            let (lo, hi) = self.ci95[i].map_or((None, None), |(a, b)| (Some(a), Some(b)));
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{}",
                csv_field(&self.labels[i]),
                i + 1,
                self.data[i],
                opt(self.share[i]),
                opt(lo),
                opt(hi),
                self.incomplete
            );
        }
        out
    }

    fn charts(&self) -> &'static [&'static str] {
        &["bars"]
    }

    fn to_svg(&self, chart: &str, _opts: &ChartOptions) -> Option<String> {
        if chart != "bars" {
            return None;
        }
        let chart = crate::svg::BarChart {
            title: format!("Stickiness · {}", self.label),
            definition: self.definition.clone(),
            labels: self.labels.clone(),
            x_label: "Active".to_string(),
            y_label: "Persons".to_string(),
            series: vec![crate::svg::Series {
                name: self.label.clone(),
                values: self.data.iter().map(|&x| Some(x as f64)).collect(),
                band: None,
            }],
            mode: crate::svg::BarMode::Grouped,
            incomplete: vec![self.incomplete; self.data.len()],
            format: crate::svg::ValueFormat::Number,
            footer: crate::svg::Footer {
                scope: format!("{} to {}", self.from, self.to_inclusive),
                as_of: self.provenance.as_of.clone(),
                fingerprint: self.provenance.data_fingerprint.clone(),
                engine: self.provenance.engine.clone(),
            },
        };
        Some(crate::svg::bars(&chart))
    }

    fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    fn provenance_mut(&mut self) -> &mut Provenance {
        &mut self.provenance
    }
}
