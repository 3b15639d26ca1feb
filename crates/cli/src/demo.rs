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
    /// Then serve the demo data and its dashboard, with a read key per app, and print the dashboard's address.
    #[arg(long)]
    serve: bool,
    /// Where --serve listens (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8000", requires = "serve")]
    bind: std::net::SocketAddr,
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
    activity_comparison(&engine, &projects, &args.dir)?;
    println!();
    println!(
        "data directory: {} (try: liucun --data {} inspect)",
        data.display(),
        data.display()
    );
    if !args.serve {
        return Ok(0);
    }
    drop(engine);
    let keys = read_keys(&data, &projects)?;
    println!();
    println!(
        "serving the demo with a read key per app (liucun --data {} keys list)",
        data.display()
    );
    // The dashboard's economics use the demo's prices and rate, as the demo's own report does.
    let mut serve = crate::serve::default_args(args.bind)?;
    serve.set_economics_files(
        vec![args.dir.join(DEMO_PRICES_FILE)],
        Some(args.dir.join(DEMO_FX_FILE)),
    );
    crate::serve::serve_dashboard(&data, serve, &keys)
}

/// The one illustrative CNY → USD rate of the demo's economics.
fn demo_fx() -> serde_json::Value {
    serde_json::json!([{"date": "2024-12-01", "from": "CNY", "to": "USD", "rate": "0.1375",
                        "source": "illustrative demo rate"}])
}

/// Registers each demo app as a project and creates a read key for it, for the dashboard.
fn read_keys(data: &Path, projects: &[String]) -> anyhow::Result<Vec<String>> {
    use server::access::{Access, AccessError, KeyKind};
    let access = Access::open(data, None)?;
    let mut keys = Vec::new();
    for p in projects {
        match access.create_project(p) {
            Ok(_) | Err(AccessError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let (key, _) = access.create_key(KeyKind::Read, Some(p))?;
        keys.push(key);
    }
    Ok(keys)
}

/// Stickiness (DAU/MAU), AI usage (output tokens, p95 latency), growth milestones, the visit → sign-up → chat → paid
/// funnel and the unit economics of every app, with the reports' JSON and charts written next to the data.
fn activity_comparison(
    engine: &Engine,
    projects: &[String],
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    use report::trends::{PointValue, TrendsReport};
    use report::{Kind, Report, Request};

    let run = |kind: Kind, params: serde_json::Value| -> anyhow::Result<Report> {
        let request = Request::from_json(kind, &params)?;
        Ok(engine.report(request, liucun::model::Timestamp(0))?)
    };
    let as_of = "2025-04-01T00:00:00Z";
    let daily = run(
        Kind::Trends,
        serde_json::json!({"projects": projects, "interval": "day", "date_from": "2025-02-01",
                           "date_to": "2025-02-28", "as_of": as_of,
                           "series": [{"entity": {"event": null}, "math": "dau_mau"}]}),
    )?;
    let february = run(
        Kind::Trends,
        serde_json::json!({"projects": projects, "interval": "month", "date_from": "2025-02-01",
                           "date_to": "2025-02-28", "as_of": as_of,
                           "series": [{"entity": {"event": "$ai_generation"}, "math": "sum",
                                       "math_property": "$ai_output_tokens"},
                                      {"entity": {"event": "$ai_generation"}, "math": "p95",
                                       "math_property": "$ai_latency"}]}),
    )?;
    let growth = run(
        Kind::Growth,
        serde_json::json!({"projects": projects, "milestones": [100, 1000, 10000], "as_of": as_of}),
    )?;
    let (Report::Trends(d), Report::Trends(f), Report::Growth(g)) = (&daily, &february, &growth)
    else {
        anyhow::bail!("a trends and a growth report");
    };
    let value = |r: &TrendsReport, project: &str, series: usize| -> String {
        r.series
            .iter()
            .find(|s| s.project == project && s.series == series)
            .and_then(|s| s.points.first())
            .map(|p| match &p.value {
                PointValue::Number(Some(n)) => n.text(),
                PointValue::Count(c) => c.to_string(),
                _ => "-".to_string(),
            })
            .unwrap_or_else(|| "-".to_string())
    };
    println!(
        "February 2025: stickiness (mean daily DAU/MAU), AI output tokens and p95 generation latency;"
    );
    println!("growth: days from each app's first event to 100, 1,000 and 10,000 persons.");
    println!();
    println!(
        "{:<10} {:>8} {:>14} {:>12} {:>8} {:>8} {:>8}",
        "app", "DAU/MAU", "output tokens", "p95 latency", "100", "1,000", "10,000"
    );
    for p in projects {
        let stickiness = d
            .series
            .iter()
            .find(|s| &s.project == p)
            .and_then(|s| s.average)
            .map_or("-".to_string(), |a| format!("{:.1}%", a * 100.0));
        let days: Vec<String> = g
            .projects
            .iter()
            .find(|x| &x.project == p)
            .map(|x| {
                x.milestones
                    .iter()
                    .map(|m| m.days.map_or("-".to_string(), |d| format!("{d}d")))
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "{:<10} {:>8} {:>14} {:>12} {:>8} {:>8} {:>8}",
            p,
            stickiness,
            thousands(&value(f, p, 0)),
            value(f, p, 1)
                .parse::<f64>()
                .map_or("-".to_string(), |s| format!("{s:.2} s")),
            days.first().map_or("-", String::as_str),
            days.get(1).map_or("-", String::as_str),
            days.get(2).map_or("-", String::as_str),
        );
    }
    let funnel = run(
        Kind::Funnels,
        serde_json::json!({"projects": projects, "date_from": "2025-01-01", "date_to": "2025-02-28",
                           "as_of": as_of, "conversion_window": {"value": 30, "unit": "day"},
                           "steps": [{"event": "$pageview", "occurrence": "first_time", "name": "first visit"},
                                     {"event": "$identify", "name": "sign-up"},
                                     {"event": "chat_message", "name": "chat"},
                                     {"event": "payment", "name": "paid"}]}),
    )?;
    let Report::Funnels(fr) = &funnel else {
        anyhow::bail!("a funnel report");
    };
    println!();
    println!(
        "Funnel, first visits January–February 2025: first visit → sign-up → chat → paid within 30 days."
    );
    println!();
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>9} {:>10} {:>16}",
        "app", "visited", "signed up", "chatted", "paid", "visit→paid", "median chat→paid"
    );
    for s in fr.series.iter().flatten() {
        let count = |k: usize| s.steps.get(k).map_or(0, |r| r.count);
        let paid = s.steps.get(3);
        println!(
            "{:<10} {:>9} {:>9} {:>9} {:>9} {:>10} {:>16}",
            s.project,
            count(0),
            count(1),
            count(2),
            count(3),
            paid.and_then(|r| r.rate_from_first)
                .map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0)),
            paid.and_then(|r| r.median_time_s)
                .map_or("-".to_string(), |t| {
                    if t < 3600.0 {
                        format!("{:.0} min", t / 60.0)
                    } else {
                        format!("{:.1} h", t / 3600.0)
                    }
                }),
        );
    }
    // Beside the reports, for `liucun economics --prices … --fx …` and `liucun serve --prices … --fx …`.
    let prices_path = dir.join(DEMO_PRICES_FILE);
    std::fs::write(&prices_path, DEMO_PRICES)
        .with_context(|| format!("writing {}", prices_path.display()))?;
    let fx_path = dir.join(DEMO_FX_FILE);
    std::fs::write(&fx_path, serde_json::to_string_pretty(&demo_fx())?)
        .with_context(|| format!("writing {}", fx_path.display()))?;
    let economics = run(
        Kind::Economics,
        serde_json::json!({"projects": projects, "period": "month", "total_intervals": 3,
                           "date_from": "2025-01-01", "date_to": "2025-03-31", "as_of": as_of,
                           "currency": "USD",
                           // One illustrative rate for the demo's CNY payments; real reports take dated rates.
                           "fx_rates": demo_fx(),
                           // The default table's versions start at its import date, after these 2025 events:
                           // the demo prices its seven models with early-2025 list prices, carried in the
                           // report's parameters so `verify` re-derives the costs.
                           "prices": [DEMO_PRICES]}),
    )?;
    economics_table(&economics.to_json(), projects);
    let mut written = Vec::new();
    for (report, name) in [
        (&daily, "dau-mau"),
        (&growth, "growth"),
        (&funnel, "funnel"),
        (&economics, "economics"),
    ] {
        let json_path = dir.join(format!("{name}.json"));
        std::fs::write(&json_path, serde_json::to_string_pretty(&report.to_json())?)
            .with_context(|| format!("writing {}", json_path.display()))?;
        let svg_path = dir.join(format!("{name}.svg"));
        std::fs::write(&svg_path, report.to_svg(None)?)
            .with_context(|| format!("writing {}", svg_path.display()))?;
        written.push(json_path.display().to_string());
        written.push(svg_path.display().to_string());
    }
    written.push(prices_path.display().to_string());
    written.push(fx_path.display().to_string());
    println!();
    println!("wrote {}", written.join(", "));
    Ok(())
}

/// The demo's price table (illustrative early-2025 list prices of the models its apps call).
const DEMO_PRICES: &str = include_str!("demo_prices.toml");
/// Where the demo writes its price table and exchange rate, in its directory.
const DEMO_PRICES_FILE: &str = "demo-prices.toml";
const DEMO_FX_FILE: &str = "demo-fx.json";

/// Prints each app's cohorts' users, conversion, net revenue, inference cost and gross margin from an economics
/// report.
fn economics_table(e: &serde_json::Value, projects: &[String]) {
    println!();
    println!(
        "Unit economics, monthly cohorts January–March 2025 (USD; inference at early-2025 list prices, demo_prices.toml):"
    );
    println!();
    println!(
        "{:<10} {:>7} {:>9} {:>12} {:>12} {:>8} {:>14}",
        "app", "users", "ever paid", "net revenue", "AI cost", "margin", "unpriced calls"
    );
    for p in projects {
        let mine = |list: &serde_json::Value| -> Vec<serde_json::Value> {
            list.as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["project"] == p.as_str())
                .cloned()
                .collect()
        };
        let (mut users, mut paid, mut unpriced) = (0u64, 0u64, 0u64);
        for r in mine(&e["rows"]) {
            users += r["cohort_users"].as_u64().unwrap_or(0);
            let cells: Vec<&serde_json::Value> = r["cells"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| !c.is_null())
                .collect();
            paid += cells
                .last()
                .and_then(|c| c["ever_paid_to_date"].as_u64())
                .unwrap_or(0);
            unpriced += cells
                .iter()
                .filter_map(|c| c["unpriced_ai_events"].as_u64())
                .sum::<u64>();
        }
        let totals = mine(&e["totals"]);
        let num = |k: &str| {
            totals
                .first()
                .and_then(|t| t[k].as_str())
                .and_then(|v| v.parse::<f64>().ok())
        };
        let (revenue, cost, profit) = (
            num("net_revenue"),
            num("inference_cost"),
            num("gross_profit"),
        );
        println!(
            "{:<10} {:>7} {:>9} {:>12} {:>12} {:>8} {:>14}",
            p,
            users,
            if users > 0 {
                format!("{:.1}%", paid as f64 * 100.0 / users as f64)
            } else {
                "-".into()
            },
            revenue.map_or("-".into(), |v| format!("{v:.2}")),
            cost.map_or("-".into(), |v| format!("{v:.2}")),
            match (profit, revenue) {
                (Some(g), Some(r)) if r > 0.0 => format!("{:.1}%", g * 100.0 / r),
                _ => "-".into(),
            },
            unpriced,
        );
    }
}

/// `1575589` as `1,575,589`; anything else as it is.
fn thousands(digits: &str) -> String {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits.to_string();
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Day-N retention of every app side by side, with the report's JSON and charts written next to the data.
fn retention_comparison(
    engine: &Engine,
    projects: &[String],
    dir: &Path,
    data: &Path,
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
    std::fs::write(&heatmap_path, report::svg::heatmap(&report, None))
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
