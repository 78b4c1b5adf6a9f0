//! Maps between the generated WIT types of each world version and
//! [`crate::model`].
//!
//! The only place that knows both; keeps the generated types inside
//! `runtime`. The two versions share every type 0.1.0 has, so each
//! conversion is written once, as a macro over the version's module.

use super::bindings::{v1, v2};
use crate::model::{
    Action, Assessment, CallDirection, CallDisposition, ContactRecord, DeliveryStatus, Disposition,
    InboundSms, OutboundStatus, RecordId, SendSms, SentSms, SetDisposition, SmsEvent,
};

/// The conversions of the types both versions have, for version `$wit`.
macro_rules! shared {
    ($wit:path) => {
        use $wit as wit;

        pub(crate) fn record_to_wit(record: &ContactRecord) -> wit::ContactRecord {
            wit::ContactRecord {
                id: record.id.0,
                project_id: record.project_id.0,
                phone: record.phone.clone(),
                time_zone: record.time_zone.clone(),
                fields: record.fields.clone(),
                last_disposition: record.last_disposition,
            }
        }

        fn outbound_to_wit(status: &OutboundStatus) -> wit::OutboundStatus {
            wit::OutboundStatus {
                message_id: status.message_id.clone(),
                project_id: status.project_id.0,
                contact: record_to_wit(&status.contact),
                status: match status.status {
                    DeliveryStatus::Sent => wit::DeliveryStatus::Sent,
                    DeliveryStatus::Delivered => wit::DeliveryStatus::Delivered,
                    DeliveryStatus::NotTraceable => wit::DeliveryStatus::NotTraceable,
                },
                template_id: status.template_id.clone(),
                timestamp: status.timestamp,
            }
        }

        fn set_disposition_from_wit(
            record_id: u64,
            disposition: wit::Disposition,
            note: Option<String>,
        ) -> Action {
            Action::SetDisposition(SetDisposition {
                record_id: RecordId(record_id),
                disposition: match disposition {
                    wit::Disposition::SharedCallback(at) => Disposition::SharedCallback { at },
                    wit::Disposition::Discard => Disposition::Discard,
                    wit::Disposition::Custom(custom) => Disposition::Custom {
                        id: custom.id,
                        next_calldate: custom.next_calldate,
                    },
                },
                note,
            })
        }
    };
}

/// World 0.2.0.
pub(crate) mod current {
    use super::*;
    shared!(v2::wit_types);

    pub(crate) fn event_to_wit(event: &SmsEvent) -> wit::Event {
        match event {
            SmsEvent::Outbound(status) => wit::Event::Outbound(outbound_to_wit(status)),
            SmsEvent::Inbound(sms) => wit::Event::Inbound(inbound_to_wit(sms)),
            SmsEvent::CallDisposition(call) => wit::Event::CallDisposition(call_to_wit(call)),
        }
    }

    fn call_to_wit(call: &CallDisposition) -> wit::CallDisposition {
        wit::CallDisposition {
            call_id: call.call_id.clone(),
            project_id: call.project_id.0,
            contact: record_to_wit(&call.contact),
            disposition: wit::CallOutcome {
                id: call.disposition.id,
                name: call.disposition.name.clone(),
                assessment: match call.disposition.assessment {
                    Assessment::Reached => wit::Assessment::Reached,
                    Assessment::GoalAchieved => wit::Assessment::GoalAchieved,
                    Assessment::NotReached => wit::Assessment::NotReached,
                },
            },
            direction: match call.direction {
                CallDirection::Outbound => wit::CallDirection::Outbound,
                CallDirection::Inbound => wit::CallDirection::Inbound,
            },
            attempts: call.attempts,
            first_attempt: call.first_attempt,
            agent: call.agent.clone(),
            timestamp: call.timestamp,
        }
    }

    fn inbound_to_wit(sms: &InboundSms) -> wit::InboundSms {
        wit::InboundSms {
            message_id: sms.message_id.clone(),
            project_id: sms.project_id.0,
            source_phone_number: sms.source_phone_number.clone(),
            message: sms.message.clone(),
            timestamp: sms.timestamp,
            matches: sms.matches.iter().map(record_to_wit).collect(),
            last_outbound: sms
                .last_outbound
                .as_ref()
                .map(|sent: &SentSms| wit::SentSms {
                    message_id: sent.message_id.clone(),
                    template_id: sent.template_id.clone(),
                    timestamp: sent.timestamp,
                }),
        }
    }

    pub(crate) fn action_from_wit(action: wit::Action) -> Action {
        match action {
            wit::Action::SetDisposition(set) => {
                set_disposition_from_wit(set.record_id, set.disposition, set.note)
            }
            wit::Action::SendSms(sms) => Action::SendSms(SendSms {
                record_id: RecordId(sms.record_id),
                text: sms.text,
                sender_id: sms.sender_id,
                template_id: sms.template_id,
            }),
        }
    }
}

/// World 0.1.0: SMS events only (what it has of them), dispositions only.
pub(crate) mod first {
    use super::*;
    shared!(v1::wit_types);

    /// `None` for a kind of event 0.1.0 does not have.
    pub(crate) fn event_to_wit(event: &SmsEvent) -> Option<wit::SmsEvent> {
        Some(match event {
            SmsEvent::CallDisposition(_) => return None,
            SmsEvent::Outbound(status) => wit::SmsEvent::Outbound(outbound_to_wit(status)),
            SmsEvent::Inbound(sms) => wit::SmsEvent::Inbound(wit::InboundSms {
                message_id: sms.message_id.clone(),
                project_id: sms.project_id.0,
                source_phone_number: sms.source_phone_number.clone(),
                message: sms.message.clone(),
                timestamp: sms.timestamp,
                matches: sms.matches.iter().map(record_to_wit).collect(),
            }),
        })
    }

    pub(crate) fn action_from_wit(action: wit::Action) -> Action {
        set_disposition_from_wit(action.record_id, action.disposition, action.note)
    }
}
