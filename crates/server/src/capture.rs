//! Capture endpoints (ingest.md §1–§6): PostHog's paths, Segment's Tracking API and the Sensors Data paths
//! (ingest-sensors.md: `/sa`, `/sa.gif`, `/debug`).
//!
//! A request is decoded and validated on a blocking thread, then appended to the WAL as one record: the answer is
//! 2xx only once that record is fsynced. Invalid events are quarantined in the same record, so the response counts
//! both, and a request is stored whole or not at all.
//!
//! Every buffer a request fills (body, decoded payload, validated batch) is reserved from the server's capture
//! memory budget before it grows, and a request's quarantine is kept only while its project is within its
//! quarantine budget (see `limits`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Extension, Json};
use base64::Engine as _;
use serde_json::{Value, json};

use ingest::http::{
    self as wire, CaptureBody, CaptureContext, PosthogPath, Quarantined, SegmentPath, SensorsPath,
    WireError, WireRequest,
};
use model::{Project, Record, Timestamp};

use crate::limits::{Grant, QUARANTINE_RECORD_COST};
use crate::metrics::labels;
use crate::{AppState, RequestId};

const SEGMENT_PATHS: [&str; 7] = [
    "batch", "track", "identify", "page", "screen", "group", "alias",
];

/// Seconds a client is asked to wait after a 503.
const RETRY_AFTER_UNAVAILABLE: u32 = 5;
/// Seconds a client is asked to wait when segment writing is behind: a flush drains the backlog in about that.
const RETRY_AFTER_OVERLOADED: u32 = 1;
/// Requests hold up to this many times their decoded payload while it is validated and appended: the events and
/// rejections built from it, and the WAL record encoding them.
const VALIDATE_FACTOR: usize = 3;

/// The longest request target (path and query) a Sensors path reads (ingest-sensors.md §10).
const MAX_TARGET_BYTES: usize = 64 << 10;
/// A 1×1 transparent GIF, the answer to a Web SDK image request.
const GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Whether `path` (without a trailing slash) is a Sensors capture path.
pub(crate) fn is_sensors_path(path: &str) -> bool {
    SensorsPath::from_path(path).is_some()
}

/// Whether `path` (without a trailing slash) is a PostHog capture path.
pub(crate) fn is_posthog_path(path: &str) -> bool {
    PosthogPath::from_path(path).is_some()
}

pub(crate) fn routes() -> Router<Arc<AppState>> {
    let mut r = Router::new();
    for (path, kind) in PosthogPath::ALL {
        let handler =
            move |state: State<Arc<AppState>>,
                  rid: Extension<RequestId>,
                  method: Method,
                  uri: Uri,
                  headers: HeaderMap,
                  body: Body| { posthog(kind, state, rid, method, uri, headers, body) };
        r = r
            .route(path, any(handler))
            .route(&format!("{path}/"), any(handler));
    }
    for name in SEGMENT_PATHS {
        let Some(kind) = SegmentPath::parse(name) else {
            continue;
        };
        let handler =
            move |state: State<Arc<AppState>>,
                  rid: Extension<RequestId>,
                  uri: Uri,
                  headers: HeaderMap,
                  body: Body| { segment(kind, state, rid, uri, headers, body) };
        r = r
            .route(&format!("/v1/{name}"), post(handler))
            .route(&format!("/v1/{name}/"), post(handler));
    }
    for (path, kind) in SensorsPath::ALL {
        let handler =
            move |state: State<Arc<AppState>>,
                  rid: Extension<RequestId>,
                  method: Method,
                  uri: Uri,
                  headers: HeaderMap,
                  body: Body| { sensors(kind, state, rid, method, uri, headers, body) };
        // Both spellings are routes of their own: a Sensors path never redirects (ingest-sensors.md §1).
        r = r
            .route(path, any(handler))
            .route(&format!("{path}/"), any(handler));
    }
    r
}

/// Why a capture was refused as a whole.
#[derive(Debug)]
enum Refusal {
    Wire(WireError),
    RateLimited(u32),
    /// Too many accepted events wait for segment writing; the client should retry shortly.
    Overloaded(String),
    /// The capture memory budget is in use by other requests.
    MemoryFull(usize),
    Unavailable(String),
    /// A failure inside the server; its detail is logged, never answered.
    Internal(String),
}

impl From<WireError> for Refusal {
    fn from(e: WireError) -> Refusal {
        Refusal::Wire(e)
    }
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::Wire(e) => StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            Refusal::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Overloaded(_) | Refusal::MemoryFull(_) | Refusal::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Refusal::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Refusal::Wire(e) => e.code,
            Refusal::RateLimited(_) => "rate_limited",
            Refusal::Overloaded(_) => "overloaded",
            Refusal::MemoryFull(_) => "capture_memory_full",
            Refusal::Unavailable(_) => "unavailable",
            Refusal::Internal(_) => "server_error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Refusal::Wire(e) => e.detail.clone(),
            Refusal::RateLimited(s) => {
                format!("this token is over its rate limit; retry after {s} s")
            }
            Refusal::MemoryFull(limit) => format!(
                "requests being decoded hold the capture memory budget ({limit} bytes); retry shortly"
            ),
            Refusal::Overloaded(m) | Refusal::Unavailable(m) => m.clone(),
            Refusal::Internal(_) => {
                "internal error; it is logged with this request's id (x-request-id)".to_string()
            }
        }
    }

    fn retry_after(&self) -> Option<u32> {
        match self {
            Refusal::Wire(e) if e.status == 503 => Some(RETRY_AFTER_OVERLOADED),
            Refusal::RateLimited(s) => Some(*s),
            Refusal::Overloaded(_) | Refusal::MemoryFull(_) => Some(RETRY_AFTER_OVERLOADED),
            Refusal::Unavailable(_) => Some(RETRY_AFTER_UNAVAILABLE),
            _ => None,
        }
    }

    /// PostHog's error body: `{type, code, detail}`.
    fn posthog_body(&self) -> Value {
        let ty = match self.status().as_u16() {
            401 => "authentication_error",
            429 => "rate_limit_error",
            s if s >= 500 => "server_error",
            _ => "validation_error",
        };
        json!({"type": ty, "code": self.code(), "detail": self.detail()})
    }

    /// Segment's error body: `{code, message}`.
    fn segment_body(&self) -> Value {
        json!({"code": self.code(), "message": self.detail()})
    }

    fn into_response(self, body: Value) -> Response {
        let mut resp = (self.status(), Json(body)).into_response();
        if let Some(s) = self.retry_after()
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

/// What a stored capture request holds.
#[derive(Debug, Default)]
struct Outcome {
    accepted: usize,
    quarantined: Vec<Quarantined>,
    /// Whether the quarantine of this request was dropped (its project was over its quarantine budget).
    dropped: bool,
}

impl Outcome {
    fn counts(&self) -> serde_json::Map<String, Value> {
        let listed: Vec<Value> = self
            .quarantined
            .iter()
            .take(wire::MAX_LISTED)
            .map(|q| json!({"index": q.index, "reason": q.reason.code(), "detail": q.detail}))
            .collect();
        let mut m = serde_json::Map::new();
        m.insert("accepted".into(), json!(self.accepted));
        m.insert("quarantined".into(), json!(self.quarantined.len()));
        m.insert("quarantine".into(), Value::Array(listed));
        if self.quarantined.len() > wire::MAX_LISTED {
            m.insert("truncated".into(), Value::Bool(true));
        }
        if self.dropped {
            m.insert("quarantine_dropped".into(), json!(self.quarantined.len()));
        }
        m
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "an axum handler takes its extractors as arguments"
)]
async fn posthog(
    kind: PosthogPath,
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut resp = if method == Method::OPTIONS {
        StatusCode::OK.into_response()
    } else if method != Method::GET && method != Method::POST {
        method_not_allowed(&method)
    } else {
        let beacon = query_flag(uri.query(), "beacon");
        let mut grant = state.memory.grant();
        let result = match read_body(&headers, body, &mut grant).await {
            Ok(bytes) => {
                let st = state.clone();
                let path = uri.path().to_string();
                let query = uri.query().map(str::to_string);
                let rid2 = rid.clone();
                let headers2 = headers.clone();
                tokio::task::spawn_blocking(move || {
                    posthog_blocking(
                        &st,
                        kind,
                        &path,
                        query.as_deref(),
                        &headers2,
                        &bytes,
                        &rid2,
                        grant,
                    )
                })
                .await
                .unwrap_or_else(|e| Err(join_failure(e)))
            }
            Err(r) => Err(r),
        };
        match result {
            Ok(_) if beacon => StatusCode::NO_CONTENT.into_response(),
            Ok(outcome) => {
                let mut m = serde_json::Map::new();
                m.insert("status".into(), json!(1));
                m.extend(outcome.counts());
                (StatusCode::OK, Json(Value::Object(m))).into_response()
            }
            Err(r) => {
                log_refusal(&state, &r);
                let body = r.posthog_body();
                r.into_response(body)
            }
        }
    };
    cors(&headers, resp.headers_mut());
    resp
}

#[allow(
    clippy::too_many_arguments,
    reason = "the parts of one request, moved to a blocking thread"
)]
fn posthog_blocking(
    state: &AppState,
    kind: PosthogPath,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    bytes: &[u8],
    rid: &RequestId,
    mut grant: Grant,
) -> Result<Outcome, Refusal> {
    let now = now();
    let req = wire_request(query, headers, bytes);
    let limits = state.decode_limits();
    let text = wire::posthog_payload(&req, kind, &limits, &mut reserver(&mut grant))?;
    reserve_for_validation(&mut grant, text.len())?;
    let body = wire::posthog_body(&text, kind, &limits)?;
    let token = body.token.clone().ok_or_else(|| WireError {
        status: 401,
        code: "missing_api_key",
        detail: "no token: send `api_key` in the body or `token` in the event properties"
            .to_string(),
    })?;
    let project = project_of(state, &token)?;
    let ctx = CaptureContext {
        now,
        query_sent_at: CaptureContext::query_sent_at(query),
        source: format!("http {path} {}", rid.0),
    };
    commit(state, &token, &project, body, &ctx)
}

async fn segment(
    kind: SegmentPath,
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // A Basic auth key is checked before the body is read: an unknown key costs no decoding.
    let early = match basic_user(&headers) {
        Ok(Some(key)) => project_of(&state, &key).map(|_| ()),
        Ok(None) => Ok(()),
        Err(r) => Err(r),
    };
    let mut grant = state.memory.grant();
    let read = match early {
        Ok(()) => read_body(&headers, body, &mut grant).await,
        Err(r) => Err(r),
    };
    let result = match read {
        Ok(bytes) => {
            let st = state.clone();
            let path = uri.path().to_string();
            let query = uri.query().map(str::to_string);
            tokio::task::spawn_blocking(move || {
                segment_blocking(
                    &st,
                    kind,
                    &path,
                    query.as_deref(),
                    &headers,
                    &bytes,
                    &rid,
                    grant,
                )
            })
            .await
            .unwrap_or_else(|e| Err(join_failure(e)))
        }
        Err(r) => Err(r),
    };
    match result {
        Ok(outcome) => {
            let mut m = serde_json::Map::new();
            m.insert("success".into(), Value::Bool(true));
            m.extend(outcome.counts());
            (StatusCode::OK, Json(Value::Object(m))).into_response()
        }
        Err(r) => {
            log_refusal(&state, &r);
            let body = r.segment_body();
            r.into_response(body)
        }
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "the parts of one request, moved to a blocking thread"
)]
fn segment_blocking(
    state: &AppState,
    kind: SegmentPath,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    bytes: &[u8],
    rid: &RequestId,
    mut grant: Grant,
) -> Result<Outcome, Refusal> {
    let now = now();
    let req = wire_request(query, headers, bytes);
    let limits = state.decode_limits();
    let text = wire::segment_payload(&req, &limits, &mut reserver(&mut grant))?;
    reserve_for_validation(&mut grant, text.len())?;
    let body = wire::segment_body(&text, kind, &limits)?;
    let basic = basic_user(headers)?;
    let token = match (basic, body.token.clone()) {
        (Some(b), Some(w)) if b != w => {
            return Err(Refusal::Wire(WireError {
                status: 401,
                code: "inconsistent_write_key",
                detail: "the Basic auth user and the body's `writeKey` differ".to_string(),
            }));
        }
        (Some(k), _) | (None, Some(k)) => k,
        (None, None) => {
            return Err(Refusal::Wire(WireError {
                status: 401,
                code: "missing_write_key",
                detail: "no write key: send it as the Basic auth user or as `writeKey` in the body"
                    .to_string(),
            }));
        }
    };
    let project = project_of(state, &token)?;
    let ctx = CaptureContext {
        now,
        query_sent_at: None,
        source: format!("http {path} {}", rid.0),
    };
    commit(state, &token, &project, body, &ctx)
}

#[allow(
    clippy::too_many_arguments,
    reason = "an axum handler takes its extractors as arguments"
)]
async fn sensors(
    kind: SensorsPath,
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target_bytes = uri.path_and_query().map_or(0, |p| p.as_str().len());
    let mut resp = if method == Method::OPTIONS {
        StatusCode::OK.into_response()
    } else if method != Method::GET && method != Method::POST {
        method_not_allowed(&method)
    } else if target_bytes > MAX_TARGET_BYTES {
        let r = Refusal::Wire(WireError {
            status: 414,
            code: "uri_too_long",
            detail: format!(
                "the request target is {target_bytes} bytes, the limit is {MAX_TARGET_BYTES}; send the payload in a POST body"
            ),
        });
        log_refusal(&state, &r);
        let body = r.posthog_body();
        r.into_response(body)
    } else {
        let is_gif = method == Method::GET && uri.path().trim_end_matches('/').ends_with(".gif");
        let dry_run = kind == SensorsPath::Debug
            && header_str(&headers, header::HeaderName::from_static("dry-run"))
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let mut grant = state.memory.grant();
        let result = match read_body(&headers, body, &mut grant).await {
            Ok(bytes) => {
                let st = state.clone();
                let path = uri.path().to_string();
                let query = uri.query().map(str::to_string);
                let rid2 = rid.clone();
                let headers2 = headers.clone();
                tokio::task::spawn_blocking(move || {
                    let req = wire_request(query.as_deref(), &headers2, &bytes);
                    sensors_blocking(&st, dry_run, &path, &req, &rid2, grant)
                })
                .await
                .unwrap_or_else(|e| Err(join_failure(e)))
            }
            Err(r) => Err(r),
        };
        match result {
            // The debug mode shows the SDK's developer what would be lost (ingest-sensors.md §8).
            Ok(outcome) if kind == SensorsPath::Debug && !outcome.quarantined.is_empty() => {
                let mut m = serde_json::Map::new();
                m.insert("type".into(), json!("validation_error"));
                m.insert("code".into(), json!("quarantined"));
                m.insert(
                    "detail".into(),
                    json!(format!(
                        "{} of the messages would be quarantined (see `quarantine`)",
                        outcome.quarantined.len()
                    )),
                );
                m.insert("dry_run".into(), json!(dry_run));
                m.extend(outcome.counts());
                (StatusCode::BAD_REQUEST, Json(Value::Object(m))).into_response()
            }
            Ok(_) if is_gif => (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
                GIF,
            )
                .into_response(),
            Ok(outcome) => {
                let mut m = serde_json::Map::new();
                m.insert("status".into(), json!(1));
                m.extend(outcome.counts());
                if dry_run {
                    m.insert("dry_run".into(), json!(true));
                }
                (StatusCode::OK, Json(Value::Object(m))).into_response()
            }
            Err(r) => {
                log_refusal(&state, &r);
                // Android and iOS keep a batch answered 503 and drop one answered 429 (ingest-sensors.md §9).
                let rate_limited = matches!(r, Refusal::RateLimited(_));
                let body = r.posthog_body();
                let mut resp = r.into_response(body);
                if rate_limited {
                    *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                }
                resp
            }
        }
    };
    cors(&headers, resp.headers_mut());
    resp
}

/// Decodes, validates and (unless `dry_run`) appends one Sensors request; returns once it is fsynced.
fn sensors_blocking(
    state: &AppState,
    dry_run: bool,
    path: &str,
    req: &WireRequest<'_>,
    rid: &RequestId,
    mut grant: Grant,
) -> Result<Outcome, Refusal> {
    let now = now();
    let limits = state.decode_limits();
    let payload = wire::sensors_payload(req, &limits, &mut reserver(&mut grant))?;
    if let Some((sent, computed)) = &payload.checksum_mismatch {
        // Not refused: what decodes is stored (ingest-sensors.md §3.3).
        tracing::warn!(
            request_id = %rid.0,
            // Client text: logged escaped, so a newline in it cannot forge a log line.
            sent = ?sent,
            computed,
            "Sensors payload checksum mismatch"
        );
        state.metrics.sensors_checksum_mismatch.inc();
    }
    reserve_for_validation(&mut grant, payload.text.len())?;
    let body = wire::sensors_body(&payload, &limits)?;
    let token = body.token.clone().ok_or_else(|| WireError {
        status: 401,
        code: "missing_api_key",
        detail: "no token: put the write token in the server URL as `?project=<token>`".to_string(),
    })?;
    let project = sensors_project_of(state, &token)?;
    let ctx = CaptureContext {
        now,
        query_sent_at: None,
        source: format!("http {path} {}", rid.0),
    };
    if dry_run {
        let batch = wire::capture_batch(&project, body, &ctx);
        return Ok(Outcome {
            accepted: batch.accepted(),
            quarantined: batch.quarantined,
            dropped: false,
        });
    }
    commit(state, &token, &project, body, &ctx)
}

/// The project of a write token on a Sensors path: a well-formed token that is not an active write token is 403,
/// which the mobile SDKs retry, where ingest.md answers 401, which they drop (ingest-sensors.md §2.1.5).
fn sensors_project_of(state: &AppState, token: &str) -> Result<Project, Refusal> {
    match project_of(state, token) {
        Err(Refusal::Wire(e))
            if e.code == "invalid_api_key" && !state.access.is_secret_key(token) =>
        {
            Err(Refusal::Wire(WireError {
                status: 403,
                code: "unknown_api_key",
                detail: "the token is not an active write token of any project".to_string(),
            }))
        }
        other => other,
    }
}

/// The write key from `Authorization: Basic base64("<key>:")`; a Bearer token is ignored (Segment OAuth).
fn basic_user(headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let Some(v) = header_str(headers, header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.trim();
    let Some(encoded) = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let bad = || {
        Refusal::Wire(WireError {
            status: 401,
            code: "invalid_write_key",
            detail: "the Basic auth header is not base64 of `<write key>:`".to_string(),
        })
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let user = text.split(':').next().unwrap_or("");
    Ok(Some(wire::check_token(&Value::String(user.to_string()))?))
}

/// The project of a write token; a secret key sent here is refused and logged by prefix only.
fn project_of(state: &AppState, token: &str) -> Result<Project, Refusal> {
    if let Some(p) = state.access.project_of_token(token) {
        return Project::new(&p).map_err(|e| Refusal::Internal(e.to_string()));
    }
    if state.access.is_secret_key(token) {
        let prefix: String = token.chars().take(8).collect();
        tracing::warn!(
            key_prefix = ?prefix,
            "a read or admin key was sent to a capture path and refused; rotate it, it may be exposed"
        );
    }
    Err(Refusal::Wire(WireError {
        status: 401,
        code: "invalid_api_key",
        detail: "the token is not an active write token of any project".to_string(),
    }))
}

/// Validates and appends one request; returns once it is fsynced.
fn commit(
    state: &AppState,
    token: &str,
    project: &Project,
    body: CaptureBody<'_>,
    ctx: &CaptureContext,
) -> Result<Outcome, Refusal> {
    if let Some(limiter) = &state.limiter
        && let Err(wait) = limiter.take(token)
    {
        return Err(Refusal::RateLimited(wait));
    }
    let mut batch = wire::capture_batch(project, body, ctx);
    let cost: u64 = batch
        .batch
        .rejections()
        .iter()
        .map(|r| r.raw.len() as u64 + QUARANTINE_RECORD_COST)
        .sum();
    let dropped = cost > 0 && !state.quarantine_budget.take(project, cost);
    if dropped {
        // Past its budget a project's invalid traffic is counted, not stored; its valid events still are.
        let (p, events, _) = batch.batch.into_parts();
        batch.batch = model::EventBatch::new(p, events, Vec::new());
    }
    let outcome = Outcome {
        accepted: batch.accepted(),
        quarantined: batch.quarantined,
        dropped,
    };
    let p = project.as_str();
    if dropped {
        tracing::info!(
            project = p,
            items = outcome.quarantined.len(),
            bytes = cost,
            "quarantine budget exceeded; this request's rejections are dropped"
        );
        state
            .metrics
            .quarantine_dropped
            .get_or_create(&labels(&[("project", p)]))
            .inc_by(outcome.quarantined.len() as u64);
    }
    if batch.batch.is_empty() {
        return Ok(outcome);
    }
    if state.stopping.load(Ordering::SeqCst) {
        return Err(Refusal::Unavailable(
            "the server is shutting down".to_string(),
        ));
    }
    let started = Instant::now();
    if let Err(e) = state.engine.append(Record::Events(batch.batch)) {
        if let liucun::Error::Overloaded { .. } = e {
            tracing::debug!(error = %e, "capture refused while segment writing catches up");
            return Err(Refusal::Overloaded(e.to_string()));
        }
        tracing::error!(error = %e, "WAL append failed; answering 503");
        return Err(Refusal::Unavailable(
            "the event log cannot commit (the server logs why); nothing of this request was stored"
                .to_string(),
        ));
    }
    state
        .metrics
        .wal_commit
        .observe(started.elapsed().as_secs_f64());
    state
        .metrics
        .accepted
        .get_or_create(&labels(&[("project", p)]))
        .inc_by(outcome.accepted as u64);
    for q in outcome.quarantined.iter().filter(|_| !dropped) {
        state
            .metrics
            .quarantined
            .get_or_create(&labels(&[("project", p), ("reason", q.reason.code())]))
            .inc();
    }
    Ok(outcome)
}

/// Reads the whole body, refusing past the wire limit, with every growth of its buffer reserved first.
async fn read_body(headers: &HeaderMap, body: Body, grant: &mut Grant) -> Result<Vec<u8>, Refusal> {
    use http_body_util::BodyExt as _;
    let max = wire::MAX_BODY_BYTES;
    let too_large = |n: Option<usize>| {
        Refusal::Wire(WireError {
            status: 413,
            code: "payload_too_large",
            detail: match n {
                Some(n) => format!("the body is {n} bytes, the limit is {max} bytes"),
                None => format!("the body is over the limit of {max} bytes"),
            },
        })
    };
    let declared =
        header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(n) = declared
        && n > max
    {
        return Err(too_large(Some(n)));
    }
    let mut out: Vec<u8> = Vec::new();
    if let Some(n) = declared {
        grant.grow(n).map_err(Refusal::MemoryFull)?;
        out.reserve_exact(n);
    }
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Refusal::Wire(WireError {
                status: 400,
                code: "unreadable_body",
                detail: format!("the body could not be read: {e}"),
            })
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if out.len() + data.len() > max {
            return Err(too_large(None));
        }
        if out.len() + data.len() > out.capacity() {
            // A body without a length (chunked) grows by doubling, each growth reserved before it is made.
            let want = (out.capacity() * 2).max(out.len() + data.len()).min(max);
            grant
                .grow(want - out.capacity())
                .map_err(Refusal::MemoryFull)?;
            out.reserve_exact(want - out.len());
        }
        out.extend_from_slice(&data);
    }
    Ok(out)
}

/// The decode's reservation hook: each buffer growth is taken from the request's grant, or refused with 503.
fn reserver(grant: &mut Grant) -> impl FnMut(usize) -> Result<(), WireError> + '_ {
    |n| {
        grant.grow(n).map_err(|limit| WireError {
            status: 503,
            code: "capture_memory_full",
            detail: format!(
                "requests being decoded hold the capture memory budget ({limit} bytes); retry shortly"
            ),
        })
    }
}

/// Reserves what validating and appending a decoded payload of `n` bytes holds.
fn reserve_for_validation(grant: &mut Grant, n: usize) -> Result<(), Refusal> {
    grant
        .grow(n.saturating_mul(VALIDATE_FACTOR))
        .map_err(Refusal::MemoryFull)
}

/// A capture task that panicked or was cancelled: logged here with the request's span, answered as a generic 500.
fn join_failure(e: tokio::task::JoinError) -> Refusal {
    let detail = if e.is_panic() {
        crate::panic_text(e.into_panic())
    } else {
        e.to_string()
    };
    Refusal::Internal(format!("capture task failed: {detail}"))
}

fn log_refusal(state: &AppState, r: &Refusal) {
    state.metrics.refuse(r.code());
    match r {
        Refusal::Internal(m) => tracing::error!(code = r.code(), detail = %m, "capture failed"),
        Refusal::Unavailable(m) => tracing::warn!(code = r.code(), detail = %m, "capture refused"),
        _ => tracing::info!(
            code = r.code(),
            status = r.status().as_u16(),
            "capture refused"
        ),
    }
}

/// ingest.md §1: on capture paths, mirror the origin and requested headers, allow credentials.
fn cors(req: &HeaderMap, resp: &mut HeaderMap) {
    let Some(origin) = req.get(header::ORIGIN) else {
        return;
    };
    resp.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    resp.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    resp.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    if let Some(h) = req.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        resp.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h.clone());
    }
    resp.insert(header::VARY, HeaderValue::from_static("Origin"));
}

fn wire_request<'a>(
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    body: &'a [u8],
) -> WireRequest<'a> {
    WireRequest {
        query,
        content_type: header_str(headers, header::CONTENT_TYPE),
        content_encoding: header_str(headers, header::CONTENT_ENCODING),
        body,
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn query_flag(query: Option<&str>, key: &str) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|kv| kv == format!("{key}=1") || kv == format!("{key}=true"))
    })
}

fn now() -> Timestamp {
    Timestamp(jiff::Timestamp::now().as_microsecond())
}

/// A per-token token bucket: `rate` requests per second with a burst of one second's worth.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub(crate) fn new(rate: u32) -> RateLimiter {
        RateLimiter {
            rate: f64::from(rate.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request's worth, or says how many whole seconds to wait.
    fn take(&self, token: &str) -> Result<(), u32> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (level, last) = buckets.entry(token.to_string()).or_insert((self.rate, now));
        *level = (*level + now.duration_since(*last).as_secs_f64() * self.rate).min(self.rate);
        *last = now;
        if *level >= 1.0 {
            *level -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *level) / self.rate).ceil().max(1.0) as u32)
        }
    }
}

/// 405 for a method the PostHog-style and Sensors capture paths do not take, naming the ones they do.
fn method_not_allowed(method: &Method) -> Response {
    let r = Refusal::Wire(WireError {
        status: 405,
        code: "method_not_allowed",
        detail: format!("{method} is not a capture method; use GET, POST or OPTIONS"),
    });
    let body = r.posthog_body();
    let mut resp = r.into_response(body);
    resp.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    resp
}
