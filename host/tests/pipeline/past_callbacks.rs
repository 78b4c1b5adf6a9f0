//! The last check before execution: a callback whose next call date
//! passed between the event and its execution is not executed (the
//! default), or is moved to now, as the project's `pastCallbackPolicy`
//! says; a moved one then goes through calling hours as validation puts a
//! callback through them. The executor's clock is pinned and set by hand:
//! events decided "late", as after a backlog or an old event inside a wide
//! acceptance window.

use smstrigger_host::actions::PastCallbackPolicy;
use smstrigger_host::actions::execution_time::{
    MOVED_TO_NOW_AT_EXECUTION, OUTSIDE_CALLING_HOURS_AT_EXECUTION, PAST_AT_EXECUTION,
    SHIFTED_AT_EXECUTION,
};
use smstrigger_host::model::{DISCARD_ID, DeliveryStatus, EventState};
use smstrigger_test_components as components;

use super::*;

const PHONE: &str = "+36301234567";

/// When the receipts of these tests are stamped.
const RECEIPT: &str = "2026-12-01 11:00";
/// The callback `followup` sets for such a receipt: 48 hours on.
const CALLBACK: &str = "2026-12-03 11:00";

on_both!(
    reject_stays_the_default_and_a_past_callback_is_not_executed,
    under_now_a_past_callback_executes_at_the_executors_now,
    under_now_a_now_outside_calling_hours_shifts_to_the_next_slot,
    under_now_with_calling_hours_reject_a_now_outside_them_is_not_executed,
    under_now_a_discard_has_no_date_to_move_and_executes_untouched,
);

/// A fixture whose project (Budapest, calling hours 08:00–20:00 under
/// `hours`) treats past callbacks by `past`, with its executor's clock
/// pinned at `now` and a record.
fn late(
    place: Place,
    hours: CallingHoursPolicy,
    past: PastCallbackPolicy,
    now: &str,
) -> (Fixture, StoredRecord, Clock) {
    let f = Fixture::with_settings(
        place,
        ProjectSettings {
            past_callback_policy: past,
            ..settings(hours)
        },
    );
    let clock = Clock::pinned(local(now));
    let f = Fixture {
        pipeline: pipeline_at(&f.store, runtime(), clock.clone()),
        ..f
    };
    let customer = f.record(PHONE);
    (f, customer, clock)
}

/// Binds `followup` (a Shared Callback 48 hours after a delivery).
fn followup(f: &Fixture) {
    f.install(f.tenant, "followup", components::DELIVERED_FOLLOWUP);
    f.bind(&[("followup", 10, &[])]);
}

/// A delivery receipt for `record` stamped [`RECEIPT`], processed; its one
/// verdict.
fn delivered(f: &Fixture, record: RecordId, message_id: &str) -> serde_json::Value {
    let id = accepted(f.status(
        record,
        message_id,
        DeliveryStatus::Delivered,
        local(RECEIPT),
    ));
    f.drain();
    assert_eq!(f.event(id).state, EventState::Done);
    let verdicts = f.verdicts(id);
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    let verdict = verdicts[0].clone();
    assert_eq!(verdict["accepted"], true, "decided as it was: {verdict}");
    assert_eq!(
        verdict["action"]["disposition"]["at"],
        local(CALLBACK),
        "the decision keeps the plugin's date: {verdict}"
    );
    verdict
}

/// Asserts `verdict` executed with its callback moved from [`CALLBACK`] to
/// `next` by the executor at `now`, for the reason `code`.
#[track_caller]
fn assert_moved(verdict: &serde_json::Value, code: &str, next: &str, now: &str) {
    assert_eq!(verdict["executed"], true, "{verdict}");
    assert!(verdict.get("executionError").is_none(), "{verdict}");
    let moved = &verdict["executionMove"];
    assert_eq!(moved["code"], code, "{verdict}");
    assert_eq!(moved["movedFrom"], local(CALLBACK), "{verdict}");
    assert_eq!(moved["nextCalldate"], local(next), "{verdict}");
    assert_eq!(moved["executedAt"], local(now), "{verdict}");
}

#[track_caller]
fn assert_nothing_set(f: &Fixture, record: RecordId) {
    assert_eq!(f.events_of(record), []);
    let stored = f.store.record(f.tenant, record).unwrap();
    assert_eq!((stored.disposition_id, stored.next_calldate), (None, None));
}

#[track_caller]
fn assert_set_for(f: &Fixture, record: RecordId, at: &str) {
    let entries = f.events_of(record);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].next_calldate, Some(local(at)), "{entries:?}");
    let stored = f.store.record(f.tenant, record).unwrap();
    assert_eq!(stored.next_calldate, Some(local(at)));
}

fn reject_stays_the_default_and_a_past_callback_is_not_executed(place: Place) {
    let unsaid: ProjectSettings = serde_json::from_value(serde_json::json!({
        "name": "p", "timeZone": BUDAPEST, "defaultCountry": "HU",
    }))
    .unwrap();
    assert_eq!(unsaid.past_callback_policy, PastCallbackPolicy::Reject);
    let (f, customer, _) = late(
        place,
        CallingHoursPolicy::Shift,
        PastCallbackPolicy::default(),
        "2026-12-04 09:00",
    );
    assert_eq!(
        f.project.settings.past_callback_policy,
        PastCallbackPolicy::Reject
    );
    followup(&f);
    let verdict = delivered(&f, customer.id, "m-1");
    assert_eq!(verdict["executed"], false, "{verdict}");
    assert_eq!(
        verdict["executionError"]["code"], PAST_AT_EXECUTION,
        "{verdict}"
    );
    assert!(verdict.get("executionMove").is_none(), "{verdict}");
    assert_nothing_set(&f, customer.id);
}

fn under_now_a_past_callback_executes_at_the_executors_now(place: Place) {
    let now = "2026-12-04 09:00";
    let (f, customer, _) = late(
        place,
        CallingHoursPolicy::Shift,
        PastCallbackPolicy::Now,
        now,
    );
    followup(&f);
    let verdict = delivered(&f, customer.id, "m-1");
    assert_moved(&verdict, MOVED_TO_NOW_AT_EXECUTION, now, now);
    assert_set_for(&f, customer.id, now);
}

fn under_now_a_now_outside_calling_hours_shifts_to_the_next_slot(place: Place) {
    let (f, customer, _) = late(
        place,
        CallingHoursPolicy::Shift,
        PastCallbackPolicy::Now,
        "2026-12-04 21:30",
    );
    followup(&f);
    let verdict = delivered(&f, customer.id, "m-1");
    let (next, now) = ("2026-12-05 08:00", "2026-12-04 21:30");
    assert_moved(&verdict, SHIFTED_AT_EXECUTION, next, now);
    assert_set_for(&f, customer.id, "2026-12-05 08:00");
}

fn under_now_with_calling_hours_reject_a_now_outside_them_is_not_executed(place: Place) {
    let (f, customer, clock) = late(
        place,
        CallingHoursPolicy::Reject,
        PastCallbackPolicy::Now,
        "2026-12-04 21:30",
    );
    followup(&f);
    let verdict = delivered(&f, customer.id, "m-1");
    assert_eq!(verdict["executed"], false, "{verdict}");
    let error = &verdict["executionError"];
    assert_eq!(
        error["code"], OUTSIDE_CALLING_HOURS_AT_EXECUTION,
        "{verdict}"
    );
    assert_eq!(error["nextCalldate"], local(CALLBACK), "{verdict}");
    assert!(
        error["message"].as_str().unwrap().contains("20:00"),
        "names the calling hours: {verdict}"
    );
    assert_nothing_set(&f, customer.id);

    // The same project in calling hours: the refusal was the hour's.
    let now = "2026-12-05 09:00";
    clock.set(local(now));
    let verdict = delivered(&f, customer.id, "m-2");
    assert_eq!(verdict["executionMove"]["code"], MOVED_TO_NOW_AT_EXECUTION);
    assert_set_for(&f, customer.id, now);
}

fn under_now_a_discard_has_no_date_to_move_and_executes_untouched(place: Place) {
    let (f, customer, _) = late(
        place,
        CallingHoursPolicy::Reject,
        PastCallbackPolicy::Now,
        "2026-12-20 21:30",
    );
    f.install(f.tenant, "discard", components::HOSTILE_PLUGIN);
    let id = customer.id.to_string();
    f.bind(&[(
        "discard",
        10,
        &[("attack", "foreign-record"), ("record_id", id.as_str())],
    )]);
    let event = accepted(f.status(
        customer.id,
        "m-1",
        DeliveryStatus::Delivered,
        local(RECEIPT),
    ));
    f.drain();
    let verdicts = f.verdicts(event);
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    let verdict = &verdicts[0];
    assert_eq!(verdict["accepted"], true, "{verdict}");
    for untouched in ["executed", "executionMove", "executionError"] {
        assert!(verdict.get(untouched).is_none(), "{untouched}: {verdict}");
    }
    let entries = f.events_of(customer.id);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (entries[0].disposition_id, entries[0].next_calldate),
        (Some(DISCARD_ID), None)
    );
}
