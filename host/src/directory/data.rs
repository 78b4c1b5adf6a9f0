//! A tenant's projects and dispositions, records and their event lists,
//! the SMS the host sent, its do-not-contact list and its events, within
//! its data quotas.
//!
//! The quotas are checked against what the store counts just before the
//! write: two writes racing (two hosts) may each pass with one unit of
//! room, so a quota may be overrun by what was in flight, never more.

use crate::model::{Actor, Change, ChangeKind, EventId, ProjectId, RecordId, TenantId};
use crate::store::{
    self, DispositionDef, EventView, ManualDisposition, MessageFilter, MessageStatus, NewRecord,
    Project, ProjectSettings, RecordEvent, SentMessage, StoredRecord,
};

use super::{Directory, Result};

impl Directory {
    /// A new project, within the tenant's project quota.
    pub fn create_project(
        &self,
        tenant: TenantId,
        settings: &ProjectSettings,
        actor: &Actor,
    ) -> Result<Project> {
        let used = self.store.usage(tenant)?.projects;
        Self::room("projects", used, 1, self.quotas.max_projects)?;
        let project = self.store.create_project(tenant, settings)?;
        tracing::info!(%tenant, project = %project.id, "project created");
        let change = Change::new(actor, ChangeKind::ProjectCreated)
            .project(project.id)
            .from_to(serde_json::Value::Null, serde_json::to_value(settings)?);
        self.record(tenant, change)?;
        Ok(project)
    }

    pub fn projects(&self, tenant: TenantId) -> Result<Vec<Project>> {
        Ok(self.store.projects(tenant)?)
    }

    /// The tenant's project (not found when it is another tenant's).
    pub fn project(&self, tenant: TenantId, project: ProjectId) -> Result<Project> {
        Ok(self.store.project(tenant, project)?)
    }

    /// Whose project this is: how a webhook, which names only its project,
    /// finds its tenant.
    pub fn project_owner(&self, project: ProjectId) -> Result<Option<TenantId>> {
        Ok(self.store.project_owner(project)?)
    }

    /// Adds a custom disposition to the project or replaces the one with
    /// its id (a system disposition is refused); answers whether it
    /// replaced one.
    pub fn upsert_disposition(
        &self,
        tenant: TenantId,
        project: ProjectId,
        disposition: &DispositionDef,
        actor: &Actor,
    ) -> Result<bool> {
        let project = self.store.project(tenant, project)?;
        let before = project.dispositions.iter().find(|d| d.id == disposition.id);
        self.store
            .upsert_disposition(tenant, project.id, disposition)?;
        let change = Change::new(actor, ChangeKind::DispositionSet)
            .project(project.id)
            .from_to(
                serde_json::to_value(before)?,
                serde_json::to_value(disposition)?,
            );
        self.record(tenant, change)?;
        Ok(before.is_some())
    }

    /// A new record, within the tenant's record quota.
    pub fn create_record(&self, tenant: TenantId, record: &NewRecord) -> Result<StoredRecord> {
        let used = self.store.usage(tenant)?.records;
        Self::room("records", used, 1, self.quotas.max_records)?;
        Ok(self.store.create_record(tenant, record)?)
    }

    /// New records, all or none, within the tenant's record quota.
    pub fn create_records(
        &self,
        tenant: TenantId,
        records: &[NewRecord],
    ) -> Result<Vec<StoredRecord>> {
        let used = self.store.usage(tenant)?.records;
        Self::room(
            "records",
            used,
            records.len() as u64,
            self.quotas.max_records,
        )?;
        Ok(self.store.create_records(tenant, records)?)
    }

    /// A page of the project's records, by id, after `after`.
    pub fn records(
        &self,
        tenant: TenantId,
        project: ProjectId,
        after: RecordId,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        Ok(self.store.records(tenant, project, after, limit)?)
    }

    /// The record, if it is in `project` (which is the tenant's); any other
    /// record is as unknown as one that does not exist.
    pub fn record_in(
        &self,
        tenant: TenantId,
        project: &Project,
        record: RecordId,
    ) -> Result<StoredRecord> {
        match self.store.record(tenant, record)? {
            found if found.project_id == project.id => Ok(found),
            _ => Err(store::Error::NotFound {
                what: format!("record {record}"),
            }
            .into()),
        }
    }

    /// The project's records whose phone is `e164`.
    pub fn records_by_phone(
        &self,
        tenant: TenantId,
        project: ProjectId,
        e164: &str,
    ) -> Result<Vec<StoredRecord>> {
        Ok(self.store.records_by_phone(tenant, project, e164)?)
    }

    /// The record's event list, oldest first, as the contact center shows
    /// it: the dispositions set on it and the SMS the host sent it (found
    /// in `project` by the caller), in the order of the events that made
    /// them.
    pub fn record_events(
        &self,
        tenant: TenantId,
        project: ProjectId,
        record: RecordId,
    ) -> Result<Vec<RecordEvent>> {
        let mut events = self.store.record_events(tenant, record)?;
        let sent = self.record_messages(tenant, project, record)?;
        events.extend(sent.iter().map(RecordEvent::sent));
        events.sort_by_key(|event| (event.created_at, event.event_id));
        Ok(events)
    }

    /// A page of the SMS the host sent for `project` (the tenant's, else
    /// not found), by id after `after`.
    pub fn messages(
        &self,
        tenant: TenantId,
        project: ProjectId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SentMessage>> {
        self.project(tenant, project)?;
        let filter = MessageFilter {
            project,
            record: None,
            phone: None,
            after,
            newest_first: false,
            limit,
        };
        Ok(self.store.messages(tenant, &filter)?)
    }

    /// Moves the tenant's message `message_id` forward to `status` (a
    /// provider's status callback); the message as it stands then.
    pub fn advance_message(
        &self,
        tenant: TenantId,
        message_id: &str,
        status: MessageStatus,
    ) -> Result<Option<SentMessage>> {
        Ok(self.store.advance_message(tenant, message_id, status)?)
    }

    /// The SMS the host sent to `record` (found in `project` by the
    /// caller), oldest first.
    pub fn record_messages(
        &self,
        tenant: TenantId,
        project: ProjectId,
        record: RecordId,
    ) -> Result<Vec<SentMessage>> {
        let filter = MessageFilter {
            project,
            record: Some(record),
            phone: None,
            after: 0,
            newest_first: false,
            limit: usize::MAX,
        };
        Ok(self.store.messages(tenant, &filter)?)
    }

    /// A disposition set by a person or an integration (not a plugin), with
    /// the entry it appends to the record's event list.
    pub fn set_disposition(
        &self,
        tenant: TenantId,
        record: RecordId,
        entry: &ManualDisposition,
    ) -> Result<RecordEvent> {
        Ok(self.store.set_disposition(tenant, record, entry)?)
    }

    /// A page of the tenant's do-not-contact list, in order, after `after`.
    pub fn do_not_contact_list(
        &self,
        tenant: TenantId,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        Ok(self.store.do_not_contact_list(tenant, after, limit)?)
    }

    /// Puts `e164` on the tenant's do-not-contact list, within its quota;
    /// answers whether it was already there (then nothing changes).
    pub fn add_do_not_contact(&self, tenant: TenantId, e164: &str) -> Result<bool> {
        let listed = !self
            .store
            .do_not_contact(tenant, &[e164.to_string()])?
            .is_empty();
        if !listed {
            let used = self.store.usage(tenant)?.do_not_contact;
            Self::room(
                "do-not-contact entries",
                used,
                1,
                self.quotas.max_do_not_contact,
            )?;
            self.store.add_do_not_contact(tenant, e164)?;
            tracing::info!(%tenant, "phone added to the do-not-contact list");
        }
        Ok(listed)
    }

    /// Takes `e164` off the list; answers whether it was there.
    pub fn remove_do_not_contact(&self, tenant: TenantId, e164: &str) -> Result<bool> {
        let removed = self.store.remove_do_not_contact(tenant, e164)?;
        if removed {
            tracing::info!(%tenant, "phone removed from the do-not-contact list");
        }
        Ok(removed)
    }

    /// An event of the tenant's with what was decided of it.
    pub fn event(&self, tenant: TenantId, event: EventId) -> Result<EventView> {
        Ok(self.store.event(tenant, event)?)
    }
}
