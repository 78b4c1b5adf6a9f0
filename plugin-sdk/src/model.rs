//! The event and action types of the WIT world, re-exported under short
//! names, with the constructors and accessors a rule writer reaches for.

pub use crate::wit::Guest as Trigger;
pub use crate::wit::smstrigger::plugin::host::Level;
pub use crate::wit::smstrigger::plugin::types::{
    Action, Assessment, CallDirection, CallDisposition, CallOutcome, ContactRecord,
    CustomDisposition, DeliveryStatus, Disposition, Event, InboundSms, OutboundStatus, SendSms,
    SentSms, SetDisposition, Timestamp,
};

/// The event type's name in world 0.1.0, which had SMS events only.
#[deprecated(
    since = "0.2.0",
    note = "the event is `Event` since world 0.2.0, which adds call dispositions"
)]
pub type SmsEvent = Event;

/// The id of the system Shared Callback disposition in every project.
pub const SHARED_CALLBACK_ID: u32 = 2;

impl Event {
    /// When the event happened (the receipt's or the message's timestamp,
    /// or when the call's disposition was set).
    pub fn timestamp(&self) -> Timestamp {
        match self {
            Event::Outbound(status) => status.timestamp,
            Event::Inbound(sms) => sms.timestamp,
            Event::CallDisposition(call) => call.timestamp,
        }
    }

    /// The project the event belongs to.
    pub fn project_id(&self) -> u64 {
        match self {
            Event::Outbound(status) => status.project_id,
            Event::Inbound(sms) => sms.project_id,
            Event::CallDisposition(call) => call.project_id,
        }
    }

    /// The provider's message id, or the contact center's call id.
    pub fn message_id(&self) -> &str {
        match self {
            Event::Outbound(status) => &status.message_id,
            Event::Inbound(sms) => &sms.message_id,
            Event::CallDisposition(call) => &call.call_id,
        }
    }
}

impl InboundSms {
    /// Whether this message answers an SMS built from `template_id`: the
    /// last one the project sent to the sender was. A rule configured for
    /// one campaign leaves replies to others alone with it.
    pub fn answers(&self, template_id: &str) -> bool {
        self.last_outbound
            .as_ref()
            .and_then(|sent| sent.template_id.as_deref())
            == Some(template_id)
    }
}

/// Whether `sms` is for this installation of a rule: its config
/// `template_id` unset, or naming the template of the SMS `sms` answers.
/// Logs at debug level when it is not.
pub fn in_campaign(sms: &InboundSms) -> bool {
    match crate::config("template_id") {
        Some(template) if !sms.answers(&template) => {
            crate::log(
                Level::Debug,
                &format!("not a reply to template {template}: nothing to do"),
            );
            false
        }
        _ => true,
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

    /// Adds a note for the record's event list; an SMS has none, so it is
    /// left as it is.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        if let Action::SetDisposition(set) = &mut self {
            set.note = Some(note.into());
        }
        self
    }

    /// Sends `text` to `record_id`'s phone (see [`crate::template`] to fill
    /// it from the record's fields).
    pub fn send_sms(record_id: u64, text: impl Into<String>) -> Self {
        Action::SendSms(SendSms {
            record_id,
            text: text.into(),
            sender_id: None,
            template_id: None,
        })
    }

    /// Names the template an SMS was built from, so replies to it can be
    /// told apart ([`InboundSms::last_outbound`]); a disposition is left as
    /// it is.
    pub fn with_template(mut self, template_id: impl Into<String>) -> Self {
        if let Action::SendSms(sms) = &mut self {
            sms.template_id = Some(template_id.into());
        }
        self
    }

    /// Sends an SMS from the project's sender number `sender_id` instead of
    /// its default; a disposition is left as it is.
    pub fn from_sender(mut self, sender_id: impl Into<String>) -> Self {
        if let Action::SendSms(sms) = &mut self {
            sms.sender_id = Some(sender_id.into());
        }
        self
    }

    fn new(record_id: u64, disposition: Disposition) -> Self {
        Action::SetDisposition(SetDisposition {
            record_id,
            disposition,
            note: None,
        })
    }

    /// The record the action is for.
    pub fn record_id(&self) -> u64 {
        match self {
            Action::SetDisposition(set) => set.record_id,
            Action::SendSms(sms) => sms.record_id,
        }
    }

    /// The next call date this action sets, if any.
    pub fn next_calldate(&self) -> Option<Timestamp> {
        match self {
            Action::SetDisposition(set) => match &set.disposition {
                Disposition::SharedCallback(at) => Some(*at),
                Disposition::Discard => None,
                Disposition::Custom(custom) => custom.next_calldate,
            },
            Action::SendSms(_) => None,
        }
    }

    /// The note for the record's event list, if any.
    pub fn note(&self) -> Option<&str> {
        match self {
            Action::SetDisposition(set) => set.note.as_deref(),
            Action::SendSms(_) => None,
        }
    }
}
