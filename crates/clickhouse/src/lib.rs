//! liucun on ClickHouse: the tables (`schema`), the export of a data directory into them (`export`), and reports
//! compiled to ClickHouse SQL (`retention`, `trends`, `stickiness`, `lifecycle`, `growth`, `funnels`, `economics`), run over
//! ClickHouse's HTTP interface (`http`) with every user value bound as a query parameter (`sql`).
//!
//! A compiled report computes in SQL what the embedded engine's kernel computes (the counts) and what it read (the
//! fingerprint's inputs), then goes through the same code as an embedded report for everything else, so the two
//! give byte-identical JSON over the same data. Parameters the compiler does not cover yet are refused with
//! [`Error::Unsupported`] naming them, never approximated.

mod common;
pub mod economics;
pub mod export;
mod filter;
pub mod funnels;
pub mod growth;
pub mod http;
pub mod lifecycle;
pub mod provenance;
pub mod retention;
pub mod schema;
pub mod sql;
pub mod stickiness;
pub mod trends;

use report::economics::Given;
use report::kind::ReportKind as _;
use report::{Limits, Planned, Report, Request};

pub use http::{Client, Connection};
pub use sql::Query;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter the ClickHouse back end does not compile yet.
    #[error("{field}: {message}")]
    Unsupported {
        /// The parameter.
        field: &'static str,
        /// What is not covered, and what to do.
        message: String,
    },
    /// A setting of the connection is wrong.
    #[error("{field}: {message}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// The report's parameters are invalid, as the embedded engine says.
    #[error(transparent)]
    Report(#[from] report::Error),
    /// The data directory could not be read.
    #[error(transparent)]
    Engine(#[from] liucun::Error),
    /// The server could not be reached.
    #[error("ClickHouse at {url}: {message}")]
    Http {
        /// The server.
        url: String,
        /// What failed.
        message: String,
    },
    /// The server refused a statement.
    #[error("ClickHouse answered {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// ClickHouse's message.
        message: String,
    },
    /// The server answered something of another shape than the statement asks for.
    #[error("unexpected answer from ClickHouse: {0}")]
    Answer(String),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn unsupported(field: &'static str, what: &str) -> Error {
    Error::Unsupported {
        field,
        message: format!(
            "{what} are not compiled to ClickHouse SQL yet; run this report on the embedded engine (without \
             --engine clickhouse)"
        ),
    }
}

/// A request the compiler covers, planned as the embedded engine plans it.
#[derive(Debug, Clone)]
pub enum Compiled {
    /// Retention.
    Retention(Box<report::retention::Plan>),
    /// Trends.
    Trends(Box<report::trends::Plan>),
    /// Stickiness.
    Stickiness(Box<report::stickiness::Plan>),
    /// Lifecycle.
    Lifecycle(Box<report::lifecycle::Plan>),
    /// Growth milestones.
    Growth(Box<report::growth::Plan>),
    /// Funnels.
    Funnels(Box<report::funnels::Plan>),
    /// Unit economics.
    Economics(Box<report::economics::Plan>),
}

impl Compiled {
    /// The projects, the scan and the named events, as the embedded engine reads them.
    fn reads(&self) -> (&[String], report::table::Scan, Vec<String>) {
        use report::{
            economics::Economics, funnels::Funnels, growth::Growth, lifecycle::Lifecycle,
            retention::Retention, stickiness::Stickiness, trends::Trends,
        };
        match self {
            Compiled::Retention(p) => (
                &p.params.common.projects,
                Retention::scan(p),
                Retention::event_names(p),
            ),
            Compiled::Trends(p) => (
                &p.params.common.projects,
                Trends::scan(p),
                Trends::event_names(p),
            ),
            Compiled::Stickiness(p) => (
                &p.params.common.projects,
                Stickiness::scan(p),
                Stickiness::event_names(p),
            ),
            Compiled::Lifecycle(p) => (
                &p.params.common.projects,
                Lifecycle::scan(p),
                Lifecycle::event_names(p),
            ),
            Compiled::Growth(p) => (
                &p.params.common.projects,
                Growth::scan(p),
                Growth::event_names(p),
            ),
            Compiled::Funnels(p) => (
                &p.params.common.projects,
                Funnels::scan(p),
                Funnels::event_names(p),
            ),
            Compiled::Economics(p) => (
                &p.params.common.projects,
                Economics::scan(p),
                Economics::event_names(p),
            ),
        }
    }
}

/// Plans a request as the embedded engine does, refusing kinds and parameters the compiler does not cover.
///
/// # Errors
/// [`Error::Report`] for invalid parameters, [`Error::Unsupported`].
pub fn plan(request: Request, now_us: i64, limits: &Limits) -> Result<Compiled> {
    match request.plan(now_us, limits)? {
        Planned::Retention(plan) => {
            retention::check(&plan)?;
            Ok(Compiled::Retention(Box::new(plan)))
        }
        Planned::Trends(plan) => {
            trends::check(&plan)?;
            Ok(Compiled::Trends(Box::new(plan)))
        }
        Planned::Stickiness(plan) => {
            stickiness::check(&plan)?;
            Ok(Compiled::Stickiness(Box::new(plan)))
        }
        Planned::Lifecycle(plan) => {
            lifecycle::check(&plan)?;
            Ok(Compiled::Lifecycle(Box::new(plan)))
        }
        Planned::Growth(plan) => {
            growth::check(&plan)?;
            Ok(Compiled::Growth(Box::new(plan)))
        }
        Planned::Funnels(plan) => {
            funnels::check(&plan)?;
            Ok(Compiled::Funnels(Box::new(plan)))
        }
        Planned::Economics(plan) => {
            economics::check(&plan)?;
            Ok(Compiled::Economics(Box::new(plan)))
        }
    }
}

/// Every query a report sends, with its parameters in comments, for people to read (`--explain`).
///
/// # Errors
/// As [`plan`].
pub fn explain(request: Request, now_us: i64, limits: &Limits) -> Result<String> {
    let mut out = String::new();
    let mut put = |project: &str, what: &str, query: Query| {
        out.push_str(&format!(
            "-- project {project:?}: {what}\n{};\n\n",
            query.explain()
        ));
    };
    let compiled = plan(request, now_us, limits)?;
    let (projects, scan, names) = compiled.reads();
    let all_note =
        "(from the earliest counting event of any project; shown here from date_to's day)";
    for project in projects {
        match &compiled {
            Compiled::Retention(plan) => {
                put(project, "cells", retention::cells_query(plan, project)?);
            }
            Compiled::Trends(plan) => {
                let from = match plan.date_from() {
                    Some(from) => from,
                    None => {
                        put(
                            project,
                            "the earliest counting event (date_from = all)",
                            trends::earliest_query(plan, project)?,
                        );
                        report::trends::all_from(plan, None)?
                    }
                };
                let note = if plan.date_from().is_some() {
                    "counts".to_string()
                } else {
                    format!("counts {all_note}")
                };
                if plan.params.common.breakdown.is_some() {
                    put(
                        project,
                        &format!("the first series per breakdown value, to rank the values {note}"),
                        trends::values_query(plan, from, project)?,
                    );
                    let groups = trends::Groups {
                        groups: vec![(Some("KEPT VALUES".into()), false), (None, true)],
                        zero: Vec::new(),
                    };
                    put(
                        project,
                        &format!(
                            "{note} per breakdown group (the kept values and Other from the ranking; shown here \
                             with placeholders)"
                        ),
                        trends::counts_query(plan, from, project, Some(&groups))?,
                    );
                } else {
                    put(
                        project,
                        &note,
                        trends::counts_query(plan, from, project, None)?,
                    );
                }
            }
            Compiled::Stickiness(plan) => {
                put(
                    project,
                    "persons per number of active buckets",
                    stickiness::query(plan, project)?,
                );
            }
            Compiled::Lifecycle(plan) => {
                let (window, note) = match &plan.window {
                    Some(w) => (w.clone(), String::new()),
                    None => {
                        put(
                            project,
                            "the earliest counting event (date_from = all)",
                            lifecycle::earliest_query(plan, project)?,
                        );
                        (plan.all_window(None, limits)?, format!(" {all_note}"))
                    }
                };
                put(
                    project,
                    &format!("persons per status and period{note}"),
                    lifecycle::query(plan, &window, project)?,
                );
            }
            Compiled::Growth(plan) => {
                put(
                    project,
                    "the first matching event",
                    growth::first_query(plan, project)?,
                );
                // Shown from the launch date, or from as_of's day when the first event is not known yet.
                let days = report::growth::days(plan, project, Some(plan.as_of), 1, limits)?;
                put(
                    project,
                    "persons per local day (from the earlier of day 0 and the first matching event; shown here \
                     from the launch date or as_of's day)",
                    growth::values_query(plan, &days, project)?,
                );
            }
            Compiled::Funnels(plan) => {
                let from = match plan.from {
                    Some(from) => from,
                    None => {
                        put(
                            project,
                            "the earliest event matching a step (date_from = all)",
                            funnels::earliest_query(plan, project)?,
                        );
                        report::funnels::all_from(plan, None)?
                    }
                };
                let note = if plan.from.is_some() {
                    String::new()
                } else {
                    format!(" {all_note}")
                };
                put(
                    project,
                    &format!("each read event with its step and exclusion roles{note}"),
                    funnels::events_query(plan, from, project)?,
                );
            }
            Compiled::Economics(plan) => {
                put(
                    project,
                    "anchors, active periods and the events that may bear money",
                    economics::query(plan, project)?,
                );
            }
        }
        put(
            project,
            "events read and personless persons",
            common::scope(&scan, project),
        );
        put(
            project,
            "the project's events up to as_of",
            provenance::span_query(project, scan.as_of),
        );
        put(
            project,
            "the days read (first day from the previous answer when the scan reads all history)",
            provenance::days_query(project, "FROM_DAY", "TO_DAY", &names),
        );
        put(
            project,
            "the identity digest",
            provenance::identity_query(project, scan.as_of),
        );
    }
    Ok(out)
}

/// Runs a report on ClickHouse: the same report, JSON and fingerprint the embedded engine gives over the same data.
///
/// # Errors
/// As [`plan`], and [`Error::Server`], [`Error::Http`] or [`Error::Answer`] from ClickHouse.
pub fn report(client: &Client, request: Request, now_us: i64, limits: &Limits) -> Result<Report> {
    let compiled = plan(request, now_us, limits)?;
    let (projects, scan, names) = compiled.reads();
    let mut tables = Vec::new();
    for project in projects {
        limits.check_time()?;
        tables.push(common::shell(client, project, &scan, &names)?);
    }
    let tables: Vec<&report::EventTable> = tables.iter().collect();
    // The earliest counting event of any project, for `date_from = all`.
    let earliest = |query: &dyn Fn(&str) -> Result<Query>| -> Result<Option<i64>> {
        let mut earliest: Option<i64> = None;
        for project in projects {
            if let Some(t) = common::read_earliest(&client.query(&query(project)?)?)? {
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
            }
        }
        Ok(earliest)
    };
    Ok(match &compiled {
        Compiled::Retention(plan) => {
            let mut counted = Vec::new();
            for project in projects {
                limits.check_time()?;
                let answer = client.query(&retention::cells_query(plan, project)?)?;
                counted.push(retention::read_cells(plan, &answer, limits)?);
            }
            report::kind::retention_from_counts(plan, &tables, counted, limits)?
        }
        Compiled::Trends(plan) => {
            let from = match plan.date_from() {
                Some(from) => from,
                None => {
                    report::trends::all_from(plan, earliest(&|p| trends::earliest_query(plan, p))?)?
                }
            };
            let mut counts = Vec::new();
            for project in projects {
                limits.check_time()?;
                let groups = match plan.params.common.breakdown {
                    Some(_) => {
                        let answer = client.query(&trends::values_query(plan, from, project)?)?;
                        Some(trends::read_values(
                            plan,
                            from,
                            tables[counts.len()],
                            &answer,
                            limits,
                        )?)
                    }
                    None => None,
                };
                let answer =
                    client.query(&trends::counts_query(plan, from, project, groups.as_ref())?)?;
                counts.push(trends::read_counts(plan, from, groups.as_ref(), &answer)?);
            }
            report::kind::trends_from_counts(plan, from, &tables, counts, limits)?
        }
        Compiled::Stickiness(plan) => {
            let mut exact = vec![0u64; plan.buckets()];
            for project in projects {
                limits.check_time()?;
                let answer = client.query(&stickiness::query(plan, project)?)?;
                for (acc, n) in exact.iter_mut().zip(stickiness::read(plan, &answer)?) {
                    *acc += n;
                }
            }
            report::kind::stickiness_from_counts(plan, &tables, exact)?
        }
        Compiled::Lifecycle(plan) => {
            let window = match &plan.window {
                Some(w) => w.clone(),
                None => {
                    plan.all_window(earliest(&|p| lifecycle::earliest_query(plan, p))?, limits)?
                }
            };
            let n_read = window.grid.len();
            let mut counts = report::lifecycle::LifecycleCounts::zeros(n_read);
            for project in projects {
                limits.check_time()?;
                let answer = client.query(&lifecycle::query(plan, &window, project)?)?;
                counts.add(&lifecycle::read(&window, &answer)?);
            }
            report::kind::lifecycle_from_counts(plan, &window, &tables, &counts)?
        }
        Compiled::Growth(plan) => {
            let mut counts = Vec::new();
            for project in projects {
                limits.check_time()?;
                let first_ts =
                    common::read_earliest(&client.query(&growth::first_query(plan, project)?)?)?;
                let days = report::growth::days(plan, project, first_ts, projects.len(), limits)?;
                counts.push(if days.is_empty() {
                    report::growth::GrowthCounts::default()
                } else {
                    let answer = client.query(&growth::values_query(plan, &days, project)?)?;
                    growth::read(plan, days.len(), first_ts, &answer)?
                });
            }
            report::kind::growth_from_counts(plan, &tables, counts, limits)?
        }
        Compiled::Funnels(plan) => {
            let from = match plan.from {
                Some(from) => from,
                None => report::funnels::all_from(
                    plan,
                    earliest(&|p| funnels::earliest_query(plan, p))?,
                )?,
            };
            let mut roles = Vec::new();
            for project in projects {
                limits.check_time()?;
                let mut rows = funnels::EventRows::new(plan);
                // One row per read event.
                rows_within_deadline(
                    client,
                    &funnels::events_query(plan, from, project)?,
                    limits,
                    |line| rows.read(line),
                )?;
                roles.push(rows.into_roles());
            }
            report::kind::funnels_from_roles(plan, from, &tables, roles, limits)?
        }
        Compiled::Economics(plan) => {
            let prices = report::economics::Tables::load(&plan.params.prices)?;
            let coster = prices.coster();
            let mut given = Vec::new();
            for project in projects {
                limits.check_time()?;
                let mut g = Given::new();
                // Rows are as many as the window's money events and active periods.
                rows_within_deadline(client, &economics::query(plan, project)?, limits, |line| {
                    economics::read_row(&mut g, &coster, line)
                })?;
                given.push(g);
            }
            report::kind::economics_from_given(plan, &tables, given, limits)?
        }
    })
}

/// Runs a query whose answer has a row per event and hands the rows to `row` as they arrive (see
/// [`Client::query_lines`]); the report's deadline is checked every 65,536 rows, so it bounds how many are read.
fn rows_within_deadline(
    client: &Client,
    query: &sql::Query,
    limits: &Limits,
    mut row: impl FnMut(&str) -> Result<()>,
) -> Result<()> {
    let mut n = 0u64;
    client.query_lines(query, |line| {
        n += 1;
        if n.is_multiple_of(1 << 16) {
            limits.check_time()?;
        }
        row(line)
    })
}
