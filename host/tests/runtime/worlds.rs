//! Every published version of the world runs side by side: the committed
//! 0.1.0 components (built by the SDK of that time) load as 0.1.0 and
//! decide exactly as the current example plugins, built for 0.2.0, do on
//! the same events; 0.2.0 components can ask for an SMS (its text is held
//! to the answer limits: `hostile.rs`).

use smstrigger_host::model::{Action, DeliveryStatus, Disposition, RecordId, SendSms};
use smstrigger_host::runtime::{Error, WorldVersion};
use smstrigger_test_components as components;
use smstrigger_test_components::v0_1_0;

use super::*;

const PHONE: &str = "+36301234567";

/// Runs the 0.1.0 fixture and the current build of the same plugin on
/// `event`; they must answer and log alike. Returns the answer.
fn alike(first: &str, current: &str, event: &SmsEvent, config: &[(&str, &str)]) -> Outcome {
    let old = invoke(&load(first), event, config);
    let new = invoke(&load(current), event, config);
    assert_eq!(old.result, new.result, "answers differ on {event:?}");
    assert_eq!(old.logs, new.logs, "logs differ on {event:?}");
    old
}

#[test]
fn each_component_runs_in_the_world_it_was_built_for() {
    for path in [v0_1_0::DELIVERED_FOLLOWUP, v0_1_0::KEYWORD_DISPOSITION] {
        assert_eq!(load(path).world(), WorldVersion::V0_1_0, "{path}");
    }
    assert_eq!(
        load(components::KEYWORD_DISPOSITION_JS).world(),
        WorldVersion::V0_1_0
    );
    for (name, path) in components::ALL {
        assert_eq!(load(path).world(), WorldVersion::V0_2_0, "{name}");
    }
    assert_eq!(
        load(components::HOSTILE_PLUGIN).world(),
        WorldVersion::V0_2_0
    );
}

#[test]
fn a_0_1_0_receipt_rule_decides_as_it_always_did() {
    let contact = record(11, PHONE);
    let at = local("2026-12-01 10:00");
    let delivered = outbound(&contact, DeliveryStatus::Delivered, at);
    let outcome = alike(
        v0_1_0::DELIVERED_FOLLOWUP,
        components::DELIVERED_FOLLOWUP,
        &delivered,
        &[],
    );
    let actions = outcome.result.expect("the plugin answers");
    assert_eq!(actions.len(), 1);
    let set = actions[0].set_disposition().expect("a disposition");
    assert_eq!(set.record_id, RecordId(11));
    assert_eq!(
        set.disposition,
        Disposition::SharedCallback {
            at: local("2026-12-03 10:00")
        }
    );
    let configured = [("delay_hours", "24"), ("disposition_id", "31")];
    for status in [
        DeliveryStatus::Sent,
        DeliveryStatus::NotTraceable,
        DeliveryStatus::Delivered,
    ] {
        let event = outbound(&contact, status, at);
        alike(
            v0_1_0::DELIVERED_FOLLOWUP,
            components::DELIVERED_FOLLOWUP,
            &event,
            &configured,
        );
    }
}

#[test]
fn a_0_1_0_keyword_rule_decides_as_it_always_did() {
    let config = [("keywords", "CALLBACK=2@30m, PAID=41, WRONG NUMBER=42")];
    let first = record(6, PHONE);
    let second = record(7, PHONE);
    let at = local("2026-12-01 10:00");
    for message in ["paid", "Callback!", "wrong number", "hello", ""] {
        let event = inbound(&[&first, &second], PHONE, message, at);
        alike(
            v0_1_0::KEYWORD_DISPOSITION,
            components::KEYWORD_DISPOSITION,
            &event,
            &config,
        );
    }
    let paid = inbound(&[&first], PHONE, "PAID", at);
    let outcome = alike(
        v0_1_0::KEYWORD_DISPOSITION,
        components::KEYWORD_DISPOSITION,
        &paid,
        &config,
    );
    let actions = outcome.result.expect("the plugin answers");
    assert_eq!(
        actions[0].set_disposition().map(|set| set.disposition),
        Some(Disposition::Custom {
            id: 41,
            next_calldate: None
        })
    );
    // A malformed configuration fails both alike, with the same message.
    let broken = alike(
        v0_1_0::KEYWORD_DISPOSITION,
        components::KEYWORD_DISPOSITION,
        &paid,
        &[("keywords", "PAID")],
    );
    assert!(matches!(broken.result, Err(Error::Plugin { .. })));
}

#[test]
fn a_0_2_0_plugin_asks_for_an_sms() {
    let contact = record(11, PHONE);
    let event = outbound(
        &contact,
        DeliveryStatus::Delivered,
        local("2026-12-01 10:00"),
    );
    let outcome = invoke(
        &load(components::HOSTILE_PLUGIN),
        &event,
        &[("attack", "sms"), ("text", "When may we call you?")],
    );
    assert_eq!(
        outcome.result.expect("the plugin answers"),
        vec![Action::SendSms(SendSms {
            record_id: RecordId(11),
            text: "When may we call you?".into(),
            sender_id: None,
            template_id: Some("hostile".into()),
        })]
    );
}
