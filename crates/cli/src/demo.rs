//! `liucun demo`: generate the synthetic AI-apps dataset, import it into a fresh data directory and show it.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use liucun::model::Project;
use liucun::{Engine, EngineConfig, ImportOptions, OpenMode};

/// Generate a synthetic dataset of five AI chat apps, import it, and show what was stored.
///
/// Example: liucun demo --events 300000 --dir ./liucun-demo
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Number of events to generate.
    #[arg(long, default_value_t = 300_000)]
    events: u64,
    /// Seed of the synthetic stream.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// Where to put the generated files and the data directory (replaced if it holds a previous demo).
    #[arg(long, default_value = "./liucun-demo")]
    dir: PathBuf,
}

pub(crate) fn run(args: DemoArgs) -> anyhow::Result<u8> {
    let data = args.dir.join("data");
    if data.join("MANIFEST").exists() {
        std::fs::remove_dir_all(&data)
            .with_context(|| format!("removing the previous demo in {}", data.display()))?;
    }
    let started = Instant::now();
    let files = crate::gen_cmd::write(
        &args.dir.join("events.parquet"),
        args.events,
        args.seed,
        None,
        None,
        true,
    )?;
    println!(
        "generated {} events for {} apps in {:.1}s",
        args.events,
        files.len(),
        started.elapsed().as_secs_f64()
    );
    let engine = Engine::open(&data, OpenMode::CreateIfMissing, EngineConfig::default())
        .with_context(|| format!("opening {}", data.display()))?;
    for f in &files {
        let t = Instant::now();
        let project =
            Project::new(&f.project).with_context(|| format!("project name {}", f.project))?;
        let s = engine.import_file(
            &f.path,
            &ImportOptions {
                project,
                format: None,
            },
            &mut |_| {},
        )?;
        println!(
            "imported {:<10} {:>9} events ({} rejected, {} duplicates) in {:.2}s",
            f.project,
            s.accepted,
            s.rejected,
            s.duplicates,
            t.elapsed().as_secs_f64()
        );
    }
    engine.compact()?;
    let i = engine.inspect()?;
    println!();
    println!(
        "{:<10} {:>10} {:>8} {:>10} {:>10} {:>8}",
        "app", "events", "days", "ids", "persons", "merges"
    );
    for p in &i.projects {
        println!(
            "{:<10} {:>10} {:>8} {:>10} {:>10} {:>8}",
            p.project,
            p.events,
            p.days.len(),
            p.distinct_ids,
            p.persons,
            p.merges_applied
        );
    }
    println!();
    println!(
        "data directory: {} (try: liucun --data {} inspect)",
        data.display(),
        data.display()
    );
    Ok(0)
}
