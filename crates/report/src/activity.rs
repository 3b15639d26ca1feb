//! What stickiness and lifecycle share (activity.md): which events of a table match an entity and the global
//! filters, the entity label, and instants printed with their microseconds.

use serde_json::Map;

use crate::error::{Error, Result};
use crate::filter::{self, Compiled};
use crate::params::{Common, Entity, Filter, Period, PropertyKind, WeekStart};
use crate::table::EventTable;
use crate::window;

/// Per event: does it match the entity (names and filters) and the global filters of the table's project (test-account
/// filters and non-activity events included), inside `[from, until)` and not after `as_of`?
pub(crate) fn matching(
    t: &EventTable,
    entity: &Entity,
    common: &Common,
    from: i64,
    until: i64,
    as_of: i64,
) -> Result<Vec<bool>> {
    let compile = |field: &str, list: &[Filter]| -> Result<Vec<Compiled>> {
        list.iter()
            .map(|f| filter::compile(f).map_err(|m| Error::invalid(field, m)))
            .collect()
    };
    let filters: Vec<Compiled> = compile("properties", &common.global_filters(&t.project))?
        .into_iter()
        .chain(compile("series.properties", &entity.properties)?)
        .collect();
    let names: Vec<bool> = match entity.event.names() {
        None => t
            .names
            .iter()
            .map(|n| !common.is_non_activity(&t.project, n))
            .collect(),
        Some(list) => t.names.iter().map(|n| list.contains(&n.as_str())).collect(),
    };
    let empty = Map::new();
    let side = |kind: PropertyKind, props: &Map<_, _>| {
        filters
            .iter()
            .filter(|f| f.kind == kind)
            .all(|f| f.matches(props))
    };
    let person_ok: Vec<bool> = (0..t.n_persons)
        .map(|p| {
            side(
                PropertyKind::Person,
                t.person_properties.get(p).unwrap_or(&empty),
            )
        })
        .collect();
    Ok((0..t.ts.len())
        .map(|i| {
            let ts = t.ts[i];
            ts >= from
                && ts < until
                && ts <= as_of
                && names[t.name[i] as usize]
                && person_ok.get(t.person[i] as usize).copied().unwrap_or(true)
                && side(PropertyKind::Event, t.properties.get(i).unwrap_or(&empty))
        })
        .collect())
}

/// Stickiness and lifecycle describe one project (activity.md §2.3, §3.3): persons of different projects are
/// different persons, so their counts do not add up.
///
/// # Errors
/// [`Error::Invalid`] naming `projects` when several are given.
pub(crate) fn one_project(common: &Common, kind: &str) -> Result<()> {
    if common.projects.len() > 1 {
        return Err(Error::invalid(
            "projects",
            format!("a {kind} report describes one project; run one report per project"),
        ));
    }
    Ok(())
}

/// The entity label (activity.md): the event name, names joined by ` or `, or `any activity`.
pub(crate) fn label(entity: &Entity) -> String {
    match entity.event.names() {
        None => "any activity".to_string(),
        Some(list) => list.join(" or "),
    }
}

/// `day (Europe/Berlin)`, `week (weeks start Monday, UTC)`: the period and zone of a definition sentence.
pub(crate) fn zone_text(period: Period, week_start: WeekStart, tz: &str) -> String {
    match (period, week_start) {
        (Period::Week, WeekStart::Monday) => format!("(weeks start Monday, {tz})"),
        (Period::Week, WeekStart::Sunday) => format!("(weeks start Sunday, {tz})"),
        _ => format!("({tz})"),
    }
}

/// The entity with its filters and the global filters, for a definition sentence.
pub(crate) fn entity_text(entity: &Entity, common: &Common) -> String {
    format!(
        "{}{}",
        crate::retention::entity_text(entity),
        crate::retention::global_text(common)
    )
}

/// RFC 3339 with the local offset, with six fraction digits when the instant has any.
pub(crate) fn format_local_us(us: i64, tz: &jiff::tz::TimeZone) -> String {
    let frac = us.rem_euclid(1_000_000);
    let whole = window::format_local(us - frac, tz);
    if frac == 0 {
        return whole;
    }
    let split = whole.len() - 6;
    format!("{}.{frac:06}{}", &whole[..split], &whole[split..])
}

/// A period's label: `YYYY-MM-DD`, or `YYYY-MM-DD HH:00` for hours.
pub(crate) fn period_label(start: i64, period: Period, tz: &jiff::tz::TimeZone) -> String {
    let s = window::format_local(start, tz);
    match period {
        Period::Hour => format!("{} {}:00", &s[..10], &s[11..13]),
        _ => s[..10].to_string(),
    }
}
