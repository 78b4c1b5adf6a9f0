//! Records, their event lists and the do-not-contact list, on every back
//! end.

use super::*;

super::conformance!(
    records_read_back_and_page_within_their_tenant,
    an_import_is_all_or_nothing,
    a_manual_disposition_lists_once_per_idempotency_key,
    racing_manual_dispositions_with_one_key_store_one_entry,
    the_do_not_contact_list_is_per_tenant_and_pages_in_order,
    a_number_the_store_cannot_hold_is_out_of_range,
);

fn new_record(project: ProjectId, phone: &str) -> NewRecord {
    NewRecord {
        project_id: project,
        phone: phone.into(),
        time_zone: None,
        fields: vec![],
    }
}

fn records_read_back_and_page_within_their_tenant<S: Backend>(f: &Fixture<S>) {
    let store = &f.store;
    let (tenant, project) = tenant_with_project(&**store, "t");
    let (other, theirs) = tenant_with_project(&**store, "o");
    let mut full = new_record(project.id, "+3611111111");
    full.time_zone = Some("Europe/London".into());
    full.fields = vec![("name".into(), "Ann".into()), ("a".into(), "1".into())];
    let first = store.create_record(tenant, &full).unwrap();
    assert_eq!(
        (&first.phone, &first.time_zone, &first.fields),
        (&full.phone, &full.time_zone, &full.fields)
    );
    assert_eq!((first.disposition_id, first.next_calldate), (None, None));
    assert_eq!(
        store.record(tenant, first.id).unwrap(),
        first,
        "fields keep their order"
    );
    let more: Vec<StoredRecord> = ["+3622222222", "+3611111111", "+3633333333"]
        .iter()
        .map(|phone| {
            store
                .create_record(tenant, &new_record(project.id, phone))
                .unwrap()
        })
        .collect();
    assert!(more.windows(2).all(|w| w[0].id < w[1].id) && first.id < more[0].id);

    let page = store.records(tenant, project.id, RecordId(0), 2).unwrap();
    assert_eq!(page, [first.clone(), more[0].clone()]);
    let rest = store.records(tenant, project.id, page[1].id, 10).unwrap();
    assert_eq!(rest, &more[1..]);
    assert!(
        store
            .records(tenant, project.id, more[2].id, 10)
            .unwrap()
            .is_empty()
    );
    let same_phone = store
        .records_by_phone(tenant, project.id, "+3611111111")
        .unwrap();
    assert_eq!(same_phone, [first.clone(), more[1].clone()]);
    assert_eq!(store.usage(tenant).unwrap().records, 4);

    // Another tenant reaches none of it, and cannot write into it.
    for error in [
        failure(store.record(other, first.id)),
        failure(store.records(other, project.id, RecordId(0), 10)),
        failure(store.record_events(other, first.id)),
        failure(store.create_record(other, &new_record(project.id, "+3644444444"))),
        failure(store.create_record(tenant, &new_record(theirs.id, "+3644444444"))),
    ] {
        assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    }
    assert!(
        store
            .records_by_phone(other, project.id, "+3611111111")
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.usage(other).unwrap().records, 0);
}

fn an_import_is_all_or_nothing<S: Backend>(f: &Fixture<S>) {
    let store = &f.store;
    let (tenant, project) = tenant_with_project(&**store, "t");
    let (_, theirs) = tenant_with_project(&**store, "o");
    let batch = [
        new_record(project.id, "+3611111111"),
        new_record(theirs.id, "+3622222222"),
    ];
    let error = failure(store.create_records(tenant, &batch));
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    assert_eq!(store.usage(tenant).unwrap().records, 0, "nothing stored");

    let batch = [
        new_record(project.id, "+3611111111"),
        new_record(project.id, "+3622222222"),
    ];
    let created = store.create_records(tenant, &batch).unwrap();
    assert_eq!(created.len(), 2);
    assert!(created[0].id < created[1].id);
    assert_eq!(
        store.records(tenant, project.id, RecordId(0), 10).unwrap(),
        created
    );
}

fn manual(project: ProjectId, disposition: u32, key: Option<&str>) -> ManualDisposition {
    ManualDisposition {
        project_id: project,
        disposition_id: disposition,
        user: "agent 7".into(),
        next_calldate: Some(1_900_000_000),
        description: Some("called back".into()),
        idempotency_key: key.map(str::to_owned),
    }
}

fn a_manual_disposition_lists_once_per_idempotency_key<S: Backend>(f: &Fixture<S>) {
    let store = &f.store;
    let (tenant, project) = tenant_with_project(&**store, "t");
    let (other, theirs) = tenant_with_project(&**store, "o");
    let record = store
        .create_record(tenant, &new_record(project.id, "+3611111111"))
        .unwrap();
    assert!(store.record_events(tenant, record.id).unwrap().is_empty());

    let entry = store
        .set_disposition(tenant, record.id, &manual(project.id, 7, Some("k1")))
        .unwrap();
    assert_eq!(
        (
            entry.event_id,
            entry.event_type.as_str(),
            entry.user.as_str()
        ),
        (None, "API", "agent 7")
    );
    assert_eq!(
        (entry.disposition_id, entry.next_calldate),
        (Some(7), Some(1_900_000_000))
    );
    assert_eq!(entry.note.as_deref(), Some("called back"));
    let stored = store.record(tenant, record.id).unwrap();
    assert_eq!(
        (stored.disposition_id, stored.next_calldate),
        (Some(7), Some(1_900_000_000))
    );

    let again = store
        .set_disposition(tenant, record.id, &manual(project.id, 9, Some("k1")))
        .unwrap();
    assert_eq!(again, entry, "a repeated key returns the first entry");
    assert_eq!(
        store.record(tenant, record.id).unwrap().disposition_id,
        Some(7)
    );
    store
        .set_disposition(tenant, record.id, &manual(project.id, 9, None))
        .unwrap();
    let events = store.record_events(tenant, record.id).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].disposition_id, events[1].disposition_id),
        (Some(7), Some(9))
    );

    // The same key is another tenant's own.
    let their_record = store
        .create_record(other, &new_record(theirs.id, "+3611111111"))
        .unwrap();
    let theirs_entry = store
        .set_disposition(other, their_record.id, &manual(theirs.id, 3, Some("k1")))
        .unwrap();
    assert_eq!(theirs_entry.disposition_id, Some(3));

    for error in [
        failure(store.set_disposition(other, record.id, &manual(project.id, 5, None))),
        failure(store.set_disposition(tenant, record.id, &manual(theirs.id, 5, None))),
        failure(store.set_disposition(tenant, their_record.id, &manual(theirs.id, 5, None))),
    ] {
        assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    }
    assert_eq!(store.record_events(tenant, record.id).unwrap().len(), 2);
}

/// Two hosts setting a disposition with the same idempotency key at once
/// store one entry, and whoever succeeds is answered with it.
fn racing_manual_dispositions_with_one_key_store_one_entry<S: Backend>(f: &Fixture<S>) {
    let (tenant, project) = tenant_with_project(&*f.store, "t");
    for round in 0..5 {
        let record = f
            .store
            .create_record(tenant, &new_record(project.id, "+3611111111"))
            .unwrap();
        let key = format!("race-{round}");
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let calls = [7, 9].map(|disposition| {
            let (store, barrier) = (f.another(), barrier.clone());
            let entry = manual(project.id, disposition, Some(&key));
            std::thread::spawn(move || {
                barrier.wait();
                store.set_disposition(tenant, record.id, &entry)
            })
        });
        let results = calls.map(|call| call.join().unwrap());
        let events = f.store.record_events(tenant, record.id).unwrap();
        assert_eq!(events.len(), 1, "{results:?}");
        for result in &results {
            match result {
                Ok(entry) => assert_eq!(entry, &events[0]),
                Err(Error::Unavailable { .. }) => {}
                Err(other) => panic!("{other:?}"),
            }
        }
    }
}

fn the_do_not_contact_list_is_per_tenant_and_pages_in_order<S: Backend>(f: &Fixture<S>) {
    let store = &f.store;
    let tenant = store.create_tenant("t", "s").unwrap().id;
    let other = store.create_tenant("o", "s").unwrap().id;
    for phone in ["+3633333333", "+3611111111", "+442222222", "+3611111111"] {
        store.add_do_not_contact(tenant, phone).unwrap();
    }
    assert_eq!(
        store.usage(tenant).unwrap().do_not_contact,
        3,
        "listed once"
    );
    let page = store.do_not_contact_list(tenant, "", 2).unwrap();
    assert_eq!(page, ["+3611111111", "+3633333333"]);
    let rest = store.do_not_contact_list(tenant, &page[1], 2).unwrap();
    assert_eq!(rest, ["+442222222"]);
    let asked: Vec<String> = ["+442222222", "+3699999999", "+3611111111", "+442222222"]
        .map(String::from)
        .into();
    assert_eq!(
        store.do_not_contact(tenant, &asked).unwrap(),
        ["+3611111111", "+442222222"]
    );
    assert!(store.do_not_contact(other, &asked).unwrap().is_empty());
    assert!(store.do_not_contact_list(other, "", 10).unwrap().is_empty());
    assert!(!store.remove_do_not_contact(other, "+3611111111").unwrap());
    assert!(store.remove_do_not_contact(tenant, "+3611111111").unwrap());
    assert!(!store.remove_do_not_contact(tenant, "+3611111111").unwrap());
    assert_eq!(
        store.do_not_contact_list(tenant, "", 10).unwrap(),
        ["+3633333333", "+442222222"]
    );
}

/// An id past what the back end stores is the input's fault, never a
/// failure of the store.
fn a_number_the_store_cannot_hold_is_out_of_range<S: Backend>(f: &Fixture<S>) {
    let store = &f.store;
    let tenant = store.create_tenant("t", "s").unwrap().id;
    let error = failure(store.record(tenant, RecordId(i64::MAX as u64 + 1)));
    assert!(matches!(error, Error::OutOfRange { .. }), "{error:?}");
    assert!(error.to_string().contains("out of range"), "{error}");
}
