//! The ClickHouse back end on the command line: `liucun export clickhouse`, and `--engine clickhouse` on reports.

use std::path::Path;

use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use report::{Limits, Report, Request};

use crate::{Invalid, open_for_reading};

/// Which engine computes a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum EngineArg {
    /// liucun's own, over the data directory.
    #[default]
    Embedded,
    /// ClickHouse, over the tables `liucun export clickhouse` fills (every report kind).
    Clickhouse,
}

/// Where ClickHouse is.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClickHouseArgs {
    /// ClickHouse's HTTP interface, e.g. http://localhost:8123.
    #[arg(
        long = "clickhouse-url",
        env = "LIUCUN_CLICKHOUSE_URL",
        value_name = "URL"
    )]
    clickhouse_url: Option<String>,
    /// The database holding liucun's tables.
    #[arg(
        long = "clickhouse-database",
        env = "LIUCUN_CLICKHOUSE_DATABASE",
        default_value = "liucun",
        value_name = "NAME"
    )]
    clickhouse_database: String,
    /// The ClickHouse user (default: the server's default user).
    #[arg(
        long = "clickhouse-user",
        env = "LIUCUN_CLICKHOUSE_USER",
        value_name = "USER"
    )]
    clickhouse_user: Option<String>,
    /// Its password (prefer the environment variable: a flag shows in the process list).
    #[arg(
        long = "clickhouse-password",
        env = "LIUCUN_CLICKHOUSE_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    clickhouse_password: Option<String>,
}

impl ClickHouseArgs {
    fn client(&self) -> anyhow::Result<clickhouse::Client> {
        let url = self.clickhouse_url.clone().ok_or_else(|| {
            Invalid(
                "--clickhouse-url (or LIUCUN_CLICKHOUSE_URL) names the ClickHouse server".into(),
            )
        })?;
        clickhouse::Client::new(clickhouse::Connection {
            url,
            database: self.clickhouse_database.clone(),
            user: self.clickhouse_user.clone(),
            password: self.clickhouse_password.clone(),
        })
        .map_err(invalid_or_failure)
    }
}

/// Copy the data directory into ClickHouse, so reports can run there (`--engine clickhouse`).
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(subcommand)]
    command: ExportCommand,
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// Create liucun's tables in a ClickHouse database (docs/clickhouse.md) and fill them with each project's
    /// events, identity timeline and merge log, over ClickHouse's HTTP interface.
    ///
    /// Events go segment by segment: running it again sends only the segments ClickHouse lacks (new ones, ones a
    /// compaction wrote, one an export cut short left incomplete) and deletes the rows of segments the data
    /// directory no longer has, so an export cut short resumes and no event is ever there twice. The identity
    /// timeline, merge log and persons are replaced whole.
    ///
    /// Example: liucun export clickhouse --clickhouse-url http://localhost:8123 --project chat
    Clickhouse {
        #[command(flatten)]
        to: ClickHouseArgs,
        /// Project to export; repeatable. Default: every project with events.
        #[arg(long, short)]
        project: Vec<String>,
        /// Write only the identity timeline and merge log, leaving the events table as it is: for events loaded
        /// by ClickHouse straight from the segments (docs/clickhouse.md).
        #[arg(long)]
        no_events: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
}

/// `liucun export …`.
pub(crate) fn export(data: &Path, args: ExportArgs) -> anyhow::Result<u8> {
    let ExportCommand::Clickhouse {
        to,
        project,
        no_events,
        quiet,
    } = args.command;
    let client = to.client()?;
    let engine = open_for_reading(data)?;
    let projects: Vec<String> = if project.is_empty() {
        engine.projects_with_events().into_iter().collect()
    } else {
        project
    };
    clickhouse::export::create_tables(&client).map_err(invalid_or_failure)?;
    let terminal = !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    for name in &projects {
        let bar = if terminal {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {pos}/{len} events ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(format!("exporting {name}"));
            bar
        } else {
            ProgressBar::hidden()
        };
        let out = clickhouse::export::project(&engine, &client, name, !no_events, |n, total| {
            bar.set_length(total);
            bar.set_position(n);
        })
        .map_err(invalid_or_failure)?;
        bar.finish_and_clear();
        println!(
            "{name}: {} events written ({} already there), {} identity changes, {} merge requests, {} persons \
             records, {} person properties changes into {}",
            out.events,
            out.events_kept,
            out.identity_changes,
            out.merges,
            out.persons,
            out.person_properties,
            client.database()
        );
    }
    Ok(0)
}

/// Computes a report on ClickHouse, or prints its SQL (`explain`). The data directory's project settings apply as
/// they do to an embedded report, when it has any.
pub(crate) fn report(
    data: &Path,
    mut request: Request,
    args: &ClickHouseArgs,
    now_us: i64,
) -> anyhow::Result<Report> {
    if data.join("settings.json").exists() {
        request.apply_settings(&liucun::settings::load(data)?)?;
    }
    let client = args.client()?;
    clickhouse::report(&client, request, now_us, &Limits::default()).map_err(invalid_or_failure)
}

/// Recomputes a published report on ClickHouse from its own parameters and compares every field, as
/// `Engine::verify` does on the data directory.
pub(crate) fn verify(
    data: &Path,
    published: &serde_json::Value,
    args: &ClickHouseArgs,
) -> anyhow::Result<liucun::Verification> {
    let kind_name = published
        .get("kind")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| Invalid("not a report: it has no `kind`".into()))?;
    let kind = report::Kind::parse(kind_name).ok_or_else(|| {
        Invalid(format!(
            "`kind` {kind_name:?} is not a report liucun computes"
        ))
    })?;
    let params = published
        .get("parameters")
        .ok_or_else(|| Invalid("the report has no `parameters` object".into()))?;
    let request = Request::from_json(kind, params).map_err(|e| Invalid(e.to_string()))?;
    if request.common().as_of.is_none() {
        return Err(
            Invalid("parameters.as_of is missing; a report always records it".into()).into(),
        );
    }
    let recomputed = self::report(data, request, args, 0)?;
    let differences = report::verify::diff(published, &recomputed.to_json());
    Ok(liucun::Verification {
        kind,
        matches: differences.is_empty(),
        differences,
        recomputed_fingerprint: recomputed.provenance().data_fingerprint.clone(),
    })
}

/// The SQL a report sends, with its parameters.
pub(crate) fn explain(data: &Path, mut request: Request, now_us: i64) -> anyhow::Result<String> {
    if data.join("settings.json").exists() {
        request.apply_settings(&liucun::settings::load(data)?)?;
    }
    clickhouse::explain(request, now_us, &Limits::default()).map_err(invalid_or_failure)
}

/// Parameters the back end refuses are invalid input (exit 2); the server's failures are failures (exit 1).
fn invalid_or_failure(e: clickhouse::Error) -> anyhow::Error {
    match e {
        clickhouse::Error::Unsupported { .. }
        | clickhouse::Error::Invalid { .. }
        | clickhouse::Error::Report(_) => Invalid(e.to_string()).into(),
        other => other.into(),
    }
}
