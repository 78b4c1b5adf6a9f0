//! The host's verdicts on a plugin's proposals with the facts read from the
//! store: the records they name (within the tenant), the do-not-contact
//! list and the project's rules, handed to [`validate`](super::validate).
//!
//! Shared by live processing and dry runs, so both judge alike. Reads the
//! store, writes nothing, runs no plugin.

use std::collections::{BTreeMap, BTreeSet};

use super::{Proposal, RecordScope, Verdict, validate};
use crate::model::{ContactRecord, RecordId, TenantId};
use crate::store::{self, Project, Store};

/// The host's verdicts on `proposals` for an event of `project` at
/// `event_time`: the records they name (within the tenant), the
/// do-not-contact list (plus a phone opting out right now) and the
/// project's rules. Shared by processing and dry runs, so both judge alike.
///
/// `resolved` are records the host itself read for this event (within the
/// tenant and project), used as they are instead of being read again; a
/// dry run's event comes from the caller, so it passes none.
pub fn judge(
    store: &dyn Store,
    tenant: TenantId,
    project: &Project,
    event_time: i64,
    proposals: &[Proposal],
    opting_out: Option<&str>,
    resolved: &[ContactRecord],
) -> Result<Vec<Verdict>, store::Error> {
    let records = scopes(store, tenant, proposals, resolved)?;
    let phones: Vec<String> = records.values().map(|r| r.phone.clone()).collect();
    let mut do_not_contact: BTreeSet<String> =
        store.do_not_contact(tenant, &phones)?.into_iter().collect();
    do_not_contact.extend(opting_out.map(String::from));
    Ok(validate(
        event_time,
        &project.rules(),
        &records,
        &do_not_contact,
        proposals,
    ))
}

/// The tenant's records that the proposals name; records of other tenants
/// are simply not found, so validation rejects them as out of scope.
fn scopes(
    store: &dyn Store,
    tenant: TenantId,
    proposals: &[Proposal],
    resolved: &[ContactRecord],
) -> Result<BTreeMap<RecordId, RecordScope>, store::Error> {
    let mut scopes = BTreeMap::new();
    for id in proposals.iter().map(|p| p.action.record_id()) {
        if scopes.contains_key(&id) {
            continue;
        }
        if let Some(contact) = resolved.iter().find(|c| c.id == id) {
            scopes.insert(
                id,
                RecordScope {
                    id,
                    project_id: contact.project_id,
                    phone: contact.phone.clone(),
                    time_zone: Some(contact.time_zone.clone()),
                },
            );
            continue;
        }
        match store.record(tenant, id) {
            Ok(record) => {
                scopes.insert(
                    id,
                    RecordScope {
                        id,
                        project_id: record.project_id,
                        phone: record.phone,
                        time_zone: record.time_zone,
                    },
                );
            }
            Err(store::Error::NotFound { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(scopes)
}
