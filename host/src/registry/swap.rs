//! The hot swap: [`Registry::activate`] and [`Registry::rollback`] move a
//! plugin's active pointer in one store statement. An event already being
//! processed finishes on the version it loaded, the next one loads the new
//! version, and every decision records the version that made it.

use serde_json::json;

use super::{Error, Registry};
use crate::model::{Actor, Change, ChangeKind, TenantId};
use crate::wire::plugins::Activated;

impl Registry {
    /// Makes `version` of `tenant`'s plugin `name` the active one; not
    /// found when either is unknown. Recorded in the audit trail as
    /// `actor`'s.
    pub fn activate(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        actor: &Actor,
    ) -> Result<Activated, Error> {
        let before = self.active_version(tenant, name)?;
        self.store.activate_plugin(tenant, name, version)?;
        tracing::info!(%tenant, plugin = %name, version, "plugin activated");
        let change = Change::new(actor, ChangeKind::PluginActivated)
            .plugin(name)
            .from_to(
                json!({ "activeVersion": before }),
                json!({ "activeVersion": version }),
            );
        self.store.record_change(tenant, &change)?;
        Ok(Activated {
            name: name.to_string(),
            active_version: version,
        })
    }

    /// Makes the previously active version of `tenant`'s plugin `name`
    /// active again; a conflict when there is none to go back to.
    /// Recorded in the audit trail as `actor`'s, with `reason` if given.
    pub fn rollback(
        &self,
        tenant: TenantId,
        name: &str,
        actor: &Actor,
        reason: Option<String>,
    ) -> Result<Activated, Error> {
        let before = self.active_version(tenant, name)?;
        let version = self.store.rollback_plugin(tenant, name)?;
        tracing::info!(%tenant, plugin = %name, version, "plugin rolled back");
        let mut change = Change::new(actor, ChangeKind::PluginRolledBack)
            .plugin(name)
            .from_to(
                json!({ "activeVersion": before }),
                json!({ "activeVersion": version }),
            );
        change.reason = reason;
        self.store.record_change(tenant, &change)?;
        Ok(Activated {
            name: name.to_string(),
            active_version: version,
        })
    }

    /// The active version of `tenant`'s plugin `name` now (none: no such
    /// plugin, or none active).
    pub(super) fn active_version(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<Option<u32>, Error> {
        Ok(self
            .store
            .plugins(tenant)?
            .into_iter()
            .find(|plugin| plugin.name == name)
            .and_then(|plugin| plugin.active_version))
    }
}
