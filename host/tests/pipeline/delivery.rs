//! Delivery semantics: provider retries, out-of-order receipts, opt-out
//! precedence, and fair scheduling between tenants; on each back end,
//! but for what looks under the SQLite file.

use smstrigger_host::model::DeliveryStatus;
use smstrigger_host::pipeline::{OPT_IN_DECIDER, OPT_OUT_DECIDER};
use smstrigger_test_components as components;

use super::*;

const PHONE: &str = "+36301234567";

on_both!(
    a_retried_webhook_is_acknowledged_and_not_processed_again,
    an_inbound_retry_without_a_message_id_is_still_a_duplicate,
    a_late_sent_never_overrides_delivered,
    a_late_not_traceable_never_overrides_delivered,
    sent_then_delivered_processes_both,
    stop_opts_out_before_any_plugin_and_a_later_yes_does_not_resubscribe,
    start_re_subscribes_an_opt_out_but_not_a_number_the_tenant_listed,
    a_burst_of_one_tenant_does_not_hold_back_another_tenants_event,
    the_next_event_runs_what_was_activated_rolled_back_or_bound_since,
    a_callback_already_past_when_it_executes_is_not_set_and_the_verdict_says_why,
);

fn a_retried_webhook_is_acknowledged_and_not_processed_again(place: Place) {
    let f = Fixture::on(place);
    f.install(
        f.tenant,
        "not-traceable-callback",
        components::NOT_TRACEABLE_CALLBACK,
    );
    f.bind(&[("not-traceable-callback", 10, &[])]);
    let customer = f.record(PHONE);
    let at = local("2026-12-01 10:00");
    let first = accepted(f.status(customer.id, "m-1", DeliveryStatus::NotTraceable, at));
    f.drain();
    let again = f.status(customer.id, "m-1", DeliveryStatus::NotTraceable, at);
    assert_eq!(again, Journaled::Duplicate(first));
    f.drain();
    assert_eq!(f.events_of(customer.id).len(), 1);
    assert_eq!(f.store.pending_count().unwrap(), 0);
}

fn an_inbound_retry_without_a_message_id_is_still_a_duplicate(place: Place) {
    let f = Fixture::on(place);
    f.record(PHONE);
    let at = local("2026-12-01 10:00");
    let first = accepted(f.inbound(PHONE, "YES", at));
    assert_eq!(
        f.inbound("06301234567", "YES", at),
        Journaled::Duplicate(first)
    );
}

fn a_late_sent_never_overrides_delivered(place: Place) {
    let f = Fixture::on(place);
    f.install(
        f.tenant,
        "delivered-followup",
        components::DELIVERED_FOLLOWUP,
    );
    f.bind(&[("delivered-followup", 10, &[])]);
    let customer = f.record(PHONE);
    let at = local("2026-12-01 10:00");
    accepted(f.status(customer.id, "m-1", DeliveryStatus::Delivered, at));
    let late = f.status(customer.id, "m-1", DeliveryStatus::Sent, at - 60);
    assert!(matches!(late, Journaled::Superseded(_)), "{late:?}");
    f.drain();
    assert_eq!(
        f.event(late.event_id()).state,
        smstrigger_host::model::EventState::Superseded
    );
    assert_eq!(f.events_of(customer.id).len(), 1);
}

/// Delivered is final: a `not_traceable` after it (the provider's late
/// or confused receipt) is superseded too, and the 48-hour callback stays;
/// a `delivered` after `not_traceable` is processed and replaces it.
fn a_late_not_traceable_never_overrides_delivered(place: Place) {
    let f = Fixture::on(place);
    f.install(
        f.tenant,
        "delivered-followup",
        components::DELIVERED_FOLLOWUP,
    );
    f.install(
        f.tenant,
        "not-traceable-callback",
        components::NOT_TRACEABLE_CALLBACK,
    );
    f.bind(&[
        ("delivered-followup", 10, &[]),
        ("not-traceable-callback", 5, &[]),
    ]);
    let customer = f.record(PHONE);
    let at = local("2026-12-01 10:00");
    accepted(f.status(customer.id, "m-1", DeliveryStatus::Delivered, at));
    let late = f.status(customer.id, "m-1", DeliveryStatus::NotTraceable, at + 60);
    assert!(matches!(late, Journaled::Superseded(_)), "{late:?}");
    f.drain();
    let entries = f.events_of(customer.id);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].plugin.as_deref(), Some("delivered-followup"));

    let other = f.record("+36307654321");
    accepted(f.status(other.id, "m-2", DeliveryStatus::NotTraceable, at));
    accepted(f.status(other.id, "m-2", DeliveryStatus::Delivered, at + 60));
    f.drain();
    let plugins: Vec<Option<String>> = f
        .events_of(other.id)
        .into_iter()
        .map(|entry| entry.plugin)
        .collect();
    assert_eq!(
        plugins,
        [
            Some("not-traceable-callback".to_string()),
            Some("delivered-followup".to_string())
        ]
    );
}

fn sent_then_delivered_processes_both(place: Place) {
    let f = Fixture::on(place);
    f.install(
        f.tenant,
        "delivered-followup",
        components::DELIVERED_FOLLOWUP,
    );
    f.bind(&[("delivered-followup", 10, &[])]);
    let customer = f.record(PHONE);
    let at = local("2026-12-01 10:00");
    let sent = accepted(f.status(customer.id, "m-1", DeliveryStatus::Sent, at));
    let delivered = accepted(f.status(customer.id, "m-1", DeliveryStatus::Delivered, at + 5));
    f.drain();
    assert_eq!(
        f.event(sent).state,
        smstrigger_host::model::EventState::Done
    );
    assert_eq!(
        f.event(delivered).state,
        smstrigger_host::model::EventState::Done
    );
    assert_eq!(f.events_of(customer.id).len(), 1, "only delivered acts");
}

fn stop_opts_out_before_any_plugin_and_a_later_yes_does_not_resubscribe(place: Place) {
    let f = Fixture::on(place);
    f.install(f.tenant, "promise-to-pay", components::PROMISE_TO_PAY);
    f.bind(&[("promise-to-pay", 10, &[])]);
    let customer = f.record(PHONE);
    let stop = accepted(f.inbound(PHONE, " stop ", local("2026-12-01 10:00")));
    let yes = accepted(f.inbound(PHONE, "YES", local("2026-12-01 10:05")));
    f.drain();
    let decisions = f.event(stop).decisions;
    assert_eq!(decisions[0].plugin, OPT_OUT_DECIDER);
    assert_eq!(
        decisions[0].outcome,
        smstrigger_host::model::DecisionOutcome::OptedOut
    );
    assert_eq!(
        f.store.do_not_contact(f.tenant, &[PHONE.into()]).unwrap(),
        vec![PHONE.to_string()]
    );
    let verdict = &f.verdicts(yes)[0];
    assert_eq!(verdict["accepted"], false);
    assert_eq!(verdict["reason"], "do_not_contact");
    assert_eq!(f.events_of(customer.id), vec![]);
}

/// `START` (or `UNSTOP`) takes an opt-out back off the list, effective for
/// the next message; `YES` never did. A number the tenant listed itself
/// (a regulator's list, say) stays whatever its owner texts.
fn start_re_subscribes_an_opt_out_but_not_a_number_the_tenant_listed(place: Place) {
    let f = Fixture::on(place);
    f.install(f.tenant, "promise-to-pay", components::PROMISE_TO_PAY);
    f.bind(&[("promise-to-pay", 10, &[])]);
    let customer = f.record(PHONE);
    accepted(f.inbound(PHONE, "Opt-out!", local("2026-12-01 10:00")));
    let start = accepted(f.inbound(PHONE, "'Start'", local("2026-12-01 10:05")));
    let yes = accepted(f.inbound(PHONE, "YES", local("2026-12-01 10:10")));
    f.drain();
    let decisions = f.event(start).decisions;
    assert_eq!(decisions[0].plugin, OPT_IN_DECIDER);
    assert_eq!(
        decisions[0].outcome,
        smstrigger_host::model::DecisionOutcome::OptedIn
    );
    assert!(
        f.store
            .do_not_contact(f.tenant, &[PHONE.into()])
            .unwrap()
            .is_empty()
    );
    assert_eq!(f.verdicts(yes)[0]["accepted"], true);
    assert_eq!(f.events_of(customer.id).len(), 1);

    let listed = "+36307654321";
    f.record(listed);
    f.store.add_do_not_contact(f.tenant, listed).unwrap();
    accepted(f.inbound(listed, "UNSTOP", local("2026-12-01 10:20")));
    f.drain();
    assert_eq!(
        f.store.do_not_contact(f.tenant, &[listed.into()]).unwrap(),
        vec![listed.to_string()]
    );
}

fn a_burst_of_one_tenant_does_not_hold_back_another_tenants_event(place: Place) {
    let f = Fixture::on(place);
    let other = f.store.create_tenant("globex", "s2").unwrap().id;
    let other_project = f
        .store
        .create_project(other, &settings(Default::default()))
        .unwrap();
    f.record(PHONE);
    create_record(f.store.as_ref(), other, other_project.id, PHONE);
    let at = local("2026-12-01 10:00");
    // More than one batch (512) of the busy tenant.
    for i in 0..2_000 {
        f.inbound(&format!("+3630{:07}", i), "hello", at);
    }
    let single = accepted(
        f.pipeline
            .accept(other, inbound(other_project.id, PHONE, "hello", at))
            .unwrap(),
    );
    let mut batches = 0;
    while f.store.event(other, single).unwrap().state == smstrigger_host::model::EventState::Pending
    {
        assert!(f.pipeline.process_batch().unwrap() > 0);
        batches += 1;
    }
    assert_eq!(
        batches, 1,
        "the other tenant's event waited {batches} batches"
    );
    assert!(
        f.store.pending_count().unwrap() > 1_000,
        "the burst is still mostly pending"
    );
}

/// The pipeline keeps a project's bindings in memory; every change to
/// what runs (a new active version, a rollback, new bindings) must reach
/// the very next event.
fn the_next_event_runs_what_was_activated_rolled_back_or_bound_since(place: Place) {
    let f = Fixture::on(place);
    f.install(f.tenant, "rule", components::DELIVERED_FOLLOWUP);
    f.bind(&[("rule", 10, &[])]);
    let customer = f.record(PHONE);
    let at = local("2026-12-01 10:00");
    let mut receipt = 0;
    let mut versions_ran = || {
        receipt += 1;
        let id = accepted(f.status(
            customer.id,
            &format!("m-{receipt}"),
            DeliveryStatus::Delivered,
            at,
        ));
        f.drain();
        f.event(id)
            .decisions
            .iter()
            .map(|d| (d.plugin.clone(), d.version))
            .collect::<Vec<_>>()
    };
    assert_eq!(versions_ran(), [("rule".to_string(), Some(1))]);
    let second = f.install(f.tenant, "rule", components::NOT_TRACEABLE_CALLBACK);
    assert_eq!(versions_ran(), [("rule".to_string(), Some(second))]);
    f.store.rollback_plugin(f.tenant, "rule").unwrap();
    assert_eq!(versions_ran(), [("rule".to_string(), Some(1))]);
    f.bind(&[]);
    assert_eq!(versions_ran(), []);
}

fn a_callback_already_past_when_it_executes_is_not_set_and_the_verdict_says_why(place: Place) {
    let f = Fixture::on(place);
    // The executor's clock, moved by hand: events decided "late", as after
    // a backlog or an old event inside a wide acceptance window.
    let clock = Clock::pinned(local("2026-12-01 10:00"));
    let f = Fixture {
        pipeline: pipeline_at(&f.store, runtime(), clock.clone()),
        ..f
    };
    f.install(f.tenant, "followup", components::DELIVERED_FOLLOWUP);
    f.install(f.tenant, "keywords", components::KEYWORD_DISPOSITION);
    f.bind(&[
        ("followup", 20, &[]),
        ("keywords", 10, &[("keywords", "PAID=41")]),
    ]);
    let customer = f.record(PHONE);
    let on_time = accepted(f.status(
        customer.id,
        "m-1",
        DeliveryStatus::Delivered,
        local("2026-12-01 10:00"),
    ));
    f.drain();
    assert_eq!(f.verdicts(on_time)[0].get("executed"), None);
    let callback = Some(local("2026-12-03 10:00"));
    assert_eq!(f.events_of(customer.id)[0].next_calldate, callback);

    clock.set(local("2026-12-04 09:00"));
    let late = accepted(f.status(
        customer.id,
        "m-2",
        DeliveryStatus::Delivered,
        local("2026-12-01 11:00"),
    ));
    f.drain();
    assert_eq!(
        f.event(late).state,
        smstrigger_host::model::EventState::Done
    );
    let verdict = &f.verdicts(late)[0];
    assert_eq!(verdict["accepted"], true, "decided as it was: {verdict}");
    assert_eq!(verdict["executed"], false, "{verdict}");
    assert_eq!(
        verdict["executionError"]["code"], "time_in_past_at_execution",
        "{verdict}"
    );
    // The record keeps its later callback.
    assert_eq!(f.events_of(customer.id).len(), 1);
    let stored = f.store.record(f.tenant, customer.id).unwrap();
    assert_eq!(stored.next_calldate, callback);

    // A disposition without a date has nothing to be late for: it executes.
    let paid = accepted(f.inbound(PHONE, "PAID", local("2026-12-01 11:05")));
    f.drain();
    assert_eq!(f.verdicts(paid)[0].get("executed"), None);
    let entries = f.events_of(customer.id);
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[1].disposition_id, Some(41));
}

/// A binding's config is recorded for replays, once: 900 KB copied into
/// every decision once grew the database by 8.8 MB in 10 webhooks.
#[test]
fn a_bindings_config_is_stored_once_however_many_decisions_it_makes() {
    let f = Fixture::on(Place::sqlite());
    f.install(
        f.tenant,
        "not-traceable",
        components::NOT_TRACEABLE_CALLBACK,
    );
    let padding = "p".repeat(8 << 10);
    f.bind(&[("not-traceable", 10, &[("padding", padding.as_str())])]);
    let record = f.record("+36301234567");
    let at = local("2026-12-01 10:00");
    let ids: Vec<EventId> = (0..20)
        .map(|i| {
            accepted(f.status(
                record.id,
                &format!("m-{i}"),
                DeliveryStatus::NotTraceable,
                at,
            ))
        })
        .collect();
    f.drain();
    let Place::Sqlite(dir) = &f.place else {
        unreachable!("a SQLite fixture")
    };
    let db = rusqlite::Connection::open(dir.path().join("smstrigger.db")).unwrap();
    let stored: i64 = db
        .query_row("SELECT COUNT(*) FROM binding_configs", [], |r| r.get(0))
        .unwrap();
    let copies: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM decisions WHERE length(config) > 100",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((stored, copies), (1, 0));
    for id in [ids[0], ids[19]] {
        let config = &f.event(id).decisions[0].config;
        assert_eq!(config["padding"], padding.as_str(), "read back whole");
    }
}
