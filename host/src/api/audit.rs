//! `GET /v1/audit`: the tenant's audit trail, every change to its rules
//! and settings (who, when, from what to what, why), oldest first, a page
//! at a time, optionally one plugin's or one kind's.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;

use super::auth::Tenant;
use super::page::Page;
use super::{ApiError, ApiResult, AppState, ErrorBody, blocking};
use crate::model::{AuditEntry, ChangeKind};

/// The tenant's changes, oldest first.
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    security(("tenant_key" = [])),
    params(
        ("plugin" = Option<String>, Query, description = "Only the changes to this plugin."),
        ("kind" = Option<ChangeKind>, Query, description = "Only the changes of this kind."),
        ("limit" = Option<usize>, Query, description = "Entries in the page: 1 to 1,000 (default 100)."),
        ("after" = Option<u64>, Query, description = "The id the previous page ended with (its `X-Next-After`)."),
    ),
    responses(
        (status = 200, description = "A page of the tenant's audit trail, oldest first; `X-Next-After` names the next page when this one is full.", body = Vec<AuditEntry>,
            headers(("X-Next-After" = String, description = "The cursor of the next page."))),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 422, description = "An unknown kind, or a limit or cursor out of range.", body = ErrorBody),
    )
)]
pub async fn audit_list(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<(HeaderMap, axum::Json<Vec<AuditEntry>>)> {
    let kind = match query.get("kind") {
        None => None,
        Some(text) => Some(ChangeKind::parse(text.trim()).ok_or_else(|| {
            let known: Vec<&str> = ChangeKind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::invalid(format!("kind {text:?} is not one of {}", known.join(", ")))
        })?),
    };
    let plugin = query.get("plugin").cloned();
    let page = Page::from_query(Query(query))?;
    let after = page.after_id()?;
    let limit = page.limit;
    let entries = blocking(move || {
        Ok(state
            .directory
            .audit(tenant, after, plugin.as_deref(), kind, limit)?)
    })
    .await?;
    let headers = page.headers(entries.len(), entries.last().map(|e| e.id.to_string()));
    Ok((headers, axum::Json(entries)))
}
