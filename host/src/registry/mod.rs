//! The registry: every use case on a tenant's plugins, each in one place
//! that the API, the command line, watch mode and the pipeline all call.
//!
//! - [`Registry::install`] (`install.rs`): name and size checks, upload
//!   admission (rate, compile slot), the plugin and stored-bytes quotas,
//!   compile and world check, store, activate, prune old versions.
//! - [`Registry::activate`], [`Registry::rollback`] (`swap.rs`): the hot
//!   swap; one statement moves the active pointer, so an event in flight
//!   finishes on the version it loaded and the next one loads the new one.
//! - [`Registry::dry_run`] (`dry_run.rs`) and [`Registry::replay`]
//!   (`replay.rs`): tool runs, capped per tenant and in all, on
//!   low-priority threads (`tools.rs`); they execute nothing.
//! - [`run`] and [`Registry::run_live`] (`run.rs`): the one way a plugin
//!   runs on an event: the live pipeline, dry runs, replays and the local
//!   `smstrigger plugin run` all go through it, so limits and the host-fault
//!   rule (a fault of the host's is retried, never blamed on the plugin)
//!   hold alike everywhere.
//! - [`Registry::plugins`], [`Registry::bind`] (`bindings.rs`): what is
//!   installed, and which plugins handle each project.
//! - The loaded plugins (`loaded.rs`), shared by all of the above.
//!
//! Owns no HTTP and no SQL: it calls the store's trait and the runtime, and
//! answers [`Error`], which the API maps to statuses. Counts (upload rate,
//! compiles and tool runs in flight) are in memory, per process.

mod bindings;
mod dry_run;
mod install;
mod loaded;
mod lookup;
mod replay;
mod run;
mod shadow;
mod swap;
mod tools;
mod uploads;

use std::sync::Arc;

pub use install::PluginName;
pub use loaded::{MAX_LOADED_CODE_BYTES, PluginCache};
pub(crate) use lookup::StoreLookup;
pub use replay::MAX_REPLAY_EVENTS;
pub use run::{Meter, run};
pub use tools::{MAX_TOOL_RUNS, TOOL_NICE, ToolPool, ToolPoolStopped, ToolRunSlot, ToolRuns};
pub use uploads::{CompileSlot, UPLOAD_WINDOW, Uploads};

use crate::config::{CompileConfig, Quotas};
use crate::model::TenantId;
use crate::runtime::{self, Limits, Plugin, Runtime};
use crate::store::{self, Store};

/// Why a use case was refused or failed; the API maps each to a status
/// (`api::error`), the command line and watch mode print it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input for this use case (a bad name, an empty component, an
    /// event time out of range, a replay limit out of range, a plugin with
    /// no active version); nothing was stored.
    #[error("{0}")]
    Invalid(String),
    /// The component is over the size limit; nothing was stored.
    #[error("the component is {size} bytes; the limit is {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// No such plugin or version of the tenant's.
    #[error("{what} not found")]
    NotFound { what: String },
    /// Over a quota or a rate, or no room to run now: `code` names which
    /// (`quota_exceeded`, `upload_rate`, `compile_busy`); retry after
    /// `retry_after` seconds.
    #[error("{message}")]
    Refused {
        code: &'static str,
        message: String,
        retry_after: u64,
    },
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The component does not load or run; [`runtime::Error::is_host_fault`]
    /// tells a fault of the host's (retry) from the plugin's.
    #[error(transparent)]
    Plugin(#[from] runtime::Error),
    /// The tool threads have stopped (the server is shutting down).
    #[error(transparent)]
    Stopped(#[from] ToolPoolStopped),
    /// A recorded event or decision does not parse.
    #[error("a recorded event does not parse: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// A quota refusal (`quota_exceeded`).
    pub(crate) fn quota(message: String, retry_after: u64) -> Self {
        Self::Refused {
            code: "quota_exceeded",
            message,
            retry_after,
        }
    }
}

/// The limits and quotas the registry enforces.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// The limits every plugin call runs with, before a tenant's own
    /// (`Store::tenant_limits`) are applied.
    pub limits: Limits,
    /// Plugins, component sizes, stored bytes, versions kept, tool runs.
    pub quotas: Quotas,
    /// Upload rate and compiles at once.
    pub compile: CompileConfig,
}

/// One stored version of a plugin: what a run needs to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRef {
    pub name: String,
    pub version: u32,
    /// The component's SHA-256, the key of the loaded and compiled caches.
    pub sha256: String,
}

/// The plugin use cases over one store and one runtime; one per process,
/// shared by the API, watch mode and the pipeline.
pub struct Registry {
    store: Arc<dyn Store>,
    runtime: Arc<Runtime>,
    loaded: PluginCache,
    config: RegistryConfig,
    uploads: Arc<Uploads>,
    tool_runs: ToolRuns,
    /// Where dry runs and replays run, at the lowest priority.
    tools: ToolPool,
}

impl Registry {
    /// A registry over `store` and `runtime`; starts the tool threads.
    pub fn new(store: Arc<dyn Store>, runtime: Arc<Runtime>, config: RegistryConfig) -> Arc<Self> {
        Arc::new(Self {
            uploads: Arc::new(Uploads::new(&config.compile)),
            tool_runs: ToolRuns::new(config.quotas.concurrent_dry_runs),
            tools: ToolPool::start(),
            loaded: PluginCache::default(),
            store,
            runtime,
            config,
        })
    }

    /// The store the registry reads and writes plugins in.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The limits and quotas it enforces.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The loaded plugin versions.
    pub fn loaded(&self) -> &PluginCache {
        &self.loaded
    }

    /// Loads every tenant's active plugin versions (see
    /// [`PluginCache::preload`]): a server is ready when this returns.
    pub fn preload(&self) -> Result<usize, store::Error> {
        self.loaded.preload(self.store.as_ref(), &self.runtime)
    }

    /// The limits `tenant`'s plugin calls run with: the server's, narrowed
    /// by the tenant's own.
    pub fn limits(&self, tenant: TenantId) -> Result<Limits, store::Error> {
        Ok(self.store.tenant_limits(tenant)?.apply(self.config.limits))
    }

    /// `tenant`'s plugin `name` at `version`, or at its active version
    /// when `None`: not found when either is unknown, invalid when there
    /// is no active version.
    pub fn version(
        &self,
        tenant: TenantId,
        name: &str,
        version: Option<u32>,
    ) -> Result<VersionRef, Error> {
        let info = self
            .store
            .plugins(tenant)?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::NotFound {
                what: format!("plugin {name}"),
            })?;
        let version = version
            .or(info.active_version)
            .ok_or_else(|| Error::Invalid(format!("plugin {name} has no active version")))?;
        let sha256 = info
            .versions
            .iter()
            .find(|v| v.version == version)
            .map(|v| v.sha256.clone())
            .ok_or_else(|| Error::NotFound {
                what: format!("plugin {name} version {version}"),
            })?;
        Ok(VersionRef {
            name: name.to_string(),
            version,
            sha256,
        })
    }

    /// The loaded plugin for `target`, loaded on first use (see
    /// [`PluginCache::get`]).
    pub fn plugin(&self, tenant: TenantId, target: &VersionRef) -> Result<Plugin, runtime::Error> {
        self.loaded.get(
            self.store.as_ref(),
            &self.runtime,
            tenant,
            &target.name,
            target.version,
            &target.sha256,
        )
    }
}
