//! The HTTP interface: routes, shared state, extractors and errors.
//!
//! Handlers parse, authenticate and delegate: to the pipeline for events,
//! to the store for tenant data, to the runtime (through `spawn_blocking`,
//! never on the async threads) for compiling and dry runs. One file per
//! area of the API; `v2` speaks the contact-center record API's shape.

mod auth;
mod body;
mod error;
mod plugins;
mod quotas;
mod tenants;
mod webhooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::routing::{get, post, put};

pub use auth::{SIGNATURE_HEADER, sign};
pub use error::{ApiError, ApiResult};

use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::runtime::Runtime;
use crate::store::Store;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub pipeline: Arc<Pipeline>,
    pub runtime: Arc<Runtime>,
    pub config: Arc<Config>,
    pub quotas: Arc<quotas::Quotas>,
    /// Pending events, refreshed in the background; webhooks answer 503
    /// above `config.max_pending` instead of growing the journal unbounded.
    pub journal_depth: Arc<AtomicU64>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        pipeline: Arc<Pipeline>,
        runtime: Arc<Runtime>,
        config: Arc<Config>,
    ) -> Self {
        Self {
            quotas: Arc::new(quotas::Quotas::new(config.quotas.clone())),
            store,
            pipeline,
            runtime,
            config,
            journal_depth: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn journal_depth(&self) -> u64 {
        self.journal_depth.load(Ordering::Relaxed)
    }
}

/// Runs blocking store or runtime work off the async threads.
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
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/tenants", post(tenants::tenants_create))
        .route("/v1/tenants/{id}/keys", post(tenants::tenants_add_key))
        .route(
            "/v1/tenant",
            get(tenants::tenant_get).put(tenants::tenant_update),
        )
        .route("/v1/webhooks/sms/status", post(webhooks::webhooks_status))
        .route("/v1/webhooks/sms/inbound", post(webhooks::webhooks_inbound))
        .route("/v1/plugins", get(plugins::plugins_list))
        .route(
            "/v1/plugins/{name}",
            put(plugins::plugins_upload).get(plugins::plugins_get),
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
            "/v1/projects/{id}/bindings",
            put(plugins::bindings_put).get(plugins::bindings_get),
        )
        .with_state(state.clone())
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.max_body_bytes,
        ))
}
