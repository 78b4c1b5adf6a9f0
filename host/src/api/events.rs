//! `GET /v1/events/{id}`: a journaled event, the plugins that ran on it,
//! their actions, verdicts and results.
//!
//! Read-only; the store filters by tenant, so another tenant's event is a
//! 404 exactly like one that does not exist.

use axum::extract::State;

use super::auth::Tenant;
use super::projects::Ids;
use super::{ApiResult, AppState, ErrorBody, blocking};
use crate::model::EventId;
use crate::store::EventView;

/// An event, the plugins that ran on it, their actions, verdicts and
/// results.
#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    tag = "events",
    security(("tenant_key" = [])),
    params(("id" = u64, Path, description = "The event's id, as the webhook answered it.")),
    responses(
        (status = 200, description = "The event.", body = EventView),
        (status = 401, description = "The API key is missing or unknown.", body = ErrorBody),
        (status = 404, description = "No such event of the tenant's.", body = ErrorBody),
    )
)]
pub async fn events_get(
    Tenant(tenant): Tenant,
    State(state): State<AppState>,
    Ids(id): Ids<u64>,
) -> ApiResult<axum::Json<EventView>> {
    Ok(axum::Json(
        blocking(move || Ok(state.directory.event(tenant, EventId(id))?)).await?,
    ))
}
