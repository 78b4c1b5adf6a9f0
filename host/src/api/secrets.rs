//! A tenant's credentials after they were issued: API keys listed and
//! revoked (by the tenant itself or the operator), and the webhook secret
//! rotated with an overlap in which both secrets work.
//!
//! Nothing here ever answers with a key: a key is shown once, when it is
//! made (`POST /v1/tenants`, `POST /v1/tenants/{id}/keys`); after that it
//! is known by its id and fingerprint. A new webhook secret is shown once,
//! in the rotation's answer.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::{Acting, Operator, Tenant};
use super::body::parse;
use super::projects::Ids;
use super::{ApiError, ApiResult, AppState, ErrorBody, blocking};
use crate::model::{Actor, TenantId, Timestamp};
use crate::store::ApiKeyInfo;

/// How long a rotated-out webhook secret keeps working unless the request
/// says otherwise: a day, time for the sender's configuration to follow.
pub const DEFAULT_OVERLAP_SECS: u64 = 24 * 60 * 60;

/// The longest overlap a rotation may ask for: a week. A leaked secret
/// must not outlive its rotation by more than that.
pub const MAX_OVERLAP_SECS: u64 = 7 * 24 * 60 * 60;

/// The calling tenant's API keys, oldest first; never the keys.
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "tenants",
    security(("tenant_key" = [])),
    responses(
        (status = 200, description = "The tenant's keys: id, fingerprint, when made and last used.", body = Vec<ApiKeyInfo>),
        (status = 401, description = "The API key is missing, unknown or revoked.", body = ErrorBody),
    )
)]
pub async fn keys_list(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
) -> ApiResult<axum::Json<Vec<ApiKeyInfo>>> {
    Ok(axum::Json(
        blocking(move || Ok(state.directory.api_keys(tenant)?)).await?,
    ))
}

/// Revokes one of the calling tenant's keys; requests with it answer 401
/// from then on. The tenant's last key cannot be revoked (409), so a
/// tenant cannot lock itself out; another tenant's key id is 404.
#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "tenants",
    security(("tenant_key" = [])),
    params(("id" = u64, Path, description = "The key's id, from `GET /v1/keys`.")),
    responses(
        (status = 204, description = "The key is revoked."),
        (status = 401, description = "The API key is missing, unknown or revoked.", body = ErrorBody),
        (status = 404, description = "The tenant has no key with this id.", body = ErrorBody),
        (status = 409, description = "It is the tenant's last key: add another first.", body = ErrorBody),
    )
)]
pub async fn keys_revoke(
    Acting(tenant, actor): Acting,
    State(state): State<AppState>,
    Ids(key): Ids<u64>,
) -> ApiResult<StatusCode> {
    revoke(state, tenant, key, actor).await
}

/// A tenant's API keys (operator key), oldest first; never the keys.
#[utoipa::path(
    get,
    path = "/v1/tenants/{id}/keys",
    tag = "tenants",
    security(("operator_key" = [])),
    params(("id" = u64, Path, description = "The tenant's id.")),
    responses(
        (status = 200, description = "The tenant's keys.", body = Vec<ApiKeyInfo>),
        (status = 401, description = "The operator key is missing or wrong.", body = ErrorBody),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    )
)]
pub async fn tenants_keys_list(
    _: Operator,
    State(state): State<AppState>,
    Ids(id): Ids<u64>,
) -> ApiResult<axum::Json<Vec<ApiKeyInfo>>> {
    let tenant = TenantId(id);
    let keys = blocking(move || Ok(state.directory.api_keys(tenant)?)).await?;
    Ok(axum::Json(keys))
}

/// Revokes a tenant's key (operator key). Unlike the tenant, the operator
/// may revoke the last one (a compromised tenant is shut out until the
/// operator adds a key).
#[utoipa::path(
    delete,
    path = "/v1/tenants/{id}/keys/{key}",
    tag = "tenants",
    security(("operator_key" = [])),
    params(
        ("id" = u64, Path, description = "The tenant's id."),
        ("key" = u64, Path, description = "The key's id."),
    ),
    responses(
        (status = 204, description = "The key is revoked."),
        (status = 401, description = "The operator key is missing or wrong.", body = ErrorBody),
        (status = 404, description = "The tenant has no key with this id.", body = ErrorBody),
    )
)]
pub async fn tenants_keys_revoke(
    _: Operator,
    State(state): State<AppState>,
    Ids((id, key)): Ids<(u64, u64)>,
) -> ApiResult<StatusCode> {
    revoke(state, TenantId(id), key, Actor::Operator).await
}

/// Revokes `key` as `actor`: the operator may revoke a tenant's last key,
/// the tenant may not.
async fn revoke(
    state: AppState,
    tenant: TenantId,
    key: u64,
    actor: Actor,
) -> ApiResult<StatusCode> {
    let allow_last = actor == Actor::Operator;
    blocking(move || {
        state
            .directory
            .revoke_api_key(tenant, key, allow_last, &actor)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `POST /v1/tenant/webhook-secret/rotate`: how long the old secret keeps
/// working; the body may be left out (the default overlap).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rotation {
    /// Seconds the old secret stays accepted: 0 (at once) to
    /// [`MAX_OVERLAP_SECS`]; default [`DEFAULT_OVERLAP_SECS`].
    #[serde(default)]
    overlap_secs: Option<u64>,
}

/// The new webhook secret, shown only in this answer.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rotated {
    webhook_secret: String,
    /// Until when (Unix seconds) the previous secret is still accepted.
    previous_valid_until: Timestamp,
}

/// Replaces the calling tenant's webhook secret. The old one keeps working
/// (in the URL and for signatures, as the tenant's mode allows) until the
/// overlap ends, then answers 401. Rotating again during an overlap ends
/// the older secret at once: only the last two secrets are ever accepted.
#[utoipa::path(
    post,
    path = "/v1/tenant/webhook-secret/rotate",
    tag = "tenants",
    security(("tenant_key" = [])),
    request_body(content = Option<Rotation>, description = "Optional; the default overlap is a day."),
    responses(
        (status = 200, description = "The new secret, shown only here.", body = Rotated),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 401, description = "The API key is missing, unknown or revoked.", body = ErrorBody),
        (status = 422, description = "overlapSecs above the maximum, or the body has another shape.", body = ErrorBody),
        (status = 429, description = "Over the tenant's settings changes per minute (`change_rate`; `quotas.settings_changes_per_minute`); see `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn webhook_secret_rotate(
    Acting(tenant, actor): Acting,
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<Rotated>> {
    let rotation: Rotation = if body.iter().all(u8::is_ascii_whitespace) {
        Rotation::default()
    } else {
        parse(&body)?
    };
    let overlap = rotation.overlap_secs.unwrap_or(DEFAULT_OVERLAP_SECS);
    if overlap > MAX_OVERLAP_SECS {
        return Err(ApiError::invalid(format!(
            "overlapSecs must be at most {MAX_OVERLAP_SECS} (a week)"
        )));
    }
    let rotated = blocking(move || {
        state.quotas.take_change(tenant)?;
        let until = chrono::Utc::now().timestamp() + overlap as i64;
        let secret = state
            .directory
            .rotate_webhook_secret(tenant, until, &actor)?;
        Ok(Rotated {
            webhook_secret: secret,
            previous_valid_until: until,
        })
    })
    .await?;
    Ok(axum::Json(rotated))
}
