//! `liucun gen`: write a seeded synthetic event stream for several AI chat apps.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::Invalid;

/// Generate a synthetic, seeded event stream for several AI chat apps (one file per app/project).
///
/// Users sign up over the window and most never return while a loyal minority does; visits emit $pageview,
/// chat_message and $ai_generation events (model, token counts), anonymous users later $identify, and a few pay.
/// The same seed always gives the same bytes. The data is labelled synthetic in its metadata.
/// With several apps, `--out events.parquet` writes events.<app>.parquet per app (or use {app} in the path).
/// Beside each app's events it writes persons.<app>.ndjson, for `liucun import --persons`: a plan and a country for
/// about a quarter of the users, each with their login and anonymous ids, and a few people who signed up twice
/// (two login ids, merged on import).
///
/// Prints one line per app: project, events file, event count, persons file.
///
/// Example: liucun gen --events 1000000 --seed 7 --out data/events.parquet
#[derive(Debug, Args)]
pub(crate) struct GenArgs {
    /// Total number of events across all apps.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Seed of the random stream.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output path (.ndjson/.jsonl or .parquet); "{app}" is replaced by each app's project name.
    #[arg(long)]
    out: PathBuf,
    /// Use only the first N built-in apps.
    #[arg(long)]
    apps: Option<usize>,
    /// Length of the window in days.
    #[arg(long)]
    days: Option<u32>,
}

pub(crate) fn run(args: GenArgs) -> anyhow::Result<u8> {
    let files = write(
        &args.out,
        args.events,
        args.seed,
        args.apps,
        args.days,
        true,
    )?;
    let cfg = config(args.events, args.seed, args.apps, args.days)?;
    for f in files {
        let (persons, _) = synth::write_persons(&cfg, &f)
            .with_context(|| format!("writing the persons file of {}", f.project))?;
        println!(
            "{}\t{}\t{} events\t{}",
            f.project,
            f.path.display(),
            f.n_events,
            persons.display()
        );
    }
    Ok(0)
}

/// Generates files and returns what was written; shared with `demo`.
pub(crate) fn write(
    out: &std::path::Path,
    events: u64,
    seed: u64,
    apps: Option<usize>,
    days: Option<u32>,
    show_progress: bool,
) -> anyhow::Result<Vec<synth::GenFile>> {
    let cfg = config(events, seed, apps, days)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let bar = if show_progress && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(events);
        bar.set_style(
            ProgressStyle::with_template(
                "generating [{bar:30}] {human_pos}/{human_len} events, {per_sec}, eta {eta}",
            )
            .expect("template is valid")
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let files = synth::write_files(&cfg, out, &mut |n| bar.set_position(n))
        .with_context(|| format!("writing {}", out.display()))?;
    bar.finish_and_clear();
    Ok(files)
}

/// The generator's config from the flags.
fn config(
    events: u64,
    seed: u64,
    apps: Option<usize>,
    days: Option<u32>,
) -> anyhow::Result<synth::GenConfig> {
    let mut cfg = synth::GenConfig::new(events, seed);
    if let Some(n) = apps {
        if n == 0 || n > cfg.apps.len() {
            return Err(Invalid(format!("--apps must be between 1 and {}", cfg.apps.len())).into());
        }
        cfg.apps.truncate(n);
    }
    if let Some(d) = days {
        cfg.days = d;
    }
    cfg.validate().map_err(|e| Invalid(e.to_string()))?;
    Ok(cfg)
}
