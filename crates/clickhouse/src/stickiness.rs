//! The stickiness report (activity.md §2) compiled to ClickHouse SQL.
//!
//! One query per report: each counting event's period, its bucket counted back from the last period, the events per
//! person and bucket, the active buckets per person under `criteria`, and the persons per number of active buckets.
//! The counts go to [`report::stickiness::from_counts`], which builds the report as the embedded engine does.

use kernels::sticky::CountRule;
use report::kind::ReportKind as _;
use report::stickiness::{Plan, Stickiness};

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

/// Persons per number of active buckets: rows `active persons`.
///
/// # Errors
/// [`Error::Report`] for an invalid filter, [`Error::Unsupported`].
pub fn query(plan: &Plan, project: &str) -> Result<Query> {
    check(plan)?;
    let p = &plan.params;
    let (mut b, head, condition) =
        common::entity_query(&Stickiness::scan(plan), &p.series, &p.common, project)?;
    let tz = b.string(common::tz_name(&plan.tz)?);
    let k = common::period(p.interval, plan.window.first, &mut b, &tz, "ts");
    let last = b.int(plan.window.grid.len() as i64 - 1);
    let per = b.uint(u64::from(p.interval_count));
    let active = match plan.rule() {
        CountRule::Any => "events >= 1".to_string(),
        CountRule::Gte(n) => format!("events >= {}", b.uint(n)),
        CountRule::Lte(n) => format!("events <= {}", b.uint(n)),
        CountRule::Exact(n) => format!("events = {}", b.uint(n)),
    };
    Ok(b.finish(format!(
        "{head},
counting AS (
    SELECT person, toInt64({k}) AS k FROM ev WHERE {condition}
),
buckets AS (
    SELECT person, intDiv({last} - k, {per}) AS bucket, count() AS events FROM counting GROUP BY person, bucket
),
per_person AS (
    SELECT person, countIf({active}) AS active FROM buckets GROUP BY person
)
SELECT active, count() FROM per_person WHERE active > 0 GROUP BY active
FORMAT TabSeparated"
    )))
}

/// Reads the [`query`] answer into persons per exact number of active buckets.
///
/// # Errors
/// [`Error::Answer`] for rows of another shape or beyond the buckets.
pub fn read(plan: &Plan, text: &str) -> Result<Vec<u64>> {
    let mut exact = vec![0u64; plan.buckets()];
    for line in text.lines().filter(|l| !l.is_empty()) {
        let slot = line
            .split_once('\t')
            .and_then(|(a, n)| Some((a.parse::<usize>().ok()?, n.parse::<u64>().ok()?)))
            .and_then(|(a, n)| Some((exact.get_mut(a.checked_sub(1)?)?, n)));
        let Some((slot, n)) = slot else {
            return Err(Error::Answer(format!(
                "a stickiness row {line:?} is not `active persons` within the buckets"
            )));
        };
        *slot += n;
    }
    Ok(exact)
}
