//! `liucun serve`: the HTTP face of an engine.
//!
//! - **Capture** (`capture`): every PostHog path and Segment's Tracking API. A 2xx is sent only after the request's
//!   events and rejections are fsynced in the WAL; concurrent requests share fsyncs through the WAL's group commit.
//! - **API** (`api`): reports, events, persons and the quarantine with a read key; projects and keys with an admin
//!   key; an OpenAPI document at `/api/v1/openapi.json`.
//! - **Operations**: `/healthz` and `/readyz` (also PostHog's `/_liveness` and `/_readiness`), Prometheus `/metrics`
//!   with an admin key, request ids in logs and responses, and a graceful shutdown that drains, flushes and fsyncs.

#![warn(missing_docs)]

pub mod access;
mod api;
mod capture;
mod error;
mod metrics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use liucun::Engine;

pub use access::{Access, AccessError, KeyKind};

use crate::metrics::Metrics;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind; port 0 picks a free one.
    pub bind: SocketAddr,
    /// Where to write the bound address once listening.
    pub addr_file: Option<PathBuf>,
    /// Requests per second allowed per write token; `None` is unlimited.
    pub rate_limit: Option<u32>,
    /// How often accepted events are moved from the WAL into segments.
    pub flush_interval: Duration,
    /// Flush sooner once this many events wait in memory, which bounds the server's memory under heavy load.
    pub flush_events: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            addr_file: None,
            rate_limit: None,
            flush_interval: Duration::from_secs(10),
            flush_events: 500_000,
        }
    }
}

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding or serving failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The final flush failed; acknowledged events stay in the WAL and are replayed at the next start.
    #[error("final flush: {0}")]
    Flush(#[from] liucun::Error),
}

/// State shared by every handler.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) engine: Arc<Engine>,
    pub(crate) access: Arc<Access>,
    pub(crate) metrics: Metrics,
    pub(crate) limiter: Option<capture::RateLimiter>,
    /// Set when shutdown starts: capture answers 503 from then on.
    pub(crate) stopping: AtomicBool,
    next_request: AtomicU64,
    request_salt: u32,
}

/// The request id of the current request, set by the request-id layer.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

fn new_state(engine: Arc<Engine>, access: Arc<Access>, config: ServerConfig) -> Arc<AppState> {
    let mut salt = [0u8; 4];
    // Without a random salt, request ids are only less unique across restarts.
    let _ = getrandom::fill(&mut salt);
    Arc::new(AppState {
        engine,
        access,
        metrics: Metrics::new(),
        limiter: config.rate_limit.map(capture::RateLimiter::new),
        stopping: AtomicBool::new(false),
        next_request: AtomicU64::new(1),
        request_salt: u32::from_le_bytes(salt),
    })
}

fn build(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(capture::routes())
        .merge(api::routes())
        .route("/healthz", get(live))
        .route("/_liveness", get(live))
        .route("/readyz", get(ready))
        .route("/_readiness", get(ready))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_id_layer,
        ))
        .with_state(state)
}

/// Serves until SIGINT or SIGTERM, then stops accepting, drains in-flight requests, flushes and fsyncs.
/// `on_listening` is called with the bound address once the server accepts connections.
///
/// # Errors
/// [`ServeError`] when the address cannot be bound or the final flush fails.
pub async fn serve(
    engine: Arc<Engine>,
    access: Arc<Access>,
    config: ServerConfig,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| ServeError::Io {
            context: format!("binding {}", config.bind),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Io {
        context: "reading the bound address".to_string(),
        source,
    })?;
    let state = new_state(engine.clone(), access.clone(), config.clone());
    if !access.has_admin() {
        tracing::warn!(
            "no admin key exists: capture works, the API does not; create one with `liucun keys create-admin`"
        );
    }
    let flusher = spawn_flusher(engine.clone(), config.flush_interval, config.flush_events)
        .map_err(|source| ServeError::Io {
            context: "starting the flusher thread".to_string(),
            source,
        })?;
    if let Some(path) = &config.addr_file {
        write_addr_file(path, addr).map_err(|source| ServeError::Io {
            context: format!("writing {}", path.display()),
            source,
        })?;
    }
    tracing::info!(%addr, "listening");
    on_listening(addr);
    let app = build(state.clone());
    let stop_state = state.clone();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            stop_state.stopping.store(true, Ordering::SeqCst);
            tracing::info!("shutting down: draining requests");
        })
        .await;
    flusher.stop();
    if let Err(source) = result {
        return Err(ServeError::Io {
            context: "serving".to_string(),
            source,
        });
    }
    let stats = tokio::task::spawn_blocking(move || engine.flush())
        .await
        .map_err(|e| ServeError::Io {
            context: "final flush".to_string(),
            source: std::io::Error::other(e.to_string()),
        })??;
    tracing::info!(events = stats.events_written, "flushed; stopped");
    Ok(())
}

fn write_addr_file(path: &std::path::Path, addr: SocketAddr) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{addr}\n"))?;
    std::fs::rename(&tmp, path)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// A thread that flushes the engine's tail into segments every `interval`, or sooner once `max_events` wait.
struct Flusher {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn spawn_flusher(
    engine: Arc<Engine>,
    interval: Duration,
    max_events: usize,
) -> std::io::Result<Flusher> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("liucun-flush".to_string())
        .spawn(move || {
            // Background flushes write segments on one thread, so capture keeps the other cores and its latency
            // while they run; the work is the same, spread over more time.
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .thread_name(|_| "liucun-flush-pool".to_string())
                .build()
                .ok();
            let tick = Duration::from_millis(100);
            let mut waited = Duration::ZERO;
            // After a failed flush (a full disk, say) the tail is still due: wait before each retry, doubling the
            // wait up to `interval`, instead of retrying every tick.
            let mut pause = Duration::ZERO;
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(tick);
                waited += tick;
                if waited < pause || (waited < interval && engine.tail_events() < max_events) {
                    continue;
                }
                waited = Duration::ZERO;
                // Falling behind (twice the threshold waiting, or half the engine's limit, past which capture is
                // refused): use every core.
                let behind_at = engine
                    .tail_limit()
                    .map_or(usize::MAX, |l| l / 2)
                    .min(max_events.saturating_mul(2));
                let behind = engine.tail_events() >= behind_at;
                // This thread is what drains the tail (appends never flush when the engine has a limit): a panic
                // in one flush is logged and the next one is tried.
                let flushed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &pool {
                    Some(p) if !behind => p.install(|| engine.flush()),
                    _ => engine.flush(),
                }));
                if matches!(flushed, Ok(Ok(_))) {
                    pause = Duration::ZERO;
                    continue;
                }
                pause = (pause * 2).clamp(tick * 10, interval.max(tick * 10));
                match flushed {
                    Ok(Err(e)) => tracing::error!(
                        error = %e,
                        retry_in_ms = pause.as_millis() as u64,
                        "periodic flush failed; its events wait in the tail and the WAL"
                    ),
                    _ => tracing::error!(
                        retry_in_ms = pause.as_millis() as u64,
                        "a periodic flush panicked; its events are in the WAL, replayed at the next start"
                    ),
                }
            }
        })?;
    Ok(Flusher {
        stop,
        thread: Some(thread),
    })
}

impl Flusher {
    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn request_id_layer(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let n = state.next_request.fetch_add(1, Ordering::Relaxed);
    let id = format!("req-{:08x}-{n:06x}", state.request_salt);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = std::time::Instant::now();
    let mut resp = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let status = resp.status();
    let route = route_label(&path);
    state
        .metrics
        .requests
        .get_or_create(&metrics::labels(&[
            ("route", route),
            ("status", status.as_str()),
        ]))
        .inc();
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "handled"
        );
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// A low-cardinality label for a path: capture paths by family, API paths by kind.
fn route_label(path: &str) -> &'static str {
    let p = path.trim_end_matches('/');
    if p.starts_with("/v1/") {
        "segment"
    } else if p.starts_with("/api/v1/projects/") && p.contains("/reports/") {
        "api_report"
    } else if p.starts_with("/api/") {
        "api"
    } else if capture::is_posthog_path(p) {
        "posthog"
    } else {
        "other"
    }
}

async fn live() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.stopping.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping\n").into_response()
    } else if !state.engine.can_append() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the event log cannot be written (disk full or failing); restart after fixing it\n",
        )
            .into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}

async fn metrics_text(
    State(state): State<Arc<AppState>>,
    axum::Extension(rid): axum::Extension<RequestId>,
    headers: axum::http::HeaderMap,
) -> Response {
    match api::admin(&state, &headers, &rid) {
        Ok(()) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            state.metrics.render(),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn not_found(axum::Extension(rid): axum::Extension<RequestId>) -> Response {
    error::ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        .with_id(&rid)
        .into_response()
}
