//! `liucun serve`: the HTTP face of an engine.
//!
//! - **Capture** (`capture`): every PostHog path, Segment's Tracking API and the Sensors Data paths. A 2xx is sent
//!   only after the request's events and rejections are fsynced in the WAL; concurrent requests share fsyncs
//!   through the WAL's group commit.
//! - **API** (`api`): reports, events, persons and the quarantine with a read key; projects and keys with an admin
//!   key; an OpenAPI document at `/api/v1/openapi.json`.
//! - **Operations**: `/healthz` and `/readyz` (also PostHog's `/_liveness` and `/_readiness`), Prometheus `/metrics`
//!   with an admin key, request ids in logs and responses, and a graceful shutdown that drains, flushes and fsyncs.
//! - **Limits** (`limits`): a resource budget per request, per connection and per key, checked before the work:
//!   capture memory, items per batch, the quarantine budget per project, open connections, header and request
//!   timeouts, and a line for heavy reads. A panic in a handler is answered as a generic 500 with the request id;
//!   internal error text is logged, never sent.

#![warn(missing_docs)]

pub mod access;
mod api;
mod capture;
mod dashboard;
mod error;
mod limits;
mod metrics;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use liucun::Engine;

pub use access::{Access, AccessError, KeyKind};
pub use api::{raw_encoding, raw_text, rfc3339};
pub use limits::Limits;

use crate::error::ApiError;
use crate::limits::{MemoryBudget, QuarantineBudget, ReadQueue};
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
    /// The resource budget per request, connection and key.
    pub limits: Limits,
    /// Parameters an economics report over the API takes when it names none of its own (`prices`, `fx_rates`):
    /// the operator's price tables and exchange rates. They are echoed in the report, so `verify` needs nothing else.
    pub economics_defaults: serde_json::Map<String, serde_json::Value>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            addr_file: None,
            rate_limit: None,
            economics_defaults: serde_json::Map::new(),
            flush_interval: Duration::from_secs(10),
            flush_events: 500_000,
            limits: Limits::default(),
        }
    }
}

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound: nothing was served, nothing accepted.
    #[error("binding {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
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
    pub(crate) limits: Limits,
    /// Economics parameters a request that names none of them takes (see [`ServerConfig::economics_defaults`]).
    pub(crate) economics_defaults: serde_json::Map<String, serde_json::Value>,
    /// Bytes capture requests hold while they are read, decoded and validated.
    pub(crate) memory: Arc<MemoryBudget>,
    pub(crate) quarantine_budget: QuarantineBudget,
    pub(crate) reads: Arc<ReadQueue>,
    /// Set when shutdown starts: capture answers 503 from then on.
    pub(crate) stopping: AtomicBool,
    next_request: AtomicU64,
    request_salt: u32,
}

/// The request id of the current request, set by the request-id layer.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

impl AppState {
    /// What one capture body may cost to decode.
    pub(crate) fn decode_limits(&self) -> ingest::http::DecodeLimits {
        ingest::http::DecodeLimits {
            max_payload_bytes: ingest::http::MAX_PAYLOAD_BYTES,
            max_items: self.limits.max_batch_items,
        }
    }
}

fn new_state(engine: Arc<Engine>, access: Arc<Access>, config: ServerConfig) -> Arc<AppState> {
    let mut salt = [0u8; 4];
    // Without a random salt, request ids are only less unique across restarts.
    let _ = getrandom::fill(&mut salt);
    Arc::new(AppState {
        engine,
        access,
        metrics: Metrics::new(),
        limiter: config.rate_limit.map(capture::RateLimiter::new),
        memory: MemoryBudget::new(config.limits.capture_memory_bytes),
        quarantine_budget: QuarantineBudget::new(
            config.limits.quarantine_bytes_per_second,
            config.limits.quarantine_burst_bytes,
        ),
        reads: ReadQueue::new(config.limits.max_concurrent_reads),
        limits: config.limits,
        economics_defaults: config.economics_defaults,
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
        .route("/", get(dashboard::index))
        .route("/dashboard/{file}", get(dashboard::asset))
        .fallback(not_found)
        // Innermost first: heavy reads wait in line, panics become a 500, every request has a deadline, and the
        // request id is set before all of them.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            read_queue_layer,
        ))
        .layer(axum::middleware::from_fn(catch_panic_layer))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            timeout_layer,
        ))
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
        .map_err(|source| ServeError::Bind {
            addr: config.bind,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Io {
        context: "reading the bound address".to_string(),
        source,
    })?;
    let state = new_state(engine.clone(), access.clone(), config.clone());
    if !access.has_admin() {
        tracing::info!(
            "no admin key exists: capture and read keys work; the admin API (projects, keys, replay, /metrics) needs \
             one: `liucun keys create-admin`"
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
    let result = accept_loop(listener, app, state.clone(), async move {
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

/// Accepts connections until `shutdown` resolves, each served by hyper's HTTP/1 with a header read timeout (which
/// also closes idle keep-alive connections), at most `max_connections` at once; then asks every connection to
/// close after its current request and waits for them (at most the request timeout and a little more).
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(
        state.limits.max_connections.max(1),
    ));
    // Dropping `stop_tx` tells connections to finish; `done_tx` is closed once every connection dropped its
    // receiver.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let (stream, _peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning, and keep serving.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            state.metrics.refuse("too_many_connections");
            tokio::spawn(refuse_connection(stream));
            continue;
        };
        let conn_state = state.clone();
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            conn_state.metrics.connections.inc();
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(conn_state.limits.header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        match result {
                            // The header timeout: a slow client, or an idle keep-alive connection closed.
                            Err(e) if e.is_timeout() => conn_state.metrics.refuse("header_timeout"),
                            Err(e) => tracing::debug!(error = %e, "connection ended with an error"),
                            Ok(()) => {}
                        }
                        break;
                    }
                    changed = stop.changed() => {
                        if changed.is_err() {
                            conn.as_mut().graceful_shutdown();
                            // Wait for the connection itself from now on.
                            stop = tokio::sync::watch::channel(()).1;
                        }
                    }
                }
            }
            conn_state.metrics.connections.dec();
            drop(slot);
            drop(done);
        });
    }
    drop(listener);
    drop(stop_tx);
    drop(done_rx);
    let drain = state.limits.request_timeout + Duration::from_secs(5);
    if tokio::time::timeout(drain, done_tx.closed()).await.is_err() {
        tracing::warn!(
            "connections still open after {} s; stopping without them",
            drain.as_secs()
        );
    }
    Ok(())
}

/// Answers a connection past the cap with 503 and closes it.
async fn refuse_connection(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let body = r#"{"code":"too_many_connections","message":"the server has as many connections open as it accepts; retry shortly"}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent until it closes, so that closing does not reset the connection before the
        // client read the answer.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
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
                    // With time to spare, the new segments' dense ids and activity by hour are derived here, not
                    // by the next report.
                    Some(p) if !behind => p.install(|| engine.flush_and_derive()),
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

/// Gives every request a deadline: past it the answer is 503 `request_timeout` with `Retry-After`.
///
/// Work already on a blocking thread finishes on its own (a capture may then be stored without its 2xx; its retry
/// is deduplicated by uuid), and heavy reads keep their place in line until it does (see [`read_queue_layer`]).
async fn timeout_layer(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let rid = req.extensions().get::<RequestId>().cloned();
    let limit = state.limits.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            state.metrics.refuse("request_timeout");
            tracing::warn!(
                timeout_s = limit.as_secs_f64(),
                "request timed out; answering 503"
            );
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "request_timeout",
                format!(
                    "the request took longer than the server's limit of {} s",
                    limit.as_secs_f64()
                ),
            );
            if let Some(rid) = &rid {
                e = e.with_id(rid);
            }
            with_retry_after(e.into_response(), 1)
        }
    }
}

/// Answers a panicking handler with a generic 500 naming the request id; the panic's text is logged, never sent.
async fn catch_panic_layer(req: Request, next: Next) -> Response {
    let rid = req.extensions().get::<RequestId>().cloned();
    match CatchUnwind(Box::pin(next.run(req))).await {
        Ok(resp) => resp,
        Err(panic) => internal_error(rid.as_ref(), &panic_text(panic)),
    }
}

/// A generic 500 for a failure inside the server; `detail` goes to the log with the request's span.
pub(crate) fn internal_error(rid: Option<&RequestId>, detail: &str) -> Response {
    tracing::error!(detail, "internal error; answering 500");
    let mut e = ApiError::internal();
    if let Some(rid) = rid {
        e = e.with_id(rid);
    }
    e.into_response()
}

/// The message of a panic payload.
pub(crate) fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().map_or_else(
            || "a panic without a message".to_string(),
            |s| (*s).to_string(),
        ),
    }
}

/// A future whose panics while polled are caught and returned.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// Whether a path is a heavy read: a report, an event, person or quarantine listing, or a quarantine replay.
fn is_heavy_read(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/v1/projects/") else {
        return false;
    };
    let rest = rest.trim_end_matches('/');
    rest.contains("/reports/")
        || rest.contains("/persons/")
        || rest.ends_with("/events")
        || rest.ends_with("/quarantine")
        || rest.ends_with("/quarantine/replay")
}

/// Heavy reads run at most `max_concurrent_reads` at once, in arrival order, and each key has at most one waiting
/// or running (a second is answered 429), so one key cannot starve the others.
///
/// The read runs on its own task that holds its place: when the request times out, the place is given back only
/// once the work really ends, so abandoned reports still count against the limit.
async fn read_queue_layer(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    if !is_heavy_read(req.uri().path()) {
        return next.run(req).await;
    }
    let Some(rid) = req.extensions().get::<RequestId>().cloned() else {
        return next.run(req).await;
    };
    // Only a valid key takes a place; anything else goes straight to its handler's 401.
    let key = match api::authorize(&state, req.headers(), &rid, None) {
        Ok(p) => p.prefix().to_string(),
        Err(_) => return next.run(req).await,
    };
    let Some(slot) = state.reads.enter(&key) else {
        state.metrics.refuse("too_many_reads");
        let e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_reads",
            "this key already has a report or listing waiting or running; wait for its answer",
        )
        .with_id(&rid);
        return with_retry_after(e.into_response(), 1);
    };
    let running = state.reads.running.clone();
    let task = tokio::spawn(tracing::Instrument::in_current_span(async move {
        let Ok(permit) = running.acquire_owned().await else {
            return internal_error(Some(&rid), "the read queue is closed");
        };
        let resp = match CatchUnwind(Box::pin(next.run(req))).await {
            Ok(resp) => resp,
            Err(panic) => internal_error(Some(&rid), &panic_text(panic)),
        };
        drop(permit);
        drop(slot);
        resp
    }));
    match task.await {
        Ok(resp) => resp,
        Err(e) => internal_error(None, &format!("read task failed: {e}")),
    }
}

fn with_retry_after(mut resp: Response, seconds: u32) -> Response {
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
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
    } else if capture::is_sensors_path(p) {
        "sensors"
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
    state.metrics.capture_memory.set(state.memory.used() as i64);
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request as HttpRequest;
    use tower::ServiceExt as _;

    use super::*;

    fn request_id(
        id: &str,
    ) -> impl Fn(Request, Next) -> Pin<Box<dyn Future<Output = Response> + Send>> + Clone {
        let id = id.to_string();
        move |mut req: Request, next: Next| {
            req.extensions_mut().insert(RequestId(id.clone()));
            Box::pin(next.run(req))
        }
    }

    #[tokio::test]
    async fn issue_18_a_panicking_handler_is_a_generic_500_with_the_request_id() {
        let app = Router::new()
            .route(
                "/boom",
                get(|| async {
                    panic!("secret detail: /var/lib/liucun/wal/000001.wal");
                    #[allow(unreachable_code)]
                    ""
                }),
            )
            .layer(axum::middleware::from_fn(catch_panic_layer))
            .layer(axum::middleware::from_fn(request_id("req-7")));
        let resp = app
            .oneshot(HttpRequest::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "server_error");
        assert_eq!(v["request_id"], "req-7");
        assert!(!String::from_utf8_lossy(&body).contains("secret"), "{v}");
    }

    #[tokio::test]
    async fn issue_18_engine_failures_answer_no_internal_text() {
        let e = ApiError::engine(liucun::Error::Io {
            path: "/var/lib/liucun/segments/x.parquet".into(),
            source: std::io::Error::other("disk on fire"),
        });
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("parquet") && !text.contains("fire"),
            "{text}"
        );
    }

    #[test]
    fn heavy_reads_are_reports_and_listings() {
        for p in [
            "/api/v1/projects/p/reports/retention",
            "/api/v1/projects/p/events",
            "/api/v1/projects/p/quarantine/",
            "/api/v1/projects/p/quarantine/replay",
            "/api/v1/projects/p/persons/u",
        ] {
            assert!(is_heavy_read(p), "{p}");
        }
        for p in ["/api/v1/projects", "/api/v1/keys", "/batch/", "/metrics"] {
            assert!(!is_heavy_read(p), "{p}");
        }
    }
}
