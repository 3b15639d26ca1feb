//! `liucun demo`: generate the synthetic AI-apps dataset, import it into a fresh data directory and show it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use liucun::model::Project;
use liucun::{Engine, EngineConfig, ImportOptions, OpenMode};

use crate::Invalid;

/// Generate a synthetic dataset of five AI chat apps, import it, and show what was stored.
///
/// The data directory is DIR/data, or the global --data (or LIUCUN_DATA) when given: it must then be new or hold
/// a previous demo, which is replaced; a directory holding other liucun data is refused.
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
    /// Where to put the generated files, the report and charts, and (without --data) the data directory
    /// DIR/data (replaced if it holds a previous demo).
    #[arg(long, default_value = "./liucun-demo")]
    dir: PathBuf,
}

/// A file the demo leaves in its data directory, so that a later demo replaces only a demo's data.
const DEMO_MARKER: &str = "DEMO";

/// Runs the demo; `data` is the global `--data` when the user gave it (flag or environment).
pub(crate) fn run(args: DemoArgs, data: Option<&Path>) -> anyhow::Result<u8> {
    let data = data.map_or_else(|| args.dir.join("data"), Path::to_path_buf);
    if data.join("MANIFEST").exists() {
        if !data.join(DEMO_MARKER).exists() {
            return Err(Invalid(format!(
                "{} already holds liucun data that no demo wrote; the demo imports into a directory of its own: \
                 pass another --data, or none to use {}",
                data.display(),
                args.dir.join("data").display()
            ))
            .into());
        }
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
    let marker = data.join(DEMO_MARKER);
    std::fs::write(
        &marker,
        "written by `liucun demo`: a later demo replaces this directory\n",
    )
    .with_context(|| format!("writing {}", marker.display()))?;
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
    let projects: Vec<String> = i.projects.iter().map(|p| p.project.clone()).collect();
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
    retention_comparison(&engine, &projects, &args.dir, &data)?;
    println!();
    println!(
        "data directory: {} (try: liucun --data {} inspect)",
        data.display(),
        data.display()
    );
    Ok(0)
}

/// Day-N retention of every app side by side, with the report's JSON and charts written next to the data.
fn retention_comparison(
    engine: &Engine,
    projects: &[String],
    dir: &Path,
    data: &Path,
) -> anyhow::Result<()> {
    use liucun::report::params::RetentionParams;

    let params = RetentionParams::from_json(&serde_json::json!({
        "projects": projects,
        "retention_type": "first_time",
        "total_intervals": 31,
        "date_from": "2025-01-01",
        "date_to": "2025-02-28",
        "as_of": "2025-04-01T00:00:00Z",
    }))?;
    let report = engine.retention(params, liucun::model::Timestamp(0))?;
    println!("{}", report.definition);
    println!(
        "Cohorts 2025-01-01..2025-02-28; mean over complete cohorts, weighted by size, with 95% Wilson intervals."
    );
    println!();
    let days = [1usize, 7, 14, 30];
    print!("{:<10} {:>8}", "app", "persons");
    for d in days {
        print!(" {:>20}", format!("day {d}"));
    }
    println!();
    for m in &report.mean {
        print!(
            "{:<10} {:>8}",
            m.project,
            m.persons.first().copied().unwrap_or(0)
        );
        for d in days {
            let cell = match (
                m.rates.get(d).copied().flatten(),
                m.ci95.get(d).copied().flatten(),
            ) {
                (Some(r), Some((lo, hi))) => {
                    format!("{:.1}% [{:.1}-{:.1}]", r * 100.0, lo * 100.0, hi * 100.0)
                }
                _ => "-".to_string(),
            };
            print!(" {cell:>20}");
        }
        println!();
    }
    let json = serde_json::to_string_pretty(&liucun::report::render::to_json(&report))?;
    let json_path = dir.join("retention.json");
    std::fs::write(&json_path, json).with_context(|| format!("writing {}", json_path.display()))?;
    let svg_path = dir.join("retention-curves.svg");
    std::fs::write(&svg_path, liucun::report::svg::curves(&report))
        .with_context(|| format!("writing {}", svg_path.display()))?;
    let heatmap_path = dir.join("retention-heatmap.svg");
    std::fs::write(&heatmap_path, liucun::report::svg::heatmap(&report))
        .with_context(|| format!("writing {}", heatmap_path.display()))?;
    println!();
    println!("fingerprint {}", report.provenance.data_fingerprint);
    println!(
        "wrote {}, {} and {}",
        json_path.display(),
        svg_path.display(),
        heatmap_path.display()
    );
    println!(
        "check it: liucun --data {} verify {}",
        data.display(),
        json_path.display()
    );
    Ok(())
}
