//! `POST /v1/plugins/{name}/versions/{version}/replay`: what a candidate
//! version would decide differently on the events its plugin already
//! decided. Executes nothing.

use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;

use super::auth::Tenant;
use super::body::parse;
use super::error::ErrorBody;
use super::projects::Ids;
use super::{ApiError, ApiResult, AppState, on_tool_thread};
use crate::pipeline::{MAX_REPLAY_EVENTS, ReplayError, ReplayReport};

/// Events replayed when the request does not say.
pub const DEFAULT_REPLAY_EVENTS: usize = 100;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// How many of the plugin's most recent decisions to replay (at most 1,000).
    #[serde(default)]
    limit: Option<usize>,
}

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
    if !(1..=MAX_REPLAY_EVENTS).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be 1 to {MAX_REPLAY_EVENTS}"
        )));
    }
    let _slot = state.quotas.tool_run(tenant)?;
    let tools = state.clone();
    let report = on_tool_thread(&tools, move || {
        state
            .pipeline
            .replay(tenant, &name, version, limit)
            .map_err(|e| match e {
                ReplayError::Store(e) => e.into(),
                ReplayError::Plugin(e) => e.into(),
                ReplayError::Json(e) => ApiError::internal(e),
            })
    })
    .await?;
    Ok(axum::Json(report))
}
