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
use crate::table::{EventTable, InTime, Scan};
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
        // Only the keys the filters and an event breakdown read are parsed from each event's properties.
        let mut keys: Vec<String> = p
            .filters(&p.common)
            .filter(|f| f.kind == PropertyKind::Event)
            .map(|f| f.key.clone())
            .chain(
                p.breakdown
                    .iter()
                    .filter(|b| b.kind == PropertyKind::Event)
                    .flat_map(|b| b.property.names().into_iter().map(str::to_string)),
            )
            .collect();
        keys.sort();
        keys.dedup();
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
            property_keys: Some(keys),
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
            periods: None,
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
        self.step_names[k][t.name[i] as usize] && self.step_filters(t, i, k)
    }

    /// Step `k`'s own filters.
    fn step_filters(&self, t: &EventTable, i: usize, k: usize) -> bool {
        passes(&self.step_filters[k], t, i)
    }

    fn exclusion(&self, t: &EventTable, i: usize, x: usize) -> bool {
        self.excl_names[x][t.name[i] as usize] && passes(&self.excl_filters[x], t, i)
    }
}

/// Each position's trend period (`u32::MAX` outside the window or without trends), for the positions `read` keeps.
fn periods(line: &InTime, trend_window: Option<&Window>, read: impl Fn(usize) -> bool) -> Vec<u32> {
    let mut period = vec![u32::MAX; line.ts.len()];
    if let Some(w) = trend_window {
        for (j, slot) in period.iter_mut().enumerate() {
            if read(j)
                && let Locate::In(k) = w.grid.locate(line.ts[j])
            {
                *slot = k;
            }
        }
    }
    period
}

/// Each read event's breakdown value id (by position) and the values by id (§9.1). The values are read in the
/// table's order, in parallel chunks whose own ids are then merged: equal values get one id, whichever chunk met them.
fn breakdown_values(
    t: &EventTable,
    by: &ByPerson,
    roles: &[Role],
    b: &params::FunnelBreakdown,
) -> (Vec<u32>, Vec<Vec<String>>) {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 15;
    let len = roles.len();
    let mut read_at = vec![false; len];
    for (j, r) in roles.iter().enumerate() {
        if r.read {
            read_at[by.events[j] as usize] = true;
        }
    }
    let keys = b.property.names();
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    let empty = EMPTY.get_or_init(Map::new);
    let parts: Vec<(Vec<Vec<String>>, Vec<u32>)> = read_at
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(c, flags)| {
            let mut ids: HashMap<Vec<String>, u32> = HashMap::new();
            let mut values: Vec<Vec<String>> = Vec::new();
            let mut local = vec![0u32; flags.len()];
            let mut key: Vec<String> = Vec::with_capacity(keys.len());
            for (o, _) in flags.iter().enumerate().filter(|(_, f)| **f) {
                let i = c * CHUNK + o;
                let props = match b.kind {
                    PropertyKind::Event => t.properties.get(i).unwrap_or(empty),
                    PropertyKind::Person => t
                        .person_properties
                        .get(t.person[i] as usize)
                        .unwrap_or(empty),
                };
                key.clear();
                key.extend(keys.iter().map(|k| {
                    props
                        .get(*k)
                        .and_then(filter::string_form)
                        .unwrap_or_default()
                }));
                local[o] = match ids.get(key.as_slice()) {
                    Some(&id) => id,
                    None => {
                        let id = values.len() as u32;
                        values.push(key.clone());
                        ids.insert(key.clone(), id);
                        id
                    }
                };
            }
            (values, local)
        })
        .collect();
    let mut ids: HashMap<Vec<String>, u32> = HashMap::new();
    let mut values: Vec<Vec<String>> = Vec::new();
    let mut value_at = vec![0u32; len];
    for (c, (part_values, local)) in parts.into_iter().enumerate() {
        let global: Vec<u32> = part_values
            .into_iter()
            .map(|v| {
                let next = values.len() as u32;
                *ids.entry(v).or_insert_with_key(|v| {
                    values.push(v.clone());
                    next
                })
            })
            .collect();
        for (o, id) in local.into_iter().enumerate() {
            if read_at[c * CHUNK + o] {
                value_at[c * CHUNK + o] = global[id as usize];
            }
        }
    }
    let value = by
        .events
        .par_iter()
        .map(|&i| value_at[i as usize])
        .collect();
    (value, values)
}

/// One event's roles (§4): step roles (bit k − 1 for step k), exclusion roles (bit j − 1 blocks the move to step
/// j), and whether the funnel reads it.
#[derive(Debug, Clone, Copy, Default)]
struct Role {
    steps: u32,
    excl: u32,
    read: bool,
}

/// One table read for a funnel: each event's roles, its breakdown value and its trend period, all in the table's
/// person-then-time order ([`EventTable::in_time`]): position `j` is event `by.events[j]`.
struct Prepared<'a> {
    by: &'a ByPerson,
    line: &'a InTime,
    roles: Vec<Role>,
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
        let m = Matcher::new(plan, t)?;
        let by = t.by_person_in_time();
        let line = t.in_time();
        let len = line.ts.len();
        let last = plan.to_inclusive.min(plan.as_of);
        let unordered = p.order == Order::Unordered;
        let strict = p.order == Order::Strict;
        let masks: Vec<u32> = p
            .exclusions
            .iter()
            .map(|x| (x.from_step + 1..=x.to_step).fold(0u32, |m, step| m | 1 << (step - 1)))
            .collect();
        // Each person's events in time: an occurrence step's anchor is the person's first qualifying event over the
        // whole history loaded (§4.3), whether or not it is in the range.
        let person_roles = |persons: std::ops::Range<usize>, out: &mut [Role]| {
            let base = persons.start.min(by.n_persons());
            let base = by.offsets[base] as usize;
            for person in persons {
                let mut anchored = 0u32;
                for j in by.offsets[person] as usize..by.offsets[person + 1] as usize {
                    let i = by.events[j] as usize;
                    let (ts, name) = (line.ts[j], line.name[j] as usize);
                    let in_window = ts >= from && ts <= last && m.global(t, i);
                    let mut s = 0u32;
                    for (k, step) in p.steps.iter().enumerate() {
                        if !m.step_names[k][name] {
                            continue;
                        }
                        let bit = 1u32 << k;
                        let counts = match step.occurrence {
                            params::Occurrence::Any => in_window && m.step_filters(t, i, k),
                            params::Occurrence::FirstEver => {
                                let first = anchored & bit == 0;
                                anchored |= bit;
                                first && in_window && m.step_filters(t, i, k)
                            }
                            params::Occurrence::FirstTime => {
                                if anchored & bit != 0 || !m.step_filters(t, i, k) {
                                    false
                                } else {
                                    anchored |= bit;
                                    in_window
                                }
                            }
                        };
                        if counts {
                            s |= bit;
                        }
                    }
                    if !in_window {
                        continue;
                    }
                    let mut x = 0u32;
                    if !(unordered && s != 0) {
                        for (jx, mask) in masks.iter().enumerate() {
                            if m.exclusion(t, i, jx) {
                                x |= mask;
                            }
                        }
                    }
                    out[j - base] = Role {
                        steps: s,
                        excl: x,
                        read: s != 0 || x != 0 || (strict && m.activity[name]),
                    };
                }
            }
        };
        let mut roles = vec![Role::default(); len];
        {
            use rayon::prelude::*;
            let parts = if len >= PARALLEL_MIN_EVENTS {
                rayon::current_num_threads() * 8
            } else {
                1
            };
            crate::table::person_chunks(&by.offsets, &mut roles, parts)
                .into_par_iter()
                .for_each(|(persons, out)| person_roles(persons, out));
        }
        let (value, values) = match plan.breakdown() {
            Some(b) => breakdown_values(t, by, &roles, b),
            None => (vec![0u32; len], vec![Vec::new()]),
        };
        let period = periods(line, trend_window, |j| roles[j].read);
        Ok(Prepared {
            by,
            line,
            roles,
            value,
            period,
            values,
        })
    }

    /// A table whose events are all read, with the roles another engine gave them (in the table's order).
    fn with_roles(t: &'a EventTable, roles: Roles, trend_window: Option<&Window>) -> Prepared<'a> {
        let by = t.by_person_in_time();
        let line = t.in_time();
        let at = |column: &[u32], i: u32| column.get(i as usize).copied().unwrap_or(0);
        Prepared {
            by,
            line,
            roles: by
                .events
                .iter()
                .map(|&i| Role {
                    steps: at(&roles.steps, i),
                    excl: at(&roles.excl, i),
                    read: true,
                })
                .collect(),
            value: by.events.iter().map(|&i| at(&roles.value, i)).collect(),
            period: periods(line, trend_window, |_| true),
            values: roles.values,
        }
    }

    fn non_empty(&self, v: u32) -> bool {
        self.values[v as usize].iter().any(|s| !s.is_empty())
    }

    /// A person's read events, sorted by (timestamp, uuid): a contiguous run of positions.
    fn events(&self, person: usize, out: &mut Vec<Ev>) {
        out.clear();
        let positions = self.by.offsets[person] as usize..self.by.offsets[person + 1] as usize;
        out.extend(positions.filter(|&j| self.roles[j].read).map(|j| {
            let r = self.roles[j];
            Ev {
                ts: self.line.ts[j],
                tie: j as u64,
                steps: r.steps,
                excl: r.excl,
                value: self.value[j],
                idx: self.by.events[j],
                period: self.period[j],
            }
        }));
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
        let parts = if self.line.ts.len() >= PARALLEL_MIN_EVENTS {
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
                            (e.ts, lowest, e.tie)
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
