//! Shadows on every back end: one per plugin, started only on a version
//! the plugin has, comparisons recorded once each with a cursor that never
//! goes back, counted and listed per shadow, each tenant's its own.

use super::journal::{accepted, entry};
use super::*;

super::conformance!(a_shadow_records_each_comparison_once_and_keeps_its_cursor);

fn run(event: EventId, outcome: ShadowOutcome) -> ShadowRun {
    ShadowRun {
        event_id: event,
        outcome,
        active: serde_json::json!({ "actions": [] }),
        candidate: serde_json::json!({ "actions": [{ "recordId": event.0 }] }),
    }
}

fn a_shadow_records_each_comparison_once_and_keeps_its_cursor<S: Backend>(f: &Fixture<S>) {
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "t");
    let (other, _) = tenant_with_project(store, "o");
    for _ in 0..2 {
        store
            .add_plugin_version(tenant, "rule", &"ab".repeat(32), b"component")
            .unwrap();
    }
    let error = failure(store.start_shadow(tenant, "rule", 3, EventId(0)));
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    let error = failure(store.start_shadow(other, "rule", 2, EventId(0)));
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    let events = accepted(
        store,
        &[
            entry(tenant, project.id, "a", "r1"),
            entry(tenant, project.id, "b", "r2"),
            entry(tenant, project.id, "c", "r3"),
        ],
    );

    let shadow = store.start_shadow(tenant, "rule", 2, events[0]).unwrap();
    assert_eq!(
        (shadow.version, shadow.after_event, shadow.cursor),
        (2, events[0], events[0])
    );
    assert_eq!(store.shadows().unwrap(), std::slice::from_ref(&shadow));
    assert_eq!(store.shadow(tenant, "rule").unwrap(), Some(shadow));
    assert_eq!(store.shadow(other, "rule").unwrap(), None);

    store
        .advance_shadow(
            tenant,
            "rule",
            2,
            events[2],
            &[
                run(events[1], ShadowOutcome::Same),
                run(events[2], ShadowOutcome::Different),
            ],
        )
        .unwrap();
    // A repeat (another host, a retry) records nothing twice, and an older
    // cursor does not move it back; a stale version records nothing.
    store
        .advance_shadow(
            tenant,
            "rule",
            2,
            events[1],
            &[run(events[2], ShadowOutcome::Failed)],
        )
        .unwrap();
    store
        .advance_shadow(
            tenant,
            "rule",
            1,
            events[2],
            &[run(events[1], ShadowOutcome::Failed)],
        )
        .unwrap();
    assert_eq!(
        store.shadow(tenant, "rule").unwrap().unwrap().cursor,
        events[2]
    );
    let counts = store.shadow_counts(tenant, "rule", 2).unwrap();
    assert_eq!((counts.same, counts.different, counts.failed), (1, 1, 0));
    let differences = store.shadow_differences(tenant, "rule", 2, 10).unwrap();
    assert_eq!(differences, [run(events[2], ShadowOutcome::Different)]);
    assert_eq!(
        store.shadow_counts(other, "rule", 2).unwrap(),
        ShadowCounts::default()
    );

    // Starting again (another version) starts afresh; stopping forgets.
    store.start_shadow(tenant, "rule", 1, events[2]).unwrap();
    assert_eq!(
        store.shadow_counts(tenant, "rule", 2).unwrap(),
        ShadowCounts::default()
    );
    assert!(store.stop_shadow(tenant, "rule").unwrap());
    assert!(!store.stop_shadow(tenant, "rule").unwrap());
    assert!(store.shadows().unwrap().is_empty());
}
