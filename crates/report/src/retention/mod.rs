//! The retention report (retention.md): plan the scan, build the kernel's columns from event tables, run the
//! kernel, then add statistics, labels, the definition sentence and provenance.

pub mod params;
mod render;

pub use params::{Fields, RetentionParams};

use jiff::tz::TimeZone;
use kernels::{BucketMode, Mode, RetentionColumns, RetentionConfig};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::filter::{self, Compiled};
use crate::kind::{Limits, ReportKind};
use crate::params::{
    Common, Entity, Filter, Operator, Params, Period, PropertyKind, RetentionType, WeekStart,
};
pub use crate::provenance::{ENGINE, Note, ProjectProvenance, Provenance};
use crate::stats::{round6, wilson};
use crate::table::Scan;
pub use crate::table::{DataProvenance, EventTable};
use crate::window::{self, Window};

/// The retention report kind.
#[derive(Debug, Clone, Copy)]
pub struct Retention;

impl ReportKind for Retention {
    type Fields = Fields;
    type Plan = Plan;
    type Output = RetentionReport;

    fn plan(params: Params<Fields>, now_us: i64, limits: &Limits) -> Result<Plan> {
        plan_with(params, now_us, limits)
    }

    fn params(plan: &Plan) -> &Params<Fields> {
        &plan.params
    }

    fn scan(plan: &Plan) -> Scan {
        plan.scan()
    }

    fn run(plan: &Plan, tables: &[&EventTable], limits: &Limits) -> Result<RetentionReport> {
        run_with(plan, tables, limits)
    }

    fn event_names(plan: &Plan) -> Vec<String> {
        crate::kind::entity_names([&plan.params.target, &plan.params.returning])
    }
}

/// A resolved report request: what to scan and how to compute.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Parameters with every default resolved (echoed in the report).
    pub params: RetentionParams,
    /// The query time zone.
    pub tz: TimeZone,
    /// The window.
    pub window: Window,
    /// The moment the report describes, UTC µs.
    pub as_of: i64,
    /// Events from this instant on are needed (`None`: all history, for first-time anchors).
    pub scan_from: Option<i64>,
    /// Events before this instant are needed.
    pub scan_to: i64,
    /// Event properties must be loaded (event filters or an event breakdown).
    pub needs_event_properties: bool,
    /// Person properties must be loaded (person filters or a person breakdown).
    pub needs_person_properties: bool,
    /// Event uuids must be loaded: only anchors that depend on which of two simultaneous events is first need them
    /// (`first_ever` with entity filters, and `first_time` or `first_ever` broken down by an event property).
    pub needs_uuid: bool,
}

/// A retention report: plain data, rendered by [`crate::render`].
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionReport {
    /// One sentence saying what is counted.
    pub definition: String,
    /// The resolved parameters.
    pub params: RetentionParams,
    /// Window description.
    pub window: WindowInfo,
    /// Column labels.
    pub columns: Vec<String>,
    /// Rows, by project, then breakdown rank, then period.
    pub rows: Vec<Row>,
    /// Mean curve per project and breakdown value.
    pub mean: Vec<Mean>,
    /// Kept breakdown values per project, in rank order (`None` for Other).
    pub breakdown_values: Option<Vec<(String, Vec<Option<String>>)>>,
    /// Where the numbers came from.
    pub provenance: Provenance,
}

/// The resolved window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowInfo {
    /// Start of the first period, local RFC 3339.
    pub first_period: String,
    /// Start of the last period.
    pub last_period: String,
    /// End of the last period.
    pub end_exclusive: String,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub columns: usize,
    /// The window ends before `as_of` (`date_to` in the past): returning events after its end are not counted
    /// either, so the cells after it are blank although their periods may have passed.
    pub ends_before_as_of: bool,
}

/// One cohort row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Project.
    pub project: String,
    /// Breakdown value (`None` without a breakdown, and for Other).
    pub breakdown_value: Option<String>,
    /// Whether this is the Other bucket.
    pub is_other: bool,
    /// `Day 3`, `Week 0`, …
    pub label: String,
    /// Start of the cohort period, local RFC 3339.
    pub cohort_start: String,
    /// Persons in the cohort.
    pub size: u64,
    /// Counts per column; `None` outside the window.
    pub counts: Vec<Option<u64>>,
    /// Rates per column.
    pub rates: Vec<Option<f64>>,
    /// Wilson 95% interval per column (`None` for column 0).
    pub ci95: Vec<Option<(f64, f64)>>,
    /// Whether the cell can still change.
    pub incomplete: Vec<Option<bool>>,
    /// Whether a complete cell's last period ends after the project's last stored event: the data stops inside
    /// it, so it is measured on part of a period (imported history). Such cells leave the mean with
    /// `exclude_partial_periods`.
    pub beyond_data: Vec<Option<bool>>,
}

/// The cohort-size-weighted mean curve (retention.md §12.3).
#[derive(Debug, Clone, PartialEq)]
pub struct Mean {
    /// Project.
    pub project: String,
    /// Breakdown value.
    pub breakdown_value: Option<String>,
    /// Whether this is the Other bucket.
    pub is_other: bool,
    /// Mean rate per column.
    pub rates: Vec<Option<f64>>,
    /// Its Wilson interval.
    pub ci95: Vec<Option<(f64, f64)>>,
    /// Rows that entered each column's mean.
    pub rows_used: Vec<u64>,
    /// Persons (Σ sizes) behind each column's mean.
    pub persons: Vec<u64>,
}

impl Plan {
    /// What to read for each project.
    /// Whether the answer depends only on which UTC hours each person was active in with which events: periods
    /// start on whole hours (a zone whose offsets are whole hours), no 24-hour windows, no count of returns per
    /// period, no event properties and no tie between simultaneous events to break.
    fn hour_grain(&self) -> bool {
        !self.needs_uuid
            && !self.needs_event_properties
            && window_length(&self.params).is_none()
            && self.params.minimum_occurrences <= 1
            && self.window.grid.aligned(crate::table::HOUR_US)
    }

    pub fn scan(&self) -> Scan {
        Scan {
            from: self.scan_from,
            to: self.scan_to,
            as_of: self.as_of,
            uuid: self.needs_uuid,
            event_properties: self.needs_event_properties,
            property_keys: None,
            property_events: None,
            person_properties: self.needs_person_properties,
            numeric: Vec::new(),
            created_at: false,
            person_ids: false,
            payments: false,
            events: crate::table::event_filter([&self.params.target, &self.params.returning]),
            personless: self.params.common.personless,
            costs: None,
            hour_grain: self.hour_grain(),
            periods: self.period_scan(),
        }
    }

    /// Per-period person sets answer this report when which persons had which named events in which periods
    /// decides it alone: no breakdown, no filter, calendar periods, one returning event per period, no tie between
    /// simultaneous events to break, and one list of non-activity events for every project.
    fn period_scan(&self) -> Option<crate::table::PeriodScan> {
        let p = &self.params;
        let c = &p.common;
        let non_activity = c.non_activity_events(c.projects.first()?);
        let plain = !self.needs_uuid
            && !self.needs_event_properties
            && !self.needs_person_properties
            && c.breakdown.is_none()
            && window_length(p).is_none()
            && p.minimum_occurrences <= 1
            && p.target.properties.is_empty()
            && p.returning.properties.is_empty()
            && c.projects.iter().all(|project| {
                c.global_filters(project).is_empty()
                    && c.non_activity_events(project) == non_activity
            });
        let names = |e: &Entity| {
            e.event
                .names()
                .map(|n| n.iter().map(|s| s.to_string()).collect())
        };
        plain.then(|| crate::table::PeriodScan {
            starts: (0..self.window.grid.len())
                .map(|k| self.window.grid.start(k))
                .collect(),
            end: self.window.grid.end(),
            start_events: names(&p.target),
            returning_events: names(&p.returning),
            non_activity,
        })
    }
}

/// Resolves parameters into a plan with the default limits.
///
/// # Errors
/// [`Error::Invalid`] naming the parameter.
pub fn plan(params: RetentionParams, now_us: i64) -> Result<Plan> {
    plan_with(params, now_us, &Limits::default())
}

fn plan_with(mut params: RetentionParams, now_us: i64, limits: &Limits) -> Result<Plan> {
    params.validate()?;
    let resolved = params.common.resolve(now_us)?;
    let (tz, as_of) = (resolved.tz, resolved.as_of);
    let date_to = resolved.date_to.unwrap_or(as_of);
    let window = window::resolve_window(
        params.period,
        &tz,
        params.common.week_start(),
        params.total_intervals,
        resolved.date_from,
        date_to,
    )?;
    let columns = match &params.custom_brackets {
        Some(b) => b.len() as u64 + 1,
        None => u64::from(params.total_intervals),
    };
    limits.check_cells("date_from", window.grid.len() as u64 * columns)?;
    let all_filters = || {
        params
            .common
            .all_global_filters()
            .chain(&params.target.properties)
            .chain(&params.returning.properties)
    };
    let breakdown_kind = params.common.breakdown.as_ref().map(|b| b.kind);
    let needs_event_properties = all_filters().any(|f| f.kind == PropertyKind::Event)
        || breakdown_kind == Some(PropertyKind::Event);
    let needs_person_properties = all_filters().any(|f| f.kind == PropertyKind::Person)
        || breakdown_kind == Some(PropertyKind::Person);
    let scan_from = match params.retention_type {
        RetentionType::Recurring => Some(window.first),
        _ => None,
    };
    let scan_to = window.end.min(as_of.saturating_add(1));
    let needs_uuid = match params.retention_type {
        // A 24-hour row's anchor is the first start event in the window, and with an event breakdown its value.
        RetentionType::Recurring => {
            params.time_window_mode == crate::params::TimeWindowMode::Hours24
                && breakdown_kind == Some(PropertyKind::Event)
        }
        RetentionType::FirstTime => breakdown_kind == Some(PropertyKind::Event),
        // Without entity filters the earliest anchor is the earliest start event, which is first-time's rule
        // (§6): no tie between simultaneous events changes a person's row.
        RetentionType::FirstEver => {
            !params.target.properties.is_empty() || breakdown_kind == Some(PropertyKind::Event)
        }
    };
    Ok(Plan {
        params,
        tz,
        scan_from,
        scan_to,
        as_of,
        window,
        needs_event_properties,
        needs_person_properties,
        needs_uuid,
    })
}

/// Computes the report over one table per project (in the order of `params.projects`), with the default limits.
///
/// # Errors
/// [`Error::Invalid`] when a filter cannot be compiled (already checked by `plan`).
pub fn run(plan: &Plan, tables: &[&EventTable]) -> Result<RetentionReport> {
    run_with(plan, tables, &Limits::default())
}

fn run_with(plan: &Plan, tables: &[&EventTable], limits: &Limits) -> Result<RetentionReport> {
    let mut counted = Vec::with_capacity(tables.len());
    for &t in tables {
        limits.check_time()?;
        counted.push(count(plan, t, limits)?);
    }
    from_counts(plan, tables, counted, limits)
}

/// One project's retention counts, however they were computed (this crate's kernel, or SQL on another engine):
/// the breakdown values (bucket `b` is `values[b]`; one unnamed bucket without a breakdown) and the counts per
/// bucket, row and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// The breakdown value of each bucket.
    pub values: Vec<String>,
    /// Persons per bucket, row and column (column 0: the cohort size).
    pub counts: kernels::CohortCounts,
}

/// Per column j ≥ 1, the period offsets it covers (inclusive): one offset each, or custom brackets (§14).
pub fn spans(p: &RetentionParams) -> Vec<(usize, usize)> {
    match &p.custom_brackets {
        None => (1..p.total_intervals as usize).map(|j| (j, j)).collect(),
        Some(brackets) => {
            let mut start = 1usize;
            brackets
                .iter()
                .map(|&b| {
                    let span = (start, start + b as usize - 1);
                    start += b as usize;
                    span
                })
                .collect()
        }
    }
}

/// The fixed period length of 24-hour windows (§14), `None` in calendar mode.
fn window_length(p: &RetentionParams) -> Option<i64> {
    (p.time_window_mode == crate::params::TimeWindowMode::Hours24).then(|| {
        let hour = 3_600_000_000i64;
        match p.period {
            Period::Hour => hour,
            Period::Day => 24 * hour,
            Period::Week => 7 * 24 * hour,
            Period::Month => 30 * 24 * hour,
        }
    })
}

/// The kernel's settings for `p`, with per-column spans `spans` (see [`spans`]).
fn kernel_config(
    p: &RetentionParams,
    spans: Vec<(usize, usize)>,
    buckets: BucketMode,
    n_buckets: usize,
    n_persons: usize,
) -> RetentionConfig {
    RetentionConfig {
        mode: match p.retention_type {
            RetentionType::Recurring => Mode::Recurring,
            RetentionType::FirstTime => Mode::FirstTime,
            RetentionType::FirstEver => Mode::FirstEver,
        },
        columns: spans.len() + 1,
        spans,
        min_occurrences: p.minimum_occurrences,
        cumulative: p.cumulative,
        buckets,
        n_buckets,
        n_persons,
    }
}

/// Computes one project's counts with the kernel.
fn count(plan: &Plan, t: &EventTable, limits: &Limits) -> Result<Counted> {
    let p = &plan.params;
    let rows_n = plan.window.grid.len();
    let spans = spans(p);
    let cols_n = spans.len() + 1;
    let window_length = window_length(p);
    let compile = |list: &[Filter]| -> Result<Vec<Compiled>> {
        list.iter()
            .map(|f| filter::compile(f).map_err(|m| Error::invalid("properties", m)))
            .collect()
    };
    if let Some(sets) = &t.sets {
        // The engine built the sets this plan's scan asked for: they hold the counts.
        let cfg = kernel_config(p, spans, BucketMode::None, 1, t.n_persons);
        let counts = sets
            .counts(&cfg, rows_n)
            .filter(|_| plan.period_scan().is_some())
            .ok_or_else(|| {
                Error::invalid(
                    "retention",
                    "the table's period sets do not answer these parameters",
                )
            })?;
        return Ok(Counted {
            values: vec![String::new()],
            counts,
        });
    }
    let target_filters = compile(&p.target.properties)?;
    let returning_filters = compile(&p.returning.properties)?;
    let n = t.ts.len();
    let global = compile(&p.common.global_filters(&t.project))?;
    let names_target = name_mask(&t.names, &p.target, &p.common, &t.project);
    let names_returning = name_mask(&t.names, &p.returning, &p.common, &t.project);
    let person_cache: Vec<(bool, bool, bool)> = if t.person_properties.is_empty() {
        Vec::new()
    } else {
        t.person_properties
            .iter()
            .map(|pp| {
                (
                    all_match(&global, None, Some(pp)),
                    all_match(&target_filters, None, Some(pp)),
                    all_match(&returning_filters, None, Some(pp)),
                )
            })
            .collect()
    };
    // Without event filters and person filters, an event's name decides alone.
    let event_filters = |f: &[Compiled]| f.iter().any(|f| f.kind == PropertyKind::Event);
    let by_name_only = person_cache.is_empty()
        && !event_filters(&global)
        && !event_filters(&target_filters)
        && !event_filters(&returning_filters);
    let mut start = vec![false; n];
    // Decided by name alone, the anchors are the start events (`start` below), so no column of their own is filled.
    let mut anchor = vec![false; if by_name_only { 0 } else { n }];
    let mut returning = vec![false; n];
    // Events after as_of never count (anchors are searched up to as_of only).
    let in_time = |i: usize| t.ts[i] <= plan.as_of;
    if by_name_only {
        // Each event's name decides alone: one independent step per event, in parallel.
        use rayon::prelude::*;
        start
            .par_iter_mut()
            .zip(returning.par_iter_mut())
            .enumerate()
            .with_min_len(1 << 14)
            .for_each(|(i, (s, r))| {
                if in_time(i) {
                    let name = t.name[i] as usize;
                    (*s, *r) = (names_target[name], names_returning[name]);
                }
            });
    }
    for i in (0..n).filter(|_| !by_name_only) {
        if !in_time(i) {
            continue;
        }
        let name = t.name[i] as usize;
        let (nt, nr) = (names_target[name], names_returning[name]);
        if !nt && !nr {
            continue;
        }
        let ev = t.properties.get(i);
        let pc = person_cache.get(t.person[i] as usize);
        let g = event_side(&global, ev) && pc.is_none_or(|c| c.0);
        if !g {
            continue;
        }
        if nt {
            anchor[i] = true;
            start[i] = event_side(&target_filters, ev) && pc.is_none_or(|c| c.1);
        }
        if nr {
            returning[i] = event_side(&returning_filters, ev) && pc.is_none_or(|c| c.2);
        }
    }
    // Breakdown buckets: dense ids per distinct string form.
    let crate::breakdown::Values {
        values,
        event: event_bucket,
        person: person_bucket,
    } = crate::breakdown::Values::of(p.common.breakdown.as_ref(), t);
    let mode = match p.common.breakdown.as_ref().map(|b| b.kind) {
        None => BucketMode::None,
        Some(PropertyKind::Event) => BucketMode::Event,
        Some(PropertyKind::Person) => BucketMode::Person,
    };
    let cfg = kernel_config(p, spans, mode, values.len(), t.n_persons);
    let cols = RetentionColumns {
        person: &t.person,
        ts: &t.ts,
        uuid: &t.uuid,
        start: &start,
        anchor: if by_name_only { &start } else { &anchor },
        returning: &returning,
        event_bucket: &event_bucket,
        person_bucket: &person_bucket,
    };
    limits.check_cells(
        "breakdown",
        values.len() as u64 * rows_n as u64 * cols_n as u64,
    )?;
    let counts = match window_length {
        None => kernels::retention(&cols, &plan.window.grid, &cfg),
        Some(len) => {
            kernels::retention_24h(&cols, plan.window.first, plan.window.end, len, rows_n, &cfg)
        }
    };
    Ok(Counted { values, counts })
}

/// Builds the report from each project's counts (one per table, in the order of `params.projects`): rates,
/// intervals, incomplete cells, breakdown ranking, means, notes and provenance. The tables give the projects and what
/// was read (`data`, `names`); their event columns are not read.
///
/// # Errors
/// [`Error::TimedOut`] past the deadline.
pub fn from_counts(
    plan: &Plan,
    tables: &[&EventTable],
    counted: Vec<Counted>,
    limits: &Limits,
) -> Result<RetentionReport> {
    let p = &plan.params;
    let rows_n = plan.window.grid.len();
    let spans = spans(p);
    let cols_n = spans.len() + 1;
    let window_length = window_length(p);
    let row_start = |k: usize| match window_length {
        None => plan.window.grid.start(k),
        Some(len) => plan.window.first + k as i64 * len,
    };
    let mut rows = Vec::new();
    let mut means = Vec::new();
    let mut kept_values = Vec::new();
    let mut notes = Vec::new();
    for (&t, Counted { values, counts }) in tables.iter().zip(counted) {
        limits.check_time()?;
        let mut beyond_cells = 0u64;
        // Rank buckets: score = Σ sizes, then value bytewise; keep `limit`, fold the rest into Other.
        let groups: Vec<(Option<String>, bool, Vec<usize>)> = match &p.common.breakdown {
            None => vec![(None, false, vec![0])],
            Some(b) => {
                let scores: Vec<u64> = (0..values.len())
                    .map(|v| (0..rows_n).map(|k| counts.get(v, k, 0)).sum())
                    .collect();
                let r = crate::breakdown::rank(&values, &scores, b.limit);
                r.members()
                    .into_iter()
                    .zip(r.groups)
                    .map(|(m, (value, other))| (value, other, m))
                    .collect()
            }
        };
        kept_values.push((
            t.project.clone(),
            groups.iter().map(|g| g.0.clone()).collect::<Vec<_>>(),
        ));
        for (value, is_other, members) in &groups {
            let cell =
                |k: usize, j: usize| members.iter().map(|&v| counts.get(v, k, j)).sum::<u64>();
            let mut mean_x = vec![0u64; cols_n];
            let mut mean_n = vec![0u64; cols_n];
            let mut rows_used = vec![0u64; cols_n];
            for k in 0..rows_n {
                let size = cell(k, 0);
                let mut r = Row {
                    project: t.project.clone(),
                    breakdown_value: value.clone(),
                    is_other: *is_other,
                    label: format!("{} {k}", p.period.title()),
                    cohort_start: window::format_local(row_start(k), &plan.tz),
                    size,
                    counts: Vec::with_capacity(cols_n),
                    rates: Vec::with_capacity(cols_n),
                    ci95: Vec::with_capacity(cols_n),
                    incomplete: Vec::with_capacity(cols_n),
                    beyond_data: Vec::with_capacity(cols_n),
                };
                let span = |j: usize| if j == 0 { (0, 0) } else { spans[j - 1] };
                // The row's last column that starts inside the window, and the last period it reaches.
                let last_col = (0..cols_n)
                    .take_while(|&j| k + span(j).0 < rows_n)
                    .last()
                    .unwrap_or(0);
                for j in 0..cols_n {
                    if k + span(j).0 >= rows_n {
                        r.counts.push(None);
                        r.rates.push(None);
                        r.ci95.push(None);
                        r.incomplete.push(None);
                        r.beyond_data.push(None);
                        continue;
                    }
                    let x = cell(k, j);
                    // A cell can change while any period it depends on is unfinished or beyond the window.
                    let until = k + if p.cumulative {
                        span(last_col).1
                    } else {
                        span(j).1
                    };
                    let period_end = match window_length {
                        None => (until < rows_n).then(|| plan.window.grid.end_of(until)),
                        // An anchor anywhere in row k puts offset j inside [F + (k+j)·P, F + (k+j+2)·P).
                        Some(len) => {
                            let periods = if j == 0 { k + 1 } else { k + j + 2 };
                            Some(plan.window.first + periods as i64 * len)
                        }
                    };
                    let incomplete = period_end.is_none_or(|end| end > plan.as_of);
                    // Complete, yet the data stops before the period ends (docs/retention.md).
                    let beyond = !incomplete
                        && matches!((period_end, t.data.last_event), (Some(end), Some(last)) if end > last + 1);
                    beyond_cells += u64::from(beyond && size > 0);
                    r.counts.push(Some(x));
                    r.incomplete.push(Some(incomplete));
                    r.beyond_data.push(Some(beyond));
                    if size == 0 {
                        r.rates.push(None);
                        r.ci95.push(None);
                    } else if j == 0 {
                        r.rates.push(Some(1.0));
                        r.ci95.push(None);
                    } else {
                        r.rates.push(Some(round6(x as f64 / size as f64)));
                        r.ci95
                            .push(wilson(x, size).map(|(a, b)| (round6(a), round6(b))));
                    }
                    let left_out = incomplete || (beyond && p.exclude_partial_periods);
                    if !left_out && size > 0 {
                        mean_x[j] += x;
                        mean_n[j] += size;
                        rows_used[j] += 1;
                    }
                }
                rows.push(r);
            }
            means.push(Mean {
                project: t.project.clone(),
                breakdown_value: value.clone(),
                is_other: *is_other,
                rates: (0..cols_n)
                    .map(|j| (mean_n[j] > 0).then(|| round6(mean_x[j] as f64 / mean_n[j] as f64)))
                    .collect(),
                ci95: (0..cols_n)
                    .map(|j| {
                        if j == 0 {
                            None
                        } else {
                            wilson(mean_x[j], mean_n[j]).map(|(a, b)| (round6(a), round6(b)))
                        }
                    })
                    .collect(),
                rows_used,
                persons: mean_n,
            });
        }
        if let (true, Some(last)) = (beyond_cells > 0, t.data.last_event) {
            let last = window::format_utc(last);
            let zh = p.common.lang == crate::params::Lang::ZhCn;
            let text = match (zh, p.exclude_partial_periods) {
                (false, excluded) => format!(
                    "the data of project {:?} ends at {last}, before the periods of {beyond_cells} cells end: the \
                     data may cover them only in part, or not at all, so they are marked `~`; {}",
                    t.project,
                    if excluded {
                        "they are left out of the mean"
                    } else {
                        "they count in the mean (retention.md §12.3); exclude_partial_periods \
                         (--exclude-partial-periods) leaves them out"
                    }
                ),
                (true, excluded) => format!(
                    "项目 {:?} 的数据止于 {last}，早于 {beyond_cells} 个单元格的周期结束：数据可能只覆盖这些周期的一部分，甚至完全没有覆盖，因此标为 `~`；{}",
                    t.project,
                    if excluded {
                        "均值不计入它们"
                    } else {
                        "均值仍计入它们（retention.md §12.3），exclude_partial_periods（--exclude-partial-periods）可将其排除"
                    }
                ),
            };
            notes.push(Note {
                code: "partial_periods",
                project: t.project.clone(),
                text,
            });
        }
    }
    let ends_before_as_of = plan.window.end <= plan.as_of;
    if ends_before_as_of {
        let end = window::format_local(plan.window.end, &plan.tz);
        notes.push(Note {
            code: "window_ends_before_as_of",
            project: String::new(),
            text: if p.common.lang == crate::params::Lang::ZhCn {
                format!(
                    "窗口止于 {end}（date_to），早于 as_of：此后的回访事件同样不计，所以之后的单元格留空（标为 `·`），而不是零"
                )
            } else {
                format!(
                    "the window ends at {end} (date_to), before as_of: returning events after it are not counted \
                     either, so the cells after it are blank (marked `·`), not zero"
                )
            },
        });
    }
    let mut provenance = Provenance::of(plan.as_of, tables, p.common.lang);
    provenance.notes.extend(notes);
    Ok(RetentionReport {
        definition: definition(p),
        params: p.clone(),
        window: WindowInfo {
            first_period: window::format_local(plan.window.first, &plan.tz),
            last_period: window::format_local(plan.window.last, &plan.tz),
            end_exclusive: window::format_local(plan.window.end, &plan.tz),
            rows: rows_n,
            columns: cols_n,
            ends_before_as_of,
        },
        columns: (0..cols_n)
            .map(|j| match j {
                0 => format!("{} 0", p.period.title()),
                _ => match spans[j - 1] {
                    (lo, hi) if lo == hi => format!("{} {lo}", p.period.title()),
                    (lo, hi) => format!("{} {lo}-{hi}", p.period.title()),
                },
            })
            .collect(),
        rows,
        mean: means,
        breakdown_values: p.common.breakdown.as_ref().map(|_| kept_values),
        provenance,
    })
}

/// Per event name of `project`'s table: does the entity's name list (or "any activity event", leaving out the
/// project's non-activity events) match?
pub(crate) fn name_mask(
    names: &[String],
    entity: &Entity,
    common: &Common,
    project: &str,
) -> Vec<bool> {
    match entity.event.names() {
        None => names
            .iter()
            .map(|n| !common.is_non_activity(project, n))
            .collect(),
        Some(list) => names.iter().map(|n| list.contains(&n.as_str())).collect(),
    }
}

/// Whether the event filters among `filters` match `props` (no properties: an empty object). Called per event, so
/// without event filters it touches no map at all.
pub(crate) fn event_side(filters: &[Compiled], props: Option<&Map<String, Value>>) -> bool {
    side(filters, PropertyKind::Event, props)
}

pub(crate) fn all_match(
    filters: &[Compiled],
    _event: Option<&Map<String, Value>>,
    person: Option<&Map<String, Value>>,
) -> bool {
    side(filters, PropertyKind::Person, person)
}

fn side(filters: &[Compiled], kind: PropertyKind, props: Option<&Map<String, Value>>) -> bool {
    let mut of_kind = filters.iter().filter(|f| f.kind == kind).peekable();
    if of_kind.peek().is_none() {
        return true;
    }
    match props {
        Some(props) => of_kind.all(|f| f.matches(props)),
        None => {
            let empty = Map::new();
            of_kind.all(|f| f.matches(&empty))
        }
    }
}

/// The one-sentence definition (retention.md §13.5), in the report's language.
pub fn definition(p: &RetentionParams) -> String {
    if p.common.lang == crate::params::Lang::ZhCn {
        return definition_zh(p);
    }
    let period = p.period.noun();
    let week = match (p.period, p.common.week_start()) {
        (Period::Week, WeekStart::Monday) => "weeks start Monday, ",
        (Period::Week, WeekStart::Sunday) => "weeks start Sunday, ",
        _ => "",
    };
    let target = entity_text(&p.target);
    // "first any activity event" reads badly: drop the "any" after "first".
    let first_target = target
        .strip_prefix("any ")
        .map_or(target.clone(), str::to_string);
    let start = match p.retention_type {
        RetentionType::Recurring => format!("Of persons who did {target} in a {period}"),
        RetentionType::FirstTime => {
            format!("Of persons whose first {first_target} happened in a {period}")
        }
        RetentionType::FirstEver => {
            format!("Of persons whose first-ever {first_target} happened in a {period}")
        }
    };
    let times = if p.minimum_occurrences > 1 {
        format!(" at least {} times", p.minimum_occurrences)
    } else {
        String::new()
    };
    let brackets = match &p.custom_brackets {
        Some(b) => format!(
            " (in brackets of {} {period}s)",
            b.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        ),
        None => String::new(),
    };
    let windows = if p.time_window_mode == crate::params::TimeWindowMode::Hours24 {
        format!(" (in {period}-long windows from each person's first start event)")
    } else {
        String::new()
    };
    let later = if p.cumulative {
        format!("in each later {period} or any later one")
    } else {
        format!("in each later {period}")
    };
    let global = global_text(&p.common);
    let partial = if p.exclude_partial_periods {
        ", the mean leaving out periods that end after the data's last event"
    } else {
        ""
    };
    format!(
        "{start} ({week}{}), the share who did {}{times} {later}{brackets}{windows}{global}{partial}.",
        p.common.timezone(),
        entity_text(&p.returning)
    )
}

fn definition_zh(p: &RetentionParams) -> String {
    use crate::lang;
    let period = lang::period(p.period);
    let first = lang::first_of(&p.target);
    let start = match p.retention_type {
        RetentionType::Recurring => {
            format!("在某{period}做过{}的用户中", lang::entity(&p.target))
        }
        RetentionType::FirstTime => format!("首次{first}发生在某{period}的用户中"),
        RetentionType::FirstEver => format!("史上首次{first}发生在某{period}的用户中"),
    };
    let zone = lang::zone(p.period, p.common.week_start(), p.common.timezone());
    let later = if p.cumulative {
        format!("在此后每{period}或更晚的任一{period}")
    } else {
        format!("在此后每{period}")
    };
    let times = if p.minimum_occurrences > 1 {
        format!("至少 {} 次", p.minimum_occurrences)
    } else {
        String::new()
    };
    let brackets = match &p.custom_brackets {
        Some(b) => format!(
            "（按 {} {}分段）",
            b.iter().map(u32::to_string).collect::<Vec<_>>().join("、"),
            lang::unit(p.period)
        ),
        None => String::new(),
    };
    let windows = if p.time_window_mode == crate::params::TimeWindowMode::Hours24 {
        format!(
            "（以每人首次起始事件起、长为 1 {}的窗口计）",
            lang::unit(p.period)
        )
    } else {
        String::new()
    };
    let partial = if p.exclude_partial_periods {
        "，均值不计在数据最后一个事件之后才结束的周期"
    } else {
        ""
    };
    format!(
        "{start}{zone}，{later}做过{}{times}的比例{brackets}{windows}{}{partial}。",
        lang::entity(&p.returning),
        lang::global(&p.common)
    )
}

/// The global filters in a definition: `, counting only events where …`, and `, leaving out test accounts` with
/// `filter_test_accounts`; empty without either.
pub(crate) fn global_text(c: &Common) -> String {
    let mut out = String::new();
    if !c.properties.is_empty() {
        out = format!(
            ", counting only events where {}",
            filters_text(&c.properties)
        );
    }
    if c.filter_test_accounts {
        out.push_str(", leaving out test accounts (each project's test-account filters)");
    }
    out
}

pub(crate) fn entity_text(e: &Entity) -> String {
    let names = match e.event.names() {
        None => "any activity event".to_string(),
        Some(list) => list
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(" or "),
    };
    if e.properties.is_empty() {
        names
    } else {
        format!("{names} where {}", filters_text(&e.properties))
    }
}

pub(crate) fn filters_text(filters: &[Filter]) -> String {
    filters
        .iter()
        .map(|f| {
            let op = serde_json::to_value(f.operator)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let who = if f.kind == PropertyKind::Person {
                "person."
            } else {
                ""
            };
            match (&f.value, f.operator) {
                (_, Operator::IsSet | Operator::IsNotSet) | (None, _) => {
                    format!("{who}{} {op}", f.key)
                }
                (Some(v), _) => format!("{who}{} {op} {v}", f.key),
            }
        })
        .collect::<Vec<_>>()
        .join(" and ")
}
