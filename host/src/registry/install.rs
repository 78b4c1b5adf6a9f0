//! Installing a plugin version: [`Registry::install`], the one path for
//! `PUT /v1/plugins/{name}` and watch mode.
//!
//! In order, each step refusing with a reason and leaving nothing behind:
//! the name ([`PluginName`]), the size, upload admission (the tenant's
//! upload rate, one compile per tenant, a global cap: `uploads.rs`), the
//! plugin and stored-bytes quotas, then the compile and the world check
//! (`Runtime::load`, in the CPU-limited worker when configured). Only then
//! is the version stored, loaded for the pipeline, activated if asked, and
//! versions beyond the newest `versions_kept` pruned (from the store, the
//! loaded plugins and the compile cache).

use super::{Error, Registry};
use crate::model::{Actor, Change, ChangeKind, TenantId};
use crate::runtime::sha256_hex;
use crate::wire::plugins::Uploaded;

/// The longest plugin name.
pub const MAX_NAME_CHARS: usize = 64;

/// A plugin's name: 1 to [`MAX_NAME_CHARS`] lower-case ASCII letters,
/// digits and `-`, not starting with `-`; it appears in URLs, metrics
/// labels and event lists, so nothing else is let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginName(String);

impl PluginName {
    /// Checks `name`; refused ([`Error::Invalid`]) with what to use instead.
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        let ok = (1..=MAX_NAME_CHARS).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Self(name))
        } else {
            Err(Error::Invalid(format!(
                "plugin name `{name}`: use 1 to {MAX_NAME_CHARS} lower-case letters, digits and -"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PluginName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Registry {
    /// Stores `bytes` as a new version of `tenant`'s plugin `name` once
    /// every check has passed, activating it when `activate`; see the
    /// module docs for the order. Blocks (it compiles): async callers run
    /// it on a blocking thread.
    pub fn install(
        &self,
        tenant: TenantId,
        name: &PluginName,
        bytes: &[u8],
        activate: bool,
        actor: &Actor,
    ) -> Result<Uploaded, Error> {
        let quotas = &self.config.quotas;
        if bytes.len() > quotas.max_component_bytes {
            return Err(Error::TooLarge {
                size: bytes.len(),
                limit: quotas.max_component_bytes,
            });
        }
        if bytes.is_empty() {
            return Err(Error::Invalid(
                "the body must be the component's bytes".into(),
            ));
        }
        let sha256 = sha256_hex(bytes);
        let compiles = !self.runtime.is_compiled(&sha256);
        let slot = self.uploads.admit(tenant, compiles)?;
        let name = name.as_str();
        let installed = self.store.plugins(tenant)?;
        if !installed.iter().any(|p| p.name == name) && installed.len() >= quotas.max_plugins {
            return Err(Error::quota(
                format!("the tenant has its quota of {} plugins", quotas.max_plugins),
                60,
            ));
        }
        let stored = self.store.stored_component_bytes(tenant)?;
        if stored + bytes.len() as u64 > quotas.max_stored_bytes {
            return Err(Error::quota(
                format!(
                    "the tenant stores {stored} bytes of components; with these {} it would pass its quota of {} (versions beyond the newest {} are deleted as new ones arrive)",
                    bytes.len(),
                    quotas.max_stored_bytes,
                    quotas.versions_kept
                ),
                60,
            ));
        }
        let plugin = self.runtime.load(bytes)?;
        let world = plugin.world();
        drop(slot);
        let before = self.active_version(tenant, name)?;
        let version = self
            .store
            .add_plugin_version(tenant, name, &sha256, bytes)?;
        self.loaded.insert(plugin);
        if activate {
            self.store.activate_plugin(tenant, name, version)?;
        }
        for unused in self
            .store
            .prune_plugin_versions(tenant, name, quotas.versions_kept)?
        {
            self.loaded.forget(&unused);
            self.runtime.forget(&unused);
        }
        tracing::info!(%tenant, plugin = %name, version, activate, "plugin uploaded");
        let active = if activate { Some(version) } else { before };
        let change = Change::new(actor, ChangeKind::PluginInstalled)
            .plugin(name)
            .from_to(
                serde_json::json!({ "activeVersion": before }),
                serde_json::json!({
                    "version": version, "sha256": sha256, "size": bytes.len(),
                    "world": world.to_string(), "activeVersion": active,
                }),
            );
        self.store.record_change(tenant, &change)?;
        Ok(Uploaded {
            name: name.to_string(),
            version,
            sha256,
            active: activate,
            world,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names reach URLs, metrics labels and event lists: only the safe
    /// alphabet, within the length.
    #[test]
    fn plugin_names_outside_the_alphabet_or_length_are_refused() {
        for good in ["a", "acme-rule-2", "0day", &"x".repeat(MAX_NAME_CHARS)] {
            assert_eq!(PluginName::new(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "-lead",
            "Upper",
            "under_score",
            "spa ce",
            "ü",
            "a/b",
            &"x".repeat(MAX_NAME_CHARS + 1),
        ] {
            assert!(
                matches!(PluginName::new(bad), Err(Error::Invalid(_))),
                "{bad:?} was accepted"
            );
        }
    }
}
