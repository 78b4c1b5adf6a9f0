//! The audit trail on every back end: entries read back as recorded, in
//! order, paged, filtered by plugin and kind, each tenant's its own.

use super::*;
use crate::model::{Actor, AuditFilter, Change, ChangeKind};

super::conformance!(changes_read_back_in_order_filtered_and_per_tenant);

fn changes_read_back_in_order_filtered_and_per_tenant<S: Backend>(f: &Fixture<S>) {
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "t");
    let (other, _) = tenant_with_project(store, "o");
    let key = Actor::Key {
        key_id: Some(3),
        fingerprint: "0123456789ab".into(),
    };
    let installed = Change::new(&key, ChangeKind::PluginInstalled)
        .plugin("followup")
        .from_to(
            serde_json::Value::Null,
            serde_json::json!({ "version": 1, "sha256": "ab" }),
        );
    let bound = Change::new(&Actor::Operator, ChangeKind::BindingsSet)
        .project(project.id)
        .from_to(
            serde_json::json!([]),
            serde_json::json!([{ "plugin": "followup" }]),
        );
    let mut rolled_back = Change::new(
        &Actor::Host {
            what: "canary guard".into(),
        },
        ChangeKind::PluginRolledBack,
    )
    .plugin("followup")
    .from_to(
        serde_json::json!({ "activeVersion": 2 }),
        serde_json::json!({ "activeVersion": 1 }),
    );
    rolled_back.reason = Some("failure rate 0.2 over 0.05".into());
    let ids: Vec<u64> = [&installed, &bound, &rolled_back]
        .iter()
        .map(|change| store.record_change(tenant, change).unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    store
        .record_change(other, &Change::new(&Actor::Operator, ChangeKind::KeyAdded))
        .unwrap();

    let read = |filter: AuditFilter<'_>| store.audit_entries(tenant, &filter).unwrap();
    let all = AuditFilter {
        after: 0,
        plugin: None,
        kind: None,
        limit: 10,
    };
    let entries = read(all.clone());
    let changes: Vec<&Change> = entries.iter().map(|e| &e.change).collect();
    assert_eq!(changes, [&installed, &bound, &rolled_back]);
    assert!(entries.iter().all(|e| e.at > 1_700_000_000), "{entries:?}");
    assert_eq!(
        read(AuditFilter {
            after: ids[0],
            limit: 1,
            ..all.clone()
        })[0]
            .id,
        ids[1]
    );
    let of_plugin = read(AuditFilter {
        plugin: Some("followup"),
        ..all.clone()
    });
    assert_eq!(of_plugin.len(), 2);
    let of_kind = read(AuditFilter {
        kind: Some(ChangeKind::PluginRolledBack),
        ..all.clone()
    });
    assert_eq!(of_kind.len(), 1);
    assert_eq!(
        of_kind[0].change.reason.as_deref(),
        Some("failure rate 0.2 over 0.05")
    );
    // Another tenant's trail holds its own entry only.
    let theirs = store.audit_entries(other, &all).unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].change.kind, ChangeKind::KeyAdded);
}
