//! The store: tenants, projects, records, plugins, the event journal and
//! decisions, in one SQLite file under the data directory (one host) or
//! in one PostgreSQL database (any number of hosts).
//!
//! Everything goes through the [`Store`] trait. [`SqliteStore`] is the
//! embedded back end; [`PgStore`] (PostgreSQL, for many hosts on one
//! database, claims as leases) is the other. One conformance suite of
//! tests (`store/conformance`) runs against both. Every method that reads or
//! changes tenant data takes the [`TenantId`] and filters by it in SQL, so a
//! caller can only reach the tenant it names.
//!
//! Back ends keep no memos. [`Cached`] wraps any of them and memoizes the
//! settings read on every event; it forgets them on its own writes and
//! when the database's settings generation says someone else (another
//! host, another process) changed one, so a change made anywhere is used
//! everywhere within a second.
//!
//! Durability: WAL with `synchronous = FULL`. A commit that returned is on
//! disk: neither a process crash nor a power cut loses an acknowledged
//! event or an executed action.

mod cached;
#[cfg(test)]
pub(crate) mod conformance;
mod postgres;
pub mod rules;
mod schema;
mod sealed_fields;
mod shadows;
mod sql;
mod sqlite;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use cached::Cached;
pub use postgres::PgStore;
pub use shadows::{Shadow, ShadowCounts, ShadowOutcome, ShadowRun, Shadows};
pub use sqlite::SqliteStore;

pub use crate::model::TenantLimits;
use crate::model::{
    AuditEntry, AuditFilter, CallingHours, CallingHoursPolicy, Change, ContactRecord, ContactRules,
    DEFAULT_HORIZON_DAYS, DEFAULT_MAX_ACTIONS_PER_EVENT, DecisionOutcome, EventId, EventState,
    PastCallbackPolicy, ProjectId, ProjectRules, RecordId, SmsRules, TenantId, Timestamp,
};

/// What went wrong in the store, in terms any back end can report.
///
/// Callers branch on the variant: `NotFound` and `Conflict` are the
/// caller's (a 404, a 409), `OutOfRange` is the input's (a 422),
/// `Unavailable` is a transient failure worth a retry (a 503), and
/// `Backend` is the store's own failure (a 500). No back end's own error
/// type appears here: each back end maps its errors into these at its
/// boundary (`store/sqlite` maps `rusqlite`'s), keeping the text as
/// context.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} not found")]
    NotFound { what: String },
    /// The change contradicts what is stored (a taken name or number, a
    /// rule such as "a system disposition cannot change").
    #[error("{what}")]
    Conflict { what: String },
    /// A value the caller passed that the back end cannot hold (a number
    /// beyond what it stores): the input's fault, nothing was stored.
    #[error("{what}")]
    OutOfRange { what: String },
    /// The back end cannot serve now (busy, locked, unreachable); the same
    /// call may succeed later. Nothing was changed.
    #[error("the store is unavailable for now: {what}")]
    Unavailable { what: String },
    /// The back end failed: a query, the disk, stored data that does not
    /// parse. Whether anything changed is the back end's to say (each
    /// method's transaction either committed or did not).
    #[error("the store failed: {what}")]
    Backend { what: String },
    /// The journal could not take an event (its writer failed or stopped).
    #[error("journaling failed: {0}")]
    Journal(String),
    /// A sealed secret does not open: the store was opened with another
    /// secrets key than the one its secrets were sealed under.
    #[error("secrets at rest: {0}")]
    Secrets(#[from] crate::secrets::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs `f`, which blocks (a database call), so that blocking is allowed
/// wherever the caller is: on a worker thread of a multi-threaded tokio
/// runtime (an HTTP handler) it tells tokio first (`block_in_place`), so
/// the worker's other tasks move elsewhere and a client that runs a
/// runtime of its own inside (the `postgres` crate does) may; anywhere
/// else it just runs. Without it, a handler that reached PostgreSQL
/// directly panicked ("Cannot start a runtime from within a runtime").
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A new tenant's identity: the webhook secret is shown once, here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub webhook_secret: String,
}

/// How a tenant's webhooks may authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAuth {
    /// `?secret-key=` in the URL, as contact-center platforms send it.
    Url,
    /// An HMAC-SHA256 of the raw body in `X-Smstrigger-Signature`.
    Signature,
    /// Either.
    Both,
}

/// Where a tenant's validated actions are carried out.
///
/// Its `Debug` leaves the token out, so a logged setting leaks nothing.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ExecutorSettings {
    /// The embedded store (the default).
    Embedded,
    /// A contact-center record API of the `/v2` shape, over HTTP.
    #[serde(rename_all = "camelCase")]
    Remote {
        base_url: String,
        account: String,
        token: String,
    },
}

impl std::fmt::Debug for ExecutorSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Embedded => f.write_str("Embedded"),
            Self::Remote {
                base_url, account, ..
            } => f
                .debug_struct("Remote")
                .field("base_url", base_url)
                .field("account", account)
                .field("token", &"<redacted>")
                .finish(),
        }
    }
}

/// Who carries a tenant's SMS to the phones.
///
/// Its `Debug` leaves the token out, as [`ExecutorSettings`]' does.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SmsSenderSettings {
    /// The host records each message as sent (the default, and the demo's).
    #[default]
    Embedded,
    /// A provider speaking the Twilio Messages API: messages are queued by
    /// the decision's commit and sent by the SMS outbox.
    #[serde(rename_all = "camelCase")]
    Twilio {
        /// The API's root, e.g. `https://api.twilio.com`.
        base_url: String,
        account_sid: String,
        auth_token: String,
        /// The sending number (or sender id) when an action names none.
        from: String,
    },
}

impl SmsSenderSettings {
    /// Whether messages wait in the SMS outbox for a provider.
    pub fn queues(&self) -> bool {
        !matches!(self, Self::Embedded)
    }
}

impl std::fmt::Debug for SmsSenderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Embedded => f.write_str("Embedded"),
            Self::Twilio {
                base_url,
                account_sid,
                from,
                ..
            } => f
                .debug_struct("Twilio")
                .field("base_url", base_url)
                .field("account_sid", account_sid)
                .field("from", from)
                .field("auth_token", &"<redacted>")
                .finish(),
        }
    }
}

/// A tenant's own settings.
///
/// The executor's token and the SMS provider's are here in plain text, in
/// memory only: the store keeps them sealed at rest (see
/// [`crate::secrets`]) and the API never shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantSettings {
    pub id: TenantId,
    pub name: String,
    #[serde(skip_serializing)]
    pub webhook_secret: String,
    /// The secret a rotation replaced, still accepted until its time.
    #[serde(skip_serializing, default)]
    pub previous_webhook_secret: Option<RetiringSecret>,
    pub webhook_auth: WebhookAuth,
    pub executor: ExecutorSettings,
    #[serde(default)]
    pub sms_sender: SmsSenderSettings,
    /// How far from the host's clock its webhooks' timestamps may be;
    /// `None`: the server's defaults.
    #[serde(default)]
    pub accept_window: Option<AcceptWindow>,
}

/// How far from the host's clock a webhook's timestamp may be, in seconds
/// each way; outside it the webhook is refused and nothing is journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceptWindow {
    /// How old an event may be.
    pub past_secs: u64,
    /// How far ahead of the host's clock an event may be stamped.
    pub future_secs: u64,
}

/// A webhook secret on its way out after a rotation: webhooks signed with
/// it or carrying it keep working until `until` (Unix seconds), so senders
/// can switch without losing events; from then on they answer 401.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiringSecret {
    pub secret: String,
    pub until: Timestamp,
}

impl RetiringSecret {
    /// Whether the secret is still accepted at `now`.
    pub fn accepted_at(&self, now: Timestamp) -> bool {
        now < self.until
    }
}

/// One of a tenant's API keys as it can be shown: never the key, which
/// only its SHA-256 is kept of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    /// What `DELETE /v1/keys/{id}` names it by.
    pub id: u64,
    /// The first 12 hex digits of the key's SHA-256: whoever holds the key
    /// can tell which one it is (`sha256sum`), nobody can use it.
    pub fingerprint: String,
    pub created_at: Timestamp,
    /// When the key last authenticated, to the minute
    /// ([`API_KEY_LAST_USED_RESOLUTION_SECS`]); none: never.
    pub last_used_at: Option<Timestamp>,
}

/// How stale `lastUsedAt` may get: a key's use is written at most once
/// per this many seconds, so authenticating stays a read.
pub const API_KEY_LAST_USED_RESOLUTION_SECS: i64 = 60;

/// Hex digits of a key's hash shown as its fingerprint: 48 bits, enough to
/// tell a tenant's keys apart, nothing to guess a key by.
pub const API_KEY_FINGERPRINT_HEX: usize = 12;

/// A disposition set by hand through the record API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualDisposition {
    pub project_id: ProjectId,
    pub disposition_id: u32,
    pub user: String,
    pub next_calldate: Option<Timestamp>,
    pub description: Option<String>,
    pub idempotency_key: Option<String>,
}

/// An installed plugin and its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginInfo {
    pub name: String,
    pub active_version: Option<u32>,
    pub previous_version: Option<u32>,
    pub versions: Vec<PluginVersionInfo>,
}

/// One uploaded version of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginVersionInfo {
    pub version: u32,
    pub sha256: String,
    pub size: u64,
    pub created_at: Timestamp,
}

/// A project's settings as a tenant sets them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSettings {
    pub name: String,
    pub time_zone: String,
    pub default_country: String,
    #[serde(default)]
    pub calling_hours: Option<CallingHours>,
    #[serde(default = "default_policy")]
    pub calling_hours_policy: CallingHoursPolicy,
    #[serde(default = "default_horizon")]
    pub horizon_days: u32,
    #[serde(default = "default_max_actions")]
    pub max_actions_per_event: usize,
    /// What happens to a callback already past when it executes.
    #[serde(default)]
    pub past_callback_policy: PastCallbackPolicy,
    /// Sending hours, per-day cap and segments of the project's SMS.
    #[serde(default)]
    pub sms_rules: SmsRules,
    /// Contact attempts per record in a rolling window; `None`: no cap.
    #[serde(default = "ContactRules::on")]
    pub contact_rules: Option<ContactRules>,
}

fn default_policy() -> CallingHoursPolicy {
    CallingHoursPolicy::Shift
}

fn default_horizon() -> u32 {
    DEFAULT_HORIZON_DAYS
}

fn default_max_actions() -> usize {
    DEFAULT_MAX_ACTIONS_PER_EVENT
}

/// A project with its dispositions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: ProjectId,
    pub tenant_id: TenantId,
    #[serde(flatten)]
    pub settings: ProjectSettings,
    pub dispositions: Vec<DispositionDef>,
}

impl Project {
    /// The rules validation applies to this project's actions.
    pub fn rules(&self) -> ProjectRules {
        ProjectRules {
            project_id: self.id,
            time_zone: self.settings.time_zone.clone(),
            calling_hours: self.settings.calling_hours.clone(),
            policy: self.settings.calling_hours_policy,
            horizon_days: self.settings.horizon_days,
            max_actions_per_event: self.settings.max_actions_per_event,
            past_callback: self.settings.past_callback_policy,
            dispositions: self.dispositions.iter().map(|d| d.id).collect(),
            sms: self.settings.sms_rules.clone(),
            contacts: self.settings.contact_rules.clone(),
        }
    }
}

/// A disposition a project offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DispositionDef {
    pub id: u32,
    pub name: String,
    pub active: bool,
    #[serde(default)]
    pub system: bool,
}

/// A record to create; the phone is already E.164.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewRecord {
    pub project_id: ProjectId,
    pub phone: String,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub fields: Vec<(String, String)>,
}

/// A record with its current disposition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredRecord {
    pub id: RecordId,
    pub project_id: ProjectId,
    pub phone: String,
    pub time_zone: Option<String>,
    pub fields: Vec<(String, String)>,
    pub disposition_id: Option<u32>,
    pub next_calldate: Option<Timestamp>,
}

impl StoredRecord {
    /// The record as plugins see it, in `project_zone` when it has none.
    pub fn to_contact(&self, project_zone: &str) -> ContactRecord {
        ContactRecord {
            id: self.id,
            project_id: self.project_id,
            phone: self.phone.clone(),
            time_zone: self
                .time_zone
                .clone()
                .unwrap_or_else(|| project_zone.into()),
            fields: self.fields.clone(),
            last_disposition: self.disposition_id,
        }
    }
}

/// The event type of a record's entry for an SMS the host sent it.
pub const OUTBOUND_SMS_EVENT_TYPE: &str = "Outbound SMS";

/// One entry of a record's event list: a disposition set on it (by a
/// plugin, event type `SMS`, or by hand), or an SMS the host sent it
/// (`Outbound SMS`, its text as the note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordEvent {
    pub event_id: Option<EventId>,
    pub event_type: String,
    pub user: String,
    pub created_at: Timestamp,
    /// The disposition set; none for an SMS.
    pub disposition_id: Option<u32>,
    pub next_calldate: Option<Timestamp>,
    pub plugin: Option<String>,
    pub plugin_version: Option<u32>,
    pub note: Option<String>,
    /// For an SMS: its id and where it stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_status: Option<MessageStatus>,
}

impl RecordEvent {
    /// The entry of an SMS the host sent.
    pub fn sent(message: &SentMessage) -> Self {
        RecordEvent {
            event_id: Some(message.event_id),
            event_type: OUTBOUND_SMS_EVENT_TYPE.into(),
            user: "System".into(),
            created_at: message.created_at,
            disposition_id: None,
            next_calldate: None,
            plugin: Some(message.plugin.clone()),
            plugin_version: message.plugin_version,
            note: Some(message.text.clone()),
            message_id: Some(message.message_id.clone()),
            message_status: Some(message.status),
        }
    }
}

/// A plugin bound to a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    pub plugin: String,
    /// Higher runs first and wins conflicts on the same record.
    pub priority: i32,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// A binding with the plugin version active now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveBinding {
    pub binding: Binding,
    pub version: Option<u32>,
    pub sha256: Option<String>,
}

/// An event to journal, as the pipeline prepared it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub tenant_id: TenantId,
    pub project_id: ProjectId,
    /// Unique per tenant: a second entry with the same key is a duplicate.
    pub dedupe_key: String,
    pub message_id: String,
    /// What the event concerns (a record, a phone): events of one subject
    /// are processed one at a time, in order.
    pub subject: String,
    /// Keys whose presence makes this entry superseded on arrival (a late
    /// `sent` after `delivered`).
    pub superseded_by: Vec<String>,
    /// The journaled input, JSON.
    pub input: String,
    pub received_at: Timestamp,
}

/// What journaling an entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "eventId", rename_all = "snake_case")]
pub enum Journaled {
    /// New and pending: it will be processed.
    Accepted(EventId),
    /// Seen before: acknowledged, not processed again.
    Duplicate(EventId),
    /// Recorded but not processed: a later status already arrived.
    Superseded(EventId),
}

impl Journaled {
    pub fn event_id(&self) -> EventId {
        match *self {
            Journaled::Accepted(id) | Journaled::Duplicate(id) | Journaled::Superseded(id) => id,
        }
    }
}

/// A journaled event waiting to be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    pub id: EventId,
    pub tenant_id: TenantId,
    pub project_id: ProjectId,
    pub subject: String,
    pub input: String,
}

/// One plugin run of one event, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord {
    pub plugin: String,
    pub version: Option<u32>,
    pub priority: i32,
    pub outcome: DecisionOutcome,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub fuel_used: u64,
    pub duration_us: u64,
    pub logs: serde_json::Value,
    pub verdicts: serde_json::Value,
    /// The actions exactly as the plugin proposed them (before validation).
    #[serde(default)]
    pub actions: serde_json::Value,
    /// The binding's config the plugin ran with.
    #[serde(default)]
    pub config: serde_json::Value,
    /// The plugin's `find-records` calls and their answers.
    #[serde(default)]
    pub lookups: serde_json::Value,
}

impl DecisionRecord {
    /// A decision the host made itself (no plugin ran).
    pub fn host(plugin: &str, outcome: DecisionOutcome, error: Option<(String, String)>) -> Self {
        let (error_code, error) = error.unzip();
        Self {
            plugin: plugin.into(),
            version: None,
            priority: i32::MAX,
            outcome,
            error_code,
            error,
            fuel_used: 0,
            duration_us: 0,
            logs: serde_json::json!([]),
            verdicts: serde_json::json!([]),
            actions: serde_json::json!([]),
            config: serde_json::json!({}),
            lookups: serde_json::json!([]),
        }
    }
}

/// A recorded plugin run with the event it decided, for replays.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRun {
    pub event_id: EventId,
    /// The event as the plugin saw it.
    pub event: serde_json::Value,
    pub decision: DecisionRecord,
}

/// A change to a record an accepted action makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordWrite {
    pub record_id: RecordId,
    pub disposition_id: u32,
    pub next_calldate: Option<Timestamp>,
    pub plugin: String,
    pub plugin_version: Option<u32>,
    pub note: Option<String>,
}

/// An SMS an accepted action sends, committed with its decision: the
/// embedded sender's record of it, so it is sent exactly once however the
/// host crashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageWrite {
    pub project_id: ProjectId,
    /// `None`: a phone with no record in the project (the host's answer
    /// to a stranger).
    pub record_id: Option<RecordId>,
    /// E.164, the record's phone when the decision was made.
    pub phone: String,
    pub text: String,
    pub sender_id: Option<String>,
    pub template_id: Option<String>,
    pub plugin: String,
    pub plugin_version: Option<u32>,
    /// `Sent` by the embedded sender; `Queued` for a provider's outbox or
    /// a later time.
    pub status: MessageStatus,
    /// When it may go out, when not at once (moved into the project's SMS
    /// hours): it waits queued in the SMS outbox until then.
    pub send_at: Option<Timestamp>,
}

impl MessageWrite {
    /// The message's id: one per event, record and plugin (what the
    /// store's uniqueness holds), so a provider can use it as the
    /// idempotency key of the send.
    pub fn message_id(&self, event: EventId) -> String {
        match self.record_id {
            Some(record) => format!("sms-{event}-{record}-{}", self.plugin),
            None => format!("sms-{event}-{}", self.plugin),
        }
    }
}

/// One contact attempt on a record, counted by the project's contact rule
/// ([`ContactRules`]): written with the decision that saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactAttempt {
    pub record_id: RecordId,
    pub kind: ContactKind,
    /// When it happened: the call's time set, the callback's decision.
    pub at: Timestamp,
}

/// What a contact attempt was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactKind {
    /// A call disposition received for the record.
    Call,
    /// A callback the host scheduled for it.
    Callback,
}

impl ContactKind {
    /// The stored spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            ContactKind::Call => "call",
            ContactKind::Callback => "callback",
        }
    }
}

/// Where an SMS the host sent stands. Statuses only move forward
/// ([`MessageStatus::rank`]): `delivered` is final, and a late `sent`
/// after it changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Waiting in the SMS outbox for the provider to take it.
    Queued,
    /// Taken by the provider, or recorded as sent by the embedded sender.
    Sent,
    /// The provider could not send it (or the outbox gave up).
    Failed,
    /// Sent, but the carrier could not deliver it.
    Undelivered,
    /// On the phone.
    Delivered,
}

impl MessageStatus {
    /// The stored spelling, the same string serde writes.
    pub fn as_str(&self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sent => "sent",
            MessageStatus::Failed => "failed",
            MessageStatus::Undelivered => "undelivered",
            MessageStatus::Delivered => "delivered",
        }
    }

    /// The status stored as `text`.
    pub fn parse(text: &str) -> Option<Self> {
        [
            MessageStatus::Queued,
            MessageStatus::Sent,
            MessageStatus::Failed,
            MessageStatus::Undelivered,
            MessageStatus::Delivered,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    /// The order statuses arrive in: a status replaces only a lower one.
    pub fn rank(&self) -> u8 {
        match self {
            MessageStatus::Queued => 0,
            MessageStatus::Sent => 1,
            MessageStatus::Failed | MessageStatus::Undelivered => 2,
            MessageStatus::Delivered => 3,
        }
    }
}

/// An SMS the host sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    /// The store's sequence number, for paging.
    pub id: u64,
    pub message_id: String,
    pub project_id: ProjectId,
    /// `None`: sent to a phone with no record (the host's answer to a
    /// stranger).
    pub record_id: Option<RecordId>,
    /// The event whose decision sent it.
    pub event_id: EventId,
    pub phone: String,
    pub text: String,
    pub sender_id: Option<String>,
    pub template_id: Option<String>,
    pub plugin: String,
    pub plugin_version: Option<u32>,
    pub status: MessageStatus,
    pub created_at: Timestamp,
    /// Attempts to hand it to the provider so far (0 for the embedded sender).
    pub attempts: u32,
    /// While queued: when the outbox tries next.
    pub next_attempt_at: Option<Timestamp>,
    /// The provider's id of the message, once it took it.
    pub provider_sid: Option<String>,
    /// Why the last attempt failed, or why the message was given up.
    pub error: Option<String>,
}

/// Which of a project's sent messages to read: by id, oldest first (a
/// page after a cursor), or newest first (the last one to a phone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFilter<'a> {
    pub project: ProjectId,
    pub record: Option<RecordId>,
    /// E.164.
    pub phone: Option<&'a str>,
    /// Only those with a greater [`SentMessage::id`] (0: from the start).
    pub after: u64,
    pub newest_first: bool,
    pub limit: usize,
}

/// Everything processing one event produced, committed atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedEvent {
    pub event_id: EventId,
    pub tenant_id: TenantId,
    /// The event as plugins saw it, JSON.
    pub resolved: String,
    pub decisions: Vec<DecisionRecord>,
    pub writes: Vec<RecordWrite>,
    /// Record writes a remote tenant's outbox carries out after the commit
    /// (see [`Outbox`]): queued in the same transaction as the decision,
    /// so each is delivered exactly once however the host crashes.
    pub outbox: Vec<RecordWrite>,
    /// SMS its accepted actions send.
    pub messages: Vec<MessageWrite>,
    /// The contact attempts it makes: the call it reports, the callbacks
    /// it schedules.
    pub contacts: Vec<ContactAttempt>,
    /// The sender's phone when the message was an opt-out.
    pub opted_out: Option<String>,
    /// The sender's phone when the message re-subscribed: its opt-out (and
    /// only an opt-out: a number the tenant listed stays) leaves the list.
    pub opted_in: Option<String>,
    pub processed_at: Timestamp,
    /// The CPU time the worker's thread spent in the event's plugin calls
    /// (host calls included, loading excluded): with the fuel, what says
    /// how heavy its tenant is. Not stored.
    pub plugin_cpu: Duration,
}

/// A journaled event with what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub id: EventId,
    pub project_id: ProjectId,
    pub message_id: String,
    pub state: EventState,
    pub received_at: Timestamp,
    pub processed_at: Option<Timestamp>,
    pub input: serde_json::Value,
    pub resolved: Option<serde_json::Value>,
    pub decisions: Vec<DecisionRecord>,
    /// Its actions queued for a remote contact center, and how far each got.
    #[serde(default)]
    pub outbox: Vec<OutboxView>,
}

/// Where a queued remote action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Pending,
    /// The remote set the disposition.
    Delivered,
    /// The remote refused it for good (a 417, a record with no remote twin).
    Refused,
    /// Every attempt failed within the action's time budget.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Refused => "refused",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Refused, Self::Failed]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// A queued remote action as a worker delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: u64,
    pub tenant_id: TenantId,
    pub event_id: EventId,
    pub write: RecordWrite,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was queued (Unix seconds): its time budget counts from here.
    pub queued_at: Timestamp,
    /// Not to be attempted before this (Unix seconds).
    pub next_attempt_at: Timestamp,
}

/// What became of one attempt, to record on the item.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    /// The remote's entry (delivered) or the error (otherwise), as shown.
    pub result: serde_json::Value,
    /// The decision's verdicts with this action's outcome marked, replacing
    /// those of the decision by `write.plugin` of the item's event.
    pub verdicts: serde_json::Value,
}

/// A queued remote action as `GET /v1/events/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutboxView {
    pub record_id: RecordId,
    pub plugin: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    #[schema(value_type = Object)]
    pub result: serde_json::Value,
}

/// Remote actions queued by commits, per tenant, in order.
///
/// One deliverer per tenant at a time: within a host the outbox's own
/// rule; across hosts on one database (PostgreSQL) a lease per tenant,
/// which `outbox_pending` takes or renews and `settle` checks, so an item
/// is never settled by two hosts at once.
pub trait Outbox {
    /// Tenants whose oldest pending item is due at `now`.
    fn outbox_due_tenants(&self, now: Timestamp) -> Result<Vec<TenantId>>;
    /// Up to `limit` of `tenant`'s pending items, oldest first, due or not:
    /// items of a tenant are delivered in order, so a later one waits for
    /// an earlier one's retry. None while another host holds the tenant's
    /// outbox lease.
    fn outbox_pending(&self, tenant: TenantId, limit: usize) -> Result<Vec<OutboxItem>>;
    /// Records an attempt's outcome on `item` and its decision's verdicts,
    /// in one transaction; `Conflict` when the item is no longer pending
    /// or (PostgreSQL) another host took the tenant's outbox lease.
    fn settle(&self, item: &OutboxItem, settlement: &Settlement) -> Result<()>;
    /// Pending items in all (for metrics and for tools that wait for
    /// deliveries).
    fn outbox_pending_count(&self) -> Result<u64>;
}

/// What became of one attempt to hand a queued SMS to its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSettlement {
    /// `Queued` again (to be retried), `Sent` (taken) or `Failed`.
    pub status: MessageStatus,
    pub attempts: u32,
    /// When to try again, while still queued.
    pub next_attempt_at: Option<Timestamp>,
    pub provider_sid: Option<String>,
    pub error: Option<String>,
}

/// SMS queued for a provider by commits, and their statuses.
///
/// A claim is a lease (kept apart from the time a message is due): another
/// worker (another host on PostgreSQL) leaves a leased message alone while
/// this one sends, and takes it over if this one dies. A message
/// sent twice that way carries the same idempotency key both times.
pub trait SmsOutbox {
    /// Tenants with a queued message due at `now`.
    fn sms_due_tenants(&self, now: Timestamp) -> Result<Vec<TenantId>>;
    /// Up to `limit` of `tenant`'s queued messages due at `now`, oldest
    /// first, leased until `now + lease_secs`.
    fn claim_messages(
        &self,
        tenant: TenantId,
        now: Timestamp,
        lease_secs: u32,
        limit: usize,
    ) -> Result<Vec<SentMessage>>;
    /// Records an attempt on message `id` (the store's sequence number).
    /// Its status changes only while queued: a provider's callback that
    /// overtook the answer to the send is kept.
    fn settle_message(
        &self,
        tenant: TenantId,
        id: u64,
        settlement: &MessageSettlement,
    ) -> Result<()>;
    /// Moves `tenant`'s message `message_id` to `status` when that is a
    /// step forward ([`MessageStatus::rank`]); the message as it stands
    /// afterwards, `None` when the tenant has no such message.
    fn advance_message(
        &self,
        tenant: TenantId,
        message_id: &str,
        status: MessageStatus,
    ) -> Result<Option<SentMessage>>;
    /// Queued messages in all (for metrics and tools that wait for sends).
    fn sms_queued_count(&self) -> Result<u64>;
}

/// The store's operations, one trait per owner; a back end implements
/// them all. Tenant data is always reached through the tenant's id.
pub trait Store:
    Tenants
    + Records
    + Plugins
    + Journal
    + Outbox
    + SmsOutbox
    + RateLimits
    + AuditTrail
    + Shadows
    + Send
    + Sync
{
}

impl<
    T: Tenants
        + Records
        + Plugins
        + Journal
        + Outbox
        + SmsOutbox
        + RateLimits
        + AuditTrail
        + Shadows
        + Send
        + Sync,
> Store for T
{
}

/// The record of every change to a tenant's rules and settings.
pub trait AuditTrail {
    /// Appends `change` to the tenant's trail, stamped with the store's
    /// clock; returns its id.
    fn record_change(&self, tenant: TenantId, change: &Change) -> Result<u64>;
    /// The tenant's entries `filter` selects, oldest first.
    fn audit_entries(&self, tenant: TenantId, filter: &AuditFilter<'_>) -> Result<Vec<AuditEntry>>;
}

/// Token buckets (a tenant's webhook events per second) that every host on
/// one store shares, so a quota holds for the cluster, not per host.
///
/// A back end that serves one host shares nothing, and its callers keep
/// their buckets in memory (`api::quotas`), which costs the webhook path
/// no store call at all. Each back end says which it is: there is no
/// default, so a store that wraps another cannot silently turn a cluster's
/// quota into one per host.
pub trait RateLimits {
    /// Whether several hosts share this store (its buckets, its journal);
    /// when not, [`Self::take_tokens`] is never called, and a stopping
    /// host may drain the whole backlog, which is all its own.
    fn shared_by_hosts(&self) -> bool;

    /// Takes up to `want` whole tokens from `tenant`'s shared bucket and
    /// returns how many it got (`0..=want`; 0: the bucket is empty).
    ///
    /// The bucket refills at `rate` tokens a second and holds at most
    /// `rate` (one second of burst); a tenant's first take finds it full.
    /// It runs on the store's clock, never a host's, so hosts with skewed
    /// clocks agree, and each take is atomic: however many hosts take at
    /// once, no token is granted twice. The default, for a store that
    /// shares nothing, grants nothing.
    fn take_tokens(&self, tenant: TenantId, rate: u32, want: u32) -> Result<u32> {
        let _ = (tenant, rate, want);
        Ok(0)
    }
}

/// Tenants, their keys and settings, projects and dispositions.
pub trait Tenants {
    fn create_tenant(&self, name: &str, webhook_secret: &str) -> Result<Tenant>;
    fn tenant(&self, tenant: TenantId) -> Result<TenantSettings>;
    fn update_tenant(&self, tenant: TenantId, settings: &TenantSettings) -> Result<()>;
    /// The tenant's own plugin limits (none: the server's defaults).
    fn tenant_limits(&self, tenant: TenantId) -> Result<TenantLimits>;
    fn set_tenant_limits(&self, tenant: TenantId, limits: &TenantLimits) -> Result<()>;
    /// Replaces the webhook secret with `new_secret`; the one it replaces
    /// is still accepted until `previous_until` (a secret retiring from an
    /// earlier rotation is dropped at once).
    fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        new_secret: &str,
        previous_until: Timestamp,
    ) -> Result<()>;
    /// Stores the SHA-256 of a new API key of `tenant`.
    fn add_api_key(&self, tenant: TenantId, key_hash: &str) -> Result<ApiKeyInfo>;
    /// The tenant's API keys, oldest first (never the keys themselves).
    fn api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyInfo>>;
    /// Revokes `tenant`'s key `key`: from the commit on it authenticates
    /// nothing. `NotFound` when the tenant has no such key (another
    /// tenant's key included); `Conflict` when it is the tenant's last key
    /// and `allow_last` is false (a tenant must not lock itself out).
    fn revoke_api_key(&self, tenant: TenantId, key: u64, allow_last: bool) -> Result<()>;
    /// The tenant whose API key hashes to `key_hash` (and notes the use,
    /// at most once per [`API_KEY_LAST_USED_RESOLUTION_SECS`]).
    fn tenant_by_key(&self, key_hash: &str) -> Result<Option<TenantId>>;
    /// The tenant's opt-out keywords: its own, or the defaults when it
    /// never set any ([`rules::opt_out_keywords`]); the opt-out family
    /// applies besides them (`phone::is_opt_out`). Not for back ends to
    /// override.
    fn opt_out_keywords(&self, tenant: TenantId) -> Result<Vec<String>> {
        Ok(rules::opt_out_keywords(
            self.stored_opt_out_keywords(tenant)?,
        ))
    }
    /// Replaces the tenant's opt-out keywords, kept trimmed and upper case.
    /// Not for back ends to override.
    fn set_opt_out_keywords(&self, tenant: TenantId, keywords: &[String]) -> Result<()> {
        self.write_opt_out_keywords(tenant, &rules::normalize_keywords(keywords))
    }
    /// Back end: the keywords as stored; `None` when the tenant never set
    /// any.
    fn stored_opt_out_keywords(&self, tenant: TenantId) -> Result<Option<Vec<String>>>;
    /// Back end: stores `keywords` as given.
    fn write_opt_out_keywords(&self, tenant: TenantId, keywords: &[String]) -> Result<()>;
    /// Creates a project with the system dispositions
    /// ([`rules::system_dispositions`]). Not for back ends to override.
    fn create_project(&self, tenant: TenantId, settings: &ProjectSettings) -> Result<Project> {
        self.insert_project(tenant, settings, &rules::system_dispositions())
    }
    /// Back end: stores a project of `tenant` with `dispositions`, in one
    /// transaction, and returns it.
    fn insert_project(
        &self,
        tenant: TenantId,
        settings: &ProjectSettings,
        dispositions: &[DispositionDef],
    ) -> Result<Project>;
    fn project(&self, tenant: TenantId, project: ProjectId) -> Result<Project>;
    /// The tenant a project belongs to (webhooks name only the project).
    fn project_owner(&self, project: ProjectId) -> Result<Option<TenantId>>;
    fn projects(&self, tenant: TenantId) -> Result<Vec<Project>>;
    /// Adds or changes one of the project's own dispositions; a system
    /// one is a `Conflict` ([`rules::is_system_disposition`]). Not for back
    /// ends to override.
    fn upsert_disposition(
        &self,
        tenant: TenantId,
        project: ProjectId,
        disposition: &DispositionDef,
    ) -> Result<()> {
        rules::upsert_disposition(self, tenant, project, disposition)
    }
    /// Back end: adds or replaces `disposition` (its `system` flag as
    /// given) in `tenant`'s project; `NotFound` for another's project.
    fn write_disposition(
        &self,
        tenant: TenantId,
        project: ProjectId,
        disposition: &DispositionDef,
    ) -> Result<()>;
    /// Back end: the database's settings generation, which every change to
    /// a setting [`Cached`] memoizes moves, whoever makes it (another host,
    /// another process on the file), and nothing else moves (authenticating,
    /// journaling, committing, record writes): polled, it tells a host when
    /// to forget its memos.
    fn settings_generation(&self) -> Result<u64>;
    /// Back end: waits up to `timeout` for word that the settings
    /// generation may have moved, so it is polled sooner; returning early
    /// without one is harmless. The default sleeps: polling alone sees
    /// every change, a back end that can hear of changes only hastens it.
    fn wait_for_settings_change(&self, timeout: Duration) -> Result<()> {
        std::thread::sleep(timeout);
        Ok(())
    }
}

/// Customer records, their event lists, and the do-not-contact list.
/// How much of each kind of data a tenant holds, for its quotas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub projects: u64,
    pub records: u64,
    pub do_not_contact: u64,
}

pub trait Records {
    /// What the tenant holds now.
    fn usage(&self, tenant: TenantId) -> Result<Usage>;
    fn create_record(&self, tenant: TenantId, record: &NewRecord) -> Result<StoredRecord>;
    /// Creates all of `records` in one transaction, or none of them (an
    /// import is all-or-nothing); every one must be in a project of `tenant`.
    fn create_records(&self, tenant: TenantId, records: &[NewRecord]) -> Result<Vec<StoredRecord>>;
    fn record(&self, tenant: TenantId, record: RecordId) -> Result<StoredRecord>;
    /// Up to `limit` of the project's records with ids after `after`, by id.
    fn records(
        &self,
        tenant: TenantId,
        project: ProjectId,
        after: RecordId,
        limit: usize,
    ) -> Result<Vec<StoredRecord>>;
    fn records_by_phone(
        &self,
        tenant: TenantId,
        project: ProjectId,
        phone: &str,
    ) -> Result<Vec<StoredRecord>>;
    fn record_events(&self, tenant: TenantId, record: RecordId) -> Result<Vec<RecordEvent>>;
    /// The tenant's sent messages `filter` selects, in its order.
    fn messages(&self, tenant: TenantId, filter: &MessageFilter<'_>) -> Result<Vec<SentMessage>>;
    /// Sets a disposition by hand (the `/v2` API); a repeated
    /// `idempotency_key` changes nothing and returns the first entry.
    fn set_disposition(
        &self,
        tenant: TenantId,
        record: RecordId,
        entry: &ManualDisposition,
    ) -> Result<RecordEvent>;
    fn add_do_not_contact(&self, tenant: TenantId, phone: &str) -> Result<()>;
    fn remove_do_not_contact(&self, tenant: TenantId, phone: &str) -> Result<bool>;
    /// Up to `limit` listed phones after `after`, in order.
    fn do_not_contact_list(
        &self,
        tenant: TenantId,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>>;
    /// Which of `phones` are on the tenant's do-not-contact list.
    fn do_not_contact(&self, tenant: TenantId, phones: &[String]) -> Result<Vec<String>>;
    /// How many contact attempts the tenant's `record` has had at or after
    /// `since`, at most `limit` (all a cap needs to know).
    fn contact_attempts(
        &self,
        tenant: TenantId,
        record: RecordId,
        since: Timestamp,
        limit: u32,
    ) -> Result<u32>;
}

/// Plugin versions, the active pointer, and bindings to projects.
pub trait Plugins {
    /// Stores a new version of `name` under the next number
    /// ([`rules::next_version`]) and returns it. Not for back ends to
    /// override.
    fn add_plugin_version(
        &self,
        tenant: TenantId,
        name: &str,
        sha256: &str,
        component: &[u8],
    ) -> Result<u32> {
        rules::add_plugin_version(self, tenant, name, sha256, component)
    }
    /// Back end: the newest stored version of `name`; `None` before the
    /// first.
    fn latest_plugin_version(&self, tenant: TenantId, name: &str) -> Result<Option<u32>>;
    /// Back end: stores `component` as `version` of `name` (creating the
    /// plugin on its first version); `Conflict` when that number is taken,
    /// never an overwrite.
    fn insert_plugin_version(
        &self,
        tenant: TenantId,
        name: &str,
        version: u32,
        sha256: &str,
        component: &[u8],
    ) -> Result<()>;
    /// Deletes `name`'s versions beyond the newest `keep`, except the active
    /// and the previous one (a rollback's target); returns the SHA-256s of
    /// deleted components no version of any tenant still uses, whose
    /// compiled artifacts may go too.
    fn prune_plugin_versions(
        &self,
        tenant: TenantId,
        name: &str,
        keep: usize,
    ) -> Result<Vec<String>>;
    /// Bytes of every component version the tenant stores.
    fn stored_component_bytes(&self, tenant: TenantId) -> Result<u64>;
    fn activate_plugin(&self, tenant: TenantId, name: &str, version: u32) -> Result<()>;
    /// Makes the previously active version active again; returns it.
    fn rollback_plugin(&self, tenant: TenantId, name: &str) -> Result<u32>;
    fn plugin_component(&self, tenant: TenantId, name: &str, version: u32) -> Result<Vec<u8>>;
    fn plugins(&self, tenant: TenantId) -> Result<Vec<PluginInfo>>;
    fn set_bindings(
        &self,
        tenant: TenantId,
        project: ProjectId,
        bindings: &[Binding],
    ) -> Result<()>;
    fn active_bindings(&self, tenant: TenantId, project: ProjectId) -> Result<Vec<ActiveBinding>>;
    /// Every tenant's active plugin versions, one per component (SHA-256):
    /// what a starting server loads before it serves.
    fn active_components(&self) -> Result<Vec<ActiveComponent>>;
}

/// An active plugin version, named by one tenant that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveComponent {
    pub tenant_id: TenantId,
    pub name: String,
    pub version: u32,
    pub sha256: String,
}

/// The event journal and what processing made of each event.
pub trait Journal {
    /// Journals one entry durably (see [`Self::journal_batch`]).
    fn journal(&self, entry: &JournalEntry) -> Result<Journaled> {
        let mut journaled = self.journal_batch(std::slice::from_ref(entry))?;
        Ok(journaled.remove(0))
    }
    /// Journals `entries` in one durable transaction (group commit), each
    /// deduplicated against everything before it, the batch included.
    fn journal_batch(&self, entries: &[JournalEntry]) -> Result<Vec<Journaled>>;
    /// The tenants with pending events.
    fn pending_tenants(&self) -> Result<Vec<TenantId>>;
    /// Hands out up to `limit` of `tenant`'s pending events, oldest first,
    /// for this host to process; `after` is the last event the caller has
    /// already read of what it holds. Which of them run, and when, is the
    /// pipeline's business.
    ///
    /// A back end with one host (SQLite) hands out the pending events
    /// after `after`. One shared by many hosts (PostgreSQL) leases them to
    /// this host: only events no other host holds a live lease on, and of
    /// a subject only while every earlier pending event of that subject
    /// is this host's, so a subject's events run in order on one host at a
    /// time. Its `after` skips only events this host already holds: an
    /// event passed over because another host held its subject is handed
    /// out once that host is done.
    fn claim(&self, tenant: TenantId, after: EventId, limit: usize) -> Result<Vec<PendingEvent>>;
    /// Keeps this host's claims alive: extends the lease of every event it
    /// claimed and has not committed or released. The pipeline calls it
    /// about once a second; a host that stops calling it (a dead one)
    /// loses its claims to the other hosts when their leases expire.
    /// Nothing to do on a back end without leases. No default: a store
    /// that wraps another must pass it on, or its host loses its claims.
    fn renew_claims(&self) -> Result<()>;
    /// Gives up every claim this host holds, at once (a graceful shutdown,
    /// after the last commit): other hosts need not wait for the leases
    /// to expire. Nothing to do on a back end without leases.
    fn release_claims(&self) -> Result<()>;
    /// Commits processed events, each atomically with its record changes.
    ///
    /// An event that is no longer this host's to decide (no longer
    /// pending; on PostgreSQL, leased to another host) is refused: SQLite
    /// fails the whole call with `Conflict` (one host: that is a bug),
    /// PostgreSQL skips that event alone, writing nothing of it, logs it
    /// and commits the others (another host decides it).
    fn commit(&self, processed: &[ProcessedEvent]) -> Result<()>;
    fn event(&self, tenant: TenantId, event: EventId) -> Result<EventView>;
    /// Runs of `plugin` (any version) on the tenant's processed events, at
    /// most `limit`: without `after`, the last ones, newest first (what a
    /// replay looks back on); with it, those on events after it, oldest
    /// first (what a shadow follows).
    fn recorded_runs(
        &self,
        tenant: TenantId,
        plugin: &str,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<Vec<RecordedRun>>;
    fn pending_count(&self) -> Result<u64>;
    /// Pending events per tenant (tenants with none are left out).
    fn pending_by_tenant(&self) -> Result<Vec<(TenantId, u64)>>;
}
