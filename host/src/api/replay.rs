//! `POST /v1/plugins/{name}/versions/{version}/replay`: what a candidate
//! version would decide differently on the events its plugin already
//! decided. Executes nothing. The use case is `registry::replay`; this
//! reads the optional body.

use axum::body::Bytes;
use axum::extract::State;

use super::auth::Tenant;
use super::body::parse;
use super::error::ErrorBody;
use super::projects::Ids;
use super::{ApiResult, AppState};
pub use crate::wire::plugins::{ReplayBody, ReplayReport};

/// Events replayed when the request does not say.
pub const DEFAULT_REPLAY_EVENTS: usize = 100;

#[utoipa::path(
    post,
    path = "/v1/plugins/{name}/versions/{version}/replay",
    tag = "plugins",
    security(("tenant_key" = [])),
    params(
        ("name" = String, Path, description = "The plugin's name."),
        ("version" = u32, Path, description = "The candidate version."),
    ),
    request_body(content = Option<ReplayBody>, description = "Optional; `{\"limit\": N}`."),
    responses(
        (status = 200, description = "The replay's summary and every difference.", body = ReplayReport),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such plugin or version for this tenant.", body = ErrorBody),
        (status = 422, description = "A limit out of range, or a version that no longer loads.", body = ErrorBody),
        (status = 429, description = "The tenant, or the server, has its quota of dry runs and replays in flight.", body = ErrorBody),
        (status = 503, description = "The host cannot run the plugin right now (no instance free, a store outage); retry.", body = ErrorBody),
    )
)]
pub async fn plugins_replay(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Ids((name, version)): Ids<(String, u32)>,
    body: Bytes,
) -> ApiResult<axum::Json<ReplayReport>> {
    let limit = if body.iter().all(u8::is_ascii_whitespace) {
        DEFAULT_REPLAY_EVENTS
    } else {
        parse::<ReplayBody>(&body)?
            .limit
            .unwrap_or(DEFAULT_REPLAY_EVENTS)
    };
    let report = state.registry.replay(tenant, name, version, limit).await?;
    Ok(axum::Json(report))
}
