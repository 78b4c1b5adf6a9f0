//! The event and action types of the WIT world, re-exported under short
//! names, with the constructors and accessors a rule writer reaches for.

pub use crate::wit::Guest as Trigger;
pub use crate::wit::smstrigger::plugin::host::Level;
pub use crate::wit::smstrigger::plugin::types::{
    Action, ContactRecord, CustomDisposition, DeliveryStatus, Disposition, InboundSms,
    OutboundStatus, SmsEvent, Timestamp,
};

/// The id of the system Shared Callback disposition in every project.
pub const SHARED_CALLBACK_ID: u32 = 2;

impl SmsEvent {
    /// When the event happened (the receipt's or the message's timestamp).
    pub fn timestamp(&self) -> Timestamp {
        match self {
            SmsEvent::Outbound(status) => status.timestamp,
            SmsEvent::Inbound(sms) => sms.timestamp,
        }
    }

    /// The project the event belongs to.
    pub fn project_id(&self) -> u64 {
        match self {
            SmsEvent::Outbound(status) => status.project_id,
            SmsEvent::Inbound(sms) => sms.project_id,
        }
    }

    /// The provider's message id.
    pub fn message_id(&self) -> &str {
        match self {
            SmsEvent::Outbound(status) => &status.message_id,
            SmsEvent::Inbound(sms) => &sms.message_id,
        }
    }
}

impl Action {
    /// Sets the system Shared Callback on `record_id`, to call at `at`.
    pub fn shared_callback(record_id: u64, at: Timestamp) -> Self {
        Self::new(record_id, Disposition::SharedCallback(at))
    }

    /// Sets the system Discard disposition on `record_id`.
    pub fn discard(record_id: u64) -> Self {
        Self::new(record_id, Disposition::Discard)
    }

    /// Sets the tenant's disposition `id` on `record_id`, with an optional
    /// next call date.
    pub fn custom(record_id: u64, id: u32, next_calldate: Option<Timestamp>) -> Self {
        Self::new(
            record_id,
            Disposition::Custom(CustomDisposition { id, next_calldate }),
        )
    }

    /// Sets `disposition_id` on `record_id`: the Shared Callback when the id
    /// is [`SHARED_CALLBACK_ID`] (which needs a time), a custom one otherwise.
    ///
    /// Configurable rules take a disposition id from their configuration;
    /// this keeps them from special-casing id 2 themselves.
    pub fn disposition(
        record_id: u64,
        disposition_id: u32,
        next_calldate: Option<Timestamp>,
    ) -> Result<Self, String> {
        match (disposition_id, next_calldate) {
            (SHARED_CALLBACK_ID, Some(at)) => Ok(Self::shared_callback(record_id, at)),
            (SHARED_CALLBACK_ID, None) => {
                Err("the Shared Callback disposition (id 2) needs a next call date".into())
            }
            (id, next) => Ok(Self::custom(record_id, id, next)),
        }
    }

    /// Adds a note for the record's event list.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    fn new(record_id: u64, disposition: Disposition) -> Self {
        Self {
            record_id,
            disposition,
            note: None,
        }
    }

    /// The next call date this action sets, if any.
    pub fn next_calldate(&self) -> Option<Timestamp> {
        match &self.disposition {
            Disposition::SharedCallback(at) => Some(*at),
            Disposition::Discard => None,
            Disposition::Custom(custom) => custom.next_calldate,
        }
    }
}
