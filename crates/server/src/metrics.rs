//! Prometheus metrics served at `/metrics`: events accepted and quarantined, WAL commit latency, report latency and
//! requests by route and status.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Every metric of a server.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) accepted: Family<Labels, Counter>,
    pub(crate) quarantined: Family<Labels, Counter>,
    pub(crate) requests: Family<Labels, Counter>,
    pub(crate) wal_commit: Histogram,
    pub(crate) report: Family<Labels, Histogram>,
}

fn latency_histogram() -> Histogram {
    // 50 µs to about 3 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("liucun");
        let accepted = Family::<Labels, Counter>::default();
        let quarantined = Family::<Labels, Counter>::default();
        let requests = Family::<Labels, Counter>::default();
        let wal_commit = latency_histogram();
        let report = Family::<Labels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "events_accepted",
            "Events written to the WAL by capture, by project",
            accepted.clone(),
        );
        registry.register(
            "events_quarantined",
            "Events quarantined by capture, by project and reason",
            quarantined.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "wal_commit_seconds",
            "Time from a capture's WAL append to its fsync (group commit included)",
            wal_commit.clone(),
        );
        registry.register(
            "report_seconds",
            "Report computation time by kind",
            report.clone(),
        );
        Metrics {
            registry,
            accepted,
            quarantined,
            requests,
            wal_commit,
            report,
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

pub(crate) fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}
