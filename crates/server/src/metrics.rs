//! Prometheus metrics served at `/metrics`: events accepted and quarantined, WAL commit latency, report latency,
//! requests by route and status, and the resource budget: refusals by reason, quarantined items dropped past a
//! project's budget, capture memory in use and open connections.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
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
    pub(crate) refused: Family<Labels, Counter>,
    pub(crate) quarantine_dropped: Family<Labels, Counter>,
    pub(crate) sensors_checksum_mismatch: Counter,
    pub(crate) capture_memory: Gauge,
    pub(crate) connections: Gauge,
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
        let refused = Family::<Labels, Counter>::default();
        let quarantine_dropped = Family::<Labels, Counter>::default();
        let capture_memory = Gauge::default();
        let sensors_checksum_mismatch = Counter::default();
        registry.register(
            "sensors_checksum_mismatch",
            "Sensors requests whose payload checksum (crc) differed from the payload; they are stored",
            sensors_checksum_mismatch.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "refused",
            "Requests and connections refused by a limit or a failure, by reason (the error code answered)",
            refused.clone(),
        );
        registry.register(
            "quarantine_dropped",
            "Quarantined items not written because their project was over its quarantine budget, by project",
            quarantine_dropped.clone(),
        );
        registry.register(
            "capture_memory_bytes",
            "Bytes capture requests hold of the capture memory budget",
            capture_memory.clone(),
        );
        registry.register(
            "open_connections",
            "Open HTTP connections",
            connections.clone(),
        );
        Metrics {
            registry,
            accepted,
            quarantined,
            requests,
            wal_commit,
            report,
            refused,
            quarantine_dropped,
            sensors_checksum_mismatch,
            capture_memory,
            connections,
        }
    }

    /// Counts one refusal with its error code.
    pub(crate) fn refuse(&self, code: &str) {
        self.refused
            .get_or_create(&labels(&[("reason", code)]))
            .inc();
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
