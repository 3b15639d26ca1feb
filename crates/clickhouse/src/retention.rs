//! The retention report (retention.md) compiled to ClickHouse SQL.
//!
//! Per project, the cells (`cells_query`); what was read for the provenance (`common::scope`), the days read with
//! their digest sum and the identity digest are the queries every compiled report sends. Their answers become the same
//! [`report::retention::Counted`] and [`report::table::DataProvenance`] the embedded engine computes, and
//! [`report::retention::from_counts`] turns them into the report, so rates, intervals, incomplete cells, means,
//! notes and JSON come from one place whatever computed the counts.
//!
//! Periods are ClickHouse's calendar in the query time zone: a local day is `toRelativeDayNum(ts, tz)`, a week
//! seven of them from the window's first day, a month `toRelativeMonthNum`; hours are 3600 s steps from the
//! window's first instant, as in the embedded engine.

use kernels::CohortCounts;
use report::params::{RetentionType, TimeWindowMode};
use report::retention::{Counted, Plan};
use report::table::{DataProvenance, EventTable};

use crate::common;
use crate::filter::compile;
use crate::sql::{Binder, Query};
use crate::{Error, Result};

/// Refuses what the compiler does not cover yet, naming the parameter.
///
/// # Errors
/// [`Error::Unsupported`].
pub fn check(plan: &Plan) -> Result<()> {
    common::tz_name(&plan.tz)?;
    Ok(())
}

/// Compiles one project's cells query: rows of value, cohort, column and persons.
///
/// # Errors
/// [`Error::Unsupported`] naming the parameter the compiler does not cover.
pub fn cells_query(plan: &Plan, project: &str) -> Result<Query> {
    check(plan)?;
    let p = &plan.params;
    let tz_name = common::tz_name(&plan.tz)?;

    let scan = plan.scan();
    let mut b = Binder::default();
    let head_sql = common::head(&scan, &mut b, project);
    let tz = b.string(tz_name);
    let in_range = common::range(&scan, &mut b);
    let nt = common::names(&mut b, &p.target, &p.common, project);
    let nr = common::names(&mut b, &p.returning, &p.common, project);
    let global = compile(&mut b, &p.common.global_filters(project))?;
    let target = compile(&mut b, &p.target.properties)?;
    let returning = compile(&mut b, &p.returning.properties)?;
    let (g, tf, rf) = (
        common::all(&global),
        common::all(&target),
        common::all(&returning),
    );
    let bv = match &p.common.breakdown {
        Some(br) => crate::filter::value_of(&mut b, br.kind, &br.property),
        None => "''".into(),
    };
    let first = b.int(plan.window.first);
    let end = b.int(plan.window.end);
    let in_window = format!(
        "ts >= fromUnixTimestamp64Micro({first}, 'UTC') AND ts < fromUnixTimestamp64Micro({end}, 'UTC')"
    );
    let t0_in_window = in_window.replace("ts ", "t0 ");
    let rows_n = plan.window.grid.len() as u64;
    let rows = b.uint(rows_n);
    let k_of_ts = common::period(p.period, plan.window.first, &mut b, &tz, "ts");
    let k_of_t0 = common::period(p.period, plan.window.first, &mut b, &tz, "t0");
    // Recurring rows are (person, value) actors: a return counts only for the value it carries (§10.3). A first
    // time or first ever row takes the anchor's value, and any return counts (§10.4).
    let (starts, rets_key, join) = match p.retention_type {
        RetentionType::Recurring => (
            format!("SELECT DISTINCT person, bv, {k_of_ts} AS k FROM flagged WHERE start AND {in_window}"),
            "person, bv, r",
            "s.person = r.person AND s.bv = r.bv",
        ),
        RetentionType::FirstTime => (
            format!(
                "SELECT person, anchor_bv AS bv, {k_of_t0} AS k FROM (
        SELECT person, min(ts) AS t0, argMin(bv, (ts, uid)) AS anchor_bv FROM flagged WHERE start GROUP BY person
    ) WHERE {t0_in_window}"
            ),
            "person, r",
            "s.person = r.person",
        ),
        RetentionType::FirstEver => (
            format!(
                "SELECT person, anchor_bv AS bv, {k_of_t0} AS k FROM (
        SELECT person, min(ts) AS t0, argMin(start, (ts, uid)) AS ok, argMin(bv, (ts, uid)) AS anchor_bv
        FROM flagged WHERE anchor GROUP BY person
    ) WHERE ok AND {t0_in_window}"
            ),
            "person, r",
            "s.person = r.person",
        ),
    };
    // Offset o ≥ 1 of a return from its row falls in column bracket_of[o] (custom brackets, §14).
    let spans = report::retention::spans(p);
    let mut bracket_of = Vec::new();
    for (j, &(lo, hi)) in spans.iter().enumerate() {
        for _ in lo..=hi {
            bracket_of.push(j as u64 + 1);
        }
    }
    let max_offset = b.uint(bracket_of.len() as u64);
    let bracket_of = b.uints(&bracket_of);
    let min_occ = b.uint(u64::from(p.minimum_occurrences));
    let returns = if p.cumulative {
        "SELECT bv, k, arrayJoin(range(1, toUInt64(m) + 1)) AS j, count() AS n FROM (
        SELECT person, bv, k, max(j) AS m FROM pairs GROUP BY person, bv, k
    ) GROUP BY bv, k, j"
    } else {
        "SELECT bv, k, j, uniqExact(person) AS n FROM pairs GROUP BY bv, k, j"
    };
    let flagged = format!(
        "flagged AS (
    SELECT person, ts, uid, {bv} AS bv,
        ({nt}) AND ({g}) AS anchor,
        anchor AND ({tf}) AS start,
        ({nr}) AND ({g}) AND ({rf}) AS ret
    FROM ev
    WHERE {in_range} AND person NOT IN excluded AND (({nt}) OR ({nr}))
)"
    );
    let cells = format!(
        "{head_sql},
{flagged},
starts AS (
    {starts}
),
rets AS (
    SELECT {rets_key}, count() AS c FROM (SELECT person, bv, {k_of_ts} AS r FROM flagged WHERE ret AND {in_window})
    GROUP BY {rets_key} HAVING c >= {min_occ}
),
pairs AS (
    SELECT s.person AS person, s.bv AS bv, s.k AS k, {bracket_of}[r.r - s.k] AS j
    FROM starts AS s INNER JOIN rets AS r ON {join}
    WHERE r.r > s.k AND r.r - s.k <= {max_offset} AND r.r < {rows}
)
SELECT hex(bv), k, j, n FROM (
    SELECT bv, k, 0 AS j, count() AS n FROM starts WHERE k < {rows} GROUP BY bv, k
    UNION ALL
    {returns}
)
FORMAT TabSeparated"
    );
    let cells = match window_length(plan) {
        None => cells,
        Some(len) => cells_24h(plan, &mut b, len, &head_sql, &flagged, &in_window),
    };
    Ok(b.finish(cells))
}

/// The fixed period of 24-hour windows (§14), in µs; `None` in calendar mode.
fn window_length(plan: &Plan) -> Option<i64> {
    let hour = 3_600_000_000i64;
    (plan.params.time_window_mode == TimeWindowMode::Hours24).then(|| match plan.params.period {
        report::params::Period::Hour => hour,
        report::params::Period::Day => 24 * hour,
        report::params::Period::Week => 7 * 24 * hour,
        report::params::Period::Month => 30 * 24 * hour,
    })
}

/// The cells of 24-hour windows (§14): each person's one anchor t0 (the first start event in the window for
/// `recurring`, the anchor of §6 otherwise) puts them in row ⌊(t0 − F)/P⌋, and a return at t ≥ t0 in the window
/// counts in column ⌊(t − t0)/P⌋ when that cell lies in the window.
fn cells_24h(
    plan: &Plan,
    b: &mut Binder,
    len: i64,
    head_sql: &str,
    flagged: &str,
    in_window: &str,
) -> String {
    let p = &plan.params;
    let (first, period) = (b.int(plan.window.first), b.int(len));
    let rows = b.uint(plan.window.grid.len() as u64);
    let columns = b.uint(report::retention::spans(p).len() as u64 + 1);
    let min_occ = b.uint(u64::from(p.minimum_occurrences));
    let (mask, ok) = match p.retention_type {
        RetentionType::Recurring => (format!("start AND {in_window}"), "1"),
        RetentionType::FirstTime => ("start".to_string(), "1"),
        RetentionType::FirstEver => ("anchor".to_string(), "ok"),
    };
    let t0_in_window = in_window.replace("ts ", "t0 ");
    format!(
        "{head_sql},
{flagged},
anchors AS (
    SELECT person, min(ts) AS t0, argMin(start, (ts, uid)) AS ok, argMin(bv, (ts, uid)) AS anchor_bv
    FROM flagged WHERE {mask} GROUP BY person
),
starts AS (
    SELECT person, anchor_bv AS bv, t0, intDiv(toUnixTimestamp64Micro(t0) - {first}, {period}) AS k
    FROM anchors WHERE {ok} AND {t0_in_window}
),
rets AS (
    SELECT s.person AS person, s.bv AS bv, s.k AS k,
        intDiv(toUnixTimestamp64Micro(f.ts) - toUnixTimestamp64Micro(s.t0), {period}) AS j, count() AS c
    FROM starts AS s INNER JOIN flagged AS f ON s.person = f.person
    WHERE f.ret AND f.ts >= s.t0 AND {f_in_window}
    GROUP BY person, bv, k, j
    HAVING c >= {min_occ} AND j >= 1 AND j < {columns} AND k + j < {rows}
)
SELECT hex(bv), k, j, n FROM (
    SELECT bv, k, 0 AS j, count() AS n FROM starts WHERE k < {rows} GROUP BY bv, k
    UNION ALL
    SELECT bv, k, j, count() AS n FROM rets GROUP BY bv, k, j
)
FORMAT TabSeparated",
        f_in_window = in_window.replace("ts ", "f.ts "),
    )
}

/// Reads the `cells` answer (`hex(value) k j n` rows) into counts, one bucket per value.
///
/// # Errors
/// [`Error::Answer`] for rows of another shape or outside the grid.
pub fn read_cells(plan: &Plan, text: &str, limits: &report::Limits) -> Result<Counted> {
    let rows = plan.window.grid.len();
    let columns = report::retention::spans(&plan.params).len() + 1;
    let mut values: Vec<String> = Vec::new();
    let mut cells: Vec<(usize, usize, usize, u64)> = Vec::new();
    let mut ids = std::collections::HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let (Some(v), Some(k), Some(j), Some(n)) = (
            f.first().and_then(|s| unhex(s)),
            f.get(1).and_then(|s| s.parse::<usize>().ok()),
            f.get(2).and_then(|s| s.parse::<usize>().ok()),
            f.get(3).and_then(|s| s.parse::<u64>().ok()),
        ) else {
            return Err(Error::Answer(format!(
                "a cell row {line:?} is not `value k j n`"
            )));
        };
        if k >= rows || j >= columns {
            return Err(Error::Answer(format!(
                "cell ({k}, {j}) is outside the {rows} × {columns} grid"
            )));
        }
        let b = *ids.entry(v.clone()).or_insert_with(|| {
            values.push(v);
            values.len() - 1
        });
        cells.push((b, k, j, n));
    }
    if plan.params.common.breakdown.is_none() || values.is_empty() {
        values = vec![String::new()];
    }
    let n_buckets = values.len();
    // The embedded engine refuses a breakdown past the cell limit before counting; here the values come with counts.
    limits.check_cells("breakdown", (n_buckets * rows * columns) as u64)?;
    let mut counts = CohortCounts {
        n_buckets,
        rows,
        columns,
        counts: vec![0; n_buckets * rows * columns],
    };
    for (b, k, j, n) in cells {
        let c = &mut counts.counts[(b * rows + k) * columns + j];
        *c = c.saturating_add(n);
    }
    Ok(Counted { values, counts })
}

/// Text from its hex (ClickHouse's `hex` of a string); `None` for anything else.
pub(crate) fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// An event table that carries only what the report reads besides counts: the project, what was read, and the
/// named events present.
pub fn shell(project: &str, data: DataProvenance, names: Vec<String>) -> EventTable {
    EventTable {
        project: project.to_string(),
        data,
        names,
        ..EventTable::default()
    }
}
