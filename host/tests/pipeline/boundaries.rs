//! Tenant boundaries: a plugin of one tenant tries to reach another
//! tenant's records, by id and by phone; on each back end.

use smstrigger_test_components as components;

use super::*;

const PHONE: &str = "+36301234567";

on_both!(
    an_action_on_another_tenants_record_is_out_of_scope,
    an_action_on_a_record_of_another_project_is_out_of_scope,
    find_records_never_returns_another_tenants_customers,
    find_records_finds_the_tenants_own_customers_in_any_spelling,
    a_failing_plugin_does_not_stop_the_others,
    a_lower_priority_plugin_is_overridden_on_the_same_record,
);

/// A second tenant with a project and a customer on the same phone.
fn victim(f: &Fixture) -> (TenantId, StoredRecord) {
    let tenant = f.store.create_tenant("victim", "s2").unwrap().id;
    let project = f
        .store
        .create_project(tenant, &settings(Default::default()))
        .unwrap();
    let record = create_record(f.store.as_ref(), tenant, project.id, "+36209876543");
    (tenant, record)
}

fn an_action_on_another_tenants_record_is_out_of_scope(place: Place) {
    let f = Fixture::on(place);
    let (victim_tenant, victim_record) = victim(&f);
    f.install(f.tenant, "hostile", components::HOSTILE_PLUGIN);
    let target = victim_record.id.0.to_string();
    f.bind(&[(
        "hostile",
        10,
        &[("attack", "foreign-record"), ("record_id", target.as_str())],
    )]);
    let own = f.record(PHONE);
    let id = f.delivered(own.id);
    let verdict = &f.verdicts(id)[0];
    assert_eq!(verdict["accepted"], false);
    assert_eq!(verdict["reason"], "record_out_of_scope");
    let untouched = f.store.record(victim_tenant, victim_record.id).unwrap();
    assert_eq!(untouched.disposition_id, None);
    assert_eq!(
        f.store
            .record_events(victim_tenant, victim_record.id)
            .unwrap(),
        vec![]
    );
}

fn an_action_on_a_record_of_another_project_is_out_of_scope(place: Place) {
    let f = Fixture::on(place);
    let other_project = f
        .store
        .create_project(f.tenant, &settings(Default::default()))
        .unwrap();
    let elsewhere = create_record(f.store.as_ref(), f.tenant, other_project.id, "+36209876543");
    f.install(f.tenant, "hostile", components::HOSTILE_PLUGIN);
    let target = elsewhere.id.0.to_string();
    f.bind(&[(
        "hostile",
        10,
        &[("attack", "foreign-record"), ("record_id", target.as_str())],
    )]);
    let own = f.record(PHONE);
    let id = f.delivered(own.id);
    assert_eq!(f.verdicts(id)[0]["reason"], "record_out_of_scope");
}

fn find_records_never_returns_another_tenants_customers(place: Place) {
    let f = Fixture::on(place);
    let (_, victim_record) = victim(&f);
    f.install(f.tenant, "hostile", components::HOSTILE_PLUGIN);
    f.bind(&[(
        "hostile",
        10,
        &[
            ("attack", "foreign-lookup"),
            ("phone", victim_record.phone.as_str()),
        ],
    )]);
    let own = f.record(PHONE);
    let id = f.delivered(own.id);
    let decision = &f.event(id).decisions[0];
    assert_eq!(
        decision.outcome,
        smstrigger_host::model::DecisionOutcome::Ok
    );
    assert_eq!(
        decision.verdicts,
        serde_json::json!([]),
        "the lookup found nothing"
    );
}

fn find_records_finds_the_tenants_own_customers_in_any_spelling(place: Place) {
    let f = Fixture::on(place);
    f.install(f.tenant, "hostile", components::HOSTILE_PLUGIN);
    f.bind(&[(
        "hostile",
        10,
        &[("attack", "foreign-lookup"), ("phone", "06 30 123 4567")],
    )]);
    let own = f.record(PHONE);
    let id = f.delivered(own.id);
    assert_eq!(f.verdicts(id)[0]["accepted"], true);
}

fn a_failing_plugin_does_not_stop_the_others(place: Place) {
    let f = Fixture::on(place);
    f.install(f.tenant, "hostile", components::HOSTILE_PLUGIN);
    f.install(
        f.tenant,
        "delivered-followup",
        components::DELIVERED_FOLLOWUP,
    );
    f.bind(&[
        ("hostile", 20, &[("attack", "loop")]),
        ("delivered-followup", 10, &[]),
    ]);
    let own = f.record(PHONE);
    let id = f.delivered(own.id);
    let event = f.event(id);
    assert_eq!(event.state, smstrigger_host::model::EventState::Failed);
    assert_eq!(
        event.decisions[0].error_code.as_deref(),
        Some("out_of_fuel")
    );
    assert_eq!(
        event.decisions[1].outcome,
        smstrigger_host::model::DecisionOutcome::Ok
    );
    assert_eq!(f.events_of(own.id).len(), 1);
}

fn a_lower_priority_plugin_is_overridden_on_the_same_record(place: Place) {
    let f = Fixture::on(place);
    f.install(
        f.tenant,
        "delivered-followup",
        components::DELIVERED_FOLLOWUP,
    );
    f.install(f.tenant, "hostile", components::HOSTILE_PLUGIN);
    let own = f.record(PHONE);
    let target = own.id.0.to_string();
    f.bind(&[
        ("delivered-followup", 20, &[]),
        (
            "hostile",
            10,
            &[("attack", "foreign-record"), ("record_id", target.as_str())],
        ),
    ]);
    let id = f.delivered(own.id);
    let verdicts = f.verdicts(id);
    assert_eq!(verdicts[0]["accepted"], true);
    assert_eq!(verdicts[1]["reason"], "overridden_by_priority");
    let entry = &f.events_of(own.id)[0];
    assert_eq!(entry.plugin.as_deref(), Some("delivered-followup"));
}
