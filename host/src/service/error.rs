//! Library errors as HTTP responses: a status and `{"error": code, "message": text}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Error;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// A stable code (`not_found`, `invalid_request`, `reconnect_needed`, …).
    pub(crate) error: &'static str,
    /// What went wrong, for people (never contains a secret).
    pub(crate) message: String,
    /// The provider's OAuth error, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub(crate) oauth: Option<crate::error::OAuthError>,
}

/// An error answered by the API.
pub(crate) struct ApiError(pub(crate) Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self(Error::Unsupported(message.into()))
    }
}

pub(crate) fn status_of(e: &Error) -> (StatusCode, &'static str) {
    match e.root() {
        Error::NotFound { .. } | Error::UnknownPlugin(_) | Error::UnknownProvider(_) => {
            (StatusCode::NOT_FOUND, "not_found")
        }
        Error::AlreadyExists { .. } => (StatusCode::CONFLICT, "already_exists"),
        Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        Error::Disabled(_) => (StatusCode::CONFLICT, "disabled"),
        Error::ReconnectNeeded { .. } => (StatusCode::CONFLICT, "reconnect_needed"),
        Error::InvalidSetting { .. } | Error::Config { .. } | Error::Unsupported(_) => {
            (StatusCode::BAD_REQUEST, "invalid_request")
        }
        Error::InvalidCallback(_) => (StatusCode::BAD_REQUEST, "invalid_callback"),
        Error::AuthorizationFailed { .. } => (StatusCode::BAD_REQUEST, "authorization_failed"),
        Error::OAuth { .. } => (StatusCode::BAD_GATEWAY, "provider_error"),
        Error::PluginFault { .. } => (StatusCode::BAD_GATEWAY, "plugin_fault"),
        Error::Proxy(_) => (StatusCode::BAD_GATEWAY, "proxy_error"),
        Error::LeaseTimeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        Error::Cancelled(_) => (StatusCode::CONFLICT, "cancelled"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = status_of(&self.0);
        if status.is_server_error() {
            tracing::warn!(error = %self.0, "request failed");
        }
        let body = ErrorBody {
            error: code,
            message: self.0.to_string(),
            oauth: self.0.oauth().cloned(),
        };
        (status, axum::Json(body)).into_response()
    }
}
