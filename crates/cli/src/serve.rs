//! `liucun serve`, `liucun projects` and `liucun keys`: the HTTP server and the access registry it checks.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use server::{Access, KeyKind, ServerConfig};

use crate::Invalid;

/// Serve capture for PostHog and Segment SDKs, and the report API.
///
/// A 2xx answer means the events are fsynced in the WAL. Point an SDK's host at the server and use a project's
/// write token as its key; read reports with a read key (`Authorization: Bearer lcr_…`).
///
/// Example: liucun serve --bind 127.0.0.1:8000
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8000", env = "LIUCUN_BIND")]
    bind: SocketAddr,
    /// Write the bound address (`host:port`) to this file once listening.
    #[arg(long)]
    addr_file: Option<PathBuf>,
    /// An admin key accepted besides those in the registry (as a value in the environment only).
    #[arg(
        long = "admin-key",
        env = "LIUCUN_ADMIN_KEY",
        hide_env_values = true,
        hide = true
    )]
    admin_key: Option<String>,
    /// A file holding an admin key accepted besides those in the registry.
    #[arg(long)]
    admin_key_file: Option<PathBuf>,
    /// Requests per second allowed per write token (429 with Retry-After beyond); unlimited when absent.
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Seconds between moves of accepted events from the WAL into Parquet segments.
    #[arg(long, default_value_t = 10)]
    flush_interval: u64,
    /// Move them sooner once this many events wait in memory (bounds memory under heavy load).
    #[arg(long, default_value_t = 500_000)]
    flush_events: usize,
    /// Refuse captures with 503 and Retry-After: 1 while this many accepted events wait to be written to segments
    /// (bounds memory when events arrive faster than they can be written; SDKs retry). At least --flush-events;
    /// default 2000000, or twice --flush-events when that is more.
    #[arg(long)]
    max_waiting_events: Option<usize>,
    /// Most items (events or messages) in one capture request; more is refused with 413 `too_many_items`.
    #[arg(long, default_value_t = 10_000)]
    max_batch_items: usize,
    /// MiB that all capture requests together may hold while they are read, decoded and validated (a request holds
    /// about its body, its decoded payload and three times that); past it, 503 `capture_memory_full` with
    /// Retry-After.
    #[arg(long, default_value_t = 1024)]
    capture_memory_mib: usize,
    /// KiB per second each project may add to its quarantine (each rejection costs its raw bytes plus 256); a
    /// request past the budget keeps its valid events, drops its rejections and says so (`quarantine_dropped`).
    #[arg(long, default_value_t = 1024)]
    quarantine_kib_per_second: u64,
    /// MiB a project may add to its quarantine in a burst.
    #[arg(long, default_value_t = 64)]
    quarantine_burst_mib: u64,
    /// Open connections accepted at once; more are answered 503 `too_many_connections` and closed.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a connection has to send a request's headers, from when it opened or its previous response was sent
    /// (so also how long an idle keep-alive connection stays open).
    #[arg(long, default_value_t = 30)]
    header_timeout: u64,
    /// Seconds a request has from its headers to its response, body included; past it, 503 `request_timeout`.
    #[arg(long, default_value_t = 60)]
    request_timeout: u64,
    /// Reports and event, person and quarantine listings computed at once; others wait in line, one per key.
    #[arg(long, default_value_t = 2)]
    max_concurrent_reads: usize,
    /// The most result cells one report may hold (counts: buckets × rows × columns, series × points, …); a report
    /// past it is refused with 422 `report_too_large` before it allocates. Each cell is at least one 64-bit count.
    #[arg(long, default_value_t = report::Limits::default().max_cells, value_parser = clap::value_parser!(u64).range(1..))]
    report_max_cells: u64,
    /// A price table (TOML or JSON, economics.md §4.2) that economics reports over the API use when they bring
    /// none of their own, searched before the built-in one; repeatable. Echoed in each report's parameters.
    #[arg(long, value_name = "FILE")]
    prices: Vec<PathBuf>,
    /// Dated exchange rates (a JSON list of {date, from, to, rate, source}) that economics reports over the API use
    /// when they bring none of their own.
    #[arg(long, value_name = "FILE")]
    fx: Option<PathBuf>,
}

pub(crate) fn serve(data: &Path, args: ServeArgs) -> anyhow::Result<u8> {
    serve_dashboard(data, args, &[])
}

impl ServeArgs {
    /// Sets the price tables and exchange rates economics reports over the API fall back to.
    pub(crate) fn set_economics_files(&mut self, prices: Vec<PathBuf>, fx: Option<PathBuf>) {
        self.prices = prices;
        self.fx = fx;
    }
}

/// The server's flags at their defaults, listening on `bind`.
pub(crate) fn default_args(bind: SocketAddr) -> anyhow::Result<ServeArgs> {
    use clap::{Args as _, FromArgMatches as _};
    let command = ServeArgs::augment_args(clap::Command::new("serve"));
    let matches = command.try_get_matches_from(["serve", "--bind", &bind.to_string()])?;
    Ok(ServeArgs::from_arg_matches(&matches)?)
}

/// Serves `data`; once listening, prints the dashboard's address with `keys` in its fragment (never sent to the
/// server, which the page keeps in the browser's storage).
pub(crate) fn serve_dashboard(data: &Path, args: ServeArgs, keys: &[String]) -> anyhow::Result<u8> {
    let extra_admin = match (&args.admin_key, &args.admin_key_file) {
        (Some(k), _) => Some(k.trim().to_string()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("reading the admin key file {}", f.display()))?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    };
    if extra_admin.as_deref().is_some_and(str::is_empty) {
        return Err(Invalid("the admin key given is empty".to_string()).into());
    }
    let max_waiting = args
        .max_waiting_events
        .unwrap_or_else(|| args.flush_events.saturating_mul(2).max(2_000_000));
    if max_waiting < args.flush_events.max(1) {
        return Err(Invalid(format!(
            "--max-waiting-events ({max_waiting}) must be at least --flush-events ({})",
            args.flush_events
        ))
        .into());
    }
    // A serve that fails before it listens removes the directory it created, so that a typo in --bind or a port in
    // use leaves nothing behind.
    let created = !data.exists();
    let result = serve_in(data, args, extra_admin.as_deref(), max_waiting, keys);
    if created
        && let Err(e) = &result
        && e.chain().any(|c| {
            matches!(
                c.downcast_ref::<server::ServeError>(),
                Some(server::ServeError::Bind { .. })
            )
        })
        && let Err(cleanup) = std::fs::remove_dir_all(data)
    {
        tracing::warn!(dir = %data.display(), error = %cleanup, "could not remove the data directory this serve created");
    }
    result
}

fn serve_in(
    data: &Path,
    args: ServeArgs,
    extra_admin: Option<&str>,
    max_waiting: usize,
    keys: &[String],
) -> anyhow::Result<u8> {
    // Events, raw quarantined bodies and the key registry live here: only its owner may enter, whatever the umask.
    server::access::create_private_dir(data)
        .with_context(|| format!("creating {}", data.display()))?;
    let access = Access::open(data, extra_admin)?;
    access.check_private().map_err(|e| Invalid(e.to_string()))?;
    let engine = liucun::Engine::open(
        data,
        liucun::OpenMode::CreateIfMissing,
        liucun::EngineConfig {
            tail_limit: Some(max_waiting),
            report_limits: report::Limits {
                max_cells: args.report_max_cells,
                ..Default::default()
            },
            ..liucun::EngineConfig::default()
        },
    )
    .with_context(|| format!("opening {}", data.display()))?;
    if let Some(note) = engine.replay_note() {
        eprintln!("warning: {note}");
    }
    let mut economics_defaults = serde_json::Map::new();
    if !args.prices.is_empty() {
        let tables = crate::report::price_tables(&args.prices)?;
        // Refuse a bad table now rather than on every report.
        for (path, text) in args
            .prices
            .iter()
            .zip(tables.as_array().into_iter().flatten())
        {
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            prices::PriceTable::parse(&name, text.as_str().unwrap_or_default())
                .map_err(|e| Invalid(format!("--prices {}: {e}", path.display())))?;
        }
        economics_defaults.insert("prices".into(), tables);
    }
    if let Some(path) = &args.fx {
        economics_defaults.insert("fx_rates".into(), crate::report::fx_rates(path)?);
    }
    let config = ServerConfig {
        economics_defaults,
        bind: args.bind,
        addr_file: args.addr_file,
        rate_limit: args.rate_limit,
        flush_interval: Duration::from_secs(args.flush_interval.max(1)),
        flush_events: args.flush_events.max(1),
        limits: server::Limits {
            max_batch_items: args.max_batch_items.max(1),
            capture_memory_bytes: args.capture_memory_mib.max(1).saturating_mul(1 << 20),
            quarantine_bytes_per_second: args.quarantine_kib_per_second.saturating_mul(1 << 10),
            quarantine_burst_bytes: args.quarantine_burst_mib.saturating_mul(1 << 20),
            max_connections: args.max_connections.max(1),
            header_timeout: Duration::from_secs(args.header_timeout.max(1)),
            request_timeout: Duration::from_secs(args.request_timeout.max(1)),
            max_concurrent_reads: args.max_concurrent_reads.max(1),
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let shown = data.display().to_string();
    let fragment = if keys.is_empty() {
        String::new()
    } else {
        format!("#keys={}", keys.join(","))
    };
    runtime.block_on(server::serve(
        Arc::new(engine),
        Arc::new(access),
        config,
        move |addr| {
            eprintln!("liucun serving {shown} on http://{addr} (stop with Ctrl-C or SIGTERM)");
            eprintln!("dashboard: http://{addr}/{fragment}");
        },
    ))?;
    Ok(0)
}

/// Manage projects: the names write tokens and read keys belong to.
///
/// Example: liucun projects create chat
#[derive(Debug, Args)]
pub(crate) struct ProjectsArgs {
    #[command(subcommand)]
    command: ProjectsCommand,
}

#[derive(Debug, Subcommand)]
enum ProjectsCommand {
    /// Register a project (works while a server runs).
    Create {
        /// The project name.
        name: String,
    },
    /// List registered projects.
    List,
    /// Change a project's settings, which every report of it applies unless the report names its own: time zone,
    /// week start, non-activity events and test-account filters (works while a server runs; prints the settings).
    ///
    /// Example: liucun projects set chat --timezone Asia/Shanghai --test-account-filter 'person.email not_contains @chat.example'
    Set(SetArgs),
    /// Print a project's settings as JSON, defaults included.
    Show {
        /// The project name.
        name: String,
    },
}

#[derive(Debug, Args)]
struct SetArgs {
    /// The project name.
    name: String,
    /// IANA time zone of reports that name none (`UTC` by default).
    #[arg(long)]
    timezone: Option<String>,
    /// First day of a week for reports that name none.
    #[arg(long, value_parser = ["monday", "sunday"])]
    week_start: Option<String>,
    /// Events "any activity event" leaves out, comma-separated; an empty value counts every event.
    #[arg(long, value_delimiter = ',', num_args = 0..)]
    non_activity_events: Option<Vec<String>>,
    /// A test-account filter `KEY OP VALUE` (as `--where` of reports) that real users pass and test accounts fail;
    /// repeat for several. Replaces the list.
    #[arg(long = "test-account-filter")]
    test_account_filters: Vec<String>,
    /// Remove every test-account filter.
    #[arg(long, conflicts_with = "test_account_filters")]
    clear_test_account_filters: bool,
    /// Start from the defaults (UTC, Monday, the default non-activity events, no test-account filters).
    #[arg(long)]
    reset: bool,
}

pub(crate) fn projects(data: &Path, args: ProjectsArgs) -> anyhow::Result<u8> {
    let access = Access::open(data, None)?;
    match args.command {
        ProjectsCommand::Create { name } => {
            let p = access.create_project(&name).map_err(invalid)?;
            println!("{}", p.name);
        }
        ProjectsCommand::List => {
            for p in access.registry().projects {
                println!("{}\t{}", p.name, p.created_at);
            }
        }
        ProjectsCommand::Set(a) => {
            let filters = crate::report::filters(&a.test_account_filters, "test-account-filter")?
                .into_iter()
                .map(|f| serde_json::from_value(f).map_err(|e| Invalid(e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            let week_start = a
                .week_start
                .as_deref()
                .map(|w| serde_json::from_value(serde_json::Value::String(w.to_string())))
                .transpose()
                .map_err(|e| Invalid(e.to_string()))?;
            let s = liucun::settings::update(data, &a.name, |s| {
                if a.reset {
                    *s = Default::default();
                }
                if let Some(tz) = a.timezone {
                    s.timezone = Some(tz);
                }
                if week_start.is_some() {
                    s.week_start = week_start;
                }
                if let Some(names) = a.non_activity_events {
                    s.non_activity_events =
                        Some(names.into_iter().filter(|n| !n.is_empty()).collect());
                }
                if !filters.is_empty() {
                    s.test_account_filters = filters;
                }
                if a.clear_test_account_filters {
                    s.test_account_filters.clear();
                }
            })
            .map_err(|e| Invalid(e.to_string()))?;
            println!("{}", settings_json(&s));
        }
        ProjectsCommand::Show { name } => {
            liucun::model::Project::new(&name).map_err(|e| Invalid(e.to_string()))?;
            let s = liucun::settings::get(data, &name)?;
            println!("{}", settings_json(&s));
        }
    }
    Ok(0)
}

/// A project's settings with every default spelled out.
fn settings_json(s: &report::settings::ProjectSettings) -> String {
    serde_json::to_string_pretty(&s.effective_json()).unwrap_or_default()
}

/// Manage keys: write tokens for capture, read keys for reports, admin keys for everything.
///
/// A new key is printed once on stdout; read and admin keys are stored only as SHA-256.
///
/// Example: liucun keys create --project chat --kind write
#[derive(Debug, Args)]
pub(crate) struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a write token or a read key for a project (works while a server runs).
    Create {
        /// The project.
        #[arg(long, short)]
        project: String,
        /// `write` (capture only) or `read` (reports of this project).
        #[arg(long, value_parser = ["write", "read"])]
        kind: String,
        /// Register this existing write token (such as a `phc_…` one) instead of making a new one.
        #[arg(long)]
        token: Option<String>,
    },
    /// Create an admin key.
    CreateAdmin,
    /// List keys (prefixes only; write tokens in full, since they are public).
    List,
    /// Revoke every active key with this 8-character prefix.
    Revoke {
        /// The prefix, as `keys list` shows it.
        prefix: String,
    },
}

pub(crate) fn keys(data: &Path, args: KeysArgs) -> anyhow::Result<u8> {
    let access = Access::open(data, None)?;
    match args.command {
        KeysCommand::Create {
            project,
            kind,
            token,
        } => {
            let kind = KeyKind::parse(&kind).ok_or_else(|| Invalid(format!("bad kind {kind}")))?;
            match token {
                Some(t) if kind == KeyKind::Write => {
                    access.import_token(&project, &t).map_err(invalid)?;
                    println!("{}", t.trim());
                }
                Some(_) => {
                    return Err(Invalid("--token imports write tokens only".to_string()).into());
                }
                None => {
                    let (key, _) = access.create_key(kind, Some(&project)).map_err(invalid)?;
                    println!("{key}");
                }
            }
        }
        KeysCommand::CreateAdmin => {
            let (key, _) = access.create_key(KeyKind::Admin, None).map_err(invalid)?;
            println!("{key}");
            eprintln!("this admin key is shown once; store it now");
        }
        KeysCommand::List => {
            for k in access.registry().keys {
                let kind = format!("{:?}", k.kind).to_lowercase();
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    k.prefix,
                    kind,
                    k.project.as_deref().unwrap_or("-"),
                    k.token.as_deref().unwrap_or("-"),
                    k.revoked_at
                        .as_deref()
                        .map_or("active".to_string(), |r| format!("revoked {r}")),
                );
            }
        }
        KeysCommand::Revoke { prefix } => {
            let n = access.revoke(&prefix).map_err(invalid)?;
            println!("revoked {n}");
        }
    }
    Ok(0)
}

fn invalid(e: server::AccessError) -> anyhow::Error {
    match e {
        server::AccessError::Io { .. } | server::AccessError::Damaged { .. } => e.into(),
        other => Invalid(other.to_string()).into(),
    }
}
