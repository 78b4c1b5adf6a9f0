//! Loaded plugin versions, by the SHA-256 of their component: each is
//! compiled (or loaded from the on-disk cache) once, then shared by every
//! event, tenant and thread that runs it.
//!
//! The cache is bounded by the compiled code it holds ([`MAX_LOADED_CODE_BYTES`]
//! by default), not by how many tenants or versions exist: past the bound,
//! the least recently used plugins are dropped, and one needed again is
//! reloaded from the compile cache on disk (a file mapped, no compile).
//! Calls already running keep their copy.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::TenantId;
use crate::runtime::{self, Plugin, Runtime};
use crate::store::Store;

/// Compiled code kept loaded across all tenants: 256 MiB, about 250 of the
/// largest shipped Rust rules, or 20 JavaScript ones.
pub const MAX_LOADED_CODE_BYTES: usize = 256 << 20;

pub struct PluginCache {
    loaded: RwLock<Loaded>,
    /// Advances on every use; an entry's last tick says how recently it ran.
    ticks: AtomicU64,
    capacity: usize,
}

#[derive(Default)]
struct Loaded {
    entries: HashMap<String, Entry>,
    /// The compiled code of every entry, in bytes.
    bytes: usize,
}

struct Entry {
    plugin: Plugin,
    used: AtomicU64,
}

impl Default for PluginCache {
    fn default() -> Self {
        Self::with_capacity(MAX_LOADED_CODE_BYTES)
    }
}

impl PluginCache {
    /// A cache keeping at most `capacity` bytes of compiled code (and
    /// always the plugin last inserted, however large).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            loaded: RwLock::default(),
            ticks: AtomicU64::new(0),
            capacity,
        }
    }

    /// The loaded plugin for `tenant`'s `name` at `version`, whose component
    /// has `sha256`; loads it on first use (or after it was dropped), from
    /// the compile cache when it is there, from the store otherwise.
    pub fn get(
        &self,
        store: &dyn Store,
        runtime: &Runtime,
        tenant: TenantId,
        name: &str,
        version: u32,
        sha256: &str,
    ) -> Result<Plugin, runtime::Error> {
        if let Some(plugin) = self.lookup(sha256) {
            return Ok(plugin);
        }
        let plugin = match runtime.load_cached(sha256) {
            Some(plugin) => plugin?,
            None => {
                let bytes = store.plugin_component(tenant, name, version).map_err(|e| {
                    runtime::Error::Instantiate {
                        reason: format!("loading {name} v{version}: {e}"),
                    }
                })?;
                runtime.load(&bytes)?
            }
        };
        self.insert(plugin.clone());
        Ok(plugin)
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
            if self.lookup(&active.sha256).is_some() {
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

    /// Remembers a plugin just loaded (on upload, say), dropping the least
    /// recently used ones while the cache holds more than its capacity.
    pub fn insert(&self, plugin: Plugin) {
        let tick = self.tick();
        let mut loaded = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        let sha256 = plugin.sha256().to_string();
        let bytes = plugin.code_bytes();
        let entry = Entry {
            plugin,
            used: AtomicU64::new(tick),
        };
        if let Some(old) = loaded.entries.insert(sha256.clone(), entry) {
            loaded.bytes -= old.plugin.code_bytes();
        }
        loaded.bytes += bytes;
        while loaded.bytes > self.capacity && loaded.entries.len() > 1 {
            let Some(oldest) = loaded
                .entries
                .iter()
                .filter(|(key, _)| **key != sha256)
                .min_by_key(|(_, entry)| entry.used.load(Ordering::Relaxed))
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            if let Some(evicted) = loaded.entries.remove(&oldest) {
                loaded.bytes -= evicted.plugin.code_bytes();
            }
        }
    }

    /// Drops the loaded plugin with `sha256` (its versions were deleted);
    /// calls already running keep their copy.
    pub fn forget(&self, sha256: &str) {
        let mut loaded = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = loaded.entries.remove(sha256) {
            loaded.bytes -= entry.plugin.code_bytes();
        }
    }

    /// Plugins loaded now, and their compiled code in bytes.
    pub fn usage(&self) -> (usize, usize) {
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        (loaded.entries.len(), loaded.bytes)
    }

    /// The loaded plugin with `sha256`, marked as just used.
    fn lookup(&self, sha256: &str) -> Option<Plugin> {
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        let entry = loaded.entries.get(sha256)?;
        entry.used.store(self.tick(), Ordering::Relaxed);
        Some(entry.plugin.clone())
    }

    fn tick(&self) -> u64 {
        self.ticks.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smstrigger_test_components as components;

    fn load(runtime: &Runtime, path: &str) -> Plugin {
        runtime.load(&std::fs::read(path).unwrap()).unwrap()
    }

    /// A thousand tenants each with their own rules must not keep a
    /// thousand compiled components in memory: the least recently used go.
    #[test]
    fn past_its_capacity_the_cache_drops_the_least_recently_used_plugin() {
        let runtime = Runtime::new(None).unwrap();
        let a = load(&runtime, components::NOT_TRACEABLE_CALLBACK);
        let b = load(&runtime, components::DELIVERED_FOLLOWUP);
        let c = load(&runtime, components::KEYWORD_DISPOSITION);
        assert!(a.code_bytes() > 0);
        let room = a.code_bytes() + b.code_bytes() + c.code_bytes() - 1;
        let cache = PluginCache::with_capacity(room);
        cache.insert(a.clone());
        cache.insert(b.clone());
        assert!(cache.lookup(a.sha256()).is_some(), "a is now the newer");
        cache.insert(c.clone());
        assert!(cache.lookup(b.sha256()).is_none(), "b, least recent, went");
        assert!(cache.lookup(a.sha256()).is_some());
        assert!(cache.lookup(c.sha256()).is_some());
        let (count, bytes) = cache.usage();
        assert_eq!((count, bytes), (2, a.code_bytes() + c.code_bytes()));
        cache.forget(a.sha256());
        assert_eq!(cache.usage(), (1, c.code_bytes()));
    }
}
