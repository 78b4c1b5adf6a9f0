//! Plugin versions, the active pointer and bindings, on every back end.

use super::*;

super::conformance!(
    versions_are_numbered_listed_and_read_within_their_tenant,
    a_taken_version_number_is_a_conflict,
    racing_uploads_get_distinct_version_numbers,
    activation_and_rollback_move_the_pointer_within_the_tenant,
    pruning_keeps_the_newest_the_active_and_the_previous,
    bindings_name_the_tenants_plugins_and_run_by_priority,
);

fn versions_are_numbered_listed_and_read_within_their_tenant<S: Backend>(f: &Fixture<S>) {
    let store = &f.store;
    let tenant = store.create_tenant("t", "s").unwrap().id;
    let other = store.create_tenant("o", "s").unwrap().id;
    assert_eq!(store.latest_plugin_version(tenant, "p").unwrap(), None);
    assert_eq!(
        store.add_plugin_version(tenant, "p", "a1", b"one").unwrap(),
        1
    );
    assert_eq!(
        store
            .add_plugin_version(tenant, "p", "a2", b"second")
            .unwrap(),
        2
    );
    assert_eq!(
        store.add_plugin_version(tenant, "b", "b1", b"bee").unwrap(),
        1
    );
    assert_eq!(
        store.add_plugin_version(other, "p", "a1", b"one").unwrap(),
        1
    );
    assert_eq!(store.latest_plugin_version(tenant, "p").unwrap(), Some(2));
    assert_eq!(store.plugin_component(tenant, "p", 2).unwrap(), b"second");
    assert_eq!(store.stored_component_bytes(tenant).unwrap(), 3 + 6 + 3);
    assert_eq!(store.stored_component_bytes(other).unwrap(), 3);

    let plugins = store.plugins(tenant).unwrap();
    assert_eq!(
        plugins.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["b", "p"]
    );
    let p = &plugins[1];
    assert_eq!((p.active_version, p.previous_version), (None, None));
    assert_eq!(
        p.versions
            .iter()
            .map(|v| (v.version, v.sha256.as_str(), v.size))
            .collect::<Vec<_>>(),
        [(1, "a1", 3), (2, "a2", 6)]
    );
    assert!(
        (p.versions[0].created_at - chrono::Utc::now().timestamp()).abs() < 60,
        "{p:?}"
    );
    assert_eq!(store.plugins(other).unwrap().len(), 1);
    assert_eq!(store.latest_plugin_version(other, "p").unwrap(), Some(1));
    for error in [
        failure(store.plugin_component(other, "p", 2)),
        failure(store.plugin_component(other, "b", 1)),
        failure(store.plugin_component(tenant, "p", 3)),
    ] {
        assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    }
}

/// A number already stored is refused by the back end, not overwritten.
fn a_taken_version_number_is_a_conflict<S: Backend>(f: &Fixture<S>) {
    let store = &f.store;
    let tenant = store.create_tenant("t", "s").unwrap().id;
    assert_eq!(store.add_plugin_version(tenant, "p", "a", b"x").unwrap(), 1);
    let error = failure(store.insert_plugin_version(tenant, "p", 1, "b", b"y"));
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
    assert_eq!(store.latest_plugin_version(tenant, "p").unwrap(), Some(1));
    assert_eq!(store.plugin_component(tenant, "p", 1).unwrap(), b"x");
}

/// Uploads of one plugin racing from two handles on one database (two
/// hosts, as far as the store can tell) get distinct, gapless numbers, and
/// none overwrites another. An upload that lost the race
/// [`rules::VERSION_ATTEMPTS`] times in a row is answered `Unavailable`
/// (a 503) and retried, as a client does: back-to-back uploads from two
/// hosts can starve one for a while, never make it take a taken number.
fn racing_uploads_get_distinct_version_numbers<S: Backend>(f: &Fixture<S>) {
    const EACH: usize = 20;
    const CALLS: usize = 20;
    let tenant = f.store.create_tenant("t", "s").unwrap().id;
    let uploads: Vec<_> = [f.another(), f.another()]
        .into_iter()
        .enumerate()
        .map(|(host, store)| {
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|i| {
                        let sha = format!("{:064}", host * EACH + i);
                        let version = (0..CALLS)
                            .find_map(|_| {
                                match store.add_plugin_version(tenant, "p", &sha, sha.as_bytes()) {
                                    Ok(version) => Some(version),
                                    Err(Error::Unavailable { .. }) => None,
                                    Err(other) => panic!("{other:?}"),
                                }
                            })
                            .expect("an upload succeeds within a few retries");
                        (version, sha)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let uploaded: Vec<(u32, String)> = uploads
        .into_iter()
        .flat_map(|upload| upload.join().unwrap())
        .collect();
    let mut versions: Vec<u32> = uploaded.iter().map(|(version, _)| *version).collect();
    versions.sort();
    assert_eq!(versions, (1..=2 * EACH as u32).collect::<Vec<_>>());
    for (version, sha) in &uploaded {
        assert_eq!(
            f.store.plugin_component(tenant, "p", *version).unwrap(),
            sha.as_bytes(),
            "version {version} is the upload that got it"
        );
    }
}

fn pointer<S: Backend>(store: &S, tenant: TenantId, name: &str) -> (Option<u32>, Option<u32>) {
    let plugins = store.plugins(tenant).unwrap();
    let plugin = plugins.iter().find(|p| p.name == name).unwrap();
    (plugin.active_version, plugin.previous_version)
}

fn activation_and_rollback_move_the_pointer_within_the_tenant<S: Backend>(f: &Fixture<S>) {
    let store = &*f.store;
    let tenant = store.create_tenant("t", "s").unwrap().id;
    let other = store.create_tenant("o", "s").unwrap().id;
    for sha in ["a", "b"] {
        store.add_plugin_version(tenant, "p", sha, b"x").unwrap();
    }
    let error = failure(store.rollback_plugin(tenant, "p"));
    assert!(
        matches!(error, Error::Conflict { .. }),
        "nothing to roll back to: {error:?}"
    );
    for error in [
        failure(store.activate_plugin(tenant, "p", 3)),
        failure(store.activate_plugin(other, "p", 1)),
        failure(store.rollback_plugin(tenant, "nope")),
        failure(store.rollback_plugin(other, "p")),
    ] {
        assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    }
    store.activate_plugin(tenant, "p", 1).unwrap();
    assert_eq!(pointer(store, tenant, "p"), (Some(1), None));
    let error = failure(store.rollback_plugin(tenant, "p"));
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
    store.activate_plugin(tenant, "p", 2).unwrap();
    assert_eq!(pointer(store, tenant, "p"), (Some(2), Some(1)));
    assert_eq!(store.rollback_plugin(tenant, "p").unwrap(), 1);
    assert_eq!(pointer(store, tenant, "p"), (Some(1), Some(2)));
    assert_eq!(
        store.rollback_plugin(tenant, "p").unwrap(),
        2,
        "a rollback undoes one"
    );
    assert_eq!(pointer(store, tenant, "p"), (Some(2), Some(1)));
}

fn pruning_keeps_the_newest_the_active_and_the_previous<S: Backend>(f: &Fixture<S>) {
    let store = &*f.store;
    let tenant = store.create_tenant("t", "s").unwrap().id;
    let other = store.create_tenant("o", "s").unwrap().id;
    for sha in ["s1", "s2", "s3", "s4", "s5", "s6"] {
        store
            .add_plugin_version(tenant, "p", sha, sha.as_bytes())
            .unwrap();
    }
    store.add_plugin_version(tenant, "q", "s3", b"s3").unwrap();
    store.add_plugin_version(other, "p", "s4", b"s4").unwrap();
    store.activate_plugin(tenant, "p", 1).unwrap();
    store.activate_plugin(tenant, "p", 2).unwrap();

    let mut unused = store.prune_plugin_versions(tenant, "p", 2).unwrap();
    unused.sort();
    // 3 and 4 go; s3 and s4 are still some version's (q's, another
    // tenant's), so no component is unused yet.
    assert!(unused.is_empty(), "{unused:?}");
    let kept: Vec<u32> = store.plugins(tenant).unwrap()[0]
        .versions
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(kept, [1, 2, 5, 6]);
    assert_eq!(store.plugin_component(tenant, "q", 1).unwrap(), b"s3");

    store.activate_plugin(tenant, "p", 6).unwrap(); // previous: 2
    let mut unused = store.prune_plugin_versions(tenant, "p", 1).unwrap();
    unused.sort();
    assert_eq!(unused, ["s1", "s5"]);
    let kept: Vec<u32> = store.plugins(tenant).unwrap()[0]
        .versions
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(kept, [2, 6]);
    assert!(
        store
            .prune_plugin_versions(tenant, "p", 0)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .prune_plugin_versions(other, "q", 0)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.plugins(other).unwrap()[0].versions.len(), 1);
}

fn bindings_name_the_tenants_plugins_and_run_by_priority<S: Backend>(f: &Fixture<S>) {
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "t");
    let (other, theirs) = tenant_with_project(store, "o");
    for name in ["low", "high", "idle"] {
        store
            .add_plugin_version(tenant, name, &format!("{name}-1"), b"x")
            .unwrap();
    }
    store
        .add_plugin_version(tenant, "high", "high-2", b"xy")
        .unwrap();
    store
        .add_plugin_version(other, "mine", "low-1", b"x")
        .unwrap();
    store.activate_plugin(tenant, "low", 1).unwrap();
    store.activate_plugin(tenant, "high", 2).unwrap();
    store.activate_plugin(other, "mine", 1).unwrap();
    let binding = |plugin: &str, priority: i32| Binding {
        plugin: plugin.into(),
        priority,
        config: [("greeting".to_owned(), format!("hi from {plugin}"))].into(),
    };
    let bindings = [binding("low", 1), binding("high", 10), binding("idle", 5)];
    store.set_bindings(tenant, project.id, &bindings).unwrap();
    let active = store.active_bindings(tenant, project.id).unwrap();
    assert_eq!(
        active,
        [
            ActiveBinding {
                binding: binding("high", 10),
                version: Some(2),
                sha256: Some("high-2".into())
            },
            ActiveBinding {
                binding: binding("idle", 5),
                version: None,
                sha256: None
            },
            ActiveBinding {
                binding: binding("low", 1),
                version: Some(1),
                sha256: Some("low-1".into())
            },
        ]
    );

    // An unknown plugin, or another tenant's, changes nothing.
    for bad in [binding("nope", 1), binding("mine", 1)] {
        let error = failure(store.set_bindings(tenant, project.id, &[binding("low", 3), bad]));
        assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    }
    assert_eq!(store.active_bindings(tenant, project.id).unwrap(), active);
    let error = failure(store.set_bindings(other, project.id, &[binding("mine", 1)]));
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    assert!(store.active_bindings(other, project.id).unwrap().is_empty());
    assert!(store.active_bindings(tenant, theirs.id).unwrap().is_empty());

    store
        .set_bindings(tenant, project.id, &[binding("low", 2)])
        .unwrap();
    assert_eq!(store.active_bindings(tenant, project.id).unwrap().len(), 1);

    // One entry per active component, whichever tenant runs it.
    let mut components: Vec<(String, u32)> = store
        .active_components()
        .unwrap()
        .into_iter()
        .map(|c| (c.sha256, c.version))
        .collect();
    components.sort();
    assert_eq!(
        components,
        [("high-2".to_owned(), 2), ("low-1".to_owned(), 1)]
    );
}
