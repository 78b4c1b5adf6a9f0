//! `POST`, `DELETE /v1/plugins/{name}/versions/{version}/shadow` and
//! `GET /v1/plugins/{name}/shadow`: a candidate version run beside the
//! active one on live events, compared and never executed. The use case
//! is `registry::shadow`.

use axum::extract::State;

use super::auth::{Acting, Tenant};
use super::error::ErrorBody;
use super::projects::Ids;
use super::{ApiResult, AppState, blocking};
pub use crate::wire::plugins::ShadowReport;

/// Starts a shadow: from now on, the candidate is run on every event the
/// plugin decides, its decisions compared with the active version's and
/// recorded with the host's verdicts; nothing it decides is executed. A
/// shadow the plugin had is replaced.
#[utoipa::path(
    post,
    path = "/v1/plugins/{name}/versions/{version}/shadow",
    tag = "plugins",
    security(("tenant_key" = [])),
    params(
        ("name" = String, Path, description = "The plugin's name."),
        ("version" = u32, Path, description = "The candidate version."),
    ),
    responses(
        (status = 200, description = "The shadow, comparing from now on.", body = ShadowReport),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such plugin or version for this tenant.", body = ErrorBody),
        (status = 429, description = "Over the tenant's settings changes per minute (`change_rate`; `quotas.settings_changes_per_minute`); see `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn shadow_start(
    Acting(tenant, actor): Acting,
    State(state): State<AppState>,
    Ids((name, version)): Ids<(String, u32)>,
) -> ApiResult<axum::Json<ShadowReport>> {
    let report = blocking(move || {
        state.quotas.take_change(tenant)?;
        Ok(state
            .registry
            .start_shadow(tenant, &name, version, &actor)?)
    })
    .await?;
    Ok(axum::Json(report))
}

/// Stops a shadow; answers its last comparison.
#[utoipa::path(
    delete,
    path = "/v1/plugins/{name}/versions/{version}/shadow",
    tag = "plugins",
    security(("tenant_key" = [])),
    params(
        ("name" = String, Path, description = "The plugin's name."),
        ("version" = u32, Path, description = "The shadowing version."),
    ),
    responses(
        (status = 200, description = "The shadow's comparison when it stopped.", body = ShadowReport),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "The plugin has no shadow of this version.", body = ErrorBody),
        (status = 429, description = "Over the tenant's settings changes per minute (`change_rate`; `quotas.settings_changes_per_minute`); see `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn shadow_stop(
    Acting(tenant, actor): Acting,
    State(state): State<AppState>,
    Ids((name, version)): Ids<(String, u32)>,
) -> ApiResult<axum::Json<ShadowReport>> {
    let report = blocking(move || {
        state.quotas.take_change(tenant)?;
        Ok(state.registry.stop_shadow(tenant, &name, version, &actor)?)
    })
    .await?;
    Ok(axum::Json(report))
}

/// The plugin's running shadow: how many events came out the same,
/// different or failed, and the latest differences (the records, the
/// active version's actions and the candidate's, with its verdicts).
#[utoipa::path(
    get,
    path = "/v1/plugins/{name}/shadow",
    tag = "plugins",
    security(("tenant_key" = [])),
    params(("name" = String, Path, description = "The plugin's name.")),
    responses(
        (status = 200, description = "The shadow's comparison so far.", body = ShadowReport),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "The plugin has no shadow.", body = ErrorBody),
    )
)]
pub async fn shadow_get(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Ids(name): Ids<String>,
) -> ApiResult<axum::Json<ShadowReport>> {
    let report = blocking(move || Ok(state.registry.shadow_report(tenant, &name)?)).await?;
    Ok(axum::Json(report))
}
