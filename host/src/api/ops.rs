//! Operations: `GET /healthz`, `GET /metrics`, `GET /openapi.json`, and
//! the middleware that counts every request into the metrics.
//!
//! None of these read tenant data or need a key: what they show is the
//! service's own state (the metrics label tenants by id only).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

use super::AppState;
use super::openapi::ApiDoc;
use crate::metrics::{self, Metrics};

/// Whether the process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses(
        (status = 200, description = "The server is up and deciding events.", body = String, content_type = "text/plain", example = "ok"),
        (status = 503, description = "The pipeline has stopped: accepted events would not be decided. The server exits.", body = String, content_type = "text/plain"),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Response {
    if state.pipeline.is_healthy() {
        "ok".into_response()
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the pipeline has stopped",
        )
            .into_response()
    }
}

/// The service's metrics in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((
        status = 200,
        description = "Every metric (plugin runs, HTTP requests, journal depth, processed events).",
        body = String,
        content_type = "text/plain; version=0.0.4"
    ))
)]
pub async fn metrics_get(State(state): State<AppState>) -> Response {
    state.metrics.set_journal_depth(state.journal_depth());
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

/// This API's OpenAPI 3.1 document, generated from the handlers.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document.", body = Object))
)]
pub async fn openapi_get() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let json = DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serializes")
    });
    ([(header::CONTENT_TYPE, "application/json")], json.as_str()).into_response()
}

/// Counts and times every request by its route pattern (not its raw path,
/// so ids in paths cannot grow the label set), method and status.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(metrics::UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    let method = method_label(request.method());
    let response = next.run(request).await;
    metrics.http_request(
        &route,
        method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The method as a label; methods outside the standard set are `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
