//! API errors: JSON with a stable code, a message naming the bad field, and the request id.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::RequestId;

/// An error answered on an `/api` path.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    request_id: String,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            request_id: String::new(),
        }
    }

    pub(crate) fn with_id(mut self, id: &RequestId) -> ApiError {
        self.request_id = id.0.clone();
        self
    }

    pub(crate) fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("`{field}`: {message}"),
        )
    }

    /// Maps an engine error: invalid requests are 400, everything else is a server failure.
    pub(crate) fn engine(e: liucun::Error) -> ApiError {
        match e {
            liucun::Error::Invalid(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", m)
            }
            other => {
                tracing::error!(error = %other, "engine failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    other.to_string(),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "request_id": self.request_id,
        });
        (self.status, Json(body)).into_response()
    }
}
