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
use crate::model::{Action, ContactRecord, RecordId, SmsEvent, TenantId};
use crate::store::{self, MessageFilter, Project, Store};

/// The host's verdicts on `proposals` for `event` of `project`: the
/// records they name (within the tenant), the do-not-contact list (plus a
/// phone opting out right now), the project's rules and each record's
/// recent contacts (the call `event` reports, not committed yet, among
/// them). Shared by processing and dry runs, so both judge alike.
///
/// With `resolved`, the event's records are ones the host itself read for
/// it (within the tenant and project) and are used as they are instead of
/// being read again; a dry run's event comes from the caller, so its
/// records are read.
pub fn judge(
    store: &dyn Store,
    tenant: TenantId,
    project: &Project,
    event: &SmsEvent,
    proposals: &[Proposal],
    opting_out: Option<&str>,
    resolved: bool,
) -> Result<Vec<Verdict>, store::Error> {
    let event_time = event.timestamp();
    let known = if resolved { event.contacts() } else { &[] };
    let mut records = scopes(store, tenant, proposals, known)?;
    count_sms_today(store, tenant, project, event_time, proposals, &mut records)?;
    count_contacts(store, tenant, project, event, proposals, &mut records)?;
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
                    contacts: 0,
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
                        contacts: 0,
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

/// Fills in, for each record of the project a callback proposal names, its
/// contact attempts in the project's window before the event (the newest
/// up to the cap, which is all the cap needs), plus the call the event
/// itself reports on it.
fn count_contacts(
    store: &dyn Store,
    tenant: TenantId,
    project: &Project,
    event: &SmsEvent,
    proposals: &[Proposal],
    records: &mut BTreeMap<RecordId, RecordScope>,
) -> Result<(), store::Error> {
    let Some(rules) = &project.settings.contact_rules else {
        return Ok(());
    };
    let called = match event {
        SmsEvent::CallDisposition(call) => Some(call.contact.id),
        _ => None,
    };
    let callbacks: BTreeSet<RecordId> = proposals
        .iter()
        .filter(|p| p.action.schedules_callback())
        .map(|p| p.action.record_id())
        .collect();
    let since = event.timestamp().saturating_sub(rules.window_secs());
    for id in callbacks {
        let Some(record) = records.get_mut(&id).filter(|r| r.project_id == project.id) else {
            continue;
        };
        let before = store.contact_attempts(tenant, id, since, rules.max_attempts)?;
        record.contacts = before + u32::from(called == Some(id));
    }
    Ok(())
}
