//! The lifecycle report (activity.md §3): each active period of a person is new, returning or resurrecting, and the
//! period after each run of activity marks the person dormant (counted negative).
//!
//! Events are read from one period before the first shown period, which is enough to classify every shown period;
//! a person's creation period comes from the table's `created_at`. The counting is [`kernels::sticky::lifecycle`].

use std::fmt::Write as _;

use jiff::tz::TimeZone;
use kernels::activity::NONE;
use kernels::grid::Locate;
pub use kernels::sticky::LifecycleCounts;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::activity::{entity_text, label, matching, period_label, zone_text};
use crate::error::{Error, Result};
use crate::kind::{Limits, Output, ReportKind};
use crate::params::{
    Common, Entity, KindParams, Params, Period, Personless, PropertyKind, WeekStart, check_filters,
};
use crate::provenance::Provenance;
use crate::render::{ChartOptions, TableOptions, csv_field};
use crate::stats::round6;
use crate::table::{EventTable, Scan};
use crate::window::{self, Window};

/// The lifecycle report kind.
#[derive(Debug, Clone, Copy)]
pub struct Lifecycle;

/// Every parameter of a lifecycle report.
pub type LifecycleParams = Params<Fields>;

/// Lifecycle's own fields; the shared ones are in [`Common`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    /// Period length.
    #[serde(default)]
    pub interval: Period,
    /// The entity counted.
    #[serde(default)]
    pub series: Entity,
}

impl KindParams for Fields {
    const KIND: &'static str = "lifecycle";
    const COMMON: &'static [&'static str] = &[
        "projects",
        "date_from",
        "date_to",
        "timezone",
        "week_start",
        "properties",
        "filter_test_accounts",
        "as_of",
        "project_settings",
        "lang",
    ];

    fn validate(&self, common: &Common) -> Result<()> {
        crate::activity::one_project(common, Self::KIND)?;
        check_filters("series.properties", &self.series.properties)
    }
}

/// The statuses, in output order.
pub const STATUSES: [&str; 4] = ["new", "returning", "resurrecting", "dormant"];

/// A resolved lifecycle request.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Parameters with defaults resolved.
    pub params: LifecycleParams,
    /// The query time zone.
    pub tz: TimeZone,
    /// The read periods (the look-back period, then the shown ones); `None` for `date_from: all` until the data
    /// says where it starts.
    pub window: Option<Window>,
    /// `date_to` (default as_of), UTC µs.
    pub date_to: i64,
    /// The moment the report describes.
    pub as_of: i64,
}

/// A computed lifecycle report.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleReport {
    /// One sentence saying what is counted.
    pub definition: String,
    /// The resolved parameters.
    pub params: LifecycleParams,
    /// Start of the first shown period.
    pub first_period: String,
    /// Start of the last shown period.
    pub last_period: String,
    /// End of the last shown period.
    pub end_exclusive: String,
    /// Start of the look-back period.
    pub read_from: String,
    /// Shown period starts.
    pub period_starts: Vec<String>,
    /// Per shown period: not ended by as_of.
    pub incomplete: Vec<bool>,
    /// Per shown period: (new + resurrecting) / |dormant|.
    pub quick_ratio: Vec<Option<f64>>,
    /// The entity label.
    pub label: String,
    /// `YYYY-MM-DD` or `YYYY-MM-DD HH:00` per shown period.
    pub labels: Vec<String>,
    /// Per status (new, returning, resurrecting, dormant): persons per shown period, dormant negative.
    pub data: [Vec<i64>; 4],
    /// Where the numbers came from.
    pub provenance: Provenance,
}

/// The read window for shown periods from the one holding `from` to the one holding `date_to`.
fn read_window(
    interval: Period,
    tz: &TimeZone,
    ws: WeekStart,
    from: i64,
    date_to: i64,
    limits: &Limits,
) -> Result<Window> {
    let first = window::period_start("date_from", from, interval, tz, ws)?;
    let before = first
        .checked_sub(1)
        .ok_or_else(|| Error::invalid("date_from", "reaches outside the years -9999..=9999"))?;
    let look_back = window::period_start("date_from", before, interval, tz, ws)?;
    let w = window::resolve_window(interval, tz, ws, 1, Some(look_back), date_to)?;
    limits.check_cells("date_from", (w.grid.len() as u64 - 1) * 4)?;
    Ok(w)
}

fn is_all(common: &Common) -> bool {
    common.date_from.as_deref().map(str::trim) == Some("all")
}

impl ReportKind for Lifecycle {
    type Fields = Fields;
    type Plan = Plan;
    type Output = LifecycleReport;

    fn plan(mut params: LifecycleParams, now_us: i64, limits: &Limits) -> Result<Plan> {
        params.validate()?;
        params.common.personless = Personless::Exclude;
        if params.common.date_from.is_none() {
            params.common.date_from = Some("-30d".to_string());
        }
        let all = is_all(&params.common);
        let r = if all {
            params.common.date_from = None;
            let r = params.common.resolve(now_us);
            params.common.date_from = Some("all".to_string());
            r?
        } else {
            params.common.resolve(now_us)?
        };
        let date_to = r.date_to.unwrap_or(r.as_of);
        let window = match r.date_from {
            Some(from) if !all => Some(read_window(
                params.interval,
                &r.tz,
                params.common.week_start(),
                from,
                date_to,
                limits,
            )?),
            _ => None,
        };
        Ok(Plan {
            params,
            tz: r.tz,
            window,
            date_to,
            as_of: r.as_of,
        })
    }

    fn params(plan: &Plan) -> &LifecycleParams {
        &plan.params
    }

    fn scan(plan: &Plan) -> Scan {
        let kinds: Vec<PropertyKind> = plan
            .params
            .common
            .all_global_filters()
            .chain(&plan.params.series.properties)
            .map(|f| f.kind)
            .collect();
        let end = match &plan.window {
            Some(w) => w.end,
            // Whatever `all` resolves to, the read range ends with date_to's period.
            None => window::period_start(
                "date_to",
                plan.date_to,
                plan.params.interval,
                &plan.tz,
                plan.params.common.week_start(),
            )
            .and_then(|l| window::next_period("date_to", l, plan.params.interval, &plan.tz))
            .unwrap_or(plan.date_to.saturating_add(1)),
        };
        Scan {
            from: plan.window.as_ref().map(|w| w.first),
            to: end.min(plan.as_of.saturating_add(1)),
            as_of: plan.as_of,
            uuid: false,
            event_properties: kinds.contains(&PropertyKind::Event),
            property_keys: None,
            property_events: None,
            person_properties: kinds.contains(&PropertyKind::Person),
            numeric: Vec::new(),
            created_at: true,
            person_ids: false,
            payments: false,
            events: None,
            personless: Personless::Exclude,
            hour_grain: false,
            periods: None,
            costs: None,
        }
    }

    fn event_names(plan: &Plan) -> Vec<String> {
        crate::kind::entity_names([&plan.params.series])
    }

    fn run(plan: &Plan, tables: &[&EventTable], limits: &Limits) -> Result<LifecycleReport> {
        limits.check_time()?;
        let p = &plan.params;
        let masks: Vec<Vec<bool>> = tables
            .iter()
            .map(|t| matching(t, &p.series, &p.common, i64::MIN, i64::MAX, plan.as_of))
            .collect::<Result<_>>()?;
        let window = match &plan.window {
            Some(w) => w.clone(),
            None => {
                // `all`: from the earliest matching event of an included person.
                let earliest = tables
                    .iter()
                    .zip(&masks)
                    .flat_map(|(t, m)| t.ts.iter().zip(m).filter(|(_, k)| **k).map(|(ts, _)| *ts))
                    .min();
                plan.all_window(earliest, limits)?
            }
        };
        let n_read = window.grid.len();
        let mut counts = LifecycleCounts::zeros(n_read);
        for (t, mask) in tables.iter().zip(&masks) {
            let period: Vec<u32> = (0..t.ts.len())
                .map(|i| match (mask[i], window.grid.locate(t.ts[i])) {
                    (true, Locate::In(k)) => k,
                    _ => NONE,
                })
                .collect();
            let created: Vec<u32> = (0..t.n_persons)
                .map(
                    |q| match t.created_at.get(q).map(|&c| window.grid.locate(c)) {
                        Some(Locate::In(k)) => k,
                        _ => NONE,
                    },
                )
                .collect();
            counts.add(&kernels::sticky::lifecycle(
                t.by_person(),
                &period,
                &created,
                n_read,
            ));
        }
        from_counts(plan, &window, tables, &counts)
    }
}

impl Plan {
    /// The read window of `date_from: all`: from the local day of `earliest` (the earliest matching event of an
    /// included person; `date_to` when there is none, or when it is later) to `date_to`'s period.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a window of too many periods or outside the supported years.
    pub fn all_window(&self, earliest: Option<i64>, limits: &Limits) -> Result<Window> {
        let p = &self.params;
        let day = window::period_start(
            "date_from",
            earliest.unwrap_or(self.date_to).min(self.date_to),
            Period::Day,
            &self.tz,
            p.common.week_start(),
        )?;
        read_window(
            p.interval,
            &self.tz,
            p.common.week_start(),
            day,
            self.date_to,
            limits,
        )
    }
}

/// The report from distinct persons per status and read period of `window` (the look-back period first), however
/// they were counted; `tables` give the provenance.
///
/// # Errors
/// [`Error::Invalid`] when a status's counts are not one per read period.
pub fn from_counts(
    plan: &Plan,
    window: &Window,
    tables: &[&EventTable],
    counts: &LifecycleCounts,
) -> Result<LifecycleReport> {
    let p = &plan.params;
    let n_read = window.grid.len();
    let counts = counts.statuses();
    if counts.iter().any(|c| c.len() != n_read) {
        return Err(Error::invalid(
            "date_from",
            format!("lifecycle counts are not {n_read} periods long"),
        ));
    }
    let shown = 1..n_read;
    let data: [Vec<i64>; 4] = std::array::from_fn(|s| {
        shown
            .clone()
            .map(|k| {
                let v = i64::try_from(counts[s][k]).unwrap_or(i64::MAX);
                if s == 3 { -v } else { v }
            })
            .collect()
    });
    let quick_ratio = shown
        .clone()
        .map(|k| {
            let dormant = counts[3][k];
            (dormant > 0).then(|| round6((counts[0][k] + counts[2][k]) as f64 / dormant as f64))
        })
        .collect();
    Ok(LifecycleReport {
        definition: definition(p),
        params: p.clone(),
        first_period: window::format_local(window.grid.start(1), &plan.tz),
        last_period: window::format_local(window.last, &plan.tz),
        end_exclusive: window::format_local(window.end, &plan.tz),
        read_from: window::format_local(window.first, &plan.tz),
        period_starts: shown
            .clone()
            .map(|k| window::format_local(window.grid.start(k), &plan.tz))
            .collect(),
        incomplete: shown
            .clone()
            .map(|k| window.grid.end_of(k) > plan.as_of)
            .collect(),
        quick_ratio,
        label: label(&p.series),
        labels: shown
            .map(|k| period_label(window.grid.start(k), p.interval, &plan.tz))
            .collect(),
        data,
        provenance: Provenance::of(plan.as_of, tables, p.common.lang),
    })
}

/// The one-sentence definition, in the report's language.
pub fn definition(p: &LifecycleParams) -> String {
    if p.common.lang == crate::params::Lang::ZhCn {
        use crate::lang;
        return format!(
            "做过{}的用户，按每{}{}分为新增、回访、复活或沉睡{}。",
            lang::entity(&p.series),
            lang::period(p.interval),
            lang::zone(p.interval, p.common.week_start(), p.common.timezone()),
            lang::global(&p.common),
        );
    }
    format!(
        "Persons who did {}, classified per {} {} as new, returning, resurrecting or dormant.",
        entity_text(&p.series, &p.common),
        p.interval.noun(),
        zone_text(p.interval, p.common.week_start(), p.common.timezone()),
    )
}

impl Output for LifecycleReport {
    fn to_json(&self) -> Value {
        json!({
            "kind": "lifecycle",
            "definition": self.definition,
            "parameters": self.params.to_json(),
            "window": {
                "first_period": self.first_period,
                "last_period": self.last_period,
                "end_exclusive": self.end_exclusive,
                "periods": self.labels.len(),
                "read_from": self.read_from,
                "read_until_exclusive": self.end_exclusive,
            },
            "periods": (0..self.labels.len()).map(|i| json!({
                "period_start": self.period_starts[i],
                "incomplete": self.incomplete[i],
                "quick_ratio": self.quick_ratio[i],
            })).collect::<Vec<_>>(),
            "series": STATUSES.iter().zip(&self.data).map(|(status, data)| json!({
                "status": status,
                "label": format!("{} · {status}", self.label),
                "data": data,
                "labels": self.labels,
                "count": data.iter().sum::<i64>(),
            })).collect::<Vec<_>>(),
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
        let _ = writeln!(
            out,
            "{:<18} {:>8} {:>10} {:>13} {:>8} {:>12}",
            "period", "new", "returning", "resurrecting", "dormant", "quick ratio"
        );
        for i in 0..self.labels.len() {
            let qr = self.quick_ratio[i].map_or("-".to_string(), |q| format!("{q:.2}"));
            let _ = writeln!(
                out,
                "{:<18} {:>8} {:>10} {:>13} {:>8} {:>12}",
                format!(
                    "{}{}",
                    self.labels[i],
                    if self.incomplete[i] { "*" } else { "" }
                ),
                self.data[0][i],
                self.data[1][i],
                self.data[2][i],
                self.data[3][i],
                qr
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "* incomplete: the period has not ended at as_of.");
        out
    }

    fn to_csv(&self) -> String {
        let mut out = String::from("period_start,status,persons,quick_ratio,incomplete\n");
        for i in 0..self.labels.len() {
            for (s, status) in STATUSES.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{},{status},{},{},{}",
                    csv_field(&self.period_starts[i]),
                    self.data[s][i],
                    self.quick_ratio[i].map_or(String::new(), |q| q.to_string()),
                    self.incomplete[i]
                );
            }
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
            title: format!("Lifecycle · {}", self.label),
            definition: self.definition.clone(),
            labels: self.labels.clone(),
            x_label: self.params.interval.title().to_string(),
            y_label: "Persons".to_string(),
            series: STATUSES
                .iter()
                .zip(&self.data)
                .map(|(status, data)| crate::svg::Series {
                    name: (*status).to_string(),
                    values: data.iter().map(|&x| Some(x as f64)).collect(),
                    band: None,
                })
                .collect(),
            mode: crate::svg::BarMode::Stacked,
            incomplete: self.incomplete.clone(),
            format: crate::svg::ValueFormat::Number,
            footer: crate::svg::Footer {
                scope: format!("{} to {}", self.first_period, self.end_exclusive),
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
