//! liucun on ClickHouse: the tables (`schema`), the export of a data directory into them (`export`), and reports
//! compiled to ClickHouse SQL (`retention`), run over ClickHouse's HTTP interface (`http`) with every user value
//! bound as a query parameter (`sql`).
//!
//! A compiled report computes in SQL what the embedded engine's kernel computes (the counts) and what it read (the
//! fingerprint's inputs), then goes through the same code as an embedded report for everything else, so the two
//! give byte-identical JSON over the same data. Parameters the compiler does not cover yet are refused with
//! [`Error::Unsupported`] naming them, never approximated.

mod common;
pub mod export;
mod filter;
pub mod http;
pub mod provenance;
pub mod retention;
pub mod schema;
pub mod sql;
pub mod trends;

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
}

/// Plans a request as the embedded engine does, refusing kinds and parameters the compiler does not cover.
///
/// # Errors
/// [`Error::Report`] for invalid parameters, [`Error::Unsupported`].
pub fn plan(request: Request, now_us: i64, limits: &Limits) -> Result<Compiled> {
    let kind = request.kind();
    match request.plan(now_us, limits)? {
        Planned::Retention(plan) => {
            retention::check(&plan)?;
            Ok(Compiled::Retention(Box::new(plan)))
        }
        Planned::Trends(plan) => {
            trends::check(&plan)?;
            Ok(Compiled::Trends(Box::new(plan)))
        }
        _ => Err(Error::Unsupported {
            field: "kind",
            message: format!(
                "{} reports are not compiled to ClickHouse SQL yet (retention and trends are); run it on the \
                 embedded engine",
                kind.name()
            ),
        }),
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
    let (projects, scan, names) = match plan(request, now_us, limits)? {
        Compiled::Retention(plan) => {
            for project in &plan.params.common.projects {
                let q = retention::compile_project(&plan, project)?;
                put(project, "cells", q.cells);
                put(project, "events read and personless persons", q.scope);
            }
            let names = report::retention::Retention::event_names(&plan);
            (plan.params.common.projects.clone(), plan.scan(), names)
        }
        Compiled::Trends(plan) => {
            for project in &plan.params.common.projects {
                let from = match plan.date_from() {
                    Some(from) => from,
                    None => {
                        put(
                            project,
                            "the earliest counting event (date_from = all)",
                            trends::earliest_query(&plan, project)?,
                        );
                        report::trends::all_from(&plan, None)?
                    }
                };
                let note = if plan.date_from().is_some() {
                    "counts"
                } else {
                    "counts (from the day of the earliest counting event of any project; shown here from date_to's)"
                };
                put(project, note, trends::counts_query(&plan, from, project)?);
                put(
                    project,
                    "events read and personless persons",
                    common::scope(&report::trends::Trends::scan(&plan), project),
                );
            }
            let names = report::trends::Trends::event_names(&plan);
            (
                plan.params.common.projects.clone(),
                report::trends::Trends::scan(&plan),
                names,
            )
        }
    };
    for project in &projects {
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
    match plan(request, now_us, limits)? {
        Compiled::Retention(plan) => {
            let scan = plan.scan();
            let names = report::retention::Retention::event_names(&plan);
            let mut tables = Vec::new();
            let mut counted = Vec::new();
            for project in &plan.params.common.projects {
                limits.check_time()?;
                let q = retention::compile_project(&plan, project)?;
                let (mut data, present) = provenance::data(client, project, &scan, &names)?;
                common::read_scope(&client.query(&q.scope)?, &mut data)?;
                counted.push(retention::read_cells(
                    &plan,
                    &client.query(&q.cells)?,
                    limits,
                )?);
                tables.push(retention::shell(project, data, present));
            }
            let tables: Vec<&report::EventTable> = tables.iter().collect();
            Ok(report::kind::retention_from_counts(
                &plan, &tables, counted, limits,
            )?)
        }
        Compiled::Trends(plan) => {
            let scan = report::trends::Trends::scan(&plan);
            let names = report::trends::Trends::event_names(&plan);
            let projects = &plan.params.common.projects;
            let from = match plan.date_from() {
                Some(from) => from,
                None => {
                    let mut earliest: Option<i64> = None;
                    for project in projects {
                        let answer = client.query(&trends::earliest_query(&plan, project)?)?;
                        let text = answer.trim();
                        if text != "\\N" {
                            let t: i64 = text.parse().map_err(|_| {
                                Error::Answer(format!(
                                    "the earliest event {text:?} is not an instant"
                                ))
                            })?;
                            earliest = Some(earliest.map_or(t, |e| e.min(t)));
                        }
                    }
                    report::trends::all_from(&plan, earliest)?
                }
            };
            let mut tables = Vec::new();
            let mut counts = Vec::new();
            for project in projects {
                limits.check_time()?;
                let (mut data, present) = provenance::data(client, project, &scan, &names)?;
                common::read_scope(&client.query(&common::scope(&scan, project))?, &mut data)?;
                let answer = client.query(&trends::counts_query(&plan, from, project)?)?;
                counts.push(trends::read_counts(&plan, from, &answer)?);
                tables.push(retention::shell(project, data, present));
            }
            let tables: Vec<&report::EventTable> = tables.iter().collect();
            Ok(report::kind::trends_from_counts(
                &plan, from, &tables, counts, limits,
            )?)
        }
    }
}
