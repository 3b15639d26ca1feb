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
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
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
