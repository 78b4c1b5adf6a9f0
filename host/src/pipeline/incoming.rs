//! Events as they arrive, and how they are journaled: dedupe keys, the
//! subject that orders them, and late receipts.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{DeliveryStatus, ProjectId, RecordId, TenantId, Timestamp};
use crate::phone;
use crate::store::{self, JournalEntry, Store};

/// An event as the webhooks deliver it, before any record is looked up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Incoming {
    /// A delivery receipt for a message sent to a record.
    #[serde(rename_all = "camelCase")]
    Status {
        message_id: String,
        project_id: ProjectId,
        record_id: RecordId,
        status: DeliveryStatus,
        #[serde(default)]
        template_id: Option<String>,
        timestamp: Timestamp,
    },
    /// A message a customer sent.
    #[serde(rename_all = "camelCase")]
    Inbound {
        /// Made up from the sender, time and body when the provider sent none,
        /// so a retried webhook still dedupes.
        #[serde(default)]
        message_id: Option<String>,
        project_id: ProjectId,
        source_phone_number: String,
        message: String,
        timestamp: Timestamp,
    },
}

impl Incoming {
    pub fn project_id(&self) -> ProjectId {
        match self {
            Incoming::Status { project_id, .. } | Incoming::Inbound { project_id, .. } => {
                *project_id
            }
        }
    }
}

/// Why an event was refused before it was journaled; nothing is stored.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("project {0} does not exist")]
    UnknownProject(ProjectId),
    #[error("record {0} does not exist in project {1}")]
    UnknownRecord(RecordId, ProjectId),
    #[error("invalid sender phone number: {0}")]
    InvalidPhone(#[from] phone::PhoneError),
    #[error(transparent)]
    Store(store::Error),
}

/// Builds the journal entry for `incoming` of `tenant`: checks the project
/// and record exist in the tenant, normalizes the sender to E.164, and
/// derives the dedupe key, the subject and the keys that supersede it.
pub(crate) fn journal_entry(
    store: &dyn Store,
    tenant: TenantId,
    mut incoming: Incoming,
    received_at: Timestamp,
) -> Result<JournalEntry, AcceptError> {
    let project_id = incoming.project_id();
    let project = store.project(tenant, project_id).map_err(|e| match e {
        store::Error::NotFound { .. } => AcceptError::UnknownProject(project_id),
        other => AcceptError::Store(other),
    })?;
    let (dedupe_key, message_id, subject, superseded_by) = match &mut incoming {
        Incoming::Status {
            message_id,
            record_id,
            status,
            ..
        } => {
            let record = store
                .record(tenant, *record_id)
                .ok()
                .filter(|record| record.project_id == project_id)
                .ok_or(AcceptError::UnknownRecord(*record_id, project_id))?;
            let key = |status: DeliveryStatus| {
                format!(
                    "status:{message_id}:{}",
                    serde_json::json!(status).as_str().unwrap_or("")
                )
            };
            // A late `sent` never overrides a final status.
            let superseded_by = match status {
                DeliveryStatus::Sent => {
                    vec![
                        key(DeliveryStatus::Delivered),
                        key(DeliveryStatus::NotTraceable),
                    ]
                }
                _ => Vec::new(),
            };
            (
                key(*status),
                message_id.clone(),
                record.phone,
                superseded_by,
            )
        }
        Incoming::Inbound {
            message_id,
            source_phone_number,
            message,
            timestamp,
            ..
        } => {
            let e164 = phone::to_e164(source_phone_number, &project.settings.default_country)?;
            *source_phone_number = e164.clone();
            let id = message_id
                .get_or_insert_with(|| made_up_message_id(&e164, *timestamp, message))
                .clone();
            (format!("inbound:{id}"), id, e164, Vec::new())
        }
    };
    Ok(JournalEntry {
        tenant_id: tenant,
        project_id,
        dedupe_key,
        message_id,
        subject,
        superseded_by,
        input: serde_json::to_string(&incoming).map_err(|e| AcceptError::Store(e.into()))?,
        received_at,
    })
}

/// A stable id for a message the provider sent without one.
fn made_up_message_id(phone: &str, timestamp: Timestamp, message: &str) -> String {
    let digest = Sha256::digest(format!("{phone}\n{timestamp}\n{message}"));
    format!("in-{}", &hex::encode(digest)[..20])
}
