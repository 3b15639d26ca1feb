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
    retention_comparison(&engine, &projects, &args.dir)?;
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
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    use report::params::RetentionParams;

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
    let json = serde_json::to_string_pretty(&report::render::to_json(&report))?;
    let json_path = dir.join("retention.json");
    std::fs::write(&json_path, json).with_context(|| format!("writing {}", json_path.display()))?;
    let svg_path = dir.join("retention-curves.svg");
    std::fs::write(&svg_path, report::svg::curves(&report))
        .with_context(|| format!("writing {}", svg_path.display()))?;
    let heatmap_path = dir.join("retention-heatmap.svg");
    std::fs::write(&heatmap_path, report::svg::heatmap(&report))
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
        dir.join("data").display(),
        json_path.display()
    );
    Ok(())
}
