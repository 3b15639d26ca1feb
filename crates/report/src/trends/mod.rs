//! The trends report (activity.md §1): per period, matching events, distinct persons, rolling DAU/WAU/MAU and
//! DAU/MAU with its interval, or exact property math (sum, avg, min, max, median, p90, p95, p99) over a numeric
//! event property — "p95 latency of `$ai_generation` per day" or "output tokens per day by `$ai_model`".

pub mod params;
mod render;

use jiff::tz::TimeZone;
use kernels::activity::{self, Days, NONE};
use kernels::grid::Locate;

use crate::error::{Error, Result};
use crate::filter::{self, Compiled};
use crate::kind::{Limits, ReportKind};
use crate::numeric::{Num, aggregate, aggregate_counted};
use crate::params::{Entity, Filter, Period, PropertyKind};
use crate::provenance::Provenance;
use crate::retention::{all_match, entity_text, event_side, global_text, name_mask};
use crate::stats::{round6, wilson};
use crate::table::{EventTable, Scan};
use crate::window::{self, Window};

pub use params::{Fields, Math, Series, TrendsParams};

/// The trends report kind.
#[derive(Debug, Clone, Copy)]
pub struct Trends;

/// A resolved trends request.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Parameters with every default resolved.
    pub params: TrendsParams,
    tz: TimeZone,
    as_of: i64,
    /// `date_from` as an instant; `None` for `all` (found in the data).
    from: Option<i64>,
    /// `date_to` as an instant.
    to: i64,
    /// Days read before the first shown one, for rolling windows.
    lookback: u32,
}

/// A trends report: plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendsReport {
    /// One sentence saying what is counted.
    pub definition: String,
    /// The resolved parameters.
    pub params: TrendsParams,
    /// The shown periods.
    pub window: WindowInfo,
    /// Every series, by project, then series, then breakdown rank.
    pub series: Vec<SeriesOut>,
    /// Kept breakdown values per project, in rank order (`None` for Other).
    pub breakdown_values: Option<Vec<(String, Vec<Option<String>>)>>,
    /// Where the numbers came from.
    pub provenance: Provenance,
}

/// The shown periods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowInfo {
    /// Start of the first period, local RFC 3339.
    pub first_period: String,
    /// Start of the last period.
    pub last_period: String,
    /// End of the last period.
    pub end_exclusive: String,
    /// Number of periods.
    pub periods: usize,
}

/// One output series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesOut {
    /// Project.
    pub project: String,
    /// Index of the requested series it computes.
    pub series: usize,
    /// `<entity> · <math>`.
    pub label: String,
    /// The math.
    pub math: Math,
    /// The property of a property math.
    pub math_property: Option<String>,
    /// Breakdown value (`None` without a breakdown, and for Other).
    pub breakdown_value: Option<String>,
    /// Whether this is the Other series.
    pub is_other: bool,
    /// `dau_mau` only: Σdau ÷ Σmau over complete days.
    pub average: Option<f64>,
    /// One point per shown period.
    pub points: Vec<Point>,
}

/// One period of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Start of the period, local RFC 3339.
    pub period_start: String,
    /// The value.
    pub value: PointValue,
    /// Whether the period (or day, for rolling forms) has not ended by `as_of`.
    pub incomplete: bool,
    /// Property math: the number of values aggregated.
    pub count: Option<u64>,
    /// Property math: matching events without a numeric value.
    pub missing: Option<u64>,
    /// `dau_mau`: the day's DAU.
    pub dau: Option<u64>,
    /// `dau_mau`: the day's MAU.
    pub mau: Option<u64>,
    /// `dau_mau`: Wilson 95% interval on (dau, mau).
    pub ci95: Option<(f64, f64)>,
}

/// A point's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointValue {
    /// An exact count.
    Count(u64),
    /// A ratio rounded to 6 decimals, or none (mau = 0).
    Ratio(Option<f64>),
    /// A property math result, or none (no numeric value in the period).
    Number(Option<Num>),
}

impl PointValue {
    /// The value as a float for charts.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            PointValue::Count(n) => Some(n as f64),
            PointValue::Ratio(r) => r,
            PointValue::Number(n) => n.map(Num::to_f64),
        }
    }
}

impl ReportKind for Trends {
    type Fields = Fields;
    type Plan = Plan;
    type Output = TrendsReport;

    fn plan(mut params: TrendsParams, now_us: i64, limits: &Limits) -> Result<Plan> {
        params.validate()?;
        // `all` is found in the data; resolution reads the other date forms.
        let all = params.common.date_from.as_deref().map(str::trim) == Some("all");
        let given_from = params.common.date_from.take();
        if !all {
            params.common.date_from = Some(given_from.clone().unwrap_or_else(|| "-30d".into()));
        }
        let resolved = params.common.resolve(now_us);
        params.common.date_from = Some(given_from.unwrap_or_else(|| "-30d".into()));
        let resolved = resolved?;
        let to = resolved.date_to.unwrap_or(resolved.as_of);
        let lookback = params
            .series
            .iter()
            .filter_map(|s| s.math.window_days())
            .max()
            .unwrap_or(1)
            - 1;
        let plan = Plan {
            tz: resolved.tz,
            as_of: resolved.as_of,
            from: if all { None } else { resolved.date_from },
            to,
            lookback,
            params,
        };
        if let Some(from) = plan.from {
            let w = plan.window(from)?;
            let breakdown = plan
                .params
                .common
                .breakdown
                .as_ref()
                .map_or(1, |b| b.limit + 1);
            limits.check_cells(
                "date_from",
                w.grid.len() as u64 * plan.params.series.len() as u64 * breakdown as u64,
            )?;
        }
        Ok(plan)
    }

    fn params(plan: &Plan) -> &TrendsParams {
        &plan.params
    }

    fn scan(plan: &Plan) -> Scan {
        let p = &plan.params;
        let filters = || {
            p.common
                .all_global_filters()
                .chain(p.series.iter().flat_map(|s| &s.entity.properties))
        };
        let breakdown = p.common.breakdown.as_ref().map(|b| b.kind);
        let mut numeric: Vec<String> = p
            .series
            .iter()
            .filter_map(|s| s.math_property.clone())
            .collect();
        numeric.sort();
        numeric.dedup();
        let event_properties = filters().any(|f| f.kind == PropertyKind::Event)
            || breakdown == Some(PropertyKind::Event);
        // Only property math reads properties: then only its series' events need them, when each names its events.
        let property_events = if event_properties {
            None
        } else {
            p.series
                .iter()
                .filter(|s| s.math.aggregate().is_some())
                .map(|s| s.entity.event.names())
                .collect::<Option<Vec<Vec<&str>>>>()
                .map(|lists| {
                    let mut names: Vec<String> =
                        lists.into_iter().flatten().map(str::to_string).collect();
                    names.sort();
                    names.dedup();
                    names
                })
        };
        Scan {
            from: plan.from.and_then(|f| plan.window(f).ok()).map(|w| w.first),
            to: plan.window_end().min(plan.as_of.saturating_add(1)),
            as_of: plan.as_of,
            uuid: false,
            event_properties,
            property_keys: None,
            property_events,
            person_properties: filters().any(|f| f.kind == PropertyKind::Person)
                || breakdown == Some(PropertyKind::Person),
            numeric,
            created_at: false,
            person_ids: false,
            payments: false,
            events: None,
            personless: p.common.personless,
            hour_grain: hour_grain(plan, event_properties),
            periods: period_scan(plan),
            costs: None,
        }
    }

    fn run(plan: &Plan, tables: &[&EventTable], limits: &Limits) -> Result<TrendsReport> {
        run(plan, tables, limits)
    }

    fn event_names(plan: &Plan) -> Vec<String> {
        crate::kind::entity_names(plan.params.series.iter().map(|s| &s.entity))
    }
}

/// Whether every series counts distinct persons (which hours a person was active in is all it needs) over periods
/// starting on whole UTC hours; `date_from: all` is found in the data, so its window is not known before the scan.
fn hour_grain(plan: &Plan, event_properties: bool) -> bool {
    use params::Math;
    let persons_only = plan.params.series.iter().all(|s| {
        s.math_property.is_none()
            && matches!(
                s.math,
                Math::UniquePersons | Math::Dau | Math::Wau | Math::Mau | Math::DauMau
            )
    });
    persons_only
        && !event_properties
        && plan
            .from
            .and_then(|f| plan.window(f).ok())
            .is_some_and(|w| w.grid.aligned(crate::table::HOUR_US))
}

/// Per-period person sets answer a trends report when every series counts distinct persons (per period or over
/// rolling days) of at most two different lists of names, with no filter and no breakdown, over a window known
/// before the scan: one list's persons are the sets' starters, the other's their returners. `None` otherwise.
pub fn period_scan(plan: &Plan) -> Option<crate::table::PeriodScan> {
    use params::Math;
    let p = &plan.params;
    let c = &p.common;
    let non_activity = c.non_activity_events(c.projects.first()?);
    let plain = c.breakdown.is_none()
        && p.series.iter().all(|s| {
            s.math_property.is_none()
                && s.entity.properties.is_empty()
                && matches!(
                    s.math,
                    Math::UniquePersons | Math::Dau | Math::Wau | Math::Mau | Math::DauMau
                )
        })
        && c.projects.iter().all(|project| {
            c.global_filters(project).is_empty() && c.non_activity_events(project) == non_activity
        });
    if !plain {
        return None;
    }
    let lists = set_lists(p);
    if lists.len() > 2 {
        return None;
    }
    let w = plan.window(plan.from?).ok()?;
    Some(crate::table::PeriodScan {
        starts: (0..w.grid.len()).map(|k| w.grid.start(k)).collect(),
        end: w.grid.end(),
        start_events: lists[0].clone(),
        // With one list, nobody returns: marking reads the one role only.
        returning_events: lists.get(1).cloned().unwrap_or(Some(Vec::new())),
        non_activity,
    })
}

/// A series' names as a set's list: sorted, without duplicates; `None` for any activity event.
fn set_list(s: &Series) -> Option<Vec<String>> {
    s.entity.event.names().map(|names| {
        let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        names.sort();
        names.dedup();
        names
    })
}

/// The different lists of names the series count, in the order they first appear.
fn set_lists(p: &TrendsParams) -> Vec<Option<Vec<String>>> {
    let mut lists = Vec::new();
    for s in &p.series {
        let list = set_list(s);
        if !lists.contains(&list) {
            lists.push(list);
        }
    }
    lists
}

/// One project's counts from its table's period sets ([`period_scan`]): each series reads the starters when its
/// names are the first list, the returners otherwise.
fn set_counts(plan: &Plan, c: &Ctx<'_>, sets: &crate::table::PeriodSets) -> Result<ProjectCounts> {
    let p = &plan.params;
    let scan = period_scan(plan)
        .filter(|ps| ps.starts.len() == c.n_read && sets.periods() == c.n_read)
        .ok_or_else(|| {
            Error::invalid(
                "series",
                "the table's period sets do not answer these parameters",
            )
        })?;
    let series = p
        .series
        .iter()
        .map(|s| {
            let side = if set_list(s) == scan.start_events {
                kernels::Side::Starts
            } else {
                kernels::Side::Returns
            };
            match s.math {
                Math::UniquePersons => SeriesCounts::PerPeriod(sets.distinct(side)),
                _ => SeriesCounts::Rolling(
                    rolling_windows(s.math)
                        .into_iter()
                        .map(|w| sets.rolling(side, w as usize, c.first_shown))
                        .collect(),
                ),
            }
        })
        .collect();
    Ok(ProjectCounts {
        groups: vec![(None, false)],
        series,
    })
}

impl Plan {
    /// The query time zone.
    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// The moment the report describes, UTC µs.
    pub fn as_of(&self) -> i64 {
        self.as_of
    }

    /// `date_from` as an instant; `None` for `all`, found in the data (the local day of the earliest counting
    /// event of any project up to `date_to`).
    pub fn date_from(&self) -> Option<i64> {
        self.from
    }

    /// `date_to` as an instant.
    pub fn date_to(&self) -> i64 {
        self.to
    }

    /// Periods read before the first shown one, for rolling windows.
    pub fn lookback(&self) -> usize {
        self.lookback as usize
    }

    /// The read window: `lookback` days before the period of `from`, to the period of `to`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `date_from` when the window cannot be resolved.
    pub fn window(&self, from: i64) -> Result<Window> {
        let p = &self.params;
        let mut first = window::period_start(
            "date_from",
            from,
            p.interval,
            &self.tz,
            p.common.week_start(),
        )?;
        for _ in 0..self.lookback {
            first = window::period_start(
                "date_from",
                first - 1,
                p.interval,
                &self.tz,
                p.common.week_start(),
            )?;
        }
        window::resolve_window(
            p.interval,
            &self.tz,
            p.common.week_start(),
            1,
            Some(first),
            self.to.max(first),
        )
    }

    fn window_end(&self) -> i64 {
        let p = &self.params;
        window::period_start(
            "date_to",
            self.to,
            p.interval,
            &self.tz,
            p.common.week_start(),
        )
        .and_then(|last| window::next_period("date_to", last, p.interval, &self.tz))
        .unwrap_or(i64::MAX)
    }
}

/// A series' matching events of one table: the read period of each (`NONE` when it does not count).
struct Matched {
    period: Vec<u32>,
}

fn compile(list: &[Filter], field: &str) -> Result<Vec<Compiled>> {
    list.iter()
        .map(|f| filter::compile(f).map_err(|m| Error::invalid(field, m)))
        .collect()
}

/// The first instant of `all` (§1.2): the local day of `earliest`, the earliest counting event of any project up
/// to `as_of` (`None` when there is none), never after `date_to`.
///
/// # Errors
/// [`Error::Invalid`] naming `date_from` when the day cannot be resolved.
pub fn all_from(plan: &Plan, earliest: Option<i64>) -> Result<i64> {
    let e = earliest.unwrap_or(plan.to).min(plan.to);
    window::period_start(
        "date_from",
        e,
        Period::Day,
        &plan.tz,
        plan.params.common.week_start(),
    )
}

fn run(plan: &Plan, tables: &[&EventTable], limits: &Limits) -> Result<TrendsReport> {
    let p = &plan.params;
    // `all`: the local day of the earliest counting event of any project.
    let from = match plan.from {
        Some(f) => f,
        None => {
            let mut earliest = None::<i64>;
            for t in tables {
                for s in 0..p.series.len() {
                    let m = matched(plan, t, s, None)?;
                    for (i, &k) in m.period.iter().enumerate() {
                        if k != NONE {
                            earliest = Some(earliest.map_or(t.ts[i], |e| e.min(t.ts[i])));
                        }
                    }
                }
            }
            all_from(plan, earliest)?
        }
    };
    run_from(plan, from, tables, limits, None)
}

/// What another engine counted for one series of one project, over the read periods `0..n_read` of
/// [`Plan::window`] (look-back periods first), bucket after bucket (one bucket without a breakdown).
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesCounts {
    /// `total` and `unique_persons`: one count per bucket and read period (`bucket * n_read + k`).
    PerPeriod(Vec<u64>),
    /// `dau`, `wau`, `mau`: persons per bucket and shown period (`bucket * shown + i`); `dau_mau`: DAU then MAU.
    Rolling(Vec<Vec<u64>>),
    /// Property maths: per bucket and read period (`bucket * n_read + k`), the property's numeric values with how
    /// many counting events carry each, and the counting events without one.
    Values {
        /// `(value, events)` per cell, in any order.
        values: Vec<Vec<(Num, u64)>>,
        /// Events without a numeric value per cell.
        missing: Vec<u64>,
    },
}

/// What another engine counted for one project: the breakdown groups, kept values in rank order then Other
/// ([`rank_values`]; one group `(None, false)` without a breakdown), and per series its counts bucketed by group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProjectCounts {
    /// `(value, is Other)` per group.
    pub groups: Vec<(Option<String>, bool)>,
    /// Per series.
    pub series: Vec<SeriesCounts>,
}

/// Ranks one project's breakdown values as an embedded report ranks them: by the first series' points summed over
/// the shown periods (then by value), keeping the breakdown's limit and folding the rest into Other; values scoring
/// zero belong to no group. `first` is the first series' counts bucketed by `values`; `t` the project's table.
///
/// # Errors
/// [`Error::Invalid`] naming `breakdown` without one; as [`Plan::window`].
pub fn rank_values(
    plan: &Plan,
    from: i64,
    t: &EventTable,
    values: &[String],
    first: SeriesCounts,
) -> Result<crate::breakdown::Ranked> {
    let Some(b) = &plan.params.common.breakdown else {
        return Err(Error::invalid("breakdown", "there is no breakdown to rank"));
    };
    let w = plan.window(from)?;
    let ctx = Ctx::new(plan, t, &w);
    let points = points(&ctx, 0, first, values.len());
    Ok(crate::breakdown::rank(values, &scores(&points), b.limit))
}

/// Each bucket's points summed: the score breakdown values are ranked by.
fn scores(points: &[Vec<Point>]) -> Vec<f64> {
    points
        .iter()
        .map(|pts| pts.iter().filter_map(|pt| pt.value.as_f64()).sum())
        .collect()
}

/// Builds the report from counts another engine computed (per project, in the order of `tables`), for `from`
/// resolved as [`all_from`] resolves it.
///
/// # Errors
/// [`Error::Invalid`] naming `projects` for counts that do not match the tables; [`Error::TimedOut`].
pub fn from_counts(
    plan: &Plan,
    from: i64,
    tables: &[&EventTable],
    counts: Vec<ProjectCounts>,
    limits: &Limits,
) -> Result<TrendsReport> {
    run_from(plan, from, tables, limits, Some(counts))
}

fn run_from(
    plan: &Plan,
    from: i64,
    tables: &[&EventTable],
    limits: &Limits,
    mut given: Option<Vec<ProjectCounts>>,
) -> Result<TrendsReport> {
    let p = &plan.params;
    let w = plan.window(from)?;
    let lookback = plan.lookback as usize;
    let n_read = w.grid.len();
    let shown = n_read - lookback.min(n_read - 1);
    let first_shown = n_read - shown;
    let mut series_out = Vec::new();
    let mut kept_values = Vec::new();
    for (ti, t) in tables.iter().enumerate() {
        limits.check_time()?;
        let ctx = Ctx::new(plan, t, &w);
        // Counts another engine computed, or the engine's period sets.
        let counts = match (given.as_mut(), &t.sets) {
            (Some(given), _) => Some(given.get_mut(ti).map(std::mem::take).ok_or_else(|| {
                Error::invalid("projects", "one set of counts per project is needed")
            })?),
            (None, Some(sets)) => Some(set_counts(plan, &ctx, sets)?),
            (None, None) => None,
        };
        if let Some(counts) = counts {
            // Without a breakdown there is one group; with one, none when no value scored.
            if counts.series.len() != p.series.len()
                || (p.common.breakdown.is_none() && counts.groups.len() != 1)
            {
                return Err(Error::invalid(
                    "projects",
                    "counts for every series and one group without a breakdown are needed",
                ));
            }
            kept_values.push((
                t.project.clone(),
                counts.groups.iter().map(|g| g.0.clone()).collect(),
            ));
            for (s, (spec, numbers)) in p.series.iter().zip(counts.series).enumerate() {
                let per_group = points(&ctx, s, numbers, counts.groups.len());
                for ((value, is_other), points) in counts.groups.iter().zip(per_group) {
                    series_out.push(series(spec, s, t, value.clone(), *is_other, points));
                }
            }
            continue;
        }
        let matched: Vec<Matched> = (0..p.series.len())
            .map(|s| matched(plan, t, s, Some(&w)))
            .collect::<Result<_>>()?;
        // Breakdown buckets: dense ids per distinct string form of the value.
        let crate::breakdown::Values {
            values,
            event: event_bucket,
            person: person_bucket,
        } = crate::breakdown::Values::of(p.common.breakdown.as_ref(), t);
        limits.check_cells(
            "breakdown",
            values.len() as u64 * n_read as u64 * p.series.len() as u64,
        )?;
        // Rank by the first series' points summed over the shown periods, then by value; keep `limit`.
        let (groups, remap) = match &p.common.breakdown {
            None => (vec![(None, false)], Vec::new()),
            Some(b) => {
                let all = Buckets {
                    event: &event_bucket,
                    person: &person_bucket,
                    n: values.len(),
                };
                let first = compute(&ctx, 0, &matched[0], &all);
                let r = crate::breakdown::rank(&values, &scores(&first), b.limit);
                (r.groups, r.group_of)
            }
        };
        let (eb, pb): (Vec<u32>, Vec<u32>) = if remap.is_empty() {
            (event_bucket.clone(), person_bucket.clone())
        } else {
            (
                event_bucket.iter().map(|&v| remap[v as usize]).collect(),
                person_bucket.iter().map(|&v| remap[v as usize]).collect(),
            )
        };
        // Events of dropped values (ranked zero) count nowhere.
        let masked: Vec<Matched> = matched
            .iter()
            .map(|m| Matched {
                period: m
                    .period
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| {
                        let dropped = eb.get(i).is_some_and(|&b| b == NONE)
                            || (!pb.is_empty() && pb[t.person[i] as usize] == NONE);
                        if dropped { NONE } else { k }
                    })
                    .collect(),
            })
            .collect();
        kept_values.push((
            t.project.clone(),
            groups.iter().map(|g| g.0.clone()).collect::<Vec<_>>(),
        ));
        for (s, spec) in p.series.iter().enumerate() {
            limits.check_time()?;
            let kept = Buckets {
                event: &eb,
                person: &pb,
                n: groups.len(),
            };
            let per_bucket = compute(&ctx, s, &masked[s], &kept);
            for (g, (value, is_other)) in groups.iter().enumerate() {
                let points = per_bucket[g].clone();
                series_out.push(series(spec, s, t, value.clone(), *is_other, points));
            }
        }
    }
    Ok(TrendsReport {
        definition: definition(p),
        params: p.clone(),
        window: WindowInfo {
            first_period: window::format_local(w.grid.start(first_shown), &plan.tz),
            last_period: window::format_local(w.last, &plan.tz),
            end_exclusive: window::format_local(w.end, &plan.tz),
            periods: shown,
        },
        series: series_out,
        breakdown_values: p.common.breakdown.as_ref().map(|_| kept_values),
        provenance: Provenance::of(plan.as_of, tables, p.common.lang),
    })
}

/// One output series from its points.
fn series(
    spec: &Series,
    s: usize,
    t: &EventTable,
    breakdown_value: Option<String>,
    is_other: bool,
    points: Vec<Point>,
) -> SeriesOut {
    let average = (spec.math == Math::DauMau)
        .then(|| {
            let (d, m) = points
                .iter()
                .filter(|pt| !pt.incomplete)
                .fold((0u64, 0u64), |(d, m), pt| {
                    (d + pt.dau.unwrap_or(0), m + pt.mau.unwrap_or(0))
                });
            (m > 0).then(|| round6(d as f64 / m as f64))
        })
        .flatten();
    SeriesOut {
        project: t.project.clone(),
        series: s,
        label: label(spec),
        math: spec.math,
        math_property: spec.math_property.clone(),
        breakdown_value,
        is_other,
        average,
        points,
    }
}

/// The read period of every event of series `s` in table `t`, or `NONE`. Without a window (finding `all`), any
/// counting event up to `as_of` gets period 0.
fn matched(plan: &Plan, t: &EventTable, s: usize, w: Option<&Window>) -> Result<Matched> {
    let p = &plan.params;
    let spec = &p.series[s];
    let global = compile(&p.common.global_filters(&t.project), "properties")?;
    let own = compile(
        &spec.entity.properties,
        &format!("series[{s}].entity.properties"),
    )?;
    let names = name_mask(&t.names, &spec.entity, &p.common, &t.project);
    let persons: Vec<bool> = if t.person_properties.is_empty() {
        Vec::new()
    } else {
        t.person_properties
            .iter()
            .map(|pp| all_match(&global, None, Some(pp)) && all_match(&own, None, Some(pp)))
            .collect()
    };
    let period = (0..t.ts.len())
        .map(|i| {
            if t.ts[i] > plan.as_of || !names[t.name[i] as usize] {
                return NONE;
            }
            if persons.get(t.person[i] as usize) == Some(&false) {
                return NONE;
            }
            let ev = t.properties.get(i);
            if !event_side(&global, ev) || !event_side(&own, ev) {
                return NONE;
            }
            match w.map(|w| w.grid.locate(t.ts[i])) {
                None => 0,
                Some(Locate::In(k)) => k,
                Some(_) => NONE,
            }
        })
        .collect();
    Ok(Matched { period })
}

/// What every series of one table shares.
struct Ctx<'a> {
    plan: &'a Plan,
    t: &'a EventTable,
    w: &'a Window,
    n_read: usize,
    first_shown: usize,
}

impl<'a> Ctx<'a> {
    fn new(plan: &'a Plan, t: &'a EventTable, w: &'a Window) -> Ctx<'a> {
        let n_read = w.grid.len();
        Ctx {
            plan,
            t,
            w,
            n_read,
            first_shown: plan.lookback().min(n_read - 1),
        }
    }
}

/// Breakdown buckets of events or persons.
struct Buckets<'a> {
    event: &'a [u32],
    person: &'a [u32],
    n: usize,
}

/// One series' points per bucket over the shown periods.
fn compute(c: &Ctx<'_>, s: usize, m: &Matched, buckets: &Buckets<'_>) -> Vec<Vec<Point>> {
    let (plan, t, n_read, first_shown) = (c.plan, c.t, c.n_read, c.first_shown);
    let by_person = t.by_person();
    let (event_bucket, person_bucket, n_buckets) = (buckets.event, buckets.person, buckets.n);
    let spec = &plan.params.series[s];
    let counts = match spec.math {
        Math::Total => SeriesCounts::PerPeriod(activity::events_per_period(
            &m.period,
            event_bucket,
            &t.person,
            person_bucket,
            n_read,
            n_buckets,
        )),
        Math::UniquePersons => SeriesCounts::PerPeriod(activity::distinct_per_period(
            by_person,
            &m.period,
            event_bucket,
            person_bucket,
            n_read,
            n_buckets,
        )),
        Math::Dau | Math::Wau | Math::Mau | Math::DauMau => {
            SeriesCounts::Rolling(activity::rolling_distinct(
                by_person,
                &m.period,
                event_bucket,
                person_bucket,
                &Days {
                    windows: rolling_windows(spec.math),
                    first: first_shown,
                    n_days: n_read,
                    n_buckets,
                },
            ))
        }
        _ => return property_points(c, s, m, buckets),
    };
    points(c, s, counts, n_buckets)
}

/// The rolling windows (in days) a math counts: `dau_mau` needs the day's and the 30 days'.
pub fn rolling_windows(math: Math) -> Vec<u32> {
    if math == Math::DauMau {
        vec![1, 30]
    } else {
        vec![math.window_days().unwrap_or(1)]
    }
}

/// A point of read period `k` with `value`.
fn point(c: &Ctx<'_>, k: usize, value: PointValue) -> Point {
    Point {
        period_start: window::format_local(c.w.grid.start(k), &c.plan.tz),
        value,
        incomplete: c.w.grid.end_of(k) > c.plan.as_of,
        count: None,
        missing: None,
        dau: None,
        mau: None,
        ci95: None,
    }
}

/// The points of a count math per bucket, over the shown periods.
fn points(c: &Ctx<'_>, s: usize, counts: SeriesCounts, n_buckets: usize) -> Vec<Vec<Point>> {
    let (n_read, first_shown) = (c.n_read, c.first_shown);
    let shown = n_read - first_shown;
    let math = c.plan.params.series[s].math;
    let mut out: Vec<Vec<Point>> = vec![Vec::with_capacity(shown); n_buckets];
    match counts {
        SeriesCounts::Values {
            mut values,
            missing,
        } => {
            let how = math.aggregate().unwrap_or(crate::numeric::Aggregate::Sum);
            for (b, o) in out.iter_mut().enumerate() {
                for k in first_shown..n_read {
                    let cell = b * n_read + k;
                    let mut vs = values.get_mut(cell).map(std::mem::take).unwrap_or_default();
                    let count = vs.iter().map(|(_, m)| m).sum();
                    let mut pt = point(c, k, PointValue::Number(aggregate_counted(&mut vs, how)));
                    pt.count = Some(count);
                    pt.missing = Some(missing.get(cell).copied().unwrap_or(0));
                    o.push(pt);
                }
            }
        }
        SeriesCounts::PerPeriod(counts) => {
            for (b, o) in out.iter_mut().enumerate() {
                for k in first_shown..n_read {
                    let n = counts.get(b * n_read + k).copied().unwrap_or(0);
                    o.push(point(c, k, PointValue::Count(n)));
                }
            }
        }
        SeriesCounts::Rolling(rolled) => {
            let at =
                |w: usize, i: usize| rolled.get(w).and_then(|r| r.get(i)).copied().unwrap_or(0);
            for (b, o) in out.iter_mut().enumerate() {
                for k in first_shown..n_read {
                    let i = b * shown + k - first_shown;
                    if math == Math::DauMau {
                        let (dau, mau) = (at(0, i), at(1, i));
                        let mut pt = point(
                            c,
                            k,
                            PointValue::Ratio((mau > 0).then(|| round6(dau as f64 / mau as f64))),
                        );
                        pt.dau = Some(dau);
                        pt.mau = Some(mau);
                        pt.ci95 = wilson(dau, mau).map(|(a, b)| (round6(a), round6(b)));
                        o.push(pt);
                    } else {
                        o.push(point(c, k, PointValue::Count(at(0, i))));
                    }
                }
            }
        }
    }
    out
}

/// The points of a property math per bucket, over the shown periods.
fn property_points(c: &Ctx<'_>, s: usize, m: &Matched, buckets: &Buckets<'_>) -> Vec<Vec<Point>> {
    let (plan, t, n_read, first_shown) = (c.plan, c.t, c.n_read, c.first_shown);
    let (event_bucket, person_bucket, n_buckets) = (buckets.event, buckets.person, buckets.n);
    let spec = &plan.params.series[s];
    let shown = n_read - first_shown;
    let mut out: Vec<Vec<Point>> = vec![Vec::with_capacity(shown); n_buckets];
    let Some(how) = spec.math.aggregate() else {
        return out;
    };
    let key = spec.math_property.as_deref().unwrap_or_default();
    let column = t.numeric(key);
    let mut values: Vec<Vec<Num>> = vec![Vec::new(); n_buckets * n_read];
    let mut missing = vec![0u64; n_buckets * n_read];
    for (i, &k) in m.period.iter().enumerate() {
        if k == NONE {
            continue;
        }
        let b = match (event_bucket.get(i), person_bucket.is_empty()) {
            (Some(&b), _) => b,
            (None, false) => person_bucket[t.person[i] as usize],
            (None, true) => 0,
        } as usize;
        match column.and_then(|c| c.values.get(i).copied().flatten()) {
            Some(v) => values[b * n_read + k as usize].push(v),
            None => missing[b * n_read + k as usize] += 1,
        }
    }
    for (b, o) in out.iter_mut().enumerate() {
        for k in first_shown..n_read {
            let vs = &mut values[b * n_read + k];
            let mut pt = point(c, k, PointValue::Number(aggregate(vs, how)));
            pt.count = Some(vs.len() as u64);
            pt.missing = Some(missing[b * n_read + k]);
            o.push(pt);
        }
    }
    out
}

/// `<entity label> · <math>` (§1.3, §1.4 rule 6).
fn label(s: &Series) -> String {
    let entity = entity_label(&s.entity);
    match &s.math_property {
        Some(k) if s.math.aggregate().is_some() => format!("{entity} · {} of {k}", s.math.label()),
        _ => format!("{entity} · {}", s.math.label()),
    }
}

/// The event name, names joined by ` or `, or `any activity`.
pub(crate) fn entity_label(e: &Entity) -> String {
    match e.event.names() {
        None => "any activity".to_string(),
        Some(list) => list.join(" or "),
    }
}

/// The one-sentence definition, in the report's language.
fn definition(p: &TrendsParams) -> String {
    if p.common.lang == crate::params::Lang::ZhCn {
        return definition_zh(p);
    }
    let clauses: Vec<String> = p
        .series
        .iter()
        .map(|s| {
            let what = entity_text(&s.entity);
            match s.math {
                Math::Total => format!("the number of {what} events"),
                Math::UniquePersons => format!("distinct persons who did {what}"),
                Math::Dau => format!("distinct persons who did {what} on each day"),
                Math::Wau | Math::Mau => format!(
                    "distinct persons who did {what} in the {} days up to each day",
                    s.math.window_days().unwrap_or(1)
                ),
                Math::DauMau => format!(
                    "DAU/MAU of {what} (persons of the day over persons of the 30 days up to it)"
                ),
                m => format!(
                    "the {} of `{}` over {what} events with a numeric value",
                    m.name(),
                    s.math_property.as_deref().unwrap_or_default()
                ),
            }
        })
        .collect();
    let mut text = clauses.join("; ");
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    let global = global_text(&p.common);
    format!(
        "{text}, per {} ({}){global}.",
        p.interval.noun(),
        p.common.timezone()
    )
}

fn definition_zh(p: &TrendsParams) -> String {
    use crate::lang;
    let clauses: Vec<String> = p
        .series
        .iter()
        .map(|s| {
            let what = lang::entity(&s.entity);
            match s.math {
                Math::Total => format!("{what}事件数"),
                Math::UniquePersons => format!("做过{what}的去重用户数"),
                Math::Dau => format!("每天做过{what}的去重用户数"),
                Math::Wau | Math::Mau => format!(
                    "截至每天的 {} 天内做过{what}的去重用户数",
                    s.math.window_days().unwrap_or(1)
                ),
                Math::DauMau => {
                    format!("{what}的 DAU/MAU（当天用户数除以截至当天 30 天内的用户数）")
                }
                m => format!(
                    "有数值的{what}事件中 `{}` 的 {}",
                    s.math_property.as_deref().unwrap_or_default(),
                    m.name()
                ),
            }
        })
        .collect();
    format!(
        "{}，按{}统计（{}）{}。",
        clauses.join("；"),
        lang::period(p.interval),
        p.common.timezone(),
        lang::global(&p.common)
    )
}
