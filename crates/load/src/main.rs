//! `liucun-load`: sends paced capture batches to `liucun serve` and prints what was acknowledged and how fast.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool prints its results"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use liucun_load::load::{self, LoadConfig};
use liucun_load::wire::{PropsSize, Wire, encode_batches};

/// Send capture load to liucun serve: posthog-python-shaped /batch/ requests with fresh uuids, paced at a target
/// rate, with latency measured from each request's scheduled start.
///
/// Example: liucun-load --addr 127.0.0.1:8000 --token lcw_… --rate 50000 --duration 30
#[derive(Debug, Parser)]
#[command(name = "liucun-load", version)]
struct Args {
    /// The server address.
    #[arg(long)]
    addr: SocketAddr,
    /// A write token of the project.
    #[arg(long, env = "LIUCUN_WRITE_TOKEN")]
    token: String,
    /// Target events per second; 0 sends as fast as acknowledgements return.
    #[arg(long, default_value_t = 10_000.0)]
    rate: f64,
    /// Seconds to send.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Events per request.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// The capture path.
    #[arg(long, default_value = "/batch/")]
    path: String,
    /// Seed of uuids and distinct ids (defaults to the clock, so runs do not collide).
    #[arg(long)]
    seed: Option<u64>,
    /// Write every acknowledged uuid to this file, one per line.
    #[arg(long)]
    acked_out: Option<std::path::PathBuf>,
    /// Send exactly this many batches, encoded before the clock starts, as fast as acknowledgements return; `--rate`,
    /// `--duration` and `--path` are then ignored.
    #[arg(long)]
    batches: Option<usize>,
    /// With `--batches`: the wire the batches use.
    #[arg(long, value_enum, default_value_t = WireArg::Posthog)]
    wire: WireArg,
    /// With `--batches`: how many properties each event carries.
    #[arg(long, value_enum, default_value_t = PropsArg::Small)]
    props: PropsArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum WireArg {
    /// posthog-python's `POST /batch/` JSON.
    Posthog,
    /// Sensors Data `POST /sa` with gzipped, base64 `data_list`.
    Sensors,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PropsArg {
    /// Five properties.
    Small,
    /// Sensors Android preset properties and a 400-character text, about 1 KB.
    Large,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    if let Some(n_batches) = a.batches {
        let wire = match a.wire {
            WireArg::Posthog => Wire::PostHog,
            WireArg::Sensors => Wire::Sensors,
        };
        let props = match a.props {
            PropsArg::Small => PropsSize::Small,
            PropsArg::Large => PropsSize::Large,
        };
        let batches = encode_batches(wire, props, n_batches, a.batch.max(1), &a.token, seed);
        let body_bytes: usize = batches.iter().map(|b| b.body.len()).sum();
        let report = load::run_encoded(&batches, a.connections, a.addr);
        let mut summary = serde_json::json!({
            "wire": format!("{:?}", a.wire).to_lowercase(),
            "props": format!("{:?}", a.props).to_lowercase(),
            "batches": n_batches,
            "batch": a.batch.max(1),
            "connections": a.connections.max(1),
            "mean_body_bytes": body_bytes / n_batches.max(1),
            "elapsed_s": report.elapsed.as_secs_f64(),
            "requests": report.requests,
            "events_acked": report.events_acked,
            "events_failed": report.events_failed,
            "acked_events_per_second": report.events_per_second(),
            "failures": report.failures,
            "retried": report.retried,
        });
        summary["latency_ms"] = serde_json::json!({
            "p50": report.percentile(0.50),
            "p99": report.percentile(0.99),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    let cfg = LoadConfig {
        addr: a.addr,
        token: a.token,
        rate: a.rate,
        duration: Duration::from_secs_f64(a.duration),
        batch: a.batch.max(1),
        connections: a.connections.max(1),
        path: a.path,
        seed,
        record_uuids: a.acked_out.is_some(),
        ..LoadConfig::default()
    };
    let report = load::run(&cfg, &Arc::new(AtomicBool::new(false)));
    if let Some(path) = &a.acked_out {
        let mut text = report.acked_uuids.join("\n");
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{}", serde_json::to_string_pretty(&report.summary(&cfg))?);
    Ok(())
}
