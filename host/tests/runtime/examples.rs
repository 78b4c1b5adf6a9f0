//! The seed's scenarios through the example plugins as real components, in
//! Europe/Budapest, including the DST weeks of 2026 (clocks forward on
//! 29 March, back on 25 October).

use smstrigger_host::model::{Action, DeliveryStatus, Disposition, RecordId, SetDisposition};
use smstrigger_host::runtime::LogLevel;
use smstrigger_test_components as components;

use super::*;

const PHONE: &str = "+36301234567";

fn shared_callback(outcome: &Outcome) -> Vec<(RecordId, Timestamp)> {
    let actions = outcome.result.as_ref().expect("the plugin answers");
    actions
        .iter()
        .map(|action| match action {
            Action::SetDisposition(SetDisposition {
                record_id,
                disposition: Disposition::SharedCallback { at },
                ..
            }) => (*record_id, *at),
            other => panic!("expected a Shared Callback, got {other:?}"),
        })
        .collect()
}

fn warned(outcome: &Outcome, needle: &str) -> bool {
    outcome
        .logs
        .iter()
        .any(|line| line.level == LogLevel::Warn && line.message.contains(needle))
}

#[test]
fn not_traceable_calls_back_an_hour_later_and_the_rest_do_nothing() {
    let plugin = load(components::NOT_TRACEABLE_CALLBACK);
    let customer = record(1, PHONE);
    let at = local("2026-12-01 10:00");
    let outcome = invoke(
        &plugin,
        &outbound(&customer, DeliveryStatus::NotTraceable, at),
        &[],
    );
    assert_eq!(
        shared_callback(&outcome),
        [(RecordId(1), local("2026-12-01 11:00"))]
    );
    for status in [DeliveryStatus::Sent, DeliveryStatus::Delivered] {
        let outcome = invoke(&plugin, &outbound(&customer, status, at), &[]);
        assert_eq!(outcome.result, Ok(vec![]), "{status:?}");
    }
}

#[test]
fn delivered_calls_back_48_real_hours_later_across_the_spring_change() {
    let plugin = load(components::DELIVERED_FOLLOWUP);
    let customer = record(2, PHONE);
    let delivered = outbound(
        &customer,
        DeliveryStatus::Delivered,
        local("2026-03-27 12:00"),
    );
    let outcome = invoke(&plugin, &delivered, &[]);
    // An hour is skipped on 29 March, so 48 real hours later reads 13:00.
    assert_eq!(
        shared_callback(&outcome),
        [(RecordId(2), local("2026-03-29 13:00"))]
    );
}

#[test]
fn delivered_calls_back_48_real_hours_later_across_the_autumn_change() {
    let plugin = load(components::DELIVERED_FOLLOWUP);
    let customer = record(2, PHONE);
    let delivered = outbound(
        &customer,
        DeliveryStatus::Delivered,
        local("2026-10-23 12:00"),
    );
    let outcome = invoke(&plugin, &delivered, &[("delay_hours", "48")]);
    assert_eq!(
        shared_callback(&outcome),
        [(RecordId(2), local("2026-10-25 11:00"))]
    );
}

#[test]
fn a_reply_with_a_call_time_calls_back_then_on_every_matching_record() {
    let plugin = load(components::REPLY_CALL_TIME);
    let budapest = record(3, PHONE);
    let london = record_in(4, PHONE, "Europe/London");
    let sms = inbound(
        &[&budapest, &london],
        PHONE,
        "Hívjanak 2026-12-01 14:30 után, köszönöm",
        local("2026-11-28 09:00"),
    );
    let outcome = invoke(&plugin, &sms, &[]);
    assert_eq!(
        shared_callback(&outcome),
        [
            (RecordId(3), local("2026-12-01 14:30")),
            (RecordId(4), local_in("2026-12-01 14:30", "Europe/London")),
        ]
    );
}

#[test]
fn a_reply_with_a_bad_call_time_does_nothing_and_says_why() {
    let plugin = load(components::REPLY_CALL_TIME);
    let customer = record(3, PHONE);
    let now = local("2026-03-20 09:00");
    for (message, why) in [
        ("call me 2026-02-30 10:00", "impossible"),
        ("call me 2026-03-29 02:30", "daylight saving"),
        ("call me 2026-03-01 10:00", "past"),
        ("call me 2026-3-25 10:00", "malformed"),
    ] {
        let outcome = invoke(&plugin, &inbound(&[&customer], PHONE, message, now), &[]);
        assert_eq!(outcome.result, Ok(vec![]), "{message}");
        assert!(warned(&outcome, why), "{message}: {:?}", outcome.logs);
    }
}

#[test]
fn a_promise_to_pay_calls_back_the_morning_after_the_date() {
    let plugin = load(components::PROMISE_TO_PAY);
    let customer = record(5, PHONE);
    let now = local("2025-12-10 09:00");
    for (message, expected) in [
        ("I will pay on 2025-12-31", "2026-01-01 08:00"),
        ("2028-02-28", "2028-02-29 08:00"),
    ] {
        let outcome = invoke(&plugin, &inbound(&[&customer], PHONE, message, now), &[]);
        assert_eq!(
            shared_callback(&outcome),
            [(RecordId(5), local(expected))],
            "{message}"
        );
    }
    // A date already over, or one with a time of day (a call time, not a
    // payment date), sets nothing.
    for (message, why) in [
        ("I paid on 2024-02-28", "already over"),
        ("call me 2025-12-11 14:30", "a call time"),
    ] {
        let outcome = invoke(&plugin, &inbound(&[&customer], PHONE, message, now), &[]);
        assert_eq!(outcome.result, Ok(vec![]), "{message}");
        assert!(
            outcome.logs.iter().any(|line| line.message.contains(why)),
            "{message}: {:?}",
            outcome.logs
        );
    }
}

#[test]
fn yes_calls_back_at_once_however_it_is_typed() {
    let plugin = load(components::PROMISE_TO_PAY);
    let customer = record(5, PHONE);
    let now = local("2026-12-01 10:00");
    for message in ["YES", "yes", " Yes. ", "yes!"] {
        let outcome = invoke(&plugin, &inbound(&[&customer], PHONE, message, now), &[]);
        assert_eq!(
            shared_callback(&outcome),
            [(RecordId(5), now)],
            "{message:?}"
        );
    }
    let outcome = invoke(
        &plugin,
        &inbound(&[&customer], PHONE, "yes, but later", now),
        &[],
    );
    assert_eq!(outcome.result, Ok(vec![]));
}

#[test]
fn a_keyword_sets_its_configured_disposition() {
    let plugin = load(components::KEYWORD_DISPOSITION);
    let customer = record(6, PHONE);
    let now = local("2026-12-01 10:00");
    let config = [("keywords", "PAID=41, CALLBACK=2@30m")];
    let outcome = invoke(
        &plugin,
        &inbound(&[&customer], PHONE, "paid.", now),
        &config,
    );
    let actions = outcome.result.unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(
        actions[0].set_disposition().unwrap().disposition,
        Disposition::Custom {
            id: 41,
            next_calldate: None
        }
    );
    let outcome = invoke(
        &plugin,
        &inbound(&[&customer], PHONE, "Callback", now),
        &config,
    );
    assert_eq!(shared_callback(&outcome), [(RecordId(6), now + 30 * 60)]);
}

#[test]
fn a_malformed_keyword_config_fails_with_the_plugins_reason() {
    let plugin = load(components::KEYWORD_DISPOSITION);
    let sms = inbound(
        &[&record(6, PHONE)],
        PHONE,
        "PAID",
        local("2026-12-01 10:00"),
    );
    let outcome = invoke(&plugin, &sms, &[("keywords", "PAID=forty-one")]);
    let err = outcome.result.unwrap_err();
    assert_eq!(err.code(), "plugin_error");
    assert!(err.to_string().contains("PAID"), "{err}");
}
