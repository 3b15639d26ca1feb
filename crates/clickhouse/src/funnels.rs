//! The funnels report (funnels.md) compiled to ClickHouse SQL.
//!
//! SQL decides what a funnel reads (§3, §4): each event's person at `as_of`, its step roles (names, the step's
//! filters, and for first-time steps the person's first qualifying event over all history, §4.3), its exclusion
//! roles (§4.4), the global filters, and its breakdown value. It answers one row per read event, in person and time
//! order. The procedures of §5–§10 (attempts, conversion windows, exclusions, attribution) then run over those rows
//! in [`report::funnels::from_roles`], the same code the embedded engine runs over its own tables, so both engines
//! give byte-identical reports. The rows are the events that play a role (for strict order, every activity event
//! in range), not the whole table: a funnel of rare steps moves little, a strict funnel over busy persons moves
//! more.

use report::funnels::params::{Occurrence, Order};
use report::funnels::{Funnels, Plan, Roles};
use report::kind::ReportKind as _;
use report::params::Entity;

use crate::common;
use crate::filter::{compile, value_of};
use crate::sql::{Binder, Query};
use crate::{Error, Result};

/// Refuses what the compiler does not cover yet, naming the parameter. Every funnel parameter is covered: time
/// zones and periods are applied to the answer's instants by the report crate, not in SQL.
///
/// # Errors
/// None today.
pub fn check(_plan: &Plan) -> Result<()> {
    Ok(())
}

/// The conditions over `ev` of step `k` (names and filters) and of its names alone.
fn step_conditions(
    plan: &Plan,
    b: &mut Binder,
    project: &str,
    k: usize,
) -> Result<(String, String)> {
    let step = &plan.params.steps[k];
    let names = common::names(b, &step.entity(), &plan.params.common, project);
    let own = compile(b, &step.properties)?;
    Ok((format!("({names}) AND ({})", common::all(&own)), names))
}

/// The global filters, for the project.
fn global(plan: &Plan, b: &mut Binder, project: &str) -> Result<String> {
    let g = compile(b, &plan.params.common.global_filters(project))?;
    Ok(common::all(&g))
}

/// The earliest event matching a step and the global filters up to the report's end (`date_from = all`, §3.1.1).
///
/// # Errors
/// [`Error::Report`] for an invalid filter.
pub fn earliest_query(plan: &Plan, project: &str) -> Result<Query> {
    let scan = Funnels::scan(plan);
    let mut b = Binder::default();
    let head = common::head(&scan, &mut b, project);
    let in_range = common::range(&scan, &mut b);
    let g = global(plan, &mut b, project)?;
    let mut any_step = Vec::new();
    for k in 0..plan.params.n() {
        any_step.push(format!(
            "({})",
            step_conditions(plan, &mut b, project, k)?.0
        ));
    }
    Ok(b.finish(common::earliest(
        &head,
        &format!(
            "{in_range} AND person NOT IN excluded AND ({g}) AND ({})",
            any_step.join(" OR ")
        ),
    )))
}

/// Every read event of the project from `from` (the lower bound): `person ts uuid steps exclusions value…`, one
/// hex column per breakdown property, in person and (timestamp, uuid) order.
///
/// # Errors
/// [`Error::Report`] for an invalid filter.
pub fn events_query(plan: &Plan, from: i64, project: &str) -> Result<Query> {
    let p = &plan.params;
    let scan = Funnels::scan(plan);
    let mut b = Binder::default();
    let head = common::head(&scan, &mut b, project);
    // The rows a funnel loads: up to the report's end (as_of is cut by `ev`), all history when a first-time step
    // needs it, every event for strict order and the steps' and exclusions' names otherwise.
    let loaded = common::range(&scan, &mut b);
    let g = global(plan, &mut b, project)?;
    let first = b.int(from);
    let last = b.int(plan.to_inclusive);
    let mut columns = Vec::new();
    let mut anchors = Vec::new();
    let mut joins = Vec::new();
    let mut steps = Vec::new();
    for (k, step) in p.steps.iter().enumerate() {
        let (cond, names) = step_conditions(plan, &mut b, project, k)?;
        columns.push(format!("({cond}) AS c{k}"));
        let bit = b.uint(1u64 << k);
        match step.occurrence {
            Occurrence::Any => steps.push(format!("if(c{k}, {bit}, 0)")),
            occurrence => {
                let anchor = match occurrence {
                    Occurrence::FirstEver => names,
                    _ => cond,
                };
                anchors.push(format!(
                    "a{k} AS (SELECT person, min((ts, uid)) AS first FROM r WHERE {anchor} GROUP BY person)"
                ));
                joins.push(format!("LEFT JOIN a{k} ON r.person = a{k}.person"));
                steps.push(format!("if(c{k} AND (r.ts, r.uid) = a{k}.first, {bit}, 0)"));
            }
        }
    }
    let unordered = p.order == Order::Unordered;
    let mut excl = Vec::new();
    for (j, x) in p.exclusions.iter().enumerate() {
        let entity = Entity {
            event: x.event.clone(),
            properties: Vec::new(),
        };
        let names = common::names(&mut b, &entity, &p.common, project);
        let own = compile(&mut b, &x.properties)?;
        columns.push(format!("({names}) AND ({}) AS x{j}", common::all(&own)));
        let mask: u64 = (x.from_step + 1..=x.to_step)
            .filter(|&s| (1..=32).contains(&s))
            .map(|s| 1u64 << (s - 1))
            .sum();
        let mask = b.uint(mask);
        excl.push(format!("if(x{j}, {mask}, 0)"));
    }
    let activity = if p.order == Order::Strict {
        let skip = b.strings(&p.common.non_activity_events(project));
        format!("event NOT IN {skip}")
    } else {
        "0".to_string()
    };
    let mut values = Vec::new();
    if let Some(bd) = plan.breakdown() {
        for key in bd.property.names() {
            values.push(format!("hex({})", value_of(&mut b, bd.kind, key)));
        }
    }
    let read_names = match &scan.events {
        Some(names) => format!("event IN {}", b.strings(names)),
        None => "1".to_string(),
    };
    let steps_sum = steps.join(" + ");
    let excl_sum = if excl.is_empty() {
        "0".to_string()
    } else {
        excl.join(" + ")
    };
    let excl_roles = if unordered {
        format!("if(s != 0, 0, {excl_sum})")
    } else {
        excl_sum
    };
    let value_columns: String = values.iter().map(|v| format!(", {v}")).collect();
    let with_anchors: String = anchors.iter().map(|a| format!(",\n{a}")).collect();
    Ok(b.finish(format!(
        "{head},
r AS (
    SELECT person, ts, uid, event, properties{person_properties},
        ts >= fromUnixTimestamp64Micro({first}, 'UTC') AND ts <= fromUnixTimestamp64Micro({last}, 'UTC')
            AND ({g}) AS in_window,
        {activity} AS active,
        {columns}
    FROM ev
    WHERE {loaded} AND person NOT IN excluded AND ({read_names})
){with_anchors}
SELECT person, toUnixTimestamp64Micro(ts), replaceAll(uid, '-', ''), s, x{value_columns}
FROM (
    SELECT r.person AS person, r.ts AS ts, r.uid AS uid, r.properties AS properties{r_person_properties},
        toUInt32({steps_sum}) AS s, toUInt32({excl_roles}) AS x, r.in_window AS in_window, r.active AS active
    FROM r {joins}
)
WHERE in_window AND (s != 0 OR x != 0 OR active)
ORDER BY person, ts, uid
FORMAT TabSeparated",
        person_properties = if scan.person_properties {
            ", person_properties"
        } else {
            ""
        },
        r_person_properties = if scan.person_properties {
            ", r.person_properties AS person_properties"
        } else {
            ""
        },
        columns = columns.join(",\n        "),
        joins = joins.join(" "),
    )))
}

/// One project's read events and their roles, gathered row by row from the [`events_query`] answer.
#[derive(Debug)]
pub struct EventRows {
    /// Breakdown value columns per row.
    keys: usize,
    roles: Roles,
}

impl EventRows {
    /// None yet.
    pub fn new(plan: &Plan) -> EventRows {
        EventRows {
            keys: plan.breakdown().map_or(0, |b| b.property.names().len()),
            roles: Roles::new(plan.params.n(), plan.breakdown().is_some()),
        }
    }

    /// Reads one row.
    ///
    /// # Errors
    /// [`Error::Answer`] for a row of another shape.
    pub fn read(&mut self, line: &str) -> Result<()> {
        if line.is_empty() {
            return Ok(());
        }
        let keys = self.keys;
        let bad = || {
            Error::Answer(format!(
                "a funnel row {line:?} is not `person ts uuid steps exclusions` and {keys} values"
            ))
        };
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 5 + keys {
            return Err(bad());
        }
        let ts = f[1].parse::<i64>().map_err(|_| bad())?;
        let uuid = u128::from_str_radix(f[2], 16).map_err(|_| bad())?;
        let steps = f[3].parse::<u32>().map_err(|_| bad())?;
        let excl = f[4].parse::<u32>().map_err(|_| bad())?;
        let value = f[5..]
            .iter()
            .map(|v| crate::retention::unhex(v).ok_or_else(bad))
            .collect::<Result<Vec<String>>>()?;
        self.roles.push(f[0], ts, uuid, steps, excl, value);
        Ok(())
    }

    /// What was read.
    pub fn into_roles(self) -> Roles {
        self.roles
    }
}
