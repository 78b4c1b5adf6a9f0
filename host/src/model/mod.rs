//! The domain types every layer shares: events, records and actions.
//!
//! These mirror the WIT world's types but belong to the host: they carry
//! serde shapes for the HTTP API and the journal, and newtype ids so a
//! record id is never passed where a project id belongs. `runtime::convert`
//! is the only place that maps them to and from the generated bindings.

use serde::{Deserialize, Serialize};

mod audit;
mod outcome;
mod rules;

pub use audit::{Actor, AuditEntry, AuditFilter, Change, ChangeKind};

pub use outcome::{DecisionOutcome, EventState};

pub use rules::{
    CallingHours, CallingHoursPolicy, ContactRules, DEFAULT_HORIZON_DAYS,
    DEFAULT_MAX_ACTIONS_PER_EVENT, DEFAULT_MAX_SMS_PER_DAY, DEFAULT_MAX_SMS_SEGMENTS,
    PastCallbackPolicy, ProjectRules, SmsRules, TenantLimits,
};

/// An instant as seconds since the Unix epoch, UTC.
pub type Timestamp = i64;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_newtype!(
    /// A customer record's id, unique across tenants.
    RecordId
);
id_newtype!(
    /// A project's id, unique across tenants.
    ProjectId
);
id_newtype!(
    /// A tenant: one contact-center customer, isolated from every other.
    TenantId
);
id_newtype!(
    /// A journaled event.
    EventId
);

/// The system Shared Callback disposition's id in every project.
pub const SHARED_CALLBACK_ID: u32 = 2;

/// The system Discard disposition's id in every project.
pub const DISCARD_ID: u32 = 1;

/// What became of an outbound SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// The provider accepted the message.
    Sent,
    /// The handset confirmed receipt.
    Delivered,
    /// The provider could not trace the message to a handset.
    NotTraceable,
}

/// A customer record as plugins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactRecord {
    pub id: RecordId,
    pub project_id: ProjectId,
    /// E.164, e.g. `+36301234567`.
    pub phone: String,
    /// IANA zone, e.g. `Europe/Budapest`.
    pub time_zone: String,
    #[serde(default)]
    pub fields: Vec<(String, String)>,
    #[serde(default)]
    pub last_disposition: Option<u32>,
}

/// A delivery receipt for an outbound SMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutboundStatus {
    pub message_id: String,
    pub project_id: ProjectId,
    pub contact: ContactRecord,
    pub status: DeliveryStatus,
    #[serde(default)]
    pub template_id: Option<String>,
    pub timestamp: Timestamp,
}

/// An SMS a customer sent, with the records whose phone matches the sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundSms {
    pub message_id: String,
    pub project_id: ProjectId,
    pub source_phone_number: String,
    pub message: String,
    pub timestamp: Timestamp,
    #[serde(default)]
    pub matches: Vec<ContactRecord>,
    /// The last SMS the project sent to the sender's phone before this one
    /// arrived, when the host sent one (plugins of world 0.2.0 see it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_outbound: Option<SentSms>,
}

/// An SMS the host sent, as a reply refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SentSms {
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    pub timestamp: Timestamp,
}

/// What a call's disposition meant, as the contact center assesses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Assessment {
    /// The customer was reached.
    Reached,
    /// The customer was reached and the call's goal achieved.
    GoalAchieved,
    /// The customer was not reached.
    NotReached,
}

/// The disposition an agent or the dialer set on a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallOutcome {
    pub id: u32,
    pub name: String,
    pub assessment: Assessment,
}

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    Outbound,
    Inbound,
}

/// A disposition set on a call to or from a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallDisposition {
    /// The contact center's id of the call.
    pub call_id: String,
    pub project_id: ProjectId,
    pub contact: ContactRecord,
    pub disposition: CallOutcome,
    pub direction: CallDirection,
    /// Call attempts to the record so far, this one included.
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_attempt: Option<Timestamp>,
    /// The agent who set it (user id or name); `None` for the dialer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub timestamp: Timestamp,
}

/// One event for plugins to decide on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SmsEvent {
    Outbound(OutboundStatus),
    Inbound(InboundSms),
    /// A call's disposition (world 0.2.0 and later: older plugins are not
    /// asked).
    CallDisposition(CallDisposition),
}

impl SmsEvent {
    /// When the event happened.
    pub fn timestamp(&self) -> Timestamp {
        match self {
            SmsEvent::Outbound(status) => status.timestamp,
            SmsEvent::Inbound(sms) => sms.timestamp,
            SmsEvent::CallDisposition(call) => call.timestamp,
        }
    }

    /// The provider's message id, or the contact center's call id.
    pub fn message_id(&self) -> &str {
        match self {
            SmsEvent::Outbound(status) => &status.message_id,
            SmsEvent::Inbound(sms) => &sms.message_id,
            SmsEvent::CallDisposition(call) => &call.call_id,
        }
    }

    /// The project the event belongs to.
    pub fn project_id(&self) -> ProjectId {
        match self {
            SmsEvent::Outbound(status) => status.project_id,
            SmsEvent::Inbound(sms) => sms.project_id,
            SmsEvent::CallDisposition(call) => call.project_id,
        }
    }

    /// The records the event carries: a receipt's or a call's record, or
    /// the records matching an inbound message's sender.
    pub fn contacts(&self) -> &[ContactRecord] {
        match self {
            SmsEvent::Outbound(status) => std::slice::from_ref(&status.contact),
            SmsEvent::Inbound(sms) => &sms.matches,
            SmsEvent::CallDisposition(call) => std::slice::from_ref(&call.contact),
        }
    }

    /// The oldest world version with this kind of event: plugins of an
    /// older one are not asked.
    pub fn since(&self) -> WorldVersion {
        match self {
            SmsEvent::Outbound(_) | SmsEvent::Inbound(_) => WorldVersion::V0_1_0,
            SmsEvent::CallDisposition(_) => WorldVersion::V0_2_0,
        }
    }
}

/// The disposition an action asks to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Disposition {
    /// The system Shared Callback (id 2) at a time.
    #[serde(rename_all = "camelCase")]
    SharedCallback { at: Timestamp },
    /// The system Discard disposition.
    Discard,
    /// A tenant-defined disposition.
    #[serde(rename_all = "camelCase")]
    Custom {
        id: u32,
        next_calldate: Option<Timestamp>,
    },
}

impl Disposition {
    /// The disposition id this sets on the record.
    pub fn id(&self) -> u32 {
        match *self {
            Disposition::SharedCallback { .. } => SHARED_CALLBACK_ID,
            Disposition::Discard => DISCARD_ID,
            Disposition::Custom { id, .. } => id,
        }
    }

    /// The next call date this disposition sets, if any.
    pub fn next_calldate(&self) -> Option<Timestamp> {
        match *self {
            Disposition::SharedCallback { at } => Some(at),
            Disposition::Discard => None,
            Disposition::Custom { next_calldate, .. } => next_calldate,
        }
    }
}

/// A disposition a plugin asks the host to set on one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetDisposition {
    pub record_id: RecordId,
    pub disposition: Disposition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An SMS a plugin asks the host to send to one record's phone (world
/// 0.2.0 and later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendSms {
    pub record_id: RecordId,
    pub text: String,
    /// The project's sender number to send from; its default when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
}

/// What a plugin asks the host to do to one record.
///
/// Untagged: a disposition reads and writes as it did before SMS actions
/// existed (`recordId`, `disposition`, `note`), so stored decisions and API
/// clients see the same shape; an SMS is told apart by its `text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Action {
    SetDisposition(SetDisposition),
    SendSms(SendSms),
}

impl Action {
    /// The record the action is for.
    pub fn record_id(&self) -> RecordId {
        match self {
            Action::SetDisposition(set) => set.record_id,
            Action::SendSms(sms) => sms.record_id,
        }
    }

    /// The disposition asked for, when this action sets one.
    pub fn set_disposition(&self) -> Option<&SetDisposition> {
        match self {
            Action::SetDisposition(set) => Some(set),
            Action::SendSms(_) => None,
        }
    }

    /// Whether it schedules a callback (a disposition with a next call
    /// date): a contact attempt the project's contact rule counts.
    pub fn schedules_callback(&self) -> bool {
        self.set_disposition()
            .is_some_and(|set| set.disposition.next_calldate().is_some())
    }
}

impl From<SetDisposition> for Action {
    fn from(set: SetDisposition) -> Self {
        Action::SetDisposition(set)
    }
}

/// The version of the `smstrigger:plugin` world a component targets.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum WorldVersion {
    /// `smstrigger:plugin@0.1.0`: SMS events, disposition actions.
    #[serde(rename = "0.1.0")]
    V0_1_0,
    /// `smstrigger:plugin@0.2.0`: adds call dispositions, SMS sending and
    /// a reply's last outbound SMS.
    #[serde(rename = "0.2.0")]
    V0_2_0,
}

impl WorldVersion {
    /// The version as WIT writes it, e.g. `0.2.0`.
    pub fn as_str(&self) -> &'static str {
        match self {
            WorldVersion::V0_1_0 => "0.1.0",
            WorldVersion::V0_2_0 => "0.2.0",
        }
    }
}

impl std::fmt::Display for WorldVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The instants an event may have: years 1 to 9999 (UTC). At the ends of
/// chrono's range a zone's local reading of the time does not exist, and
/// judging calling hours there panicked; webhooks and dry runs refuse
/// anything outside with a 422.
pub const EVENT_TIME_RANGE: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json_with_camel_case_names() {
        let event = SmsEvent::Inbound(InboundSms {
            message_id: "m-1".into(),
            project_id: ProjectId(3),
            source_phone_number: "+36301234567".into(),
            message: "YES".into(),
            timestamp: 1_800_000_000,
            matches: vec![],
            last_outbound: None,
        });
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], "inbound");
        assert_eq!(json["sourcePhoneNumber"], "+36301234567");
        assert_eq!(serde_json::from_value::<SmsEvent>(json).unwrap(), event);
    }

    #[test]
    fn actions_keep_their_json_shape_and_are_told_apart_by_their_fields() {
        let set = Action::from(SetDisposition {
            record_id: RecordId(7),
            disposition: Disposition::Discard,
            note: None,
        });
        let json = serde_json::to_value(&set).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "recordId": 7, "disposition": { "kind": "discard" } })
        );
        assert_eq!(serde_json::from_value::<Action>(json).unwrap(), set);
        let sms = Action::SendSms(SendSms {
            record_id: RecordId(7),
            text: "When may we call?".into(),
            sender_id: None,
            template_id: Some("ask-time".into()),
        });
        let json = serde_json::to_value(&sms).unwrap();
        assert_eq!(json["text"], "When may we call?");
        assert_eq!(serde_json::from_value::<Action>(json).unwrap(), sms);
    }

    #[test]
    fn delivery_status_uses_the_webhook_spelling() {
        let json = serde_json::to_string(&DeliveryStatus::NotTraceable).unwrap();
        assert_eq!(json, "\"not_traceable\"");
    }
}
