//! `ApiError`: every failure an endpoint can answer, as
//! `{"error": {"code", "message"}}` with a 4xx (or 503) status.
//!
//! Bad input never yields a 5xx. A plugin's fault is reported as the
//! plugin's (422 with its name), never as the server's.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::pipeline::AcceptError;
pub use crate::wire::{ErrorBody, ErrorDetail};
use crate::{directory, registry, runtime, store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn too_many(message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", message)
        }
    }

    pub fn overloaded(message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
        }
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!(%message, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; the request may be retried",
        )
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<store::Error> for ApiError {
    fn from(error: store::Error) -> Self {
        match error {
            store::Error::NotFound { what } => Self::not_found(format!("{what} not found")),
            store::Error::Conflict { what } => Self::new(StatusCode::CONFLICT, "conflict", what),
            // Nothing was journaled; the provider's retry will be.
            store::Error::Journal(what) => Self::overloaded(what, 1),
            // A value the request carried that the store cannot hold (a
            // u64 above what it stores, as an id or a limit): the input's
            // fault.
            store::Error::OutOfRange { what } => Self::invalid(what),
            // Busy or unreachable for now: worth the same request later.
            store::Error::Unavailable { what } => {
                tracing::warn!(%what, "the store is unavailable");
                Self::overloaded("the store is busy; retry shortly", 1)
            }
            other => Self::internal(other),
        }
    }
}

impl From<directory::Error> for ApiError {
    /// Over a data quota: 429, worth retrying once something is removed.
    fn from(error: directory::Error) -> Self {
        match error {
            directory::Error::QuotaExceeded { .. } => Self::too_many(error.to_string(), 60),
            directory::Error::Store(error) => error.into(),
        }
    }
}

impl From<AcceptError> for ApiError {
    fn from(error: AcceptError) -> Self {
        match error {
            AcceptError::UnknownProject(_)
            | AcceptError::UnknownRecord(..)
            | AcceptError::NoRecordWithPhone(..) => {
                Self::new(StatusCode::NOT_FOUND, error.code(), error.to_string())
            }
            AcceptError::OutsideWindow { .. }
            | AcceptError::InvalidPhone(_)
            | AcceptError::AmbiguousPhone { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                error.code(),
                error.to_string(),
            ),
            AcceptError::Store(error) => error.into(),
        }
    }
}

impl From<runtime::Error> for ApiError {
    /// A plugin that does not load is the request's problem (422); one the
    /// host could not run now (no instance free, a store outage) is the
    /// host's, answered 503 with a `Retry-After`.
    fn from(error: runtime::Error) -> Self {
        if error.is_host_fault() {
            tracing::warn!(%error, "a plugin could not run for a reason of the host's");
            return Self {
                retry_after: Some(1),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    error.code(),
                    "the host cannot run the plugin right now; retry shortly",
                )
            };
        }
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            error.code(),
            error.to_string(),
        )
    }
}

impl From<registry::Error> for ApiError {
    /// Bad input 422 (a component over the size limit 413), an unknown
    /// plugin or version 404, a quota or rate 429 naming it with
    /// `Retry-After`, stopped tool threads 503; store and plugin errors as
    /// their own `From`s map them.
    fn from(error: registry::Error) -> Self {
        match error {
            registry::Error::Invalid(message) => Self::invalid(message),
            registry::Error::TooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "component_too_large",
                error.to_string(),
            ),
            registry::Error::NotFound { .. } => Self::not_found(error.to_string()),
            registry::Error::Refused {
                code,
                message,
                retry_after,
            } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
            },
            registry::Error::Store(error) => error.into(),
            registry::Error::Plugin(error) => error.into(),
            registry::Error::Stopped(error) => Self::overloaded(error.to_string(), 1),
            registry::Error::Json(error) => Self::internal(error),
        }
    }
}
