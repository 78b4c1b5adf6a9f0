//! The event journal on every back end: dedupe and supersession, claims
//! oldest first, commits with everything an event decided, the event's
//! view, recorded runs and the pending counts.

use super::*;
use crate::model::DecisionOutcome;

super::conformance!(
    journaling_dedupes_per_tenant_and_supersedes_within_and_across_batches,
    claims_hand_out_pending_events_oldest_first,
    a_commit_records_decisions_record_changes_opt_outs_and_outbox_together,
    recorded_runs_are_the_newest_of_a_plugin_within_its_tenant,
    an_event_no_longer_pending_is_not_committed_again,
    a_record_two_events_of_one_group_write_ends_as_the_later_left_it,
    sent_messages_commit_with_their_decision_once_and_read_back_per_tenant,
    contact_attempts_commit_with_their_decision_and_count_per_record_in_the_window,
);

/// An entry of `project` keyed `key`, about `subject`.
pub fn entry(tenant: TenantId, project: ProjectId, key: &str, subject: &str) -> JournalEntry {
    JournalEntry {
        tenant_id: tenant,
        project_id: project,
        dedupe_key: key.into(),
        message_id: format!("m-{key}"),
        subject: subject.into(),
        superseded_by: vec![],
        input: serde_json::json!({ "key": key, "subject": subject }).to_string(),
        received_at: 1_700_000_000,
    }
}

/// Journals `entries`, which must all be accepted; their ids.
pub fn accepted<S: Backend>(store: &S, entries: &[JournalEntry]) -> Vec<EventId> {
    store
        .journal_batch(entries)
        .unwrap()
        .into_iter()
        .map(|journaled| match journaled {
            Journaled::Accepted(id) => id,
            other => panic!("not accepted: {other:?}"),
        })
        .collect()
}

/// A decision of `plugin` with `outcome`, run with `config`.
pub fn decision(
    plugin: &str,
    outcome: DecisionOutcome,
    config: serde_json::Value,
) -> DecisionRecord {
    DecisionRecord {
        plugin: plugin.into(),
        version: Some(3),
        priority: 10,
        outcome,
        error_code: None,
        error: None,
        fuel_used: 12_345,
        duration_us: 678,
        logs: serde_json::json!([{ "level": "info", "message": plugin }]),
        verdicts: serde_json::json!([{ "verdict": "accepted", "executed": true }]),
        actions: serde_json::json!([{ "recordId": 1 }]),
        config,
        lookups: serde_json::json!([]),
    }
}

/// `event` decided by one `plugin` decision, nothing written.
pub fn processed(event: &PendingEvent, plugin: &str) -> ProcessedEvent {
    ProcessedEvent {
        event_id: event.id,
        tenant_id: event.tenant_id,
        resolved: serde_json::json!({ "resolved": event.id.0 }).to_string(),
        decisions: vec![decision(plugin, DecisionOutcome::Ok, serde_json::json!({}))],
        writes: vec![],
        outbox: vec![],
        messages: vec![],
        contacts: vec![],
        opted_out: None,
        opted_in: None,
        processed_at: 1_700_000_100,
        plugin_cpu: Duration::ZERO,
    }
}

/// A write of `disposition` on `record` by `plugin`.
pub fn write(record: RecordId, disposition: u32, plugin: &str) -> RecordWrite {
    RecordWrite {
        record_id: record,
        disposition_id: disposition,
        next_calldate: Some(1_700_086_400),
        plugin: plugin.into(),
        plugin_version: Some(3),
        note: Some("called back".into()),
    }
}

/// The ids of `events`.
pub fn ids(events: &[PendingEvent]) -> Vec<EventId> {
    events.iter().map(|event| event.id).collect()
}

fn journaling_dedupes_per_tenant_and_supersedes_within_and_across_batches<S: Backend>(
    f: &Fixture<S>,
) {
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "t");
    let (other, theirs) = tenant_with_project(store, "o");
    let mut late_sent = entry(tenant, project.id, "status:m1:sent", "r1");
    late_sent.superseded_by = vec!["status:m1:delivered".into()];
    let batch = [
        entry(tenant, project.id, "status:m1:delivered", "r1"),
        entry(tenant, project.id, "status:m1:delivered", "r1"),
        late_sent.clone(),
        entry(other, theirs.id, "status:m1:delivered", "r1"),
    ];
    let journaled = store.journal_batch(&batch).unwrap();
    let first = journaled[0].event_id();
    assert_eq!(journaled[0], Journaled::Accepted(first));
    assert_eq!(
        journaled[1],
        Journaled::Duplicate(first),
        "within the batch"
    );
    let Journaled::Superseded(superseded) = journaled[2] else {
        panic!("a late sent is superseded: {:?}", journaled[2]);
    };
    let Journaled::Accepted(theirs_id) = journaled[3] else {
        panic!("another tenant's key is its own: {:?}", journaled[3]);
    };
    assert_ne!(theirs_id, first);

    // Across batches: the same keys are duplicates of what is stored.
    assert_eq!(
        store.journal(&batch[0]).unwrap(),
        Journaled::Duplicate(first)
    );
    assert_eq!(
        store.journal(&late_sent).unwrap(),
        Journaled::Duplicate(superseded)
    );
    let mut later_sent = entry(tenant, project.id, "status:m2:sent", "r2");
    later_sent.superseded_by = vec!["status:m2:delivered".into()];
    assert!(matches!(
        store.journal(&later_sent).unwrap(),
        Journaled::Accepted(_)
    ));
    let mut late = entry(tenant, project.id, "status:m3:sent", "r3");
    store
        .journal(&entry(tenant, project.id, "status:m3:delivered", "r3"))
        .unwrap();
    late.superseded_by = vec!["status:m3:delivered".into()];
    assert!(matches!(
        store.journal(&late).unwrap(),
        Journaled::Superseded(_)
    ));

    let view = store.event(tenant, superseded).unwrap();
    assert_eq!(view.state, EventState::Superseded);
    assert_eq!(
        (view.message_id.as_str(), view.project_id),
        ("m-status:m1:sent", project.id)
    );
    assert_eq!(
        view.input,
        serde_json::from_str::<serde_json::Value>(&late_sent.input).unwrap()
    );
    assert_eq!((view.processed_at, view.resolved), (None, None));
    assert_eq!(
        store.event(tenant, first).unwrap().state,
        EventState::Pending
    );
    let error = failure(store.event(other, first));
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");

    // Pending: m1 delivered, m2 sent, m3 delivered (ours), m1 (theirs).
    assert_eq!(store.pending_count().unwrap(), 4);
    assert_eq!(
        store.pending_by_tenant().unwrap(),
        [(tenant, 3), (other, 1)]
    );
    let mut tenants = store.pending_tenants().unwrap();
    tenants.sort();
    assert_eq!(tenants, [tenant, other]);
}

fn claims_hand_out_pending_events_oldest_first<S: Backend>(f: &Fixture<S>) {
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "t");
    let (other, theirs) = tenant_with_project(store, "o");
    let events = accepted(
        store,
        &[
            entry(tenant, project.id, "a", "r1"),
            entry(other, theirs.id, "x", "r1"),
            entry(tenant, project.id, "b", "r2"),
            entry(tenant, project.id, "c", "r1"),
        ],
    );
    let (a, b, c) = (events[0], events[2], events[3]);
    let first = store.claim(tenant, EventId(0), 2).unwrap();
    assert_eq!(ids(&first), [a, b]);
    assert_eq!(
        (
            first[0].tenant_id,
            first[0].project_id,
            first[0].subject.as_str()
        ),
        (tenant, project.id, "r1")
    );
    let input: serde_json::Value = serde_json::from_str(&first[0].input).unwrap();
    assert_eq!(input, serde_json::json!({ "key": "a", "subject": "r1" }));
    assert_eq!(ids(&store.claim(tenant, b, 10).unwrap()), [c]);
    assert!(store.claim(tenant, c, 10).unwrap().is_empty());
    assert_eq!(
        ids(&store.claim(other, EventId(0), 10).unwrap()),
        [events[1]]
    );

    // A decided event is handed out no more.
    store.commit(&[processed(&first[0], "p")]).unwrap();
    assert_eq!(store.pending_count().unwrap(), 3);
    store.renew_claims().unwrap();
    store.release_claims().unwrap();
    assert_eq!(ids(&store.claim(tenant, EventId(0), 10).unwrap()), [b, c]);
    assert_eq!(
        store.pending_by_tenant().unwrap(),
        [(tenant, 2), (other, 1)]
    );
}

fn a_commit_records_decisions_record_changes_opt_outs_and_outbox_together<S: Backend>(
    f: &Fixture<S>,
) {
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "t");
    let record = record_with_phone(store, tenant, project.id, "+36301234567");
    accepted(
        store,
        &[
            entry(tenant, project.id, "a", "r1"),
            entry(tenant, project.id, "b", "r2"),
        ],
    );
    let claimed = store.claim(tenant, EventId(0), 10).unwrap();
    let config = serde_json::json!({ "hours": "48" });
    let mut decided = processed(&claimed[0], "callback");
    decided.decisions = vec![
        decision("callback", DecisionOutcome::Ok, config.clone()),
        decision("audit", DecisionOutcome::Ok, serde_json::json!({})),
    ];
    decided.writes = vec![write(record.id, 2, "callback")];
    decided.outbox = vec![write(record.id, 7, "callback")];
    decided.opted_out = Some("+36309999999".into());
    let mut failed = processed(&claimed[1], "callback");
    failed.decisions = vec![decision(
        "callback",
        DecisionOutcome::Failed,
        config.clone(),
    )];
    store.commit(&[decided.clone(), failed.clone()]).unwrap();

    let view = store.event(tenant, decided.event_id).unwrap();
    assert_eq!(view.state, EventState::Done);
    assert_eq!(view.processed_at, Some(decided.processed_at));
    assert_eq!(
        view.resolved,
        Some(serde_json::from_str(&decided.resolved).unwrap())
    );
    assert_eq!(view.decisions, decided.decisions, "configs read back whole");
    assert_eq!(view.outbox.len(), 1);
    assert_eq!(
        (view.outbox[0].record_id, view.outbox[0].plugin.as_str()),
        (record.id, "callback")
    );
    assert_eq!(
        (view.outbox[0].state, view.outbox[0].attempts),
        (DeliveryState::Pending, 0)
    );
    assert_eq!(
        store.event(tenant, failed.event_id).unwrap().state,
        EventState::Failed
    );

    let changed = store.record(tenant, record.id).unwrap();
    assert_eq!(
        (changed.disposition_id, changed.next_calldate),
        (Some(2), Some(1_700_086_400))
    );
    let entries = store.record_events(tenant, record.id).unwrap();
    assert_eq!(
        entries,
        [RecordEvent {
            event_id: Some(decided.event_id),
            event_type: "SMS".into(),
            user: "System".into(),
            created_at: decided.processed_at,
            disposition_id: Some(2),
            next_calldate: Some(1_700_086_400),
            plugin: Some("callback".into()),
            plugin_version: Some(3),
            note: Some("called back".into()),
            message_id: None,
            message_status: None,
        }]
    );
    assert_eq!(
        store
            .do_not_contact(tenant, &["+36309999999".into()])
            .unwrap(),
        ["+36309999999"]
    );
    let queued = store.outbox_pending(tenant, 10).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].write, decided.outbox[0]);
    assert_eq!(
        (
            queued[0].event_id,
            queued[0].queued_at,
            queued[0].next_attempt_at
        ),
        (decided.event_id, decided.processed_at, decided.processed_at)
    );
    assert_eq!(store.outbox_pending_count().unwrap(), 1);
    assert_eq!(store.pending_count().unwrap(), 0);
    assert!(store.pending_by_tenant().unwrap().is_empty());
    assert!(store.pending_tenants().unwrap().is_empty());
}

fn recorded_runs_are_the_newest_of_a_plugin_within_its_tenant<S: Backend>(f: &Fixture<S>) {
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "t");
    let (other, theirs) = tenant_with_project(store, "o");
    accepted(
        store,
        &[
            entry(tenant, project.id, "a", "r1"),
            entry(tenant, project.id, "b", "r2"),
            entry(tenant, project.id, "c", "r3"),
            entry(other, theirs.id, "x", "r1"),
        ],
    );
    let ours = store.claim(tenant, EventId(0), 10).unwrap();
    let theirs_events = store.claim(other, EventId(0), 10).unwrap();
    let config = serde_json::json!({ "template": "t1" });
    let mut decided: Vec<ProcessedEvent> = ours
        .iter()
        .map(|event| processed(event, "callback"))
        .collect();
    decided[1].decisions[0].config = config.clone();
    decided[2].decisions[0].plugin = "other".into();
    decided.push(processed(&theirs_events[0], "callback"));
    store.commit(&decided).unwrap();

    let runs = store.recorded_runs(tenant, "callback", None, 10).unwrap();
    assert_eq!(
        runs.iter().map(|run| run.event_id).collect::<Vec<_>>(),
        [ours[1].id, ours[0].id],
        "newest first, this plugin, this tenant"
    );
    assert_eq!(runs[0].decision, decided[1].decisions[0]);
    assert_eq!(runs[0].decision.config, config);
    assert_eq!(
        runs[0].event,
        serde_json::json!({ "resolved": ours[1].id.0 })
    );
    assert_eq!(
        store
            .recorded_runs(tenant, "callback", None, 1)
            .unwrap()
            .len(),
        1
    );
    // After a cursor: oldest first, only what came after it.
    let after = |event: EventId| {
        store
            .recorded_runs(tenant, "callback", Some(event), 10)
            .unwrap()
            .iter()
            .map(|run| run.event_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(after(EventId(0)), [ours[0].id, ours[1].id]);
    assert_eq!(after(ours[0].id), [ours[1].id]);
    assert!(after(ours[1].id).is_empty());
    assert!(
        store
            .recorded_runs(tenant, "nobody", None, 10)
            .unwrap()
            .is_empty()
    );
}

/// A second commit of a decided event writes nothing of it. SQLite (one
/// host) refuses the whole group with `Conflict`; PostgreSQL skips that
/// event and commits the rest of the group (see [`Journal::commit`]).
fn an_event_no_longer_pending_is_not_committed_again<S: Backend>(f: &Fixture<S>) {
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "t");
    let record = record_with_phone(store, tenant, project.id, "+36301234567");
    accepted(
        store,
        &[
            entry(tenant, project.id, "a", "r1"),
            entry(tenant, project.id, "b", "r2"),
        ],
    );
    let claimed = store.claim(tenant, EventId(0), 10).unwrap();
    let mut first = processed(&claimed[0], "p");
    first.writes = vec![write(record.id, 2, "p")];
    store.commit(std::slice::from_ref(&first)).unwrap();

    let mut again = first.clone();
    again.decisions[0].plugin = "again".into();
    again.writes = vec![write(record.id, 9, "again")];
    let fresh = processed(&claimed[1], "p");
    let fresh_committed = match store.commit(&[again, fresh.clone()]) {
        Ok(()) => true,
        Err(Error::Conflict { .. }) => false,
        Err(error) => panic!("neither committed nor refused: {error:?}"),
    };
    let view = store.event(tenant, first.event_id).unwrap();
    assert_eq!(view.decisions, first.decisions, "no second decision");
    assert_eq!(
        store.record(tenant, record.id).unwrap().disposition_id,
        Some(2)
    );
    assert_eq!(store.record_events(tenant, record.id).unwrap().len(), 1);
    let fresh_state = store.event(tenant, fresh.event_id).unwrap().state;
    if fresh_committed {
        assert_eq!(
            fresh_state,
            EventState::Done,
            "the rest of the group commits"
        );
    } else {
        assert_eq!(
            fresh_state,
            EventState::Pending,
            "the group is refused whole"
        );
    }
}

/// A group commits as if its events had committed one by one: a record
/// both write ends with the second's disposition, and its event list has
/// both entries in order.
fn a_record_two_events_of_one_group_write_ends_as_the_later_left_it<S: Backend>(f: &Fixture<S>) {
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "t");
    let record = record_with_phone(store, tenant, project.id, "+36301234567");
    accepted(
        store,
        &[
            entry(tenant, project.id, "a", "r1"),
            entry(tenant, project.id, "b", "+36301234567"),
        ],
    );
    let claimed = store.claim(tenant, EventId(0), 10).unwrap();
    let mut first = processed(&claimed[0], "callback");
    first.writes = vec![write(record.id, 2, "callback")];
    let mut second = processed(&claimed[1], "keyword");
    second.writes = vec![RecordWrite {
        next_calldate: None,
        ..write(record.id, 5, "keyword")
    }];
    store.commit(&[first.clone(), second.clone()]).unwrap();

    let changed = store.record(tenant, record.id).unwrap();
    assert_eq!(
        (changed.disposition_id, changed.next_calldate),
        (Some(5), None)
    );
    let entries = store.record_events(tenant, record.id).unwrap();
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.event_id, e.disposition_id, e.plugin.as_deref()))
            .collect::<Vec<_>>(),
        [
            (Some(first.event_id), Some(2), Some("callback")),
            (Some(second.event_id), Some(5), Some("keyword")),
        ]
    );
}

/// An SMS `text` to `record` by `plugin`.
pub fn message(
    project: ProjectId,
    record: &StoredRecord,
    text: &str,
    plugin: &str,
) -> MessageWrite {
    MessageWrite {
        project_id: project,
        record_id: Some(record.id),
        phone: record.phone.clone(),
        text: text.into(),
        sender_id: None,
        template_id: Some("ask-time".into()),
        plugin: plugin.into(),
        plugin_version: Some(2),
        status: MessageStatus::Sent,
        send_at: None,
    }
}

fn sent_messages_commit_with_their_decision_once_and_read_back_per_tenant<S: Backend>(
    f: &Fixture<S>,
) {
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "t");
    let first = record_with_phone(store, tenant, project.id, "+36301234567");
    let second = record_with_phone(store, tenant, project.id, "+36307654321");
    let (other, other_project) = tenant_with_project(store, "other");
    accepted(
        store,
        &[
            entry(tenant, project.id, "a", "r1"),
            entry(tenant, project.id, "b", "r2"),
        ],
    );
    let claimed = store.claim(tenant, EventId(0), 10).unwrap();
    let mut one = processed(&claimed[0], "ask");
    one.messages = vec![
        message(project.id, &first, "When may we call?", "ask"),
        message(project.id, &second, "Hello {second}", "ask"),
    ];
    let mut two = processed(&claimed[1], "ask");
    two.processed_at += 60;
    two.messages = vec![message(project.id, &first, "Still there?", "ask")];
    store.commit(&[one.clone(), two.clone()]).unwrap();
    // A second commit of the same event sends nothing again, whether the
    // back end refuses it or skips it.
    match store.commit(std::slice::from_ref(&one)) {
        Ok(()) | Err(Error::Conflict { .. }) => {}
        Err(error) => panic!("neither skipped nor refused: {error:?}"),
    }

    let page = |after: u64, limit: usize| MessageFilter {
        project: project.id,
        record: None,
        phone: None,
        after,
        newest_first: false,
        limit,
    };
    let all = store.messages(tenant, &page(0, 10)).unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    let texts: Vec<&str> = all.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        ["When may we call?", "Hello {second}", "Still there?"]
    );
    let sent = &all[0];
    assert_eq!(
        (sent.record_id, sent.event_id, sent.phone.as_str()),
        (Some(first.id), one.event_id, "+36301234567")
    );
    assert_eq!(sent.message_id, one.messages[0].message_id(one.event_id));
    assert_eq!(
        (sent.status, sent.created_at, sent.plugin_version),
        (MessageStatus::Sent, one.processed_at, Some(2))
    );
    assert_eq!(sent.template_id.as_deref(), Some("ask-time"));
    let rest = store.messages(tenant, &page(all[0].id, 10)).unwrap();
    assert_eq!(rest, all[1..]);
    assert_eq!(store.messages(tenant, &page(0, 1)).unwrap(), all[..1]);

    let last_to = MessageFilter {
        phone: Some("+36301234567"),
        newest_first: true,
        limit: 1,
        ..page(0, 1)
    };
    let last = store.messages(tenant, &last_to).unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].text, "Still there?");
    let of_second = MessageFilter {
        record: Some(second.id),
        ..page(0, 10)
    };
    assert_eq!(store.messages(tenant, &of_second).unwrap().len(), 1);

    // Another tenant sees none of them, by its own project or this one.
    let theirs = MessageFilter {
        project: other_project.id,
        ..page(0, 10)
    };
    assert!(store.messages(other, &theirs).unwrap().is_empty());
    assert!(store.messages(other, &page(0, 10)).unwrap().is_empty());
}

fn contact_attempts_commit_with_their_decision_and_count_per_record_in_the_window<S: Backend>(
    f: &Fixture<S>,
) {
    let store = &*f.store;
    let (tenant, project) = tenant_with_project(store, "t");
    let called = record_with_phone(store, tenant, project.id, "+36301234567");
    let quiet = record_with_phone(store, tenant, project.id, "+36307654321");
    let (other, other_project) = tenant_with_project(store, "other");
    let theirs = record_with_phone(store, other, other_project.id, "+36301234567");
    accepted(
        store,
        &[
            entry(tenant, project.id, "a", "r1"),
            entry(tenant, project.id, "b", "r2"),
        ],
    );
    let claimed = store.claim(tenant, EventId(0), 10).unwrap();
    let attempt = |kind, at| ContactAttempt {
        record_id: called.id,
        kind,
        at,
    };
    let mut one = processed(&claimed[0], "p");
    one.contacts = vec![
        attempt(ContactKind::Call, 100),
        attempt(ContactKind::Callback, 100),
    ];
    let mut two = processed(&claimed[1], "p");
    two.contacts = vec![attempt(ContactKind::Call, 300)];
    store.commit(&[one.clone(), two]).unwrap();
    // A second commit of a decided event counts nothing again.
    let _ = store.commit(std::slice::from_ref(&one));

    let count = |record, since, limit| {
        store
            .contact_attempts(tenant, record, since, limit)
            .unwrap()
    };
    assert_eq!(count(called.id, 0, 10), 3);
    assert_eq!(count(called.id, 100, 10), 3, "the window's start is in it");
    assert_eq!(count(called.id, 101, 10), 1);
    assert_eq!(count(called.id, 301, 10), 0);
    assert_eq!(count(called.id, 0, 2), 2, "counted up to the limit only");
    assert_eq!(count(quiet.id, 0, 10), 0);
    // Another tenant's record, and this record seen by another tenant.
    assert_eq!(store.contact_attempts(other, theirs.id, 0, 10).unwrap(), 0);
    assert_eq!(store.contact_attempts(other, called.id, 0, 10).unwrap(), 0);
}
