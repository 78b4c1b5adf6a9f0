//! Loaded plugin versions, by the SHA-256 of their component: each is
//! compiled (or loaded from the on-disk cache) once, then shared by every
//! event, tenant and thread that runs it.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::model::TenantId;
use crate::runtime::{self, Plugin, Runtime};
use crate::store::Store;

#[derive(Default)]
pub struct PluginCache {
    loaded: RwLock<HashMap<String, Plugin>>,
}

impl PluginCache {
    /// The loaded plugin for `tenant`'s `name` at `version`, whose component
    /// has `sha256`; loads it from the store on first use.
    pub fn get(
        &self,
        store: &dyn Store,
        runtime: &Runtime,
        tenant: TenantId,
        name: &str,
        version: u32,
        sha256: &str,
    ) -> Result<Plugin, runtime::Error> {
        if let Some(plugin) = self.read().get(sha256) {
            return Ok(plugin.clone());
        }
        let bytes = store.plugin_component(tenant, name, version).map_err(|e| {
            runtime::Error::Instantiate {
                reason: format!("loading {name} v{version}: {e}"),
            }
        })?;
        let plugin = runtime.load(&bytes)?;
        let mut loaded = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        Ok(loaded.entry(sha256.to_string()).or_insert(plugin).clone())
    }

    /// Loads every tenant's active plugin versions, from the compile cache
    /// where it has them, so a restarted server runs its first events
    /// without compiling. A plugin that fails to load is logged and left to
    /// fail its events as it would have anyway. Returns how many it loaded.
    pub fn preload(
        &self,
        store: &dyn Store,
        runtime: &Runtime,
    ) -> Result<usize, crate::store::Error> {
        let mut loaded = 0;
        for active in store.active_components()? {
            if self.read().contains_key(&active.sha256) {
                continue;
            }
            let plugin = match runtime.load_cached(&active.sha256) {
                Some(plugin) => plugin,
                None => store
                    .plugin_component(active.tenant_id, &active.name, active.version)
                    .map_err(|e| runtime::Error::Instantiate {
                        reason: e.to_string(),
                    })
                    .and_then(|bytes| runtime.load(&bytes)),
            };
            match plugin {
                Ok(plugin) => {
                    self.insert(plugin);
                    loaded += 1;
                }
                Err(error) => tracing::warn!(
                    tenant = %active.tenant_id, plugin = %active.name, version = active.version, %error,
                    "an active plugin failed to load"
                ),
            }
        }
        Ok(loaded)
    }

    /// Remembers a plugin just loaded (on upload), so its first event
    /// does not load it again.
    pub fn insert(&self, plugin: Plugin) {
        let mut loaded = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        loaded.insert(plugin.sha256().to_string(), plugin);
    }

    /// Drops the loaded plugin with `sha256` (its versions were deleted);
    /// calls already running keep their copy.
    pub fn forget(&self, sha256: &str) {
        self.loaded
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sha256);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Plugin>> {
        self.loaded.read().unwrap_or_else(|p| p.into_inner())
    }
}
