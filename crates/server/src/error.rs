//! API errors: JSON with a stable code, a message naming the bad field, and the request id.
//! Internal failures answer a generic message; their detail goes to the log only.

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

    /// The code answered, which names the limit when the error is a refusal by one.
    pub(crate) fn code(&self) -> &'static str {
        self.code
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

    /// A failure inside the server: the answer is generic, the caller logs the detail with the request's span.
    pub(crate) fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error; it is logged with this request's id",
        )
    }

    /// Maps an engine error: invalid requests are 400, everything else is a server failure whose text (paths,
    /// OS errors) is logged and never answered.
    pub(crate) fn engine(e: liucun::Error) -> ApiError {
        match e {
            liucun::Error::Invalid(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", m)
            }
            liucun::Error::Report(e @ report::Error::Invalid { .. }) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", e.to_string())
            }
            liucun::Error::Report(e @ report::Error::TooLarge { .. }) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "report_too_large",
                e.to_string(),
            ),
            liucun::Error::Report(report::Error::TimedOut) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "request_timeout",
                "the report took longer than the server's request time limit and was stopped",
            ),
            other => {
                tracing::error!(error = %other, "engine failure; answering 500");
                ApiError::internal()
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
