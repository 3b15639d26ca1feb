//! The growth milestones report (activity.md §4): for each project, day 0, the number of persons arrived (or
//! monthly actives) by each local day, and the days it took to reach each milestone, so that projects can be put
//! side by side by days since their day 0.
//!
//! The engine's tables already resolve persons through the identity map as of `as_of`, so merges are retroactive
//! (rule 5) without anything here; personless persons are left out by the scan.

pub mod params;
mod render;

pub use params::{Fields, GrowthParams, LaunchDate, Metric};

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use kernels::activity::{Days, NONE, rolling_distinct};
use kernels::growth::cumulative_first_days;

use crate::error::{Error, Result};
use crate::filter::{self, Compiled};
use crate::kind::{Limits, ReportKind};
use crate::params::{Params, Period, PropertyKind, WeekStart};
use crate::provenance::{ProjectProvenance, Provenance};
use crate::retention::{all_match, entity_text, event_side, global_text, name_mask};
use crate::table::{EventTable, Scan};
use crate::window;

/// Days of daily points before the curve thins to one point a week (rule 6: "past 2 years").
pub const DAILY_DAYS: u64 = 730;

/// The rolling window of `metric = mau`, in local days.
pub const MAU_DAYS: u32 = 30;

/// The growth report kind.
#[derive(Debug, Clone, Copy)]
pub struct Growth;

impl ReportKind for Growth {
    type Fields = Fields;
    type Plan = Plan;
    type Output = GrowthReport;

    fn plan(params: Params<Fields>, now_us: i64, _limits: &Limits) -> Result<Plan> {
        plan(params, now_us)
    }

    fn params(plan: &Plan) -> &Params<Fields> {
        &plan.params
    }

    fn scan(plan: &Plan) -> Scan {
        plan.scan()
    }

    fn run(plan: &Plan, tables: &[&EventTable], limits: &Limits) -> Result<GrowthReport> {
        run(plan, tables, limits)
    }

    fn event_names(plan: &Plan) -> Vec<String> {
        crate::kind::entity_names([&plan.params.entity])
    }
}

/// A resolved growth request.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Parameters with every default resolved (echoed in the report); `launch_date` is always an object.
    pub params: GrowthParams,
    /// The query time zone.
    pub tz: TimeZone,
    /// The moment the report describes, UTC µs.
    pub as_of: i64,
    /// Start of as_of's local day: the last day of every curve, and incomplete.
    pub as_of_day: i64,
    /// Day 0 per project from `launch_date`, as the start of that local day.
    pub launch: BTreeMap<String, i64>,
    /// Event properties must be loaded.
    pub needs_event_properties: bool,
    /// Person properties must be loaded.
    pub needs_person_properties: bool,
}

/// A growth report: plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthReport {
    /// One sentence saying what is counted.
    pub definition: String,
    /// The resolved parameters.
    pub params: GrowthParams,
    /// The query time zone.
    pub timezone: String,
    /// as_of, RFC 3339 UTC.
    pub as_of: String,
    /// The local day before as_of's, `YYYY-MM-DD`.
    pub last_complete_day: String,
    /// What the values count.
    pub metric: Metric,
    /// One entry per project, in the order of `projects`.
    pub projects: Vec<ProjectGrowth>,
    /// Where the numbers came from.
    pub provenance: Provenance,
}

/// One project's growth.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectGrowth {
    /// Project.
    pub project: String,
    /// Day 0, `YYYY-MM-DD`; `None` without a launch date and without a matching event.
    pub day0: Option<String>,
    /// The launch date given for the project, if any.
    pub launch_date: Option<String>,
    /// One entry per milestone, in the order given.
    pub milestones: Vec<Milestone>,
    /// C(d) from day 0 to as_of's day, daily for [`DAILY_DAYS`] days and weekly after.
    pub curve: Vec<Point>,
    /// C(last complete day) (0 when that day is before the first matching event).
    pub current: u64,
    /// The project's own provenance and fingerprint.
    pub provenance: ProjectProvenance,
}

/// When a project reached a milestone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Milestone {
    /// The milestone.
    pub n: u64,
    /// The first day on or after day 0 with C(d) ≥ n.
    pub reached_on: Option<String>,
    /// `reached_on` − day 0, in local days.
    pub days: Option<u64>,
    /// C(last complete day), when not reached.
    pub current: Option<u64>,
}

/// One point of a curve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// Local day, `YYYY-MM-DD`.
    pub day: String,
    /// Days since day 0.
    pub days_since_d0: u64,
    /// C(day).
    pub value: u64,
    /// The day has not ended by as_of.
    pub incomplete: bool,
}

impl Plan {
    /// What to read for each project: all history up to as_of.
    pub fn scan(&self) -> Scan {
        Scan {
            from: None,
            to: self.as_of.saturating_add(1),
            as_of: self.as_of,
            uuid: false,
            event_properties: self.needs_event_properties,
            property_keys: None,
            property_events: None,
            person_properties: self.needs_person_properties,
            numeric: Vec::new(),
            created_at: false,
            person_ids: false,
            payments: false,
            events: None,
            personless: self.params.common.personless,
            hour_grain: false,
            periods: None,
            costs: None,
        }
    }
}

/// Resolves parameters into a plan.
///
/// # Errors
/// [`Error::Invalid`] naming the parameter.
pub fn plan(mut params: GrowthParams, now_us: i64) -> Result<Plan> {
    params.validate()?;
    let resolved = params.common.resolve(now_us)?;
    let (tz, as_of) = (resolved.tz, resolved.as_of);
    let as_of_day = day_start("as_of", as_of, &tz)?;
    let projects = params.common.projects.clone();
    let mut dates = BTreeMap::new();
    let mut launch = BTreeMap::new();
    for project in &projects {
        if let Some(d) = params.launch_date_of(project, &projects) {
            let start = window::resolve_date("launch_date", d, &tz, as_of)?;
            launch.insert(project.clone(), day_start("launch_date", start, &tz)?);
            dates.insert(project.clone(), d.to_string());
        }
    }
    params.launch_date = (!dates.is_empty()).then_some(LaunchDate::PerProject(dates));
    let filters = || {
        params
            .common
            .all_global_filters()
            .chain(&params.entity.properties)
    };
    let needs_event_properties = filters().any(|f| f.kind == PropertyKind::Event);
    let needs_person_properties = filters().any(|f| f.kind == PropertyKind::Person);
    Ok(Plan {
        params,
        tz,
        as_of,
        as_of_day,
        launch,
        needs_event_properties,
        needs_person_properties,
    })
}

/// What another engine counts for one project: the instant of its first matching event and C(d) for each local day
/// of [`days`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrowthCounts {
    /// The first matching event up to as_of, UTC µs.
    pub first_ts: Option<i64>,
    /// C(d) per local day of [`days`] (empty when it gives none).
    pub values: Vec<u64>,
}

/// Computes the report over one table per project, in the order of `projects`.
///
/// # Errors
/// [`Error::TooLarge`] naming `as_of` when days of history × projects exceed the cell limit.
pub fn run(plan: &Plan, tables: &[&EventTable], limits: &Limits) -> Result<GrowthReport> {
    let p = &plan.params;
    let own = compile("entity.properties", &p.entity.properties)?;
    let mut counts = Vec::with_capacity(tables.len());
    for &t in tables {
        limits.check_time()?;
        let global = compile("properties", &p.common.global_filters(&t.project))?;
        counts.push(count(plan, t, &global, &own, tables.len(), limits)?);
    }
    from_counts(plan, tables, counts, limits)
}

/// The report from each project's [`GrowthCounts`], in the order of `tables`: milestones, day 0 and the thinned
/// curve, as [`run`] gives them.
///
/// # Errors
/// [`Error::TooLarge`] as [`run`]; [`Error::Invalid`] when the counts do not cover each project's [`days`].
pub fn from_counts(
    plan: &Plan,
    tables: &[&EventTable],
    counts: Vec<GrowthCounts>,
    limits: &Limits,
) -> Result<GrowthReport> {
    let p = &plan.params;
    let mut projects = Vec::with_capacity(tables.len());
    for (&t, c) in tables.iter().zip(counts) {
        projects.push(finish(plan, t, c, tables.len(), limits)?);
    }
    let last_complete = day_start("as_of", plan.as_of_day - 1, &plan.tz)?;
    Ok(GrowthReport {
        definition: definition(p),
        params: p.clone(),
        timezone: p.common.timezone().to_string(),
        as_of: window::format_utc(plan.as_of),
        last_complete_day: local_date(last_complete, &plan.tz),
        metric: p.metric,
        projects,
        provenance: Provenance::of(plan.as_of, tables, p.common.lang),
    })
}

fn compile(field: &str, list: &[crate::params::Filter]) -> Result<Vec<Compiled>> {
    list.iter()
        .map(|f| filter::compile(f).map_err(|m| Error::invalid(field, m)))
        .collect()
}

/// The starts of the local days a project's curve spans: from the earlier of its day 0 and the local day of
/// `first_ts` (its first matching event; events before a launch date count) to as_of's day. Empty when the project
/// has neither a launch date nor a matching event.
///
/// # Errors
/// [`Error::TooLarge`] naming `as_of` when days of history × `n_projects` exceed the cell limit.
pub fn days(
    plan: &Plan,
    project: &str,
    first_ts: Option<i64>,
    n_projects: usize,
    limits: &Limits,
) -> Result<Vec<i64>> {
    let first_day = first_ts
        .map(|ts| day_start("as_of", ts, &plan.tz))
        .transpose()?;
    let origin = match (first_day, plan.launch.get(project).copied()) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => return Ok(Vec::new()),
    };
    // Bound the day columns before sizing them: days of history × projects.
    let approx_days = (plan.as_of_day.saturating_sub(origin) / 86_400_000_000).max(0) as u64 + 2;
    limits.check_cells("as_of", approx_days.saturating_mul(n_projects as u64))?;
    let mut starts = Vec::new();
    let mut s = origin;
    while s <= plan.as_of_day {
        starts.push(s);
        s = window::next_period("as_of", s, Period::Day, &plan.tz)?;
    }
    Ok(starts)
}

/// One project's counts: matching events → day indexes → C(d).
fn count(
    plan: &Plan,
    t: &EventTable,
    global: &[Compiled],
    own: &[Compiled],
    n_projects: usize,
    limits: &Limits,
) -> Result<GrowthCounts> {
    let p = &plan.params;
    let names = name_mask(&t.names, &p.entity, &p.common, &t.project);
    let person_ok: Vec<bool> = if t.person_properties.is_empty() {
        Vec::new()
    } else {
        t.person_properties
            .iter()
            .map(|pp| all_match(global, None, Some(pp)) && all_match(own, None, Some(pp)))
            .collect()
    };
    let matching: Vec<bool> = (0..t.ts.len())
        .map(|i| {
            let ev = t.properties.get(i);
            t.ts[i] <= plan.as_of
                && names[t.name[i] as usize]
                && person_ok.get(t.person[i] as usize).copied().unwrap_or(true)
                && event_side(global, ev)
                && event_side(own, ev)
        })
        .collect();
    let first_ts = (0..t.ts.len())
        .filter(|&i| matching[i])
        .map(|i| t.ts[i])
        .min();
    let starts = days(plan, &t.project, first_ts, n_projects, limits)?;
    let n_days = starts.len();
    if n_days == 0 {
        return Ok(GrowthCounts::default());
    }
    let day: Vec<u32> = (0..t.ts.len())
        .map(|i| {
            if matching[i] {
                (starts.partition_point(|&b| b <= t.ts[i]) - 1) as u32
            } else {
                NONE
            }
        })
        .collect();
    let values = match p.metric {
        Metric::CumulativePersons => cumulative_first_days(&t.person, &day, t.n_persons, n_days),
        Metric::Mau => {
            let by_person = t.by_person();
            let days = Days {
                windows: vec![MAU_DAYS],
                first: 0,
                n_days,
                n_buckets: 1,
            };
            rolling_distinct(by_person, &day, &[], &[], &days)
                .pop()
                .unwrap_or_default()
        }
    };
    Ok(GrowthCounts { first_ts, values })
}

/// One project's milestones and curve from its counts.
fn finish(
    plan: &Plan,
    t: &EventTable,
    counts: GrowthCounts,
    n_projects: usize,
    limits: &Limits,
) -> Result<ProjectGrowth> {
    let p = &plan.params;
    let GrowthCounts { first_ts, values } = counts;
    let launch = plan.launch.get(&t.project).copied();
    let day0 = match launch {
        Some(d) => Some(d),
        None => first_ts
            .map(|ts| day_start("as_of", ts, &plan.tz))
            .transpose()?,
    };
    let launch_date = launch.map(|d| local_date(d, &plan.tz));
    let provenance = ProjectProvenance::of(t);
    let starts = days(plan, &t.project, first_ts, n_projects, limits)?;
    let Some(day0) = day0.filter(|_| !starts.is_empty()) else {
        return Ok(ProjectGrowth {
            project: t.project.clone(),
            day0: None,
            launch_date,
            milestones: p
                .milestones
                .iter()
                .map(|&n| Milestone {
                    n,
                    reached_on: None,
                    days: None,
                    current: Some(0),
                })
                .collect(),
            curve: Vec::new(),
            current: 0,
            provenance,
        });
    };
    let n_days = starts.len();
    if values.len() != n_days {
        return Err(Error::invalid(
            "as_of",
            format!(
                "counts for {n_days} days of project {:?} are needed, {} were given",
                t.project,
                values.len()
            ),
        ));
    }
    // as_of's day is the last one and has not ended; day 0 may lie after it (a future launch date).
    let d0 = starts.partition_point(|&b| b < day0);
    let current = n_days
        .checked_sub(2)
        .map_or(0, |last_complete| values[last_complete]);
    let milestones = p
        .milestones
        .iter()
        .map(|&n| match (d0..n_days).find(|&d| values[d] >= n) {
            Some(d) => Milestone {
                n,
                reached_on: Some(local_date(starts[d], &plan.tz)),
                days: Some((d - d0) as u64),
                current: None,
            },
            None => Milestone {
                n,
                reached_on: None,
                days: None,
                current: Some(current),
            },
        })
        .collect();
    let curve = (d0..n_days)
        .filter(|&d| {
            let since = (d - d0) as u64;
            since <= DAILY_DAYS || (since - DAILY_DAYS).is_multiple_of(7) || d + 2 >= n_days
        })
        .map(|d| Point {
            day: local_date(starts[d], &plan.tz),
            days_since_d0: (d - d0) as u64,
            value: values[d],
            incomplete: d + 1 == n_days,
        })
        .collect();
    Ok(ProjectGrowth {
        project: t.project.clone(),
        day0: Some(local_date(day0, &plan.tz)),
        launch_date,
        milestones,
        curve,
        current,
        provenance,
    })
}

/// The start of the local day that contains `us`.
fn day_start(field: &str, us: i64, tz: &TimeZone) -> Result<i64> {
    window::period_start(field, us, Period::Day, tz, WeekStart::Monday)
}

/// The local date of an instant, `YYYY-MM-DD`.
fn local_date(us: i64, tz: &TimeZone) -> String {
    let s = window::format_local(us, tz);
    s.split_once('T').map_or(s.clone(), |(d, _)| d.to_string())
}

/// The one-sentence definition (retention.md §13.5), in the report's language.
pub fn definition(p: &GrowthParams) -> String {
    if p.common.lang == crate::params::Lang::ZhCn {
        use crate::lang;
        let entity = lang::entity(&p.entity);
        let counted = match p.metric {
            Metric::CumulativePersons => {
                format!("截至每个自然日（当地时间）已做过{entity}的用户数")
            }
            Metric::Mau => {
                format!("截至每天的 {MAU_DAYS} 个自然日（当地时间）内做过{entity}的用户数")
            }
        };
        let milestones = p
            .milestones
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("、");
        return format!(
            "{counted}（{}）{}，自第 0 天（上线日，或项目首个此类事件之日）起，以及各项目达到 {milestones} 名用户所用的天数。",
            p.common.timezone(),
            lang::global(&p.common)
        );
    }
    let entity = entity_text(&p.entity);
    let counted = match p.metric {
        Metric::CumulativePersons => format!("Persons who had done {entity} by each local day"),
        Metric::Mau => {
            format!("Persons who did {entity} in the {MAU_DAYS} local days ending with each day")
        }
    };
    let global = global_text(&p.common);
    let milestones = p
        .milestones
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{counted} ({}){global}, from day 0 (the launch date, or the day of the project's first such event), \
         and the days each project took to reach {milestones}.",
        p.common.timezone()
    )
}
