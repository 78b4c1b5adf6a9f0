//! Operations: `GET /healthz`, `GET /metrics`, `GET /openapi.json`, and
//! the middleware that counts every request into the metrics.
//!
//! `/healthz` and `/openapi.json` need no key and show no tenant.
//! `/metrics` does: with the operator key it shows everything (every
//! tenant's plugin names and counts among it); with a tenant's API key only
//! that tenant's series; without a key it answers 401.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

use super::auth::{Operator, Tenant};
use super::openapi::ApiDoc;
use super::{ApiError, AppState, ErrorBody};
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

/// Who is asking for `/metrics`: the operator (everything) or a tenant
/// (its own series).
pub enum MetricsViewer {
    Operator,
    Tenant(crate::model::TenantId),
}

impl FromRequestParts<AppState> for MetricsViewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if Operator::from_request_parts(parts, state).await.is_ok() {
            return Ok(Self::Operator);
        }
        match Tenant::from_request_parts(parts, state).await {
            Ok(Tenant(tenant)) => Ok(Self::Tenant(tenant)),
            Err(_) => Err(ApiError::unauthorized(
                "/metrics needs the operator key (everything) or a tenant's API key (its own \
                 series): Authorization: Bearer <key>",
            )),
        }
    }
}

/// The service's metrics in the Prometheus text format: everything for the
/// operator key; for a tenant's key only the series labelled with that
/// tenant (its plugins' runs, failures, run time and fuel).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security(("operator_key" = []), ("tenant_key" = [])),
    responses(
        (
            status = 200,
            description = "The operator: every metric (plugin runs, HTTP requests, journal depth, processed events). A tenant: its own plugin series only.",
            body = String,
            content_type = "text/plain; version=0.0.4"
        ),
        (status = 401, description = "No key, or a key that is neither the operator's nor a tenant's.", body = ErrorBody),
    )
)]
pub async fn metrics_get(viewer: MetricsViewer, State(state): State<AppState>) -> Response {
    let text = match viewer {
        MetricsViewer::Operator => {
            state.metrics.set_journal_depth(state.journal_depth());
            state.metrics.render()
        }
        MetricsViewer::Tenant(tenant) => state.metrics.render_tenant(tenant),
    };
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
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
