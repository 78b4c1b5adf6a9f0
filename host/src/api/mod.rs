//! The HTTP interface: routes, shared state, extractors and errors.
//!
//! Handlers parse, authenticate and delegate: to the pipeline for events,
//! to the registry for every plugin use case (install, swap, dry run,
//! replay, bindings), to the directory for the tenant's own data; blocking
//! work goes through `spawn_blocking`, never on the async threads. One file
//! per area of the API; `v2` speaks the contact-center record API's shape.
//! The JSON shapes a client parses too are declared in `wire`.

mod audit;
mod auth;
mod body;
mod do_not_contact;
mod error;
mod events;
mod openapi;
mod ops;
mod page;
mod plugins;
mod projects;
mod quotas;
mod records;
mod replay;
mod secrets;
mod shadow;
mod tenants;
mod twilio;
mod v2;
mod webhooks;

use crate::model::TenantId;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};

pub use auth::{SIGNATURE_HEADER, sign};
pub use error::{ApiError, ApiResult, ErrorBody, ErrorDetail};
pub use openapi::ApiDoc;
pub use webhooks::parse_timestamp;

use crate::config::Config;
use crate::directory::Directory;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::registry::Registry;

/// What every handler shares: the services, built once by
/// `server::open`.
#[derive(Clone)]
pub struct AppState {
    /// Tenant data (tenants, keys, projects, records, do-not-contact).
    pub directory: Arc<Directory>,
    /// Events: journaling webhooks, and the workers that decide them.
    pub pipeline: Arc<Pipeline>,
    /// Every plugin use case: install, swap, dry run, replay.
    pub registry: Arc<Registry>,
    pub config: Arc<Config>,
    /// Webhook rate and data quotas (the registry keeps the plugin ones);
    /// the rate counted for every host when the store is shared.
    pub quotas: Arc<quotas::Quotas>,
    /// Pending events, refreshed in the background; a tenant's webhooks
    /// answer 503 above `config.max_pending` of its own instead of growing
    /// the journal unbounded (one tenant's backlog never refuses another's).
    pub journal_depth: Arc<JournalDepth>,
    /// The pipeline's metrics, which the API adds its requests to and
    /// `GET /metrics` renders.
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// The state over `pipeline`, whose store and registry the handlers
    /// share, and whose metrics `GET /metrics` renders.
    pub fn new(pipeline: Arc<Pipeline>, config: Arc<Config>) -> Self {
        let store = Arc::clone(pipeline.store());
        let quotas = if store.shared_by_hosts() {
            quotas::Quotas::shared(config.quotas.clone(), Arc::clone(&store) as _)
        } else {
            quotas::Quotas::new(config.quotas.clone())
        };
        Self {
            quotas: Arc::new(quotas),
            metrics: Arc::clone(pipeline.metrics()),
            directory: Arc::new(Directory::new(store, config.quotas.clone())),
            registry: Arc::clone(pipeline.registry()),
            pipeline,
            config,
            journal_depth: Arc::default(),
        }
    }

    /// Pending events in all.
    pub fn journal_depth(&self) -> u64 {
        self.journal_depth.total()
    }
}

/// Pending events, in all and per tenant, as last counted.
#[derive(Debug, Default)]
pub struct JournalDepth {
    counted: std::sync::RwLock<(u64, std::collections::HashMap<TenantId, u64>)>,
}

impl JournalDepth {
    /// Replaces the counts with a fresh count per tenant.
    pub fn set(&self, by_tenant: Vec<(TenantId, u64)>) {
        let total = by_tenant.iter().map(|(_, n)| n).sum();
        *self.counted.write().unwrap_or_else(|p| p.into_inner()) =
            (total, by_tenant.into_iter().collect());
    }

    pub fn total(&self) -> u64 {
        self.counted.read().unwrap_or_else(|p| p.into_inner()).0
    }

    pub fn of(&self, tenant: TenantId) -> u64 {
        let counted = self.counted.read().unwrap_or_else(|p| p.into_inner());
        counted.1.get(&tenant).copied().unwrap_or(0)
    }
}

/// Runs blocking store or registry work off the async threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)?
}

/// The whole API.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics_get))
        .route("/openapi.json", get(ops::openapi_get))
        .route("/v1/tenants", post(tenants::tenants_create))
        .route(
            "/v1/tenants/{id}/keys",
            post(tenants::tenants_add_key).get(secrets::tenants_keys_list),
        )
        .route(
            "/v1/tenants/{id}/keys/{key}",
            axum::routing::delete(secrets::tenants_keys_revoke),
        )
        .route("/v1/keys", get(secrets::keys_list))
        .route("/v1/keys/{id}", axum::routing::delete(secrets::keys_revoke))
        .route(
            "/v1/tenant/webhook-secret/rotate",
            post(secrets::webhook_secret_rotate),
        )
        .route("/v1/tenants/{id}/limits", put(tenants::tenants_set_limits))
        .route(
            "/v1/tenant",
            get(tenants::tenant_get).put(tenants::tenant_update),
        )
        .route("/v1/webhooks/sms/status", post(webhooks::webhooks_status))
        .route("/v1/webhooks/sms/inbound", post(webhooks::webhooks_inbound))
        .route(
            "/v1/webhooks/call/disposition",
            post(webhooks::webhooks_call_disposition),
        )
        .route(
            "/v1/webhooks/twilio/{tenantId}/status",
            post(twilio::twilio_status),
        )
        .route(
            "/v1/webhooks/twilio/{tenantId}/inbound",
            post(twilio::twilio_inbound),
        )
        .route("/v1/plugins", get(plugins::plugins_list))
        .route(
            "/v1/plugins/{name}",
            // Components are larger than JSON bodies: the upload checks its
            // own quota and names it, so the transport limit sits just above.
            put(plugins::plugins_upload)
                .layer(axum::extract::DefaultBodyLimit::max(
                    state.config.quotas.max_component_bytes + 1,
                ))
                .get(plugins::plugins_get),
        )
        .route(
            "/v1/plugins/{name}/activate",
            post(plugins::plugins_activate),
        )
        .route(
            "/v1/plugins/{name}/rollback",
            post(plugins::plugins_rollback),
        )
        .route("/v1/plugins/{name}/dry-run", post(plugins::plugins_dry_run))
        .route(
            "/v1/plugins/{name}/versions/{version}/replay",
            post(replay::plugins_replay),
        )
        .route(
            "/v1/plugins/{name}/versions/{version}/shadow",
            post(shadow::shadow_start).delete(shadow::shadow_stop),
        )
        .route("/v1/plugins/{name}/shadow", get(shadow::shadow_get))
        .route(
            "/v1/projects/{id}/bindings",
            put(plugins::bindings_put).get(plugins::bindings_get),
        )
        .route(
            "/v1/projects",
            post(projects::projects_create).get(projects::projects_list),
        )
        .route("/v1/projects/{id}", get(projects::projects_get))
        .route(
            "/v1/projects/{id}/dispositions",
            get(projects::dispositions_list).post(projects::dispositions_upsert),
        )
        .route(
            "/v1/projects/{id}/records",
            post(records::records_create).get(records::records_list),
        )
        .route(
            "/v1/projects/{id}/records/import",
            post(records::records_import),
        )
        .route(
            "/v1/projects/{id}/records/{record_id}",
            get(records::records_get),
        )
        .route("/v1/projects/{id}/messages", get(records::messages_list))
        .route(
            "/v1/do-not-contact",
            get(do_not_contact::do_not_contact_list).post(do_not_contact::do_not_contact_add),
        )
        .route(
            "/v1/do-not-contact/{phone}",
            axum::routing::delete(do_not_contact::do_not_contact_remove),
        )
        .route("/v1/events/{id}", get(events::events_get))
        .route("/v1/audit", get(audit::audit_list))
        .route("/v2/projects/{project}/records", get(v2::v2_records_find))
        .route(
            "/v2/projects/{project}/records/{record}",
            get(v2::v2_record_get),
        )
        .route(
            "/v2/projects/{project}/records/{record}/dispositions",
            post(v2::v2_dispositions_create),
        )
        .with_state(state.clone())
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.max_body_bytes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            ops::track,
        ))
}
