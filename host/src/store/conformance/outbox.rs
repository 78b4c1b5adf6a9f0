//! The remote tenants' outbox on every back end: items queued by a commit,
//! due in order per tenant, settled once with their decision's verdicts.

use super::journal::{accepted, entry, processed, write};
use super::*;

super::conformance!(
    outbox_items_are_due_in_order_and_settle_once,
    queued_sms_are_leased_settled_and_advanced_only_forward,
    a_provider_token_is_sealed_apart_and_kept_per_tenant
);

fn outbox_items_are_due_in_order_and_settle_once<S: Backend>(f: &Fixture<S>) {
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "t");
    let (other, _) = tenant_with_project(store, "o");
    accepted(store, &[entry(tenant, project.id, "a", "r1")]);
    let claimed = store.claim(tenant, EventId(0), 10).unwrap();
    let mut decided = processed(&claimed[0], "callback");
    decided.outbox = vec![
        write(RecordId(41), 2, "callback"),
        write(RecordId(42), 7, "callback"),
    ];
    store.commit(std::slice::from_ref(&decided)).unwrap();
    let queued_at = decided.processed_at;

    assert_eq!(store.outbox_due_tenants(queued_at).unwrap(), [tenant]);
    assert!(store.outbox_due_tenants(queued_at - 1).unwrap().is_empty());
    assert!(store.outbox_pending(other, 10).unwrap().is_empty());
    let items = store.outbox_pending(tenant, 10).unwrap();
    assert_eq!(
        items.iter().map(|i| i.write.clone()).collect::<Vec<_>>(),
        decided.outbox,
        "oldest first"
    );
    assert_eq!(store.outbox_pending(tenant, 1).unwrap(), &items[..1]);
    assert_eq!(store.outbox_pending_count().unwrap(), 2);

    let verdicts = serde_json::json!([{ "verdict": "accepted", "executed": true, "entry": 1 }]);
    let delivered = Settlement {
        state: DeliveryState::Delivered,
        attempts: 1,
        next_attempt_at: queued_at,
        result: serde_json::json!({ "entry": 1 }),
        verdicts: verdicts.clone(),
    };
    store.settle(&items[0], &delivered).unwrap();
    let error = failure(store.settle(&items[0], &delivered));
    assert!(
        matches!(error, Error::Conflict { .. }),
        "settled once: {error:?}"
    );

    // The second waits for its retry: pending, not due before its time.
    let retry = Settlement {
        state: DeliveryState::Pending,
        attempts: 1,
        next_attempt_at: queued_at + 60,
        result: serde_json::json!({ "error": "timed out" }),
        verdicts: verdicts.clone(),
    };
    store.settle(&items[1], &retry).unwrap();
    assert!(store.outbox_due_tenants(queued_at + 59).unwrap().is_empty());
    assert_eq!(store.outbox_due_tenants(queued_at + 60).unwrap(), [tenant]);
    let left = store.outbox_pending(tenant, 10).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].id, left[0].attempts), (items[1].id, 1));
    assert_eq!(left[0].next_attempt_at, queued_at + 60);
    assert_eq!(store.outbox_pending_count().unwrap(), 1);

    let view = store.event(tenant, decided.event_id).unwrap();
    assert_eq!(
        view.outbox
            .iter()
            .map(|o| (o.record_id, o.state, o.attempts, o.result.clone()))
            .collect::<Vec<_>>(),
        [
            (
                RecordId(41),
                DeliveryState::Delivered,
                1,
                serde_json::json!({ "entry": 1 })
            ),
            (
                RecordId(42),
                DeliveryState::Pending,
                1,
                serde_json::json!({ "error": "timed out" })
            ),
        ]
    );
    assert_eq!(view.decisions[0].verdicts, verdicts);
}

/// The SMS outbox: a message queued by a commit is due at once, a claim
/// leases it (a second claim gets nothing until the lease runs out), a
/// retry settles it queued again, the provider's answer settles it sent
/// with its id, and callbacks only move it forward: a late `sent` after
/// `delivered` changes nothing. Another tenant sees none of it.
fn queued_sms_are_leased_settled_and_advanced_only_forward<S: Backend>(f: &Fixture<S>) {
    use super::journal::message;
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "t");
    let (other, _) = tenant_with_project(store, "o");
    let record = record_with_phone(store, tenant, project.id, "+36301234567");
    accepted(store, &[entry(tenant, project.id, "a", "r1")]);
    let claimed = store.claim(tenant, EventId(0), 10).unwrap();
    let mut decided = processed(&claimed[0], "ask");
    decided.messages = vec![MessageWrite {
        status: MessageStatus::Queued,
        ..message(project.id, &record, "Hello", "ask")
    }];
    store.commit(std::slice::from_ref(&decided)).unwrap();
    let now = decided.processed_at;
    let id = decided.messages[0].message_id(decided.event_id);

    assert_eq!(store.sms_due_tenants(now).unwrap(), [tenant]);
    assert!(store.sms_due_tenants(now - 1).unwrap().is_empty());
    assert_eq!(store.sms_queued_count().unwrap(), 1);
    assert!(store.claim_messages(other, now, 60, 10).unwrap().is_empty());
    let leased = store.claim_messages(tenant, now, 60, 10).unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(
        (leased[0].message_id.as_str(), leased[0].status),
        (id.as_str(), MessageStatus::Queued)
    );
    assert!(
        store
            .claim_messages(tenant, now, 60, 10)
            .unwrap()
            .is_empty(),
        "leased to the first claim"
    );
    assert_eq!(
        store
            .claim_messages(tenant, now + 60, 60, 10)
            .unwrap()
            .len(),
        1,
        "taken over when the lease ran out"
    );

    let retry = MessageSettlement {
        status: MessageStatus::Queued,
        attempts: 1,
        next_attempt_at: Some(now + 5),
        provider_sid: None,
        error: Some("provider_unavailable: HTTP 503".into()),
    };
    store.settle_message(tenant, leased[0].id, &retry).unwrap();
    assert!(
        store
            .claim_messages(tenant, now + 4, 60, 10)
            .unwrap()
            .is_empty()
    );
    let again = store.claim_messages(tenant, now + 5, 60, 10).unwrap();
    assert_eq!(
        (again[0].attempts, again[0].error.as_deref()),
        (1, Some("provider_unavailable: HTTP 503"))
    );
    assert!(
        store.settle_message(other, again[0].id, &retry).is_err(),
        "another tenant's message is not found"
    );

    // The callback raced the answer to the send: delivered stays.
    let delivered = store
        .advance_message(tenant, &id, MessageStatus::Delivered)
        .unwrap()
        .unwrap();
    assert_eq!(delivered.status, MessageStatus::Delivered);
    let taken = MessageSettlement {
        status: MessageStatus::Sent,
        attempts: 2,
        next_attempt_at: None,
        provider_sid: Some("SM123".into()),
        error: None,
    };
    store.settle_message(tenant, again[0].id, &taken).unwrap();
    let late = store
        .advance_message(tenant, &id, MessageStatus::Sent)
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            late.status,
            late.provider_sid.as_deref(),
            late.attempts,
            late.next_attempt_at
        ),
        (MessageStatus::Delivered, Some("SM123"), 2, None)
    );
    assert_eq!(store.sms_queued_count().unwrap(), 0);
    assert!(store.sms_due_tenants(now + 1_000).unwrap().is_empty());
    assert!(
        store
            .advance_message(other, &id, MessageStatus::Failed)
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .advance_message(tenant, "sms-nope", MessageStatus::Sent)
            .unwrap()
            .is_none()
    );
}

/// The provider's settings, token included, read back on another handle;
/// a logged setting shows no token.
fn a_provider_token_is_sealed_apart_and_kept_per_tenant<S: Backend>(f: &Fixture<S>) {
    let store = &*f.store;
    let (tenant, _) = tenant_with_project(store, "t");
    let mut settings = store.tenant(tenant).unwrap();
    assert_eq!(settings.sms_sender, SmsSenderSettings::Embedded);
    settings.sms_sender = SmsSenderSettings::Twilio {
        base_url: "https://sms.example".into(),
        account_sid: "AC1".into(),
        auth_token: "tok-very-secret".into(),
        from: "+3612345678".into(),
    };
    store.update_tenant(tenant, &settings).unwrap();
    assert_eq!(
        store.tenant(tenant).unwrap().sms_sender,
        settings.sms_sender
    );
    assert!(!format!("{:?}", settings.sms_sender).contains("tok-very-secret"));
    let reopened = f.another();
    assert_eq!(
        reopened.tenant(tenant).unwrap().sms_sender,
        settings.sms_sender
    );
}
