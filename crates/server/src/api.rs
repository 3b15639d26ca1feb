//! The `/api/v1` endpoints: reports, events, persons and the quarantine of a project with its read key (or an admin
//! key), and projects and keys with an admin key. Keys come only as `Authorization: Bearer …`, never in a query.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};

use liucun::model::{Event, RejectReason, Timestamp, Uuid};
use liucun::{EventQuery, PersonView};
use report::{Kind, Request};

use crate::access::{AccessError, BearerCheck, KeyKind, Principal};
use crate::error::ApiError;
use crate::metrics::labels;
use crate::{AppState, RequestId};

/// The OpenAPI document of every endpoint.
pub(crate) const OPENAPI: &str = include_str!("openapi.json");

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/projects", get(list_projects).post(create_project))
        .route("/api/v1/keys", get(list_keys).post(create_key))
        .route("/api/v1/keys/{prefix}", delete(revoke_key))
        .route(
            "/api/v1/projects/{project}/reports/{kind}",
            get(report).post(report),
        )
        .route(
            "/api/v1/projects/{project}/reports/funnels/persons",
            get(funnel_persons).post(funnel_persons),
        )
        .route(
            "/api/v1/projects/{project}/settings",
            get(get_settings).put(put_settings),
        )
        .route("/api/v1/projects/{project}/events", get(events))
        .route(
            "/api/v1/projects/{project}/persons/{distinct_id}",
            get(person),
        )
        .route("/api/v1/projects/{project}/quarantine", get(quarantine))
        .route(
            "/api/v1/projects/{project}/quarantine/replay",
            axum::routing::post(replay),
        )
}

/// Checks the bearer key; with `project`, also that the key may read it.
pub(crate) fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    project: Option<&str>,
) -> Result<Principal, ApiError> {
    let unauthorized = |code: &'static str, msg: &str| {
        ApiError::new(StatusCode::UNAUTHORIZED, code, msg).with_id(rid)
    };
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthorized(
            "missing_key",
            "send a read or admin key as `Authorization: Bearer <key>`",
        ));
    };
    let Some(key) = value
        .trim()
        .strip_prefix("Bearer ")
        .or_else(|| value.trim().strip_prefix("bearer "))
    else {
        return Err(unauthorized(
            "invalid_key",
            "the Authorization header must be `Bearer <key>`",
        ));
    };
    match state.access.check_bearer(key.trim()) {
        BearerCheck::Ok(p) => {
            if let Some(project) = project
                && !p.can_read(project)
            {
                tracing::info!(key_prefix = %p.prefix(), project, "key refused for another project");
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!("this key cannot read project {project:?}"),
                )
                .with_id(rid));
            }
            Ok(p)
        }
        BearerCheck::WriteToken => Err(unauthorized(
            "invalid_key",
            "a write token can only capture events; use a read or admin key",
        )),
        BearerCheck::Unknown => Err(unauthorized(
            "invalid_key",
            "the key is not an active read or admin key",
        )),
    }
}

/// Checks that the bearer key is an admin key.
pub(crate) fn admin(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
) -> Result<(), ApiError> {
    match authorize(state, headers, rid, None)? {
        Principal::Admin { .. } => Ok(()),
        Principal::Reader { .. } => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this endpoint needs an admin key",
        )
        .with_id(rid)),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

fn access_error(e: AccessError, rid: &RequestId) -> ApiError {
    let (status, code) = match &e {
        AccessError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_parameter"),
        AccessError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        AccessError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        AccessError::Io { .. } | AccessError::Damaged { .. } | AccessError::Exposed { .. } => {
            tracing::error!(error = %e, "access registry failure; answering 500");
            return ApiError::internal().with_id(rid);
        }
    };
    ApiError::new(status, code, e.to_string()).with_id(rid)
}

/// Parses a JSON request body as an object.
fn json_object(body: &[u8], rid: &RequestId) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body must be a JSON object",
        )
        .with_id(rid)),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not JSON: {e}"),
        )
        .with_id(rid)),
    }
}

fn string_field<'a>(
    m: &'a Map<String, Value>,
    field: &str,
    rid: &RequestId,
) -> Result<&'a str, ApiError> {
    match m.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::invalid(field, "must be a string").with_id(rid)),
        None => Err(ApiError::invalid(field, "is required").with_id(rid)),
    }
}

/// `GET /api/v1/whoami`: what the presented read or admin key is and which projects it reads (an admin key: every
/// registered project and every project holding events), so a client such as the dashboard knows what to offer.
async fn whoami(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = authorize(&state, &headers, &rid, None)?;
    let (kind, projects) = match &principal {
        Principal::Reader { project, .. } => ("read", vec![project.clone()]),
        Principal::Admin { .. } => {
            let mut all: std::collections::BTreeSet<String> = state
                .access
                .registry()
                .projects
                .iter()
                .map(|p| p.name.clone())
                .collect();
            all.extend(state.engine.projects_with_events());
            ("admin", all.into_iter().collect())
        }
    };
    Ok(
        Json(json!({"kind": kind, "projects": projects, "key_prefix": principal.prefix()}))
            .into_response(),
    )
}

async fn list_projects(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&state, &headers, &rid)?;
    let r = state.access.registry();
    Ok(Json(json!({"projects": r.projects})).into_response())
}

async fn create_project(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admin(&state, &headers, &rid)?;
    let m = json_object(&body, &rid)?;
    let name = string_field(&m, "name", &rid)?;
    let entry = state
        .access
        .create_project(name)
        .map_err(|e| access_error(e, &rid))?;
    tracing::info!(project = %entry.name, "project created");
    Ok((StatusCode::CREATED, Json(json!(entry))).into_response())
}

/// A project's settings, defaults spelled out (a read key of the project or an admin key).
async fn get_settings(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    Path(project): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &rid, Some(&project))?;
    let dir = state.engine.dir().to_path_buf();
    let s = on_engine(&rid, move || liucun::settings::get(&dir, &project)).await?;
    Ok(Json(s.effective_json()).into_response())
}

/// Replaces a project's settings with the body's (absent fields take the defaults); admin only.
async fn put_settings(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admin(&state, &headers, &rid)?;
    let m = json_object(&body, &rid)?;
    let new: report::settings::ProjectSettings = serde_path_to_error::deserialize(Value::Object(m))
        .map_err(|e| {
            let path = e.path().to_string();
            ApiError::invalid(&path, e.into_inner().to_string()).with_id(&rid)
        })?;
    let dir = state.engine.dir().to_path_buf();
    let p = project.clone();
    let s = on_engine(&rid, move || {
        liucun::settings::update(&dir, &p, |s| *s = new)
    })
    .await?;
    tracing::info!(project = %project, "project settings changed");
    Ok(Json(s.effective_json()).into_response())
}

async fn list_keys(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&state, &headers, &rid)?;
    let keys: Vec<Value> = state
        .access
        .registry()
        .keys
        .into_iter()
        .map(|k| {
            json!({
                "prefix": k.prefix,
                "kind": k.kind,
                "project": k.project,
                "token": k.token,
                "created_at": k.created_at,
                "revoked_at": k.revoked_at,
            })
        })
        .collect();
    Ok(Json(json!({"keys": keys})).into_response())
}

async fn create_key(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admin(&state, &headers, &rid)?;
    let m = json_object(&body, &rid)?;
    let kind_text = string_field(&m, "kind", &rid)?;
    let kind = KeyKind::parse(kind_text).ok_or_else(|| {
        ApiError::invalid("kind", "must be \"write\", \"read\" or \"admin\"").with_id(&rid)
    })?;
    let project = match m.get("project") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.as_str()),
        Some(_) => return Err(ApiError::invalid("project", "must be a string").with_id(&rid)),
    };
    let (key, entry) = match m.get("token") {
        Some(Value::String(t)) if kind == KeyKind::Write => {
            let p = project.ok_or_else(|| {
                ApiError::invalid("project", "is required for a write token").with_id(&rid)
            })?;
            let e = state
                .access
                .import_token(p, t)
                .map_err(|e| access_error(e, &rid))?;
            (t.trim().to_string(), e)
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "token",
                "only an existing write token (a string) can be imported",
            )
            .with_id(&rid));
        }
        None => state
            .access
            .create_key(kind, project)
            .map_err(|e| access_error(e, &rid))?,
    };
    tracing::info!(key_prefix = %entry.prefix, kind = ?entry.kind, "key created");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "key": key,
            "kind": entry.kind,
            "project": entry.project,
            "prefix": entry.prefix,
            "created_at": entry.created_at,
        })),
    )
        .into_response())
}

async fn revoke_key(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    Path(prefix): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&state, &headers, &rid)?;
    let n = state
        .access
        .revoke(&prefix)
        .map_err(|e| access_error(e, &rid))?;
    tracing::info!(key_prefix = ?prefix, "key revoked");
    Ok(Json(json!({"revoked": n})).into_response())
}

async fn report(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    Path((project, kind)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &rid, Some(&project))?;
    let built: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    let Some(report_kind) = Kind::parse(&kind) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_report",
            format!(
                "`kind` {kind:?} is not a report; reports are {}",
                built.join(", ")
            ),
        )
        .with_id(&rid));
    };
    let mut params = report_params(&project, &method, &query, &body, &rid)?;
    // The words follow `lang`, else the client's Accept-Language (the numbers never depend on it).
    if !params.contains_key("lang")
        && let Some(accept) = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        && report::params::Lang::from_accept_language(accept) == report::params::Lang::ZhCn
    {
        params.insert("lang".into(), json!("zh-CN"));
    }
    if report_kind == Kind::Economics {
        for (k, v) in &state.economics_defaults {
            params.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let request = Request::from_json(report_kind, &Value::Object(params)).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", e.to_string()).with_id(&rid)
    })?;
    let engine = state.engine.clone();
    let started = Instant::now();
    // The report stops at the request's deadline, so a timed-out report frees its worker and its place in line.
    let deadline = started + state.limits.request_timeout;
    let report = on_engine(&rid, move || {
        engine.report_within(request, now(), Some(deadline))
    })
    .await
    .inspect_err(|e| {
        // The report's own limits: its size, checked before it allocates, and its deadline.
        if matches!(e.code(), "report_too_large" | "request_timeout") {
            state.metrics.refuse(e.code());
        }
    })?;
    state
        .metrics
        .report
        .get_or_create(&labels(&[("kind", report_kind.name())]))
        .observe(started.elapsed().as_secs_f64());
    Ok(Json(report.to_json()).into_response())
}

/// A report's parameters from the query string (GET) or the JSON body (POST), for the project of the path.
fn report_params(
    project: &str,
    method: &Method,
    query: &HashMap<String, String>,
    body: &Bytes,
    rid: &RequestId,
) -> Result<Map<String, Value>, ApiError> {
    let mut params = if *method == Method::POST {
        json_object(body, rid)?
    } else {
        params_from_query(query)
    };
    // A report published by liucun can be posted back as it is: its `parameters` are the request.
    if let Some(Value::Object(inner)) = params.remove("parameters") {
        params = inner;
    }
    match params.get("projects") {
        None => {}
        Some(Value::Array(a)) if a.len() == 1 && a[0] == Value::String(project.to_string()) => {}
        Some(_) => {
            return Err(ApiError::invalid(
                "projects",
                format!("a report over this path reads project {project:?} only; omit `projects`"),
            )
            .with_id(rid));
        }
    }
    params.insert("projects".into(), json!([project]));
    Ok(params)
}

/// The persons behind a funnel's numbers (funnels.md §12): the funnel's parameters plus the selection keys.
async fn funnel_persons(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    Path(project): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &rid, Some(&project))?;
    let params = Value::Object(report_params(&project, &method, &query, &body, &rid)?);
    let engine = state.engine.clone();
    let started = Instant::now();
    let deadline = started + state.limits.request_timeout;
    let out = on_engine(&rid, move || {
        engine.funnel_persons(&params, now(), Some(deadline))
    })
    .await?;
    state
        .metrics
        .report
        .get_or_create(&labels(&[("kind", "funnel_persons")]))
        .observe(started.elapsed().as_secs_f64());
    Ok(Json(out).into_response())
}

/// Query parameters as report parameters: each value is read as JSON when it parses, else as a string.
fn params_from_query(query: &HashMap<String, String>) -> Map<String, Value> {
    query
        .iter()
        .map(|(k, v)| {
            let value =
                serde_json::from_str::<Value>(v).unwrap_or_else(|_| Value::String(v.clone()));
            (k.clone(), value)
        })
        .collect()
}

async fn events(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    Path(project): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &rid, Some(&project))?;
    let mut q = EventQuery::default();
    for (k, v) in &query {
        match k.as_str() {
            "uuid" => {
                q.uuid = Some(Uuid::parse(v).map_err(|_| {
                    ApiError::invalid("uuid", "is not a hyphenated hex UUID").with_id(&rid)
                })?);
            }
            "distinct_id" => q.distinct_id = Some(v.clone()),
            "event" => q.event = Some(v.clone()),
            "limit" => {
                q.limit = parse_limit(v, &rid)?;
            }
            other => {
                return Err(ApiError::invalid(
                    other,
                    "is not a filter; use uuid, distinct_id, event or limit",
                )
                .with_id(&rid));
            }
        }
    }
    let engine = state.engine.clone();
    let p = project.clone();
    let page = on_engine(&rid, move || {
        let page = engine.events(&p, &q)?;
        let identity = engine.identity(&p, None)?;
        Ok::<_, liucun::Error>((page, identity))
    })
    .await?;
    let (page, identity) = page;
    let events: Vec<Value> = page
        .events
        .iter()
        .map(|e| {
            // A personless event belongs to no person (events.md §5.6).
            let person = (!e.typed.personless).then(|| identity.person_of(e.distinct_id()));
            event_json(e, person)
        })
        .collect();
    Ok(Json(json!({"events": events, "truncated": page.truncated})).into_response())
}

fn event_json(e: &Event, person_id: Option<&str>) -> Value {
    json!({
        "uuid": e.uuid.to_string(),
        "distinct_id": e.distinct_id(),
        "person_id": person_id,
        "event": e.event(),
        "timestamp": rfc3339(e.timestamp),
        "received_at": rfc3339(e.received_at),
        "properties": parse_json(e.properties()),
        "personless": e.typed.personless,
        "source": e.source(),
        "meta": parse_json(e.meta()),
    })
}

async fn person(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    Path((project, distinct_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &rid, Some(&project))?;
    let engine = state.engine.clone();
    let (p, d) = (project.clone(), distinct_id.clone());
    let found = on_engine(&rid, move || engine.person(&p, &d)).await?;
    match found {
        Some(PersonView {
            person_id,
            distinct_ids,
            identified,
            properties,
        }) => Ok(Json(json!({
            "distinct_id": distinct_id,
            "person_id": person_id,
            "distinct_ids": distinct_ids,
            "identified": identified,
            "properties": properties,
        }))
        .into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_person",
            format!(
                "`distinct_id` {distinct_id:?} has no person in project {project:?}: it never appeared, or only in personless events"
            ),
        )
        .with_id(&rid)),
    }
}

async fn quarantine(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    Path(project): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &rid, Some(&project))?;
    let mut reason = None;
    let mut limit = 1000;
    for (k, v) in &query {
        match k.as_str() {
            "reason" => {
                reason = Some(RejectReason::from_code(v).ok_or_else(|| {
                    ApiError::invalid("reason", format!("{v:?} is not a quarantine reason"))
                        .with_id(&rid)
                })?);
            }
            "limit" => {
                limit = parse_limit(v, &rid)?;
            }
            other => {
                return Err(
                    ApiError::invalid(other, "is not a filter; use reason or limit").with_id(&rid),
                );
            }
        }
    }
    let engine = state.engine.clone();
    let p = project.clone();
    let (rows, total, by_reason) =
        on_engine(&rid, move || engine.quarantine(&p, reason, limit)).await?;
    let entries: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "reason": r.reason.code(),
                "detail": r.detail,
                "source": r.source,
                "received_at": rfc3339(r.received_at),
                "raw": raw_text(&r.raw),
                "raw_encoding": raw_encoding(&r.raw),
            })
        })
        .collect();
    Ok(Json(json!({"entries": entries, "total": total, "by_reason": by_reason})).into_response())
}

/// Re-validates the quarantine under today's rules and stores what passes (admin: it writes).
async fn replay(
    State(state): State<Arc<AppState>>,
    Extension(rid): Extension<RequestId>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admin(&state, &headers, &rid)?;
    let m = json_object(&body, &rid)?;
    let reason = match m.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(code)) => Some(RejectReason::from_code(code).ok_or_else(|| {
            ApiError::invalid("reason", format!("{code:?} is not a quarantine reason"))
                .with_id(&rid)
        })?),
        Some(_) => return Err(ApiError::invalid("reason", "must be a string").with_id(&rid)),
    };
    let dry_run = match m.get("dry_run") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("dry_run", "must be a boolean").with_id(&rid)),
    };
    let engine = state.engine.clone();
    let p = project.clone();
    let summary = on_engine(&rid, move || engine.replay_quarantine(&p, reason, dry_run)).await?;
    Ok(Json(json!({
        "examined": summary.examined,
        "replayed": summary.replayed,
        "still_rejected": summary.still_rejected,
        "not_replayable": summary.not_replayable,
        "dry_run": dry_run,
    }))
    .into_response())
}

/// Runs engine work on a blocking thread; engine errors become API errors (400 for invalid requests).
async fn on_engine<T: Send + 'static>(
    rid: &RequestId,
    work: impl FnOnce() -> liucun::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ApiError::engine(e).with_id(rid)),
        Err(e) => {
            let detail = if e.is_panic() {
                crate::panic_text(e.into_panic())
            } else {
                e.to_string()
            };
            tracing::error!(detail, "engine task failed; answering 500");
            Err(ApiError::internal().with_id(rid))
        }
    }
}

/// A `limit` query parameter between 1 and 10 000.
fn parse_limit(v: &str, rid: &RequestId) -> Result<usize, ApiError> {
    v.parse::<usize>()
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| ApiError::invalid("limit", "must be between 1 and 10000").with_id(rid))
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Quarantined raw bytes as JSON text, exactly: the text itself when the bytes are UTF-8, else their base64
/// (standard alphabet, padded); [`raw_encoding`] says which.
pub fn raw_text(raw: &[u8]) -> String {
    use base64::Engine as _;
    match std::str::from_utf8(raw) {
        Ok(text) => text.to_string(),
        Err(_) => base64::engine::general_purpose::STANDARD.encode(raw),
    }
}

/// How [`raw_text`] wrote these bytes: `utf8` or `base64`.
pub fn raw_encoding(raw: &[u8]) -> &'static str {
    if std::str::from_utf8(raw).is_ok() {
        "utf8"
    } else {
        "base64"
    }
}

/// RFC 3339 in UTC with microseconds.
pub fn rfc3339(t: Timestamp) -> String {
    match jiff::Timestamp::from_microsecond(t.0) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        Err(_) => t.0.to_string(),
    }
}

fn now() -> Timestamp {
    Timestamp(jiff::Timestamp::now().as_microsecond())
}
