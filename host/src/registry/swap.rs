//! The hot swap: [`Registry::activate`] and [`Registry::rollback`] move a
//! plugin's active pointer in one store statement. An event already being
//! processed finishes on the version it loaded, the next one loads the new
//! version, and every decision records the version that made it.

use super::{Error, Registry};
use crate::model::TenantId;
use crate::wire::plugins::Activated;

impl Registry {
    /// Makes `version` of `tenant`'s plugin `name` the active one; not
    /// found when either is unknown.
    pub fn activate(&self, tenant: TenantId, name: &str, version: u32) -> Result<Activated, Error> {
        self.store.activate_plugin(tenant, name, version)?;
        tracing::info!(%tenant, plugin = %name, version, "plugin activated");
        Ok(Activated {
            name: name.to_string(),
            active_version: version,
        })
    }

    /// Makes the previously active version of `tenant`'s plugin `name`
    /// active again; a conflict when there is none to go back to.
    pub fn rollback(&self, tenant: TenantId, name: &str) -> Result<Activated, Error> {
        let version = self.store.rollback_plugin(tenant, name)?;
        tracing::info!(%tenant, plugin = %name, version, "plugin rolled back");
        Ok(Activated {
            name: name.to_string(),
            active_version: version,
        })
    }
}
