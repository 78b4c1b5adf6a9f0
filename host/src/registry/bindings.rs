//! What a tenant has installed, and which plugins handle each project.

use crate::model::{Actor, Change, ChangeKind, ProjectId, TenantId};
use crate::store::{Binding, PluginInfo};

use super::{Error, Registry};

impl Registry {
    /// The tenant's plugins, their versions and which is active.
    pub fn plugins(&self, tenant: TenantId) -> Result<Vec<PluginInfo>, Error> {
        Ok(self.store.plugins(tenant)?)
    }

    /// One of the tenant's plugins.
    pub fn plugin_info(&self, tenant: TenantId, name: &str) -> Result<PluginInfo, Error> {
        self.plugins(tenant)?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::NotFound {
                what: format!("plugin {name}"),
            })
    }

    /// Replaces the plugins bound to the project: the next event of every
    /// host runs these.
    pub fn bind(
        &self,
        tenant: TenantId,
        project: ProjectId,
        bindings: &[Binding],
        actor: &Actor,
    ) -> Result<(), Error> {
        let before = self.bindings(tenant, project)?;
        self.store.set_bindings(tenant, project, bindings)?;
        let change = Change::new(actor, ChangeKind::BindingsSet)
            .project(project)
            .from_to(
                serde_json::to_value(before)?,
                serde_json::to_value(bindings)?,
            );
        self.store.record_change(tenant, &change)?;
        Ok(())
    }

    /// The plugins bound to the tenant's project (not found when the
    /// project is another tenant's).
    pub fn bindings(&self, tenant: TenantId, project: ProjectId) -> Result<Vec<Binding>, Error> {
        self.store.project(tenant, project)?;
        Ok(self
            .store
            .active_bindings(tenant, project)?
            .into_iter()
            .map(|b| b.binding)
            .collect())
    }
}
