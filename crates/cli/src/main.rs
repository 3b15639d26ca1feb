//! The `liucun` command line: a thin shell over the engine that parses arguments, calls it and prints results.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool prints its results"
)]

mod alloc;
mod clickhouse;
mod cost;
mod demo;
mod gen_cmd;
mod import;
mod inspect;
mod prices;
mod quarantine;
mod report;
mod serve;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Exit code for a failure of the environment or the data (IO, corruption).
const EXIT_FAILURE: u8 = 1;
/// Exit code for invalid input: bad arguments or a refused file.
const EXIT_INVALID: u8 = 2;
/// Exit code for an import that rejected some rows (without `--allow-rejects`).
const EXIT_REJECTS: u8 = 3;

/// liucun (留存): retention and unit economics for AI apps, from raw events.
///
/// Exit codes: 0 success; 1 failure (IO, damaged data); 2 invalid input (bad arguments, a refused file);
/// 3 an import rejected some rows (see --allow-rejects).
#[derive(Debug, Parser)]
#[command(name = "liucun", version, propagate_version = true)]
struct Cli {
    /// The data directory.
    #[arg(
        long,
        global = true,
        env = "LIUCUN_DATA",
        default_value = "./liucun-data"
    )]
    data: PathBuf,
    /// Log level for diagnostics on stderr (error, warn, info, debug).
    #[arg(long, global = true, env = "LIUCUN_LOG", default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Import(import::ImportArgs),
    Gen(gen_cmd::GenArgs),
    Inspect(inspect::InspectArgs),
    Compact(inspect::CompactArgs),
    Quarantine(quarantine::QuarantineArgs),
    Export(clickhouse::ExportArgs),
    Retention(Box<report::RetentionArgs>),
    Trends(Box<report::TrendsArgs>),
    Stickiness(Box<report::StickinessArgs>),
    Lifecycle(Box<report::LifecycleArgs>),
    Growth(Box<report::GrowthArgs>),
    Funnels(Box<report::FunnelsArgs>),
    FunnelPersons(Box<report::FunnelPersonsArgs>),
    Economics(Box<report::EconomicsArgs>),
    Verify(report::VerifyArgs),
    Demo(demo::DemoArgs),
    Serve(serve::ServeArgs),
    Projects(serve::ProjectsArgs),
    Keys(serve::KeysArgs),
    Prices(prices::PricesArgs),
    Cost(cost::CostArgs),
}

fn main() -> ExitCode {
    alloc::keep_freed_memory();
    quiet_on_broken_pipe();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let given = given_args(&Cli::command(), &matches);
    let data_given = matches!(
        matches.value_source("data"),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    );
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Import(args) => import::run(&cli.data, args),
        Command::Gen(args) => gen_cmd::run(args),
        Command::Inspect(args) => inspect::run(&cli.data, args),
        Command::Compact(args) => inspect::compact(&cli.data, args),
        Command::Quarantine(args) => quarantine::run(&cli.data, args),
        Command::Export(args) => clickhouse::export(&cli.data, args),
        Command::Retention(args) => report::retention(&cli.data, *args, &given),
        Command::Trends(args) => report::trends(&cli.data, *args, &given),
        Command::Stickiness(args) => report::stickiness(&cli.data, *args, &given),
        Command::Lifecycle(args) => report::lifecycle(&cli.data, *args, &given),
        Command::Growth(args) => report::growth(&cli.data, *args, &given),
        Command::Funnels(args) => report::funnels(&cli.data, *args, &given),
        Command::FunnelPersons(args) => report::funnel_persons(&cli.data, *args, &given),
        Command::Economics(args) => report::economics(&cli.data, *args, &given),
        Command::Verify(args) => report::verify(&cli.data, args),
        Command::Demo(args) => demo::run(args, data_given.then_some(cli.data.as_path())),
        Command::Serve(args) => serve::serve(&cli.data, args),
        Command::Projects(args) => serve::projects(&cli.data, args),
        Command::Keys(args) => serve::keys(&cli.data, args),
        Command::Prices(args) => prices::run(args),
        Command::Cost(args) => cost::run(&cli.data, args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            let invalid = err.chain().any(|c| {
                c.downcast_ref::<liucun::Error>().is_some_and(|e| {
                    matches!(
                        e,
                        liucun::Error::Invalid(_)
                            | liucun::Error::File(_)
                            | liucun::Error::Report(_)
                    )
                }) || c.downcast_ref::<Invalid>().is_some()
            });
            ExitCode::from(if invalid { EXIT_INVALID } else { EXIT_FAILURE })
        }
    }
}

/// An invalid argument found after parsing; exits with code 2.
#[derive(Debug)]
struct Invalid(String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// The ids of the arguments given on the subcommand's command line (not defaults or the environment); argument
/// groups are left out.
fn given_args(command: &clap::Command, matches: &clap::ArgMatches) -> Vec<String> {
    let Some((name, sub)) = matches.subcommand() else {
        return Vec::new();
    };
    let Some(sub_command) = command.find_subcommand(name) else {
        return Vec::new();
    };
    sub_command
        .get_arguments()
        .map(|a| a.get_id().as_str())
        .filter(|id| sub.value_source(id) == Some(ValueSource::CommandLine))
        .map(str::to_string)
        .collect()
}

/// Makes a closed stdout end the process quietly with exit 0, as Unix tools do (`liucun … | head`).
///
/// Rust ignores SIGPIPE, so `println!` to a closed pipe panics with "failed printing to stdout: Broken pipe";
/// that panic, and only that one, becomes a silent exit. Writes that return their error reach `main`, which
/// treats a broken pipe the same way.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if payload.starts_with("failed printing to stdout") && payload.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Opens an existing data directory for a command that only reads: for writing when it is free (so that a WAL
/// left by a crash is replayed and flushed first), read-only when another process (`liucun serve`, an import) holds
/// it.
fn open_for_reading(data: &std::path::Path) -> anyhow::Result<liucun::Engine> {
    use anyhow::Context;
    match liucun::Engine::open(
        data,
        liucun::OpenMode::Existing,
        liucun::EngineConfig::default(),
    ) {
        Ok(engine) => Ok(engine),
        Err(e) if e.is_locked() => {
            let engine = liucun::Engine::open_read_only(data, liucun::EngineConfig::default())
                .with_context(|| format!("opening {} read-only", data.display()))?;
            eprintln!(
                "note: {} is in use by another liucun process (serve or import); reading what it has committed, \
                 read-only (events it has not flushed yet are left out)",
                data.display()
            );
            Ok(engine)
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("opening {}", data.display()))),
    }
}

/// Opens an existing data directory for a command that writes. When another process holds it, the error says
/// what to do instead (`instead`: the HTTP API call, or stopping the server first).
fn open_for_writing(
    data: &std::path::Path,
    mode: liucun::OpenMode,
    instead: &str,
) -> anyhow::Result<liucun::Engine> {
    match liucun::Engine::open(data, mode, liucun::EngineConfig::default()) {
        Ok(engine) => Ok(engine),
        Err(e) if e.is_locked() => Err(anyhow::Error::new(e).context(format!(
            "this command writes to {}, which another liucun process (serve or import) holds; {instead}",
            data.display()
        ))),
        Err(e) => Err(anyhow::Error::new(e).context(format!("opening {}", data.display()))),
    }
}

/// Runs a read on a read-only engine again on the latest snapshot when a file of its snapshot vanished (a writer
/// replaced the segment), a few times; on an engine that writes, it runs once.
fn on_snapshot<T>(
    engine: &liucun::Engine,
    mut read: impl FnMut() -> liucun::Result<T>,
) -> liucun::Result<T> {
    let mut attempts = 0;
    loop {
        match read() {
            Err(e) if engine.is_read_only() && attempts < 3 && is_missing_file(&e) => {
                attempts += 1;
                tracing::info!(error = %e, "a file of the snapshot vanished; reading the latest snapshot");
                engine.reload()?;
            }
            other => return other,
        }
    }
}

fn is_missing_file(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
        {
            return true;
        }
        next = err.source();
    }
    false
}
