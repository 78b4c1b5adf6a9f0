//! Plugins: upload, list, activate, roll back, dry-run; and bindings.
//!
//! The handlers parse and answer; the use cases are the registry's
//! (`registry::install`, `swap`, `dry_run`), which owns the checks, the
//! quotas and the order they run in. Uploads and swaps run on the blocking
//! pool (an upload compiles), dry runs on the registry's tool threads.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

use super::auth::{Acting, Tenant};
use super::body::Json;
use super::projects::Ids;
use super::{ApiError, ApiResult, AppState, ErrorBody, blocking};
use crate::model::ProjectId;
use crate::registry::PluginName;
use crate::store::{Binding, PluginInfo};
pub use crate::wire::plugins::{ActivateBody, Activated, DryRun, DryRunBody, Uploaded};

/// Uploads a new version of a plugin: the component's bytes, checked for
/// its shape (`runtime::precheck`), compiled under the CPU limit and
/// checked against the world before it is stored; activated unless
/// `?activate=false`. Over the upload rate or with a compile of the
/// tenant's (or the server's cap of them) running: 429.
#[utoipa::path(
    put,
    path = "/v1/plugins/{name}",
    tag = "plugins",
    security(("tenant_key" = [])),
    params(
        ("name" = String, Path, description = "The plugin's name: 1 to 64 lower-case letters, digits and `-`."),
        ("activate" = Option<bool>, Query, description = "Make the new version active (default true)."),
    ),
    request_body(content = inline(super::openapi::ComponentBytes), content_type = "application/wasm", description = "A WebAssembly component (wasm32-wasip2) implementing the trigger world."),
    responses(
        (status = 201, description = "The version was stored.", body = Uploaded),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 413, description = "The component is over the tenant's size limit.", body = ErrorBody),
        (status = 422, description = "A bad name, an empty body, or a component that does not compile, does not implement the world, breaks a bound on its shape (`function_too_large`, `too_many_locals`, `too_many_functions`, `too_many_modules`, `code_too_large`, `too_many_imports`) or took more than the compile's CPU or wall-clock limit (`compile_limit`).", body = ErrorBody),
        (status = 429, description = "The tenant has its quota of plugins, is over its upload rate (`upload_rate`), or has a compile running, or the server has its cap of compiles running (`compile_busy`); see `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn plugins_upload(
    Acting(tenant, actor): Acting,
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    Query(query): Query<HashMap<String, String>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<(StatusCode, axum::Json<Uploaded>)> {
    // A name that is not UTF-8 is a bad name (axum's own answer is a
    // plain-text 400).
    let Path(name) =
        name.map_err(|e| ApiError::invalid(format!("plugin name: {}", e.body_text())))?;
    let name = PluginName::new(name)?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "component_too_large",
            format!(
                "the component is over bytes; the limit is {} bytes",
                state.registry.config().quotas.max_component_bytes
            ),
        ),
        status => ApiError::new(status, "bad_request", rejection.body_text()),
    })?;
    let activate = query
        .get("activate")
        .is_none_or(|v| v != "false" && v != "0");
    let uploaded = blocking(move || {
        Ok(state
            .registry
            .install(tenant, &name, &body, activate, &actor)?)
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(uploaded)))
}

/// The tenant's plugins, their versions and which is active.
#[utoipa::path(
    get,
    path = "/v1/plugins",
    tag = "plugins",
    security(("tenant_key" = [])),
    responses(
        (status = 200, description = "Every installed plugin.", body = Vec<PluginInfo>),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
    )
)]
pub async fn plugins_list(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
) -> ApiResult<axum::Json<Vec<PluginInfo>>> {
    Ok(axum::Json(
        blocking(move || Ok(state.registry.plugins(tenant)?)).await?,
    ))
}

/// One plugin, its versions and which is active.
#[utoipa::path(
    get,
    path = "/v1/plugins/{name}",
    tag = "plugins",
    security(("tenant_key" = [])),
    params(("name" = String, Path, description = "The plugin's name: 1 to 64 lower-case letters, digits and `-`.")),
    responses(
        (status = 200, description = "The plugin.", body = PluginInfo),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such plugin.", body = ErrorBody),
    )
)]
pub async fn plugins_get(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Ids(name): Ids<String>,
) -> ApiResult<axum::Json<PluginInfo>> {
    let plugin = blocking(move || Ok(state.registry.plugin_info(tenant, &name)?)).await?;
    Ok(axum::Json(plugin))
}

/// Hot-swaps a plugin to a given version: events being processed finish
/// on the version they loaded, the next one runs the new version.
#[utoipa::path(
    post,
    path = "/v1/plugins/{name}/activate",
    tag = "plugins",
    security(("tenant_key" = [])),
    params(("name" = String, Path, description = "The plugin's name: 1 to 64 lower-case letters, digits and `-`.")),
    request_body = ActivateBody,
    responses(
        (status = 200, description = "The version is active.", body = Activated),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such plugin or version.", body = ErrorBody),
        (status = 422, description = "The body has another shape.", body = ErrorBody),
        (status = 429, description = "Over the tenant's settings changes per minute (`change_rate`; `quotas.settings_changes_per_minute`); see `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn plugins_activate(
    Acting(tenant, actor): Acting,
    State(state): State<AppState>,
    Ids(name): Ids<String>,
    Json(body): Json<ActivateBody>,
) -> ApiResult<axum::Json<Activated>> {
    let activated = blocking(move || {
        state.quotas.take_change(tenant)?;
        Ok(state
            .registry
            .activate(tenant, &name, body.version, &actor)?)
    })
    .await?;
    Ok(axum::Json(activated))
}

/// Makes the previously active version active again.
#[utoipa::path(
    post,
    path = "/v1/plugins/{name}/rollback",
    tag = "plugins",
    security(("tenant_key" = [])),
    params(("name" = String, Path, description = "The plugin's name: 1 to 64 lower-case letters, digits and `-`.")),
    responses(
        (status = 200, description = "The previous version is active.", body = Activated),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such plugin, or no previous version.", body = ErrorBody),
        (status = 409, description = "There is nothing to roll back to.", body = ErrorBody),
        (status = 429, description = "Over the tenant's settings changes per minute (`change_rate`; `quotas.settings_changes_per_minute`); see `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn plugins_rollback(
    Acting(tenant, actor): Acting,
    State(state): State<AppState>,
    Ids(name): Ids<String>,
) -> ApiResult<axum::Json<Activated>> {
    let activated = blocking(move || {
        state.quotas.take_change(tenant)?;
        Ok(state.registry.rollback(tenant, &name, &actor, None)?)
    })
    .await?;
    Ok(axum::Json(activated))
}

/// Runs a version of a plugin on a given event and returns its actions
/// and the host's verdicts; executes nothing.
#[utoipa::path(
    post,
    path = "/v1/plugins/{name}/dry-run",
    tag = "plugins",
    security(("tenant_key" = [])),
    params(("name" = String, Path, description = "The plugin's name: 1 to 64 lower-case letters, digits and `-`.")),
    request_body = DryRunBody,
    responses(
        (status = 200, description = "What the version would do (a plugin failure is reported in `outcome` and `error`).", body = DryRun),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such plugin or version.", body = ErrorBody),
        (status = 422, description = "The plugin has no active version, its component no longer loads, the event's timestamp is outside years 1 to 9999, or the body has another shape.", body = ErrorBody),
        (status = 429, description = "The tenant, or the server, has its quota of dry runs and replays in flight.", body = ErrorBody),
        (status = 503, description = "The host cannot run the plugin right now (no instance free, a store outage); retry.", body = ErrorBody),
    )
)]
pub async fn plugins_dry_run(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Ids(name): Ids<String>,
    Json(body): Json<DryRunBody>,
) -> ApiResult<axum::Json<DryRun>> {
    Ok(axum::Json(
        state.registry.dry_run(tenant, name, body).await?,
    ))
}

/// The most plugins one project binds: each runs on every event.
pub const MAX_BINDINGS: usize = 16;

/// Bytes of keys and values in one binding's config. It is recorded with
/// every decision its plugin makes (replays need it), so a large one
/// multiplies: a 900 KB config once grew the database by 8.8 MB in 10
/// webhooks.
pub const MAX_BINDING_CONFIG_BYTES: usize = 16 << 10;

/// Replaces which plugins (with config and priority) handle a project's
/// events.
#[utoipa::path(
    put,
    path = "/v1/projects/{id}/bindings",
    tag = "plugins",
    security(("tenant_key" = [])),
    params(("id" = u64, Path, description = "The project's id.")),
    request_body = Vec<Binding>,
    responses(
        (status = 200, description = "The bindings as stored.", body = Vec<Binding>),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such project or plugin.", body = ErrorBody),
        (status = 422, description = "A plugin is bound twice, more than 16 are bound, a config holds more than 16 KiB, or the body has another shape.", body = ErrorBody),
        (status = 429, description = "Over the tenant's settings changes per minute (`change_rate`; `quotas.settings_changes_per_minute`); see `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn bindings_put(
    Acting(tenant, actor): Acting,
    State(state): State<AppState>,
    Ids(project): Ids<u64>,
    Json(bindings): Json<Vec<Binding>>,
) -> ApiResult<axum::Json<Vec<Binding>>> {
    if bindings.len() > MAX_BINDINGS {
        return Err(ApiError::invalid(format!(
            "a project binds at most {MAX_BINDINGS} plugins; the body has {}",
            bindings.len()
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for binding in &bindings {
        if !seen.insert(&binding.plugin) {
            return Err(ApiError::invalid(format!(
                "plugin {} is bound twice",
                binding.plugin
            )));
        }
        let size: usize = binding.config.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_BINDING_CONFIG_BYTES {
            return Err(ApiError::invalid(format!(
                "the config of plugin {} holds {size} bytes of keys and values; the limit is {MAX_BINDING_CONFIG_BYTES}",
                binding.plugin
            )));
        }
    }
    let saved = blocking(move || {
        state.quotas.take_change(tenant)?;
        state
            .registry
            .bind(tenant, ProjectId(project), &bindings, &actor)?;
        Ok(bindings)
    })
    .await?;
    Ok(axum::Json(saved))
}

/// The plugins bound to a project.
#[utoipa::path(
    get,
    path = "/v1/projects/{id}/bindings",
    tag = "plugins",
    security(("tenant_key" = [])),
    params(("id" = u64, Path, description = "The project's id.")),
    responses(
        (status = 200, description = "The project's bindings.", body = Vec<Binding>),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such project.", body = ErrorBody),
    )
)]
pub async fn bindings_get(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Ids(project): Ids<u64>,
) -> ApiResult<axum::Json<Vec<Binding>>> {
    let bindings =
        blocking(move || Ok(state.registry.bindings(tenant, ProjectId(project))?)).await?;
    Ok(axum::Json(bindings))
}
