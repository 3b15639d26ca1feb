//! The trends report (activity.md §1) compiled to ClickHouse SQL, for its count maths: `total`, `unique_persons`,
//! and the rolling `dau`, `wau`, `mau` and `dau_mau`, with or without a breakdown by an event property.
//!
//! Per project one query gives every series' counts over the read periods (look-back periods first): matching events
//! or distinct persons per period, or, for a rolling math, distinct persons active in the `w` periods up to each
//! shown one. With `date_from = all`, a first query finds the earliest counting event. With a breakdown, a query
//! before it counts the first series per value, [`report::trends::rank_values`] ranks the values as the embedded
//! engine does, and the counts query buckets each event by its value's group (kept values, Other, or none). The
//! counts go to [`report::trends::from_counts`], which builds the report as the embedded engine does.

use report::breakdown::{DROPPED, Ranked};
use report::kind::ReportKind as _;
use report::numeric::Num;
use report::trends::{Math, Plan, ProjectCounts, SeriesCounts, Trends, rolling_windows};

use crate::common;
use crate::sql::{Binder, Query};
use crate::{Error, Result, unsupported};

/// Refuses what the compiler does not cover yet, naming the parameter.
///
/// # Errors
/// [`Error::Unsupported`].
pub fn check(plan: &Plan) -> Result<()> {
    common::tz_name(plan.tz())?;
    Ok(())
}

/// `matched`: each counting event of the first `series` series with its series index, person, instant, breakdown
/// value (`''` without a breakdown) and, for a property math, the property's numeric value (`x`).
fn matched(plan: &Plan, b: &mut Binder, project: &str, series: usize) -> Result<String> {
    let p = &plan.params;
    let scan = Trends::scan(plan);
    let mut arms = Vec::new();
    for (s, spec) in p.series.iter().enumerate().take(series) {
        let condition = common::counting(&scan, b, &spec.entity, &p.common, project)?;
        let value = match &p.common.breakdown {
            Some(br) => crate::filter::value_of(b, br.kind, &br.property),
            None => "''".to_string(),
        };
        let number = match (&spec.math_property, spec.math.aggregate()) {
            (Some(key), Some(_)) => crate::filter::numeric_of(b, key),
            _ => "CAST(NULL AS Nullable(Float64))".to_string(),
        };
        arms.push(format!(
            "SELECT {s} AS s, person, ts, {value} AS v, {number} AS x FROM ev WHERE {condition}"
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

/// How the counts query buckets events.
enum Bucketing<'a> {
    /// One bucket (no breakdown).
    One,
    /// The first series only, one bucket per value, named by its hex.
    Values,
    /// The ranked groups: kept values, then Other.
    Groups(&'a Groups),
}

/// A project's breakdown groups, ranked, as the counts query needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct Groups {
    /// `(value, is Other)` per group, as [`report::trends::ProjectCounts::groups`].
    pub groups: Vec<(Option<String>, bool)>,
    /// Values with events in the shown periods that scored zero all the same (a ratio rounded to zero); they belong
    /// to no group.
    pub zero: Vec<String>,
}

/// The first series' counts per breakdown value: rows `hex(value) 0 window period n`.
///
/// # Errors
/// [`Error::Report`] for an invalid filter or window.
pub fn values_query(plan: &Plan, from: i64, project: &str) -> Result<Query> {
    build(plan, from, project, Bucketing::Values)
}

/// Every series' counts over the read window starting at `from`: rows `series bucket window period n`, one bucket
/// per group of `groups` (a breakdown's) or one bucket.
///
/// # Errors
/// [`Error::Report`] for an invalid filter or window.
pub fn counts_query(
    plan: &Plan,
    from: i64,
    project: &str,
    groups: Option<&Groups>,
) -> Result<Query> {
    build(
        plan,
        from,
        project,
        groups.map_or(Bucketing::One, Bucketing::Groups),
    )
}

/// The counts query. (A SELECT's aliases shadow columns in its WHERE in ClickHouse, so output columns never reuse an
/// input column's name.)
fn build(plan: &Plan, from: i64, project: &str, bucketing: Bucketing<'_>) -> Result<Query> {
    let p = &plan.params;
    let w = plan.window(from)?;
    let n_read = w.grid.len();
    let first_shown = plan.lookback().min(n_read - 1);
    let scan = Trends::scan(plan);
    let mut b = Binder::default();
    let head = common::head(&scan, &mut b, project);
    let n_series = match bucketing {
        Bucketing::Values => 1,
        _ => p.series.len(),
    };
    let m = matched(plan, &mut b, project, n_series)?;
    let tz = b.string(common::tz_name(plan.tz())?);
    let k_of_ts = common::period(p.interval, w.first, &mut b, &tz, "ts");
    let (start, end) = (b.int(w.first), b.int(w.end));
    let (reads, shown_from) = (b.uint(n_read as u64), b.uint(first_shown as u64));
    // The bucket of an event, and the values a ranking scored above zero.
    let (bucket, scored) = match bucketing {
        Bucketing::One => ("toUInt64(0)".to_string(), String::new()),
        Bucketing::Values => ("v".to_string(), String::new()),
        Bucketing::Groups(g) => {
            let kept: Vec<&str> = g.groups.iter().filter_map(|(v, _)| v.as_deref()).collect();
            let (kept_list, dropped) = (b.strings(&kept), b.uint(u64::from(DROPPED)));
            if g.groups.iter().any(|(_, other)| *other) {
                // Other: the values with a first-series event whose window reaches a shown period, as a score above
                // zero needs, less those that scored zero all the same.
                let reach = rolling_windows(p.series[0].math)[0];
                let (reach, zero) = (b.uint(u64::from(reach)), b.strings(&g.zero));
                (
                    format!(
                        "multiIf(has({kept_list}, v), toUInt64(indexOf({kept_list}, v) - 1), \
                         v IN scored AND NOT has({zero}, v), toUInt64({}), toUInt64({dropped}))",
                        kept.len()
                    ),
                    format!(
                        "scored AS (
    SELECT DISTINCT v FROM located WHERE s = 0 AND k + {reach} > {shown_from}
),
"
                    ),
                )
            } else {
                (
                    format!(
                        "if(has({kept_list}, v), toUInt64(indexOf({kept_list}, v) - 1), toUInt64({dropped}))"
                    ),
                    String::new(),
                )
            }
        }
    };
    let bucket_out = match bucketing {
        Bucketing::Values => "hex(bucket)",
        _ => "bucket",
    };
    let mut arms = Vec::new();
    for (s, spec) in p.series.iter().enumerate().take(n_series) {
        let arm = match spec.math {
            _ if spec.math.aggregate().is_some() => format!(
                "SELECT {s} AS series, {bucket_out} AS group_id, ifNull(toString(bits), 'missing') AS win,
        k AS period, count() AS n
    FROM (
        SELECT bucket, k, if(isNull(x), NULL, reinterpretAsUInt64(assumeNotNull(x))) AS bits
        FROM periods WHERE s = {s}
    )
    GROUP BY bucket, k, bits"
            ),
            Math::Total => format!(
                "SELECT {s} AS series, {bucket_out} AS group_id, '0' AS win, k AS period, count() AS n
    FROM periods WHERE s = {s} GROUP BY bucket, k"
            ),
            Math::UniquePersons => format!(
                "SELECT {s} AS series, {bucket_out} AS group_id, '0' AS win, k AS period,
        uniqExact(person) AS n
    FROM periods WHERE s = {s} GROUP BY bucket, k"
            ),
            _ => rolling_windows(spec.math)
                .iter()
                .enumerate()
                .map(|(wi, &days)| {
                    format!(
                        "SELECT {s} AS series, {bucket_out} AS group_id, '{wi}' AS win, shown AS period,
        uniqExact(person) AS n
    FROM (SELECT DISTINCT person, bucket, k FROM periods WHERE s = {s})
    ARRAY JOIN range(toUInt64(k), toUInt64(k) + {days}) AS shown
    WHERE shown >= {shown_from} AND shown < {reads}
    GROUP BY bucket, shown"
                    )
                })
                .collect::<Vec<_>>()
                .join("\n    UNION ALL\n    "),
        };
        arms.push(arm);
    }
    let keep = match bucketing {
        Bucketing::Groups(_) => format!("\n    WHERE bucket != {}", u64::from(DROPPED)),
        _ => String::new(),
    };
    Ok(b.finish(format!(
        "{head},
matched AS (
    {m}
),
located AS (
    SELECT s, person, v, x, toInt64({k_of_ts}) AS k FROM matched
    WHERE ts >= fromUnixTimestamp64Micro({start}, 'UTC') AND ts < fromUnixTimestamp64Micro({end}, 'UTC')
),
{scored}periods AS (
    SELECT s, person, k, x, {bucket} AS bucket FROM located{keep}
)
SELECT series, group_id, win, period, n FROM (
    {}
)
FORMAT TabSeparated",
        arms.join("\n    UNION ALL\n    ")
    )))
}

/// Empty counts for `n_series` series of `plan` over `n_buckets` buckets.
fn zeros(plan: &Plan, n_read: usize, shown: usize, n_buckets: usize) -> Vec<SeriesCounts> {
    plan.params
        .series
        .iter()
        .map(|spec| match spec.math {
            m if m.aggregate().is_some() => SeriesCounts::Values {
                values: vec![Vec::new(); n_read * n_buckets],
                missing: vec![0; n_read * n_buckets],
            },
            Math::Total | Math::UniquePersons => {
                SeriesCounts::PerPeriod(vec![0; n_read * n_buckets])
            }
            m => SeriesCounts::Rolling(vec![vec![0; shown * n_buckets]; rolling_windows(m).len()]),
        })
        .collect()
}

/// The most values with events that scored zero a counts query takes (they are a query parameter).
const MAX_ZERO: usize = 10_000;

/// One answer row.
struct Row<'a> {
    series: usize,
    /// The bucket: a group number, or a value's hex.
    group: &'a str,
    /// The rolling window, or for a property math the value's bits (`missing` for none).
    win: &'a str,
    period: usize,
    n: u64,
}

/// The rows of an answer.
fn rows(text: &str) -> Result<Vec<Row<'_>>> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let parsed = match f[..] {
                [s, group, w, k, n] => (|| {
                    Some(Row {
                        series: s.parse().ok()?,
                        group,
                        win: w,
                        period: k.parse().ok()?,
                        n: n.parse().ok()?,
                    })
                })(),
                _ => None,
            };
            parsed.ok_or_else(|| {
                Error::Answer(format!("a count row {line:?} is not `series group w k n`"))
            })
        })
        .collect()
}

/// Adds row `(bucket, w, k, n)` to `counts`: `n` at read period `k` of window `w`, or for a property math `n` events
/// with the value whose bits are `w` (`missing`: without one). `None` for a row outside the counts.
fn add(
    counts: &mut SeriesCounts,
    bucket: usize,
    w: &str,
    k: usize,
    n: u64,
    n_read: usize,
    first_shown: usize,
) -> Option<()> {
    let shown = n_read - first_shown;
    if k >= n_read {
        return None;
    }
    let slot = match counts {
        SeriesCounts::PerPeriod(v) if w == "0" => v.get_mut(bucket * n_read + k),
        SeriesCounts::Rolling(v) if k >= first_shown => v
            .get_mut(w.parse::<usize>().ok()?)?
            .get_mut(bucket * shown + k - first_shown),
        SeriesCounts::Values { values, missing } => {
            let cell = bucket * n_read + k;
            if w == "missing" {
                missing.get_mut(cell)
            } else {
                let x = f64::from_bits(w.parse().ok()?);
                values.get_mut(cell)?.push((Num::from_f64(x), n));
                return x.is_finite().then_some(());
            }
        }
        _ => None,
    }?;
    *slot = slot.saturating_add(n);
    Some(())
}

/// Reads the [`values_query`] answer and ranks the values ([`report::trends::rank_values`]) into the groups the
/// counts query takes.
///
/// # Errors
/// [`Error::Answer`] for rows of another shape or outside the window; [`Error::Report`] naming `breakdown` when
/// values × periods × series exceed the cell limit.
pub fn read_values(
    plan: &Plan,
    from: i64,
    table: &report::EventTable,
    text: &str,
    limits: &report::Limits,
) -> Result<Groups> {
    let n_read = plan.window(from)?.grid.len();
    let first_shown = plan.lookback().min(n_read - 1);
    let rows = rows(text)?;
    let mut values: Vec<String> = Vec::new();
    let mut ids = std::collections::HashMap::new();
    let mut located = Vec::with_capacity(rows.len());
    for r in &rows {
        let (g, w, k, n) = (r.group, r.win, r.period, r.n);
        let value = crate::retention::unhex(g)
            .filter(|_| r.series == 0)
            .ok_or_else(|| {
                Error::Answer(format!("a value row names {g:?} of series {}", r.series))
            })?;
        let id = *ids.entry(value.clone()).or_insert_with(|| {
            values.push(value);
            values.len() - 1
        });
        located.push((id, w, k, n));
    }
    // The embedded engine refuses a breakdown past the cell limit before counting; here the values come with counts.
    limits.check_cells(
        "breakdown",
        (values.len().max(1) as u64)
            .saturating_mul(n_read as u64)
            .saturating_mul(plan.params.series.len() as u64),
    )?;
    let mut first = zeros(plan, n_read, n_read - first_shown, values.len())
        .into_iter()
        .next()
        .ok_or_else(|| Error::Answer("a trends report without series".into()))?;
    // Values whose first-series events reach a shown period: the counts query's `scored`.
    let mut reaching = vec![false; values.len()];
    for &(id, w, k, n) in &located {
        add(&mut first, id, w, k, n, n_read, first_shown).ok_or_else(|| {
            Error::Answer(format!("a value row ({w}, {k}) is outside the window"))
        })?;
        // A rolling math's rows are all shown; its first window is the one a score sums.
        reaching[id] |= match first {
            SeriesCounts::Rolling(_) => w == "0",
            _ => k >= first_shown,
        } && n > 0;
    }
    let Ranked { groups, group_of } =
        report::trends::rank_values(plan, from, table, &values, first)?;
    let zero = values
        .iter()
        .zip(&group_of)
        .zip(&reaching)
        .filter(|((_, g), r)| **g == DROPPED && **r)
        .map(|((v, _), _)| v.clone())
        .collect::<Vec<_>>();
    // They travel as a query parameter, in the URL.
    if zero.len() > MAX_ZERO {
        return Err(unsupported(
            "breakdown",
            &format!(
                "breakdowns where more than {MAX_ZERO} values with events score zero (a property math summing to \
                 zero or less)"
            ),
        ));
    }
    Ok(Groups { groups, zero })
}

/// Reads the [`counts_query`] answer into each series' counts, bucketed by `groups` (one bucket without).
///
/// # Errors
/// [`Error::Answer`] for rows of another shape or outside the window.
pub fn read_counts(
    plan: &Plan,
    from: i64,
    groups: Option<&Groups>,
    text: &str,
) -> Result<ProjectCounts> {
    let n_read = plan.window(from)?.grid.len();
    let first_shown = plan.lookback().min(n_read - 1);
    let groups = groups.map_or_else(|| vec![(None, false)], |g| g.groups.clone());
    let mut series = zeros(plan, n_read, n_read - first_shown, groups.len());
    for Row {
        series: s,
        group: g,
        win: w,
        period: k,
        n,
    } in rows(text)?
    {
        let placed = g
            .parse::<usize>()
            .ok()
            .filter(|&g| g < groups.len())
            .and_then(|g| add(series.get_mut(s)?, g, w, k, n, n_read, first_shown));
        if placed.is_none() {
            return Err(Error::Answer(format!(
                "a count row ({s}, {g}, {w}, {k}) is outside the window"
            )));
        }
    }
    Ok(ProjectCounts { groups, series })
}
