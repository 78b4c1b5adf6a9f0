//! Tenants and their keys (operator), and a tenant's own settings.
//!
//! The executor's token is write-only: a request sets it, no answer shows
//! it (only that one is set), and the store keeps it sealed at rest.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::{Acting, Operator, Tenant};
use super::body::Json;
use super::projects::Ids;
use super::{ApiError, ApiResult, AppState, ErrorBody, blocking};
use crate::directory::{Credentials, NewKey};
use crate::model::{Actor, TenantId};
use crate::store::{
    AcceptWindow, ExecutorSettings, SmsSenderSettings, TenantLimits, TenantSettings, WebhookAuth,
};

/// `POST /v1/tenants`: the new tenant's name.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    name: String,
}

/// A new tenant's credentials, shown only in this answer.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantCreated {
    id: TenantId,
    name: String,
    api_key: String,
    /// The key's id, to revoke it by (`DELETE /v1/keys/{id}`).
    key_id: u64,
    webhook_secret: String,
}

/// The longest tenant name, in characters.
const MAX_NAME_CHARS: usize = 200;
/// Opt-out keywords a tenant may set: each inbound message is compared
/// with every one of them.
const MAX_OPT_OUT_KEYWORDS: usize = 100;
/// The longest opt-out keyword, in characters.
const MAX_KEYWORD_CHARS: usize = 64;

/// A tenant name is 1 to [`MAX_NAME_CHARS`] characters once trimmed.
fn check_tenant_name(name: &str) -> ApiResult<()> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(ApiError::invalid(format!(
            "name must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(())
}

/// Creates a tenant (operator key): its id, a first API key and its
/// webhook secret, shown only in this answer.
#[utoipa::path(
    post,
    path = "/v1/tenants",
    tag = "tenants",
    security(("operator_key" = [])),
    request_body = NewTenant,
    responses(
        (status = 201, description = "The tenant and its credentials.", body = TenantCreated),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 401, description = "The operator key is missing or wrong.", body = ErrorBody),
        (status = 422, description = "The name is empty or too long, or the body has another shape.", body = ErrorBody),
    )
)]
pub async fn tenants_create(
    _: Operator,
    State(state): State<AppState>,
    Json(body): Json<NewTenant>,
) -> ApiResult<(StatusCode, axum::Json<TenantCreated>)> {
    let name = body.name.trim().to_string();
    check_tenant_name(&name)?;
    let created = blocking(move || {
        let Credentials { tenant, api_key } = state.directory.create_tenant(&name)?;
        Ok(TenantCreated {
            id: tenant.id,
            name: tenant.name,
            api_key: api_key.key,
            key_id: api_key.info.id,
            webhook_secret: tenant.webhook_secret,
        })
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// A tenant's new API key, shown only in this answer.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyCreated {
    tenant_id: TenantId,
    api_key: String,
    /// The key's id, to list and revoke it by.
    key_id: u64,
    /// The first hex digits of the key's SHA-256, as key lists show it.
    fingerprint: String,
}

/// Adds an API key to a tenant (operator key).
#[utoipa::path(
    post,
    path = "/v1/tenants/{id}/keys",
    tag = "tenants",
    security(("operator_key" = [])),
    params(("id" = u64, Path, description = "The tenant's id.")),
    responses(
        (status = 201, description = "The new key.", body = KeyCreated),
        (status = 401, description = "The operator key is missing or wrong.", body = ErrorBody),
        (status = 404, description = "No such tenant.", body = ErrorBody),
    )
)]
pub async fn tenants_add_key(
    _: Operator,
    State(state): State<AppState>,
    Ids(id): Ids<u64>,
) -> ApiResult<(StatusCode, axum::Json<KeyCreated>)> {
    let tenant = TenantId(id);
    let created = blocking(move || {
        let NewKey { key, info } = state.directory.add_key(tenant, &Actor::Operator)?;
        Ok(KeyCreated {
            tenant_id: tenant,
            api_key: key,
            key_id: info.id,
            fingerprint: info.fingerprint,
        })
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Sets a tenant's own plugin limits (operator key); unset fields keep
/// the server's defaults. A tenant cannot change its own limits.
#[utoipa::path(
    put,
    path = "/v1/tenants/{id}/limits",
    tag = "tenants",
    security(("operator_key" = [])),
    params(("id" = u64, Path, description = "The tenant's id.")),
    request_body = TenantLimits,
    responses(
        (status = 200, description = "The tenant's limits now.", body = TenantLimits),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 401, description = "The operator key is missing or wrong.", body = ErrorBody),
        (status = 404, description = "No such tenant.", body = ErrorBody),
        (status = 422, description = "A limit out of range (memory over the engine's ceiling, zero fuel).", body = ErrorBody),
    )
)]
pub async fn tenants_set_limits(
    _: Operator,
    State(state): State<AppState>,
    Ids(id): Ids<u64>,
    Json(limits): Json<TenantLimits>,
) -> ApiResult<axum::Json<TenantLimits>> {
    let ceiling = crate::runtime::MEMORY_CEILING_BYTES >> 20;
    if limits
        .memory_mib
        .is_some_and(|mib| mib == 0 || mib > ceiling)
    {
        return Err(ApiError::invalid(format!(
            "memoryMib must be 1 to {ceiling}"
        )));
    }
    if limits.fuel == Some(0) || limits.wall_deadline_ms == Some(0) {
        return Err(ApiError::invalid(
            "fuel and wallDeadlineMs must be positive",
        ));
    }
    let tenant = TenantId(id);
    blocking(move || {
        state.directory.set_limits(tenant, &limits)?;
        Ok(axum::Json(limits))
    })
    .await
}

/// A tenant's settings as the API shows and takes them.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantView {
    #[serde(default)]
    id: Option<TenantId>,
    name: String,
    webhook_auth: WebhookAuth,
    executor: ExecutorView,
    /// Who sends the SMS the tenant's plugins ask for; left out of a `PUT`:
    /// unchanged.
    #[serde(default)]
    sms_sender: Option<SmsSenderView>,
    /// Whole-message opt-out words of the tenant's own; the opt-out family
    /// (stop, quit, end, revoke, opt out, cancel, unsubscribe, …) applies
    /// whatever this list holds.
    opt_out_keywords: Vec<String>,
    /// How far from the host's clock a webhook's timestamp may be; left out
    /// of a `PUT`: the server's defaults (7 days back, 5 minutes ahead
    /// unless the operator configured others). Each side is capped by the
    /// operator's bounds (30 days, 1 day by default).
    #[serde(default)]
    accept_window: Option<AcceptWindow>,
}

/// The executor as the API shows and takes it; the token is write-only.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ExecutorView {
    /// The embedded store (the default).
    Embedded,
    /// A contact-center record API of the `/v2` shape.
    #[serde(rename_all = "camelCase")]
    Remote {
        base_url: String,
        account: String,
        /// Write-only: never in an answer. Left out of a request, the
        /// stored token is kept, but only for the same `baseUrl` and
        /// `account` (a key holder cannot send the token elsewhere).
        #[serde(default, skip_serializing)]
        token: Option<String>,
        /// In answers: whether a token is stored. Ignored in requests.
        #[serde(default)]
        token_set: bool,
    },
}

impl ExecutorView {
    /// What an answer shows of `settings`: everything but the token.
    fn shown(settings: &ExecutorSettings) -> Self {
        match settings {
            ExecutorSettings::Embedded => Self::Embedded,
            ExecutorSettings::Remote {
                base_url,
                account,
                token,
            } => Self::Remote {
                base_url: base_url.clone(),
                account: account.clone(),
                token: None,
                token_set: !token.is_empty(),
            },
        }
    }

    /// The settings a request asks for, given the stored ones: a token
    /// left out is kept only for the same remote and account.
    fn resolve(self, stored: &ExecutorSettings) -> ApiResult<ExecutorSettings> {
        match self {
            Self::Embedded => Ok(ExecutorSettings::Embedded),
            Self::Remote {
                base_url,
                account,
                token,
                ..
            } => {
                let token = match (token, stored) {
                    (Some(token), _) if token.is_empty() => {
                        return Err(ApiError::invalid("executor.token must not be empty"));
                    }
                    (Some(token), _) => token,
                    (
                        None,
                        ExecutorSettings::Remote {
                            base_url: stored_url,
                            account: stored_account,
                            token,
                        },
                    ) if *stored_url == base_url && *stored_account == account => token.clone(),
                    (None, _) => {
                        return Err(ApiError::invalid(
                            "executor.token is required when the executor becomes remote or \
                             its baseUrl or account changes (a stored token is kept only for \
                             the same remote)",
                        ));
                    }
                };
                Ok(ExecutorSettings::Remote {
                    base_url,
                    account,
                    token,
                })
            }
        }
    }
}

/// The SMS sender as the API shows and takes it; the token is write-only.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SmsSenderView {
    /// The host records each message as sent (the default).
    Embedded,
    /// A provider speaking the Twilio Messages API, over HTTPS.
    #[serde(rename_all = "camelCase")]
    Twilio {
        /// The API's root, e.g. `https://api.twilio.com`.
        base_url: String,
        account_sid: String,
        /// The sending number (or sender id) when an action names none.
        from: String,
        /// Write-only: never in an answer. Left out of a request, the
        /// stored token is kept, but only for the same `baseUrl` and
        /// `accountSid`.
        #[serde(default, skip_serializing)]
        auth_token: Option<String>,
        /// In answers: whether a token is stored. Ignored in requests.
        #[serde(default)]
        auth_token_set: bool,
    },
}

impl SmsSenderView {
    /// What an answer shows of `settings`: everything but the token.
    fn shown(settings: &SmsSenderSettings) -> Self {
        match settings {
            SmsSenderSettings::Embedded => Self::Embedded,
            SmsSenderSettings::Twilio {
                base_url,
                account_sid,
                auth_token,
                from,
            } => Self::Twilio {
                base_url: base_url.clone(),
                account_sid: account_sid.clone(),
                from: from.clone(),
                auth_token: None,
                auth_token_set: !auth_token.is_empty(),
            },
        }
    }

    /// The settings a request asks for, given the stored ones: a token
    /// left out is kept only for the same provider and account.
    fn resolve(self, stored: &SmsSenderSettings) -> ApiResult<SmsSenderSettings> {
        let Self::Twilio {
            base_url,
            account_sid,
            from,
            auth_token,
            ..
        } = self
        else {
            return Ok(SmsSenderSettings::Embedded);
        };
        for (field, value) in [("accountSid", &account_sid), ("from", &from)] {
            if value.trim().is_empty() || value.len() > MAX_SENDER_FIELD_CHARS {
                return Err(ApiError::invalid(format!(
                    "smsSender.{field} must hold 1 to {MAX_SENDER_FIELD_CHARS} characters"
                )));
            }
        }
        if !account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ApiError::invalid(
                "smsSender.accountSid holds letters and digits only",
            ));
        }
        let auth_token = match (auth_token, stored) {
            (Some(token), _) if token.is_empty() => {
                return Err(ApiError::invalid("smsSender.authToken must not be empty"));
            }
            (Some(token), _) => token,
            (
                None,
                SmsSenderSettings::Twilio {
                    base_url: stored_url,
                    account_sid: stored_account,
                    auth_token,
                    ..
                },
            ) if *stored_url == base_url && *stored_account == account_sid => auth_token.clone(),
            (None, _) => {
                return Err(ApiError::invalid(
                    "smsSender.authToken is required when the sender becomes a provider or \
                     its baseUrl or accountSid changes (a stored token is kept only for the \
                     same provider)",
                ));
            }
        };
        Ok(SmsSenderSettings::Twilio {
            base_url,
            account_sid,
            auth_token,
            from,
        })
    }
}

/// The longest account id or sending number a sender setting takes.
const MAX_SENDER_FIELD_CHARS: usize = 64;

/// The calling tenant's settings.
#[utoipa::path(
    get,
    path = "/v1/tenant",
    tag = "tenants",
    security(("tenant_key" = [])),
    responses(
        (status = 200, description = "The tenant's settings.", body = TenantView),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
    )
)]
pub async fn tenant_get(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
) -> ApiResult<axum::Json<TenantView>> {
    let view = blocking(move || {
        let stored = state.directory.settings(tenant)?;
        Ok(view_of(&state, tenant, stored))
    })
    .await?;
    Ok(axum::Json(view))
}

/// Replaces the calling tenant's settings (name, webhook authentication,
/// executor, SMS sender, opt-out keywords).
#[utoipa::path(
    put,
    path = "/v1/tenant",
    tag = "tenants",
    security(("tenant_key" = [])),
    request_body = TenantView,
    responses(
        (status = 200, description = "The settings as stored.", body = TenantView),
        (status = 400, description = "Malformed JSON.", body = ErrorBody),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 422, description = "A setting is invalid (`invalid_url`: an executor URL that is not https, holds userinfo, a query or a fragment, or names localhost or a loopback, private, link-local or metadata address the operator has not allowed; a remote executor or an SMS provider without its token; an empty, too long or 101st keyword; a name of 0 or over 200 characters; an acceptance window wider than the operator allows) or the body has another shape.", body = ErrorBody),
        (status = 429, description = "Over the tenant's settings changes per minute (`change_rate`; `quotas.settings_changes_per_minute`); see `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn tenant_update(
    Acting(tenant, actor): Acting,
    State(state): State<AppState>,
    Json(body): Json<TenantView>,
) -> ApiResult<axum::Json<TenantView>> {
    if let ExecutorView::Remote { base_url, .. } = &body.executor
        && let Err(error) = state.config.remote.url_policy().check(base_url)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_url",
            format!("executor.baseUrl {error}"),
        ));
    }
    if let Some(SmsSenderView::Twilio { base_url, .. }) = &body.sms_sender
        && let Err(error) = state.config.remote.url_policy().check(base_url)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_url",
            format!("smsSender.baseUrl {error}"),
        ));
    }
    check_tenant_name(body.name.trim())?;
    if body.opt_out_keywords.iter().any(|k| k.trim().is_empty()) {
        return Err(ApiError::invalid(
            "optOutKeywords must not hold empty keywords",
        ));
    }
    if body.opt_out_keywords.len() > MAX_OPT_OUT_KEYWORDS
        || body
            .opt_out_keywords
            .iter()
            .any(|k| k.chars().count() > MAX_KEYWORD_CHARS)
    {
        return Err(ApiError::invalid(format!(
            "optOutKeywords holds at most {MAX_OPT_OUT_KEYWORDS} keywords of at most {MAX_KEYWORD_CHARS} characters"
        )));
    }
    if let Some(window) = body.accept_window {
        let bounds = &state.config.accept_window;
        if window.past_secs > bounds.max_past_secs || window.future_secs > bounds.max_future_secs {
            return Err(ApiError::invalid(format!(
                "acceptWindow may reach at most {} s back (pastSecs) and {} s ahead \
                 (futureSecs), got {} and {}",
                bounds.max_past_secs, bounds.max_future_secs, window.past_secs, window.future_secs
            )));
        }
    }
    let view = blocking(move || {
        state.quotas.take_change(tenant)?;
        let stored = state.directory.update_settings(
            tenant,
            &body.opt_out_keywords,
            &actor,
            |settings| -> ApiResult<()> {
                settings.name = body.name;
                settings.webhook_auth = body.webhook_auth;
                settings.executor = body.executor.resolve(&settings.executor)?;
                if let Some(sender) = body.sms_sender {
                    settings.sms_sender = sender.resolve(&settings.sms_sender)?;
                }
                settings.accept_window = body.accept_window;
                Ok(())
            },
        )?;
        Ok(view_of(&state, tenant, stored))
    })
    .await?;
    Ok(axum::Json(view))
}

/// What the API shows of a tenant's stored settings and keywords.
fn view_of(
    state: &AppState,
    tenant: TenantId,
    (settings, opt_out_keywords): (TenantSettings, Vec<String>),
) -> TenantView {
    TenantView {
        id: Some(tenant),
        name: settings.name,
        webhook_auth: settings.webhook_auth,
        executor: ExecutorView::shown(&settings.executor),
        sms_sender: Some(SmsSenderView::shown(&settings.sms_sender)),
        opt_out_keywords,
        accept_window: Some(window_of(state, settings.accept_window)),
    }
}

/// The window a tenant's webhooks are held to: its own, or the server's.
fn window_of(state: &AppState, own: Option<AcceptWindow>) -> AcceptWindow {
    own.unwrap_or_else(|| state.config.accept_window.defaults())
}
