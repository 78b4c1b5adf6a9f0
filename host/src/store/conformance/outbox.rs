//! The remote tenants' outbox on every back end: items queued by a commit,
//! due in order per tenant, settled once with their decision's verdicts.

use super::journal::{accepted, entry, processed, write};
use super::*;

super::conformance!(outbox_items_are_due_in_order_and_settle_once);

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
