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

    /// Remembers a plugin just loaded (on upload), so its first event
    /// does not load it again.
    pub fn insert(&self, plugin: Plugin) {
        let mut loaded = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        loaded.insert(plugin.sha256().to_string(), plugin);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Plugin>> {
        self.loaded.read().unwrap_or_else(|p| p.into_inner())
    }
}
