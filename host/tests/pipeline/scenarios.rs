//! The seed's four scenarios and the keyword rule through the real
//! pipeline, on each back end; each record's event list shows what
//! DESIGN.md says.

use smstrigger_host::actions::CallingHoursPolicy;
use smstrigger_host::model::{DeliveryStatus, SHARED_CALLBACK_ID};
use smstrigger_test_components as components;

use super::*;

const PHONE: &str = "+36301234567";

on_both!(
    not_traceable_sets_a_shared_callback_an_hour_later,
    delivered_sets_a_shared_callback_48_hours_later,
    a_reply_with_a_time_sets_a_callback_then_on_every_matching_record,
    a_promised_payment_date_sets_a_callback_the_morning_after,
    a_keyword_sets_its_inactive_custom_disposition,
    a_callback_after_hours_is_shifted_to_the_next_morning,
    a_callback_after_hours_is_rejected_when_the_project_says_reject,
    a_time_in_the_spring_gap_sets_nothing_and_the_decision_says_why,
    a_time_in_the_autumn_fold_takes_the_earlier_instant,
);

/// The single event-list entry of a record, checked for the fields every
/// plugin action writes.
fn only_entry(fixture: &Fixture, record: RecordId, plugin: &str) -> RecordEvent {
    let events = fixture.events_of(record);
    assert_eq!(events.len(), 1, "{events:#?}");
    let entry = events.into_iter().next().unwrap();
    assert_eq!(entry.event_type, "SMS");
    assert_eq!(entry.user, "System");
    assert_eq!(entry.plugin.as_deref(), Some(plugin));
    assert_eq!(entry.plugin_version, Some(1));
    entry
}

fn not_traceable_sets_a_shared_callback_an_hour_later(place: Place) {
    let f = Fixture::on(place);
    f.install(
        f.tenant,
        "not-traceable-callback",
        components::NOT_TRACEABLE_CALLBACK,
    );
    f.bind(&[("not-traceable-callback", 10, &[])]);
    let customer = f.record(PHONE);
    f.status(
        customer.id,
        "m-1",
        DeliveryStatus::NotTraceable,
        local("2026-12-01 10:00"),
    );
    f.drain();
    let entry = only_entry(&f, customer.id, "not-traceable-callback");
    assert_eq!(entry.disposition_id, Some(SHARED_CALLBACK_ID));
    assert_eq!(entry.next_calldate, Some(local("2026-12-01 11:00")));
    let stored = f.store.record(f.tenant, customer.id).unwrap();
    assert_eq!(stored.disposition_id, Some(SHARED_CALLBACK_ID));
    assert_eq!(stored.next_calldate, Some(local("2026-12-01 11:00")));
}

fn delivered_sets_a_shared_callback_48_hours_later(place: Place) {
    let f = Fixture::on(place);
    f.install(
        f.tenant,
        "delivered-followup",
        components::DELIVERED_FOLLOWUP,
    );
    f.bind(&[("delivered-followup", 10, &[])]);
    let customer = f.record(PHONE);
    f.status(
        customer.id,
        "m-1",
        DeliveryStatus::Delivered,
        local("2026-12-01 10:00"),
    );
    f.drain();
    let entry = only_entry(&f, customer.id, "delivered-followup");
    assert_eq!(entry.next_calldate, Some(local("2026-12-03 10:00")));
}

fn a_reply_with_a_time_sets_a_callback_then_on_every_matching_record(place: Place) {
    let f = Fixture::on(place);
    f.install(f.tenant, "reply-call-time", components::REPLY_CALL_TIME);
    f.bind(&[("reply-call-time", 10, &[])]);
    let first = f.record(PHONE);
    let second = f.record("06 30 123 4567"); // the same phone, typed nationally
    f.inbound(
        "36301234567",
        "hívjanak 2026-12-01 14:30",
        local("2026-11-28 09:00"),
    );
    f.drain();
    for record in [first.id, second.id] {
        let entry = only_entry(&f, record, "reply-call-time");
        assert_eq!(entry.next_calldate, Some(local("2026-12-01 14:30")));
    }
}

fn a_promised_payment_date_sets_a_callback_the_morning_after(place: Place) {
    let f = Fixture::on(place);
    f.install(f.tenant, "promise-to-pay", components::PROMISE_TO_PAY);
    f.bind(&[("promise-to-pay", 10, &[])]);
    let customer = f.record(PHONE);
    f.inbound(PHONE, "I pay on 2025-12-31", local("2025-12-10 09:00"));
    f.drain();
    let entry = only_entry(&f, customer.id, "promise-to-pay");
    assert_eq!(entry.next_calldate, Some(local("2026-01-01 08:00")));
}

fn a_keyword_sets_its_inactive_custom_disposition(place: Place) {
    let f = Fixture::on(place);
    f.install(
        f.tenant,
        "keyword-disposition",
        components::KEYWORD_DISPOSITION,
    );
    f.bind(&[("keyword-disposition", 10, &[("keywords", "PAID=41")])]);
    let customer = f.record(PHONE);
    f.inbound(PHONE, "Paid!", local("2026-12-01 10:00"));
    f.drain();
    let entry = only_entry(&f, customer.id, "keyword-disposition");
    assert_eq!(entry.disposition_id, Some(41));
    assert_eq!(entry.next_calldate, None);
}

fn a_callback_after_hours_is_shifted_to_the_next_morning(place: Place) {
    let f = Fixture::on(place);
    f.install(f.tenant, "reply-call-time", components::REPLY_CALL_TIME);
    f.bind(&[("reply-call-time", 10, &[])]);
    let customer = f.record(PHONE);
    let id = accepted(f.inbound(PHONE, "2026-12-01 21:00", local("2026-11-28 09:00")));
    f.drain();
    let entry = only_entry(&f, customer.id, "reply-call-time");
    assert_eq!(entry.next_calldate, Some(local("2026-12-02 08:00")));
    assert_eq!(f.verdicts(id)[0]["reason"], "shifted_to_calling_hours");
}

fn a_callback_after_hours_is_rejected_when_the_project_says_reject(place: Place) {
    let f = Fixture::with_policy(place, CallingHoursPolicy::Reject);
    f.install(f.tenant, "reply-call-time", components::REPLY_CALL_TIME);
    f.bind(&[("reply-call-time", 10, &[])]);
    let customer = f.record(PHONE);
    let id = accepted(f.inbound(PHONE, "2026-12-01 21:00", local("2026-11-28 09:00")));
    f.drain();
    assert_eq!(f.events_of(customer.id), vec![]);
    let verdict = &f.verdicts(id)[0];
    assert_eq!(verdict["accepted"], false);
    assert_eq!(verdict["reason"], "outside_calling_hours");
}

fn a_time_in_the_spring_gap_sets_nothing_and_the_decision_says_why(place: Place) {
    let f = Fixture::on(place);
    f.install(f.tenant, "reply-call-time", components::REPLY_CALL_TIME);
    f.bind(&[("reply-call-time", 10, &[])]);
    let customer = f.record(PHONE);
    let id = accepted(f.inbound(PHONE, "2026-03-29 02:30", local("2026-03-20 09:00")));
    f.drain();
    assert_eq!(f.events_of(customer.id), vec![]);
    let decision = &f.event(id).decisions[0];
    assert_eq!(
        decision.outcome,
        smstrigger_host::model::DecisionOutcome::Ok
    );
    assert!(
        decision.logs.to_string().contains("daylight saving"),
        "{}",
        decision.logs
    );
}

fn a_time_in_the_autumn_fold_takes_the_earlier_instant(place: Place) {
    let f = Fixture::on(place);
    let night_project = f
        .store
        .create_project(f.tenant, &{
            let mut s = settings(CallingHoursPolicy::Shift);
            s.calling_hours = None;
            s
        })
        .unwrap();
    f.install(f.tenant, "reply-call-time", components::REPLY_CALL_TIME);
    f.store
        .set_bindings(
            f.tenant,
            night_project.id,
            &[Binding {
                plugin: "reply-call-time".into(),
                priority: 1,
                config: Default::default(),
            }],
        )
        .unwrap();
    let customer = create_record(f.store.as_ref(), f.tenant, night_project.id, PHONE);
    f.pipeline
        .accept(
            f.tenant,
            inbound(
                night_project.id,
                PHONE,
                "2026-10-25 02:30",
                local("2026-10-20 09:00"),
            ),
        )
        .unwrap();
    f.drain();
    let entry = only_entry(&f, customer.id, "reply-call-time");
    // 02:30 happens twice; the earlier is 00:30 UTC (still summer time).
    assert_eq!(entry.next_calldate, Some(1_792_888_200));
}
