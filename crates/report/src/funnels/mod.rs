//! The funnels report (funnels.md): how many persons did a sequence of steps within a conversion window, where the
//! rest dropped off, how long the survivors took (`viz = steps`, `time_to_convert`) and how conversion moves with
//! the entry period (`viz = trends`); with breakdowns, exclusions, first-time steps and several projects side by side.
//!
//! This module reads the tables: the range (§3), each event's roles (§4), each person's runs (§9.2) and the
//! aggregation (§8, §10.4, §11). [`procedure`] follows the per-run procedures; [`render`] writes the outputs;
//! [`persons`] lists the persons behind a number (§12).

pub mod params;
pub mod persons;
mod procedure;
mod render;
mod roles;

use std::collections::HashMap;

use jiff::tz::TimeZone;
use kernels::activity::ByPerson;
use kernels::grid::Locate;
use serde_json::{Map, Value};

use self::params::{Attribution, FunnelParams, Order, Viz};
use self::procedure::{Entries, Ev, Outcome, StepValue};
use crate::error::{Error, Result};
use crate::filter::{self, Compiled};
use crate::kind::{Limits, ReportKind};
use crate::params::{Filter, Period, PropertyKind};
use crate::stats::{round6, wilson};
use crate::table::{EventTable, Scan};
use crate::window::{self, Window};

pub use self::render::FunnelReport;
pub use self::roles::Roles;

/// The funnels report kind.
#[derive(Debug, Clone, Copy)]
pub struct Funnels;

/// A resolved funnel request.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Parameters with defaults resolved.
    pub params: FunnelParams,
    /// The query time zone.
    pub tz: TimeZone,
    /// The moment the report describes, UTC µs.
    pub as_of: i64,
    /// Lower bound (inclusive), UTC µs; `None` for `date_from = all` until the data is read.
    pub from: Option<i64>,
    /// Upper bound (inclusive), UTC µs.
    pub to_inclusive: i64,
    /// W, µs.
    pub w: i64,
}

impl Plan {
    /// Whether some step needs each person's history before the range (§4.3).
    pub fn needs_history(&self) -> bool {
        self.params
            .steps
            .iter()
            .any(|s| s.occurrence != params::Occurrence::Any)
    }

    /// The trend periods from the one holding `from` to the one holding the upper bound.
    fn trend_window(&self, from: i64) -> Result<Window> {
        window::resolve_window(
            self.params.interval,
            &self.tz,
            self.params.common.week_start(),
            1,
            Some(from),
            self.to_inclusive,
        )
    }

    /// The breakdown the report applies: none for time to convert (§11).
    pub fn breakdown(&self) -> Option<&params::FunnelBreakdown> {
        match self.params.viz {
            // Time to convert ignores the breakdown (§11).
            Viz::TimeToConvert => None,
            _ => self.params.breakdown.as_ref(),
        }
    }
}

impl ReportKind for Funnels {
    type Fields = params::Fields;
    type Plan = Plan;
    type Output = FunnelReport;

    fn plan(mut params: FunnelParams, now_us: i64, limits: &Limits) -> Result<Plan> {
        params.validate()?;
        if params.viz == Viz::TimeToConvert && params.common.projects.len() > 1 {
            return Err(Error::invalid(
                "projects",
                "time to convert describes one project's persons; run one report per project",
            ));
        }
        let all = params.common.date_from.as_deref().map(str::trim) == Some("all");
        let given_from = params.common.date_from.take();
        if !all {
            params.common.date_from = Some(given_from.clone().unwrap_or_else(|| "-7d".into()));
        }
        let resolved = params.common.resolve(now_us);
        params.common.date_from = Some(given_from.unwrap_or_else(|| "-7d".into()));
        let r = resolved?;
        let ws = params.common.week_start();
        // §3.1.2: the end of date_to's local day, except for hours.
        let date_to = r.date_to.unwrap_or(r.as_of);
        let to_inclusive = match params.interval {
            Period::Hour => date_to,
            _ => {
                let day = window::period_start("date_to", date_to, Period::Day, &r.tz, ws)?;
                window::next_period("date_to", day, Period::Day, &r.tz)? - 1
            }
        };
        // §3.1.1: a relative date moves back to the start of its hour or day.
        let from = match (all, r.date_from, r.from_relative) {
            (true, _, _) => None,
            (false, Some(f), Some('h')) => Some(window::period_start(
                "date_from",
                f,
                Period::Hour,
                &r.tz,
                ws,
            )?),
            (false, Some(f), Some(_)) => Some(window::period_start(
                "date_from",
                f,
                Period::Day,
                &r.tz,
                ws,
            )?),
            (false, f, _) => f,
        };
        if let Some(f) = from
            && f > to_inclusive
        {
            return Err(Error::invalid("date_from", "is later than date_to"));
        }
        let w = params
            .conversion_window
            .micros()
            .ok_or_else(|| Error::invalid("conversion_window.value", "is too long"))?;
        let plan = Plan {
            tz: r.tz,
            as_of: r.as_of,
            from,
            to_inclusive,
            w,
            params,
        };
        if let Some(f) = plan.from
            && plan.params.viz == Viz::Trends
        {
            let periods = plan.trend_window(f)?.grid.len() as u64;
            let values = plan.breakdown().map_or(1, |b| b.limit as u64);
            limits.check_cells(
                "date_from",
                periods * values * plan.params.common.projects.len() as u64,
            )?;
        }
        Ok(plan)
    }

    fn params(plan: &Plan) -> &FunnelParams {
        &plan.params
    }

    fn scan(plan: &Plan) -> Scan {
        let p = &plan.params;
        let kinds: Vec<PropertyKind> = p
            .filters(&p.common)
            .map(|f| f.kind)
            .chain(p.breakdown.as_ref().map(|b| b.kind))
            .collect();
        Scan {
            from: if plan.needs_history() {
                None
            } else {
                plan.from
            },
            to: plan.to_inclusive.min(plan.as_of).saturating_add(1),
            as_of: plan.as_of,
            uuid: true,
            event_properties: kinds.contains(&PropertyKind::Event),
            property_keys: None,
            property_events: None,
            person_properties: kinds.contains(&PropertyKind::Person),
            numeric: Vec::new(),
            created_at: false,
            person_ids: false,
            payments: false,
            // Strict order needs every event (any other activity between two steps breaks the attempt).
            events: if p.order == Order::Strict {
                None
            } else {
                let exclusions: Vec<crate::params::Entity> = p
                    .exclusions
                    .iter()
                    .map(|x| crate::params::Entity {
                        event: x.event.clone(),
                        properties: Vec::new(),
                    })
                    .collect();
                let steps: Vec<crate::params::Entity> =
                    p.steps.iter().map(params::Step::entity).collect();
                crate::table::event_filter(steps.iter().chain(&exclusions))
            },
            personless: p.common.personless,
            hour_grain: false,
            costs: None,
        }
    }

    fn event_names(plan: &Plan) -> Vec<String> {
        let entities: Vec<crate::params::Entity> =
            plan.params.steps.iter().map(params::Step::entity).collect();
        crate::kind::entity_names(&entities)
    }

    fn run(plan: &Plan, tables: &[&EventTable], limits: &Limits) -> Result<FunnelReport> {
        let from = lower_bound(plan, tables)?;
        aggregate(plan, from, tables, limits, |_, t, w| {
            Prepared::new(plan, t, from, w)
        })
    }
}

/// The report over events whose roles another engine computed (the ClickHouse back end): `tables` carry each
/// project's provenance, `roles` its read events, in the same order. `from` is the plan's lower bound, or for
/// `date_from = all` [`all_from`] of the earliest event matching a step and the global filters.
///
/// # Errors
/// [`Error::TooLarge`] past the cell limit, [`Error::TimedOut`] past the deadline.
pub fn from_roles(
    plan: &Plan,
    from: i64,
    tables: &[&EventTable],
    mut roles: Vec<Roles>,
    limits: &Limits,
) -> Result<FunnelReport> {
    roles.resize_with(tables.len(), || Roles::new(plan.params.n(), false));
    let tables: Vec<EventTable> = tables
        .iter()
        .zip(roles.iter_mut())
        .map(|(t, r)| r.move_into((*t).clone()))
        .collect();
    let refs: Vec<&EventTable> = tables.iter().collect();
    aggregate(plan, from, &refs, limits, |i, t, w| {
        Ok(Prepared::with_roles(t, std::mem::take(&mut roles[i]), w))
    })
}

/// §3.1.1 for `date_from = all`: the local midnight of the day of `earliest`, the earliest event matching a step
/// and the global filters in any project, or of the report's upper bound when there is none.
///
/// # Errors
/// [`Error::Invalid`] naming `date_from` for a day outside the calendar.
pub fn all_from(plan: &Plan, earliest: Option<i64>) -> Result<i64> {
    let at = earliest.unwrap_or(plan.to_inclusive.min(plan.as_of));
    window::period_start(
        "date_from",
        at,
        Period::Day,
        &plan.tz,
        plan.params.common.week_start(),
    )
}

/// Each project's runs aggregated, then rendered: `prepare(index, table, trend window)` reads one project.
fn aggregate<'t>(
    plan: &Plan,
    from: i64,
    tables: &[&'t EventTable],
    limits: &Limits,
    mut prepare: impl FnMut(usize, &'t EventTable, Option<&Window>) -> Result<Prepared<'t>>,
) -> Result<FunnelReport> {
    let trend_window = match plan.params.viz {
        Viz::Trends => {
            let w = plan.trend_window(from)?;
            limits.check_cells(
                "date_from",
                w.grid.len() as u64
                    * plan.breakdown().map_or(1, |b| b.limit as u64)
                    * tables.len() as u64,
            )?;
            Some(w)
        }
        _ => None,
    };
    let mut projects = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        limits.check_time()?;
        let prep = prepare(i, t, trend_window.as_ref())?;
        projects.push(match plan.params.viz {
            Viz::Trends => {
                let n_periods = trend_window.as_ref().map_or(0, |w| w.grid.len());
                Aggregate::Trends {
                    values: prep.values.clone(),
                    rows: prep.trend_rows(plan, n_periods),
                }
            }
            _ => Aggregate::Steps {
                values: prep.values.clone(),
                rows: prep.step_rows(plan),
            },
        });
    }
    render::build(plan, from, trend_window.as_ref(), tables, projects)
}

/// §3.1.1 for `all`: the local midnight of the day of the earliest event that matches a step and the global
/// filters; the plan's bound otherwise.
fn lower_bound(plan: &Plan, tables: &[&EventTable]) -> Result<i64> {
    if let Some(f) = plan.from {
        return Ok(f);
    }
    let mut earliest: Option<i64> = None;
    for t in tables {
        let m = Matcher::new(plan, t)?;
        for i in 0..t.ts.len() {
            let ts = t.ts[i];
            if ts > plan.to_inclusive || earliest.is_some_and(|e| ts >= e) {
                continue;
            }
            if m.global(t, i) && (0..plan.params.n()).any(|k| m.step(t, i, k)) {
                earliest = Some(ts);
            }
        }
    }
    all_from(plan, earliest)
}

/// The compiled names and filters of the global filters, steps and exclusions, over one table.
struct Matcher {
    global: Vec<Compiled>,
    step_names: Vec<Vec<bool>>,
    step_filters: Vec<Vec<Compiled>>,
    excl_names: Vec<Vec<bool>>,
    excl_filters: Vec<Vec<Compiled>>,
    activity: Vec<bool>,
}

fn compile(field: &str, list: &[Filter]) -> Result<Vec<Compiled>> {
    list.iter()
        .map(|f| filter::compile(f).map_err(|m| Error::invalid(field, m)))
        .collect()
}

fn passes(filters: &[Compiled], t: &EventTable, i: usize) -> bool {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    let empty = EMPTY.get_or_init(Map::new);
    filters.iter().all(|f| match f.kind {
        PropertyKind::Event => f.matches(t.properties.get(i).unwrap_or(empty)),
        PropertyKind::Person => f.matches(
            t.person_properties
                .get(t.person[i] as usize)
                .unwrap_or(empty),
        ),
    })
}

impl Matcher {
    fn new(plan: &Plan, t: &EventTable) -> Result<Matcher> {
        let p = &plan.params;
        let c = &p.common;
        let names = |e: &crate::params::EventNames| -> Vec<bool> {
            match e.names() {
                None => t
                    .names
                    .iter()
                    .map(|n| !c.is_non_activity(&t.project, n))
                    .collect(),
                Some(list) => t.names.iter().map(|n| list.contains(&n.as_str())).collect(),
            }
        };
        Ok(Matcher {
            global: compile("properties", &c.global_filters(&t.project))?,
            step_names: p.steps.iter().map(|s| names(&s.event)).collect(),
            step_filters: p
                .steps
                .iter()
                .enumerate()
                .map(|(k, s)| compile(&format!("steps[{k}].properties"), &s.properties))
                .collect::<Result<_>>()?,
            excl_names: p.exclusions.iter().map(|x| names(&x.event)).collect(),
            excl_filters: p
                .exclusions
                .iter()
                .enumerate()
                .map(|(k, x)| compile(&format!("exclusions[{k}].properties"), &x.properties))
                .collect::<Result<_>>()?,
            activity: t
                .names
                .iter()
                .map(|n| !c.is_non_activity(&t.project, n))
                .collect(),
        })
    }

    fn global(&self, t: &EventTable, i: usize) -> bool {
        passes(&self.global, t, i)
    }

    /// Step `k` (0-based) by name and filters, occurrence aside.
    fn step(&self, t: &EventTable, i: usize, k: usize) -> bool {
        self.step_names[k][t.name[i] as usize] && passes(&self.step_filters[k], t, i)
    }

    fn exclusion(&self, t: &EventTable, i: usize, x: usize) -> bool {
        self.excl_names[x][t.name[i] as usize] && passes(&self.excl_filters[x], t, i)
    }
}

/// One table read for a funnel: each event's roles, whether it is read, its breakdown value, and its trend period.
struct Prepared<'a> {
    table: &'a EventTable,
    by: &'a ByPerson,
    steps: Vec<u32>,
    excl: Vec<u32>,
    read: Vec<bool>,
    value: Vec<u32>,
    period: Vec<u32>,
    /// Breakdown values by id: one string per breakdown property.
    values: Vec<Vec<String>>,
}

impl<'a> Prepared<'a> {
    fn new(
        plan: &Plan,
        t: &'a EventTable,
        from: i64,
        trend_window: Option<&Window>,
    ) -> Result<Prepared<'a>> {
        let p = &plan.params;
        let n = p.n();
        let m = Matcher::new(plan, t)?;
        let len = t.ts.len();
        let by = t.by_person_in_time();
        let uuid = |i: usize| t.uuid.get(i).copied().unwrap_or(0);
        // §4.3: each occurrence step's anchor per person, over the whole history loaded.
        let mut anchor: Vec<Option<Vec<u32>>> = vec![None; n];
        for (k, s) in p.steps.iter().enumerate() {
            if s.occurrence == params::Occurrence::Any {
                continue;
            }
            let mut best = vec![u32::MAX; t.n_persons];
            for i in 0..len {
                let ok = match s.occurrence {
                    params::Occurrence::FirstEver => m.step_names[k][t.name[i] as usize],
                    _ => m.step(t, i, k),
                };
                if !ok {
                    continue;
                }
                let slot = &mut best[t.person[i] as usize];
                if *slot == u32::MAX
                    || (t.ts[i], uuid(i)) < (t.ts[*slot as usize], uuid(*slot as usize))
                {
                    *slot = i as u32;
                }
            }
            anchor[k] = Some(best);
        }
        let unordered = p.order == Order::Unordered;
        let strict = p.order == Order::Strict;
        let mut steps = vec![0u32; len];
        let mut excl = vec![0u32; len];
        let mut read = vec![false; len];
        // Each event's roles on its own: one independent step per event, in parallel.
        let roles = |i: usize| -> Option<(u32, u32, bool)> {
            let ts = t.ts[i];
            if ts < from || ts > plan.to_inclusive || ts > plan.as_of || !m.global(t, i) {
                return None;
            }
            let mut s = 0u32;
            for (k, anchor) in anchor.iter().enumerate() {
                if m.step(t, i, k)
                    && anchor
                        .as_ref()
                        .is_none_or(|a| a[t.person[i] as usize] == i as u32)
                {
                    s |= 1 << k;
                }
            }
            let mut x = 0u32;
            if !(unordered && s != 0) {
                for (j, ex) in p.exclusions.iter().enumerate() {
                    if m.exclusion(t, i, j) {
                        for step in ex.from_step + 1..=ex.to_step {
                            x |= 1 << (step - 1);
                        }
                    }
                }
            }
            Some((
                s,
                x,
                s != 0 || x != 0 || (strict && m.activity[t.name[i] as usize]),
            ))
        };
        {
            use rayon::prelude::*;
            steps
                .par_iter_mut()
                .zip(excl.par_iter_mut())
                .zip(read.par_iter_mut())
                .enumerate()
                .with_min_len(1 << 14)
                .for_each(|(i, ((s, x), r))| {
                    if let Some(v) = roles(i) {
                        (*s, *x, *r) = v;
                    }
                });
        }
        let mut values: Vec<Vec<String>> = vec![Vec::new()];
        let mut value = vec![0u32; len];
        if let Some(b) = plan.breakdown() {
            let keys = b.property.names();
            let mut ids: HashMap<Vec<String>, u32> = HashMap::new();
            values.clear();
            static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
            let empty = EMPTY.get_or_init(Map::new);
            for i in (0..len).filter(|&i| read[i]) {
                let props = match b.kind {
                    PropertyKind::Event => t.properties.get(i).unwrap_or(empty),
                    PropertyKind::Person => t
                        .person_properties
                        .get(t.person[i] as usize)
                        .unwrap_or(empty),
                };
                let v: Vec<String> = keys
                    .iter()
                    .map(|k| {
                        props
                            .get(*k)
                            .and_then(filter::string_form)
                            .unwrap_or_default()
                    })
                    .collect();
                let next = ids.len() as u32;
                value[i] = *ids.entry(v.clone()).or_insert_with(|| {
                    values.push(v);
                    next
                });
            }
        }
        let mut period = vec![u32::MAX; len];
        if let Some(w) = trend_window {
            for i in (0..len).filter(|&i| read[i]) {
                if let Locate::In(k) = w.grid.locate(t.ts[i]) {
                    period[i] = k;
                }
            }
        }
        Ok(Prepared {
            table: t,
            by,
            steps,
            excl,
            read,
            value,
            period,
            values,
        })
    }

    /// A table whose events are all read, with the roles another engine gave them.
    fn with_roles(t: &'a EventTable, roles: Roles, trend_window: Option<&Window>) -> Prepared<'a> {
        let period = match trend_window {
            Some(w) => {
                t.ts.iter()
                    .map(|&ts| match w.grid.locate(ts) {
                        Locate::In(k) => k,
                        _ => u32::MAX,
                    })
                    .collect()
            }
            None => vec![u32::MAX; t.ts.len()],
        };
        Prepared {
            table: t,
            by: t.by_person_in_time(),
            steps: roles.steps,
            excl: roles.excl,
            read: vec![true; t.ts.len()],
            value: roles.value,
            period,
            values: roles.values,
        }
    }

    fn non_empty(&self, v: u32) -> bool {
        self.values[v as usize].iter().any(|s| !s.is_empty())
    }

    /// A person's read events, sorted by (timestamp, uuid).
    fn events(&self, person: usize, out: &mut Vec<Ev>) {
        let t = self.table;
        out.clear();
        out.extend(
            self.by
                .of(person)
                .iter()
                .map(|&i| i as usize)
                .filter(|&i| self.read[i])
                .map(|i| Ev {
                    ts: t.ts[i],
                    uuid: t.uuid.get(i).copied().unwrap_or(0),
                    steps: self.steps[i],
                    excl: self.excl[i],
                    value: self.value[i],
                    idx: i as u32,
                    period: self.period[i],
                }),
        );
        // `by_person_in_time` keeps each person's events in (timestamp, uuid) order: no sort per run.
        debug_assert!(out.is_sorted_by_key(|e| (e.ts, e.uuid)));
    }

    /// The runs of one person (§9.2): `f(value, events, only)` for each, where `only` restricts the attribution
    /// step to the run's value.
    fn person_runs(
        &self,
        plan: &Plan,
        evs: &[Ev],
        scratch: &mut Vec<Ev>,
        mut f: impl FnMut(u32, &[Ev], Option<StepValue>),
    ) {
        if evs.is_empty() {
            return;
        }
        let Some(b) = plan.breakdown() else {
            f(0, evs, None);
            return;
        };
        let distinct = |it: &mut dyn Iterator<Item = u32>| -> Vec<u32> {
            let mut v: Vec<u32> = it.collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        match b.attribution {
            Attribution::FirstTouch | Attribution::LastTouch => {
                let mut non_empty = evs.iter().filter(|e| self.non_empty(e.value));
                let pick = if b.attribution == Attribution::FirstTouch {
                    non_empty.next()
                } else {
                    non_empty.next_back()
                };
                let value = pick.map_or_else(|| self.empty_value(evs), |e| e.value);
                f(value, evs, None);
            }
            Attribution::AllEvents => {
                for v in distinct(&mut evs.iter().map(|e| e.value)) {
                    scratch.clear();
                    scratch.extend(evs.iter().filter(|e| e.value == v));
                    f(v, scratch, None);
                }
            }
            Attribution::Step => {
                let s = b.attribution_step.unwrap_or(1);
                let unordered = plan.params.order == Order::Unordered;
                let candidates = distinct(
                    &mut evs
                        .iter()
                        .filter(|e| unordered || e.steps & (1 << (s - 1)) != 0)
                        .map(|e| e.value),
                );
                for v in candidates {
                    f(v, evs, Some(StepValue { step: s, value: v }));
                }
            }
        }
    }

    /// The id of the all-empty value; every read event has a value, so one exists unless all are non-empty, in
    /// which case the person's first value stands in (it cannot happen: a value with no non-empty element is the
    /// empty one).
    fn empty_value(&self, evs: &[Ev]) -> u32 {
        evs.iter()
            .map(|e| e.value)
            .find(|&v| !self.non_empty(v))
            .unwrap_or(evs[0].value)
    }

    /// Person ranges for a parallel fold, in person order: one per thread on a large table (each holds its own
    /// per-value counts), one on a small one.
    fn person_parts(&self) -> Vec<std::ops::Range<usize>> {
        let n = self.by.n_persons();
        let parts = if self.table.ts.len() >= PARALLEL_MIN_EVENTS {
            rayon::current_num_threads().clamp(1, n.max(1))
        } else {
            1
        };
        let per = n.div_ceil(parts).max(1);
        (0..parts)
            .map(|k| (k * per).min(n)..((k + 1) * per).min(n))
            .collect()
    }

    /// Every person's runs aggregated per breakdown value (§8), persons folded in parallel ranges and merged in
    /// person order.
    fn step_rows(&self, plan: &Plan) -> HashMap<u32, StepAcc> {
        use rayon::prelude::*;
        let parts: Vec<HashMap<u32, StepAcc>> = self
            .person_parts()
            .into_par_iter()
            .map(|persons| {
                let mut acc: HashMap<u32, StepAcc> = HashMap::new();
                self.step_runs_in(plan, persons, |_, value, outcome| {
                    if let Outcome::Reached { level, times } = outcome {
                        acc.entry(value)
                            .or_insert_with(|| StepAcc::new(plan))
                            .add(level, &times);
                    }
                });
                acc
            })
            .collect();
        let mut rows: HashMap<u32, StepAcc> = HashMap::new();
        for part in parts {
            for (value, acc) in part {
                match rows.entry(value) {
                    std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().merge(&acc),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(acc);
                    }
                }
            }
        }
        rows
    }

    /// Every person's trend entries (§10) counted per breakdown value and period: (entered, converted).
    fn trend_rows(&self, plan: &Plan, n_periods: usize) -> HashMap<u32, Vec<(u64, u64)>> {
        use rayon::prelude::*;
        let parts: Vec<HashMap<u32, Vec<(u64, u64)>>> = self
            .person_parts()
            .into_par_iter()
            .map(|persons| {
                let mut acc: HashMap<u32, Vec<(u64, u64)>> = HashMap::new();
                self.trend_runs_in(plan, persons, |_, value, entries| {
                    let row = acc.entry(value).or_insert_with(|| vec![(0, 0); n_periods]);
                    for &(period, converted) in entries {
                        if let Some(c) = row.get_mut(period as usize) {
                            c.0 += 1;
                            c.1 += u64::from(converted);
                        }
                    }
                });
                acc
            })
            .collect();
        let mut rows: HashMap<u32, Vec<(u64, u64)>> = HashMap::new();
        for part in parts {
            for (value, counts) in part {
                let row = rows.entry(value).or_insert_with(|| vec![(0, 0); n_periods]);
                for (r, c) in row.iter_mut().zip(counts) {
                    r.0 += c.0;
                    r.1 += c.1;
                }
            }
        }
        rows
    }

    /// Runs §5–§7 for every person: `f(person, value, outcome)`.
    fn step_runs(&self, plan: &Plan, f: impl FnMut(usize, u32, Outcome)) {
        self.step_runs_in(plan, 0..self.by.n_persons(), f);
    }

    /// [`Prepared::step_runs`] for the persons of `persons`.
    fn step_runs_in(
        &self,
        plan: &Plan,
        persons: std::ops::Range<usize>,
        mut f: impl FnMut(usize, u32, Outcome),
    ) {
        let p = &plan.params;
        let n = p.n();
        let (mut evs, mut scratch) = (Vec::new(), Vec::new());
        for person in persons {
            self.events(person, &mut evs);
            self.person_runs(plan, &evs, &mut scratch, |value, run, only| {
                let outcome = match p.order {
                    Order::Unordered => procedure::unordered(run, n, plan.w, only.map(|o| o.value)),
                    order => procedure::ordered(run, n, plan.w, order == Order::Strict, only),
                };
                f(person, value, outcome);
            });
        }
    }

    /// Runs §10 for every person: `f(person, value, entries)`.
    fn trend_runs(&self, plan: &Plan, f: impl FnMut(usize, u32, &Entries)) {
        self.trend_runs_in(plan, 0..self.by.n_persons(), f);
    }

    /// [`Prepared::trend_runs`] for the persons of `persons`.
    fn trend_runs_in(
        &self,
        plan: &Plan,
        persons: std::ops::Range<usize>,
        mut f: impl FnMut(usize, u32, &Entries),
    ) {
        let p = &plan.params;
        let n = p.n();
        let (from_step, to_step) = (p.from_step(), p.to_step());
        let (mut evs, mut scratch, mut sorted) = (Vec::new(), Vec::new(), Vec::new());
        for person in persons {
            self.events(person, &mut evs);
            self.person_runs(plan, &evs, &mut scratch, |value, run, only| {
                let entries = match p.order {
                    Order::Unordered => procedure::unordered_trends(
                        run,
                        n,
                        plan.w,
                        only.map(|o| o.value),
                        from_step,
                        to_step,
                    ),
                    order => {
                        // §10.2: equal timestamps by the lowest step role, events without one last.
                        sorted.clear();
                        sorted.extend_from_slice(run);
                        sorted.sort_by_key(|e: &Ev| {
                            let lowest = if e.steps == 0 {
                                64
                            } else {
                                e.steps.trailing_zeros()
                            };
                            (e.ts, lowest, e.uuid)
                        });
                        procedure::ordered_trends(
                            &sorted,
                            n,
                            plan.w,
                            order == Order::Strict,
                            only,
                            from_step,
                            to_step,
                        )
                    }
                };
                f(person, value, &entries);
            });
        }
    }
}

/// Tables with at least this many events fold their persons in parallel.
const PARALLEL_MIN_EVENTS: usize = 1 << 16;

/// Counts and conversion times of one series (§8).
#[derive(Debug, Clone)]
struct StepAcc {
    /// Runs per level (index 1..=n).
    levels: Vec<u64>,
    /// For step k (index k − 1, k ≥ 2): the conversion times of the runs that reached it, µs.
    times: Vec<Vec<i64>>,
    /// `from_step` and `to_step`.
    span: (usize, usize),
    /// For the runs that reached `to_step`: their time from `from_step` to `to_step`, µs (§11).
    spans: Vec<i64>,
}

impl StepAcc {
    fn new(plan: &Plan) -> StepAcc {
        let n = plan.params.n();
        StepAcc {
            levels: vec![0; n + 1],
            times: vec![Vec::new(); n],
            span: (plan.params.from_step(), plan.params.to_step()),
            spans: Vec::new(),
        }
    }

    fn add(&mut self, level: usize, times: &[i64]) {
        self.levels[level] += 1;
        for k in 2..=level {
            self.times[k - 1].push(times[k - 1] - times[k - 2]);
        }
        let (from, to) = self.span;
        if level >= to {
            self.spans.push(times[to - 1] - times[from - 1]);
        }
    }

    fn merge(&mut self, other: &StepAcc) {
        for (a, b) in self.levels.iter_mut().zip(&other.levels) {
            *a += b;
        }
        for (a, b) in self.times.iter_mut().zip(&other.times) {
            a.extend_from_slice(b);
        }
        self.spans.extend_from_slice(&other.spans);
    }

    /// count(k) for k = 1..=n.
    fn counts(&self) -> Vec<u64> {
        let n = self.levels.len() - 1;
        let mut out = vec![0u64; n];
        let mut running = 0;
        for k in (1..=n).rev() {
            running += self.levels[k];
            out[k - 1] = running;
        }
        out
    }
}

/// One project's aggregated runs, by breakdown value id.
enum Aggregate {
    Steps {
        values: Vec<Vec<String>>,
        rows: HashMap<u32, StepAcc>,
    },
    Trends {
        values: Vec<Vec<String>>,
        rows: HashMap<u32, Vec<(u64, u64)>>,
    },
}

/// Average and median of µs durations, in seconds rounded to 6 decimals (§8.2).
fn average_median(times: &mut [i64]) -> (Option<f64>, Option<f64>) {
    if times.is_empty() {
        return (None, None);
    }
    times.sort_unstable();
    let n = times.len();
    let sum: i128 = times.iter().map(|&t| i128::from(t)).sum();
    let average = sum as f64 / n as f64 / 1e6;
    let median = if n % 2 == 1 {
        times[n / 2] as f64 / 1e6
    } else {
        (i128::from(times[n / 2 - 1]) + i128::from(times[n / 2])) as f64 / 2.0 / 1e6
    };
    (Some(round6(average)), Some(round6(median)))
}

/// A rate with its Wilson interval, rounded.
fn rate(x: u64, n: u64) -> (Option<f64>, Option<(f64, f64)>) {
    if n == 0 {
        return (None, None);
    }
    (
        Some(round6(x as f64 / n as f64)),
        wilson(x, n).map(|(a, b)| (round6(a), round6(b))),
    )
}

/// The time-to-convert histogram of §11 over conversion times in seconds.
fn histogram(times: &[f64], bin_count: Option<u32>) -> Vec<(f64, f64, u64)> {
    if times.is_empty() {
        return Vec::new();
    }
    let n = times.len() as u64;
    let c = match bin_count {
        Some(c) => u64::from(c),
        None => (1..=60u64).find(|c| c * c * c >= n).unwrap_or(60),
    };
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    let max = times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = (min.floor(), max.ceil());
    let mut width = ((hi - lo) / c as f64).ceil();
    if width <= 0.0 {
        width = 60.0;
    }
    let mut bins: Vec<(f64, f64, u64)> = (0..=c)
        .map(|i| (lo + i as f64 * width, lo + (i + 1) as f64 * width, 0))
        .collect();
    for &t in times {
        let i = (((t - lo) / width).floor() as usize).min(c as usize);
        bins[i].2 += 1;
    }
    bins
}

#[cfg(test)]
mod tests;
