//! The growth milestones report (activity.md §4) compiled to ClickHouse SQL.
//!
//! Per project a first query finds the first matching event, which with the launch date fixes the local days the
//! curve spans ([`report::growth::days`]). A second gives C(d) per day: for `cumulative_persons` the persons whose
//! first matching event falls on each day (summed here into the running total), for `mau` the distinct persons
//! active in the 30 days up to each. The counts go to [`report::growth::from_counts`].

use report::growth::{GrowthCounts, MAU_DAYS, Metric, Plan};

use crate::common;
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

/// The first matching event up to as_of (`\N` when there is none).
///
/// # Errors
/// [`Error::Report`] for an invalid filter, [`Error::Unsupported`].
pub fn first_query(plan: &Plan, project: &str) -> Result<Query> {
    check(plan)?;
    let p = &plan.params;
    let (b, head, condition) = common::entity_query(&plan.scan(), &p.entity, &p.common, project)?;
    Ok(b.finish(common::earliest(&head, &condition)))
}

/// Per local day of `days` (starts, UTC µs): rows `day persons`, the persons first matching on it
/// (`cumulative_persons`) or active in the 30 days up to it (`mau`).
///
/// # Errors
/// [`Error::Report`] for an invalid filter, [`Error::Unsupported`]; [`Error::Invalid`] naming `as_of` for no days.
pub fn values_query(plan: &Plan, days: &[i64], project: &str) -> Result<Query> {
    check(plan)?;
    let Some(&first) = days.first() else {
        return Err(Error::Invalid {
            field: "as_of",
            message: format!("project {project:?} has no days to count"),
        });
    };
    let p = &plan.params;
    let (mut b, head, condition) =
        common::entity_query(&plan.scan(), &p.entity, &p.common, project)?;
    let tz = b.string(common::tz_name(&plan.tz)?);
    let k = common::period(report::params::Period::Day, first, &mut b, &tz, "ts");
    let n_days = b.uint(days.len() as u64);
    let per_day = match p.metric {
        Metric::CumulativePersons => "SELECT day, count() FROM (
    SELECT person, min(k) AS day FROM counting GROUP BY person
) GROUP BY day"
            .to_string(),
        Metric::Mau => format!(
            "SELECT day, uniqExact(person) FROM (SELECT DISTINCT person, k FROM counting)
ARRAY JOIN range(toUInt64(k), least(toUInt64(k) + {}, {n_days})) AS day
GROUP BY day",
            b.uint(u64::from(MAU_DAYS))
        ),
    };
    Ok(b.finish(format!(
        "{head},
counting AS (
    SELECT person, toInt64({k}) AS k FROM ev WHERE {condition}
)
{per_day}
FORMAT TabSeparated"
    )))
}

/// Reads the [`values_query`] answer into C(d) over `n_days` days.
///
/// # Errors
/// [`Error::Answer`] for rows of another shape or outside the days.
pub fn read(plan: &Plan, n_days: usize, first_ts: Option<i64>, text: &str) -> Result<GrowthCounts> {
    let mut values = vec![0u64; n_days];
    for line in text.lines().filter(|l| !l.is_empty()) {
        let slot = line
            .split_once('\t')
            .and_then(|(d, n)| Some((d.parse::<usize>().ok()?, n.parse::<u64>().ok()?)))
            .and_then(|(d, n)| Some((values.get_mut(d)?, n)));
        let Some((slot, n)) = slot else {
            return Err(Error::Answer(format!(
                "a growth row {line:?} is not `day persons` within the days"
            )));
        };
        *slot = slot.saturating_add(n);
    }
    if plan.params.metric == Metric::CumulativePersons {
        let mut total = 0u64;
        for v in &mut values {
            total = total.saturating_add(*v);
            *v = total;
        }
    }
    Ok(GrowthCounts { first_ts, values })
}
