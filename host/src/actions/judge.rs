//! The host's verdicts on a plugin's proposals with the facts read from the
//! store: the records they name (within the tenant), the do-not-contact
//! list and the project's rules, handed to [`validate`](super::validate).
//!
//! Shared by live processing and dry runs, so both judge alike. Reads the
//! store, writes nothing, runs no plugin.

use std::collections::{BTreeMap, BTreeSet};

use super::calling_hours::day_start;
use super::validate::record_zone;
use super::{Proposal, RecordScope, Verdict, validate};
use crate::model::{Action, ContactRecord, RecordId, TenantId};
use crate::store::{self, MessageFilter, Project, Store};

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
    let mut records = scopes(store, tenant, proposals, resolved)?;
    count_sms_today(store, tenant, project, event_time, proposals, &mut records)?;
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
                    sms_today: 0,
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
                        sms_today: 0,
                    },
                );
            }
            Err(store::Error::NotFound { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(scopes)
}

/// Fills in, for each record of the project an SMS proposal names, how
/// many SMS it has had since its local day began at `event_time`: the
/// newest up to the project's cap are read, which is all the cap needs.
fn count_sms_today(
    store: &dyn Store,
    tenant: TenantId,
    project: &Project,
    event_time: i64,
    proposals: &[Proposal],
    records: &mut BTreeMap<RecordId, RecordScope>,
) -> Result<(), store::Error> {
    let rules = project.rules();
    let texted: BTreeSet<RecordId> = proposals
        .iter()
        .filter(|p| matches!(p.action, Action::SendSms(_)))
        .map(|p| p.action.record_id())
        .collect();
    for id in texted {
        let Some(record) = records.get_mut(&id).filter(|r| r.project_id == project.id) else {
            continue;
        };
        let zone = record_zone(record.time_zone.as_deref(), &rules);
        // A zone that cannot be read (refused by the hours check anyway)
        // counts the last day.
        let since = day_start(event_time, zone).unwrap_or(event_time - 86_400);
        let filter = MessageFilter {
            project: project.id,
            record: Some(id),
            phone: None,
            after: 0,
            newest_first: true,
            limit: rules.sms.max_per_day as usize,
        };
        let sent = store.messages(tenant, &filter)?;
        record.sms_today = sent.iter().filter(|m| m.created_at >= since).count() as u32;
    }
    Ok(())
}
