//! The capture load generator: paced `/batch` requests of posthog-python's shape from several connections, with
//! every acknowledged uuid recorded and latency measured from each request's scheduled start (so a stalled server
//! shows up in the percentiles instead of slowing the load down).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::Client;
use crate::wire::EncodedBatch;

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The server.
    pub addr: SocketAddr,
    /// A write token.
    pub token: String,
    /// Target events per second over all connections; `0` sends as fast as acknowledgements come back.
    pub rate: f64,
    /// How long to send.
    pub duration: Duration,
    /// Events per request.
    pub batch: usize,
    /// Concurrent connections, each with its own thread.
    pub connections: usize,
    /// The capture path.
    pub path: String,
    /// Makes uuids and distinct ids differ between runs.
    pub seed: u64,
    /// Distinct ids events are spread over.
    pub distinct_ids: u64,
    /// Keep every acknowledged uuid in the report.
    pub record_uuids: bool,
    /// Gzip is not used: bodies are plain JSON, as posthog-python sends by default.
    pub request_timeout: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8000)),
            token: String::new(),
            rate: 10_000.0,
            duration: Duration::from_secs(10),
            batch: 100,
            connections: 8,
            path: "/batch/".to_string(),
            seed: 1,
            distinct_ids: 10_000,
            record_uuids: false,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Requests attempted.
    pub requests: u64,
    /// Events in requests that were answered 200.
    pub events_acked: u64,
    /// Events in requests that were not (errors, refusals).
    pub events_failed: u64,
    /// Failures by status code or IO error kind.
    pub failures: BTreeMap<String, u64>,
    /// Refusals with a Retry-After that were waited out and retried, by status code.
    pub retried: BTreeMap<String, u64>,
    /// Latency of acknowledged requests, in milliseconds, sorted.
    pub latencies_ms: Vec<f64>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Acknowledged uuids (with `record_uuids`).
    pub acked_uuids: Vec<String>,
    /// Events the server counted as quarantined in acknowledged requests.
    pub quarantined: u64,
}

impl LoadReport {
    /// The `q`-quantile of acknowledged request latency, in ms.
    pub fn percentile(&self, q: f64) -> f64 {
        if self.latencies_ms.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_ms.len() - 1) as f64 * q).round() as usize;
        self.latencies_ms[i]
    }

    /// The workers' reports as one, timed from `started` until now.
    fn merge(workers: impl IntoIterator<Item = LoadReport>, started: Instant) -> LoadReport {
        let mut report = LoadReport::default();
        for r in workers {
            report.requests += r.requests;
            report.events_acked += r.events_acked;
            report.events_failed += r.events_failed;
            report.quarantined += r.quarantined;
            for (k, v) in r.failures {
                *report.failures.entry(k).or_default() += v;
            }
            for (k, v) in r.retried {
                *report.retried.entry(k).or_default() += v;
            }
            report.latencies_ms.extend(r.latencies_ms);
            report.acked_uuids.extend(r.acked_uuids);
        }
        report.elapsed = started.elapsed();
        report.latencies_ms.sort_by(f64::total_cmp);
        report
    }

    /// Acknowledged events per second.
    pub fn events_per_second(&self) -> f64 {
        self.events_acked as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A JSON summary (without the uuids).
    pub fn summary(&self, cfg: &LoadConfig) -> Value {
        json!({
            "target_events_per_second": cfg.rate,
            "batch": cfg.batch,
            "connections": cfg.connections,
            "duration_s": cfg.duration.as_secs_f64(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "requests": self.requests,
            "events_acked": self.events_acked,
            "events_failed": self.events_failed,
            "events_quarantined": self.quarantined,
            "acked_events_per_second": self.events_per_second(),
            "latency_ms": {
                "p50": self.percentile(0.50),
                "p90": self.percentile(0.90),
                "p99": self.percentile(0.99),
                "max": self.latencies_ms.last().copied().unwrap_or(f64::NAN),
            },
            "failures": self.failures,
            "retried": self.retried,
        })
    }
}

/// Runs the load until `cfg.duration` passes or `stop` is set.
pub fn run(cfg: &LoadConfig, stop: &Arc<AtomicBool>) -> LoadReport {
    let started = Instant::now();
    let connections = cfg.connections.max(1);
    let interval = if cfg.rate > 0.0 {
        Some(Duration::from_secs_f64(
            (cfg.batch * connections) as f64 / cfg.rate,
        ))
    } else {
        None
    };
    let handles: Vec<_> = (0..connections)
        .map(|worker| {
            let cfg = cfg.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                worker_loop(&cfg, worker, connections, interval, started, &stop)
            })
        })
        .collect();
    LoadReport::merge(handles.into_iter().filter_map(|h| h.join().ok()), started)
}

fn worker_loop(
    cfg: &LoadConfig,
    worker: usize,
    connections: usize,
    interval: Option<Duration>,
    started: Instant,
    stop: &AtomicBool,
) -> LoadReport {
    let mut client = Client::new(cfg.addr).with_timeout(cfg.request_timeout);
    let mut out = LoadReport::default();
    let headers = [
        ("Content-Type", "application/json"),
        ("User-Agent", "liucun-load"),
    ];
    let offset = interval.map(|i| i.mul_f64(worker as f64 / connections as f64));
    let mut counter: u64 = 0;
    let mut tick: u32 = 0;
    while !stop.load(Ordering::Relaxed) && started.elapsed() < cfg.duration {
        let scheduled = match (interval, offset) {
            (Some(i), Some(o)) => {
                let at = started + o + i * tick;
                tick += 1;
                let now = Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
                at
            }
            _ => Instant::now(),
        };
        let (body, uuids) = make_batch(cfg, worker, &mut counter);
        out.requests += 1;
        let mut answer = client.request("POST", &cfg.path, &headers, body.as_bytes());
        // A refusal that names a wait (429, 503 with Retry-After) is retried as the SDKs do, with the same batch,
        // while the run lasts; the wait counts in the request's latency.
        while let Ok(resp) = &answer
            && let Some(wait) = retry_wait(resp)
            && started.elapsed() + wait < cfg.duration
            && !stop.load(Ordering::Relaxed)
        {
            *out.retried.entry(resp.status.to_string()).or_default() += 1;
            std::thread::sleep(wait);
            answer = client.request("POST", &cfg.path, &headers, body.as_bytes());
        }
        match answer {
            Ok(resp) if resp.status == 200 => {
                out.events_acked += uuids.len() as u64;
                out.latencies_ms
                    .push(scheduled.elapsed().as_secs_f64() * 1e3);
                if let Some(q) = resp.json().get("quarantined").and_then(Value::as_u64) {
                    out.quarantined += q;
                }
                if cfg.record_uuids {
                    out.acked_uuids.extend(uuids);
                }
            }
            Ok(resp) => {
                out.events_failed += uuids.len() as u64;
                *out.failures.entry(resp.status.to_string()).or_default() += 1;
                if retry_wait(&resp).is_some() {
                    // Still refused after the retries the run had time for: this connection is done.
                    break;
                }
                if resp.status >= 500 {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Err(e) => {
                out.events_failed += uuids.len() as u64;
                *out.failures.entry(format!("{:?}", e.kind())).or_default() += 1;
                // The server may be restarting.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    out
}

/// Sends every batch once, from `connections` connections taking the next unsent batch as soon as their previous
/// one is answered, and reports how fast they were acknowledged. A refusal with a `Retry-After` is retried with the
/// same batch; any other failure counts the batch as failed.
pub fn run_encoded(batches: &[EncodedBatch], connections: usize, addr: SocketAddr) -> LoadReport {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let reports: Vec<LoadReport> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..connections.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut client = Client::new(addr);
                    let mut out = LoadReport::default();
                    while let Some(b) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let sent = Instant::now();
                        let headers = [
                            ("Content-Type", b.content_type),
                            ("User-Agent", "liucun-load"),
                        ];
                        out.requests += 1;
                        let mut answer = client.request("POST", &b.path, &headers, &b.body);
                        while let Ok(resp) = &answer
                            && let Some(wait) = retry_wait(resp)
                        {
                            *out.retried.entry(resp.status.to_string()).or_default() += 1;
                            std::thread::sleep(wait);
                            answer = client.request("POST", &b.path, &headers, &b.body);
                        }
                        match answer {
                            Ok(resp) if resp.status == 200 => {
                                out.events_acked += b.n_events as u64;
                                out.latencies_ms.push(sent.elapsed().as_secs_f64() * 1e3);
                            }
                            Ok(resp) => {
                                out.events_failed += b.n_events as u64;
                                *out.failures.entry(resp.status.to_string()).or_default() += 1;
                            }
                            Err(e) => {
                                out.events_failed += b.n_events as u64;
                                *out.failures.entry(format!("{:?}", e.kind())).or_default() += 1;
                            }
                        }
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    LoadReport::merge(reports, started)
}

/// The wait a refusal asks for before the same request is sent again: 429 or 503 with `Retry-After` in seconds.
fn retry_wait(resp: &crate::http::Response) -> Option<Duration> {
    if !matches!(resp.status, 429 | 503) {
        return None;
    }
    resp.header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// A posthog-python `/batch/` body with fresh uuids.
fn make_batch(cfg: &LoadConfig, worker: usize, counter: &mut u64) -> (String, Vec<String>) {
    let now = jiff::Timestamp::now().to_string();
    let mut uuids = Vec::with_capacity(cfg.batch);
    let mut items = Vec::with_capacity(cfg.batch);
    for _ in 0..cfg.batch {
        *counter += 1;
        let n = *counter;
        let uuid = format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (cfg.seed >> 32) as u32,
            (cfg.seed & 0xffff) as u16,
            worker & 0xfff,
            (n >> 48) & 0xfff,
            n & 0xffff_ffff_ffff
        );
        let who = (cfg.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n.wrapping_mul(2_654_435_761))
            % cfg.distinct_ids.max(1);
        items.push(json!({
            "event": if n.is_multiple_of(5) { "$ai_generation" } else { "chat_message" },
            "distinct_id": format!("load-user-{who}"),
            "uuid": uuid,
            "timestamp": now,
            "properties": {
                "$lib": "liucun-load",
                "$ai_model": "gpt-4o-mini",
                "$ai_input_tokens": 100 + n % 900,
                "$ai_output_tokens": 20 + n % 400,
                "conversation": n % 97,
            }
        }));
        uuids.push(uuid);
    }
    let body = json!({
        "api_key": cfg.token,
        "batch": items,
        "historical_migration": false,
        "sent_at": now,
    });
    (body.to_string(), uuids)
}
