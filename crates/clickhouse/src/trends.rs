//! The trends report (activity.md §1) compiled to ClickHouse SQL, for its count maths: `total`, `unique_persons`,
//! and the rolling `dau`, `wau`, `mau` and `dau_mau`.
//!
//! Per project one query gives every series' counts over the read periods (look-back periods first): matching events
//! or distinct persons per period, or, for a rolling math, distinct persons active in the `w` periods up to each
//! shown one. With `date_from = all`, a first query finds the earliest counting event. The counts go to
//! [`report::trends::from_counts`], which builds the report as the embedded engine does.

use report::kind::ReportKind as _;
use report::trends::{Math, Plan, SeriesCounts, Trends, rolling_windows};

use crate::common;
use crate::sql::{Binder, Query};
use crate::{Error, Result, unsupported};

/// Refuses what the compiler does not cover yet, naming the parameter.
///
/// # Errors
/// [`Error::Unsupported`].
pub fn check(plan: &Plan) -> Result<()> {
    let p = &plan.params;
    if p.common.breakdown.is_some() {
        return Err(unsupported("breakdown", "trends breakdowns"));
    }
    if p.series.iter().any(|s| s.math.aggregate().is_some()) {
        return Err(unsupported(
            "series",
            "property maths (sum, avg, min, max, median, percentiles)",
        ));
    }
    common::no_person_filters(
        p.common
            .all_global_filters()
            .chain(p.series.iter().flat_map(|s| &s.entity.properties)),
    )?;
    common::tz_name(plan.tz())?;
    Ok(())
}

/// `matched`: each counting event of series `s` with its series index, person and instant.
fn matched(plan: &Plan, b: &mut Binder, project: &str) -> Result<String> {
    let p = &plan.params;
    let scan = Trends::scan(plan);
    let mut arms = Vec::new();
    for (s, spec) in p.series.iter().enumerate() {
        let condition = common::counting(&scan, b, &spec.entity, &p.common, project)?;
        arms.push(format!(
            "SELECT {s} AS s, person, ts FROM ev WHERE {condition}"
        ));
    }
    Ok(arms.join("\n    UNION ALL\n    "))
}

/// The earliest counting event of any series, for `date_from = all` (`\N` when there is none).
///
/// # Errors
/// [`Error::Report`] for an invalid filter.
pub fn earliest_query(plan: &Plan, project: &str) -> Result<Query> {
    let p = &plan.params;
    let scan = Trends::scan(plan);
    let mut b = Binder::default();
    let head = common::head(&scan, &mut b, project);
    let mut any = Vec::new();
    for spec in &p.series {
        any.push(format!(
            "({})",
            common::counting(&scan, &mut b, &spec.entity, &p.common, project)?
        ));
    }
    Ok(b.finish(common::earliest(&head, &any.join(" OR "))))
}

/// Every series' counts over the read window starting at `from`: rows `series window period n`. (A SELECT's aliases
/// shadow columns in its WHERE in ClickHouse, so output columns never reuse an input column's name.)
///
/// # Errors
/// [`Error::Report`] for an invalid filter or window.
pub fn counts_query(plan: &Plan, from: i64, project: &str) -> Result<Query> {
    let p = &plan.params;
    let w = plan.window(from)?;
    let n_read = w.grid.len();
    let first_shown = plan.lookback().min(n_read - 1);
    let scan = Trends::scan(plan);
    let mut b = Binder::default();
    let head = common::head(&scan, &mut b, project);
    let m = matched(plan, &mut b, project)?;
    let tz = b.string(common::tz_name(plan.tz())?);
    let k_of_ts = common::period(p.interval, w.first, &mut b, &tz, "ts");
    let (start, end) = (b.int(w.first), b.int(w.end));
    let (reads, shown_from) = (b.uint(n_read as u64), b.uint(first_shown as u64));
    let mut arms = Vec::new();
    for (s, spec) in p.series.iter().enumerate() {
        let arm = match spec.math {
            Math::Total => {
                format!(
                    "SELECT {s} AS series, 0 AS win, k AS period, count() AS n FROM periods WHERE s = {s} GROUP BY k"
                )
            }
            Math::UniquePersons => format!(
                "SELECT {s} AS series, 0 AS win, k AS period, uniqExact(person) AS n FROM periods WHERE s = {s} \
                 GROUP BY k"
            ),
            _ => rolling_windows(spec.math)
                .iter()
                .enumerate()
                .map(|(wi, &days)| {
                    format!(
                        "SELECT {s} AS series, {wi} AS win, shown AS period, uniqExact(person) AS n
    FROM (SELECT DISTINCT person, k FROM periods WHERE s = {s})
    ARRAY JOIN range(toUInt64(k), toUInt64(k) + {days}) AS shown
    WHERE shown >= {shown_from} AND shown < {reads}
    GROUP BY shown"
                    )
                })
                .collect::<Vec<_>>()
                .join("\n    UNION ALL\n    "),
        };
        arms.push(arm);
    }
    Ok(b.finish(format!(
        "{head},
matched AS (
    {m}
),
periods AS (
    SELECT s, person, {k_of_ts} AS k FROM matched
    WHERE ts >= fromUnixTimestamp64Micro({start}, 'UTC') AND ts < fromUnixTimestamp64Micro({end}, 'UTC')
)
SELECT series, win, period, n FROM (
    {}
)
FORMAT TabSeparated",
        arms.join("\n    UNION ALL\n    ")
    )))
}

/// Reads the [`counts_query`] answer into each series' counts.
///
/// # Errors
/// [`Error::Answer`] for rows of another shape or outside the window.
pub fn read_counts(plan: &Plan, from: i64, text: &str) -> Result<Vec<SeriesCounts>> {
    let p = &plan.params;
    let n_read = plan.window(from)?.grid.len();
    let first_shown = plan.lookback().min(n_read - 1);
    let shown = n_read - first_shown;
    let mut out: Vec<SeriesCounts> = p
        .series
        .iter()
        .map(|spec| match spec.math {
            Math::Total | Math::UniquePersons => SeriesCounts::PerPeriod(vec![0; n_read]),
            m => SeriesCounts::Rolling(vec![vec![0; shown]; rolling_windows(m).len()]),
        })
        .collect();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let f: Vec<Option<usize>> = line.split('\t').map(|x| x.parse().ok()).collect();
        let (Some(&Some(s)), Some(&Some(w)), Some(&Some(k)), Some(&Some(n)), 4) =
            (f.first(), f.get(1), f.get(2), f.get(3), f.len())
        else {
            return Err(Error::Answer(format!(
                "a count row {line:?} is not `s w k n`"
            )));
        };
        let slot = match out.get_mut(s) {
            Some(SeriesCounts::PerPeriod(v)) if w == 0 => v.get_mut(k),
            Some(SeriesCounts::Rolling(v)) => v
                .get_mut(w)
                .and_then(|v| k.checked_sub(first_shown).and_then(|i| v.get_mut(i))),
            _ => None,
        };
        let slot = slot
            .ok_or_else(|| Error::Answer(format!("a count row {line:?} is outside the window")))?;
        *slot = slot.saturating_add(n as u64);
    }
    Ok(out)
}
