//! `find-records` against the store, for live events and dry runs: the
//! event's tenant and project only, phones read under the project's
//! default country. Replays answer from recorded lookups instead, and the
//! local `plugin run` from the records it is given.

use std::sync::Arc;

use crate::model::{ContactRecord, ProjectId, TenantId};
use crate::phone;
use crate::runtime::{LookupFailed, RecordLookup};
use crate::store::{Project, Store};

/// `find-records` for one event: the event's tenant and project only,
/// read from the store as it is now (dry runs use it too, so they read
/// only the records a plugin asks for, not the whole project).
pub(crate) struct StoreLookup {
    store: Arc<dyn Store>,
    tenant: TenantId,
    project: ProjectId,
    country: String,
    zone: String,
}

impl StoreLookup {
    /// Lookups within `tenant`'s `project`, under its default country.
    pub(crate) fn new(store: &Arc<dyn Store>, tenant: TenantId, project: &Project) -> Self {
        Self {
            store: Arc::clone(store),
            tenant,
            project: project.id,
            country: project.settings.default_country.clone(),
            zone: project.settings.time_zone.clone(),
        }
    }
}

impl RecordLookup for StoreLookup {
    fn find_records(&self, phone: &str) -> Result<Vec<ContactRecord>, LookupFailed> {
        let Ok(e164) = phone::to_e164(phone, &self.country) else {
            return Ok(Vec::new()); // no phone number: nobody has it
        };
        self.store
            .records_by_phone(self.tenant, self.project, &e164)
            .map(|records| records.iter().map(|r| r.to_contact(&self.zone)).collect())
            .map_err(|e| LookupFailed(e.to_string()))
    }
}
