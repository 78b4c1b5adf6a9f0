//! Maps between the generated WIT types and [`crate::model`].
//!
//! The only place that knows both; keeps the generated types inside
//! `runtime`.

use super::bindings::wit_types as wit;
use crate::model::{
    Action, ContactRecord, DeliveryStatus, Disposition, InboundSms, OutboundStatus, RecordId,
    SmsEvent,
};

pub(crate) fn event_to_wit(event: &SmsEvent) -> wit::SmsEvent {
    match event {
        SmsEvent::Outbound(status) => wit::SmsEvent::Outbound(outbound_to_wit(status)),
        SmsEvent::Inbound(sms) => wit::SmsEvent::Inbound(inbound_to_wit(sms)),
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

fn inbound_to_wit(sms: &InboundSms) -> wit::InboundSms {
    wit::InboundSms {
        message_id: sms.message_id.clone(),
        project_id: sms.project_id.0,
        source_phone_number: sms.source_phone_number.clone(),
        message: sms.message.clone(),
        timestamp: sms.timestamp,
        matches: sms.matches.iter().map(record_to_wit).collect(),
    }
}

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

pub(crate) fn action_from_wit(action: wit::Action) -> Action {
    Action {
        record_id: RecordId(action.record_id),
        disposition: match action.disposition {
            wit::Disposition::SharedCallback(at) => Disposition::SharedCallback { at },
            wit::Disposition::Discard => Disposition::Discard,
            wit::Disposition::Custom(custom) => Disposition::Custom {
                id: custom.id,
                next_calldate: custom.next_calldate,
            },
        },
        note: action.note,
    }
}
