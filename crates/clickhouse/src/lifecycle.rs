//! The lifecycle report (activity.md §3) compiled to ClickHouse SQL.
//!
//! With `date_from = all`, a first query finds the earliest counting event, which fixes the read window as in the
//! embedded engine. Then one query gives the distinct persons per status and read period: each person's sorted
//! active periods, their creation instant (the `created_at` of the last persons import naming one of their ids, else
//! their earliest event of any kind up to `as_of`), a status per active period and a dormant mark after each run.
//! The counts go to [`report::lifecycle::from_counts`].

use report::kind::ReportKind as _;
use report::lifecycle::{Lifecycle, LifecycleCounts, Plan};
use report::window::Window;

use crate::common;
use crate::schema::PERSONS;
use crate::sql::Query;
use crate::{Error, Result};

/// Refuses what the compiler does not cover yet, naming the parameter.
///
/// # Errors
/// [`Error::Unsupported`].
pub fn check(plan: &Plan) -> Result<()> {
    common::tz_name(&plan.tz)?;
    Ok(())
}

/// The earliest counting event, for `date_from = all` (`\N` when there is none).
///
/// # Errors
/// [`Error::Report`] for an invalid filter, [`Error::Unsupported`].
pub fn earliest_query(plan: &Plan, project: &str) -> Result<Query> {
    check(plan)?;
    let p = &plan.params;
    let (b, head, condition) =
        common::entity_query(&Lifecycle::scan(plan), &p.series, &p.common, project)?;
    Ok(b.finish(common::earliest(&head, &condition)))
}

/// Distinct persons per status and read period of `window`: rows `status period persons`, statuses numbered as
/// [`report::lifecycle::STATUSES`].
///
/// # Errors
/// [`Error::Report`] for an invalid filter, [`Error::Unsupported`].
pub fn query(plan: &Plan, window: &Window, project: &str) -> Result<Query> {
    check(plan)?;
    let p = &plan.params;
    let (mut b, head, condition) =
        common::entity_query(&Lifecycle::scan(plan), &p.series, &p.common, project)?;
    let tz = b.string(common::tz_name(&plan.tz)?);
    let k = common::period(p.interval, window.first, &mut b, &tz, "ts");
    let (first, end) = (b.int(window.first), b.int(window.end));
    // The creation instant, clamped into the window so the period is defined; outside it the period is -1.
    let created_t =
        format!("fromUnixTimestamp64Micro(least(greatest(created_us, {first}), {end} - 1), 'UTC')");
    let created_k = common::period(p.interval, window.first, &mut b, &tz, &created_t);
    let n_read = b.uint(window.grid.len() as u64);
    let project = b.string(project);
    Ok(b.finish(format!(
        "{head},
counting AS (
    SELECT DISTINCT person, toInt64({k}) AS k FROM ev
    WHERE {condition} AND ts >= fromUnixTimestamp64Micro({first}, 'UTC') AND ts < fromUnixTimestamp64Micro({end}, 'UTC')
),
per_person AS (
    SELECT person, arraySort(groupArray(k)) AS ks FROM counting GROUP BY person
),
firsts AS (
    SELECT person, min(toUnixTimestamp64Micro(ts)) AS first_us FROM ev
    WHERE person IN (SELECT person FROM per_person) GROUP BY person
),
imported AS (
    SELECT if(i.person = '', r.id, i.person) AS who, argMax(r.created, r.seq) AS imported_us, 1 AS found
    FROM (
        SELECT arrayJoin(distinct_ids) AS id, seq, assumeNotNull(created_at) AS created FROM {PERSONS}
        WHERE project = {project} AND created_at IS NOT NULL
    ) AS r
    LEFT JOIN ids AS i ON r.id = i.distinct_id
    GROUP BY who
),
created AS (
    SELECT f.person AS who, if(m.found = 1, m.imported_us, f.first_us) AS created_us
    FROM firsts AS f LEFT JOIN imported AS m ON f.person = m.who
),
statuses AS (
    SELECT p.ks AS ks,
        if(c.created_us >= {first} AND c.created_us < {end}, toInt64({created_k}), -1) AS created_k
    FROM per_person AS p LEFT JOIN created AS c ON p.person = c.who
),
marks AS (
    SELECT arrayJoin(arrayConcat(
        arrayMap((k, i) -> tuple(toUInt8(if(i = 1, if(k = created_k, 0, 2), if(ks[i - 1] + 1 = k, 1, 2))), k),
            ks, arrayEnumerate(ks)),
        arrayMap(k -> tuple(toUInt8(3), k + 1),
            arrayFilter((k, i) -> NOT (i < length(ks) AND ks[i + 1] = k + 1) AND k + 1 < {n_read},
                ks, arrayEnumerate(ks)))
    )) AS mark
    FROM statuses
)
SELECT tupleElement(mark, 1) AS status, tupleElement(mark, 2) AS period, count() AS n
FROM marks GROUP BY status, period
FORMAT TabSeparated"
    )))
}

/// Reads the [`query`] answer into counts per status and read period.
///
/// # Errors
/// [`Error::Answer`] for rows of another shape or outside the window.
pub fn read(window: &Window, text: &str) -> Result<LifecycleCounts> {
    let n_read = window.grid.len();
    let mut counts = LifecycleCounts::zeros(n_read);
    for line in text.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let parsed = match f[..] {
            [s, k, n] => s
                .parse::<usize>()
                .ok()
                .zip(k.parse::<usize>().ok())
                .zip(n.parse::<u64>().ok()),
            _ => None,
        };
        let slot = parsed.and_then(|((s, k), n)| {
            Some((counts.statuses_mut().into_iter().nth(s)?.get_mut(k)?, n))
        });
        let Some((slot, n)) = slot else {
            return Err(Error::Answer(format!(
                "a lifecycle row {line:?} is not `status period persons` within the window"
            )));
        };
        *slot += n;
    }
    Ok(counts)
}
