//! Tenants, keys, settings, projects and dispositions, on every back end.

use super::*;
use crate::model::{DISCARD_ID, PastCallbackPolicy, SHARED_CALLBACK_ID};

super::conformance!(
    a_tenant_reads_back_as_created_and_updated,
    an_unknown_tenant_is_not_found,
    a_rotated_secret_is_kept_until_its_time_and_dropped_at_the_next_rotation,
    api_keys_authenticate_until_revoked_and_show_only_fingerprints,
    another_tenants_key_is_not_found_and_the_last_key_stays,
    racing_revocations_never_remove_the_last_key,
    a_new_tenant_has_the_default_keywords_and_an_empty_list_stays_empty,
    projects_read_back_and_are_reached_only_through_their_tenant,
    system_dispositions_come_with_a_project_and_cannot_be_changed,
);

fn a_tenant_reads_back_as_created_and_updated<S: Backend>(f: &Fixture<S>) {
    let store = &f.store;
    let created = store.create_tenant("acme", "hook-secret").unwrap();
    assert_eq!(
        (created.name.as_str(), created.webhook_secret.as_str()),
        ("acme", "hook-secret")
    );
    let other = store.create_tenant("other", "s").unwrap().id;
    assert_ne!(created.id, other);
    let mut settings = store.tenant(created.id).unwrap();
    assert_eq!(settings.name, "acme");
    assert_eq!(settings.webhook_secret, "hook-secret");
    assert_eq!(settings.webhook_auth, WebhookAuth::Both);
    assert_eq!(settings.executor, ExecutorSettings::Embedded);
    assert_eq!(settings.accept_window, None);
    assert_eq!(settings.previous_webhook_secret, None);

    settings.name = "acme two".into();
    settings.webhook_auth = WebhookAuth::Signature;
    settings.executor = ExecutorSettings::Remote {
        base_url: "https://cc.example/v2".into(),
        account: "7".into(),
        token: "s3cret-token".into(),
    };
    settings.accept_window = Some(AcceptWindow {
        past_secs: 600,
        future_secs: 30,
    });
    store.update_tenant(created.id, &settings).unwrap();
    assert_eq!(store.tenant(created.id).unwrap(), settings);
    assert_eq!(
        store.tenant(other).unwrap().name,
        "other",
        "only the one changed"
    );

    assert_eq!(
        store.tenant_limits(created.id).unwrap(),
        TenantLimits::default()
    );
    let limits = TenantLimits {
        fuel: Some(1_000),
        memory_mib: Some(8),
        wall_deadline_ms: None,
    };
    store.set_tenant_limits(created.id, &limits).unwrap();
    assert_eq!(store.tenant_limits(created.id).unwrap(), limits);
    assert_eq!(store.tenant_limits(other).unwrap(), TenantLimits::default());
}

fn an_unknown_tenant_is_not_found<S: Backend>(f: &Fixture<S>) {
    let store = &f.store;
    let known = store.create_tenant("t", "s").unwrap();
    let unknown = TenantId(known.id.0 + 1000);
    let settings = store.tenant(known.id).unwrap();
    for result in [
        store.tenant(unknown).map(drop),
        store.update_tenant(unknown, &settings),
        store.tenant_limits(unknown).map(drop),
        store.set_tenant_limits(unknown, &TenantLimits::default()),
        store.rotate_webhook_secret(unknown, "n", 5),
        store.opt_out_keywords(unknown).map(drop),
        store.set_opt_out_keywords(unknown, &["STOP".into()]),
    ] {
        let error = failure(result);
        assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    }
}

fn a_rotated_secret_is_kept_until_its_time_and_dropped_at_the_next_rotation<S: Backend>(
    f: &Fixture<S>,
) {
    let store = &f.store;
    let tenant = store.create_tenant("t", "first").unwrap().id;
    store
        .rotate_webhook_secret(tenant, "second", 1_000)
        .unwrap();
    let settings = store.tenant(tenant).unwrap();
    assert_eq!(settings.webhook_secret, "second");
    let retiring = settings.previous_webhook_secret.unwrap();
    assert_eq!((retiring.secret.as_str(), retiring.until), ("first", 1_000));
    assert!(retiring.accepted_at(999) && !retiring.accepted_at(1_000));
    store.rotate_webhook_secret(tenant, "third", 2_000).unwrap();
    let settings = store.tenant(tenant).unwrap();
    assert_eq!(settings.webhook_secret, "third");
    assert_eq!(
        settings.previous_webhook_secret,
        Some(RetiringSecret {
            secret: "second".into(),
            until: 2_000
        }),
        "the first secret is gone at once"
    );
}

fn api_keys_authenticate_until_revoked_and_show_only_fingerprints<S: Backend>(f: &Fixture<S>) {
    let store = &f.store;
    let tenant = store.create_tenant("t", "s").unwrap().id;
    let (first_hash, second_hash) = ("ab".repeat(32), "cd".repeat(32));
    assert_eq!(store.tenant_by_key(&first_hash).unwrap(), None);
    let first = store.add_api_key(tenant, &first_hash).unwrap();
    let second = store.add_api_key(tenant, &second_hash).unwrap();
    assert_eq!(first.fingerprint, "ab".repeat(6));
    assert_eq!(first.fingerprint.len(), API_KEY_FINGERPRINT_HEX);
    assert_eq!(first.last_used_at, None);
    assert_ne!(first.id, second.id);
    assert_eq!(
        store.api_keys(tenant).unwrap(),
        [first.clone(), second.clone()]
    );

    assert_eq!(store.tenant_by_key(&first_hash).unwrap(), Some(tenant));
    let keys = store.api_keys(tenant).unwrap();
    let used = keys[0].last_used_at.expect("the use is noted");
    assert!((used - chrono::Utc::now().timestamp()).abs() < 60, "{used}");
    assert_eq!(keys[1].last_used_at, None);

    store.revoke_api_key(tenant, first.id, false).unwrap();
    assert_eq!(store.tenant_by_key(&first_hash).unwrap(), None);
    assert_eq!(store.tenant_by_key(&second_hash).unwrap(), Some(tenant));
    assert_eq!(store.api_keys(tenant).unwrap().len(), 1);
}

fn another_tenants_key_is_not_found_and_the_last_key_stays<S: Backend>(f: &Fixture<S>) {
    let store = &f.store;
    let tenant = store.create_tenant("t", "s").unwrap().id;
    let other = store.create_tenant("o", "s").unwrap().id;
    let key = store.add_api_key(tenant, &"ab".repeat(32)).unwrap();
    let theirs = store.add_api_key(other, &"cd".repeat(32)).unwrap();
    store.add_api_key(other, &"ef".repeat(32)).unwrap();
    let error = failure(store.revoke_api_key(tenant, theirs.id, true));
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    assert_eq!(store.api_keys(other).unwrap().len(), 2);
    assert!(
        store
            .api_keys(tenant)
            .unwrap()
            .iter()
            .all(|k| k.id != theirs.id)
    );

    let error = failure(store.revoke_api_key(tenant, key.id, false));
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
    assert_eq!(store.api_keys(tenant).unwrap().len(), 1);
    store.revoke_api_key(tenant, key.id, true).unwrap();
    assert!(store.api_keys(tenant).unwrap().is_empty());
    let error = failure(store.revoke_api_key(tenant, key.id, true));
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
}

/// Two hosts revoking a tenant's last two keys at once: one may win, the
/// other must not, whichever commits first.
fn racing_revocations_never_remove_the_last_key<S: Backend>(f: &Fixture<S>) {
    for round in 0..5 {
        let tenant = f.store.create_tenant("t", "s").unwrap().id;
        let keys = [format!("{round}a"), format!("{round}b")]
            .map(|hash| f.store.add_api_key(tenant, &hash.repeat(32)).unwrap().id);
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let revocations = keys.map(|key| {
            let (store, barrier) = (f.another(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store.revoke_api_key(tenant, key, false)
            })
        });
        let results = revocations.map(|r| r.join().unwrap());
        assert!(
            results.iter().filter(|r| r.is_ok()).count() <= 1,
            "{results:?}"
        );
        for result in &results {
            assert!(
                matches!(
                    result,
                    Ok(()) | Err(Error::Conflict { .. } | Error::Unavailable { .. })
                ),
                "{result:?}"
            );
        }
        assert!(!f.store.api_keys(tenant).unwrap().is_empty(), "{results:?}");
    }
}

fn a_new_tenant_has_the_default_keywords_and_an_empty_list_stays_empty<S: Backend>(f: &Fixture<S>) {
    let store = &f.store;
    let tenant = store.create_tenant("t", "s").unwrap().id;
    let other = store.create_tenant("o", "s").unwrap().id;
    assert_eq!(
        store.opt_out_keywords(tenant).unwrap(),
        rules::opt_out_keywords(None)
    );
    assert_eq!(store.stored_opt_out_keywords(tenant).unwrap(), None);
    store.set_opt_out_keywords(tenant, &[]).unwrap();
    assert!(store.opt_out_keywords(tenant).unwrap().is_empty());
    store
        .set_opt_out_keywords(tenant, &[" arrête ".into(), "Halt".into()])
        .unwrap();
    assert_eq!(store.opt_out_keywords(tenant).unwrap(), ["ARRÊTE", "HALT"]);
    assert_eq!(
        store.opt_out_keywords(other).unwrap(),
        rules::opt_out_keywords(None),
        "another tenant keeps the defaults"
    );
}

fn projects_read_back_and_are_reached_only_through_their_tenant<S: Backend>(f: &Fixture<S>) {
    let store = &f.store;
    let tenant = store.create_tenant("t", "s").unwrap().id;
    let other = store.create_tenant("o", "s").unwrap().id;
    let mut custom = settings("evening");
    custom.calling_hours = Some(CallingHours::parse("08:30", "20:00").unwrap());
    custom.calling_hours_policy = CallingHoursPolicy::Reject;
    custom.past_callback_policy = PastCallbackPolicy::Now;
    custom.horizon_days = 30;
    custom.max_actions_per_event = 4;
    custom.sms_rules = crate::model::SmsRules {
        hours: CallingHours::parse("09:00", "19:30").unwrap(),
        policy: CallingHoursPolicy::Reject,
        max_per_day: 1,
        max_segments: 2,
        help_text: Some("Call us on +3612345678.".into()),
        opt_out_confirmation: Some("You are out. Reply START to undo.".into()),
    };
    custom.contact_rules = Some(crate::model::ContactRules {
        max_attempts: 3,
        window_days: 14,
    });
    let first = store.create_project(tenant, &settings("p")).unwrap();
    let second = store.create_project(tenant, &custom).unwrap();
    let theirs = store.create_project(other, &settings("q")).unwrap();
    assert_eq!(second.settings, custom);
    assert_eq!(first.settings.sms_rules, crate::model::SmsRules::default());
    assert_eq!(
        first.settings.contact_rules,
        crate::model::ContactRules::on()
    );
    assert_eq!(second.tenant_id, tenant);
    assert_eq!(store.project(tenant, second.id).unwrap(), second);
    assert_eq!(
        store.projects(tenant).unwrap(),
        [first.clone(), second.clone()]
    );
    assert_eq!(
        store.projects(other).unwrap(),
        std::slice::from_ref(&theirs)
    );
    assert_eq!(store.project_owner(first.id).unwrap(), Some(tenant));
    assert_eq!(store.project_owner(theirs.id).unwrap(), Some(other));
    assert_eq!(
        store.project_owner(ProjectId(theirs.id.0 + 1000)).unwrap(),
        None
    );
    let error = failure(store.project(tenant, theirs.id));
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    let usage = store.usage(tenant).unwrap();
    assert_eq!(usage.projects, 2);
    // A project without a contact cap reads back without one.
    let mut uncapped = settings("uncapped");
    uncapped.contact_rules = None;
    let uncapped = store.create_project(tenant, &uncapped).unwrap();
    assert_eq!(uncapped.settings.contact_rules, None);
    assert_eq!(store.project(tenant, uncapped.id).unwrap(), uncapped);
}

/// A project starts with both system dispositions, which no upsert can
/// change; another tenant's project is not found, not a conflict.
fn system_dispositions_come_with_a_project_and_cannot_be_changed<S: Backend>(f: &Fixture<S>) {
    let store = &f.store;
    let (tenant, project) = tenant_with_project(&**store, "t");
    let other = store.create_tenant("o", "s").unwrap().id;
    assert_eq!(project.dispositions, rules::system_dispositions());
    for id in [DISCARD_ID, SHARED_CALLBACK_ID] {
        let change = DispositionDef {
            id,
            name: "mine".into(),
            active: false,
            system: false,
        };
        let error = failure(store.upsert_disposition(tenant, project.id, &change));
        assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
        let error = failure(store.upsert_disposition(other, project.id, &change));
        assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    }
    let mut custom = DispositionDef {
        id: 7,
        name: "Promised".into(),
        active: true,
        system: true, // a tenant cannot make its own system ones
    };
    store
        .upsert_disposition(tenant, project.id, &custom)
        .unwrap();
    let stored = store.project(tenant, project.id).unwrap().dispositions;
    assert_eq!(stored.len(), 3);
    assert!(!stored.iter().find(|d| d.id == 7).unwrap().system);
    assert_eq!(&stored[..2], &rules::system_dispositions()[..]);
    custom.name = "Promised to pay".into();
    custom.active = false;
    store
        .upsert_disposition(tenant, project.id, &custom)
        .unwrap();
    let stored = store.project(tenant, project.id).unwrap().dispositions;
    assert_eq!(stored.len(), 3, "replaced, not added");
    let seven = stored.iter().find(|d| d.id == 7).unwrap();
    assert_eq!(
        (seven.name.as_str(), seven.active),
        ("Promised to pay", false)
    );
    let error = failure(store.upsert_disposition(other, project.id, &custom));
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
}
