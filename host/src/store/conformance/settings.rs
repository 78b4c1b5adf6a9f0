//! The settings generation and the settings cache above it, on every back
//! end: every settings change moves the generation and nothing else does,
//! and a change made through one host is used by another host's memoized
//! store within a second.

use std::fmt::Debug;
use std::time::Instant;

use super::*;
use crate::model::{DecisionOutcome, EventId};

super::conformance!(
    the_settings_generation_moves_on_every_settings_change,
    the_settings_generation_stays_on_keys_and_records,
    a_change_through_one_host_is_used_by_another_within_a_second,
    journaling_and_committing_leave_the_settings_generation_alone,
);

/// The generation, which must have moved since `before`.
fn moved<S: Backend>(store: &S, before: u64, what: &str) -> u64 {
    let now = store.settings_generation().unwrap();
    assert!(
        now > before,
        "{what} did not move the generation ({before})"
    );
    now
}

fn the_settings_generation_moves_on_every_settings_change<S: Backend>(f: &Fixture<S>) {
    let store = &*f.store;
    let mut generation = store.settings_generation().unwrap();
    let tenant = store.create_tenant("acme", "secret").unwrap().id;
    generation = moved(store, generation, "creating a tenant");
    let mut settings = store.tenant(tenant).unwrap();
    settings.webhook_auth = WebhookAuth::Signature;
    store.update_tenant(tenant, &settings).unwrap();
    generation = moved(store, generation, "updating a tenant");
    store.rotate_webhook_secret(tenant, "new", 5).unwrap();
    generation = moved(store, generation, "rotating the webhook secret");
    let limits = TenantLimits {
        fuel: Some(1_000),
        ..TenantLimits::default()
    };
    store.set_tenant_limits(tenant, &limits).unwrap();
    generation = moved(store, generation, "setting limits");
    store
        .set_opt_out_keywords(tenant, &["HALT".into()])
        .unwrap();
    generation = moved(store, generation, "setting opt-out keywords");
    let project = store
        .create_project(tenant, &super::settings("p"))
        .unwrap()
        .id;
    generation = moved(store, generation, "creating a project");
    let disposition = DispositionDef {
        id: 40,
        name: "Promised".into(),
        active: false,
        system: false,
    };
    store
        .upsert_disposition(tenant, project, &disposition)
        .unwrap();
    generation = moved(store, generation, "adding a disposition");
    for version in 1..=3 {
        store
            .add_plugin_version(tenant, "p", &format!("sha{version}"), b"wasm")
            .unwrap();
        generation = moved(store, generation, "adding a plugin version");
    }
    store.activate_plugin(tenant, "p", 1).unwrap();
    generation = moved(store, generation, "activating");
    store.activate_plugin(tenant, "p", 3).unwrap();
    generation = moved(store, generation, "activating again");
    store.rollback_plugin(tenant, "p").unwrap();
    generation = moved(store, generation, "rolling back");
    let binding = Binding {
        plugin: "p".into(),
        priority: 1,
        config: BTreeMap::new(),
    };
    store.set_bindings(tenant, project, &[binding]).unwrap();
    generation = moved(store, generation, "binding");
    store.set_bindings(tenant, project, &[]).unwrap();
    generation = moved(store, generation, "unbinding");
    assert_eq!(
        store.prune_plugin_versions(tenant, "p", 0).unwrap().len(),
        1
    );
    moved(store, generation, "pruning a version");
}

fn the_settings_generation_stays_on_keys_and_records<S: Backend>(f: &Fixture<S>) {
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "acme");
    let generation = store.settings_generation().unwrap();
    let key = "ab".repeat(32);
    let first = store.add_api_key(tenant, &key).unwrap();
    store.add_api_key(tenant, &"cd".repeat(32)).unwrap();
    // The first use notes itself on the key: a write, not a setting.
    assert_eq!(store.tenant_by_key(&key).unwrap(), Some(tenant));
    assert!(store.api_keys(tenant).unwrap()[0].last_used_at.is_some());
    store.revoke_api_key(tenant, first.id, false).unwrap();
    let record = record_with_phone(store, tenant, project.id, "+36301234567").id;
    let manual = ManualDisposition {
        project_id: project.id,
        disposition_id: crate::model::DISCARD_ID,
        user: "agent".into(),
        next_calldate: None,
        description: None,
        idempotency_key: None,
    };
    store.set_disposition(tenant, record, &manual).unwrap();
    store.add_do_not_contact(tenant, "+36301234567").unwrap();
    store.remove_do_not_contact(tenant, "+36301234567").unwrap();
    assert_eq!(
        store.settings_generation().unwrap(),
        generation,
        "keys, records and the do-not-contact list are no settings"
    );
}

/// Journaling, claiming and committing events leave the generation alone.
fn journaling_and_committing_leave_the_settings_generation_alone<S: Backend>(f: &Fixture<S>) {
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "acme");
    let record = record_with_phone(store, tenant, project.id, "+36301234567").id;
    let generation = store.settings_generation().unwrap();
    let entry = JournalEntry {
        tenant_id: tenant,
        project_id: project.id,
        dedupe_key: "inbound:m-1".into(),
        message_id: "m-1".into(),
        subject: "+36301234567".into(),
        superseded_by: Vec::new(),
        input: "{}".into(),
        received_at: 0,
    };
    let event = store.journal(&entry).unwrap().event_id();
    assert_eq!(store.claim(tenant, EventId(0), 10).unwrap().len(), 1);
    let mut decision = DecisionRecord::host("p", DecisionOutcome::Ok, None);
    decision.config = serde_json::json!({ "stored": "apart" });
    let write = RecordWrite {
        record_id: record,
        disposition_id: crate::model::DISCARD_ID,
        next_calldate: None,
        plugin: "p".into(),
        plugin_version: Some(1),
        note: None,
    };
    store
        .commit(&[ProcessedEvent {
            event_id: event,
            tenant_id: tenant,
            resolved: "{}".into(),
            decisions: vec![decision],
            writes: vec![write],
            outbox: Vec::new(),
            messages: Vec::new(),
            contacts: vec![],
            opted_out: Some("+36301234567".into()),
            opted_in: None,
            processed_at: 1,
            plugin_cpu: Duration::ZERO,
        }])
        .unwrap();
    assert_eq!(store.pending_count().unwrap(), 0);
    assert_eq!(
        store.settings_generation().unwrap(),
        generation,
        "events, decisions, configs and opt-outs are no settings"
    );
}

/// Waits up to a second from now for `read` to give `want`.
fn within_a_second<T: PartialEq + Debug>(what: &str, want: T, read: impl Fn() -> T) {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let got = read();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {got:?} a second after the change, not {want:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn a_change_through_one_host_is_used_by_another_within_a_second<S: Backend>(f: &Fixture<S>) {
    let one = f.another_cached();
    let (tenant, project) = tenant_with_project(&one, "acme");
    let project = project.id;
    for version in 1..=2 {
        one.add_plugin_version(tenant, "p", &format!("sha{version}"), b"wasm")
            .unwrap();
    }
    one.activate_plugin(tenant, "p", 1).unwrap();
    let binding = |priority| Binding {
        plugin: "p".into(),
        priority,
        config: BTreeMap::new(),
    };
    one.set_bindings(tenant, project, &[binding(1)]).unwrap();

    // Another host, started after the set-up, reads every memoized
    // setting once: from then on it serves them from memory.
    let other = f.another_cached();
    let version = || other.active_bindings(tenant, project).unwrap()[0].version;
    let priority = || {
        other.active_bindings(tenant, project).unwrap()[0]
            .binding
            .priority
    };
    assert_eq!(version(), Some(1));
    assert_eq!(other.tenant(tenant).unwrap().name, "acme");
    assert_eq!(
        other.tenant_limits(tenant).unwrap(),
        TenantLimits::default()
    );
    assert!(
        other
            .opt_out_keywords(tenant)
            .unwrap()
            .contains(&"STOP".into())
    );
    assert_eq!(
        other.project(tenant, project).unwrap().dispositions.len(),
        2
    );
    assert_eq!(other.project_owner(project).unwrap(), Some(tenant));
    assert_eq!(other.memoized(), 6, "each read is memoized");

    one.activate_plugin(tenant, "p", 2).unwrap();
    within_a_second("activating", Some(2), version);
    one.rollback_plugin(tenant, "p").unwrap();
    within_a_second("rolling back", Some(1), version);
    one.set_bindings(tenant, project, &[binding(7)]).unwrap();
    within_a_second("binding", 7, priority);

    let mut settings = one.tenant(tenant).unwrap();
    settings.name = "acme two".into();
    one.update_tenant(tenant, &settings).unwrap();
    assert_eq!(
        one.tenant(tenant).unwrap().name,
        "acme two",
        "its own at once"
    );
    within_a_second("a tenant setting", "acme two".to_string(), || {
        other.tenant(tenant).unwrap().name
    });
    let limits = TenantLimits {
        fuel: Some(1_000),
        ..TenantLimits::default()
    };
    one.set_tenant_limits(tenant, &limits).unwrap();
    within_a_second("limits", limits, || other.tenant_limits(tenant).unwrap());
    one.set_opt_out_keywords(tenant, &["HALT".into()]).unwrap();
    within_a_second("opt-out keywords", vec!["HALT".to_string()], || {
        other.opt_out_keywords(tenant).unwrap()
    });
    let disposition = DispositionDef {
        id: 40,
        name: "Promised".into(),
        active: false,
        system: false,
    };
    one.upsert_disposition(tenant, project, &disposition)
        .unwrap();
    within_a_second("a project's dispositions", 3, || {
        other.project(tenant, project).unwrap().dispositions.len()
    });
}
