//! Plugins: upload, list, activate, roll back, dry-run; and bindings.
//!
//! An upload is admitted (the tenant's upload rate, one compile per tenant,
//! a global cap: `uploads.rs`), its shape checked before any compile, then
//! compiled (in the server's CPU-limited worker) and checked against the
//! world off the async threads before it is stored; a component refused at
//! any step is answered with the reason and leaves nothing behind. Activation and
//! rollback move the active pointer in one statement: an event already
//! being processed finishes on the version it loaded, the next one loads
//! the new version, and every decision records the version that made it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::Tenant;
use super::body::Json;
use super::projects::Ids;
use super::{ApiError, ApiResult, AppState, ErrorBody, blocking, on_tool_thread};
use crate::actions::{Proposal, Verdict};
use crate::model::{Action, DecisionOutcome, ProjectId, SmsEvent};
use crate::pipeline::{StoreLookup, judge};
use crate::runtime::{Call, LogLine, RecordLookup, StaticRecords, sha256_hex};
use crate::store::{Binding, PluginInfo};

/// Plugin names: lower-case letters, digits and `-`, 1 to 64 characters.
fn check_name(name: &str) -> ApiResult<()> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "plugin name `{name}`: use 1 to 64 lower-case letters, digits and -"
        )))
    }
}

/// The version an upload created.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Uploaded {
    name: String,
    version: u32,
    sha256: String,
    active: bool,
}

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
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    Query(query): Query<HashMap<String, String>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<(StatusCode, axum::Json<Uploaded>)> {
    // A name that is not UTF-8 is a bad name (axum's own answer is a
    // plain-text 400).
    let Path(name) =
        name.map_err(|e| ApiError::invalid(format!("plugin name: {}", e.body_text())))?;
    check_name(&name)?;
    let too_large = |size: &str, limit: usize| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "component_too_large",
            format!("the component is {size} bytes; the limit is {limit} bytes"),
        )
    };
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            too_large("over", state.quotas.config().max_component_bytes)
        }
        status => ApiError::new(status, "bad_request", rejection.body_text()),
    })?;
    let activate = query
        .get("activate")
        .is_none_or(|v| v != "false" && v != "0");
    let quotas = state.quotas.config().clone();
    if body.len() > quotas.max_component_bytes {
        return Err(too_large(
            &body.len().to_string(),
            quotas.max_component_bytes,
        ));
    }
    if body.is_empty() {
        return Err(ApiError::invalid("the body must be the component's bytes"));
    }
    let compiles = !state.runtime.is_compiled(&sha256_hex(&body));
    let slot = state.uploads.admit(tenant, compiles)?;
    let uploaded = blocking(move || {
        let installed = state.store.plugins(tenant)?;
        if !installed.iter().any(|p| p.name == name) && installed.len() >= quotas.max_plugins {
            return Err(ApiError::too_many(
                format!("the tenant has its quota of {} plugins", quotas.max_plugins),
                60,
            ));
        }
        let stored = state.store.stored_component_bytes(tenant)?;
        if stored + body.len() as u64 > quotas.max_stored_bytes {
            return Err(ApiError::too_many(
                format!(
                    "the tenant stores {stored} bytes of components; with these {} it would pass its quota of {} (versions beyond the newest {} are deleted as new ones arrive)",
                    body.len(),
                    quotas.max_stored_bytes,
                    quotas.versions_kept
                ),
                60,
            ));
        }
        let plugin = state.runtime.load(&body)?;
        drop(slot);
        let sha256 = sha256_hex(&body);
        let version = state
            .store
            .add_plugin_version(tenant, &name, &sha256, &body)?;
        state.pipeline.plugins().insert(plugin);
        if activate {
            state.store.activate_plugin(tenant, &name, version)?;
        }
        for unused in state
            .store
            .prune_plugin_versions(tenant, &name, quotas.versions_kept)?
        {
            state.pipeline.plugins().forget(&unused);
            state.runtime.forget(&unused);
        }
        tracing::info!(%tenant, plugin = %name, version, activate, "plugin uploaded");
        Ok(Uploaded {
            name,
            version,
            sha256,
            active: activate,
        })
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
        blocking(move || Ok(state.store.plugins(tenant)?)).await?,
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
    let plugin = blocking(move || {
        state
            .store
            .plugins(tenant)?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| ApiError::not_found(format!("plugin {name} not found")))
    })
    .await?;
    Ok(axum::Json(plugin))
}

/// The version to make active.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateBody {
    version: u32,
}

/// The version active now.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activated {
    name: String,
    active_version: u32,
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
    )
)]
pub async fn plugins_activate(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Ids(name): Ids<String>,
    Json(body): Json<ActivateBody>,
) -> ApiResult<axum::Json<Activated>> {
    let activated = blocking(move || {
        state.store.activate_plugin(tenant, &name, body.version)?;
        tracing::info!(%tenant, plugin = %name, version = body.version, "plugin activated");
        Ok(Activated {
            name,
            active_version: body.version,
        })
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
    )
)]
pub async fn plugins_rollback(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Ids(name): Ids<String>,
) -> ApiResult<axum::Json<Activated>> {
    let activated = blocking(move || {
        let version = state.store.rollback_plugin(tenant, &name)?;
        tracing::info!(%tenant, plugin = %name, version, "plugin rolled back");
        Ok(Activated {
            name,
            active_version: version,
        })
    })
    .await?;
    Ok(axum::Json(activated))
}

/// An event to run a plugin version on.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DryRunBody {
    /// The event as plugins see it.
    event: SmsEvent,
    /// The version to run; the active one when absent.
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    config: BTreeMap<String, String>,
}

/// What a version would do with an event; nothing is executed.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    plugin: String,
    version: u32,
    outcome: DecisionOutcome,
    error: Option<serde_json::Value>,
    actions: Vec<Action>,
    /// The host's verdicts, when the event's project is one of the tenant's.
    verdicts: Option<Vec<Verdict>>,
    logs: Vec<LogLine>,
    fuel_used: u64,
    duration_us: u64,
}

pub use crate::model::EVENT_TIME_RANGE;

fn check_event_time(timestamp: i64) -> ApiResult<()> {
    if EVENT_TIME_RANGE.contains(&timestamp) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "event.timestamp {timestamp} is outside years 1 to 9999 ({} to {} Unix seconds)",
            EVENT_TIME_RANGE.start(),
            EVENT_TIME_RANGE.end()
        )))
    }
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
    check_event_time(body.event.timestamp())?;
    let _slot = state.quotas.tool_run(tenant)?;
    let tools = state.clone();
    let result = on_tool_thread(&tools, move || {
        let info = state
            .store
            .plugins(tenant)?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| ApiError::not_found(format!("plugin {name} not found")))?;
        let version = body
            .version
            .or(info.active_version)
            .ok_or_else(|| ApiError::invalid(format!("plugin {name} has no active version")))?;
        let sha256 = info
            .versions
            .iter()
            .find(|v| v.version == version)
            .map(|v| v.sha256.clone())
            .ok_or_else(|| {
                ApiError::not_found(format!("plugin {name} version {version} not found"))
            })?;
        let plugin = state.pipeline.plugins().get(
            state.store.as_ref(),
            &state.runtime,
            tenant,
            &name,
            version,
            &sha256,
        )?;
        let project = state.store.project(tenant, body.event.project_id()).ok();
        // Lookups read only the records the plugin asks for, within the
        // event's project; an event naming no project of the tenant's
        // finds nothing.
        let lookup: Arc<dyn RecordLookup> = match &project {
            Some(project) => Arc::new(StoreLookup::new(&state.store, tenant, project)),
            None => Arc::new(StaticRecords::default()),
        };
        let outcome = state.runtime.invoke(
            &plugin,
            Call {
                event: &body.event,
                config: Arc::new(body.config),
                lookup,
                limits: state
                    .store
                    .tenant_limits(tenant)?
                    .apply(state.config.limits.limits()),
            },
        );
        if let Err(error) = &outcome.result
            && error.is_host_fault()
        {
            return Err(error.clone().into());
        }
        let actions = outcome.result.clone().unwrap_or_default();
        let verdicts = match &project {
            Some(project) => {
                let proposals: Vec<Proposal> = actions
                    .iter()
                    .map(|action| Proposal {
                        plugin: name.clone(),
                        priority: 0,
                        action: action.clone(),
                    })
                    .collect();
                Some(judge(
                    state.store.as_ref(),
                    tenant,
                    project,
                    body.event.timestamp(),
                    &proposals,
                    None,
                    &[],
                )?)
            }
            None => None,
        };
        Ok(DryRun {
            plugin: name,
            version,
            outcome: if outcome.result.is_ok() {
                DecisionOutcome::Ok
            } else {
                DecisionOutcome::Failed
            },
            error: outcome
                .result
                .as_ref()
                .err()
                .map(|e| serde_json::json!({ "code": e.code(), "message": e.to_string() })),
            actions,
            verdicts,
            logs: outcome.logs,
            fuel_used: outcome.fuel_used,
            duration_us: outcome.elapsed.as_micros() as u64,
        })
    })
    .await?;
    Ok(axum::Json(result))
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
    )
)]
pub async fn bindings_put(
    Tenant(tenant): Tenant,
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
        state
            .store
            .set_bindings(tenant, ProjectId(project), &bindings)?;
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
    let bindings = blocking(move || {
        state.store.project(tenant, ProjectId(project))?;
        Ok(state
            .store
            .active_bindings(tenant, ProjectId(project))?
            .into_iter()
            .map(|b| b.binding)
            .collect())
    })
    .await?;
    Ok(axum::Json(bindings))
}
