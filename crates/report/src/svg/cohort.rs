//! What both retention charts read from a [`RetentionReport`]: the title, the footer, series names and column
//! labels.

use super::layout::{Footer, Frame};
use super::scale::label_step;
use crate::params::{Period, RetentionType};
use crate::retention::{Mean, RetentionReport};

/// The frame of a retention chart: `Day-N retention{what}, first-time, …` over the report's definition.
pub(super) fn frame(r: &RetentionReport, what: &str, width: f64) -> Frame {
    let p = &r.params;
    let kind = match p.retention_type {
        RetentionType::Recurring => "recurring",
        RetentionType::FirstTime => "first-time",
        RetentionType::FirstEver => "first-ever",
    };
    let mut title = format!("{}-N retention{what}, {kind}", p.period.title());
    if p.cumulative {
        title.push_str(", on or after");
    }
    if let Some(b) = &p.common.breakdown {
        put!(title, ", by {}", b.property);
    }
    put!(title, ", {}", p.common.timezone());
    Frame::new(title, &r.definition, width)
}

/// `Cohorts 2025-01-01 to 2025-01-31 · as of … · data …`.
pub(super) fn footer(r: &RetentionReport) -> Footer {
    let prov = &r.provenance;
    Footer {
        scope: format!(
            "Cohorts {} to {}",
            cohort_date(&r.window.first_period, r.params.period),
            cohort_date(&r.window.last_period, r.params.period)
        ),
        as_of: prov.as_of.clone(),
        fingerprint: prov.data_fingerprint.clone(),
        engine: prov.engine.clone(),
    }
}

/// Labels every `step`-th column so that neighbouring labels do not touch; steps follow the calendar.
pub(super) fn tick_step(r: &RetentionReport, dx: f64, font_size: f64) -> usize {
    let widest = (0..r.columns.len())
        .map(|j| short_label(r, j).chars().count())
        .max()
        .unwrap_or(1);
    let steps: &[usize] = match (r.params.custom_brackets.is_some(), r.params.period) {
        (true, _) => &[1, 2, 5, 10, 20, 50],
        (false, Period::Hour) => &[1, 2, 3, 6, 12, 24, 48],
        (false, Period::Day) => &[1, 7, 14, 28, 56, 91, 182, 364],
        (false, Period::Week) => &[1, 2, 4, 13, 26, 52],
        (false, Period::Month) => &[1, 3, 6, 12, 24],
    };
    label_step(widest, dx, font_size, steps)
}

/// A column label without its period word: `Day 7` → `7`, `Day 1-4` → `1-4`.
pub(super) fn short_label(r: &RetentionReport, j: usize) -> &str {
    let label = r.columns.get(j).map_or("", String::as_str);
    let title = r.params.period.title();
    label
        .strip_prefix(title)
        .map(str::trim_start)
        .filter(|s| !s.is_empty())
        .unwrap_or(label)
}

pub(super) fn period_plural(p: Period) -> &'static str {
    match p {
        Period::Hour => "Hours",
        Period::Day => "Days",
        Period::Week => "Weeks",
        Period::Month => "Months",
    }
}

/// `project`, `project · value`, `project · (none)` or `project · Other`.
pub(super) fn series_name(m: &Mean) -> String {
    match (&m.breakdown_value, m.is_other) {
        (_, true) => format!("{} · Other", m.project),
        (Some(v), _) if v.is_empty() => format!("{} · (none)", m.project),
        (Some(v), _) => format!("{} · {v}", m.project),
        (None, _) => m.project.clone(),
    }
}

/// The date part of a cohort start (`2025-01-06`), or date and hour for hourly cohorts.
pub(super) fn cohort_date(start: &str, period: Period) -> &str {
    let n = if period == Period::Hour { 16 } else { 10 };
    start.get(..n).unwrap_or(start)
}
